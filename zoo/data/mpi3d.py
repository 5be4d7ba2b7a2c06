"""MPI3D (toy, realistic or real) read from its .npz file.

The file holds `images` uint8 [1036800, 64, 64, 3] in row-major order of the factor grid
object_color 6 x object_shape 6 x object_size 2 x camera_height 3 x background_color 3 x
horizontal_axis 40 x vertical_axis 40, so the image of factor indices f is at
np.ravel_multi_index(f, sizes). The file has no labels, so the grid sizes are a parameter
(smaller ones for test files). The whole image array is held in memory (12.7 GB for the real
files).
"""
import numpy as np

from zoo.data import array_files
from zoo.data.rgb_image_grid import RGBImageGrid

FACTOR_NAMES = ("object_color", "object_shape", "object_size", "camera_height",
                "background_color", "horizontal_axis", "vertical_axis")
FACTOR_SIZES = (6, 6, 2, 3, 3, 40, 40)


class MPI3D(RGBImageGrid):
  """MPI3D from the .npz file; observations float32 [N, 64, 64, 3] in [0, 1].

  Args:
    path: the .npz file (gin: `mpi3d.path`).
    factor_sizes: the 7 grid sizes the file is stored in, (6, 6, 2, 3, 3, 40, 40) for the
      real files.
  """

  name = "mpi3d"
  FACTOR_NAMES = FACTOR_NAMES

  def __init__(self, path=None, factor_sizes=FACTOR_SIZES):
    sizes = array_files.check_factor_sizes(factor_sizes, 7, "mpi3d.factor_sizes")
    path = array_files.check_path(path, "mpi3d.path")
    self.path = path
    num = int(np.prod(sizes))
    layout = (f"key 'images' of shape [{num}, 64, 64, 3] uint8 in row-major order of the grid "
              f"{dict(zip(FACTOR_NAMES, sizes))}")
    images = array_files.load_npz_arrays(path, ("images",), "mpi3d file", layout)["images"]
    prefix = f"mpi3d file {path}: expected {layout}"
    array_files.check_image_stack(images, (64, 64, 3), prefix)
    if images.shape[0] != num:
      raise ValueError(f"{prefix}, got {array_files.describe(images)}")
    self._images = images
    self._sizes = sizes
