"""zoo-evaluate's library: metric selection, settings recorded, flat atomic results.json."""
import json
import os

import gin
import numpy as np
import tensorflow as tf

from evaluation import evaluate
from evaluation.metrics import registry as metric_registry
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
    settings = {"mig": {"num_train": 4000}, "beta_vae": {"num_train": 300, "num_eval": 100}}
    out = os.path.join(self.get_temp_dir(), "eval")
    lines = []
    results = evaluate.evaluate(identity_representation(), out, ["mig", "beta_vae"], seed=3,
                                log_fn=lines.append, settings=settings)
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
    out = os.path.join(self.get_temp_dir(), "failed")
    with self.assertRaises(ValueError):
      evaluate.evaluate(identity_representation(), out, ["mig"], log_fn=lambda line: None,
                        settings={"mig": {"num_train": 0}})
    with self.assertRaisesRegex(ValueError, r"settings\['mig'\]: unknown \['num_trains'\]"):
      evaluate.evaluate(identity_representation(), out, ["mig"], log_fn=lambda line: None,
                        settings={"mig": {"num_trains": 10}})
    self.assertFalse(os.path.exists(os.path.join(out, "results.json")))



class _OtherGrid(IdentityFactorsData):
  name = "identity_factors"
  factors_num_values = (4, 6)


class _ShiftedObservations(IdentityFactorsData):
  """The same name, factors and shapes, other observations: another data set all the same."""

  def sample_observations_from_factors(self, factors, random_state):
    return np.asarray(factors, np.float32) + 0.5


def linear_model(weights, data=None, description="linear"):
  weights = np.asarray(weights, np.float64)

  def posterior_fn(x):
    mean = np.asarray(x, np.float64) @ weights
    return mean, np.broadcast_to(np.eye(weights.shape[1]) * 1e-2,
                                 (len(x), weights.shape[1], weights.shape[1]))
  return TrainedModel(posterior_fn, None, None, weights.shape[1], (2,),
                      data or IdentityFactorsData(), description)


class EvaluateUdrTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def test_one_score_per_model_and_the_pairwise_matrix(self):
    rotation = np.array([[1.0, 1.0], [-1.0, 1.0]]) / np.sqrt(2.0)
    models = [linear_model(np.eye(2)), linear_model([[0.0, -2.0], [0.5, 0.0]]),
              linear_model(rotation)]
    names = ["identity", "permuted", "rotated"]
    out = os.path.join(self.get_temp_dir(), "udr")
    lines = []
    results = evaluate.evaluate_udr(models, out, names=names, seed=2, log_fn=lines.append,
                                    settings={"num_data_points": 400,
                                              "correlation_matrix": "spearman"})
    with open(os.path.join(out, evaluate.UDR_RESULTS)) as f:
      written = json.load(f)
    self.assertEqual(written, results)
    self.assertEqual(os.listdir(out), [evaluate.UDR_RESULTS])
    self.assertEqual(written["models"], names)
    self.assertEqual(list(written["scores"]), names)
    self.assertEqual(written["settings.udr.num_data_points"], 400)
    self.assertEqual(written["settings.udr.batch_size"], 10)  # the reference's
    self.assertEqual(written["settings.udr.correlation_matrix"], "spearman")
    scores = written["udr.model_scores"]
    self.assertEqual([written["scores"][n] for n in names], scores)
    # The identity and its permuted, sign-flipped, rescaled version agree one to one: rank
    # correlation 1 with the twin, a sample correlation of the two independent factors with
    # the other latent (measured 0.95). The rotation mixes both factors into each latent
    # (0.40).
    pairwise = np.array([[np.nan if v is None else v for v in row]
                         for row in written["udr.pairwise_scores"]])
    self.assertGreater(pairwise[0, 1], 0.85)
    self.assertLess(pairwise[0, 2], 0.6)
    self.assertAllClose(scores[0], np.median(pairwise[[1, 2], 0]), atol=1e-12)
    self.assertEqual(written["udr.num_active_latents"], [2, 2, 2])
    self.assertTrue(any("rotated" in line for line in lines))

  def test_models_must_share_a_data_set_and_latent_size(self):
    cases = [
        (linear_model(np.eye(2), data=_OtherGrid()), "B: trained on data set 'identity_factors' "
                                                     r"\(factors \(4, 6\)"),
        (linear_model(np.eye(2), data=_ShiftedObservations()), "B: trained on data set "
                                                               "'identity_factors' with other "
                                                               "settings than A"),
        (linear_model(np.ones((2, 3))), "B: latent_dim 3, expected 2 like A"),
    ]
    for other, message in cases:
      with self.subTest(message):
        out = os.path.join(self.get_temp_dir(), "never")
        with self.assertRaisesRegex(ValueError, message):
          evaluate.evaluate_udr([linear_model(np.eye(2)), other], out, names=["A", "B"],
                                log_fn=lambda line: None)
        self.assertFalse(os.path.exists(out))
    with self.assertRaisesRegex(ValueError, "at least 2 models"):
      evaluate.evaluate_udr([linear_model(np.eye(2))], self.get_temp_dir())
    with self.assertRaisesRegex(ValueError, "--saved_model: expected at least 2 exports"):
      evaluate.run_udr(self.get_temp_dir(), ["/only/one"])
    with self.assertRaisesRegex(ValueError, "--saved_model /a/./b: given twice"):
      evaluate.run_udr(self.get_temp_dir(), ["/a/b", "/a/./b"])

  def test_a_bad_setting_is_named_as_gin_knows_it(self):
    with self.assertRaisesRegex(ValueError, r"^udr\.num_data_points=25: expected a multiple"):
      evaluate.evaluate_udr([linear_model(np.eye(2)), linear_model(np.eye(2))],
                            self.get_temp_dir(), names=["a", "b"], log_fn=lambda line: None,
                            settings={"num_data_points": 25})


if __name__ == "__main__":
  tf.test.main()
