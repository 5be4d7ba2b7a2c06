"""SAP: hand-computed score matrices, edge cases, and known-answer codes on a dSprites grid."""

import inspect

import gin
import numpy as np
import tensorflow as tf

from gin_edge import evaluation as gin_evaluation
from evaluation.metrics import sap

import dsprites_grid_codes  # tests/dsprites_grid_codes.py



# Two binary factors on a balanced 2 x 2 grid (100 points): any rule that looks only at a code
# unrelated to a factor gets exactly half of that factor right.
_F1 = np.tile([0, 0, 1, 1], 25)
_F2 = np.tile([0, 1, 0, 1], 25)
_FACTORS = np.stack([_F1, _F2], axis=1)


def _sap(codes, continuous=False):
  codes = np.asarray(codes, dtype=float)
  return sap.sap(codes, _FACTORS, codes, _FACTORS, continuous_factors=continuous)["SAP_score"]


class SapByHandTest(tf.test.TestCase):

  def test_perfect_code(self):
    codes = np.stack([_F1, _F2], axis=1)
    # Accuracies [[1, 1/2], [1/2, 1]]: gap 1/2 per factor. Squared correlations: identity, gap 1.
    self.assertAllClose(
        sap.sap_score_matrix(codes * 1., _FACTORS, codes * 1., _FACTORS), [[1., .5], [.5, 1.]])
    self.assertAllClose(_sap(codes), 0.5)
    self.assertAllClose(_sap(codes, continuous=True), 1.)

  def test_duplicated_code(self):
    codes = np.stack([_F1, _F1], axis=1)
    self.assertAllClose(_sap(codes), 0.)
    self.assertAllClose(_sap(codes, continuous=True), 0.)

  def test_code_mixing_two_factors(self):
    # z2 = f1 + f2 takes 0, 1, 2; the points at 1 are half of each class, so the best threshold
    # gets 3/4 of either factor; corr^2(z2, f_k) = 1/2. Discrete matrix [[1, 1/2], [3/4, 3/4]]:
    # gaps 1/4 and 1/4. Continuous [[1, 0], [1/2, 1/2]]: gaps 1/2 and 1/2.
    codes = np.stack([_F1, _F1 + _F2], axis=1) * 1.
    self.assertAllClose(sap.sap_score_matrix(codes, _FACTORS, codes, _FACTORS),
                        [[1., .5], [.75, .75]])
    self.assertAllClose(_sap(codes), 0.25)
    self.assertAllClose(_sap(codes, continuous=True), 0.5)

  def test_fewer_codes_than_factors(self):
    # One code: the second score is taken as 0. Discrete: (1 + 1/2) / 2; continuous: (1 + 0) / 2.
    self.assertAllClose(_sap(_F1[:, None]), 0.75)
    self.assertAllClose(_sap(_F1[:, None], continuous=True), 0.5)

  def test_constant_code_and_constant_factor(self):
    # A constant code predicts one class: accuracy 1/2 here, correlation 0.
    codes = np.stack([_F1, np.full(100, 2.)], axis=1) * 1.
    self.assertAllClose(sap.sap_score_matrix(codes, _FACTORS, codes, _FACTORS, True),
                        [[1., 0.], [0., 0.]])
    self.assertAllClose(_sap(codes), 0.5 * ((1. - .5) + 0.))
    # A constant factor is left out of the mean.
    factors = np.stack([_F1, np.full(100, 7), _F2], axis=1)
    perfect = np.stack([_F1, _F2], axis=1) * 1.
    self.assertAllClose(sap.sap(perfect, factors, perfect, factors)["SAP_score"], 0.5)
    with self.assertRaisesRegex(ValueError, "more than one value"):
      sap.sap(perfect, np.zeros([100, 2]), perfect, np.zeros([100, 2]))

  def test_bad_input(self):
    codes = np.stack([_F1, _F2], axis=1) * 1.
    with self.assertRaisesRegex(ValueError, "codes"):
      sap.sap(codes[:, 0], _FACTORS, codes, _FACTORS)
    with self.assertRaisesRegex(ValueError, "same number of points"):
      sap.sap(codes[:-1], _FACTORS, codes, _FACTORS)
    with self.assertRaisesRegex(ValueError, "codes_test"):
      sap.sap(codes, _FACTORS, codes[:, :1], _FACTORS)
    with self.assertRaisesRegex(ValueError, "finite"):
      sap.sap(codes, _FACTORS, codes + np.inf, _FACTORS)


class SapOnFactorGridTest(tf.test.TestCase):

  def _score(self, kind):
    return sap.compute_sap(dsprites_grid_codes.FactorGrid(), dsprites_grid_codes.representation(kind), np.random.RandomState(0),
                           num_train=1000, num_test=500)["SAP_score"]

  def test_known_answer_representations(self):
    identity, rotated, noise = (self._score(k) for k in ("identity", "rotated", "noise"))
    # Measured (5 seeds, 1000/500 points): identity 0.167-0.181, rotated 0.008-0.027, noise
    # 0.005-0.018. A single-code linear SVM (C = 0.01) cannot pick out most of the 40 or 32
    # values of orientation and position, so even the identity scores low (0.25 at the default
    # 10,000 points), as published SAP values on dSprites are.
    self.assertBetween(identity, 0.14, 0.21)
    self.assertBetween(rotated, 0., 0.05)
    self.assertBetween(noise, 0., 0.04)
    self.assertGreater(identity, 3. * max(rotated, noise))

  def test_reference_defaults_and_gin(self):
    defaults = {k: p.default for k, p in inspect.signature(sap.compute_sap).parameters.items()}
    self.assertEqual((defaults["num_train"], defaults["num_test"], defaults["batch_size"],
                      defaults["continuous_factors"]), (10000, 5000, 16, False))
    seen = []

    def representation(obs):
      seen.append(len(obs))
      return dsprites_grid_codes.representation("identity")(obs)

    try:
      gin_evaluation.parse(gin_bindings=["sap.num_train = 100", "sap.num_test = 20", "sap.batch_size = 64"])
      sap.compute_sap(dsprites_grid_codes.FactorGrid(), representation, np.random.RandomState(0),
          **gin_evaluation.metric_settings(["sap"])["sap"])
    finally:
      gin.clear_config()
    self.assertEqual(seen, [64, 36, 20])


if __name__ == "__main__":
  tf.test.main()
