"""The code cache returns exactly what the metrics' own encoder calls return."""
import os
import json

import gin
import numpy as np
import tensorflow as tf

from evaluation import code_cache
from evaluation import evaluate
from evaluation.metrics import beta_vae
from evaluation.metrics import factor_vae
from evaluation.metrics import mig
from evaluation.metrics import utils
from evaluation.trained_model import TrainedModel
from gin_edge import evaluation as gin_evaluation
from zoo.data import dsprites


class _Encoder:
  """Codes that depend on each image alone (row sums of pixels, so bitwise the same in any
  batch), plus a flag for how the encoder was called; counts the rows it encodes."""

  def __init__(self, lone_row_offset=0.0, batch_offset=0.0):
    self.lone_row_offset = lone_row_offset  # added to a batch of one row, like a CPU conv net
    self.batch_offset = batch_offset  # times the batch size: codes that depend on it
    self.rows = 0

  def __call__(self, observations):
    observations = np.asarray(observations, np.float32)
    self.rows += len(observations)
    codes = np.stack([observations.sum(axis=(1, 2, 3)), observations[:, :16].sum(axis=(1, 2, 3)),
                      observations[:, :, :16].sum(axis=(1, 2, 3))], axis=1).astype(np.float64)
    codes += self.batch_offset * len(observations)
    if len(observations) == 1:
      codes += self.lone_row_offset
    return codes


def _run_metrics(data, representation):
  """Metrics whose draws cover the collector's paths (sizes leave calls of one row)."""
  return {
      "beta_vae": beta_vae.compute_beta_vae(data, representation, np.random.RandomState(0),
                                            batch_size=5, num_train=21, num_eval=9),
      "factor_vae": factor_vae.compute_factor_vae(
          data, representation, np.random.RandomState(0), batch_size=6, num_train=25,
          num_eval=11, num_variance_estimate=129),
      "mig": mig.compute_mig(data, representation, np.random.RandomState(0), num_train=161),
      "mig again": mig.compute_mig(data, representation, np.random.RandomState(0),
                                   num_train=161),
      # How fairness and strong downstream encode their interventions: one rendering call,
      # encoded 16 at a time (the last call of one row).
      "interventions": utils.codes_of_factors(
          data, representation, data.sample_factors(129, np.random.RandomState(1)),
          np.random.RandomState(2), 16).tolist(),
  }


class _NoisyDSprites(dsprites.DSprites):
  """dSprites whose background gets uniform noise drawn from the metric's random state, as
  noisy_dsprites does with the published file's images."""

  name = "noisy_test_dsprites"
  observation_kind = "unit_interval"

  def _observations_from_valid_factors(self, factors, random_state):
    images = super()._observations_from_valid_factors(factors, random_state)
    return np.maximum(images, random_state.uniform(0, 1, images.shape)).astype(np.float32)


