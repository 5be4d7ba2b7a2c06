"""IRS: hand-computed scores, edge cases, and known-answer codes on a dSprites-sized grid."""

import inspect

import gin
import numpy as np
import tensorflow as tf

from gin_edge import evaluation as gin_evaluation
from evaluation.metrics import irs

import dsprites_grid_codes  # tests/dsprites_grid_codes.py



# Two binary factors on a balanced 2 x 2 grid, each combination twice.
_F1 = np.array([0, 0, 1, 1, 0, 0, 1, 1])
_F2 = np.array([0, 1, 0, 1, 0, 1, 0, 1])
_FACTORS = np.stack([_F1, _F2], axis=1)


def _irs(codes, factors=_FACTORS, **kwargs):
  return irs.irs(np.asarray(codes, dtype=float), factors, **kwargs)


class IrsByHandTest(tf.test.TestCase):

  def test_code_per_factor(self):
    # Holding the parent factor fixed leaves each code unchanged: IRS 1.
    self.assertAllClose(_irs(np.stack([_F1, _F2], axis=1)), {"IRS": 1., "num_active_dims": 2.})

  def test_code_mixing_two_factors(self):
    # z = f1 + f2 / 2 takes 0, .5, 1, 1.5; mean .75, largest deviation .75. Fixing f1 leaves
    # deviations of .25 (IRS 1 - .25/.75 = 2/3); fixing f2 leaves .5 (1/3). Score 2/3.
    mixed = _F1 + 0.5 * _F2
    self.assertAllClose(_irs(mixed[:, None])["IRS"], 2. / 3.)
    # Adding z2 = 2 f2 (score 1, largest deviation 1): weighted (2/3 * .75 + 1 * 1) / 1.75.
    self.assertAllClose(_irs(np.stack([mixed, 2. * _F2], axis=1))["IRS"], 6. / 7.)

  def test_quantile_of_the_within_group_deviations(self):
    factor = np.array([0, 0, 0, 0, 1, 1, 1, 1])[:, None]
    code = np.array([0., 0., 0., 4., 10., 10., 10., 14.])[:, None]
    # Each group deviates from its mean by (1, 1, 1, 3); the code's largest deviation from its
    # mean 6 is 8. Median 1 -> 1 - 1/8; maximum 3 -> 1 - 3/8; the 0.99 quantile interpolates
    # linearly between the sorted deviations: 1 + 0.97 * 2 = 2.94.
    self.assertAllClose(_irs(code, factor, diff_quantile=0.5)["IRS"], 0.875)
    self.assertAllClose(_irs(code, factor, diff_quantile=1.0)["IRS"], 0.625)
    self.assertAllClose(_irs(code, factor)["IRS"], 1. - 2.94 / 8.)

  def test_factors_are_binned_into_twenty_values(self):
    # 40 factor values fall into 20 bins of two neighbours: within a bin the code deviates by
    # 1/2, the code's largest deviation is 19.5, so IRS = 1 - 0.5/19.5 = 38/39 (1 unbinned).
    factor = np.arange(40)[:, None]
    self.assertAllClose(_irs(factor * 1., factor)["IRS"], 38. / 39.)
    self.assertAllClose(_irs(factor * 1., factor, num_bins=40)["IRS"], 1.)

  def test_constant_codes_are_dropped(self):
    self.assertAllClose(_irs(np.stack([_F1, np.full(8, 2.)], axis=1)),
                        {"IRS": 1., "num_active_dims": 1.})
    self.assertAllClose(_irs(np.full([8, 3], 2.)), {"IRS": 0., "num_active_dims": 0.})

  def test_fewer_codes_than_factors(self):
    factors = np.stack([_F1, _F2, 1 - _F2], axis=1)
    self.assertAllClose(_irs(_F2[:, None] * 3., factors), {"IRS": 1., "num_active_dims": 1.})

  def test_bad_input(self):
    with self.assertRaisesRegex(ValueError, "diff_quantile"):
      _irs(np.stack([_F1, _F2], axis=1), diff_quantile=0.)
    with self.assertRaisesRegex(ValueError, "codes"):
      _irs(_F1 * 1.)
    with self.assertRaisesRegex(ValueError, "same number of points"):
      _irs(np.zeros([9, 2]))
    with self.assertRaisesRegex(ValueError, "finite"):
      _irs(np.full([8, 2], np.inf))


class IrsOnFactorGridTest(tf.test.TestCase):

  def _score(self, kind):
    return irs.compute_irs(dsprites_grid_codes.FactorGrid(), dsprites_grid_codes.representation(kind), np.random.RandomState(0),
                           num_train=1000)

  def test_known_answer_representations(self):
    identity, rotated, noise = (self._score(k)["IRS"] for k in ("identity", "rotated", "noise"))
    # Measured (5 seeds, 1000 points): identity 0.927-0.929 (the 0.05 noise and the merged
    # orientation/position bins keep it below 1), rotated 0.395-0.407, noise 0.324-0.351 (the
    # 0.99 quantile of |noise| within a group against the largest of 1000 deviations).
    self.assertBetween(identity, 0.91, 0.95)
    self.assertBetween(rotated, 0.37, 0.44)
    self.assertBetween(noise, 0.30, 0.37)
    self.assertEqual(self._score("identity")["num_active_dims"], 5.)

  def test_reference_defaults_and_gin(self):
    defaults = {k: p.default for k, p in inspect.signature(irs.compute_irs).parameters.items()}
    self.assertEqual((defaults["num_train"], defaults["batch_size"], defaults["diff_quantile"],
                      defaults["num_bins"]), (10000, 16, 0.99, 20))
    seen = []

    def representation(obs):
      seen.append(len(obs))
      return dsprites_grid_codes.representation("identity")(obs)

    try:
      gin_evaluation.parse(gin_bindings=["irs.num_train = 40", "irs.batch_size = 32"])
      irs.compute_irs(dsprites_grid_codes.FactorGrid(), representation, np.random.RandomState(0),
          **gin_evaluation.metric_settings(["irs"])["irs"])
    finally:
      gin.clear_config()
    self.assertEqual(seen, [32, 8])


if __name__ == "__main__":
  tf.test.main()
