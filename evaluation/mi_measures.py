"""Mutual information and total correlation of a Gaussian encoder over an evaluation set.

The evaluation points x_1..x_N stand for p(x). The encoder's posterior at x_n is
q(z|x_n) = N(mean[n], covariance[n]) and the aggregate posterior is the mixture
q(z) = (1/N) sum_m q(z|x_m). With z_{n,s} ~ q(z|x_n), s = 1..S (the same draws for every
quantity, i.e. common random numbers):

  I(x; z)   ~ mean_{n,s} [log q(z_{n,s}|x_n) - log q(z_{n,s})]
  I(x; z_i) ~ mean_{n,s} [log q(z_{n,s,i}|x_n) - log q_i(z_{n,s,i})], with the marginals
              q(z_i|x_n) = N(mean[n, i], covariance[n, i, i]) and their mixture q_i
  TC(q(z))  ~ mean_{n,s} [log q(z_{n,s}) - sum_i log q_i(z_{n,s,i})]
  CTC       = mean_n [-1/2 log det R_n], R_n the correlation matrix of covariance[n] (exact).

Summing the first two lines shows sum_i I(x; z_i) - I(x; z) - TC + CTC equals the Monte Carlo
error of the within-posterior total correlation mean_{n,s}[log q(z|x_n) - sum_i log q(z_i|x_n)]
against its closed form CTC: zero up to rounding for diagonal covariances, Monte Carlo noise
otherwise (`identity_gap`). See docs/MI_MEASURES.md for accuracy and the log N bias.
"""
import math

import numpy as np
import tensorflow as tf

from common import validation
from evaluation import mi_invariance as mi_invariance_lib
from evaluation import mi_posterior_arrays as arrays
from evaluation import progress
from evaluation.batching import apply_in_batches

LOG_2PI = arrays.LOG_2PI


def conditional_total_correlation(covariance):
  """CTC = mean_n TC(q(z|x_n)) = mean_n -1/2 log det R_n, exactly (no sampling).

  R_n is the correlation matrix of covariance[n]. Its diagonal is set to exactly one, so a
  diagonal covariance gives R_n = I and a CTC of exactly 0.

  Args:
    covariance: [N, d, d] symmetric positive definite matrices.

  Returns:
    float, nats.
  """
  covariance = np.asarray(covariance, dtype=np.float64)
  if covariance.ndim != 3 or covariance.shape[1] != covariance.shape[2]:
    raise ValueError(f"covariance: expected shape [num_points, d, d], got {covariance.shape}")
  variance = np.diagonal(covariance, axis1=1, axis2=2)
  if not (np.all(np.isfinite(covariance)) and np.all(variance > 0)):
    raise ValueError("covariance: expected finite matrices with a positive diagonal")
  stddev = np.sqrt(variance)
  correlation = covariance / (stddev[:, :, None] * stddev[:, None, :])
  correlation = tf.linalg.set_diag(tf.constant(correlation), tf.ones(stddev.shape, tf.float64))
  scale_tril = tf.linalg.cholesky(correlation)
  log_det = arrays.log_det_from_scale_tril(scale_tril).numpy()
  if not np.all(np.isfinite(log_det)):
    raise ValueError("covariance: expected positive definite matrices (correlation matrix has no "
                     "Cholesky factor)")
  return float(np.mean(-0.5 * log_det))


def _draw_posterior_samples(posteriors, num_samples, rng):
  """num_samples draws from each q(z|x_n), flattened sample-major.

  Returns:
    (points [S*N, d], noise [S*N, d] standard normal with points = mean + L noise,
     owner [S*N] int, the index n each point was drawn from).
  """
  mean = posteriors.mean
  num_points, latent_dim = mean.shape
  noise = rng.standard_normal((num_samples, num_points, latent_dim))
  scale_tril = posteriors.scale_tril.numpy()
  points = mean[None] + np.einsum("nij,snj->sni", scale_tril, noise)
  owner = np.tile(np.arange(num_points), num_samples)
  return (points.reshape(-1, latent_dim), noise.reshape(-1, latent_dim), owner)


def _is_diagonal(covariance):
  """True when every covariance [N, d, d] has exact zeros off its diagonal."""
  off_diagonal = covariance * (1.0 - np.eye(covariance.shape[1]))
  return not np.any(off_diagonal)


