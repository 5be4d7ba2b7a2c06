"""Cars3D read from the published folder of MATLAB files, one per car.

The published archive (nips2015-analogy-data.tar.gz, "Deep Visual Analogy-Making") unpacks to
`data/cars/`, which disentanglement_lib keeps as `cars/` under DISENTANGLEMENT_LIB_DATA: 183
files `car_<nnn>_mesh.mat`, each with the variable `im`, uint8 [128, 128, 3, 24, 4] (height,
width, RGB, 24 azimuths, 4 elevations; and `mask`, which is not used). The factors are elevation
(4) x azimuth (24) x car (183); each image is resized to 64 x 64 with Pillow's Lanczos filter.
The car count is the number of .mat files found, so a smaller folder in the same format loads
too (the data set's factor sizes show the count; the published folder has 183).

The files must be decompressed whole, so read directly the folder is loaded into memory once,
resized (216 MB for the real folder, about half a minute); the prepared layout holds the same
rows memory-mapped.

Deviation from disentanglement_lib: the cars are numbered in the sorted order of their file
names (the reference takes the directory listing's order, which depends on the file system);
for the published names (car_001_mesh.mat, ...) that is the order of the archive's list.txt.
"""
import os

import numpy as np
from PIL import Image
import scipy.io

from zoo.data import file_data
from zoo.data import image_grid
from zoo.data import locations

FACTOR_NAMES = ("elevation", "azimuth", "object_type")
NUM_ELEVATIONS, NUM_AZIMUTHS, PUBLISHED_CARS = 4, 24, 183
SOURCE = locations.Source(key="cars3d", sub_paths=("cars",), is_folder=True,
                          what="the folder of Cars3D's .mat files (car_001_mesh.mat, ...)")
MAT_LAYOUT = "a MATLAB file with the variable 'im' of shape [128, 128, 3, 24, 4] uint8"
IMAGE_SIZE = 64


def car_files(folder):
  return sorted(name for name in os.listdir(folder)
                if name.endswith(".mat") and os.path.isfile(os.path.join(folder, name)))


def read_car(path, label):
  """uint8 [4, 24, 64, 64, 3]: the car's images by elevation and azimuth, resized."""
  prefix = f"{label}: expected {MAT_LAYOUT}"
  try:
    variables = scipy.io.loadmat(path, variable_names=["im"])
  except (ValueError, OSError, TypeError, NotImplementedError,
          scipy.io.matlab.MatReadError) as error:
    message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    raise ValueError(f"{prefix}, but it is not a readable MATLAB file ({message})") from None
  if "im" not in variables:
    try:
      found = sorted(name for name, _, _ in scipy.io.whosmat(path))
    except (ValueError, OSError, TypeError, scipy.io.matlab.MatReadError):
      found = []
    raise ValueError(f"{prefix}, but it has no variable 'im' (found {found})")
  im = variables["im"]
  if im.dtype != np.uint8 or im.shape != (128, 128, 3, NUM_AZIMUTHS, NUM_ELEVATIONS):
    raise ValueError(f"{prefix}, got 'im' of shape {list(im.shape)} {im.dtype}")
  out = np.empty((NUM_ELEVATIONS, NUM_AZIMUTHS, IMAGE_SIZE, IMAGE_SIZE, 3), dtype=np.uint8)
  for elevation in range(NUM_ELEVATIONS):
    for azimuth in range(NUM_AZIMUTHS):
      picture = Image.fromarray(np.ascontiguousarray(im[:, :, :, azimuth, elevation]))
      out[elevation, azimuth] = np.asarray(picture.resize((IMAGE_SIZE, IMAGE_SIZE),
                                                          Image.LANCZOS))
  return out


def read_published(folder, label, for_prepare=False):
  """The ImageGrid of the Cars3D folder, loaded into memory and resized."""
  del for_prepare  # read the same way for both
  names = car_files(folder)
  if not names:
    raise FileNotFoundError(f"{label}: expected {SOURCE.what}, but it holds no .mat file")
  images = np.empty((NUM_ELEVATIONS, NUM_AZIMUTHS, len(names), IMAGE_SIZE, IMAGE_SIZE, 3),
                    dtype=np.uint8)
  for car, name in enumerate(names):
    images[:, :, car] = read_car(os.path.join(folder, name), f"{label}: {name}")
  sizes = (NUM_ELEVATIONS, NUM_AZIMUTHS, len(names))
  return image_grid.ImageGrid(
      FACTOR_NAMES, sizes,
      image_grid.PlainRows(images.reshape((-1, IMAGE_SIZE, IMAGE_SIZE, 3))),
      description=f"{folder}, {len(names)} cars loaded into memory and resized "
                  f"({images.nbytes / 1e6:.0f} MB)")


class Cars3D(file_data.FileImageData):
  """Cars3D; factors elevation, azimuth, car; observations float32 [N, 64, 64, 3] in [0, 1].

  Args:
    path: the folder of the .mat files or a folder written by `zoo-data prepare` (gin:
      `cars3d.path`); None looks for cars/ under DISENTANGLEMENT_LIB_DATA.
  """

  name = "cars3d"

  def __init__(self, path=None):
    self.path = path
    self._grid = file_data.open_grid(SOURCE, read_published, path, "cars3d.path", self.name)
