"""`zoo-data prepare` and `zoo-data info`: the one-time step that makes a published file
memory-mappable, and the report of what is found where.

`prepare` finds the published file as the data set does (its path, else
DISENTANGLEMENT_LIB_DATA), checks its sha256 where one is published for it, reads it with the
data set's own reader (which checks the layout: keys, shapes, dtypes, the grid) and writes the
prepared layout (`zoo.data.prepared`) beside it or into `output_dir`, atomically. The data sets
then read the prepared layout by memory map: every process on the machine shares one copy in
the page cache instead of holding its own.

The published checksums are TFDS's (tensorflow/datasets' checksums.tsv of the same download);
a file is checked when its name and size are those of the published file, so a damaged download
is caught, while a deliberate re-save (another size) is checked by its layout only.
"""
import os
import time

from common import io_utils
from zoo.data import cars3d
from zoo.data import dsprites_file
from zoo.data import dsprites_variants
from zoo.data import locations
from zoo.data import mpi3d
from zoo.data import prepared
from zoo.data import shapes3d
from zoo.data import smallnorb

# key -> (Source, reader of the published file, reader of TFDS or None, the data sets using it).
FAMILIES = {
    "dsprites": (dsprites_file.SOURCE, dsprites_file.read_published, dsprites_file.read_tfds,
                 ("dsprites_file", "dsprites_noshape", "color_dsprites", "noisy_dsprites",
                  "scream_dsprites")),
    "shapes3d": (shapes3d.SOURCE, shapes3d.read_published, shapes3d.read_tfds, ("shapes3d",)),
    **{name: (source, mpi3d.read_published, None, (name,))
       for name, source in mpi3d.SOURCES.items()},
    "smallnorb": (smallnorb.SOURCE, smallnorb.read_published, smallnorb.read_tfds,
                  ("smallnorb",)),
    "cars3d": (cars3d.SOURCE, cars3d.read_published, None, ("cars3d",)),
}
FAMILY_OF = {name: key for key, family in FAMILIES.items() for name in family[3]}
# File name -> (size in bytes, algorithm, digest) of the published file (TFDS checksums).
PUBLISHED_CHECKSUMS = {
    f"{dsprites_file.FILE_STEM}.hdf5": (
        28024106, "sha256", "729fa22e884c9c500e1f17415d580746b4c5894fbbb780a1319bbcfa39a745bb"),
    "3dshapes.h5": (
        267573662, "sha256", "0a0f6ed98baff276a50f3a081a7434d788da63cb135a98189b2a5b5769be1785"),
}


def family_key(dataset, what="dataset"):
  if dataset not in FAMILY_OF:
    raise ValueError(f"{what}={dataset!r}: expected one of the data sets read from files: "
                     f"{sorted(FAMILY_OF)}")
  return FAMILY_OF[dataset]


def verify_checksum(path, label, checksums, progress=None):
  """The manifest's checksum record; ValueError when a published file's digest differs."""
  name = os.path.basename(path)
  if os.path.isdir(path) or name not in checksums:
    return None
  size, algorithm, expected = checksums[name]
  actual_size = os.path.getsize(path)
  if actual_size != size:
    return {"algorithm": algorithm, "checked": False,
            "note": f"{actual_size} bytes, the published file has {size}: checked by its "
                    "layout only"}
  digest = prepared.file_digest(
      path, algorithm, progress=(lambda done, total: progress(f"checking {algorithm}", done,
                                                              total)) if progress else None)
  if digest != expected:
    raise ValueError(f"{label}: expected the published file ({algorithm} {expected}), got "
                     f"{algorithm} {digest} for the same size: the file is damaged; download "
                     "it again")
  return {"algorithm": algorithm, "digest": digest, "checked": True}


