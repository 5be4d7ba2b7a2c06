"""InfoGAN (Chen et al. 2016) whose Q network's posterior over the codes is a zoo posterior family.

The generator G(z, c, k) turns noise z ~ N(0, I_noise_dim), continuous codes c ~ N(0, I_d) and
optional categorical codes k (uniform over `categorical_dim` values each) into Bernoulli logits.
The discriminator D and the Q network share one convolutional trunk; Q's continuous head emits
raw parameters laid out exactly like an encoder's (`per_latent` [B, d, k], `joint` [B, j]) and a
`zoo.posteriors` family turns them into Q(c | x). Maximizing the variational lower bound

    L_I = E_{z, c, k}[log Q(c | G(z, c, k)) + log Q(k | G(z, c, k))]
    I(c, k; G(z, c, k)) >= H(c) + H(k) + L_I

makes the codes recoverable from the images. Both players add lambda * (-L_I) to the standard
non-saturating GAN losses: D and Q minimize it through the discriminator's own Adam, G through
the model's compiled optimizer, both from the same forward pass in every step. D's weights are
spectrally normalized by default (`infogan_discriminator.normalization`): with the paper's
batch-norm D, D overpowered G on binary dSprites (measurements in gin_configs/models/infogan.gin).

The continuous codes' prior (`infogan.code_prior`): "normal", c ~ N(0, I), the prior every
VAE in the zoo has, or "uniform", c ~ Uniform(-sqrt 3, sqrt 3)^d, the paper's uniform codes
rescaled to unit variance so that traversal ranges mean the same for both. The choice matters
for disentanglement: the GAN and information terms are unchanged when an isotropic Gaussian
code space is rotated, so nothing ties a code axis to one factor, while a rotated uniform cube is
a different distribution. On 32x32 dSprites (CPU recipe, 3 seeds,
gin_configs/models/infogan.gin) uniform codes gave a mean MIG of 0.053 over steps 1,000-4,000,
normal codes 0.027. H(c) is d/2 log(2 pi e) or d log(2 sqrt 3) nats; the export's
`sample_prior` and `zoo-visualize` draw from the model's prior.

How the model fits the zoo's model protocol (what zoo-train, evaluation and zoo-export use):
  posterior(x)   Q(c | x) over the continuous codes, the representation every metric scores.
  decode(c)      G(0, c, 0): zero noise (the mode and mean of its prior) and category 0 for
                 every categorical code, so decode, reconstruct and traversals are deterministic
                 functions of c; `generate` takes all three inputs explicitly.
  encoder        the discriminator (trunk, real/fake head, Q heads), decoder the generator:
                 the names the exporter reads variables from.
  main_variables the generator's, updated by the compiled optimizer (training.learning_rate);
                 `compile` sets that Adam's beta_1 to `generator_beta_1` (0.5, the GAN standard)
                 because zoo-train builds it with the VAE default 0.9.
"""
import math

import gin
import keras
import tensorflow as tf

from zoo.models.likelihoods import Likelihood
from zoo.networks.encoders import Encoder
from zoo.posteriors import gaussian_utils

DISCRIMINATOR_NORMALIZATIONS = ("batch_norm", "spectral", "none")
CODE_PRIORS = ("normal", "uniform")
# Uniform codes on [-a, a] with a = sqrt(3) have unit variance, like N(0, 1).
UNIFORM_CODE_HALF_WIDTH = math.sqrt(3.0)
# Entropy of one code in nats: N(0, 1), and Uniform(-a, a).
_CODE_ENTROPY = {"normal": 0.5 * math.log(2.0 * math.pi * math.e),
                 "uniform": math.log(2.0 * UNIFORM_CODE_HALF_WIDTH)}


def _check_channels(channels, what):
  channels = tuple(int(c) for c in channels)
  if not channels or min(channels) < 1:
    raise ValueError(f"{what}={channels!r}: expected a non-empty tuple of positive integers")
  return channels


