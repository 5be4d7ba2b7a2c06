"""Closed-form quantities of Gaussian posteriors q(z | x) = N(m, S) over R^d that TFP lacks.

TFP's distributions give the mean, `covariance()` and the scale (`dist.scale.to_dense()` is L)
themselves; these helpers add the analytic KL to N(0, I) per example and per latent, the
marginal standard deviations, and the log densities of many points under many posteriors at
once, which the beta-TCVAE estimate and the MI measures need.

Every helper takes a distribution with batch shape [B] (written [N] where it is paired with a
second set of points) and event shape [d]: a `tfd.MultivariateNormalLinearOperator` (Diag, TriL,
...), a `tfd.Independent` of `tfd.Normal`, or any other multivariate normal that implements
`covariance()`. Diagonal distributions take a shortcut that never builds a d x d matrix; all
others go through the lower-triangular scale L with S = L L^T, so nothing is ever inverted.
All functions are TF ops, differentiable, and vectorized over the batch.
"""
import math

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

_LOG_2PI = math.log(2.0 * math.pi)
_DIAGONAL_OPERATORS = (tf.linalg.LinearOperatorDiag, tf.linalg.LinearOperatorIdentity,
                       tf.linalg.LinearOperatorScaledIdentity)


def _check_vector_event(dist):
  event_shape = getattr(dist, "event_shape", None)
  if event_shape is None or (event_shape.rank is not None and event_shape.rank != 1):
    raise ValueError(
        f"distribution {type(dist).__name__} has event shape {event_shape}, expected a "
        f"multivariate normal with event shape [d]")


def _broadcast_batch(x, mean, event_ndims):
  """x [..., *event] broadcast to the batch shape of mean [B, d].

  Loc and scale of the families' distributions already share one batch shape, so this is a
  no-op for them; it only pays for a broadcast when a distribution was built with a shared scale.
  """
  batch = x.shape[:x.shape.rank - event_ndims] if x.shape.rank is not None else None
  if batch is not None and mean.shape.rank is not None and batch.rank == mean.shape.rank - 1 and (
      batch.is_compatible_with(mean.shape[:-1])):
    return x
  zeros = tf.zeros_like(mean[(Ellipsis,) + (tf.newaxis,) * (event_ndims - 1)])
  return x + zeros


def _diagonal_stddev(dist):
  """Per-coordinate stddev [..., d] when q has a diagonal scale, else None."""
  if isinstance(dist, tfd.MultivariateNormalLinearOperator) and isinstance(
      dist.scale, _DIAGONAL_OPERATORS):
    return dist.scale.diag_part()
  if isinstance(dist, tfd.Independent) and isinstance(dist.distribution, tfd.Normal):
    return dist.distribution.stddev()
  return None


def _mean(dist):
  _check_vector_event(dist)
  try:
    return dist.mean()
  except NotImplementedError as error:
    raise ValueError(
        f"distribution {type(dist).__name__} has no mean, expected a multivariate normal"
    ) from error


def _mean_and_diagonal_stddev(dist):
  """(mean [..., d], stddev [..., d]) when q is diagonal, else (mean, None)."""
  mean = _mean(dist)
  stddev = _diagonal_stddev(dist)
  if stddev is not None:
    stddev = _broadcast_batch(stddev, mean, 1)
  return mean, stddev


def _dense_scale_tril(dist):
  """L [..., d, d] for a distribution that is not diagonal."""
  if isinstance(dist, tfd.MultivariateNormalLinearOperator) and isinstance(
      dist.scale, tf.linalg.LinearOperatorLowerTriangular):
    return dist.scale.to_dense()
  try:
    cov = dist.covariance()
  except NotImplementedError as error:
    raise ValueError(
        f"distribution {type(dist).__name__} has no covariance, expected a multivariate normal"
    ) from error
  return tf.linalg.cholesky(cov)


def _log_abs_det_tril(tril):
  """log |det L| [...] of a lower-triangular L [..., d, d]."""
  return tf.reduce_sum(tf.math.log(tf.abs(tf.linalg.diag_part(tril))), axis=-1)


def _mean_and_marginal_variance(dist):
  mean, stddev = _mean_and_diagonal_stddev(dist)
  if stddev is not None:
    return mean, tf.square(stddev)
  tril = _dense_scale_tril(dist)
  # S_ii is the squared norm of row i of L.
  return mean, _broadcast_batch(tf.reduce_sum(tf.square(tril), axis=-1), mean, 1)


