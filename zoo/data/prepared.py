"""The prepared layout: a data set's stored images in grid order, one memory-mappable .npy file.

A prepared folder holds `images.npy` (uint8 [prod(factor sizes), *stored shape], the
combinations of the full factor grid in row-major order) and `manifest.json` (format, the data
set's key, factor names and sizes, how the rows are stored, and the fingerprint of the
published file it was made from). Readers map `images.npy` read-only (`np.load(mmap_mode="r")`),
so every process on a machine shares the same page cache, and a batch reads only its rows.

Writing is atomic: everything goes into a hidden staging folder `.zoo_prepared_<key>.partial-
<pid>` that is renamed into place only when complete (the manifest last), so a killed prepare
leaves nothing a reader would trust; the next prepare removes the staging folders of processes
that no longer run.
"""
import datetime
import hashlib
import json
import os
import shutil

import numpy as np

from zoo.data import array_files
from zoo.data import image_grid
from zoo.data.locations import MANIFEST

FORMAT = "mi-disentanglement-zoo prepared layout 1"
IMAGES = "images.npy"
# How much of a file the fingerprint reads: its size and three blocks (start, middle, end).
FINGERPRINT_BLOCK = 64 << 10
WRITE_CHUNK_BYTES = 64 << 20


def _file_fingerprint(path, digest):
  size = os.path.getsize(path)
  digest.update(str(size).encode())
  with open(path, "rb") as f:
    for offset in sorted({0, max(0, size // 2 - FINGERPRINT_BLOCK // 2),
                          max(0, size - FINGERPRINT_BLOCK)}):
      f.seek(offset)
      digest.update(f.read(FINGERPRINT_BLOCK))


def fingerprint(path):
  """A cheap identity of a published file or folder: sizes and a hash of a few blocks.

  It tells a prepared layout that is out of date (the file was replaced) from one that is not,
  also after the folder was copied elsewhere (it does not use paths or times).
  """
  digest = hashlib.sha256()
  if os.path.isdir(path):
    for name in sorted(os.listdir(path)):
      member = os.path.join(path, name)
      if os.path.isfile(member):
        digest.update(name.encode())
        _file_fingerprint(member, digest)
  else:
    _file_fingerprint(path, digest)
  return digest.hexdigest()


def file_digest(path, algorithm, progress=None, block=8 << 20):
  """Hex digest of a whole file; progress(bytes done, total) after each block."""
  digest = hashlib.new(algorithm)
  total = os.path.getsize(path)
  done = 0
  with open(path, "rb") as f:
    while True:
      data = f.read(block)
      if not data:
        return digest.hexdigest()
      digest.update(data)
      done += len(data)
      if progress:
        progress(done, total)


def read_manifest(directory, label):
  path = os.path.join(directory, MANIFEST)
  try:
    with open(path) as f:
      manifest = json.load(f)
    if manifest.get("format") != FORMAT:
      raise ValueError(f"format {manifest.get('format')!r}, expected {FORMAT!r}")
    for field in ("key", "factor_names", "factor_sizes", "store", "image_shape", "images"):
      if field not in manifest:
        raise ValueError(f"no {field!r}")
  except (OSError, ValueError, AttributeError) as error:
    raise ValueError(f"{label}: the prepared layout's {MANIFEST} cannot be used "
                     f"({array_files.first_line(error)}); run `zoo-data prepare` again") from None
  return manifest


def is_current(directory, published, label):
  """Whether the prepared layout in `directory` was made from `published` as it is now."""
  return read_manifest(directory, label).get("source", {}).get("fingerprint") == (
      fingerprint(published))


def open_grid(directory, key, label):
  """The ImageGrid of a prepared layout, memory-mapped; one-line errors name the folder."""
  manifest = read_manifest(directory, label)
  if manifest["key"] != key:
    raise ValueError(f"{label} is a prepared layout of {manifest['key']!r}, not of {key!r}")
  sizes = tuple(int(s) for s in manifest["factor_sizes"])
  stored_shape = tuple(int(s) for s in manifest["images"]["shape"][1:])
  expected = [int(np.prod(sizes, dtype=np.int64)), *stored_shape]
  path = os.path.join(directory, manifest["images"].get("file", IMAGES))
  prefix = f"{label}: expected {path} of shape {expected} uint8 (from its {MANIFEST})"
  try:
    with open(path, "rb") as f:
      version = np.lib.format.read_magic(f)
      read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                     else np.lib.format.read_array_header_2_0)
      shape, fortran, dtype = read_header(f)
      offset = f.tell()
  except (OSError, ValueError, EOFError) as error:
    raise ValueError(f"{prefix}, but it cannot be mapped ({array_files.first_line(error)}); "
                     "run `zoo-data prepare` again") from None
  if list(shape) != expected or dtype != np.uint8 or fortran:
    raise ValueError(f"{prefix}, got shape {list(shape)} {dtype}; run `zoo-data prepare` again")
  if os.path.getsize(path) != offset + int(np.prod(shape, dtype=np.int64)):
    raise ValueError(f"{prefix}, but it cannot be mapped (it has {os.path.getsize(path)} "
                     f"bytes, not {offset + int(np.prod(shape, dtype=np.int64))}); run "
                     "`zoo-data prepare` again")
  images = image_grid.FileMap(path, offset, shape, np.uint8)
  store = image_grid.store_from_layout(manifest["store"], images,
                                       width=manifest["image_shape"][1])
  if list(store.image_shape) != list(manifest["image_shape"]):
    raise ValueError(f"{prefix}, but its rows do not hold images of shape "
                     f"{manifest['image_shape']}")
  return image_grid.ImageGrid(manifest["factor_names"], sizes, store,
                              description=f"prepared layout {directory} (memory-mapped)")


