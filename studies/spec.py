"""What a study is: the `study.*` gin file, and the runs it expands into.

A study is a gin file binding `study.*` (see `study_spec`). Every combination of model,
posterior, encoder, swept setting values and seed is one *run* (`RunConfig`) with a readable,
deterministic name such as `beta_vae-correlated_noise_0.5-conv64_split-seed1`, or
`beta_vae-factorized-conv64-beta_4-seed0` when the study sweeps `beta_vae.beta`. Nothing here
imports TensorFlow, so expanding and listing runs is fast.
"""
import dataclasses
import itertools
import os
import re

import gin

from common import gin_files
from evaluation import metrics as metric_names

# Posterior families with a parameter written `family:value` in a study, and its gin binding.
POSTERIOR_PARAMETERS = {"correlated_noise": ("rho", float), "low_rank": ("rank", int)}
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.]+$")
# A gin binding's name: `configurable.parameter`, optionally `scope/` and `module.` before it.
_BINDING_PATTERN = re.compile(r"^(?:[A-Za-z_][\w.]*/)*[A-Za-z_][\w.]*\.[A-Za-z_]\w*$")
# `name = value` lines of a gin file: the name bound.
_BOUND_NAME = re.compile(r"^\s*((?:[A-Za-z_][\w.]*/)*[A-Za-z_][\w.]*)\.[A-Za-z_]\w*\s*=", re.M)
# Settings a sweep may not bind, and where they are given instead.
_NOT_SWEPT = {"training.seed": "study.seeds", "model.name": "study.models",
              "correlated_noise.rho": "study.posteriors ('correlated_noise:RHO')",
              "low_rank.rank": "study.posteriors ('low_rank:RANK')"}
# Fields of a run that decide its results; a DONE written with other values is a different run.
IDENTITY_FIELDS = ("model", "posterior", "posterior_label", "encoder", "dataset", "seed",
                   "train_gin_files", "train_gin_bindings", "metrics", "evaluation_gin_files",
                   "evaluation_gin_bindings", "evaluation_seed", "sweep", "sweep_axes")
# What a DONE written before a field existed stands for (studies without sweeps).
IDENTITY_DEFAULTS = {"sweep": {}, "sweep_axes": {}}


@dataclasses.dataclass(frozen=True)
class StudySpec:
  """What `study.*` binds; see `study_spec` for the meaning of each field."""
  name: str
  models: tuple
  posteriors: tuple
  encoders: tuple
  dataset: str
  training_bindings: tuple
  seeds: tuple
  metrics: str
  evaluation_config: str
  evaluation_bindings: tuple
  evaluation_seed: int
  sweep: object = None
  model_sweeps: object = None


