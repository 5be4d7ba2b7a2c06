"""Pieces shared by the disentanglement metrics.

Layout is points first everywhere: codes `[N, d]`, factors `[N, F]`. The estimators follow the
reference study's code (disentanglement_lib, Locatello et al., ICML 2019), which used the
transposed layout; only the layout differs, the numbers do not.
"""

import os

import joblib
import numpy as np
import threadpoolctl
from sklearn import metrics as sk_metrics

from common import validation
from evaluation import code_cache
from evaluation import progress
from evaluation.batching import apply_in_batches
from evaluation.metrics import independent_fits


def check_codes_factors(codes, factors, codes_name="codes", factors_name="factors"):
  """Validates a (codes, factors) pair; returns codes as float64 and factors as given.

  Args:
    codes: `[N, d]` finite numbers.
    factors: `[N, F]` factor values (any numeric type; they are used as class labels).
    codes_name, factors_name: names used in error messages.

  Returns:
    `(codes [N, d] float64, factors [N, F])`.
  """
  codes = check_codes(codes, codes_name)
  factors = check_factors(factors, factors_name)
  if codes.shape[0] != factors.shape[0]:
    raise ValueError(
        f"{codes_name} and {factors_name}: expected the same number of points (rows), got "
        f"{codes.shape[0]} and {factors.shape[0]}")
  return codes, factors


def check_codes(codes, name="codes"):
  """Returns `codes` as a float64 `[N, d]` array; ValueError unless 2-D, non-empty and finite."""
  codes = np.asarray(codes)
  if codes.ndim != 2:
    raise ValueError(f"{name}: expected a 2-D array [num_points, num_codes], got shape {codes.shape}")
  if codes.shape[0] == 0 or codes.shape[1] == 0:
    raise ValueError(f"{name}: expected at least one point and one code, got shape {codes.shape}")
  if not np.issubdtype(codes.dtype, np.number) or np.iscomplexobj(codes):
    raise ValueError(f"{name}: expected real numbers, got dtype {codes.dtype}")
  codes = codes.astype(np.float64)
  if not np.all(np.isfinite(codes)):
    raise ValueError(f"{name}: expected finite values, found NaN or Inf")
  return codes


def check_factors(factors, name="factors"):
  """Returns `factors` as a `[N, F]` array; ValueError unless 2-D, non-empty and finite."""
  factors = np.asarray(factors)
  if factors.ndim != 2:
    raise ValueError(
        f"{name}: expected a 2-D array [num_points, num_factors], got shape {factors.shape}")
  if factors.shape[0] == 0 or factors.shape[1] == 0:
    raise ValueError(f"{name}: expected at least one point and one factor, got shape {factors.shape}")
  if not np.issubdtype(factors.dtype, np.number) or np.iscomplexobj(factors):
    raise ValueError(f"{name}: expected real numbers, got dtype {factors.dtype}")
  if not np.all(np.isfinite(factors)):
    raise ValueError(f"{name}: expected finite values, found NaN or Inf")
  return factors


def non_constant_columns(values):
  """Boolean `[K]` mask of the columns of `values [N, K]` that take more than one value."""
  values = np.asarray(values)
  return np.any(values != values[:1], axis=0)


def discretize(codes, num_bins=20):
  """Histogram discretization of every column separately, as the reference study does.

  Each column gets `num_bins` equal-width bins spanning its own [min, max]; a value gets the
  index of the last left edge it reaches (np.digitize against all edges but the last), so
  indices run from 1 to num_bins. A constant column lands in a single bin.

  Args:
    codes: `[N, d]` finite numbers.
    num_bins: bins per column.

  Returns:
    int64 `[N, d]` bin indices.
  """
  codes = check_codes(codes)
  num_bins = validation.positive_int(num_bins, "num_bins")
  discretized = np.zeros(codes.shape, dtype=np.int64)
  for j in range(codes.shape[1]):
    edges = np.histogram(codes[:, j], num_bins)[1]
    discretized[:, j] = np.digitize(codes[:, j], edges[:-1])
  return discretized


def discrete_mutual_info(codes_discrete, factors):
  """Mutual information (nats) between every discrete code and every factor.

  Args:
    codes_discrete: `[N, d]` discrete values (e.g. from `discretize`).
    factors: `[N, F]` discrete factor values.

  Returns:
    `[d, F]` float64, entry (i, j) = I(code_i; factor_j) of the empirical joint distribution.
  """
  codes_discrete, factors = check_codes_factors(codes_discrete, factors, "codes_discrete")
  num_codes, num_factors = codes_discrete.shape[1], factors.shape[1]
  mi = np.zeros([num_codes, num_factors])
  for i in range(num_codes):
    for j in range(num_factors):
      mi[i, j] = sk_metrics.mutual_info_score(factors[:, j], codes_discrete[:, i])
  return mi


def discrete_entropy(factors):
  """Entropy (nats) of the empirical distribution of every column of `factors [N, F]` -> `[F]`."""
  factors = check_factors(factors)
  entropy = np.zeros(factors.shape[1])
  for j in range(factors.shape[1]):
    # I(y; y) = H(y); the same estimator as the mutual information keeps the two consistent.
    entropy[j] = sk_metrics.mutual_info_score(factors[:, j], factors[:, j])
  return entropy


