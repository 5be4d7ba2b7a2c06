"""zoo-evaluate on a zoo-export SavedModel gives the numbers of evaluating the checkpoint itself."""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile

import gin
import numpy as np
import tensorflow as tf

from common import cli
from evaluation import evaluate
from evaluation import trained_model
from zoo import training
from gin_edge import configurables  # noqa: F401  (registers every gin configurable)
from gin_edge import evaluation as gin_evaluation
from gin_edge import training as gin_training
from tiny_mlp import TINY_MLP_BINDINGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

RHO = 0.5
# correlated_noise on the vector data set: q(z|x) has the fixed correlation matrix
# (1 - rho) I + rho 11^T, so the conditional total correlation is known in closed form.
TRAIN_BINDINGS = [
    "dataset.name = 'linear_gaussian'",
    "linear_gaussian.observation_dim = 6",  # not the default: the export's gin config must say so
    "model.name = 'beta_vae'",
    "model.latent_dim = 3",
    "posterior.name = 'correlated_noise'",
    f"correlated_noise.rho = {RHO}",
    "training.batch_size = 32",
    "training.learning_rate = 1e-3",
    "training.num_steps = 20",
] + TINY_MLP_BINDINGS
METRIC_BINDINGS = [
    "mig.num_train = 200",
    "sap.num_train = 200",
    "sap.num_test = 100",
    "mi_measures.num_points = 200",
    "mi_measures.num_samples = 2",
    "mi_measures.num_conditioning = 4",
    "mi_measures.num_strata = 16",
]
METRICS = ["mig", "sap", "mi_measures"]


def conditional_tc_of_equicorrelation(rho, dim):
  """-1/2 log det of (1 - rho) I + rho 11^T."""
  return -0.5 * ((dim - 1) * math.log(1.0 - rho) + math.log(1.0 + (dim - 1) * rho))


def run_binary(module, *flags):
  return subprocess.run([sys.executable, "-m", module, *flags], capture_output=True, text=True,
                        timeout=300, cwd=REPO)


def assert_one_line_errors(test, cases, module="binaries.evaluate_main", program="zoo-evaluate"):
  """Each case, `what -> (flags, start of the message)`, exits 1 with that one error line."""
  for what, (flags, message) in cases.items():
    with test.subTest(what):
      result = run_binary(module, *flags)
      test.assertEqual(result.returncode, 1, result.stderr[-2000:])
      lines = result.stderr.strip().splitlines()
      test.assertEqual(len(lines), 1, result.stderr[-2000:])
      test.assertTrue(lines[0].startswith(f"{program}: error: {message}"), lines[0])


def load_and_evaluate(load, output_dir, metrics=METRICS):
  """Evaluates the way zoo-evaluate does: load, then the metric bindings' settings."""
  gin.clear_config()
  representation = load()
  gin_evaluation.parse(gin_bindings=METRIC_BINDINGS)
  try:
    return representation, evaluate.evaluate(representation, output_dir, metrics,
                                              log_fn=lambda line: None,
                                              settings=gin_evaluation.metric_settings(metrics))
  finally:
    gin.clear_config()


def numbers(results):
  """The metric values of a results dict (what must not depend on how the model was loaded)."""
  return {k: v for k, v in results.items()
          if k != "evaluated" and not k.endswith("elapsed_seconds")}


class EvaluateSavedModelTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp(prefix="test_evaluate_saved_model_")
    cls.model_dir = os.path.join(cls.root, "run")
    cls.export_dir = os.path.join(cls.root, "export")
    gin.clear_config()
    cli.parse_gin([], TRAIN_BINDINGS)
    gin_training.train(cls.model_dir, log_fn=lambda line: None)
    gin.clear_config()
    # The zoo-export binary, end to end.
    cls.export_run = run_binary("binaries.export_main", f"--model_dir={cls.model_dir}",
                                f"--export_dir={cls.export_dir}")

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def test_export_binary_succeeded(self):
    self.assertEqual(self.export_run.returncode, 0, self.export_run.stderr[-3000:])
    self.assertIn(f"wrote {self.export_dir} (beta_vae/correlated_noise, latent_dim 3, step 20)",
                  self.export_run.stdout)

  def test_representation_from_export_matches_checkpoint(self):
    gin.clear_config()
    in_process = trained_model.from_model_dir(self.model_dir)
    gin.clear_config()
    exported = trained_model.from_export(self.export_dir)
    data = exported.ground_truth_data
    self.assertEqual(data.name, "linear_gaussian")
    self.assertEqual(data.observation_shape, (6,))
    self.assertEqual(exported.latent_dim, 3)
    factors_a, observations_a = in_process.ground_truth_data.sample(50, np.random.RandomState(0))
    factors_b, observations_b = data.sample(50, np.random.RandomState(0))
    self.assertAllEqual(factors_a, factors_b)
    self.assertAllEqual(observations_a, observations_b)

    mean_a, covariance_a = in_process.posterior(observations_a)
    mean_b, covariance_b = exported.posterior(observations_a)
    self.assertEqual(covariance_b.shape, (50, 3, 3))
    self.assertAllClose(mean_a, mean_b, rtol=1e-6, atol=1e-6)
    self.assertAllClose(covariance_a, covariance_b, rtol=1e-5, atol=1e-7)
    # The export keeps the posterior's correlation: every covariance has correlation rho.
    stddev = np.sqrt(np.diagonal(covariance_b, axis1=1, axis2=2))
    correlation = covariance_b / stddev[:, :, None] / stddev[:, None, :]
    self.assertAllClose(correlation[:, 0, 1], np.full(50, RHO), atol=1e-4)
    self.assertEqual(exported.sample(observations_a).shape, (50, 3))

  def test_metrics_equal_evaluating_the_checkpoint(self):
    _, from_checkpoint = load_and_evaluate(
        lambda: trained_model.from_model_dir(self.model_dir),
        os.path.join(self.get_temp_dir(), "checkpoint"))
    _, from_export = load_and_evaluate(
        lambda: trained_model.from_export(self.export_dir),
        os.path.join(self.get_temp_dir(), "export"))
    a, b = numbers(from_checkpoint), numbers(from_export)
    self.assertEqual(sorted(a), sorted(b))
    for key in ("mig.discrete_mig", "sap.SAP_score", "mi_measures.mi_joint",
                "mi_measures.conditional_tc", "settings.mig.num_train"):
      self.assertIn(key, a)
    for key, value in a.items():
      with self.subTest(key):
        if isinstance(value, float):
          self.assertAllClose(value, b[key], rtol=1e-5, atol=1e-6)
        else:
          self.assertEqual(value, b[key])
    self.assertEqual(a["settings.mig.num_train"], 200)
    # Numbers that could not agree by both being degenerate.
    self.assertGreater(b["mi_measures.mi_joint"], 0.02)
    self.assertAllClose(b["mi_measures.conditional_tc"],
                        conditional_tc_of_equicorrelation(RHO, 3), rtol=1e-4)
    self.assertIn("from export", from_export["evaluated"])

  def test_evaluate_binary_with_saved_model(self):
    output_dir = os.path.join(self.get_temp_dir(), "binary")
    result = run_binary("binaries.evaluate_main", f"--saved_model={self.export_dir}",
                        f"--output_dir={output_dir}", "--metrics=mig,mi_measures",
                        *[f"--gin_bindings={b}" for b in METRIC_BINDINGS])
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    with open(os.path.join(output_dir, "results.json")) as f:
      from_binary = json.load(f)
    _, in_process = load_and_evaluate(
        lambda: trained_model.from_model_dir(self.model_dir),
        os.path.join(self.get_temp_dir(), "in_process"), metrics=["mig", "mi_measures"])
    for key in ("mig.discrete_mig", "mi_measures.mi_joint", "mi_measures.aggregate_tc",
                "mi_measures.violation"):
      with self.subTest(key):
        self.assertIn(key, in_process)
        self.assertAllClose(from_binary[key], in_process[key], rtol=1e-5, atol=1e-6)

  def test_evaluate_binary_flag_errors(self):
    output = f"--output_dir={os.path.join(self.get_temp_dir(), 'never')}"
    cases = {
        "both": ([f"--model_dir={self.model_dir}", f"--saved_model={self.export_dir}", output],
                 "expected exactly one of --model_dir and --saved_model"),
        "neither": ([output], "expected exactly one of --model_dir and --saved_model"),
        "checkpoint with export": ([f"--saved_model={self.export_dir}", output,
                                    "--checkpoint=/x/ckpt-1"],
                                   "--checkpoint applies to --model_dir only"),
    }
    assert_one_line_errors(self, cases)
    self.assertFalse(os.path.exists(os.path.join(self.get_temp_dir(), "never")))