@gin.configurable("study")
def study_spec(name=None, models=None, posteriors=("factorized",),
               encoders=("conv64",), dataset="dsprites", training_bindings=(), seeds=(0,),
               metrics="mig", evaluation_config=None, evaluation_bindings=(),
               evaluation_seed=0, sweep=None, model_sweeps=None):
  """The study bound in gin, as a StudySpec.

  Args:
    name: the study's name (letters, digits, `_`, `.`); required.
    models: required; model names (the shipped models/NAME.gin) or gin files (a path, or a
      shipped name ending in .gin; see `common.gin_files.resolve`).
    posteriors: family names (the shipped posteriors/NAME.gin), optionally with the family's
      parameter: `correlated_noise:0.5` binds correlated_noise.rho, `low_rank:2` low_rank.rank.
    encoders: encoder names (the shipped encoders/NAME.gin) or gin files.
    dataset: data set name (the shipped datasets/NAME.gin) or a gin file.
    training_bindings: gin bindings for every run, applied after the files (steps, batch size,
      image size, latent_dim, ...). The seed comes from `seeds`, not from here.
    seeds: training seeds (`training.seed`); every configuration runs once per seed.
    metrics: comma list (or list) of zoo-evaluate metric names, or "all".
    evaluation_config: optional gin file (path or shipped name) of metric settings passed to
      zoo-evaluate.
    evaluation_bindings: metric-setting bindings passed to zoo-evaluate after that file.
    evaluation_seed: zoo-evaluate --seed (the same for every run, as in the reference study).
    sweep: axes every run sweeps: a dict of gin binding -> list of values, e.g.
      `{"training.learning_rate": [1e-4, 5e-4]}`; every combination of values is a run.
    model_sweeps: axes of single models: model (as named in `models`) -> such a dict, e.g.
      `{"beta_vae": {"beta_vae.beta": [1, 4, 16]}, "factor_vae": {"factor_vae.gamma": [10]}}`,
      so that each model sweeps only its own parameters.
  """
  as_tuple = lambda value: (tuple(value) if isinstance(value, (list, tuple))
                           else () if value is None else (value,))
  if isinstance(metrics, (list, tuple)):
    metrics = ",".join(metrics)
  return StudySpec(name=name, models=as_tuple(models), posteriors=as_tuple(posteriors),
                   encoders=as_tuple(encoders), dataset=dataset,
                   training_bindings=as_tuple(training_bindings), seeds=as_tuple(seeds),
                   metrics=metrics, evaluation_config=evaluation_config,
                   evaluation_bindings=as_tuple(evaluation_bindings),
                   evaluation_seed=evaluation_seed, sweep=sweep, model_sweeps=model_sweeps)


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """One run of a study. Gin file paths are absolute."""
  name: str
  study: str
  model: str
  posterior: str        # family name, e.g. "correlated_noise"
  posterior_label: str  # family plus parameter, e.g. "correlated_noise_0.5"
  rho: float            # 0 for factorized, the rho of correlated_noise, NaN otherwise
  encoder: str
  dataset: str
  seed: int
  train_gin_files: tuple
  train_gin_bindings: tuple
  metrics: str
  evaluation_gin_files: tuple
  evaluation_gin_bindings: tuple
  evaluation_seed: int
  sweep: tuple = ()       # ((binding, value), ...): this run's values of the swept settings
  sweep_axes: tuple = ()  # ((binding, (value, ...)), ...): every value the study sweeps

  def to_json(self):
    record = dataclasses.asdict(self)
    record["rho"] = None if self.rho != self.rho else self.rho  # JSON has no NaN
    record["sweep"] = {binding: _jsonable(value) for binding, value in self.sweep}
    record["sweep_axes"] = {binding: _jsonable(values) for binding, values in self.sweep_axes}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in record.items()}

  def identity(self):
    """The fields that decide the results; gin files by file name (the repo may move)."""
    record = self.to_json()
    identity = {}
    for field in IDENTITY_FIELDS:
      value = record[field]
      if field.endswith("_gin_files"):
        value = [os.path.basename(path) for path in value]
      identity[field] = value
    return identity


def _jsonable(value):
  """A swept value as JSON reads it back (tuples become lists)."""
  if isinstance(value, (tuple, list)):
    return [_jsonable(v) for v in value]
  return value


def study_file(name):
  """The absolute path of a study gin file given as a path or a shipped name
  (`studies/posterior_correlation_cpu.gin`)."""
  try:
    return gin_files.resolve(name)
  except FileNotFoundError as e:
    raise FileNotFoundError(f"--study {name}: {e} (expected a gin file binding study.*)") from e


def load_study(path, bindings=()):
  """Parses a study gin file (a path or a shipped name, plus `study.*` bindings) into a
  StudySpec.

  Leaves gin cleared: the study's bindings are not training bindings.
  """
  resolved = study_file(path)
  gin.clear_config()
  try:
    gin_files.use_for_includes()
    try:
      gin.parse_config_files_and_bindings([resolved], list(bindings))
      spec = study_spec()
    except (ValueError, SyntaxError, KeyError, TypeError, RuntimeError, OSError) as e:
      message = " ".join(str(e).strip().splitlines()[0].split()) if str(e).strip() else (
          type(e).__name__)
      raise ValueError(f"--study {path}: bad study file: {message}") from e
  finally:
    gin.clear_config()
  return spec


