"""Gaussian posterior with a learned full covariance S = L L^T, L lower triangular.

Per latent i: (mean_i, log variance r_i) with L_ii = exp(r_i / 2), the reference code's
parameterization of the diagonal. Joint: the d(d-1)/2 strictly-lower entries of L in row-major
order, (1,0), (2,0), (2,1), (3,0), ... With every off-diagonal entry zero this is exactly the
factorized family.
"""
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from common import validation
from zoo.posteriors import factorized
from zoo.posteriors import posterior_family

tfd = tfp.distributions


def tril_gather_indices(latent_dim):
  """int32 [d * d] indices into [0, diag_0..diag_{d-1}, lower_0..lower_{m-1}] giving L row-major.

  Index 0 is a zero slot for the upper triangle, so one gather fills the whole matrix.
  """
  indices = np.zeros((latent_dim, latent_dim), dtype=np.int32)
  indices[np.diag_indices(latent_dim)] = 1 + np.arange(latent_dim)
  rows, cols = np.tril_indices(latent_dim, k=-1)  # Row-major order.
  indices[rows, cols] = 1 + latent_dim + np.arange(rows.size)
  return indices.reshape(-1)


class FullCovariance(posterior_family.PosteriorFamily):
  """MultivariateNormalTriL; per latent (mean, log variance of L_ii), joint d(d-1)/2 entries."""

  name = "full_covariance"
  is_factorized = False

  def __init__(self, latent_dim):
    latent_dim = validation.positive_int(latent_dim, f"{self.name}: latent_dim")
    super().__init__(latent_dim, per_latent_params=2,
                     joint_params=latent_dim * (latent_dim - 1) // 2)
    self._gather_indices = tril_gather_indices(latent_dim)

  def _distribution(self, per_latent, joint):
    mean, diag = factorized.mean_and_stddev(per_latent)
    if joint is None:  # Only allowed when d == 1, where there is nothing below the diagonal.
      joint = tf.zeros_like(diag[..., :0])
    source = tf.concat([tf.zeros_like(diag[..., :1]), diag, joint], axis=-1)
    flat = tf.gather(source, self._gather_indices, axis=-1)
    scale_tril = tf.reshape(flat, tf.concat(
        [tf.shape(flat)[:-1], [self.latent_dim, self.latent_dim]], axis=0))
    return tfd.MultivariateNormalTriL(loc=mean, scale_tril=scale_tril)
