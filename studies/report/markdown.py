"""summary.md: the study's tables of means and of the tests, as markdown."""
import math

from studies.report import table
from studies.report.statistics import EXACT_SPEARMAN_MAX_N


def _number(value, digits=3):
  if value is None or (isinstance(value, float) and not math.isfinite(value)):
    return "n/a"
  return f"{value:.{digits}f}"


def _p_value(value):
  if value is None:
    return "n/a"
  return f"{value:.2g}" if value >= 1e-3 else f"{value:.1e}"


def _mann_whitney_row(cells, result):
  """A table row: the cells naming the test, then its counts, medians, P(a > b) and p."""
  return (f"| {' | '.join(cells)} | {result['n_a']} | {result['n_b']} | "
          f"{_number(result['median_a'])} | {_number(result['median_b'])} | "
          f"{_number(result['prob_a_greater'], 2)} | {_p_value(result['p_value'])} |")


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
  estimators = sorted({(m.split(".", 1)[0], table.estimator_of(m)) for m in metrics
                       if table.estimator_of(m)})
  for column, estimator in estimators:
    metric = column[:-len(estimator) - 1]
    lines += [f"Columns `{column}.*` are `{metric}` computed with the {estimator} estimator "
              f"(`{metric}.estimator = \"{estimator}\"`), not the reference's; they are not "
              f"comparable with `{metric}.*` or with published numbers.", ""]
  if not metrics:
    lines.append("No main metric was evaluated; see results.csv for every number.")
    return "\n".join(lines) + "\n"

  sweeps = table.sweep_columns(rows)
  swept = [column[len(table.SWEEP_PREFIX):] for column in sweeps]
  lines += ["## Mean ± std over seeds", "",
            "| " + " | ".join(["model"] + swept + ["posterior", "encoder"] + metrics) + " |",
            "|" + "---|" * (3 + len(swept) + len(metrics))]
  for entry in table.summarize(rows, metrics):
    cells = []
    for metric in metrics:
      mean, std, count = entry["metrics"][metric]
      cells.append(f"{_number(mean)} ± {_number(std)} ({count})" if count > 1
                   else f"{_number(mean)} ({count})")
    values = [entry["sweep"][column] or "-" for column in sweeps]
    lines.append("| " + " | ".join([entry["model"]] + values + [
        entry["posterior_label"], entry["encoder"]] + cells) + " |")

  lines += ["", "## Does the metric change with the posterior correlation rho?", "",
            "Spearman rank correlation of rho with the metric over factorized (rho = 0) and "
            "correlated-noise runs. A decline of disentanglement with rho shows as a negative "
            "rank correlation for the disentanglement metrics. p is two-sided: exact (all "
            f"pairings) up to {EXACT_SPEARMAN_MAX_N} runs, else the t approximation.", "",
            "| metric | runs | n | Spearman rho | p |", "|---|---|---|---|---|"]
  for metric in metrics:
    for group, result in statistics["spearman"][metric].items():
      lines.append(_spearman_row(metric, group, result))

  if statistics.get("sweeps") and any(statistics["sweeps"].values()):
    lines += ["", "## Does the metric change with the swept settings?", "",
              "Spearman rank correlation of each swept setting's value with the metric, over "
              "the runs that sweep it, pooled and per posterior.", "",
              "| metric | setting | runs | n | Spearman rho | p |", "|---|---|---|---|---|---|"]
    for metric in metrics:
      for binding, per_group in statistics["sweeps"][metric].items():
        for group, result in per_group.items():
          lines.append(f"| {metric} " + _spearman_row(binding, group, result))

  if statistics.get("mi_vs_metrics") and "udr.model_score" in statistics["mi_vs_metrics"]:
    # With UDR (zoo-study udr) the table ranks every unsupervised score, UDR among them.
    lines += ["", "## Do the unsupervised scores (MI measures, UDR) track disentanglement?",
              "", "Spearman rank correlation, over every run of every posterior, of a score "
              "computed without the factors (the MI measures; UDR, each run against the other "
              "seeds of its configuration) with a disentanglement metric. If violating "
              "conditional independence or MI-invariance costs disentanglement, the MI "
              "measures' are negative; a UDR that selects disentangled models has positive "
              "ones.", "",
              "| unsupervised score | metric | n | Spearman rho | p |", "|---|---|---|---|---|"]
  elif statistics.get("mi_vs_metrics"):
    lines += ["", "## Do the MI measures track disentanglement?", "",
              "Spearman rank correlation, over every run of every posterior, of an MI measure "
              "with a disentanglement metric. If violating conditional independence or "
              "MI-invariance costs disentanglement, these are negative.", "",
              "| MI measure | metric | n | Spearman rho | p |", "|---|---|---|---|---|"]
  if statistics.get("mi_vs_metrics"):
    for mi_metric, per_metric in statistics["mi_vs_metrics"].items():
      for metric, result in per_metric.items():
        lines.append(_spearman_row(mi_metric, metric, result))
    # Within each swept value: the metric cell names the group.
    for group, per_mi in statistics.get("mi_vs_metrics_by_sweep", {}).items():
      for mi_metric, per_metric in per_mi.items():
        for metric, result in per_metric.items():
          lines.append(_spearman_row(mi_metric, f"{metric}, {group}", result))

  lines += ["", "## Factorized against each other posterior (Mann-Whitney U, two-sided)", "",
            "P(fact > other) is U / (n_fact n_other): the chance that a factorized run scores "
            "above a run of the other posterior (ties count half).", "",
            "| metric | posterior | runs | n fact | n other | median fact | median other | "
            "P(fact > other) | p |", "|---|---|---|---|---|---|---|---|---|"]
  for metric in metrics:
    for label, per_group in statistics["mann_whitney"][metric].items():
      for group, result in per_group.items():
        lines.append(_mann_whitney_row([metric, label, group], result))

  if any(statistics["encoders"][m] for m in metrics):
    lines += ["", "## Shared against split encoder (Mann-Whitney U, two-sided, all posteriors)",
              "", "| metric | encoders | n shared | n split | median shared | median split | "
              "P(shared > split) | p |", "|---|---|---|---|---|---|---|---|"]
    for metric in metrics:
      for pair, result in statistics["encoders"][metric].items():
        lines.append(_mann_whitney_row([metric, pair], result))

  if statistics.get("models"):
    lines += ["", "## Model against model (Mann-Whitney U, two-sided)", "",
              "Each pair of models, over all their runs and within each posterior. "
              "P(first > second) is U / (n_first n_second) (ties count half).", "",
              "| metric | models | runs | n first | n second | median first | median second | "
              "P(first > second) | p |", "|---|---|---|---|---|---|---|---|---|"]
    for metric in metrics:
      for pair, per_group in statistics["models"][metric].items():
        for group, result in per_group.items():
          lines.append(_mann_whitney_row([metric, pair, group], result))

  lines += ["", "p-values are per test and not corrected for the number of tests; seeds are "
            "the unit of replication. All numbers are recomputed from results.csv by "
            "`studies.report`; the same numbers are in statistics.json.", ""]
  if plots:
    lines += ["## Plots", ""] + [f"* [`plots/{name}`](plots/{name})" for name in plots]
  return "\n".join(lines) + "\n"
