"""Mutual Information Gap (Chen et al., 2018, "Isolating Sources of Disentanglement in VAEs").

For each factor v_k: the gap between the largest and the second largest mutual information
I(z_j; v_k) over the codes, divided by H(v_k); MIG is the mean over factors. Estimator of the
reference study: every code is discretized into 20 equal-width bins and the mutual information is
that of the empirical joint distribution (nats).

Edge cases (the reference divides by H(v_k) unguarded and returns NaN when a factor is constant):
* A factor that takes a single value in the sample (H = 0) carries no information to gap; it is
  left out of the mean. If every factor is constant, MIG is undefined and a ValueError is raised.
* With a single code there is no second-best code; its mutual information is taken as 0, so the
  gap is I(z_1; v_k) / H(v_k).
* A constant code lands in one bin and has zero mutual information with every factor.
"""

import numpy as np

from evaluation.metrics import utils


def mig(codes, factors, num_bins=20):
  """Mutual Information Gap of codes with respect to discrete factors.

  Args:
    codes: `[N, d]` finite codes (e.g. posterior means).
    factors: `[N, F]` discrete factor values.
    num_bins: histogram bins per code for the discretization.

  Returns:
    dict with `discrete_mig` (float, in [0, 1]).
  """
  codes, factors = utils.check_codes_factors(codes, factors)
  informative = utils.non_constant_columns(factors)
  if not np.any(informative):
    raise ValueError("factors: expected at least one factor that takes more than one value")
  factors = factors[:, informative]
  mutual_info = utils.discrete_mutual_info(utils.discretize(codes, num_bins), factors)
  entropy = utils.discrete_entropy(factors)
  return {"discrete_mig": float(np.mean(_top_two_gap(mutual_info) / entropy))}


def _top_two_gap(matrix):
  """Per column of `matrix [d, F]`: largest minus second largest entry (the latter 0 if d = 1)."""
  ordered = np.sort(matrix, axis=0)[::-1]
  second = ordered[1] if ordered.shape[0] > 1 else np.zeros(ordered.shape[1])
  return ordered[0] - second


def compute_mig(ground_truth_data, representation_function, random_state, num_train=10000,
                batch_size=16, num_bins=20):
  """Samples `num_train` points, encodes them and computes `mig` (reference defaults).

  Args:
    ground_truth_data: a `GroundTruthData`.
    representation_function: observations `[B, ...]` -> codes `[B, d]`.
    random_state: `np.random.RandomState` for all draws.
    num_train: number of points.
    batch_size: points per sampling/encoding call (changes the order of random draws).
    num_bins: histogram bins per code.

  Returns:
    dict with `discrete_mig`.
  """
  codes, factors = utils.generate_batch_factor_code(
      ground_truth_data, representation_function, num_train, random_state, batch_size)
  return mig(codes, factors, num_bins=num_bins)
