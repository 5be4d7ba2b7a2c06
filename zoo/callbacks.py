"""Keras callbacks that show what a zoo model learns while it trains, as TensorBoard summaries.

  ImageSummaries    reconstructions, latent traversals and prior samples (image data sets)
  MetricSummaries   metrics of the codes of a small fixed sample (MIG, the MI-invariance
                    violation, ... : the metric functions are passed in)

Both work in `model.fit` and in `zoo.training.train` (zoo-train adds them through the gin
bindings `image_summaries.*` and `metric_summaries.*`):

  images = zoo.callbacks.ImageSummaries("logs", data, every_n_steps=200)
  metrics = zoo.callbacks.MetricSummaries(
      "logs", evaluation.training_metrics.standard_metrics(), data, every_n_steps=500)
  model.fit(dataset, steps_per_epoch=1000, callbacks=[images, metrics])

They act on the global step (the optimizer's iteration count): a summary is written at the
first step at or after each multiple of `every_n_steps` (zoo-train's loop ends a compiled loop at
every such multiple, so there it is exactly the multiple). They read the model in inference
mode and draw their fixed sample from their own `numpy.random.RandomState(seed)`, never from
TensorFlow's random state or the training stream, so a run with callbacks trains bit for bit
as one without them, resumed or not.
"""
import time

import keras
import numpy as np
import tensorflow as tf

from common import validation
from zoo.models import priors


