"""Checked Gaussian posteriors over an evaluation set: the input of the MI estimators.

The encoder's posterior at the N evaluation points is given as `mean [N, d]` and
`covariance [N, d, d]`. Everything downstream works in float64 with the Cholesky factor of each
covariance; covariances are never inverted. This module holds the validation and the small
helpers that `mi_measures` and `mi_invariance` share.
"""
import math
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
