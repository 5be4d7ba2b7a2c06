"""Checks every setting of a study before any of its runs starts.

Without this, a typo in `study.training_bindings` failed every run at its training stage, and
one in `study.evaluation_bindings` let every run train to the end and only then fail.

* Training: every distinct training configuration of the runs (their gin files and bindings,
  the seed aside) is parsed by gin with every configurable registered, one file and one binding
  at a time, and then built as zoo-train builds it (`gin_edge.training.check_configuration`: the
  `training.*` settings, the data set, the model with its networks, posterior and likelihood),
  so that bad values fail with the validators zoo-train uses.
* Evaluation: the evaluation gin files and bindings are parsed with every metric registered;
  each bound setting of a metric the study computes must have the type of the setting's default
  (a number, a boolean, a string); and each metric is run on the study's data set with a
  stand-in model that stops it when it first asks for codes, so the checks a metric makes
  before encoding (most of its settings') run too.

Every problem is one ValueError naming the study file, the binding or setting, and a run it
applies to. Loads TensorFlow: only the binaries import this module.
"""
import inspect
import time

import gin
import numpy as np

from common import cli
from common import gin_files
from evaluation import evaluate
from evaluation import metrics as metric_catalog
from evaluation.metrics import registry as metric_registry
from gin_edge import configurables
from gin_edge import evaluation as gin_evaluation
from gin_edge import training as gin_training


class _Encoding(BaseException):
  """Raised by the stand-in model: the metric got as far as encoding observations.

  A BaseException, so that no metric's own `except Exception` takes it for a failure.
  """


def _stand_in(*args, **kwargs):
  del args, kwargs
  raise _Encoding()


def _parse(files, bindings, study_file, run_name, what):
  """Parses gin files and bindings one by one; a bad one is a ValueError naming it."""
  gin_files.use_for_includes()
  for path in files:
    try:
      gin.parse_config_file(path)
    except cli.GIN_ERRORS as e:
      raise ValueError(f"--study {study_file}: {what} gin file {path} (run {run_name}): "
                       f"{cli.gin_problem(e)}") from e
  for binding in bindings:
    try:
      gin.parse_config(binding)
    except cli.GIN_ERRORS as e:
      raise ValueError(f"--study {study_file}: {what} binding {binding!r} (run {run_name}): "
                       f"{cli.gin_problem(e)}") from e


def _training_key(run):
  """A run's training configuration without its seed (seeds need no check of their own)."""
  bindings = tuple(b for b in run.train_gin_bindings if not b.startswith("training.seed ="))
  return tuple(run.train_gin_files), bindings


def check_training(runs, study_file):
  """Parses and builds every distinct training configuration of `runs` (see the docstring).

  Returns:
    The number of configurations checked.
  """
  seen = set()
  for run in runs:
    key = _training_key(run)
    if key in seen:
      continue
    seen.add(key)
    gin.clear_config()
    try:
      _parse(run.train_gin_files, run.train_gin_bindings, study_file, run.name, "training")
      try:
        gin_training.check_configuration()
      except ValueError as e:
        raise ValueError(f"--study {study_file}: run {run.name}: {cli.first_line(e)}") from e
      except TypeError as e:  # a binding of the wrong type, say `beta_vae.beta = "four"`
        message = configurables.wrongly_typed(e)
        if message is None:
          raise
        raise ValueError(f"--study {study_file}: run {run.name}: {message}") from e
    finally:
      gin.clear_config()
  return len(seen)


def _check_types(name, study_file):
  """Each bound setting of metric `name` has the kind of its default (`configurables.value_kind`)."""
  gin_name = metric_catalog.gin_name(name)
  try:
    bound = gin.get_bindings(gin_name)
  except (ValueError, KeyError):
    return
  parameters = inspect.signature(inspect.unwrap(metric_registry.REGISTRY[name])).parameters
  defaults = {key: p.default for key, p in parameters.items()
              if p.default is not inspect.Parameter.empty}
  for key, value in sorted(bound.items()):
    kind = configurables.value_kind(defaults.get(key))
    if kind is not None and configurables.value_kind(value) != kind:
      raise ValueError(f"--study {study_file}: study.evaluation_bindings: "
                       f"{gin_name}.{key}={value!r}: expected {kind}, as its default "
                       f"{defaults[key]!r}")


def _dry_run(name, data, study_file):
  """Runs metric `name` on `data` until it first asks for codes (see the docstring)."""
  fn = metric_registry.REGISTRY[name]
  try:
    fn(data, _stand_in, np.random.RandomState(0), **gin_evaluation.metric_settings([name])[name])
  except _Encoding:
    return
  except ValueError as e:
    message = evaluate._with_setting_name(name, fn, e)  # pylint: disable=protected-access
    raise ValueError(f"--study {study_file}: study.evaluation_bindings: {message}") from e


def check_evaluation(runs, study_file, metrics=True):
  """Parses the evaluation settings of `runs` and checks the metrics' settings (see the
  docstring); `metrics=False` parses only (for UDR, which computes none of them)."""
  done = set()
  for run in runs:
    key = (tuple(run.evaluation_gin_files), tuple(run.evaluation_gin_bindings), run.metrics)
    if key in done:
      continue
    done.add(key)
    names = evaluate.parse_metric_names(run.metrics)
    gin.clear_config()
    try:
      # The data set as the run's training configuration makes it (the export carries it).
      _parse(run.train_gin_files, run.train_gin_bindings, study_file, run.name, "training")
      data = configurables.dataset_from_gin()
      gin.clear_config()
      _parse(run.evaluation_gin_files, run.evaluation_gin_bindings, study_file, run.name,
             "evaluation")
      if not metrics:
        continue
      for name in names:
        _check_types(name, study_file)
        _dry_run(name, data, study_file)
    finally:
      gin.clear_config()


def check_study(runs, study_file, evaluation_only=False, metrics=True, log_fn=print):
  """Every check of this module for `runs` before any starts; one progress line.

  Args:
    runs: `studies.spec.RunConfig`s (those about to run).
    study_file: the study's gin file, for the messages.
    evaluation_only: skip the training checks (re-evaluation and UDR train nothing).
    metrics: check the metrics' settings too, not only parse them (UDR computes none).
    log_fn: where the line goes.

  Raises:
    ValueError naming the study file and the setting at fault.
  """
  start = time.time()
  configurations = 0 if evaluation_only else check_training(runs, study_file)
  check_evaluation(runs, study_file, metrics)
  what = "evaluation settings" if evaluation_only else (
      f"settings of {configurations} training configuration(s) and the evaluation")
  log_fn(f"[zoo-study] checked the {what} in {time.time() - start:.1f} s")
