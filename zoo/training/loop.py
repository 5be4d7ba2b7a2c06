"""The training loop behind `zoo-train`: checkpoints, resumption, summaries, results.

  zoo.training.train("runs/beta_vae", model={"name": "beta_vae", "latent_dim": 10,
                                              "encoder": "conv64_split", "beta": 4.0},
                     dataset={"name": "dsprites", "image_size": 32}, num_steps=2000)

Outputs in `model_dir`:
  checkpoints/            checkpoints of the model, its optimizers and the loss sums of the
                          current logging window (the newest few kept)
  run_config.json         the explicit arguments the run was built from (`run_config`)
  operative_config.gin    the gin configuration, for runs started through gin (zoo-train)
  summaries/              TensorBoard scalars: every loss term and the KL of each latent, and
                          what the callbacks write (`zoo.callbacks`)
  train_results.json      final step, final losses (each the mean over the last `log_every`
                          steps), wall time, images per second

The summaries are flushed before every checkpoint and train_results.json is written after the
last one; a run stopped between the two has it rewritten, from its final checkpoint and the
summaries, by the next zoo-train with nothing left to do.

What a crash can cost and what a resume compares is in docs/ARCHITECTURE.md ("Guarantees"):
one trainer per model_dir (a lock), resumption from the newest intact checkpoint, refusal of a
changed configuration, and a resumed run that is bitwise the uninterrupted one on a CPU.
"""
import contextlib
import inspect
import json
import os
import time

from gin import config_parser
import keras
import numpy as np
import tensorflow as tf

from common import io_utils
from common import validation
from common.io_utils import format_duration, write_json_atomically
from zoo import data as zoo_data
from zoo import models
from zoo.data import pairs
from zoo.training import checkpoints
from zoo.training import distribute
from zoo.training import run_config

# Bindings a resumed run may change: they decide when the run stops, logs and checkpoints, or
# what the callbacks show, never what it computes. `name.*` stands for every parameter of a
# configurable.
RESUMABLE_CHANGES = tuple(f"training.{name}" for name in run_config.RESUMABLE_SETTINGS) + (
    "image_summaries.*", "metric_summaries.*")
OPERATIVE_CONFIG = checkpoints.OPERATIVE_CONFIG
# The settings of `train` a run records in its run config (model and data set aside).
TRAINING_SETTINGS = ("num_steps", "batch_size", "learning_rate", "seed", "checkpoint_every",
                     "log_every", "max_checkpoints_to_keep", "steps_per_loop", "precision",
                     "jit_compile", "deterministic")
TRAIN_RESULTS = "train_results.json"
LOCK_FILE = ".lock"  # in checkpoints/, so that model_dir lists only the outputs
SUMMARIES = "summaries"
# The checkpointed variable holding the loss sums of the logging window a checkpoint falls in
# (JSON text; see `_window_state`), so that a resumed run still averages the last `log_every`
# steps, and a run stopped before writing train_results.json can write it later.
WINDOW_STATE = "loss_window"


class TrainingDiverged(RuntimeError):
  """A loss term became NaN or Inf."""


def binding_values(config_text):
  """{`scope/configurable.parameter`: repr(value)} of every binding in a gin configuration."""
  values = {}
  for statement in config_parser.ConfigParser(config_text, run_config.ReferencesAsText()):
    if isinstance(statement, config_parser.BindingStatement):
      scope = f"{statement.scope}/" if statement.scope else ""
      values[f"{scope}{statement.selector}.{statement.arg_name}"] = repr(statement.value)
  return values


def _is_allowed(key, allowed):
  configurable = key.rsplit(".", 1)[0]
  return key in allowed or f"{configurable}.*" in allowed


def differing_bindings(stored_text, current_text, allowed=RESUMABLE_CHANGES):
  """The bindings (sorted) whose values differ between two configurations, or that only one
  of them has, leaving out `allowed` (names, or `configurable.*` for all of one)."""
  stored, current = binding_values(stored_text), binding_values(current_text)
  return sorted(key for key in set(stored) | set(current)
                if not _is_allowed(key, allowed) and stored.get(key) != current.get(key))


def _worker_dir(model_dir, strategy):
  """Where this process writes checkpoints: model_dir for the chief, a scratch dir otherwise.

  Every multi-worker process must take part in saving (the save is collective), but only the
  chief's copy is kept.
  """
  if distribute.is_chief(strategy):
    return model_dir
  task_id = strategy.cluster_resolver.task_id
  return os.path.join(model_dir, f"tmp_worker_{task_id}")


