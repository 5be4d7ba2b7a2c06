"""zoo-study reevaluate (new metrics for trained runs) and zoo-study udr (UDR over each
configuration's seeds), and the report's table of the unsupervised scores."""
import csv
import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from studies import in_process
from studies import reevaluate
from studies import report
from studies import run_dirs
from studies import runner
from studies import spec
from test_study import metric_values, run_binary, TINY_RUNS, TINY_STUDY, write_file

# The tiny study (2 posteriors x 2 seeds) evaluated with MIG only; the re-evaluation adds the
# MI measures.
MIG_ONLY = TINY_STUDY.replace('study.metrics = "mig,mi_measures"', 'study.metrics = "mig"')
MORE_METRICS = ['study.metrics = "mig,mi_measures"']


def file_bytes(path):
  with open(path, "rb") as f:
    return f.read()


class ReevaluateTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp(prefix="test_study_reevaluate_")
    cls.study_file = write_file(cls.root, "tiny.gin", MIG_ONLY)
    cls.output = os.path.join(cls.root, "out")
    runs = spec.expand_runs(spec.load_study(cls.study_file))
    outcome = runner.run_study(runs, cls.output, run_in_process=in_process.run_stages,
                               log_fn=lambda line: None)
    assert outcome.finished == TINY_RUNS, outcome
    cls.before = {}
    for name in TINY_RUNS:
      paths = run_dirs.RunPaths.of(cls.output, name)
      cls.before[name] = {"done": json.loads(file_bytes(paths.done_file)),
                          "results": metric_values(paths.results_file),
                          "train": file_bytes(os.path.join(paths.model_dir,
                                                           "train_results.json")),
                          "export": sorted(os.listdir(paths.export_dir))}

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  def copy_of_output(self, name):
    output = os.path.join(self.root, name)
    shutil.copytree(self.output, output)
    return output

  def test_new_metrics_without_training(self):
    output = self.copy_of_output("library")
    changed = spec.expand_runs(spec.load_study(self.study_file, MORE_METRICS))
    # To `zoo-study run` a changed metric list is another study.
    with self.assertRaisesRegex(ValueError, "finished with a different metrics"):
      runner.run_study(changed, output, run_in_process=in_process.run_stages)
    lines = []
    outcome = reevaluate.reevaluate_runs(changed, output,
                                         evaluate_in_process=in_process.evaluate_stage,
                                         log_fn=lines.append)
    self.assertEqual(outcome.reevaluated, TINY_RUNS)
    self.assertEqual((outcome.up_to_date, outcome.unfinished, outcome.busy, outcome.failed),
                     ([], [], [], {}))
    self.assertLen([line for line in lines if line.startswith("[zoo-study] finish")], 4)
    for name in TINY_RUNS:
      with self.subTest(name):
        paths = run_dirs.RunPaths.of(output, name)
        before = self.before[name]
        results = metric_values(paths.results_file)
        # The MIG of the same export with the same seed is the first evaluation's number.
        mig = {k: v for k, v in results.items() if k.startswith("mig.")}
        self.assertEqual(mig, {k: v for k, v in before["results"].items()
                               if k.startswith("mig.")})
        self.assertIn("mi_measures.violation", results)
        self.assertNotIn("mi_measures.violation", before["results"])
        # Nothing was trained or exported again.
        self.assertEqual(file_bytes(os.path.join(paths.model_dir, "train_results.json")),
                         before["train"])
        self.assertEqual(sorted(os.listdir(paths.export_dir)), before["export"])
        done = json.loads(file_bytes(paths.done_file))
        self.assertEqual(done["config"]["metrics"], "mig,mi_measures")
        for stage in ("train", "export"):
          self.assertEqual(done["stage_seconds"][stage], before["done"]["stage_seconds"][stage])
        self.assertIn("reevaluated", done)
    # Now the DONEs are the changed study's: a rerun finds nothing to do either way.
    again = reevaluate.reevaluate_runs(changed, output, log_fn=lambda line: None)
    self.assertEqual((again.reevaluated, again.up_to_date), ([], TINY_RUNS))
    skipped = runner.run_study(changed, output, run_in_process=in_process.run_stages,
                               log_fn=lambda line: None)
    self.assertEqual((skipped.finished, sorted(skipped.skipped)), ([], sorted(TINY_RUNS)))
    # Training settings still may not change.
    retrained = spec.expand_runs(spec.load_study(
        self.study_file, MORE_METRICS + ['study.training_bindings = ["training.num_steps = 30"]']))
    with self.assertRaisesRegex(ValueError, "trained with a different train_gin_bindings; "
                                            "zoo-study reevaluate changes only the "
                                            "evaluation"):
      reevaluate.reevaluate_runs(retrained, output)

  def test_a_failed_evaluation_keeps_the_old_results(self):
    output = self.copy_of_output("failing")
    broken = spec.expand_runs(spec.load_study(
        self.study_file, ['study.evaluation_bindings = ["mig.num_train = -5"]']))
    outcome = reevaluate.reevaluate_runs(broken[:1], output,
                                         evaluate_in_process=in_process.evaluate_stage,
                                         log_fn=lambda line: None)
    name = TINY_RUNS[0]
    paths = run_dirs.RunPaths.of(output, name)
    self.assertEqual(outcome.failed, {name: paths.log_file("evaluate")})
    self.assertIn("expected a positive integer", open(paths.log_file("evaluate")).read())
    self.assertEqual(json.loads(file_bytes(paths.done_file)), self.before[name]["done"])
    self.assertEqual(metric_values(paths.results_file), self.before[name]["results"])

  def test_binary_reevaluates_computes_udr_and_reports_it(self):
    output = self.copy_of_output("binary")
    bindings = [f"--study_bindings={b}" for b in MORE_METRICS + [
        'study.evaluation_bindings = ["mig.num_train = 500", "mi_measures.num_points = 200", '
        '"mi_measures.num_conditioning = 4", "udr.num_data_points = 200", '
        '"udr.kl_filter_threshold = 0.0", "udr.correlation_matrix = \'spearman\'"]']]
    result = run_binary("reevaluate", f"--study={self.study_file}", f"--output_dir={output}",
                        *bindings, "--in_process", timeout=600)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn("4 runs evaluated again", result.stdout)
    result = run_binary("udr", f"--study={self.study_file}", f"--output_dir={output}",
                        *bindings, timeout=600)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    groups = reevaluate.seed_groups(spec.expand_runs(spec.load_study(self.study_file)))
    self.assertEqual(sorted(groups), ["beta_vae-correlated_noise_0.5-mlp",
                                      "beta_vae-factorized-mlp"])
    with open(os.path.join(output, "results.csv")) as f:
      rows = {row["run"]: row for row in csv.DictReader(f)}
    for group, members in groups.items():
      with open(os.path.join(output, "udr", group, "udr_results.json")) as f:
        udr = json.load(f)
      self.assertEqual(udr["models"], [run_dirs.RunPaths.of(output, run.name).export_dir
                                       for run in members])
      self.assertEqual(udr["settings.udr.num_data_points"], 200)
      for run, score in zip(members, udr["udr.model_scores"]):
        self.assertBetween(score, 0.0, 1.0)
        self.assertAllClose(float(rows[run.name]["udr.model_score"]), score, rtol=1e-12)
        self.assertEqual(float(rows[run.name]["udr.num_models"]), 2)
        self.assertIn("mi_measures.violation", rows[run.name])
    with open(os.path.join(output, "summary.md")) as f:
      summary = f.read()
    self.assertIn("## Do the unsupervised scores (MI measures, UDR) track disentanglement?",
                  summary)
    self.assertIn("| udr.model_score | mig.discrete_mig | 4 |", summary)

  def test_flag_errors_are_one_line(self):
    output = f"--output_dir={self.output}"
    # Each subcommand has only its own flags.
    cases = {
        ("reevaluate",): "zoo-study reevaluate: error: --study is required",
        ("udr", "--aggregate_only", "--study=S"): "zoo-study udr: error: Unknown command line "
                                                  "flag 'aggregate_only'",
        ("reevaluate", "--jobs=2", "--study=S"): "zoo-study reevaluate: error: Unknown command "
                                                 "line flag 'jobs'",
        ("udr", "--only_run=x", "--study=S"): "zoo-study udr: error: Unknown command line flag "
                                              "'only_run'",
        ("reevaluate", "--executor=ray", "--study=S"): "zoo-study reevaluate: error: Unknown "
                                                       "command line flag 'executor'",
    }
    for (subcommand, *flags), message in cases.items():
      with self.subTest(subcommand=subcommand, flags=flags):
        result = run_binary(subcommand, output, *flags)
        self.assertEqual(result.returncode, 1, result.stderr)
        lines = result.stderr.strip().splitlines()
        self.assertLen(lines, 1, result.stderr)
        self.assertTrue(lines[0].startswith(message), lines[0])


