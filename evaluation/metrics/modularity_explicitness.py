"""Modularity and explicitness (Ridgeway & Zemel, 2018, "Learning Deep Disentangled Embeddings
With the F-Statistic Loss").

Modularity: with m[i, k] = I(z_i; v_k) (20-bin histogram of each code, nats) and
theta_i = max_k m[i, k], code i scores 1 - sum_{k != argmax} m[i, k]^2 / (theta_i^2 (F - 1));
a code with no information about any factor scores 0 (the reference's rule); the score is the
mean over codes.

Explicitness: for each factor a one-vs-rest logistic regression predicts its value from all codes
(standardized with the training mean and standard deviation); the score is the ROC AUC of the
predicted class probabilities, macro-averaged over the factor's classes, then averaged over
factors, on the training and on the test points. The classifier is the reference's
`LogisticRegression()` of its scikit-learn version (see `utils.reference_logistic_regression`).

Edge cases (where the reference returns NaN or crashes):
* A factor that takes a single value in the training sample is left out of both scores; if every
  factor is constant, a ValueError is raised.
* With a single informative factor, modularity is 1 for every code that carries information.
* A constant code is not rescaled (its standard deviation is 0); it carries no information.
* A class that has no positive or no negative point in a set is left out of that set's macro
  average; a factor with no such class in the test set is left out of the test mean (NaN if
  that leaves none).
"""

import numpy as np

from evaluation import progress
from evaluation.metrics import independent_fits
from evaluation.metrics import utils


def modularity_explicitness(codes, factors, codes_test, factors_test, num_bins=20):
  """Modularity (training points) and explicitness (training and test points).

  Args:
    codes: `[N, d]` training codes.
    factors: `[N, F]` training factors (discrete).
    codes_test: `[M, d]` test codes.
    factors_test: `[M, F]` test factors.
    num_bins: histogram bins per code for the mutual information.

  Returns:
    dict with `modularity_score`, `explicitness_score_train`, `explicitness_score_test`.
  """
  codes, factors, codes_test, factors_test = utils.check_train_test_informative(
      codes, factors, codes_test, factors_test)

  mutual_info = utils.discrete_mutual_info(utils.discretize(codes, num_bins), factors)
  scores = {"modularity_score": modularity(mutual_info)}

  mean = codes.mean(axis=0)
  stddev = codes.std(axis=0)
  stddev[stddev == 0.] = 1.
  codes, codes_test = (codes - mean) / stddev, (codes_test - mean) / stddev
  # One independent fit per factor, in worker processes.
  progress.report("explicitness: fitting logistic regressions")
  aucs = utils.map_in_processes(independent_fits.explicitness_per_factor, [
      (codes, factors[:, k], codes_test, factors_test[:, k]) for k in range(factors.shape[1])])
  auc_train, auc_test = [train for train, _ in aucs], [test for _, test in aucs]
  scores["explicitness_score_train"] = float(np.nanmean(auc_train))
  auc_test = np.array(auc_test)
  scores["explicitness_score_test"] = (
      float(np.nanmean(auc_test)) if np.any(np.isfinite(auc_test)) else float("nan"))
  return scores


def modularity(mutual_info):
  """Modularity score from a mutual information matrix `[d, F]` (see module doc) -> float."""
  squared = np.square(np.asarray(mutual_info, dtype=np.float64))
  largest = squared.max(axis=1)
  rest = squared.sum(axis=1) - largest
  num_others = squared.shape[1] - 1
  with np.errstate(divide="ignore", invalid="ignore"):
    deviation = rest / (largest * num_others) if num_others else np.zeros_like(rest)
  per_code = np.where(largest > 0., 1. - deviation, 0.)
  return float(np.mean(per_code))


# One fit per factor (in `independent_fits`, which worker processes import cheaply).
explicitness_per_factor = independent_fits.explicitness_per_factor


def compute_modularity_explicitness(ground_truth_data, representation_function, random_state,
                                    num_train=10000, num_test=5000, batch_size=16, num_bins=20):
  """Samples training then test points, encodes them and computes `modularity_explicitness`.

  Args:
    ground_truth_data: a `GroundTruthData`.
    representation_function: observations `[B, ...]` -> codes `[B, d]`.
    random_state: `np.random.RandomState` for all draws.
    num_train: training points.
    num_test: test points.
    batch_size: points per sampling/encoding call (changes the order of random draws).
    num_bins: histogram bins per code.

  Returns:
    dict with `modularity_score`, `explicitness_score_train`, `explicitness_score_test`.
  """
  codes, factors = utils.generate_batch_factor_code(
      ground_truth_data, representation_function, num_train, random_state, batch_size)
  codes_test, factors_test = utils.generate_batch_factor_code(
      ground_truth_data, representation_function, num_test, random_state, batch_size)
  return modularity_explicitness(codes, factors, codes_test, factors_test, num_bins=num_bins)
