"""The reference study's colour, noisy and Scream variants of dSprites, from the published file.

Each takes the binary sprite of the real dSprites image of the factors (`dsprites_file`'s
reader: the published .npz or .hdf5, its prepared layout, or TFDS) and draws its extra
randomness from the caller's RandomState in the order and shapes of disentanglement_lib's
`ColorDSprites`, `NoisyDSprites` and `ScreamDSprites`, so a seed gives the same pictures:

* colour: the sprite in one random colour per image (each channel uniform in [0.5, 1]) on black;
* noisy: a white sprite over uniform [0, 1] noise in every pixel and channel;
* Scream: for each image in turn, a random 64 x 64 patch of Edvard Munch's "The Scream"
  (row offset, then column offset), averaged with a random colour (uniform [0, 1] per channel),
  with the sprite's pixels inverted (1 - x).

The Scream picture is the user's file, `scream/scream.jpg` under DISENTANGLEMENT_LIB_DATA (where
disentanglement_lib's download script puts Wikimedia's The_Scream.jpg) or the binding
`scream_dsprites.scream_path`. It is shrunk to fit 350 x 274 pixels keeping its aspect ratio, as
the reference does.

Deviation: the reference shrinks the picture with the Pillow of its time (PIL's `thumbnail`
with its then default filter); we use today's Pillow `thumbnail`, whose filter and reduction
steps differ, so the patches' pixel values can differ slightly from the reference's. The
random draws, the crop positions and everything else are the same.
"""
import numpy as np
from PIL import Image

from zoo.data import dsprites_file
from zoo.data import file_data
from zoo.data import locations

SCREAM_SOURCE = locations.Source(key=None, sub_paths=("scream/scream.jpg",),
                                 what="the Scream picture (scream.jpg, any format Pillow reads)")
# disentanglement_lib's thumbnail size (width, height).
SCREAM_FIT = (350, 274)
PATCH = 64


class _ColouredSprites(file_data.FileImageData):
  """Base: RGB observations [N, 64, 64, 3] computed from the binary sprites of the factors."""

  observation_kind = "unit_interval"

  def __init__(self, path=None, tfds_data_dir=None):
    self.path = path
    self._grid = dsprites_file.open_sprites(self.name, path, tfds_data_dir)

  @property
  def observation_shape(self):
    return (PATCH, PATCH, 3)

  def _masks(self, factors, random_state):
    """float32 [N, 64, 64, 1] binary sprites."""
    return self.stored_images(factors, random_state).astype(np.float32)


class ColorDSprites(_ColouredSprites):
  """dSprites whose sprite has a random RGB colour per image, each channel uniform in [0.5, 1].

  Args:
    path: the dSprites file or its prepared folder (gin: `color_dsprites.path`); None looks
      under DISENTANGLEMENT_LIB_DATA.
    tfds_data_dir: a TFDS data folder to read dSprites from instead (gin:
      `color_dsprites.tfds_data_dir`).
  """

  name = "color_dsprites"

  def _observations_from_valid_factors(self, factors, random_state):
    masks = self._masks(factors, random_state)
    # The reference's uniform(0.5, 1, [N, 1, 1, 3]): the same numbers in the same order.
    colour = random_state.uniform(0.5, 1.0, size=(len(factors), 3)).astype(np.float32)
    return masks * colour[:, None, None, :]


class NoisyDSprites(_ColouredSprites):
  """dSprites with a white sprite over uniform [0, 1] noise in every pixel and channel.

  Args:
    path: the dSprites file or its prepared folder (gin: `noisy_dsprites.path`).
    tfds_data_dir: a TFDS data folder (gin: `noisy_dsprites.tfds_data_dir`).
  """

  name = "noisy_dsprites"

  def _observations_from_valid_factors(self, factors, random_state):
    masks = self._masks(factors, random_state)
    noise = random_state.uniform(0.0, 1.0, size=(len(factors),) + self.observation_shape)
    # The reference returns min(mask + noise, 1); for a binary mask and noise below 1 that is
    # max(mask, noise).
    observations = noise.astype(np.float32)
    return np.maximum(observations, masks, out=observations)


def load_scream(path, label):
  """The Scream picture as float64 [H, W, 3] in [0, 1], fitted into 350 x 274 pixels."""
  try:
    with Image.open(path) as picture:
      picture = picture.convert("RGB")
      picture.thumbnail(SCREAM_FIT)
      pixels = np.asarray(picture, dtype=np.float64) / 255.0
  except (OSError, ValueError, Image.DecompressionBombError) as error:
    raise ValueError(f"{label}: expected {SCREAM_SOURCE.what}, but it is not a picture Pillow "
                     f"can read ({str(error).splitlines()[0] if str(error) else error})"
                     ) from None
  if pixels.shape[0] <= PATCH or pixels.shape[1] <= PATCH:
    raise ValueError(f"{label}: expected a picture of more than {PATCH} x {PATCH} pixels after "
                     f"fitting it into {SCREAM_FIT[0]} x {SCREAM_FIT[1]}, got "
                     f"{pixels.shape[1]} x {pixels.shape[0]}")
  return pixels


class ScreamDSprites(_ColouredSprites):
  """dSprites inverted into random patches of "The Scream"; observations [N, 64, 64, 3].

  Args:
    path: the dSprites file or its prepared folder (gin: `scream_dsprites.path`).
    scream_path: the Scream picture (gin: `scream_dsprites.scream_path`); None looks for
      scream/scream.jpg under DISENTANGLEMENT_LIB_DATA.
    tfds_data_dir: a TFDS data folder (gin: `scream_dsprites.tfds_data_dir`).
  """

  name = "scream_dsprites"

  def __init__(self, path=None, scream_path=None, tfds_data_dir=None):
    location = locations.locate(SCREAM_SOURCE, scream_path, f"{self.name}.scream_path")
    self.scream_path = location.published
    self.scream = load_scream(location.published, location.label)
    super().__init__(path=path, tfds_data_dir=tfds_data_dir)

  def _observations_from_valid_factors(self, factors, random_state):
    masks = self._masks(factors, random_state)[..., 0] == 1
    height, width = self.scream.shape[:2]
    observations = np.empty((len(factors), PATCH, PATCH, 3), dtype=np.float32)
    for i, mask in enumerate(masks):
      # The reference's draws, one image at a time: row offset, column offset, colour.
      row = random_state.randint(0, height - PATCH)
      column = random_state.randint(0, width - PATCH)
      background = (self.scream[row:row + PATCH, column:column + PATCH]
                    + random_state.uniform(0, 1, size=3)) / 2.0
      background[mask] = 1.0 - background[mask]
      observations[i] = background
    return observations