@contextlib.contextmanager
def reproducible_graph_optimizations():
  """Turns grappler's arithmetic optimizer off while training, and back as it was afterwards.

  It regroups sums of three or more gradient contributions (a trunk feeding three heads, as
  InfoGAN's with categorical codes) differently from one process to the next, so the same run
  rounded differently each time: one InfoGAN step differed bitwise in 3 of 5 fresh processes,
  0 of 5 without it. The conv64 beta-VAE step runs as fast without it (2,539 vs 2,541 img/s).
  """
  previous = tf.config.optimizer.get_experimental_options().get("arithmetic_optimization", True)
  tf.config.optimizer.set_experimental_options({"arithmetic_optimization": False})
  try:
    yield
  finally:
    tf.config.optimizer.set_experimental_options({"arithmetic_optimization": previous})


def _first_non_finite(value):
  """The first non-finite entry of `value` as a float32 scalar (0 if there is none)."""
  flat = tf.reshape(tf.cast(value, tf.float32), [-1])
  bad = tf.logical_not(tf.math.is_finite(flat))
  first = tf.gather(flat, tf.argmax(tf.cast(bad, tf.int32)))
  return tf.where(tf.reduce_any(bad), first, 0.0)


def _read(path):
  with open(path) as f:
    return f.read()


def train(model_dir, model, dataset, *, num_steps=1000, batch_size=64, learning_rate=1e-4,
          seed=0, checkpoint_every=500, log_every=100, max_checkpoints_to_keep=3,
          steps_per_loop=100, precision="float32", jit_compile=False, deterministic=False,
          pair_k=1, callbacks=(), strategy=None, log_fn=print, allow_config_change=False,
          gin_config=None):
  """Trains a model on a data set, both given by their plain arguments; resumes if possible.

  Args:
    model_dir: output directory; an existing checkpoint there is resumed.
    model: `zoo.models.build_model`'s arguments, e.g. {"name": "beta_vae", "latent_dim": 10,
      "posterior": "correlated_noise", "posterior_options": {"rho": 0.5}, "beta": 4.0}; the
      data set fixes observation_shape and `seed` is the model's noise seed.
    dataset: `zoo.data.get_dataset`'s arguments, e.g. {"name": "dsprites", "image_size": 32},
      or just a name.
    num_steps: total optimizer steps the run should reach (a resumed run continues to it).
    batch_size: global batch size (split across replicas).
    learning_rate: Adam learning rate (beta_1 0.9, beta_2 0.999, epsilon 1e-8 as the reference).
    seed: seeds weights, the data order and every random draw of the training steps.
    checkpoint_every, log_every: in steps.
    max_checkpoints_to_keep: older checkpoints are deleted.
    steps_per_loop: training steps per call of the compiled loop; the loss terms stay on the
      device in between (fewer host round trips on an accelerator). Results do not depend on
      it (bitwise on a CPU); logging, checkpoints, callbacks and NaN checks still happen at
      their steps.
    precision: "float32", "mixed_bfloat16" or "mixed_float16" (with loss scaling): the dtype
      the networks compute in; posteriors, divergences and likelihoods stay float32, and so do
      exports.
    jit_compile: compile each training step with XLA.
    deterministic: TensorFlow's op determinism (on for the rest of the process), so that
      accelerator runs and their resumes repeat bit for bit; CPU runs do anyway.
    pair_k: for the models trained on pairs (`training_input == "pairs"`): how many factors
      differ within a pair, an integer or "random" (`zoo.data.pairs`).
    callbacks: Keras callbacks (e.g. `zoo.callbacks.ImageSummaries`); the chief calls their
      on_train_begin, on_train_batch_end (at the end of every compiled loop, whose boundaries
      include every multiple of a callback's `every_n_steps`) and on_train_end.
    strategy: a tf.distribute strategy (default: the default strategy).
    log_fn: where progress lines go.
    allow_config_change: resume even though the configuration differs from the stored one (in
      more than the resumable settings); the new values take effect (learning rates included)
      and the old configuration is kept as run_config.until_step_<N>.json (and
      operative_config.until_step_<N>.gin).
    gin_config: the operative gin configuration of a run started through gin (zoo-train): it
      is written as operative_config.gin, and a resume compares it with the stored one.

  Returns:
    The dict written to train_results.json (for a run with nothing to do: the stored one).
  """
  # As a float: Keras refuses an integer learning rate (`learning_rate = 1`) without naming it.
  learning_rate = _check_settings(num_steps, batch_size, learning_rate, seed, checkpoint_every,
                                  log_every, max_checkpoints_to_keep, steps_per_loop, precision,
                                  jit_compile, deterministic)
  model_arguments = _model_arguments(model)
  dataset_arguments = zoo_data.dataset_arguments(
      **({"name": dataset} if isinstance(dataset, str) else dict(dataset)))
  io_utils.check_writable_directory(model_dir, "--model_dir")
  strategy = strategy or tf.distribute.get_strategy()
  if batch_size % strategy.num_replicas_in_sync:
    raise ValueError(f"batch_size={batch_size} must be divisible by the "
                     f"{strategy.num_replicas_in_sync} replicas")
  if deterministic:
    tf.config.experimental.enable_op_determinism()
  keras.utils.set_random_seed(seed)
  data = zoo_data.get_dataset(**dataset_arguments)
  with strategy.scope():
    built, checkpoint = checkpoints.build_checkpointed_model(
        data, dict(model_arguments, seed=seed), learning_rate, precision)
  training_settings = dict(
      num_steps=num_steps, batch_size=batch_size, learning_rate=learning_rate, seed=seed,
      checkpoint_every=checkpoint_every, log_every=log_every,
      max_checkpoints_to_keep=max_checkpoints_to_keep, steps_per_loop=steps_per_loop,
      precision=precision, jit_compile=jit_compile, deterministic=deterministic)
  if built.training_input == "pairs":
    pair_k = pairs.check_k(pair_k, data, "pair_k")
    training_settings["pair_k"] = pair_k
  else:
    pair_k = None
  config = run_config.make(dataset_arguments, built.get_config(), training_settings)

  write_dir = _worker_dir(model_dir, strategy)
  os.makedirs(checkpoints.checkpoint_dir(write_dir), exist_ok=True)
  lock, holder = io_utils.try_lock(os.path.join(checkpoints.checkpoint_dir(write_dir),
                                                LOCK_FILE))
  if lock is None:
    raise ValueError(f"--model_dir {model_dir}: another zoo-train (pid {holder}) is training "
                     "in it; wait for it to finish or stop it")
  try:
    with reproducible_graph_optimizations():
      return _train_locked(model_dir, write_dir, strategy, built, checkpoint, data, config,
                           gin_config, pair_k, list(callbacks), log_fn, allow_config_change)
  finally:
    lock.close()


