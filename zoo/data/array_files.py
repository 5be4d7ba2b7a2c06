"""Reading the arrays of published data-set files lazily, with one-line errors.

Every error names the file the way the user set it (`label`, e.g. "dsprites_file.path='/d.npz'"
or the path tried under DISENTANGLEMENT_LIB_DATA) and what was expected there. Nothing is ever
unpickled: .npy headers are parsed and object arrays refused before any data is read.

An .npz archive is a zip file of .npy members. A member stored without compression (as
`np.savez` writes it, and as the MPI3D files are published) is a plain array at a fixed offset
of the archive, so `NpzMember.memmap` maps it without reading it; a compressed member (as
`np.savez_compressed` writes it, and as the dSprites file is published) has no random access
and is read front to back by `NpzMember.iter_rows`, a bounded chunk at a time.
"""
import ast
import os
import struct
import zipfile
import zlib

import numpy as np

from zoo.data import image_grid

# What numpy, zipfile and h5py raise for files that are not, or no longer, what they claim.
UNREADABLE_FILE_ERRORS = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile,
                          zlib.error, RuntimeError, struct.error)

ZIP_MAGIC = b"PK\x03\x04"
HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
NPY_MAGIC = b"\x93NUMPY"
# Rows decompressed at a time when a compressed member is read front to back.
CHUNK_BYTES = 64 << 20


def first_line(error):
  text = str(error).strip()
  return text.splitlines()[0] if text else type(error).__name__


def describe(array):
  return f"shape {list(array.shape)} {array.dtype}"


def file_kind(path):
  """"npz", "hdf5", "npy" or None, from the file's first bytes (not its name)."""
  with open(path, "rb") as f:
    head = f.read(8)
  if head.startswith(ZIP_MAGIC) or head.startswith(b"PK\x05\x06"):
    return "npz"
  if head == HDF5_MAGIC:
    return "hdf5"
  if head.startswith(NPY_MAGIC):
    return "npy"
  return None


def check_image_stack(shape, dtype, trailing_shape, prefix, name="images"):
  """Raises ValueError unless (shape, dtype) is uint8 [N, *trailing_shape] with N >= 1."""
  if (np.dtype(dtype) != np.uint8 or len(shape) != 1 + len(trailing_shape)
      or tuple(shape[1:]) != tuple(trailing_shape) or shape[0] < 1):
    raise ValueError(f"{prefix}, got {name!r} of shape {list(shape)} {np.dtype(dtype)}")


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


