"""summary.md: the study's tables of means and of the tests, as markdown."""
import math

from zoo.study.report import table
from zoo.study.report.statistics import EXACT_SPEARMAN_MAX_N


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
  for entry in table.summarize(rows, metrics):
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
            "`zoo.study.report`; the same numbers are in statistics.json.", ""]
  if plots:
    lines += ["## Plots", ""] + [f"* [`plots/{name}`](plots/{name})" for name in plots]
  return "\n".join(lines) + "\n"
