"""docs/RESULTS.md reports what the shipped CPU studies produced.

Each study's results.csv is committed beside the report (docs/results/<study>/); every table row
of the study's section of RESULTS.md must be what studies.report computes from that CSV
today, so neither a typed-in number nor a change of the statistics can go unnoticed.
"""
import json
import os

import tensorflow as tf

from studies import report as study_report

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO, "docs", "results", "posterior_correlation_cpu")
# 2 models x 5 posteriors x 2 encoders x 3 seeds
# (gin_configs/studies/posterior_correlation_cpu.gin).
EXPECTED_RUNS = 60
BETA_RESULTS_DIR = os.path.join(REPO, "docs", "results", "posterior_correlation_beta_cpu")
# beta-VAE x 3 betas x 3 posteriors x 2 encoders x 3 seeds
# (gin_configs/studies/posterior_correlation_beta_cpu.gin).
BETA_EXPECTED_RUNS = 54
WEAK_RESULTS_DIR = os.path.join(REPO, "docs", "results", "weak_vs_unsupervised_cpu")
# 2 models x 2 posteriors x 1 encoder x 3 seeds (gin_configs/studies/weak_vs_unsupervised_cpu.gin).
WEAK_EXPECTED_RUNS = 12
# The headings that begin each study's section of docs/RESULTS.md.
FIRST_SECTION = "# Results: posterior correlation and disentanglement (CPU study)"
BETA_SECTION = "# Results: correlated noise across beta (second CPU study)"
WEAK_SECTION = "# Results: weak supervision against beta-VAE (third CPU study)"


def results_section(heading):
  """The part of docs/RESULTS.md from `heading` to the next study's heading."""
  with open(os.path.join(REPO, "docs", "RESULTS.md"), encoding="utf-8") as f:
    text = f.read()
  _, marker, after = text.partition(heading + "\n")
  assert marker, f"docs/RESULTS.md has no section {heading!r}"
  return after.split("\n# Results: ")[0]


class ResultsDocTest(tf.test.TestCase):
  """The first CPU study: posterior_correlation_cpu."""

  results_dir = RESULTS_DIR
  expected_runs = EXPECTED_RUNS
  study = "posterior_correlation_cpu"
  section = FIRST_SECTION
  minimum_table_rows = 100

  def setUp(self):
    super().setUp()
    self.rows = study_report.read_results_csv(os.path.join(self.results_dir, "results.csv"))
    self.metrics = study_report.main_metrics_in(self.rows)
    self.statistics = study_report.compute_statistics(self.rows, self.metrics)

  def test_the_csv_has_every_run_of_the_study_once(self):
    names = [row["run"] for row in self.rows]
    self.assertLen(names, self.expected_runs)
    self.assertLen(set(names), self.expected_runs)
    self.assertEqual({row["seed"] for row in self.rows}, {0, 1, 2})

  def test_report_tables_are_recomputed_from_the_csv(self):
    summary = study_report.format_summary(self.study, self.rows, self.metrics,
                                          self.statistics, plots=[])
    table_rows = [line for line in summary.splitlines() if line.startswith("| ")]
    self.assertGreater(len(table_rows), self.minimum_table_rows)
    report = results_section(self.section)
    missing = [line for line in table_rows if line not in report]
    self.assertEmpty(missing, "rows of the recomputed summary missing from docs/RESULTS.md")

  def test_committed_statistics_match_the_csv(self):
    with open(os.path.join(self.results_dir, "statistics.json"), encoding="utf-8") as f:
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


