"""zoo-evaluate's library: metric selection, settings recorded, flat atomic results.json."""
import json
import os

import gin
import numpy as np
import tensorflow as tf

from evaluation import evaluate
from evaluation import metrics as metric_registry
from evaluation.trained_model import TrainedModel
from identity_factors import IdentityFactorsData


def identity_representation():
  def posterior_fn(x):
    return x, tf.eye(2, batch_shape=[tf.shape(x)[0]]) * 1e-2
  return TrainedModel(posterior_fn, lambda x: x, None, 2, (2,), IdentityFactorsData(),
                      "identity")


class EvaluateTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()
    for name in metric_registry.REGISTRY:  # registers every metric's gin configurable
      metric_registry.REGISTRY[name]

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def test_parse_metric_names(self):
    self.assertEqual(evaluate.parse_metric_names("all"), sorted(metric_registry.REGISTRY))
    self.assertEqual(evaluate.parse_metric_names("mig, sap"), ["mig", "sap"])
    for bad in ("mig,nope", "", " , "):
      with self.assertRaisesRegex(ValueError, "--metrics"):
        evaluate.parse_metric_names(bad)

  def test_results_are_flat_with_settings_and_identity_scores_top(self):
    gin.parse_config(["mig.num_train = 4000", "beta_vae_score.num_train = 300",
                      "beta_vae_score.num_eval = 100"])
    out = os.path.join(self.get_temp_dir(), "eval")
    lines = []
    results = evaluate.evaluate(identity_representation(), out, ["mig", "beta_vae"], seed=3,
                                log_fn=lines.append)
    with open(os.path.join(out, "results.json")) as f:
      written = json.load(f)
    self.assertEqual(written, results)
    # Codes equal to the factors: each code determines its factor (4 and 5 values fall into
    # separate bins), so MIG = 1 minus the plug-in bias of the other code's MI with it,
    # about (4 - 1)(5 - 1) / (2 * 4000) nats; the BetaVAE classifier is perfect.
    self.assertBetween(written["mig.discrete_mig"], 0.995, 1.0)
    self.assertAllClose(written["beta_vae.eval_accuracy"], 1.0)
    self.assertEqual(written["settings.mig.num_train"], 4000)
    self.assertEqual(written["settings.beta_vae.num_train"], 300)
    self.assertEqual(written["settings.beta_vae.batch_size"], 64)  # reference default
    self.assertGreaterEqual(written["mig.elapsed_seconds"], 0.0)
    self.assertEqual(written["seed"], 3)
    self.assertTrue(any(line.startswith("mig.discrete_mig") for line in "\n".join(lines)
                        .splitlines()))
    self.assertEqual(os.listdir(out), ["results.json"])  # no temporary file left

  def test_a_failing_metric_leaves_no_results_file(self):
    gin.parse_config(["mig.num_train = 0"])
    out = os.path.join(self.get_temp_dir(), "failed")
    with self.assertRaises(ValueError):
      evaluate.evaluate(identity_representation(), out, ["mig"], log_fn=lambda line: None)
    self.assertFalse(os.path.exists(os.path.join(out, "results.json")))


if __name__ == "__main__":
  tf.test.main()
