"""Downstream prediction: perfect codes predict every factor, noise predicts at chance, the
parallel fits give the sequential numbers, the wrapper keeps the reference's draws and keys, and
the boosted trees' histogram estimator is an option of its own."""
import numpy as np
import tensorflow as tf

from evaluation.metrics import boosted_trees
from evaluation.metrics import downstream
from evaluation.metrics import utils

_SIZES = np.array([3, 4, 2])
_CHANCE = 1. / _SIZES


def _factors(seed, num=500):
  rs = np.random.RandomState(seed)
  return np.stack([rs.randint(k, size=num) for k in _SIZES], axis=1)


def _one_hot_codes(factors, seed):
  """One code per factor value plus a little noise: linearly separable for every factor."""
  codes = np.concatenate([np.eye(k)[factors[:, j]] for j, k in enumerate(_SIZES)], axis=1)
  return codes + 0.05 * np.random.RandomState(seed).randn(*codes.shape)


class _FactorGrid:
  factors_num_values = tuple(_SIZES)

  def sample(self, num, random_state):
    factors = np.stack([random_state.randint(k, size=num) for k in self.factors_num_values], 1)
    return factors, factors.astype(np.float32)


def _split(codes, factors, num_train=300):
  return codes[:num_train], factors[:num_train], codes[num_train:], factors[num_train:]


class KnownAnswersTest(tf.test.TestCase):
  """300 training and 200 test points; noise tolerances from seeds 0-2 (per-factor test
  accuracies were within 0.07 of chance, their mean within 0.035)."""

  def test_perfect_codes_are_predicted_exactly(self):
    factors = _factors(0)
    for predictor, codes in (("logistic_regression_cv", _one_hot_codes(factors, 1)),
                             ("gradient_boosting_classifier",
                              factors / (_SIZES - 1.) + 0.05 * np.random.RandomState(1).randn(
                                  500, 3))):
      scores = downstream.downstream_from_arrays(*_split(codes, factors), predictor=predictor,
                                                 n_jobs=1)
      self.assertEqual(scores["min_test_accuracy"], 1., msg=predictor)
      self.assertEqual(scores["mean_train_accuracy"], 1., msg=predictor)

  def test_noise_codes_predict_at_chance(self):
    factors = _factors(1)
    noise = np.random.RandomState(2).randn(500, 4)
    for predictor in downstream.PREDICTORS:
      scores = downstream.downstream_from_arrays(*_split(noise, factors), predictor=predictor,
                                                 n_jobs=1)
      per_factor = [scores[f"test_accuracy_factor_{i}"] for i in range(3)]
      self.assertAllClose(per_factor, _CHANCE, atol=0.12, msg=predictor)
      self.assertAllClose(scores["mean_test_accuracy"], np.mean(_CHANCE), atol=0.07,
                          msg=predictor)

  def test_histogram_estimator(self):
    factors = _factors(4)
    codes = factors / (_SIZES - 1.) + 0.05 * np.random.RandomState(1).randn(500, 3)
    perfect = downstream.downstream_from_arrays(
        *_split(codes, factors), predictor="gradient_boosting_classifier", n_jobs=1,
        estimator="histogram")
    # Not 1 as the reference: 300 distinct codes in 255 quantile bins put some bin edges inside
    # a class, which one-point leaves then follow (measured per factor: train 0.997, 1, 1;
    # test 0.995, 0.965, 0.985).
    self.assertGreater(perfect["min_train_accuracy"], 0.99)
    self.assertGreater(perfect["min_test_accuracy"], 0.95)
    noisy = codes + 0.5 * np.random.RandomState(2).randn(500, 3)
    scores = {estimator: downstream.downstream_from_arrays(
        *_split(noisy, factors), predictor="gradient_boosting_classifier", n_jobs=1,
        estimator=estimator) for estimator in ("reference", "histogram")}
    self.assertNotEqual(scores["histogram"], scores["reference"])
    # Measured: mean test accuracies 0.603 (reference) and 0.607 (histogram).
    self.assertAllClose(scores["histogram"]["mean_test_accuracy"],
                        scores["reference"]["mean_test_accuracy"], atol=0.05)

  def test_multinomial_option(self):
    factors = _factors(2)
    scores = downstream.downstream_from_arrays(*_split(_one_hot_codes(factors, 3), factors),
                                               predictor="logistic_regression_cv",
                                               multiclass="multinomial", n_jobs=2)
    self.assertEqual(scores["min_test_accuracy"], 1.)

  def test_summary_keys_agree_with_per_factor_accuracies(self):
    factors = _factors(3)
    codes = factors / (_SIZES - 1.) + 0.4 * np.random.RandomState(4).randn(500, 3)
    scores = downstream.downstream_from_arrays(*_split(codes, factors),
                                               predictor="logistic_regression_cv", n_jobs=1)
    expected_keys = {"mean_train_accuracy", "mean_test_accuracy", "min_train_accuracy",
                     "min_test_accuracy"}
    expected_keys |= {f"{split}_accuracy_factor_{i}" for split in ("train", "test")
                      for i in range(3)}
    self.assertEqual(set(scores), expected_keys)
    for split in ("train", "test"):
      values = [scores[f"{split}_accuracy_factor_{i}"] for i in range(3)]
      self.assertAllClose(scores[f"mean_{split}_accuracy"], np.mean(values), atol=1e-15)
      self.assertEqual(scores[f"min_{split}_accuracy"], min(values))
      self.assertBetween(min(values), 0.3, 1.)


