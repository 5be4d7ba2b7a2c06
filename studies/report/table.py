"""results.csv, the table of a study: one row per finished run, and the groups the report uses.

results.csv has one row per finished run: `run`, `model`, `posterior` (family),
`posterior_label` (family and parameter, e.g. `correlated_noise_0.5`), `rho` (0 for factorized,
the correlation of correlated_noise, NaN for families without one), `encoder`, `seed`; then, in
a study that sweeps settings, one column `sweep.<binding>` per swept gin binding (the run's
value as gin reads it, e.g. `4`; empty for a model that does not sweep it); then every number
in the run's evaluation/results.json (`<metric>.<key>`; settings left out) and the final loss
terms of its model/train_results.json (`train.loss.<term>`, each the mean over the last
`training.log_every` steps). A metric computed with another estimator than the reference's
(`settings.<metric>.estimator`, e.g. `dci.estimator = "histogram"`) has its numbers in columns
of their own, `<metric>_<estimator>.<key>` (`dci_histogram.disentanglement`), so a table never
mixes them with the reference estimator's numbers, and every table names the estimator.
Runs that `zoo-study udr` compared with the other seeds of their configuration have the
columns `udr.model_score`, `udr.num_active_latents` and `udr.num_models` (`udr_scores`).

The report passes rows as dicts (column -> value), the form the CSV reads into and tests write
by hand; `as_frame` turns them into a pandas DataFrame for grouping. Reductions run on numpy
arrays of the values in row order (`finite`), so the numbers are those of numpy.
"""
import csv
import json
import os

import numpy as np
import pandas as pd

from common.io_utils import atomic_write
from evaluation import metrics as metric_names
from studies import run_dirs

CONFIG_COLUMNS = ("run", "model", "posterior", "posterior_label", "rho", "encoder", "seed")
_TEXT_COLUMNS = ("run", "model", "posterior", "posterior_label", "encoder")
# Columns of swept settings: SWEEP_PREFIX + the gin binding, e.g. `sweep.beta_vae.beta`.
SWEEP_PREFIX = "sweep."
# Training results carried into results.csv: these keys of train_results.json, prefixed.
TRAIN_PREFIX = "train."
_TRAIN_RESULT_KEYS = "loss."
# The metrics the summary, plots and tests cover, where results.csv has them.
MAIN_METRICS = (
    "beta_vae.eval_accuracy",
    "factor_vae.eval_accuracy",
    "mig.discrete_mig",
    "dci.disentanglement",
    "dci_histogram.disentanglement",
    "sap.SAP_score",
    "modularity_explicitness.modularity_score",
    "irs.IRS",
    "mi_measures.violation",
    "mi_measures.conditional_tc",
    "mi_measures.aggregate_tc",
    "train.loss.reconstruction",
    "train.loss.elbo",
    "reconstruction.cross_entropy",
    "reconstruction.squared_error",
    "udr.model_score",
)
# How well a model reconstructs, rather than how it disentangles: left out of the comparisons
# of the MI measures with the disentanglement metrics.
RECONSTRUCTION_PREFIXES = (TRAIN_PREFIX, "reconstruction.")
# Measures of the posterior's independence properties rather than of disentanglement.
MI_METRIC_PREFIX = "mi_measures."
# The MI measures set against the disentanglement metrics (plot and rank correlations).
MI_MEASURES_AGAINST_METRICS = ("mi_measures.violation", "mi_measures.conditional_tc",
                               "udr.model_score")
# UDR of a run against the other seeds of its configuration (`zoo-study udr`): an
# unsupervised score like the MI measures, in columns `udr.<key>`.
UDR_PREFIX = "udr."
UDR_DIR = "udr"
_RESULT_FIELDS_LEFT_OUT = ("seed",)  # the evaluation seed; the run's training seed is a column
# The setting that chooses a metric's estimator, and the estimators other than the reference.
ESTIMATOR_SETTING = "estimator"
OTHER_ESTIMATORS = tuple(e for e in metric_names.BOOSTED_TREE_ESTIMATORS if e != "reference")


