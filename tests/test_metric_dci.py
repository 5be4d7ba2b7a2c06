"""DCI: the entropy scores on hand-made importance matrices, known-answer codes, the presorted,
parallel boosted trees giving exactly the numbers of scikit-learn's plain loop (repeated points
included), and the histogram estimator: close to the reference, but its own numbers."""
import contextlib
import json
import os
from unittest import mock

import gin
import numpy as np
import tensorflow as tf
from sklearn import ensemble

import identity_factors
from evaluation import evaluate
from gin_edge import evaluation as gin_evaluation
from evaluation import trained_model
from evaluation.metrics import boosted_trees
from evaluation.metrics import dci
from evaluation.metrics import downstream
from evaluation.metrics import presorted_tree
from evaluation.metrics import utils
from studies import report as study_report
from studies.report import table as report_table

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

  def test_repeated_points_give_the_reference_numbers_with_either_builder(self):
    # Points drawn from a factor grid repeat: copies with their original's label (ties the
    # builder may ignore) and, as when two factor values render the same image, copies with
    # another label (whose order it must know, or leave to scikit-learn's builder).
    factors, codes = _factors_and_codes(6, num=400, noise=0.3)
    codes = (codes @ _EQUAL_MIX).astype(np.float32)
    codes[300:360] = codes[:60]
    factors[300:330] = factors[:30]
    plain = self._plain_models(codes, factors, seed=5)
    self.assertGreater(presorted_tree.mixed_repeats(
        presorted_tree.presort(codes), (factors[:, 0] == 1).astype(float)), 3)
    for limit in (0, 3, 10 ** 9):  # always, sometimes, never scikit-learn's own trees
      with mock.patch.object(presorted_tree, "MAX_MIXED_REPEATS", limit):
        models = boosted_trees.fit_boosted_trees(codes, factors, seed=5, n_jobs=1)
      self._assert_same_models(plain, models, codes, msg=f"limit {limit}")

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


class HistogramEstimatorTest(tf.test.TestCase):
  """`estimator="histogram"`: scikit-learn's histogram gradient boosting, gain importances."""

  def _dci(self, codes, factors, **kwargs):
    return dci.dci_from_arrays(codes[:400], factors[:400], codes[400:], factors[400:],
                               estimator="histogram", **kwargs)

  def test_known_answers(self):
    factors, codes = _factors_and_codes(0)
    scores = self._dci(codes, factors, n_jobs=1)
    # Each factor's own code separates it, and the first splits take nearly all the gain; the
    # 255 quantile bins of 400 points do not all fall into the gaps between the classes.
    # Measured over seeds 0-3: D = C = 0.978-0.994, test accuracy 0.987-0.997.
    self.assertGreater(scores["disentanglement"], 0.95)
    self.assertGreater(scores["completeness"], 0.95)
    self.assertGreater(scores["informativeness_test"], 0.97)
    factors, _ = _factors_and_codes(2)
    noise = self._dci(np.random.RandomState(5).randn(600, 3), factors, n_jobs=1)
    # Measured D, C <= 0.009, test accuracy 0.34-0.38.
    self.assertLess(noise["disentanglement"], 0.05)
    self.assertAllClose(noise["informativeness_test"], (1 / 3 + 1 / 4 + 1 / 2) / 3, atol=0.07)

  def test_close_to_the_reference_but_not_the_same(self):
    factors, codes = _factors_and_codes(1)
    codes = codes @ _EQUAL_MIX
    reference = dci.dci_from_arrays(codes[:400], factors[:400], codes[400:], factors[400:],
                                    n_jobs=1, seed=3)
    histogram = self._dci(codes, factors, n_jobs=1, seed=3)
    self.assertNotEqual(histogram, reference)
    # Measured over seeds 1-4: differences up to 0.024 (D), 0.023 (C), 0.01 (test accuracy).
    for key in ("disentanglement", "completeness", "informativeness_test"):
      self.assertAllClose(histogram[key], reference[key], atol=0.05, msg=key)

  def test_threads_do_not_change_the_numbers(self):
    factors, codes = _factors_and_codes(3, noise=0.3)
    codes = codes @ _EQUAL_MIX
    self.assertEqual(self._dci(codes, factors, n_jobs=1), self._dci(codes, factors, n_jobs=3))

  def test_importances_are_gain_shares(self):
    factors, codes = _factors_and_codes(4, noise=0.3)
    models = boosted_trees.fit_boosted_trees(codes @ _EQUAL_MIX, factors, n_jobs=1,
                                             estimator="histogram")
    for model in models:
      importances = boosted_trees.feature_importances(model)
      self.assertAllClose(importances.sum(), 1., atol=1e-12)
      self.assertTrue(np.all(importances > 0))  # every code is split on


