"""Aggregates a study's finished runs: results.csv, summary.md, statistics.json and plots.

Everything downstream of results.csv is computed from the CSV alone (`read_results_csv`), so
the statistics can be recomputed from the file a reader has, and runs written by cluster jobs
aggregate the same way as local ones.

results.csv has one row per finished run: `run`, `model`, `posterior` (family),
`posterior_label` (family and parameter, e.g. `correlated_noise_0.5`), `rho` (0 for factorized,
the correlation of correlated_noise, NaN for families without one), `encoder`, `seed`, then
every number in the run's evaluation/results.json (`<metric>.<key>`; settings left out).

The statistics test the paper's claim that disentanglement declines as the posterior's
conditional independence is violated:
  * Spearman rank correlation of rho with each main metric, over factorized (rho = 0) and
    correlated_noise runs, pooled and per model and per encoder (p-value exact by
    permutation up to 8 runs, else scipy's t approximation);
  * two-sided Mann-Whitney U of factorized against each other posterior family/parameter,
    pooled and per model; and split against shared encoder where both ran;
  * Spearman rank correlation, over all runs, of the MI-invariance violation and the
    conditional TC with each disentanglement metric.
p-values are per test, not corrected for the number of tests.
"""
import csv
import itertools
import json
import math
import os
import warnings

import numpy as np
from scipy import stats

from zoo.io_utils import write_json_atomically

CONFIG_COLUMNS = ("run", "model", "posterior", "posterior_label", "rho", "encoder", "seed")
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
  """Writes rows (dicts) with the configuration columns first and metric columns sorted."""
  metric_columns = sorted({k for row in rows for k in row} - set(CONFIG_COLUMNS))
  tmp = path + ".tmp"
  with open(tmp, "w", newline="") as f:
    writer = csv.writer(f)
    writer.writerow(list(CONFIG_COLUMNS) + metric_columns)
    for row in rows:
      cells = [row[c] for c in CONFIG_COLUMNS]
      cells += [repr(float(row.get(c, float("nan")))) for c in metric_columns]
      cells[CONFIG_COLUMNS.index("rho")] = repr(float(row["rho"]))
      writer.writerow(cells)
  os.replace(tmp, path)
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
        if key in ("run", "model", "posterior", "posterior_label", "encoder"):
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


def posterior_order(label_and_rho):
  """Sort key for posterior labels: factorized, correlated_noise by rho, then the rest."""
  label, rho = label_and_rho
  if label == "factorized":
    return (0, 0.0, label)
  if label.startswith("correlated_noise"):
    return (1, rho, label)
  return (2, 0.0, label)


def _ordered_labels(rows):
  rho_of = {row["posterior_label"]: row["rho"] for row in rows}
  return [label for label, _ in sorted(rho_of.items(), key=posterior_order)]


def _values(rows, metric):
  return np.array([row[metric] for row in rows if metric in row and np.isfinite(row[metric])])


def summarize(rows, metrics):
  """Mean and std (ddof 1) over seeds per (model, posterior_label, encoder).

  Returns:
    list of dicts: model, posterior_label, encoder, rho, n (runs), and per metric
    {metric: (mean, std, count)}, in model / posterior / encoder order.
  """
  labels = _ordered_labels(rows)
  groups = {}
  for row in rows:
    groups.setdefault((row["model"], row["posterior_label"], row["encoder"]), []).append(row)
  ordered = sorted(groups, key=lambda k: (k[0], labels.index(k[1]), k[2]))
  summary = []
  for key in ordered:
    members = groups[key]
    entry = {"model": key[0], "posterior_label": key[1], "encoder": key[2],
             "rho": members[0]["rho"], "n": len(members), "metrics": {}}
    for metric in metrics:
      values = _values(members, metric)
      mean = float(np.mean(values)) if values.size else float("nan")
      std = float(np.std(values, ddof=1)) if values.size > 1 else float("nan")
      entry["metrics"][metric] = (mean, std, int(values.size))
    summary.append(entry)
  return summary


# Up to this many runs the p-value of a rank correlation is exact (all n! pairings, 40,320 at
# 8); beyond it, scipy's t approximation, which at small n is far off (n = 3 with a perfect
# rank correlation gives p = 0 instead of the exact 1/3).
EXACT_SPEARMAN_MAX_N = 8


