"""SmallNORB read from the six published binary matrix files.

NYU publishes SmallNORB as six files (gunzipped, in disentanglement_lib's `small_norb/` folder
under DISENTANGLEMENT_LIB_DATA):

  smallnorb-5x46789x9x18x6x2x96x96-training-{dat,cat,info}.mat
  smallnorb-5x01235x9x18x6x2x96x96-testing-{dat,cat,info}.mat

each in NYU's binary matrix format: an int32 magic number naming the element type (0x1E3D4C55
bytes, 0x1E3D4C54 int32, ...), an int32 number of dimensions, max(3, ndim) int32 sizes, then the
elements, all little-endian. `dat` is bytes [24300, 2, 96, 96] (a stereo pair per row), `cat`
int32 [24300] (the category) and `info` int32 [24300, 4] (instance, elevation, azimuth in steps
of 2 from 0 to 34, lighting). Training and test halves hold different instances, so together
they cover the grid category 5 x instance 10 x elevation 9 x azimuth 18 x lighting 6 exactly
once (48,600 images).

As in disentanglement_lib, the factors are category, elevation, azimuth (the stored value / 2)
and lighting; the instance is a nuisance factor drawn uniformly for each observation; the
observation is the left camera's image (the first of the pair) resized to 64 x 64 with Pillow's
Lanczos filter, float32 [N, 64, 64, 1] in [0, 1]. The grid sizes are read from the files, so a
smaller set of files in the same format loads too, as long as it covers its grid exactly once.

Read directly, the two `dat` files are memory-mapped and each batch's images are resized as
they are read; the prepared layout holds them resized, in grid order.

Deviation from disentanglement_lib: its reader declares the byte matrix (0x1E3D4C55) signed
int8, which turns pixels above 127 negative; NYU's format and TFDS read it as unsigned bytes,
and so do we.
"""
import os

import numpy as np
from PIL import Image

from zoo.data import file_data
from zoo.data import image_grid
from zoo.data import locations
from zoo.data import tfds_source

FACTOR_NAMES = ("category", "instance", "elevation", "azimuth", "lighting")
SHOWN_FACTORS = (0, 2, 3, 4)
CHUNKS = ("smallnorb-5x46789x9x18x6x2x96x96-training",
          "smallnorb-5x01235x9x18x6x2x96x96-testing")
FILE_NAMES = tuple(f"{chunk}-{part}.mat" for chunk in CHUNKS for part in ("dat", "cat", "info"))
SOURCE = locations.Source(key="smallnorb", sub_paths=("small_norb",), is_folder=True,
                          what="the folder of the six SmallNORB .mat files "
                               "(smallnorb-5x46789x9x18x6x2x96x96-training-dat.mat, ...)")
MAGIC = {0x1E3D4C55: ("byte", np.dtype(np.uint8)),
         0x1E3D4C54: ("int32", np.dtype("<i4")),
         0x1E3D4C56: ("int16", np.dtype("<i2")),
         0x1E3D4C51: ("float32", np.dtype("<f4")),
         0x1E3D4C53: ("float64", np.dtype("<f8"))}
BYTE_MATRIX, INT_MATRIX = 0x1E3D4C55, 0x1E3D4C54
SOURCE_SIZE = 96
IMAGE_SIZE = 64


def _describe_magic(magic):
  name = MAGIC.get(magic, ("unknown",))[0]
  return f"0x{magic & 0xFFFFFFFF:08X} ({name} matrix)"


def read_matrix_header(path, label, magic, trailing_dims):
  """(dims, data offset) of a binary matrix file, checked against the expected layout.

  Args:
    path: the file.
    label: how messages name it.
    magic: the expected magic number (element type).
    trailing_dims: the expected sizes after the first (the row count), e.g. (2, 96, 96).
  """
  element = MAGIC[magic][0]
  shape = ", ".join(["N"] + [str(d) for d in trailing_dims])
  expected = f"{'an' if element[0] in 'aeiou' else 'a'} {element} matrix of shape [{shape}]"
  prefix = f"{label}: expected {expected} in NYU's binary matrix format"
  size = os.path.getsize(path)
  if size == 0:
    raise ValueError(f"{prefix}, but the file is empty")
  with open(path, "rb") as f:
    head = f.read(8 + 4 * 16)
  if len(head) < 8:
    raise ValueError(f"{prefix}, but the file is truncated ({size} bytes)")
  found_magic, ndim = np.frombuffer(head[:8], dtype="<i4")
  found_magic = int(found_magic) & 0xFFFFFFFF
  if found_magic != magic:
    raise ValueError(f"{prefix} (magic number {_describe_magic(magic)}), got the magic number "
                     f"{_describe_magic(found_magic)}")
  ndim = int(ndim)
  if ndim != 1 + len(trailing_dims):
    raise ValueError(f"{prefix}, got {ndim} dimensions")
  header_ints = max(3, ndim)
  if len(head) < 8 + 4 * header_ints:
    raise ValueError(f"{prefix}, but the file is truncated ({size} bytes)")
  dims = tuple(int(d) for d in np.frombuffer(head[8:8 + 4 * header_ints], dtype="<i4")[:ndim])
  if dims[1:] != tuple(trailing_dims) or dims[0] < 1:
    raise ValueError(f"{prefix}, got shape {list(dims)}")
  offset = 8 + 4 * header_ints
  needed = offset + int(np.prod(dims)) * MAGIC[magic][1].itemsize
  if size != needed:
    what = "truncated" if size < needed else "longer than its header says"
    raise ValueError(f"{prefix}, but the file is {what}: {size} bytes for shape {list(dims)} "
                     f"({needed} bytes)")
  return dims, offset


