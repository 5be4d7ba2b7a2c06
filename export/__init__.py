"""SavedModel export of trained zoo models, and a loader that needs only TensorFlow.

`export.saved_model_export` (imports zoo) writes exports; `export.loader` reads them. This file
imports nothing beyond the standard library, so that `import export.loader` pulls in neither
zoo, gin nor keras, and so that zoo-export can refuse a bad target before loading TensorFlow.
"""
import os


def check_export_target(export_dir, overwrite):
  """Raises ValueError unless export_dir may be written (or, with overwrite, replaced).

  Free targets: a path that does not exist, or an empty directory. With overwrite, also an
  earlier export (a directory holding saved_model.pb); never any other non-empty directory.
  """
  if not export_dir:
    raise ValueError("--export_dir: expected a directory path, got an empty string")
  # The export is renamed into place, so its parent (or the nearest existing ancestor, where
  # the parent would be created) must be a writable directory. access() sees a read-only
  # mount even for root.
  ancestor = os.path.dirname(os.path.abspath(export_dir))
  while not os.path.exists(ancestor):
    ancestor = os.path.dirname(ancestor)
  if not os.path.isdir(ancestor):
    raise ValueError(f"--export_dir {export_dir}: lies under {ancestor}, which is not a "
                     "directory")
  if not os.access(ancestor, os.W_OK | os.X_OK):
    raise ValueError(f"--export_dir {export_dir}: cannot write into {ancestor}")
  if not os.path.lexists(export_dir):
    return
  if not os.path.isdir(export_dir) or os.path.islink(export_dir):
    raise ValueError(f"--export_dir {export_dir}: exists and is not a directory")
  if not os.listdir(export_dir):
    return
  if not overwrite:
    raise ValueError(f"--export_dir {export_dir}: already exists; pass --overwrite to replace it")
  if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
    raise ValueError(f"--export_dir {export_dir}: not a SavedModel export (no saved_model.pb), "
                     "refusing to replace it even with --overwrite")
