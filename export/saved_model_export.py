"""Writes a trained zoo model as a SavedModel that programs without zoo can load.

The export holds four signatures (see `export.loader` for their inputs and outputs), all with a
dynamic batch size, and the asset `assets/metadata.json` describing the model. It is written into
a hidden staging directory next to the target and renamed into place, so an export interrupted
at any point leaves no directory at the target; replacing an existing export moves the old one
aside first and deletes it only after the new one is in place.
"""
import collections
import json
import os
import shutil
import tempfile

import gin
import keras
import tensorflow as tf

from export import check_export_target
from export import loader
from zoo import data as zoo_data
from zoo import models
from zoo.posteriors import gaussian_utils
import zoo.all_configurables  # noqa: F401  (the operative config names every configurable)

TrainedModel = collections.namedtuple(
    "TrainedModel", ["model", "data", "checkpoint", "training_step", "gin_config"])


def _training_step(checkpoint):
  """The optimizer step stored in a checkpoint (None if it holds no optimizer)."""
  reader = tf.train.load_checkpoint(checkpoint)
  for key in reader.get_variable_to_shape_map():
    if key.startswith("optimizer/") and key.endswith("iterations/.ATTRIBUTES/VARIABLE_VALUE"):
      return int(reader.get_tensor(key))
  return None


def restore_trained_model(model_dir, checkpoint=None):
  """Rebuilds the model of a zoo-train run and restores its weights.

  Args:
    model_dir: a directory written by zoo-train.
    checkpoint: a checkpoint path; default the latest in model_dir/checkpoints.

  Returns:
    A TrainedModel. Leaves the run's operative configuration parsed in gin.
  """
  config = os.path.join(model_dir, "operative_config.gin")
  if not os.path.isfile(config):
    raise FileNotFoundError(f"--model_dir {model_dir}: no operative_config.gin (expected a "
                            "directory written by zoo-train)")
  if checkpoint:
    if not tf.io.gfile.exists(checkpoint + ".index"):
      raise FileNotFoundError(f"--checkpoint {checkpoint}: no such checkpoint (expected a "
                              "path like MODEL_DIR/checkpoints/ckpt-1000)")
  else:
    checkpoint = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    if not checkpoint:
      raise FileNotFoundError(f"--model_dir {model_dir}: no checkpoint in "
                              f"{os.path.join(model_dir, 'checkpoints')}")
  with open(config) as f:
    config_text = f.read()
  gin.parse_config(config_text)
  data = zoo_data.get_dataset()
  model = models.build_model(data.observation_shape)
  # Restored through the same object graph training saves (model and optimizers), so that
  # assert_existing_objects_matched below checks every saved object, not only the model's.
  model.compile(optimizer=keras.optimizers.Adam())
  model.build_for(data.observation_shape)
  model.optimizer.build(model.main_variables)
  try:
    status = tf.train.Checkpoint(model=model, **model.optimizers()).restore(checkpoint)
    # An export of freshly initialized weights would be silently useless.
    status.assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.OpError) as e:
    raise ValueError(f"--checkpoint {checkpoint}: does not match the model configured in "
                     f"{config} ({' '.join(str(e).split())[:300]})") from e
  status.expect_partial()  # values no rebuilt object asks for, such as the save counter
  return TrainedModel(model, data, checkpoint, _training_step(checkpoint), config_text)


class ModelOutputs:
  """What the signatures compute, as plain functions of a restored zoo model.

  A plain Python object, not a tf.Module: the export module holds it without tracking it, so
  the Keras model stays out of the SavedModel's object graph (only its variables go in).

  Args:
    model: a zoo VAE-type model with restored weights.
  """

  def __init__(self, model):
    self.model = model
    self.latent_dim = int(model.latent_dim)

  @property
  def posterior_scale(self):
    return "stddev" if self.model.family.is_factorized else "scale_tril"

  def encode(self, images):
    """images [B, ...] -> mean [B, d], sample [B, d], stddev [B, d] or scale_tril [B, d, d]."""
    dist = self.model.posterior(images, training=False)
    outputs = {"mean": dist.mean(), "sample": dist.sample()}
    if self.model.family.is_factorized:
      outputs["stddev"] = gaussian_utils.marginal_stddev(dist)
    else:
      outputs["scale_tril"] = gaussian_utils.scale_tril(dist)
    return outputs

  def decode(self, z):
    """z [B, d] -> mean [B, ...] (+ logits [B, ...] for Bernoulli decoders)."""
    raw = self.model.decode(z, training=False)
    if self.model.decoder_output == "logits":
      return {"logits": raw, "mean": self.model.likelihood.mean(raw)}
    return {"mean": raw}

  def reconstruct(self, images):
    """images [B, ...] -> decode() of the posterior mean."""
    return self.decode(self.model.posterior(images, training=False).mean())

  def sample_prior(self, count):
    """count (int32 scalar) -> z [count, d] from the model's prior and decode(z)."""
    if hasattr(self.model, "sample_codes"):  # a model with its own code prior (InfoGAN)
      z = self.model.sample_codes(count)
    else:
      z = tf.random.normal(tf.stack([count, self.latent_dim]))
    outputs = self.decode(z)
    outputs["z"] = z
    return outputs


