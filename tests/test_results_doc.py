"""docs/RESULTS.md reports what the shipped CPU study produced.

The study's results.csv is committed beside the report (docs/results/posterior_correlation_cpu/);
every table row of RESULTS.md's summary must be what zoo.study.report computes from that CSV
today, so neither a typed-in number nor a change of the statistics can go unnoticed.
"""
import json
import os

import tensorflow as tf

from zoo.study import report as study_report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO, "docs", "results", "posterior_correlation_cpu")
# 2 models x 5 posteriors x 2 encoders x 3 seeds
# (gin_configs/studies/posterior_correlation_cpu.gin).
EXPECTED_RUNS = 60


class ResultsDocTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.rows = study_report.read_results_csv(os.path.join(RESULTS_DIR, "results.csv"))
    self.metrics = study_report.main_metrics_in(self.rows)
    self.statistics = study_report.compute_statistics(self.rows, self.metrics)

  def test_the_csv_has_every_run_of_the_study_once(self):
    names = [row["run"] for row in self.rows]
    self.assertLen(names, EXPECTED_RUNS)
    self.assertLen(set(names), EXPECTED_RUNS)
    self.assertEqual({row["seed"] for row in self.rows}, {0, 1, 2})

  def test_report_tables_are_recomputed_from_the_csv(self):
    summary = study_report.format_summary("posterior_correlation_cpu", self.rows, self.metrics,
                                          self.statistics, plots=[])
    table_rows = [line for line in summary.splitlines() if line.startswith("| ")]
    self.assertGreater(len(table_rows), 100)
    with open(os.path.join(REPO, "docs", "RESULTS.md"), encoding="utf-8") as f:
      report = f.read()
    missing = [line for line in table_rows if line not in report]
    self.assertEmpty(missing, "rows of the recomputed summary missing from docs/RESULTS.md")

  def test_committed_statistics_match_the_csv(self):
    with open(os.path.join(RESULTS_DIR, "statistics.json"), encoding="utf-8") as f:
      saved = json.load(f)
    recomputed = json.loads(json.dumps(study_report.json_safe(self.statistics)))
    for metric in self.metrics:
      for group, result in saved["spearman"][metric].items():
        expected = recomputed["spearman"][metric][group]
        self.assertEqual(result["n"], expected["n"])
        for key in ("spearman_rho", "p_value"):
          if expected[key] is None:
            self.assertIsNone(result[key])
          else:
            self.assertAllClose(result[key], expected[key], rtol=1e-9, atol=1e-12)


if __name__ == "__main__":
  tf.test.main()
