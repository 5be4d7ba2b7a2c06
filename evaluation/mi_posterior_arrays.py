"""Checked Gaussian posteriors over an evaluation set: the input of the MI estimators.

The encoder's posterior at the N evaluation points is given as `mean [N, d]` and
`covariance [N, d, d]`. Everything downstream works in float64 with the Cholesky factor of each
covariance; covariances are never inverted. This module holds the validation and the small
helpers that `mi_measures` and `mi_invariance` share.
"""
import concurrent.futures
import math
import os
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from common import validation

LOG_2PI = math.log(2.0 * math.pi)

# Largest intermediate tensor (in float64 elements, i.e. 32 MiB) an estimator builds at once; a
# few such temporaries live at the same time, so peak memory stays around a few hundred MiB.
DEFAULT_MAX_CHUNK_ELEMENTS = 1 << 22

# Relative asymmetry tolerated in a covariance: float32 encoders that form L L^T round the two
# triangles differently, so exact symmetry cannot be required.
_SYMMETRY_RTOL = 1e-5


class GaussianPosteriors(NamedTuple):
  """Validated posteriors, float64.

  Attributes:
    mean: np.ndarray [N, d].
    covariance: np.ndarray [N, d, d], symmetrized.
    scale_tril: tf.Tensor [N, d, d], lower Cholesky factor of each covariance.
  """
  mean: np.ndarray
  covariance: np.ndarray
  scale_tril: tf.Tensor


def _as_real_array(value, name):
  try:
    array = np.asarray(value)
  except (TypeError, ValueError) as error:
    raise ValueError(f"{name}: expected a numeric array, got {type(value).__name__}") from error
  if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
    raise ValueError(f"{name}: expected real numbers, got dtype {array.dtype}")
  return array.astype(np.float64)


def check_gaussian_posteriors(mean, covariance):
  """Validates posterior arrays and factors the covariances.

  Args:
    mean: [N, d] finite real numbers (numpy array or tensor).
    covariance: [N, d, d] finite, symmetric positive definite matrices.

  Returns:
    A `GaussianPosteriors`.

  Raises:
    ValueError: with a one-line message naming the input and what was expected.
  """
  mean = _as_real_array(mean, "mean")
  covariance = _as_real_array(covariance, "covariance")
  if mean.ndim != 2 or mean.shape[0] < 1 or mean.shape[1] < 1:
    raise ValueError(f"mean: expected shape [num_points, latent_dim] with both >= 1, got "
                     f"{mean.shape}")
  num_points, latent_dim = mean.shape
  if covariance.shape != (num_points, latent_dim, latent_dim):
    raise ValueError(f"covariance: expected shape {(num_points, latent_dim, latent_dim)} to match "
                     f"mean {mean.shape}, got {covariance.shape}")
  if not np.all(np.isfinite(mean)):
    raise ValueError("mean: expected finite values, found NaN or Inf")
  if not np.all(np.isfinite(covariance)):
    raise ValueError("covariance: expected finite values, found NaN or Inf")
  transposed = np.swapaxes(covariance, 1, 2)
  scale = np.max(np.abs(covariance), axis=(1, 2))
  asymmetry = np.max(np.abs(covariance - transposed), axis=(1, 2))
  bad = np.flatnonzero(asymmetry > _SYMMETRY_RTOL * scale)
  if bad.size:
    raise ValueError(f"covariance: expected symmetric matrices, entry {bad[0]} is not "
                     f"(max |C - C^T| = {asymmetry[bad[0]]:.3g})")
  covariance = 0.5 * (covariance + transposed)
  scale_tril = tf.linalg.cholesky(tf.constant(covariance, tf.float64))
  # On CPU a failed factorization yields NaN rather than an error.
  diagonal = tf.linalg.diag_part(scale_tril).numpy()
  failed = np.flatnonzero(~np.all(np.isfinite(diagonal) & (diagonal > 0), axis=1))
  if failed.size:
    smallest = np.linalg.eigvalsh(covariance[failed[0]])[0]
    raise ValueError(f"covariance: expected positive definite matrices, entry {failed[0]} is not "
                     f"(smallest eigenvalue {smallest:.3g})")
  return GaussianPosteriors(mean, covariance, scale_tril)


def check_seed(seed):
  """Returns a numpy Generator for a non-negative integer seed, else raises ValueError."""
  return np.random.default_rng(validation.non_negative_int(seed, "seed"))


