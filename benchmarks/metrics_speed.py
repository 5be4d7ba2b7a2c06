"""Speed of the standard metric suite on arrays (no model, no rendering), and of its boosted trees
on codes of trained models.

Three modes. `--boosted_trees`: DCI's boosted trees on codes of trained models, the committed
`benchmarks/data/dsprites_codes_*.npz` (see make_real_codes.py: beta-VAEs of the CPU study
with factorized, correlated-noise and full-covariance posteriors, 3 to 5 active latents of 10,
the points DCI draws, repeats included), at the reference sizes (10,000 / 5,000) and the CPU
study's (1,000 / 500), with the synthetic codes below as a last row of each size. Per codes set
and round: the plain sequential scikit-learn loop (`--plain_rounds` of the rounds), the
reference estimator (whose numbers must equal the loop's; the script fails otherwise), the
histogram estimator and, with `--lightgbm` where it is importable, LightGBM in the same
settings. `--tree_costs`: CPU time of one depth-3 regression tree, scikit-learn's builder
against the presorted one, on real codes, on the same codes with only their repeated points
left as ties, and with no ties at all. Default: the whole suite, as follows.

Data: 10,000 training and 5,000 test points, 10 codes, the 5 dSprites factors (3, 6, 40, 32 and
32 values, drawn uniformly on the grid); codes are a fixed random linear mixture of the scaled
factor values plus Gaussian noise. BetaVAE and FactorVAE need batches with one factor fixed:
their batches (64 points) are built the same way, and the time counted is the array-level part
(features or variances, then the score).

Each metric's array-level function is timed (median of `--repeats` runs for the fast ones). The
boosted-tree and logistic-regression metrics (DCI, both downstream tasks) are also computed by a
plain sequential loop of scikit-learn fits, as the reference code does, in the same run; the
numbers must be identical (the script fails otherwise). Those are long, so each runs once.
Wall time and process CPU time (all threads) are both reported: on a shared machine the wall
time depends on what else runs, the CPU time much less.

  .venv/bin/python benchmarks/metrics_speed.py               # ~25 min on 2 cores
  .venv/bin/python benchmarks/metrics_speed.py --write_docs  # also updates docs/BENCHMARKS.md
  .venv/bin/python benchmarks/metrics_speed.py --boosted_trees --sizes cpu_study --rounds 3
  .venv/bin/python benchmarks/metrics_speed.py --boosted_trees --sizes reference --rounds 3 \
      --plain_rounds 1 --codes beta_vae-factorized-conv64-seed0   # ~10 min
  .venv/bin/python benchmarks/metrics_speed.py --tree_costs
"""
import argparse
import concurrent.futures
import os
import platform
import statistics
import sys
import time

import numpy as np
import sklearn
import threadpoolctl
from sklearn import ensemble
from sklearn import tree as sk_tree
from sklearn import linear_model
from sklearn import model_selection
from sklearn import multiclass

from evaluation.metrics import beta_vae
from evaluation.metrics import boosted_trees
from evaluation.metrics import dci
from evaluation.metrics import downstream
from evaluation.metrics import factor_vae
from evaluation.metrics import irs
from evaluation.metrics import mig
from evaluation.metrics import modularity_explicitness
from evaluation.metrics import presorted_tree
from evaluation.metrics import sap
from evaluation.metrics import unsupervised
import make_real_codes
from common import io_utils
from machine_info import cpu_model
from machine_info import load_average

FACTOR_SIZES = (3, 6, 40, 32, 32)
NUM_CODES = 10
NUM_TRAIN = 10000
NUM_TEST = 5000
BATCH = 64
DOWNSTREAM_SIZES = (10, 100, 1000, 10000)
SECTION_TITLE = "## Metric suite speed"
DOCS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "BENCHMARKS.md")


