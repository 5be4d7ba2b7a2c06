"""DCI: disentanglement, completeness and informativeness (Eastwood and Williams, ICLR 2018).

Definitions and defaults as in the reference study (disentanglement_lib, Locatello et al.,
ICML 2019): one default `GradientBoostingClassifier` per factor on the codes; its
`feature_importances_` form column j of the importance matrix R `[d, F]` (codes x factors).

* disentanglement = sum_i rho_i (1 - H_F(P_i)), P_i = row i of R normalised, rho_i the share of
  the total importance in row i, H_F the entropy in base F (number of factors);
* completeness = sum_j rho_j (1 - H_d(P_j)), P_j = column j normalised, rho_j the share of the
  total importance in column j, H_d the entropy in base d (number of codes). The reference
  weights the factors by their importance share exactly as it weights the codes (the original
  paper averages them); we follow the reference;
* informativeness_train / informativeness_test = mean accuracy of the classifiers (the
  reference calls these "errors" in its code but stores accuracies).

Like the reference, 1e-11 is added to every importance before normalising, so all-zero rows get
the uniform distribution (score 0) instead of NaN. With a single factor (or a single code) the
entropy in base 1 is undefined; the score of that row (column) is then 1.

Estimators (`dci.estimator`): "reference" (the default) fits the reference's boosted trees bit
for bit, built with presorted codes and in parallel (`boosted_trees.fit_boosted_trees`;
`n_jobs=1` builds them one after another). "histogram" fits scikit-learn's histogram gradient
boosting instead, about 40 times faster, with gain importances: close to the reference's
numbers (docs/BENCHMARKS.md measures how close) but not the same, so never compare the two
estimators' numbers as if they were one; results.json records the estimator as
`settings.dci.estimator`.
"""
import numpy as np
import scipy.stats

from common import validation
from evaluation.metrics import boosted_trees
from evaluation.metrics import downstream
from evaluation.metrics import utils

# The reference's smoothing of the importance distributions.
_IMPORTANCE_EPSILON = 1e-11


def _check_importance_matrix(importance_matrix):
  return validation.non_negative_matrix(importance_matrix, "importance_matrix",
                                        "num_codes, num_factors")


def _one_minus_entropy(distributions, base):
  """1 - entropy (in `base`) of every column of `distributions`, normalised like the reference."""
  if base == 1:
    return np.ones(distributions.shape[1])
  return 1.0 - scipy.stats.entropy(distributions + _IMPORTANCE_EPSILON, base=base)


def disentanglement_per_code(importance_matrix):
  """`[d]`: 1 - entropy (base F) of how each code's importance spreads over the factors."""
  importance_matrix = _check_importance_matrix(importance_matrix)
  return _one_minus_entropy(importance_matrix.T, importance_matrix.shape[1])


def completeness_per_factor(importance_matrix):
  """`[F]`: 1 - entropy (base d) of how each factor's importance spreads over the codes."""
  importance_matrix = _check_importance_matrix(importance_matrix)
  return _one_minus_entropy(importance_matrix, importance_matrix.shape[0])


def _importance_shares(importance_matrix, axis):
  # An all-zero matrix carries no preference: weight every row (column) equally, as the
  # reference does.
  if importance_matrix.sum() == 0.0:
    importance_matrix = np.ones_like(importance_matrix)
  return importance_matrix.sum(axis=axis) / importance_matrix.sum()


def disentanglement(importance_matrix):
  """Importance-weighted mean of `disentanglement_per_code`; importance_matrix `[d, F]`."""
  importance_matrix = _check_importance_matrix(importance_matrix)
  return float(np.sum(disentanglement_per_code(importance_matrix)
                      * _importance_shares(importance_matrix, axis=1)))


def completeness(importance_matrix):
  """Importance-weighted mean of `completeness_per_factor`; importance_matrix `[d, F]`."""
  importance_matrix = _check_importance_matrix(importance_matrix)
  return float(np.sum(completeness_per_factor(importance_matrix)
                      * _importance_shares(importance_matrix, axis=0)))


def importance_matrix_of(models, num_codes):
  """`[d, F]` absolute feature importances of one fitted model per factor."""
  importance = np.zeros([num_codes, len(models)], dtype=np.float64)
  for j, model in enumerate(models):
    importance[:, j] = np.abs(boosted_trees.feature_importances(model))
  return importance


def scores_from_importance(importance_matrix):
  """{"disentanglement", "completeness"} of an importance matrix `[d, F]`."""
  return {"disentanglement": disentanglement(importance_matrix),
          "completeness": completeness(importance_matrix)}


def dci_from_arrays(codes_train, factors_train, codes_test, factors_test, n_jobs=None, seed=0,
                    estimator="reference"):
  """DCI scores of given training and test sets.

  Args:
    codes_train, factors_train: `[N_train, d]`, `[N_train, F]` (factor values are class labels).
    codes_test, factors_test: `[N_test, d]`, `[N_test, F]`.
    n_jobs: threads for the boosted trees (numbers do not depend on it); None or -1 for every
      CPU.
    seed: random_state of every boosted-tree model.
    estimator: "reference" or "histogram" (see the module docstring).

  Returns:
    dict with disentanglement, completeness, informativeness_train, informativeness_test.
  """
  boosted_trees.check_estimator(estimator)
  codes_train, factors_train, codes_test, factors_test = downstream.check_train_test(
      codes_train, factors_train, codes_test, factors_test)
  models = boosted_trees.fit_boosted_trees(codes_train, factors_train, seed=seed, n_jobs=n_jobs,
                                           estimator=estimator)
  importance = importance_matrix_of(models, codes_train.shape[1])
  scores = scores_from_importance(importance)
  scores["informativeness_train"] = float(np.mean(
      downstream.accuracy_per_factor(models, codes_train, factors_train)))
  scores["informativeness_test"] = float(np.mean(
      downstream.accuracy_per_factor(models, codes_test, factors_test)))
  return scores


def compute_dci(ground_truth_data, representation_function, random_state, num_train=10000,
                num_test=5000, batch_size=16, n_jobs=None, estimator="reference"):
  """DCI of a representation, with the reference defaults.

  Draws the training set, then the test set, in batches of `batch_size` (the reference's order),
  then the boosted trees' seed from `random_state` (the reference left the trees unseeded).

  Returns:
    dict with disentanglement, completeness, informativeness_train, informativeness_test.
  """
  boosted_trees.check_estimator(estimator)
  codes_train, factors_train = utils.generate_batch_factor_code(
      ground_truth_data, representation_function, num_train, random_state, batch_size)
  codes_test, factors_test = utils.generate_batch_factor_code(
      ground_truth_data, representation_function, num_test, random_state, batch_size)
  seed = int(random_state.randint(boosted_trees.SEED_BOUND))
  return dci_from_arrays(codes_train, factors_train, codes_test, factors_test, n_jobs=n_jobs,
                         seed=seed, estimator=estimator)
