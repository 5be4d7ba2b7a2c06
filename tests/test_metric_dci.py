"""DCI: the entropy scores on hand-made importance matrices, known-answer codes, and the
presorted, parallel boosted trees giving exactly the numbers of scikit-learn's plain loop."""
import contextlib
from unittest import mock

import numpy as np
import tensorflow as tf
from sklearn import ensemble

from evaluation.metrics import boosted_trees
from evaluation.metrics import dci
from evaluation.metrics import downstream
from evaluation.metrics import utils

_SIZES = np.array([3, 4, 2])
# Every code takes every factor with weight +-1/sqrt(3): invertible, but no code is one factor.
_EQUAL_MIX = np.array([[1., 1., 1.], [1., -1., 1.], [1., 1., -1.]]) / np.sqrt(3.)


def _binary_entropy_bits(p):
  return -(p * np.log2(p) + (1. - p) * np.log2(1. - p))


def _factors_and_codes(seed, num=600, noise=0.05):
  """Factors on a 3 x 4 x 2 grid and codes = each factor scaled to [0, 1] plus noise."""
  rs = np.random.RandomState(seed)
  factors = np.stack([rs.randint(k, size=num) for k in _SIZES], axis=1)
  return factors, factors / (_SIZES - 1.) + noise * rs.randn(num, len(_SIZES))


class _FactorGrid:
  """Ground-truth data whose observations are the factor values themselves."""
  factors_num_values = tuple(_SIZES)

  def sample(self, num, random_state):
    factors = np.stack([random_state.randint(k, size=num) for k in self.factors_num_values], 1)
    return factors, factors.astype(np.float32)


class ScoresFromImportanceTest(tf.test.TestCase):
  """The scoring alone, on importance matrices whose answers follow by hand."""

  def test_one_factor_per_code_scores_one(self):
    scores = dci.scores_from_importance(np.diag([1., 2., 3.]))
    # Only the 1e-11 smoothing keeps these from being exactly 1.
    self.assertAllClose(scores["disentanglement"], 1., atol=1e-8)
    self.assertAllClose(scores["completeness"], 1., atol=1e-8)

  def test_uniform_importance_scores_zero(self):
    # Every row is uniform over 2 factors (entropy 1 bit in base 2), every column uniform over 4
    # codes (entropy 1 in base 4).
    scores = dci.scores_from_importance(np.ones([4, 2]))
    self.assertAllClose(scores["disentanglement"], 0., atol=1e-12)
    self.assertAllClose(scores["completeness"], 0., atol=1e-12)

  def test_hand_computed_two_by_two(self):
    # Rows: code 0 -> (1/2, 1/2): 0; code 1 -> (1, 0): 1; each holds half the importance.
    # Columns: factor 0 -> (1/3, 2/3): 1 - H2(1/3); factor 1 -> (1, 0): 1; shares 3/4 and 1/4.
    importance = np.array([[1., 1.], [2., 0.]])
    self.assertAllClose(dci.disentanglement_per_code(importance), [0., 1.], atol=1e-9)
    self.assertAllClose(dci.completeness_per_factor(importance),
                        [1. - _binary_entropy_bits(1. / 3.), 1.], atol=1e-9)
    self.assertAllClose(dci.disentanglement(importance), 0.5, atol=1e-9)
    self.assertAllClose(dci.completeness(importance),
                        0.75 * (1. - _binary_entropy_bits(1. / 3.)) + 0.25, atol=1e-9)
    self.assertAllClose(dci.completeness(importance), 0.31127812445913283, atol=1e-9)

  def test_unused_code_has_no_weight(self):
    # Code 2 is used by no factor: its (uniform) row scores 0 but weighs 0.
    importance = np.array([[1., 0.], [0., 1.], [0., 0.]])
    self.assertAllClose(dci.disentanglement_per_code(importance)[2], 0., atol=1e-9)
    self.assertAllClose(dci.disentanglement(importance), 1., atol=1e-8)
    self.assertAllClose(dci.completeness(importance), 1., atol=1e-8)

  def test_all_zero_importance_scores_zero(self):
    scores = dci.scores_from_importance(np.zeros([3, 2]))
    self.assertAllClose([scores["disentanglement"], scores["completeness"]], [0., 0.], atol=1e-9)

  def test_single_factor_and_single_code(self):
    self.assertAllClose(dci.disentanglement(np.array([[1.], [3.]])), 1.)
    # One factor spread evenly over two codes: complete 0; one code: complete 1.
    self.assertAllClose(dci.completeness(np.array([[1.], [1.]])), 0., atol=1e-12)
    self.assertAllClose(dci.completeness(np.array([[2., 1.]])), 1.)

  def test_bad_importance_raises(self):
    with self.assertRaisesRegex(ValueError, "importance_matrix"):
      dci.disentanglement(np.array([[1., -1.]]))
    with self.assertRaisesRegex(ValueError, "importance_matrix"):
      dci.completeness(np.ones(3))