class UnsupervisedScoresReportTest(tf.test.TestCase):
  """UDR beside the MI measures: ranked against the disentanglement metrics, not one of them."""

  def test_udr_is_ranked_with_the_mi_measures(self):
    mig = [0.1, 0.4, 0.2, 0.8, 0.5, 0.3]
    rows = [{"run": f"r{i}", "model": "m", "posterior": "factorized",
             "posterior_label": "factorized", "rho": 0.0, "encoder": "e", "seed": i,
             "mig.discrete_mig": value, "mi_measures.violation": 1.0 - value,
             "udr.model_score": value ** 2} for i, value in enumerate(mig)]
    metrics = report.main_metrics_in(rows)
    self.assertEqual(metrics, ["mig.discrete_mig", "mi_measures.violation", "udr.model_score"])
    statistics = report.compute_statistics(rows, metrics)
    self.assertEqual(sorted(statistics["mi_vs_metrics"]),
                     ["mi_measures.violation", "udr.model_score"])
    # Each unsupervised score against MIG only: UDR is not a disentanglement metric here.
    self.assertEqual(list(statistics["mi_vs_metrics"]["udr.model_score"]), ["mig.discrete_mig"])
    udr = statistics["mi_vs_metrics"]["udr.model_score"]["mig.discrete_mig"]
    violation = statistics["mi_vs_metrics"]["mi_measures.violation"]["mig.discrete_mig"]
    self.assertEqual((udr["n"], udr["spearman_rho"]), (6, 1.0))
    self.assertEqual(violation["spearman_rho"], -1.0)
    self.assertAllClose(udr["p_value"], 2 / 720)  # exact: 2 of the 6! orders are as extreme
    summary = report.format_summary("u", rows, metrics, statistics, [])
    self.assertIn("## Do the unsupervised scores (MI measures, UDR) track disentanglement?",
                  summary)
    self.assertNotIn("## Do the MI measures track disentanglement?", summary)
    without_udr = [{k: v for k, v in row.items() if k != "udr.model_score"} for row in rows]
    metrics = report.main_metrics_in(without_udr)
    summary = report.format_summary("u", without_udr, metrics,
                                    report.compute_statistics(without_udr, metrics), [])
    self.assertIn("## Do the MI measures track disentanglement?", summary)

  def test_udr_results_become_columns_of_their_runs(self):
    output = self.get_temp_dir()
    group_dir = os.path.join(output, "udr", "m-factorized-e")
    os.makedirs(group_dir)
    models = [os.path.join(output, "runs", f"m-factorized-e-seed{k}", "export") for k in (0, 1, 2)]
    with open(os.path.join(group_dir, "udr_results.json"), "w") as f:
      json.dump({"models": models, "udr.model_scores": [0.5, None, 0.25],
                 "udr.num_active_latents": [3, 0, 2]}, f)
    scores = report.table.udr_scores(output)
    self.assertEqual(sorted(scores), [f"m-factorized-e-seed{k}" for k in (0, 1, 2)])
    self.assertEqual(scores["m-factorized-e-seed2"], {"udr.model_score": 0.25,
                                                      "udr.num_active_latents": 2.0,
                                                      "udr.num_models": 3.0})
    self.assertTrue(np.isnan(scores["m-factorized-e-seed1"]["udr.model_score"]))


if __name__ == "__main__":
  tf.test.main()
