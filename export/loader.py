"""Loads a zoo-export SavedModel with nothing but TensorFlow (no zoo, gin or keras).

  from export import loader
  model = loader.load("/tmp/beta_vae_export")
  model.metadata["latent_dim"]
  codes = model.encode(images)["mean"]          # images float32 [B, *observation_shape]
  recon = model.reconstruct(images)["mean"]
  samples = model.sample_prior(16)["mean"]

`load` checks the metadata against what it describes: its types, the signatures' shapes and
outputs (latent size, observation shape, posterior scale, decoder output) and the copy of the
metadata saved inside the SavedModel, so an edited or mismatched metadata.json is refused
instead of producing results labelled as another model. Every method checks its input against
the signature's spec before calling it, so a wrong shape or dtype is a one-line ValueError
naming what was expected rather than an error from deep inside the graph. Outputs are dicts
of numpy arrays:

  encode(images)       mean [B, d], stddev [B, d] (factorized) or scale_tril [B, d, d] (every
                       other family; covariance = scale_tril @ scale_tril^T), sample [B, d]
  decode(z)            mean [B, *observation_shape]; plus logits for Bernoulli decoders
  reconstruct(images)  decode() of the posterior mean
  sample_prior(count)  z [count, d] drawn from the model's prior (`code_prior`) and decode() of it

Serving tools need no zoo at all: `serving_default` (what TF Serving and `saved_model_cli run`
call by default) and `serve` (what `keras.layers.TFSMLayer(path)` calls) are `encode` under
the names they look for. Exports written before these existed load all the same; only the four
signatures above are required. The model card `README.md` beside `saved_model.pb` says how.
"""
import json
import os

import numpy as np
import tensorflow as tf

# Bumped whenever signatures or metadata change in a way older readers would misread.
FORMAT_VERSION = 1
METADATA_FILE = "metadata.json"
SIGNATURES = ("encode", "decode", "reconstruct", "sample_prior")
# `encode` again, under the names serving tools call by default (absent from older exports).
SERVING_SIGNATURES = ("serving_default", "serve")
REQUIRED_METADATA = ("format_version", "model", "posterior_family", "posterior_scale",
                     "latent_dim", "dataset", "observation_shape", "decoder_output",
                     "training_step", "gin_config")
_CHOICES = {"posterior_scale": ("stddev", "scale_tril"), "decoder_output": ("logits", "mean"),
            "code_prior": ("normal", "uniform")}


def _is_int(value, minimum):
  return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def check_metadata_values(metadata, path):
  """Raises ValueError naming the key unless every metadata value has its documented type."""
  def refuse(key, expected):
    raise ValueError(f"{path}: {key} {metadata[key]!r}, expected {expected}")

  for key in ("model", "posterior_family", "dataset", "gin_config"):
    if not isinstance(metadata[key], str):
      refuse(key, "a string")
  for key, choices in _CHOICES.items():
    if key in metadata and metadata[key] not in choices:
      refuse(key, f"one of {', '.join(choices)}")
  if "run_config" in metadata and not (isinstance(metadata["run_config"], dict) and isinstance(
      metadata["run_config"].get("dataset"), dict)):
    refuse("run_config", "a dict with the run's dataset, model and training arguments")
  if not _is_int(metadata["latent_dim"], 1):
    refuse("latent_dim", "a positive integer")
  shape = metadata["observation_shape"]
  if not (isinstance(shape, list) and shape and all(_is_int(n, 1) for n in shape)):
    refuse("observation_shape", "a list of positive integers")
  if metadata["training_step"] is not None and not _is_int(metadata["training_step"], 0):
    refuse("training_step", "a non-negative integer")
  # Keys added after format version 1 first shipped: optional, so older exports still load.
  if metadata.get("encoder") is not None and not isinstance(metadata["encoder"], str):
    refuse("encoder", "a string or null")
  if metadata.get("seed") is not None and not _is_int(metadata["seed"], 0):
    refuse("seed", "a non-negative integer or null")
  losses = metadata.get("final_losses")
  if losses is not None and not (isinstance(losses, dict) and all(
      isinstance(k, str) and isinstance(v, (int, float)) and not isinstance(v, bool)
      for k, v in losses.items())):
    refuse("final_losses", "an object of loss term -> number, or null")
  if (metadata["posterior_family"] == "factorized") != (metadata["posterior_scale"] == "stddev"):
    raise ValueError(f"{path}: posterior_family {metadata['posterior_family']!r} with "
                     f"posterior_scale {metadata['posterior_scale']!r}, expected stddev for the "
                     "factorized family and scale_tril for every other")


