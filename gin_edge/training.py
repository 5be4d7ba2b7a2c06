"""zoo-train from gin: the configured run, its callbacks, errors in gin's names.

`train(model_dir)` is what zoo-train (and a study's train stage) runs after parsing the gin
files and bindings: the run's arguments come from `configurables.run_arguments`, the callbacks
from `image_summaries.*` and `metric_summaries.*`, and `zoo.training.train` gets them as plain
arguments together with the operative gin configuration, which it records and compares on
resume.
"""
import os

import gin

from evaluation import training_metrics
from gin_edge import configurables
from zoo import callbacks
from zoo import training


def summary_callbacks(model_dir):
  """zoo-train's callbacks: images (image data sets only) and metrics, into the run's
  summaries/, at the periods of `image_summaries.every_n_steps` and
  `metric_summaries.every_n_steps` (0 turns one off)."""
  log_dir = os.path.join(model_dir, "summaries")
  image_settings = configurables.settings("image_summaries")
  metric_settings = configurables.settings("metric_summaries")
  metric_options = {key: metric_settings.pop(key) for key in configurables.METRIC_SETTINGS}
  names = {key: f"image_summaries.{key}" for key in image_settings}
  try:
    found = [callbacks.ImageSummaries(log_dir, require_images=False, **image_settings)]
  except ValueError as e:
    raise ValueError(configurables.in_gin_names(e, names)) from e
  names = {key: f"metric_summaries.{key}" for key in list(metric_settings) + list(
      metric_options)}
  try:
    metrics = training_metrics.standard_metrics(seed=metric_settings["seed"], **metric_options)
    found.append(callbacks.MetricSummaries(log_dir, metrics, **metric_settings))
  except ValueError as e:
    raise ValueError(configurables.in_gin_names(e, names)) from e
  return [callback for callback in found if callback.every_n_steps]


def train(model_dir, strategy=None, allow_config_change=False, log_fn=print):
  """Trains the run the parsed gin configuration describes (what zoo-train does).

  Returns:
    zoo.training.train's results.
  """
  arguments = configurables.run_arguments()
  settings = dict(arguments["training"])
  pair_k = settings.pop("pair_k", 1)
  model = {key: value for key, value in arguments["model"].items() if key != "seed"}
  found = summary_callbacks(model_dir)
  with configurables.wrongly_typed_bindings_named():
    try:
      return training.train(model_dir, model, arguments["dataset"], pair_k=pair_k,
                            callbacks=found, strategy=strategy, log_fn=log_fn,
                            allow_config_change=allow_config_change,
                            gin_config=gin.operative_config_str(), **settings)
    except ValueError as e:
      raise ValueError(configurables.in_gin_names(e)) from e


def check_configuration():
  """Raises what `train` would raise at its start for the parsed gin configuration (bad
  settings, data set or model arguments; misfitting likelihood or networks), in gin's names,
  without training or writing anything. zoo-study calls it for every configuration of a study
  before the first run starts."""
  arguments = configurables.run_arguments()
  model = {key: value for key, value in arguments["model"].items() if key != "seed"}
  summary_callbacks("unused")  # the callbacks' settings, checked as zoo-train checks them
  with configurables.wrongly_typed_bindings_named():
    try:
      training.check_settings(model, arguments["dataset"], **arguments["training"])
    except ValueError as e:
      raise ValueError(configurables.in_gin_names(e)) from e
