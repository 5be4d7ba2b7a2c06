"""Every gin configurable of the model zoo's training side, registered here and nowhere else.

The library (zoo/, export/, evaluation's model loading) takes plain arguments; gin files and
bindings name these configurables, whose parameters and defaults are the library's own (read
from its signatures, so they cannot drift apart):

  training.*                  zoo.training.train's settings (loop.TRAINING_SETTINGS)
  dataset.name, dataset.*     zoo.data.get_dataset's name (and, as always, extra arguments)
  dsprites.*, shapes3d.*, ... each data set's constructor, under its registry name
  model.name, model.latent_dim
  posterior.name              the family (required); correlated_noise.rho, low_rank.rank
  encoder.kind, encoder.split the encoder name (kind, "_split" when split) and its options
  decoder.*, likelihood.*     the decoder and the likelihood
  beta_vae.*, factor_vae.*, ... each model's own settings; factor_vae_discriminator.*,
                              infogan_generator.*, infogan_discriminator.* its networks'
  weak.k                      pair_k of the models trained on pairs
  image_summaries.*, metric_summaries.*  zoo-train's zoo.callbacks (see `gin_edge.training`)

Each configurable returns its settings as a dict; `zoo.training.run_config.
arguments_from_settings` maps them to the library's arguments, the same map that reads an older
run's operative_config.gin. A gin run's operative config therefore lists the configurables and
values it always did, and an older run resumes, exports and evaluates as before.
"""
import contextlib
import inspect
import numbers
import re

import gin

from common import cli
from zoo import callbacks
from zoo import data as zoo_data
from zoo import models
from zoo import networks
from zoo import posteriors
from zoo import training
from zoo.models import factor_vae
from zoo.models import infogan
from zoo.models import likelihoods
from zoo.training import run_config

_PARAMETER = inspect.Parameter
# gin name -> the registered configurable returning that configurable's settings.
CONFIGURABLES = {}


def defaults_of(fn, skip=()):
  """{parameter: default} of `fn`'s parameters that have one (but `skip` and **kwargs)."""
  return {p.name: p.default for p in inspect.signature(fn).parameters.values()
          if p.name not in skip and p.default is not _PARAMETER.empty
          and p.kind is not _PARAMETER.VAR_KEYWORD}


def register(name, defaults, extra=False, check=None, doc=None):
  """Registers gin configurable `name` with parameters `defaults`; calling it returns them,
  bound values over defaults. `extra` accepts any further parameter; `check(values)` raises
  for values only gin can give (a family that was never chosen, ...)."""
  defaults = dict(defaults)
  parameters = [_PARAMETER(key, _PARAMETER.POSITIONAL_OR_KEYWORD, default=value)
                for key, value in defaults.items()]
  if extra:
    parameters.append(_PARAMETER("extra", _PARAMETER.VAR_KEYWORD))

  def settings(**values):
    values = dict(defaults, **values)
    if check is not None:
      check(values)
    return values

  settings.__name__ = settings.__qualname__ = name
  settings.__signature__ = inspect.Signature(parameters)
  settings.__doc__ = doc or f"The settings gin binds as `{name}.*`, as a dict."
  CONFIGURABLES[name] = gin.configurable(name)(settings)


def _require_family(values):
  if values["name"] is None:
    raise ValueError("posterior.name is not set: choose a family, e.g. "
                     "--gin_config=gin_configs/posteriors/factorized.gin")


def _check_encoder_kind(values):
  if values["kind"] not in networks.ENCODER_KINDS:
    raise ValueError(f"encoder.kind={values['kind']!r}: expected one of "
                     f"{', '.join(map(repr, networks.ENCODER_KINDS))}")


def _register_all():
  train_defaults = defaults_of(training.train)
  register("training", {k: train_defaults[k] for k in training.TRAINING_SETTINGS})
  register("dataset", {"name": None}, extra=True)
  for name, cls in zoo_data.REGISTRY.items():
    register(name, zoo_data.constructor_defaults(cls))
  register("model", {"name": "beta_vae",
                      "latent_dim": models.model_arguments("vae")["latent_dim"]})
  register("posterior", {"name": None}, extra=True, check=_require_family)
  for family, options in posteriors.FAMILY_OPTIONS.items():
    if options:
      register(family, options)
  register("encoder", dict(kind="conv64", split=False, **networks.ENCODER_OPTIONS),
            check=_check_encoder_kind)
  register("decoder", dict(kind="conv64", **networks.DECODER_OPTIONS))
  register("likelihood", defaults_of(likelihoods.Likelihood.__init__, ("self",)))
  for model in models.MODEL_NAMES:
    if run_config.model_settings(model):
      register(model, run_config.model_settings(model))
  register("factor_vae_discriminator", factor_vae.DISCRIMINATOR_OPTIONS)
  register("infogan_generator", infogan.GENERATOR_OPTIONS)
  register("infogan_discriminator", infogan.DISCRIMINATOR_OPTIONS)
  register("weak", {"k": 1})
  register("image_summaries", dict(
      defaults_of(callbacks.ImageSummaries.__init__, ("self", "log_dir", "data",
                                                    "require_images")),
      every_n_steps=IMAGE_EVERY_N_STEPS))
  register("metric_summaries", dict(
      defaults_of(callbacks.MetricSummaries.__init__, ("self", "log_dir", "metrics", "data")),
      every_n_steps=METRIC_EVERY_N_STEPS, **METRIC_SETTINGS))