class DciKnownAnswersTest(tf.test.TestCase):
  """Fitted boosted trees on 400 training and 200 test points (measured over seeds 0-3)."""

  def _dci(self, codes, factors, n_jobs=1):
    return dci.dci_from_arrays(codes[:400], factors[:400], codes[400:], factors[400:],
                               n_jobs=n_jobs)

  def test_code_per_factor_is_disentangled_and_complete(self):
    factors, codes = _factors_and_codes(0)
    scores = self._dci(codes, factors)
    # Each tree splits only on its own code, so the importance matrix is exactly diagonal.
    self.assertAllClose(scores["disentanglement"], 1., atol=1e-8)
    self.assertAllClose(scores["completeness"], 1., atol=1e-8)
    self.assertEqual(scores["informativeness_train"], 1.)
    self.assertEqual(scores["informativeness_test"], 1.)

  def test_equal_mixture_is_informative_but_not_disentangled(self):
    factors, codes = _factors_and_codes(1)
    scores = self._dci(codes @ _EQUAL_MIX, factors)
    # Measured 0.07-0.21 (D) and 0.11-0.21 (C) over 4 seeds; test accuracy 0.97-0.985.
    self.assertLess(scores["disentanglement"], 0.35)
    self.assertLess(scores["completeness"], 0.35)
    self.assertGreater(scores["informativeness_test"], 0.9)

  def test_noise_codes_score_near_zero_and_chance(self):
    factors, _ = _factors_and_codes(2)
    noise = np.random.RandomState(5).randn(600, 3)
    scores = self._dci(noise, factors)
    # Measured D, C <= 0.007; test accuracy 0.36-0.38 (chance: 1/3, 1/4, 1/2 -> 0.36).
    self.assertLess(scores["disentanglement"], 0.05)
    self.assertLess(scores["completeness"], 0.05)
    self.assertAllClose(scores["informativeness_test"], (1 / 3 + 1 / 4 + 1 / 2) / 3, atol=0.07)