def prepare(dataset, path=None, output_dir=None, tfds_data_dir=None, overwrite=False,
            progress=None, checksums=None, path_label=None, tfds_label=None,
            output_label="output_dir"):
  """Writes the prepared layout of a data set's published file (or TFDS data set).

  Args:
    dataset: a registry name of a data set read from files (`dsprites_file`, `color_dsprites`,
      `shapes3d`, `mpi3d_real`, `smallnorb`, `cars3d`, ...); the dSprites variants share one
      layout.
    path: the published file or folder; None looks under DISENTANGLEMENT_LIB_DATA.
    output_dir: where the `zoo_prepared_<key>` folder goes; None: beside the published file
      (where the data sets look for it).
    tfds_data_dir: read the data set from this TFDS data folder instead of a file.
    overwrite: prepare again even if an up-to-date layout is there.
    progress: progress(stage, done, total) while checking and writing.
    checksums: file name -> (size, algorithm, digest); default PUBLISHED_CHECKSUMS.
    path_label, tfds_label, output_label: how messages name `path`, `tfds_data_dir` and
      `output_dir` (default "<dataset>.path", "<dataset>.tfds_data_dir", "output_dir").

  Returns:
    dict: status ("prepared" or "up to date"), target, key, images, bytes, seconds, source,
    checksum.
  """
  key = family_key(dataset)
  source, read_published, read_tfds, _ = FAMILIES[key]
  path_label = path_label or f"{dataset}.path"
  tfds_label = tfds_label or f"{dataset}.tfds_data_dir"
  checksums = PUBLISHED_CHECKSUMS if checksums is None else checksums
  start = time.time()
  if tfds_data_dir:
    if path:
      raise ValueError(f"{path_label} and {tfds_label} are both set: set one of them")
    if read_tfds is None:
      raise ValueError(f"{tfds_label}: {dataset} has no TFDS source (TFDS has dsprites, "
                       "shapes3d and smallnorb)")
    published, label = None, f"{tfds_label}={tfds_data_dir!r}"
    target_parent = output_dir or tfds_data_dir
  else:
    location = locations.locate(source, path, path_label)
    published, label = location.published, location.label
    if published is None:
      return {"status": "up to date", "target": location.prepared, "key": key,
              "note": "the published file is not there; its prepared layout is"}
    target_parent = output_dir or os.path.dirname(locations.prepared_dir_for(published, source))
  target = os.path.join(os.path.abspath(target_parent), locations.PREPARED_PREFIX + key)
  io_utils.check_writable_directory(os.path.dirname(target),
                                    output_label if output_dir else f"the folder of {label}")
  os.makedirs(os.path.dirname(target), exist_ok=True)
  lock, holder = io_utils.try_lock(os.path.join(os.path.dirname(target),
                                                f".{os.path.basename(target)}.lock"))
  if lock is None:
    raise ValueError(f"{target}: another zoo-data prepare (pid {holder}) is writing it")
  try:
    fingerprint = prepared.fingerprint(published) if published else None
    if not overwrite and published and locations.is_prepared_dir(target):
      try:
        if prepared.is_current(target, published, label):
          grid = prepared.open_grid(target, key, label)
          return {"status": "up to date", "target": target, "key": key,
                  "images": grid.num_combinations, "factor_sizes": grid.factor_sizes}
      except ValueError:
        pass  # damaged: prepared again below
    checksum = verify_checksum(published, label, checksums, progress) if published else None
    if tfds_data_dir:
      grid = read_tfds(tfds_data_dir, label)
    else:
      grid = read_published(published, label, for_prepare=True)
    manifest = prepared.write(
        target, key, grid,
        {"path": os.path.abspath(published) if published else None,
         "tfds_data_dir": os.path.abspath(tfds_data_dir) if tfds_data_dir else None,
         "fingerprint": fingerprint, "checksum": checksum},
        progress=(lambda done, total: progress("writing", done, total)) if progress else None)
    written = prepared.open_grid(target, key, label)
  finally:
    lock.close()
  return {"status": "prepared", "target": target, "key": key,
          "images": written.num_combinations, "factor_sizes": written.factor_sizes,
          "bytes": os.path.getsize(os.path.join(target, prepared.IMAGES)),
          "seconds": time.time() - start, "source": published or tfds_data_dir,
          "checksum": checksum, "store": manifest["store"]}


def _size_of(path):
  if os.path.isdir(path):
    return sum(os.path.getsize(os.path.join(path, name)) for name in os.listdir(path)
               if os.path.isfile(os.path.join(path, name)))
  return os.path.getsize(path)


def describe(key, path=None, path_label=None):
  """What `zoo-data info` says about one family: dict with datasets, published, prepared, ..."""
  source, _, _, datasets = FAMILIES[key]
  row = {"key": key, "datasets": datasets, "what": source.what,
         "tried": list(locations.default_paths(source)) if path is None else [path]}
  try:
    binding = path_label if path is not None and path_label else f"{datasets[0]}.path"
    location = locations.locate(source, path, binding)
  except (ValueError, FileNotFoundError) as error:
    row["error"] = str(error)
    return row
  row["label"] = location.label
  if location.published:
    row["published"] = {"path": location.published, "bytes": _size_of(location.published)}
  if location.prepared:
    entry = {"path": location.prepared}
    try:
      manifest = prepared.read_manifest(location.prepared, location.label)
      entry.update(factor_sizes=manifest["factor_sizes"], store=manifest["store"],
                   bytes=_size_of(location.prepared),
                   current=(location.published is None
                            or prepared.is_current(location.prepared, location.published,
                                                   location.label)))
    except ValueError as error:
      entry["error"] = str(error)
    row["prepared"] = entry
  return row


def describe_scream(path=None):
  source = dsprites_variants.SCREAM_SOURCE
  row = {"key": "scream", "datasets": ("scream_dsprites",), "what": source.what,
         "tried": list(locations.default_paths(source)) if path is None else [path]}
  try:
    location = locations.locate(source, path, "scream_dsprites.scream_path")
  except (ValueError, FileNotFoundError) as error:
    row["error"] = str(error)
    return row
  row["label"] = location.label
  row["published"] = {"path": location.published, "bytes": _size_of(location.published)}
  return row