class Mixture:
  """Codes = scaled factor values @ a fixed random matrix + noise."""

  def __init__(self, random_state, noise=0.1):
    self.mixing = random_state.normal(size=(len(FACTOR_SIZES), NUM_CODES))
    self.noise = noise
    self.random_state = random_state

  def factors(self, *shape):
    return np.stack([self.random_state.randint(k, size=shape) for k in FACTOR_SIZES], axis=-1)

  def codes(self, factors):
    scaled = factors / (np.array(FACTOR_SIZES) - 1.0)
    return scaled @ self.mixing + self.noise * self.random_state.normal(
        size=factors.shape[:-1] + (NUM_CODES,))


def make_data(seed=0):
  mixture = Mixture(np.random.RandomState(seed))
  data = {}
  data["factors_train"] = mixture.factors(NUM_TRAIN)
  data["codes_train"] = mixture.codes(data["factors_train"])
  data["factors_test"] = mixture.factors(NUM_TEST)
  data["codes_test"] = mixture.codes(data["factors_test"])
  for split, num in (("train", NUM_TRAIN), ("eval", NUM_TEST)):
    # BetaVAE: pairs of batches that agree on one factor.
    fixed = mixture.random_state.randint(len(FACTOR_SIZES), size=num)
    factors_a, factors_b = mixture.factors(num, BATCH), mixture.factors(num, BATCH)
    factors_b[np.arange(num), :, fixed] = factors_a[np.arange(num), :, fixed]
    data[f"beta_vae_{split}"] = (mixture.codes(factors_a), mixture.codes(factors_b), fixed)
    # FactorVAE: batches with one factor fixed to one value.
    fixed = mixture.random_state.randint(len(FACTOR_SIZES), size=num)
    batch_factors = mixture.factors(num, BATCH)
    batch_factors[np.arange(num), :, fixed] = batch_factors[np.arange(num), :1, fixed]
    data[f"factor_vae_{split}"] = (mixture.codes(batch_factors), fixed)
  data["global_codes"] = mixture.codes(mixture.factors(NUM_TRAIN))
  return data


# ----- the standard suite, array level -----------------------------------------------------


def run_beta_vae(d):
  train_a, train_b, train_labels = d["beta_vae_train"]
  eval_a, eval_b, eval_labels = d["beta_vae_eval"]
  return beta_vae.beta_vae(beta_vae.beta_vae_features(train_a, train_b), train_labels,
                           beta_vae.beta_vae_features(eval_a, eval_b), eval_labels)


def run_factor_vae(d):
  train_codes, train_fixed = d["factor_vae_train"]
  eval_codes, eval_fixed = d["factor_vae_eval"]
  return factor_vae.factor_vae(d["global_codes"], factor_vae.local_variances(train_codes),
                               train_fixed, factor_vae.local_variances(eval_codes), eval_fixed,
                               len(FACTOR_SIZES))


def run_downstream(d, predictor, n_jobs):
  scores = {}
  for size in DOWNSTREAM_SIZES:
    result = downstream.downstream_from_arrays(
        d["codes_train"][:size], d["factors_train"][:size], d["codes_test"], d["factors_test"],
        predictor=predictor, n_jobs=n_jobs, seed=0)
    scores.update({f"{size}_{key}": value for key, value in result.items()})
  return scores


def suite(n_jobs):
  """name -> function(data) -> scores, for every standard metric."""
  return {
      "beta_vae": run_beta_vae,
      "factor_vae": run_factor_vae,
      "mig": lambda d: mig.mig(d["codes_train"], d["factors_train"]),
      "sap": lambda d: sap.sap(d["codes_train"], d["factors_train"], d["codes_test"],
                               d["factors_test"]),
      "modularity_explicitness": lambda d: modularity_explicitness.modularity_explicitness(
          d["codes_train"], d["factors_train"], d["codes_test"], d["factors_test"]),
      "irs": lambda d: irs.irs(d["codes_train"], d["factors_train"]),
      "unsupervised": lambda d: unsupervised.unsupervised_from_arrays(d["codes_train"]),
      "dci": lambda d: dci.dci_from_arrays(d["codes_train"], d["factors_train"],
                                           d["codes_test"], d["factors_test"], n_jobs=n_jobs,
                                           seed=0),
      "downstream_logistic_regression": lambda d: run_downstream(
          d, "logistic_regression_cv", n_jobs),
      "downstream_boosted_trees": lambda d: run_downstream(
          d, "gradient_boosting_classifier", n_jobs),
  }


