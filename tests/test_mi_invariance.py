"""Tests of the MI-invariance estimator and of the closed-form conditional MI.

Measured over 10-12 data/Monte Carlo seeds at N = 2000, K = 32, 128 strata x 4 draws
(docs/MI_MEASURES.md): the conditional MI is biased low by finite N (mean error -0.002 to -0.06
nats per latent; worst -0.082 at 0.80 nats and -0.091 at 2.25 nats; sum worst -0.179); the
violation of the exactly invariant 4-latent encoders was 0.069-0.124 and that of the 2-latent
invariant encoder 0.053-0.089, against 0.354-0.446 for the 2-latent encoder whose noise on z_0
grows with z_1. Each bound below is about 1.3-1.4x the worst value seen.
"""
import math

import numpy as np
import tensorflow as tf

from evaluation import gaussian_closed_form
from evaluation import mi_invariance
from evaluation import mi_measures
from linear_gaussian_encoders import LATENT_DIM
from linear_gaussian_encoders import NUM_POINTS
from linear_gaussian_encoders import linear_gaussian_encoder
from linear_gaussian_encoders import posteriors
from linear_gaussian_encoders import random_linear_gaussian_encoder


def _noise_driven_encoder(strength, num_points=NUM_POINTS):
  """z = x + noise, x ~ N(0, I_2), noise stddev 0.5, except that the stddev of z_0 is
  0.5 exp(strength * x_1): how much z_0 says about x depends on the value of z_1."""
  data = np.random.default_rng(1000).standard_normal((num_points, 2))
  covariance = np.tile(np.diag([0.25, 0.25]), (num_points, 1, 1))
  covariance[:, 0, 0] = 0.25 * np.exp(2.0 * strength * data[:, 1])
  return data, covariance


class ClosedFormConditionalMiTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.weight, self.data_covariance, self.noise_covariance = random_linear_gaussian_encoder()

  def test_chain_rule(self):
    # I(x; z_i | z_{-i}) = I(x; z) - I(x; z_{-i}), the second from the encoder without z_i.
    conditional = gaussian_closed_form.conditional_mutual_information(
        self.weight, self.data_covariance, self.noise_covariance)
    joint = gaussian_closed_form.mutual_information_joint(
        self.weight, self.data_covariance, self.noise_covariance)
    for i in range(4):
      others = [j for j in range(4) if j != i]
      without_i = gaussian_closed_form.mutual_information_joint(
          self.weight[others], self.data_covariance,
          self.noise_covariance[np.ix_(others, others)])
      self.assertAllClose(conditional[i], joint - without_i, atol=1e-10)

  def test_single_latent_conditions_on_nothing(self):
    weight = self.weight[:1]
    noise = self.noise_covariance[:1, :1]
    self.assertAllClose(
        gaussian_closed_form.conditional_mutual_information(weight, self.data_covariance, noise),
        gaussian_closed_form.mutual_information_per_latent(weight, self.data_covariance, noise),
        atol=1e-12)


class LinearGaussianInvarianceTest(tf.test.TestCase):
  """The exactly invariant case: conditional MI against closed form, violation at noise floor."""

  def _check(self, rho):
    weight, data_covariance, noise_covariance = linear_gaussian_encoder(rho)
    expected = gaussian_closed_form.conditional_mutual_information(
        weight, data_covariance, noise_covariance)
    mean, covariance = posteriors(weight, noise_covariance)
    result = mi_invariance.mi_invariance(mean, covariance, num_conditioning=32, num_samples=4,
                                         seed=5)
    for i in range(LATENT_DIM):
      self.assertNear(result[f"mi_invariance_mean_{i}"], expected[i], 0.08 + 0.03 * expected[i],
                      msg=f"latent {i}")
      self.assertBetween(result[f"mi_invariance_std_{i}"], 0.0, 0.3)
    self.assertNear(result["conditional_mi_sum"], np.sum(expected), 0.25)
    self.assertLess(result["violation"], 0.17)
    return result

  def test_factorized_encoder(self):
    self._check(rho=0.0)

  def test_correlated_encoder_uses_schur_complement(self):
    # With rho = 0.5 the conditional MIs differ from the factorized ones (0.37 vs 0.18 nats for
    # latent 0), so using the marginal instead of the conditional would fail the bounds.
    self._check(rho=0.5)


class ViolationContrastTest(tf.test.TestCase):

  def test_noise_that_depends_on_another_latent_violates_invariance(self):
    invariant = mi_invariance.mi_invariance(*_noise_driven_encoder(0.0), seed=2)
    violating = mi_invariance.mi_invariance(*_noise_driven_encoder(1.0), seed=2)
    # Invariant: both conditional MIs are 1/2 log(1 + 1 / 0.25) = 0.805 nats.
    for i in range(2):
      self.assertNear(invariant[f"mi_invariance_mean_{i}"], 0.5 * math.log(5.0), 0.08)
    self.assertLess(invariant["violation"], 0.12)
    self.assertGreater(violating["violation"], 0.25)
    self.assertGreater(violating["violation"], 3.0 * invariant["violation"])
    # The spread sits on the latent whose noise is driven, not on the driver.
    self.assertGreater(violating["mi_invariance_std_0"],
                       3.0 * violating["mi_invariance_std_1"])


