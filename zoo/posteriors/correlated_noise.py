"""Gaussian posterior with correlated reparameterization noise of a fixed, known amount.

q(z | x) = N(mu(x), D(x) C_rho D(x)) with D = diag(sigma(x)) and C_rho = (1 - rho) I + rho 11^T
the equicorrelation matrix. A sample is z = mu + sigma * (L_rho eps) with L_rho L_rho^T = C_rho,
so every latent keeps its own marginal variance sigma_i^2 while the noise shared between latents
breaks conditional independence by exactly rho -- the knob of the "violate the assumption"
experiment. rho = 0 gives back the factorized family.
"""
import math
import numbers

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.posteriors import factorized
from zoo.posteriors import posterior_family

tfd = tfp.distributions


def equicorrelation_matrix(latent_dim, rho):
  """C_rho = (1 - rho) I + rho 11^T as float64 [d, d]."""
  return (1.0 - rho) * np.eye(latent_dim) + rho * np.ones((latent_dim, latent_dim))


def equicorrelation_log_det(latent_dim, rho):
  """log det C_rho from its eigenvalues: 1 + (d - 1) rho once and 1 - rho (d - 1) times."""
  return (latent_dim - 1) * math.log1p(-rho) + math.log1p((latent_dim - 1) * rho)


def check_rho(rho, latent_dim):
  """Returns rho as a float, or raises ValueError unless C_rho is positive definite."""
  lower = -1.0 / (latent_dim - 1) if latent_dim > 1 else -math.inf
  valid = (isinstance(rho, numbers.Real) and not isinstance(rho, bool)
           and math.isfinite(rho) and lower < rho < 1.0)
  if not valid:
    raise ValueError(
        f"correlated_noise: rho={rho!r} must lie in (-1/(d-1), 1) for latent_dim={latent_dim}, "
        f"where the equicorrelation matrix is positive definite")
  return float(rho)


class CorrelatedNoise(posterior_family.PosteriorFamily):
  """N(mu, D C_rho D); per latent (mean, log variance), no joint parameters.

  Attributes:
    rho: the noise correlation between every pair of latents.
    correlation: float64 [d, d], C_rho.
    correlation_log_det: log det C_rho, so the conditional total correlation of every
      q(z | x) is -correlation_log_det / 2.
  """

  name = "correlated_noise"
  is_factorized = False

  def __init__(self, latent_dim, rho=0.5):
    super().__init__(latent_dim, per_latent_params=2, joint_params=0)
    self.rho = check_rho(rho, self.latent_dim)
    self.correlation = equicorrelation_matrix(self.latent_dim, self.rho)
    self.correlation_log_det = equicorrelation_log_det(self.latent_dim, self.rho)
    # Factor the constant once, in float64: near rho = -1/(d-1) C_rho is ill-conditioned.
    self._correlation_cholesky = np.linalg.cholesky(self.correlation)

  def options(self):
    return {"rho": self.rho}

  def _distribution(self, per_latent, joint):
    del joint  # Always empty for this family.
    mean, stddev = factorized.mean_and_stddev(per_latent)
    chol = tf.constant(self._correlation_cholesky, dtype=per_latent.dtype)
    # diag(sigma) @ L_rho only rescales rows, so it stays lower triangular.
    return tfd.MultivariateNormalTriL(loc=mean, scale_tril=stddev[..., :, tf.newaxis] * chol)

  def __repr__(self):
    return f"CorrelatedNoise(latent_dim={self.latent_dim}, rho={self.rho})"