class StudyTableTest(tf.test.TestCase):
  """A study table never mixes the histogram estimator's numbers with the reference's."""

  def _write_run(self, output_dir, name, estimator, disentanglement):
    run_dir = os.path.join(output_dir, "runs", name)
    os.makedirs(os.path.join(run_dir, "evaluation"))
    os.makedirs(os.path.join(run_dir, "model"))
    config = {"name": name, "model": "beta_vae", "posterior": "factorized",
              "posterior_label": "factorized", "rho": 0.0, "encoder": "conv64", "seed": 0}
    results = {"dci.disentanglement": disentanglement, "dci.elapsed_seconds": 1.0,
               "mig.discrete_mig": 0.1, "settings.dci.estimator": estimator,
               "settings.dci.n_jobs": None}
    for path, record in (("DONE", {"config": config}), ("evaluation/results.json", results),
                         ("model/train_results.json", {"loss.elbo": 1.0})):
      with open(os.path.join(run_dir, path), "w") as f:
        json.dump(record, f)

  def test_histogram_numbers_get_columns_of_their_own(self):
    output_dir = self.get_temp_dir()
    self._write_run(output_dir, "a", "reference", 0.3)
    self._write_run(output_dir, "b", "histogram", 0.4)
    rows = {row["run"]: row for row in report_table.collect_rows(output_dir)}
    self.assertEqual(rows["a"]["dci.disentanglement"], 0.3)
    self.assertNotIn("dci_histogram.disentanglement", rows["a"])
    self.assertEqual(rows["b"]["dci_histogram.disentanglement"], 0.4)
    self.assertEqual(rows["b"]["dci_histogram.elapsed_seconds"], 1.0)
    self.assertNotIn("dci.disentanglement", rows["b"])
    self.assertEqual(rows["b"]["mig.discrete_mig"], 0.1)
    metrics = report_table.main_metrics_in(list(rows.values()))
    self.assertEqual(metrics, ["mig.discrete_mig", "dci.disentanglement",
                               "dci_histogram.disentanglement", "train.loss.elbo"])
    self.assertEqual(report_table.estimator_of("dci_histogram.disentanglement"), "histogram")
    self.assertIsNone(report_table.estimator_of("dci.disentanglement"))
    study_report.write_report(output_dir, plots=False, log_fn=lambda line: None)
    with open(os.path.join(output_dir, "summary.md")) as f:
      summary = f.read()
    self.assertIn("| dci.disentanglement | dci_histogram.disentanglement |", summary)
    self.assertIn('`dci` computed with the histogram estimator (`dci.estimator = "histogram"`)',
                  summary)


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
    fast = dci.compute_dci(data, representation, np.random.RandomState(4), num_train=200,
                           num_test=100, n_jobs=1, estimator="histogram")
    self.assertEqual(fast, dci.dci_from_arrays(*train, *test, n_jobs=1, seed=seed,
                                               estimator="histogram"))
    self.assertNotEqual(fast, scores)

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
    with self.assertRaisesRegex(ValueError, "estimator: expected one of"):
      dci.dci_from_arrays(codes, factors, codes, factors, estimator="lightgbm")
    with self.assertRaisesRegex(ValueError, "estimator"):
      dci.compute_dci(_FactorGrid(), lambda x: x, np.random.RandomState(0), estimator="fast")


class EvaluateRecordsTheEstimatorTest(tf.test.TestCase):
  """zoo-evaluate with `dci.estimator` bound in gin: other numbers, and results.json says why."""

  def setUp(self):
    super().setUp()
    gin.clear_config()

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def _evaluate(self, bindings):
    gin_evaluation.parse(gin_bindings=["dci.num_train = 200", "dci.num_test = 100",
                                       "dci.n_jobs = 1"] + bindings)

    def posterior_fn(x):  # factors mixed and bent: no code is one factor
      x = tf.cast(x, tf.float32)
      mean = tf.stack([x[:, 0] + 0.7 * tf.sin(3. * x[:, 1]), x[:, 1] - 0.5 * x[:, 0]], 1)
      return mean, tf.eye(2, batch_shape=[tf.shape(x)[0]]) * 1e-2

    model = trained_model.TrainedModel(posterior_fn, lambda x: x, None, 2, (2,),
                                       identity_factors.IdentityFactorsData(), "mixed")
    out = os.path.join(self.get_temp_dir(), "_".join(bindings) or "default")
    return evaluate.evaluate(model, out, ["dci"], seed=2, log_fn=lambda line: None,
                             settings=gin_evaluation.metric_settings(["dci"]))

  def test_histogram_numbers_carry_the_estimator_in_their_settings(self):
    reference = self._evaluate([])
    histogram = self._evaluate(['dci.estimator = "histogram"'])
    self.assertEqual(reference["settings.dci.estimator"], "reference")
    self.assertEqual(histogram["settings.dci.estimator"], "histogram")
    self.assertNotEqual(histogram["dci.disentanglement"], reference["dci.disentanglement"])
    with self.assertRaisesRegex(
        ValueError, r"^dci\.estimator: expected one of \('reference', 'histogram'\), got "
        r"'fast'$"):
      self._evaluate(['dci.estimator = "fast"'])


if __name__ == "__main__":
  tf.test.main()