def _spec_shape(spec):
  return [None if n is None else int(n) for n in spec.shape.as_list()]


def check_metadata_against_model(metadata, saved_model, path):
  """Raises ValueError unless the metadata describes the signatures (and its saved copy)."""
  encode = saved_model.signatures["encode"]
  decode = saved_model.signatures["decode"]
  latent_dim, shape = metadata["latent_dim"], metadata["observation_shape"]
  found = {
      "observation_shape": _spec_shape(encode.structured_input_signature[1]["images"])[1:],
      "latent_dim": _spec_shape(decode.structured_input_signature[1]["z"])[1],
      "posterior_scale": "stddev" if "stddev" in encode.structured_outputs else "scale_tril",
      "decoder_output": "logits" if "logits" in decode.structured_outputs else "mean",
  }
  expected = {"observation_shape": shape, "latent_dim": latent_dim,
              "posterior_scale": metadata["posterior_scale"],
              "decoder_output": metadata["decoder_output"]}
  differing = [f"{key} {expected[key]!r} (the signatures have {found[key]!r})"
               for key in found if found[key] != expected[key]]
  for name in SERVING_SIGNATURES:
    if name in saved_model.signatures and (signature_shapes_of(saved_model.signatures[name])
                                           != signature_shapes_of(encode)):
      differing.append(f"signature {name} (expected the inputs and outputs of encode)")
  saved = getattr(saved_model, "metadata_json", None)
  if saved is not None:
    copy = json.loads(saved.numpy().decode("utf-8"))
    differing += [f"{key} {metadata.get(key)!r} (the SavedModel's copy says {copy.get(key)!r})"
                  for key in sorted(set(copy) | set(metadata))
                  if key != "gin_config" and copy.get(key) != metadata.get(key)]
    if copy.get("gin_config") != metadata.get("gin_config"):
      differing.append("gin_config (differs from the SavedModel's copy)")
  if differing:
    raise ValueError(f"{path}: does not describe this SavedModel: {'; '.join(differing)}")


def _spec_text(spec):
  return {"dtype": spec.dtype.name, "shape": _spec_shape(spec)}


def signature_shapes_of(function):
  """{"inputs": {name: {"dtype", "shape"}}, "outputs": {...}} of a loaded signature; None in a
  shape is a dimension of any size (the batch)."""
  return {"inputs": {name: _spec_text(spec)
                     for name, spec in sorted(function.structured_input_signature[1].items())},
          "outputs": {name: _spec_text(spec)
                      for name, spec in sorted(function.structured_outputs.items())}}


def metadata_path(export_dir):
  """Where the metadata asset of an export lives."""
  return os.path.join(export_dir, "assets", METADATA_FILE)


def read_metadata(export_dir):
  """The metadata dict of an export, after checking the directory is one of ours.

  Raises:
    FileNotFoundError: export_dir does not exist.
    ValueError: it is not a zoo export of FORMAT_VERSION.
  """
  if not os.path.exists(export_dir):
    raise FileNotFoundError(f"export_dir {export_dir}: no such directory")
  if not os.path.isdir(export_dir):
    raise ValueError(f"export_dir {export_dir}: expected a directory written by zoo-export, "
                     "got a file")
  if not os.path.isfile(os.path.join(export_dir, "saved_model.pb")):
    raise ValueError(f"export_dir {export_dir}: no saved_model.pb, expected a SavedModel "
                     "written by zoo-export")
  path = metadata_path(export_dir)
  if not os.path.isfile(path):
    raise ValueError(f"export_dir {export_dir}: no assets/{METADATA_FILE}, expected a SavedModel "
                     "written by zoo-export")
  try:
    with open(path) as f:
      metadata = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise ValueError(f"{path}: not valid JSON ({e})") from e
  if not isinstance(metadata, dict):
    raise ValueError(f"{path}: expected a JSON object, got {type(metadata).__name__}")
  version = metadata.get("format_version")
  if version != FORMAT_VERSION:
    raise ValueError(f"{path}: format_version {version!r}, this loader reads version "
                     f"{FORMAT_VERSION} (re-export the model with this version of zoo-export)")
  missing = [key for key in REQUIRED_METADATA if key not in metadata]
  if missing:
    raise ValueError(f"{path}: missing keys {missing}")
  check_metadata_values(metadata, path)
  return metadata


def _shape_text(shape):
  return "[" + ", ".join("batch" if n is None else str(n) for n in shape) + "]"


