"""Interventional Robustness Score (Suter et al., 2019, "Robustly Disentangled Causal
Mechanisms: Validating Deep Representations for Interventional Robustness").

Estimator of the reference study: the factors are discretized with the same 20-bin histogram as
the codes in MIG (so factors with more than 20 values have neighbouring values merged). Constant
codes are dropped. For code j and factor k, with groups of points sharing a value of factor k,
  EMPIDA[j, k] = mean over groups of the `diff_quantile` quantile of |z_j - E[z_j | group]|,
  IRS[j, k] = 1 - EMPIDA[j, k] / max_n |z_j(n) - mean(z_j)|.
Code j scores max_k IRS[j, k]; IRS is the average of the code scores weighted by their maximal
deviation.

Edge cases: with no non-constant code, IRS is 0 (the reference's rule). The reference reports the
*sum of the code values* of the active codes as `num_active_dims`; here it is their count.
"""

import numpy as np

from evaluation.metrics import utils


def irs(codes, factors, diff_quantile=0.99, num_bins=20):
  """Interventional Robustness Score.

  Args:
    codes: `[N, d]` codes.
    factors: `[N, F]` factor values (discretized into `num_bins` bins per factor).
    diff_quantile: quantile of the within-group deviations, in (0, 1]; 1 gives the paper's max.
    num_bins: histogram bins per factor.

  Returns:
    dict with `IRS` (float, at most 1) and `num_active_dims` (number of non-constant codes).
  """
  codes, factors = utils.check_codes_factors(codes, factors)
  if not 0. < diff_quantile <= 1.:
    raise ValueError(f"diff_quantile: expected a number in (0, 1], got {diff_quantile!r}")
  factors_discrete = utils.discretize(factors, num_bins)
  active = codes[:, utils.non_constant_columns(codes)]
  if active.shape[1] == 0:
    return {"IRS": 0., "num_active_dims": 0.}
  return {"IRS": float(irs_matrix_and_score(factors_discrete, active, diff_quantile)[1]),
          "num_active_dims": float(active.shape[1])}


def irs_matrix_and_score(factors_discrete, codes, diff_quantile=0.99):
  """IRS matrix `[d, F]` and the weighted average score, for non-constant `codes [N, d]`."""
  max_deviation = np.max(np.abs(codes - codes.mean(axis=0)), axis=0)
  empida = np.zeros([codes.shape[1], factors_discrete.shape[1]])
  for k in range(factors_discrete.shape[1]):
    values = np.unique(factors_discrete[:, k])
    for value in values:
      group = codes[factors_discrete[:, k] == value]
      empida[:, k] += np.quantile(np.abs(group - group.mean(axis=0)), diff_quantile, axis=0)
    empida[:, k] /= len(values)
  matrix = 1. - empida / max_deviation[:, np.newaxis]
  score = np.average(matrix.max(axis=1), weights=max_deviation)
  return matrix, score


def compute_irs(ground_truth_data, representation_function, random_state, num_train=10000,
                batch_size=16, diff_quantile=0.99, num_bins=20):
  """Samples `num_train` points, encodes them and computes `irs` (reference defaults).

  Args:
    ground_truth_data: a `GroundTruthData`.
    representation_function: observations `[B, ...]` -> codes `[B, d]`.
    random_state: `np.random.RandomState` for all draws.
    num_train: number of points.
    batch_size: points per sampling/encoding call (changes the order of random draws).
    diff_quantile: see `irs`.
    num_bins: histogram bins per factor.

  Returns:
    dict with `IRS`, `num_active_dims`.
  """
  codes, factors = utils.generate_batch_factor_code(
      ground_truth_data, representation_function, num_train, random_state, batch_size)
  return irs(codes, factors, diff_quantile=diff_quantile, num_bins=num_bins)
