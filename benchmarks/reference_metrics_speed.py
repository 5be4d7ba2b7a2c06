"""Speed of the other reference metrics (UDR, fairness, strong and reduced downstream, unified
scores), each through its sampling wrapper on the data of metrics_speed.py.

Data: the 5 dSprites factors (3, 6, 40, 32 and 32 values, drawn uniformly), observations the
scaled factor values, codes a fixed random linear mixture of them into 10 codes plus Gaussian
noise (metrics_speed.py's codes, drawn through a representation function, since these metrics
draw observations for interventions). UDR compares 5 such models, each with its own mixture,
6 informative latents and 4 near the prior, at its reference defaults (1,000 points in
batches of 10, Lasso, KL threshold 0.01).

Settings: fairness and unified scores at the reference defaults (10,000 training points; 100
test points per sensitive value, resp. 5,000 test points), boosted trees. Strong and reduced
downstream at the defaults except the training sizes, (10, 100, 1000) instead of (10, 100,
1000, 10000): with 10,000 points the two fit 55 and 30 boosted-tree models on 10,000 points
(each about 10 s of one core here), too long to repeat; `--full` runs the defaults.

Each metric runs `--repeats` times (default 3); the table shows the median wall time and the
process CPU time of that run (all threads).

  .venv/bin/python benchmarks/reference_metrics_speed.py               # ~10 min on 2 cores
  .venv/bin/python benchmarks/reference_metrics_speed.py --write_docs  # also docs/BENCHMARKS.md
"""
import argparse
import os
import platform
import sys
import time

import numpy as np
import sklearn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from evaluation.metrics import fairness  # noqa: E402
from evaluation.metrics import reduced_downstream  # noqa: E402
from evaluation.metrics import strong_downstream  # noqa: E402
from evaluation.metrics import udr  # noqa: E402
from evaluation.metrics import unified_scores  # noqa: E402
from machine_info import cpu_model  # noqa: E402
from machine_info import load_average  # noqa: E402
from machine_info import usable_cores  # noqa: E402
from metrics_speed import write_section  # noqa: E402

FACTOR_SIZES = (3, 6, 40, 32, 32)
NUM_CODES = 10
SHORT_SIZES = (10, 100, 1000)
SECTION_TITLE = "## Metric suite speed: the other reference metrics"
DOCS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs", "BENCHMARKS.md")


class FactorGrid:
  """Observations = the factor values scaled to [0, 1]."""
  factors_num_values = FACTOR_SIZES
  num_factors = len(FACTOR_SIZES)
  observation_shape = (len(FACTOR_SIZES),)
  name = "factor_grid"

  def sample_factors(self, num, random_state):
    return np.stack([random_state.randint(k, size=num) for k in FACTOR_SIZES], axis=1)

  def sample_observations_from_factors(self, factors, random_state):
    del random_state
    return np.asarray(factors, np.float64) / (np.array(FACTOR_SIZES) - 1.0)

  def sample(self, num, random_state):
    factors = self.sample_factors(num, random_state)
    return factors, self.sample_observations_from_factors(factors, random_state)

  def sample_observations(self, num, random_state):
    return self.sample(num, random_state)[1]


def mixture_representation(seed, noise=0.1):
  """metrics_speed.py's codes: observations @ a fixed random matrix + noise (its own stream)."""
  mixing = np.random.RandomState(seed).normal(size=(len(FACTOR_SIZES), NUM_CODES))
  noise_state = np.random.RandomState(seed + 1)
  return lambda x: x @ mixing + noise * noise_state.normal(size=(len(x), NUM_CODES))


def udr_posterior(seed, num_informative=6):
  """A model's posterior: informative latents with small variance, the others near N(0, 1)."""
  mixing = np.random.RandomState(seed).normal(size=(len(FACTOR_SIZES), NUM_CODES))
  mixing[:, num_informative:] *= 0.01
  variance = np.where(np.arange(NUM_CODES) < num_informative, 0.1, 1.0)

  def posterior(x):
    mean = 3.0 * (x - 0.5) @ mixing
    return mean, np.broadcast_to(np.diag(variance), (len(x), NUM_CODES, NUM_CODES))
  return posterior


