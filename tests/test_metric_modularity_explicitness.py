"""Modularity and explicitness: hand-computed cases, edge cases, known-answer codes."""

import inspect

import gin
import numpy as np
import tensorflow as tf

from gin_edge import evaluation as gin_evaluation
from evaluation.metrics import modularity_explicitness as me

import dsprites_grid_codes  # tests/dsprites_grid_codes.py



# Two binary factors on a balanced 2 x 2 grid (100 points).
_F1 = np.tile([0, 0, 1, 1], 25)
_F2 = np.tile([0, 1, 0, 1], 25)
_FACTORS = np.stack([_F1, _F2], axis=1)


def _scores(codes, codes_test=None):
  codes = np.asarray(codes, dtype=float)
  codes_test = codes if codes_test is None else np.asarray(codes_test, dtype=float)
  return me.modularity_explicitness(codes, _FACTORS, codes_test, _FACTORS)


class ModularityByHandTest(tf.test.TestCase):

  def test_modularity_of_information_matrices(self):
    # One informative factor per code -> 1; equal information about two factors -> 0.
    self.assertAllClose(me.modularity([[0.7, 0.], [0., 0.2]]), 1.)
    self.assertAllClose(me.modularity([[1., 1.]]), 0.)
    # Squares (4, 1, 1): 1 - (1 + 1) / (4 * 2) = 3/4; a code without information scores 0.
    self.assertAllClose(me.modularity([[2., 1., 1.]]), 0.75)
    self.assertAllClose(me.modularity([[2., 1., 1.], [0., 0., 0.], [3., 0., 0.]]), 1.75 / 3.)
    # A single factor: every informative code is modular.
    self.assertAllClose(me.modularity([[0.5], [0.]]), 0.5)

  def test_each_code_depends_on_one_factor(self):
    self.assertAllClose(_scores(np.stack([_F1, _F2], axis=1)),
                        {"modularity_score": 1., "explicitness_score_train": 1.,
                         "explicitness_score_test": 1.})

  def test_code_that_depends_on_both_factors(self):
    # z2 = f1 + 2 f2 has log 2 nats about each factor: modularity (1 + 0) / 2. Together the codes
    # still separate both factors perfectly.
    self.assertAllClose(_scores(np.stack([_F1, _F1 + 2 * _F2], axis=1)),
                        {"modularity_score": .5, "explicitness_score_train": 1.,
                         "explicitness_score_test": 1.})

  def test_constant_code(self):
    # Nothing predicts f2: its scores are tied in each class proportion, AUC exactly 1/2.
    self.assertAllClose(_scores(np.stack([_F1, np.full(100, 3.)], axis=1)),
                        {"modularity_score": .5, "explicitness_score_train": .75,
                         "explicitness_score_test": .75})
    self.assertAllClose(_scores(np.zeros([100, 2])),
                        {"modularity_score": 0., "explicitness_score_train": .5,
                         "explicitness_score_test": .5})

  def test_test_points_are_scored_with_the_training_fit(self):
    # Test codes invert f1: the fitted ranking is exactly wrong there (AUC 0), f2 stays 1.
    result = _scores(np.stack([_F1, _F2], axis=1), np.stack([1 - _F1, _F2], axis=1))
    self.assertAllClose(result["explicitness_score_train"], 1.)
    self.assertAllClose(result["explicitness_score_test"], .5)

  def test_fewer_codes_than_factors_and_constant_factor(self):
    self.assertAllClose(_scores(_F1[:, None]),
                        {"modularity_score": 1., "explicitness_score_train": .75,
                         "explicitness_score_test": .75})
    factors = np.stack([_F1, np.full(100, 5), _F2], axis=1)
    codes = np.stack([_F1, _F2], axis=1) * 1.
    self.assertAllClose(me.modularity_explicitness(codes, factors, codes, factors),
                        {"modularity_score": 1., "explicitness_score_train": 1.,
                         "explicitness_score_test": 1.})
    with self.assertRaisesRegex(ValueError, "more than one value"):
      me.modularity_explicitness(codes, np.ones([100, 2]), codes, np.ones([100, 2]))

  def test_bad_input(self):
    codes = np.stack([_F1, _F2], axis=1) * 1.
    with self.assertRaisesRegex(ValueError, "codes"):
      me.modularity_explicitness(codes[None], _FACTORS, codes, _FACTORS)
    with self.assertRaisesRegex(ValueError, "same number of points"):
      me.modularity_explicitness(codes, _FACTORS[:50], codes, _FACTORS)
    with self.assertRaisesRegex(ValueError, "codes_test"):
      me.modularity_explicitness(codes, _FACTORS, np.zeros([100, 3]), _FACTORS)
    with self.assertRaisesRegex(ValueError, "finite"):
      me.modularity_explicitness(codes * np.nan, _FACTORS, codes, _FACTORS)


class ModularityOnFactorGridTest(tf.test.TestCase):

  def test_known_answer_representations(self):
    scores = {
        kind: me.compute_modularity_explicitness(dsprites_grid_codes.FactorGrid(), dsprites_grid_codes.representation(kind),
                                                 np.random.RandomState(0), num_train=1000,
                                                 num_test=500)
        for kind in ("identity", "rotated", "noise")}
    modularity = {k: v["modularity_score"] for k, v in scores.items()}
    explicit = {k: v["explicitness_score_test"] for k, v in scores.items()}
    # Measured (5 seeds, 1000/500 points): modularity identity 0.990, rotated 0.53-0.57,
    # noise 0.64-0.67. Noise is not near 0: the plug-in MI bias grows with a factor's number of
    # values (40 orientations vs 3 shapes), so each noise code looks tied to one factor.
    self.assertGreater(modularity["identity"], 0.98)
    self.assertBetween(modularity["rotated"], 0.45, 0.65)
    self.assertBetween(modularity["noise"], 0.58, 0.72)
    # Explicitness (test): identity 0.886-0.892 (one-vs-rest linear scores cannot single out
    # middle values of 40 orientations), noise 0.498-0.512 (chance). A rotation changes nothing
    # for a linear classifier on all codes: measured difference below 0.001.
    self.assertBetween(explicit["identity"], 0.87, 0.91)
    self.assertBetween(explicit["noise"], 0.47, 0.53)
    self.assertAllClose(explicit["rotated"], explicit["identity"], atol=0.005)
    self.assertGreater(scores["identity"]["explicitness_score_train"], explicit["identity"])

  def test_reference_defaults_and_gin(self):
    defaults = {k: p.default for k, p in
                inspect.signature(me.compute_modularity_explicitness).parameters.items()}
    self.assertEqual((defaults["num_train"], defaults["num_test"], defaults["batch_size"],
                      defaults["num_bins"]), (10000, 5000, 16, 20))
    seen = []

    def representation(obs):
      seen.append(len(obs))
      return dsprites_grid_codes.representation("identity")(obs)

    try:
      gin_evaluation.parse(gin_bindings=["modularity_explicitness.num_train = 300",
                        "modularity_explicitness.num_test = 200",
                        "modularity_explicitness.batch_size = 256"])
      me.compute_modularity_explicitness(dsprites_grid_codes.FactorGrid(), representation, np.random.RandomState(0),
          **gin_evaluation.metric_settings(["modularity_explicitness"])["modularity_explicitness"])
    finally:
      gin.clear_config()
    self.assertEqual(seen, [256, 44, 200])


if __name__ == "__main__":
  tf.test.main()
