"""Procedural dSprites: the original factor grid, rendered on the fly instead of read from disk.

Grid (737,280 combinations, the same as the original file without its constant colour latent):

  shape        3   square, ellipse, heart
  scale        6   np.linspace(0.5, 1, 6)
  orientation 40   np.linspace(0, 2 pi, 40, endpoint=False)
  posX        32   np.linspace(0, 1, 32)
  posY        32   np.linspace(0, 1, 32)

The original file's orientations are np.linspace(0, 2 pi, 40), so its first and last values are
the same angle; we use the half-open grid of 40 distinct angles instead.

Rendering maps every sample point of the pixel grid into the sprite's own frame (undo the
translation, rotation and scaling) and tests membership of the shape, vectorized over the batch
and the pixels. Each pixel is sampled at 2x2 points and set when at least half of them are
inside, which approximates "at least half the pixel is covered" for a cleaner edge; the output
stays exactly binary. posX moves the sprite right (columns increase) and posY moves it down
(rows increase), as in the original images. The sprite centre is placed in
[0.16, 0.84] of the image width so that every sprite at every angle stays inside the image.
Only a window around each sprite is evaluated, which makes rendering about 50,000 images/s at
64x64 (batch 64, one core), far above what training consumes.

The reference study's colour, noisy and Scream variants, and dSprites without shape, are
computed from the published file (`zoo.data.dsprites_variants`, `zoo.data.dsprites_file`).
"""
import numpy as np

from zoo.data.ground_truth_data import GroundTruthData

SHAPE_NAMES = ("square", "ellipse", "heart")
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40, endpoint=False)
POSITIONS = np.linspace(0.0, 1.0, 32)

FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTORS_NUM_VALUES = (len(SHAPE_NAMES), len(SCALES), len(ORIENTATIONS), len(POSITIONS),
                      len(POSITIONS))

# Geometry, as fractions of the image width. Shapes are defined in a unit frame in which the
# farthest point of any shape is at most sqrt(2) from the rotation centre (the square's corner),
# so with SPRITE_UNIT * sqrt(2) < POSITION_MARGIN nothing ever leaves the image.
POSITION_MARGIN = 0.16
SPRITE_UNIT = 0.11
SUPERSAMPLING = 2
# Half axes of the ellipse in the unit frame; the original's ellipse is about twice as long as
# it is wide.
ELLIPSE_HALF_AXES = (1.0, 0.5)
# The implicit heart (x^2 + y^2 - 1)^3 <= x^2 y^3 has its centroid at y ~ 0.29; rotating about
# the centroid keeps the sprite's centre of mass at (posX, posY) for every angle.
HEART_CENTROID_Y = 0.29


def _inside_square(u, v):
  return np.maximum(np.abs(u), np.abs(v)) <= 1.0


def _inside_ellipse(u, v):
  a, b = ELLIPSE_HALF_AXES
  return (u / a) ** 2 + (v / b) ** 2 <= 1.0


def _inside_heart(u, v):
  y = v + HEART_CENTROID_Y
  r = u * u + y * y - 1.0
  return r * r * r <= u * u * y * y * y


_INSIDE = (_inside_square, _inside_ellipse, _inside_heart)


def _window_size(image_size):
  """Side in pixels of a square that holds any sprite at any angle, wherever it is placed."""
  reach = np.sqrt(2.0) * SPRITE_UNIT * SCALES.max() * image_size
  return min(image_size, int(np.ceil(2.0 * reach)) + 1)