def _mixture_log_densities(points, posteriors, known_joint, known_marginal,
                           max_chunk_elements):
  """log q(z) and log q_i(z_i) of the aggregate mixture at the given points.

  Every mixture is evaluated over all N components by the fused kernels of
  `mi_posterior_arrays` (logits, exp and sum in one pass, chunks of points on all cores):
  the d marginal mixtures as 1-D Gaussians, the joint one as diagonal Gaussians when every
  covariance is diagonal and through the expanded quadratic form otherwise.

  Args:
    points: [R, d] float64.
    posteriors: `GaussianPosteriors` with N components.
    known_joint, known_marginal: [R] and [R, d], log q(z|x_n) and log q(z_i|x_n) of the point
      each draw came from (lower bounds of the largest mixture terms, for the shifts).
    max_chunk_elements: memory bound, in float64 elements, of what one chunk materializes.

  Returns:
    (joint [R], marginal [R, d]) numpy float64.
  """
  mean = posteriors.mean
  num_points, latent_dim = mean.shape
  log_norm = math.log(num_points)
  stddev = np.sqrt(np.diagonal(posteriors.covariance, axis1=1, axis2=2))
  marginal_const = -np.log(stddev) - 0.5 * LOG_2PI - log_norm
  marginal = arrays.gaussian_1d_mixture_log_sums(
      points.T, mean.T, 1.0 / stddev.T, marginal_const.T, known_marginal.T - log_norm,
      max_chunk_elements).T
  joint_const = (-0.5 * arrays.log_det_from_scale_tril(posteriors.scale_tril).numpy()
                 - 0.5 * latent_dim * LOG_2PI - log_norm)
  if _is_diagonal(posteriors.covariance):
    joint = arrays.diagonal_gaussian_mixture_log_sums(
        points, mean, 1.0 / stddev, joint_const, known_joint - log_norm, max_chunk_elements)
  else:
    joint = arrays.full_gaussian_mixture_log_sums(
        points, mean, posteriors.scale_tril, joint_const, known_joint - log_norm,
        max_chunk_elements)
  return joint, marginal


def _per_sample_log_densities(posteriors, num_samples, seed, max_chunk_elements):
  """Posterior and aggregate log densities at common random draws z_{n,s} ~ q(z|x_n).

  Returns:
    dict of numpy arrays over the S*N draws: `posterior_joint` [R] = log q(z|x_n),
    `posterior_marginal` [R, d] = log q(z_i|x_n), `aggregate_joint` [R] = log q(z),
    `aggregate_marginal` [R, d] = log q_i(z_i).
  """
  num_samples = validation.positive_int(num_samples, "num_samples")
  rng = arrays.check_seed(seed)
  points, noise, owner = _draw_posterior_samples(posteriors, num_samples, rng)
  latent_dim = points.shape[1]
  log_det = arrays.log_det_from_scale_tril(posteriors.scale_tril).numpy()
  posterior_joint = (-0.5 * np.sum(np.square(noise), axis=1) - 0.5 * log_det[owner]
                     - 0.5 * latent_dim * LOG_2PI)
  stddev = np.sqrt(np.diagonal(posteriors.covariance, axis1=1, axis2=2))[owner]
  standardized = (points - posteriors.mean[owner]) / stddev
  posterior_marginal = -0.5 * np.square(standardized) - np.log(stddev) - 0.5 * LOG_2PI
  aggregate_joint, aggregate_marginal = _mixture_log_densities(
      points, posteriors, posterior_joint, posterior_marginal, max_chunk_elements)
  return dict(posterior_joint=posterior_joint, posterior_marginal=posterior_marginal,
              aggregate_joint=aggregate_joint, aggregate_marginal=aggregate_marginal)


def _estimates_from_log_densities(log_densities):
  mi_per_latent = np.mean(log_densities["posterior_marginal"]
                          - log_densities["aggregate_marginal"], axis=0)
  mi_joint = float(np.mean(log_densities["posterior_joint"] - log_densities["aggregate_joint"]))
  aggregate_tc = float(np.mean(log_densities["aggregate_joint"]
                               - np.sum(log_densities["aggregate_marginal"], axis=1)))
  return mi_per_latent, mi_joint, aggregate_tc


def mutual_information(mean, covariance, num_samples=4, seed=0,
                       max_chunk_elements=arrays.DEFAULT_MAX_CHUNK_ELEMENTS):
  """I(x; z_i) per latent and I(x; z), Monte Carlo against the aggregate mixture.

  Same draws and arguments as `mi_measures`.

  Returns:
    dict: `mi_per_latent` np.ndarray [d] and `mi_joint` float, in nats. Both are bounded by
    log N (the mixture contains each point's own posterior with weight 1/N).
  """
  posteriors = arrays.check_gaussian_posteriors(mean, covariance)
  log_densities = _per_sample_log_densities(posteriors, num_samples, seed, max_chunk_elements)
  mi_per_latent, mi_joint, _ = _estimates_from_log_densities(log_densities)
  return dict(mi_per_latent=mi_per_latent, mi_joint=mi_joint)


