"""Training throughput of the conv64 beta-VAE (64x64x1, batch 64, d=10), default strategy.

Measures images per second of the compiled training step for the factorized and the
full-covariance posterior, interleaving the two so machine noise hits both alike, and reports
the median of several timed blocks. `--with_pipeline` also times the full path from the
procedural dSprites tf.data pipeline.

  .venv/bin/python benchmarks/train_throughput.py --repeats 5 --steps 20
"""
import argparse
import os
import statistics
import time

import gin
import keras
import numpy as np
import tensorflow as tf

from machine_info import cpu_model
from zoo import data as zoo_data
from zoo import models
import zoo.all_configurables  # noqa: F401

BINDINGS = [
    "model.name = 'beta_vae'",
    "beta_vae.beta = 4.0",
    "model.latent_dim = 10",
    "encoder.kind = 'conv64'",
    "decoder.kind = 'conv64'",
]


def build_step(family, jit_compile):
  gin.clear_config()
  gin.parse_config(BINDINGS + [f"posterior.name = '{family}'"])
  model = models.build_model((64, 64, 1))
  model.compile(optimizer=keras.optimizers.Adam(1e-4))
  model.build_all()
  return tf.function(model.train_step, jit_compile=jit_compile)


def time_block(step, batch, steps):
  step(batch)["loss"].numpy()
  start = time.perf_counter()
  for _ in range(steps):
    logs = step(batch)
  logs["loss"].numpy()
  return steps * int(batch.shape[0]) / (time.perf_counter() - start)


def pipeline_rate(step, steps, batch_size=64):
  data = zoo_data.get_dataset("dsprites")
  iterator = iter(zoo_data.make_dataset(data, batch_size, seed=0))
  step(next(iterator))["loss"].numpy()
  start = time.perf_counter()
  for _ in range(steps):
    logs = step(next(iterator))
  logs["loss"].numpy()
  return steps * batch_size / (time.perf_counter() - start)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--repeats", type=int, default=5)
  parser.add_argument("--steps", type=int, default=20)
  parser.add_argument("--jit", choices=["on", "off", "both"], default="both")
  parser.add_argument("--with_pipeline", action="store_true")
  args = parser.parse_args()

  rng = np.random.RandomState(0)
  batch = tf.constant((rng.rand(64, 64, 64, 1) > 0.9).astype(np.float32))
  jit_modes = {"on": [True], "off": [False], "both": [False, True]}[args.jit]
  steps = {(f, j): build_step(f, j) for f in ("factorized", "full_covariance")
           for j in jit_modes}
  rates = {key: [] for key in steps}
  for _ in range(args.repeats):
    for key, step in steps.items():
      rates[key].append(time_block(step, batch, args.steps))

  print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}; TensorFlow {tf.__version__}, "
        f"Keras {keras.__version__}")
  print(f"{'posterior':<16} {'XLA':<4} {'median img/s':>12}   all runs")
  medians = {}
  for (family, jit), values in rates.items():
    medians[(family, jit)] = statistics.median(values)
    print(f"{family:<16} {'on' if jit else 'off':<4} {medians[(family, jit)]:>12.0f}   "
          + ", ".join(f"{v:.0f}" for v in values))
  for jit in jit_modes:
    ratio = medians[("full_covariance", jit)] / medians[("factorized", jit)]
    print(f"full_covariance / factorized (XLA {'on' if jit else 'off'}): {ratio:.3f}")
  if args.with_pipeline:
    jit = jit_modes[-1]
    rate = pipeline_rate(steps[("factorized", jit)], args.steps * 2)
    print(f"factorized with the procedural dSprites pipeline (XLA {'on' if jit else 'off'}): "
          f"{rate:.0f} img/s")


if __name__ == "__main__":
  main()