def _window_state(totals, count, last_step):
  """The JSON text of the loss sums of a logging window that ends at `last_step`."""
  if totals is None or not count:
    return ""
  sums, dtypes = {}, {}
  for term, value in totals.items():
    array = value.numpy()
    sums[term] = array.tolist()  # floats read back to the same float32 numbers
    dtypes[term] = array.dtype.name
  return json.dumps({"first_step": last_step - count + 1, "steps": count, "sums": sums,
                     "dtypes": dtypes}, sort_keys=True)


def read_window_state(path):
  """The loss window stored in checkpoint `path` as (first step, steps, {term: numpy sums}), or
  None (a checkpoint written before windows were stored, or one at the start of a window)."""
  reader = tf.train.load_checkpoint(path)
  key = f"{WINDOW_STATE}/.ATTRIBUTES/VARIABLE_VALUE"
  if not reader.has_tensor(key):
    return None
  text = reader.get_tensor(key)
  text = text.decode() if isinstance(text, bytes) else str(text)
  if not text:
    return None
  state = json.loads(text)
  sums = {term: np.asarray(values, dtype=state["dtypes"][term])
          for term, values in state["sums"].items()}
  return state["first_step"], state["steps"], sums


def _check_settings(num_steps, batch_size, learning_rate, seed, checkpoint_every, log_every,
                    max_checkpoints_to_keep, steps_per_loop, precision, jit_compile,
                    deterministic):
  """Raises ValueError naming the setting at fault; returns the learning rate as a float."""
  for name, value in (("num_steps", num_steps), ("batch_size", batch_size),
                      ("checkpoint_every", checkpoint_every), ("log_every", log_every),
                      ("max_checkpoints_to_keep", max_checkpoints_to_keep),
                      ("steps_per_loop", steps_per_loop)):
    validation.positive_int(value, name)
  learning_rate = validation.positive_number(learning_rate, "learning_rate")
  validation.seed(seed, "seed")
  validation.one_of(precision, models.PRECISIONS, "precision")
  for name, value in (("jit_compile", jit_compile), ("deterministic", deterministic)):
    if not isinstance(value, bool):
      raise ValueError(f"{name}={value!r}: expected True or False")
  return learning_rate