def estimator_prefixes(results):
  """{metric: column prefix} for the metrics that results.json says ran with another estimator
  than the reference's: `dci` -> `dci_histogram`."""
  prefixes = {}
  for key, value in results.items():
    parts = key.split(".")
    if (len(parts) == 3 and parts[0] == "settings" and parts[2] == ESTIMATOR_SETTING
        and value != "reference"):
      prefixes[parts[1]] = f"{parts[1]}_{value}"
  return prefixes


def estimator_of(column):
  """The non-reference estimator a results.csv column's numbers come from, else None."""
  metric = column.split(".", 1)[0]
  return next((e for e in OTHER_ESTIMATORS if metric.endswith("_" + e)), None)


def _is_number(value):
  return isinstance(value, (int, float)) and not isinstance(value, bool)


def collect_rows(output_dir):
  """One dict per finished run (DONE present) under OUTPUT/runs, sorted by run name."""
  runs_dir = os.path.join(output_dir, "runs")
  if not os.path.isdir(runs_dir):
    raise FileNotFoundError(f"--output_dir {output_dir}: no runs/ directory (expected a study "
                            "output directory)")
  rows = []
  for name in sorted(os.listdir(runs_dir)):
    done_path = os.path.join(runs_dir, name, "DONE")
    try:
      done = run_dirs.read_done_file(done_path)
    except run_dirs.DamagedDone as e:
      raise ValueError(f"{e}; `zoo-study run` with the study finishes the run again") from e
    if done is None:
      continue
    config = done["config"]
    results_path = os.path.join(runs_dir, name, "evaluation", "results.json")
    if not os.path.isfile(results_path):
      raise FileNotFoundError(f"{results_path}: missing although {done_path} says the run "
                              "finished; `zoo-study run` with the study finishes it again")
    with open(results_path) as f:
      results = json.load(f)
    rho = config.get("rho")
    row = {"run": config["name"], "model": config["model"], "posterior": config["posterior"],
           "posterior_label": config["posterior_label"],
           "rho": float("nan") if rho is None else float(rho), "encoder": config["encoder"],
           "seed": int(config["seed"])}
    for binding, value in (config.get("sweep") or {}).items():
      row[SWEEP_PREFIX + binding] = sweep_text(value)
    prefixes = estimator_prefixes(results)
    for key, value in results.items():
      if key.startswith("settings.") or key in _RESULT_FIELDS_LEFT_OUT:
        continue
      metric = key.split(".", 1)[0]
      if metric in prefixes:
        key = prefixes[metric] + key[len(metric):]
      if value is None or _is_number(value):  # null is how results.json writes NaN
        row[key] = float("nan") if value is None else float(value)
    train_path = os.path.join(runs_dir, name, "model", "train_results.json")
    if not os.path.isfile(train_path):
      raise FileNotFoundError(f"{train_path}: missing although {done_path} says the run "
                              "finished; `zoo-study run` with the study finishes it again "
                              "(zoo-train rewrites it)")
    with open(train_path) as f:
      for key, value in json.load(f).items():
        if key.startswith(_TRAIN_RESULT_KEYS) and (value is None or _is_number(value)):
          row[TRAIN_PREFIX + key] = float("nan") if value is None else float(value)
    rows.append(row)
  udr_columns = udr_scores(output_dir)
  for row in rows:
    row.update(udr_columns.get(row["run"], {}))
  return rows


def udr_scores(output_dir):
  """{run: {`udr.model_score`, `udr.num_active_latents`, `udr.num_models`}} from every
  OUTPUT/udr/<configuration>/udr_results.json (`zoo-study udr`), whose models are the
  exports OUTPUT/runs/<run>/export."""
  scores = {}
  udr_dir = os.path.join(output_dir, UDR_DIR)
  for group in sorted(os.listdir(udr_dir)) if os.path.isdir(udr_dir) else ():
    path = os.path.join(udr_dir, group, "udr_results.json")
    if not os.path.isfile(path):
      continue
    with open(path) as f:
      results = json.load(f)
    for export, score, active in zip(results["models"], results["udr.model_scores"],
                                     results["udr.num_active_latents"]):
      run = os.path.basename(os.path.dirname(os.path.normpath(export)))
      scores[run] = {f"{UDR_PREFIX}model_score": float("nan") if score is None else float(score),
                     f"{UDR_PREFIX}num_active_latents": float(active),
                     f"{UDR_PREFIX}num_models": float(len(results["models"]))}
  return scores


