"""Unified scores: hand-computed precision curves and aggregations, codes equal to the factors
score near the perfect values in every matrix, rotated and duplicated codes lower, and the
wrapper's draws and keys."""
import numpy as np
import tensorflow as tf

from evaluation.metrics import unified_scores
from evaluation.metrics import utils

import scaled_grid

_SIZES = np.array([3, 4, 5])


def _factors(seed, num=500):
  rs = np.random.RandomState(seed)
  return np.stack([rs.randint(k, size=num) for k in _SIZES], axis=1)


def _noisy(factors, seed, noise=0.02):
  scaled = factors / (_SIZES - 1.0)
  return scaled + noise * np.random.RandomState(seed).normal(size=scaled.shape)


def _split(codes, factors, num_train=300):
  return codes[:num_train], factors[:num_train], codes[num_train:], factors[num_train:]


class AggregationTest(tf.test.TestCase):

  def test_precision_curve_of_a_hand_matrix(self):
    matrix = np.array([[0.9, 0.0, 0.0], [0.0, 0.8, 0.1], [0.0, 0.0, 0.7]])
    # Thresholds 0.9, 0.8, 0.7, 0.1, then five 0s: 1, 2, 3 components with an edge; at 0.1
    # code 1 joins factor 2 and code 2 (2 components); zero entries are no edges (still 2).
    self.assertEqual([unified_scores.count_components(matrix, t)
                      for t in (0.9, 0.8, 0.7, 0.1, 0.0)], [1, 2, 3, 2, 2])
    scores = unified_scores.precision_scores(matrix)
    # Trapezoids: 1.5 * 0.1 + 2.5 * 0.1 + 2.5 * 0.6 + 2 * 0.1 = 2.1.
    self.assertAllClose(scores["area_precision"], 2.1, atol=1e-12)
    self.assertEqual(scores["max_precision"], 3.0)

  def test_aggregations_of_a_hand_matrix(self):
    matrix = np.array([[0.6, 0.0], [0.2, 0.0], [0.0, 0.3]])
    factors = np.array([[0, 0], [1, 0], [0, 1], [1, 1]])  # H = log 2 each
    scores = unified_scores.aggregate(matrix, factors)
    self.assertAllClose(scores["sap_factor_0"], 0.4)
    self.assertAllClose(scores["sap_factor_1"], 0.3)
    self.assertAllClose(scores["sap"], 0.35)
    self.assertAllClose(scores["mig_factor_0"], 0.4 / np.log(2))
    self.assertAllClose(scores["mig"], 0.35 / np.log(2))
    # Every code talks to one factor only: modularity 1 per code.
    self.assertAllClose([scores[f"modularity_code_{i}"] for i in range(3)], [1.0, 1.0, 1.0])
    self.assertAllClose(scores["modularity"], 1.0)
    # Codes are pure (disentanglement 1 each, up to the reference's 1e-11 smoothing); factor 0
    # spreads 3:1 over two of three codes: 1 - H(0.75, 0.25) / log 3.
    self.assertAllClose(scores["dci_disentanglement"], 1.0, atol=1e-8)
    self.assertEqual(scores["dci"], scores["dci_disentanglement"])
    entropy = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25)) / np.log(3)
    self.assertAllClose(scores["dci_completeness_code_0"], 1.0 - entropy, atol=1e-8)
    self.assertAllClose(scores["dci_completeness"], (0.8 * (1 - entropy) + 0.3) / 1.1,
                        atol=1e-8)
    mixed = unified_scores.modularity_per_code(np.array([[0.6, 0.3], [0.0, 0.0]]))
    self.assertAllClose(mixed, [1.0 - 0.09 / 0.36, 0.0])

  def test_single_code_and_single_factor(self):
    factors = np.array([[0, 0], [1, 1], [2, 0], [0, 1]])
    one_code = unified_scores.aggregate(np.array([[0.5, 0.2]]), factors)
    self.assertAllClose(one_code["sap"], 0.35)  # no second code: the gap to 0
    one_factor = unified_scores.aggregate(np.array([[0.5], [0.0]]), factors[:, :1])
    self.assertAllClose([one_factor["modularity_code_0"], one_factor["modularity_code_1"]],
                        [1.0, 0.0])