def _spearman_exact_p_value(x, y):
  """Two-sided permutation p-value: the share of the n! pairings of x with y whose rank
  correlation is at least as far from 0 as the observed one (ties as average ranks)."""
  rank_x = stats.rankdata(x) - (x.size + 1) / 2.0
  rank_y = stats.rankdata(y) - (y.size + 1) / 2.0
  pairings = np.array(list(itertools.permutations(range(y.size))))
  # Every pairing has the same rank norms, so the covariance orders them like the correlation.
  covariances = rank_y[pairings] @ rank_x
  observed = abs(float(rank_y @ rank_x))
  return float(np.mean(np.abs(covariances) >= observed * (1.0 - 1e-9)))


def _spearman(x, y):
  x, y = np.asarray(x, float), np.asarray(y, float)
  result = {"n": int(x.size), "spearman_rho": None, "p_value": None}
  if x.size < 3:
    result["note"] = "fewer than 3 runs"
  elif np.ptp(x) == 0 or np.ptp(y) == 0:
    result["note"] = "constant input"
  else:
    test = stats.spearmanr(x, y)
    result["spearman_rho"] = float(test.statistic)
    if x.size <= EXACT_SPEARMAN_MAX_N:
      result["p_value"] = _spearman_exact_p_value(x, y)
      result["p_method"] = "exact permutation"
    else:
      result["p_value"] = float(test.pvalue)
      result["p_method"] = "t approximation"
  return result


def _mann_whitney(a, b):
  """Two-sided Mann-Whitney U of sample a (factorized / shared) against sample b."""
  a, b = np.asarray(a, float), np.asarray(b, float)
  result = {"n_a": int(a.size), "n_b": int(b.size), "u": None, "p_value": None,
            "prob_a_greater": None,
            "median_a": float(np.median(a)) if a.size else None,
            "median_b": float(np.median(b)) if b.size else None}
  if a.size and b.size:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", RuntimeWarning)
      test = stats.mannwhitneyu(a, b, alternative="two-sided")
    result["u"] = float(test.statistic)
    result["p_value"] = None if math.isnan(test.pvalue) else float(test.pvalue)
    # U counts pairs with a > b (ties half): U / (n_a n_b) is P(a > b) + P(a = b) / 2.
    result["prob_a_greater"] = float(test.statistic) / (a.size * b.size)
  else:
    result["note"] = "a sample is empty"
  return result


def _subgroups(rows):
  """[("all", rows), ("model=M", ...), ("encoder=E", ...)] (single-valued keys left out)."""
  groups = [("all", rows)]
  for key in ("model", "encoder"):
    values = sorted({row[key] for row in rows})
    if len(values) > 1:
      groups += [(f"{key}={v}", [row for row in rows if row[key] == v]) for v in values]
  return groups


def _mi_and_disentanglement_metrics(metrics):
  """(MI measures, the other metrics) among `metrics`, for the MI-against-metric comparisons."""
  return ([m for m in metrics if m in MI_MEASURES_AGAINST_METRICS],
          [m for m in metrics if not m.startswith(MI_METRIC_PREFIX)])


