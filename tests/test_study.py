"""zoo-study: study expansion, running and resuming, cluster commands, aggregation, statistics."""
import csv
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest
from unittest import mock

import numpy as np
from scipy import stats
import tensorflow as tf

# Read when Ray is imported: the Ray instance the tests start listens on the loopback interface
# only (binaries.study_main.RAY_LOOPBACK_ENVIRONMENT does the same for zoo-study's own instance).
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
try:
  import ray
  from studies import ray_executor
except ImportError:  # the optional extra: pip install '.[ray]' (make test installs it)
  ray = ray_executor = None

from common import io_utils
from studies import in_process
from studies import report
from studies import run_dirs
from studies import runner
from studies import spec
from studies import stages
from zoo import training
from zoo.training import checkpoints
from processes import child_processes, is_running, kill_if_running, make_read_only, process_status

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The fast configuration of test_training (an MLP VAE on linear_gaussian vectors), as study
# bindings on top of the mlp and linear_gaussian gin files.
TINY_STUDY = """
study.name = "tiny"
study.models = ["beta_vae"]
study.posteriors = ["factorized", "correlated_noise:0.5"]
study.encoders = ["mlp"]
study.dataset = "linear_gaussian"
study.seeds = [0, 1]
study.training_bindings = [
    "model.latent_dim = 3",
    "encoder.mlp_hidden_units = (32,)",
    "encoder.deep_units = 32",
    "decoder.mlp_hidden_units = (32,)",
    "likelihood.name = 'gaussian'",
    "training.batch_size = 32",
    "training.learning_rate = 1e-3",
    "training.num_steps = 20",
    "training.checkpoint_every = 10",
    "training.log_every = 10",
]
study.metrics = "mig,mi_measures"
study.evaluation_bindings = [
    "mig.num_train = 500",
    "mi_measures.num_points = 200",
    "mi_measures.num_conditioning = 4",
]
"""
TINY_RUNS = ["beta_vae-factorized-mlp-seed0", "beta_vae-correlated_noise_0.5-mlp-seed0",
             "beta_vae-factorized-mlp-seed1", "beta_vae-correlated_noise_0.5-mlp-seed1"]
# 2 betas x 2 posteriors x 2 encoders, one seed; the reconstruction error as well.
SWEEP_STUDY = (TINY_STUDY.replace('study.name = "tiny"', 'study.name = "tiny_sweep"')
               .replace('study.encoders = ["mlp"]', 'study.encoders = ["mlp", "mlp_split"]')
               .replace("study.seeds = [0, 1]", "study.seeds = [0]")
               .replace('study.metrics = "mig,mi_measures"',
                        'study.metrics = "mig,mi_measures,reconstruction"')
               .replace('"mig.num_train = 500",',
                        '"mig.num_train = 500", "reconstruction.num_points = 300",')
               + 'study.model_sweeps = {"beta_vae": {"beta_vae.beta": [1, 4]}}\n')
SWEEP_RUNS = [f"beta_vae-{posterior}-{encoder}-beta_{beta}-seed0" for beta in (1, 4)
              for posterior in ("factorized", "correlated_noise_0.5")
              for encoder in ("mlp", "mlp_split")]


def write_file(directory, name, text):
  path = os.path.join(directory, name)
  with open(path, "w") as f:
    f.write(text)
  return path


def run_binary(*args, timeout=300):
  return subprocess.run([sys.executable, "-m", "binaries.study_main", *args], capture_output=True,
                        text=True, timeout=timeout, cwd=REPO)


def metric_values(results_path):
  """The metric numbers of results.json, without timings (which differ between evaluations)."""
  with open(results_path) as f:
    results = json.load(f)
  return {k: v for k, v in results.items() if isinstance(v, (float, int, type(None)))
          and not k.endswith("elapsed_seconds") and not k.startswith("settings.")}


def correlated_noise_conditional_tc(rho, d):
  """-1/2 log det of the equicorrelation matrix: (1-rho)^(d-1) (1+(d-1) rho)."""
  return -0.5 * ((d - 1) * math.log(1 - rho) + math.log(1 + (d - 1) * rho))


