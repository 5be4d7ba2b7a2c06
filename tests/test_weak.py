"""Weak supervision: pairs that differ in k factors, and the four pair models that use them."""
import json
import os
import subprocess
import sys

import gin
import numpy as np
from scipy import stats
import tensorflow as tf

from common import cli
from export import loader
from export import saved_model_export
from zoo import data as zoo_data
from zoo import models
from zoo import training
from zoo.data import pairs
from zoo.models import weak_vae
from gin_edge import configurables  # noqa: F401  (registers every gin configurable)
from gin_edge import training as gin_training
from tiny_mlp import TINY_MLP_BINDINGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEAK_MODELS = ("group_vae", "ml_vae", "ada_gvae", "ada_ml_vae")
VECTORS = [
    "dataset.name = 'linear_gaussian'",
    "linear_gaussian.num_values = 8",
    "model.latent_dim = 4",
    "training.batch_size = 32",
    "training.learning_rate = 3e-3",
] + TINY_MLP_BINDINGS


def train(model_dir, model, family, *extra):
  gin.clear_config()
  cli.parse_gin([], VECTORS + [f"model.name = '{model}'", f"posterior.name = '{family}'",
                               "correlated_noise.rho = 0.5"] + list(extra))
  lines = []
  try:
    return gin_training.train(model_dir, log_fn=lines.append), lines
  finally:
    gin.clear_config()


class PairSamplingTest(tf.test.TestCase):

  def test_exactly_k_factors_differ_and_random_k_covers_1_to_f_minus_1(self):
    data = zoo_data.get_dataset("dsprites", image_size=32)
    for k in (1, 2, 4, "random"):
      with self.subTest(k=k):
        first, second, changed = pairs.sample_pair_factors(data, 3000, k,
                                                           np.random.RandomState(0))
        self.assertAllEqual(first != second, changed)  # a resampled factor always differs
        counts = changed.sum(axis=1)
        if k == "random":
          self.assertEqual(set(counts), {1, 2, 3, 4})
          # Uniform over 1..F-1: each count about a quarter of the pairs.
          self.assertAllClose(np.bincount(counts)[1:] / 3000, [0.25] * 4, atol=0.03)
        else:
          self.assertTrue(np.all(counts == k))
        # Every factor is the one that changes about equally often (k = 1: 1/5 each).
        if k == 1:
          self.assertAllClose(changed.mean(axis=0), [0.2] * 5, atol=0.03)
        data.check_factors(second)  # in range
    # The new value is uniform over the factor's other values: shape (3 values) 50 / 50.
    first, second, changed = pairs.sample_pair_factors(data, 6000, 1, np.random.RandomState(1))
    moved = changed[:, 0]
    shift = (second[moved, 0] - first[moved, 0]) % 3
    self.assertAllClose(np.bincount(shift, minlength=3)[1:] / moved.sum(), [0.5, 0.5], atol=0.04)

  def test_pairs_render_the_factors_and_come_step_by_step(self):
    data = zoo_data.get_dataset("dsprites", image_size=32)
    factors, x1, x2, changed = pairs.sample_pairs(data, 4, 2, np.random.RandomState(3))
    self.assertEqual(x1.shape, (4, 32, 32, 1))
    self.assertAllEqual(x1, data.sample_observations_from_factors(factors,
                                                                  np.random.RandomState(0)))
    self.assertAllEqual(changed.sum(axis=1), [2, 2, 2, 2])
    # Batch k of a resumed pipeline is batch k of the uninterrupted one.
    whole = list(zoo_data.make_pair_dataset(data, 4, seed=5, k=1).take(3))
    resumed = next(iter(zoo_data.make_pair_dataset(data, 4, seed=5, k=1, start_step=2)))
    for a, b in zip(whole[2], resumed):
      self.assertAllEqual(a, b)

  def test_bad_k_is_refused(self):
    data = zoo_data.get_dataset("dsprites", image_size=32)
    for k, message in ((0, r"^k=0: expected an integer in \[1, 4\]"),
                       (5, r"^k=5: expected an integer in \[1, 4\]"), ("some", "^k='some'")):
      with self.subTest(k=k):
        with self.assertRaisesRegex(ValueError, message):
          pairs.sample_pair_factors(data, 2, k, np.random.RandomState(0))