class NpzMember:
  """One .npy member of an .npz archive: its header, and where its data starts.

  Attributes:
    path: the archive.
    key: the member's array name (without ".npy").
    shape, dtype: from the member's .npy header.
    compressed: whether the member is deflated (then it can only be read front to back).
    data_offset: for a stored member, the byte offset of its array data in the archive.
  """

  def __init__(self, path, key, label, layout):
    self.path, self.key = path, key
    self.prefix = f"{label}: expected {layout}"
    try:
      with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        if f"{key}.npy" not in names:
          found = sorted(n[:-4] if n.endswith(".npy") else n for n in names)
          raise ValueError(f"{self.prefix}, but the archive has no array {key!r} "
                           f"(found {found})")
        self.info = archive.getinfo(f"{key}.npy")
        with archive.open(self.info) as member:
          self.shape, self.dtype, header_size = _read_npy_header(member, self.prefix, key)
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error, struct.error) as error:
      raise ValueError(f"{self.prefix}, but it is not a readable .npz archive "
                       f"({first_line(error)})") from None
    self.num_bytes = int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize
    self.compressed = self.info.compress_type != zipfile.ZIP_STORED
    self.data_offset = None
    if not self.compressed:
      self.data_offset = _member_data_start(path, self.info, self.prefix) + header_size
      if os.path.getsize(path) < self.data_offset + self.num_bytes:
        raise ValueError(f"{self.prefix}, but the file is truncated: {key!r} needs "
                         f"{self.data_offset + self.num_bytes} bytes, the file has "
                         f"{os.path.getsize(path)}")

  def memmap(self, shape=None):
    """The stored member as an image_grid.FileMap (nothing is read until it is indexed).

    `shape` views the same bytes in another shape (e.g. grid axes flattened into rows).
    """
    if self.compressed:
      raise ValueError(f"{self.prefix}, but {self.key!r} is compressed in the archive, so it "
                       "cannot be read by rows")
    return image_grid.FileMap(self.path, self.data_offset, shape or self.shape, self.dtype)

  def iter_rows(self, chunk_bytes=CHUNK_BYTES):
    """Yields (first row, array of rows) front to back, about `chunk_bytes` at a time.

    Works for stored and compressed members; a corrupted or truncated member raises ValueError
    (the zip CRC is checked at the end of a compressed member).
    """
    row_bytes = max(1, self.num_bytes // max(1, self.shape[0]))
    rows_per_chunk = max(1, chunk_bytes // row_bytes)
    try:
      with zipfile.ZipFile(self.path) as archive, archive.open(self.info) as member:
        _read_npy_header(member, self.prefix, self.key)
        for start in range(0, self.shape[0], rows_per_chunk):
          count = min(rows_per_chunk, self.shape[0] - start)
          data = _read_exactly(member, count * row_bytes)
          yield start, np.frombuffer(data, dtype=self.dtype).reshape(
              (count,) + tuple(self.shape[1:]))
        member.read(1)  # reaching the end makes zipfile check the CRC
    except (zipfile.BadZipFile, EOFError, OSError, zlib.error) as error:
      raise ValueError(f"{self.prefix}, but {self.key!r} cannot be read "
                       f"({first_line(error)})") from None

  def read(self):
    """The whole member in memory (for the small arrays: labels, classes)."""
    out = np.empty(self.shape, dtype=self.dtype)
    flat = out.reshape(self.shape[0], -1) if self.shape else out.reshape(1, -1)
    for start, rows in self.iter_rows():
      flat[start:start + len(rows)] = rows.reshape(len(rows), -1)
    return out


def _read_exactly(stream, size):
  data = stream.read(size)
  if len(data) != size:
    raise EOFError(f"the data ends after {len(data)} of {size} bytes")
  return data


def _read_npy_header(stream, prefix, key):
  """(shape, dtype, header bytes) of an .npy stream; refuses object arrays and Fortran order."""
  magic = stream.read(6)
  if magic != NPY_MAGIC:
    raise ValueError(f"{prefix}, but {key!r} is not an .npy array")
  version = tuple(stream.read(2))
  length_format = {(1, 0): "<H", (2, 0): "<I", (3, 0): "<I"}.get(version)
  if length_format is None:
    raise ValueError(f"{prefix}, but {key!r} has an unknown .npy version {version}")
  length_size = struct.calcsize(length_format)
  (length,) = struct.unpack(length_format, _read_exactly(stream, length_size))
  header = _read_exactly(stream, length).decode("latin1")
  # The header is a Python dict literal; literal_eval reads it without running any code.
  try:
    fields = ast.literal_eval(header)
    dtype = np.dtype(np.lib.format.descr_to_dtype(fields["descr"]))
    shape, fortran = tuple(int(d) for d in fields["shape"]), bool(fields["fortran_order"])
  except (ValueError, SyntaxError, KeyError, TypeError, MemoryError, RecursionError) as error:
    raise ValueError(f"{prefix}, but the header of {key!r} cannot be read "
                     f"({first_line(error)})") from None
  if dtype.hasobject:
    raise ValueError(f"{prefix}, but {key!r} holds pickled Python objects, which are never "
                     "loaded")
  if fortran and len(shape) > 1:
    raise ValueError(f"{prefix}, but {key!r} is stored in Fortran order")
  return shape, dtype, 6 + 2 + length_size + length


def _member_data_start(path, info, prefix):
  """Offset of a member's data in the archive: after its local header, whose name and extra
  field lengths may differ from the central directory's."""
  with open(path, "rb") as f:
    f.seek(info.header_offset)
    header = f.read(30)
  if len(header) != 30 or header[:4] != ZIP_MAGIC:
    raise ValueError(f"{prefix}, but the archive's local header of {info.filename!r} is damaged")
  name_length, extra_length = struct.unpack("<HH", header[26:30])
  return info.header_offset + 30 + name_length + extra_length