def _resolve_gin_file(entry, kind, field):
  """(label, absolute path) of a name among the shipped KIND/ files, or of a gin file (a path
  or a shipped name such as `models/beta_vae.gin`, found by `gin_files.resolve`)."""
  if not isinstance(entry, str) or not entry:
    raise ValueError(f"study.{field}: entry {entry!r} is not a name or a gin file path")
  if entry.endswith(".gin") or os.sep in entry:
    try:
      path = gin_files.resolve(entry)
    except FileNotFoundError as e:
      raise FileNotFoundError(f"study.{field}: {e}") from e
    label = re.sub(r"[^A-Za-z0-9_.]", "_", os.path.basename(entry)[:-4] if
                   entry.endswith(".gin") else os.path.basename(entry))
    return label, path
  known = gin_files.shipped_names(kind)
  if not _NAME_PATTERN.match(entry) or entry not in known:
    raise ValueError(f"study.{field}: unknown {kind[:-1] if kind != 'datasets' else 'data set'} "
                     f"{entry!r}; expected one of {', '.join(known)} (the shipped "
                     f"{os.path.join(gin_files.shipped_dir(), kind)}/) or a gin file")
  return entry, os.path.join(gin_files.shipped_dir(), kind, entry + ".gin")


def _parse_posterior(entry):
  """'family' or 'family:value' -> (family, label, rho, gin file, extra bindings)."""
  if not isinstance(entry, str) or not entry:
    raise ValueError(f"study.posteriors: entry {entry!r} is not a family name")
  family, _, text = entry.partition(":")
  known = gin_files.shipped_names("posteriors")
  if family not in known:
    raise ValueError(f"study.posteriors: unknown family {family!r} in {entry!r}; expected one "
                     f"of {', '.join(known)}, optionally as correlated_noise:RHO or "
                     "low_rank:RANK")
  path = os.path.join(gin_files.shipped_dir(), "posteriors", family + ".gin")
  rho = 0.0 if family == "factorized" else float("nan")
  if not text:
    if ":" in entry:
      raise ValueError(f"study.posteriors: {entry!r} has an empty parameter after ':'")
    if family == "correlated_noise":  # the gin file's rho; name it so runs say what they used
      raise ValueError("study.posteriors: 'correlated_noise' needs its rho, e.g. "
                       "'correlated_noise:0.5'")
    return family, family, rho, path, ()
  if family not in POSTERIOR_PARAMETERS:
    raise ValueError(f"study.posteriors: {entry!r}: family {family} takes no parameter")
  parameter, kind = POSTERIOR_PARAMETERS[family]
  try:
    value = kind(text)
  except ValueError as e:
    expected = "an integer" if kind is int else "a number"
    raise ValueError(f"study.posteriors: {entry!r}: {parameter} must be {expected}") from e
  if family == "correlated_noise":
    if not -1.0 < value < 1.0:
      raise ValueError(f"study.posteriors: {entry!r}: rho must lie in (-1, 1)")
    rho = value
    shown = format(value, "g")
  else:
    if value < 1:
      raise ValueError(f"study.posteriors: {entry!r}: rank must be a positive integer")
    shown = str(value)
  return family, f"{family}_{shown}", rho, path, (f"{family}.{parameter} = {value!r}",)


def _check_strings(values, field):
  if not values:
    raise ValueError(f"study.{field}: expected a non-empty list")
  for value in values:
    if not isinstance(value, str):
      raise ValueError(f"study.{field}: entry {value!r} is not a string")


def _binding_name(binding):
  """The name a `name = value` binding binds, or None."""
  match = re.match(r"\s*([^=\s]+)\s*=", binding)
  return match.group(1) if match else None


def _configurable(binding):
  """The configurable of a binding's name without scope or module: `a/m.beta_vae.beta` ->
  `beta_vae`."""
  return binding.rsplit("/", 1)[-1].rsplit(".", 2)[-2]


def _model_configurables(model_file):
  """The configurables a model's gin file binds, except `model` (every model file binds it)."""
  with open(model_file, encoding="utf-8") as f:
    names = {_configurable(name + ".x") for name in _BOUND_NAME.findall(f.read())}
  return names - {"model"}


def _value_label(value):
  """How a swept value appears in run names: `4`, `0.0001`, `gaussian`, `32_32`."""
  if isinstance(value, bool) or value is None:
    return str(value)
  if isinstance(value, (int, float)):
    return format(value, "g")
  if isinstance(value, (tuple, list)):
    return "_".join(_value_label(v) for v in value) or "empty"
  return re.sub(r"[^A-Za-z0-9_.]", "_", value) or "empty"