@gin.configurable("infogan_generator", denylist=["observation_shape"])
def build_generator(observation_shape, dense_units=1024, channels=(128, 64, 32),
                    batch_norm=True):
  """G: inputs [B, n] -> logits [B, H, W, C].

  dense(dense_units) -> dense to a base grid with channels[0] maps -> one stride-2
  transposed convolution (kernel 4) per further entry of `channels` -> a last stride-2
  transposed convolution to C logits. The image side is the base side times 2^len(channels),
  so (128, 64) is the InfoGAN paper's MNIST generator (7 -> 28; here 8 -> 32) and
  (128, 64, 32) its 64x64 extension. ReLU and batch norm after every layer but the last.

  Args:
    observation_shape: (H, W, C) with H and W divisible by 2^len(channels).
    dense_units: width of the first dense layer.
    channels: feature maps of the base grid, then of each upsampled grid but the last.
    batch_norm: batch norm before each ReLU (the paper's choice; keeps G from collapsing).
  """
  height, width, image_channels = tuple(observation_shape)
  channels = _check_channels(channels, "infogan_generator.channels")
  factor = 2 ** len(channels)
  if height % factor or width % factor:
    raise ValueError(f"infogan_generator.channels={channels}: image shape {observation_shape} "
                     f"needs height and width divisible by 2^{len(channels)} = {factor}")

  def activation(name):
    block = [keras.layers.BatchNormalization(name=f"{name}_bn")] if batch_norm else []
    return block + [keras.layers.ReLU(name=f"{name}_relu")]

  base_h, base_w = height // factor, width // factor
  layers = [keras.layers.Dense(int(dense_units), name="dense1")] + activation("dense1")
  layers += [keras.layers.Dense(base_h * base_w * channels[0], name="dense2")]
  layers += activation("dense2")
  layers.append(keras.layers.Reshape((base_h, base_w, channels[0]), name="base_grid"))
  for i, units in enumerate(channels[1:]):
    name = f"deconv{i + 1}"
    layers.append(keras.layers.Conv2DTranspose(units, 4, strides=2, padding="same", name=name))
    layers += activation(name)
  layers.append(keras.layers.Conv2DTranspose(image_channels, 4, strides=2, padding="same",
                                             name=f"deconv{len(channels)}_logits"))
  return keras.Sequential(layers, name="generator")


class InfoGANDiscriminator(keras.Model):
  """D and Q on one trunk: x [B, H, W, C] -> dict of
     logits [B] (real vs generated), per_latent [B, d, k] and joint [B, j] (Q's raw continuous
     posterior parameters for `family`), and, with categorical codes,
     categorical_logits [B, num_categorical, categorical_dim].

  Args:
    features: layers x -> h [B, F], shared by D and Q.
    real_fake: layer h -> [B, 1], D's logit.
    q_head: an `zoo.networks.encoders.Encoder` applied to h (its "trunk" is Q's hidden layer),
      so a shared or split head gives the same parameter layout as an encoder.
    num_categorical, categorical_dim: the categorical codes Q also predicts.
  """

  def __init__(self, features, real_fake, q_head, num_categorical, categorical_dim, **kwargs):
    super().__init__(**kwargs)
    self.features = keras.Sequential(features, name="trunk")
    self.real_fake = real_fake
    self.q_head = q_head
    self.num_categorical = num_categorical
    self.categorical_dim = categorical_dim
    if num_categorical:
      self.categorical_head = keras.layers.Dense(num_categorical * categorical_dim,
                                                 name="categorical_logits")

  def call(self, x, training=False):
    h = self.features(x, training=training)
    per_latent, joint = self.q_head(h, training=training)
    outputs = {"logits": self.real_fake(h, training=training)[:, 0], "per_latent": per_latent,
               "joint": joint}
    if self.num_categorical:
      outputs["categorical_logits"] = keras.ops.reshape(
          self.categorical_head(h), (-1, self.num_categorical, self.categorical_dim))
    return outputs


@gin.configurable("infogan_discriminator",
                  denylist=["family", "num_categorical", "categorical_dim"])
