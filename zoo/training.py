"""The training loop behind `zoo-train`: checkpoints, resumption, summaries, results.

Outputs in `model_dir`:
  checkpoints/            tf.train checkpoints of the model and its optimizers (last few kept)
  operative_config.gin    the gin configuration the run used
  summaries/              TensorBoard scalars: every loss term and the KL of each latent
  train_results.json      final step, final losses, wall time, images per second

A checkpoint's index is only published (the `checkpoint` state file is replaced atomically) once
its files are written, so a process killed mid-save leaves the previous checkpoint usable.
"""
import json
import os
import time

import gin
import keras
import numpy as np
import tensorflow as tf

from zoo import checkpoints
from zoo import data as zoo_data
from zoo import distribute
from zoo import validation
from zoo.io_utils import format_duration, write_json_atomically


class TrainingDiverged(RuntimeError):
  """A loss term became NaN or Inf."""


def _worker_dir(model_dir, strategy):
  """Where this process writes checkpoints: model_dir for the chief, a scratch dir otherwise.

  Every multi-worker process must take part in saving (the save is collective), but only the
  chief's copy is kept.
  """
  if distribute.is_chief(strategy):
    return model_dir
  task_id = strategy.cluster_resolver.task_id
  return os.path.join(model_dir, f"tmp_worker_{task_id}")


