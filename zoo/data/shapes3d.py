"""3D Shapes read from DeepMind's `3dshapes.h5` (or disentanglement_lib's .npz of it).

The published file holds the HDF5 datasets `images` uint8 [480000, 64, 64, 3] and `labels`
float64 [480000, 6], the factor values (floor_hue, wall_hue, object_hue, scale, shape,
orientation) of each image, with sizes (10, 10, 10, 8, 4, 15). Images are stored in row-major
order of that grid, so the image of factor indices f is at np.ravel_multi_index(f, sizes). The
sizes are inferred from the number of distinct values in each label column unless given, and
the labels are checked to follow row-major order, so a file in the wrong order is refused
instead of silently mislabelled.

Under DISENTANGLEMENT_LIB_DATA, disentanglement_lib reads `3dshapes/look-at-object-room_floor-
hueXwall-hueXobj-hueXobj-sizeXobj-shapeXview-azi.npz` (keys `images` and `labels`, the same
arrays, possibly with the grid as leading axes: [10, 10, 10, 8, 4, 15, 64, 64, 3]); that name
is tried first, then `3dshapes/3dshapes.h5` beside it.

Read directly, the images are read lazily, a batch at a time: through a memory map where the
file stores them contiguously (an uncompressed HDF5 dataset or .npz member), else through HDF5's
chunk reader, which decompresses every chunk a batch touches. The published file is compressed
in chunks that span thousands of images (h5py's automatic chunking would give 15,000 x 4 x 4
x 1), so each random image costs a lot of decompression there: prepare it. A compressed .npz
member cannot be read by rows at all and must be prepared.

Deviation from disentanglement_lib: the factor indices are the ranks of the label values in the
order they appear along the file (the grid order), where TFDS ranks them by value; for the
published file, whose values increase along every axis, the two agree.
"""
import h5py
import numpy as np

from zoo.data import array_files
from zoo.data import file_data
from zoo.data import image_grid
from zoo.data import locations
from zoo.data import tfds_source

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
REFERENCE_NPZ = ("look-at-object-room_floor-hueXwall-hueXobj-hueXobj-sizeXobj-shapeXview-azi"
                 ".npz")
SOURCE = locations.Source(
    key="shapes3d", sub_paths=(f"3dshapes/{REFERENCE_NPZ}", "3dshapes/3dshapes.h5"),
    what="the 3D Shapes file (3dshapes.h5, or disentanglement_lib's .npz of it)")
LAYOUT = ("'images' of shape [N, 64, 64, 3] uint8 and 'labels' of shape [N, 6] float "
          "(floor_hue, wall_hue, object_hue, scale, shape, orientation), in row-major order of "
          "the factor grid")
IMAGE_SHAPE = (64, 64, 3)
# Label values are compared after rounding so that float noise does not split a value in two.
LABEL_DECIMALS = 6


def _ranks_by_first_appearance(values):
  """int64 [N]: 0 for the first distinct value met along the file, 1 for the second, ...

  In row-major storage a factor's values appear in grid order, whatever that order is, so
  these ranks are the factor indices.
  """
  distinct, first, inverse = np.unique(np.round(values, LABEL_DECIMALS), return_index=True,
                                       return_inverse=True)
  rank_of_distinct = np.empty(len(distinct), dtype=np.int64)
  rank_of_distinct[np.argsort(first)] = np.arange(len(distinct))
  return rank_of_distinct[inverse.ravel()]


def grid_sizes_from_labels(labels, factor_sizes, prefix, binding="shapes3d.factor_sizes"):
  """The grid sizes of row-major labels [N, 6]; refuses labels out of grid order."""
  num = labels.shape[0]
  ranks = [_ranks_by_first_appearance(column) for column in labels.astype(np.float64).T]
  inferred = tuple(int(r.max()) + 1 for r in ranks)
  if factor_sizes is None:
    sizes = inferred
  else:
    sizes = array_files.check_factor_sizes(factor_sizes, 6, binding)
    if sizes != inferred:
      raise ValueError(f"{binding}={sizes} does not match the distinct label values "
                       f"{inferred} of {prefix.split(': expected')[0]}")
  if int(np.prod(sizes)) != num:
    raise ValueError(f"{prefix}, got {num} images for a grid of sizes {sizes} "
                     f"({int(np.prod(sizes))} combinations)")
  grid_position = np.unravel_index(np.arange(num), sizes)
  for column, rank in enumerate(ranks):
    if not np.array_equal(rank, grid_position[column]):
      raise ValueError(f"{prefix}, but label column {column} ({FACTOR_NAMES[column]}) is not "
                       "in row-major grid order")
  return sizes