class ExportModule(tf.Module):
  """The tf.Module that is saved: four signatures with dynamic batch size, and the variables.

  Args:
    model: a zoo VAE-type model with restored weights.
    observation_shape: tuple, the shape of one observation.
  """

  def __init__(self, model, observation_shape):
    super().__init__(name="zoo_export")
    outputs = ModelOutputs(model)
    self.posterior_scale = outputs.posterior_scale
    # Only the variables the signatures read are tracked, hence saved.
    self.encoder_variables = list(model.encoder.variables)
    self.decoder_variables = list(model.decoder.variables)
    images = tf.TensorSpec([None, *observation_shape], tf.float32, name="images")
    codes = tf.TensorSpec([None, outputs.latent_dim], tf.float32, name="z")
    count = tf.TensorSpec([], tf.int32, name="count")
    self.encode = tf.function(outputs.encode, input_signature=[images])
    self.decode = tf.function(outputs.decode, input_signature=[codes])
    self.reconstruct = tf.function(outputs.reconstruct, input_signature=[images])
    self.sample_prior = tf.function(outputs.sample_prior, input_signature=[count])

  def signatures(self):
    return {"encode": self.encode, "decode": self.decode, "reconstruct": self.reconstruct,
            "sample_prior": self.sample_prior}


def code_prior(model):
  """The prior over the latents: "normal" (N(0, I), every VAE) or an InfoGAN's code prior."""
  return getattr(model, "code_prior", "normal")


def export_metadata(trained, module):
  """The dict written to assets/metadata.json."""
  model = trained.model
  return {
      "format_version": loader.FORMAT_VERSION,
      "model": model.model_name,
      "posterior_family": model.family.name,
      "posterior_scale": module.posterior_scale,
      "latent_dim": int(model.latent_dim),
      "code_prior": code_prior(model),
      "dataset": trained.data.name,
      "observation_shape": [int(n) for n in trained.data.observation_shape],
      "decoder_output": model.decoder_output,
      "training_step": trained.training_step,
      "checkpoint": os.path.basename(trained.checkpoint),
      "gin_config": trained.gin_config,
  }


def _publish(staged, export_dir, aside):
  """Renames staged to export_dir, moving an existing export_dir to `aside` first."""
  if os.path.lexists(export_dir):
    os.rename(export_dir, aside)
  os.rename(staged, export_dir)


def write_export(module, metadata, export_dir, overwrite=False):
  """Saves module with its signatures and metadata to export_dir, all or nothing.

  Args:
    module: an ExportModule.
    metadata: JSON-serializable dict for assets/metadata.json.
    export_dir: the target directory (its parent is created if missing).
    overwrite: replace an existing export.
  """
  check_export_target(export_dir, overwrite)
  export_dir = os.path.abspath(export_dir)
  parent = os.path.dirname(export_dir)
  os.makedirs(parent, exist_ok=True)
  # Same parent directory, so the final rename stays on one file system and is atomic.
  staging_root = tempfile.mkdtemp(prefix=f".{os.path.basename(export_dir)}.export-tmp-",
                                  dir=parent)
  try:
    asset_source = os.path.join(staging_root, "asset_source", loader.METADATA_FILE)
    os.makedirs(os.path.dirname(asset_source))
    with open(asset_source, "w") as f:
      json.dump(metadata, f, indent=2, sort_keys=True)
      f.write("\n")
    # Tracked as an Asset, the file is copied into assets/ by the save and survives re-saving.
    module.metadata_file = tf.saved_model.Asset(asset_source)
    staged = os.path.join(staging_root, "saved_model")
    tf.saved_model.save(module, staged, signatures=module.signatures())
    loader.read_metadata(staged)  # what a reader will check, checked before publishing
    _publish(staged, export_dir, aside=os.path.join(staging_root, "previous"))
  finally:
    previous = os.path.join(staging_root, "previous")
    if os.path.lexists(previous) and not os.path.lexists(export_dir):
      os.rename(previous, export_dir)  # the new export did not arrive: the old one goes back
    shutil.rmtree(staging_root, ignore_errors=True)


def export_model_dir(model_dir, export_dir, checkpoint=None, overwrite=False, log_fn=print):
  """Exports the model of a zoo-train run (the latest checkpoint unless `checkpoint`).

  Returns:
    The metadata written with the export.
  """
  # Refuse before the (slow) restore and save; write_export checks again just before writing.
  check_export_target(export_dir, overwrite)
  trained = restore_trained_model(model_dir, checkpoint)
  module = ExportModule(trained.model, trained.data.observation_shape)
  metadata = export_metadata(trained, module)
  log_fn(f"[zoo-export] exporting {metadata['model']}/{metadata['posterior_family']} "
         f"from {trained.checkpoint} (step {metadata['training_step']})")
  write_export(module, metadata, export_dir, overwrite=overwrite)
  return metadata
