"""InfoGAN (Chen et al. 2016) whose Q network's posterior over the codes is a zoo posterior family.

The generator G(z, c, k) turns noise z ~ N(0, I_noise_dim), continuous codes c and optional
categorical codes k (uniform over `categorical_dim` values each) into Bernoulli logits. The
discriminator D and the Q network share one convolutional trunk
(`zoo.networks.infogan_networks`); Q's continuous head emits raw parameters laid out exactly
like an encoder's and a `zoo.posteriors` family turns them into Q(c | x). Maximizing the
variational lower bound

    L_I = E_{z, c, k}[log Q(c | G(z, c, k)) + log Q(k | G(z, c, k))]
    I(c, k; G(z, c, k)) >= H(c) + H(k) + L_I

makes the codes recoverable from the images. Both players add lambda * (-L_I) to the standard
non-saturating GAN losses: D and Q minimize it through the discriminator's own Adam, G through
the model's compiled optimizer, both from the same forward pass in every step.

The continuous codes' prior is `infogan.code_prior` (`zoo.models.priors`): "normal", the prior
every VAE in the zoo has, or "uniform". An isotropic Gaussian code space can be rotated without
changing the GAN or the information term, so nothing ties a code axis to one factor; a rotated
uniform cube is a different distribution. Measurements behind the recipe are in docs/INFOGAN.md.

How the model meets the zoo's model protocol (`zoo.models.zoo_model`):
  posterior(x)       Q(c | x) over the continuous codes, the representation every metric scores.
  decode(c)          G(0, c, 0): zero noise (the mode and mean of its prior) and category 0 for
                     every categorical code, so decode, reconstruct and traversals are
                     deterministic functions of c; `generate` takes all three inputs.
  main_variables     the generator's, updated by the compiled optimizer (training.learning_rate);
                     `compile` sets that Adam's beta_1 to `generator_beta_1` (0.5, the GAN
                     standard) because zoo-train builds it with the VAE default 0.9.
  export_variables   the discriminator's (trunk and Q heads) and the generator's.
"""
import math

import keras
import tensorflow as tf

from common import validation
from zoo import networks
from zoo import posteriors
from zoo.models import priors
from zoo.models import zoo_model
from zoo.models.likelihoods import Likelihood
from zoo.networks import infogan_networks
from zoo.posteriors import gaussian_utils


GENERATOR_OPTIONS = networks.defaults_of(infogan_networks.build_generator,
                                        skip=("observation_shape",))
DISCRIMINATOR_OPTIONS = networks.defaults_of(
    infogan_networks.build_discriminator, skip=("family", "num_categorical", "categorical_dim"))