class BetaResultsDocTest(ResultsDocTest):
  """The second CPU study: posterior_correlation_beta_cpu, which sweeps beta_vae.beta."""

  results_dir = BETA_RESULTS_DIR
  expected_runs = BETA_EXPECTED_RUNS
  study = "posterior_correlation_beta_cpu"
  section = BETA_SECTION
  minimum_table_rows = 300

  def test_every_configuration_ran_with_each_seed(self):
    configurations = {}
    for row in self.rows:
      key = (row["sweep.beta_vae.beta"], row["posterior_label"], row["encoder"])
      configurations.setdefault(key, set()).add(row["seed"])
    self.assertLen(configurations, 3 * 3 * 2)
    self.assertEqual({key[0] for key in configurations}, {"1.0", "4.0", "16.0"})
    self.assertTrue(all(seeds == {0, 1, 2} for seeds in configurations.values()))
    # The report covers reconstruction, within each beta too.
    for metric in ("train.loss.reconstruction", "train.loss.elbo",
                   "reconstruction.cross_entropy", "reconstruction.squared_error"):
      self.assertIn(metric, self.metrics)
      self.assertIn("beta_vae.beta=16.0",
                    self.statistics["mann_whitney"][metric]["correlated_noise_0.5"])
      self.assertIn("conv64 vs conv64_split, beta_vae.beta=1.0",
                    self.statistics["encoders"][metric])

  def test_committed_statistics_match_the_csv_within_each_beta(self):
    with open(os.path.join(self.results_dir, "statistics.json"), encoding="utf-8") as f:
      saved = json.load(f)
    recomputed = json.loads(json.dumps(study_report.json_safe(self.statistics)))
    for section in ("mann_whitney", "encoders", "sweeps"):
      self.assertEqual(saved[section], recomputed[section], section)


class WeakResultsDocTest(ResultsDocTest):
  """The third CPU study: weak_vs_unsupervised_cpu, Ada-GVAE against beta-VAE."""

  results_dir = WEAK_RESULTS_DIR
  expected_runs = WEAK_EXPECTED_RUNS
  study = "weak_vs_unsupervised_cpu"
  section = WEAK_SECTION
  minimum_table_rows = 100

  def test_committed_model_comparison_matches_the_csv(self):
    with open(os.path.join(self.results_dir, "statistics.json"), encoding="utf-8") as f:
      saved = json.load(f)
    recomputed = json.loads(json.dumps(study_report.json_safe(self.statistics)))
    self.assertEqual(saved["models"], recomputed["models"])
    self.assertEqual(saved["mann_whitney"], recomputed["mann_whitney"])

  def test_what_the_section_says_about_mig_and_dci(self):
    # Every Ada-GVAE run is above every beta-VAE run in MIG and DCI, within each posterior
    # and pooled. 6 runs against 6 with no ties: the exact two-sided p is 2 / C(12, 6); 3
    # against 3 it is 2 / C(6, 3) = 0.1, the smallest there is with 3 seeds a side.
    for metric in ("mig.discrete_mig", "dci.disentanglement"):
      tests = self.statistics["models"][metric]["ada_gvae vs beta_vae"]
      for group, expected_p in (("all", 2 / 924), ("posterior=factorized", 0.1),
                                ("posterior=correlated_noise_0.5", 0.1)):
        self.assertEqual(tests[group]["prob_a_greater"], 1.0, (metric, group))
        self.assertAllClose(tests[group]["p_value"], expected_p, rtol=1e-9)
    means = {(e["model"], e["posterior_label"]): e["metrics"] for e in study_report.summarize(
        self.rows, ["mig.discrete_mig", "dci.disentanglement"])}
    quoted = {("ada_gvae", "factorized"): (0.429, 0.471),
              ("ada_gvae", "correlated_noise_0.5"): (0.374, 0.446),
              ("beta_vae", "factorized"): (0.227, 0.141),
              ("beta_vae", "correlated_noise_0.5"): (0.068, 0.050)}
    for key, (mig, dci) in quoted.items():
      self.assertAllClose(means[key]["mig.discrete_mig"][0], mig, atol=5e-4)
      self.assertAllClose(means[key]["dci.disentanglement"][0], dci, atol=5e-4)


if __name__ == "__main__":
  tf.test.main()