SLOW = ("dci", "downstream_logistic_regression", "downstream_boosted_trees")


# ----- plain sequential scikit-learn loops, as the reference code runs them ----------------


def _fit_and_score(make_model, codes_train, factors_train, codes_test, factors_test):
  models, train_accuracy, test_accuracy = [], [], []
  for j in range(factors_train.shape[1]):
    model = make_model().fit(codes_train, factors_train[:, j])
    models.append(model)
    train_accuracy.append(np.mean(model.predict(codes_train) == factors_train[:, j]))
    test_accuracy.append(np.mean(model.predict(codes_test) == factors_test[:, j]))
  return models, train_accuracy, test_accuracy


def plain_boosted_trees(seed=0):
  return ensemble.GradientBoostingClassifier(random_state=seed)


def logistic_regression_one_vs_rest():
  return multiclass.OneVsRestClassifier(linear_model.LogisticRegressionCV(
      Cs=10, cv=model_selection.KFold(n_splits=5), scoring="accuracy", l1_ratios=(0.0,),
      use_legacy_attributes=False))


def reference_dci(d):
  models, train_accuracy, test_accuracy = _fit_and_score(
      plain_boosted_trees, d["codes_train"], d["factors_train"], d["codes_test"],
      d["factors_test"])
  importance = np.stack([np.abs(m.feature_importances_) for m in models], axis=1)
  scores = dci.scores_from_importance(importance)
  scores["informativeness_train"] = float(np.mean(train_accuracy))
  scores["informativeness_test"] = float(np.mean(test_accuracy))
  return scores


def reference_downstream(make_model):
  def run(d):
    scores = {}
    for size in DOWNSTREAM_SIZES:
      _, train_accuracy, test_accuracy = _fit_and_score(
          make_model, d["codes_train"][:size], d["factors_train"][:size], d["codes_test"],
          d["factors_test"])
      result = downstream.accuracy_scores(train_accuracy, test_accuracy)
      scores.update({f"{size}_{key}": value for key, value in result.items()})
    return scores
  return run


REFERENCES = {
    "dci": reference_dci,
    "downstream_logistic_regression": reference_downstream(logistic_regression_one_vs_rest),
    "downstream_boosted_trees": reference_downstream(plain_boosted_trees),
}


# ----- boosted trees on codes of trained models ---------------------------------------------


def plain_dci(codes_train, factors_train, codes_test, factors_test, seed):
  """DCI by the plain sequential loop of default scikit-learn models, as the reference code."""
  models, train_accuracy, test_accuracy = _fit_and_score(
      lambda: plain_boosted_trees(seed), codes_train, factors_train, codes_test, factors_test)
  importance = np.stack([np.abs(m.feature_importances_) for m in models], axis=1)
  scores = dci.scores_from_importance(importance)
  scores["informativeness_train"] = float(np.mean(train_accuracy))
  scores["informativeness_test"] = float(np.mean(test_accuracy))
  return scores


def synthetic_codes(num_train, num_test):
  mixture = Mixture(np.random.RandomState(0))
  factors_train, factors_test = mixture.factors(num_train), mixture.factors(num_test)
  return ("synthetic mixture", mixture.codes(factors_train), factors_train,
          mixture.codes(factors_test), factors_test, 0, NUM_CODES)


def codes_sets(size, names):
  """[(name, codes_train, factors_train, codes_test, factors_test, tree seed, active)]: the
  committed codes of trained models at `size` (only `names`, if given), then synthetic ones."""
  path = make_real_codes.REFERENCE_FILE if size == "reference" else make_real_codes.CPU_STUDY_FILE
  runs = make_real_codes.load_codes(path)
  wanted = names or list(make_real_codes.DEFAULT_REFERENCE_RUNS)
  sets = [run for run in runs if run[0] in wanted]
  if "synthetic" in wanted or not names:
    sets.append(synthetic_codes(*make_real_codes.SIZES[size]))
  return sets


