"""Stored images of every combination of a factor grid, read a batch of rows at a time.

A store holds one row per image in some stored form and turns rows of that form into uint8
images [n, H, W, C]: `PlainRows` stores the images themselves (an in-memory array, a memory
map, a lazily read HDF5 dataset), `PackedBitRows` stores binary images eight pixels to a byte
(dSprites: 512 bytes an image instead of 4,096). Prepared layouts hold exactly the stored form,
so preparing is copying rows in grid order.

`gather` reads a batch with one sorted, duplicate-free fancy index (a memory map then touches
the file front to back, an HDF5 dataset accepts it, a contiguous run becomes one slice) and
puts the rows back in the order asked for.
"""
import mmap

import numpy as np


class FileMap:
  """A read-only memory map of an array of rows stored at `offset` in a file.

  Random rows are what training reads, so the map is advised MADV_RANDOM (no read-ahead around
  each page fault; disks are often set to read megabytes ahead, which would turn a 12 KB image
  into megabytes of I/O), and before a batch is copied out the kernel is told every page the
  batch needs (MADV_WILLNEED), so that the reads of a cold batch go to the disk together
  instead of one page fault at a time. The pages are the page cache's: every process mapping
  the file shares them.

  Indexing works as on the array (`rows[unique sorted int array]`, `rows[a:b]`).
  """

  def __init__(self, path, offset, shape, dtype):
    self.path, self.offset = path, int(offset)
    self.shape, self.dtype = tuple(int(s) for s in shape), np.dtype(dtype)
    self.row_bytes = int(np.prod(self.shape[1:], dtype=np.int64)) * self.dtype.itemsize
    with open(path, "rb") as f:
      self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    self._map.madvise(mmap.MADV_RANDOM)
    self.array = np.frombuffer(self._map, dtype=self.dtype,
                               count=int(np.prod(self.shape, dtype=np.int64)),
                               offset=self.offset).reshape(self.shape)

  def __len__(self):
    return self.shape[0]

  def _will_need(self, first_row, num_rows):
    start = self.offset + first_row * self.row_bytes
    aligned = start - start % mmap.PAGESIZE
    self._map.madvise(mmap.MADV_WILLNEED, aligned, start + num_rows * self.row_bytes - aligned)

  def __getitem__(self, index):
    if isinstance(index, slice):
      start, stop, _ = index.indices(self.shape[0])
      if stop > start:
        self._will_need(start, stop - start)
    else:
      for row in np.asarray(index).ravel():
        self._will_need(int(row), 1)
    return self.array[index]


def gather(array, rows):
  """array[rows] for int rows in any order, with repeats, read in one sorted pass."""
  rows = np.asarray(rows, dtype=np.int64)
  if rows.size == 0:
    return np.asarray(array[0:0])
  unique, inverse = np.unique(rows, return_inverse=True)
  if unique[-1] - unique[0] + 1 == len(unique):
    block = np.asarray(array[int(unique[0]):int(unique[-1]) + 1])
  else:
    block = np.asarray(array[unique])
  if len(unique) == len(rows) and np.array_equal(unique, rows):
    return block
  return block[inverse.ravel()]


class PlainRows:
  """Rows that are the uint8 images [N, H, W, C] themselves."""

  kind = "plain"

  def __init__(self, array):
    self.array = array
    self.stored_shape = tuple(array.shape[1:])
    self.image_shape = self.stored_shape

  def __len__(self):
    return self.array.shape[0]

  def read(self, rows):
    return gather(self.array, rows)

  def decode(self, stored):
    return stored


class PackedBitRows:
  """Binary images [N, H, W, 1] stored as np.packbits along each image row: uint8 [N, H, W/8]."""

  kind = "packed_bits"

  def __init__(self, packed, width):
    self.array = packed
    self.width = int(width)
    self.stored_shape = tuple(packed.shape[1:])
    self.image_shape = (packed.shape[1], self.width, 1)

  def __len__(self):
    return self.array.shape[0]

  def read(self, rows):
    return gather(self.array, rows)

  def decode(self, stored):
    return np.unpackbits(stored, axis=-1, count=self.width)[..., None]


