"""Tests for zoo.posteriors: the four posterior families and the Gaussian helpers."""
import math

import gin
import numpy as np
import scipy.stats
import tensorflow as tf
import tensorflow_probability as tfp

from gin_edge import configurables
from zoo import posteriors
from zoo.posteriors import gaussian_utils

tfd = tfp.distributions

FAMILY_SETTINGS = {
    "factorized": {},
    "correlated_noise": {"rho": 0.5},
    "full_covariance": {},
    "low_rank": {"rank": 2},
}


def random_raw_params(family, batch, seed):
  """Random (per_latent [B, d, k], joint [B, j]) float32 in a range encoders actually produce."""
  rng = np.random.RandomState(seed)
  d, k = family.latent_dim, family.per_latent_params
  per_latent = np.empty((batch, d, k), dtype=np.float32)
  per_latent[..., 0] = rng.normal(size=(batch, d))
  per_latent[..., 1] = rng.uniform(-1.5, 1.0, size=(batch, d))
  per_latent[..., 2:] = 0.5 * rng.normal(size=(batch, d, k - 2))
  joint = (0.3 * rng.normal(size=(batch, family.joint_params))).astype(np.float32)
  return tf.constant(per_latent), tf.constant(joint)


def all_families(latent_dims=(3, 10)):
  for d in latent_dims:
    for name, settings in FAMILY_SETTINGS.items():
      yield posteriors.get_family(name, d, **settings)


def standard_normal(d):
  return tfd.MultivariateNormalDiag(loc=tf.zeros([d]), scale_diag=tf.ones([d]))


def log_det_correlation(cov):
  """log det of the correlation matrix of each covariance in cov [B, d, d] (float64 numpy)."""
  cov = np.asarray(cov, dtype=np.float64)
  stddev = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
  corr = cov / (stddev[..., :, None] * stddev[..., None, :])
  return np.linalg.slogdet(corr)[1]