def _check_value(value, where):
  """Raises unless value is a literal a gin binding can carry."""
  if isinstance(value, (tuple, list)):
    for item in value:
      _check_value(item, where)
  elif not (value is None or isinstance(value, (bool, int, float, str))):
    raise ValueError(f"{where}: value {value!r} is not a number, string, boolean, None or a "
                     "list of those")


def parse_sweep(axes, field, training_bindings=()):
  """A `study.sweep`-style dict -> ((binding, (value, ...)), ...), checked.

  Raises:
    ValueError naming `field` and the binding at fault.
  """
  if axes is None:
    return ()
  if not isinstance(axes, dict):
    raise ValueError(f"{field}: expected a dict of gin binding -> list of values, e.g. "
                     '{"beta_vae.beta": [1, 4, 16]}')
  fixed = {_binding_name(b) for b in training_bindings}
  parsed = []
  for binding, values in axes.items():
    where = f"{field}[{binding!r}]"
    if not isinstance(binding, str) or not _BINDING_PATTERN.match(binding):
      raise ValueError(f"{where}: expected a gin binding name such as 'beta_vae.beta'")
    if binding in _NOT_SWEPT:
      raise ValueError(f"{where}: {binding} is not swept here; give its values as "
                       f"{_NOT_SWEPT[binding]}")
    if binding in fixed:
      raise ValueError(f"{where}: {binding} is also bound in study.training_bindings; "
                       "bind it in one place")
    if not isinstance(values, (list, tuple)) or not values:
      raise ValueError(f"{where}: expected a non-empty list of values")
    for value in values:
      _check_value(value, where)
    labels = [_value_label(v) for v in values]
    if len(set(labels)) != len(labels):
      raise ValueError(f"{where}: values {list(values)} repeat (as run names write them: "
                       f"{', '.join(labels)})")
    parsed.append((binding, tuple(values)))
  return tuple(parsed)


def _axes_by_model(spec, models):
  """model label -> its sweep axes: study.sweep's, then its own from study.model_sweeps."""
  common = parse_sweep(spec.sweep, "study.sweep", spec.training_bindings)
  per_model = spec.model_sweeps
  if per_model is None:
    per_model = {}
  if not isinstance(per_model, dict):
    raise ValueError("study.model_sweeps: expected a dict of model -> {gin binding: [values]}, "
                     'e.g. {"beta_vae": {"beta_vae.beta": [1, 4, 16]}}')
  labels = [label for label, _ in models]
  unknown = [m for m in per_model if m not in labels]
  if unknown:
    raise ValueError(f"study.model_sweeps: {unknown[0]!r} is not one of study.models "
                     f"({', '.join(labels)})")
  owned = {label: _model_configurables(path) for label, path in models}
  for binding, _ in common:
    owners = [label for label in labels if _configurable(binding) in owned[label]]
    if owners and len(owners) < len(labels):
      raise ValueError(f"study.sweep[{binding!r}]: a setting of {', '.join(owners)} only (its "
                       "gin file binds it); sweep it for that model in study.model_sweeps")
  axes = {}
  for label in labels:
    own = parse_sweep(per_model.get(label), f"study.model_sweeps[{label!r}]",
                      spec.training_bindings)
    for binding, _ in own:
      if binding in dict(common):
        raise ValueError(f"study.model_sweeps[{label!r}][{binding!r}]: also swept in "
                         "study.sweep; sweep it in one place")
      owners = [other for other in labels if _configurable(binding) in owned[other]]
      if owners and label not in owners:
        raise ValueError(f"study.model_sweeps[{label!r}][{binding!r}]: a setting of "
                         f"{', '.join(owners)}, not of {label}")
    axes[label] = common + own
  return axes


def _short_names(axes):
  """binding -> how run names call it: the parameter (`beta`), or the whole name where two
  swept bindings of a model share their parameter."""
  params = [binding.rsplit(".", 1)[1] for binding, _ in axes]
  return {binding: (param if params.count(param) == 1
                    else re.sub(r"[^A-Za-z0-9_]", "_", binding))
          for (binding, _), param in zip(axes, params)}