def _check_batch(value, spec, what):
  """value as a float32 array matching spec [None, ...]; ValueError naming spec otherwise.

  Floating inputs of another precision are cast (nothing a [0, 1] image or a code needs is lost);
  integer or boolean inputs are refused, since uint8 images would silently be 255 times too big.
  """
  expected = f"float32 {_shape_text(spec.shape.as_list())}"
  try:
    array = np.asarray(value)
  except (TypeError, ValueError) as e:
    raise ValueError(f"{what}: could not read it as an array ({e}), expected {expected}") from e
  if not np.issubdtype(array.dtype, np.floating):
    raise ValueError(f"{what} has dtype {array.dtype}, expected {expected}")
  want = spec.shape.as_list()
  if array.ndim != len(want) or any(w is not None and w != n for w, n in zip(want, array.shape)):
    raise ValueError(f"{what} has shape {list(array.shape)}, expected {expected}")
  if array.shape[0] < 1:
    raise ValueError(f"{what} has an empty batch, expected {expected} with batch >= 1")
  return tf.constant(array, dtype=tf.float32)


def _check_count(count):
  if isinstance(count, (bool, np.bool_)) or not isinstance(count, (int, np.integer)):
    raise ValueError(f"sample_prior: count={count!r}, expected a positive int")
  if not 1 <= int(count) <= np.iinfo(np.int32).max:
    raise ValueError(f"sample_prior: count={count}, expected a positive int32")
  return tf.constant(int(count), dtype=tf.int32)


class ExportedModel:
  """A loaded export: the four signatures as methods returning dicts of numpy arrays.

  Attributes:
    export_dir: where it was loaded from.
    metadata: the dict of assets/metadata.json.
    latent_dim: d.
    observation_shape: tuple, e.g. (64, 64, 1).
  """

  def __init__(self, export_dir, metadata, saved_model):
    self.export_dir = export_dir
    self.metadata = metadata
    self.latent_dim = int(metadata["latent_dim"])
    self.observation_shape = tuple(int(n) for n in metadata["observation_shape"])
    # Keeps the restored object (and with it the variables) alive as long as this wrapper.
    self._saved_model = saved_model
    self._functions = {}
    self._specs = {}
    for name in SIGNATURES:
      function = saved_model.signatures[name]
      self._functions[name] = function
      self._specs[name] = function.structured_input_signature[1]

  def signature_shapes(self):
    """{signature: `signature_shapes_of` it} for every signature of the SavedModel."""
    return {name: signature_shapes_of(function)
            for name, function in sorted(self._saved_model.signatures.items())}

  def _call(self, name, **inputs):
    outputs = self._functions[name](**inputs)
    return {key: value.numpy() for key, value in outputs.items()}

  def encode(self, images):
    """images [B, *observation_shape] -> {mean, stddev or scale_tril, sample}."""
    images = _check_batch(images, self._specs["encode"]["images"], "encode: images")
    return self._call("encode", images=images)

  def decode(self, z):
    """z [B, d] -> {mean [B, *observation_shape]} (+ logits for Bernoulli decoders)."""
    z = _check_batch(z, self._specs["decode"]["z"], "decode: z")
    return self._call("decode", z=z)

  def reconstruct(self, images):
    """images [B, *observation_shape] -> decode() of the posterior mean."""
    images = _check_batch(images, self._specs["reconstruct"]["images"], "reconstruct: images")
    return self._call("reconstruct", images=images)

  def sample_prior(self, count):
    """count (int) -> {z [count, d], mean [count, *observation_shape] (+ logits)}."""
    return self._call("sample_prior", count=_check_count(count))


def load(export_dir):
  """Loads an export written by zoo-export.

  Raises:
    FileNotFoundError: export_dir does not exist.
    ValueError: not a zoo export (no saved_model.pb, no metadata asset, another format
      version, or signatures missing), or metadata that does not describe the SavedModel.
  """
  metadata = read_metadata(export_dir)
  try:
    saved_model = tf.saved_model.load(export_dir)
  # A truncated variables file reads as an IndexError ("Read less bytes than requested").
  except (OSError, ValueError, IndexError, tf.errors.OpError) as e:
    first_line = (str(e).strip().splitlines() or [type(e).__name__])[0]
    raise ValueError(f"export_dir {export_dir}: TensorFlow could not load the SavedModel "
                     f"({first_line})") from e
  missing = [name for name in SIGNATURES if name not in saved_model.signatures]
  if missing:
    raise ValueError(f"export_dir {export_dir}: signatures {missing} missing, expected "
                     f"{list(SIGNATURES)}")
  check_metadata_against_model(metadata, saved_model, metadata_path(export_dir))
  return ExportedModel(export_dir, metadata, saved_model)
