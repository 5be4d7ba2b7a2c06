"""Reduced downstream: removing a factor's own code leaves it at chance and the others
predictable; duplicated codes leak until both copies are gone, rotated codes always;
the removal order follows the importances; the wrapper's draws and keys."""
import numpy as np
import tensorflow as tf

from evaluation.metrics import reduced_downstream
from evaluation.metrics import utils

import scaled_grid

_SIZES = np.array([3, 4, 2])


def _factors(seed, num=400):
  rs = np.random.RandomState(seed)
  return np.stack([rs.randint(k, size=num) for k in _SIZES], axis=1)


def _split(codes, factors, num_train=250):
  return codes[:num_train], factors[:num_train], codes[num_train:], factors[num_train:]


def _noisy(factors, seed, noise=0.02):
  scaled = factors / (_SIZES - 1.0)
  return scaled + noise * np.random.RandomState(seed).normal(size=scaled.shape)


class ReducedDownstreamKnownAnswersTest(tf.test.TestCase):

  def test_codes_equal_to_the_factors(self):
    factors = _factors(0)
    codes = np.column_stack([_noisy(factors, 1), np.random.RandomState(2).normal(size=400)])
    scores = reduced_downstream.reduced_downstream_from_arrays(*_split(codes, factors),
                                                               n_jobs=1)
    # Without its own code a factor is independent of what is left: chance on the test set
    # (1/3, 1/4, 1/2; 150 test points, measured within 0.07); the other factors keep theirs: 1.
    for f, chance in enumerate(1.0 / _SIZES):
      self.assertAllClose(scores[f"reduced_factor_{f}_mean_test_accuracy_reduced_factor"],
                          chance, atol=0.1, msg=f)
      self.assertEqual(scores[f"reduced_factor_{f}_mean_test_accuracy_non_reduced_factor"], 1.0)
    self.assertEqual(scores["mean_test_accuracy_other_factors"], 1.0)
    self.assertAllClose(scores["mean_test_accuracy_reduced_factor"], np.mean(1.0 / _SIZES),
                        atol=0.06)
    # The trees memorize their training points whatever is left.
    self.assertEqual(scores["mean_train_accuracy_other_factors"], 1.0)
    self.assertEqual(len(scores), 3 * (2 + 2 * 3 + 2) + 4)

  def test_duplicated_codes_leak_until_both_copies_are_removed(self):
    factors = _factors(3)
    copies = np.column_stack([_noisy(factors, 4), _noisy(factors, 5)])
    one = reduced_downstream.reduced_downstream_from_arrays(*_split(copies, factors), n_jobs=1)
    self.assertEqual(one["mean_test_accuracy_reduced_factor"], 1.0)
    two = reduced_downstream.reduced_downstream_from_arrays(*_split(copies, factors),
                                                            num_factors_to_remove=2, n_jobs=1)
    self.assertAllClose(two["mean_test_accuracy_reduced_factor"], np.mean(1.0 / _SIZES),
                        atol=0.06)
    self.assertEqual(two["mean_test_accuracy_other_factors"], 1.0)

  def test_rotated_codes_leak_the_removed_factor(self):
    factors = _factors(6)
    rotation = np.linalg.qr(np.random.RandomState(7).normal(size=(3, 3)))[0]
    rotated = _noisy(factors, 8) @ rotation
    scores = reduced_downstream.reduced_downstream_from_arrays(*_split(rotated, factors),
                                                               n_jobs=1)
    # Every code mixes all factors, so the two codes left still tell the removed factor
    # (measured 0.96; rotation seeds 8 and 9: 0.94 and 0.67), where disentangled codes fall to
    # chance (0.36 on average): the reduced task's sign of entanglement.
    self.assertGreater(scores["mean_test_accuracy_reduced_factor"], 0.8)
    self.assertGreater(scores["mean_test_accuracy_other_factors"], 0.9)

  def test_the_most_important_code_goes_first(self):
    factors = _factors(9)
    # Factor 0 is code 2 exactly; code 0 is a blurred copy of it; code 1 is noise.
    rs = np.random.RandomState(10)
    codes = np.column_stack([factors[:, 0] + 0.6 * rs.normal(size=400), rs.normal(size=400),
                             factors[:, 0].astype(float)])
    self.assertEqual(reduced_downstream.most_important_codes(codes, factors[:, :1],
                                                             n_jobs=1).tolist(), [2])
    self.assertEqual(reduced_downstream.most_important_codes(codes[:, :2], factors[:, :1],
                                                             n_jobs=1).tolist(), [0])

  def test_logistic_regression_predictor(self):
    factors = _factors(11)
    one_hot = np.concatenate([np.eye(k)[factors[:, j]] for j, k in enumerate(_SIZES)], axis=1)
    codes = one_hot + 0.05 * np.random.RandomState(12).normal(size=one_hot.shape)
    scores = reduced_downstream.reduced_downstream_from_arrays(
        *_split(codes, factors), predictor="logistic_regression_cv", n_jobs=1)
    # One of a factor's one-hot codes goes; the others still tell its value apart.
    self.assertEqual(scores["mean_test_accuracy_other_factors"], 1.0)
    self.assertGreater(scores["mean_test_accuracy_reduced_factor"], 0.6)

  def test_bad_input(self):
    factors = _factors(13, num=60)
    codes = _noisy(factors, 14)
    with self.assertRaisesRegex(ValueError, "num_factors_to_remove=3: expected fewer than the 3 "
                                            "codes"):
      reduced_downstream.reduced_downstream_from_arrays(*_split(codes, factors, 40),
                                                        num_factors_to_remove=3)
    with self.assertRaisesRegex(ValueError, "predictor='svm'"):
      reduced_downstream.reduced_downstream_from_arrays(*_split(codes, factors, 40),
                                                        predictor="svm")


class WrapperTest(tf.test.TestCase):

  def test_reference_draw_order_and_keys(self):
    data = scaled_grid.ScaledGridData(_SIZES)
    scores = reduced_downstream.compute_reduced_downstream(
        data, lambda x: x, np.random.RandomState(5), num_train=(40, 80), num_test=30, n_jobs=1)
    random_state = np.random.RandomState(5)
    drawn = [(size, utils.generate_batch_factor_code(data, lambda x: x, size, random_state, 16),
              utils.generate_batch_factor_code(data, lambda x: x, 30, random_state, 16))
             for size in (40, 80)]
    seed = random_state.randint(2**31 - 1)
    expected = {}
    for size, train, test in drawn:
      direct = reduced_downstream.reduced_downstream_from_arrays(*train, *test, n_jobs=1,
                                                                 seed=seed)
      expected.update({f"{size}_{key}": value for key, value in direct.items()})
    self.assertEqual(scores, expected)
    self.assertIn("80_reduced_factor_2_mean_test_accuracy_factor_1", scores)


if __name__ == "__main__":
  tf.test.main()
