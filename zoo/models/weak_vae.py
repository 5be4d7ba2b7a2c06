"""Weakly-supervised VAEs trained on pairs that share some factors (Locatello et al., ICML 2020).

Each pair (x1, x2) differs in k factors (`zoo.data.pairs`). Both are encoded; for the latents
taken as shared, both posteriors are replaced by one average of the two, and the loss is the
mean of the two examples' beta-VAE losses with those posteriors:

  loss = (rec(x1) + rec(x2)) / 2 + beta * (KL(q1' || p) + KL(q2' || p)) / 2

as in the reference code (`weak_vae.py` of disentanglement_lib, whose 0.5 weights this keeps).

  group_vae    arithmetic average (GroupVAE): mean (m1 + m2) / 2, variance (v1 + v2) / 2
  ml_vae       product average (ML-VAE): variance 2 v1 v2 / (v1 + v2), mean (m1 / v1 + m2 / v2)
               v1 v2 / (v1 + v2), the product of the two Gaussians with its variance doubled,
               exactly the reference's
  ada_gvae     group_vae's average, shared latents inferred per pair
  ada_ml_vae   ml_vae's average, shared latents inferred per pair

Which latents are shared: the adaptive models compute delta_i = KL(q(z_i|x1) || q(z_i|x2))
from the marginals and share the latents below tau = (max delta + min delta) / 2 (a pair
whose deltas are all equal shares all). group_vae and ml_vae are told: latent i encodes factor
i and is kept per example exactly when factor i differs within the pair (latents beyond the
factors are always shared), the reference's "labels" variants.

Posterior families: averaging is defined on each latent's mean and variance, which fixes
`factorized`; for `correlated_noise` the fixed noise correlation stays and only the means and
scales are averaged. A learned covariance (`full_covariance`, `low_rank`) has no such per-latent
average, and these models refuse it. Single observations are encoded as by any VAE, so exports,
metrics and pictures treat these models like every other.
"""
import tensorflow as tf

from common import validation
from zoo.models.vae import VAE

AVERAGEABLE_FAMILIES = ("factorized", "correlated_noise")


def arithmetic_average(mean_1, var_1, mean_2, var_2):
  """GroupVAE's average of two Gaussians per latent: (mean, variance)."""
  return 0.5 * mean_1 + 0.5 * mean_2, 0.5 * var_1 + 0.5 * var_2


def product_average(mean_1, var_1, mean_2, var_2):
  """ML-VAE's average per latent as the reference computes it: (mean, variance)."""
  var = 2.0 * var_1 * var_2 / (var_1 + var_2)
  return (mean_1 / var_1 + mean_2 / var_2) * var * 0.5, var


def pair_divergence(mean_1, log_var_1, mean_2, log_var_2):
  """2 KL(N(m1, v1) || N(m2, v2)) per latent, the reference's distance between the two."""
  var_1, var_2 = tf.exp(log_var_1), tf.exp(log_var_2)
  return var_1 / var_2 + tf.square(mean_2 - mean_1) / var_2 - 1.0 + log_var_2 - log_var_1


def adaptive_shared(divergence):
  """Latents inferred as shared [B, d]: delta below the midpoint of its pair's range."""
  low = tf.reduce_min(divergence, axis=1, keepdims=True)
  high = tf.reduce_max(divergence, axis=1, keepdims=True)
  return tf.logical_or(divergence < 0.5 * (low + high), high <= low)


def labelled_shared(changed, latent_dim):
  """Latents that are shared [B, d] when latent i encodes factor i: those whose factor stayed
  (and every latent beyond the factors)."""
  num_factors = changed.shape[1]
  individual = changed[:, :latent_dim] > 0.5
  if num_factors < latent_dim:
    individual = tf.pad(individual, [[0, 0], [0, latent_dim - num_factors]])
  return tf.logical_not(individual)


