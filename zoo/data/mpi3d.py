"""MPI3D toy, realistic and real, read from their published .npz files.

Each file holds `images` uint8 [N, 64, 64, 3] in row-major order of the factor grid
object_color x object_shape x object_size (2) x camera_height (3) x background_color (3) x
horizontal_axis (40) x vertical_axis (40), so the image of factor indices f is at
np.ravel_multi_index(f, sizes). The files have no labels; the grid follows from the image
count: 1,036,800 images are the published 6 x 6 x 2 x 3 x 3 x 40 x 40 grid, 460,800 the
4 x 4 x ... grid of the first toy release (which disentanglement_lib's download script still
fetches, and whose sizes its code assumes for toy and realistic); any other count is refused.

Under DISENTANGLEMENT_LIB_DATA they are `mpi3d_toy/mpi3d_toy.npz`,
`mpi3d_realistic/mpi3d_realistic.npz` and `mpi3d_real/mpi3d_real.npz`.

The published files store `images` uncompressed (np.savez), so read directly they are mapped
into memory where they lie in the archive: nothing is copied and nothing is read until a batch
needs it. A file re-saved with compression (np.savez_compressed) has no random access and must
be prepared first.

Deviation from disentanglement_lib: the grid comes from the image count instead of the file's
name (the reference assumes 4 x 4 for toy and realistic, which is wrong for today's files).
"""
import numpy as np

from zoo.data import array_files
from zoo.data import file_data
from zoo.data import image_grid
from zoo.data import locations

FACTOR_NAMES = ("object_color", "object_shape", "object_size", "camera_height",
                "background_color", "horizontal_axis", "vertical_axis")
FACTOR_SIZES = (6, 6, 2, 3, 3, 40, 40)
FIRST_TOY_FACTOR_SIZES = (4, 4, 2, 3, 3, 40, 40)
# The grids told apart by their image count.
GRIDS_BY_COUNT = {int(np.prod(sizes)): sizes for sizes in (FACTOR_SIZES, FIRST_TOY_FACTOR_SIZES)}
IMAGE_SHAPE = (64, 64, 3)
LAYOUT = ("an .npz archive with 'images' of shape [1036800, 64, 64, 3] uint8 (the grid "
          "6 x 6 x 2 x 3 x 3 x 40 x 40 in row-major order; 460800 for the first toy release's "
          "4 x 4 x 2 x 3 x 3 x 40 x 40)")


def factor_sizes_for_count(count, prefix):
  """The MPI3D grid a file of `count` images is stored in; ValueError for any other count."""
  if count not in GRIDS_BY_COUNT:
    raise ValueError(f"{prefix}, got {count} images, which is neither MPI3D grid "
                     f"({' nor '.join(str(n) for n in sorted(GRIDS_BY_COUNT, reverse=True))} "
                     "images)")
  return GRIDS_BY_COUNT[count]


def read_published(path, label, for_prepare=False):
  """The ImageGrid of a published MPI3D .npz (memory-mapped where it is stored)."""
  prefix = f"{label}: expected {LAYOUT}"
  kind = array_files.file_kind(path)
  if kind != "npz":
    raise ValueError(f"{prefix}, but it is not an .npz archive"
                     + (" (a single .npy array)" if kind == "npy" else ""))
  images = array_files.NpzMember(path, "images", label, LAYOUT)
  array_files.check_image_stack(images.shape, images.dtype, IMAGE_SHAPE, prefix)
  sizes = factor_sizes_for_count(images.shape[0], prefix)
  if images.compressed:
    if not for_prepare:
      raise ValueError(f"{prefix}; its 'images' are compressed in the archive, so they cannot "
                       "be read by rows: run `zoo-data prepare` for it once")
    store = image_grid.SequentialRows(images, IMAGE_SHAPE)
  else:
    store = image_grid.PlainRows(images.memmap())
  return image_grid.ImageGrid(FACTOR_NAMES, sizes, store,
                              description=f"{path}, memory-mapped .npz member")


class _MPI3D(file_data.FileImageData):
  """MPI3D from its .npz file; observations float32 [N, 64, 64, 3] in [0, 1]."""

  def __init__(self, path=None):
    self.path = path
    self._grid = file_data.open_grid(SOURCES[self.name], read_published, path,
                                     f"{self.name}.path", self.name)


class MPI3DToy(_MPI3D):
  """MPI3D-toy (simple renders).

  Args:
    path: mpi3d_toy.npz or a folder written by `zoo-data prepare` (gin: `mpi3d_toy.path`);
      None looks for mpi3d_toy/mpi3d_toy.npz under DISENTANGLEMENT_LIB_DATA.
  """

  name = "mpi3d_toy"


class MPI3DRealistic(_MPI3D):
  """MPI3D-realistic (realistic renders).

  Args:
    path: mpi3d_realistic.npz or its prepared folder (gin: `mpi3d_realistic.path`); None looks
      for mpi3d_realistic/mpi3d_realistic.npz under DISENTANGLEMENT_LIB_DATA.
  """

  name = "mpi3d_realistic"


class MPI3DReal(_MPI3D):
  """MPI3D-real (camera pictures of the real robot).

  Args:
    path: mpi3d_real.npz or its prepared folder (gin: `mpi3d_real.path`); None looks for
      mpi3d_real/mpi3d_real.npz under DISENTANGLEMENT_LIB_DATA.
  """

  name = "mpi3d_real"


# Where each variant is found, and its prepared layout's key (the variant's name).
SOURCES = {cls.name: locations.Source(key=cls.name, sub_paths=(f"{cls.name}/{cls.name}.npz",),
                                      what=f"the {cls.name} file ({cls.name}.npz)")
           for cls in (MPI3DToy, MPI3DRealistic, MPI3DReal)}
