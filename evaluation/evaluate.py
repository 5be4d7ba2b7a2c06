"""Runs metrics on a representation and writes results.json (the library behind zoo-evaluate).

results.json is flat: `<metric>.<key>` for every number a metric returns,
`<metric>.elapsed_seconds`, `settings.<metric>.<parameter>` for the settings it ran with, and
a few fields saying what was evaluated. It is written atomically: a crash or a bad metric leaves
no results.json behind, and a failed write (a full disk) leaves the previous one as it was,
after the table of numbers has been printed. One evaluation at a time writes an output
directory's results.json: a second one exits at once with an error naming the first's pid, and
zoo-evaluate does not replace a results.json that another evaluation wrote after it started
(the first to finish wins). A metric runs with its wrapper's defaults (the reference study's)
and the settings passed for it, `{metric: {parameter: value}}`; zoo-evaluate reads those from
gin (`gin_edge.evaluation`).

UDR ranks several models of one data set against each other (`evaluate_udr`, `run_udr`, the
library behind `zoo-udr`) and writes udr_results.json the same way.
"""
import inspect
import math
import os
import time

import numpy as np

from common import cli
from common import io_utils
from common import validation
from evaluation import code_cache
from evaluation import metrics as metric_catalog
from evaluation import progress
from evaluation import trained_model
from evaluation.metrics import registry as metric_registry
from evaluation.metrics import udr

# Metrics that need the full posterior (mean and covariance), not only codes.
POSTERIOR_METRICS = ("mi_measures",)
# Metrics that need the decoder: they get observations -> decoded means of their codes.
RECONSTRUCTION_METRICS = ("reconstruction",)
# Arguments of a metric wrapper that are data, not settings.
_NOT_SETTINGS = ("ground_truth_data", "representation_function", "posterior_function",
                 "reconstruction_function", "random_state")


def parse_metric_names(text):
  """'all' or a comma list -> list of registered metric names (ValueError for unknown or
  repeated ones)."""
  known = sorted(metric_registry.REGISTRY)
  if text.strip() == "all":
    return known
  names = [n.strip() for n in text.split(",") if n.strip()]
  unknown = [n for n in names if n not in metric_registry.REGISTRY]
  if not names or unknown:
    raise ValueError(f"--metrics {text!r}: unknown metric(s) {', '.join(unknown) or '(none)'}; "
                     f"expected 'all' or a comma list of {', '.join(known)}")
  repeated = sorted({n for n in names if names.count(n) > 1})
  if repeated:
    raise ValueError(f"--metrics {text!r}: {', '.join(repeated)} given more than once; expected "
                     "each metric once")
  return names


def lock_output(output_dir, program="zoo-evaluate"):
  """The lock that makes this process the one writer of output_dir's results (see
  `io_utils.lock_target`)."""
  return io_utils.lock_target(output_dir, "--output_dir", program)


def _write_results(path, results):
  """Writes results atomically; a failed write says that the numbers printed were not saved."""
  os.makedirs(os.path.dirname(path), exist_ok=True)
  try:
    io_utils.write_json_atomically(path, results)
  except OSError as e:
    raise OSError(e.errno, f"{e.strerror}; the results printed above were not saved",
                  e.filename or path) from e


def setting_defaults(fn):
  """{setting: default} of a metric wrapper: its arguments but the data ones."""
  return {param.name: param.default
          for param in inspect.signature(inspect.unwrap(fn)).parameters.values()
          if param.name not in _NOT_SETTINGS and param.default is not inspect.Parameter.empty}


def given_settings(name, fn, settings):
  """The settings given for metric `name` (of `settings`, {metric: {parameter: value}}),
  checked to be its wrapper's."""
  given = dict((settings or {}).get(name) or {})
  unknown = sorted(set(given) - set(setting_defaults(fn)))
  if unknown:
    raise ValueError(f"settings[{name!r}]: unknown {unknown}; {name} takes "
                     f"{sorted(setting_defaults(fn))}")
  return given


def metric_settings(name, fn, settings=None):
  """The settings a metric wrapper runs with: its defaults, overridden by those given for it in
  `settings` ({metric: {parameter: value}}), made JSON-plain."""
  values = dict(setting_defaults(fn), **given_settings(name, fn, settings))

  def jsonable(value):
    if isinstance(value, (tuple, list)):
      return [jsonable(v) for v in value]
    return value if value is None or isinstance(value, (int, float, str, bool)) else str(value)

  return {k: jsonable(v) for k, v in values.items()}


