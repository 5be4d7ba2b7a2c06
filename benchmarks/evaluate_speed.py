"""zoo-evaluate --metrics=all on a trained conv64 export: per-metric and total wall time, peak
memory, and disentanglement_lib 1.5's sequential time on the same export, data and seeds.

The export: `--export DIR`, or (default) the `make demo` beta-VAE (gin_configs/demo.gin,
procedural 64x64 dSprites, conv64, 10 latents) trained for `--train_steps` and exported under
`--work_dir` the first time (reused afterwards). Sizes: the reference study's (the metrics'
defaults) unless `--gin_config` names a settings file (gin_configs/demo_evaluation.gin for the
demo's). zoo-evaluate runs as its own process; its peak RSS is that process's (the worker
processes of some metrics have their own, not included).

The reference: where `--reference_python` exists (default /tmp/dlib_venv/bin/python),
benchmarks/evaluate_speed_reference.py runs disentanglement_lib 1.5's metrics in that
environment with the settings zoo-evaluate recorded, one after another, and the table adds
their times and the ratio. Make that environment once (never install it into .venv):

  python3 -m venv /tmp/dlib_venv
  /tmp/dlib_venv/bin/pip install --no-deps disentanglement-lib==1.5
  /tmp/dlib_venv/bin/pip install tensorflow==2.21.0 numpy==2.4.6 scikit-learn==1.9.1 \
      scipy==1.17.1 gin-config==0.5.0 absl-py six pandas==2.3.3 simplejson matplotlib seaborn
  /tmp/dlib_venv/bin/pip install tensorflow-probability==0.25.0 tf-keras==2.21.0

(the last line because the reference script draws the data through `zoo.data`, and importing
`zoo` loads the posteriors, which need TensorFlow Probability; the reference's metric modules
use neither.)

Numbers: the keys whose estimator is the same on both sides (FactorVAE accuracies, MIG, IRS,
the unsupervised scores, modularity) are compared and the largest difference printed; the
others differ by the documented classifier choices (README, "Metrics"): the reference's
`LogisticRegression()` and `LinearSVC()` defaults changed in the scikit-learn it runs on, and its
boosted trees are unseeded.

  .venv/bin/python benchmarks/evaluate_speed.py                       # reference sizes
  .venv/bin/python benchmarks/evaluate_speed.py --gin_config gin_configs/demo_evaluation.gin
"""
import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from machine_info import cpu_model  # noqa: E402
from machine_info import load_average  # noqa: E402
from machine_info import usable_cores  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
VENV_BIN = os.path.join(ROOT, ".venv", "bin")
# Keys computed by the same estimator on both sides (no classifier involved).
COMPARED_KEYS = {
    "factor_vae": ["train_accuracy", "eval_accuracy"],
    "mig": ["discrete_mig"],
    "irs": ["IRS"],
    "unsupervised": ["gaussian_total_correlation", "gaussian_wasserstein_correlation",
                     "gaussian_wasserstein_correlation_norm", "mutual_info_score"],
    "modularity_explicitness": ["modularity_score"],
}


def run_measured(command, log_path):
  """Runs command, output to log_path; returns (wall seconds, peak RSS MiB of the process,
  CPU seconds of the process and the worker processes it waited for)."""
  start = time.time()
  with open(log_path, "w") as log:
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    _, status, usage = os.wait4(process.pid, 0)
  wall = time.time() - start
  if os.waitstatus_to_exitcode(status) != 0:
    sys.exit(f"{' '.join(command)} failed; see {log_path}")
  return wall, usage.ru_maxrss / 1024.0, usage.ru_utime + usage.ru_stime