def _pid_alive(pid):
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def remove_stale_staging(parent, name):
  """Removes `.<name>.partial-<pid>` / `.<name>.old-<pid>` folders of processes that ended."""
  if not os.path.isdir(parent):
    return
  for entry in os.listdir(parent):
    for marker in (".partial-", ".old-"):
      prefix = f".{name}{marker}"
      if entry.startswith(prefix) and entry[len(prefix):].isdigit():
        if not _pid_alive(int(entry[len(prefix):])):
          shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _fsync_path(path):
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def write(target, key, grid, source, progress=None, chunk_bytes=None):
  """Writes the prepared layout of `grid` into the folder `target`, atomically.

  Args:
    target: the prepared folder; replaced if it exists.
    key: the data set's key (checked by readers).
    grid: the ImageGrid read from the published file.
    source: dict stored as the manifest's "source" (path, fingerprint, checksum).
    progress: called as progress(rows done, rows in all) after every chunk.
    chunk_bytes: how much is copied at a time (default WRITE_CHUNK_BYTES).

  Returns:
    The manifest written.
  """
  target = os.path.abspath(target)
  parent, name = os.path.dirname(target), os.path.basename(target)
  os.makedirs(parent, exist_ok=True)
  remove_stale_staging(parent, name)
  staging = os.path.join(parent, f".{name}.partial-{os.getpid()}")
  shutil.rmtree(staging, ignore_errors=True)
  os.mkdir(staging)
  try:
    count = grid.num_combinations
    shape = (count,) + tuple(grid.store.stored_shape)
    row_bytes = int(np.prod(shape[1:], dtype=np.int64))
    rows_per_chunk = max(1, (chunk_bytes or WRITE_CHUNK_BYTES) // row_bytes)
    images_path = os.path.join(staging, IMAGES)
    with open(images_path, "wb") as f:
      np.lib.format.write_array_header_1_0(
          f, {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)),
              "fortran_order": False, "shape": shape})
      for start in range(0, count, rows_per_chunk):
        stop = min(count, start + rows_per_chunk)
        rows = np.ascontiguousarray(grid.stored_rows(np.arange(start, stop)), dtype=np.uint8)
        if rows.shape != (stop - start,) + shape[1:]:
          raise ValueError(f"rows {start}-{stop} came out as {rows.shape}, expected "
                           f"{(stop - start,) + shape[1:]}")
        f.write(rows.data)
        if progress:
          progress(stop, count)
      f.flush()
      os.fsync(f.fileno())
    manifest = {
        "format": FORMAT,
        "key": key,
        "factor_names": list(grid.factor_names),
        "factor_sizes": list(grid.factor_sizes),
        "store": grid.store.kind,
        "image_shape": list(grid.image_shape),
        "images": {"file": IMAGES, "shape": list(shape), "dtype": "uint8"},
        "source": source,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    with open(os.path.join(staging, MANIFEST), "w") as f:
      json.dump(manifest, f, indent=2, sort_keys=True)
      f.write("\n")
      f.flush()
      os.fsync(f.fileno())
    _fsync_path(staging)
    if os.path.lexists(target):
      old = os.path.join(parent, f".{name}.old-{os.getpid()}")
      os.rename(target, old)
      os.rename(staging, target)
      shutil.rmtree(old, ignore_errors=True)
    else:
      os.rename(staging, target)
    _fsync_path(parent)
    return manifest
  except BaseException:
    shutil.rmtree(staging, ignore_errors=True)
    raise