def _json_number(value):
  """JSON has no NaN: a NaN result (documented by the metric that gives it) is written as null."""
  value = float(value)
  return None if math.isnan(value) else value


def _with_setting_name(name, fn, error):
  """The first line of a metric's error, its setting named with the metric's settings name
  (`mig.num_bins`, `beta_vae_score.num_train`: also its gin name)."""
  line = cli.first_line(error)
  gin_name = metric_catalog.gin_name(name)
  for setting in metric_settings(name, fn):
    if line.startswith((f"{setting}=", f"{setting}:")):
      return f"{gin_name}.{line}"
  return line if line.startswith(f"{gin_name}.") else f"{name}: {line}"


def evaluate(model, output_dir, metric_names, seed=0, codes="mean", log_fn=print,
             settings=None, code_cache_settings=None, unchanged_since=False):
  """Computes `metric_names` on `model` and writes output_dir/results.json.

  Args:
    model: an `evaluation.trained_model.TrainedModel`.
    output_dir: created if missing.
    metric_names: registered metric names.
    seed: each metric gets a numpy RandomState seeded with this value, as the reference does.
    codes: "mean" or "sampled" codes for the standard metrics.
    log_fn: where the progress lines and the table go.
    settings: {metric name: {parameter: value}} overriding the wrappers' defaults, e.g.
      {"mig": {"num_train": 1000}}.
    code_cache_settings: `code_cache.CachedCodes`'s settings (enabled, max_megabytes) for
      mean codes; the results are the same either way.
    unchanged_since: `io_utils.file_state` of output_dir/results.json when the caller started
      (zoo-evaluate: when its process started), or False. If given and another evaluation has
      written results.json since, the results are printed but not written: the first to
      finish wins.

  Returns:
    The results dict.

  Raises:
    ValueError: bad settings, or another evaluation writes or wrote output_dir.
    OSError: results.json could not be written (the table was printed first).
  """
  validation.seed(seed, "seed")
  # Checked before any metric runs: an hour of metrics must not end in an unwritable directory.
  io_utils.check_writable_directory(output_dir, "--output_dir")
  lock = lock_output(output_dir)
  try:
    return _evaluate_locked(model, output_dir, metric_names, seed, codes, log_fn, settings,
                            code_cache_settings, unchanged_since)
  finally:
    lock.close()


def _evaluate_locked(model, output_dir, metric_names, seed, codes, log_fn, settings,
                     code_cache_settings, unchanged_since):
  data = model.ground_truth_data
  codes_fn = model.codes_function(codes)
  if codes == "mean":  # sampled codes are fresh draws at every call: never cached
    codes_fn = code_cache.CachedCodes(codes_fn, data, log_fn=log_fn,
                                      **(code_cache_settings or {}))
  results = {"evaluated": model.description, "dataset": data.name,
             "representation": codes, "seed": seed}
  # Checked before any metric runs: a misspelt setting must not cost the metrics before it.
  given = {name: given_settings(name, metric_registry.REGISTRY[name], settings)
           for name in metric_names}
  for name in metric_names:
    fn = metric_registry.REGISTRY[name]
    log_fn(f"[zoo-evaluate] {name} ...")
    start = time.time()
    random_state = np.random.RandomState(seed)
    try:
      with progress.reporting(name, log_fn):
        if name in POSTERIOR_METRICS:
          scores = fn(data, model.posterior, random_state, **given[name])
        elif name in RECONSTRUCTION_METRICS:
          scores = fn(data, lambda x: model.decode_mean(codes_fn(x)), random_state,
                      **given[name])
        else:
          scores = fn(data, codes_fn, random_state, **given[name])
    except ValueError as e:
      raise ValueError(_with_setting_name(name, fn, e)) from e
    elapsed = time.time() - start
    for key, value in scores.items():
      results[f"{name}.{key}"] = _json_number(value)
    results[f"{name}.elapsed_seconds"] = elapsed
    for key, value in metric_settings(name, fn, settings).items():
      results[f"settings.{name}.{key}"] = value
    log_fn(f"[zoo-evaluate] {name} done in {elapsed:.1f} s")

  # The numbers first: a write that fails (a full disk) must not take them with it.
  log_fn(format_table(results))
  path = os.path.join(output_dir, "results.json")
  io_utils.check_unchanged(path, unchanged_since, "--output_dir", output_dir, "zoo-evaluate")
  _write_results(path, results)
  return results


