"""Aggregates a study's finished runs: results.csv, statistics.json, summary.md and plots/.

  table       results.csv (one row per finished run) and the groups the report uses
  statistics  the rank-correlation and Mann-Whitney tests of the claim
  plots       plots/*.png
  markdown    summary.md

Everything downstream of results.csv is computed from the CSV alone (`read_results_csv`), so
the statistics can be recomputed from the file a reader has, and runs written by cluster jobs
aggregate the same way as local ones. Every file is written atomically.
"""
import json
import os

from common.io_utils import write_json_atomically
from common.io_utils import write_text_atomically
# The report's public names, from the modules that define them.
from studies.report.markdown import format_summary
from studies.report.plots import write_plots
from studies.report.statistics import compute_statistics
from studies.report.statistics import EXACT_SPEARMAN_MAX_N
from studies.report.statistics import json_safe
from studies.report.statistics import mann_whitney
from studies.report.statistics import spearman
from studies.report.table import collect_rows
from studies.report.table import CONFIG_COLUMNS
from studies.report.table import MAIN_METRICS
from studies.report.table import main_metrics_in
from studies.report.table import read_results_csv
from studies.report.table import summarize
from studies.report.table import write_results_csv



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
                        json_safe({"study": study_name, "runs": len(rows), "metrics": metrics,
                                   **statistics}))
  written = write_plots(rows, metrics, os.path.join(output_dir, "plots")) if plots else []
  summary_path = os.path.join(output_dir, "summary.md")
  write_text_atomically(summary_path, format_summary(study_name, rows, metrics, statistics,
                                                     written, expected_runs))
  log_fn(f"[zoo-study] aggregated {len(rows)} runs: {csv_path}, {summary_path}, "
         f"statistics.json, plots/ ({len(written)} files)")
  return statistics


def _study_name(output_dir):
  runs_dir = os.path.join(output_dir, "runs")
  for name in sorted(os.listdir(runs_dir)):
    done = os.path.join(runs_dir, name, "DONE")
    if os.path.isfile(done):
      with open(done) as f:
        return json.load(f)["config"].get("study") or os.path.basename(output_dir)
  return os.path.basename(os.path.abspath(output_dir))