class BoostedTreesEqualReferenceTest(tf.test.TestCase):
  """The presorted, parallel boosted trees against scikit-learn's plain sequential loop."""

  @staticmethod
  def _plain_models(codes, factors, seed):
    return [ensemble.GradientBoostingClassifier(random_state=seed).fit(codes, factors[:, j])
            for j in range(factors.shape[1])]

  def _assert_same_models(self, expected, actual, codes, msg=None):
    self.assertLen(actual, len(expected))
    for a, b in zip(expected, actual):
      self.assertAllEqual(a.decision_function(codes), b.decision_function(codes), msg=msg)
      self.assertAllEqual(a.feature_importances_, b.feature_importances_, msg=msg)

  def test_presorted_boosting_is_verified_on_this_scikit_learn(self):
    self.assertTrue(boosted_trees.presorted_boosting_is_exact())

  def test_every_strategy_gives_the_reference_numbers(self):
    factors, codes = _factors_and_codes(3, num=450, noise=0.3)
    codes = (codes @ _EQUAL_MIX).astype(np.float32)  # every tree splits on several codes
    codes[:150, 1] = codes[150:300, 1]  # exact ties: the builder's introsort path
    train = codes[:300], factors[:300]
    plain = self._plain_models(*train, seed=11)
    expected = dci.scores_from_importance(dci.importance_matrix_of(plain, 3))
    expected["informativeness_train"] = float(np.mean(downstream.accuracy_per_factor(
        plain, *train)))
    expected["informativeness_test"] = float(np.mean(downstream.accuracy_per_factor(
        plain, codes[300:], factors[300:])))
    # Force each strategy at this small size by lowering its thresholds.
    for patches, strategy, n_jobs in (
        ({}, "sequential", 1),
        ({"_MIN_POINTS_FOR_STAGE_PARALLEL": 0, "_MIN_FACTOR_SCHEDULE_EFFICIENCY": 2.},
         "per_stage", 3),
        ({"_MIN_POINTS_FOR_STAGE_PARALLEL": 10 ** 9}, "per_factor", 2)):
      with mock.patch.multiple(boosted_trees, **patches) if patches else contextlib.nullcontext():
        self.assertEqual(boosted_trees.boosted_trees_strategy(300, [3, 4, 1], n_jobs), strategy)
        models = boosted_trees.fit_boosted_trees(*train, seed=11, n_jobs=n_jobs)
        self._assert_same_models(plain, models, codes, msg=strategy)
        actual = dci.dci_from_arrays(*train, codes[300:], factors[300:], n_jobs=n_jobs, seed=11)
        self.assertEqual(actual, expected, msg=strategy)

  def test_plain_models_when_the_builder_cannot_be_verified(self):
    factors, codes = _factors_and_codes(4, num=300, noise=0.3)
    codes = codes @ _EQUAL_MIX
    with mock.patch.object(boosted_trees, "presorted_boosting_is_exact", return_value=False):
      models = boosted_trees.fit_boosted_trees(codes, factors, seed=3, n_jobs=2)
    self.assertEqual({type(m) for m in models}, {ensemble.GradientBoostingClassifier})
    self._assert_same_models(self._plain_models(codes, factors, seed=3), models, codes)

  def test_strategy_choice(self):
    dsprites = [3, 6, 40, 32, 32]
    # Whole factors on 2 workers: loads 64 and 49 -> 113 / 128 busy.
    self.assertAllClose(boosted_trees.factor_schedule_efficiency(dsprites, 2), 113. / 128.)
    self.assertEqual(boosted_trees.boosted_trees_strategy(10000, dsprites, 2), "per_stage")
    self.assertEqual(boosted_trees.boosted_trees_strategy(10000, dsprites, 1), "sequential")
    self.assertEqual(boosted_trees.boosted_trees_strategy(1000, dsprites, 2), "per_factor")
    self.assertEqual(boosted_trees.boosted_trees_strategy(100, dsprites, 2), "sequential")
    self.assertEqual(boosted_trees.boosted_trees_strategy(10000, [10, 10], 2), "per_factor")
    self.assertEqual(boosted_trees.trees_per_stage(np.array([0, 1, 1])), 1)
    self.assertEqual(boosted_trees.trees_per_stage(np.array([0, 1, 2])), 3)


class ComputeDciTest(tf.test.TestCase):

  def test_wrapper_draws_train_then_test_then_seed(self):
    data = _FactorGrid()

    def representation(observations):
      return observations / (_SIZES - 1.) + 0.3 * np.sin(7. * observations[:, ::-1])

    scores = dci.compute_dci(data, representation, np.random.RandomState(4), num_train=200,
                             num_test=100, n_jobs=1)
    random_state = np.random.RandomState(4)
    train = utils.generate_batch_factor_code(data, representation, 200, random_state, 16)
    test = utils.generate_batch_factor_code(data, representation, 100, random_state, 16)
    seed = random_state.randint(boosted_trees.SEED_BOUND)
    self.assertEqual(scores, dci.dci_from_arrays(*train, *test, n_jobs=1, seed=seed))
    self.assertEqual(sorted(scores), ["completeness", "disentanglement",
                                      "informativeness_test", "informativeness_train"])

  def test_bad_inputs_raise(self):
    factors, codes = _factors_and_codes(0, num=60)
    with self.assertRaisesRegex(ValueError, "codes_test"):
      dci.dci_from_arrays(codes, factors, codes[:, :2], factors)
    constant = factors.copy()
    constant[:, 1] = 2
    with self.assertRaisesRegex(ValueError, "factor 1 takes the single value"):
      dci.dci_from_arrays(codes, constant, codes, constant)
    with self.assertRaisesRegex(ValueError, "n_jobs"):
      dci.dci_from_arrays(codes, factors, codes, factors, n_jobs=0)


if __name__ == "__main__":
  tf.test.main()
