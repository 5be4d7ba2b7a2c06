"""Reading the arrays of data-set files with one-line errors that name the file and the layout.

A missing file is a FileNotFoundError; anything else that stops us from getting the arrays we
expect (not an archive, truncated, corrupt, pickled objects, absent keys) is a ValueError whose
message reads "<label> <path>: expected <layout>, ...".
"""
import os
import zipfile
import zlib

import numpy as np

# What numpy and zipfile raise for files that are not, or no longer, valid archives.
UNREADABLE_FILE_ERRORS = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile,
                          zlib.error)


def check_path(path, binding):
  """Returns `path` as a str if the file exists; `binding` is the gin name that sets it."""
  if path is None or path == "":
    raise ValueError(f"{binding} is not set: bind it to the data set's file")
  path = os.fspath(path)
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{binding}: no such file {path!r}")
  return path


def first_line(error):
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__


def load_npz_arrays(path, keys, label, layout):
  """Reads `keys` from an .npz archive without unpickling anything.

  Args:
    path: an existing file.
    keys: names of the arrays to read.
    label: what the file is, e.g. "dsprites file".
    layout: the expected layout, quoted in every error.

  Returns:
    dict key -> np.ndarray.
  """
  prefix = f"{label} {path}: expected {layout}"
  try:
    archive = np.load(path, allow_pickle=False)
  except UNREADABLE_FILE_ERRORS as error:
    raise ValueError(f"{prefix}, but it is not a readable .npz archive ({first_line(error)})"
                     ) from None
  if not isinstance(archive, np.lib.npyio.NpzFile):
    raise ValueError(f"{prefix}, got a single .npy array instead of an .npz archive")
  with archive:
    missing = [key for key in keys if key not in archive.files]
    if missing:
      raise ValueError(f"{prefix}, but keys {missing} are missing (found {sorted(archive.files)})")
    # Truncation or corruption of a member only shows when it is decompressed.
    try:
      return {key: archive[key] for key in keys}
    except UNREADABLE_FILE_ERRORS as error:
      raise ValueError(f"{prefix}, but its arrays cannot be read ({first_line(error)})"
                       ) from None


def describe(array):
  return f"shape {list(array.shape)} {array.dtype}"


def check_image_stack(array, trailing_shape, prefix):
  """Raises ValueError unless `array` is uint8 [N, *trailing_shape] with N >= 1."""
  if (array.dtype != np.uint8 or array.ndim != 1 + len(trailing_shape)
      or tuple(array.shape[1:]) != tuple(trailing_shape) or array.shape[0] < 1):
    raise ValueError(f"{prefix}, got {describe(array)}")


def check_factor_sizes(sizes, count, binding):
  """Returns `sizes` as a tuple of `count` positive ints or raises ValueError."""
  try:
    values = tuple(sizes)
  except TypeError:
    values = None
  if (values is None or len(values) != count
      or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= 1
                 for v in values)):
    raise ValueError(f"{binding}={sizes!r}: expected {count} positive integers")
  return tuple(int(v) for v in values)