class AveragingTest(tf.test.TestCase):

  def test_the_two_averages_against_closed_forms(self):
    m1, v1, m2, v2 = 0.3, 0.5, -1.1, 2.0
    mean, var = weak_vae.arithmetic_average(m1, v1, m2, v2)
    self.assertAllClose([mean, var], [-0.4, 1.25])
    mean, var = weak_vae.product_average(tf.constant(m1), tf.constant(v1), tf.constant(m2),
                                         tf.constant(v2))
    # The normalized product of the two densities, on a grid: its mean, and twice its variance.
    grid = np.linspace(-8, 8, 200001)
    density = stats.norm.pdf(grid, m1, np.sqrt(v1)) * stats.norm.pdf(grid, m2, np.sqrt(v2))
    density /= np.trapezoid(density, grid)
    product_mean = np.trapezoid(grid * density, grid)
    product_var = np.trapezoid((grid - product_mean) ** 2 * density, grid)
    self.assertAllClose(mean, product_mean, atol=1e-6)
    self.assertAllClose(var, 2.0 * product_var, atol=1e-6)
    self.assertAllClose(var, 2 * v1 * v2 / (v1 + v2))

  def test_the_adaptive_rule_finds_the_factor_that_changed(self):
    # An encoder whose latent i reads factor i (mean = factor value, small fixed variance):
    # pairs that differ in exactly factor j keep exactly latent j per example.
    data = zoo_data.get_dataset("dsprites", image_size=32)
    first, second, changed = pairs.sample_pair_factors(data, 500, 1, np.random.RandomState(2))
    encode = lambda f: tf.constant(np.stack(
        [f / np.asarray(data.factors_num_values), np.full(f.shape, np.log(1e-3))], axis=-1),
                                   tf.float32)
    a, b = encode(first), encode(second)
    shared = weak_vae.adaptive_shared(weak_vae.pair_divergence(
        a[..., 0], a[..., 1], b[..., 0], b[..., 1]))
    self.assertAllEqual(np.logical_not(shared.numpy()), changed)
    # The labelled models are told instead; latents beyond the factors are always shared.
    labelled = weak_vae.labelled_shared(tf.constant(changed, tf.float32), 7).numpy()
    self.assertAllEqual(np.logical_not(labelled[:, :5]), changed)
    self.assertTrue(np.all(labelled[:, 5:]))

  def test_correlated_noise_keeps_its_correlation_and_averages_the_scales(self):
    gin.clear_config()
    gin.parse_config(VECTORS + ["model.name = 'ada_gvae'", "posterior.name = 'correlated_noise'",
                                "correlated_noise.rho = 0.5"])
    model = configurables.model_from_gin((8,))
    gin.clear_config()
    per_1 = tf.constant([[[0.0, np.log(0.25)], [1.0, 0.0], [2.0, 0.0], [0.5, 0.0]]], tf.float32)
    per_2 = tf.constant([[[1.0, np.log(1.0)], [1.0, 0.0], [2.0, 0.0], [-3.0, 0.0]]], tf.float32)
    shared = tf.constant([[True, True, True, False]])
    agg_1, agg_2 = model.aggregate(per_1, per_2, shared)
    self.assertAllClose(agg_1[0, 0], [0.5, np.log(0.625)])  # averaged: mean, (0.25 + 1) / 2
    self.assertAllClose(agg_1[0, 3], per_1[0, 3])  # kept
    self.assertAllClose(agg_2[0, 3], per_2[0, 3])
    covariance = model.family(agg_1, None).covariance().numpy()[0]
    stddev = np.sqrt(np.diag(covariance))
    self.assertAllClose(covariance[0, 1] / (stddev[0] * stddev[1]), 0.5, atol=1e-6)

  def test_a_learned_covariance_is_refused(self):
    for family in ("full_covariance", "low_rank"):
      with self.subTest(family):
        with self.assertRaisesRegex(ValueError, rf"posterior.name='{family}': a learned "
                                                r"covariance .* use one of 'factorized', "
                                                r"'correlated_noise'"):
          train(os.path.join(self.get_temp_dir(), family), "ada_gvae", family)


