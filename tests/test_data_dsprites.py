"""Procedural dSprites: the factor grid, what each factor does to the image, and the variants."""
import time

import numpy as np
import tensorflow as tf
from absl.testing import parameterized

from zoo.data import dsprites


def centroid(images):
  """(row, column) centre of mass of binary images [N, H, W] -> two arrays [N]."""
  images = images.astype(np.float64)
  mass = images.sum(axis=(1, 2))
  rows = (images.sum(axis=2) * np.arange(images.shape[1])).sum(axis=1) / mass
  cols = (images.sum(axis=1) * np.arange(images.shape[2])).sum(axis=1) / mass
  return rows, cols


def sweep(factor, base):
  """All values of one factor with the others fixed at `base`: int64 [num_values, 5]."""
  num = dsprites.FACTORS_NUM_VALUES[factor]
  factors = np.tile(np.asarray(base, dtype=np.int64), (num, 1))
  factors[:, factor] = np.arange(num)
  return factors


class DSpritesGridTest(tf.test.TestCase):

  def test_factor_grid_is_the_original_one(self):
    data = dsprites.DSprites()
    self.assertEqual(data.factor_names, ("shape", "scale", "orientation", "posX", "posY"))
    self.assertEqual(data.factors_num_values, (3, 6, 40, 32, 32))
    self.assertEqual(data.num_combinations, 737280)
    self.assertEqual(data.observation_shape, (64, 64, 1))
    self.assertAllClose(dsprites.SCALES, [0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    # 40 distinct angles in [0, 2 pi), a quarter turn at index 10.
    self.assertLen(np.unique(dsprites.ORIENTATIONS), 40)
    self.assertEqual(dsprites.ORIENTATIONS[0], 0.0)
    self.assertLess(dsprites.ORIENTATIONS[-1], 2 * np.pi)
    self.assertAllClose(dsprites.ORIENTATIONS[10], np.pi / 2)
    self.assertAllClose(dsprites.POSITIONS[[0, -1]], [0.0, 1.0])

  def test_sample_factors_are_in_range_and_follow_the_seed(self):
    data = dsprites.DSprites(32)
    factors = data.sample_factors(2000, np.random.RandomState(3))
    self.assertEqual(factors.dtype, np.int64)
    self.assertAllEqual(factors.min(axis=0), [0] * 5)
    self.assertAllEqual(factors.max(axis=0), np.asarray(data.factors_num_values) - 1)
    self.assertAllEqual(factors, data.sample_factors(2000, np.random.RandomState(3)))

  def test_bad_image_sizes_are_rejected(self):
    for size in (0, 16, 40, 65, 64.0, True, "64"):
      with self.assertRaisesRegex(ValueError, "dsprites.image_size"):
        dsprites.DSprites(size)
    self.assertEqual(dsprites.DSprites(48).observation_shape, (48, 48, 1))

  def test_bad_factors_are_rejected(self):
    data = dsprites.DSprites(32)
    random_state = np.random.RandomState(0)
    for factors, pattern in (
        (np.zeros((2, 4), dtype=np.int64), r"shape \[N, 5\].*got shape \(2, 4\)"),
        (np.zeros(5, dtype=np.int64), r"got shape \(5,\)"),
        (np.array([[0, 0, 40, 0, 0]]), r"got 40 in column 2 \(orientation\)"),
        (np.array([[-1, 0, 0, 0, 0]]), r"got -1 in column 0 \(shape\)"),
        (np.array([[0, 0.5, 0, 0, 0]]), "non-integer"),
        (np.array([["a"] * 5]), "dtype"),
    ):
      with self.assertRaisesRegex(ValueError, pattern):
        data.sample_observations_from_factors(factors, random_state)
    with self.assertRaisesRegex(ValueError, "RandomState"):
      data.sample_observations(2, 0)
    with self.assertRaisesRegex(ValueError, "non-negative integer"):
      data.sample_factors(-1, random_state)
    # Whole-valued floats are fine: callers build factor arrays with np.zeros.
    images = data.sample_observations_from_factors(np.zeros((1, 5)), random_state)
    self.assertEqual(images.shape, (1, 32, 32, 1))


class DSpritesRenderingTest(tf.test.TestCase, parameterized.TestCase):

  @parameterized.parameters(64, 32)
  def test_observations_are_binary_float32_and_deterministic(self, size):
    data = dsprites.DSprites(size)
    factors = data.sample_factors(200, np.random.RandomState(0))
    images = data.sample_observations_from_factors(factors, np.random.RandomState(1))
    self.assertEqual(images.shape, (200, size, size, 1))
    self.assertEqual(images.dtype, np.float32)
    self.assertAllInSet(images, [0.0, 1.0])
    # Every sprite is visible and small next to the image.
    area = images.sum(axis=(1, 2, 3))
    self.assertGreater(area.min(), 0)
    self.assertLess(area.max(), 0.1 * size * size)
    again = data.sample_observations_from_factors(factors, np.random.RandomState(7))
    self.assertAllEqual(images, again)

  @parameterized.parameters(64, 32, 48)
  def test_cropped_rendering_equals_rendering_every_pixel(self, size):
    # The fast path only evaluates a window around each sprite; it must not cut any sprite.
    factors = dsprites.DSprites(size).sample_factors(500, np.random.RandomState(5))
    values = (factors[:, 0], dsprites.SCALES[factors[:, 1]],
              dsprites.ORIENTATIONS[factors[:, 2]], dsprites.POSITIONS[factors[:, 3]],
              dsprites.POSITIONS[factors[:, 4]], size)
    self.assertAllEqual(dsprites.render_sprites(*values),
                        dsprites.render_sprites(*values, crop_to_sprite=False))

  @parameterized.parameters(64, 32)
  def test_posx_moves_right_and_posy_moves_down(self, size):
    data = dsprites.DSprites(size)
    for shape in range(3):
      for scale in (0, 5):
        rows, cols = centroid(data.render(sweep(3, [shape, scale, 7, 0, 16])))
        # Measured: every step moves the column centroid by >= 1.0 px at 64, >= 0.36 at 32.
        self.assertTrue(np.all(np.diff(cols) > 0.1 * size / 32), cols)
        self.assertLess(np.ptp(rows), 0.05 * size)
        self.assertGreater(cols[-1] - cols[0], 0.6 * size)
        rows, cols = centroid(data.render(sweep(4, [shape, scale, 7, 16, 0])))
        self.assertTrue(np.all(np.diff(rows) > 0.1 * size / 32), rows)
        self.assertLess(np.ptp(cols), 0.05 * size)
        self.assertGreater(rows[-1] - rows[0], 0.6 * size)

  @parameterized.parameters(64, 32)
  def test_scale_grows_the_sprite(self, size):
    data = dsprites.DSprites(size)
    for shape in range(3):
      area = data.render(sweep(1, [shape, 0, 3, 10, 20])).sum(axis=(1, 2))
      self.assertTrue(np.all(np.diff(area) > 0), area)
      # Area goes with scale^2: (1 / 0.5)^2 = 4, blurred by pixelation.
      self.assertBetween(area[-1] / area[0], 2.5, 5.0)

  @parameterized.parameters(64, 32)
  def test_orientation_rotates_about_the_sprite_centre(self, size):
    data = dsprites.DSprites(size)
    for scale in range(6):
      for x in (0, 13, 31):
        images = data.render(np.array([[0, scale, o, x, 7] for o in (0, 5, 10, 20)]))
        changed = [int(np.abs(images[0].astype(int) - image).sum()) for image in images[1:]]
        # A square is its own quarter turn: measured 0 pixels differ at indices 10 and 20;
        # an eighth of a turn (index 5) moves 18-70 pixels at 64x64 and 3-20 at 32x32.
        self.assertLessEqual(changed[1], 2)
        self.assertLessEqual(changed[2], 2)
        self.assertGreaterEqual(changed[0], 3)
    # A heart has no rotational symmetry: a half turn moves a large part of it.
    heart = data.render(np.array([[2, 5, 0, 16, 16], [2, 5, 20, 16, 16]])).astype(int)
    self.assertGreater(np.abs(heart[0] - heart[1]).sum(), 0.3 * heart[0].sum())
    # The rotation is counter-clockwise as displayed: an ellipse (long along x at angle 0)
    # tilted by an eighth of a turn has more mass up-right / down-left of its centre.
    ellipse = data.render(np.array([[1, 5, 5, 16, 16]]))[0].astype(float)
    rows, cols = np.nonzero(ellipse)
    dr, dc = rows - rows.mean(), cols - cols.mean()
    self.assertLess(np.mean(dr * dc), 0)

  @parameterized.parameters(64, 32)
  def test_shapes_differ(self, size):
    data = dsprites.DSprites(size)
    images = data.render(np.array([[s, 5, 3, 10, 20] for s in range(3)])).astype(int)
    for a, b in ((0, 1), (0, 2), (1, 2)):
      # Measured at scale index 5: >= 40 differing pixels at 64x64, >= 9 at 32x32.
      self.assertGreater(np.abs(images[a] - images[b]).sum(), 0.1 * size, (a, b))

  def test_rendering_is_fast(self):
    data = dsprites.DSprites(64)
    random_state = np.random.RandomState(0)
    factors = data.sample_factors(64, random_state)
    best = np.inf
    for _ in range(5):
      start = time.perf_counter()
      data.sample_observations_from_factors(factors, random_state)
      best = min(best, time.perf_counter() - start)
    # Measured ~50,000 images/s on one core; training needs ~600 images/s.
    self.assertGreater(64 / best, 2000)


if __name__ == "__main__":
  tf.test.main()
