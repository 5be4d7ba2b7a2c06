"""Training throughput of the conv64 beta-VAE (64x64x1, batch 64, d = 10), against disent.

Times the compiled training step of the zoo's model (the step zoo-train runs) on a fixed batch,
for each posterior family, precision and XLA setting asked for, interleaved block by block so
that machine noise hits all alike. With `--peer_python`, every round also runs disent's
beta-VAE step (benchmarks/train_throughput_disent.py) or, with `--peer=torch`, the plain
PyTorch script (benchmarks/train_throughput_torch.py) in that interpreter, alternating with
ours, and prints the ratio of each round. `--plain_keras` adds a plain Keras step of the same
network (the overhead reference); `--pipeline` measures the procedural dSprites input pipeline
alone.

  .venv/bin/python benchmarks/train_throughput.py --rounds 3 --repeats 5 --steps 15 \\
      --precisions float32,mixed_bfloat16 --jit off --plain_keras --pipeline \\
      --peer_python /tmp/disent_venv/bin/python
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import keras
import numpy as np
import tensorflow as tf

from machine_info import cpu_model
from machine_info import load_average
from zoo import data as zoo_data
from zoo import models
from zoo import training
from zoo.networks import decoders
from zoo.networks import encoders
from zoo.training import checkpoints

HERE = os.path.dirname(os.path.abspath(__file__))
# The conv64 beta-VAE of the benchmark (64x64x1 dSprites, d = 10), as build_model's arguments.
MODEL = {"name": "beta_vae", "beta": 4.0, "latent_dim": 10, "encoder": "conv64",
         "decoder": "conv64"}
PEER_SCRIPTS = {"disent": "train_throughput_disent.py", "torch": "train_throughput_torch.py"}


def build_step(family, precision, jit_compile):
  """The zoo's compiled training step, as zoo-train builds it."""
  model, _ = checkpoints.build_checkpointed_model(
      zoo_data.get_dataset("dsprites"), dict(MODEL, posterior=family), 1e-4, precision)
  return tf.function(model.train_step_losses, jit_compile=jit_compile)


def build_plain_keras_step(precision):
  """The same networks, loss and optimizer written as a plain Keras 3 training step."""
  with models.dtype_policy(precision):
    encoder = keras.Sequential(encoders.conv64_trunk() + [
        keras.layers.Dense(256, activation="relu"), keras.layers.Dense(20, dtype="float32")])
    decoder = keras.Sequential(decoders.conv64_decoder_layers((64, 64, 1)))
    encoder.build((None, 64, 64, 1))
    decoder.build((None, 10))
    optimizer = keras.optimizers.Adam(1e-4)
  variables = encoder.trainable_variables + decoder.trainable_variables
  optimizer.build(variables)

  @tf.function
  def step(x):
    with tf.GradientTape() as tape:
      mean, log_var = tf.split(encoder(x, training=True), 2, axis=-1)
      z = mean + tf.exp(0.5 * log_var) * tf.random.normal(tf.shape(mean))
      logits = tf.cast(decoder(z, training=True), tf.float32)
      reconstruction = tf.reduce_mean(tf.reduce_sum(
          tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=logits), axis=[1, 2, 3]))
      kl = tf.reduce_mean(0.5 * tf.reduce_sum(
          tf.square(mean) + tf.exp(log_var) - 1.0 - log_var, axis=1))
      loss = reconstruction + 4.0 * kl
    optimizer.apply(tape.gradient(loss, variables), variables)
    return {"loss": loss}

  return step


def time_block(step, batch, steps):
  step(batch)["loss"].numpy()
  start = time.perf_counter()
  for _ in range(steps):
    logs = step(batch)
  logs["loss"].numpy()
  return steps * int(batch.shape[0]) / (time.perf_counter() - start)


def pipeline_rate(num_batches, batch_size=64):
  """Images per second the procedural dSprites pipeline delivers alone (64x64)."""
  data = zoo_data.get_dataset("dsprites")
  dataset = zoo_data.make_dataset(data, batch_size, seed=0)
  iterator = iter(dataset)
  for _ in range(5):  # let the parallel calls and the prefetch buffer fill
    next(iterator)
  start = time.perf_counter()
  for _ in range(num_batches):
    next(iterator)
  return num_batches * batch_size / (time.perf_counter() - start)


