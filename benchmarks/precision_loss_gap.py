"""Does mixed precision train the demo model as well as float32, and what does determinism cost?

Trains `gin_configs/demo.gin` (conv64 beta-VAE on 64x64 procedural dSprites, batch 64) for
`--steps` steps once per precision and seed, with the same seed and data order, and prints the
final training loss of each (the mean over the last `training.log_every` = 100 steps) and the
relative gap of every precision to float32's. With `--deterministic_steps N`, it then times N
float32 steps with `training.deterministic = True` against N without (op determinism: the
cost a user pays for bitwise-reproducible runs off the CPU). Op determinism stays on for the
rest of a process, so each of those runs is its own process, alternating.

  .venv/bin/python benchmarks/precision_loss_gap.py --steps 2000 --seeds 0,1 \
      --precisions float32,mixed_bfloat16 --deterministic_steps 500
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

from absl import logging as absl_logging
import gin

from machine_info import cpu_model
from machine_info import load_average
from common import cli
from gin_edge import training as gin_training  # registers every gin configurable

DEMO = "demo.gin"  # the shipped `make demo` configuration (cli.parse_gin finds it)


def train_demo(model_dir, bindings):
  """Final training results of the demo model with `bindings` added."""
  gin.clear_config()
  cli.parse_gin([DEMO], ["training.checkpoint_every = 100000"] + list(bindings))
  return gin_training.train(model_dir, log_fn=lambda line: None)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--steps", type=int, default=2000)
  parser.add_argument("--seeds", default="0")
  parser.add_argument("--precisions", default="float32,mixed_bfloat16")
  parser.add_argument("--deterministic_steps", type=int, default=0)
  parser.add_argument("--one_run", default="", help=argparse.SUPPRESS)  # "DIR|True|STEPS"
  args = parser.parse_args()
  absl_logging.set_verbosity(absl_logging.ERROR)
  if args.one_run:
    model_dir, deterministic, steps = args.one_run.split("|")
    results = train_demo(model_dir, [f"training.num_steps = {steps}",
                                     f"training.deterministic = {deterministic}"])
    print("RESULT " + json.dumps(results["images_per_second"]))
    return
  precisions = args.precisions.split(",")
  if precisions[0] != "float32":
    raise SystemExit("--precisions: the first must be float32 (the gaps are relative to it)")
  print(f"CPU: {cpu_model()}, load {load_average()}", flush=True)
  work = tempfile.mkdtemp(prefix="precision_loss_gap_")
  try:
    losses = {p: [] for p in precisions}
    for seed in [int(s) for s in args.seeds.split(",")]:
      for precision in precisions:
        results = train_demo(os.path.join(work, f"{precision}_{seed}"),
                             [f"training.num_steps = {args.steps}", f"training.seed = {seed}",
                              f"training.precision = '{precision}'"])
        losses[precision].append(results["loss.loss"])
        gap = (results["loss.loss"] / losses["float32"][-1] - 1) * 100
        print(f"seed {seed} {precision}: loss after {args.steps} steps "
              f"{results['loss.loss']:.3f} (reconstruction "
              f"{results.get('loss.reconstruction', float('nan')):.3f}), "
              f"{results['images_per_second']:.0f} img/s, {gap:+.2f}% vs float32, "
              f"load {load_average()}", flush=True)
    for precision in precisions[1:]:
      gaps = [(low / high - 1) * 100 for low, high in zip(losses[precision], losses["float32"])]
      print(f"{precision} vs float32: loss gaps {', '.join(f'{g:+.2f}%' for g in gaps)} "
            f"(median {statistics.median(gaps):+.2f}%)")
    if args.deterministic_steps:
      rates = {}
      for deterministic in (False, True, False, True):
        model_dir = os.path.join(work, f"det_{deterministic}_{len(rates.get(deterministic, []))}")
        output = subprocess.run(
            [sys.executable, __file__,
             f"--one_run={model_dir}|{deterministic}|{args.deterministic_steps}"],
            check=True, capture_output=True, text=True).stdout
        rate = json.loads(output.split("RESULT ")[-1])
        rates.setdefault(deterministic, []).append(rate)
        print(f"deterministic={deterministic}: {rate:.0f} img/s", flush=True)
      print(f"op determinism: {statistics.median(rates[True]):.0f} vs "
            f"{statistics.median(rates[False]):.0f} img/s "
            f"({statistics.median(rates[True]) / statistics.median(rates[False]):.2f}x)")
  finally:
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
  main()