class UnifiedScoresKnownAnswersTest(tf.test.TestCase):

  def scores(self, codes, factors):
    return unified_scores.unified_scores_from_arrays(*_split(codes, factors), n_jobs=1)

  def test_codes_equal_to_the_factors(self):
    factors = _factors(0)
    scores = self.scores(_noisy(factors, 1), factors)
    self.assertLen(scores, 3 * (2 + 3 + 3 + 3 + 3 * (1 + 3)))  # 23 keys per matrix
    # Each code alone determines its factor, and nothing else: the importance matrix is
    # nearly diagonal, the mutual information of a code with its factor is the factor's
    # entropy (its values fall in separate bins) and with the others a small plug-in bias
    # (measured: DCI 1.0 and 1.0, MIG 0.96, modularity 0.999). A linear SVM on one code with
    # C = 0.01 separates few classes, so that matrix has low values everywhere (modularity
    # 0.65), but its largest entries are still each factor's own code.
    self.assertGreater(scores["importance_gbt_matrix_dci_disentanglement"], 0.95)
    self.assertGreater(scores["importance_gbt_matrix_dci_completeness"], 0.95)
    self.assertGreater(scores["mutual_information_matrix_mig"], 0.95)
    self.assertGreater(scores["mutual_information_matrix_modularity"], 0.99)
    self.assertGreater(scores["accuracy_svm_matrix_modularity"], 0.5)
    # One component per factor once the thresholds are above the off-diagonal entries.
    for matrix in unified_scores.MATRICES:
      self.assertEqual(scores[f"{matrix}_max_precision"], 3.0, msg=matrix)

  def test_rotated_and_duplicated_codes_score_lower(self):
    factors = _factors(2)
    rotation = np.linalg.qr(np.random.RandomState(3).normal(size=(3, 3)))[0]
    perfect = self.scores(_noisy(factors, 4), factors)
    rotated = self.scores(_noisy(factors, 4) @ rotation, factors)
    # Measured (perfect / rotated): DCI 1.0 / 0.46, MIG 0.96 / 0.46, modularity 1.0 / 0.74,
    # SVM SAP 0.26 / 0.07, areas under the precision curves 2.5 / 1.4, 3.7 / 2.1, 0.87 / 0.37
    # (rotation seeds 4 and 5 give gaps of the same size).
    for key, gap in (("importance_gbt_matrix_dci_disentanglement", 0.3),
                     ("mutual_information_matrix_mig", 0.3),
                     ("mutual_information_matrix_modularity", 0.15),
                     ("accuracy_svm_matrix_sap", 0.1),
                     ("importance_gbt_matrix_area_precision", 0.5),
                     ("mutual_information_matrix_area_precision", 0.8),
                     ("accuracy_svm_matrix_area_precision", 0.25)):
      self.assertLess(rotated[key], perfect[key] - gap, msg=key)
    # Every factor in two codes: no gap between the best two codes (MIG and SAP near 0), while
    # each code still talks to one factor only (modularity stays near 1), as the reference's
    # tests of duplicated latents say.
    duplicated = self.scores(np.column_stack([_noisy(factors, 5), _noisy(factors, 6)]), factors)
    self.assertLess(duplicated["mutual_information_matrix_mig"], 0.1)
    self.assertLess(duplicated["accuracy_svm_matrix_sap"], 0.1)
    self.assertGreater(duplicated["mutual_information_matrix_modularity"], 0.95)

  def test_matrices_setting_and_bad_input(self):
    factors = _factors(7, num=120)
    codes = _noisy(factors, 8)
    only_mi = unified_scores.unified_scores_from_arrays(
        *_split(codes, factors, 80), matrices=("mutual_information_matrix",))
    self.assertTrue(all(k.startswith("mutual_information_matrix_") for k in only_mi))
    self.assertLen(only_mi, 23)
    for kwargs, message in (({"matrices": ("gbt",)}, "matrices='gbt'"),
                            ({"matrices": ()}, "at least one of"),
                            ({"num_bins": 0}, "num_bins=0")):
      with self.subTest(message):
        with self.assertRaisesRegex(ValueError, message):
          unified_scores.unified_scores_from_arrays(*_split(codes, factors, 80), **kwargs)
    constant = factors.copy()
    constant[:, 1] = 2
    with self.assertRaisesRegex(ValueError, "factors_train: factor 1 takes a single value"):
      unified_scores.unified_scores_from_arrays(*_split(codes, constant, 80))


class WrapperTest(tf.test.TestCase):

  def test_reference_draw_order(self):
    data = scaled_grid.ScaledGridData(_SIZES)
    scores = unified_scores.compute_unified_scores(data, lambda x: x, np.random.RandomState(3),
                                                   num_train=120, num_test=60, n_jobs=1)
    random_state = np.random.RandomState(3)
    train = utils.generate_batch_factor_code(data, lambda x: x, 120, random_state, 16)
    test = utils.generate_batch_factor_code(data, lambda x: x, 60, random_state, 16)
    seed = random_state.randint(2**31 - 1)
    self.assertEqual(scores, unified_scores.unified_scores_from_arrays(*train, *test, n_jobs=1,
                                                                       seed=seed))


if __name__ == "__main__":
  tf.test.main()
