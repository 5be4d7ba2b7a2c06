"""InfoGAN: every Q family trains, the MI bound rises; zoo-train, evaluation and export work."""
import json
import math
import os

import gin
import keras
import numpy as np
import tensorflow as tf

from common import cli
from evaluation import evaluate
from evaluation import trained_model
from evaluation.metrics import mig  # noqa: F401  (registers the mig.* gin settings)
from export import loader
from export import saved_model_export
from zoo import data as zoo_data
from zoo import models
from zoo import training
from zoo.models import infogan
from zoo.training import checkpoints
from gin_edge import configurables  # noqa: F401  (registers every gin configurable)
from gin_edge import training as gin_training

LATENT_DIM = 3
FAMILIES = ("factorized", "correlated_noise", "full_covariance", "low_rank")
# Every discriminator normalization is exercised by one of the families.
NORMALIZATIONS = {"factorized": "spectral", "correlated_noise": "batch_norm",
                  "full_covariance": "none", "low_rank": "spectral"}
# Narrow networks so that a step takes milliseconds; the architecture is the recipe's otherwise.
SMALL_BINDINGS = [
    "model.name = 'infogan'",
    f"model.latent_dim = {LATENT_DIM}",
    "posterior.name = 'factorized'",
    "correlated_noise.rho = 0.5",
    "low_rank.rank = 2",
    "infogan.noise_dim = 4",
    "infogan_generator.dense_units = 64",
    "infogan_generator.channels = (32, 16)",
    "infogan_discriminator.channels = (16, 32)",
    "infogan_discriminator.dense_units = 64",
    "infogan_discriminator.q_units = 32",
]
SHAPE = (32, 32, 1)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def dsprites_batches(num_batches, batch_size, seed):
  data = zoo_data.get_dataset(name="dsprites", image_size=SHAPE[0])
  images = data.sample_observations(num_batches * batch_size, np.random.RandomState(seed))
  return images.reshape((num_batches, batch_size) + SHAPE)


def build(family, *extra, learning_rate=1e-3):
  gin.clear_config()
  gin.parse_config(SMALL_BINDINGS + [f"posterior.name = '{family}'"] + list(extra))
  model = configurables.model_from_gin(SHAPE)
  model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate))
  return model


class InfoGANModelTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    keras.utils.set_random_seed(0)

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def test_every_family_trains_with_finite_losses_and_moves_both_players(self):
    batches = dsprites_batches(3, 16, seed=1)
    for family in FAMILIES:
      with self.subTest(family=family):
        normalization = NORMALIZATIONS[family]
        model = build(family, f"infogan_discriminator.normalization = '{normalization}'")
        sn_layers = [layer for layer in model.discriminator.features.layers
                     if isinstance(layer, keras.layers.SpectralNormalization)]
        bn_layers = [layer for layer in model.discriminator.features.layers
                     if isinstance(layer, keras.layers.BatchNormalization)]
        # Trunk of 2 convolutions and a dense layer: 3 normalized weights, or batch norm
        # after the second convolution and the dense layer.
        self.assertLen(sn_layers, 3 if normalization == "spectral" else 0)
        self.assertLen(bn_layers, 2 if normalization == "batch_norm" else 0)
        self.assertIsInstance(model, infogan.InfoGAN)
        self.assertEqual(model.family.name, family)
        generator_before = [v.numpy() for v in model.generator.trainable_variables]
        discriminator_before = [v.numpy() for v in model.discriminator.trainable_variables]
        step = tf.function(model.train_step_losses)
        for batch in batches:
          losses = {k: v.numpy() for k, v in step(tf.constant(batch)).items()}
        for term, value in losses.items():
          self.assertTrue(np.all(np.isfinite(value)), f"{family}: {term} = {value}")
        self.assertEqual(losses["mi_lower_bound_per_latent"].shape, (LATENT_DIM,))
        self.assertAllClose(losses["loss"],
                            losses["generator_loss"] + model.info_lambda * losses["info_loss"],
                            rtol=1e-5)
        self.assertEqual(int(model.optimizer.iterations.numpy()), 3)
        self.assertEqual(int(model.discriminator_optimizer.iterations.numpy()), 3)
        # Each optimizer moved its own player's weights.
        for before, after in ((generator_before, model.generator.trainable_variables),
                              (discriminator_before, model.discriminator.trainable_variables)):
          moved = [not np.array_equal(b, a.numpy()) for b, a in zip(before, after)]
          self.assertTrue(all(moved), f"{family}: not every weight moved ({moved})")
        dist = model.posterior(batches[0])
        self.assertEqual(dist.batch_shape, [16])
        self.assertEqual(dist.event_shape, [LATENT_DIM])
        self.assertEqual(model.decode(dist.mean()).shape, (16,) + SHAPE)

  def test_information_terms_match_their_closed_forms(self):
    # With a factorized Q and no categorical code, log Q(c|x) is the sum of the per-code
    # marginal terms, so the per-latent bounds add up to the total bound exactly.
    model = build("factorized", "infogan.info_lambda = 0.5")
    self.assertAllClose(model.code_entropy, LATENT_DIM * 0.5 * math.log(2 * math.pi * math.e))
    losses = model.compute_losses(dsprites_batches(1, 32, seed=2)[0], training=False)
    self.assertAllClose(losses["mi_lower_bound"], model.code_entropy - losses["info_loss"])
    self.assertAllClose(tf.reduce_sum(losses["mi_lower_bound_per_latent"]),
                        losses["mi_lower_bound"], atol=1e-4)
    self.assertAllClose(losses["loss"], losses["generator_loss"] + 0.5 * losses["info_loss"])
    # A categorical code adds its entropy log K to the bound's constant.
    with_categories = build("factorized", "infogan.num_categorical = 2",
                            "infogan.categorical_dim = 3")
    self.assertAllClose(with_categories.code_entropy - model.code_entropy, 2 * math.log(3.0))

  def test_uniform_code_prior(self):
    model = build("factorized", "infogan.code_prior = 'uniform'")
    # Uniform(-a, a) with a = sqrt(3): entropy log(2a) per code, variance a^2 / 3 = 1.
    self.assertAllClose(model.code_entropy, LATENT_DIM * math.log(2 * math.sqrt(3.0)))
    _, codes, _ = model.sample_latents(20000)
    codes = codes.numpy()
    self.assertEqual(codes.shape, (20000, LATENT_DIM))
    self.assertBetween(float(codes.min()), -math.sqrt(3.0), -1.7)
    self.assertBetween(float(codes.max()), 1.7, math.sqrt(3.0))
    # Standard error of a variance from 20,000 uniform draws: sqrt(4/5 / 20000) = 0.006.
    self.assertAllClose(codes.var(axis=0), np.ones(LATENT_DIM), atol=0.03)
    self.assertAllClose(np.corrcoef(codes, rowvar=False), np.eye(LATENT_DIM), atol=0.03)
    normal = build("factorized").sample_latents(20000)[1].numpy()
    self.assertGreater(np.abs(normal).max(), 3.0)  # beyond the uniform support
    losses = model.compute_losses(dsprites_batches(1, 32, seed=2)[0], training=False)
    self.assertAllClose(losses["mi_lower_bound"], model.code_entropy - losses["info_loss"])

  def test_short_run_raises_the_mi_lower_bound(self):
    # Measured over three seeds (batch 32, 50 steps, 3 codes and one 3-way code, spectral-norm
    # D at learning rate 2e-4): the mean over the first five steps is -0.2 to 0.1 nats, over
    # the last five 1.4 to 1.7, a rise of 1.4 to 1.9 nats. (With the recipe's 1e-3 the trunk Q
    # shares moves faster with the GAN loss and the rise in 50 steps is only 0.3 to 1.1.)
    model = build("full_covariance", "infogan.info_lambda = 1.0",
                  "infogan.discriminator_learning_rate = 2e-4",
                  "infogan.num_categorical = 1", "infogan.categorical_dim = 3")
    step = tf.function(model.train_step_losses)
    bounds = [float(step(tf.constant(batch))["mi_lower_bound"])
              for batch in dsprites_batches(50, 32, seed=3)]
    first, last = np.mean(bounds[:5]), np.mean(bounds[-5:])
    self.assertGreater(last - first, 0.8, f"first {first:.3f}, last {last:.3f}")
    self.assertGreater(last, 0.8)

  def test_decode_is_the_generator_at_zero_noise_and_category_zero(self):
    model = build("correlated_noise", "infogan.num_categorical = 1",
                  "infogan.categorical_dim = 4", "infogan_discriminator.q_split = True")
    codes = tf.random.normal([5, LATENT_DIM])
    expected = model.generate(tf.zeros([5, 4]), codes, tf.zeros([5, 1], tf.int32))
    self.assertAllEqual(model.decode(codes), expected)
    self.assertAllEqual(model.decode(codes), model.decode(codes))  # deterministic
    other_category = model.generate(tf.zeros([5, 4]), codes, tf.ones([5, 1], tf.int32))
    self.assertGreater(float(tf.reduce_max(tf.abs(other_category - expected))), 0.0)
    self.assertEqual(model.decoder_output, "logits")
    images = model.likelihood.mean(expected)
    self.assertAllInRange(images, 0.0, 1.0)
    self.assertAllClose(images, tf.sigmoid(expected))
    # The split Q head gives every code its own branch, like the split encoder.
    self.assertTrue(model.discriminator.q_head.split)

  def test_optimizers_and_variables(self):
    model = build("factorized")
    self.assertEqual(set(model.optimizers()), {"optimizer", "discriminator_optimizer"})
    self.assertAllClose(model.optimizer.beta_1, 0.5)  # set by compile, not Adam's 0.9
    self.assertAllClose(model.discriminator_optimizer.beta_1, 0.5)
    generator = {id(v) for v in model.main_variables}
    discriminator = {id(v) for v in model.discriminator.trainable_variables}
    self.assertEmpty(generator & discriminator)
    self.assertEqual(generator | discriminator, {id(v) for v in model.trainable_variables})
    exported = {id(v) for v in model.export_variables()}
    self.assertEqual(exported, {id(v) for v in model.discriminator.variables
                                + model.generator.variables})

  def test_bad_settings_raise_value_error(self):
    for binding, message in (("infogan.noise_dim = -1", "infogan.noise_dim"),
                             ("infogan.info_lambda = -0.5", "infogan.info_lambda"),
                             ("infogan.categorical_dim = 1", "infogan.categorical_dim"),
                             ("infogan.discriminator_learning_rate = 0.0",
                              "infogan.discriminator_learning_rate"),
                             ("infogan_generator.channels = (8, 8, 8, 8, 8, 8)",
                              "infogan_generator.channels"),
                             ("infogan_discriminator.normalization = 'layer'",
                              "infogan_discriminator.normalization"),
                             ("infogan.code_prior = 'laplace'", "infogan.code_prior")):
      with self.subTest(binding=binding):
        gin.clear_config()
        gin.parse_config(SMALL_BINDINGS + [binding])
        with self.assertRaisesRegex(ValueError, message):
          configurables.model_from_gin(SHAPE)
    gin.clear_config()
    gin.parse_config(SMALL_BINDINGS)
    with self.assertRaisesRegex(ValueError, r"must be \(H, W, C\)"):
      configurables.model_from_gin((10,))