def build_discriminator(family, num_categorical=0, categorical_dim=10, channels=(64, 128, 128),
                        dense_units=1024, q_units=128, q_split=False, q_branch_units=32,
                        normalization="spectral"):
  """D/Q: stride-2 convolutions (kernel 4, leaky ReLU 0.2) -> dense(dense_units) -> real/fake
  logit, and Q: dense(q_units) -> the encoder head.

  (64, 128) with dense 1024, Q 128 and batch norm is the InfoGAN paper's MNIST discriminator.

  Args:
    family: the posterior family of Q(c | x); fixes Q's output layout.
    num_categorical, categorical_dim: categorical codes (0 for none).
    channels: feature maps of each convolution.
    dense_units: the shared dense layer after the convolutions.
    q_units: width of Q's hidden layer (and of the encoder head's deep layer when not split).
    q_split: give each continuous code its own deep layer and output, as the split encoder does.
    q_branch_units: width of each code's branch when split.
    normalization: "spectral" (spectral normalization of every trunk weight and of the
      real/fake logit, no batch norm: a Lipschitz-bounded D), "batch_norm" (the paper's: after
      every convolution but the first, after the dense layer and Q's hidden layer) or "none".
      On binary dSprites the batch-norm D overpowers G (see gin_configs/models/infogan.gin).
  """
  channels = _check_channels(channels, "infogan_discriminator.channels")
  if normalization not in DISCRIMINATOR_NORMALIZATIONS:
    raise ValueError(f"infogan_discriminator.normalization={normalization!r}: expected one of "
                     f"{', '.join(DISCRIMINATOR_NORMALIZATIONS)}")
  batch_norm = normalization == "batch_norm"

  def weights(layer):
    if normalization == "spectral":
      return keras.layers.SpectralNormalization(layer, name=f"{layer.name}_sn")
    return layer

  def activation(name, normalize):
    block = [keras.layers.BatchNormalization(name=f"{name}_bn")] if normalize else []
    return block + [keras.layers.LeakyReLU(negative_slope=0.2, name=f"{name}_lrelu")]

  features = []
  for i, units in enumerate(channels):
    name = f"conv{i + 1}"
    features.append(weights(keras.layers.Conv2D(units, 4, strides=2, padding="same", name=name)))
    features += activation(name, batch_norm and i > 0)
  features += [keras.layers.Flatten(name="flatten"),
               weights(keras.layers.Dense(int(dense_units), name="dense"))]
  features += activation("dense", batch_norm)
  q_hidden = [keras.layers.Dense(int(q_units), name="q_hidden")] + activation("q_hidden",
                                                                              batch_norm)
  q_head = Encoder(q_hidden, family.latent_dim, family.per_latent_params, family.joint_params,
                   deep_units=int(q_units), split=bool(q_split), branch_units=int(q_branch_units),
                   name="q_split_head" if q_split else "q_head")
  real_fake = weights(keras.layers.Dense(1, name="real_fake_logit"))
  return InfoGANDiscriminator(features, real_fake, q_head, num_categorical, categorical_dim,
                              name="discriminator")


def _check_number(name, value, low, high=None, integer=False, low_open=False):
  """value as float/int, or ValueError naming `infogan.<name>` and the allowed range."""
  kind = "an integer" if integer else "a number"
  ok = isinstance(value, (int, float)) and not isinstance(value, bool)
  if integer:
    ok = ok and float(value).is_integer()
  if ok:
    ok = (value > low if low_open else value >= low) and (high is None or value < high)
  if not ok:
    bound = f"{'>' if low_open else '>='} {low}" + (f" and < {high}" if high is not None else "")
    raise ValueError(f"infogan.{name}={value!r}: expected {kind} {bound}")
  return int(value) if integer else float(value)


