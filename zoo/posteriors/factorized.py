"""The factorized (diagonal Gaussian) posterior: q(z | x) = prod_i N(z_i; mu_i(x), sigma_i(x)^2)."""
import tensorflow as tf
import tensorflow_probability as tfp

from zoo.posteriors import posterior_family

tfd = tfp.distributions


def mean_and_stddev(per_latent):
  """Splits raw [B, d, >=2] parameters into mean [B, d] and stddev [B, d].

  Channel 1 is a log variance, as in the reference study's code, so sigma = exp(logvar / 2).
  """
  return per_latent[..., 0], tf.exp(0.5 * per_latent[..., 1])


class Factorized(posterior_family.PosteriorFamily):
  """Diagonal Gaussian; per latent (mean, log variance), no joint parameters."""

  name = "factorized"
  is_factorized = True

  def __init__(self, latent_dim):
    super().__init__(latent_dim, per_latent_params=2, joint_params=0)

  def _distribution(self, per_latent, joint):
    del joint  # Always empty for this family.
    mean, stddev = mean_and_stddev(per_latent)
    return tfd.MultivariateNormalDiag(loc=mean, scale_diag=stddev)
