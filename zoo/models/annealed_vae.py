"""AnnealedVAE (Burgess et al. 2018): the KL is pulled towards a capacity C that grows linearly."""
import tensorflow as tf

from zoo.models.vae import VAE


class AnnealedVAE(VAE):
  """Regularizer gamma * |KL - C(step)| with C(step) = c_max * min(1, step / iteration_threshold)."""

  model_name = "annealed_vae"

  def __init__(self, observation_shape, gamma=1000.0, c_max=25.0, iteration_threshold=100000,
               **kwargs):
    super().__init__(observation_shape, **kwargs)
    if iteration_threshold <= 0:
      raise ValueError(f"annealed_vae.iteration_threshold={iteration_threshold}: expected > 0")
    self.gamma = float(gamma)
    self.c_max = float(c_max)
    self.iteration_threshold = int(iteration_threshold)
    self._add_config(gamma=self.gamma, c_max=self.c_max,
                     iteration_threshold=self.iteration_threshold)

  def capacity(self, step):
    fraction = tf.minimum(1.0, tf.cast(step, tf.float32) / self.iteration_threshold)
    return self.c_max * fraction

  def regularizer(self, dist, z, kl):
    step = self.optimizer.iterations if self.optimizer is not None else 0
    capacity = self.capacity(step)
    return self.gamma * tf.abs(tf.reduce_mean(kl) - capacity), {"capacity": capacity}