class InfoGAN(zoo_model.ZooModel):
  """InfoGAN with Q(c | x) from a posterior family; the zoo's model protocol (see module doc).

  Args:
    observation_shape: (H, W, C) of the images (values in [0, 1]).
    latent_dim: d, the number of continuous codes.
    posterior: the family of Q(c | x), one of `zoo.posteriors.FAMILY_NAMES`.
    posterior_options: the family's settings, e.g. {"rho": 0.5}.
    noise_dim: size of the incompressible noise z (0 for none).
    num_categorical: number of categorical codes (0 for none).
    categorical_dim: values of each categorical code.
    info_lambda: weight of the information term -L_I in both players' losses.
    discriminator_learning_rate: Adam learning rate of D and Q.
    discriminator_beta_1: that Adam's beta_1.
    generator_beta_1: beta_1 set on the compiled (generator) Adam.
    code_prior: "normal" (N(0, 1) codes) or "uniform" (Uniform(-sqrt 3, sqrt 3)); see the
      module doc.
    generator_options: `infogan_networks.build_generator`'s settings (dense_units, channels,
      batch_norm).
    discriminator_options: `infogan_networks.build_discriminator`'s settings (channels,
      dense_units, q_units, q_split, q_branch_units, normalization).
    seed: the noise seed of training's random draws (`ZooModel.random_seeds`).
  """

  model_name = "infogan"

  def __init__(self, observation_shape, latent_dim=10, posterior="factorized",
               posterior_options=None, noise_dim=10, num_categorical=0, categorical_dim=10,
               info_lambda=0.1, discriminator_learning_rate=1e-3, discriminator_beta_1=0.5,
               generator_beta_1=0.5, code_prior="normal", generator_options=None,
               discriminator_options=None, seed=0, **kwargs):
    latent_dim = validation.positive_int(latent_dim, "latent_dim")
    family = posteriors.get_family(posterior, latent_dim, **dict(posterior_options or {}))
    generator_options = dict(GENERATOR_OPTIONS, **validation.options(
        generator_options, GENERATOR_OPTIONS, "generator_options"))
    discriminator_options = dict(DISCRIMINATOR_OPTIONS, **validation.options(
        discriminator_options, DISCRIMINATOR_OPTIONS, "discriminator_options"))
    super().__init__(observation_shape, family, Likelihood(name="bernoulli"), seed=seed,
                     **kwargs)
    if len(self.observation_shape) != 3:
      raise ValueError(f"infogan: observation shape {observation_shape} must be (H, W, C); "
                       "InfoGAN's networks are convolutional")
    self.noise_dim = validation.non_negative_int(noise_dim, "infogan.noise_dim")
    self.num_categorical = validation.non_negative_int(num_categorical, "infogan.num_categorical")
    self.categorical_dim = validation.integer(categorical_dim, "infogan.categorical_dim",
                                              minimum=2)
    self.info_lambda = validation.number(info_lambda, "infogan.info_lambda", minimum=0)
    self.generator_beta_1 = validation.number(generator_beta_1, "infogan.generator_beta_1",
                                              minimum=0, maximum=1, exclusive_maximum=True)
    discriminator_learning_rate = validation.positive_number(
        discriminator_learning_rate, "infogan.discriminator_learning_rate")
    discriminator_beta_1 = validation.number(
        discriminator_beta_1, "infogan.discriminator_beta_1", minimum=0, maximum=1,
        exclusive_maximum=True)
    self.code_prior = validation.one_of(code_prior, priors.PRIOR_NAMES, "infogan.code_prior")
    self.generator = infogan_networks.build_generator(self.observation_shape,
                                                      **generator_options)
    self.discriminator = infogan_networks.build_discriminator(
        family, self.num_categorical, self.categorical_dim, **discriminator_options)
    self.discriminator_optimizer = zoo_model.for_precision(keras.optimizers.Adam(
        learning_rate=discriminator_learning_rate, beta_1=discriminator_beta_1, beta_2=0.999,
        name="discriminator_adam"))
    # H(c) + H(k): the MI lower bound is this plus L_I.
    self.code_entropy = (self.latent_dim * priors.ENTROPY_PER_CODE[code_prior]
                         + self.num_categorical * math.log(self.categorical_dim))
    self._add_config(
        latent_dim=latent_dim, posterior=posterior, posterior_options=family.options(),
        noise_dim=self.noise_dim, num_categorical=self.num_categorical,
        categorical_dim=self.categorical_dim, info_lambda=self.info_lambda,
        discriminator_learning_rate=discriminator_learning_rate,
        discriminator_beta_1=discriminator_beta_1, generator_beta_1=self.generator_beta_1,
        code_prior=self.code_prior, generator_options=generator_options,
        discriminator_options=discriminator_options)

  @property
  def prior_name(self):
    return self.code_prior

  def compile(self, optimizer="rmsprop", **kwargs):
    super().compile(optimizer=optimizer, **kwargs)
    adam = getattr(self.optimizer, "inner_optimizer", self.optimizer)  # under loss scaling
    if isinstance(adam, keras.optimizers.Adam):
      adam.beta_1 = self.generator_beta_1

  # --- generator side ---

  def sample_latents(self, batch_size):
    """Draws this step's noise [B, noise_dim], codes [B, d] and categories int32 [B, n].

    From stateless seeds of the step (`random_seeds`), so that a resumed run draws the same.
    """
    noise_seed, code_seed, category_seed = self.random_seeds(3)
    noise = tf.random.stateless_normal([batch_size, self.noise_dim], noise_seed)
    codes = priors.sample(self.prior_name, [batch_size, self.latent_dim], seed=code_seed)
    categories = tf.random.stateless_uniform([batch_size, self.num_categorical], category_seed,
                                             0, self.categorical_dim, dtype=tf.int32)
    return noise, codes, categories

  def generate(self, noise, codes, categories=None, training=False):
    """Generator logits [B, H, W, C] for noise [B, noise_dim], codes [B, d] and
    categories int [B, num_categorical] (None: category 0 for every code)."""
    codes = tf.convert_to_tensor(codes, tf.float32)
    parts = [tf.convert_to_tensor(noise, tf.float32), codes]
    if self.num_categorical:
      if categories is None:
        categories = tf.zeros([tf.shape(codes)[0], self.num_categorical], tf.int32)
      one_hot = tf.one_hot(categories, self.categorical_dim, dtype=codes.dtype)
      parts.append(tf.reshape(one_hot, [-1, self.num_categorical * self.categorical_dim]))
    return self.generator(tf.concat(parts, axis=-1), training=training)

  def decode(self, z, training=False):
    """Logits [B, H, W, C] of G(0, z, 0) for codes z [B, d]: zero noise, category 0."""
    z = tf.convert_to_tensor(z, tf.float32)
    noise = tf.zeros([tf.shape(z)[0], self.noise_dim], z.dtype)
    return self.generate(noise, z, None, training=training)

  # --- discriminator / Q side ---

  def posterior(self, x, training=False):
    """Q(c | x) over the continuous codes: batch shape [B], event shape [d]."""
    outputs = self.discriminator(x, training=training)
    return self.family(outputs["per_latent"], outputs["joint"])

  # --- losses and training ---

  def compute_losses(self, x, training=True):
    """All loss terms for a batch of real images x [B, H, W, C].

    Returns:
      dict of scalars: loss (G's objective), generator_loss, discriminator_loss, info_loss
      (-L_I), mi_lower_bound (H(c) + H(k) + L_I, nats), real_probability, fake_probability;
      and mi_lower_bound_per_latent [d] (H(c_i) + E log Q(c_i | x) under Q's marginal).
    """
    x = tf.convert_to_tensor(x, tf.float32)
    batch = tf.shape(x)[0]
    noise, codes, categories = self.sample_latents(batch)
    fake = tf.sigmoid(self.generate(noise, codes, categories, training=training))
    # One pass over real and generated images: batch norm sees one mixed batch, so the
    # statistics it keeps for inference describe the same mixture it normalized in training.
    outputs = self.discriminator(tf.concat([x, fake], axis=0), training=training)
    real_logits, fake_logits = outputs["logits"][:batch], outputs["logits"][batch:]
    discriminator_loss = (tf.reduce_mean(tf.nn.softplus(-real_logits))
                          + tf.reduce_mean(tf.nn.softplus(fake_logits)))
    generator_loss = tf.reduce_mean(tf.nn.softplus(-fake_logits))  # non-saturating

    q_fake = self.family(outputs["per_latent"][batch:], outputs["joint"][batch:])
    info_loss = -tf.reduce_mean(q_fake.log_prob(codes))
    mean = q_fake.mean()
    stddev = gaussian_utils.marginal_stddev(q_fake)
    # H(N(0, 1)) + log N(c_i; m_i, s_i^2) = 1/2 - ((c_i - m_i) / s_i)^2 / 2 - log s_i.
    per_latent_bound = tf.reduce_mean(
        0.5 - 0.5 * tf.square((codes - mean) / stddev) - tf.math.log(stddev), axis=0)
    if self.num_categorical:
      info_loss += tf.reduce_mean(tf.reduce_sum(
          tf.nn.sparse_softmax_cross_entropy_with_logits(
              labels=categories, logits=outputs["categorical_logits"][batch:]), axis=-1))
    return {
        "loss": generator_loss + self.info_lambda * info_loss,
        "generator_loss": generator_loss,
        "discriminator_loss": discriminator_loss,
        "info_loss": info_loss,
        "mi_lower_bound": self.code_entropy - info_loss,
        "real_probability": tf.reduce_mean(tf.sigmoid(real_logits)),
        "fake_probability": tf.reduce_mean(tf.sigmoid(fake_logits)),
        "mi_lower_bound_per_latent": per_latent_bound,
    }

  def train_step_losses(self, data):
    """One simultaneous update of G (compiled optimizer) and D + Q (their own Adam).

    Returns this batch's loss terms (replica-local under tf.distribute).
    """
    x = data[0] if isinstance(data, (tuple, list)) else data
    with tf.GradientTape(persistent=True) as tape:
      losses = self.compute_losses(x, training=True)
      generator_objective = self.scaled_loss(self.optimizer, losses["loss"])
      discriminator_objective = self.scaled_loss(
          self.discriminator_optimizer,
          losses["discriminator_loss"] + self.info_lambda * losses["info_loss"])
    generator_vars = self.main_variables
    discriminator_vars = self.discriminator.trainable_variables
    self.apply_update(self.optimizer, tape.gradient(generator_objective, generator_vars),
                      generator_vars)
    self.apply_update(self.discriminator_optimizer,
                      tape.gradient(discriminator_objective, discriminator_vars),
                      discriminator_vars)
    del tape
    return losses

  @property
  def main_variables(self):
    """The generator's variables: what the compiled optimizer updates."""
    return self.generator.trainable_variables

  def export_variables(self):
    return self.discriminator.variables + self.generator.variables

  def build_networks(self):
    self.posterior(tf.zeros((1,) + self.observation_shape))
    self.decode(tf.zeros((1, self.latent_dim)))
    self.discriminator_optimizer.build(self.discriminator.trainable_variables)

  def optimizers(self):
    return {"optimizer": self.optimizer, "discriminator_optimizer": self.discriminator_optimizer}