class EdgeCaseTest(tf.test.TestCase):

  def test_single_latent(self):
    data = np.random.default_rng(0).standard_normal((NUM_POINTS, 1))
    mean, covariance = data, np.full((NUM_POINTS, 1, 1), 0.25)
    result = mi_invariance.mi_invariance(mean, covariance, seed=1)
    expected = 0.5 * math.log(5.0)
    self.assertEqual(result["mi_invariance_std_0"], 0.0)
    self.assertEqual(result["violation"], 0.0)
    # Over 30 seeds the pooled mean had sd 0.008 nats; the plain MI estimate sd 0.029.
    self.assertNear(result["mi_invariance_mean_0"], expected, 0.03)
    plain = mi_measures.mutual_information(mean, covariance, seed=1)["mi_per_latent"][0]
    self.assertNear(result["mi_invariance_mean_0"], plain, 0.1)
    self.assertEqual(result["conditional_mi_sum"], result["mi_invariance_mean_0"])

  def test_deterministic_latent_and_ignored_latent(self):
    # z_0 pins down the point (spacing 1, stddev 0.01); z_1 ignores it. Given z_1 nothing is
    # known, so I(x; z_0 | z_1 = a) = I(x; z_0) ~ log N for every a; given z_0, z_1 adds nothing.
    num_points = 300
    mean = np.stack([np.arange(num_points, dtype=np.float64), np.zeros(num_points)], axis=1)
    covariance = np.tile(np.diag([1e-4, 1.0]), (num_points, 1, 1))
    result = mi_invariance.mi_invariance(mean, covariance, seed=0)
    log_n = math.log(num_points)
    self.assertBetween(result["mi_invariance_mean_0"], log_n - 1e-6, log_n + 1e-9)
    self.assertAllClose(result["mi_invariance_std_0"], 0.0, atol=1e-12)
    self.assertAllClose(result["mi_invariance_mean_1"], 0.0, atol=1e-12)
    self.assertAllClose(result["violation"], 0.0, atol=1e-12)

  def test_same_seed_same_numbers_and_chunking(self):
    weight, _, noise_covariance = linear_gaussian_encoder(rho=0.5)
    mean, covariance = posteriors(weight, noise_covariance, num_points=300)
    first = mi_invariance.mi_invariance(mean, covariance, num_conditioning=8, seed=11)
    self.assertEqual(first, mi_invariance.mi_invariance(mean, covariance, num_conditioning=8,
                                                        seed=11))
    self.assertNotEqual(first["mi_invariance_mean_0"], mi_invariance.mi_invariance(
        mean, covariance, num_conditioning=8, seed=12)["mi_invariance_mean_0"])
    # Chunks of 3 conditioning values and of 50 draws.
    chunked = mi_invariance.mi_invariance(mean, covariance, num_conditioning=8, seed=11,
                                          max_chunk_elements=3 * 300 * LATENT_DIM)
    self.assertAllClose(chunked, first, atol=1e-10, rtol=0)

  def test_bad_inputs(self):
    mean = np.zeros((5, 2))
    covariance = np.tile(np.eye(2), (5, 1, 1))
    with self.assertRaisesRegex(ValueError, "num_conditioning"):
      mi_invariance.mi_invariance(mean, covariance, num_conditioning=0)
    with self.assertRaisesRegex(ValueError, "num_strata"):
      mi_invariance.mi_invariance(mean, covariance, num_strata=1.5)
    with self.assertRaisesRegex(ValueError, r"covariance: expected shape \(5, 2, 2\)"):
      mi_invariance.mi_invariance(mean, covariance[:, :1, :1])
    bad = covariance.copy()
    bad[1] = [[1.0, 3.0], [3.0, 1.0]]
    with self.assertRaisesRegex(ValueError, "covariance: expected positive definite.*entry 1"):
      mi_invariance.mi_invariance(mean, bad)
    nan_mean = mean.copy()
    nan_mean[0, 0] = np.nan
    with self.assertRaisesRegex(ValueError, "mean: expected finite"):
      mi_invariance.mi_invariance(nan_mean, covariance)


if __name__ == "__main__":
  tf.test.main()


class FastPathEqualsReferenceTest(tf.test.TestCase):
  """mi_invariance against tests/mi_reference.py (explicit Schur complements, one value a at a
  time, scipy densities) on the same draws: equal up to rounding."""

  def _check(self, mean, covariance, **kwargs):
    import mi_reference  # pylint: disable=import-outside-toplevel
    settings = dict(num_conditioning=5, num_samples=2, seed=3, num_strata=7)
    expected = mi_reference.mi_invariance(mean, covariance, **settings)
    result = mi_invariance.mi_invariance(mean, covariance, **settings, **kwargs)
    for key, value in expected.items():
      self.assertAllClose(result[key], value, rtol=1e-9, atol=1e-12, msg=key)

  def test_full_and_diagonal_covariances(self):
    rng = np.random.default_rng(0)
    for latent_dim, full in ((3, True), (2, False), (1, True)):
      mean = rng.standard_normal((30, latent_dim))
      root = 0.4 * rng.standard_normal((30, latent_dim, latent_dim))
      covariance = 0.2 * np.eye(latent_dim) + (root @ np.swapaxes(root, 1, 2) if full
                                               else np.zeros_like(root))
      self._check(mean, covariance)
      self._check(mean, covariance, max_chunk_elements=1)