def sweep_text(value):
  """A swept value as results.csv writes it: as gin reads it (`4`, `0.0001`, `'gaussian'`)."""
  if isinstance(value, list):  # JSON's tuples
    value = tuple(value)
  return repr(value)


def sweep_columns(rows):
  """The sweep columns that rows have, sorted."""
  return sorted({k for row in rows for k in row if k.startswith(SWEEP_PREFIX)})


def sweep_order(text):
  """Sort key of swept values: numbers by value, then the rest as text."""
  try:
    return (0, float(text), text)
  except ValueError:
    return (1, 0.0, text)


def write_results_csv(rows, path):
  """Writes rows (dicts) atomically: configuration columns, sweep columns, then the metric
  columns sorted.

  Numbers are written as `repr` (they read back exactly); a metric a run lacks is `nan`, a
  setting its model does not sweep is empty.
  """
  sweeps = sweep_columns(rows)
  metric_columns = sorted({k for row in rows for k in row} - set(CONFIG_COLUMNS) - set(sweeps))
  # csv ends lines with "\r\n" itself; the text file adds no translation of its own on Linux.
  with atomic_write(path) as f:
    writer = csv.writer(f)
    writer.writerow(list(CONFIG_COLUMNS) + sweeps + metric_columns)
    for row in rows:
      writer.writerow([repr(float(row[c])) if c == "rho" else row[c] for c in CONFIG_COLUMNS]
                      + [row.get(c, "") for c in sweeps]
                      + [repr(float(row.get(c, float("nan")))) for c in metric_columns])
  return metric_columns


