"""What zoo-train's default callbacks cost a default run: the conv64 beta-VAE (64x64 dSprites,
batch 64, d = 10).

zoo-train writes images (`image_summaries.*`, every IMAGE_EVERY_N_STEPS steps) and metrics
(`metric_summaries.*`, every METRIC_EVERY_N_STEPS) with the callbacks `gin_edge.training.
summary_callbacks` makes from the default bindings. Per round this times a block of training
steps (the compiled step zoo-train runs, on a fixed batch, so the input pipeline is left out and
the fraction comes out on the high side) and one firing of each callback, and reports

  overhead = (image firing / image period + metric firing / metric period) / step time,

the share of a default run's time the callbacks take, with the first firing of each (which also
draws the callback's fixed sample, once per run) apart. `--end_to_end_steps N` also trains
zoo-train's loop N steps with and without the callbacks, alternately, and compares the wall
times (N = 1000 is a default run: images at 500 and 1000, metrics at 1000).

  .venv/bin/python benchmarks/callback_overhead.py --rounds 5 --steps 20
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import gin
import keras
import numpy as np
import tensorflow as tf

from machine_info import cpu_model
from machine_info import load_average
from gin_edge import configurables
from gin_edge import training as gin_training
from zoo import data as zoo_data
from zoo import training
from zoo.training import checkpoints

MODEL = {"name": "beta_vae", "beta": 4.0, "latent_dim": 10, "posterior": "factorized",
         "encoder": "conv64"}


def time_steps(step, batch, steps):
  """Seconds per training step (after one untimed step)."""
  step(batch)["loss"].numpy()
  start = time.perf_counter()
  for _ in range(steps):
    logs = step(batch)
  logs["loss"].numpy()
  return (time.perf_counter() - start) / steps


def time_firing(callback, model, step):
  """Seconds one firing of `callback` takes at global step `step`."""
  model.optimizer.iterations.assign(step)
  start = time.perf_counter()
  callback.on_train_batch_end(step - 1)
  return time.perf_counter() - start


def end_to_end(num_steps, with_callbacks, root):
  """Wall seconds of zoo.training.train for num_steps, the default callbacks on or off."""
  model_dir = tempfile.mkdtemp(dir=root)
  found = gin_training.summary_callbacks(model_dir) if with_callbacks else []
  start = time.perf_counter()
  training.train(model_dir, MODEL, {"name": "dsprites"}, num_steps=num_steps, batch_size=64,
                 learning_rate=1e-4, checkpoint_every=num_steps, log_every=100,
                 callbacks=found, log_fn=lambda line: None)
  return time.perf_counter() - start


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=5)
  parser.add_argument("--steps", type=int, default=20, help="timed training steps per round")
  parser.add_argument("--end_to_end_steps", type=int, default=0)
  parser.add_argument("--end_to_end_rounds", type=int, default=2)
  args = parser.parse_args()

  gin.clear_config()
  data = zoo_data.get_dataset("dsprites")
  keras.utils.set_random_seed(0)
  model, _ = checkpoints.build_checkpointed_model(data, MODEL, 1e-4)
  batch = tf.constant(data.sample_observations(64, np.random.RandomState(0)))
  root = tempfile.mkdtemp(prefix="callback_overhead_")
  image_callback, metric_callback = gin_training.summary_callbacks(root)
  for callback in (image_callback, metric_callback):
    callback.set_model(model)
    callback.set_ground_truth_data(data)
    callback.on_train_begin()
  image_period, metric_period = image_callback.every_n_steps, metric_callback.every_n_steps
  print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, load average {load_average()}; "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}", flush=True)
  print(f"defaults: images every {image_period} steps ({image_callback.num_images} inputs, "
        f"{image_callback.traversal_steps} traversal steps, {image_callback.num_prior_samples} "
        f"prior samples), metrics every {metric_period} steps ({metric_callback.num_points} "
        f"points, {configurables.METRIC_SETTINGS})", flush=True)

  step = tf.function(model.train_step_losses)
  with training.reproducible_graph_optimizations():
    first_image = time_firing(image_callback, model, image_period)
    first_metric = time_firing(metric_callback, model, metric_period)
    step_seconds, image_seconds, metric_seconds, overheads = [], [], [], []
    for round_index in range(args.rounds):
      step_seconds.append(time_steps(step, batch, args.steps))
      image_seconds.append(time_firing(image_callback, model, (round_index + 2) * image_period))
      metric_seconds.append(time_firing(metric_callback, model,
                                        (round_index + 2) * metric_period))
      overheads.append((image_seconds[-1] / image_period + metric_seconds[-1] / metric_period)
                       / step_seconds[-1])
      print(f"round {round_index + 1}: step {1000 * step_seconds[-1]:.1f} ms "
            f"({64 / step_seconds[-1]:.0f} img/s), image firing {image_seconds[-1]:.3f} s, "
            f"metric firing {metric_seconds[-1]:.3f} s, overhead {100 * overheads[-1]:.2f}%",
            flush=True)
  step_median = statistics.median(step_seconds)
  first_share = (first_image - statistics.median(image_seconds)
                 + first_metric - statistics.median(metric_seconds)) / (1000 * step_median)
  print(f"\nmedian over {args.rounds} rounds: step {1000 * step_median:.1f} ms, image firing "
        f"{statistics.median(image_seconds):.3f} s, metric firing "
        f"{statistics.median(metric_seconds):.3f} s; overhead of the default callbacks "
        f"{100 * statistics.median(overheads):.2f}% of a run's time (rounds: "
        + ", ".join(f"{100 * o:.2f}%" for o in overheads) + ")")
  print(f"first firings (fixed samples drawn): image {first_image:.3f} s, metric "
        f"{first_metric:.3f} s: once per run, {100 * first_share:.2f}% more of a 1000-step run")

  if args.end_to_end_steps:
    times = {True: [], False: []}
    for _ in range(args.end_to_end_rounds):
      for with_callbacks in (False, True):
        times[with_callbacks].append(end_to_end(args.end_to_end_steps, with_callbacks, root))
    off, on = statistics.median(times[False]), statistics.median(times[True])
    print(f"end to end, {args.end_to_end_steps} steps: without callbacks {off:.1f} s "
          f"({', '.join(f'{t:.1f}' for t in times[False])}), with the defaults {on:.1f} s "
          f"({', '.join(f'{t:.1f}' for t in times[True])}): {100 * (on / off - 1):+.2f}%")
  print(f"load average at the end: {load_average()}")


if __name__ == "__main__":
  sys.exit(main())
