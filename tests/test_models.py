"""Every model x posterior family trains: finite losses that fall over a short run."""
import os

import gin
import keras
import numpy as np
import tensorflow as tf

from gin_edge import configurables
from zoo import models
from zoo import networks
from zoo import posteriors
from zoo.models import beta_tcvae
from zoo.models import dip_vae
from zoo.models.likelihoods import Likelihood
from zoo.posteriors import gaussian_utils

LATENT_DIM = 4
FAMILIES = ("factorized", "correlated_noise", "full_covariance", "low_rank")
MODEL_CONFIGS = {
    "vae": [],
    "beta_vae": ["beta_vae.beta = 4.0"],
    "annealed_vae": ["annealed_vae.gamma = 10.0", "annealed_vae.c_max = 5.0",
                     "annealed_vae.iteration_threshold = 100"],
    "factor_vae": ["factor_vae.gamma = 10.0", "factor_vae_discriminator.hidden_layers = 2",
                   "factor_vae_discriminator.hidden_units = 32"],
    "beta_tcvae": ["beta_tcvae.beta = 6.0"],
    "dip_vae_i": ["dip_vae.dip_type = 'i'"],
    "dip_vae_ii": ["dip_vae.dip_type = 'ii'", "dip_vae.lambda_d_factor = 1.0"],
}


def blob_images(num, size, seed):
  """Binary images of one axis-aligned rectangle each: structured enough to learn quickly."""
  rng = np.random.RandomState(seed)
  images = np.zeros((num, size, size, 1), np.float32)
  for n in range(num):
    top, left = rng.randint(0, size - 4, size=2)
    h, w = rng.randint(3, 6, size=2)
    images[n, top:top + h, left:left + w, 0] = 1.0
  return images


def build(model_name, family, encoder_kind="mlp", split=False, shape=(16, 16, 1)):
  gin.clear_config()
  model_key = "dip_vae" if model_name.startswith("dip_vae") else model_name
  bindings = [
      f"model.name = '{model_key}'",
      f"model.latent_dim = {LATENT_DIM}",
      f"posterior.name = '{family}'",
      "correlated_noise.rho = 0.5",
      "low_rank.rank = 2",
      f"encoder.kind = '{encoder_kind}'",
      f"encoder.split = {split}",
      "encoder.mlp_hidden_units = (64,)",
      "encoder.deep_units = 64",
      "encoder.branch_units = 16",
      f"decoder.kind = '{encoder_kind}'",
      "decoder.mlp_hidden_units = (64,)",
  ] + MODEL_CONFIGS[model_name]
  gin.parse_config(bindings)
  model = configurables.model_from_gin(shape)
  model.compile(optimizer=keras.optimizers.Adam(learning_rate=3e-3))
  return model


class ModelTrainingTest(tf.test.TestCase):

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def test_every_model_and_family_trains_and_loss_falls(self):
    images = tf.constant(blob_images(64, 16, seed=0))
    keras.utils.set_random_seed(0)
    for model_name in MODEL_CONFIGS:
      for family in FAMILIES:
        with self.subTest(model=model_name, family=family):
          model = build(model_name, family)
          step = tf.function(model.train_step_losses)
          losses = []
          for _ in range(40):
            logs = step(images)
            for term, value in logs.items():
              self.assertTrue(np.all(np.isfinite(value.numpy())), f"{term} not finite")
            losses.append(float(logs["reconstruction"]))
          # Reconstruction starts near 256 * log 2 nats; 40 steps of Adam must cut it clearly.
          self.assertLess(np.mean(losses[-5:]), 0.8 * np.mean(losses[:5]))

  def test_conv64_shapes_for_shared_and_split_encoders(self):
    images = tf.constant(blob_images(8, 32, seed=1))
    for split in (False, True):
      for family in FAMILIES:
        with self.subTest(split=split, family=family):
          model = build("beta_vae", family, encoder_kind="conv64", split=split,
                        shape=(32, 32, 1))
          dist = model.posterior(images)
          self.assertEqual(dist.event_shape, [LATENT_DIM])
          self.assertEqual(dist.batch_shape, [8])
          self.assertEqual(model.decode(dist.sample()).shape, (8, 32, 32, 1))
          logs = model.train_step_losses(images)
          self.assertTrue(np.isfinite(logs["loss"].numpy()))


class CheckpointTest(tf.test.TestCase):

  def test_model_checkpoint_holds_every_weight(self):
    """tf.train.Checkpoint(model=...) alone must restore all weights (encoder trunk included)."""
    for model_name, split in (("beta_vae", False), ("factor_vae", True)):
      with self.subTest(model=model_name, split=split):
        trained = build(model_name, "full_covariance", encoder_kind="conv64", split=split,
                        shape=(32, 32, 1))
        path = tf.train.Checkpoint(model=trained).save(
            os.path.join(self.get_temp_dir(), model_name, "ckpt"))
        fresh = build(model_name, "full_covariance", encoder_kind="conv64", split=split,
                      shape=(32, 32, 1))
        tf.train.Checkpoint(model=fresh).restore(path).assert_existing_objects_matched()
        self.assertEqual(len(fresh.weights), len(trained.weights))
        for a, b in zip(trained.weights, fresh.weights):
          self.assertAllEqual(a.numpy(), b.numpy(), msg=a.path)


