"""Tests of the mutual-information and total-correlation estimators and their closed forms.

Tolerances come from measurements over 20 data/Monte Carlo seeds at the configurations used here
(N = 2000 points, 4 draws per point, docs/MI_MEASURES.md): per-latent errors stayed within
0.045 nats (sd <= 0.018); the joint MI is biased low by 0.05-0.07 nats (finite N; worst -0.107)
and TC high by the same amount; the identity gap of a correlated encoder has sd 0.014 (worst
0.028). Each bound below is about 1.5x the worst error seen.
"""
import math

import numpy as np
import tensorflow as tf

from evaluation import gaussian_closed_form
from evaluation import mi_invariance
from evaluation import mi_measures
from linear_gaussian_encoders import DATA_DIM
from linear_gaussian_encoders import LATENT_DIM
from linear_gaussian_encoders import TARGET_MI
from linear_gaussian_encoders import equicorrelation
from linear_gaussian_encoders import linear_gaussian_encoder
from linear_gaussian_encoders import posteriors
from linear_gaussian_encoders import random_linear_gaussian_encoder


def _joint_covariance(weight, data_covariance, noise_covariance):
  """Covariance of the stacked vector (x, z)."""
  cross = weight @ data_covariance
  return np.block([[data_covariance, cross.T],
                   [cross, cross @ weight.T + noise_covariance]])


def _conditional_variance(covariance, target, given):
  """Var(v_target | v_given) for v ~ N(0, covariance), by a linear solve."""
  if not given:
    return covariance[target, target]
  block = covariance[np.ix_(given, given)]
  cross = covariance[np.ix_(given, [target])]
  return covariance[target, target] - float((cross.T @ np.linalg.solve(block, cross))[0, 0])


class ClosedFormTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.weight, self.data_covariance, self.noise_covariance = random_linear_gaussian_encoder()

  def test_weight_hits_target_mutual_information(self):
    weight, data_covariance, noise_covariance = linear_gaussian_encoder(rho=0.5)
    self.assertAllClose(gaussian_closed_form.mutual_information_per_latent(
        weight, data_covariance, noise_covariance), TARGET_MI, atol=1e-12)

  def test_mutual_information_matches_conditioning_of_joint_gaussian(self):
    # I(x; z_i) = 1/2 log(Var(z_i) / Var(z_i | x)), I(x; z) = h(z) - h(z | x), both read off
    # the covariance of (x, z) directly.
    joint = _joint_covariance(self.weight, self.data_covariance, self.noise_covariance)
    data_index = list(range(3))
    expected = [0.5 * math.log(joint[3 + i, 3 + i]
                               / _conditional_variance(joint, 3 + i, data_index))
                for i in range(4)]
    self.assertAllClose(gaussian_closed_form.mutual_information_per_latent(
        self.weight, self.data_covariance, self.noise_covariance), expected, atol=1e-10)
    # Chain rule: h(z) - h(z | x) = sum_i [log Var(z_i | z_<i) - log Var(z_i | z_<i, x)] / 2.
    expected_joint = sum(
        0.5 * math.log(_conditional_variance(joint, 3 + i, [3 + j for j in range(i)])
                       / _conditional_variance(joint, 3 + i,
                                               data_index + [3 + j for j in range(i)]))
        for i in range(4))
    self.assertAllClose(gaussian_closed_form.mutual_information_joint(
        self.weight, self.data_covariance, self.noise_covariance), expected_joint, atol=1e-10)

  def test_total_correlations_and_identity(self):
    aggregate = gaussian_closed_form.aggregate_covariance(
        self.weight, self.data_covariance, self.noise_covariance)
    # TC of a Gaussian = sum of marginal entropies - joint entropy, via eigenvalues here.
    expected_tc = 0.5 * (np.sum(np.log(np.diag(aggregate)))
                         - np.sum(np.log(np.linalg.eigvalsh(aggregate))))
    measures = gaussian_closed_form.closed_form_measures(
        self.weight, self.data_covariance, self.noise_covariance)
    self.assertAllClose(measures["aggregate_tc"], expected_tc, atol=1e-10)
    stddev = np.sqrt(np.diag(self.noise_covariance))
    correlation = self.noise_covariance / np.outer(stddev, stddev)
    self.assertAllClose(measures["conditional_tc"],
                        -0.5 * np.linalg.slogdet(correlation)[1], atol=1e-12)
    self.assertAllClose(measures["identity_gap"], 0.0, atol=1e-10)

  def test_bad_inputs(self):
    with self.assertRaisesRegex(ValueError, "data_covariance"):
      gaussian_closed_form.aggregate_covariance(self.weight, np.eye(2), self.noise_covariance)
    with self.assertRaisesRegex(ValueError, "noise_covariance.*positive definite"):
      gaussian_closed_form.aggregate_covariance(self.weight, self.data_covariance,
                                                -np.eye(4))
    with self.assertRaisesRegex(ValueError, "weight"):
      gaussian_closed_form.aggregate_covariance(np.ones(3), self.data_covariance,
                                                self.noise_covariance)