def _describe_chunks(dataset):
  if dataset.chunks is None:
    return "uncompressed"
  chunk_bytes = int(np.prod(dataset.chunks))
  per_image = int(np.prod([-(-s // c) for s, c in zip(dataset.shape[1:], dataset.chunks[1:])]))
  return (f"{dataset.compression or 'uncompressed'} chunks of {tuple(dataset.chunks)}: each "
          f"random image decompresses {per_image * chunk_bytes / 1e6:.1f} MB")


def _read_hdf5(path, label, factor_sizes):
  prefix = f"{label}: expected an HDF5 file with datasets {LAYOUT}"
  h5 = None
  try:
    h5 = h5py.File(path, "r")
    missing = [key for key in ("images", "labels") if key not in h5]
    if missing:
      raise ValueError(f"{prefix}, but datasets {missing} are missing (found {sorted(h5)})")
    images, labels = h5["images"], h5["labels"]
    if not isinstance(images, h5py.Dataset) or not isinstance(labels, h5py.Dataset):
      raise ValueError(f"{prefix}, but 'images' or 'labels' is a group, not a dataset")
    array_files.check_image_stack(images.shape, images.dtype, IMAGE_SHAPE, prefix)
    num = images.shape[0]
    if labels.dtype.kind not in "iuf" or labels.shape != (num, 6):
      raise ValueError(f"{prefix}, got 'labels' of {array_files.describe(labels)} "
                       f"for {num} images")
    labels = labels[()]
    offset = images.id.get_offset() if images.chunks is None else None
    sizes = grid_sizes_from_labels(labels, factor_sizes, prefix)
  except (OSError, KeyError, RuntimeError) as error:
    if h5 is not None:
      h5.close()
    raise ValueError(f"{prefix}, but it is not a readable HDF5 file "
                     f"({array_files.first_line(error)})") from None
  except ValueError:
    h5.close()
    raise
  if offset is not None:  # contiguous and uncompressed: map it like a prepared layout
    array = image_grid.FileMap(path, offset, images.shape, np.uint8)
    h5.close()
    return image_grid.ImageGrid(FACTOR_NAMES, sizes, image_grid.PlainRows(array),
                                description=f"{path}, memory-mapped HDF5 dataset")
  # The file stays open for as long as the data set lives; h5py reads under its own lock, so
  # tf.data's parallel calls are safe.
  return image_grid.ImageGrid(
      FACTOR_NAMES, sizes, image_grid.PlainRows(images),
      description=f"{path} through HDF5 ({_describe_chunks(images)})")


def _read_npz(path, label, factor_sizes, for_prepare):
  layout = f"an .npz archive with {LAYOUT} (or the grid as leading axes)"
  prefix = f"{label}: expected {layout}"
  images = array_files.NpzMember(path, "images", label, layout)
  labels_member = array_files.NpzMember(path, "labels", label, layout)
  if (images.dtype != np.uint8 or tuple(images.shape[-3:]) != IMAGE_SHAPE
      or len(images.shape) < 4):
    raise ValueError(f"{prefix}, got 'images' of shape {list(images.shape)} {images.dtype}")
  num = int(np.prod(images.shape[:-3]))
  if (labels_member.dtype.kind not in "iuf" or labels_member.shape[-1:] != (6,)
      or int(np.prod(labels_member.shape[:-1])) != num):
    raise ValueError(f"{prefix}, got 'labels' of shape {list(labels_member.shape)} "
                     f"{labels_member.dtype} for {num} images")
  sizes = grid_sizes_from_labels(labels_member.read().reshape(num, 6), factor_sizes, prefix)
  if images.compressed:
    if not for_prepare:
      raise ValueError(f"{prefix}; its 'images' are compressed in the archive, so they cannot "
                       "be read by rows: run `zoo-data prepare --dataset=shapes3d` once")
    store = image_grid.SequentialRows(images, IMAGE_SHAPE)
  else:
    store = image_grid.PlainRows(images.memmap((num,) + IMAGE_SHAPE))
  return image_grid.ImageGrid(FACTOR_NAMES, sizes, store,
                              description=f"{path}, memory-mapped .npz member")


def read_published(path, label, factor_sizes=None, for_prepare=False):
  """The ImageGrid of a published 3D Shapes file (.h5, or disentanglement_lib's .npz)."""
  kind = array_files.file_kind(path)
  if kind == "hdf5":
    return _read_hdf5(path, label, factor_sizes)
  if kind == "npz":
    return _read_npz(path, label, factor_sizes, for_prepare)
  raise ValueError(f"{label}: expected an HDF5 file (or .npz archive) with datasets {LAYOUT}, "
                   "but it is neither")


def read_tfds(data_dir, label):
  """The ImageGrid of TFDS's `shapes3d`."""
  return tfds_source.read_grid("shapes3d", data_dir, label, ("train",),
                               tfds_source.SHAPES3D_LABELS, FACTOR_NAMES,
                               lambda sources: tfds_source.TFDSRows(sources, IMAGE_SHAPE))


class Shapes3D(file_data.FileImageData):
  """3D Shapes; observations float32 [N, 64, 64, 3] in [0, 1].

  Args:
    path: 3dshapes.h5 (or disentanglement_lib's .npz of it) or a folder written by
      `zoo-data prepare` (gin: `shapes3d.path`); None looks under DISENTANGLEMENT_LIB_DATA.
    factor_sizes: the 6 grid sizes, checked against the labels; None infers them from the
      labels ((10, 10, 10, 8, 4, 15) for the real file).
    tfds_data_dir: a TFDS data folder holding `shapes3d` in the array_record format, read
      instead of the file (gin: `shapes3d.tfds_data_dir`).
  """

  name = "shapes3d"

  def __init__(self, path=None, factor_sizes=None, tfds_data_dir=None):
    self.path = path
    self._grid = file_data.open_grid(
        SOURCE, lambda p, label: read_published(p, label, factor_sizes), path, "shapes3d.path",
        self.name, tfds_data_dir=tfds_data_dir, tfds_binding="shapes3d.tfds_data_dir",
        read_tfds=read_tfds)
    if factor_sizes is not None:
      sizes = array_files.check_factor_sizes(factor_sizes, 6, "shapes3d.factor_sizes")
      if sizes != self._grid.factor_sizes:
        raise ValueError(f"shapes3d.factor_sizes={sizes} does not match the grid "
                         f"{self._grid.factor_sizes} of {self._grid.description}")