@gin.configurable("infogan", denylist=["observation_shape", "family"])
class InfoGAN(keras.Model):
  """InfoGAN with Q(c | x) from a posterior family; the zoo's model protocol (see module doc).

  Args:
    observation_shape: (H, W, C) of the images (values in [0, 1]).
    family: `zoo.posteriors` family over the d = family.latent_dim continuous codes.
    noise_dim: size of the incompressible noise z (0 for none).
    num_categorical: number of categorical codes (0 for none).
    categorical_dim: values of each categorical code.
    info_lambda: weight of the information term -L_I in both players' losses.
    discriminator_learning_rate: Adam learning rate of D and Q.
    discriminator_beta_1: that Adam's beta_1.
    generator_beta_1: beta_1 set on the compiled (generator) Adam.
    code_prior: "normal" (N(0, 1) codes) or "uniform" (Uniform(-sqrt 3, sqrt 3)); see the
      module doc.
  """

  model_name = "infogan"

  def __init__(self, observation_shape, family, noise_dim=10, num_categorical=0,
               categorical_dim=10, info_lambda=0.1, discriminator_learning_rate=1e-3,
               discriminator_beta_1=0.5, generator_beta_1=0.5, code_prior="normal", **kwargs):
    super().__init__(**kwargs)
    self.observation_shape = tuple(int(n) for n in observation_shape)
    if len(self.observation_shape) != 3:
      raise ValueError(f"infogan: observation shape {observation_shape} must be (H, W, C); "
                       "InfoGAN's networks are convolutional")
    self.family = family
    self.latent_dim = family.latent_dim
    self.noise_dim = _check_number("noise_dim", noise_dim, 0, integer=True)
    self.num_categorical = _check_number("num_categorical", num_categorical, 0, integer=True)
    self.categorical_dim = _check_number("categorical_dim", categorical_dim, 2, integer=True)
    self.info_lambda = _check_number("info_lambda", info_lambda, 0)
    self.generator_beta_1 = _check_number("generator_beta_1", generator_beta_1, 0, 1)
    discriminator_learning_rate = _check_number(
        "discriminator_learning_rate", discriminator_learning_rate, 0, low_open=True)
    discriminator_beta_1 = _check_number("discriminator_beta_1", discriminator_beta_1, 0, 1)
    if code_prior not in CODE_PRIORS:
      raise ValueError(f"infogan.code_prior={code_prior!r}: expected one of {CODE_PRIORS}")
    self.code_prior = code_prior
    self.likelihood = Likelihood(name="bernoulli")
    self.generator = build_generator(self.observation_shape)
    self.discriminator = build_discriminator(family, self.num_categorical, self.categorical_dim)
    self.discriminator_optimizer = keras.optimizers.Adam(
        learning_rate=discriminator_learning_rate, beta_1=discriminator_beta_1, beta_2=0.999,
        name="discriminator_adam")
    # H(c) + H(k): the MI lower bound is this plus L_I.
    self.code_entropy = (self.latent_dim * _CODE_ENTROPY[code_prior]
                         + self.num_categorical * math.log(self.categorical_dim))

  # --- the names the exporter and evaluation read ---

  @property
  def encoder(self):
    """The network behind `posterior` (D's trunk and the Q heads)."""
    return self.discriminator

  @property
  def decoder(self):
    """The network behind `decode`: the generator."""
    return self.generator

  @property
  def decoder_output(self):
    return self.likelihood.decoder_output

  def compile(self, optimizer="rmsprop", **kwargs):
    super().compile(optimizer=optimizer, **kwargs)
    if isinstance(self.optimizer, keras.optimizers.Adam):
      self.optimizer.beta_1 = self.generator_beta_1

  # --- generator side ---

  def sample_latents(self, batch_size):
    """Draws from the priors: noise [B, noise_dim], codes [B, d], categories int32 [B, n]."""
    noise = tf.random.normal([batch_size, self.noise_dim])
    codes = self.sample_codes(batch_size)
    categories = tf.random.uniform([batch_size, self.num_categorical], 0, self.categorical_dim,
                                   dtype=tf.int32)
    return noise, codes, categories

  def sample_codes(self, batch_size):
    """Continuous codes [B, d] from `code_prior`."""
    shape = tf.stack([batch_size, self.latent_dim])
    if self.code_prior == "uniform":
      return tf.random.uniform(shape, -UNIFORM_CODE_HALF_WIDTH, UNIFORM_CODE_HALF_WIDTH)
    return tf.random.normal(shape)

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

  def call(self, x, training=False):
    """Logits of G(0, E_Q[c | x], 0): x regenerated from its inferred codes."""
    return self.decode(self.posterior(x, training=training).mean(), training=training)

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

  def train_step(self, data):
    """One simultaneous update of G (compiled optimizer) and D + Q (their own Adam).

    Returns this batch's loss terms (replica-local under tf.distribute).
    """
    x = data[0] if isinstance(data, (tuple, list)) else data
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    with tf.GradientTape(persistent=True) as tape:
      losses = self.compute_losses(x, training=True)
      # Each optimizer sums gradients over replicas, so each replica contributes its share.
      generator_objective = losses["loss"] / replicas
      discriminator_objective = (losses["discriminator_loss"]
                                 + self.info_lambda * losses["info_loss"]) / replicas
    generator_vars = self.main_variables
    discriminator_vars = self.discriminator.trainable_variables
    self.optimizer.apply(tape.gradient(generator_objective, generator_vars), generator_vars)
    self.discriminator_optimizer.apply(
        tape.gradient(discriminator_objective, discriminator_vars), discriminator_vars)
    del tape
    return losses

  @property
  def main_variables(self):
    """The generator's variables: what the compiled optimizer updates."""
    return self.generator.trainable_variables

  vae_variables = main_variables  # the name the exporter's restore uses

  def build_for(self, observation_shape):
    """Creates every weight and the discriminator's optimizer slots with a dummy batch."""
    if tuple(observation_shape) != self.observation_shape:
      raise ValueError(f"infogan: build_for got observation shape {tuple(observation_shape)}, "
                       f"the model was built for {self.observation_shape}")
    self.compute_losses(tf.zeros((1,) + self.observation_shape), training=False)
    self.discriminator_optimizer.build(self.discriminator.trainable_variables)

  def optimizers(self):
    """Optimizers whose state is checkpointed, by name."""
    return {"optimizer": self.optimizer, "discriminator_optimizer": self.discriminator_optimizer}