def marginal_stddev(dist):
  """sqrt(S_ii) [B, d], the stddev of each marginal q(z_i | x)."""
  mean, stddev = _mean_and_diagonal_stddev(dist)
  if stddev is not None:
    return stddev
  return tf.sqrt(_mean_and_marginal_variance(dist)[1])


def kl_to_standard_normal(dist):
  """KL(q(z|x) || N(0, I)) [B] = (tr S + m^T m - d - log det S) / 2, in closed form."""
  mean, stddev = _mean_and_diagonal_stddev(dist)
  if stddev is not None:
    variance = tf.square(stddev)
    return 0.5 * tf.reduce_sum(
        variance + tf.square(mean) - 1.0 - tf.math.log(variance), axis=-1)
  tril = _dense_scale_tril(dist)
  dim = tf.cast(tf.shape(mean)[-1], mean.dtype)
  trace = tf.reduce_sum(tf.square(tril), axis=[-2, -1])  # tr(L L^T) = ||L||_F^2.
  return 0.5 * (trace + tf.reduce_sum(tf.square(mean), axis=-1) - dim) - _log_abs_det_tril(tril)


def marginal_kl_to_standard_normal(dist):
  """KL(q(z_i|x) || N(0, 1)) [B, d] for each marginal N(m_i, S_ii).

  Sums to the total KL only when q is factorized; otherwise the sum falls short of it by the
  total correlation of q(z|x), -log det(correlation matrix of S) / 2.
  """
  mean, variance = _mean_and_marginal_variance(dist)
  return 0.5 * (variance + tf.square(mean) - 1.0 - tf.math.log(variance))


def _check_points(z, mean, what):
  z = tf.convert_to_tensor(z, dtype=mean.dtype)
  if z.shape.rank is not None and (z.shape.rank != 2 or not z.shape[1:].is_compatible_with(
      mean.shape[-1:])):
    raise ValueError(
        f"{what}: z has shape {z.shape.as_list()}, expected [M, {mean.shape[-1]}] "
        f"(points first, latent_dim last)")
  if mean.shape.rank is not None and mean.shape.rank != 2:
    raise ValueError(
        f"{what}: distribution has batch shape {mean.shape[:-1].as_list()}, expected [N]")
  return z


def log_prob_marginals(dist, z):
  """log q(z_{m,i} | x_n) [M, N, d] for every point m, example n and latent i.

  Args:
    dist: batch shape [N], event shape [d].
    z: [M, d] points.

  Returns:
    [M, N, d]: the log density of coordinate i of point m under the marginal N(m_{n,i}, S_{n,ii}).
  """
  mean, variance = _mean_and_marginal_variance(dist)
  z = _check_points(z, mean, "log_prob_marginals")
  diff = z[:, tf.newaxis, :] - mean[tf.newaxis, :, :]
  return -0.5 * (tf.square(diff) / variance + tf.math.log(variance) + _LOG_2PI)


def log_prob_pairwise(dist, z):
  """log q(z_m | x_n) [M, N] for every point m and example n under the full covariance.

  Args:
    dist: batch shape [N], event shape [d].
    z: [M, d] points.

  Returns:
    [M, N] joint log densities, from one batched triangular solve L_n y = z_m - m_n.
  """
  mean, stddev = _mean_and_diagonal_stddev(dist)
  if stddev is not None:
    return tf.reduce_sum(log_prob_marginals(dist, z), axis=-1)
  z = _check_points(z, mean, "log_prob_pairwise")
  tril = _broadcast_batch(_dense_scale_tril(dist), mean, 2)
  # [N, d, M]: column m of slice n is z_m - m_n, so one solve per example covers all points.
  diff = tf.transpose(z)[tf.newaxis, :, :] - mean[:, :, tf.newaxis]
  whitened = tf.linalg.triangular_solve(tril, diff, lower=True)
  mahalanobis = tf.transpose(tf.reduce_sum(tf.square(whitened), axis=1))  # [M, N].
  dim = tf.cast(tf.shape(mean)[-1], mean.dtype)
  return -0.5 * (mahalanobis + dim * _LOG_2PI) - _log_abs_det_tril(tril)[tf.newaxis, :]
