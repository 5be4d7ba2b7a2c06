"""Mixed precision: networks in bfloat16 or float16, everything probabilistic in float32.

Every model, every posterior family and both likelihoods train under `mixed_bfloat16`; the
trunks then compute in bfloat16 while posterior parameters, losses and divergences are float32.
`mixed_float16` adds loss scaling, and a step the loss scaler skips still counts as a step.
Exports of a mixed-precision run are float32 at their signatures. XLA and op determinism are
options of the same loop.
"""
import json
import os
import subprocess
import sys

import gin
import keras
import numpy as np
import tensorflow as tf

from common import cli
from export import loader
from export import saved_model_export
from zoo import data as zoo_data
from zoo import training
from zoo.models import zoo_model
from zoo.training import checkpoints
from gin_edge import configurables  # noqa: F401  (registers every gin configurable)
from gin_edge import training as gin_training
from tiny_mlp import TINY_MLP_BINDINGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

VECTORS = ["dataset.name = 'linear_gaussian'", "model.latent_dim = 3"] + TINY_MLP_BINDINGS
IMAGES = [
    "dataset.name = 'dsprites'",
    "dsprites.image_size = 32",
    "model.latent_dim = 3",
    "encoder.kind = 'conv64'",
    "decoder.kind = 'conv64'",
    "likelihood.name = 'bernoulli'",
]
INFOGAN = [
    "dataset.name = 'dsprites'",
    "dsprites.image_size = 32",
    "model.latent_dim = 2",
    "infogan.noise_dim = 2",
    "infogan.num_categorical = 1",
    "infogan.categorical_dim = 3",
    "infogan_generator.dense_units = 16",
    "infogan_generator.channels = (8, 4)",
    "infogan_discriminator.channels = (4, 8)",
    "infogan_discriminator.dense_units = 16",
    "infogan_discriminator.q_units = 8",
]
MODEL_BINDINGS = {"dip_vae_ii": ["model.name = 'dip_vae'", "dip_vae.dip_type = 'ii'"],
                  "factor_vae": ["model.name = 'factor_vae'",
                                 "factor_vae_discriminator.hidden_layers = 2",
                                 "factor_vae_discriminator.hidden_units = 16"]}


def build(precision, model, family, base):
  gin.clear_config()
  cli.parse_gin([], base + MODEL_BINDINGS.get(model, [f"model.name = '{model}'"])
                + [f"posterior.name = '{family}'"])
  data = configurables.dataset_from_gin()
  built, _ = checkpoints.build_checkpointed_model(
      data, configurables.model_arguments_from_gin(), 1e-3, precision)
  gin.clear_config()
  return built, data