class LinearGaussianEstimateTest(tf.test.TestCase):
  """Estimates at N = 2000, 4 draws per point, against the closed forms."""

  def _check_against_closed_form(self, rho, identity_tolerance):
    weight, data_covariance, noise_covariance = linear_gaussian_encoder(rho)
    expected = gaussian_closed_form.closed_form_measures(weight, data_covariance,
                                                         noise_covariance)
    mean, covariance = posteriors(weight, noise_covariance)
    result = mi_measures.mi_measures(mean, covariance, num_samples=4, seed=3)
    for i in range(LATENT_DIM):
      key = f"mi_per_latent_{i}"
      self.assertNear(result[key], expected[key], 0.03 + 0.02 * expected[key], msg=key)
    self.assertNear(result["mi_sum"], expected["mi_sum"], 0.15)
    self.assertNear(result["mi_joint"], expected["mi_joint"], 0.15)
    self.assertNear(result["aggregate_tc"], expected["aggregate_tc"], 0.15)
    self.assertAllClose(result["conditional_tc"], expected["conditional_tc"], atol=1e-12)
    self.assertNear(result["identity_gap"], 0.0, identity_tolerance)
    return result

  def test_factorized_encoder(self):
    result = self._check_against_closed_form(rho=0.0, identity_tolerance=1e-12)
    self.assertEqual(result["conditional_tc"], 0.0)

  def test_correlated_encoder(self):
    self._check_against_closed_form(rho=0.5, identity_tolerance=0.045)

  def test_separate_functions_agree_with_combined_entry_point(self):
    weight, _, noise_covariance = linear_gaussian_encoder(rho=0.5)
    mean, covariance = posteriors(weight, noise_covariance, num_points=300)
    combined = mi_measures.mi_measures(mean, covariance, num_samples=2, seed=4)
    mi = mi_measures.mutual_information(mean, covariance, num_samples=2, seed=4)
    tc = mi_measures.aggregate_total_correlation(mean, covariance, num_samples=2, seed=4)
    self.assertAllClose(mi["mi_per_latent"],
                        [combined[f"mi_per_latent_{i}"] for i in range(LATENT_DIM)], atol=0)
    self.assertEqual(mi["mi_joint"], combined["mi_joint"])
    self.assertEqual(tc, combined["aggregate_tc"])
    self.assertEqual(mi_measures.conditional_total_correlation(covariance),
                     combined["conditional_tc"])

  def test_chunking_does_not_change_the_numbers(self):
    weight, _, noise_covariance = linear_gaussian_encoder(rho=0.5)
    mean, covariance = posteriors(weight, noise_covariance, num_points=300)
    whole = mi_measures.mi_measures(mean, covariance, num_samples=2, seed=4)
    # 7 points of [N, d] per chunk: many chunks, the last one partial.
    chunked = mi_measures.mi_measures(mean, covariance, num_samples=2, seed=4,
                                      max_chunk_elements=7 * 300 * LATENT_DIM)
    self.assertAllClose(chunked, whole, atol=1e-10, rtol=0)