class InfoGANTrainExportTest(tf.test.TestCase):
  """zoo-train -> evaluation from the model_dir -> zoo-export -> evaluation from the export."""

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def test_train_evaluate_export_round_trip(self):
    root = self.get_temp_dir()
    model_dir = os.path.join(root, "infogan_run")
    gin.clear_config()
    cli.parse_gin([os.path.join(REPO, "gin_configs", "models", "infogan.gin")], SMALL_BINDINGS + [
        "posterior.name = 'full_covariance'",
        "dataset.name = 'dsprites'",
        "dsprites.image_size = 32",
        "training.num_steps = 4",
        "training.batch_size = 16",
        "training.checkpoint_every = 2",
        "training.log_every = 2",
    ])
    results = gin_training.train(model_dir, log_fn=lambda line: None)
    self.assertEqual(results["model"], "infogan")
    self.assertEqual(results["posterior_family"], "full_covariance")
    self.assertEqual(results["final_step"], 4)
    with open(os.path.join(model_dir, "train_results.json")) as f:
      stored = json.load(f)
    for term in ("loss", "discriminator_loss", "info_loss", "mi_lower_bound"):
      self.assertTrue(math.isfinite(stored[f"loss.{term}"]), term)
    self.assertIn(f"loss.mi_lower_bound_per_latent.{LATENT_DIM - 1}", stored)
    self.assertEqual(tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints")),
                     os.path.join(model_dir, "checkpoints", "ckpt-4"))

    gin.clear_config()
    from_dir = trained_model.from_model_dir(model_dir)
    images = from_dir.ground_truth_data.sample_observations(8, np.random.RandomState(4))
    mean, covariance = from_dir.posterior(images)
    self.assertEqual(mean.shape, (8, LATENT_DIM))
    self.assertEqual(covariance.shape, (8, LATENT_DIM, LATENT_DIM))
    self.assertAllClose(covariance, np.transpose(covariance, (0, 2, 1)))
    self.assertTrue(np.all(np.linalg.eigvalsh(covariance) > 0))
    trained = checkpoints.restore_run(model_dir)
    self.assertEqual(trained.training_step, 4)
    self.assertEqual(int(trained.model.discriminator_optimizer.iterations.numpy()), 4)

    export_dir = os.path.join(root, "infogan_export")
    metadata = saved_model_export.export_model_dir(model_dir, export_dir, log_fn=lambda line: None)
    self.assertEqual(metadata["model"], "infogan")
    self.assertEqual(metadata["decoder_output"], "logits")
    self.assertEqual(metadata["posterior_scale"], "scale_tril")
    exported = loader.load(export_dir)
    encoded = exported.encode(images)
    self.assertAllClose(encoded["mean"], mean, atol=1e-5, rtol=1e-5)
    exported_tril = encoded["scale_tril"]
    self.assertAllClose(np.matmul(exported_tril, np.transpose(exported_tril, (0, 2, 1))),
                        covariance, atol=1e-5, rtol=1e-5)
    codes = np.random.RandomState(5).normal(size=(6, LATENT_DIM)).astype(np.float32)
    decoded = exported.decode(codes)
    expected_logits = trained.model.decode(codes).numpy()
    self.assertAllClose(decoded["logits"], expected_logits, atol=1e-5, rtol=1e-5)
    self.assertAllClose(decoded["mean"], 1.0 / (1.0 + np.exp(-expected_logits)), atol=1e-5)
    self.assertAllClose(exported.reconstruct(images)["logits"],
                        trained.model.decode(mean).numpy(), atol=1e-4, rtol=1e-4)
    self.assertEqual(exported.sample_prior(3)["mean"].shape, (3,) + SHAPE)
    # The recipe's uniform codes travel with the export: metadata and sample_prior.
    self.assertEqual(trained.model.prior_name, "uniform")
    self.assertEqual(metadata["code_prior"], "uniform")
    prior_codes = exported.sample_prior(500)["z"]
    self.assertBetween(float(np.abs(prior_codes).max()), 1.5, math.sqrt(3.0))

    # The export evaluates to the same numbers as the checkpoint it came from.
    scores = {}
    for source, load in (("model_dir", lambda: trained_model.from_model_dir(model_dir)),
                         ("export", lambda: trained_model.from_export(export_dir))):
      gin.clear_config()
      rep = load()
      gin.parse_config(["mig.num_train = 300", "mig.batch_size = 50"])
      scores[source] = evaluate.evaluate(rep, os.path.join(root, f"eval_{source}"), ["mig"],
                                         seed=0, log_fn=lambda line: None)
    self.assertBetween(scores["export"]["mig.discrete_mig"], 0.0, 1.0)
    self.assertAllClose(scores["export"]["mig.discrete_mig"],
                        scores["model_dir"]["mig.discrete_mig"], atol=1e-6)
    self.assertTrue(os.path.isfile(os.path.join(root, "eval_export", "results.json")))


if __name__ == "__main__":
  tf.test.main()