# zoo-train's defaults, chosen so that the summaries cost a default run (conv64 beta-VAE,
# 64x64 dSprites, batch 64) at most 5% of its throughput (docs/BENCHMARKS.md).
IMAGE_EVERY_N_STEPS = 500
METRIC_EVERY_N_STEPS = 1000
# The estimators' settings for metric_summaries (evaluation.training_metrics).
METRIC_SETTINGS = {"num_bins": 20, "num_conditioning": 16, "num_samples": 2, "num_strata": 32}

_register_all()


def settings(configurable, /, **given):
  """The settings of gin configurable `configurable` (calling it, so that the operative config
  lists it); `given` are passed as a caller's arguments."""
  return CONFIGURABLES[configurable](**given)


def run_arguments():
  """{"dataset", "model", "training"}: the library's arguments of the run gin configures."""
  arguments = run_config.arguments_from_settings(settings)
  _check_dataset_name(arguments["dataset"].get("name"))
  _check_model_name(arguments["model"]["name"])
  return arguments


def _check_dataset_name(name):
  if name not in zoo_data.REGISTRY:
    raise ValueError(f"dataset.name={name!r}: expected one of {sorted(zoo_data.REGISTRY)}")


def _check_model_name(name):
  if name not in models.MODELS:
    raise ValueError(f"model.name={name!r}: expected one of "
                     f"{', '.join(map(repr, sorted(models.MODELS)))}")


# What the library calls a setting -> its gin name, for error messages that start with it.
GIN_NAMES = {
    "latent_dim": "model.latent_dim",
    "posterior": "posterior.name",
    "likelihood": "likelihood.name",
    "observation_std": "likelihood.observation_std",
    "decoder": "decoder.kind",
    "pair_k": "weak.k",
}
GIN_NAMES.update({name: f"training.{name}" for name in training.TRAINING_SETTINGS})


def in_gin_names(error, names=None):
  """The error's message with the library's setting names written as gin names
  (`latent_dim=0` -> `model.latent_dim=0`, `likelihood='bernoulli' does` -> ...)."""
  names = GIN_NAMES if names is None else names
  pattern = re.compile(r"(?<![\w.\-])(" + "|".join(map(re.escape, names)) + r")(?=[=:])")
  return pattern.sub(lambda match: names[match.group(1)], str(error))


def model_arguments_from_gin():
  """`zoo.models.build_model`'s arguments (but observation_shape and seed) that gin
  configures."""
  arguments = run_config.model_from_settings(settings)
  _check_model_name(arguments["name"])
  return arguments


def model_from_gin(observation_shape, observation_kind=None, seed=0):
  """`zoo.models.build_model` with the model gin configures (no data set, no training)."""
  arguments = model_arguments_from_gin()
  try:
    return models.build_model(observation_shape=observation_shape,
                              observation_kind=observation_kind, seed=seed, **arguments)
  except ValueError as e:
    raise ValueError(in_gin_names(e)) from e


def dataset_from_gin():
  """`zoo.data.get_dataset` with the data set gin configures."""
  arguments = run_config.dataset_from_settings(settings)
  _check_dataset_name(arguments.get("name"))
  return zoo_data.get_dataset(**arguments)


def value_kind(value):
  """The kind of a setting's value as `wrongly_typed` compares them, or None (any value)."""
  if isinstance(value, bool):
    return "True or False"
  if isinstance(value, numbers.Real):
    return "a number"
  if isinstance(value, str):
    return "a string"
  return None


def wrongly_typed(error):
  """For a TypeError the library raised on settings from gin (`beta_vae.beta = "four"` reaches
  a comparison as a string): one line naming the bindings whose value is of another kind than
  their parameter's default, or None when no binding is (then the TypeError is a bug)."""
  found = {}
  for name, fn in sorted(CONFIGURABLES.items()):
    try:
      bound = gin.get_bindings(name)
    except (ValueError, KeyError):
      continue
    defaults = defaults_of(fn)
    for key, value in sorted(bound.items()):
      kind = value_kind(defaults.get(key))
      if kind is not None and value_kind(value) != kind:
        found.setdefault(name, []).append(f"{name}.{key} = {value!r}")
  if not found:
    return None
  where = "; ".join(f"a binding of {name} has the wrong type ({', '.join(shown)})"
                    for name, shown in found.items())
  return f"{where}: {cli.first_line(error)}"


@contextlib.contextmanager
def wrongly_typed_bindings_named():
  """The library's TypeError on a value gin gave (`beta_vae.beta = "four"`,
  `mig.num_bins = "20"`) as a ValueError naming the binding (`wrongly_typed`); any other
  TypeError as it is."""
  try:
    yield
  except TypeError as e:
    message = wrongly_typed(e)
    if message is None:
      raise
    raise ValueError(message) from e
