"""Shared metric pieces: histogram discretization, discrete MI/entropy, batched sampling."""

import numpy as np
import tensorflow as tf

from evaluation.metrics import utils


class _FactorGrid:
  """Three small factors; observations are the factor indices as floats."""
  factors_num_values = (2, 3, 5)

  def sample_factors(self, num, random_state):
    return np.stack([random_state.randint(n, size=num) for n in self.factors_num_values], axis=1)

  def sample_observations_from_factors(self, factors, random_state):
    del random_state
    return np.asarray(factors, dtype=np.float32)

  def sample(self, num, random_state):
    factors = self.sample_factors(num, random_state)
    return factors, self.sample_observations_from_factors(factors, random_state)


class DiscretizeTest(tf.test.TestCase):

  def test_two_bins_by_hand(self):
    # Edges 0, 0.5, 1; a value gets the number of left edges (0 and 0.5) it reaches.
    codes = np.array([[0.], [0.25], [0.5], [1.]])
    self.assertAllEqual(utils.discretize(codes, num_bins=2)[:, 0], [1, 1, 2, 2])

  def test_twenty_evenly_spaced_values_fill_the_twenty_bins(self):
    codes = np.arange(20.)[:, None] / 19.
    self.assertAllEqual(utils.discretize(codes)[:, 0], np.arange(1, 21))

  def test_each_column_uses_its_own_range(self):
    codes = np.stack([np.arange(20.), -100. * np.arange(20.)], axis=1)
    binned = utils.discretize(codes)
    self.assertAllEqual(binned[:, 0], np.arange(1, 21))
    self.assertAllEqual(binned[:, 1], np.arange(20, 0, -1))

  def test_constant_column_lands_in_one_bin(self):
    codes = np.stack([np.full(7, 3.5), np.arange(7.)], axis=1)
    self.assertLen(np.unique(utils.discretize(codes)[:, 0]), 1)

  def test_bad_input(self):
    with self.assertRaisesRegex(ValueError, "codes"):
      utils.discretize(np.arange(5.))
    with self.assertRaisesRegex(ValueError, "finite"):
      utils.discretize(np.array([[0.], [np.nan]]))
    with self.assertRaisesRegex(ValueError, "finite"):
      utils.discretize(np.array([[0.], [np.inf]]))
    with self.assertRaisesRegex(ValueError, "num_bins"):
      utils.discretize(np.zeros([3, 1]), num_bins=0)


class DiscreteInformationTest(tf.test.TestCase):

  def test_mutual_information_by_hand(self):
    code = np.array([0, 0, 0, 1])
    factor = np.array([0, 0, 1, 1])
    # p(c, f): (0,0)=1/2, (0,1)=1/4, (1,1)=1/4; p(c) = (3/4, 1/4), p(f) = (1/2, 1/2).
    expected = (0.5 * np.log(0.5 / (0.75 * 0.5)) + 0.25 * np.log(0.25 / (0.75 * 0.5)) +
                0.25 * np.log(0.25 / (0.25 * 0.5)))
    mi = utils.discrete_mutual_info(code[:, None], factor[:, None])
    self.assertAllClose(mi, [[expected]], atol=1e-12)

  def test_copy_coarsening_and_independence(self):
    factor = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    other = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    codes = np.stack([factor, factor // 2, other], axis=1)
    mi = utils.discrete_mutual_info(codes, np.stack([factor, other], axis=1))
    self.assertEqual(mi.shape, (3, 2))
    self.assertAllClose(mi, [[np.log(4.), 0.], [np.log(2.), 0.], [0., np.log(2.)]], atol=1e-12)

  def test_entropy_by_hand(self):
    factors = np.stack([[0, 0, 0, 1], [5, 5, 5, 5], [0, 1, 2, 3]], axis=1)
    expected = [-(0.75 * np.log(0.75) + 0.25 * np.log(0.25)), 0., np.log(4.)]
    self.assertAllClose(utils.discrete_entropy(factors), expected, atol=1e-12)

  def test_mismatched_points(self):
    with self.assertRaisesRegex(ValueError, "same number of points"):
      utils.discrete_mutual_info(np.zeros([4, 2]), np.zeros([5, 2]))
    with self.assertRaisesRegex(ValueError, "factors"):
      utils.discrete_entropy(np.zeros(4))


class SamplingTest(tf.test.TestCase):

  def test_obtain_representation_batches(self):
    seen = []

    def representation(x):
      seen.append(len(x))
      return np.asarray(x) * 2.

    observations = np.arange(20.).reshape(10, 2)
    codes = utils.obtain_representation(observations, representation, batch_size=4)
    self.assertEqual(seen, [4, 4, 2])
    self.assertAllClose(codes, observations * 2.)

  def test_representation_with_wrong_shape(self):
    with self.assertRaisesRegex(ValueError, "representation_function"):
      utils.obtain_representation(np.zeros([5, 2]), lambda x: np.zeros([1, 3]), batch_size=5)

  def test_generate_batch_factor_code_draws_in_batches(self):
    data = _FactorGrid()
    codes, factors = utils.generate_batch_factor_code(
        data, lambda x: np.asarray(x)[:, ::-1] + 1., 40, np.random.RandomState(3), batch_size=16)
    # The same calls, made by hand: batches of 16, 16 and 8 from the same seed.
    random_state = np.random.RandomState(3)
    expected = np.concatenate([data.sample(n, random_state)[0] for n in (16, 16, 8)], axis=0)
    self.assertAllEqual(factors, expected)
    self.assertAllClose(codes, expected[:, ::-1] + 1.)
    # Batches of 40 at once would give other points.
    self.assertNotAllEqual(factors, data.sample(40, np.random.RandomState(3))[0])

  def test_bad_sizes(self):
    with self.assertRaisesRegex(ValueError, "num_points"):
      utils.generate_batch_factor_code(_FactorGrid(), lambda x: x, 0, np.random.RandomState(0), 4)
    with self.assertRaisesRegex(ValueError, "batch_size"):
      utils.obtain_representation(np.zeros([3, 1]), lambda x: x, 0)
    with self.assertRaisesRegex(ValueError, "random_state"):
      utils.generate_batch_factor_code(_FactorGrid(), lambda x: x, 4, 0, 4)


if __name__ == "__main__":
  tf.test.main()
