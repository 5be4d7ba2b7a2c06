"""VAE and beta-VAE, and the base class every VAE-type model of the zoo extends.

The model is encoder -> posterior family (a TFP distribution) -> sample -> decoder -> likelihood.
Subclasses change only the regularizer (`regularizer`) and, for FactorVAE, the training step.
"""
import tensorflow as tf

from common import validation
from zoo import networks
from zoo import posteriors
from zoo.models import zoo_model
from zoo.models.likelihoods import Likelihood
from zoo.posteriors import gaussian_utils


class VAE(zoo_model.ZooModel):
  """A VAE whose approximate posterior comes from a configurable posterior family.

  Loss per example: reconstruction NLL + regularizer, where the plain VAE's regularizer is the
  analytic KL(q(z|x) || N(0, I)).

  Args:
    observation_shape: shape of one observation, e.g. (64, 64, 1) or (8,).
    latent_dim: d, the number of latents.
    posterior: the posterior family, one of `zoo.posteriors.FAMILY_NAMES`.
    posterior_options: the family's settings, e.g. {"rho": 0.5} for correlated_noise
      (`zoo.posteriors.FAMILY_OPTIONS`).
    encoder: one of `zoo.networks.ENCODER_NAMES`: "conv64", "conv64_split" (the split
      encoder), "mlp", "mlp_split".
    encoder_options: overrides of the encoder's settings (`zoo.networks.ENCODER_OPTIONS`:
      branch_units, mlp_hidden_units, deep_units).
    decoder: "conv64" or "mlp"; None takes the encoder's kind.
    decoder_options: overrides of the decoder's settings (mlp_hidden_units).
    likelihood: "bernoulli" (decoder logits; images in [0, 1]) or "gaussian" (decoder means).
    likelihood_options: {"observation_std": ...} of the Gaussian likelihood.
    seed: the noise seed of training's random draws (`ZooModel.random_seeds`).
  """

  model_name = "vae"

  def __init__(self, observation_shape, latent_dim=10, posterior="factorized",
               posterior_options=None, encoder="conv64", encoder_options=None, decoder=None,
               decoder_options=None, likelihood="bernoulli", likelihood_options=None, seed=0,
               **kwargs):
    latent_dim = validation.positive_int(latent_dim, "latent_dim")
    family = posteriors.get_family(posterior, latent_dim, **dict(posterior_options or {}))
    encoder_settings = networks.encoder_settings(encoder, encoder_options)
    decoder_settings = networks.decoder_settings(
        encoder_settings["kind"] if decoder is None else decoder, decoder_options)
    likelihood = Likelihood(likelihood, **dict(likelihood_options or {}))
    super().__init__(observation_shape, family, likelihood, seed=seed, **kwargs)
    # The networks are built after the family and in this order, as they always were: layers
    # draw their initializers' seeds from Keras's global seed when they are created.
    self.encoder = networks.build_encoder(latent_dim, family.per_latent_params,
                                          family.joint_params, **encoder_settings)
    self.decoder = networks.build_decoder(self.observation_shape, **decoder_settings)
    self._add_config(
        latent_dim=latent_dim, posterior=posterior, posterior_options=family.options(),
        encoder=encoder,
        encoder_options={k: v for k, v in encoder_settings.items() if k not in ("kind", "split")},
        decoder=decoder_settings["kind"],
        decoder_options={k: v for k, v in decoder_settings.items() if k != "kind"},
        likelihood=likelihood.name, likelihood_options=likelihood.options())

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

  def train_step_losses(self, data):
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

  def build_networks(self):
    # One dummy batch creates the weights; a subclass with its own networks extends this.
    self.decode(self.posterior(tf.zeros((1,) + self.observation_shape)).mean())


class BetaVAE(VAE):
  """beta-VAE (Higgins et al. 2017): the KL weighted by beta.

  Args (besides the VAE's): beta, the weight of the KL term.
  """

  model_name = "beta_vae"

  def __init__(self, observation_shape, beta=4.0, **kwargs):
    super().__init__(observation_shape, **kwargs)
    if not beta >= 0:
      raise ValueError(f"beta_vae.beta={beta}: expected >= 0")
    self.beta = float(beta)
    self._add_config(beta=self.beta)

  def regularizer(self, dist, z, kl):
    return self.beta * tf.reduce_mean(kl), {}

