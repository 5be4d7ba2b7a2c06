"""What a run was built from: its explicit arguments, as `run_config.json` in the model_dir.

  {"format": 1,
   "dataset":  {"name": "dsprites", "image_size": 32},          # zoo.data.get_dataset(**...)
   "model":    {"name": "beta_vae", "observation_shape": [32, 32, 1], "latent_dim": 10,
                "posterior": "factorized", ..., "beta": 4.0},    # zoo.models.build_model(**...)
   "training": {"batch_size": 64, "learning_rate": 0.0001, "seed": 0, ...}}

`zoo.training.train` writes it (the model section is `model.get_config()`, every default
resolved); restoring a run (`checkpoints.restore_run`, exports, evaluation) rebuilds the data set
and the model from it, and a resumed run is compared against it.

Runs written before run_config.json existed have only their `operative_config.gin`, the gin
record zoo-train has always written. `from_operative_config` reads such a record as text (gin's
parser, no gin state) into the same explicit arguments, through `arguments_from_settings`: the
one map from gin's configurable names to the library's arguments, which the gin edge
(`gin_edge`) also uses to turn the live gin configuration into arguments.
"""
import json
import os
import tokenize

from gin import config_parser

from common import io_utils
from zoo import data as zoo_data
from zoo import models
from zoo import posteriors
from zoo.models.zoo_model import jsonable

RUN_CONFIG = "run_config.json"
FORMAT = 1
# Training settings that decide when a run stops, logs and checkpoints, never what it computes:
# a resumed run may change them.
RESUMABLE_SETTINGS = ("num_steps", "log_every", "checkpoint_every", "max_checkpoints_to_keep",
                      "steps_per_loop")
# Arguments every VAE-type model shares, and the networks' settings some models take; the rest
# of a model's arguments are its own settings (`beta_vae.beta`, `infogan.noise_dim`, ...).
_SHARED_ARGUMENTS = set(models.model_arguments("vae")) | {"name"}
_NETWORK_OPTIONS = ("generator_options", "discriminator_options")


def model_settings(name):
  """{setting: default} of model `name`'s own settings, those gin binds as `<name>.*`
  (beta_vae.beta, ...); empty for the plain VAE."""
  return {key: value for key, value in models.model_arguments(name).items()
          if key not in _SHARED_ARGUMENTS and key not in _NETWORK_OPTIONS}


def arguments_from_settings(settings):
  """The explicit arguments of a run from its settings, looked up by gin configurable name.

  Args:
    settings: `settings(configurable, **given)` -> dict of that configurable's parameters:
      from a parsed record (absent parameters left out, the library's defaults apply) or from
      the live gin configuration (every parameter; `given` are passed by the caller, as the
      model code before the gin edge passed InfoGAN's likelihood name). It is asked exactly
      for the configurables a run of the configured model uses, in the order the model code
      used to call them, so that a gin run's operative config lists what it always did.

  Returns:
    {"dataset": get_dataset's arguments, "model": build_model's (without observation_shape,
     with seed), "training": train's settings (with pair_k for the pair models)}.
  """
  training = dict(settings("training"))
  dataset = dataset_from_settings(settings)
  model = model_from_settings(settings)
  if "seed" in training:
    model["seed"] = training["seed"]
  name = model["name"]
  if name in models.MODELS and models.MODELS[name].training_input == "pairs":
    training["pair_k"] = settings("weak").get("k", 1)
  return {"dataset": dataset, "model": model, "training": training}


def dataset_from_settings(settings):
  """get_dataset's arguments from `dataset.*` and the data set's own configurable."""
  dataset = dict(settings("dataset"))
  name = dataset.get("name")
  if name in zoo_data.REGISTRY:
    # The data set's own configurable is its registry name (`dsprites.image_size`); arguments
    # bound on `dataset` itself (it always passed extra ones on) take precedence.
    dataset = dict(settings(name), **dataset)
  return dataset


