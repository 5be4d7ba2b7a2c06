"""dSprites read from DeepMind's published file, as .npz or .hdf5, and dSprites without shape.

The published file `dsprites_ndarray_co1sh3sc6or40x32y32_64x64` comes in two forms with the
same arrays: the .npz archive holds `imgs` uint8 [737280, 64, 64] in {0, 1} (compressed) and
`latents_classes` int64 [737280, 6], the class index of (color, shape, scale, orientation,
posX, posY) of each image (plus `latents_values` and a pickled `metadata`, which are never
read); the .hdf5 file holds `imgs` and `latents/classes` (and `latents/values`). Colour takes a
single value, so its column is dropped and the factors are the other five: 3 x 6 x 40 x 32 x
32. Which form a file is comes from its first bytes, not its name. Under
DISENTANGLEMENT_LIB_DATA the file is `dsprites/dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`
(disentanglement_lib's name), else the .hdf5 of the same name beside it.

The grid sizes are read from the classes (max + 1 per column), so a smaller file in the same
layout (a test fixture, a subset) loads too, as long as it holds each combination of its grid
exactly once; images are looked up through the classes rather than assumed in grid order.

Read directly, the file is decompressed front to back once (64 MB at a time) into bit-packed
rows held in memory: 377 MB for the real file instead of its 3 GB of bytes. The prepared layout
is the same bit-packed rows in grid order, memory-mapped.

`DSpritesNoShape` is disentanglement_lib's `dsprites_noshape` (its latent_factor_indices
[2, 3, 4, 5]): the factors are scale, orientation, posX and posY, and the shape of each
observation is drawn uniformly from the caller's RandomState after the factors, as the
reference does.

Deviations from disentanglement_lib: the file is never unpickled (the reference reads the grid
sizes from the pickled `metadata`; we read them from the classes), and the images are looked
up through `latents_classes` instead of assuming the file is in grid order (the published file
is, so the images are the same).
"""
import h5py
import numpy as np

from zoo.data import array_files
from zoo.data import file_data
from zoo.data import image_grid
from zoo.data import locations
from zoo.data import tfds_source

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FILE_STEM = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64"
SOURCE = locations.Source(
    key="dsprites",
    sub_paths=(f"dsprites/{FILE_STEM}.npz", f"dsprites/{FILE_STEM}.hdf5"),
    what=f"the dSprites file {FILE_STEM} (.npz or .hdf5)")
CLASSES_LAYOUT = ("[N, 6] int (color, shape, scale, orientation, posX, posY; color constant), "
                  "one image per combination of classes")
NPZ_LAYOUT = ("an .npz archive with 'imgs' of shape [N, 64, 64] uint8 in {0, 1} and "
              f"'latents_classes' of shape {CLASSES_LAYOUT}")
HDF5_LAYOUT = ("an HDF5 file with datasets 'imgs' of shape [N, 64, 64] uint8 in {0, 1} and "
               f"'latents/classes' of shape {CLASSES_LAYOUT}")
ANY_LAYOUT = f"{NPZ_LAYOUT}, or {HDF5_LAYOUT}"
IMAGE_SIZE = 64
SLAB_BYTES = 64 << 20


def _grid_from_classes(classes, num, prefix):
  """(factor sizes, row of each combination) from latents_classes [N, 6]; checks coverage."""
  if classes.dtype.kind not in "iu" or classes.shape != (num, 6):
    raise ValueError(f"{prefix}, got classes of {array_files.describe(classes)} for "
                     f"{num} images")
  if classes.min() < 0 or np.any(classes[:, 0] != classes[0, 0]):
    raise ValueError(f"{prefix}, got negative classes or a colour column that is not constant")
  classes = classes[:, 1:].astype(np.int64)
  sizes = tuple(int(v) for v in classes.max(axis=0) + 1)
  if int(np.prod(sizes)) != num:
    raise ValueError(f"{prefix}, got {num} images for a grid of sizes {sizes} "
                     f"({int(np.prod(sizes))} combinations)")
  # Where each combination's image is; -1 would mean a combination has none.
  lookup = np.full(num, -1, dtype=np.int64)
  lookup[np.ravel_multi_index(tuple(classes.T), sizes)] = np.arange(num)
  if np.any(lookup < 0):
    raise ValueError(f"{prefix}, got some combinations of classes twice and others never")
  return sizes, lookup