def obtain_representation(observations, representation_function, batch_size):
  """Applies `representation_function` to `observations [N, ...]` in batches -> codes `[N, d]`."""
  codes = apply_in_batches(representation_function, observations, batch_size,
                           what="representation_function")
  return _as_code_batch(codes, len(observations))


def code_collector(representation_function):
  """Where a metric gets the codes of the observations it renders from factors.

  A representation function that offers `code_collector()` (zoo-evaluate's
  `evaluation.code_cache.CachedCodes`) returns its own, which caches and batches; any other is
  wrapped in `code_cache.CallByCall`, which renders and calls it exactly where the metric says.
  Either way: `add(data, factors, random_state)` renders a factor batch into the open call,
  `add_sample(data, num, random_state)` does `data.sample` and returns the factors,
  `add_sample_observations(data, num, random_state, call_size)` does
  `data.sample_observations`, `end_call()` marks where the metric calls the function, and
  `codes()` returns the codes of all rows in order.
  """
  make = getattr(representation_function, "code_collector", None)
  return make() if callable(make) else code_cache.CallByCall(representation_function)


def codes_of_factors(ground_truth_data, representation_function, factors, random_state,
                     batch_size):
  """Codes [N, d] of the observations rendered from factors [N, F] (one rendering call),
  encoded `batch_size` at a time."""
  collector = code_collector(representation_function)
  collector.add(ground_truth_data, factors, random_state, call_size=batch_size)
  return collector.codes()


def generate_batch_factor_code(ground_truth_data, representation_function, num_points,
                               random_state, batch_size):
  """Samples `num_points` (factors, observations) pairs in batches and encodes them.

  The draws come from `ground_truth_data.sample(batch, random_state)` in batches of
  `batch_size` (the last one shorter), the same sequence of calls as the reference study, so a
  given seed yields the same points.

  Returns:
    `(codes [num_points, d] float64, factors [num_points, F])`.
  """
  num_points = validation.positive_int(num_points, "num_points")
  batch_size = validation.positive_int(batch_size, "batch_size")
  validation.random_state(random_state)
  collector = code_collector(representation_function)
  factors = []
  done = 0
  while done < num_points:
    num_now = min(num_points - done, batch_size)
    factors.append(np.asarray(collector.add_sample(ground_truth_data, num_now, random_state)))
    collector.end_call()
    done += num_now
    if len(factors) % 64 == 0:
      progress.report("drawing and encoding points", done, num_points)
  return collector.codes(), np.concatenate(factors, axis=0)


def num_factors_of(ground_truth_data):
  """Number of ground-truth factors of a data set (length of `factors_num_values`)."""
  return len(ground_truth_data.factors_num_values)


def _as_code_batch(codes, expected_rows):
  codes = np.asarray(codes, dtype=np.float64)
  if codes.ndim != 2 or codes.shape[0] != expected_rows:
    raise ValueError(
        f"representation_function: expected codes of shape [{expected_rows}, d] for a batch of "
        f"{expected_rows} observations, got shape {codes.shape}")
  return codes


def map_in_processes(function, argument_lists):
  """[function(*arguments) for arguments in argument_lists] in worker processes, one per CPU,
  each with one BLAS thread.

  For independent scikit-learn fits: liblinear draws its coordinate order from a global random
  generator, so fits on threads would interleave their draws; processes keep every fit exactly
  what a sequential loop gives. The worker pool is started once per process and reused.
  """
  argument_lists = list(argument_lists)
  workers = min(len(argument_lists), len(os.sched_getaffinity(0))
                if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
  if workers <= 1:
    return [function(*arguments) for arguments in argument_lists]
  with threadpoolctl.threadpool_limits(1), \
       joblib.parallel_config(backend="loky", inner_max_num_threads=1):
    return joblib.Parallel(n_jobs=workers)(
        joblib.delayed(function)(*arguments) for arguments in argument_lists)


reference_logistic_regression = independent_fits.reference_logistic_regression


def check_train_test_informative(codes, factors, codes_test, factors_test):
  """Checks a train/test split and drops factors that take one value in the training set.

  Returns:
    (codes, factors, codes_test, factors_test) as checked arrays, factors restricted to the
    informative columns (ValueError if none is left).
  """
  codes, factors = check_codes_factors(codes, factors)
  codes_test, factors_test = check_codes_factors(codes_test, factors_test, "codes_test",
                                                 "factors_test")
  if codes_test.shape[1] != codes.shape[1] or factors_test.shape[1] != factors.shape[1]:
    raise ValueError(
        f"codes_test, factors_test: expected {codes.shape[1]} codes and {factors.shape[1]} "
        f"factors like the training arrays, got {codes_test.shape[1]} and {factors_test.shape[1]}")
  informative = non_constant_columns(factors)
  if not np.any(informative):
    raise ValueError("factors: expected at least one factor that takes more than one value")
  return codes, factors[:, informative], codes_test, factors_test[:, informative]
