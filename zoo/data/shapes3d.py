"""3D Shapes read from DeepMind's `3dshapes.h5`.

The file holds `images` uint8 [480000, 64, 64, 3] and `labels` float [480000, 6], the factor
values (floor_hue, wall_hue, object_hue, scale, shape, orientation) of each image, with sizes
(10, 10, 10, 8, 4, 15). Images are stored in row-major order of that grid, so the image of
factor indices f is at np.ravel_multi_index(f, sizes). The sizes are inferred from the number
of distinct values in each label column unless given, and the labels are checked to follow
row-major order, so a file in the wrong order is refused instead of silently mislabelled.
The whole image array is held in memory (5.9 GB for the real file).
"""
import h5py
import numpy as np

from zoo.data import array_files
from zoo.data.rgb_image_grid import RGBImageGrid

FACTOR_NAMES = ("floor_hue", "wall_hue", "object_hue", "scale", "shape", "orientation")
FACTOR_SIZES = (10, 10, 10, 8, 4, 15)
LAYOUT = ("datasets 'images' of shape [N, 64, 64, 3] uint8 and 'labels' of shape [N, 6] float "
          "(floor_hue, wall_hue, object_hue, scale, shape, orientation), in row-major order of "
          "the factor grid")
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


class Shapes3D(RGBImageGrid):
  """3D Shapes from the .h5 file; observations float32 [N, 64, 64, 3] in [0, 1].

  Args:
    path: the .h5 file (gin: `shapes3d.path`).
    factor_sizes: the 6 grid sizes; None infers them from the labels ((10, 10, 10, 8, 4, 15)
      for the real file).
  """

  name = "shapes3d"
  FACTOR_NAMES = FACTOR_NAMES

  def __init__(self, path=None, factor_sizes=None):
    path = array_files.check_path(path, "shapes3d.path")
    self.path = path
    prefix = f"shapes3d file {path}: expected {LAYOUT}"
    try:
      with h5py.File(path, "r") as h5:
        missing = [key for key in ("images", "labels") if key not in h5]
        if missing:
          raise ValueError(f"{prefix}, but datasets {missing} are missing (found {sorted(h5)})")
        images, labels = h5["images"], h5["labels"]
        if not isinstance(images, h5py.Dataset) or not isinstance(labels, h5py.Dataset):
          raise ValueError(f"{prefix}, but 'images' or 'labels' is a group, not a dataset")
        # Check the layout before reading gigabytes of a wrongly shaped array.
        array_files.check_image_stack(images, (64, 64, 3), prefix)
        num = images.shape[0]
        if labels.dtype.kind not in "iuf" or labels.shape != (num, 6):
          raise ValueError(f"{prefix}, got 'labels' of {array_files.describe(labels)} "
                           f"for {num} images")
        images, labels = images[()], labels[()]
    except (OSError, KeyError, RuntimeError) as error:
      raise ValueError(f"{prefix}, but it is not a readable HDF5 file "
                       f"({array_files.first_line(error)})") from None
    ranks = [_ranks_by_first_appearance(column) for column in labels.astype(np.float64).T]
    inferred = tuple(int(r.max()) + 1 for r in ranks)
    if factor_sizes is None:
      sizes = inferred
    else:
      sizes = array_files.check_factor_sizes(factor_sizes, 6, "shapes3d.factor_sizes")
      if sizes != inferred:
        raise ValueError(f"shapes3d.factor_sizes={sizes} does not match the distinct label "
                         f"values {inferred} of {path}")
    if int(np.prod(sizes)) != num:
      raise ValueError(f"{prefix}, got {num} images for a grid of sizes {sizes} "
                       f"({int(np.prod(sizes))} combinations)")
    grid_position = np.unravel_index(np.arange(num), sizes)
    for column, rank in enumerate(ranks):
      if not np.array_equal(rank, grid_position[column]):
        raise ValueError(f"{prefix}, but label column {column} ({FACTOR_NAMES[column]}) is not "
                         "in row-major grid order")
    self._images = images
    self._sizes = sizes