def compute_statistics(rows, metrics):
  """Tests of the claim, from results.csv rows (see the module docstring).

  Returns:
    {"spearman": {metric: {group: {n, spearman_rho, p_value}}},
     "mann_whitney": {metric: {posterior_label: {group: {n_a, n_b, u, p_value, ...}}}},
     "encoders": {metric: {"SHARED vs SPLIT": {n_a, n_b, u, p_value, ...}}},
     "mi_vs_metrics": {mi_measure: {metric: {n, spearman_rho, p_value}}}}
    where sample a is factorized (resp. the shared encoder), and mi_vs_metrics ranks every run
    (all posteriors) by an MI measure against a disentanglement metric. Missing or NaN values
    are dropped.
  """
  statistics = {"spearman": {}, "mann_whitney": {}, "encoders": {}, "mi_vs_metrics": {}}
  mi_metrics, other_metrics = _mi_and_disentanglement_metrics(metrics)
  for mi_metric in mi_metrics:
    per_metric = {}
    for metric in other_metrics:
      kept = [row for row in rows if np.isfinite(row.get(mi_metric, math.nan))
              and np.isfinite(row.get(metric, math.nan))]
      per_metric[metric] = _spearman([row[mi_metric] for row in kept],
                                     [row[metric] for row in kept])
    statistics["mi_vs_metrics"][mi_metric] = per_metric
  rho_rows = [row for row in rows if row["posterior"] in ("factorized", "correlated_noise")]
  labels = _ordered_labels(rows)
  encoders = sorted({row["encoder"] for row in rows})
  encoder_pairs = [(e[:-len("_split")], e) for e in encoders
                   if e.endswith("_split") and e[:-len("_split")] in encoders]
  for metric in metrics:
    by_group = {}
    for group, members in _subgroups(rho_rows):
      kept = [row for row in members if metric in row and np.isfinite(row[metric])]
      by_group[group] = _spearman([row["rho"] for row in kept], [row[metric] for row in kept])
    statistics["spearman"][metric] = by_group

    per_family = {}
    for label in labels:
      if label == "factorized":
        continue
      per_group = {}
      groups = [g for g in _subgroups(rows) if not g[0].startswith("encoder=")]
      for group, members in groups:
        factorized = _values([r for r in members if r["posterior_label"] == "factorized"],
                             metric)
        other = _values([r for r in members if r["posterior_label"] == label], metric)
        per_group[group] = _mann_whitney(factorized, other)
      per_family[label] = per_group
    statistics["mann_whitney"][metric] = per_family

    statistics["encoders"][metric] = {
        f"{shared} vs {split}": _mann_whitney(
            _values([r for r in rows if r["encoder"] == shared], metric),
            _values([r for r in rows if r["encoder"] == split], metric))
        for shared, split in encoder_pairs}
  return statistics


