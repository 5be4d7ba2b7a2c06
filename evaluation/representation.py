"""Representations to evaluate: a trained model as functions of observations.

A `Representation` offers what the metrics need:
  mean(observations)       -> codes [B, d], the posterior means (the reference study's choice)
  sample(observations)     -> codes [B, d], one draw from q(z|x)
  posterior(observations)  -> (mean [B, d], covariance [B, d, d]) for the MI measures
and the ground-truth data set the model was trained on.
"""
import gin
import numpy as np
import tensorflow as tf


class Representation:
  """Wraps encoder functions and the training data set of one model.

  Args:
    posterior_fn: observations float32 [B, ...] -> (mean [B, d], covariance [B, d, d]) tensors.
    sample_fn: observations [B, ...] -> one sample [B, d].
    latent_dim: d.
    ground_truth_data: the data set the model was trained on (None if unknown).
    description: a short string saying where the representation came from.
  """

  def __init__(self, posterior_fn, sample_fn, latent_dim, ground_truth_data, description):
    self._posterior_fn = posterior_fn
    self._sample_fn = sample_fn
    self.latent_dim = latent_dim
    self.ground_truth_data = ground_truth_data
    self.description = description

  def posterior(self, observations):
    mean, covariance = self._posterior_fn(tf.convert_to_tensor(observations, tf.float32))
    return np.asarray(mean), np.asarray(covariance)

  def mean(self, observations):
    return self.posterior(observations)[0]

  def sample(self, observations):
    return np.asarray(self._sample_fn(tf.convert_to_tensor(observations, tf.float32)))

  def codes_function(self, kind):
    """The representation function of kind "mean" or "sampled"."""
    if kind == "mean":
      return self.mean
    if kind == "sampled":
      return self.sample
    raise ValueError(f"representation kind {kind!r}: expected 'mean' or 'sampled'")


def load_from_model_dir(model_dir, checkpoint=None):
  """Rebuilds the model of a zoo-train run from its operative config and restores a checkpoint.

  Args:
    model_dir: a directory written by zoo-train.
    checkpoint: a checkpoint path; default the latest in model_dir/checkpoints.

  Leaves the run's configuration parsed in gin (the caller may add metric bindings after it).
  """
  from export import saved_model_export  # pylint: disable=g-import-not-at-top
  from zoo.posteriors import gaussian_utils

  # The exporter's restore checks that the checkpoint matches the configured model.
  trained = saved_model_export.restore_trained_model(model_dir, checkpoint)
  model, data, checkpoint = trained.model, trained.data, trained.checkpoint

  @tf.function(reduce_retracing=True)
  def posterior_fn(x):
    dist = model.posterior(x, training=False)
    return dist.mean(), gaussian_utils.covariance(dist)

  @tf.function(reduce_retracing=True)
  def sample_fn(x):
    return model.posterior(x, training=False).sample()

  return Representation(posterior_fn, sample_fn, model.latent_dim, data,
                        f"{model.model_name}/{model.family.name} from {checkpoint}")


def load_from_saved_model(export_dir):
  """Loads a zoo-export SavedModel as a Representation.

  The encoder runs from the export (no zoo model is rebuilt); the covariance comes from the
  export's posterior scale: scale_tril @ scale_tril^T, or diag(stddev^2) for the factorized
  family. The ground-truth data set is rebuilt by name from the gin configuration the export
  carries, which is left parsed in gin (the caller may add metric bindings after it).

  Args:
    export_dir: a directory written by zoo-export.
  """
  from export import loader  # pylint: disable=g-import-not-at-top
  from zoo import data as zoo_data
  import zoo.all_configurables  # noqa: F401

  exported = loader.load(export_dir)
  metadata = exported.metadata
  gin.parse_config(metadata["gin_config"])
  data = zoo_data.get_dataset(name=metadata["dataset"])
  if tuple(data.observation_shape) != exported.observation_shape:
    raise ValueError(
        f"--saved_model {export_dir}: data set {metadata['dataset']!r} rebuilt from the export's "
        f"gin config has observations of shape {list(data.observation_shape)}, the export "
        f"expects {list(exported.observation_shape)}")

  def posterior_fn(x):
    outputs = exported.encode(x)
    if "scale_tril" in outputs:
      tril = tf.constant(outputs["scale_tril"])
      covariance = tf.matmul(tril, tril, transpose_b=True)
    else:
      covariance = tf.linalg.diag(tf.square(tf.constant(outputs["stddev"])))
    return outputs["mean"], covariance

  def sample_fn(x):
    return exported.encode(x)["sample"]

  return Representation(posterior_fn, sample_fn, exported.latent_dim, data,
                        f"{metadata['model']}/{metadata['posterior_family']} from export "
                        f"{export_dir} (step {metadata['training_step']})")
