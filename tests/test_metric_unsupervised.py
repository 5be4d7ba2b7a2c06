"""Unsupervised scores: closed forms of the Gaussian scores, sampling checks against them, and the
discretized mutual information on codes whose answer is known exactly."""
import numpy as np
import scipy.linalg
import tensorflow as tf
from sklearn import metrics as sk_metrics

from evaluation.metrics import unsupervised
from evaluation.metrics import utils

_COVARIANCE = np.array([[1.0, 0.5, 0.2, 0.0],
                        [0.5, 2.0, -0.3, 0.1],
                        [0.2, -0.3, 1.5, 0.4],
                        [0.0, 0.1, 0.4, 0.5]])


class _FactorGrid:
  factors_num_values = (3, 4)

  def sample(self, num, random_state):
    factors = np.stack([random_state.randint(k, size=num) for k in self.factors_num_values], 1)
    return factors, factors.astype(np.float32)


class GaussianTotalCorrelationTest(tf.test.TestCase):

  def test_two_codes_closed_form(self):
    for rho in (0.0, 0.3, -0.8, 0.99):
      covariance = np.array([[4., 2. * rho], [2. * rho, 1.]])  # stddevs 2 and 1
      self.assertAllClose(unsupervised.gaussian_total_correlation(covariance),
                          -0.5 * np.log(1. - rho ** 2), atol=1e-12)

  def test_matches_half_log_ratio_of_determinants(self):
    expected = 0.5 * (np.sum(np.log(np.diag(_COVARIANCE))) - np.log(np.linalg.det(_COVARIANCE)))
    self.assertAllClose(unsupervised.gaussian_total_correlation(_COVARIANCE), expected,
                        atol=1e-12)
    self.assertAllClose(expected, 0.27184661369580376, atol=1e-12)

  def test_constant_code_is_left_out_and_singular_is_infinite(self):
    padded = np.zeros([5, 5])
    padded[:4, :4] = _COVARIANCE
    self.assertAllClose(unsupervised.gaussian_total_correlation(padded),
                        unsupervised.gaussian_total_correlation(_COVARIANCE), atol=1e-12)
    self.assertEqual(unsupervised.gaussian_total_correlation(np.ones([2, 2])), float("inf"))

  def test_sampled_codes_recover_the_closed_form(self):
    # 5,000 points: over 20 seeds the estimate was off by -0.003 +- 0.008 (max 0.016).
    codes = np.random.RandomState(0).multivariate_normal(np.zeros(4), _COVARIANCE, size=5000)
    scores = unsupervised.unsupervised_from_arrays(codes)
    self.assertAllClose(scores["gaussian_total_correlation"], 0.27184661369580376, atol=0.03)

  def test_independent_codes_have_near_zero_total_correlation(self):
    # Expected bias d(d-1)/(4N) = 6e-4; measured at most 1.1e-3 over 20 seeds.
    codes = np.random.RandomState(1).randn(5000, 4) * [1., 2., 3., 4.]
    total_correlation = unsupervised.unsupervised_from_arrays(codes)["gaussian_total_correlation"]
    self.assertBetween(total_correlation, 0., 0.004)


class GaussianWassersteinCorrelationTest(tf.test.TestCase):

  def test_diagonal_covariance_is_zero(self):
    self.assertAllClose(unsupervised.gaussian_wasserstein_correlation(np.diag([1., 4., 9.])), 0.,
                        atol=1e-12)

  def test_unit_variances_closed_form(self):
    # Eigenvalues 1 +- rho: W = 2 * 2 - 2 (sqrt(1 + rho) + sqrt(1 - rho)).
    for rho in (0.2, 0.9, -0.5):
      covariance = np.array([[1., rho], [rho, 1.]])
      self.assertAllClose(unsupervised.gaussian_wasserstein_correlation(covariance),
                          4. - 2. * (np.sqrt(1. + rho) + np.sqrt(1. - rho)), atol=1e-12)

  def test_perfectly_correlated_pair(self):
    # Sigma = [[a^2, ab], [ab, b^2]]: D^1/2 Sigma D^1/2 has one eigenvalue a^4 + b^4, so
    # W = 2 (a^2 + b^2) - 2 sqrt(a^4 + b^4).
    a, b = 2., 3.
    covariance = np.array([[a * a, a * b], [a * b, b * b]])
    self.assertAllClose(unsupervised.gaussian_wasserstein_correlation(covariance),
                        2. * (a * a + b * b) - 2. * np.sqrt(a ** 4 + b ** 4), atol=1e-9)

  def test_equals_the_reference_matrix_square_root_form(self):
    random_state = np.random.RandomState(3)
    for _ in range(3):
      factor = random_state.randn(6, 6)
      covariance = factor @ factor.T + 0.1 * np.eye(6)
      reference = 2. * np.trace(covariance) - 2. * np.trace(
          scipy.linalg.sqrtm(covariance * np.diag(covariance)[:, None])).real
      self.assertAllClose(unsupervised.gaussian_wasserstein_correlation(covariance), reference,
                          atol=1e-8)

  def test_norm_divides_by_the_trace(self):
    codes = np.random.RandomState(2).multivariate_normal(np.zeros(4), _COVARIANCE, size=2000)
    scores = unsupervised.unsupervised_from_arrays(codes)
    covariance = np.cov(codes, rowvar=False)
    self.assertAllClose(scores["gaussian_wasserstein_correlation"],
                        unsupervised.gaussian_wasserstein_correlation(covariance), atol=1e-12)
    self.assertAllClose(scores["gaussian_wasserstein_correlation_norm"],
                        scores["gaussian_wasserstein_correlation"] / np.trace(covariance),
                        atol=1e-12)