def format_table(results):
  """A readable two-column table of the metric values (settings left out)."""
  rows = [(k, v) for k, v in results.items()
          if not k.startswith("settings.") and isinstance(v, (float, int, type(None)))
          and k != "seed"]
  width = max((len(k) for k, _ in rows), default=10)
  lines = [f"{'metric':<{width}}  value", f"{'-' * width}  ----------"]
  for key, value in rows:
    shown = "nan" if value is None else f"{value:.4f}"
    lines.append(f"{key:<{width}}  {shown}")
  return "\n".join(lines)


def run_evaluation(output_dir, metrics="all", saved_model=None, model_dir=None, checkpoint=None,
                   seed=0, codes="mean", settings=None, code_cache_settings=None,
                   log_fn=print, unchanged_since=False):
  """What zoo-evaluate does: load one model, evaluate it with the metric settings, write.

  Exactly one of `saved_model` (a zoo-export directory) and `model_dir` (a zoo-train run,
  optionally at `checkpoint`) says what is evaluated; `settings` ({metric: {parameter:
  value}}) override the metrics' defaults. `unchanged_since` as for `evaluate`.

  Returns:
    The results dict written to output_dir/results.json.
  """
  names = parse_metric_names(metrics)
  validation.seed(seed, "--seed")
  io_utils.check_writable_directory(output_dir, "--output_dir")
  # Before the model loads: a second evaluation of the same output_dir is refused at once.
  lock = lock_output(output_dir)
  try:
    model = trained_model.load(model_dir=model_dir, saved_model=saved_model,
                               checkpoint=checkpoint)
    return _evaluate_locked(model, output_dir, names, seed, codes, log_fn, settings,
                            code_cache_settings, unchanged_since)
  finally:
    lock.close()


# ---------------------------------------------------------------------------------------------
# UDR: several models at once.
# ---------------------------------------------------------------------------------------------

UDR_RESULTS = "udr_results.json"
# Points drawn from every model's data set to check that they are one data set.
_DATASET_PROBE_POINTS = 8


def _describe_dataset(data):
  return (f"{data.name!r} (factors {tuple(data.factors_num_values)}, observations "
          f"{tuple(data.observation_shape)})")


def check_same_dataset(models, names, label=""):
  """ValueError unless every model's data set is the first one's: the same name, factors and
  observation shape, and the same points for the same seed (which settings cannot fake).
  Errors name the models as `label + name`."""
  first = models[0].ground_truth_data
  first_probe = first.sample(_DATASET_PROBE_POINTS, np.random.RandomState(0))
  for model, name in zip(models[1:], names[1:]):
    data = model.ground_truth_data
    same = (data.name == first.name
            and tuple(data.factors_num_values) == tuple(first.factors_num_values)
            and tuple(data.observation_shape) == tuple(first.observation_shape))
    if not same:
      raise ValueError(f"{label}{name}: trained on data set {_describe_dataset(data)}, "
                       f"expected {_describe_dataset(first)} like {names[0]}; UDR compares "
                       "models of one data set")
    probe = data.sample(_DATASET_PROBE_POINTS, np.random.RandomState(0))
    if not all(np.array_equal(a, b) for a, b in zip(probe, first_probe)):
      raise ValueError(f"{label}{name}: trained on data set {data.name!r} with other settings "
                       f"than {names[0]} (the same seed draws other points); UDR compares "
                       "models of one data set")


def evaluate_udr(models, output_dir, names=None, seed=0, log_fn=print, label="", settings=None):
  """UDR of `models` (their data set and latent size must agree); writes udr_results.json.

  Args:
    models: at least two `evaluation.trained_model.TrainedModel`s.
    output_dir: created if missing.
    names: how the results name each model (default: their descriptions).
    seed: the RandomState seed of the observations.
    log_fn: where the progress lines and the table go.
    label: what error messages put before a model's name (`--saved_model `).
    settings: {parameter: value} overriding `udr.compute_udr`'s defaults.

  Returns:
    The results dict: `models`, `evaluated`, `dataset`, `seed`, `scores` ({name: UDR score}),
    `udr.<key>` for every key of `udr.compute_udr` (lists in the order of `models`),
    `udr.elapsed_seconds` and `settings.udr.<parameter>`.
  """
  validation.seed(seed, "seed")
  io_utils.check_writable_directory(output_dir, "--output_dir")
  lock = lock_output(output_dir, "zoo-udr")
  try:
    return _evaluate_udr_locked(models, output_dir, names, seed, log_fn, label, settings, False)
  finally:
    lock.close()