def peer_rates(python, peer, repeats, steps):
  script = os.path.join(HERE, PEER_SCRIPTS[peer])
  result = subprocess.run([python, script, "--repeats", str(repeats), "--steps", str(steps)],
                          capture_output=True, text=True, check=True)
  return json.loads(result.stdout.strip().splitlines()[-1])["images_per_second"]


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--rounds", type=int, default=1)
  parser.add_argument("--repeats", type=int, default=5, help="timed blocks per round")
  parser.add_argument("--steps", type=int, default=15, help="steps per block")
  parser.add_argument("--jit", choices=["on", "off", "both"], default="off")
  parser.add_argument("--precisions", default="float32")
  parser.add_argument("--families", default="factorized,full_covariance")
  parser.add_argument("--plain_keras", action="store_true")
  parser.add_argument("--pipeline", action="store_true")
  parser.add_argument("--peer_python", default=None)
  parser.add_argument("--peer", choices=sorted(PEER_SCRIPTS), default="disent")
  args = parser.parse_args()

  rng = np.random.RandomState(0)
  batch = tf.constant((rng.rand(64, 64, 64, 1) > 0.9).astype(np.float32))
  jit_modes = {"on": [True], "off": [False], "both": [False, True]}[args.jit]
  steps = {}
  with training.reproducible_graph_optimizations():  # as zoo-train runs them
    for family in args.families.split(","):
      for precision in args.precisions.split(","):
        for jit in jit_modes:
          steps[(family, precision, "XLA" if jit else "-")] = build_step(family, precision, jit)
    if args.plain_keras:
      for precision in args.precisions.split(","):
        steps[("plain Keras", precision, "-")] = build_plain_keras_step(precision)
    print(f"machine: {os.cpu_count()} CPUs, {cpu_model()}, load average {load_average()}; "
          f"TensorFlow {tf.__version__}, Keras {keras.__version__}", flush=True)
    rates = {key: [] for key in steps}
    round_ratios = []
    peer_all = []
    for round_index in range(args.rounds):
      ours = {key: [] for key in steps}
      for _ in range(args.repeats):
        for key, step in steps.items():
          ours[key].append(time_block(step, batch, args.steps))
      for key in steps:
        rates[key] += ours[key]
      line = f"round {round_index + 1}: " + ", ".join(
          f"{'/'.join(key)} {statistics.median(v):.0f}" for key, v in ours.items())
      if args.peer_python:
        peer = peer_rates(args.peer_python, args.peer, args.repeats, args.steps)
        peer_all += peer
        first = next(iter(steps))
        ratio = statistics.median(ours[first]) / statistics.median(peer)
        round_ratios.append({key: statistics.median(v) / statistics.median(peer)
                             for key, v in ours.items()})
        line += f"; {args.peer} {statistics.median(peer):.0f} ({'/'.join(first)} / {args.peer}"
        line += f" {ratio:.2f})"
      print(line, flush=True)

  print(f"\n{'step':<16} {'precision':<15} {'XLA':<4} {'median img/s':>12}   all blocks")
  medians = {}
  for key, values in rates.items():
    medians[key] = statistics.median(values)
    print(f"{key[0]:<16} {key[1]:<15} {key[2]:<4} {medians[key]:>12.0f}   "
          + ", ".join(f"{v:.0f}" for v in values))
  for precision in args.precisions.split(","):
    for jit in {key[2] for key in steps}:
      pair = [("full_covariance", precision, jit), ("factorized", precision, jit)]
      if all(p in medians for p in pair):
        print(f"full_covariance / factorized ({precision}, XLA {jit}): "
              f"{medians[pair[0]] / medians[pair[1]]:.3f}")
      plain = ("plain Keras", precision, "-")
      if plain in medians and ("factorized", precision, jit) in medians:
        print(f"factorized / plain Keras ({precision}, XLA {jit}): "
              f"{medians[('factorized', precision, jit)] / medians[plain]:.3f}")
  if args.peer_python:
    print(f"{args.peer}: median {statistics.median(peer_all):.0f} img/s ("
          + ", ".join(f"{v:.0f}" for v in peer_all) + ")")
    for key in steps:
      per_round = [r[key] for r in round_ratios]
      print(f"{'/'.join(key)} / {args.peer}: rounds " + ", ".join(f"{r:.2f}" for r in per_round)
            + f", median {statistics.median(per_round):.2f}")
  if args.pipeline:
    pipeline = [pipeline_rate(200) for _ in range(3)]
    print(f"input pipeline alone (procedural dSprites 64x64, batch 64): median "
          f"{statistics.median(pipeline):.0f} img/s (" + ", ".join(f"{v:.0f}" for v in pipeline)
          + ")")


if __name__ == "__main__":
  sys.exit(main())