def _pack_rows(chunks, num, prefix):
  """Bit-packs binary image rows [n, 64, 64] arriving in chunks into uint8 [num, 64, 8]."""
  packed = np.empty((num, IMAGE_SIZE, IMAGE_SIZE // 8), dtype=np.uint8)
  for start, rows in chunks:
    top = int(rows.max(initial=0))
    if top > 1:
      raise ValueError(f"{prefix}, got image values up to {top}")
    packed[start:start + len(rows)] = np.packbits(rows, axis=-1)
  return packed


def _read_npz(path, label):
  prefix = f"{label}: expected {NPZ_LAYOUT}"
  images = array_files.NpzMember(path, "imgs", label, NPZ_LAYOUT)
  array_files.check_image_stack(images.shape, images.dtype, (IMAGE_SIZE, IMAGE_SIZE), prefix,
                                "imgs")
  classes = array_files.NpzMember(path, "latents_classes", label, NPZ_LAYOUT).read()
  sizes, lookup = _grid_from_classes(classes, images.shape[0], prefix)
  return sizes, lookup, _pack_rows(images.iter_rows(), images.shape[0], prefix)


def _h5_slabs(dataset, rows_per_slab):
  for start in range(0, dataset.shape[0], rows_per_slab):
    yield start, dataset[start:start + rows_per_slab]


def _read_hdf5(path, label):
  prefix = f"{label}: expected {HDF5_LAYOUT}"
  try:
    with h5py.File(path, "r") as h5:
      missing = [key for key in ("imgs", "latents/classes") if key not in h5]
      if missing:
        raise ValueError(f"{prefix}, but datasets {missing} are missing (found {sorted(h5)})")
      images, classes = h5["imgs"], h5["latents/classes"]
      if not isinstance(images, h5py.Dataset) or not isinstance(classes, h5py.Dataset):
        raise ValueError(f"{prefix}, but 'imgs' or 'latents/classes' is a group, not a dataset")
      array_files.check_image_stack(images.shape, images.dtype, (IMAGE_SIZE, IMAGE_SIZE),
                                    prefix, "imgs")
      sizes, lookup = _grid_from_classes(classes[()], images.shape[0], prefix)
      # Whole chunks at a time: the published file's chunks span 23,040 images.
      chunk_rows = images.chunks[0] if images.chunks else 1
      rows_per_slab = max(1, SLAB_BYTES // (IMAGE_SIZE * IMAGE_SIZE * chunk_rows)) * chunk_rows
      packed = _pack_rows(_h5_slabs(images, rows_per_slab), images.shape[0], prefix)
  except (OSError, KeyError, RuntimeError) as error:
    raise ValueError(f"{prefix}, but it is not a readable HDF5 file "
                     f"({array_files.first_line(error)})") from None
  return sizes, lookup, packed


def read_published(path, label, for_prepare=False):
  """The ImageGrid of a published dSprites file (.npz or .hdf5), bit-packed in memory."""
  del for_prepare  # read the same way for both
  kind = array_files.file_kind(path)
  if kind == "npz":
    sizes, lookup, packed = _read_npz(path, label)
  elif kind == "hdf5":
    sizes, lookup, packed = _read_hdf5(path, label)
  elif kind == "npy":
    raise ValueError(f"{label}: expected {ANY_LAYOUT}, got a single .npy array")
  else:
    raise ValueError(f"{label}: expected {ANY_LAYOUT}, but it is neither an .npz archive nor "
                     "an HDF5 file")
  return image_grid.ImageGrid(
      FACTOR_NAMES, sizes, image_grid.PackedBitRows(packed, IMAGE_SIZE),
      row_of_combination=lookup,
      description=f"{path} decompressed into memory once, bit-packed "
                  f"({packed.nbytes / 1e6:.0f} MB)")


def read_tfds(data_dir, label):
  """The ImageGrid of TFDS's `dsprites`, bit-packed like the file's."""
  return tfds_source.read_grid("dsprites", data_dir, label, ("train",),
                               tfds_source.DSPRITES_LABELS, FACTOR_NAMES,
                               tfds_source.PackedTFDSRows)


def open_sprites(name, path, tfds_data_dir):
  """The binary sprites of every dSprites data set named `name` (its parameters' prefix)."""
  return file_data.open_grid(SOURCE, read_published, path, f"{name}.path", name,
                             tfds_data_dir=tfds_data_dir,
                             tfds_binding=f"{name}.tfds_data_dir",
                             read_tfds=read_tfds)


class DSpritesFile(file_data.FileImageData):
  """Binary dSprites from the published file; observations float32 [N, 64, 64, 1] in {0, 1}.

  Args:
    path: the dSprites file (.npz or .hdf5) or a folder written by `zoo-data prepare` (gin:
      `dsprites_file.path`); None looks under DISENTANGLEMENT_LIB_DATA.
    tfds_data_dir: a TFDS data folder holding the `dsprites` data set prepared in the
      array_record format, read instead of the file (gin: `dsprites_file.tfds_data_dir`).
  """

  name = "dsprites_file"
  observation_kind = "binary"

  def __init__(self, path=None, tfds_data_dir=None):
    self.path = path
    self._grid = open_sprites(self.name, path, tfds_data_dir)


class DSpritesNoShape(file_data.FileImageData):
  """dSprites without shape as a factor (scale, orientation, posX, posY); the shape is drawn.

  Observations float32 [N, 64, 64, 1] in {0, 1}.

  Args:
    path: as for `dsprites_file` (gin: `dsprites_noshape.path`).
    tfds_data_dir: as for `dsprites_file` (gin: `dsprites_noshape.tfds_data_dir`).
  """

  name = "dsprites_noshape"
  observation_kind = "binary"
  _shown = (1, 2, 3, 4)

  def __init__(self, path=None, tfds_data_dir=None):
    self.path = path
    self._grid = open_sprites(self.name, path, tfds_data_dir)