class WeakVAE(VAE):
  """Base of the pair models; subclasses set `average` and `adaptive`.

  Args (besides the VAE's): beta, the weight of the KL term.
  """

  training_input = "pairs"
  average = None
  adaptive = None

  def __init__(self, observation_shape, beta=1.0, **kwargs):
    super().__init__(observation_shape, **kwargs)
    if self.family.name not in AVERAGEABLE_FAMILIES:
      raise ValueError(
          f"name={self.model_name!r} with posterior={self.family.name!r}: a learned "
          f"covariance has no per-latent average across a pair; use one of "
          f"{', '.join(map(repr, AVERAGEABLE_FAMILIES))}")
    self.beta = validation.number(beta, f"{self.model_name}.beta", minimum=0)
    self._add_config(beta=self.beta)

  def regularizer(self, dist, z, kl):
    return self.beta * tf.reduce_mean(kl), {}

  def shared_latents(self, per_latent_1, per_latent_2, changed):
    """[B, d] bool: the latents both posteriors of a pair share."""
    if self.adaptive:
      return adaptive_shared(pair_divergence(per_latent_1[..., 0], per_latent_1[..., 1],
                                             per_latent_2[..., 0], per_latent_2[..., 1]))
    return labelled_shared(changed, self.latent_dim)

  def aggregate(self, per_latent_1, per_latent_2, shared):
    """Both raw posteriors with the shared latents' (mean, log variance) replaced by the
    average of the two."""
    mean_1, log_var_1 = per_latent_1[..., 0], per_latent_1[..., 1]
    mean_2, log_var_2 = per_latent_2[..., 0], per_latent_2[..., 1]
    mean, var = self.average(mean_1, tf.exp(log_var_1), mean_2, tf.exp(log_var_2))
    log_var = tf.math.log(var)
    return [tf.stack([tf.where(shared, mean, m), tf.where(shared, log_var, v)], axis=-1)
            for m, v in ((mean_1, log_var_1), (mean_2, log_var_2))]

  def pair_losses(self, x1, x2, changed, training=True):
    """The loss terms of a batch of pairs: each the mean of the two examples' terms, plus
    `shared_latents` (mean count per pair) and `shared_per_latent` (share of pairs) [d]."""
    per_latent_1, joint_1 = self.encoder(x1, training=training)
    per_latent_2, joint_2 = self.encoder(x2, training=training)
    shared = self.shared_latents(per_latent_1, per_latent_2, changed)
    aggregated_1, aggregated_2 = self.aggregate(per_latent_1, per_latent_2, shared)
    seed_1, seed_2 = self.random_seeds(2)
    terms = []
    for x, per_latent, joint, seed in ((x1, aggregated_1, joint_1, seed_1),
                                       (x2, aggregated_2, joint_2, seed_2)):
      dist = self.family(per_latent, joint)
      terms.append(self.loss_terms(x, dist, dist.sample(seed=seed), training=training))
    losses = {k: 0.5 * terms[0][k] + 0.5 * terms[1][k] for k in terms[0]}
    shared = tf.cast(shared, tf.float32)
    losses["shared_latents"] = tf.reduce_mean(tf.reduce_sum(shared, axis=1))
    losses["shared_per_latent"] = tf.reduce_mean(shared, axis=0)
    return losses

  def train_step_losses(self, data):
    x1, x2, changed = data
    with tf.GradientTape() as tape:
      losses = self.pair_losses(x1, x2, changed, training=True)
      scaled = self.scaled_loss(self.optimizer, losses["loss"])
    variables = self.main_variables
    self.apply_update(self.optimizer, tape.gradient(scaled, variables), variables)
    return losses


class GroupVAE(WeakVAE):
  model_name = "group_vae"
  average = staticmethod(arithmetic_average)
  adaptive = False


class MLVAE(WeakVAE):
  model_name = "ml_vae"
  average = staticmethod(product_average)
  adaptive = False


class AdaGVAE(WeakVAE):
  model_name = "ada_gvae"
  average = staticmethod(arithmetic_average)
  adaptive = True


class AdaMLVAE(WeakVAE):
  model_name = "ada_ml_vae"
  average = staticmethod(product_average)
  adaptive = True