def expand_runs(spec):
  """The runs of a study, seed-major (every configuration once before the next seed): per seed
  and model, every combination of its swept values, each with every posterior and encoder.

  Raises:
    ValueError / FileNotFoundError naming the study field at fault.
  """
  if spec.name is None:
    raise ValueError("study.name is not bound (expected a study file binding study.name, "
                     "study.models, ...)")
  if not isinstance(spec.name, str) or not _NAME_PATTERN.match(spec.name):
    raise ValueError(f"study.name {spec.name!r}: expected letters, digits, '_' or '.'")
  for field in ("models", "posteriors", "encoders"):
    _check_strings(getattr(spec, field), field)
  _check_strings(spec.training_bindings or ("",), "training_bindings")
  _check_strings(spec.evaluation_bindings or ("",), "evaluation_bindings")
  if (not spec.seeds or len(set(spec.seeds)) != len(spec.seeds)
      or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                 for s in spec.seeds)):
    raise ValueError(f"study.seeds {list(spec.seeds)}: expected distinct non-negative integers")
  if any(re.match(r"\s*training\.seed\s*=", b) for b in spec.training_bindings):
    raise ValueError("study.training_bindings: binds training.seed; give the seeds as "
                     "study.seeds instead")
  names = [m.strip() for m in str(spec.metrics).split(",") if m.strip()]
  if names == ["all"]:
    names = sorted(metric_names.METRIC_NAMES)
  unknown = [m for m in names if m not in metric_names.METRIC_NAMES]
  if not names or unknown:
    raise ValueError(f"study.metrics {spec.metrics!r}: unknown metric(s) "
                     f"{', '.join(unknown) or '(none)'}; expected a comma list of "
                     f"{', '.join(sorted(metric_names.METRIC_NAMES))}")
  evaluation_files = ()
  if spec.evaluation_config:
    try:
      evaluation_files = (gin_files.resolve(spec.evaluation_config),)
    except FileNotFoundError as e:
      raise FileNotFoundError(f"study.evaluation_config: {e}") from e

  models = [_resolve_gin_file(m, "models", "models") for m in spec.models]
  posteriors = [_parse_posterior(p) for p in spec.posteriors]
  encoders = [_resolve_gin_file(e, "encoders", "encoders") for e in spec.encoders]
  dataset_label, dataset_file = _resolve_gin_file(spec.dataset, "datasets", "dataset")

  axes_by_model = _axes_by_model(spec, models)

  runs = []
  for seed, (model, model_file) in itertools.product(spec.seeds, models):
    axes = axes_by_model[model]
    short = _short_names(axes)
    for values in itertools.product(*(values for _, values in axes)):
      swept = tuple((binding, value) for (binding, _), value in zip(axes, values))
      suffix = "".join(f"-{short[binding]}_{_value_label(value)}" for binding, value in swept)
      sweep_bindings = tuple(f"{binding} = {value!r}" for binding, value in swept)
      for posterior, (encoder, encoder_file) in itertools.product(posteriors, encoders):
        family, label, rho, posterior_file, posterior_bindings = posterior
        runs.append(RunConfig(
            name=f"{model}-{label}-{encoder}{suffix}-seed{seed}", study=spec.name,
            model=model, posterior=family, posterior_label=label, rho=rho, encoder=encoder,
            dataset=dataset_label, seed=seed,
            train_gin_files=(model_file, posterior_file, encoder_file, dataset_file),
            train_gin_bindings=(tuple(spec.training_bindings) + posterior_bindings
                                + sweep_bindings + (f"training.seed = {seed}",)),
            metrics=",".join(names), evaluation_gin_files=evaluation_files,
            evaluation_gin_bindings=tuple(spec.evaluation_bindings),
            evaluation_seed=spec.evaluation_seed, sweep=swept, sweep_axes=axes))
  names = [run.name for run in runs]
  duplicates = sorted({n for n in names if names.count(n) > 1})
  if duplicates:
    raise ValueError(f"study {spec.name}: entries repeat, giving the same run twice: "
                     f"{', '.join(duplicates[:3])}")
  return runs


def select_runs(runs, only_runs):
  """The runs named in only_runs (all runs if it is empty)."""
  if not only_runs:
    return list(runs)
  by_name = {run.name: run for run in runs}
  unknown = [name for name in only_runs if name not in by_name]
  if unknown:
    raise ValueError(f"--only_run {unknown[0]}: not a run of this study (runs are named like "
                     f"{runs[0].name})")
  return [by_name[name] for name in dict.fromkeys(only_runs)]