class FamilyLayoutTest(tf.test.TestCase):

  def test_parameter_counts_and_flags(self):
    expected = {  # name -> (per_latent_params, joint_params(d), is_factorized)
        "factorized": (2, lambda d: 0, True),
        "correlated_noise": (2, lambda d: 0, False),
        "full_covariance": (2, lambda d: d * (d - 1) // 2, False),
        "low_rank": (4, lambda d: 0, False),
    }
    for family in all_families():
      k, joint, is_factorized = expected[family.name]
      d = family.latent_dim
      self.assertEqual(family.per_latent_params, k, family.name)
      self.assertEqual(family.joint_params, joint(d), family.name)
      self.assertEqual(family.num_params, d * k + joint(d), family.name)
      self.assertEqual(family.is_factorized, is_factorized, family.name)
      self.assertIsInstance(family, posteriors.PosteriorFamily)
    self.assertEqual(posteriors.get_family("low_rank", 5, rank=3).per_latent_params, 5)

  def test_distribution_shapes_dtype_and_reparameterization(self):
    for family in all_families():
      per_latent, joint = random_raw_params(family, batch=6, seed=0)
      dist = family(per_latent, joint)
      self.assertEqual(dist.batch_shape.as_list(), [6], family.name)
      self.assertEqual(dist.event_shape.as_list(), [family.latent_dim], family.name)
      self.assertEqual(dist.dtype, tf.float32)
      self.assertEqual(dist.reparameterization_type, tfd.FULLY_REPARAMETERIZED, family.name)
      self.assertAllClose(dist.mean(), per_latent[..., 0])

  def test_from_flat_is_latent_major_then_joint(self):
    for family in all_families(latent_dims=(3,)):
      per_latent, joint = random_raw_params(family, batch=4, seed=1)
      flat = tf.concat([tf.reshape(per_latent, [4, -1]), joint], axis=-1)
      self.assertEqual(flat.shape[-1], family.num_params)
      self.assertAllClose(family.from_flat(flat).covariance(),
                          family(per_latent, joint).covariance())
      # The mean of latent i is flat entry i * per_latent_params.
      self.assertAllClose(family.from_flat(flat).mean(),
                          flat[:, 0:3 * family.per_latent_params:family.per_latent_params])

  def test_factorized_known_values(self):
    family = posteriors.get_family("factorized", 2)
    # Latent 0: mean 1, variance 1 -> KL 0.5; latent 1: mean 0, variance e -> (e - 1 - 1) / 2.
    dist = family(tf.constant([[[1.0, 0.0], [0.0, 1.0]]]), tf.zeros([1, 0]))
    self.assertAllClose(gaussian_utils.marginal_stddev(dist), [[1.0, math.exp(0.5)]])
    self.assertAllClose(gaussian_utils.marginal_kl_to_standard_normal(dist),
                        [[0.5, 0.5 * (math.e - 2.0)]])
    self.assertAllClose(gaussian_utils.kl_to_standard_normal(dist), [0.5 * (math.e - 1.0)])

  def test_full_covariance_fills_rows_in_order(self):
    # d = 4 is the smallest size where row-major and column-major orders differ.
    family = posteriors.get_family("full_covariance", 4)
    log_var = 2.0 * np.log([1.0, 2.0, 3.0, 4.0])
    per_latent = tf.constant(np.stack([np.zeros(4), log_var], axis=-1)[np.newaxis], tf.float32)
    dist = family(per_latent, tf.constant([[5.0, 6.0, 7.0, 8.0, 9.0, 10.0]]))
    self.assertAllClose(dist.scale.to_dense()[0],
                        [[1, 0, 0, 0], [5, 2, 0, 0], [6, 7, 3, 0], [8, 9, 10, 4]])
    # Zero off-diagonal entries give exactly the factorized family.
    factorized = posteriors.get_family("factorized", 4)(per_latent, tf.zeros([1, 0]))
    z = tf.constant([[0.3, -1.0, 2.0, 0.5]])
    self.assertAllClose(family(per_latent, tf.zeros([1, 6])).log_prob(z), factorized.log_prob(z))

  def test_low_rank_covariance_is_diagonal_plus_outer_product(self):
    family = posteriors.get_family("low_rank", 10, rank=3)
    per_latent, _ = random_raw_params(family, batch=3, seed=2)
    v = per_latent[..., 2:].numpy()
    expected = np.stack([np.diag(np.exp(p[:, 1])) + vb @ vb.T
                         for p, vb in zip(per_latent.numpy(), v)])
    dist = family(per_latent, None)
    self.assertAllClose(dist.covariance(), expected, rtol=1e-5, atol=1e-5)

  def test_correlated_noise_with_zero_rho_is_factorized(self):
    per_latent, joint = random_raw_params(posteriors.get_family("factorized", 4), 3, seed=3)
    z = tf.random.normal([7, 3, 4], seed=1)
    self.assertAllClose(
        posteriors.get_family("correlated_noise", 4, rho=0.0)(per_latent, joint).log_prob(z),
        posteriors.get_family("factorized", 4)(per_latent, joint).log_prob(z), atol=1e-5)


class GaussianUtilsTest(tf.test.TestCase):

  def test_kl_matches_tfp_and_monte_carlo(self):
    num_samples = 20000
    max_z_score = 0.0
    for index, family in enumerate(all_families()):
      per_latent, joint = random_raw_params(family, batch=4, seed=10 + index)
      dist = family(per_latent, joint)
      prior = standard_normal(family.latent_dim)
      kl = gaussian_utils.kl_to_standard_normal(dist)
      self.assertEqual(kl.shape.as_list(), [4])
      self.assertAllClose(kl, tfd.kl_divergence(dist, prior), rtol=1e-4, atol=1e-4,
                          msg=f"{family.name} d={family.latent_dim}")
      z = dist.sample(num_samples, seed=100 + index)
      log_ratio = (dist.log_prob(z) - prior.log_prob(z)).numpy().astype(np.float64)
      estimate = log_ratio.mean(axis=0)
      std_error = log_ratio.std(axis=0, ddof=1) / math.sqrt(num_samples)
      z_score = np.abs(estimate - kl.numpy()) / std_error
      max_z_score = max(max_z_score, float(z_score.max()))
      self.assertTrue(np.all(z_score < 4.0), f"{family.name} d={family.latent_dim}: {z_score}")
    # Measured: the largest |z| over the 32 comparisons stays below 3 with these seeds.
    self.assertLess(max_z_score, 4.0)

  def test_scale_tril_covariance_and_stddev_agree(self):
    for family in all_families():
      per_latent, joint = random_raw_params(family, batch=5, seed=4)
      dist = family(per_latent, joint)
      d = family.latent_dim
      tril = dist.scale.to_dense()
      cov = dist.covariance()
      self.assertEqual(tril.shape.as_list(), [5, d, d])
      self.assertEqual(cov.shape.as_list(), [5, d, d])
      self.assertAllEqual(tril, tf.linalg.band_part(tril, -1, 0))
      self.assertAllGreater(tf.linalg.diag_part(tril), 0.0)
      self.assertAllClose(tf.matmul(tril, tril, transpose_b=True), cov, rtol=1e-5, atol=1e-5)
      self.assertAllClose(gaussian_utils.marginal_stddev(dist), dist.stddev(), rtol=1e-5)
      # Both diagonal-noise families keep exactly the variances the raw log variances ask for.
      if family.name in ("factorized", "correlated_noise"):
        self.assertAllClose(tf.linalg.diag_part(cov), tf.exp(per_latent[..., 1]), rtol=1e-5)

  def test_marginal_kls_sum_to_total_only_when_factorized(self):
    for family in all_families():
      per_latent, joint = random_raw_params(family, batch=5, seed=5)
      dist = family(per_latent, joint)
      marginal = gaussian_utils.marginal_kl_to_standard_normal(dist)
      self.assertEqual(marginal.shape.as_list(), [5, family.latent_dim])
      stddev = gaussian_utils.marginal_stddev(dist)
      self.assertAllClose(
          marginal,
          tfd.kl_divergence(tfd.Normal(dist.mean(), stddev), tfd.Normal(0.0, 1.0)), atol=1e-5)
      # KL - sum_i KL_i = H(prod_i q_i) - H(q) = total correlation of q(z|x)
      # = -log det(correlation) / 2, since the prior is factorized.
      excess = gaussian_utils.kl_to_standard_normal(dist) - tf.reduce_sum(marginal, axis=-1)
      expected = -0.5 * log_det_correlation(dist.covariance())
      self.assertAllClose(excess, expected, atol=2e-4, msg=family.name)
      if family.name == "factorized":
        self.assertAllClose(excess, np.zeros(5), atol=1e-5)
      elif family.name == "correlated_noise":
        self.assertAllClose(excess, np.full(5, -0.5 * family.correlation_log_det), atol=2e-4)
        self.assertAllGreater(excess, 0.1)
      else:
        self.assertAllGreater(excess, 1e-3)

  def test_correlated_noise_covariance_and_samples(self):
    num_samples = 20000
    for d, rho in [(3, -0.4), (3, 0.3), (3, 0.8), (10, -0.1), (10, 0.5)]:
      family = posteriors.get_family("correlated_noise", d, rho=rho)
      corr = (1 - rho) * np.eye(d) + rho * np.ones((d, d))
      closed_form = (d - 1) * math.log(1 - rho) + math.log(1 + (d - 1) * rho)
      self.assertAllClose(family.correlation, corr)
      self.assertAllClose(family.correlation_log_det, np.linalg.slogdet(corr)[1], atol=1e-12)
      self.assertAllClose(family.correlation_log_det, closed_form, atol=1e-12)
      per_latent, joint = random_raw_params(family, batch=2, seed=6)
      dist = family(per_latent, joint)
      sigma = np.exp(0.5 * per_latent[..., 1].numpy().astype(np.float64))
      expected = sigma[:, :, None] * corr * sigma[:, None, :]
      cov = dist.covariance()
      self.assertAllClose(cov, expected, rtol=1e-5, atol=1e-6)
      self.assertAllClose(log_det_correlation(cov), [closed_form] * 2, atol=1e-4)
      z = dist.sample(num_samples, seed=7).numpy().astype(np.float64)
      centered = z - z.mean(axis=0)
      sample_cov = np.einsum("sbi,sbj->bij", centered, centered) / (num_samples - 1)
      # Standard error of a Gaussian sample covariance entry: sqrt((S_ij^2 + S_ii S_jj) / n).
      diag = np.diagonal(expected, axis1=1, axis2=2)
      std_error = np.sqrt((expected ** 2 + diag[:, :, None] * diag[:, None, :]) / num_samples)
      z_score = np.abs(sample_cov - expected) / std_error
      self.assertTrue(np.all(z_score < 4.5), f"d={d} rho={rho}: max |z| {z_score.max()}")

  def test_pairwise_and_marginal_log_probs_match_pair_by_pair(self):
    rng = np.random.RandomState(8)
    for family in all_families(latent_dims=(3,)):
      per_latent, joint = random_raw_params(family, batch=4, seed=9)
      dist = family(per_latent, joint)
      z = tf.constant(rng.normal(size=(5, 3)), dtype=tf.float32)
      pairwise = gaussian_utils.log_prob_pairwise(dist, z)
      marginals = gaussian_utils.log_prob_marginals(dist, z)
      self.assertEqual(pairwise.shape.as_list(), [5, 4])
      self.assertEqual(marginals.shape.as_list(), [5, 4, 3])
      # References from scipy on TFP's own mean and covariance, one pair at a time.
      mean = dist.mean().numpy().astype(np.float64)
      cov = dist.covariance().numpy().astype(np.float64)
      points = z.numpy().astype(np.float64)
      expected_pairwise = np.zeros((5, 4))
      expected_marginals = np.zeros((5, 4, 3))
      for m in range(5):
        for n in range(4):
          expected_pairwise[m, n] = scipy.stats.multivariate_normal.logpdf(
              points[m], mean[n], cov[n])
          for i in range(3):
            expected_marginals[m, n, i] = scipy.stats.norm.logpdf(
                points[m, i], mean[n, i], math.sqrt(cov[n, i, i]))
      self.assertAllClose(pairwise, expected_pairwise, atol=1e-4, msg=family.name)
      self.assertAllClose(marginals, expected_marginals, atol=1e-4, msg=family.name)
      self.assertAllClose(pairwise[2, 1], dist[1].log_prob(z[2]), atol=1e-4, msg=family.name)
      if family.is_factorized:
        self.assertAllClose(pairwise, tf.reduce_sum(marginals, axis=-1), atol=1e-5)

  def test_pairwise_shapes_at_training_size(self):
    for family in all_families(latent_dims=(10,)):
      per_latent, joint = random_raw_params(family, batch=64, seed=11)
      dist = family(per_latent, joint)
      z = dist.sample(seed=12)
      pairwise = gaussian_utils.log_prob_pairwise(dist, z)
      self.assertEqual(pairwise.shape.as_list(), [64, 64])
      self.assertEqual(gaussian_utils.log_prob_marginals(dist, z).shape.as_list(), [64, 64, 10])
      # The diagonal is each sample under its own posterior.
      self.assertAllClose(tf.linalg.diag_part(pairwise), dist.log_prob(z), atol=1e-3)

  def test_gradients_flow_to_raw_params(self):
    for family in all_families(latent_dims=(3,)):
      per_latent, joint = random_raw_params(family, batch=4, seed=13)
      per_latent, joint = tf.Variable(per_latent), tf.Variable(joint)
      with tf.GradientTape(persistent=True) as tape:
        dist = family(per_latent, joint)
        z = dist.sample(seed=14)
        kl = tf.reduce_sum(gaussian_utils.kl_to_standard_normal(dist))
        log_prob = tf.reduce_sum(dist.log_prob(z))
        total = tf.reduce_sum(z)
        pairwise = tf.reduce_sum(gaussian_utils.log_prob_pairwise(dist, z))
      for value in (kl, log_prob, pairwise):
        grads = tape.gradient(value, [per_latent, joint],
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
        self.assertAllEqual(tf.math.is_finite(grads[0]), tf.ones_like(grads[0], tf.bool))
        self.assertAllEqual(tf.math.is_finite(grads[1]), tf.ones_like(grads[1], tf.bool))
        self.assertGreater(float(tf.reduce_sum(tf.abs(grads[0][..., 1]))), 0.0)
      # A reparameterized sample moves one-for-one with its mean.
      grad_mean = tape.gradient(total, per_latent)[..., 0]
      self.assertAllClose(grad_mean, tf.ones_like(grad_mean))
      if family.joint_params:
        grad_joint = tape.gradient(kl, joint)
        self.assertGreater(float(tf.reduce_sum(tf.abs(grad_joint))), 0.0)

  def test_helpers_accept_other_gaussians_with_a_shared_scale(self):
    loc = tf.constant(np.random.RandomState(17).normal(size=(4, 3)), dtype=tf.float32)
    tril = tf.constant([[1.0, 0.0, 0.0], [0.5, 0.8, 0.0], [-0.3, 0.2, 1.5]])
    scale = tf.constant([0.5, 1.0, 2.0])
    full = tf.constant([[1.0, 0.4, 0.0], [0.5, 0.8, -0.2], [-0.3, 0.2, 1.5]])
    diag_cov = tf.linalg.diag(tf.square(scale))
    cases = [  # A distribution and its covariance: shared scale, loc of batch [4].
        (tfd.MultivariateNormalTriL(loc, tril), tf.matmul(tril, tril, transpose_b=True)),
        (tfd.MultivariateNormalDiag(loc, scale), diag_cov),
        (tfd.Independent(tfd.Normal(loc, scale), reinterpreted_batch_ndims=1), diag_cov),
        # A scale that is not triangular goes through covariance() and a Cholesky factor.
        (tfd.MultivariateNormalLinearOperator(loc, tf.linalg.LinearOperatorFullMatrix(full)),
         tf.matmul(full, full, transpose_b=True)),
    ]
    for dist, expected in cases:
      name = f"{type(dist).__name__} {type(getattr(dist, 'scale', None)).__name__}"
      self.assertAllClose(gaussian_utils.marginal_stddev(dist),
                          tf.broadcast_to(tf.sqrt(tf.linalg.diag_part(expected)), [4, 3]),
                          atol=1e-5, msg=name)
      cov64 = expected.numpy().astype(np.float64)
      loc64 = loc.numpy().astype(np.float64)
      closed_form = 0.5 * (np.trace(cov64) + np.sum(loc64 ** 2, axis=-1) - 3
                           - np.linalg.slogdet(cov64)[1])
      self.assertAllClose(gaussian_utils.kl_to_standard_normal(dist), closed_form, atol=1e-5,
                          msg=name)
      z = loc[:2] + 0.5
      self.assertAllClose(gaussian_utils.log_prob_pairwise(dist, z),
                          dist.log_prob(z[:, tf.newaxis, :]), atol=1e-5, msg=name)

  def test_helpers_reject_bad_input(self):
    dist = posteriors.get_family("full_covariance", 3)(*random_raw_params(
        posteriors.get_family("full_covariance", 3), batch=2, seed=15))
    with self.assertRaisesRegex(ValueError, r"z has shape \[5, 4\], expected \[M, 3\]"):
      gaussian_utils.log_prob_pairwise(dist, tf.zeros([5, 4]))
    with self.assertRaisesRegex(ValueError, "expected a multivariate normal"):
      gaussian_utils.kl_to_standard_normal(tfd.Normal(0.0, 1.0))


class ValidationTest(tf.test.TestCase):

  def test_rho_outside_positive_definite_range_is_rejected(self):
    for d, rho in [(3, -0.5), (3, 1.0), (3, 1.5), (3, -0.7), (3, float("nan")),
                   (3, float("inf")), (10, -1.0 / 9.0), (10, -0.2), (3, "0.5")]:
      with self.assertRaisesRegex(
          ValueError, rf"correlated_noise: rho=.* must lie in \(-1/\(d-1\), 1\) for "
          rf"latent_dim={d}, where the equicorrelation matrix is positive definite"):
        posteriors.get_family("correlated_noise", d, rho=rho)
    # Just inside the range C_rho is ill-conditioned but the float64 factorization holds.
    family = posteriors.get_family("correlated_noise", 10, rho=-0.11)
    dist = family(*random_raw_params(family, batch=2, seed=16))
    self.assertAllEqual(tf.math.is_finite(dist.log_prob(dist.sample(seed=3))), [True, True])

  def test_get_family_rejects_unknown_names_and_settings(self):
    with self.assertRaisesRegex(ValueError, "posterior='diagonal': expected one of 'factorized', "
                                "'correlated_noise', 'full_covariance', 'low_rank'"):
      posteriors.get_family("diagonal", 3)
    with self.assertRaisesRegex(ValueError, "family 'factorized' takes no options"):
      posteriors.get_family("factorized", 3, rho=0.2)
    for bad in (0, -2, 2.5):
      with self.assertRaisesRegex(ValueError, "latent_dim"):
        posteriors.get_family("full_covariance", bad)
    with self.assertRaisesRegex(ValueError, "rank"):
      posteriors.get_family("low_rank", 3, rank=0)

  def test_shape_mismatches_are_rejected(self):
    family = posteriors.get_family("full_covariance", 3)
    with self.assertRaisesRegex(ValueError, r"per_latent has shape \[2, 3, 3\], expected "
                                r"\[batch, 3, 2\]"):
      family(tf.zeros([2, 3, 3]), tf.zeros([2, 3]))
    with self.assertRaisesRegex(ValueError, r"joint has shape \[2, 2\], expected \[batch, 3\]"):
      family(tf.zeros([2, 3, 2]), tf.zeros([2, 2]))
    with self.assertRaisesRegex(ValueError, "batch size"):
      family(tf.zeros([2, 3, 2]), tf.zeros([4, 3]))
    with self.assertRaisesRegex(ValueError, "joint is None"):
      family(tf.zeros([2, 3, 2]), None)
    with self.assertRaisesRegex(ValueError, r"params has shape \[2, 8\], expected \[batch, 9\]"):
      family.from_flat(tf.zeros([2, 8]))
    with self.assertRaisesRegex(ValueError, "floating-point"):
      posteriors.get_family("factorized", 3)(tf.zeros([2, 3, 2], tf.int32), None)

  def test_gin_selects_family_and_settings(self):
    def family_from_gin():
      arguments = configurables.model_arguments_from_gin()
      return posteriors.get_family(arguments["posterior"], 4,
                                   **arguments.get("posterior_options", {}))

    try:
      gin.parse_config_files_and_bindings(
          ["gin_configs/posteriors/correlated_noise.gin"], ["correlated_noise.rho = -0.2"])
      family = family_from_gin()
      self.assertEqual(family.name, "correlated_noise")
      self.assertEqual(family.rho, -0.2)
      gin.clear_config()
      gin.parse_config_file("gin_configs/posteriors/low_rank.gin")
      family = family_from_gin()
      self.assertEqual((family.name, family.rank, family.num_params), ("low_rank", 2, 16))
      for name in ("factorized", "full_covariance"):
        gin.clear_config()
        gin.parse_config_file(f"gin_configs/posteriors/{name}.gin")
        self.assertEqual(family_from_gin().name, name)
    finally:
      gin.clear_config()


if __name__ == "__main__":
  tf.test.main()