def _evaluate_udr_locked(models, output_dir, names, seed, log_fn, label, settings,
                         unchanged_since):
  models = list(models)
  names = [m.description for m in models] if names is None else [str(n) for n in names]
  if len(models) < 2:
    raise ValueError(f"models: expected at least 2 models to compare, got {len(models)}")
  if len(names) != len(models) or len(set(names)) != len(names):
    raise ValueError(f"names: expected {len(models)} distinct names, one per model, got {names}")
  check_same_dataset(models, names, label)
  for model, name in zip(models[1:], names[1:]):
    if model.latent_dim != models[0].latent_dim:
      raise ValueError(f"{label}{name}: latent_dim {model.latent_dim}, expected {models[0].latent_dim} "
                       f"like {names[0]}; UDR relates latents of equal-sized representations")
  data = models[0].ground_truth_data
  log_fn(f"[zoo-udr] udr of {len(models)} models ...")
  start = time.time()
  given = given_settings("udr", udr.compute_udr, {"udr": settings})
  try:
    scores = udr.compute_udr(data, [m.posterior for m in models], np.random.RandomState(seed),
                             **given)
  except ValueError as e:
    raise ValueError(_with_setting_name("udr", udr.compute_udr, e)) from e
  elapsed = time.time() - start
  results = {"models": names, "evaluated": [m.description for m in models],
             "dataset": data.name, "seed": seed,
             "scores": {n: _json_number(s) for n, s in zip(names, scores["model_scores"])}}
  for key, value in scores.items():
    results[f"udr.{key}"] = value
  results["udr.model_scores"] = [_json_number(s) for s in scores["model_scores"]]
  results["udr.elapsed_seconds"] = elapsed
  for key, value in metric_settings("udr", udr.compute_udr, {"udr": settings}).items():
    results[f"settings.udr.{key}"] = value
  log_fn(f"[zoo-udr] udr done in {elapsed:.1f} s")
  width = max(len(n) for n in names)
  lines = [f"{'model':<{width}}  udr     active latents"]
  for name, score, active in zip(names, results["udr.model_scores"],
                                 scores["num_active_latents"]):
    shown = "nan" if score is None else f"{score:.4f}"
    lines.append(f"{name:<{width}}  {shown:<6}  {active}")
  log_fn("\n".join(lines))
  path = os.path.join(output_dir, UDR_RESULTS)
  io_utils.check_unchanged(path, unchanged_since, "--output_dir", output_dir, "zoo-udr")
  _write_results(path, results)
  return results


def run_udr(output_dir, saved_models, seed=0, settings=None, log_fn=print,
            unchanged_since=False):
  """What `zoo-udr` does: load every export, UDR with `settings` ({parameter: value} of
  `udr.compute_udr`), write. `unchanged_since`: as for `evaluate`, for udr_results.json.

  Returns:
    The results dict written to output_dir/udr_results.json (see `evaluate_udr`).
  """
  saved_models = list(saved_models)
  if len(saved_models) < 2:
    raise ValueError(f"--saved_model: expected at least 2 exports to compare, got "
                     f"{len(saved_models)}")
  seen = {}
  for path in saved_models:
    key = os.path.realpath(path)
    if key in seen:
      raise ValueError(f"--saved_model {path}: given twice (as {seen[key]} before); UDR "
                       "compares distinct models")
    seen[key] = path
  validation.seed(seed, "--seed")
  io_utils.check_writable_directory(output_dir, "--output_dir")
  lock = lock_output(output_dir, "zoo-udr")
  try:
    models = [trained_model.from_export(path) for path in saved_models]
    return _evaluate_udr_locked(models, output_dir, saved_models, seed, log_fn,
                                "--saved_model ", settings, unchanged_since)
  finally:
    lock.close()
