"""Where a data set's files are: an explicit path, or disentanglement_lib's data folder.

Users of disentanglement_lib keep every data set under one folder named by the environment
variable DISENTANGLEMENT_LIB_DATA, each at a fixed sub-path (`dsprites/dsprites_ndarray_...npz`,
`small_norb/`, `cars/`, `mpi3d_toy/mpi3d_toy.npz`, ...). A data set looks there unless its
path parameter (gin: `<dataset>.path`) is set, which always wins.

`zoo-data prepare` writes a memory-mappable copy into a folder `zoo_prepared_<key>` beside the
published file (inside the folder, for data sets published as a folder of files), where the
data sets find it; a path parameter may also name such a folder directly (e.g. one written
with `--output_dir`).
"""
import dataclasses
import os

ENV_VAR = "DISENTANGLEMENT_LIB_DATA"
PREPARED_PREFIX = "zoo_prepared_"
MANIFEST = "manifest.json"


@dataclasses.dataclass(frozen=True)
class Source:
  """How one published data set is found.

  Attributes:
    key: names its prepared layout (`zoo_prepared_<key>`); None for files that are never
      prepared (the Scream picture).
    sub_paths: where it is under DISENTANGLEMENT_LIB_DATA, the preferred one first.
    what: what it is, for messages ("the dSprites file (.npz or .hdf5)").
    is_folder: published as a folder of files (SmallNORB, Cars3D) rather than one file.
  """
  key: str
  sub_paths: tuple
  what: str
  is_folder: bool = False


@dataclasses.dataclass(frozen=True)
class Location:
  """What was found: the published file or folder and/or a prepared layout.

  `label` names the input in messages: "<binding>='<path>'" when a parameter set it, else
  "'<path>' (under DISENTANGLEMENT_LIB_DATA)".
  """
  published: str
  prepared: str
  label: str


def is_prepared_dir(path):
  return os.path.isfile(os.path.join(path, MANIFEST))


def prepared_dir_for(published, source):
  """The folder `zoo-data prepare` writes for `published` when no output folder is given."""
  published = os.path.abspath(published)
  base = published if source.is_folder else os.path.dirname(published)
  return os.path.join(base, PREPARED_PREFIX + source.key)


def _found(path, source):
  return os.path.isdir(path) if source.is_folder else os.path.isfile(path)


def _with_prepared(published, source, label):
  prepared = None
  if source.key is not None and is_prepared_dir(prepared_dir_for(published, source)):
    prepared = prepared_dir_for(published, source)
  return Location(published=published, prepared=prepared, label=label)


def default_paths(source, root=None):
  """The paths tried under DISENTANGLEMENT_LIB_DATA (or `root`), or () when it is not set."""
  root = root if root is not None else os.environ.get(ENV_VAR)
  if not root:
    return ()
  return tuple(os.path.join(root, sub_path) for sub_path in source.sub_paths)


def locate(source, path, binding):
  """Finds a data set's files; raises a one-line error naming the binding and the paths tried.

  Args:
    source: a Source.
    path: the explicit path (the binding's value) or None.
    binding: the parameter that sets `path`, e.g. "dsprites_file.path".

  Returns:
    A Location with `published` and/or `prepared` set.
  """
  kind = "folder" if source.is_folder else "file"
  if path is not None and path != "":
    path = os.fspath(path)
    label = f"{binding}={path!r}"
    if os.path.isdir(path):
      if source.key is not None and is_prepared_dir(path):
        return Location(published=None, prepared=path, label=label)
      if not source.is_folder:
        hint = ", or a folder written by `zoo-data prepare`" if source.key else ""
        raise ValueError(f"{label} is a directory; expected {source.what}{hint}")
    elif os.path.exists(path):
      if source.is_folder:
        raise ValueError(f"{label} is a file; expected {source.what}")
    else:
      raise FileNotFoundError(f"{label}: no such {kind}; expected {source.what}")
    return _with_prepared(path, source, label)
  tried = default_paths(source)
  if not tried:
    raise ValueError(f"{binding} is not set and neither is {ENV_VAR}: bind {binding} to "
                     f"{source.what}, or set {ENV_VAR} to the folder that holds "
                     f"{source.sub_paths[0]}")
  for candidate in tried:
    if _found(candidate, source):
      return _with_prepared(candidate, source, f"{candidate!r} (under {ENV_VAR})")
  # The published file may have been deleted after it was prepared.
  if source.key is not None:
    prepared = prepared_dir_for(tried[0], source)
    if is_prepared_dir(prepared):
      return Location(published=None, prepared=prepared, label=f"{prepared!r} (under {ENV_VAR})")
  for candidate in tried:
    if os.path.exists(candidate):
      other = "a file" if source.is_folder else "a directory"
      raise ValueError(f"{binding} is not set and {candidate!r} (under {ENV_VAR}) is {other}; "
                       f"expected {source.what}")
  raise FileNotFoundError(f"{binding} is not set, and {source.what} is not under {ENV_VAR}: "
                          f"no such {kind} {' or '.join(repr(p) for p in tried)}")