def check_settings(model, dataset, *, learning_rate=1e-4, seed=0, precision="float32",
                   pair_k=1, **settings):
  """Raises what `train` would raise at its start for these arguments, without training or
  writing anything: bad settings, bad data set or model arguments, a likelihood that does not
  fit the data, networks that do not fit the observations, a pair_k the data set cannot give.

  zoo-study calls it (through the gin edge) for every configuration of a study before the first
  run starts.
  """
  defaults = {name: parameter.default
              for name, parameter in inspect.signature(train).parameters.items()
              if parameter.default is not inspect.Parameter.empty}
  unknown = sorted(set(settings) - set(defaults))
  if unknown:
    raise ValueError(f"unknown training settings {unknown}")
  values = dict(defaults, learning_rate=learning_rate, seed=seed, precision=precision,
                **settings)
  learning_rate = _check_settings(**{name: values[name]
                                     for name in inspect.signature(_check_settings).parameters})
  data = zoo_data.get_dataset(**zoo_data.dataset_arguments(
      **({"name": dataset} if isinstance(dataset, str) else dict(dataset))))
  built, _ = checkpoints.build_checkpointed_model(
      data, dict(_model_arguments(model), seed=seed), learning_rate, precision)
  if built.training_input == "pairs":
    pairs.check_k(pair_k, data, "pair_k")


def _model_arguments(model):
  """`model` (build_model's arguments) checked to leave what the run decides to the run."""
  if not isinstance(model, dict):
    raise ValueError(f"model={model!r}: expected a dict of zoo.models.build_model arguments, "
                     "e.g. {'name': 'beta_vae', 'latent_dim': 10}")
  for key, owner in (("observation_kind", "the data set"), ("seed", "train's seed")):
    if key in model:
      raise ValueError(f"model: {key!r} is set by {owner}, not by the model's arguments")
  return dict(model)


def _stored_config(model_dir, data):
  """The stored run config, its model section resolved as get_config gives it (an older run's
  translated operative config names only the settings gin recorded); None if there is none."""
  stored = run_config.read(model_dir)
  if stored is None or "observation_shape" in stored["model"]:
    return stored
  arguments = dict(stored["model"])
  name = arguments.pop("name", None)
  if name in models.MODELS:
    try:
      stored["model"] = models.MODELS[name](data.observation_shape, **arguments).get_config()
    except (TypeError, ValueError):
      pass  # a record this code cannot build; it differs from any current configuration
  stored["dataset"] = zoo_data.dataset_arguments(**stored["dataset"])
  return stored


def _resume(model_dir, model, checkpoint, data, config, gin_config, log_fn,
            allow_config_change):
  """Restores the newest intact checkpoint after comparing configurations.

  A run started through gin is compared by its operative gin configuration (binding names in
  the message), any other by its run config (argument paths such as `model.beta`).

  Returns:
    (the checkpoint resumed from or None, the settings that changed).
  """
  _, path, _ = checkpoints.newest_intact(checkpoints.checkpoint_dir(model_dir), log_fn,
                                         "zoo-train")
  if path is None:
    return None, []
  gin_path = os.path.join(model_dir, OPERATIVE_CONFIG)
  if gin_config is not None and os.path.isfile(gin_path):
    changed = differing_bindings(_read(gin_path), gin_config)
  else:
    stored = _stored_config(model_dir, data)
    changed = (run_config.differing_settings(stored, config) if stored is not None
               else [f"{run_config.RUN_CONFIG} (missing)"])
  if changed and not allow_config_change:
    raise ValueError(
        f"--model_dir {model_dir}: its checkpoints were trained with another configuration "
        f"(differs in {', '.join(changed)}); pass --allow_config_change to continue with the new "
        "values, or use another --model_dir")
  # The checkpoint holds each optimizer's learning rate; a change is meant to take effect.
  configured = {name: float(optimizer.learning_rate.numpy())
                for name, optimizer in model.optimizers().items()}
  checkpoints.restore(checkpoint, path, "this run's configuration", flag="checkpoint")
  if changed:
    for name, optimizer in model.optimizers().items():
      optimizer.learning_rate = configured[name]
  return path, changed