def lightgbm_dci(codes_train, factors_train, codes_test, factors_test, n_jobs):
  """DCI with LightGBM (not a dependency) in the histogram estimator's settings."""
  import lightgbm  # pylint: disable=import-outside-toplevel  (optional)
  def fit(j):
    with threadpoolctl.threadpool_limits(1, user_api="openmp"):
      return lightgbm.LGBMClassifier(
          n_estimators=100, learning_rate=0.1, max_depth=3, num_leaves=8, min_child_samples=1,
          importance_type="gain", random_state=0, verbose=-1, n_jobs=1).fit(
              codes_train, factors_train[:, j])
  with concurrent.futures.ThreadPoolExecutor(n_jobs) as workers:
    models = list(workers.map(fit, range(factors_train.shape[1])))
  importance = np.stack([m.feature_importances_ / m.feature_importances_.sum() for m in models],
                        axis=1)
  scores = dci.scores_from_importance(importance)
  scores["informativeness_test"] = float(np.mean(
      [np.mean(m.predict(codes_test) == factors_test[:, j]) for j, m in enumerate(models)]))
  return scores


def boosted_trees_benchmark(args, n_jobs):
  names = [n.strip() for n in args.codes.split(",") if n.strip()]
  estimators = ["plain", "reference", "histogram"] + (["lightgbm"] if args.lightgbm else [])
  lines = [f"Command: `python benchmarks/metrics_speed.py {' '.join(sys.argv[1:])}`", "",
           f"Machine: {cpu_model()}, `nproc` = {os.cpu_count()}, n_jobs = {n_jobs}; Python "
           f"{platform.python_version()}, NumPy {np.__version__}, scikit-learn "
           f"{sklearn.__version__}.", "",
           "| codes | points | active latents | plain loop wall (s) | reference wall (s) "
           "| reference / plain | histogram wall (s) | plain / histogram | "
           + ("LightGBM wall (s) | " if args.lightgbm else "") + "load before, after |",
           "|---|---|---|---|---|---|---|---|" + ("---|" if args.lightgbm else "") + "---|"]
  for size in args.sizes.split(","):
    for name, *arrays, seed, active in codes_sets(size, names):
      times = {e: [] for e in estimators}
      load_before = load_average()
      for round_index in range(args.rounds):
        for estimator in estimators:
          if estimator == "plain" and round_index >= args.plain_rounds:
            continue
          start = time.perf_counter()
          if estimator == "plain":
            scores = plain_dci(*arrays, seed)
          elif estimator == "lightgbm":
            scores = lightgbm_dci(*arrays, n_jobs)
          else:
            scores = dci.dci_from_arrays(*arrays, n_jobs=n_jobs, seed=seed, estimator=estimator)
          times[estimator].append(time.perf_counter() - start)
          if estimator == "reference" and round_index == 0 and "plain" in estimators:
            plain = plain_dci(*arrays, seed) if args.plain_rounds == 0 else first_plain
            if scores != plain:
              raise SystemExit(f"{name}, {size}: reference estimator differs from the plain "
                               f"loop: {scores} vs {plain}")
          if estimator == "plain" and round_index == 0:
            first_plain = scores
          print(f"{size} {name} round {round_index}: {estimator} {times[estimator][-1]:.2f} s "
                f"D={scores['disentanglement']:.4f}  load {load_average()}", flush=True)
      median = {e: statistics.median(t) for e, t in times.items() if t}
      row = (f"| {name} | {len(arrays[0]):,} / {len(arrays[2]):,} | {active} | "
             + (f"{median['plain']:.1f} ({len(times['plain'])})" if "plain" in median else "")
             + f" | {median['reference']:.2f} ({len(times['reference'])}) | "
             + (f"{median['reference'] / median['plain']:.2f}" if "plain" in median else "")
             + f" | {median['histogram']:.2f} ({len(times['histogram'])}) | "
             + (f"{median['plain'] / median['histogram']:.0f}x" if "plain" in median else "")
             + (f" | {median['lightgbm']:.2f}" if args.lightgbm else "")
             + f" | {load_before}; {load_average()} |")
      lines.append(row)
      print(row, flush=True)
  lines += ["", "Walls are medians over the rounds (their number in brackets); ratios are of "
            "medians measured in the same run. The reference estimator's numbers were equal to "
            "the plain loop's, key by key (checked by the script)."]
  print("\n".join(lines))


