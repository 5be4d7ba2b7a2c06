"""dSprites read from the original file `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz`.

The file holds `imgs` uint8 [737280, 64, 64] with values in {0, 1} and `latents_classes` int
[737280, 6]: the class index of (color, shape, scale, orientation, posX, posY) for each image.
Colour takes a single value, so its column is dropped and the factors are the other five. The
grid sizes are read from the file (max class + 1 per column), so a smaller file in the same
layout -- a test fixture, a subset -- loads too, as long as it holds each combination of its
grid exactly once. Images are looked up through the classes rather than assumed to be in grid
order. The whole image array is held in memory (3 GB for the real file).
"""
import numpy as np

from zoo.data import array_files
from zoo.data.ground_truth_data import GroundTruthData

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
LAYOUT = ("key 'imgs' of shape [N, 64, 64] uint8 in {0, 1} and key 'latents_classes' of shape "
          "[N, 6] int (color, shape, scale, orientation, posX, posY; color constant), "
          "one image per combination of classes")


class DSpritesFile(GroundTruthData):
  """Binary dSprites from the .npz file; observations float32 [N, 64, 64, 1] in {0, 1}.

  Args:
    path: the .npz file (gin: `dsprites_file.path`).
  """

  name = "dsprites_file"
  observation_kind = "binary"

  def __init__(self, path=None):
    path = array_files.check_path(path, "dsprites_file.path")
    self.path = path
    arrays = array_files.load_npz_arrays(path, ("imgs", "latents_classes"), "dsprites file",
                                         LAYOUT)
    prefix = f"dsprites file {path}: expected {LAYOUT}"
    images, classes = arrays["imgs"], arrays["latents_classes"]
    array_files.check_image_stack(images, (64, 64), prefix)
    num = images.shape[0]
    if classes.dtype.kind not in "iu" or classes.shape != (num, 6):
      raise ValueError(f"{prefix}, got 'latents_classes' of {array_files.describe(classes)} "
                       f"for {num} images")
    if classes.min() < 0 or np.any(classes[:, 0] != classes[0, 0]):
      raise ValueError(f"{prefix}, got negative classes or a colour column that is not constant")
    classes = classes[:, 1:].astype(np.int64)
    sizes = tuple(int(v) for v in classes.max(axis=0) + 1)
    if int(np.prod(sizes)) != num:
      raise ValueError(f"{prefix}, got {num} images for a grid of sizes {sizes} "
                       f"({int(np.prod(sizes))} combinations)")
    # Where each combination's image is; -1 would mean a combination has none.
    lookup = np.full(num, -1, dtype=np.int64)
    lookup[np.ravel_multi_index(classes.T, sizes)] = np.arange(num)
    if np.any(lookup < 0):
      raise ValueError(f"{prefix}, got some combinations of classes twice and others never")
    if images.max() > 1:
      raise ValueError(f"{prefix}, got image values up to {images.max()}")
    self._images = images
    self._lookup = lookup
    self._sizes = sizes

  @property
  def factor_names(self):
    return FACTOR_NAMES

  @property
  def factors_num_values(self):
    return self._sizes

  @property
  def observation_shape(self):
    return (64, 64, 1)

  def _observations_from_valid_factors(self, factors, random_state):
    del random_state  # The file holds one image per combination.
    rows = self._lookup[np.ravel_multi_index(factors.T, self._sizes)]
    return self._images[rows][..., None].astype(np.float32)