class ConditionalTotalCorrelationTest(tf.test.TestCase):

  def test_exactly_zero_for_diagonal_covariances(self):
    variances = np.random.default_rng(0).uniform(1e-4, 30.0, size=(50, 6))
    covariance = np.stack([np.diag(v) for v in variances])
    self.assertEqual(mi_measures.conditional_total_correlation(covariance), 0.0)

  def test_equicorrelated_noise_with_any_scales(self):
    rho = 0.6
    correlation = equicorrelation(5, rho)
    scales = np.random.default_rng(0).uniform(0.01, 10.0, size=(40, 5))
    covariance = scales[:, :, None] * correlation[None] * scales[:, None, :]
    # -1/2 log det C_rho from its eigenvalues 1 + 4 rho (once) and 1 - rho (four times).
    expected = -0.5 * (math.log1p(4 * rho) + 4 * math.log1p(-rho))
    self.assertAllClose(mi_measures.conditional_total_correlation(covariance), expected,
                        atol=1e-12)


class BoundsAndDeterminismTest(tf.test.TestCase):

  def _grid_encoder(self, num_points=300):
    # Latent 0 pins down the point (spacing 1, stddev 0.01); latent 1 ignores it.
    mean = np.stack([np.arange(num_points, dtype=np.float64), np.zeros(num_points)], axis=1)
    covariance = np.tile(np.diag([1e-4, 1.0]), (num_points, 1, 1))
    return mean, covariance

  def test_estimates_stay_between_zero_and_log_n(self):
    mean, covariance = self._grid_encoder()
    log_n = math.log(mean.shape[0])
    result = mi_measures.mi_measures(mean, covariance, seed=0)
    self.assertBetween(result["mi_per_latent_0"], log_n - 1e-6, log_n + 1e-9)
    self.assertBetween(result["mi_joint"], log_n - 1e-6, log_n + 1e-9)
    self.assertAllClose(result["mi_per_latent_1"], 0.0, atol=1e-12)
    self.assertAllClose(result["aggregate_tc"], 0.0, atol=1e-9)

  def test_estimates_never_exceed_log_n_when_points_overlap(self):
    # Heavily overlapping posteriors of a 2-point evaluation set: MI <= log 2 still holds.
    mean = np.array([[0.0, 0.0], [0.5, 0.0]])
    covariance = np.tile(np.eye(2), (2, 1, 1))
    result = mi_measures.mi_measures(mean, covariance, num_samples=64, seed=1)
    self.assertLessEqual(result["mi_joint"], math.log(2) + 1e-12)
    self.assertLessEqual(result["mi_per_latent_0"], math.log(2) + 1e-12)
    self.assertGreaterEqual(result["mi_joint"], 0.0)

  def test_same_seed_same_numbers(self):
    weight, _, noise_covariance = linear_gaussian_encoder(rho=0.5)
    mean, covariance = posteriors(weight, noise_covariance, num_points=200)
    first = mi_measures.mi_measures(mean, covariance, seed=11)
    self.assertEqual(first, mi_measures.mi_measures(mean, covariance, seed=11))
    self.assertNotEqual(first["mi_joint"],
                        mi_measures.mi_measures(mean, covariance, seed=12)["mi_joint"])


class BadInputTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.mean = np.zeros((5, 2))
    self.covariance = np.tile(np.eye(2), (5, 1, 1))

  def test_shape_mismatch(self):
    with self.assertRaisesRegex(ValueError, r"covariance: expected shape \(5, 2, 2\)"):
      mi_measures.mi_measures(self.mean, self.covariance[:4])
    with self.assertRaisesRegex(ValueError, "mean: expected shape"):
      mi_measures.mi_measures(self.mean[:, 0], self.covariance)

  def test_not_finite(self):
    mean = self.mean.copy()
    mean[2, 1] = np.nan
    with self.assertRaisesRegex(ValueError, "mean: expected finite"):
      mi_measures.mi_measures(mean, self.covariance)
    covariance = self.covariance.copy()
    covariance[0, 0, 0] = np.inf
    with self.assertRaisesRegex(ValueError, "covariance: expected finite"):
      mi_measures.mutual_information(self.mean, covariance)

  def test_not_positive_definite(self):
    covariance = self.covariance.copy()
    covariance[3] = [[1.0, 2.0], [2.0, 1.0]]
    with self.assertRaisesRegex(ValueError, "covariance: expected positive definite.*entry 3"):
      mi_measures.mi_measures(self.mean, covariance)
    covariance[3] = [[1.0, 0.5], [0.0, 1.0]]
    with self.assertRaisesRegex(ValueError, "covariance: expected symmetric.*entry 3"):
      mi_measures.aggregate_total_correlation(self.mean, covariance)

  def test_bad_settings(self):
    with self.assertRaisesRegex(ValueError, "num_samples"):
      mi_measures.mi_measures(self.mean, self.covariance, num_samples=0)
    with self.assertRaisesRegex(ValueError, "seed"):
      mi_measures.mi_measures(self.mean, self.covariance, seed=-1)
    with self.assertRaisesRegex(ValueError, "mean: expected real numbers"):
      mi_measures.mi_measures(np.full((5, 2), "a"), self.covariance)


class _FakeVectorData:
  """Minimal ground-truth data: x ~ N(0, I_3) observations."""
  observation_shape = (DATA_DIM,)

  def sample_observations(self, num, random_state):
    return random_state.standard_normal((num, DATA_DIM)).astype(np.float32)


class ComputeMiMeasuresTest(tf.test.TestCase):

  def test_wrapper_encodes_in_batches_and_merges_both_measures(self):
    weight, data_covariance, noise_covariance = linear_gaussian_encoder(rho=0.0)
    calls = []

    def posterior_function(observations):
      calls.append(observations.shape[0])
      mean = observations @ weight.T.astype(np.float32)
      covariance = np.broadcast_to(noise_covariance.astype(np.float32),
                                   (observations.shape[0], LATENT_DIM, LATENT_DIM))
      return mean, covariance

    result = mi_measures.compute_mi_measures(
        _FakeVectorData(), posterior_function, np.random.RandomState(7), num_points=1000,
        batch_size=64, num_samples=2, num_conditioning=8)
    self.assertEqual(calls, [64] * 15 + [40])
    # The same numbers as the array-level functions on the same observations and seed.
    random_state = np.random.RandomState(7)
    observations = _FakeVectorData().sample_observations(1000, random_state)
    seed = random_state.randint(0, 2**31 - 1)
    mean, covariance = posterior_function(observations)
    expected = mi_measures.mi_measures(mean, covariance, num_samples=2, seed=seed)
    expected.update(mi_invariance.mi_invariance(
        mean, covariance, num_conditioning=8, num_samples=2, seed=seed))
    self.assertEqual(sorted(result), sorted(expected))
    # Batches and the whole array may round the float32 matrix product differently.
    self.assertAllClose(result, expected, atol=1e-5, rtol=0)
    self.assertIn("violation", result)
    closed_form = gaussian_closed_form.closed_form_measures(weight, data_covariance,
                                                           noise_covariance)
    for i in range(LATENT_DIM):
      key = f"mi_per_latent_{i}"
      self.assertNear(result[key], closed_form[key], 0.1, msg=key)

  def test_wrapper_rejects_bad_posterior_function(self):
    with self.assertRaisesRegex(ValueError, "posterior_function: expected outputs with 10 rows"):
      mi_measures.compute_mi_measures(
          _FakeVectorData(), lambda x: (x[:1], np.eye(3)[None]), np.random.RandomState(0),
          num_points=10)
    with self.assertRaisesRegex(ValueError, r"posterior_function: expected it to return \(mean"):
      mi_measures.compute_mi_measures(_FakeVectorData(), lambda x: x, np.random.RandomState(0),
                                      num_points=10)
    with self.assertRaisesRegex(ValueError, "num_points"):
      mi_measures.compute_mi_measures(_FakeVectorData(), lambda x: x, np.random.RandomState(0),
                                      num_points=1)