def benchmarks(full):
  data = FactorGrid()
  sizes = (10, 100, 1000, 10000) if full else SHORT_SIZES
  return [
      ("udr", "5 models, 1,000 points, Lasso",
       lambda rs: udr.compute_udr(data, [udr_posterior(s) for s in range(5)], rs)),
      ("fairness", "10,000 training, 100 test points per sensitive value",
       lambda rs: fairness.compute_fairness(data, mixture_representation(0), rs)),
      ("unified_scores", "10,000 / 5,000 points, all three matrices",
       lambda rs: unified_scores.compute_unified_scores(data, mixture_representation(0), rs)),
      ("strong_downstream", f"training sizes {sizes}, 5,000 test points, 10 shifts per factor",
       lambda rs: strong_downstream.compute_strong_downstream(
           data, mixture_representation(0), rs, num_train=sizes)),
      ("reduced_downstream", f"training sizes {sizes}, 5,000 test points, 1 code removed",
       lambda rs: reduced_downstream.compute_reduced_downstream(
           data, mixture_representation(0), rs, num_train=sizes)),
  ]


def timed(fn):
  wall, cpu = time.perf_counter(), time.process_time()
  fn(np.random.RandomState(0))
  return time.perf_counter() - wall, time.process_time() - cpu


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=3, help="runs of each metric")
  parser.add_argument("--only", default="", help="comma list of metrics (default: all)")
  parser.add_argument("--full", action="store_true",
                      help="strong and reduced downstream with 10,000 training points too")
  parser.add_argument("--write_docs", action="store_true",
                      help=f"write the '{SECTION_TITLE}' section of docs/BENCHMARKS.md")
  args = parser.parse_args()
  if args.repeats < 1:
    parser.error(f"--repeats {args.repeats}: expected a positive integer")
  chosen = [name for name in args.only.split(",") if name]
  known = [name for name, _, _ in benchmarks(args.full)]
  unknown = [name for name in chosen if name not in known]
  if unknown:
    parser.error(f"--only: unknown metric(s) {', '.join(unknown)}; expected some of "
                 f"{', '.join(known)}")
  load_before = load_average()
  rows = []
  for name, settings, fn in benchmarks(args.full):
    if chosen and name not in chosen:
      continue
    runs = [timed(fn) for _ in range(args.repeats)]
    runs.sort()
    wall, cpu = runs[len(runs) // 2]
    rows.append((name, settings, len(runs), wall, cpu, [r[0] for r in runs]))
    print(f"{name:20s} median wall {wall:8.2f} s  CPU {cpu:8.2f} s  (wall of every run: "
          f"{', '.join(f'{r[0]:.2f}' for r in runs)})", flush=True)
  body = format_report(rows, load_before, load_average(), " ".join(sys.argv[1:]))
  print(body)
  if args.write_docs:
    write_section(DOCS_PATH, SECTION_TITLE, body)


def format_report(rows, load_before, load_after, flags):
  lines = [
      f"Command: `python benchmarks/reference_metrics_speed.py{' ' + flags if flags else ''}` "
      "(`--write_docs` writes this section), run under the benchmark lock.", "",
      f"Machine: {cpu_model()}, `nproc` = {usable_cores()}, n_jobs = all CPUs; Python "
      f"{platform.python_version()}, NumPy {np.__version__}, scikit-learn {sklearn.__version__}. "
      f"Load average (1, 5, 15 min) at the start: {load_before}, at the end: {load_after}.", "",
      "Each metric's sampling wrapper (drawing, encoding and the metric) on the factor grid of "
      "the suite above, codes its noisy linear mixture; median of the runs shown, CPU the "
      "process CPU time of the median run (all threads). Strong and reduced downstream run "
      "without their largest training size (10,000), see the script's docstring.", "",
      "| metric | settings | runs | wall (s) | CPU (s) | wall of every run (s) |",
      "|---|---|---|---|---|---|"]
  for name, settings, runs, wall, cpu, walls in rows:
    lines.append(f"| {name} | {settings} | {runs} | {wall:.2f} | {cpu:.2f} | "
                 f"{', '.join(f'{w:.2f}' for w in walls)} |")
  return "\n".join(lines)


if __name__ == "__main__":
  main()