def break_ties(codes):
  """`codes` with every tie broken: each repeated value moved up by float32 steps."""
  codes = codes.copy()
  for j in range(codes.shape[1]):
    order = np.argsort(codes[:, j], kind="stable")
    values = codes[order, j]
    for p in range(1, len(values)):
      if values[p] <= values[p - 1]:
        values[p] = np.nextafter(values[p - 1], np.float32(np.inf))
    codes[order, j] = values
  return codes


def tree_costs(args):
  """ms of CPU per depth-3 tree, by builder and kind of ties, on first-stage gradients."""
  name, codes, factors, _, _, _, _ = make_real_codes.load_codes(make_real_codes.REFERENCE_FILE)[0]
  codes = codes.astype(np.float32)
  # Repeated points only: distinct rows get tie-free values, copies keep their row's.
  _, first, inverse = np.unique(codes.view(np.int32), axis=0, return_index=True,
                                return_inverse=True)
  repeats_only = break_ties(codes[first])[inverse.reshape(-1)]
  variants = (("real codes", codes), ("repeated points only", repeats_only),
              ("no ties", break_ties(codes)))
  random_state = np.random.RandomState(0)
  print(f"{name}, {len(codes):,} points; CPU: {cpu_model()}, load {load_average()}")
  print("| factor (classes) | codes | rows repeated with another target, median | "
        "scikit-learn ms/tree | presorted ms/tree |")
  print("|---|---|---|---|---|")
  presorted_tree.build_regression_tree(codes[:20], np.zeros(20), presorted_tree.presort(
      codes[:20]), 1)  # compiled before timing
  for j in range(factors.shape[1]):
    classes = np.unique(factors[:, j])[:args.trees]
    for label, x in variants:
      presorted = presorted_tree.presort(x)
      costs = {"sklearn": [], "presorted": []}
      mixed = []
      for c in classes:
        # The first stage's negative gradient of class c: indicator minus the prior.
        y = (factors[:, j] == c) - np.mean(factors[:, j] == c)
        mixed.append(presorted_tree.mixed_repeats(presorted, y))
        seed = presorted_tree.draw_seed(random_state)
        for builder in costs:
          start = time.process_time()
          if builder == "sklearn":
            sk_tree.DecisionTreeRegressor(max_depth=3, random_state=seed).fit(x, y)
          else:
            presorted_tree.build_regression_tree(x, y, presorted, seed)
          costs[builder].append(1000 * (time.process_time() - start))
      print(f"| {j} ({len(np.unique(factors[:, j]))}) | {label} | {np.median(mixed):.0f} | "
            f"{np.median(costs['sklearn']):.1f} | {np.median(costs['presorted']):.1f} |",
            flush=True)


# ----- timing and reporting ----------------------------------------------------------------


def machine_busy_seconds():
  """CPU seconds all processes on the machine have spent busy (Linux /proc/stat), or NaN."""
  try:
    with open("/proc/stat") as f:
      fields = [float(x) for x in f.readline().split()[1:]]
  except (OSError, ValueError):
    return float("nan")
  idle = fields[3] + (fields[4] if len(fields) > 4 else 0.)  # idle + iowait
  return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _stat_fields(pid):
  """The fields of /proc/<pid>/stat after the command name (state, parent pid, ...)."""
  with open(f"/proc/{pid}/stat") as f:
    return f.read().rsplit(")", 1)[1].split()