if __name__ == "__main__":
  tf.test.main()


def _random_posteriors(num_points, latent_dim, full, seed, smallest_variance=0.05):
  """Posteriors with means of size ~2 and variances from smallest_variance to ~1."""
  rng = np.random.default_rng(seed)
  mean = 2.0 * rng.standard_normal((num_points, latent_dim))
  variance = np.exp(rng.uniform(np.log(smallest_variance), 0.0, size=(num_points, latent_dim)))
  if not full:
    return mean, variance[:, :, None] * np.eye(latent_dim)
  stddev = np.sqrt(variance)
  root = rng.standard_normal((num_points, latent_dim, latent_dim))
  correlation = root @ np.swapaxes(root, 1, 2) + latent_dim * np.eye(latent_dim)
  scale = np.sqrt(np.diagonal(correlation, axis1=1, axis2=2))
  correlation /= scale[:, :, None] * scale[:, None, :]
  return mean, stddev[:, :, None] * correlation * stddev[:, None, :]


class FastPathEqualsReferenceTest(tf.test.TestCase):
  """The fused, chunked, threaded estimator against tests/mi_reference.py (scipy, one
  component at a time) on the same draws: equal up to rounding."""

  def _check(self, mean, covariance, rtol=1e-9, **kwargs):
    import mi_reference  # pylint: disable=import-outside-toplevel
    expected = mi_reference.mi_measures(mean, covariance, num_samples=3, seed=5)
    result = mi_measures.mi_measures(mean, covariance, num_samples=3, seed=5, **kwargs)
    for key, value in expected.items():
      self.assertAllClose(result[key], value, rtol=rtol, atol=1e-12, msg=key)

  def test_full_covariances(self):
    for latent_dim in (2, 3, 5):
      self._check(*_random_posteriors(40, latent_dim, True, seed=latent_dim))

  def test_diagonal_covariances_and_a_single_latent(self):
    for latent_dim in (1, 4):
      self._check(*_random_posteriors(37, latent_dim, False, seed=latent_dim))

  def test_small_chunks(self):
    # One query per chunk and several chunks of components' worth of memory.
    self._check(*_random_posteriors(33, 3, True, seed=9), max_chunk_elements=1)
    self._check(*_random_posteriors(33, 3, False, seed=9), max_chunk_elements=100)

  def test_tight_posteriors_far_from_the_center(self):
    # The expanded quadratic form of the full-covariance mixture loses |z|^2 / variance * 1e-16
    # to rounding: posterior stddevs of 1e-3 around means of size 2 still agree to 1e-7.
    mean, covariance = _random_posteriors(40, 3, True, seed=3, smallest_variance=1e-6)
    self._check(mean + 5.0, covariance, rtol=1e-7)

  def test_more_points_than_one_kernel_block(self):
    # 3,000 points: components padded to a multiple of 256, several query chunks per thread.
    mean, covariance = _random_posteriors(3000, 2, True, seed=1)
    import mi_reference  # pylint: disable=import-outside-toplevel
    expected = mi_reference.mi_measures(mean[:300], covariance[:300], num_samples=1, seed=2)
    result = mi_measures.mi_measures(mean[:300], covariance[:300], num_samples=1, seed=2)
    self.assertAllClose(result["mi_joint"], expected["mi_joint"], rtol=1e-9)
    whole = mi_measures.mi_measures(mean, covariance, num_samples=1, seed=2)
    chunked = mi_measures.mi_measures(mean, covariance, num_samples=1, seed=2,
                                      max_chunk_elements=5000)
    self.assertAllClose(chunked, whole, rtol=1e-12, atol=1e-14)
