"""FactorVAE (Kim and Mnih 2018): a discriminator estimates TC(q(z)) by the density-ratio trick.

The discriminator tells samples of q(z) from samples of prod_i q(z_i) (each latent shuffled
independently across the batch); its logit difference estimates the TC, which the VAE is
penalized by. The discriminator has its own optimizer and is updated in the same step.
"""
import keras
import tensorflow as tf

from common import validation
from zoo import networks
from zoo.models import zoo_model
from zoo.models.vae import VAE


def shuffle_each_latent(z, seed):
  """Permutes every column of z [B, d] independently: a sample of prod_i q(z_i).

  Args:
    z: [B, d] with a static d.
    seed: a stateless seed ([2] int tensor); the permutations are a function of it.
  """
  columns = tf.unstack(z, axis=1)
  seeds = tf.unstack(tf.random.experimental.stateless_split(seed, len(columns)))
  return tf.stack([tf.random.experimental.stateless_shuffle(column, column_seed)
                   for column, column_seed in zip(columns, seeds)], axis=1)


def build_discriminator(hidden_layers=6, hidden_units=1000):
  """The reference study's discriminator: an MLP with leaky ReLUs and 2 logits.

  Args:
    hidden_layers: dense layers before the logits.
    hidden_units: width of each.
  """
  layers = [keras.layers.Dense(hidden_units, name=f"hidden{i + 1}") for i in range(hidden_layers)]
  stack = []
  for layer in layers:
    stack += [layer, keras.layers.LeakyReLU(negative_slope=0.2)]
  stack.append(keras.layers.Dense(2, name="logits", dtype="float32"))
  return keras.Sequential(stack, name="discriminator")


DISCRIMINATOR_OPTIONS = networks.defaults_of(build_discriminator)


class FactorVAE(VAE):
  """Regularizer KL + gamma * TC estimate; discriminator trained with its own Adam.

  Args (besides the VAE's):
    gamma: weight of the TC estimate.
    discriminator_learning_rate: of the discriminator's Adam (beta_1 0.5, beta_2 0.9).
    discriminator_options: `build_discriminator`'s settings (hidden_layers, hidden_units).
  """

  model_name = "factor_vae"

  def __init__(self, observation_shape, gamma=10.0, discriminator_learning_rate=1e-4,
               discriminator_options=None, **kwargs):
    super().__init__(observation_shape, **kwargs)
    self.gamma = float(gamma)
    options = dict(DISCRIMINATOR_OPTIONS)
    options.update(validation.options(discriminator_options, DISCRIMINATOR_OPTIONS,
                                      "discriminator_options"))
    self.discriminator = build_discriminator(**options)
    self.discriminator_optimizer = zoo_model.for_precision(keras.optimizers.Adam(
        learning_rate=discriminator_learning_rate, beta_1=0.5, beta_2=0.9,
        name="discriminator_adam"))
    self._add_config(gamma=self.gamma,
                     discriminator_learning_rate=float(discriminator_learning_rate),
                     discriminator_options=options)

  def regularizer(self, dist, z, kl):
    logits = self.discriminator(z)
    tc = tf.reduce_mean(logits[:, 0] - logits[:, 1])
    return tf.reduce_mean(kl) + self.gamma * tc, {"total_correlation": tc}

  def discriminator_loss(self, z, seed):
    """Cross-entropy of telling q(z) (class 0) from the shuffled product (class 1)."""
    z = tf.stop_gradient(z)
    log_p_joint = tf.nn.log_softmax(self.discriminator(z))
    log_p_product = tf.nn.log_softmax(self.discriminator(shuffle_each_latent(z, seed)))
    return -0.5 * (tf.reduce_mean(log_p_joint[:, 0]) + tf.reduce_mean(log_p_product[:, 1]))

  def train_step_losses(self, data):
    x = data[0] if isinstance(data, (tuple, list)) else data
    with tf.GradientTape(persistent=True) as tape:
      noise_seed, shuffle_seed = self.random_seeds(2)
      dist = self.posterior(x, training=True)
      z = dist.sample(seed=noise_seed)
      losses = self.loss_terms(x, dist, z)
      disc_loss = self.discriminator_loss(z, shuffle_seed)
      vae_loss = self.scaled_loss(self.optimizer, losses["loss"])
      disc_scaled = self.scaled_loss(self.discriminator_optimizer, disc_loss)
    vae_vars = self.main_variables
    disc_vars = self.discriminator.trainable_variables
    self.apply_update(self.optimizer, tape.gradient(vae_loss, vae_vars), vae_vars)
    self.apply_update(self.discriminator_optimizer, tape.gradient(disc_scaled, disc_vars),
                      disc_vars)
    del tape
    losses["discriminator_loss"] = disc_loss
    return losses

  def build_networks(self):
    super().build_networks()
    self.discriminator(tf.zeros((1, self.latent_dim)))
    self.discriminator_optimizer.build(self.discriminator.trainable_variables)

  def optimizers(self):
    return {"optimizer": self.optimizer, "discriminator_optimizer": self.discriminator_optimizer}
