"""Speed (and, on request, accuracy) of the MI estimators; results go to docs/MI_MEASURES.md.

  .venv/bin/python benchmarks/mi_speed.py                      # N=2000, d=10, K=32, 3 runs
  .venv/bin/python benchmarks/mi_speed.py --accuracy_seeds=20  # also the error table
  .venv/bin/python benchmarks/mi_speed.py --num_points 10000 --repeats 3  # issue 24's size
  .venv/bin/python benchmarks/mi_speed.py --num_points 50000 --repeats 1 --covariances full

Speed: median wall time of `repeats` runs of `mi_measures` and `mi_invariance` on a linear
Gaussian encoder with a diagonal and with a full (random, per point) covariance. Accuracy:
estimation error against the closed forms over data/Monte Carlo seeds, for the 4-latent
encoders that the tests use (I(x; z_i) = 0.3 ... 2.2 nats, noise correlation 0 and 0.5).
"""
import argparse
import platform
import resource
import time

import numpy as np
import tensorflow as tf

from evaluation import gaussian_closed_form
from evaluation import mi_invariance
from evaluation import mi_measures
import machine_info


def machine_description():
  return (f"{machine_info.usable_cores()} cores (nproc), {machine_info.cpu_model()}, "
          f"Python {platform.python_version()}, TensorFlow {tf.__version__}")


def _linear_gaussian(num_points, latent_dim, rho, seed, data_dim=None):
  data_dim = data_dim or max(1, latent_dim - 1)
  scales = np.diag(np.linspace(0.5, 1.5, latent_dim))
  correlation = (1.0 - rho) * np.eye(latent_dim) + rho * np.ones((latent_dim, latent_dim))
  noise_covariance = scales @ correlation @ scales
  directions = np.random.default_rng(1).standard_normal((latent_dim, data_dim))
  weight = gaussian_closed_form.weight_for_mutual_information(
      directions, np.eye(data_dim), noise_covariance, np.linspace(0.3, 2.2, latent_dim))
  data = np.random.default_rng(seed).standard_normal((num_points, data_dim))
  mean, covariance = gaussian_closed_form.linear_gaussian_posteriors(data, weight,
                                                                     noise_covariance)
  return (weight, np.eye(data_dim), noise_covariance), mean, covariance


def _full_covariances(num_points, latent_dim, seed):
  rng = np.random.default_rng(seed)
  root = 0.3 * rng.standard_normal((num_points, latent_dim, latent_dim))
  return root @ np.swapaxes(root, 1, 2) + 0.1 * np.eye(latent_dim)


def speed_table(num_points, latent_dim, num_conditioning, num_samples, repeats,
                covariances=("diagonal", "full")):
  _, mean, diagonal = _linear_gaussian(num_points, latent_dim, 0.0, seed=0)
  cases = [(name, diagonal if name == "diagonal" else
            _full_covariances(num_points, latent_dim, 0)) for name in covariances]
  rows = []
  for name, covariance in cases:
    for label, function in [
        ("mi_measures", lambda c: mi_measures.mi_measures(mean, c, num_samples=num_samples)),
        ("mi_invariance", lambda c: mi_invariance.mi_invariance(
            mean, c, num_conditioning=num_conditioning, num_samples=num_samples))]:
      times, cpu = [], []
      for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        function(covariance)
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
      rows.append((label, name, float(np.median(times)), min(times), max(times),
                   float(np.median(cpu))))
  print(f"N={num_points} d={latent_dim} K={num_conditioning} num_samples={num_samples}, "
        f"median of {repeats} runs")
  # CPU: this process's CPU time (all threads), which a busy machine inflates much less than
  # the wall time.
  print("| function | covariance | median s | min s | max s | median CPU s |")
  print("|---|---|---|---|---|---|")
  for label, name, median, low, high, cpu in rows:
    print(f"| {label} | {name} | {median:.2f} | {low:.2f} | {high:.2f} | {cpu:.2f} |")
  for name in covariances:
    total = sum(row[2] for row in rows if row[1] == name)
    total_cpu = sum(row[5] for row in rows if row[1] == name)
    print(f"both, {name} covariance: {total:.2f} s wall, {total_cpu:.2f} s CPU (medians)")
  # ru_maxrss is in KiB on Linux; the peak covers the inputs, TensorFlow and every run above.
  print(f"peak RSS of this process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} "
        f"MiB; load average (1, 5, 15 min) at the end: {machine_info.load_average()}")


def accuracy_table(num_points, seeds):
  print(f"\nAccuracy at N={num_points}, d=4 (x in R^3), num_samples=4, K=32, over {seeds} seeds: "
        "error = estimate - closed form, nats")
  print("| rho | measure | closed form | mean error | sd | worst |")
  print("|---|---|---|---|---|---|")
  for rho in (0.0, 0.5):
    errors = {}
    expected = None
    for seed in range(seeds):
      encoder, mean, covariance = _linear_gaussian(num_points, 4, rho, seed=1000 + seed,
                                                   data_dim=3)
      expected = gaussian_closed_form.closed_form_measures(*encoder)
      result = mi_measures.mi_measures(mean, covariance, seed=seed)
      result.update(mi_invariance.mi_invariance(mean, covariance, seed=seed))
      for key, value in result.items():
        errors.setdefault(key, []).append(value - expected[key])
    for key, values in errors.items():
      values = np.asarray(values)
      worst = values[np.argmax(np.abs(values))]
      print(f"| {rho} | {key} | {expected[key]:.3f} | {np.mean(values):+.3f} | "
            f"{np.std(values):.3f} | {worst:+.3f} |")


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--num_points", type=int, default=2000)
  parser.add_argument("--latent_dim", type=int, default=10)
  parser.add_argument("--num_conditioning", type=int, default=32)
  parser.add_argument("--num_samples", type=int, default=4)
  parser.add_argument("--repeats", type=int, default=3)
  parser.add_argument("--covariances", default="diagonal,full",
                      help="comma list of diagonal, full")
  parser.add_argument("--accuracy_seeds", type=int, default=0,
                      help="seeds for the accuracy table; 0 skips it")
  args = parser.parse_args()
  print(f"Machine: {machine_description()}")
  print(f"load average (1, 5, 15 min) at the start: {machine_info.load_average()}")
  speed_table(args.num_points, args.latent_dim, args.num_conditioning, args.num_samples,
              args.repeats, tuple(args.covariances.split(",")))
  if args.accuracy_seeds:
    accuracy_table(args.num_points, args.accuracy_seeds)


if __name__ == "__main__":
  main()
