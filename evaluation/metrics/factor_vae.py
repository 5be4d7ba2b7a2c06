"""FactorVAE score (Kim & Mnih, 2018, "Disentangling by Factorising").

Global variances of every code come from `num_variance_estimate` random observations (unbiased,
ddof=1). Codes whose global standard deviation is below `prune_threshold` (0.05 in the reference
study's configuration: `prune_dims.threshold = 0.05`, applied to the standard deviation) are
collapsed and ignored. One point: draw a factor index k, a batch of factors with factor k fixed
to one value, and find the active code with the smallest variance over the batch relative to its
global variance; the (k, code) pair is one vote. A majority-vote classifier maps each code to the
factor it got most votes from (ties: lowest factor index); the score is its accuracy on the
training votes and on fresh evaluation votes. Reference defaults: batches of 64, 10,000 training
and 5,000 evaluation points, 10,000 points for the global variances.

Edge cases: with no active code both accuracies are 0 (the reference's rule). A code with zero
global variance is never active, even with `prune_threshold=0` (its ratio would be 0/0). The
reference reports the total number of codes as `num_active_dims`; here it is the active count.
"""

import numpy as np

from common import validation
from evaluation import progress
from evaluation.metrics import utils

_OBSERVATIONS_PER_CALL = 1024
# Calls whose codes are collected before their variances are computed (bounds the memory).
_CALLS_PER_BLOCK = 16
_VARIANCE_BATCH_SIZE = 64
_NO_ACTIVE_CODES = {"train_accuracy": 0., "eval_accuracy": 0., "num_active_dims": 0.}


def active_codes(global_variances, prune_threshold):
  """Mask `[d]` of codes whose global standard deviation reaches `prune_threshold` (and is > 0)."""
  return (np.sqrt(global_variances) >= prune_threshold) & (global_variances > 0.)


def local_variances(batch_codes):
  """Unbiased variance of each code within each batch: `[P, B, d]` -> `[P, d]` (needs B >= 2)."""
  batch_codes = np.asarray(batch_codes, dtype=np.float64)
  if batch_codes.ndim != 3 or batch_codes.shape[1] < 2:
    raise ValueError(f"batch_codes: expected shape [points, batch >= 2, codes], got "
                     f"{batch_codes.shape}")
  if not np.all(np.isfinite(batch_codes)):
    raise ValueError("batch_codes: expected finite values, found NaN or Inf")
  return np.var(batch_codes, axis=1, ddof=1)


def factor_vae(global_codes, train_local_variances, train_fixed_factors, eval_local_variances,
               eval_fixed_factors, num_factors, prune_threshold=0.05):
  """FactorVAE score from global codes and per-batch variances.

  Args:
    global_codes: `[M, d]` codes of random observations (global variances).
    train_local_variances: `[P, d]` variances within batches with one factor fixed
      (see `local_variances`).
    train_fixed_factors: `[P]` index of the factor fixed in each batch.
    eval_local_variances: `[Q, d]`.
    eval_fixed_factors: `[Q]`.
    num_factors: number of factors F (indices must lie in [0, F)).
    prune_threshold: codes with global standard deviation below this are ignored.

  Returns:
    dict with `train_accuracy`, `eval_accuracy`, `num_active_dims`.
  """
  global_codes = utils.check_codes(global_codes, "global_codes")
  if global_codes.shape[0] < 2:
    raise ValueError(f"global_codes: expected at least 2 points, got {global_codes.shape[0]}")
  num_factors = validation.positive_int(num_factors, "num_factors")
  _check_threshold(prune_threshold)
  global_variances = np.var(global_codes, axis=0, ddof=1)
  active = active_codes(global_variances, prune_threshold)
  if not np.any(active):
    return dict(_NO_ACTIVE_CODES)
  train_votes = factor_vae_votes(train_local_variances, train_fixed_factors, global_variances,
                                 active, num_factors, "train")
  eval_votes = factor_vae_votes(eval_local_variances, eval_fixed_factors, global_variances,
                                active, num_factors, "eval")
  majority_factor = np.argmax(train_votes, axis=0)
  codes = np.arange(train_votes.shape[1])
  return {
      "train_accuracy": float(train_votes[majority_factor, codes].sum() / train_votes.sum()),
      "eval_accuracy": float(eval_votes[majority_factor, codes].sum() / eval_votes.sum()),
      "num_active_dims": float(np.sum(active)),
  }


def _check_threshold(prune_threshold):
  if not np.isscalar(prune_threshold) or not prune_threshold >= 0.:
    raise ValueError(f"prune_threshold: expected a number >= 0, got {prune_threshold!r}")