def tile(images, columns):
  """One image [rows * H, columns * W, C] from images [N, H, W, C] laid out row by row (the
  last row filled with zeros)."""
  images = np.asarray(images, np.float32)
  count, height, width, channels = images.shape
  rows = -(-count // columns)
  padded = np.zeros((rows * columns, height, width, channels), np.float32)
  padded[:count] = images
  grid = padded.reshape(rows, columns, height, width, channels)
  return grid.transpose(0, 2, 1, 3, 4).reshape(rows * height, columns * width, channels)


def _is_image_shape(shape):
  return len(shape) == 3 and shape[-1] in (1, 3)


class StepCallback(keras.callbacks.Callback):
  """Base of the zoo callbacks: writes summaries to `log_dir` every `every_n_steps` steps.

  Args:
    log_dir: TensorBoard log directory (zoo-train: MODEL_DIR/summaries).
    data: the ground-truth data set the fixed sample comes from; None lets zoo.training.train
      hand over the run's own.
    every_n_steps: steps between summaries; 0 writes none.
    seed: seeds the fixed sample (its own RandomState).
  """

  def __init__(self, log_dir, data=None, every_n_steps=1000, seed=0):
    super().__init__()
    self.log_dir = str(log_dir)
    self.data = data
    self.every_n_steps = validation.non_negative_int(every_n_steps, "every_n_steps")
    self.seed = validation.seed(seed, "seed")
    self._writer = None
    self._last_written = None

  def set_ground_truth_data(self, data):
    """Hands over the data set when none was given (zoo.training.train does)."""
    if self.data is None:
      self.data = data

  def step(self):
    return int(self.model.optimizer.iterations.numpy())

  def due(self, step):
    """Whether a summary is due at `step`: a multiple of every_n_steps was reached since the
    last one (or since the start)."""
    if not self.every_n_steps:
      return False
    return step // self.every_n_steps > (self._last_written or 0) // self.every_n_steps

  def on_train_begin(self, logs=None):
    # A resumed run starts past the multiples it has written before.
    self._last_written = self.step()

  def on_train_batch_end(self, batch, logs=None):
    step = self.step()
    if not self.due(step):
      return
    if self.data is None:
      raise ValueError(f"{type(self).__name__}: data=None; pass the ground-truth data set")
    if self._writer is None:
      self._writer = tf.summary.create_file_writer(self.log_dir)
    with self._writer.as_default(step=step):
      self.write_summaries(step)
    self._writer.flush()
    self._last_written = step

  def on_train_end(self, logs=None):
    if self._writer is not None:
      self._writer.flush()

  def write_summaries(self, step):
    raise NotImplementedError


class ImageSummaries(StepCallback):
  """Reconstructions, latent traversals and prior samples as TensorBoard images.

  Tags: `images/reconstructions` (inputs in the top row of each pair, their reconstructions
  through the posterior mean below), `images/traversals` (one row per latent: the first
  input's posterior mean with that latent set to `traversal_steps` values from
  -traversal_limit to traversal_limit), `images/prior_samples`.

  Args (besides StepCallback's, every_n_steps defaulting to 500):
    num_images: inputs reconstructed (a fixed sample of the data set).
    traversal_steps: columns of the traversal grid.
    traversal_limit: the traversal spans [-limit, limit].
    num_prior_samples: codes drawn once from the model's prior and decoded.
    require_images: raise ValueError for observations that are not images (H, W, 1 or 3);
      False writes nothing for them (zoo-train, whose data set may be vectors).
  """

  def __init__(self, log_dir, data=None, every_n_steps=500, num_images=8, traversal_steps=7,
               traversal_limit=2.0, num_prior_samples=16, seed=0, require_images=True):
    super().__init__(log_dir, data, every_n_steps, seed)
    self.num_images = validation.positive_int(num_images, "num_images")
    self.traversal_steps = validation.integer(traversal_steps, "traversal_steps", minimum=2)
    self.traversal_limit = validation.positive_number(traversal_limit, "traversal_limit")
    self.num_prior_samples = validation.positive_int(num_prior_samples, "num_prior_samples")
    self.require_images = bool(require_images)
    self._observations = None
    self._prior_codes = None

  def _fixed_sample(self):
    if self._observations is None:
      shape = tuple(self.model.observation_shape)
      if not _is_image_shape(shape):
        raise ValueError(f"ImageSummaries: observations of shape {shape} are not images "
                         "(H, W, 1 or 3)")
      random_state = np.random.RandomState(self.seed)
      self._observations = self.data.sample_observations(self.num_images, random_state)
      self._prior_codes = priors.sample_numpy(
          self.model.prior_name, (self.num_prior_samples, self.model.latent_dim),
          random_state).astype(np.float32)
    return self._observations, self._prior_codes

  def images(self):
    """{tag: image [H, W, C] in [0, 1]} for the model as it is now."""
    observations, prior_codes = self._fixed_sample()
    model = self.model
    means = model.posterior(tf.constant(observations), training=False).mean().numpy()
    reconstructions = model.decode_mean(means).numpy()
    columns = min(self.num_images, 8)
    pairs = []
    for start in range(0, self.num_images, columns):
      pairs += [observations[start:start + columns], reconstructions[start:start + columns]]
    values = np.linspace(-self.traversal_limit, self.traversal_limit, self.traversal_steps)
    codes = np.repeat(means[:1], model.latent_dim * self.traversal_steps, axis=0)
    for latent in range(model.latent_dim):
      codes[latent * self.traversal_steps:(latent + 1) * self.traversal_steps, latent] = values
    traversals = model.decode_mean(codes.astype(np.float32)).numpy()
    samples = model.decode_mean(prior_codes).numpy()
    clip = lambda image: np.clip(image, 0.0, 1.0)
    return {
        "images/reconstructions": clip(tile(np.concatenate(pairs), columns)),
        "images/traversals": clip(tile(traversals, self.traversal_steps)),
        "images/prior_samples": clip(tile(samples, int(np.ceil(np.sqrt(len(samples)))))),
    }

  def write_summaries(self, step):
    if not self.require_images and not _is_image_shape(tuple(self.model.observation_shape)):
      return
    for tag, image in self.images().items():
      tf.summary.image(tag, image[np.newaxis], step=step)


class MetricSummaries(StepCallback):
  """Metrics of the posterior on a small fixed sample as TensorBoard scalars.

  Args (besides StepCallback's, every_n_steps defaulting to 1000):
    metrics: {name: fn(factors [N, F], mean [N, d], covariance [N, d, d]) -> float or dict of
      floats}; a float is written as `metrics/<name>`, a dict as `metrics/<name>/<key>`.
      `evaluation.training_metrics.standard_metrics()` gives MIG and the MI-invariance
      violation.
    num_points: size of the fixed sample (factors and observations, drawn once).
    batch_size: observations encoded at a time.

  The seconds one evaluation took are written as `metrics/seconds`.
  """

  def __init__(self, log_dir, metrics, data=None, every_n_steps=1000, num_points=500,
               batch_size=256, seed=0):
    super().__init__(log_dir, data, every_n_steps, seed)
    if not isinstance(metrics, dict) or not all(callable(fn) for fn in metrics.values()):
      raise ValueError(f"metrics={metrics!r}: expected a dict of name -> function(factors, "
                       "mean, covariance)")
    self.metrics = dict(metrics)
    self.num_points = validation.integer(num_points, "num_points", minimum=2)
    self.batch_size = validation.positive_int(batch_size, "batch_size")
    self._factors = None
    self._observations = None

  def posterior_arrays(self):
    """(factors [N, F], mean [N, d], covariance [N, d, d]) of the fixed sample, now."""
    if self._factors is None:
      self._factors, self._observations = self.data.sample(
          self.num_points, np.random.RandomState(self.seed))
    means, covariances = [], []
    for start in range(0, self.num_points, self.batch_size):
      batch = tf.constant(self._observations[start:start + self.batch_size])
      dist = self.model.posterior(batch, training=False)
      means.append(dist.mean().numpy())
      covariances.append(dist.covariance().numpy())
    return (self._factors, np.concatenate(means).astype(np.float64),
            np.concatenate(covariances).astype(np.float64))

  def values(self):
    """{tag: float} of every metric for the model as it is now."""
    factors, mean, covariance = self.posterior_arrays()
    values = {}
    for name, fn in self.metrics.items():
      result = fn(factors, mean, covariance)
      if isinstance(result, dict):
        values.update({f"metrics/{name}/{key}": float(v) for key, v in result.items()})
      else:
        values[f"metrics/{name}"] = float(result)
    return values

  def write_summaries(self, step):
    start = time.perf_counter()
    values = self.values()
    values["metrics/seconds"] = time.perf_counter() - start
    for tag, value in values.items():
      tf.summary.scalar(tag, value, step=step)


__all__ = ["ImageSummaries", "MetricSummaries", "StepCallback", "tile"]