def own_cpu_by_process():
  """{pid: CPU seconds} for this process and its live child processes (the worker processes
  the logistic regressions run in); only this process where /proc is missing."""
  cpu = {os.getpid(): time.process_time()}
  try:
    pids = [pid for pid in os.listdir("/proc") if pid.isdigit()]
  except OSError:
    return cpu
  for pid in pids:
    try:
      fields = _stat_fields(pid)
    except OSError:  # exited meanwhile
      continue
    if int(fields[1]) == os.getpid():
      cpu[int(pid)] = (float(fields[11]) + float(fields[12])) / os.sysconf("SC_CLK_TCK")
  return cpu


def own_cpu_between(before, after):
  """CPU seconds our processes spent between two `own_cpu_by_process` snapshots. A worker that
  exited in between counts nothing (its total is gone with it; loky retires idle workers after
  minutes, so it spent nothing meanwhile), one that started counts from 0."""
  return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def timed(fn, data):
  """(scores, wall seconds, our CPU seconds, CPU seconds used by other processes meanwhile).

  Our CPU includes our worker processes, counted per process so that workers retiring during a
  call do not take their earlier CPU time out of the sum.
  """
  wall, cpu, busy = time.perf_counter(), own_cpu_by_process(), machine_busy_seconds()
  scores = fn(data)
  cpu = own_cpu_between(cpu, own_cpu_by_process())
  return (scores, time.perf_counter() - wall, cpu,
          max(0., machine_busy_seconds() - busy - cpu))