def _json_safe(obj):
  if isinstance(obj, dict):
    return {k: _json_safe(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [_json_safe(v) for v in obj]
  if isinstance(obj, float) and not math.isfinite(obj):
    return None
  return obj


# ------------------------------------------------------------------------------------- plots

def _figure(rows, cols, width=4.0, height=3.2, extra_width=0.0):
  from matplotlib.figure import Figure  # pylint: disable=g-import-not-at-top
  figure = Figure(figsize=(width * cols + extra_width, height * rows), layout="constrained")
  axes = figure.subplots(rows, cols, squeeze=False)
  return figure, axes


def _legend(ax, **kwargs):
  if ax.get_legend_handles_labels()[0]:  # a panel without data gets none
    ax.legend(**kwargs)


def _mean_std(values):
  if not values.size:
    return float("nan"), float("nan")
  return float(np.mean(values)), float(np.std(values, ddof=1)) if values.size > 1 else 0.0


def plot_metric_against_rho(rows, metric, path):
  """Per model a panel; per encoder a line of mean +- std over seeds against rho.

  Families without a rho (full covariance, low rank) stand to the right of rho = 1.
  """
  models = sorted({row["model"] for row in rows})
  encoders = sorted({row["encoder"] for row in rows})
  labels = _ordered_labels(rows)
  rho_labels = [l for l in labels if l == "factorized" or l.startswith("correlated_noise")]
  other_labels = [l for l in labels if l not in rho_labels]
  rho_of = {row["posterior_label"]: row["rho"] for row in rows}
  position = {l: rho_of[l] for l in rho_labels}
  position.update({l: 1.15 + 0.2 * k for k, l in enumerate(other_labels)})
  figure, axes = _figure(1, len(models))
  for ax, model in zip(axes[0], models):
    for index, encoder in enumerate(encoders):
      offset = (index - (len(encoders) - 1) / 2) * 0.015  # keep error bars apart
      labelled = False
      for family in (rho_labels, other_labels):
        xs, means, stds = [], [], []
        for label in family:
          mean, std = _mean_std(_values(
              [r for r in rows if r["model"] == model and r["encoder"] == encoder
               and r["posterior_label"] == label], metric))
          if np.isfinite(mean):
            xs.append(position[label] + offset), means.append(mean), stds.append(std)
        if xs:
          ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3,
                      linestyle="-" if family is rho_labels else "none",
                      color=f"C{index}", label=None if labelled else encoder)
          labelled = True
    ticks = [position[l] for l in labels]
    ax.set_xticks(ticks, [f"{rho_of[l]:g}" if l in rho_labels else
                          l.replace("_covariance", "").replace("_", " ") for l in labels],
                  fontsize=8)
    ax.set_xlabel("rho (correlated noise; 0 = factorized)")
    ax.set_title(model)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    _legend(ax, fontsize=8)
  figure.savefig(path, dpi=100)


def _grouped_bars(ax, rows, metric, groups, series, group_key, series_key):
  width = 0.8 / max(len(series), 1)
  for index, name in enumerate(series):
    means, stds = [], []
    for group in groups:
      mean, std = _mean_std(_values([r for r in rows if r[group_key] == group
                                     and r[series_key] == name], metric))
      means.append(mean), stds.append(std)
    xs = np.arange(len(groups)) + (index - (len(series) - 1) / 2) * width
    ax.bar(xs, means, width=width, yerr=stds, capsize=2, label=name, color=f"C{index}")
  ax.set_xticks(np.arange(len(groups)), groups, rotation=30, ha="right", fontsize=7)
  ax.set_title(metric, fontsize=9)
  ax.grid(axis="y", alpha=0.3)
  _legend(ax, fontsize=7)


def plot_families(rows, metrics, path):
  """Per metric: bars per posterior family/parameter, one per model (encoders pooled)."""
  cols = min(3, len(metrics))
  figure, axes = _figure(math.ceil(len(metrics) / cols), cols)
  for ax, metric in zip(axes.flat, metrics):
    _grouped_bars(ax, rows, metric, _ordered_labels(rows), sorted({r["model"] for r in rows}),
                  "posterior_label", "model")
  for ax in list(axes.flat)[len(metrics):]:
    ax.set_visible(False)
  figure.savefig(path, dpi=100)


def plot_encoders(rows, metrics, path):
  """Per metric: bars per posterior family/parameter, one per encoder (models pooled)."""
  cols = min(3, len(metrics))
  figure, axes = _figure(math.ceil(len(metrics) / cols), cols)
  for ax, metric in zip(axes.flat, metrics):
    _grouped_bars(ax, rows, metric, _ordered_labels(rows),
                  sorted({r["encoder"] for r in rows}), "posterior_label", "encoder")
  for ax in list(axes.flat)[len(metrics):]:
    ax.set_visible(False)
  figure.savefig(path, dpi=100)


def plot_mi_against_disentanglement(rows, mi_metrics, other_metrics, path):
  """Scatter of every run: MI measure (rows) against disentanglement metric (columns)."""
  # Extra width for the legend outside the panels.
  figure, axes = _figure(len(mi_metrics), len(other_metrics), width=3.4, height=3.0,
                         extra_width=2.5)
  labels = _ordered_labels(rows)
  encoders = sorted({r["encoder"] for r in rows})
  markers = "os^vDP*X"
  for i, mi_metric in enumerate(mi_metrics):
    for j, metric in enumerate(other_metrics):
      ax = axes[i][j]
      for k, label in enumerate(labels):
        for e, encoder in enumerate(encoders):
          kept = [r for r in rows if r["posterior_label"] == label and r["encoder"] == encoder
                  and np.isfinite(r.get(metric, np.nan)) and np.isfinite(r.get(mi_metric, np.nan))]
          if kept:
            ax.scatter([r[metric] for r in kept], [r[mi_metric] for r in kept], s=18,
                       color=f"C{k}", marker=markers[e % len(markers)],
                       label=f"{label} / {encoder}" if i == 0 and j == 0 else None)
      ax.set_xlabel(metric, fontsize=8)
      ax.set_ylabel(mi_metric, fontsize=8)
      ax.grid(alpha=0.3)
  if mi_metrics and other_metrics:
    figure.legend(loc="outside right upper", fontsize=7)
  figure.savefig(path, dpi=100)


def write_plots(rows, metrics, plots_dir):
  """Draws every plot for the main metrics; returns the files written (relative names)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  os.makedirs(plots_dir, exist_ok=True)
  written = []
  if not rows or not metrics:
    return written
  for metric in metrics:
    name = f"rho_{metric.replace('.', '_')}.png"
    plot_metric_against_rho(rows, metric, os.path.join(plots_dir, name))
    written.append(name)
  plot_families(rows, metrics, os.path.join(plots_dir, "families.png"))
  written.append("families.png")
  if len({r["encoder"] for r in rows}) > 1:
    plot_encoders(rows, metrics, os.path.join(plots_dir, "encoders.png"))
    written.append("encoders.png")
  mi_metrics, other = _mi_and_disentanglement_metrics(metrics)
  if mi_metrics and other:
    plot_mi_against_disentanglement(rows, mi_metrics, other,
                                    os.path.join(plots_dir, "mi_vs_disentanglement.png"))
    written.append("mi_vs_disentanglement.png")
  return written


# ----------------------------------------------------------------------------------- summary

def _number(value, digits=3):
  if value is None or (isinstance(value, float) and not math.isfinite(value)):
    return "n/a"
  return f"{value:.{digits}f}"


def _p_value(value):
  if value is None:
    return "n/a"
  return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def _spearman_row(first, second, result):
  """A summary table row: two label cells, then n, the rank correlation and its p-value."""
  return (f"| {first} | {second} | {result['n']} | {_number(result['spearman_rho'])} | "
          f"{_p_value(result['p_value'])} |")


def format_summary(study_name, rows, metrics, statistics, plots, expected_runs=None):
  """summary.md as a string."""
  lines = [f"# Study {study_name}: summary", ""]
  finished = {row["run"] for row in rows}
  if expected_runs is not None:
    missing = [name for name in expected_runs if name not in finished]
    lines.append(f"{len(finished)} of {len(expected_runs)} runs finished."
                 + (f" Not finished: {', '.join(missing)}." if missing else ""))
  else:
    lines.append(f"{len(finished)} runs finished.")
  lines += ["", "Numbers are mean ± standard deviation over seeds (number of seeds in "
            "parentheses). Metric settings are those of the study's evaluation configuration; "
            "unless they are the reference settings, the numbers are not comparable with "
            "published ones.", ""]
  if not metrics:
    lines.append("No main metric was evaluated; see results.csv for every number.")
    return "\n".join(lines) + "\n"

  lines += ["## Mean ± std over seeds", "",
            "| model | posterior | encoder | " + " | ".join(metrics) + " |",
            "|" + "---|" * (3 + len(metrics))]
  for entry in summarize(rows, metrics):
    cells = []
    for metric in metrics:
      mean, std, count = entry["metrics"][metric]
      cells.append(f"{_number(mean)} ± {_number(std)} ({count})" if count > 1
                   else f"{_number(mean)} ({count})")
    lines.append(f"| {entry['model']} | {entry['posterior_label']} | {entry['encoder']} | "
                 + " | ".join(cells) + " |")

  lines += ["", "## Does the metric change with the posterior correlation rho?", "",
            "Spearman rank correlation of rho with the metric over factorized (rho = 0) and "
            "correlated-noise runs. A decline of disentanglement with rho shows as a negative "
            "rank correlation for the disentanglement metrics. p is two-sided: exact (all "
            f"pairings) up to {EXACT_SPEARMAN_MAX_N} runs, else the t approximation.", "",
            "| metric | runs | n | Spearman rho | p |", "|---|---|---|---|---|"]
  for metric in metrics:
    for group, result in statistics["spearman"][metric].items():
      lines.append(_spearman_row(metric, group, result))

  if statistics.get("mi_vs_metrics"):
    lines += ["", "## Do the MI measures track disentanglement?", "",
              "Spearman rank correlation, over every run of every posterior, of an MI measure "
              "with a disentanglement metric. If violating conditional independence or "
              "MI-invariance costs disentanglement, these are negative.", "",
              "| MI measure | metric | n | Spearman rho | p |", "|---|---|---|---|---|"]
    for mi_metric, per_metric in statistics["mi_vs_metrics"].items():
      for metric, result in per_metric.items():
        lines.append(_spearman_row(mi_metric, metric, result))

  lines += ["", "## Factorized against each other posterior (Mann-Whitney U, two-sided)", "",
            "P(fact > other) is U / (n_fact n_other): the chance that a factorized run scores "
            "above a run of the other posterior (ties count half).", "",
            "| metric | posterior | runs | n fact | n other | median fact | median other | "
            "P(fact > other) | p |", "|---|---|---|---|---|---|---|---|---|"]
  for metric in metrics:
    for label, per_group in statistics["mann_whitney"][metric].items():
      for group, result in per_group.items():
        lines.append(
            f"| {metric} | {label} | {group} | {result['n_a']} | {result['n_b']} | "
            f"{_number(result['median_a'])} | {_number(result['median_b'])} | "
            f"{_number(result['prob_a_greater'], 2)} | {_p_value(result['p_value'])} |")

  if any(statistics["encoders"][m] for m in metrics):
    lines += ["", "## Shared against split encoder (Mann-Whitney U, two-sided, all posteriors)",
              "", "| metric | encoders | n shared | n split | median shared | median split | "
              "P(shared > split) | p |", "|---|---|---|---|---|---|---|---|"]
    for metric in metrics:
      for pair, result in statistics["encoders"][metric].items():
        lines.append(
            f"| {metric} | {pair} | {result['n_a']} | {result['n_b']} | "
            f"{_number(result['median_a'])} | {_number(result['median_b'])} | "
            f"{_number(result['prob_a_greater'], 2)} | {_p_value(result['p_value'])} |")

  lines += ["", "p-values are per test and not corrected for the number of tests; seeds are "
            "the unit of replication. All numbers are recomputed from results.csv by "
            "`zoo.study_report`; the same numbers are in statistics.json.", ""]
  if plots:
    lines += ["## Plots", ""] + [f"* [`plots/{name}`](plots/{name})" for name in plots]
  return "\n".join(lines) + "\n"


def write_report(output_dir, study_name=None, expected_runs=None, main_metrics=MAIN_METRICS,
                 plots=True, log_fn=print):
  """Aggregates OUTPUT/runs into results.csv, statistics.json, summary.md and plots/.

  Args:
    output_dir: a study output directory.
    study_name: shown in the summary (default: from the runs, or the directory name).
    expected_runs: run names the study has, to list the unfinished ones (optional).
    main_metrics: metric columns the summary, tests and plots cover (those present).
    plots: draw the plots.
    log_fn: where the closing line goes.

  Returns:
    dict: the statistics.
  """
  rows = collect_rows(output_dir)
  csv_path = os.path.join(output_dir, "results.csv")
  write_results_csv(rows, csv_path)
  # From here on only the CSV is read, so the report can be rebuilt from it alone.
  rows = read_results_csv(csv_path)
  metrics = main_metrics_in(rows, main_metrics)
  statistics = compute_statistics(rows, metrics)
  if study_name is None:
    study_name = _study_name(output_dir)
  write_json_atomically(os.path.join(output_dir, "statistics.json"),
                        _json_safe({"study": study_name, "runs": len(rows),
                                    "metrics": metrics, **statistics}))
  written = write_plots(rows, metrics, os.path.join(output_dir, "plots")) if plots else []
  summary = format_summary(study_name, rows, metrics, statistics, written, expected_runs)
  tmp = os.path.join(output_dir, ".summary.md.tmp")
  with open(tmp, "w") as f:
    f.write(summary)
  os.replace(tmp, os.path.join(output_dir, "summary.md"))
  log_fn(f"[zoo-study] aggregated {len(rows)} runs: {csv_path}, "
         f"{os.path.join(output_dir, 'summary.md')}, statistics.json, plots/ "
         f"({len(written)} files)")
  return statistics


def _study_name(output_dir):
  runs_dir = os.path.join(output_dir, "runs")
  for name in sorted(os.listdir(runs_dir)):
    done = os.path.join(runs_dir, name, "DONE")
    if os.path.isfile(done):
      with open(done) as f:
        return json.load(f)["config"].get("study") or os.path.basename(output_dir)
  return os.path.basename(os.path.abspath(output_dir))