def read_results_csv(path):
  """results.csv -> list of row dicts (rho and metrics float, seed int, the rest str)."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no results.csv (run the study or zoo-study aggregate first)")
  with open(path, newline="") as f:
    reader = csv.DictReader(f)
    missing = [c for c in CONFIG_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
      raise ValueError(f"{path}: missing column(s) {', '.join(missing)}; expected "
                       f"{', '.join(CONFIG_COLUMNS)} then metric columns")
    rows = []
    for line_number, raw in enumerate(reader, start=2):
      row = {}
      for key, text in raw.items():
        if key in _TEXT_COLUMNS or key.startswith(SWEEP_PREFIX):
          row[key] = text
        elif key == "seed":
          row[key] = int(text)
        else:
          try:
            row[key] = float(text) if text not in ("", None) else float("nan")
          except ValueError as e:
            raise ValueError(f"{path} line {line_number}: column {key} has {text!r}, expected "
                             "a number") from e
      rows.append(row)
  return rows


def main_metrics_in(rows, main_metrics=MAIN_METRICS):
  """The main metrics that rows have at least one finite value of, in the given order."""
  return [m for m in main_metrics
          if any(m in row and np.isfinite(row[m]) for row in rows)]


def mi_and_disentanglement_metrics(metrics):
  """(MI measures, the disentanglement metrics) among `metrics`, for the MI-against-metric
  comparisons; reconstruction is neither."""
  return ([m for m in metrics if m in MI_MEASURES_AGAINST_METRICS],
          [m for m in metrics
           if not m.startswith((MI_METRIC_PREFIX, UDR_PREFIX) + RECONSTRUCTION_PREFIXES)])


def posterior_order(label_and_rho):
  """Sort key for posterior labels: factorized, correlated_noise by rho, then the rest."""
  label, rho = label_and_rho
  if label == "factorized":
    return (0, 0.0, label)
  if label.startswith("correlated_noise"):
    return (1, rho, label)
  return (2, 0.0, label)


def ordered_labels(rows):
  """The posterior labels of rows in `posterior_order`."""
  rho_of = {row["posterior_label"]: row["rho"] for row in rows}
  return [label for label, _ in sorted(rho_of.items(), key=posterior_order)]


def has_rho(label):
  """Whether a posterior label is placed by its rho (factorized counts as rho = 0)."""
  return label == "factorized" or label.startswith("correlated_noise")


def as_frame(rows, metrics=()):
  """Rows as a DataFrame with a column per configuration field and metric (NaN where missing).

  `posterior_label` is an ordered categorical in `ordered_labels` order, so grouping by it
  gives factorized first, then correlated_noise by rho, then the other families; each sweep
  column is one in `sweep_order` (empty, for runs that do not sweep it, first).
  """
  present = {k for row in rows for k in row} | set(metrics)
  sweeps = sweep_columns(rows)
  columns = list(CONFIG_COLUMNS) + sweeps + sorted(present - set(CONFIG_COLUMNS) - set(sweeps))
  frame = pd.DataFrame(list(rows), columns=columns)
  frame["posterior_label"] = pd.Categorical(frame["posterior_label"],
                                            categories=ordered_labels(rows), ordered=True)
  for column in sweeps:
    texts = frame[column].fillna("").astype(str)
    frame[column] = pd.Categorical(texts, categories=[""] + sorted(
        {t for t in texts if t}, key=sweep_order), ordered=True)
  return frame


def frame_sweep_columns(frame):
  """The sweep columns of a frame from `as_frame`."""
  return [c for c in frame.columns if c.startswith(SWEEP_PREFIX)]


def sweep_values(frame, column):
  """The values a sweep column takes, in `sweep_order` (runs that do not sweep it left out)."""
  present = set(frame[column].astype(str))
  return [value for value in frame[column].cat.categories if value and value in present]


def finite(frame, metric, **equal):
  """The finite values of a metric column in row order, as a float array.

  Keywords `column=value` keep only the rows with those values (`finite(f, m, model="vae")`).
  """
  for column, value in equal.items():
    frame = frame[frame[column] == value]
  values = frame[metric].to_numpy(dtype=float)
  return values[np.isfinite(values)]


def groups(frame, keys=("model", "encoder")):
  """[("all", frame), ("model=M", ...), ("encoder=E", ...)]; keys with one value left out."""
  found = [("all", frame)]
  for key in keys:
    if frame[key].nunique() > 1:
      found += [(f"{key}={value}", members) for value, members in frame.groupby(key)]
  return found


def sweep_groups(frame):
  """[("beta_vae.beta=4", the rows with that value), ...] for every sweep column and value."""
  found = []
  for column in frame_sweep_columns(frame):
    for value in sweep_values(frame, column):
      found.append((f"{column[len(SWEEP_PREFIX):]}={value}", frame[frame[column] == value]))
  return found


def summarize(rows, metrics):
  """Mean and std (ddof 1) over seeds per (model, swept values, posterior_label, encoder).

  Returns:
    list of dicts: model, sweep ({sweep column: value}), posterior_label, encoder, rho, n
    (runs), and per metric {metric: (mean, std, count)}, in model / swept values / posterior /
    encoder order.
  """
  summary = []
  frame = as_frame(rows, metrics)
  sweeps = frame_sweep_columns(frame)
  for keys, members in frame.groupby(["model"] + sweeps + ["posterior_label", "encoder"],
                                     observed=True):
    model, label, encoder = keys[0], keys[-2], keys[-1]
    entry = {"model": model, "sweep": dict(zip(sweeps, keys[1:-2])), "posterior_label": label,
             "encoder": encoder, "rho": float(members["rho"].iloc[0]), "n": len(members),
             "metrics": {}}
    for metric in metrics:
      values = finite(members, metric)
      mean = float(np.mean(values)) if values.size else float("nan")
      std = float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
      entry["metrics"][metric] = (mean, std, int(values.size))
    summary.append(entry)
  return summary