def aggregate_total_correlation(mean, covariance, num_samples=4, seed=0,
                                max_chunk_elements=arrays.DEFAULT_MAX_CHUNK_ELEMENTS):
  """TC(q(z)) = E_q(z)[log q(z) - sum_i log q_i(z_i)] of the aggregate mixture, in nats.

  Same draws and arguments as `mi_measures`; with the same seed all three are computed from
  common random numbers.
  """
  posteriors = arrays.check_gaussian_posteriors(mean, covariance)
  log_densities = _per_sample_log_densities(posteriors, num_samples, seed, max_chunk_elements)
  return _estimates_from_log_densities(log_densities)[2]


def mi_measures(mean, covariance, num_samples=4, seed=0,
                max_chunk_elements=arrays.DEFAULT_MAX_CHUNK_ELEMENTS):
  """All information measures of one encoder from a single set of draws.

  Args:
    mean: [N, d] posterior means at the evaluation points.
    covariance: [N, d, d] posterior covariances.
    num_samples: draws of z per evaluation point.
    seed: non-negative int; the same seed gives the same numbers.
    max_chunk_elements: memory bound of one [chunk, N, d] intermediate, in float64 elements.

  Returns:
    Flat dict of floats (nats): `mi_per_latent_<i>` for i in 0..d-1, `mi_sum`, `mi_joint`,
    `aggregate_tc`, `conditional_tc` and `identity_gap` =
    (mi_sum - mi_joint) - (aggregate_tc - conditional_tc).
  """
  posteriors = arrays.check_gaussian_posteriors(mean, covariance)
  log_densities = _per_sample_log_densities(posteriors, num_samples, seed, max_chunk_elements)
  mi_per_latent, mi_joint, aggregate_tc = _estimates_from_log_densities(log_densities)
  conditional_tc = conditional_total_correlation(posteriors.covariance)
  mi_sum = float(np.sum(mi_per_latent))
  result = {f"mi_per_latent_{i}": float(value) for i, value in enumerate(mi_per_latent)}
  result.update(mi_sum=mi_sum, mi_joint=mi_joint, aggregate_tc=aggregate_tc,
                conditional_tc=conditional_tc,
                identity_gap=(mi_sum - mi_joint) - (aggregate_tc - conditional_tc))
  return result


def compute_mi_measures(ground_truth_data, posterior_function, random_state, num_points=2000,
                        batch_size=64, num_samples=4, num_conditioning=32,
                        num_strata=mi_invariance_lib.DEFAULT_NUM_STRATA):
  """MI measures and MI-invariance of an encoder on observations sampled from a data set.

  Args:
    ground_truth_data: object with `sample_observations(num, random_state)`.
    posterior_function: maps observations [B, ...] to (mean [B, d], covariance [B, d, d]).
    random_state: numpy RandomState; draws the observations and the Monte Carlo seed.
    num_points: N, evaluation points standing for p(x); estimates are bounded by log N.
    batch_size: observations per call of posterior_function.
    num_samples: Monte Carlo draws per evaluation point (see `mi_measures`, `mi_invariance`).
    num_conditioning: K, values of z_{-i} per latent for MI-invariance.
    num_strata: stratified picks of n per (latent, value of z_{-i}) for MI-invariance.

  Returns:
    dict of floats: the keys of `mi_measures` and of `mi_invariance.mi_invariance`.
  """
  num_points = validation.integer(num_points, "mi_measures.num_points", minimum=2)
  batch_size = validation.positive_int(batch_size, "mi_measures.batch_size")
  for name, value in (("num_samples", num_samples), ("num_conditioning", num_conditioning),
                      ("num_strata", num_strata)):
    validation.positive_int(value, f"mi_measures.{name}")
  progress.report("encoding")
  observations = np.asarray(ground_truth_data.sample_observations(num_points, random_state))
  posteriors = apply_in_batches(posterior_function, observations, batch_size,
                                what="posterior_function")
  if not isinstance(posteriors, tuple) or len(posteriors) != 2:
    raise ValueError("posterior_function: expected it to return (mean [B, d], covariance "
                     "[B, d, d])")
  mean, covariance = posteriors
  seed = int(random_state.randint(0, 2**31 - 1))
  progress.report("aggregate mixtures")
  result = mi_measures(mean, covariance, num_samples=num_samples, seed=seed)
  result.update(mi_invariance_lib.mi_invariance(mean, covariance,
                                                num_conditioning=num_conditioning,
                                                num_samples=num_samples, seed=seed,
                                                num_strata=num_strata))
  return result
