"""Unified scores: three code-factor matrices, each aggregated the ways DCI, MIG, SAP and
modularity aggregate theirs, as in disentanglement_lib 1.5 (`unified_scores`, Locatello et al.,
JMLR 2020).

A matrix M `[d, F]` says how strongly code i relates to factor j:

* `importance_gbt_matrix`: DCI's importances, `feature_importances_` of one default
  `GradientBoostingClassifier` per factor (`dci`);
* `mutual_information_matrix`: MIG's and modularity's discrete mutual information, each code
  in `num_bins` equal-width bins (`mig`);
* `accuracy_svm_matrix`: SAP's test accuracy of a LinearSVC (C = 0.01, balanced) of factor j
  on code i alone (`sap`).

Each matrix gets every aggregation (definitions of the reference):

* `dci_disentanglement`, `dci_completeness` (and `dci`, the disentanglement again, as the
  reference writes it): DCI's scores of M; `dci_disentanglement_code_{i}` per code and
  `dci_completeness_code_{j}` per *factor* j (the reference's name);
* `mig`: mean over factors of (largest - second largest entry of column j) / H(factor j),
  `mig_factor_{j}` per factor;
* `sap`: mean over factors of largest - second largest entry of column j, `sap_factor_{j}`;
* `modularity`: modularity of M, `modularity_code_{i}` per code;
* `area_precision`, `max_precision`: keep the entries of M at or above a threshold t as edges
  of a graph between codes and factors; precision(t) is the number of its connected
  components with at least one edge. Over the thresholds t = the entries of M in decreasing
  order, `max_precision` is the largest precision and `area_precision` the trapezoidal area
  under precision(t).

Result keys: `{matrix}_{key}`, the reference's `{matrix}.{key}` with every '.' replaced by '_'
(e.g. `importance_gbt_matrix.dci_disentanglement.code_0` ->
`importance_gbt_matrix_dci_disentanglement_code_0`).

The reference requires the matrices and the sizes; the defaults here are all three matrices
and DCI's 10,000 training and 5,000 test points (20 bins, as MIG). Where the reference fails:
a single code has no second-best entry (taken as 0, as `mig` and `sap` do), and a single
factor gives modularity 1 for every informative code (as `modularity_explicitness`); a factor
that takes a single value in the training set is refused (the boosted trees and H(factor)
need two). The boosted trees get a seed drawn from the random state after all points (the
reference left them unseeded); the points are the reference's.
"""
import numpy as np

from common import validation
from evaluation.metrics import boosted_trees
from evaluation.metrics import dci
from evaluation.metrics import modularity_explicitness
from evaluation.metrics import sap
from evaluation.metrics import utils

MATRICES = ("importance_gbt_matrix", "mutual_information_matrix", "accuracy_svm_matrix")


def importance_gbt_matrix(codes_train, factors_train, seed=0, n_jobs=None):
  """`[d, F]` boosted-tree importances (DCI's importance matrix)."""
  models = boosted_trees.fit_boosted_trees(codes_train, factors_train, seed=seed, n_jobs=n_jobs)
  return dci.importance_matrix_of(models, codes_train.shape[1])


def mutual_information_matrix(codes_train, factors_train, num_bins=20):
  """`[d, F]` discrete mutual information (nats) of the binned codes with the factors."""
  return utils.discrete_mutual_info(utils.discretize(codes_train, num_bins), factors_train)


def accuracy_svm_matrix(codes_train, factors_train, codes_test, factors_test):
  """`[d, F]` test accuracy of a LinearSVC of each factor on each single code (SAP's)."""
  return sap.sap_score_matrix(codes_train, factors_train, codes_test, factors_test,
                              continuous_factors=False)


def _top_two_gap(matrix):
  """Per column: the largest entry minus the second largest (0 if there is one row)."""
  ordered = np.sort(matrix, axis=0)
  second = ordered[-2] if matrix.shape[0] > 1 else np.zeros(matrix.shape[1])
  return ordered[-1] - second


def modularity_per_code(matrix):
  """`[d]`: 1 - sum of the squared non-maximal entries of row i / (max^2 (F - 1)); a row of
  zeros scores 0, and with one factor every other row scores 1."""
  squared = np.square(matrix)
  largest = squared.max(axis=1)
  if matrix.shape[1] == 1:
    return np.where(largest > 0, 1.0, 0.0)
  with np.errstate(divide="ignore", invalid="ignore"):
    deviation = (squared.sum(axis=1) - largest) / (largest * (matrix.shape[1] - 1))
  return np.where(largest > 0, 1.0 - deviation, 0.0)


def count_components(matrix, threshold):
  """Connected components, with at least one edge, of the code-factor graph whose edges are
  the nonzero entries of `matrix [d, F]` at or above `threshold`."""
  num_codes, num_factors = matrix.shape
  parent = list(range(num_codes + num_factors))

  def root(node):
    while parent[node] != node:
      parent[node] = parent[parent[node]]
      node = parent[node]
    return node

  edges = np.argwhere((matrix >= threshold) & (matrix != 0))
  for code, factor in edges:
    parent[root(code)] = root(num_codes + factor)
  return len({root(code) for code in set(edges[:, 0].tolist())})


def precision_scores(matrix):
  """{"area_precision", "max_precision"} of `matrix [d, F]` (see the module docstring)."""
  thresholds = np.sort(matrix, axis=None)[::-1]
  precision = np.array([count_components(matrix, t) for t in thresholds], dtype=np.float64)
  area = np.sum(0.5 * (precision[:-1] + precision[1:]) * (thresholds[:-1] - thresholds[1:]))
  return {"area_precision": float(area), "max_precision": float(np.max(precision))}