def _read_chunk(folder, chunk, label):
  """(images FileMap [N, 2, 96, 96], features int64 [N, 5]) of one half."""
  paths = {part: os.path.join(folder, f"{chunk}-{part}.mat") for part in ("dat", "cat", "info")}
  labels = {part: f"{label}: {os.path.basename(path)}" for part, path in paths.items()}
  dims, offset = read_matrix_header(paths["dat"], labels["dat"], BYTE_MATRIX,
                                    (2, SOURCE_SIZE, SOURCE_SIZE))
  images = image_grid.FileMap(paths["dat"], offset, dims, np.uint8)
  cat_dims, cat_offset = read_matrix_header(paths["cat"], labels["cat"], INT_MATRIX, ())
  info_dims, info_offset = read_matrix_header(paths["info"], labels["info"], INT_MATRIX, (4,))
  num = dims[0]
  for part, part_dims in (("cat", cat_dims), ("info", info_dims)):
    if part_dims[0] != num:
      raise ValueError(f"{labels[part]}: expected {num} rows (as many as "
                       f"{os.path.basename(paths['dat'])}), got {part_dims[0]}")
  category = np.fromfile(paths["cat"], dtype="<i4", offset=cat_offset, count=num)
  info = np.fromfile(paths["info"], dtype="<i4", offset=info_offset, count=4 * num)
  info = info.reshape(num, 4).astype(np.int64)
  if np.any(info[:, 2] % 2):
    raise ValueError(f"{labels['info']}: expected even azimuths (0, 2, ..., 34), got "
                     f"{int(info[np.argmax(info[:, 2] % 2), 2])}")
  features = np.column_stack([category.astype(np.int64), info[:, 0], info[:, 1],
                              info[:, 2] // 2, info[:, 3]])
  return images, features


def resize_images(images):
  """uint8 [n, 96, 96] -> uint8 [n, 64, 64, 1], Pillow's Lanczos filter (the reference's)."""
  out = np.empty((len(images), IMAGE_SIZE, IMAGE_SIZE, 1), dtype=np.uint8)
  for i, image in enumerate(images):
    out[i, :, :, 0] = np.asarray(Image.fromarray(np.ascontiguousarray(image)).resize(
        (IMAGE_SIZE, IMAGE_SIZE), Image.LANCZOS))
  return out


class LeftCameraRows:
  """Rows of the concatenated halves: each the left camera's image, resized when read."""

  kind = "plain"
  stored_shape = (IMAGE_SIZE, IMAGE_SIZE, 1)
  image_shape = stored_shape

  def __init__(self, halves, left=lambda rows: rows[:, 0]):
    self.halves = halves
    self.left = left
    self.starts = np.cumsum([0] + [len(h) for h in halves])

  def __len__(self):
    return int(self.starts[-1])

  def read(self, rows):
    rows = np.asarray(rows, dtype=np.int64)
    out = np.empty((len(rows),) + self.stored_shape, dtype=np.uint8)
    half_of_row = np.searchsorted(self.starts, rows, side="right") - 1
    for half, array in enumerate(self.halves):
      chosen = np.flatnonzero(half_of_row == half)
      if len(chosen):
        local = rows[chosen] - self.starts[half]
        out[chosen] = resize_images(self.left(image_grid.gather(array, local)))
    return out

  def decode(self, stored):
    return stored


def read_published(folder, label, for_prepare=False):
  """The ImageGrid of the six SmallNORB files in `folder` (left images resized on reading)."""
  del for_prepare  # read the same way for both
  missing = [name for name in FILE_NAMES if not os.path.isfile(os.path.join(folder, name))]
  if missing:
    raise FileNotFoundError(f"{label}: expected {SOURCE.what}; no such file "
                            f"{', '.join(repr(name) for name in missing)}")
  halves, features = zip(*(_read_chunk(folder, chunk, label) for chunk in CHUNKS))
  sizes, lookup = image_grid.lookup_from_factor_indices(
      np.concatenate(features), FACTOR_NAMES, f"{label}: expected {SOURCE.what}")
  return image_grid.ImageGrid(FACTOR_NAMES, sizes, LeftCameraRows(list(halves)),
                              row_of_combination=lookup,
                              description=f"{folder}, memory-mapped and resized per batch")


def read_tfds(data_dir, label):
  """The ImageGrid of TFDS's `smallnorb` (both splits), left images resized like the files'."""
  return tfds_source.read_grid(
      "smallnorb", data_dir, label, ("train", "test"), tfds_source.SMALLNORB_LABELS,
      FACTOR_NAMES, lambda sources: tfds_source.TFDSRows(
          sources, (IMAGE_SIZE, IMAGE_SIZE, 1),
          transform=lambda images: resize_images(images[..., 0])))


class SmallNORB(file_data.FileImageData):
  """SmallNORB; factors category, elevation, azimuth, lighting; observations [N, 64, 64, 1].

  Args:
    path: the folder of the six .mat files or a folder written by `zoo-data prepare` (gin:
      `smallnorb.path`); None looks for small_norb/ under DISENTANGLEMENT_LIB_DATA.
    tfds_data_dir: a TFDS data folder holding `smallnorb` in the array_record format, read
      instead of the files (gin: `smallnorb.tfds_data_dir`).
  """

  name = "smallnorb"
  _shown = SHOWN_FACTORS

  def __init__(self, path=None, tfds_data_dir=None):
    self.path = path
    self._grid = file_data.open_grid(SOURCE, read_published, path, "smallnorb.path", self.name,
                                     tfds_data_dir=tfds_data_dir,
                                     tfds_binding="smallnorb.tfds_data_dir",
                                     read_tfds=read_tfds)
