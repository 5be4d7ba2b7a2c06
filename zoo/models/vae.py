"""VAE and beta-VAE, and the base class every VAE-type model of the zoo extends.

The model is encoder -> posterior family (a TFP distribution) -> sample -> decoder -> likelihood.
Subclasses change only the regularizer (`regularizer`) and, for FactorVAE, the training step.
"""
import gin
import tensorflow as tf

from zoo.models import zoo_model
from zoo.posteriors import gaussian_utils


# Constructor arguments that `zoo.models.build_model` supplies, hence not gin settings.
NETWORK_ARGUMENTS = ["observation_shape", "encoder", "decoder", "family", "likelihood"]


class VAE(zoo_model.ZooModel):
  """A VAE whose approximate posterior comes from a configurable posterior family.

  Loss per example: reconstruction NLL + regularizer, where the plain VAE's regularizer is the
  analytic KL(q(z|x) || N(0, I)).

  Args:
    observation_shape: shape of one observation.
    encoder: maps x [B, ...] to (per_latent [B, d, k], joint [B, j]) for `family`.
    decoder: maps z [B, d] to raw outputs shaped like x.
    family: a `zoo.posteriors` family turning the encoder outputs into a distribution.
    likelihood: a `zoo.models.likelihoods.Likelihood`.
  """

  model_name = "vae"

  def __init__(self, observation_shape, encoder, decoder, family, likelihood, **kwargs):
    super().__init__(observation_shape, family, likelihood, **kwargs)
    self.encoder = encoder
    self.decoder = decoder

  def posterior(self, x, training=False):
    """q(z|x) as a TFP distribution with batch shape [B] and event shape [d]."""
    per_latent, joint = self.encoder(x, training=training)
    return self.family(per_latent, joint)

  def decode(self, z, training=False):
    """Raw decoder output (logits or means, see `decoder_output`) for codes z [B, d]."""
    return self.decoder(z, training=training)

  def regularizer(self, dist, z, kl):
    """Scalar regularizer averaged over the batch, plus named terms for logging.

    Args:
      dist: q(z|x) for the batch.
      z: one sample [B, d] from dist (the one the decoder saw).
      kl: analytic KL(q(z|x) || p(z)) per example [B].
    """
    kl_mean = tf.reduce_mean(kl)
    return kl_mean, {}

  def compute_losses(self, x, training=True):
    """All loss terms for a batch: dict of scalars (and `kl_per_latent` [d])."""
    dist = self.posterior(x, training=training)
    return self.loss_terms(x, dist, dist.sample(seed=self.random_seeds(1)[0]),
                           training=training)

  def loss_terms(self, x, dist, z, training=True):
    """Loss terms given the batch's posterior and the sample z [B, d] the decoder sees."""
    raw = self.decode(z, training=training)
    reconstruction = tf.reduce_mean(self.likelihood.negative_log_likelihood(x, raw))
    kl = gaussian_utils.kl_to_standard_normal(dist)
    regularizer, terms = self.regularizer(dist, z, kl)
    losses = {
        "loss": reconstruction + regularizer,
        "reconstruction": reconstruction,
        "kl": tf.reduce_mean(kl),
        "regularizer": regularizer,
        "elbo": -(reconstruction + tf.reduce_mean(kl)),
        "kl_per_latent": tf.reduce_mean(
            gaussian_utils.marginal_kl_to_standard_normal(dist), axis=0),
    }
    losses.update(terms)
    return losses

  def train_step(self, data):
    """One optimizer step; returns this batch's loss terms (replica-local under tf.distribute)."""
    x = data[0] if isinstance(data, (tuple, list)) else data
    with tf.GradientTape() as tape:
      losses = self.compute_losses(x, training=True)
      scaled = self.scaled_loss(self.optimizer, losses["loss"])
    variables = self.main_variables
    self.apply_update(self.optimizer, tape.gradient(scaled, variables), variables)
    return losses

  @property
  def main_variables(self):
    return self.encoder.trainable_variables + self.decoder.trainable_variables

  def export_variables(self):
    return self.encoder.variables + self.decoder.variables

  def build_all(self):
    # One dummy batch creates the weights; a subclass with its own networks extends this.
    self.compute_losses(tf.zeros((1,) + self.observation_shape), training=False)
    self.optimizer.build(self.main_variables)


@gin.configurable("beta_vae", denylist=NETWORK_ARGUMENTS)
class BetaVAE(VAE):
  """beta-VAE (Higgins et al. 2017): the KL weighted by beta."""

  model_name = "beta_vae"

  def __init__(self, observation_shape, encoder, decoder, family, likelihood, beta=4.0,
               **kwargs):
    super().__init__(observation_shape, encoder, decoder, family, likelihood, **kwargs)
    if not beta >= 0:
      raise ValueError(f"beta_vae.beta={beta}: expected >= 0")
    self.beta = float(beta)

  def regularizer(self, dist, z, kl):
    return self.beta * tf.reduce_mean(kl), {}