def aggregate(matrix, factors_train):
  """Every aggregation of a `[d, F]` matrix (keys without the matrix prefix)."""
  matrix = validation.non_negative_matrix(matrix, "matrix", "num_codes, num_factors")
  if factors_train.shape[1] != matrix.shape[1]:
    raise ValueError(f"factors_train: expected {matrix.shape[1]} factors (the matrix's "
                     f"columns), got {factors_train.shape[1]}")
  scores = precision_scores(matrix)
  disentanglement = dci.disentanglement(matrix)
  scores.update({"dci_disentanglement": disentanglement,
                 "dci_completeness": dci.completeness(matrix), "dci": disentanglement})
  for i, value in enumerate(dci.disentanglement_per_code(matrix)):
    scores[f"dci_disentanglement_code_{i}"] = float(value)
  for j, value in enumerate(dci.completeness_per_factor(matrix)):
    scores[f"dci_completeness_code_{j}"] = float(value)
  mig_per_factor = _top_two_gap(matrix) / utils.discrete_entropy(factors_train)
  scores["mig"] = float(np.mean(mig_per_factor))
  scores.update({f"mig_factor_{j}": float(v) for j, v in enumerate(mig_per_factor)})
  sap_per_factor = _top_two_gap(matrix)
  scores["sap"] = float(np.mean(sap_per_factor))
  scores.update({f"sap_factor_{j}": float(v) for j, v in enumerate(sap_per_factor)})
  scores["modularity"] = modularity_explicitness.modularity(matrix)
  scores.update({f"modularity_code_{i}": float(v)
                 for i, v in enumerate(modularity_per_code(matrix))})
  return scores


def unified_scores_from_arrays(codes_train, factors_train, codes_test, factors_test,
                               matrices=MATRICES, num_bins=20, n_jobs=None, seed=0):
  """Unified scores of given training and test sets.

  Args:
    codes_train, factors_train: `[N, d]`, `[N, F]` (factor values are class labels; every
      factor must take at least two values).
    codes_test, factors_test: `[M, d]`, `[M, F]` (used by the two predictive matrices).
    matrices: names from MATRICES.
    num_bins: bins per code of the mutual information matrix.
    n_jobs: threads for the boosted trees (numbers do not depend on it).
    seed: random_state of every boosted-tree model.

  Returns:
    dict with keys `{matrix}_{key}` (see the module docstring).
  """
  matrices = _check_matrices(matrices)
  num_bins = validation.positive_int(num_bins, "num_bins")
  codes_train, factors_train = utils.check_codes_factors(codes_train, factors_train,
                                                         "codes_train", "factors_train")
  codes_test, factors_test = utils.check_codes_factors(codes_test, factors_test, "codes_test",
                                                       "factors_test")
  if codes_test.shape[1] != codes_train.shape[1] or factors_test.shape[1] != \
      factors_train.shape[1]:
    raise ValueError(f"codes_test, factors_test: expected {codes_train.shape[1]} codes and "
                     f"{factors_train.shape[1]} factors like the training arrays, got "
                     f"{codes_test.shape[1]} and {factors_test.shape[1]}")
  constant = np.flatnonzero(~utils.non_constant_columns(factors_train))
  if constant.size:
    raise ValueError(f"factors_train: factor {constant[0]} takes a single value in the "
                     "training set; every factor needs at least two")
  scores = {}
  for name in matrices:
    if name == "importance_gbt_matrix":
      matrix = importance_gbt_matrix(codes_train, factors_train, seed=seed, n_jobs=n_jobs)
    elif name == "mutual_information_matrix":
      matrix = mutual_information_matrix(codes_train, factors_train, num_bins=num_bins)
    else:
      matrix = accuracy_svm_matrix(codes_train, factors_train, codes_test, factors_test)
    scores.update({f"{name}_{key}": value
                   for key, value in aggregate(matrix, factors_train).items()})
  return scores


def _check_matrices(matrices):
  matrices = (matrices,) if isinstance(matrices, str) else tuple(matrices)
  if not matrices:
    raise ValueError(f"matrices: expected at least one of {', '.join(MATRICES)}")
  for name in matrices:
    validation.one_of(name, MATRICES, "matrices")
  if len(set(matrices)) != len(matrices):
    raise ValueError(f"matrices={list(matrices)}: expected each matrix at most once")
  return matrices


def compute_unified_scores(ground_truth_data, representation_function, random_state,
                           num_train=10000, num_test=5000, matrices=MATRICES, num_bins=20,
                           batch_size=16, n_jobs=None):
  """Unified scores of a representation.

  Draws the training set, then the test set, `batch_size` at a time (the reference's order),
  then the boosted trees' seed.

  Returns:
    dict with keys `{matrix}_{key}` (see the module docstring).
  """
  matrices = _check_matrices(matrices)
  codes_train, factors_train = utils.generate_batch_factor_code(
      ground_truth_data, representation_function, num_train, random_state, batch_size)
  codes_test, factors_test = utils.generate_batch_factor_code(
      ground_truth_data, representation_function, num_test, random_state, batch_size)
  seed = int(random_state.randint(boosted_trees.SEED_BOUND))
  return unified_scores_from_arrays(codes_train, factors_train, codes_test, factors_test,
                                    matrices=matrices, num_bins=num_bins, n_jobs=n_jobs,
                                    seed=seed)