def factor_vae_votes(variances, fixed_factors, global_variances, active, num_factors,
                     prefix="train"):
  """Vote counts `[F, d]`: row = fixed factor, column = active code of least relative variance."""
  variances = utils.check_codes(variances, f"{prefix}_local_variances")
  fixed_factors = np.asarray(fixed_factors)
  if variances.shape[1] != global_variances.shape[0]:
    raise ValueError(f"{prefix}_local_variances: expected {global_variances.shape[0]} columns "
                     f"like global_codes, got {variances.shape[1]}")
  if fixed_factors.shape != (variances.shape[0],):
    raise ValueError(f"{prefix}_fixed_factors: expected shape [{variances.shape[0]}], got "
                     f"{fixed_factors.shape}")
  if (not np.issubdtype(fixed_factors.dtype, np.integer) or np.any(fixed_factors < 0)
      or np.any(fixed_factors >= num_factors)):
    raise ValueError(f"{prefix}_fixed_factors: expected integer indices in [0, {num_factors})")
  active_index = np.flatnonzero(active)
  ratio = variances[:, active_index] / global_variances[active_index]
  chosen = active_index[np.argmin(ratio, axis=1)]
  votes = np.zeros([num_factors, global_variances.shape[0]], dtype=np.int64)
  np.add.at(votes, (fixed_factors, chosen), 1)
  return votes


def sample_factor_vae_points(ground_truth_data, representation_function, batch_size, num_points,
                             random_state, stage="training"):
  """Draws `num_points` batches, each with one factor fixed, in the reference's order of draws.

  Per point: the factor index, the batch of factors, then its observations.

  Returns:
    `(local_variances [num_points, d], fixed_factors [num_points] int64)`.
  """
  num_points = validation.positive_int(num_points, "num_points")
  batch_size = validation.positive_int(batch_size, "batch_size")
  if batch_size < 2:
    raise ValueError(f"batch_size: expected at least 2 to estimate a variance, got {batch_size}")
  validation.random_state(random_state)
  num_factors = utils.num_factors_of(ground_truth_data)
  points_per_call = max(1, _OBSERVATIONS_PER_CALL // batch_size)
  points_per_block = points_per_call * _CALLS_PER_BLOCK
  variances, fixed = [], []
  for block_start in range(0, num_points, points_per_block):
    collector = utils.code_collector(representation_function)
    block_end = min(block_start + points_per_block, num_points)
    for start in range(block_start, block_end, points_per_call):
      for _ in range(min(points_per_call, block_end - start)):
        index = random_state.randint(num_factors)
        factors = ground_truth_data.sample_factors(batch_size, random_state)
        factors[:, index] = factors[0, index]
        collector.add(ground_truth_data, factors, random_state)
        fixed.append(index)
      collector.end_call()
    codes = collector.codes()
    variances.append(local_variances(codes.reshape(-1, batch_size, codes.shape[-1])))
    progress.report(f"{stage} points", block_end, num_points)
  return np.concatenate(variances, axis=0), np.asarray(fixed, dtype=np.int64)


def compute_factor_vae(ground_truth_data, representation_function, random_state, batch_size=64,
                       num_train=10000, num_eval=5000, num_variance_estimate=10000,
                       prune_threshold=0.05):
  """FactorVAE score with the reference defaults (gin: `factor_vae_score.*`).

  Args:
    ground_truth_data: a `GroundTruthData`.
    representation_function: observations `[B, ...]` -> codes `[B, d]`.
    random_state: `np.random.RandomState` for all draws.
    batch_size: observations per batch with one factor fixed.
    num_train: training votes.
    num_eval: evaluation votes.
    num_variance_estimate: observations for the global variances.
    prune_threshold: minimum global standard deviation of an active code.

  Returns:
    dict with `train_accuracy`, `eval_accuracy`, `num_active_dims`.
  """
  num_variance_estimate = validation.positive_int(num_variance_estimate, "num_variance_estimate")
  if num_variance_estimate < 2:
    raise ValueError(f"num_variance_estimate: expected at least 2, got {num_variance_estimate}")
  _check_threshold(prune_threshold)
  validation.random_state(random_state)
  collector = utils.code_collector(representation_function)
  collector.add_sample_observations(ground_truth_data, num_variance_estimate, random_state,
                                    _VARIANCE_BATCH_SIZE)
  global_codes = utils.check_codes(collector.codes(), "global_codes")
  if not np.any(active_codes(np.var(global_codes, axis=0, ddof=1), prune_threshold)):
    # The reference returns before drawing any batch; so does this.
    return dict(_NO_ACTIVE_CODES)
  train = sample_factor_vae_points(ground_truth_data, representation_function, batch_size,
                                   num_train, random_state)
  evaluation = sample_factor_vae_points(ground_truth_data, representation_function, batch_size,
                                        num_eval, random_state, stage="evaluation")
  return factor_vae(global_codes, *train, *evaluation, utils.num_factors_of(ground_truth_data),
                    prune_threshold)