class SequentialRows(PlainRows):
  """Rows of a compressed .npz member, readable only front to back (what prepare does)."""

  def __init__(self, member, image_shape):
    self.member, self.image_shape = member, tuple(image_shape)
    self.stored_shape = self.image_shape
    self.flat_shape = (-1,) + self.image_shape
    self._chunks = member.iter_rows()
    self._buffer = np.zeros((0,) + self.image_shape, dtype=np.uint8)
    self._next = 0

  def __len__(self):
    return int(np.prod(self.member.shape[:-3], dtype=np.int64))

  def read(self, rows):
    rows = np.asarray(rows)
    if len(rows) == 0:
      return self._buffer[:0]
    if rows[0] != self._next or np.any(np.diff(rows) != 1):
      raise ValueError(f"{self.member.prefix}, but {self.member.key!r} is compressed and can "
                       "only be read front to back")
    while len(self._buffer) < len(rows):
      _, chunk = next(self._chunks)
      self._buffer = np.concatenate([self._buffer, chunk.reshape(self.flat_shape)])
    block, self._buffer = self._buffer[:len(rows)], self._buffer[len(rows):]
    self._next += len(rows)
    return block


def lookup_from_factor_indices(factors, factor_names, prefix):
  """(grid sizes, row of each combination) for factor indices [N, F] of N stored images.

  The sizes are max + 1 per column; every combination must appear exactly once.
  """
  factors = np.asarray(factors, dtype=np.int64)
  if len(factors) == 0 or factors.min() < 0:
    raise ValueError(f"{prefix}, got no images or negative labels")
  sizes = tuple(int(v) for v in factors.max(axis=0) + 1)
  count = int(np.prod(sizes))
  lookup = np.full(count, -1, dtype=np.int64)
  if count == len(factors):
    lookup[np.ravel_multi_index(tuple(factors.T), sizes)] = np.arange(len(factors))
  if count != len(factors) or np.any(lookup < 0):
    raise ValueError(f"{prefix}, but its {len(factors)} images do not cover the grid "
                     f"{dict(zip(factor_names, sizes))} exactly once")
  return sizes, lookup


def store_from_layout(kind, array, width=None):
  if kind == PackedBitRows.kind:
    return PackedBitRows(array, width)
  return PlainRows(array)


class ImageGrid:
  """The image of every combination of a factor grid.

  Args:
    factor_names, factor_sizes: the stored grid (all factors, nuisance ones included).
    store: a PlainRows / PackedBitRows-like object with one row per combination.
    row_of_combination: int64 [prod(sizes)], the store row of each combination in row-major
      order; None when the store is in grid order already (every prepared layout).
    description: where the images come from, for `zoo-data info` and messages.
  """

  def __init__(self, factor_names, factor_sizes, store, row_of_combination=None,
               description=""):
    self.factor_names = tuple(factor_names)
    self.factor_sizes = tuple(int(s) for s in factor_sizes)
    self.store = store
    self.row_of_combination = row_of_combination
    self.description = description
    expected = self.num_combinations if row_of_combination is None else None
    if expected is not None and len(store) != expected:
      raise ValueError(f"{description}: {len(store)} images for a grid of sizes "
                       f"{self.factor_sizes} ({expected} combinations)")

  @property
  def num_combinations(self):
    return int(np.prod(self.factor_sizes, dtype=np.int64))

  @property
  def image_shape(self):
    return self.store.image_shape

  def stored_rows(self, combinations):
    """The stored form of the given combination indices (row-major positions in the grid)."""
    rows = combinations if self.row_of_combination is None else (
        self.row_of_combination[combinations])
    return self.store.read(rows)

  def images(self, factors):
    """uint8 [N, H, W, C] for int64 factor indices [N, F] of the full grid (checked)."""
    combinations = np.ravel_multi_index(tuple(factors.T), self.factor_sizes)
    return self.store.decode(self.stored_rows(combinations))
