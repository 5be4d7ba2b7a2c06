"""Straightforward implementations of the MI estimators, for tests of the fast ones.

They draw the same random numbers in the same order as `evaluation.mi_measures` and
`evaluation.mi_invariance` and then evaluate every density with scipy, one component (or one
value a) at a time, with explicit Schur complements and full [draws, N] log-density matrices.
Slow and memory-hungry by design: use them on a few dozen points.
"""
import numpy as np
from scipy import special
from scipy import stats


def _posterior_draws(mean, covariance, num_samples, rng):
  num_points, latent_dim = mean.shape
  noise = rng.standard_normal((num_samples, num_points, latent_dim))
  scale_tril = np.linalg.cholesky(covariance)
  points = mean[None] + np.einsum("nij,snj->sni", scale_tril, noise)
  return points.reshape(-1, latent_dim), np.tile(np.arange(num_points), num_samples)


def mi_measures(mean, covariance, num_samples, seed):
  """mi_per_latent_<i>, mi_joint and aggregate_tc, as `evaluation.mi_measures.mi_measures`."""
  mean = np.asarray(mean, np.float64)
  covariance = np.asarray(covariance, np.float64)
  num_points, latent_dim = mean.shape
  points, owner = _posterior_draws(mean, covariance, num_samples, np.random.default_rng(seed))
  # log q(z_r | x_m) for every draw r and point m, one point m at a time.
  joint = np.stack([stats.multivariate_normal(mean[m], covariance[m]).logpdf(points)
                    for m in range(num_points)], axis=1).reshape(len(points), num_points)
  stddev = np.sqrt(np.diagonal(covariance, axis1=1, axis2=2))
  marginal = stats.norm.logpdf(points[:, None, :], mean[None], stddev[None])  # [R, N, d]
  rows = np.arange(len(points))
  aggregate_joint = special.logsumexp(joint, axis=1) - np.log(num_points)
  aggregate_marginal = special.logsumexp(marginal, axis=1) - np.log(num_points)
  mi_per_latent = np.mean(marginal[rows, owner] - aggregate_marginal, axis=0)
  result = {f"mi_per_latent_{i}": float(v) for i, v in enumerate(mi_per_latent)}
  result["mi_joint"] = float(np.mean(joint[rows, owner] - aggregate_joint))
  result["aggregate_tc"] = float(np.mean(aggregate_joint - np.sum(aggregate_marginal, axis=1)))
  return result


def _conditional(mean, covariance, latent, value):
  """log w_n(a) (normalized), conditional means [N] and stddevs [N] of z_i given z_{-i} = a."""
  num_points, latent_dim = mean.shape
  if latent_dim == 1:
    return (np.full(num_points, -np.log(num_points)), mean[:, 0],
            np.sqrt(covariance[:, 0, 0]))
  others = [j for j in range(latent_dim) if j != latent]
  log_likelihood = np.empty(num_points)
  conditional_mean = np.empty(num_points)
  conditional_variance = np.empty(num_points)
  for n in range(num_points):
    block = covariance[n][np.ix_(others, others)]
    cross = covariance[n][others, latent]
    log_likelihood[n] = stats.multivariate_normal(mean[n, others], block).logpdf(value[others])
    solved = np.linalg.solve(block, cross)
    conditional_mean[n] = mean[n, latent] + solved @ (value[others] - mean[n, others])
    conditional_variance[n] = covariance[n][latent, latent] - cross @ solved
  return (log_likelihood - special.logsumexp(log_likelihood), conditional_mean,
          np.sqrt(conditional_variance))


def mi_invariance(mean, covariance, num_conditioning, num_samples, seed, num_strata):
  """mi_invariance_mean_<i>, mi_invariance_std_<i>, conditional_mi_sum and violation."""
  mean = np.asarray(mean, np.float64)
  covariance = np.asarray(covariance, np.float64)
  num_points, latent_dim = mean.shape
  rng = np.random.default_rng(seed)
  owners = rng.integers(num_points, size=num_conditioning)
  conditioning = mean[owners] + np.einsum("kij,kj->ki", np.linalg.cholesky(covariance[owners]),
                                          rng.standard_normal((num_conditioning, latent_dim)))
  result, means, stds = {}, [], []
  for latent in range(latent_dim):
    offsets = rng.random(num_conditioning)
    noise = rng.standard_normal((num_conditioning, num_strata * num_samples))
    values = []
    for k in range(num_conditioning):
      log_weights, conditional_mean, conditional_stddev = _conditional(
          mean, covariance, latent, conditioning[k])
      cumulative = np.cumsum(np.exp(log_weights))
      positions = (offsets[k] + np.arange(num_strata)) / num_strata
      picks = np.minimum(np.searchsorted(cumulative / cumulative[-1], positions, side="right"),
                         num_points - 1)
      picks = np.repeat(picks, num_samples)
      draws = conditional_mean[picks] + conditional_stddev[picks] * noise[k]
      own = stats.norm.logpdf(draws, conditional_mean[picks], conditional_stddev[picks])
      mixture = special.logsumexp(
          log_weights[None] + stats.norm.logpdf(draws[:, None], conditional_mean[None],
                                                conditional_stddev[None]), axis=1)
      values.append(np.mean(own - mixture))
    means.append(float(np.mean(values)))
    stds.append(float(np.std(values)) if latent_dim > 1 else 0.0)
    result[f"mi_invariance_mean_{latent}"] = means[-1]
    result[f"mi_invariance_std_{latent}"] = stds[-1]
  result["conditional_mi_sum"] = float(np.sum(means))
  result["violation"] = float(np.sum(stds)) / result["conditional_mi_sum"]
  return result