class UdrBinaryTest(tf.test.TestCase):
  """zoo-udr on two copies of one export: the library's numbers, one line errors."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp(prefix="test_evaluate_udr_")
    model_dir = os.path.join(cls.root, "run")
    gin.clear_config()
    cli.parse_gin([], TRAIN_BINDINGS)
    gin_training.train(model_dir, log_fn=lambda line: None)
    gin.clear_config()
    cls.exports = [os.path.join(cls.root, name) for name in ("export_a", "export_b")]
    cls.export_run = run_binary("binaries.export_main", f"--model_dir={model_dir}",
                                f"--export_dir={cls.exports[0]}")
    shutil.copytree(cls.exports[0], cls.exports[1])

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def test_udr_binary_equals_the_library(self):
    self.assertEqual(self.export_run.returncode, 0, self.export_run.stderr[-3000:])
    output_dir = os.path.join(self.get_temp_dir(), "udr")
    # A threshold below every latent's KL (20 training steps leave them near the prior), so
    # that the latents are compared and not filtered away.
    bindings = ["udr.num_data_points = 200", "udr.kl_filter_threshold = 0.0",
                "udr.correlation_matrix = 'spearman'"]
    result = run_binary("binaries.udr_main", *[f"--saved_model={e}" for e in self.exports],
                        f"--output_dir={output_dir}", *[f"--gin_bindings={b}" for b in bindings])
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn(f"[zoo-udr] results in {output_dir}/udr_results.json", result.stdout)
    with open(os.path.join(output_dir, "udr_results.json")) as f:
      from_binary = json.load(f)
    self.assertEqual(from_binary["models"], self.exports)
    self.assertEqual(from_binary["dataset"], "linear_gaussian")
    self.assertEqual(from_binary["settings.udr.num_data_points"], 200)
    in_process = gin_evaluation.run_udr(os.path.join(self.get_temp_dir(), "library"),
                                        self.exports, gin_bindings=bindings,
                                        log_fn=lambda line: None)
    for key in ("udr.model_scores", "udr.num_active_latents", "udr.kl_divergence"):
      with self.subTest(key):
        self.assertAllClose(from_binary[key], in_process[key], rtol=1e-6, atol=1e-9)
    # Two copies of one model: identical codes, the same score for both.
    scores = from_binary["udr.model_scores"]
    self.assertEqual(scores[0], scores[1])
    self.assertEqual(from_binary["scores"], dict(zip(self.exports, scores)))
    # Each latent's rank correlation with its twin is 1, so the score is above that of a
    # matrix whose rows spread evenly over the 3 latents (1/3).
    self.assertGreater(scores[0], 0.4)

  def test_udr_flag_errors(self):
    output = f"--output_dir={os.path.join(self.get_temp_dir(), 'never')}"
    cases = {
        "one export": ([f"--saved_model={self.exports[0]}", output],
                       "--saved_model: expected at least 2 exports to compare, got 1"),
        "model_dir": ([f"--model_dir={self.root}", output],
                      "Unknown command line flag 'model_dir'"),
        "metrics": ([*[f"--saved_model={e}" for e in self.exports], output, "--metrics=mig"],
                    "Unknown command line flag 'metrics'"),
    }
    assert_one_line_errors(self, cases, "binaries.udr_main", "zoo-udr")
    # zoo-evaluate compares no models, and its old --udr names the new tool.
    cases = {
        "two exports": ([*[f"--saved_model={e}" for e in self.exports], output],
                        "--saved_model given 2 times; several models are compared by zoo-udr"),
        "the old --udr": (["--udr", *[f"--saved_model={e}" for e in self.exports], output],
                          "--udr is no longer a flag of zoo-evaluate; use: zoo-udr "
                          "--saved_model=EXPORT_A --saved_model=EXPORT_B"),
    }
    assert_one_line_errors(self, cases)
    self.assertFalse(os.path.exists(os.path.join(self.get_temp_dir(), "never")))


if __name__ == "__main__":
  tf.test.main()