def main():
  global NUM_TRAIN, NUM_TEST, DOWNSTREAM_SIZES  # pylint: disable=global-statement
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=3, help="runs of each fast metric")
  parser.add_argument("--n_jobs", type=int, default=None, help="threads (default: all CPUs)")
  parser.add_argument("--skip_reference", action="store_true",
                      help="do not run the sequential reference loops")
  parser.add_argument("--only", default="", help="comma list of metrics to run (default: all)")
  parser.add_argument("--num_train", type=int, default=NUM_TRAIN, help="training points")
  parser.add_argument("--num_test", type=int, default=NUM_TEST, help="test points")
  parser.add_argument("--write_docs", action="store_true",
                      help=f"replace the '{SECTION_TITLE[3:]}' section of docs/BENCHMARKS.md")
  parser.add_argument("--boosted_trees", action="store_true",
                      help="DCI's boosted trees on codes of trained models (see above)")
  parser.add_argument("--sizes", default="reference,cpu_study",
                      help="--boosted_trees: comma list of reference, cpu_study")
  parser.add_argument("--codes", default="",
                      help="--boosted_trees: comma list of run names and/or 'synthetic' "
                      "(default: the committed reference-size runs and synthetic)")
  parser.add_argument("--rounds", type=int, default=3, help="--boosted_trees: rounds")
  parser.add_argument("--plain_rounds", type=int, default=1,
                      help="--boosted_trees: rounds that also time the plain loop")
  parser.add_argument("--lightgbm", action="store_true",
                      help="--boosted_trees: also time LightGBM (if importable)")
  parser.add_argument("--tree_costs", action="store_true",
                      help="CPU time per tree by builder and kind of ties")
  parser.add_argument("--trees", type=int, default=8,
                      help="--tree_costs: classes (trees) per factor")
  args = parser.parse_args()
  if args.tree_costs:
    tree_costs(args)
    return
  if args.boosted_trees:
    boosted_trees_benchmark(args, boosted_trees.resolve_n_jobs(args.n_jobs))
    return
  NUM_TRAIN, NUM_TEST = args.num_train, args.num_test
  DOWNSTREAM_SIZES = tuple(n for n in DOWNSTREAM_SIZES if n < NUM_TRAIN) + (NUM_TRAIN,)
  command = "python benchmarks/metrics_speed.py " + " ".join(sys.argv[1:])
  n_jobs = boosted_trees.resolve_n_jobs(args.n_jobs)
  print(f"CPU: {cpu_model()}, {os.cpu_count()} logical CPUs, n_jobs={n_jobs}; "
        f"load average before: {load_average()}", flush=True)
  print(f"presorted, stage-parallel boosted trees exact on this scikit-learn: "
        f"{boosted_trees.presorted_boosting_is_exact()}", flush=True)
  data = make_data()
  loads = [load_average()]
  rows = []
  metrics = suite(n_jobs)
  chosen = [n.strip() for n in args.only.split(",") if n.strip()] or list(metrics)
  unknown = sorted(set(chosen) - set(metrics))
  if unknown:
    parser.error(f"--only: unknown metric(s) {unknown}; expected some of {sorted(metrics)}")
  if args.write_docs and (args.only or args.num_train != 10000 or args.num_test != 5000):
    parser.error("--write_docs records the full suite at 10,000 / 5,000 points only")
  for name in chosen:
    fn = metrics[name]
    repeats = 1 if name in SLOW else args.repeats
    runs = [timed(fn, data) for _ in range(repeats)]
    wall = statistics.median(r[1] for r in runs)
    cpu = statistics.median(r[2] for r in runs)
    others = statistics.median(r[3] for r in runs)
    row = {"name": name, "runs": repeats, "wall": wall, "cpu": cpu, "others": others,
           "scores": runs[0][0]}
    if name in REFERENCES and not args.skip_reference:
      ref_scores, ref_wall, ref_cpu, ref_others = timed(REFERENCES[name], data)
      if ref_scores != runs[0][0]:
        differing = sorted(k for k in ref_scores if ref_scores[k] != runs[0][0].get(k))
        raise SystemExit(f"{name}: numbers differ from the sequential reference: {differing}")
      row.update(ref_wall=ref_wall, ref_cpu=ref_cpu, ref_others=ref_others)
    rows.append(row)
    loads.append(load_average())
    shown = ", ".join(f"{k}={v:.4f}" for k, v in list(runs[0][0].items())[:4])
    print(f"{name:32s} wall {wall:8.2f} s  cpu {cpu:8.2f} s  others {others:8.2f} s"
          + (f"  | reference wall {row['ref_wall']:8.2f} s  cpu {row['ref_cpu']:8.2f} s  "
             f"others {row['ref_others']:8.2f} s  identical" if "ref_wall" in row else "")
          + f"  [{shown}]  load {loads[-1]}", flush=True)
  report = format_report(rows, n_jobs, loads, command)
  print()
  print(report)
  if args.write_docs:
    write_section(DOCS_PATH, SECTION_TITLE, report)
    print(f"wrote {os.path.normpath(DOCS_PATH)}")


