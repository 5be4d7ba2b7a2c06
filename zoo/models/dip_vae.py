"""DIP-VAE-I and DIP-VAE-II (Kumar et al. 2018): match the aggregate posterior's covariance to I.

Cov_q(z) = Cov_x[mu(x)] + E_x[Sigma(x)]. DIP-VAE-I regularizes only Cov[mu(x)]; DIP-VAE-II the
whole expression, where Sigma(x) is the posterior's real covariance, so a correlated family's
off-diagonal terms count.
"""
import tensorflow as tf

from zoo.models.vae import VAE


def batch_covariance(x):
  """Covariance [d, d] of the rows of x [B, d] (normalized by B, as the reference does)."""
  centered = x - tf.reduce_mean(x, axis=0, keepdims=True)
  return tf.matmul(centered, centered, transpose_a=True) / tf.cast(tf.shape(x)[0], x.dtype)


def dip_penalty(cov, lambda_od, lambda_d):
  diag = tf.linalg.diag_part(cov)
  off_diag = cov - tf.linalg.diag(diag)
  return (lambda_od * tf.reduce_sum(tf.square(off_diag)) +
          lambda_d * tf.reduce_sum(tf.square(diag - 1.0)))


class DIPVAE(VAE):
  """DIP-VAE; `dip_type` "i" or "ii". lambda_d = lambda_d_factor * lambda_od."""

  model_name = "dip_vae"

  def __init__(self, observation_shape, dip_type="i", lambda_od=10.0, lambda_d_factor=10.0,
               **kwargs):
    super().__init__(observation_shape, **kwargs)
    if dip_type not in ("i", "ii"):
      raise ValueError(f"dip_vae.dip_type={dip_type!r}: expected 'i' or 'ii'")
    self.dip_type = dip_type
    self.lambda_od = float(lambda_od)
    self.lambda_d = float(lambda_d_factor) * float(lambda_od)
    self._add_config(dip_type=dip_type, lambda_od=self.lambda_od,
                     lambda_d_factor=float(lambda_d_factor))

  def regularizer(self, dist, z, kl):
    cov = batch_covariance(dist.mean())
    if self.dip_type == "ii":
      cov = cov + tf.reduce_mean(dist.covariance(), axis=0)
    penalty = dip_penalty(cov, self.lambda_od, self.lambda_d)
    return tf.reduce_mean(kl) + penalty, {"dip_penalty": penalty}
