"""Writes a trained zoo model as a SavedModel that programs without zoo can load.

The export holds four signatures (see `export.loader` for their inputs and outputs), all with a
dynamic batch size, plus `encode` again under the names serving tools call by default
(`serving_default` for TF Serving and saved_model_cli, `serve` for Keras's TFSMLayer); the
asset `assets/metadata.json` describing the model; and a model card `README.md` written from
that metadata and the saved signatures (`export.model_card`). It is written into
a hidden staging directory next to the target and renamed into place, so an export interrupted
at any point leaves no directory at the target; replacing an existing export moves the old one
aside first and deletes it only after the new one is in place. Staging directories are named
after the exporting process, and those of processes that no longer run (an export killed with
`kill -9`) are removed by the next export to the same target. One export at a time writes a
target: the second exits with an error naming the first's pid (`io_utils.lock_target`).
"""
import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf

from common import io_utils
from export import check_export_target
from export import loader
from export import model_card
from zoo.posteriors import gaussian_utils
from zoo.training import checkpoints
from zoo.training import loop
from zoo.training import run_config

class ModelOutputs:
  """What the signatures compute, as plain functions of a restored zoo model.

  A plain Python object, not a tf.Module: the export module holds it without tracking it, so
  the Keras model stays out of the SavedModel's object graph (only its variables go in).

  Args:
    model: a `zoo.models.ZooModel` with restored weights.
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
      outputs["scale_tril"] = dist.scale.to_dense()
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
    z = self.model.sample_prior(count)
    outputs = self.decode(z)
    outputs["z"] = z
    return outputs


class ExportModule(tf.Module):
  """The tf.Module that is saved: four signatures with dynamic batch size, and the variables.

  Args:
    model: a `zoo.models.ZooModel` with restored weights.
  """

  def __init__(self, model):
    super().__init__(name="zoo_export")
    outputs = ModelOutputs(model)
    self.posterior_scale = outputs.posterior_scale
    # Only the variables the signatures read are tracked, hence saved: the tf.Variables inside
    # the Keras variables, which the functions capture. (Tracking the Keras wrappers saves a copy
    # of each under another name, which TF1-style loaders such as `saved_model_cli run` restore
    # instead of the variables the signatures read.)
    self.model_variables = [v.value if isinstance(v, keras.Variable) else v
                            for v in model.export_variables()]
    images = tf.TensorSpec([None, *model.observation_shape], tf.float32, name="images")
    codes = tf.TensorSpec([None, outputs.latent_dim], tf.float32, name="z")
    count = tf.TensorSpec([], tf.int32, name="count")
    self.encode = tf.function(outputs.encode, input_signature=[images])
    # Keras's TFSMLayer(path) calls the attribute `serve` (a function, not only a signature).
    self.serve = self.encode
    self.decode = tf.function(outputs.decode, input_signature=[codes])
    self.reconstruct = tf.function(outputs.reconstruct, input_signature=[images])
    self.sample_prior = tf.function(outputs.sample_prior, input_signature=[count])

  def signatures(self):
    signatures = {"encode": self.encode, "decode": self.decode, "reconstruct": self.reconstruct,
                  "sample_prior": self.sample_prior}
    signatures.update({name: self.encode for name in loader.SERVING_SIGNATURES})
    return signatures


def _encoder_label(model_config):
  """The encoder as the shipped encoder gin files name it (`mlp`, `conv64_split`), from the
  model's arguments; InfoGAN's Q head is its discriminator; None if neither."""
  if model_config.get("name") == "infogan":
    return "infogan_discriminator"
  return model_config.get("encoder")


def final_losses(model_dir, training_step):
  """{term: value} of the losses zoo-train recorded at `training_step` (train_results.json),
  or None when the run's results are missing or belong to another step."""
  path = os.path.join(model_dir, loop.TRAIN_RESULTS)
  try:
    with open(path) as f:
      results = json.load(f)
  except (OSError, ValueError):
    return None
  if not isinstance(results, dict) or results.get("final_step") != training_step:
    return None
  return {key[len("loss."):]: float(value) for key, value in sorted(results.items())
          if key.startswith("loss.") and isinstance(value, (int, float))}


def export_metadata(trained, module, losses=None):
  """The dict written to assets/metadata.json, for a `zoo.training.checkpoints.RestoredRun`
  and the run's final losses (`final_losses`)."""
  model = trained.model
  config = trained.run_config
  return {
      "format_version": loader.FORMAT_VERSION,
      "model": model.model_name,
      "posterior_family": model.family.name,
      "posterior_scale": module.posterior_scale,
      "latent_dim": int(model.latent_dim),
      "code_prior": model.prior_name,
      "dataset": trained.data.name,
      "observation_shape": [int(n) for n in trained.data.observation_shape],
      "decoder_output": model.decoder_output,
      "training_step": trained.training_step,
      "checkpoint": os.path.basename(trained.checkpoint),
      "encoder": _encoder_label(config["model"]),
      "seed": config["training"].get("seed"),
      "final_losses": losses,
      "gin_config": trained.gin_config,
      "run_config": config,
  }


def _staging_prefix(export_dir):
  return f".{os.path.basename(export_dir)}.export-tmp-"


def remove_stale_staging(export_dir, log_fn=print):
  """Deletes staging directories next to export_dir left by exports that are not running."""
  io_utils.remove_stale(os.path.dirname(os.path.abspath(export_dir)),
                        _staging_prefix(export_dir), lambda line: log_fn(f"[zoo-export] {line}"),
                        what="an export")


