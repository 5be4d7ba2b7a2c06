"""results.csv, the table of a study: one row per finished run, and the groups the report uses.

results.csv has one row per finished run: `run`, `model`, `posterior` (family),
`posterior_label` (family and parameter, e.g. `correlated_noise_0.5`), `rho` (0 for factorized,
the correlation of correlated_noise, NaN for families without one), `encoder`, `seed`, then
every number in the run's evaluation/results.json (`<metric>.<key>`; settings left out).

The report passes rows as dicts (column -> value), the form the CSV reads into and tests write
by hand; `as_frame` turns them into a pandas DataFrame for grouping. Reductions run on numpy
arrays of the values in row order (`finite`), so the numbers are those of numpy.
"""
import csv
import json
import os

import numpy as np
import pandas as pd

from zoo.io_utils import atomic_write

CONFIG_COLUMNS = ("run", "model", "posterior", "posterior_label", "rho", "encoder", "seed")
_TEXT_COLUMNS = ("run", "model", "posterior", "posterior_label", "encoder")
# The metrics the summary, plots and tests cover, where results.csv has them.
MAIN_METRICS = (
    "beta_vae.eval_accuracy",
    "factor_vae.eval_accuracy",
    "mig.discrete_mig",
    "dci.disentanglement",
    "sap.SAP_score",
    "modularity_explicitness.modularity_score",
    "irs.IRS",
    "mi_measures.violation",
    "mi_measures.conditional_tc",
    "mi_measures.aggregate_tc",
)
# Measures of the posterior's independence properties rather than of disentanglement.
MI_METRIC_PREFIX = "mi_measures."
# The MI measures set against the disentanglement metrics (plot and rank correlations).
MI_MEASURES_AGAINST_METRICS = ("mi_measures.violation", "mi_measures.conditional_tc")
_RESULT_FIELDS_LEFT_OUT = ("seed",)  # the evaluation seed; the run's training seed is a column


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
    if not os.path.isfile(done_path):
      continue
    with open(done_path) as f:
      config = json.load(f)["config"]
    results_path = os.path.join(runs_dir, name, "evaluation", "results.json")
    if not os.path.isfile(results_path):
      raise FileNotFoundError(f"{results_path}: missing although {done_path} says the run "
                              "finished; delete the DONE file to rerun it")
    with open(results_path) as f:
      results = json.load(f)
    rho = config.get("rho")
    row = {"run": config["name"], "model": config["model"], "posterior": config["posterior"],
           "posterior_label": config["posterior_label"],
           "rho": float("nan") if rho is None else float(rho), "encoder": config["encoder"],
           "seed": int(config["seed"])}
    for key, value in results.items():
      if key.startswith("settings.") or key in _RESULT_FIELDS_LEFT_OUT:
        continue
      if value is None or _is_number(value):  # null is how results.json writes NaN
        row[key] = float("nan") if value is None else float(value)
    rows.append(row)
  return rows


def write_results_csv(rows, path):
  """Writes rows (dicts) atomically: configuration columns, then the metric columns sorted.

  Numbers are written as `repr` (they read back exactly); a metric a run lacks is `nan`.
  """
  metric_columns = sorted({k for row in rows for k in row} - set(CONFIG_COLUMNS))
  # csv ends lines with "\r\n" itself; the text file adds no translation of its own on Linux.
  with atomic_write(path) as f:
    writer = csv.writer(f)
    writer.writerow(list(CONFIG_COLUMNS) + metric_columns)
    for row in rows:
      writer.writerow([repr(float(row[c])) if c == "rho" else row[c] for c in CONFIG_COLUMNS]
                      + [repr(float(row.get(c, float("nan")))) for c in metric_columns])
  return metric_columns


def read_results_csv(path):
  """results.csv -> list of row dicts (rho and metrics float, seed int, the rest str)."""
  if not os.path.isfile(path):
    raise FileNotFoundError(f"{path}: no results.csv (run the study or --aggregate_only first)")
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
        if key in _TEXT_COLUMNS:
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
  """(MI measures, the other metrics) among `metrics`, for the MI-against-metric comparisons."""
  return ([m for m in metrics if m in MI_MEASURES_AGAINST_METRICS],
          [m for m in metrics if not m.startswith(MI_METRIC_PREFIX)])


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
  gives factorized first, then correlated_noise by rho, then the other families.
  """
  present = {k for row in rows for k in row} | set(metrics)
  columns = list(CONFIG_COLUMNS) + sorted(present - set(CONFIG_COLUMNS))
  frame = pd.DataFrame(list(rows), columns=columns)
  frame["posterior_label"] = pd.Categorical(frame["posterior_label"],
                                            categories=ordered_labels(rows), ordered=True)
  return frame


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


def summarize(rows, metrics):
  """Mean and std (ddof 1) over seeds per (model, posterior_label, encoder).

  Returns:
    list of dicts: model, posterior_label, encoder, rho, n (runs), and per metric
    {metric: (mean, std, count)}, in model / posterior / encoder order.
  """
  summary = []
  frame = as_frame(rows, metrics)
  for (model, label, encoder), members in frame.groupby(["model", "posterior_label", "encoder"],
                                                        observed=True):
    entry = {"model": model, "posterior_label": label, "encoder": encoder,
             "rho": float(members["rho"].iloc[0]), "n": len(members), "metrics": {}}
    for metric in metrics:
      values = finite(members, metric)
      mean = float(np.mean(values)) if values.size else float("nan")
      std = float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
      entry["metrics"][metric] = (mean, std, int(values.size))
    summary.append(entry)
  return summary