def _record_configuration(model_dir, config, gin_config, resumed_from, changed, start_step,
                          log_fn):
  """Writes the run config (and the gin configuration of a gin run) of a new or changed run,
  keeping a changed run's earlier ones as `*.until_step_<N>.*`; an older run gets the run
  config it lacks."""
  config_path = run_config.path(model_dir)
  gin_path = os.path.join(model_dir, OPERATIVE_CONFIG)
  if changed:
    kept = []
    for path, suffix in ((config_path, ".json"), (gin_path, ".gin")):
      if os.path.isfile(path):
        target = f"{path[:-len(suffix)]}.until_step_{start_step}{suffix}"
        os.replace(path, target)
        kept.append(target)
    log_fn(f"[zoo-train] continuing with changed {', '.join(changed)}; the configuration "
           f"until step {start_step} is kept in {' and '.join(kept)}")
  if not resumed_from or changed or not os.path.isfile(config_path):
    run_config.write(model_dir, config)
  if gin_config is not None and (not resumed_from or changed):
    io_utils.write_text_atomically(gin_path, gin_config)


def _train_locked(model_dir, write_dir, strategy, model, checkpoint, data, config, gin_config,
                  pair_k, callbacks, log_fn, allow_config_change):
  settings = config["training"]
  num_steps, batch_size, seed = settings["num_steps"], settings["batch_size"], settings["seed"]
  checkpoint_every, log_every = settings["checkpoint_every"], settings["log_every"]
  steps_per_loop = settings["steps_per_loop"]
  chief = distribute.is_chief(strategy)
  resumed_from, changed = _resume(model_dir, model, checkpoint, data, config, gin_config, log_fn,
                                  allow_config_change)
  start_step = int(model.optimizer.iterations.numpy())
  results_path = os.path.join(model_dir, TRAIN_RESULTS)
  if start_step >= num_steps:
    log_fn(f"[zoo-train] {model_dir} is already at step {start_step} >= {num_steps}; "
           "nothing to do")
    # A finished run keeps its results (losses and speed) untouched.
    if os.path.isfile(results_path):
      with open(results_path) as f:
        return json.load(f)
    if not chief:
      return {"final_step": start_step, "start_step": None}
    # Stopped between its last checkpoint and writing its results: written now.
    results = _recovered_results(model_dir, resumed_from, model, data, strategy, start_step)
    write_json_atomically(results_path, results)
    log_fn(f"[zoo-train] {results_path} was missing (the run stopped after its last "
           f"checkpoint); rewrote it from {resumed_from} and the summaries")
    return results
  # The loss sums of the logging window the checkpoint fell in, if it is still open: the first
  # log after the resume averages the last log_every steps, as without the interruption.
  # (Not across a configuration change: the terms may be another model's.)
  window = read_window_state(resumed_from) if resumed_from and not changed else None
  if window is not None:
    first_step, steps, _ = window
    if (start_step % log_every == 0 or first_step - 1 != (start_step - 1) // log_every * log_every
        or first_step + steps - 1 != start_step):
      window = None  # closed, or cut by another log_every
  if resumed_from:
    log_fn(f"[zoo-train] resuming from {resumed_from} at step {start_step}")
  if chief:
    _record_configuration(model_dir, config, gin_config, resumed_from, changed, start_step,
                          log_fn)
  window_variable = tf.Variable("", dtype=tf.string, trainable=False, name=WINDOW_STATE)
  saved = checkpoints.checkpoint_of(model, **{WINDOW_STATE: window_variable})
  saver = checkpoints.CheckpointWriter(saved, checkpoints.checkpoint_dir(write_dir),
                                       settings["max_checkpoints_to_keep"],
                                       resumed_step=start_step)
  last_good = lambda: saver.latest or resumed_from or "none"

  def dataset_fn(input_context):
    # Each pipeline hands consecutive batches to its replicas, so one optimizer step consumes
    # `per_pipeline` of its batches; resuming must skip that many per completed step.
    per_pipeline = input_context.num_replicas_in_sync // input_context.num_input_pipelines
    if model.training_input == "pairs":
      return zoo_data.make_pair_dataset(data, batch_size, seed, pair_k,
                                        start_step=start_step * per_pipeline,
                                        input_context=input_context)
    return zoo_data.make_dataset(data, batch_size, seed, start_step=start_step * per_pipeline,
                                 input_context=input_context)

  iterator = iter(strategy.distribute_datasets_from_function(dataset_fn))
  step_fn = model.train_step_losses
  if settings["jit_compile"]:
    step_fn = tf.function(step_fn, jit_compile=True)
  # Callbacks show what the model learns; only the chief runs them (they write summaries).
  for callback in callbacks:
    if hasattr(callback, "set_ground_truth_data"):
      callback.set_ground_truth_data(data)
  callback_list = keras.callbacks.CallbackList(callbacks if chief else [], model=model)
  callback_periods = [cb.every_n_steps for cb in callbacks
                      if getattr(cb, "every_n_steps", None)]

  def one_step(iterator):
    per_replica = strategy.run(step_fn, args=(next(iterator),))
    return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
            for k, v in per_replica.items()}

  def record(i, logs, totals, found):
    """Adds a step's terms to the totals and notes the first step with a non-finite term."""
    names = sorted(logs)
    totals = ({k: logs[k] for k in names} if totals is None
              else {k: totals[k] + logs[k] for k in names})
    finite = tf.stack([tf.reduce_all(tf.math.is_finite(logs[k])) for k in names])
    term = tf.argmin(tf.cast(finite, tf.int32), output_type=tf.int32)
    value = tf.gather(tf.stack([_first_non_finite(logs[k]) for k in names]), term)
    bad_step, bad_term, bad_value = found
    newly_bad = tf.logical_and(bad_step < 0, tf.logical_not(tf.reduce_all(finite)))
    return totals, (tf.where(newly_bad, i, bad_step), tf.where(newly_bad, term, bad_term),
                    tf.where(newly_bad, value, bad_value))

  @tf.function
  def run_steps(iterator, count, totals):
    """`count` training steps in one call, the logged terms summed on the device.

    `totals` continues the sums of earlier calls (None starts them), adding in the order a
    step-by-step loop would. Returns (totals, (the index of the first step with a non-finite
    term or -1, that term's position among the sorted names, its first non-finite value)).
    """
    found = (tf.constant(-1), tf.constant(-1), tf.constant(0.0))
    first = 0
    if totals is None:  # the first step fixes the structure the loop carries
      totals, found = record(0, one_step(iterator), None, found)
      first = 1
    for i in tf.range(first, count):
      totals, found = record(i, one_step(iterator), totals, found)
    return totals, found

  writer = tf.summary.create_file_writer(
      os.path.join(model_dir, SUMMARIES) if chief else os.path.join(write_dir, SUMMARIES))
  totals, count = None, 0
  if window is not None:
    _, count, sums = window
    totals = {term: tf.constant(value) for term, value in sums.items()}
  logged = (None, 0)  # the totals and count of the window the last log closed
  last_logs = {}
  run_start = time.time()
  timed_start, timed_steps = None, 0
  first_call = (0, 0.0)  # steps and seconds of the first call, which traces the graph
  step = start_step
  latest_scalars = {}
  callback_list.on_train_begin()
  while step < num_steps:
    # Up to the next log, checkpoint, callback step or the end, and no more than steps_per_loop.
    boundary = min([num_steps, (step // log_every + 1) * log_every,
                    (step // checkpoint_every + 1) * checkpoint_every]
                   + [(step // period + 1) * period for period in callback_periods])
    chunk = min(steps_per_loop, boundary - step)
    call_start = time.time()
    totals, (bad_step, bad_term, bad_value) = run_steps(iterator, tf.constant(chunk), totals)
    if int(bad_step) >= 0:
      writer.flush()
      term = sorted(totals)[int(bad_term)]
      raise TrainingDiverged(
          f"loss term '{term}' became {float(bad_value)} at step {step + int(bad_step) + 1}; "
          f"the last good checkpoint ({last_good()}) is kept")
    step += chunk
    count += chunk
    logged = (None, 0)
    if timed_start is None:  # the first call traces the graph; time from the second on.
      timed_start = time.time()
      first_call = (chunk, timed_start - call_start)
    else:
      timed_steps += chunk
    if step % log_every == 0 or step == num_steps:
      last_logs = {k: v.numpy() / count for k, v in totals.items()}
      if step % log_every == 0:  # a window ends; the last steps of a run do not close one
        logged = (totals, count)
        totals, count = None, 0
      if timed_steps:
        rate = timed_steps * batch_size / max(time.time() - timed_start, 1e-9)
      else:  # only the first call so far: its time, tracing included, is all there is
        rate = first_call[0] * batch_size / max(first_call[1], 1e-9)
      eta = (num_steps - step) * batch_size / rate
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
      latest_scalars = {k: float(v) for k, v in
                        models.scalar_logs({k: tf.constant(v) for k, v in last_logs.items()})
                        .items()}
    # The step just finished is `step`; Keras counts batches from 0.
    callback_list.on_train_batch_end(step - 1, dict(latest_scalars))
    if step % checkpoint_every == 0 or step == num_steps:
      # A finite loss was computed with the previous weights; the update may still have
      # produced NaN weights, which must not replace the last good checkpoint.
      if not all(np.all(np.isfinite(v.numpy())) for v in model.trainable_variables):
        writer.flush()
        raise TrainingDiverged(
            f"weights became non-finite at step {step}; the last good checkpoint "
            f"({last_good()}) is kept")
      # The summaries up to this step are on disk before the checkpoint that follows them.
      writer.flush()
      window_variable.assign(_window_state(*(logged if logged[0] is not None
                                              else (totals, count)), step))
      saver.save(step, log_fn=log_fn)
  writer.flush()
  callback_list.on_train_end(dict(latest_scalars))

  wall_time = time.time() - run_start
  rate = timed_steps * batch_size / (time.time() - timed_start) if timed_steps else None
  results = _results(model, data, strategy, start_step, wall_time, rate, last_logs)
  if chief:
    write_json_atomically(results_path, results)
  else:
    tf.io.gfile.rmtree(write_dir)
  return results


def _results(model, data, strategy, start_step, wall_time, rate, losses):
  """The dict of train_results.json; `losses` maps a term to its mean (a number or a vector)."""
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
  for term, value in losses.items():
    if np.ndim(value) == 0:
      results[f"loss.{term}"] = float(value)
    else:
      for i, v in enumerate(value):
        results[f"loss.{term}.{i}"] = float(v)
  return results


def read_summaries(directory):
  """{tag: {step: value}} of every scalar in the TensorBoard event files under `directory`
  (later files win where two hold the same step: a resumed run logs a step again)."""
  values = {}
  for path in sorted(tf.io.gfile.glob(os.path.join(directory, "events.out.tfevents.*"))):
    try:
      for event in tf.compat.v1.train.summary_iterator(path):
        for value in event.summary.value:
          if value.HasField("tensor"):
            number = tf.make_ndarray(value.tensor)
          elif value.HasField("simple_value"):
            number = value.simple_value
          else:
            continue
          if np.ndim(number) == 0:
            values.setdefault(value.tag, {})[event.step] = float(number)
    except tf.errors.DataLossError:  # a file cut short by a kill: what was read counts
      continue
  return values


def _recovered_results(model_dir, checkpoint, model, data, strategy, final_step):
  """train_results.json of a run that stopped after its final checkpoint, before writing it.

  The losses are those the run would have written: the loss sums its final checkpoint holds,
  or else (a checkpoint from before those were stored) the summaries' values at the final step;
  images per second come from the summaries. What cannot be known (the wall time, the step the
  last process started from) is null, and `recovered_from` names the checkpoint.
  """
  summaries = read_summaries(os.path.join(model_dir, SUMMARIES))
  window = read_window_state(checkpoint)
  losses = {}
  if window is not None:
    _, steps, sums = window
    losses = {term: value / steps for term, value in sums.items()}
  else:
    for tag, by_step in summaries.items():
      if tag.startswith("loss/") and final_step in by_step:
        losses[tag[len("loss/"):]] = by_step[final_step]
  rate = summaries.get("images_per_second", {}).get(final_step)
  results = _results(model, data, strategy, None, None, rate, losses)
  results["recovered_from"] = os.path.relpath(checkpoint, model_dir)
  return results
