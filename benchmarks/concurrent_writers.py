"""Two writers of one target at once: does exactly one win, with complete files of its own?

  .venv/bin/python benchmarks/concurrent_writers.py --trials 10

Trains two tiny runs once (the MLP beta-VAE on linear_gaussian of the fault-injection tests,
one with the factorized posterior, one with correlated noise) and exports both. Each trial
starts two processes of one tool at the same moment, one per model, writing the same target:

  export      zoo-export --model_dir=RUN_k --export_dir=TARGET
  evaluate    zoo-evaluate --saved_model=EXPORT_k --output_dir=TARGET --metrics=mig,dci
  visualize   zoo-visualize --saved_model=EXPORT_k --output_dir=TARGET

and checks that exactly one exits 0, that the other exits non-zero with one error line and no
success line, and that what is published is complete and the winner's (the export loads and
its metadata names the winner's posterior; results.json parses and `evaluated` names the
winner's export; every file pictures.json lists has the listed size, and its `model` names the
winner's export). Prints one line per trial, the counts per tool, and exits 1 if any trial
failed.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))

from machine_info import cpu_model  # noqa: E402
from tiny_mlp import TINY_RUN_BINDINGS  # noqa: E402

FAMILIES = ("factorized", "correlated_noise")
METRIC_BINDINGS = ["mig.num_train = 2000", "dci.num_train = 1000", "dci.num_test = 500"]


def run(argv):
  result = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, check=False)
  if result.returncode != 0:
    raise RuntimeError(f"{' '.join(argv[:4])} failed: {result.stderr[-2000:]}")


def prepare(root):
  """{family: (model_dir, export_dir)} of the two tiny runs."""
  sources = {}
  for family in FAMILIES:
    model_dir = os.path.join(root, f"{family}_run")
    export_dir = os.path.join(root, f"{family}_export")
    bindings = TINY_RUN_BINDINGS + ["training.num_steps = 200", f"posterior.name = '{family}'",
                                    "correlated_noise.rho = 0.5"]
    run([sys.executable, "-m", "binaries.train_main", f"--model_dir={model_dir}",
         *[f"--gin_bindings={b}" for b in bindings]])
    run([sys.executable, "-m", "binaries.export_main", f"--model_dir={model_dir}",
         f"--export_dir={export_dir}"])
    sources[family] = (model_dir, export_dir)
  return sources


def command(tool, source, target):
  model_dir, export_dir = source
  if tool == "export":
    return [sys.executable, "-m", "binaries.export_main", f"--model_dir={model_dir}",
            f"--export_dir={target}"]
  if tool == "evaluate":
    return [sys.executable, "-m", "binaries.evaluate_main", f"--saved_model={export_dir}",
            f"--output_dir={target}", "--metrics=mig,dci",
            *[f"--gin_bindings={b}" for b in METRIC_BINDINGS]]
  return [sys.executable, "-m", "binaries.visualize_main", f"--saved_model={export_dir}",
          f"--output_dir={target}", "--num_points=500"]


SUCCESS_LINE = {"export": "[zoo-export] wrote", "evaluate": "[zoo-evaluate] results in",
                "visualize": "[zoo-visualize] index in"}


def published_by(tool, target, sources):
  """The family whose files are published at target (checking they are complete), or why not."""
  if tool == "export":
    from export import loader  # pylint: disable=g-import-not-at-top  (TensorFlow: only here)
    family = loader.load(target).metadata["posterior_family"]
    return family if family in FAMILIES else f"unknown family {family}"
  if tool == "evaluate":
    with open(os.path.join(target, "results.json")) as f:
      results = json.load(f)
    if "mig.discrete_mig" not in results or "dci.disentanglement" not in results:
      return "results.json lacks a metric"
    evaluated = results["evaluated"]
  else:
    with open(os.path.join(target, "pictures.json")) as f:
      index = json.load(f)
    for name, size in index["files"].items():
      if os.path.getsize(os.path.join(target, name)) != size:
        return f"{name} has another size than pictures.json says"
    evaluated = index["model"]
  found = [family for family, (_, export_dir) in sources.items() if export_dir in evaluated]
  return found[0] if len(found) == 1 else f"names no single source: {evaluated}"


def trial(tool, sources, target):
  """(True, description) for a trial with one winner and complete files of its own."""
  processes = {family: subprocess.Popen(  # pylint: disable=consider-using-with
      command(tool, source, target), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
      text=True, cwd=REPO) for family, source in sources.items()}
  outcomes = {}
  for family, process in processes.items():
    stdout, stderr = process.communicate()
    outcomes[family] = (process.returncode, stdout, stderr)
  winners = [family for family, (code, _, _) in outcomes.items() if code == 0]
  if len(winners) != 1:
    return False, f"{len(winners)} processes exited 0"
  loser = next(family for family in outcomes if family != winners[0])
  code, stdout, stderr = outcomes[loser]
  error = stderr.strip().splitlines()[-1] if stderr.strip() else ""
  if SUCCESS_LINE[tool] in stdout or "Traceback" in stderr or ": error: " not in error:
    return False, f"the loser ({loser}, exit {code}) did not end in one error line: {error}"
  owner = published_by(tool, target, sources)
  if owner != winners[0]:
    return False, f"published files: {owner}, winner {winners[0]}"
  how = ("refused by the lock" if "is writing it" in error else
         "the first to finish won" if ("was written by another" in error
                                       or "already exists" in error) else "other")
  return True, f"winner {winners[0]}; loser exit {code}, {how}: {error[:100]}"


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--trials", type=int, default=10)
  parser.add_argument("--tools", default="export,evaluate,visualize")
  args = parser.parse_args()
  root = tempfile.mkdtemp(prefix="concurrent_writers_")
  try:
    print(f"# {cpu_model()}, load average {os.getloadavg()[0]:.2f} at the start")
    sources = prepare(root)
    counts, ways = {}, {}
    for tool in args.tools.split(","):
      counts[tool] = 0
      for k in range(args.trials):
        target = os.path.join(root, f"{tool}_target_{k}")
        start = time.time()
        ok, what = trial(tool, sources, target)
        counts[tool] += ok
        if ok:
          way = what.split(", ", 1)[1].split(":", 1)[0]
          ways.setdefault(tool, {}).setdefault(way, 0)
          ways[tool][way] += 1
        print(f"{tool:9s} trial {k + 1:2d}: {'ok  ' if ok else 'FAIL'} {time.time() - start:5.1f} s"
              f"  {what}", flush=True)
    print(f"# load average {os.getloadavg()[0]:.2f} at the end")
    for tool, count in counts.items():
      how = ", ".join(f"{n} {way}" for way, n in sorted(ways.get(tool, {}).items()))
      print(f"{tool}: {count} of {args.trials} trials with exactly one success, the loser "
            f"non-zero and the winner's complete files published ({how})")
    return 0 if all(count == args.trials for count in counts.values()) else 1
  finally:
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
  sys.exit(main())