class SplitEncoderTest(tf.test.TestCase):

  def test_split_branches_share_no_parameters(self):
    """Changing one branch's weights moves only that latent's parameters."""
    encoder = networks.build_encoder(3, 2, 0, kind="mlp", split=True, branch_units=8,
                                     mlp_hidden_units=(16,))
    x = tf.random.normal((5, 6), seed=0)
    before, _ = encoder(x)
    deep = encoder.deep
    kernel = deep.kernel.numpy()
    kernel[1] += 0.5
    deep.kernel.assign(kernel)
    after, _ = encoder(x)
    diff = np.abs(after.numpy() - before.numpy()).max(axis=(0, 2))
    self.assertEqual(diff[0], 0.0)
    self.assertEqual(diff[2], 0.0)
    self.assertGreater(diff[1], 0.0)

  def test_split_joint_branch_for_full_covariance(self):
    family = posteriors.get_family("full_covariance", latent_dim=4)
    encoder = networks.build_encoder(4, family.per_latent_params, family.joint_params,
                                     kind="mlp", split=True, mlp_hidden_units=(16,))
    per_latent, joint = encoder(tf.zeros((3, 5)))
    self.assertEqual(per_latent.shape, (3, 4, family.per_latent_params))
    self.assertEqual(joint.shape, (3, 6))


class RegularizerTest(tf.test.TestCase):

  def test_minibatch_tc_is_zero_mean_for_independent_product_and_positive_when_correlated(self):
    """With one shared posterior, log q(z) and sum log q(z_i) differ by the posterior's TC."""
    d, rho = 3, 0.6
    family = posteriors.get_family("correlated_noise", latent_dim=d, rho=rho)
    per_latent = tf.zeros((1, d, 2))  # mean 0, log variance 0 for every example
    dist = family(tf.tile(per_latent, [256, 1, 1]))
    z = dist.sample(seed=1)
    tc = float(beta_tcvae.minibatch_total_correlation(dist, z))
    # All q(z|x_n) are the same distribution, so the estimate is E[log q(z) - sum log q(z_i)]
    # of that Gaussian: its TC, -1/2 log det C_rho, up to Monte Carlo error.
    corr = (1 - rho) * np.eye(d) + rho * np.ones((d, d))
    expected = -0.5 * np.log(np.linalg.det(corr))
    self.assertAllClose(tc, expected, atol=0.1)
    diag = posteriors.get_family("factorized", latent_dim=d)(tf.tile(per_latent, [256, 1, 1]))
    self.assertAllClose(float(beta_tcvae.minibatch_total_correlation(diag, diag.sample(seed=2))),
                        0.0, atol=1e-5)

  def test_dip_vae_ii_uses_full_covariance(self):
    """DIP-VAE-II's covariance adds E[Sigma(x)], including its off-diagonal entries."""
    rho = 0.5
    family = posteriors.get_family("correlated_noise", latent_dim=2, rho=rho)
    dist = family(tf.zeros((4, 2, 2)))  # mu = 0, sigma = 1: Sigma = C_rho
    cov = dip_vae.batch_covariance(dist.mean()) + tf.reduce_mean(
        dist.covariance(), axis=0)
    self.assertAllClose(cov, [[1.0, rho], [rho, 1.0]], atol=1e-6)
    # lambda_od * 2 * rho^2 off-diagonal, diagonal exactly 1.
    self.assertAllClose(dip_vae.dip_penalty(cov, lambda_od=3.0, lambda_d=7.0), 3.0 * 2 * rho**2)

  def test_annealed_capacity_schedule(self):
    model = build("annealed_vae", "factorized")
    self.assertAllClose(model.capacity(0), 0.0)
    self.assertAllClose(model.capacity(50), 2.5)
    self.assertAllClose(model.capacity(1000), 5.0)

  def test_bernoulli_and_gaussian_likelihoods(self):
    x = tf.constant([[0.0, 1.0]])
    logits = tf.constant([[0.0, 0.0]])
    self.assertAllClose(Likelihood("bernoulli").negative_log_likelihood(x, logits),
                        [2 * np.log(2.0)])
    gauss = Likelihood("gaussian", observation_std=2.0)
    expected = 0.5 * (1.0 / 4.0) + np.log(2.0 * np.sqrt(2 * np.pi)) * 2
    self.assertAllClose(gauss.negative_log_likelihood(x, tf.zeros((1, 2))), [expected])
    with self.assertRaisesRegex(ValueError, "likelihood='poisson'"):
      Likelihood("poisson")

  def test_unknown_model_name(self):
    with self.assertRaisesRegex(ValueError, "name='nope'"):
      models.build_model("nope", observation_shape=(16, 16, 1))
    gin.clear_config()
    gin.parse_config(["posterior.name = 'factorized'", "model.name = 'nope'"])
    with self.assertRaisesRegex(ValueError, "model.name='nope'"):
      configurables.model_from_gin((16, 16, 1))
    gin.clear_config()


if __name__ == "__main__":
  tf.test.main()
