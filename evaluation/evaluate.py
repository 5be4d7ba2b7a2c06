"""Runs metrics on a representation and writes results.json (the library behind zoo-evaluate).

results.json is flat: `<metric>.<key>` for every number a metric returns,
`<metric>.elapsed_seconds`, `settings.<metric>.<parameter>` for the settings it ran with, and
a few fields saying what was evaluated. It is written atomically: a crash or a bad metric leaves
no results.json behind.
"""
import inspect
import math
import os
import time

import gin
import numpy as np

from evaluation import metrics as metric_registry
from evaluation import trained_model
from zoo import cli
from zoo import io_utils
from zoo import validation

# Metrics that need the full posterior (mean and covariance), not only codes.
POSTERIOR_METRICS = ("mi_measures",)
# Arguments of a metric wrapper that are data, not settings.
_NOT_SETTINGS = ("ground_truth_data", "representation_function", "posterior_function",
                 "random_state")


def parse_metric_names(text):
  """'all' or a comma list -> list of registered metric names (ValueError for unknown ones)."""
  known = sorted(metric_registry.REGISTRY)
  if text.strip() == "all":
    return known
  names = [n.strip() for n in text.split(",") if n.strip()]
  unknown = [n for n in names if n not in metric_registry.REGISTRY]
  if not names or unknown:
    raise ValueError(f"--metrics {text!r}: unknown metric(s) {', '.join(unknown) or '(none)'}; "
                     f"expected 'all' or a comma list of {', '.join(known)}")
  return names


def metric_settings(name, fn):
  """The settings a metric wrapper runs with: signature defaults overridden by gin bindings."""
  settings = {}
  for param in inspect.signature(inspect.unwrap(fn)).parameters.values():
    if param.name in _NOT_SETTINGS or param.default is inspect.Parameter.empty:
      continue
    settings[param.name] = param.default
  try:
    settings.update(gin.get_bindings(metric_registry.gin_name(name)))
  except (ValueError, KeyError):
    pass
  def jsonable(value):
    if isinstance(value, (tuple, list)):
      return [jsonable(v) for v in value]
    return value if value is None or isinstance(value, (int, float, str, bool)) else str(value)

  return {k: jsonable(v) for k, v in settings.items()}


def _json_number(value):
  """JSON has no NaN: a NaN result (documented by the metric that gives it) is written as null."""
  value = float(value)
  return None if math.isnan(value) else value


def _with_setting_name(name, fn, error):
  """The first line of a metric's error, its setting named as gin knows it (`mig.num_bins`)."""
  line = cli.first_line(error)
  gin_name = metric_registry.gin_name(name)
  for setting in metric_settings(name, fn):
    if line.startswith((f"{setting}=", f"{setting}:")):
      return f"{gin_name}.{line}"
  return line if line.startswith(f"{gin_name}.") else f"{name}: {line}"


def evaluate(model, output_dir, metric_names, seed=0, codes="mean", log_fn=print):
  """Computes `metric_names` on `model` and writes output_dir/results.json.

  Args:
    model: an `evaluation.trained_model.TrainedModel`.
    output_dir: created if missing.
    metric_names: registered metric names.
    seed: each metric gets a numpy RandomState seeded with this value, as the reference does.
    codes: "mean" or "sampled" codes for the standard metrics.
    log_fn: where the progress lines and the table go.

  Returns:
    The results dict.
  """
  validation.seed(seed, "seed")
  # Checked before any metric runs: an hour of metrics must not end in an unwritable directory.
  io_utils.check_writable_directory(output_dir, "--output_dir")
  data = model.ground_truth_data
  codes_fn = model.codes_function(codes)
  results = {"evaluated": model.description, "dataset": data.name,
             "representation": codes, "seed": seed}
  for name in metric_names:
    fn = metric_registry.REGISTRY[name]
    log_fn(f"[zoo-evaluate] {name} ...")
    start = time.time()
    random_state = np.random.RandomState(seed)
    try:
      if name in POSTERIOR_METRICS:
        scores = fn(data, model.posterior, random_state)
      else:
        scores = fn(data, codes_fn, random_state)
    except ValueError as e:
      raise ValueError(_with_setting_name(name, fn, e)) from e
    elapsed = time.time() - start
    for key, value in scores.items():
      results[f"{name}.{key}"] = _json_number(value)
    results[f"{name}.elapsed_seconds"] = elapsed
    for key, value in metric_settings(name, fn).items():
      results[f"settings.{name}.{key}"] = value
    log_fn(f"[zoo-evaluate] {name} done in {elapsed:.1f} s")

  os.makedirs(output_dir, exist_ok=True)
  io_utils.write_json_atomically(os.path.join(output_dir, "results.json"), results)
  log_fn(format_table(results))
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


def register_metric_settings(required):
  """Imports every metric module, which registers its gin configurables.

  Settings may name any metric (a study's settings file names all of them), so all are looked
  up; only the `required` ones must import.
  """
  for name in metric_registry.REGISTRY:
    try:
      metric_registry.REGISTRY[name]  # pylint: disable=pointless-statement
    except ImportError:
      if name in required:
        raise


def run_evaluation(output_dir, metrics="all", saved_model=None, model_dir=None, checkpoint=None,
                   seed=0, codes="mean", gin_files=(), gin_bindings=(), log_fn=print):
  """What zoo-evaluate does: load one model, apply the metric settings, evaluate, write.

  Exactly one of `saved_model` (a zoo-export directory) and `model_dir` (a zoo-train run,
  optionally at `checkpoint`) says what is evaluated. The model's own configuration is parsed
  first, then `gin_files` and `gin_bindings` with the metric settings.

  Returns:
    The results dict written to output_dir/results.json.
  """
  names = parse_metric_names(metrics)
  validation.seed(seed, "--seed")
  io_utils.check_writable_directory(output_dir, "--output_dir")
  gin.clear_config()
  model = trained_model.load(model_dir=model_dir, saved_model=saved_model, checkpoint=checkpoint)
  register_metric_settings(names)
  cli.parse_gin(list(gin_files), list(gin_bindings))
  return evaluate(model, output_dir, names, seed=seed, codes=codes, log_fn=log_fn)
