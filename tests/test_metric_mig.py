"""MIG: hand-computed gaps, edge cases, and known-answer codes on a dSprites-sized grid."""

import inspect

import gin
import numpy as np
import tensorflow as tf

from gin_edge import evaluation as gin_evaluation
from evaluation.metrics import mig

import dsprites_grid_codes  # tests/dsprites_grid_codes.py



# Two binary factors on a balanced 2 x 2 grid, each combination twice.
_F1 = np.array([0, 0, 1, 1, 0, 0, 1, 1])
_F2 = np.array([0, 1, 0, 1, 0, 1, 0, 1])
_FACTORS = np.stack([_F1, _F2], axis=1)


class MigByHandTest(tf.test.TestCase):

  def test_code_per_factor_scores_one(self):
    codes = np.stack([_F1, _F2], axis=1) * 3. - 1.
    self.assertAllClose(mig.mig(codes, _FACTORS)["discrete_mig"], 1., atol=1e-12)

  def test_copy_of_one_factor_and_a_constant_code(self):
    # Factor 1: gap (log 2 - 0) / log 2 = 1. Factor 2: no code knows it, gap 0. Mean 1/2.
    codes = np.stack([_F1, np.full(8, 0.3)], axis=1).astype(float)
    self.assertAllClose(mig.mig(codes, _FACTORS)["discrete_mig"], 0.5, atol=1e-12)

  def test_duplicated_code_has_no_gap(self):
    codes = np.stack([_F1, _F1], axis=1).astype(float)
    self.assertAllClose(mig.mig(codes, _FACTORS)["discrete_mig"], 0., atol=1e-12)

  def test_fine_and_coarse_copies(self):
    # One factor with 4 values: codes f (I = log 4) and floor(f / 2) (I = log 2); H = log 4.
    factor = np.array([0, 1, 2, 3, 0, 1, 2, 3])
    codes = np.stack([factor, factor // 2], axis=1).astype(float)
    result = mig.mig(codes, factor[:, None])["discrete_mig"]
    self.assertAllClose(result, (np.log(4.) - np.log(2.)) / np.log(4.), atol=1e-12)

  def test_fewer_codes_than_factors(self):
    # A single code: the second-best information is taken as 0. Factor 1 gap 1, factor 2 gap 0.
    self.assertAllClose(mig.mig(_F1[:, None] * 1., _FACTORS)["discrete_mig"], 0.5, atol=1e-12)

  def test_constant_factor_is_left_out(self):
    factors = np.stack([_F1, np.full(8, 4), _F2], axis=1)
    codes = np.stack([_F1, _F2], axis=1).astype(float)
    self.assertAllClose(mig.mig(codes, factors)["discrete_mig"], 1., atol=1e-12)
    with self.assertRaisesRegex(ValueError, "more than one value"):
      mig.mig(codes, np.zeros([8, 2]))

  def test_bad_input(self):
    with self.assertRaisesRegex(ValueError, "codes"):
      mig.mig(np.zeros(8), _FACTORS)
    with self.assertRaisesRegex(ValueError, "same number of points"):
      mig.mig(np.zeros([7, 2]), _FACTORS)
    with self.assertRaisesRegex(ValueError, "finite"):
      mig.mig(np.full([8, 2], np.nan), _FACTORS)


class MigOnFactorGridTest(tf.test.TestCase):

  def _score(self, kind):
    return mig.compute_mig(dsprites_grid_codes.FactorGrid(), dsprites_grid_codes.representation(kind), np.random.RandomState(0),
                           num_train=1000)["discrete_mig"]

  def test_known_answer_representations(self):
    identity, rotated, noise = (self._score(k) for k in ("identity", "rotated", "noise"))
    # Measured (5 seeds, 1000 points): identity 0.754-0.757, below 1 because 20 bins must merge
    # the 40 orientations (bound log 20 / log 40 = 0.81) and the 32 positions; rotated
    # 0.028-0.056; noise 0.001-0.004.
    self.assertBetween(identity, 0.72, 0.80)
    self.assertBetween(rotated, 0.01, 0.10)
    self.assertBetween(noise, 0., 0.01)

  def test_reference_defaults_and_gin(self):
    defaults = {k: p.default for k, p in inspect.signature(mig.compute_mig).parameters.items()}
    self.assertEqual((defaults["num_train"], defaults["batch_size"], defaults["num_bins"]),
                     (10000, 16, 20))
    seen = []

    def representation(obs):
      seen.append(len(obs))
      return dsprites_grid_codes.representation("identity")(obs)

    try:
      gin_evaluation.parse(gin_bindings=["mig.num_train = 40", "mig.batch_size = 32"])
      mig.compute_mig(dsprites_grid_codes.FactorGrid(), representation, np.random.RandomState(0),
          **gin_evaluation.metric_settings(["mig"])["mig"])
    finally:
      gin.clear_config()
    self.assertEqual(seen, [32, 8])


if __name__ == "__main__":
  tf.test.main()
