"""A trained model seen through what the metrics, the MI measures and the pictures need.

  mean(observations)        codes [B, d], the posterior means (the reference study's choice)
  sample(observations)      codes [B, d], one draw from q(z|x)
  posterior(observations)   (mean [B, d], covariance [B, d, d]) of q(z|x), for the MI measures
  decode_mean(codes)        the mean of p(x|z), [B, *observation_shape]
  sample_prior(n, rs)       n codes drawn from the model's prior with a numpy RandomState
  ground_truth_data         the data set the model was trained on

Arrays in and out are numpy (codes float64, images float32). `from_model_dir` rebuilds a
zoo-train run and restores a checkpoint; `from_export` runs a zoo-export SavedModel without
rebuilding any network. Both give the same numbers (an export carries the full posterior). The
data set comes from the run's recorded arguments (`zoo.training.run_config`), or from the
operative gin config of runs and exports made before those were recorded; no gin state is read.
"""
import os

import numpy as np
import tensorflow as tf

from common import cli
from evaluation.batching import apply_in_batches
from export import loader
from zoo import data as zoo_data
from zoo.models import priors
from zoo.training import checkpoints
from zoo.training import run_config


class TrainedModel:
  """A model as numpy functions, plus what is known about it.

  Args:
    posterior_fn: observations float32 [B, ...] -> (mean [B, d], covariance [B, d, d]).
    sample_fn: observations [B, ...] -> one draw [B, d].
    decode_mean_fn: codes float32 [B, d] -> the mean of p(x|z), [B, *observation_shape].
    latent_dim: d.
    observation_shape: shape of one observation.
    ground_truth_data: the data set the model was trained on.
    description: where the model came from, for results and titles.
    prior_name: the prior over the codes (`zoo.models.priors.PRIOR_NAMES`).
    mean_fn: observations -> the mean of posterior_fn, without the covariance (the metrics
      encode millions of images for means only); default: posterior_fn's first output.
  """

  def __init__(self, posterior_fn, sample_fn, decode_mean_fn, latent_dim, observation_shape,
               ground_truth_data, description, prior_name="normal", mean_fn=None):
    self._posterior_fn = posterior_fn
    self._mean_fn = mean_fn
    self._sample_fn = sample_fn
    self._decode_mean_fn = decode_mean_fn
    self.latent_dim = int(latent_dim)
    self.observation_shape = tuple(observation_shape)
    self.ground_truth_data = ground_truth_data
    self.description = description
    if prior_name not in priors.PRIOR_NAMES:
      raise ValueError(f"prior_name={prior_name!r}: expected one of {priors.PRIOR_NAMES}")
    self.prior_name = prior_name

  def _apply(self, fn, inputs, batch_size):
    inputs = np.asarray(inputs, np.float32)
    if batch_size is None:
      return fn(inputs)
    return apply_in_batches(fn, inputs, batch_size, what="the model")

  def posterior(self, observations, batch_size=None):
    """(mean [B, d], covariance [B, d, d]) float64; batch_size=None encodes all at once."""
    mean, covariance = self._apply(self._posterior_fn, observations, batch_size)
    return np.asarray(mean, np.float64), np.asarray(covariance, np.float64)

  def mean(self, observations, batch_size=None):
    """Posterior means [B, d] float64."""
    if self._mean_fn is None:
      return self.posterior(observations, batch_size)[0]
    return np.asarray(self._apply(self._mean_fn, observations, batch_size), np.float64)

  def sample(self, observations, batch_size=None):
    """One draw from each q(z|x), [B, d] float64."""
    return np.asarray(self._apply(self._sample_fn, observations, batch_size), np.float64)

  def codes_function(self, kind):
    """The representation function the standard metrics call: "mean" or "sampled" codes."""
    if kind == "mean":
      return self.mean
    if kind == "sampled":
      return self.sample
    raise ValueError(f"representation kind {kind!r}: expected 'mean' or 'sampled'")

  def decode_mean(self, codes, batch_size=None):
    """The mean of p(x|z) for codes [B, d]: float32 [B, *observation_shape]."""
    codes = np.asarray(codes, np.float32)
    if codes.ndim != 2 or codes.shape[1] != self.latent_dim:
      raise ValueError(f"codes: expected shape [B, {self.latent_dim}], got {codes.shape}")
    return np.asarray(self._apply(self._decode_mean_fn, codes, batch_size), np.float32)

  def sample_prior(self, count, random_state):
    """`count` codes [count, d] from the model's prior, drawn from `random_state`."""
    return priors.sample_numpy(self.prior_name, (count, self.latent_dim), random_state)