class MixedPrecisionTest(tf.test.TestCase):

  def check_step(self, precision, model_name, family, base):
    model, data = build(precision, model_name, family, base)
    low = precision.split("_")[1]
    compute_dtypes = {layer.dtype_policy.compute_dtype for layer in model._flatten_layers()
                      if layer.weights and not layer.name.endswith(("head", "logit", "logits"))}
    self.assertIn(low, compute_dtypes)  # the networks do compute in the low precision
    x = data.sample_observations(8, np.random.RandomState(0))
    losses = tf.function(model.train_step_losses)(tf.constant(x))
    for name, value in losses.items():
      self.assertEqual(value.dtype, tf.float32, name)
      self.assertTrue(np.all(np.isfinite(value.numpy())), name)
    dist = model.posterior(x)
    self.assertEqual(dist.mean().dtype, tf.float32)
    self.assertEqual(dist.covariance().dtype, tf.float32)
    self.assertEqual(model.decode(dist.mean()).dtype, tf.float32)
    self.assertEqual(int(model.optimizer.iterations.numpy()), 1)
    self.assertEqual(keras.config.dtype_policy().name, "float32")  # restored after building

  def test_every_model_family_and_likelihood_in_bfloat16(self):
    families = ("factorized", "correlated_noise", "full_covariance", "low_rank")
    cases = [(model, families[i % 4], VECTORS) for i, model in enumerate(
        ("vae", "beta_vae", "annealed_vae", "factor_vae", "beta_tcvae", "dip_vae", "dip_vae_ii"))]
    cases += [("beta_vae", family, IMAGES) for family in families]  # the Bernoulli likelihood
    cases += [("infogan", family, INFOGAN) for family in ("factorized", "low_rank")]
    for model, family, base in cases:
      with self.subTest(model=model, family=family, images=base is not VECTORS):
        self.check_step("mixed_bfloat16", model, family, base)

  def test_float16_scales_the_loss(self):
    for model, base in (("beta_vae", IMAGES), ("factor_vae", VECTORS), ("infogan", INFOGAN)):
      with self.subTest(model):
        self.check_step("mixed_float16", model, "factorized", base)
        built, _ = build("mixed_float16", model, "factorized", base)
        for optimizer in built.optimizers().values():
          self.assertIsInstance(optimizer, keras.optimizers.LossScaleOptimizer)

  def test_a_step_skipped_by_the_loss_scaler_still_counts(self):
    variable = tf.Variable([1.0, 2.0])
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.Adam(1e-3))
    optimizer.build([variable])
    apply = tf.function(lambda g: zoo_model.ZooModel.apply_update(None, optimizer, [g],
                                                                  [variable]))
    apply(tf.constant([np.inf, 1.0]))  # skipped: the weights stay, the scale halves
    self.assertAllEqual(variable.numpy(), [1.0, 2.0])
    self.assertEqual(int(optimizer.iterations.numpy()), 1)
    apply(tf.constant([1.0, 1.0]))
    self.assertEqual(int(optimizer.iterations.numpy()), 2)
    self.assertNotAllEqual(variable.numpy(), [1.0, 2.0])

  def test_a_mixed_precision_run_exports_float32(self):
    root = self.get_temp_dir()
    model_dir, export_dir = os.path.join(root, "run"), os.path.join(root, "export")
    gin.clear_config()
    cli.parse_gin([], VECTORS + ["model.name = 'beta_vae'", "posterior.name = 'full_covariance'",
                                 "training.num_steps = 4", "training.batch_size = 8",
                                 "training.precision = 'mixed_bfloat16'"])
    gin_training.train(model_dir, log_fn=lambda line: None)
    gin.clear_config()
    saved_model_export.export_model_dir(model_dir, export_dir, log_fn=lambda line: None)
    gin.clear_config()
    exported = loader.load(export_dir)
    spec = exported._specs["encode"]["images"]  # pylint: disable=protected-access
    self.assertEqual(spec.dtype, tf.float32)
    observations = np.random.RandomState(1).normal(size=(5, 8)).astype(np.float32)
    outputs = exported.encode(observations)
    for name in ("mean", "scale_tril", "sample"):
      self.assertEqual(outputs[name].dtype, np.float32, name)
    self.assertEqual(exported.decode(outputs["mean"])["mean"].dtype, np.float32)


class LoopOptionsTest(tf.test.TestCase):

  def train(self, *extra):
    gin.clear_config()
    cli.parse_gin([], VECTORS + ["model.name = 'beta_vae'", "posterior.name = 'factorized'",
                                 "training.num_steps = 6", "training.batch_size = 8"]
                  + list(extra))
    model_dir = os.path.join(self.get_temp_dir(), "_".join(extra).replace(" ", "") or "plain")
    try:
      return gin_training.train(model_dir, log_fn=lambda line: None)
    finally:
      gin.clear_config()

  def test_xla_trains(self):
    plain = self.train()
    results = self.train("training.jit_compile = True", "training.steps_per_loop = 3")
    self.assertEqual(results["final_step"], 6)
    # XLA may pick another algorithm for the stateless random draws, so the noise differs;
    # the training does not (measured: 15.04 against 15.20 after 6 steps).
    self.assertAllClose(results["loss.loss"], plain["loss.loss"], rtol=0.05)

  def test_op_determinism_changes_no_number_on_a_cpu(self):
    # Op determinism stays on for the rest of a process: each run gets a process of its own.
    results = {}
    for option in ("False", "True"):
      model_dir = os.path.join(self.get_temp_dir(), f"deterministic_{option}")
      command = [sys.executable, "-m", "binaries.train_main", f"--model_dir={model_dir}"]
      command += [f"--gin_bindings={b}" for b in VECTORS + [
          "model.name = 'beta_vae'", "posterior.name = 'factorized'", "training.num_steps = 6",
          "training.batch_size = 8", f"training.deterministic = {option}"]]
      run = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
      self.assertEqual(run.returncode, 0, run.stderr[-3000:])
      with open(os.path.join(model_dir, "train_results.json")) as f:
        results[option] = json.load(f)["loss.loss"]
    self.assertEqual(results["True"], results["False"])

  def test_bad_options_are_refused(self):
    for binding, message in (("training.precision = 'float64'", "training.precision"),
                             ("training.steps_per_loop = 0", "training.steps_per_loop=0"),
                             ("training.jit_compile = 1", "training.jit_compile=1")):
      with self.subTest(binding):
        with self.assertRaisesRegex(ValueError, message):
          self.train(binding)


if __name__ == "__main__":
  tf.test.main()