class MutualInfoScoreTest(tf.test.TestCase):

  def test_duplicated_code_scores_its_entropy(self):
    x = np.random.RandomState(4).randn(1000)
    discrete = utils.discretize(x[:, None], 20)[:, 0]
    entropy = sk_metrics.mutual_info_score(discrete, discrete)
    # Both off-diagonal entries are H(x), divided by d^2 - d = 2.
    self.assertAllClose(unsupervised.mutual_info_score(np.stack([x, 3. * x + 1.], axis=1)),
                        entropy, atol=1e-12)
    # A constant third code shares nothing: 2 H / (9 - 3).
    self.assertAllClose(
        unsupervised.mutual_info_score(np.stack([x, 3. * x + 1., np.ones(1000)], axis=1)),
        entropy / 3., atol=1e-12)

  def test_single_code_has_no_pairs(self):
    scores = unsupervised.unsupervised_from_arrays(np.random.RandomState(6).randn(50, 1))
    self.assertTrue(np.isnan(scores["mutual_info_score"]))
    self.assertEqual(scores["gaussian_total_correlation"], 0.)
    self.assertAllClose(scores["gaussian_wasserstein_correlation"], 0., atol=1e-12)

  def test_independent_codes_score_near_zero(self):
    # Plug-in bias about (bins - 1)^2 / (2N) = 0.036 nats; measured 0.026-0.033 over 20 seeds.
    codes = np.random.RandomState(5).randn(5000, 4)
    self.assertBetween(unsupervised.mutual_info_score(codes), 0.015, 0.05)


class UnsupervisedWrapperTest(tf.test.TestCase):

  def test_wrapper_scores_the_drawn_codes(self):
    data = _FactorGrid()

    def representation(observations):
      return np.stack([observations[:, 0] + 0.5 * observations[:, 1], observations[:, 1],
                       np.sin(observations[:, 0] * observations[:, 1])], axis=1)

    scores = unsupervised.compute_unsupervised(data, representation, np.random.RandomState(0),
                                               num_train=500)
    codes, _ = utils.generate_batch_factor_code(data, representation, 500,
                                                np.random.RandomState(0), 16)
    self.assertEqual(scores, unsupervised.unsupervised_from_arrays(codes))
    self.assertEqual(sorted(scores), ["gaussian_total_correlation",
                                      "gaussian_wasserstein_correlation",
                                      "gaussian_wasserstein_correlation_norm",
                                      "mutual_info_score"])
    self.assertGreater(scores["gaussian_total_correlation"], 0.1)

  def test_bad_inputs_raise(self):
    with self.assertRaisesRegex(ValueError, "codes"):
      unsupervised.unsupervised_from_arrays(np.ones(10))
    with self.assertRaisesRegex(ValueError, "every code is constant"):
      unsupervised.unsupervised_from_arrays(np.ones([10, 3]))
    with self.assertRaisesRegex(ValueError, "at least 2 points"):
      unsupervised.unsupervised_from_arrays(np.ones([1, 3]))
    with self.assertRaisesRegex(ValueError, "covariance"):
      unsupervised.gaussian_total_correlation(np.ones([2, 3]))


if __name__ == "__main__":
  tf.test.main()