def lock_export_target(export_dir):
  """The lock that makes this process the one writer of export_dir (see io_utils.lock_target)."""
  return io_utils.lock_target(export_dir, "--export_dir", "zoo-export")


def _publish(staged, export_dir, aside):
  """Renames staged to export_dir, moving an existing export_dir to `aside` first."""
  if os.path.lexists(export_dir):
    os.rename(export_dir, aside)
  os.rename(staged, export_dir)


def write_export(module, metadata, export_dir, overwrite=False, log_fn=print):
  """Saves module with its signatures and metadata to export_dir, all or nothing.

  Args:
    module: an ExportModule.
    metadata: JSON-serializable dict for assets/metadata.json.
    export_dir: the target directory (its parent is created if missing).
    overwrite: replace an existing export.

  Raises:
    ValueError: the target may not be written, or another export is writing it.
  """
  check_export_target(export_dir, overwrite)
  lock = lock_export_target(export_dir)
  try:
    _write_export_locked(module, metadata, export_dir, overwrite, log_fn)
  finally:
    lock.close()


def _write_export_locked(module, metadata, export_dir, overwrite, log_fn):
  # Checked again under the lock: another export may have finished since the first check.
  check_export_target(export_dir, overwrite)
  export_dir = os.path.abspath(export_dir)
  parent = os.path.dirname(export_dir)
  os.makedirs(parent, exist_ok=True)
  remove_stale_staging(export_dir, log_fn)
  # Same parent directory, so the final rename stays on one file system and is atomic.
  staging_root = tempfile.mkdtemp(prefix=f"{_staging_prefix(export_dir)}{io_utils.owner_tag()}-",
                                  dir=parent)
  try:
    asset_source = os.path.join(staging_root, "asset_source", loader.METADATA_FILE)
    os.makedirs(os.path.dirname(asset_source))
    with open(asset_source, "w") as f:
      json.dump(metadata, f, indent=2, sort_keys=True)
      f.write("\n")
    # Tracked as an Asset, the file is copied into assets/ by the save and survives re-saving.
    module.metadata_file = tf.saved_model.Asset(asset_source)
    # A second copy inside the SavedModel, so a loader notices an edited asset.
    module.metadata_json = tf.Variable(json.dumps(metadata, sort_keys=True), trainable=False,
                                       name="metadata_json")
    staged = os.path.join(staging_root, "saved_model")
    tf.saved_model.save(module, staged, signatures=module.signatures())
    saved = loader.load(staged)  # what a reader will check, checked before publishing
    # The card describes what was saved: the metadata read back and the loaded signatures.
    with open(os.path.join(staged, model_card.CARD_FILE), "w", encoding="utf-8") as f:
      f.write(model_card.render(saved.metadata, saved.signature_shapes()))
    _publish(staged, export_dir, aside=os.path.join(staging_root, "previous"))
  finally:
    previous = os.path.join(staging_root, "previous")
    if os.path.lexists(previous) and not os.path.lexists(export_dir):
      os.rename(previous, export_dir)  # the new export did not arrive: the old one goes back
    shutil.rmtree(staging_root, ignore_errors=True)


def export_model(model, export_dir, ground_truth_data, overwrite=False, log_fn=print):
  """Exports a zoo model in memory (e.g. after `fit`) trained on `ground_truth_data`.

  The metadata records the model's arguments (`get_config`) and the data set's (as
  `zoo.data.get_dataset` built it), so `evaluation.trained_model.from_export` rebuilds the data
  set; training_step is the compiled optimizer's step count (None if never compiled), and the
  training seed and final losses, which only zoo-train records, are None.

  Returns:
    The metadata written with the export.
  """
  check_export_target(export_dir, overwrite)
  if tuple(model.observation_shape) != tuple(ground_truth_data.observation_shape):
    raise ValueError(f"ground_truth_data: observations of shape "
                     f"{tuple(ground_truth_data.observation_shape)}, the model takes "
                     f"{tuple(model.observation_shape)}")
  dataset = getattr(ground_truth_data, "arguments", None) or {"name": ground_truth_data.name}
  optimizer = getattr(model, "optimizer", None)
  step = int(optimizer.iterations.numpy()) if optimizer is not None else None
  trained = checkpoints.RestoredRun(
      model, ground_truth_data, "", step, "",
      run_config.make(dataset, model.get_config(), {}))
  module = ExportModule(model)
  metadata = export_metadata(trained, module)
  write_export(module, metadata, export_dir, overwrite=overwrite, log_fn=log_fn)
  return metadata


def export_model_dir(model_dir, export_dir, checkpoint=None, overwrite=False, log_fn=print):
  """Exports the model of a zoo-train run (the latest checkpoint unless `checkpoint`).

  Returns:
    The metadata written with the export.
  """
  # Refused before the (slow) restore and save, and held until the export is in place.
  check_export_target(export_dir, overwrite)
  lock = lock_export_target(export_dir)
  try:
    trained = checkpoints.restore_run(model_dir, checkpoint, log_fn=log_fn, program="zoo-export")
    module = ExportModule(trained.model)
    metadata = export_metadata(trained, module,
                               final_losses(model_dir, trained.training_step))
    log_fn(f"[zoo-export] exporting {metadata['model']}/{metadata['posterior_family']} "
           f"from {trained.checkpoint} (step {metadata['training_step']})")
    _write_export_locked(module, metadata, export_dir, overwrite, log_fn)
  finally:
    lock.close()
  return metadata