def format_report(rows, n_jobs, loads, command):
  nproc = os.cpu_count()
  lines = [
      f"Command: `{command}` (`--write_docs` writes this section).",
      "",
      f"Machine: {cpu_model()}, `nproc` = {nproc}, n_jobs = {n_jobs}; "
      f"Python {platform.python_version()}, NumPy {np.__version__}, "
      f"scikit-learn {sklearn.__version__}. Load average (1, 5, 15 min) at the start: "
      f"{loads[0]}, at the end: {loads[-1]}.",
      "",
      f"Arrays only: {NUM_TRAIN:,} training / {NUM_TEST:,} test points, {NUM_CODES} codes, "
      f"dSprites factors {FACTOR_SIZES}, codes a noisy linear mixture of the factors; downstream "
      f"tasks at {DOWNSTREAM_SIZES} training points. Fast metrics: median of the runs shown; "
      "DCI and downstream: one run each. *Reference* is the plain sequential loop of "
      "scikit-learn fits of the reference code, computed in the same run; every number it gave "
      "was identical to ours (checked by the script). *CPU* is this process's CPU time (all "
      "threads and worker processes); *others* is the CPU time other processes on the machine "
      f"used meanwhile (from /proc/stat): with {nproc} cores, a run can only go parallel in "
      "what they leave free.",
      "",
      "| metric | runs | wall (s) | CPU (s) | others (s) | reference wall (s) "
      "| reference CPU (s) | others (s) | speed-up (wall) |",
      "|---|---|---|---|---|---|---|---|---|",
  ]
  total, total_ref = 0.0, 0.0
  for row in rows:
    ref_wall = row.get("ref_wall", row["wall"])
    total += row["wall"]
    total_ref += ref_wall
    if "ref_wall" in row:
      ref = (f"{row['ref_wall']:.1f} | {row['ref_cpu']:.1f} | {row['ref_others']:.1f} | "
             f"{row['ref_wall'] / row['wall']:.2f}x")
    else:
      ref = "same code | | | "
    lines.append(f"| {row['name']} | {row['runs']} | {row['wall']:.2f} | {row['cpu']:.2f} | "
                 f"{row['others']:.1f} | {ref} |")
  lines.append(f"| **suite total** | | **{total:.1f}** | | | **{total_ref:.1f}** | | | "
               f"**{total_ref / total:.2f}x** |")
  lines += [
      "",
      "Where the time goes and what was done about it (same definition, same estimator, "
      "identical numbers):",
      "",
      "* DCI and the boosted-tree downstream task fit one default `GradientBoostingClassifier` "
      "per factor: 100 stages of one depth-3 tree per class (113 trees per stage for dSprites). "
      "Scikit-learn's tree builder spends about 70% of each tree re-sorting every code at every "
      "node, although all 11,300 trees of a fit see the same codes. "
      "`evaluation/metrics/presorted_tree.py` sorts each code once per fit and hands the order "
      "down the tree by stable partitions, replaying everything else of scikit-learn's builder "
      "step by step (feature draws, running sums in the same order, the same swaps), so the "
      "trees are identical bit for bit. Inside exact ties only scikit-learn's introsort "
      "determines the order, and so the rounding of the sums; the builder checks each tied pair "
      "and replays the introsorts of a node only where the order matters. This cuts the CPU "
      "work (the CPU columns).",
      "* The trees of one stage only depend on the previous stages and on one seed each from "
      "the model's RandomState, so they are built concurrently on a thread pool shared by all "
      "factors (`evaluation/metrics/boosted_trees.py`); the builder runs without the GIL. Whole "
      "factors per thread would balance badly (40 of 113 trees in one factor: at most 1.77x on "
      "2 cores, 2.8x on any number), so that is used only below 2,000 points or when factors "
      "balance well.",
      "* Logistic regression: the one-vs-rest problems are independent and run in worker "
      "processes with one BLAS thread each (threads would wait for the GIL: L-BFGS iterates in "
      "Python between small compiled calls). BLAS threads on these tiny matrices only add "
      "overhead, and on a busy machine spinning BLAS threads slow the plain loop down several "
      "times.",
      "* Codes are converted to float32 C-contiguous once per metric instead of once per model.",
      "* Everything else (MIG, SAP, modularity, IRS, unsupervised, BetaVAE, FactorVAE) takes "
      "seconds and is left as is.",
  ]
  return "\n".join(lines)


def write_section(path, title, body):
  """Replaces (or appends) the `title` section of a markdown file, leaving the others alone."""
  text = ""
  if os.path.exists(path):
    with open(path) as f:
      text = f.read()
  if not text.strip():
    text = "# Benchmarks\n\nRecorded results of the scripts in `benchmarks/`.\n"
  section = f"{title}\n\n{body}\n"
  lines = text.splitlines(keepends=True)
  start = next((i for i, line in enumerate(lines) if line.rstrip() == title), None)
  if start is None:
    text = text.rstrip("\n") + "\n\n" + section
  else:
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
               len(lines))
    tail = "".join(lines[end:])
    text = "".join(lines[:start]) + section + ("\n" + tail if tail else "")
  with io_utils.atomic_write(path) as f:
    f.write(text)


if __name__ == "__main__":
  main()