@gin.configurable("training", denylist=["model_dir", "strategy", "log_fn"])
def train(model_dir, strategy=None, num_steps=1000, batch_size=64, learning_rate=1e-4,
          seed=0, checkpoint_every=500, log_every=100, max_checkpoints_to_keep=3, log_fn=print):
  """Trains the gin-configured model on the gin-configured data set; resumes if possible.

  Args:
    model_dir: output directory; an existing checkpoint there is resumed.
    strategy: a tf.distribute strategy (default: the default strategy).
    num_steps: total optimizer steps the run should reach (a resumed run continues to it).
    batch_size: global batch size (split across replicas).
    learning_rate: Adam learning rate (beta_1 0.9, beta_2 0.999, epsilon 1e-8 as the reference).
    seed: seeds weights, the data order and the posterior samples.
    checkpoint_every, log_every: in steps.
    max_checkpoints_to_keep: older checkpoints are deleted.
    log_fn: where progress lines go.

  Returns:
    The dict written to train_results.json.
  """
  for name, value in (("num_steps", num_steps), ("batch_size", batch_size),
                      ("checkpoint_every", checkpoint_every), ("log_every", log_every),
                      ("max_checkpoints_to_keep", max_checkpoints_to_keep)):
    validation.positive_int(value, f"training.{name}")
  strategy = strategy or tf.distribute.get_strategy()
  if batch_size % strategy.num_replicas_in_sync:
    raise ValueError(f"training.batch_size={batch_size} must be divisible by the "
                     f"{strategy.num_replicas_in_sync} replicas")
  chief = distribute.is_chief(strategy)
  keras.utils.set_random_seed(seed)
  data = zoo_data.get_dataset()

  with strategy.scope():
    model, checkpoint = checkpoints.build_checkpointed_model(data.observation_shape,
                                                             learning_rate)

  write_dir = _worker_dir(model_dir, strategy)
  manager = tf.train.CheckpointManager(checkpoint, os.path.join(write_dir, "checkpoints"),
                                       max_to_keep=max_checkpoints_to_keep)
  latest = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
  if latest:
    checkpoint.restore(latest).assert_existing_objects_matched()
  start_step = int(model.optimizer.iterations.numpy())
  if chief:
    os.makedirs(model_dir, exist_ok=True)
    with open(os.path.join(model_dir, "operative_config.gin"), "w") as f:
      f.write(gin.operative_config_str())
  if start_step >= num_steps:
    log_fn(f"[zoo-train] {model_dir} is already at step {start_step} >= {num_steps}; "
           "nothing to do")
  elif latest:
    log_fn(f"[zoo-train] resuming from {latest} at step {start_step}")

  def dataset_fn(input_context):
    # Each pipeline hands consecutive batches to its replicas, so one optimizer step consumes
    # `per_pipeline` of its batches; resuming must skip that many per completed step.
    per_pipeline = input_context.num_replicas_in_sync // input_context.num_input_pipelines
    return zoo_data.make_dataset(data, batch_size, seed, start_step=start_step * per_pipeline,
                                 input_context=input_context)

  iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))

  @tf.function
  def distributed_step(iterator):
    per_replica = strategy.run(model.train_step, args=(next(iterator),))
    return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in per_replica.items()}

  writer = tf.summary.create_file_writer(
      os.path.join(model_dir, "summaries") if chief else os.path.join(write_dir, "summaries"))
  totals, count = {}, 0
  last_logs = {}
  run_start = time.time()
  timed_start, timed_steps = None, 0
  step = start_step
  while step < num_steps:
    logs = {k: v.numpy() for k, v in distributed_step(iterator).items()}
    step += 1
    if timed_start is None:  # the first step traces the graph; time from the second on.
      timed_start = time.time()
    else:
      timed_steps += 1
    for term, value in logs.items():
      if not np.all(np.isfinite(value)):
        raise TrainingDiverged(
            f"loss term '{term}' became {value} at step {step}; the last good checkpoint "
            f"({manager.latest_checkpoint or 'none'}) is kept")
      totals[term] = totals.get(term, 0.0) + value
    count += 1
    if step % log_every == 0 or step == num_steps:
      last_logs = {k: v / count for k, v in totals.items()}
      totals, count = {}, 0
      elapsed = time.time() - timed_start if timed_steps else 0.0
      rate = timed_steps * batch_size / elapsed if elapsed > 0 else float("nan")
      eta = (num_steps - step) * batch_size / rate if rate == rate and rate > 0 else 0
      with writer.as_default(step=step):
        for term, value in last_logs.items():
          if np.ndim(value) == 0:
            tf.summary.scalar(f"loss/{term}", value)
          else:
            for i, v in enumerate(value):
              tf.summary.scalar(f"{term}/{i}", v)
        tf.summary.scalar("images_per_second", rate)
      shown = "  ".join(f"{k} {float(v):.4g}" for k, v in last_logs.items()
                        if np.ndim(v) == 0 and k != "elbo")
      log_fn(f"[zoo-train] step {step}/{num_steps}  {shown}  {rate:.0f} img/s  "
             f"eta {format_duration(eta)}")
    if step % checkpoint_every == 0 or step == num_steps:
      # A finite loss was computed with the previous weights; the update may still have
      # produced NaN weights, which must not replace the last good checkpoint.
      if not all(np.all(np.isfinite(v.numpy())) for v in model.trainable_variables):
        raise TrainingDiverged(
            f"weights became non-finite at step {step}; the last good checkpoint "
            f"({manager.latest_checkpoint or 'none'}) is kept")
      manager.save(checkpoint_number=step)
  writer.flush()

  wall_time = time.time() - run_start
  rate = timed_steps * batch_size / (time.time() - timed_start) if timed_steps else None
  results = {
      "model": model.model_name,
      "posterior_family": model.family.name,
      "dataset": data.name,
      "latent_dim": model.latent_dim,
      "num_replicas": strategy.num_replicas_in_sync,
      "start_step": start_step,
      "final_step": int(model.optimizer.iterations.numpy()),
      "wall_time_seconds": wall_time,
      "images_per_second": rate,
  }
  for term, value in last_logs.items():
    if np.ndim(value) == 0:
      results[f"loss.{term}"] = float(value)
    else:
      for i, v in enumerate(value):
        results[f"loss.{term}.{i}"] = float(v)
  if chief:
    write_json_atomically(os.path.join(model_dir, "train_results.json"), results)
  else:
    tf.io.gfile.rmtree(write_dir)
  return results
