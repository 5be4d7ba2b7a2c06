"""Separated Attribute Predictability (Kumar et al., 2018, "Variational Inference of
Disentangled Latent Concepts from Unlabeled Observations").

A score matrix S[j, k] says how well code j alone predicts factor k; SAP is the mean over factors
of the difference between the two largest entries of column k. Estimator of the reference study:
* discrete factors (default): S[j, k] is the test accuracy of a linear SVM (LinearSVC, C=0.01,
  balanced class weights) trained on the single code j;
* continuous factors: S[j, k] is the squared correlation of code j and factor k on the training
  points (0 for a code with variance below 1e-12).
The reference used scikit-learn's LinearSVC default of that time, the dual liblinear solver; it is
spelled out here (with a fixed seed for liblinear's coordinate order instead of global state).

Edge cases:
* A factor that takes a single value in the training sample is left out of the mean (the
  reference crashes in the discrete case and divides by zero in the continuous one). If every
  factor is constant, a ValueError is raised.
* With a single code there is no second-best code; its score is taken as 0.
"""

import numpy as np

from evaluation import progress
from evaluation.metrics import independent_fits
from evaluation.metrics import utils


def sap(codes, factors, codes_test, factors_test, continuous_factors=False):
  """SAP score of codes with respect to factors.

  Args:
    codes: `[N, d]` training codes.
    factors: `[N, F]` training factors.
    codes_test: `[M, d]` test codes (used only for discrete factors).
    factors_test: `[M, F]` test factors.
    continuous_factors: score with squared correlation instead of SVM accuracy.

  Returns:
    dict with `SAP_score` (float, in [0, 1]).
  """
  codes, factors, codes_test, factors_test = utils.check_train_test_informative(
      codes, factors, codes_test, factors_test)
  matrix = sap_score_matrix(codes, factors, codes_test, factors_test, continuous_factors)
  ordered = np.sort(matrix, axis=0)[::-1]
  second = ordered[1] if ordered.shape[0] > 1 else np.zeros(ordered.shape[1])
  return {"SAP_score": float(np.mean(ordered[0] - second))}


def sap_score_matrix(codes, factors, codes_test, factors_test, continuous_factors=False):
  """Score matrix `[d, F]`: how well each single code predicts each factor (see module doc)."""
  num_codes, num_factors = codes.shape[1], factors.shape[1]
  if continuous_factors:
    return np.array([[_squared_correlation(codes[:, j], factors[:, k])
                      for k in range(num_factors)] for j in range(num_codes)])
  # The d * F fits are independent: one task per code, in worker processes.
  progress.report("fitting linear SVMs")
  rows = utils.map_in_processes(independent_fits.svm_accuracies, [
      (np.ascontiguousarray(codes[:, j]), factors, np.ascontiguousarray(codes_test[:, j]),
       factors_test) for j in range(num_codes)])
  return np.array(rows, dtype=np.float64).reshape(num_codes, num_factors)


def _squared_correlation(code, factor):
  covariance = np.cov(code, factor.astype(np.float64), ddof=1)
  if covariance[0, 0] <= 1e-12:
    return 0.
  return covariance[0, 1]**2 / (covariance[0, 0] * covariance[1, 1])


def compute_sap(ground_truth_data, representation_function, random_state, num_train=10000,
                num_test=5000, batch_size=16, continuous_factors=False):
  """Samples training then test points, encodes them and computes `sap` (reference defaults).

  Args:
    ground_truth_data: a `GroundTruthData`.
    representation_function: observations `[B, ...]` -> codes `[B, d]`.
    random_state: `np.random.RandomState` for all draws.
    num_train: training points.
    num_test: test points.
    batch_size: points per sampling/encoding call (changes the order of random draws).
    continuous_factors: see `sap`.

  Returns:
    dict with `SAP_score`.
  """
  codes, factors = utils.generate_batch_factor_code(
      ground_truth_data, representation_function, num_train, random_state, batch_size)
  codes_test, factors_test = utils.generate_batch_factor_code(
      ground_truth_data, representation_function, num_test, random_state, batch_size)
  return sap(codes, factors, codes_test, factors_test, continuous_factors=continuous_factors)
