"""How close DCI's histogram estimator comes to the reference, on codes of trained models.

For every model, DCI is computed from the same points with `dci.estimator = "reference"` and
`"histogram"` (and, with `--lightgbm`, with LightGBM's boosted trees, which is not a dependency
of the project: the measurement behind choosing scikit-learn's histogram estimator). The rows
go to `benchmarks/data/dci_estimator_agreement_<size>.csv` (a rerun replaces a model's row);
the summary printed at the end is over every row of that file: Spearman's rank correlation of
each estimator's disentanglement with the reference's across the models, and the largest
absolute differences.

  # CPU-study sizes (1,000 / 500) from the committed codes, a few minutes
  .venv/bin/python benchmarks/dci_estimator_agreement.py --size cpu_study
  # reference sizes (10,000 / 5,000) from the runs encoded by make_real_codes.py, ~70 s a model
  .venv/bin/python benchmarks/dci_estimator_agreement.py --size reference \
      --work_dir /tmp/real_codes --runs 0:20
"""
import argparse
import csv
import os
import sys
import time

import numpy as np
import scipy.stats
import threadpoolctl

from evaluation.metrics import dci
import make_real_codes
from machine_info import cpu_model
from machine_info import load_average

FIELDS = ("run", "active_latents", "num_train", "num_test", "estimator", "disentanglement",
          "completeness", "informativeness_test", "wall_s")


def csv_path(size):
  return os.path.join(make_real_codes.DATA_DIR, f"dci_estimator_agreement_{size}.csv")


def codes_sets(args):
  """[(name, codes_train, factors_train, codes_test, factors_test, tree seed, active)]."""
  if args.size == "cpu_study" and not args.work_dir:
    return make_real_codes.load_codes(make_real_codes.CPU_STUDY_FILE)
  if not args.work_dir:
    sys.exit("--size reference needs --work_dir (the codes are not committed at that size)")
  first, last = (int(x) for x in args.runs.split(":"))
  sets = []
  for run in make_real_codes.study_runs()[first:last]:
    path = os.path.join(args.work_dir, run.name + ".npz")
    if not os.path.exists(path):
      continue
    with np.load(path, allow_pickle=False) as data:
      sets.append((run.name,) + tuple(data[f"{args.size}_{key}"] for key in (
          "codes_train", "factors_train", "codes_test", "factors_test"))
                  + (int(data[f"{args.size}_tree_seed"]), int(data["num_active"])))
  return sets


def lightgbm_dci(codes_train, factors_train, codes_test, factors_test):
  """DCI with LightGBM's boosted trees in the reference's settings, gain importances."""
  import lightgbm  # pylint: disable=import-outside-toplevel  (optional, not a dependency)
  models = []
  for j in range(factors_train.shape[1]):
    model = lightgbm.LGBMClassifier(n_estimators=100, learning_rate=0.1, max_depth=3,
                                    num_leaves=8, min_child_samples=1, importance_type="gain",
                                    random_state=0, verbose=-1, n_jobs=1)
    models.append(model.fit(codes_train, factors_train[:, j]))
  importance = np.stack([m.feature_importances_ / max(m.feature_importances_.sum(), 1e-300)
                         for m in models], axis=1)
  scores = dci.scores_from_importance(importance)
  scores["informativeness_test"] = float(np.mean(
      [np.mean(m.predict(codes_test) == factors_test[:, j]) for j, m in enumerate(models)]))
  return scores


def read_rows(path):
  if not os.path.exists(path):
    return []
  with open(path, newline="") as f:
    return list(csv.DictReader(f))


def write_rows(path, rows):
  tmp = path + ".tmp"
  with open(tmp, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=FIELDS)
    writer.writeheader()
    writer.writerows(rows)
  os.replace(tmp, path)


def summary(rows):
  """Lines: per estimator, rank correlation with the reference and largest differences."""
  by_estimator = {}
  for row in rows:
    by_estimator.setdefault(row["estimator"], {})[row["run"]] = row
  reference = by_estimator.get("reference", {})
  lines = []
  for estimator, runs in sorted(by_estimator.items()):
    if estimator == "reference":
      continue
    names = sorted(set(runs) & set(reference))
    if len(names) < 3:
      continue
    parts = [f"{estimator} vs reference over {len(names)} models:"]
    for key in ("disentanglement", "completeness", "informativeness_test"):
      ours = np.array([float(runs[n][key]) for n in names])
      ref = np.array([float(reference[n][key]) for n in names])
      rho = scipy.stats.spearmanr(ours, ref)[0]
      largest = np.argmax(np.abs(ours - ref))
      parts.append(f"{key}: Spearman {rho:.3f}, largest |difference| {abs(ours - ref)[largest]:.4f}"
                   f" ({names[largest]}: {ours[largest]:.4f} vs {ref[largest]:.4f}), mean "
                   f"difference {np.mean(ours - ref):+.4f}")
    speed = np.median([float(reference[n]["wall_s"]) / float(runs[n]["wall_s"]) for n in names])
    parts.append(f"median speed-up over the reference estimator: {speed:.1f}x")
    lines.append("\n  ".join(parts))
  return lines


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--size", choices=sorted(make_real_codes.SIZES), default="cpu_study")
  parser.add_argument("--work_dir", default="", help="make_real_codes.py's --work_dir")
  parser.add_argument("--runs", default="0:30", help="slice of the study's conv64 runs")
  parser.add_argument("--n_jobs", type=int, default=None, help="threads (default: all CPUs)")
  parser.add_argument("--lightgbm", action="store_true",
                      help="also LightGBM's boosted trees (needs lightgbm importable)")
  parser.add_argument("--summary_only", action="store_true", help="only summarize the CSV")
  args = parser.parse_args()
  path = csv_path(args.size)
  rows = read_rows(path)
  if not args.summary_only:
    print(f"CPU: {cpu_model()}; load average before: {load_average()}", flush=True)
    for name, *arrays, tree_seed, active in codes_sets(args):
      estimators = ["reference", "histogram"] + (["lightgbm"] if args.lightgbm else [])
      for estimator in estimators:
        start = time.perf_counter()
        if estimator == "lightgbm":
          with threadpoolctl.threadpool_limits(1, user_api="openmp"):
            scores = lightgbm_dci(*arrays)
        else:
          scores = dci.dci_from_arrays(*arrays, n_jobs=args.n_jobs, seed=tree_seed,
                                       estimator=estimator)
        row = {"run": name, "active_latents": active, "num_train": len(arrays[0]),
               "num_test": len(arrays[2]), "estimator": estimator,
               "wall_s": f"{time.perf_counter() - start:.2f}"}
        row.update({k: f"{scores[k]:.6f}" for k in FIELDS[5:8]})
        rows = [r for r in rows if (r["run"], r["estimator"]) != (name, estimator)] + [row]
        print(", ".join(f"{k}={v}" for k, v in row.items()), flush=True)
      write_rows(path, rows)
    print(f"load average after: {load_average()}")
  print("\n".join(summary(rows)))


if __name__ == "__main__":
  main()