def render_sprites(shape, scale, angle, pos_x, pos_y, image_size, crop_to_sprite=True):
  """Binary sprite masks.

  Args:
    shape: int [N], index into SHAPE_NAMES.
    scale, angle, pos_x, pos_y: float [N] factor *values* (scale in (0, 1], angle in radians
      counter-clockwise as displayed, positions in [0, 1]).
    image_size: H = W.
    crop_to_sprite: evaluate only a window around each sprite (about an eighth of the pixels
      at 64x64) and leave the rest 0. False tests every pixel; the output is the same.

  Returns:
    uint8 [N, H, W] with values in {0, 1}.
  """
  n = len(shape)
  span = 1.0 - 2.0 * POSITION_MARGIN
  # Everything below is in pixel units: pixel (r, c) covers [r, r + 1) x [c, c + 1).
  centre_x = (POSITION_MARGIN + span * np.asarray(pos_x)) * image_size
  centre_y = (POSITION_MARGIN + span * np.asarray(pos_y)) * image_size
  if crop_to_sprite:
    window = _window_size(image_size)
    half = window / 2.0
    row0 = np.clip(np.floor(centre_y - half), 0, image_size - window).astype(np.int64)
    col0 = np.clip(np.floor(centre_x - half), 0, image_size - window).astype(np.int64)
  else:
    window = image_size
    row0 = col0 = np.zeros(n, dtype=np.int64)
  offsets = (np.arange(window * SUPERSAMPLING) + 0.5) / SUPERSAMPLING
  dx = (col0 - centre_x)[:, None, None] + offsets[None, None, :]  # [N, 1, w]
  dy_up = (centre_y - row0)[:, None, None] - offsets[None, :, None]  # [N, w, 1]; rows go down.
  dx, dy_up = dx.astype(np.float32), dy_up.astype(np.float32)
  inv_size = 1.0 / (SPRITE_UNIT * np.asarray(scale) * image_size)
  cos = (np.cos(angle) * inv_size).astype(np.float32)[:, None, None]
  sin = (np.sin(angle) * inv_size).astype(np.float32)[:, None, None]
  fine = window * SUPERSAMPLING
  fine_mask = np.zeros((n, fine, fine), dtype=bool)
  for index, inside in enumerate(_INSIDE):
    chosen = np.flatnonzero(shape == index)
    if not len(chosen):
      continue
    c, s, x, y = cos[chosen], sin[chosen], dx[chosen], dy_up[chosen]
    # Rotating the offset by -angle is the inverse of rotating the sprite by +angle.
    fine_mask[chosen] = inside(c * x + s * y, c * y - s * x)
  counts = fine_mask.reshape(n, window, SUPERSAMPLING, window, SUPERSAMPLING).sum(
      axis=(2, 4), dtype=np.uint8)
  crop = (2 * counts >= SUPERSAMPLING * SUPERSAMPLING).astype(np.uint8)
  if not crop_to_sprite:
    return crop
  images = np.zeros((n, image_size, image_size), dtype=np.uint8)
  steps = np.arange(window)
  images[np.arange(n)[:, None, None], (row0[:, None] + steps)[:, :, None],
         (col0[:, None] + steps)[:, None, :]] = crop
  return images


class DSprites(GroundTruthData):
  """Binary dSprites rendered from factors; observations float32 [N, S, S, 1] in {0, 1}.

  Args:
    image_size: S, a multiple of 16 from 32 up (64 as the original; 32 for fast tests and CPU
      studies; at 16 the smallest ellipses would vanish). The factor grid is the same at every
      size.
  """

  name = "dsprites"
  observation_kind = "binary"

  def __init__(self, image_size=64):
    if (isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer))
        or image_size < 32 or image_size % 16):
      raise ValueError(f"dsprites.image_size={image_size!r}: expected a multiple of 16, at "
                       "least 32 (64 as the original, 32 for fast runs)")
    self.image_size = int(image_size)

  @property
  def factor_names(self):
    return FACTOR_NAMES

  @property
  def factors_num_values(self):
    return FACTORS_NUM_VALUES

  @property
  def observation_shape(self):
    return (self.image_size, self.image_size, 1)

  def render(self, factors):
    """uint8 [N, S, S] binary masks for checked int64 factors [N, 5]; deterministic."""
    return render_sprites(factors[:, 0], SCALES[factors[:, 1]], ORIENTATIONS[factors[:, 2]],
                          POSITIONS[factors[:, 3]], POSITIONS[factors[:, 4]], self.image_size)

  def _observations_from_valid_factors(self, factors, random_state):
    del random_state  # Rendering is a function of the factors alone.
    return self.render(factors)[..., None].astype(np.float32)
