"""beta-TCVAE (Chen et al. 2018): KL plus (beta - 1) times a minibatch estimate of TC(q(z)).

The estimate evaluates every sample z_m under every example's posterior q(z|x_n) in the batch,
using the family's full covariance for the joint density and its marginal variances for the
per-latent densities, so correlated posteriors are measured as they are.
"""
import tensorflow as tf

from zoo.models.vae import VAE
from zoo.posteriors import gaussian_utils


def minibatch_total_correlation(dist, z):
  """TC estimate E_m[log q(z_m) - sum_i log q(z_m,i)] over a batch of B examples.

  The aggregate density is the batch mixture, log q(z_m) ~ logsumexp_n log q(z_m | x_n) - log B,
  and likewise per latent. The reference code omits the -log B terms; they shift the estimate
  by the constant (d - 1) log B, which changes no gradient but makes the logged value
  meaningless, so they are kept here.

  Args:
    dist: q(z|x) for the batch, batch shape [B], event shape [d].
    z: one sample per example, [B, d].
  """
  log_batch = tf.math.log(tf.cast(tf.shape(z)[0], z.dtype))
  log_qz_joint = tf.reduce_logsumexp(gaussian_utils.log_prob_pairwise(dist, z), axis=1)
  log_qz_marginals = tf.reduce_sum(
      tf.reduce_logsumexp(gaussian_utils.log_prob_marginals(dist, z), axis=1) - log_batch,
      axis=1)
  return tf.reduce_mean(log_qz_joint - log_batch - log_qz_marginals)


class BetaTCVAE(VAE):
  """Regularizer KL + (beta - 1) * TC."""

  model_name = "beta_tcvae"

  def __init__(self, observation_shape, beta=6.0, **kwargs):
    super().__init__(observation_shape, **kwargs)
    self.beta = float(beta)
    self._add_config(beta=self.beta)

  def regularizer(self, dist, z, kl):
    tc = minibatch_total_correlation(dist, z)
    return tf.reduce_mean(kl) + (self.beta - 1.0) * tc, {"total_correlation": tc}