def ensure_export(work_dir, train_steps):
  export = os.path.join(work_dir, "export")
  if os.path.isdir(export):
    return export
  model_dir = os.path.join(work_dir, "model")
  print(f"training the demo beta-VAE for {train_steps} steps into {model_dir} ...", flush=True)
  run_measured([os.path.join(VENV_BIN, "zoo-train"), f"--model_dir={model_dir}",
                "--gin_config=gin_configs/demo.gin",
                f"--gin_bindings=training.num_steps={train_steps}"],
               os.path.join(work_dir, "train.log"))
  run_measured([os.path.join(VENV_BIN, "zoo-export"), f"--model_dir={model_dir}",
                f"--export_dir={export}"], os.path.join(work_dir, "export.log"))
  return export


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--work_dir", default="/tmp/evaluate_speed")
  parser.add_argument("--export", default=None, help="default: train one under --work_dir")
  parser.add_argument("--train_steps", type=int, default=1500)
  parser.add_argument("--gin_config", default=None, help="metric settings; default reference")
  parser.add_argument("--metrics", default="all")
  parser.add_argument("--seed", type=int, default=0)
  parser.add_argument("--reference_python", default="/tmp/dlib_venv/bin/python")
  args = parser.parse_args()
  os.makedirs(args.work_dir, exist_ok=True)
  export = args.export or ensure_export(args.work_dir, args.train_steps)
  output_dir = os.path.join(args.work_dir, "evaluation")
  load_before = load_average()
  command = [os.path.join(VENV_BIN, "zoo-evaluate"), f"--saved_model={export}",
             f"--output_dir={output_dir}", f"--metrics={args.metrics}", f"--seed={args.seed}"]
  if args.gin_config:
    command.append(f"--gin_config={args.gin_config}")
  print(" ".join(command), flush=True)
  wall, peak_mib, cpu = run_measured(command, os.path.join(args.work_dir, "evaluate.log"))
  with open(os.path.join(output_dir, "results.json")) as f:
    ours = json.load(f)
  load_middle = load_average()

  reference = {}
  if os.path.exists(args.reference_python):
    reference_out = os.path.join(args.work_dir, "reference.json")
    reference_command = [args.reference_python,
                         os.path.join(ROOT, "benchmarks", "evaluate_speed_reference.py"),
                         f"--export={export}", f"--results={os.path.join(output_dir, 'results.json')}",
                         f"--output={reference_out}"]
    print(" ".join(reference_command), flush=True)
    reference_wall, reference_mib, reference_cpu = run_measured(
        reference_command, os.path.join(args.work_dir, "reference.log"))
    with open(reference_out) as f:
      reference = json.load(f)
  load_after = load_average()

  names = sorted({k.split(".")[0] for k in ours if k.endswith(".elapsed_seconds")})
  print(f"\nMachine: {cpu_model()}, {usable_cores()} usable cores. Load average (1, 5, 15 min) "
        f"before: {load_before}, after ours: {load_middle}, after the reference: {load_after}.")
  print(f"Export: {export}; settings: {args.gin_config or 'reference defaults'}; "
        f"seed {args.seed}.\n")
  print("| metric | zoo wall (s) | reference wall (s) | zoo / reference | same-estimator keys: "
        "largest difference |")
  print("|---|---|---|---|---|")
  ours_shared = reference_total = 0.0
  for name in names:
    seconds = ours[f"{name}.elapsed_seconds"]
    row = f"| {name} | {seconds:.1f} |"
    if name in reference and "error" in reference[name]:
      row += f" failed ({reference[name]['error'][:60]}) | | |"
    elif name in reference:
      ref = reference[name]["seconds"]
      ours_shared += seconds
      reference_total += ref
      differences = [abs(ours[f"{name}.{key}"] - reference[name]["scores"][key])
                     for key in COMPARED_KEYS.get(name, ())
                     if key in reference[name]["scores"]]
      compared = f"{max(differences):.1e}" if differences else ""
      row += f" {ref:.1f} | {seconds / ref:.2f} | {compared} |"
    else:
      row += " (none) | | |"
    print(row)
  print(f"| **all metrics, zoo-evaluate process** | **{wall:.1f}** (CPU {cpu:.0f} s, peak RSS "
        f"{peak_mib:.0f} MiB) | | | |")
  if reference:
    print(f"| **metrics with a reference** | **{ours_shared:.1f}** | **{reference_total:.1f}** "
          f"(process {reference_wall:.1f} s, CPU {reference_cpu:.0f} s, peak RSS "
          f"{reference_mib:.0f} MiB) | "
          f"**{ours_shared / reference_total:.2f}** | |")
  else:
    print(f"\n(no reference: {args.reference_python} does not exist)")


if __name__ == "__main__":
  main()