def model_from_settings(settings):
  """build_model's arguments (but observation_shape and seed) from the model's configurables."""
  model = dict(settings("model"))
  name = model.setdefault("name", "beta_vae")
  posterior = dict(settings("posterior"))
  model["posterior"] = posterior.pop("name", None)
  # Options bound on `posterior` itself (it always passed extra ones on to the family).
  options = dict(settings(model["posterior"])) if posteriors.FAMILY_OPTIONS.get(
      model["posterior"]) else {}
  options.update(posterior)
  if options:
    model["posterior_options"] = options
  if name == "infogan":
    # InfoGAN's generator always had a Bernoulli likelihood, which gin recorded.
    settings("likelihood", name="bernoulli")
    model.update(settings(name))
    model["generator_options"] = dict(settings("infogan_generator"))
    model["discriminator_options"] = dict(settings("infogan_discriminator"))
  elif name in models.MODELS:
    encoder = dict(settings("encoder"))
    kind, split = encoder.pop("kind", "conv64"), encoder.pop("split", False)
    model["encoder"] = f"{kind}_split" if split else kind
    model["encoder_options"] = encoder
    decoder = dict(settings("decoder"))
    model["decoder"] = decoder.pop("kind", "conv64")
    model["decoder_options"] = decoder
    likelihood = dict(settings("likelihood"))
    model["likelihood"] = likelihood.pop("name", "bernoulli")
    model["likelihood_options"] = likelihood
    if model_settings(name):
      model.update(settings(name))
    if name == "factor_vae":
      model["discriminator_options"] = dict(settings("factor_vae_discriminator"))
  return model


class ReferencesAsText(config_parser.ParserDelegate):
  """Reads `@configurable` and `%macro` values as their text, not as gin objects."""

  def configurable_reference(self, scoped_configurable_name, evaluate):
    return f"@{scoped_configurable_name}{'()' if evaluate else ''}"

  def macro(self, macro_name):
    return f"%{macro_name}"


def settings_from_config_text(text):
  """{configurable: {parameter: value}} of the unscoped bindings of a gin configuration text."""
  found = {}
  for statement in config_parser.ConfigParser(text, ReferencesAsText()):
    if isinstance(statement, config_parser.BindingStatement) and not statement.scope:
      found.setdefault(statement.selector, {})[statement.arg_name] = statement.value
  return found


def from_operative_config(text):
  """The run config of a run recorded only by its operative_config.gin text (an older run).

  The model section has no observation_shape (the data set fixes it) and only the settings
  the record names; the library's defaults, which gin's always were, fill in the rest.
  """
  parsed = settings_from_config_text(text)
  config = arguments_from_settings(
      lambda configurable, /, **given: dict(parsed.get(configurable, {}), **given))
  config["format"] = FORMAT
  return config


def make(dataset, model, training):
  """A run config from resolved sections (made JSON-plain)."""
  return jsonable(
      {"format": FORMAT, "dataset": dataset, "model": model, "training": training})


def path(model_dir):
  return os.path.join(model_dir, RUN_CONFIG)


def write(model_dir, config, name=RUN_CONFIG):
  io_utils.write_json_atomically(os.path.join(model_dir, name), config)


def read(model_dir, operative_config_name="operative_config.gin"):
  """The run config of `model_dir`: run_config.json, or else the translation of its
  operative_config.gin; None when it has neither."""
  if os.path.isfile(path(model_dir)):
    with open(path(model_dir)) as f:
      try:
        config = json.load(f)
      except ValueError as e:
        raise ValueError(f"{path(model_dir)}: not a JSON run config ({e})") from e
    if not isinstance(config, dict) or config.get("format") != FORMAT or not all(
        isinstance(config.get(key), dict) for key in ("dataset", "model", "training")):
      raise ValueError(f"{path(model_dir)}: expected a run config of format {FORMAT} with "
                       "dataset, model and training sections")
    return config
  gin_path = os.path.join(model_dir, operative_config_name)
  if os.path.isfile(gin_path):
    with open(gin_path) as f:
      text = f.read()
    try:
      return from_operative_config(text)
    except (SyntaxError, ValueError, KeyError, TypeError, tokenize.TokenError) as e:
      raise ValueError(f"{gin_path}: does not parse ({' '.join(str(e).split())[:200]})") from e
  return None


def flatten(config, prefix=""):
  """{"model.beta": 4.0, "training.seed": 0, ...}: every leaf of a run config by its path."""
  flat = {}
  for key, value in config.items():
    if isinstance(value, dict) and value:
      flat.update(flatten(value, f"{prefix}{key}."))
    else:
      flat[f"{prefix}{key}"] = value
  return flat


def differing_settings(stored, current):
  """The settings (sorted paths) whose values differ between two run configs, or that only one
  has, leaving out the resumable training settings and the format."""
  allowed = {f"training.{name}" for name in RESUMABLE_SETTINGS} | {"format"}
  stored, current = flatten(jsonable(stored)), flatten(jsonable(current))
  return sorted(key for key in set(stored) | set(current)
                if key not in allowed and stored.get(key) != current.get(key))