class CachedCodesTest(tf.test.TestCase):

  def _compare(self, data, encoder, expect_cached, **settings):
    plain = _run_metrics(data, encoder)
    plain_rows, encoder.rows = encoder.rows, 0
    lines = []
    cached = code_cache.CachedCodes(encoder, data, log_fn=lines.append, **settings)
    self.assertEqual(_run_metrics(data, cached), plain)
    self.assertGreater(plain_rows, 0)
    # Another MIG draws the same 161 points: cached, only the lone row of its last call of
    # 161 = 10 x 16 + 1 is encoded again (alone, as the metric's own call would).
    rows = encoder.rows
    mig.compute_mig(data, cached, np.random.RandomState(0), num_train=161)
    self.assertEqual(encoder.rows - rows, 1 if expect_cached else 161)
    return lines

  def test_same_numbers_with_fewer_encoder_rows(self):
    data = dsprites.DSprites(image_size=32)
    lines = self._compare(data, _Encoder(lone_row_offset=0.5), expect_cached=True)
    self.assertEqual(lines, [])

  def test_encoder_whose_codes_depend_on_the_batch_size(self):
    lines = self._compare(dsprites.DSprites(image_size=32), _Encoder(batch_offset=1e-9),
                          expect_cached=False)
    self.assertLen(lines, 1)
    self.assertIn("depend on the encoder's batch size", lines[0])

  def test_data_set_that_draws_when_it_renders_is_batched_not_cached(self):
    lines = self._compare(_NoisyDSprites(image_size=32), _Encoder(lone_row_offset=0.5),
                          expect_cached=False)
    self.assertLen(lines, 1)
    self.assertIn("draws random numbers when it renders", lines[0])

  def test_table_over_the_memory_bound(self):
    lines = self._compare(dsprites.DSprites(image_size=32), _Encoder(lone_row_offset=0.5),
                          expect_cached=False, max_megabytes=1)
    self.assertIn("code_cache.max_megabytes", lines[0])

  def test_split_calls_never_leave_a_lone_row(self):
    self.assertEqual(code_cache.split_calls(2049, 1024), [1024, 1023, 2])
    self.assertEqual(code_cache.split_calls(2050, 1024), [1024, 1024, 2])
    self.assertEqual(code_cache.split_calls(1, 1024), [1])
    self.assertEqual(code_cache.split_calls(5, 2), [2, 1, 2])

  def test_bad_settings(self):
    data = dsprites.DSprites(image_size=32)
    with self.assertRaisesRegex(ValueError, "code_cache.enabled"):
      code_cache.CachedCodes(_Encoder(), data, enabled="no")
    with self.assertRaisesRegex(ValueError, "code_cache.max_megabytes"):
      code_cache.CachedCodes(_Encoder(), data, max_megabytes=-1)


class EvaluateWithAndWithoutCacheTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def test_results_json_identical_with_the_cache_off(self):
    encoder = _Encoder(lone_row_offset=0.5)

    def posterior_fn(x):
      mean = encoder(x)
      return mean, np.tile(np.eye(3) * 0.1, (len(mean), 1, 1))

    model = TrainedModel(posterior_fn, posterior_fn, None, 3, (32, 32, 1),
                         dsprites.DSprites(image_size=32), "row sums")
    settings = ["beta_vae_score.num_train = 20", "beta_vae_score.num_eval = 10",
                "factor_vae_score.num_train = 20", "factor_vae_score.num_eval = 10",
                "factor_vae_score.num_variance_estimate = 300", "mig.num_train = 401",
                "sap.num_train = 200", "sap.num_test = 101", "irs.num_train = 401",
                "unsupervised.num_train = 401", "mi_measures.num_points = 50",
                "modularity_explicitness.num_train = 200",
                "modularity_explicitness.num_test = 101"]
    names = ["beta_vae", "factor_vae", "mig", "sap", "irs", "unsupervised", "mi_measures",
             "modularity_explicitness"]
    written = {}
    for enabled in (True, False):
      gin_evaluation.parse(gin_bindings=settings + [f"code_cache.enabled = {enabled}"])
      out = os.path.join(self.get_temp_dir(), f"cache_{enabled}")
      evaluate.evaluate(model, out, names, seed=2, log_fn=lambda line: None,
                        settings=gin_evaluation.metric_settings(names),
                        code_cache_settings=gin_evaluation.code_cache_settings())
      with open(os.path.join(out, "results.json")) as f:
        written[enabled] = {k: v for k, v in json.load(f).items()
                            if not k.endswith("elapsed_seconds")}
      if enabled:
        cached_rows, encoder.rows = encoder.rows, 0
    self.assertEqual(written[True], written[False])
    # mig, sap, irs, unsupervised and modularity draw the same first points: fewer rows encoded,
    # the probe of the batch-size check included.
    probe_rows = code_cache.PROBE_ROWS * (1 + len(code_cache.PROBE_CALL_SIZES))
    self.assertLess(cached_rows - probe_rows, encoder.rows - 1000)