def from_model_dir(model_dir, checkpoint=None, log_fn=print):
  """Rebuilds the model of a zoo-train run and restores a checkpoint (default the latest).

  The restore is `zoo.training.checkpoints.restore_run`, the object graph training saves, checked to
  match, so evaluation, pictures and exports of a run see the same weights.
  """
  if not os.path.isdir(model_dir):
    raise FileNotFoundError(f"--model_dir {model_dir}: no such directory")
  restored = checkpoints.restore_run(model_dir, checkpoint, log_fn=log_fn)
  model = restored.model
  return from_model(model, restored.data,
                    f"{model.model_name}/{model.family.name} from {restored.checkpoint}")


def from_model(model, ground_truth_data, description=None):
  """The view of a zoo model in memory (e.g. after `model.fit`) and the data set it learned.

  Args:
    model: a `zoo.models.ZooModel`.
    ground_truth_data: its data set (`zoo.data.get_dataset(...)`).
    description: what results and titles call it (default: model and family).
  """
  if tuple(model.observation_shape) != tuple(ground_truth_data.observation_shape):
    raise ValueError(f"ground_truth_data: observations of shape "
                     f"{tuple(ground_truth_data.observation_shape)}, the model takes "
                     f"{tuple(model.observation_shape)}")

  @tf.function(reduce_retracing=True)
  def posterior_fn(x):
    dist = model.posterior(x, training=False)
    return dist.mean(), dist.covariance()

  @tf.function(reduce_retracing=True)
  def mean_fn(x):
    return model.posterior(x, training=False).mean()

  @tf.function(reduce_retracing=True)
  def sample_fn(x):
    return model.posterior(x, training=False).sample()

  @tf.function(reduce_retracing=True)
  def decode_mean_fn(z):
    return model.decode_mean(z)

  return TrainedModel(posterior_fn, sample_fn, decode_mean_fn, model.latent_dim,
                      model.observation_shape, ground_truth_data,
                      description or f"{model.model_name}/{model.family.name}",
                      prior_name=model.prior_name, mean_fn=mean_fn)


def from_export(export_dir):
  """Runs a zoo-export SavedModel; the data set is rebuilt from the run config it carries (the
  operative gin config for exports made before it carried one).

  The covariance comes from the export's posterior scale: scale_tril @ scale_tril^T, or
  diag(stddev^2) for the factorized family.
  """
  if not os.path.isdir(export_dir):
    raise FileNotFoundError(f"--saved_model {export_dir}: no such directory")
  exported = loader.load(export_dir)
  metadata = exported.metadata
  if isinstance(metadata.get("run_config"), dict):
    dataset, source = metadata["run_config"].get("dataset", {}), "run config"
  else:
    try:
      dataset = run_config.from_operative_config(metadata["gin_config"])["dataset"]
    except cli.GIN_ERRORS as e:
      raise ValueError(f"--saved_model {export_dir}: the gin_config in its metadata does not "
                       f"parse ({cli.first_line(e)})") from e
    source = "gin config"
  dataset = dict(dataset, name=metadata["dataset"])
  data = zoo_data.get_dataset(**dataset)
  if tuple(data.observation_shape) != exported.observation_shape:
    raise ValueError(
        f"--saved_model {export_dir}: data set {metadata['dataset']!r} rebuilt from the export's "
        f"{source} has observations of shape {list(data.observation_shape)}, the export "
        f"expects {list(exported.observation_shape)}")

  def posterior_fn(x):
    outputs = exported.encode(x)
    if "scale_tril" in outputs:
      tril = tf.constant(outputs["scale_tril"])
      covariance = tf.matmul(tril, tril, transpose_b=True)
    else:
      covariance = tf.linalg.diag(tf.square(tf.constant(outputs["stddev"])))
    return outputs["mean"], covariance

  return TrainedModel(posterior_fn, lambda x: exported.encode(x)["sample"],
                      lambda z: exported.decode(z)["mean"], exported.latent_dim,
                      exported.observation_shape, data,
                      f"{metadata['model']}/{metadata['posterior_family']} from export "
                      f"{export_dir} (step {metadata['training_step']})",
                      prior_name=metadata.get("code_prior", "normal"),
                      mean_fn=lambda x: exported.encode(x)["mean"])


def load(model_dir=None, saved_model=None, checkpoint=None):
  """`from_export(saved_model)` or `from_model_dir(model_dir, checkpoint)`: exactly one source."""
  if bool(model_dir) == bool(saved_model):
    raise ValueError("expected exactly one of --model_dir and --saved_model")
  if saved_model:
    if checkpoint:
      raise ValueError("--checkpoint applies to --model_dir only; an export holds one "
                       "checkpoint already")
    return from_export(saved_model)
  return from_model_dir(model_dir, checkpoint)