class StudyRunTest(tf.test.TestCase):
  """One tiny study (2 configurations x 2 seeds) run in process, interrupted and resumed."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp(prefix="study_test_")
    cls.study_file = write_file(cls.root, "tiny.gin", TINY_STUDY)
    cls.output = os.path.join(cls.root, "out")
    cls.runs = spec.expand_runs(spec.load_study(cls.study_file))
    # "Killed" after the first finished run: --max_runs stops starting new runs.
    cls.first_lines, cls.second_lines = [], []
    cls.first = runner.run_study(cls.runs, cls.output, run_in_process=in_process.run_stages,
                                 max_runs=1,
                                 log_fn=cls.first_lines.append)
    first_paths = run_dirs.RunPaths.of(cls.output, TINY_RUNS[0])
    cls.first_mtimes = (os.stat(first_paths.done_file).st_mtime_ns,
                        os.stat(first_paths.results_file).st_mtime_ns)
    cls.second = runner.run_study(cls.runs, cls.output, run_in_process=in_process.run_stages,
                                  log_fn=cls.second_lines.append)
    cls.report_lines = []
    cls.statistics = report.write_report(cls.output, expected_runs=TINY_RUNS,
                                         log_fn=cls.report_lines.append)

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  def test_interrupted_study_resumes_only_the_missing_runs(self):
    self.assertEqual([run.name for run in self.runs], TINY_RUNS)
    self.assertEqual(self.first.finished, TINY_RUNS[:1])
    self.assertEqual(self.first.not_started, TINY_RUNS[1:])
    self.assertEqual(self.second.skipped, TINY_RUNS[:1])
    self.assertEqual(self.second.finished, TINY_RUNS[1:])
    self.assertEqual(self.second.failed, {})
    # The first run was neither redone nor re-evaluated.
    paths = run_dirs.RunPaths.of(self.output, TINY_RUNS[0])
    self.assertEqual((os.stat(paths.done_file).st_mtime_ns,
                      os.stat(paths.results_file).st_mtime_ns), self.first_mtimes)
    self.assertEqual(sum("start " in line for line in self.second_lines), 3)
    finishes = [line for line in self.second_lines if "finish " in line]
    self.assertLen(finishes, 3)
    self.assertIn("2 remain", finishes[0])
    self.assertIn("0 remain", finishes[-1])
    self.assertTrue(any("1 of 4 runs already finished" in line for line in self.second_lines))
    for name in TINY_RUNS:
      done = run_dirs.read_done(self.output, name)
      self.assertEqual(done["run"], name)
      self.assertEqual(sorted(done["stage_seconds"]), ["evaluate", "export", "train"])
      with open(os.path.join(self.output, "runs", name, "model", "train_results.json")) as f:
        self.assertEqual(json.load(f)["final_step"], 20)

  def test_results_csv_has_one_row_per_run_and_the_posteriors_closed_form_ctc(self):
    path = os.path.join(self.output, "results.csv")
    with open(path, newline="") as f:
      header = next(csv.reader(f))
    self.assertEqual(tuple(header[:7]), report.CONFIG_COLUMNS)
    self.assertIn("mig.discrete_mig", header)
    self.assertIn("mi_measures.violation", header)
    self.assertNotIn("settings.mig.num_train", header)
    rows = {row["run"]: row for row in report.read_results_csv(path)}
    self.assertEqual(sorted(rows), sorted(TINY_RUNS))
    for name, row in rows.items():
      correlated = "correlated" in name
      self.assertEqual(row["model"], "beta_vae")
      self.assertEqual(row["encoder"], "mlp")
      self.assertEqual(row["seed"], int(name[-1]))
      self.assertEqual(row["posterior"], "correlated_noise" if correlated else "factorized")
      self.assertEqual(row["rho"], 0.5 if correlated else 0.0)
      # The posterior family reached the model: CTC is exactly that of C_rho (d = 3), and 0
      # for the factorized posterior.
      self.assertAllClose(row["mi_measures.conditional_tc"],
                          correlated_noise_conditional_tc(0.5, 3) if correlated else 0.0,
                          atol=1e-5)
      self.assertTrue(0.0 <= row["mig.discrete_mig"] <= 1.0)

  def test_report_statistics_summary_and_plots(self):
    rows = report.read_results_csv(os.path.join(self.output, "results.csv"))
    with open(os.path.join(self.output, "statistics.json")) as f:
      saved = json.load(f)
    self.assertEqual(saved["runs"], 4)
    # The final training losses are main metrics too (from each run's train_results.json).
    self.assertEqual(saved["metrics"], ["mig.discrete_mig", "mi_measures.violation",
                                        "mi_measures.conditional_tc",
                                        "mi_measures.aggregate_tc",
                                        "train.loss.reconstruction", "train.loss.elbo"])
    # Computed from the CSV: the same as scipy on the CSV's columns.
    expected = stats.spearmanr([r["rho"] for r in rows], [r["mig.discrete_mig"] for r in rows])
    self.assertAllClose(saved["spearman"]["mig.discrete_mig"]["all"]["spearman_rho"],
                        expected.statistic, atol=1e-12)
    # CTC is 0 for both factorized runs and 0.3466 for both correlated ones: perfectly
    # separated, so U = 0 for "factorized > correlated".
    mw = saved["mann_whitney"]["mi_measures.conditional_tc"]["correlated_noise_0.5"]["all"]
    self.assertEqual((mw["n_a"], mw["n_b"], mw["u"], mw["prob_a_greater"]), (2, 2, 0.0, 0.0))
    with open(os.path.join(self.output, "summary.md")) as f:
      summary = f.read()
    self.assertIn("4 of 4 runs finished.", summary)
    self.assertIn("| beta_vae | correlated_noise_0.5 | mlp |", summary)
    self.assertIn("0.347 ± 0.000 (2)", summary)  # the CTC of rho = 0.5, d = 3
    for name in ("rho_mig_discrete_mig.png", "families.png", "mi_vs_disentanglement.png"):
      self.assertIn(f"plots/{name}", summary)
      with open(os.path.join(self.output, "plots", name), "rb") as f:
        self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

  def test_half_finished_run_resumes_from_its_checkpoint(self):
    output = os.path.join(self.root, "half")
    shutil.copytree(self.output, output)
    paths = run_dirs.RunPaths.of(output, TINY_RUNS[1])
    os.remove(paths.done_file)
    shutil.rmtree(paths.evaluation_dir)
    lines = []
    outcome = runner.run_study(self.runs, output, run_in_process=in_process.run_stages,
                               log_fn=lines.append)
    self.assertEqual(outcome.finished, TINY_RUNS[1:2])
    self.assertEqual(sorted(outcome.skipped), sorted(TINY_RUNS[:1] + TINY_RUNS[2:]))
    with open(os.path.join(paths.model_dir, "train_results.json")) as f:
      train_results = json.load(f)
    # Training found its final checkpoint and did no step, so its results (losses and speed)
    # stay those of the run that did the steps; the export was replaced.
    self.assertEqual((train_results["start_step"], train_results["final_step"]), (0, 20))
    self.assertIn("loss.loss", train_results)
    self.assertTrue(any("nothing to do" in line for line in open(paths.log_file("train"))))
    self.assertEqual(metric_values(paths.results_file), metric_values(
        run_dirs.RunPaths.of(self.output, TINY_RUNS[1]).results_file))

  def test_a_changed_study_does_not_mix_with_finished_runs(self):
    changed = spec.load_study(self.study_file,
                              ['study.training_bindings = ["training.num_steps = 30"]'])
    with self.assertRaisesRegex(ValueError, "finished with a different train_gin_bindings"):
      runner.run_study(spec.expand_runs(changed), self.output, run_in_process=in_process.run_stages)

  def test_printed_commands_list_unfinished_runs_and_run_through_the_binaries(self):
    output = os.path.join(self.root, "cluster")
    shutil.copytree(self.output, output)
    shutil.rmtree(os.path.join(output, "runs", TINY_RUNS[3]))
    listed = run_binary(f"--study={self.study_file}", f"--output_dir={output}",
                        "--print_commands")
    self.assertEqual(listed.returncode, 0, listed.stderr)
    commands = listed.stdout.strip().splitlines()
    self.assertLen(commands, 1)
    self.assertTrue(commands[0].endswith(f"--only_run={TINY_RUNS[3]}"), commands[0])
    self.assertIn(f"--study={self.study_file}", commands[0])

    csv_mtime = os.stat(os.path.join(output, "results.csv")).st_mtime_ns
    result = subprocess.run(shlex.split(commands[0]), capture_output=True, text=True,
                            timeout=300, cwd=self.root)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn(f"finish {TINY_RUNS[3]}", result.stdout)
    paths = run_dirs.RunPaths.of(output, TINY_RUNS[3])
    self.assertTrue(os.path.isfile(paths.done_file))
    with open(os.path.join(paths.logs_dir, "train.log")) as f:
      self.assertIn("binaries.train_main", f.readline())
    # The binaries in subprocesses compute exactly what the in-process stages computed.
    self.assertEqual(metric_values(paths.results_file), metric_values(
        run_dirs.RunPaths.of(self.output, TINY_RUNS[3]).results_file))
    # A single-run job leaves aggregation to --aggregate_only.
    self.assertEqual(os.stat(os.path.join(output, "results.csv")).st_mtime_ns, csv_mtime)

    nothing_left = run_binary(f"--study={self.study_file}", f"--output_dir={output}",
                              "--print_commands")
    self.assertEqual((nothing_left.returncode, nothing_left.stdout), (0, ""))
    fresh = run_binary(f"--study={self.study_file}",
                       f"--output_dir={os.path.join(self.root, 'fresh')}", "--print_commands")
    self.assertEqual([c.rsplit("--only_run=", 1)[1] for c in fresh.stdout.split("\n") if c],
                     TINY_RUNS)
    aggregated = run_binary(f"--output_dir={output}", "--aggregate_only")
    self.assertEqual(aggregated.returncode, 0, aggregated.stderr)
    self.assertLen(report.read_results_csv(os.path.join(output, "results.csv")), 4)


class SweepStudyTest(tf.test.TestCase):
  """A study sweeping beta_vae.beta (2 x 2 x 2 runs) run in process, and its report."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp(prefix="sweep_test_")
    cls.study_file = write_file(cls.root, "sweep.gin", SWEEP_STUDY)
    cls.output = os.path.join(cls.root, "out")
    cls.runs = spec.expand_runs(spec.load_study(cls.study_file))
    cls.outcome = runner.run_study(cls.runs, cls.output, run_in_process=in_process.run_stages,
                                   log_fn=lambda line: None)
    cls.statistics = report.write_report(cls.output, expected_runs=SWEEP_RUNS,
                                         log_fn=lambda line: None)
    cls.rows = report.read_results_csv(os.path.join(cls.output, "results.csv"))

  @classmethod
  def tearDownClass(cls):
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  def column(self, name, rows=None):
    return [row[name] for row in (self.rows if rows is None else rows)]

  def test_runs_are_named_by_their_swept_value_and_train_with_it(self):
    self.assertEqual([run.name for run in self.runs], SWEEP_RUNS)
    self.assertEqual(sorted(self.outcome.finished), sorted(SWEEP_RUNS))
    self.assertEqual(self.outcome.failed, {})
    for run in self.runs:
      beta = 4 if "beta_4" in run.name else 1
      self.assertEqual(run.sweep, (("beta_vae.beta", beta),))
      self.assertEqual(run.sweep_axes, (("beta_vae.beta", (1, 4)),))
      self.assertIn(f"beta_vae.beta = {beta}", run.train_gin_bindings)
      with open(os.path.join(self.output, "runs", run.name, "model", "operative_config.gin")) as f:
        self.assertIn(f"beta_vae.beta = {beta}\n", f.read())
      self.assertEqual(run_dirs.read_done(self.output, run.name)["config"]["sweep"],
                       {"beta_vae.beta": beta})

  def test_results_csv_has_a_column_per_swept_binding_and_the_reconstruction(self):
    with open(os.path.join(self.output, "results.csv"), newline="") as f:
      header = next(csv.reader(f))
    self.assertEqual(header[:8], list(report.CONFIG_COLUMNS) + ["sweep.beta_vae.beta"])
    self.assertEqual(sorted(self.column("run")), sorted(SWEEP_RUNS))
    for row in self.rows:
      self.assertEqual(row["sweep.beta_vae.beta"], "4" if "beta_4" in row["run"] else "1")
      with open(os.path.join(self.output, "runs", row["run"], "model",
                             "train_results.json")) as f:
        train_results = json.load(f)
      for term in ("reconstruction", "elbo", "kl"):
        self.assertEqual(row[f"train.loss.{term}"], train_results[f"loss.{term}"])
      # The ELBO is minus reconstruction and KL, each averaged over the same logged steps.
      self.assertAllClose(row["train.loss.elbo"],
                          -(row["train.loss.reconstruction"] + row["train.loss.kl"]), rtol=1e-5)
      # The training loss is the Gaussian NLL (std 1) of the 8 elements, 1/2 squared error +
      # 4 log 2 pi: on held-out points (decoding the posterior mean, not a sample) the squared
      # error is about the training one (3% apart when written; these MLPs barely trained).
      # Real-valued observations have no cross-entropy.
      self.assertAllClose(row["reconstruction.squared_error"],
                          2 * (row["train.loss.reconstruction"] - 4 * math.log(2 * math.pi)),
                          rtol=0.25)
      self.assertTrue(math.isnan(row["reconstruction.cross_entropy"]))
    self.assertIn("reconstruction.squared_error", self.statistics["spearman"])
    self.assertNotIn("reconstruction.cross_entropy", self.statistics["spearman"])

  def test_statistics_within_each_swept_value_and_pooled(self):
    spearman = self.statistics["spearman"]["mig.discrete_mig"]
    self.assertEqual(list(spearman), ["all", "encoder=mlp", "encoder=mlp_split",
                                      "beta_vae.beta=1", "beta_vae.beta=4"])
    for beta in ("1", "4"):
      members = [r for r in self.rows if r["sweep.beta_vae.beta"] == beta]
      expected = stats.spearmanr(self.column("rho", members),
                                 self.column("mig.discrete_mig", members)).statistic
      self.assertEqual(spearman[f"beta_vae.beta={beta}"]["n"], 4)
      self.assertAllClose(spearman[f"beta_vae.beta={beta}"]["spearman_rho"], expected,
                          atol=1e-12)
    # Reconstruction: factorized against correlated noise, shared against split encoder,
    # pooled and within each beta, as scipy computes them from the CSV.
    for metric in ("reconstruction.squared_error", "train.loss.reconstruction"):
      for group, beta in (("all", None), ("beta_vae.beta=4", "4")):
        members = [r for r in self.rows if beta is None or r["sweep.beta_vae.beta"] == beta]
        pick = lambda key, value: [r[metric] for r in members if r[key] == value]
        result = self.statistics["mann_whitney"][metric]["correlated_noise_0.5"][group]
        direct = stats.mannwhitneyu(pick("posterior", "factorized"),
                                    pick("posterior", "correlated_noise"),
                                    alternative="two-sided")
        self.assertEqual((result["n_a"], result["n_b"]), (len(members) // 2,) * 2)
        self.assertEqual(result["u"], direct.statistic)
        self.assertAllClose(result["p_value"], direct.pvalue, rtol=1e-12)
        pair = "mlp vs mlp_split" + ("" if beta is None else f", {group}")
        result = self.statistics["encoders"][metric][pair]
        direct = stats.mannwhitneyu(pick("encoder", "mlp"), pick("encoder", "mlp_split"),
                                    alternative="two-sided")
        self.assertEqual(result["u"], direct.statistic)
    # beta itself against each metric, over all 8 runs and per posterior.
    sweep = self.statistics["sweeps"]["train.loss.reconstruction"]["beta_vae.beta"]
    self.assertEqual(list(sweep), ["all", "posterior=factorized",
                                   "posterior=correlated_noise_0.5"])
    self.assertAllClose(sweep["all"]["spearman_rho"], stats.spearmanr(
        [float(b) for b in self.column("sweep.beta_vae.beta")],
        self.column("train.loss.reconstruction")).statistic, atol=1e-12)
    self.assertEqual(sorted(self.statistics["mi_vs_metrics_by_sweep"]),
                     ["beta_vae.beta=1", "beta_vae.beta=4"])

  def test_summary_and_plots_carry_the_swept_values(self):
    with open(os.path.join(self.output, "summary.md")) as f:
      summary = f.read()
    self.assertIn("8 of 8 runs finished.", summary)
    self.assertIn("| model | beta_vae.beta | posterior | encoder | mig.discrete_mig |", summary)
    table_rows = [l for l in summary.split("## Mean")[1].split("##")[0].splitlines()
                  if l.startswith("| beta_vae |")]
    self.assertEqual([tuple(l.split(" | ")[1:4]) for l in table_rows],
                     [(beta, posterior, encoder) for beta in ("1", "4")
                      for posterior in ("factorized", "correlated_noise_0.5")
                      for encoder in ("mlp", "mlp_split")])
    self.assertIn("| mig.discrete_mig | beta_vae.beta=4 | 4 |", summary)
    self.assertIn("| mig.discrete_mig | mlp vs mlp_split, beta_vae.beta=1 | 2 | 2 |", summary)
    self.assertIn("## Does the metric change with the swept settings?", summary)
    for name in ("rho_mig_discrete_mig.png", "rho_reconstruction_squared_error.png",
                 "rho_train_loss_elbo.png", "sweep_beta_vae.beta.png"):
      self.assertIn(f"plots/{name}", summary)
      with open(os.path.join(self.output, "plots", name), "rb") as f:
        self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")

  def test_a_changed_sweep_is_refused(self):
    for sweep in ("[1, 8]", "[1, 4, 16]", "[4]"):
      with self.subTest(sweep):
        changed = spec.load_study(
            self.study_file, [f'study.model_sweeps = {{"beta_vae": {{"beta_vae.beta": {sweep}}}}}'])
        with self.assertRaisesRegex(ValueError, "(different sweep|swept).*new --output_dir"):
          runner.run_study(spec.expand_runs(changed), self.output,
                           run_in_process=in_process.run_stages)
    unswept = spec.load_study(self.study_file, ["study.model_sweeps = None"])
    with self.assertRaisesRegex(ValueError, "swept .*beta_vae.beta.*this one sweeps {}"):
      runner.run_study(spec.expand_runs(unswept), self.output,
                       run_in_process=in_process.run_stages)
    # The unchanged study finds everything done.
    again = runner.run_study(self.runs, self.output, run_in_process=in_process.run_stages,
                             log_fn=lambda line: None)
    self.assertEqual((again.finished, sorted(again.skipped)), ([], sorted(SWEEP_RUNS)))


# The tiny study with training long enough (about 2 s after its first checkpoint) for a worker
# to be killed while its run trains.
RAY_STUDY = (TINY_STUDY.replace('study.name = "tiny"', 'study.name = "tiny_ray"')
             .replace("training.num_steps = 20", "training.num_steps = 2000")
             .replace("training.checkpoint_every = 10", "training.checkpoint_every = 100")
             .replace("training.log_every = 10", "training.log_every = 500"))
# Columns that differ between any two evaluations (timings).
_TIMING = "elapsed_seconds"


def trainers_by_model_dir():
  """{model_dir: [pids]} of the zoo-train processes running now (zombies left out).

  A process that a trainer forks carries the trainer's command line until it execs (zoo-train
  runs `uname -p` once, through Python's platform.processor()); such a child is part of its
  trainer, not a second one, and is left out.
  """
  candidates = {}
  for entry in filter(str.isdigit, os.listdir("/proc")):
    try:
      with open(f"/proc/{entry}/cmdline", "rb") as f:
        argv = f.read().decode(errors="replace").split("\0")
    except OSError:
      continue
    status = process_status(int(entry))
    if "binaries.train_main" in argv and status and status[0] != "Z":
      candidates[int(entry)] = (status[1], argv)
  found = {}
  for pid, (parent, argv) in candidates.items():
    if parent in candidates:
      continue
    for arg in argv:
      if arg.startswith("--model_dir="):
        found.setdefault(arg[len("--model_dir="):], []).append(pid)
  return found


class _WorkerKiller(threading.Thread):
  """Watches the trainers of a study; kills the Ray worker of one run once it has a checkpoint.

  Records the most trainers ever seen at once on one model_dir.
  """

  def __init__(self, model_dir):
    super().__init__(daemon=True)
    self.model_dir = model_dir
    self.most_trainers = 0
    self.crowded = None  # [(pid, (state, parent))] the first time two were seen at once
    self.killed = None  # (worker pid, trainer pid, newest checkpoint step) once done
    self.problem = None
    self.stop = threading.Event()

  def newest_checkpoint(self):
    directory = checkpoints.checkpoint_dir(self.model_dir)
    steps = [int(n[len("ckpt-"):-len(".index")]) for n in os.listdir(directory)
             if n.startswith("ckpt-") and n.endswith(".index")] if os.path.isdir(directory) else []
    return max(steps, default=None)

  def run(self):
    while not self.stop.is_set():
      trainers = trainers_by_model_dir()
      self.most_trainers = max([self.most_trainers] + [len(p) for p in trainers.values()])
      if self.crowded is None and self.most_trainers > 1:
        pids = max(trainers.values(), key=len)
        self.crowded = [(pid, process_status(pid)) for pid in pids]
      mine = trainers.get(self.model_dir, [])
      step = self.newest_checkpoint()
      status = process_status(mine[0]) if len(mine) == 1 else None
      if self.killed is None and self.problem is None and status and step is not None:
        try:
          with open(f"/proc/{status[1]}/cmdline", "rb") as f:
            parent = f.read()
        except OSError:
          parent = b""
        if parent.startswith(b"ray::"):
          os.kill(status[1], 9)
          self.killed = (status[1], mine[0], step)
        else:
          self.problem = f"the trainer's parent is no Ray worker: {parent[:80]!r}"
      time.sleep(0.02)


@unittest.skipIf(ray is None, "Ray is not installed (pip install '.[ray]')")
class RayExecutorTest(tf.test.TestCase):
  """The tiny study as Ray tasks on a local Ray instance this test starts (loopback, 2 CPUs),
  through `zoo-study --executor=ray --ray_address`, with the worker of one run killed while it
  trains; against the same study run by the local executor."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = tempfile.mkdtemp(prefix="ray_test_")
    cls.study_file = write_file(cls.root, "ray.gin", RAY_STUDY)
    runs = spec.expand_runs(spec.load_study(cls.study_file))
    cls.local = os.path.join(cls.root, "local")
    runner.run_study(runs, cls.local, run_in_process=in_process.run_stages,
                     log_fn=lambda line: None)
    report.write_report(cls.local, plots=False, log_fn=lambda line: None)

    ray.init(num_cpus=2, object_store_memory=80 * 1024 * 1024, include_dashboard=False,
             log_to_driver=False, _temp_dir=os.path.join(cls.root, "ray"))
    cls.address = ray.get_runtime_context().gcs_address
    cls.output = os.path.join(cls.root, "ray_out")
    killed_run = TINY_RUNS[0]
    cls.killer = _WorkerKiller(run_dirs.RunPaths.of(cls.output, killed_run).model_dir)
    cls.killer.start()
    try:
      cls.result = run_binary(f"--study={cls.study_file}", f"--output_dir={cls.output}",
                              "--executor=ray", f"--ray_address={cls.address}", timeout=400)
    finally:
      cls.killer.stop.set()
      cls.killer.join()

  @classmethod
  def tearDownClass(cls):
    ray.shutdown()
    shutil.rmtree(cls.root, ignore_errors=True)
    super().tearDownClass()

  def test_the_ray_executor_gives_the_local_executors_results_csv(self):
    self.assertEqual(self.result.returncode, 0, self.result.stderr[-3000:])
    local = {r["run"]: r for r in report.read_results_csv(os.path.join(self.local,
                                                                       "results.csv"))}
    on_ray = {r["run"]: r for r in report.read_results_csv(os.path.join(self.output,
                                                                        "results.csv"))}
    self.assertEqual(sorted(on_ray), sorted(TINY_RUNS))
    self.assertEqual(sorted(on_ray[TINY_RUNS[0]]), sorted(local[TINY_RUNS[0]]))
    for name, row in local.items():
      # Every number, the retried run's included (it resumed from its checkpoint and, on a CPU,
      # ended bit for bit where the uninterrupted run ends), except timings.
      numbers = lambda r: {k: ("nan" if isinstance(v, float) and math.isnan(v) else v)
                           for k, v in r.items() if not k.endswith(_TIMING)}
      self.assertEqual(numbers(on_ray[name]), numbers(row), name)

  def test_a_killed_worker_is_retried_and_its_run_resumes_exactly_once(self):
    self.assertIsNone(self.killer.problem)
    self.assertIsNotNone(self.killer.killed, "no worker was killed while its run trained")
    worker, trainer, step = self.killer.killed
    self.assertFalse(is_running(trainer), "the killed worker's trainer outlived it")
    self.assertEqual(self.killer.most_trainers, 1,
                     f"two trainers ran on one model_dir: {self.killer.crowded}")
    lines = self.result.stdout.splitlines()
    for name in TINY_RUNS:
      self.assertLen([l for l in lines if l.startswith(f"[zoo-study] start  {name} ")], 1)
      self.assertLen([l for l in lines if l.startswith(f"[zoo-study] finish {name} ")], 1)
      self.assertTrue(os.path.isfile(run_dirs.RunPaths.of(self.output, name).done_file))
    retries = [l for l in lines if l.startswith("[zoo-study] retry  ")]
    self.assertLen(retries, 1, self.result.stdout)
    self.assertIn(f"retry  {TINY_RUNS[0]}  (attempt 2", retries[0])
    self.assertIn("4 done, 0 failed, 0 remain", [l for l in lines if "finish" in l][-1])
    paths = run_dirs.RunPaths.of(self.output, TINY_RUNS[0])
    with open(paths.log_file("train")) as f:
      log = f.read()
    # Two trainers one after the other; the second resumed from a checkpoint at least as new
    # as the one seen before the kill.
    self.assertEqual(log.count("binaries.train_main"), 2, log[-3000:])
    self.assertIn("resuming from", log)
    self.assertNotIn("another zoo-train", log)
    with open(os.path.join(paths.model_dir, "train_results.json")) as f:
      train_results = json.load(f)
    self.assertGreaterEqual(train_results["start_step"], step)
    self.assertEqual(train_results["final_step"], 2000)
    for name in TINY_RUNS[1:]:
      with open(run_dirs.RunPaths.of(self.output, name).log_file("train")) as f:
        self.assertEqual(f.read().count("binaries.train_main"), 1)

  def test_finished_runs_are_skipped_and_the_ray_flags_are_checked(self):
    lines = []
    outcome = ray_executor.run_study(spec.expand_runs(spec.load_study(self.study_file)),
                                     self.output, log_fn=lines.append)
    self.assertEqual((outcome.finished, sorted(outcome.skipped)), ([], sorted(TINY_RUNS)))
    self.assertEqual(lines, ["[zoo-study] 4 of 4 runs already finished (DONE); skipping them"])
    cases = {"--jobs=2": "--jobs 2: applies to --executor=local",
             "--in_process": "--in_process runs the stages in this process",
             "--print_commands": "--print_commands prints commands",
             "--cpus_per_run=0": "--cpus_per_run 0: expected a positive number"}
    for flag, message in cases.items():
      with self.subTest(flag):
        result = run_binary(f"--study={self.study_file}", f"--output_dir={self.output}",
                            "--executor=ray", flag)
        self.assertEqual(result.returncode, 1)
        lines = result.stderr.strip().splitlines()
        self.assertLen(lines, 1, result.stderr)
        self.assertTrue(lines[0].startswith(f"zoo-study: error: {message}"), lines[0])
    result = run_binary(f"--study={self.study_file}", f"--output_dir={self.output}",
                        "--ray_address=localhost:1")
    self.assertEqual(result.stderr.strip(),
                     "zoo-study: error: --ray_address applies to --executor=ray only")


class SchedulerTest(tf.test.TestCase):
  """The local process pool, with stand-in stages that only record when and how they ran."""

  def setUp(self):
    super().setUp()
    self.root = self.get_temp_dir()
    self.runs = spec.expand_runs(spec.load_study(write_file(self.root, "s.gin", TINY_STUDY)))

  def fake_commands(self, fail_run=None, seconds=0.4):
    def commands(run, paths):
      record = os.path.join(self.root, "events.txt")
      code = ("import os, sys, time\n"
              f"open({record!r}, 'a').write(f'start {{time.time()}}\\n')\n"
              f"time.sleep({seconds})\n"
              "print('threads', os.environ.get('TF_NUM_INTRAOP_THREADS'))\n"
              f"open({record!r}, 'a').write(f'end {{time.time()}}\\n')\n"
              f"sys.exit(3 if sys.argv[1] == 'export' and {run.name == fail_run} else 0)\n")
      return [(stage, [sys.executable, "-c", code, stage]) for stage in stages.STAGES]
    return commands

  def max_concurrency(self):
    with open(os.path.join(self.root, "events.txt")) as f:
      events = sorted((float(t), kind == "start") for kind, t in (l.split() for l in f))
    running = peak = 0
    for _, is_start in events:
      running += 1 if is_start else -1
      peak = max(peak, running)
    return peak

  def test_two_jobs_side_by_side_a_failure_and_a_run_locked_by_another_process(self):
    output = os.path.join(self.root, "out")
    lines = []
    # Another zoo-study process working on run 2 holds its lock.
    other = run_dirs.lock_run(run_dirs.RunPaths.of(output, TINY_RUNS[2]))
    with mock.patch.object(stages, "stage_commands", self.fake_commands(TINY_RUNS[1])):
      with mock.patch.dict(os.environ, {}, clear=False):
        os.environ.pop("TF_NUM_INTRAOP_THREADS", None)
        outcome = runner.run_study(self.runs, output, jobs=2, log_fn=lines.append,
                                   poll_seconds=0.02)
    other.close()
    self.assertEqual(outcome.failed, {TINY_RUNS[1]: "export"})
    self.assertEqual(outcome.busy, [TINY_RUNS[2]])
    self.assertEqual(sorted(outcome.finished), sorted([TINY_RUNS[0], TINY_RUNS[3]]))
    self.assertEqual(self.max_concurrency(), 2)
    self.assertIsNone(run_dirs.read_done(output, TINY_RUNS[1]))
    self.assertTrue(any(f"fail   {TINY_RUNS[1]}  FAILED at export" in l for l in lines), lines)
    threads = str(max(1, len(os.sched_getaffinity(0)) // 2))
    with open(os.path.join(output, "runs", TINY_RUNS[0], "logs", "train.log")) as f:
      log = f.read()
    self.assertIn(f"threads {threads}", log)
    # Rerunning retries the failed run and runs the one that was busy.
    with mock.patch.object(stages, "stage_commands", self.fake_commands()):
      again = runner.run_study(self.runs, output, jobs=2, log_fn=lambda line: None,
                               poll_seconds=0.02)
    self.assertEqual(sorted(again.finished), sorted(TINY_RUNS[1:3]))
    self.assertEqual(sorted(again.skipped), sorted([TINY_RUNS[0], TINY_RUNS[3]]))

  def test_one_run_to_done_where_an_executor_placed_it(self):
    output = os.path.join(self.root, "one")
    run = self.runs[0]
    paths = run_dirs.RunPaths.of(output, run.name)
    starts = []
    with mock.patch.object(stages, "stage_commands", self.fake_commands(seconds=0.05)):
      other = run_dirs.lock_run(paths)  # another process works on it
      self.assertEqual(runner.run_to_done(run, output, {}, starts.append).status, "busy")
      other.close()
      done = runner.run_to_done(run, output, stages.threads_environment(3),
                                lambda: starts.append(1))
      self.assertEqual(runner.run_to_done(run, output, {}, starts.append).status, "done_before")
    self.assertEqual((done.status, sorted(done.stage_seconds), starts), (
        "finished", ["evaluate", "export", "train"], [1]))
    self.assertEqual(run_dirs.read_done(output, run.name)["run"], run.name)
    with open(paths.log_file("train")) as f:
      self.assertIn("threads 3", f.read())
    with mock.patch.object(stages, "stage_commands", self.fake_commands(self.runs[1].name, 0.05)):
      failed = runner.run_to_done(self.runs[1], output, {})
    self.assertEqual((failed.status, failed.failed_stage), ("failed", "export"))
    self.assertIsNone(run_dirs.read_done(output, self.runs[1].name))

  def test_a_retried_run_waits_for_the_trainer_before_it(self):
    model_dir = os.path.join(self.root, "model")
    # The lock is zoo-train's own (the scheduler names it without importing TensorFlow).
    self.assertEqual(os.path.join(model_dir, runner.TRAINER_LOCK),
                     os.path.join(checkpoints.checkpoint_dir(model_dir), training.LOCK_FILE))
    self.assertTrue(runner.wait_for_trainer_to_end(model_dir, timeout_seconds=0))
    self.assertFalse(os.path.exists(model_dir))  # nothing is created where no trainer was
    os.makedirs(os.path.join(model_dir, "checkpoints"))
    held = io_utils.try_lock(os.path.join(model_dir, runner.TRAINER_LOCK))[0]
    start = time.time()
    self.assertFalse(runner.wait_for_trainer_to_end(model_dir, timeout_seconds=0.3))
    self.assertBetween(time.time() - start, 0.3, 2.0)
    threading.Timer(0.3, held.close).start()
    self.assertTrue(runner.wait_for_trainer_to_end(model_dir, timeout_seconds=10))

  def test_thread_environment_splits_the_cpus_and_keeps_user_settings(self):
    env = stages.thread_environment(3, cpus=8, base={"OMP_NUM_THREADS": "7"})
    self.assertEqual(env["TF_NUM_INTRAOP_THREADS"], "2")
    self.assertEqual(env["TF_NUM_INTEROP_THREADS"], "2")
    self.assertEqual(env["OMP_NUM_THREADS"], "7")
    self.assertEqual(stages.thread_environment(4, cpus=2, base={})["TF_NUM_INTRAOP_THREADS"], "1")
    self.assertEqual(stages.thread_environment(1, cpus=8, base={}), {})
    self.assertEqual(stages.threads_environment(2, base={"MKL_NUM_THREADS": "5"}), {
        "TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": "2", "OMP_NUM_THREADS": "2",
        "OPENBLAS_NUM_THREADS": "2", "MKL_NUM_THREADS": "5"})


class StageProcessTest(tf.test.TestCase):
  """zoo-study's stage processes never outlive it, and a bad --output_dir stops it up front."""

  def test_kill_9_of_the_study_takes_its_trainer_with_it(self):
    root = self.get_temp_dir()
    # Steps enough that the trainer is still at work when the study is killed.
    study_file = write_file(root, "long.gin", TINY_STUDY.replace("training.num_steps = 20",
                                                                 "training.num_steps = 10000000"))
    output = os.path.join(root, "out")
    study = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "binaries.study_main", f"--study={study_file}",
         f"--output_dir={output}", f"--only_run={TINY_RUNS[0]}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    self.addCleanup(kill_if_running, study.pid)
    checkpoints = os.path.join(run_dirs.RunPaths.of(output, TINY_RUNS[0]).model_dir,
                               "checkpoints")
    trainers = []
    deadline = time.time() + 240
    # Until the trainer has written a checkpoint: it is then mid-run, the case that matters.
    while not (trainers and os.path.isdir(checkpoints)
               and any(name.startswith("ckpt-") for name in os.listdir(checkpoints))):
      self.assertIsNone(study.poll(), "zoo-study ended before its trainer got going")
      self.assertLess(time.time(), deadline, "no checkpoint from the trainer in time")
      trainers = trainers or child_processes(study.pid, "binaries.train_main")
      time.sleep(0.2)
    self.assertLen(trainers, 1)
    self.addCleanup(kill_if_running, trainers[0])  # a failure must not leave it running
    study.kill()
    study.wait()
    deadline = time.time() + 10
    while is_running(trainers[0]) and time.time() < deadline:
      time.sleep(0.1)
    self.assertFalse(is_running(trainers[0]), "zoo-train outlived the zoo-study killed by -9")
    # Rerunning the study finishes the run from its checkpoint, with the one trainer it starts.
    killed_at = max(int(name[len("ckpt-"):-len(".index")]) for name in os.listdir(checkpoints)
                    if name.startswith("ckpt-") and name.endswith(".index"))
    short = write_file(root, "long.gin", TINY_STUDY.replace(
        "training.num_steps = 20", f"training.num_steps = {killed_at + 20}"))
    result = run_binary(f"--study={short}", f"--output_dir={output}",
                        f"--only_run={TINY_RUNS[0]}")
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    paths = run_dirs.RunPaths.of(output, TINY_RUNS[0])
    self.assertTrue(os.path.isfile(paths.done_file))
    with open(paths.log_file("train")) as f:
      self.assertIn("resuming from", f.read())

  def test_an_output_dir_that_cannot_be_written_is_refused_before_any_run(self):
    root = self.get_temp_dir()
    study_file = write_file(root, "tiny.gin", TINY_STUDY)
    a_file = write_file(root, "a_file", "not a directory\n")
    read_only = os.path.join(root, "read_only")
    os.makedirs(read_only)
    cases = {"exists and is not a directory": a_file,
             f"lies under {a_file}, which is not a directory": os.path.join(a_file, "out")}
    if make_read_only(self, read_only):
      cases["is not writable"] = read_only
      cases[f"cannot be created: {read_only} is not writable"] = os.path.join(read_only, "out")
    for problem, output in cases.items():
      with self.subTest(problem):
        result = run_binary(f"--study={study_file}", f"--output_dir={output}")
        self.assertEqual(result.returncode, 1, result.stderr)
        lines = result.stderr.strip().splitlines()
        self.assertLen(lines, 1, result.stderr)
        self.assertTrue(lines[0].startswith(f"zoo-study: error: --output_dir {output}: {problem}"),
                        lines[0])
        self.assertEqual(result.stdout, "")
    with open(a_file) as f:
      self.assertEqual(f.read(), "not a directory\n")
    self.assertEqual(os.listdir(read_only), [])
    if len(cases) == 2:
      self.skipTest("root without the right to mount: the read-only cases were not run")


class ExpansionTest(tf.test.TestCase):

  def spec(self, **overrides):
    fields = dict(name="grid", models=("beta_vae", "beta_tcvae"),
                  posteriors=("factorized", "correlated_noise:0.2", "full_covariance",
                              "low_rank:2"),
                  encoders=("conv64", "conv64_split"), dataset="dsprites",
                  training_bindings=("training.num_steps = 10",), seeds=(0, 3), metrics="mig",
                  evaluation_config=None, evaluation_bindings=(), evaluation_seed=0)
    fields.update(overrides)
    return spec.StudySpec(**fields)

  def test_every_combination_is_one_readable_run(self):
    runs = spec.expand_runs(self.spec())
    self.assertLen(runs, 2 * 4 * 2 * 2)
    self.assertLen({run.name for run in runs}, 32)
    self.assertEqual(runs[0].name, "beta_vae-factorized-conv64-seed0")
    self.assertTrue(all(run.seed == 0 for run in runs[:16]))  # seed-major order
    by_name = {run.name: run for run in runs}
    run = by_name["beta_tcvae-correlated_noise_0.2-conv64_split-seed3"]
    self.assertEqual((run.posterior, run.rho, run.encoder, run.seed),
                     ("correlated_noise", 0.2, "conv64_split", 3))
    self.assertEqual(run.train_gin_bindings, ("training.num_steps = 10",
                                              "correlated_noise.rho = 0.2",
                                              "training.seed = 3"))
    self.assertEqual([os.path.relpath(f, REPO) for f in run.train_gin_files],
                     ["gin_configs/models/beta_tcvae.gin",
                      "gin_configs/posteriors/correlated_noise.gin",
                      "gin_configs/encoders/conv64_split.gin",
                      "gin_configs/datasets/dsprites.gin"])
    low_rank = by_name["beta_vae-low_rank_2-conv64-seed0"]
    self.assertIn("low_rank.rank = 2", low_rank.train_gin_bindings)
    self.assertTrue(math.isnan(low_rank.rho))
    self.assertTrue(math.isnan(by_name["beta_vae-full_covariance-conv64-seed0"].rho))
    self.assertEqual(by_name["beta_vae-factorized-conv64-seed0"].rho, 0.0)
    every_metric = spec.expand_runs(self.spec(metrics="all"))[0].metrics.split(",")
    self.assertIn("mi_measures", every_metric)
    self.assertIn("dci", every_metric)
    commands = stages.stage_commands(run, run_dirs.RunPaths.of("/o", run.name))
    self.assertEqual([s for s, _ in commands], ["train", "export", "evaluate"])
    self.assertIn(f"--model_dir=/o/runs/{run.name}/model", commands[0][1])
    self.assertIn("--overwrite", commands[1][1])
    self.assertIn(f"--output_dir=/o/runs/{run.name}/evaluation", commands[2][1])

  def test_sweeps_every_model_or_each_its_own(self):
    runs = spec.expand_runs(self.spec(
        posteriors=("factorized",), encoders=("conv64",), seeds=(0,),
        sweep={"training.learning_rate": [1e-4, 5e-4]},
        model_sweeps={"beta_vae": {"beta_vae.beta": [1, 16.0]},
                      "beta_tcvae": {"beta_tcvae.beta": [6]}}))
    self.assertEqual([run.name for run in runs], [
        "beta_vae-factorized-conv64-learning_rate_0.0001-beta_1-seed0",
        "beta_vae-factorized-conv64-learning_rate_0.0001-beta_16-seed0",
        "beta_vae-factorized-conv64-learning_rate_0.0005-beta_1-seed0",
        "beta_vae-factorized-conv64-learning_rate_0.0005-beta_16-seed0",
        "beta_tcvae-factorized-conv64-learning_rate_0.0001-beta_6-seed0",
        "beta_tcvae-factorized-conv64-learning_rate_0.0005-beta_6-seed0"])
    run = runs[1]
    self.assertEqual(run.train_gin_bindings, ("training.num_steps = 10",
                                              "training.learning_rate = 0.0001",
                                              "beta_vae.beta = 16.0", "training.seed = 0"))
    self.assertEqual(run.to_json()["sweep"], {"training.learning_rate": 1e-4,
                                              "beta_vae.beta": 16.0})
    self.assertEqual(run.to_json()["sweep_axes"], {"training.learning_rate": [1e-4, 5e-4],
                                                   "beta_vae.beta": [1, 16.0]})
    # Two swept settings with one parameter name are told apart by their whole names.
    both = spec.expand_runs(self.spec(
        models=("beta_vae",), posteriors=("factorized",), encoders=("conv64",), seeds=(0,),
        sweep={"encoder.deep_units": [8], "decoder.deep_units": [(4, 2)]}))
    self.assertEqual(both[0].name, "beta_vae-factorized-conv64-encoder_deep_units_8-"
                                   "decoder_deep_units_4_2-seed0")
    self.assertIn("decoder.deep_units = (4, 2)", both[0].train_gin_bindings)
    # Without sweeps, names and bindings are what they were.
    self.assertEqual(spec.expand_runs(self.spec())[0].sweep, ())

  def test_bad_sweeps_name_the_field(self):
    cases = {
        r"study.sweep\['beta_vae.beta'\]: a setting of beta_vae only": dict(
            sweep={"beta_vae.beta": [1, 2]}),
        r"study.model_sweeps\['beta_vae'\]\['beta_tcvae.beta'\]: a setting of beta_tcvae, "
        "not of beta_vae": dict(model_sweeps={"beta_vae": {"beta_tcvae.beta": [1]}}),
        "'vae' is not one of study.models": dict(model_sweeps={"vae": {"beta_vae.beta": [1]}}),
        "give its values as study.seeds": dict(sweep={"training.seed": [1, 2]}),
        "give its values as study.posteriors": dict(sweep={"correlated_noise.rho": [0.1]}),
        "also bound in study.training_bindings": dict(sweep={"training.num_steps": [5]}),
        "expected a gin binding name": dict(sweep={"beta": [1]}),
        "expected a non-empty list": dict(sweep={"training.learning_rate": []}),
        r"values \[1, 1.0\] repeat": dict(sweep={"training.learning_rate": [1, 1.0]}),
        "is not a number, string": dict(sweep={"training.learning_rate": [{"a": 1}]}),
        "study.sweep: expected a dict": dict(sweep=["training.learning_rate"]),
        "also swept in study.sweep": dict(sweep={"training.learning_rate": [1e-4]},
                                          model_sweeps={"beta_vae": {
                                              "training.learning_rate": [1e-3]}}),
    }
    for message, overrides in cases.items():
      with self.subTest(message):
        with self.assertRaisesRegex(ValueError, message):
          spec.expand_runs(self.spec(**overrides))

  def test_shipped_studies(self):
    cpu = spec.expand_runs(spec.load_study(
        os.path.join(REPO, "gin_configs/studies/posterior_correlation_cpu.gin")))
    self.assertLen(cpu, 2 * 5 * 2 * 3)
    self.assertEqual(sorted({run.rho for run in cpu if run.posterior != "full_covariance"}),
                     [0.0, 0.2, 0.5, 0.8])
    self.assertIn("dsprites.image_size = 32", cpu[0].train_gin_bindings)
    full = spec.expand_runs(spec.load_study(
        os.path.join(REPO, "gin_configs/studies/posterior_correlation_full.gin")))
    self.assertLen(full, 2 * 5 * 2 * 5)
    self.assertIn("training.num_steps = 300000", full[0].train_gin_bindings)
    self.assertIn("dsprites.image_size = 64", full[0].train_gin_bindings)
    self.assertEqual(full[0].evaluation_gin_bindings, ())  # reference metric settings
    weak = spec.expand_runs(spec.load_study(
        os.path.join(REPO, "gin_configs/studies/weak_vs_unsupervised_cpu.gin")))
    self.assertEqual([run.name for run in weak[:4]],
                     ["beta_vae-factorized-conv64-seed0",
                      "beta_vae-correlated_noise_0.5-conv64-seed0",
                      "ada_gvae-factorized-conv64-seed0",
                      "ada_gvae-correlated_noise_0.5-conv64-seed0"])
    self.assertLen(weak, 12)
    beta = spec.expand_runs(spec.load_study(
        os.path.join(REPO, "gin_configs/studies/posterior_correlation_beta_cpu.gin")))
    self.assertLen(beta, 3 * 3 * 2 * 3)
    self.assertEqual(sorted({dict(run.sweep)["beta_vae.beta"] for run in beta}), [1, 4, 16])
    self.assertEqual(beta[0].name, "beta_vae-factorized-conv64-beta_1-seed0")
    # The settings of the first CPU study, with the reconstruction error added.
    self.assertEqual(beta[0].train_gin_bindings[:-2], cpu[0].train_gin_bindings[:-1])
    self.assertEqual(beta[0].evaluation_gin_bindings[:-1], cpu[0].evaluation_gin_bindings)
    self.assertEqual(beta[0].metrics, cpu[0].metrics + ",reconstruction")

  def test_bad_studies_name_the_field(self):
    cases = {
        "unknown model 'no_such_model'": dict(models=("no_such_model",)),
        "unknown family 'gaussian'": dict(posteriors=("gaussian",)),
        "needs its rho": dict(posteriors=("correlated_noise",)),
        "rho must lie in": dict(posteriors=("correlated_noise:1.5",)),
        "takes no parameter": dict(posteriors=("factorized:0.3",)),
        "rank must be an integer": dict(posteriors=("low_rank:x",)),
        "unknown encoder": dict(encoders=("conv128",)),
        "unknown data set": dict(dataset="celeba"),
        "distinct non-negative integers": dict(seeds=(1, 1)),
        "give the seeds as study.seeds": dict(training_bindings=("training.seed = 4",)),
        "unknown metric.*nope": dict(metrics="mig,nope"),
        "the same run twice": dict(encoders=("conv64", "conv64")),
        "study.name": dict(name="a b"),
    }
    for message, overrides in cases.items():
      with self.subTest(message):
        with self.assertRaisesRegex(ValueError, message):
          spec.expand_runs(self.spec(**overrides))
    with self.assertRaisesRegex(FileNotFoundError, "gin file /nope/m.gin not found"):
      spec.expand_runs(self.spec(models=("/nope/m.gin",)))
    root = self.get_temp_dir()
    with self.assertRaisesRegex(ValueError, "study.name is not bound"):
      spec.expand_runs(spec.load_study(write_file(root, "noname.gin",
                                                  'study.models = ["vae"]\n')))
    with self.assertRaises(FileNotFoundError):
      spec.load_study(os.path.join(root, "missing.gin"))
    with self.assertRaisesRegex(ValueError, "--only_run x: not a run"):
      spec.select_runs(spec.expand_runs(self.spec()), ["x"])

  def test_binary_errors_are_one_line_with_status_1(self):
    root = self.get_temp_dir()
    output = os.path.join(root, "never_written")
    cases = {
        "missing study": [f"--study={root}/missing.gin"],
        "unknown model": [f"--study={write_file(root, 'm.gin', TINY_STUDY)}",
                          '--study_bindings=study.models = ["no_such_model"]'],
        "bad gin syntax": [f"--study={write_file(root, 'bad.gin', 'study.name = = 3')}"],
    }
    for what, args in cases.items():
      with self.subTest(what):
        result = run_binary(*args, f"--output_dir={output}")
        self.assertEqual(result.returncode, 1, result.stderr)
        lines = result.stderr.strip().splitlines()
        self.assertLen(lines, 1, result.stderr)
        self.assertTrue(lines[0].startswith("zoo-study: error:"), lines[0])
        self.assertNotIn("Traceback", result.stderr)
        self.assertFalse(os.path.exists(output))


class StatisticsTest(tf.test.TestCase):
  """Known answers from a hand-made results.csv."""

  def setUp(self):
    super().setUp()
    header = list(report.CONFIG_COLUMNS) + ["m.down", "m.up", "m.sep", "m.flat"]
    rows = []
    k = 0
    for label, rho in (("factorized", 0.0), ("correlated_noise_0.2", 0.2),
                       ("correlated_noise_0.5", 0.5), ("correlated_noise_0.8", 0.8),
                       ("full_covariance", float("nan"))):
      family = label.rsplit("_", 1)[0] if label.startswith("correlated") else label
      for encoder in ("conv64", "conv64_split"):
        for seed in (0, 1):
          k += 1
          run = f"vae-{label}-{encoder}-seed{seed}"
          down = 0.3 if label == "full_covariance" else 1.0 - rho
          # Decreasing in rho with distinct values (no ties: exact Mann-Whitney p-values).
          sep = (0.3 if label == "full_covariance" else 1.0 - rho) + 0.001 * k
          rows.append([run, "vae", family, label, repr(rho), encoder, seed, down, 2 * rho,
                       sep, 0.5])
    self.path = os.path.join(self.get_temp_dir(), "results.csv")
    with open(self.path, "w", newline="") as f:
      writer = csv.writer(f)
      writer.writerow(header)
      writer.writerows(rows)
    self.rows = report.read_results_csv(self.path)
    self.statistics = report.compute_statistics(
        self.rows, ["m.down", "m.up", "m.sep", "m.flat"])

  def test_monotone_metrics_give_spearman_minus_one_and_plus_one(self):
    spearman = self.statistics["spearman"]
    self.assertEqual(spearman["m.down"]["all"]["n"], 16)  # full_covariance has no rho
    self.assertAllClose(spearman["m.down"]["all"]["spearman_rho"], -1.0, atol=1e-12)
    self.assertAllClose(spearman["m.up"]["all"]["spearman_rho"], 1.0, atol=1e-12)
    self.assertAllClose(spearman["m.down"]["encoder=conv64_split"]["spearman_rho"], -1.0,
                        atol=1e-12)
    self.assertEqual(spearman["m.down"]["encoder=conv64"]["n"], 8)
    self.assertIsNone(spearman["m.flat"]["all"]["spearman_rho"])
    self.assertEqual(spearman["m.flat"]["all"]["note"], "constant input")
    rho = [r["rho"] for r in self.rows if r["posterior"] != "full_covariance"]
    sep = [r["m.sep"] for r in self.rows if r["posterior"] != "full_covariance"]
    direct = stats.spearmanr(rho, sep)
    self.assertAllClose(spearman["m.sep"]["all"]["spearman_rho"], direct.statistic, atol=1e-12)
    self.assertAllClose(spearman["m.sep"]["all"]["p_value"], direct.pvalue, rtol=1e-10)
    self.assertLess(spearman["m.sep"]["all"]["spearman_rho"], -0.9)

  def test_small_samples_get_exact_permutation_p_values(self):
    # A perfect rank correlation of n runs is reached by 2 of the n! pairings (the order and its
    # reverse), so its two-sided p-value is 2 / n!; the t approximation would say 0.
    for n, expected in ((3, 1 / 3), (4, 1 / 12), (5, 1 / 60)):
      with self.subTest(n=n):
        result = report.spearman(np.arange(n), -np.arange(n) ** 2)
        self.assertAllClose(result["spearman_rho"], -1.0, atol=1e-12)
        self.assertAllClose(result["p_value"], expected, rtol=1e-12)
        self.assertEqual(result["p_method"], "exact permutation")
    # Ties: ranks (1.5, 1.5, 3) against (1, 2, 3); centred, |covariance| is 1.5, 0, 1.5,
    # 1.5, 0, 1.5 over the 6 pairings, so 4 of 6 reach the observed 1.5.
    result = report.spearman([0.0, 0.0, 0.2], [0.1, 0.5, 0.9])
    self.assertAllClose(result["p_value"], 4 / 6, rtol=1e-12)
    # From 9 runs on, scipy's approximation.
    x = np.arange(9.0)
    y = np.array([0.0, 2.0, 1.0, 4.0, 3.0, 6.0, 5.0, 8.0, 7.0])
    result = report.spearman(x, y)
    self.assertEqual(result["p_method"], "t approximation")
    self.assertAllClose(result["p_value"], stats.spearmanr(x, y).pvalue, rtol=1e-12)

  def test_mi_measures_ranked_against_the_metrics_over_all_runs(self):
    dci = [0.3, 0.1, 0.2, 0.6, 0.5, 0.4]
    rows = [{"run": f"r{k}", "model": "vae", "posterior": "factorized",
             "posterior_label": "factorized", "rho": 0.0, "encoder": "conv64", "seed": k,
             "mi_measures.violation": 0.1 * k, "mig.discrete_mig": 1.0 - 0.1 * k * k,
             "dci.disentanglement": dci[k]} for k in range(6)]
    statistics = report.compute_statistics(
        rows, ["mig.discrete_mig", "dci.disentanglement", "mi_measures.violation"])
    against = statistics["mi_vs_metrics"]
    self.assertEqual(list(against), ["mi_measures.violation"])
    self.assertEqual(list(against["mi_measures.violation"]),
                     ["mig.discrete_mig", "dci.disentanglement"])
    mig = against["mi_measures.violation"]["mig.discrete_mig"]
    # MIG falls as the violation grows: rank correlation -1, exact p = 2 / 6!.
    self.assertEqual(mig["n"], 6)
    self.assertAllClose(mig["spearman_rho"], -1.0, atol=1e-12)
    self.assertAllClose(mig["p_value"], 2 / 720, rtol=1e-12)
    # Ranks 3 1 2 6 5 4 against 1..6: 1 - 6 sum(d^2) / (n (n^2 - 1)) = 1 - 6 * 14 / 210.
    self.assertAllClose(against["mi_measures.violation"]["dci.disentanglement"]["spearman_rho"],
                        1.0 - 84.0 / 210.0, atol=1e-12)
    summary = report.format_summary("s", rows, ["mig.discrete_mig", "mi_measures.violation"],
                                    statistics, plots=[])
    self.assertIn("| mi_measures.violation | mig.discrete_mig | 6 | -1.000 | 0.0028 |", summary)

  def test_mann_whitney_factorized_against_each_family(self):
    tests = self.statistics["mann_whitney"]["m.sep"]
    self.assertEqual(list(tests), ["correlated_noise_0.2", "correlated_noise_0.5",
                                   "correlated_noise_0.8", "full_covariance"])
    result = tests["correlated_noise_0.8"]["all"]
    # 4 factorized runs all above 4 correlated ones: U = 16 and the exact two-sided p-value
    # is 2 / C(8, 4).
    self.assertEqual((result["n_a"], result["n_b"], result["u"]), (4, 4, 16.0))
    self.assertEqual(result["prob_a_greater"], 1.0)
    self.assertAllClose(result["p_value"], 2.0 / math.comb(8, 4), rtol=1e-12)
    factorized = [r["m.sep"] for r in self.rows if r["posterior"] == "factorized"]
    full = [r["m.sep"] for r in self.rows if r["posterior"] == "full_covariance"]
    direct = stats.mannwhitneyu(factorized, full, alternative="two-sided")
    self.assertAllClose(tests["full_covariance"]["all"]["p_value"], direct.pvalue, rtol=1e-12)
    self.assertEqual(tests["full_covariance"]["all"]["u"], direct.statistic)
    # Split against shared encoder: both sets hold the same rho values, interleaved.
    encoders = self.statistics["encoders"]["m.down"]["conv64 vs conv64_split"]
    self.assertEqual((encoders["n_a"], encoders["n_b"], encoders["u"]), (10, 10, 50.0))

  def test_summary_means_and_report_from_csv(self):
    summary = report.summarize(self.rows, ["m.sep"])
    self.assertEqual([e["posterior_label"] for e in summary[:2]],
                     ["factorized", "factorized"])
    entry = summary[0]  # vae / factorized / conv64: k = 1, 2
    mean, std, count = entry["metrics"]["m.sep"]
    self.assertAllClose(mean, 1.0015, atol=1e-12)
    self.assertAllClose(std, 0.001 / math.sqrt(2), atol=1e-12)
    self.assertEqual(count, 2)
    text = report.format_summary("hand", self.rows, ["m.sep"], self.statistics, [])
    self.assertIn("| vae | factorized | conv64 | 1.002 ± 0.001 (2) |", text)
    self.assertIn("| m.sep | correlated_noise_0.8 | all | 4 | 4 |", text)
    self.assertIn("0.029 |", text)  # 2 / 70 as shown

  def test_statistics_within_each_swept_value(self):
    # The metric falls with rho at beta = 1 and rises with it at beta = 16 (ties none): within
    # each beta the rank correlation is -1 and +1; pooled, the two cancel.
    rows = []
    for beta, sign in (("1", -1.0), ("16", 1.0), ("4", 0.0)):
      for k, rho in enumerate((0.0, 0.2, 0.5, 0.8)):
        for seed in (0, 1):
          rows.append({"run": f"vae-{rho}-b{beta}-s{seed}", "model": "vae",
                       "posterior": "factorized" if rho == 0 else "correlated_noise",
                       "posterior_label": "factorized" if rho == 0 else f"correlated_noise_{rho}",
                       "rho": rho, "encoder": "conv64", "seed": seed, "sweep.vae.beta": beta,
                       "m": 10.0 * float(beta) + sign * (k + 0.1 * seed)})
    path = os.path.join(self.get_temp_dir(), "swept.csv")
    report.write_results_csv(rows, path)
    rows = report.read_results_csv(path)
    self.assertEqual(rows[0]["sweep.vae.beta"], "1")
    statistics = report.compute_statistics(rows, ["m"])
    spearman = statistics["spearman"]["m"]
    self.assertEqual(list(spearman), ["all", "vae.beta=1", "vae.beta=4", "vae.beta=16"])
    for beta, sign in (("1", -1.0), ("16", 1.0)):
      members = [r for r in rows if r["sweep.vae.beta"] == beta]
      direct = stats.spearmanr([r["rho"] for r in members], [r["m"] for r in members])
      self.assertAllClose(spearman[f"vae.beta={beta}"]["spearman_rho"], direct.statistic,
                          atol=1e-12)
      self.assertGreater(sign * direct.statistic, 0.97)  # below 1 only by rho's ties
      self.assertEqual(spearman[f"vae.beta={beta}"]["n"], 8)
    self.assertAllClose(spearman["all"]["spearman_rho"], stats.spearmanr(
        [r["rho"] for r in rows], [r["m"] for r in rows]).statistic, atol=1e-12)
    self.assertEqual(spearman["vae.beta=4"]["note"], "constant input")
    mann_whitney = statistics["mann_whitney"]["m"]["correlated_noise_0.8"]
    self.assertEqual((mann_whitney["vae.beta=1"]["u"], mann_whitney["vae.beta=16"]["u"]),
                     (4.0, 0.0))  # 2 factorized runs against 2: all above, all below
    # beta against the metric: within each posterior, m orders exactly as beta.
    by_beta = statistics["sweeps"]["m"]["vae.beta"]
    factorized = [r for r in rows if r["posterior"] == "factorized"]
    self.assertAllClose(by_beta["posterior=factorized"]["spearman_rho"], stats.spearmanr(
        [float(r["sweep.vae.beta"]) for r in factorized], [r["m"] for r in factorized]
    ).statistic, atol=1e-12)
    self.assertGreater(by_beta["posterior=factorized"]["spearman_rho"], 0.9)
    self.assertEqual(by_beta["all"]["n"], 24)
    summary = report.format_summary("swept", rows, ["m"], statistics, [])
    self.assertIn("| model | vae.beta | posterior | encoder | m |", summary)
    betas = [line.split(" | ")[1] for line in summary.split("## Does")[0].splitlines()
             if line.startswith("| vae |")]
    self.assertEqual(betas, ["1"] * 4 + ["4"] * 4 + ["16"] * 4)  # by value, not as text
    self.assertIn("| vae | 16 | correlated_noise_0.8 | conv64 | 163.050 ± 0.071 (2) |", summary)
    self.assertIn("| m | vae.beta | posterior=factorized | 6 | "
                  f"{by_beta['posterior=factorized']['spearman_rho']:.3f} |", summary)

  def test_models_against_each_other_pooled_and_per_posterior(self):
    # Model "b" scores above "a" in every pairing but four: a's run with rho = 0.5, seed 0
    # (0.62) beats b's 0.5, 0.55 and both 0.6. A single-model study has no model comparison.
    self.assertNotIn("models", self.statistics)
    rows = []
    for model, base in (("b", 0.5), ("a", 0.1)):
      for label, rho in (("factorized", 0.0), ("correlated_noise_0.5", 0.5)):
        for seed in (0, 1, 2):
          value = base + 0.05 * seed + (0.1 if label == "factorized" else 0.0)
          if (model, label, seed) == ("a", "correlated_noise_0.5", 0):
            value = 0.62
          rows.append({"run": f"{model}-{label}-s{seed}", "model": model,
                       "posterior": label.rsplit("_", 1)[0] if rho else label,
                       "posterior_label": label, "rho": rho, "encoder": "conv64", "seed": seed,
                       "m": value})
    statistics = report.compute_statistics(rows, ["m"])
    tests = statistics["models"]["m"]
    self.assertEqual(list(tests), ["a vs b"])  # in name order, whatever the study's order
    self.assertEqual(list(tests["a vs b"]),
                     ["all", "posterior=factorized", "posterior=correlated_noise_0.5"])
    factorized = tests["a vs b"]["posterior=factorized"]
    # 3 runs against 3, all below: U = 0 and the exact two-sided p-value is 2 / C(6, 3) = 0.1,
    # the smallest there is with 3 seeds a side.
    self.assertEqual((factorized["n_a"], factorized["n_b"], factorized["u"]), (3, 3, 0.0))
    self.assertAllClose(factorized["p_value"], 0.1, rtol=1e-12)
    pooled = tests["a vs b"]["all"]
    a = [r["m"] for r in rows if r["model"] == "a"]
    b = [r["m"] for r in rows if r["model"] == "b"]
    direct = stats.mannwhitneyu(a, b, alternative="two-sided")
    self.assertEqual(pooled["u"], direct.statistic)
    self.assertEqual(pooled["u"], 4.0)
    self.assertAllClose(pooled["p_value"], direct.pvalue, rtol=1e-12)
    summary = report.format_summary("two", rows, ["m"], statistics, [])
    self.assertIn("## Model against model (Mann-Whitney U, two-sided)", summary)
    self.assertIn("| m | a vs b | posterior=factorized | 3 | 3 | 0.250 | 0.650 | 0.00 | 0.1 |",
                  summary)

  def test_bad_csv(self):
    path = write_file(self.get_temp_dir(), "bad.csv", "run,model\nx,y\n")
    with self.assertRaisesRegex(ValueError, "missing column"):
      report.read_results_csv(path)
    with self.assertRaises(FileNotFoundError):
      report.read_results_csv(os.path.join(self.get_temp_dir(), "none.csv"))


if __name__ == "__main__":
  tf.test.main()