def rows_per_chunk(row_elements, max_chunk_elements):
  """How many rows of `row_elements` elements fit into one chunk (at least one)."""
  validation.positive_int(max_chunk_elements, "max_chunk_elements")
  return max(1, max_chunk_elements // max(1, row_elements))


def log_det_from_scale_tril(scale_tril):
  """log det(L L^T) for lower-triangular L [..., d, d], as a float64 tensor [...]."""
  return 2.0 * tf.reduce_sum(tf.math.log(tf.linalg.diag_part(scale_tril)), axis=-1)


# ---------------------------------------------------------------------------------------------
# Mixture log densities: the hot path of both estimators.
#
# Every estimate needs log sum_m exp(logit_m(q)) over all N components of a mixture at many
# query points q. The kernels below are compiled with XLA, which fuses the logits, the exp and
# the sum into one loop, so the [queries, N] (or [queries, N, d]) logits are never stored: the
# memory per call is that of its inputs and outputs. On a GPU the same functions run there.
#
# The log-sum-exp is shifted by a per-query value instead of the maximum over m (which would
# need a second pass): `safe_shift` picks one that is at least every logit minus 700 and at most
# the largest logit plus 700, from an upper bound of all logits and the logit of a component
# known to take part (the one the query was drawn from), so exp neither overflows nor
# underflows to an all-zero sum. Results are equal to the maximum-shifted log-sum-exp up to
# rounding (1e-15 relative).
# ---------------------------------------------------------------------------------------------

# exp(x) overflows float64 above 709.78; a shift within 700 of the largest logit keeps the sum
# finite and its largest term above exp(-700) (no underflow to zero).
_SHIFT_MARGIN = 700.0
# Components are padded to a multiple of this (and small sets to a power of two) so that XLA
# compiles a handful of shapes, not one per data set size. Padded components get a logit of
# -inf and contribute an exact 0 to every sum.
_COMPONENT_ALIGNMENT = 256
# Work per kernel call (queries x components x latents), so each call is large enough to keep
# the dispatch overhead negligible and small enough for threads to share the calls.
_ELEMENTS_PER_CALL = 1 << 23


def padded_components(num_components):
  """Component count the kernels run with: a power of two up to 2048, else a multiple of 256."""
  if num_components <= 2048:
    return max(8, 1 << (num_components - 1).bit_length())
  return -(-num_components // _COMPONENT_ALIGNMENT) * _COMPONENT_ALIGNMENT


def pad_components(array, padded, value=0.0):
  """Pads the last axis of a numpy array to `padded` entries with `value`."""
  extra = padded - array.shape[-1]
  if extra == 0:
    return array
  widths = [(0, 0)] * (array.ndim - 1) + [(0, extra)]
  return np.pad(array, widths, constant_values=value)


def safe_shift(upper_bound, known_logit):
  """Per-query log-sum-exp shift: min(upper bound of all logits, known logit + 700)."""
  return np.minimum(upper_bound, known_logit + _SHIFT_MARGIN)


def queries_per_call(elements_per_query, max_chunk_elements, materialized_per_query=0):
  """Queries per kernel call: about _ELEMENTS_PER_CALL fused elements, and at most
  `max_chunk_elements` materialized ones (a multiple of 8 where possible)."""
  rows = max(1, _ELEMENTS_PER_CALL // max(1, elements_per_query))
  if materialized_per_query:
    rows = min(rows, rows_per_chunk(materialized_per_query, max_chunk_elements))
  return rows - rows % 8 if rows >= 16 else rows


def _shifted_log_sum_exp(logits, shift):
  return tf.math.log(tf.reduce_sum(tf.exp(logits - shift[..., None]), axis=-1)) + shift


@tf.function(jit_compile=True)
def _gaussian_1d_mixture_kernel(queries, center, inverse_scale, constant, shift):
  """log sum_m exp(-1/2 ((q - center_m) inverse_scale_m)^2 + constant_m) per query.

  queries, shift: [B, C]; center, constant: [B, N]; inverse_scale: [B or 1, N].
  """
  standardized = (queries[:, :, None] - center[:, None, :]) * inverse_scale[:, None, :]
  return _shifted_log_sum_exp(-0.5 * tf.square(standardized) + constant[:, None, :], shift)


@tf.function(jit_compile=True)
def _diagonal_gaussian_mixture_kernel(queries, center, inverse_scale, constant, shift):
  """As above for d-dimensional diagonal Gaussians: queries [d, C], center/inverse_scale
  [d, N], constant [N], shift [C]; the logit sums the d standardized squares."""
  standardized = (queries[:, :, None] - center[:, None, :]) * inverse_scale[:, None, :]
  logits = -0.5 * tf.reduce_sum(tf.square(standardized), axis=0) + constant[None, :]
  return _shifted_log_sum_exp(logits, shift)


@tf.function(jit_compile=True)
def _quadratic_mixture_kernel(features, coefficients, constant, shift):
  """Logits as one matrix product of quadratic features [C, F] and coefficients [F, N], plus
  constant [N]; shift [C]."""
  return _shifted_log_sum_exp(tf.matmul(features, coefficients) + constant[None, :], shift)


def _usable_cores():
  try:
    return max(1, len(os.sched_getaffinity(0)))
  except AttributeError:  # not on Linux
    return max(1, os.cpu_count() or 1)


def map_calls(function, argument_lists):
  """[function(*arguments) for arguments in argument_lists], on one thread per usable core.

  XLA runs each fused loop on one thread of a CPU; the calls release the GIL, so independent
  calls on a thread pool keep every core busy. The results are in order and each call's
  numbers do not depend on the threads.
  """
  argument_lists = list(argument_lists)
  workers = min(_usable_cores(), len(argument_lists))
  if workers <= 1:
    return [function(*arguments) for arguments in argument_lists]
  with concurrent.futures.ThreadPoolExecutor(workers) as pool:
    return list(pool.map(lambda arguments: function(*arguments), argument_lists))


def _checked(result, fallback):
  """The kernel's result, or the plain log-sum-exp where a shift failed (never seen in
  practice; see safe_shift)."""
  result = result.numpy()
  if not np.all(np.isfinite(result)):
    result = fallback().numpy()
  return result


def gaussian_1d_mixture_log_sums(queries, center, inverse_scale, constant, known_logit,
                                 max_chunk_elements):
  """log sum_m exp(-1/2 ((q - center_m) inverse_scale_m)^2 + constant_m) for B mixtures.

  Args:
    queries: [B, Q] points, query (b, j) evaluated against mixture b.
    center, constant: [B, N]; inverse_scale: [B, N] or [1, N].
    known_logit: [B, Q], the logit of one component at each query (a lower bound of the
      largest), for the shift.
    max_chunk_elements: memory bound (float64 elements) of what a call materializes.

  Returns:
    [B, Q] float64 numpy array.
  """
  num_mixtures, num_queries = queries.shape
  num_components = center.shape[1]
  padded = padded_components(num_components)
  center = pad_components(center, padded)
  inverse_scale = pad_components(inverse_scale, padded)
  constant = pad_components(constant, padded, -np.inf)
  upper = np.max(constant, axis=1, keepdims=True)
  shift = safe_shift(upper, known_logit)
  rows = queries_per_call(num_mixtures * padded, max_chunk_elements, num_mixtures)
  tensors = [tf.constant(a, tf.float64) for a in (center, inverse_scale, constant)]

  def call(start):
    stop = min(start + rows, num_queries)
    chunk = np.zeros((num_mixtures, rows))
    chunk[:, :stop - start] = queries[:, start:stop]
    chunk_shift = np.tile(upper, (1, rows))
    chunk_shift[:, :stop - start] = shift[:, start:stop]
    chunk, chunk_shift = tf.constant(chunk), tf.constant(chunk_shift)

    def fallback():
      standardized = (chunk[:, :, None] - tensors[0][:, None, :]) * tensors[1][:, None, :]
      return tf.reduce_logsumexp(-0.5 * tf.square(standardized) + tensors[2][:, None, :], -1)

    result = _checked(_gaussian_1d_mixture_kernel(chunk, *tensors, chunk_shift), fallback)
    return result[:, :stop - start]

  return np.concatenate(map_calls(call, [(s,) for s in range(0, num_queries, rows)]), axis=1)


def diagonal_gaussian_mixture_log_sums(queries, center, inverse_scale, constant, known_logit,
                                       max_chunk_elements):
  """log sum_m exp(-1/2 |(q - center_m) * inverse_scale_m|^2 + constant_m) per query.

  Args:
    queries: [Q, d]; center, inverse_scale: [N, d]; constant: [N]; known_logit: [Q].

  Returns:
    [Q] float64 numpy array.
  """
  num_queries, latent_dim = queries.shape
  padded = padded_components(center.shape[0])
  center = pad_components(center.T, padded)
  inverse_scale = pad_components(inverse_scale.T, padded)
  constant = pad_components(constant, padded, -np.inf)
  upper = float(np.max(constant))
  shift = safe_shift(upper, known_logit)
  rows = queries_per_call(latent_dim * padded, max_chunk_elements, padded)
  tensors = [tf.constant(a, tf.float64) for a in (center, inverse_scale, constant)]

  def call(start):
    stop = min(start + rows, num_queries)
    chunk = np.zeros((latent_dim, rows))
    chunk[:, :stop - start] = queries[start:stop].T
    chunk_shift = np.full(rows, upper)
    chunk_shift[:stop - start] = shift[start:stop]
    chunk, chunk_shift = tf.constant(chunk), tf.constant(chunk_shift)

    def fallback():
      standardized = (chunk[:, :, None] - tensors[0][:, None, :]) * tensors[1][:, None, :]
      return tf.reduce_logsumexp(
          -0.5 * tf.reduce_sum(tf.square(standardized), axis=0) + tensors[2][None], -1)

    result = _checked(_diagonal_gaussian_mixture_kernel(chunk, *tensors, chunk_shift),
                      fallback)
    return result[:stop - start]

  return np.concatenate(map_calls(call, [(s,) for s in range(0, num_queries, rows)]))


def quadratic_features(points):
  """[Q, d] -> [Q, F]: the products y_i y_j (i <= j) and y_i, F = d (d + 3) / 2."""
  upper_i, upper_j = np.triu_indices(points.shape[1])
  return np.concatenate([points[:, upper_i] * points[:, upper_j], points], axis=1)


def full_gaussian_mixture_log_sums(queries, mean, scale_tril, constant, known_logit,
                                   max_chunk_elements):
  """log sum_m exp(-1/2 |L_m^{-1}(q - mean_m)|^2 + constant_m) per query, full covariances.

  The quadratic form is expanded around the mean of the means, c: with y = q - c and
  v_m = mean_m - c, -1/2 (y - v_m)^T P_m (y - v_m) is linear in the features y_i y_j and y_i
  (P_m = L_m^{-T} L_m^{-1}, from the Cholesky factor computed once per point), so every logit
  of a chunk of queries is one matrix product. Rounding: the expanded terms are of size
  |y|^2 / (smallest posterior variance), so the logits carry an absolute error of about
  1e-16 times that (1e-10 nats for posterior stddevs of 1e-3 around means of size 3).

  Args:
    queries: [Q, d]; mean: [N, d]; scale_tril: [N, d, d] tensor; constant: [N];
    known_logit: [Q].

  Returns:
    [Q] float64 numpy array.
  """
  num_queries, latent_dim = queries.shape
  num_components = mean.shape[0]
  center = np.mean(mean, axis=0)
  inverse_tril = tf.linalg.triangular_solve(
      scale_tril, tf.eye(latent_dim, batch_shape=[num_components], dtype=tf.float64), lower=True)
  precision = tf.matmul(inverse_tril, inverse_tril, transpose_a=True).numpy()  # [N, d, d]
  offset = mean - center
  linear = np.einsum("mij,mj->mi", precision, offset)
  upper_i, upper_j = np.triu_indices(latent_dim)
  quadratic = np.where(upper_i == upper_j, -0.5, -1.0) * precision[:, upper_i, upper_j]
  coefficients = np.concatenate([quadratic, linear], axis=1).T  # [F, N]
  # Each logit is at most its constant (at q = mean_m).
  upper = float(np.max(constant))
  constant = constant - 0.5 * np.einsum("mi,mi->m", linear, offset)
  padded = padded_components(num_components)
  coefficients = pad_components(coefficients, padded)
  constant = pad_components(constant, padded, -np.inf)
  shift = safe_shift(upper, known_logit)
  # The logits of a chunk are materialized by the matrix product: max_chunk_elements bounds them.
  rows = rows_per_chunk(padded, max_chunk_elements)
  rows = rows - rows % 8 if rows >= 16 else rows
  tensors = [tf.constant(coefficients), tf.constant(constant)]

  def call(start):
    stop = min(start + rows, num_queries)
    chunk = np.zeros((rows, latent_dim))
    chunk[:stop - start] = queries[start:stop] - center
    chunk_shift = np.full(rows, upper)
    chunk_shift[:stop - start] = shift[start:stop]
    features, chunk_shift = tf.constant(quadratic_features(chunk)), tf.constant(chunk_shift)

    def fallback():
      return tf.reduce_logsumexp(tf.matmul(features, tensors[0]) + tensors[1][None], -1)

    result = _checked(_quadratic_mixture_kernel(features, *tensors, chunk_shift), fallback)
    return result[:stop - start]

  return np.concatenate(map_calls(call, [(s,) for s in range(0, num_queries, rows)]))