class WeakTrainingTest(tf.test.TestCase):

  def test_every_model_and_family_trains_with_falling_losses(self):
    for model in WEAK_MODELS:
      for family in weak_vae.AVERAGEABLE_FAMILIES:
        with self.subTest(model=model, family=family):
          results, lines = train(os.path.join(self.get_temp_dir(), f"{model}_{family}"),
                                 model, family, "training.num_steps = 150",
                                 "training.log_every = 50", "training.checkpoint_every = 150")
          losses = [float(line.split("  loss ")[1].split()[0]) for line in lines
                    if "  loss " in line]
          self.assertLen(losses, 3)
          self.assertTrue(np.all(np.isfinite(losses)))
          self.assertLess(losses[-1], losses[0])
          self.assertBetween(results["loss.shared_latents"], 0.0, 4.0)
          if model in ("group_vae", "ml_vae"):
            # Told which factor changed (k = 1 of 4 factors, 4 latents): 3 shared per pair.
            self.assertAllClose(results["loss.shared_latents"], 3.0)
          self.assertIn("loss.shared_per_latent.3", results)

  def test_resume_is_bitwise_and_the_export_encodes_single_observations(self):
    root = self.get_temp_dir()
    cadence = ["training.checkpoint_every = 10", "training.log_every = 10"]
    train(os.path.join(root, "whole"), "ada_ml_vae", "factorized", "training.num_steps = 30",
          *cadence)
    train(os.path.join(root, "resumed"), "ada_ml_vae", "factorized", "training.num_steps = 20",
          *cadence)
    results, _ = train(os.path.join(root, "resumed"), "ada_ml_vae", "factorized",
                       "training.num_steps = 30", *cadence)
    self.assertEqual(results["start_step"], 20)
    whole = tf.train.load_checkpoint(os.path.join(root, "whole", "checkpoints", "ckpt-30"))
    resumed = tf.train.load_checkpoint(os.path.join(root, "resumed", "checkpoints", "ckpt-30"))
    for key in whole.get_variable_to_shape_map():
      if key != "_CHECKPOINTABLE_OBJECT_GRAPH":
        self.assertAllEqual(resumed.get_tensor(key), whole.get_tensor(key), msg=key)
    gin.clear_config()
    export_dir = os.path.join(root, "export")
    saved_model_export.export_model_dir(os.path.join(root, "whole"), export_dir,
                                        log_fn=lambda line: None)
    gin.clear_config()
    exported = loader.load(export_dir)
    self.assertEqual(exported.metadata["model"], "ada_ml_vae")
    codes = exported.encode(np.zeros((3, 8), np.float32))
    self.assertEqual(codes["mean"].shape, (3, 4))

  def test_pairs_under_a_mirrored_strategy(self):
    model_dir = os.path.join(self.get_temp_dir(), "mirrored")
    command = [sys.executable, "-m", "binaries.train_main", f"--model_dir={model_dir}",
               "--strategy=mirrored", "--logical_cpus=2"]
    command += [f"--gin_bindings={b}" for b in VECTORS + [
        "model.name = 'ada_gvae'", "posterior.name = 'factorized'", "training.num_steps = 10"]]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    with open(os.path.join(model_dir, "train_results.json")) as f:
      results = json.load(f)
    self.assertEqual((results["num_replicas"], results["final_step"]), (2, 10))
    self.assertTrue(np.isfinite(results["loss.loss"]))


if __name__ == "__main__":
  tf.test.main()