class ParallelTest(tf.test.TestCase):

  def test_parallel_logistic_regression_equals_sequential(self):
    factors = _factors(5, num=400)
    codes = factors / (_SIZES - 1.) + 0.3 * np.random.RandomState(6).randn(400, 3)
    for multiclass in downstream.MULTICLASS_MODES:
      sequential = downstream.downstream_from_arrays(
          *_split(codes, factors), predictor="logistic_regression_cv", n_jobs=1,
          multiclass=multiclass)
      parallel = downstream.downstream_from_arrays(
          *_split(codes, factors), predictor="logistic_regression_cv", n_jobs=2,
          multiclass=multiclass)
      self.assertEqual(parallel, sequential, msg=multiclass)

  def test_resolve_n_jobs(self):
    self.assertGreaterEqual(boosted_trees.resolve_n_jobs(None), 1)
    self.assertEqual(boosted_trees.resolve_n_jobs(-1), boosted_trees.resolve_n_jobs(None))
    self.assertEqual(boosted_trees.resolve_n_jobs(3), 3)
    with self.assertRaisesRegex(ValueError, "n_jobs"):
      boosted_trees.resolve_n_jobs(0)


class WrapperTest(tf.test.TestCase):

  def test_reference_draw_order_and_key_names(self):
    data = _FactorGrid()

    def representation(observations):
      return observations / (_SIZES - 1.) + 0.2 * np.cos(5. * observations)

    scores = downstream.compute_downstream_boosted_trees(
        data, representation, np.random.RandomState(7), num_train=(20, 60), num_test=50,
        n_jobs=1)
    random_state = np.random.RandomState(7)
    draws = []
    for size in (20, 60):
      draws.append(utils.generate_batch_factor_code(data, representation, size, random_state, 16)
                   + utils.generate_batch_factor_code(data, representation, 50, random_state,
                                                      16))
    seed = random_state.randint(boosted_trees.SEED_BOUND)
    expected = {}
    for size, arrays in zip((20, 60), draws):
      result = downstream.downstream_from_arrays(
          *arrays, predictor="gradient_boosting_classifier", n_jobs=1, seed=seed)
      expected.update({f"{size}_{key}": value for key, value in result.items()})
    self.assertEqual(scores, expected)
    self.assertIn("60_mean_test_accuracy", scores)
    self.assertIn("20_test_accuracy_factor_2", scores)
    self.assertLen(scores, 2 * 10)
    fast = downstream.compute_downstream_boosted_trees(
        data, representation, np.random.RandomState(7), num_train=(60,), num_test=50, n_jobs=1,
        estimator="histogram")
    # Drawn as the wrapper draws for num_train=(60,) alone.
    random_state = np.random.RandomState(7)
    alone = (utils.generate_batch_factor_code(data, representation, 60, random_state, 16)
             + utils.generate_batch_factor_code(data, representation, 50, random_state, 16))
    expected = downstream.downstream_from_arrays(
        *alone, predictor="gradient_boosting_classifier", n_jobs=1,
        seed=random_state.randint(boosted_trees.SEED_BOUND), estimator="histogram")
    self.assertEqual(fast, {f"60_{key}": value for key, value in expected.items()})

  def test_logistic_regression_wrapper(self):
    scores = downstream.compute_downstream_logistic_regression(
        _FactorGrid(), lambda obs: _one_hot_codes(np.asarray(obs, dtype=int), 0),
        np.random.RandomState(8), num_train=100, num_test=100, n_jobs=1)
    self.assertEqual(scores["100_min_test_accuracy"], 1.)

  def test_bad_inputs_raise(self):
    factors = _factors(9, num=40)
    codes = factors.astype(float)
    with self.assertRaisesRegex(ValueError, "predictor"):
      downstream.downstream_from_arrays(codes, factors, codes, factors, predictor="svm")
    with self.assertRaisesRegex(ValueError, "multiclass"):
      downstream.downstream_from_arrays(codes, factors, codes, factors, multiclass="ovo")
    with self.assertRaisesRegex(ValueError, "estimator: expected one of"):
      downstream.downstream_from_arrays(codes, factors, codes, factors,
                                        predictor="gradient_boosting_classifier",
                                        estimator="fast")
    with self.assertRaisesRegex(ValueError, "factors_test"):
      downstream.downstream_from_arrays(codes, factors, codes, factors[:, :2])
    constant = factors.copy()
    constant[:, 0] = 1
    with self.assertRaisesRegex(ValueError, "factor 0 takes the single value"):
      downstream.downstream_from_arrays(codes, constant, codes, constant)


if __name__ == "__main__":
  tf.test.main()
