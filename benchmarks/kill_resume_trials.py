"""kill -9 at random moments of a training run, then resume: is every rerun the uninterrupted run?

  .venv/bin/python benchmarks/kill_resume_trials.py --trials 20

Trains a reference run to --num_steps once. Each trial starts the same run in a fresh
model_dir with `zoo-train`, kills it with SIGKILL after a random delay (uniform between the
first checkpoint and the reference run's duration), notes the newest intact checkpoint left
behind, reruns the same command, and checks that the rerun
  * resumed from that checkpoint (its "resuming from" line, or a fresh start if none was left),
  * ended at --num_steps with every variable of its final checkpoint bitwise equal to the
    reference's.
Prints one line per trial and a summary; exits 1 if any trial failed. The model is the tiny MLP
beta-VAE on linear_gaussian the fault-injection tests use, so a trial takes seconds.
"""
import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import tensorflow as tf

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))

from machine_info import cpu_model  # noqa: E402
from tiny_mlp import TINY_RUN_BINDINGS  # noqa: E402
from zoo.training import checkpoints  # noqa: E402

BINDINGS = TINY_RUN_BINDINGS + ["training.log_every = 500"]


def command(model_dir, num_steps, checkpoint_every):
  argv = [sys.executable, "-m", "binaries.train_main", f"--model_dir={model_dir}"]
  return argv + [f"--gin_bindings={b}" for b in BINDINGS + [
      f"training.num_steps = {num_steps}", f"training.checkpoint_every = {checkpoint_every}"]]


def final_variables(model_dir):
  path = tf.train.latest_checkpoint(checkpoints.checkpoint_dir(model_dir))
  reader = tf.train.load_checkpoint(path)
  return path, {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
                if "save_counter" not in name and name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def newest_intact(model_dir):
  try:
    step, _, _ = checkpoints.newest_intact(checkpoints.checkpoint_dir(model_dir),
                                           lambda line: None, "trial")
  except checkpoints.NoUsableCheckpoint:
    return "none intact"
  return step


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--trials", type=int, default=20)
  parser.add_argument("--num_steps", type=int, default=3000)
  parser.add_argument("--checkpoint_every", type=int, default=25)
  parser.add_argument("--seed", type=int, default=0, help="seeds the kill delays")
  args = parser.parse_args()
  root = tempfile.mkdtemp(prefix="kill_resume_")
  print(f"CPU: {cpu_model()}; {args.trials} trials, {args.num_steps} steps, a checkpoint every "
        f"{args.checkpoint_every}; scratch {root}", flush=True)
  reference = os.path.join(root, "reference")
  start = time.time()
  subprocess.run(command(reference, args.num_steps, args.checkpoint_every), cwd=REPO,
                 check=True, capture_output=True)
  duration = time.time() - start
  _, expected = final_variables(reference)
  print(f"reference run: {duration:.1f} s", flush=True)
  rng = random.Random(args.seed)
  failures = 0
  for trial in range(args.trials):
    model_dir = os.path.join(root, f"trial_{trial}")
    process = subprocess.Popen(command(model_dir, args.num_steps, args.checkpoint_every),  # pylint: disable=consider-using-with
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # TensorFlow's start-up takes most of the first seconds: aim the kills at training time.
    directory = checkpoints.checkpoint_dir(model_dir)
    while process.poll() is None and not checkpoints.list_checkpoints(directory):
      time.sleep(0.01)
    time.sleep(rng.uniform(0.0, max(0.1, duration - 5.0)))
    process.send_signal(signal.SIGKILL)
    process.wait()
    left = newest_intact(model_dir)
    rerun = subprocess.run(command(model_dir, args.num_steps, args.checkpoint_every), cwd=REPO,
                           capture_output=True, text=True)
    problems = []
    if rerun.returncode != 0:
      problems.append(f"rerun failed: {rerun.stderr.strip().splitlines()[-1:]}")
    else:
      if left == args.num_steps:
        expected_line = "nothing to do"
      elif isinstance(left, int):
        expected_line = f"resuming from {checkpoints.checkpoint_path(directory, left)} "
      else:
        expected_line = None
      if expected_line and expected_line not in rerun.stdout:
        problems.append(f"did not resume from the newest intact checkpoint ({left})")
      path, found = final_variables(model_dir)
      if checkpoints.checkpoint_step(path) != args.num_steps:
        problems.append(f"ended at {path}")
      differing = [name for name in expected
                   if name not in found or not np.array_equal(found[name], expected[name])]
      if differing:
        problems.append(f"{len(differing)} variables differ from the reference")
    failures += bool(problems)
    print(f"trial {trial + 1:2d}: killed with {left} as the newest intact checkpoint; "
          + ("; ".join(problems) if problems else "resumed and bitwise equal"), flush=True)
    shutil.rmtree(model_dir)
  print(f"{args.trials - failures} of {args.trials} trials resumed from the newest intact "
        f"checkpoint and ended bitwise equal to the uninterrupted run")
  shutil.rmtree(root)
  sys.exit(1 if failures else 0)


if __name__ == "__main__":
  main()
