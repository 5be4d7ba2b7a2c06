"""Gaussian posterior with diagonal plus low-rank covariance S = diag(exp(r)) + V V^T.

Per latent i: (mean_i, log variance r_i, V[i, 0], ..., V[i, rank-1]), so each latent owns its
row of V and a split encoder can still give every latent its own branch; no joint parameters.

Representation: the distribution is a MultivariateNormalTriL on cholesky(S) rather than TFP's
MultivariateNormalDiagPlusLowRankCovariance. At d = 10 the Cholesky of a 10 x 10 matrix is cheaper
than the Woodbury / determinant-lemma operator chain (measured on CPU, B = 64, rank 2, sample +
log_prob + gradients under tf.function: about 0.73 ms vs 0.88 ms per step), and a TriL
distribution has a registered KL to the prior and a scale_tril like every other family.
"""
import tensorflow as tf
import tensorflow_probability as tfp

from common import validation
from zoo.posteriors import factorized
from zoo.posteriors import posterior_family

tfd = tfp.distributions


class LowRank(posterior_family.PosteriorFamily):
  """N(mu, diag(exp(r)) + V V^T) with V [d, rank]; per latent 2 + rank parameters."""

  name = "low_rank"
  is_factorized = False

  def __init__(self, latent_dim, rank=2):
    rank = validation.positive_int(rank, "low_rank: rank")
    if rank > latent_dim:
      # V V^T of a d x rank factor has rank at most d: the extra columns add parameters only.
      raise ValueError(f"low_rank.rank={rank}: expected at most the latent size "
                       f"(model.latent_dim={latent_dim})")
    super().__init__(latent_dim, per_latent_params=2 + rank, joint_params=0)
    self.rank = rank

  def options(self):
    return {"rank": self.rank}

  def _distribution(self, per_latent, joint):
    del joint  # Always empty for this family.
    mean, stddev = factorized.mean_and_stddev(per_latent)
    factor = per_latent[..., 2:]  # V, [B, d, rank].
    low_rank = tf.matmul(factor, factor, transpose_b=True)
    covariance = tf.linalg.set_diag(low_rank, tf.linalg.diag_part(low_rank) + tf.square(stddev))
    return tfd.MultivariateNormalTriL(loc=mean, scale_tril=tf.linalg.cholesky(covariance))

  def __repr__(self):
    return f"LowRank(latent_dim={self.latent_dim}, rank={self.rank})"
