"""linear_gaussian: binned standard normal latents mixed linearly, with exact moments."""
import numpy as np
import tensorflow as tf
from scipy import special, stats

from zoo.data import LinearGaussian, get_dataset


class LinearGaussianTest(tf.test.TestCase):

  def test_shapes_and_defaults(self):
    data = LinearGaussian()
    self.assertEqual(data.factors_num_values, (32, 32, 32, 32))
    self.assertEqual(data.factor_names, ("s0", "s1", "s2", "s3"))
    self.assertEqual(data.observation_shape, (8,))
    self.assertEqual(data.mixing_matrix.shape, (8, 4))
    factors, observations = data.sample(10, np.random.RandomState(0))
    self.assertEqual(factors.dtype, np.int64)
    self.assertEqual(observations.dtype, np.float32)
    self.assertEqual(observations.shape, (10, 8))
    small = LinearGaussian(num_factors=2, num_values=5, observation_dim=3, noise_std=0.1)
    self.assertEqual(small.factors_num_values, (5, 5))
    self.assertEqual(small.observation_shape, (3,))

  def test_mixing_matrix_comes_from_its_seed(self):
    self.assertAllEqual(LinearGaussian(matrix_seed=3).mixing_matrix,
                        LinearGaussian(matrix_seed=3).mixing_matrix)
    self.assertNotAllClose(LinearGaussian(matrix_seed=3).mixing_matrix,
                           LinearGaussian(matrix_seed=4).mixing_matrix)
    with self.assertRaises(ValueError):
      LinearGaussian().mixing_matrix[0, 0] = 1.0  # read-only

  def test_observation_covariance_is_closed_form(self):
    data = LinearGaussian(noise_std=0.3)
    a = data.mixing_matrix
    self.assertAllClose(data.observation_covariance(), a @ a.T + 0.09 * np.eye(8), atol=1e-12)

  def test_sample_covariance_matches_the_closed_form(self):
    data = LinearGaussian(num_factors=3, num_values=5, observation_dim=6, noise_std=0.2,
                          matrix_seed=4)
    num = 20000
    x = data.sample_observations(num, np.random.RandomState(11)).astype(np.float64)
    covariance = data.observation_covariance()
    # Standard error of each entry of a Gaussian second-moment estimate.
    diag = np.diag(covariance)
    stderr = np.sqrt((np.outer(diag, diag) + covariance ** 2) / num)
    z = np.abs(x.T @ x / num - covariance) / stderr
    # Measured over 100 seeds: the largest of the 36 entries' z reaches 3.8 at most.
    self.assertLess(z.max(), 4.5)
    self.assertAllClose(x.mean(axis=0), np.zeros(6), atol=4.5 * np.sqrt(diag.max() / num))
    # The check resolves the noise level: noise_std 0.25 instead of 0.2 fails it.
    wrong = covariance + (0.25 ** 2 - 0.2 ** 2) * np.eye(6)
    self.assertGreater((np.abs(x.T @ x / num - wrong) / stderr).max(), 4.5)

  def test_latents_are_exactly_standard_normal_for_uniform_factors(self):
    data = LinearGaussian()
    num = 40000
    random_state = np.random.RandomState(2)
    factors = data.sample_factors(num, random_state)
    latents = data.sample_latents_from_factors(factors, random_state)
    # Kolmogorov-Smirnov distance in units of 1/sqrt(N): measured <= 1.93 over 100 seeds and
    # 4 latents; 2.2 is p ~ 1e-4 per latent.
    for i in range(4):
      self.assertLess(np.sqrt(num) * stats.kstest(latents[:, i], "norm").statistic, 2.2)
    self.assertAllClose(latents.mean(axis=0), np.zeros(4), atol=0.02)
    self.assertAllClose(latents.var(axis=0), np.ones(4), atol=0.03)
    # The bound is sharp enough to tell bin midpoints (a discretized normal) from N(0, 1).
    midpoints = special.ndtri((factors[:, 0] + 0.5) / 32)
    self.assertGreater(np.sqrt(num) * stats.kstest(midpoints, "norm").statistic, 3.0)

  def test_latents_fall_in_their_factor_bins(self):
    data = LinearGaussian(num_factors=2, num_values=6)
    factors = np.stack(np.meshgrid(np.arange(6), np.arange(6)), -1).reshape(-1, 2)
    factors = np.repeat(factors, 50, axis=0)
    latents = data.sample_latents_from_factors(factors, np.random.RandomState(0))
    self.assertAllEqual(data.factors_from_latents(latents), factors)
    edges = data.bin_edges()
    self.assertEqual(edges[0], -np.inf)
    self.assertEqual(edges[-1], np.inf)
    self.assertEqual(edges[3], 0.0)
    self.assertTrue(np.all(latents >= edges[factors]) and np.all(latents <= edges[factors + 1]))

  def test_same_state_same_observations(self):
    data = LinearGaussian()
    factors = data.sample_factors(5, np.random.RandomState(0))
    first = data.sample_observations_from_factors(factors, np.random.RandomState(1))
    self.assertAllEqual(first,
                        data.sample_observations_from_factors(factors, np.random.RandomState(1)))
    self.assertNotAllClose(first,
                           data.sample_observations_from_factors(factors, np.random.RandomState(2)))

  def test_bad_parameters(self):
    for kwargs, pattern in ((dict(num_factors=0), "num_factors"),
                            (dict(num_values=1), "num_values"),
                            (dict(observation_dim=0), "observation_dim"),
                            (dict(noise_std=0.0), "noise_std"), (dict(noise_std=-1), "noise_std"),
                            (dict(matrix_seed=-1), "matrix_seed"),
                            (dict(num_factors=2.5), "num_factors")):
      with self.assertRaisesRegex(ValueError, f"linear_gaussian.{pattern}"):
        LinearGaussian(**kwargs)
    data = LinearGaussian()
    with self.assertRaisesRegex(ValueError, r"expected shape \[N, 4\]"):
      data.factors_from_latents(np.zeros((3, 2)))
    with self.assertRaisesRegex(ValueError, r"column 1 \(s1\)"):
      data.sample_observations_from_factors(np.array([[0, 32, 0, 0]]), np.random.RandomState(0))

  def test_registry_passes_parameters(self):
    data = get_dataset("linear_gaussian", num_factors=2, observation_dim=5)
    self.assertEqual(data.observation_shape, (5,))
    self.assertEqual(data.num_factors, 2)


if __name__ == "__main__":
  tf.test.main()
