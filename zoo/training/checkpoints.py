"""A run's model with everything its checkpoints hold, and a run's checkpoints on disk.

Training, export and evaluation all build a model through `build_checkpointed_model`, so the
object graph a checkpoint is restored into is always the one training saved: the model and
every optimizer of `model.optimizers()`. `restore_run` rebuilds a run from its run config
(`zoo.training.run_config`: run_config.json, or the operative_config.gin of an older run).

A run's checkpoints are the files `MODEL_DIR/checkpoints/ckpt-<step>.{index,data-*}`; they are
found by listing the files (the `checkpoint` state file is written for TensorFlow's own tools,
never trusted). A checkpoint counts only when every tensor in it reads back, so a truncated,
corrupted or half-deleted one is skipped, with one line saying why, in favour of the newest
intact one. `CheckpointWriter` writes new ones under a temporary name and renames them into
place data first, index last, and never deletes or overwrites a checkpoint newer than the one
the run resumed from: a damaged one in the way is moved into `checkpoints/damaged/`.
"""
import collections
import os
import re
import shutil

import keras
import tensorflow as tf

from common import io_utils
from zoo import data as zoo_data
from zoo import models
from zoo.training import run_config

RestoredRun = collections.namedtuple(
    "RestoredRun", ["model", "data", "checkpoint", "training_step", "gin_config", "run_config"])
OPERATIVE_CONFIG = "operative_config.gin"

CHECKPOINTS = "checkpoints"
STATE_FILE = "checkpoint"
DAMAGED = "damaged"
_INDEX = re.compile(r"^ckpt-(\d+)\.index$")
_TEMPORARY = re.compile(r"^\.ckpt-\d+\.tmp-")
# What reading a damaged checkpoint raises: TF's own errors, and these for short or odd files.
_READ_ERRORS = (tf.errors.OpError, IndexError, ValueError, OSError)


class NoUsableCheckpoint(ValueError):
  """Checkpoints exist, but none of them reads back intact."""


def build_checkpointed_model(data, model_arguments, learning_rate=1e-3, precision="float32"):
  """Model `model_arguments` for `data`, compiled and with every weight and slot created.

  Args:
    data: the ground-truth data set (its observation shape and kind fix the model's).
    model_arguments: `zoo.models.build_model`'s arguments (name, latent_dim, posterior, ...,
      seed); observation_shape, if given, must be the data set's.
    learning_rate: of the compiled Adam.
    precision: the dtype policy the networks compute in (`zoo.models.PRECISIONS`); variables
      are float32 under every policy, so any checkpoint restores into any precision.

  Returns:
    (model, tf.train.Checkpoint of the model and its optimizers).
  """
  arguments = dict(model_arguments)
  shape = arguments.pop("observation_shape", None)
  if shape is not None and tuple(shape) != tuple(data.observation_shape):
    raise ValueError(f"model observation_shape={tuple(shape)}: the data set "
                     f"{data.name!r} has observations of shape {tuple(data.observation_shape)}")
  with models.dtype_policy(precision):
    model = models.build_model(observation_shape=data.observation_shape,
                               observation_kind=data.observation_kind, **arguments)
    # Adam with the reference study's settings; compile creates every slot.
    model.compile(optimizer=models.for_precision(keras.optimizers.Adam(
        learning_rate=learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)))
  return model, checkpoint_of(model)


def checkpoint_of(model, **extra):
  """The tf.train.Checkpoint of a model and its optimizers (and `extra` trackables, which a
  checkpoint may hold beyond what a restore asks for)."""
  return tf.train.Checkpoint(model=model, **model.optimizers(), **extra)


def checkpoint_dir(model_dir):
  return os.path.join(model_dir, CHECKPOINTS)


def checkpoint_path(directory, step):
  return os.path.join(directory, f"ckpt-{step}")


def checkpoint_step(path):
  """The step in a checkpoint path `.../ckpt-<step>`, or None."""
  match = re.search(r"ckpt-(\d+)$", path)
  return int(match.group(1)) if match else None


def list_checkpoints(directory):
  """[(step, path)] of every checkpoint in `directory` with an index file, oldest first."""
  if not os.path.isdir(directory):
    return []
  found = []
  for name in os.listdir(directory):
    match = _INDEX.match(name)
    if match:
      found.append((int(match.group(1)), os.path.join(directory, name[:-len(".index")])))
  return sorted(found)


def checkpoint_files(path):
  """The files of the checkpoint at `path` that exist (index and data shards)."""
  directory, prefix = os.path.split(path)
  if not os.path.isdir(directory):
    return []
  return sorted(os.path.join(directory, name) for name in os.listdir(directory)
                if name == prefix + ".index" or name.startswith(prefix + ".data-"))


def _first_line(error):
  text = " ".join(str(error).split())
  text = re.sub(r"^\{\{[^}]*\}\}\s*", "", text)  # TF's "{{function_node ...}}" prefix
  return (text or type(error).__name__)[:200]


def checkpoint_problem(path):
  """None when every tensor of the checkpoint at `path` reads back intact, else why not."""
  try:
    reader = tf.train.load_checkpoint(path)
    for key in reader.get_variable_to_shape_map():
      reader.get_tensor(key)  # checks the shard's length and checksum
  except _READ_ERRORS as e:
    return _first_line(e)
  return None


def newest_intact(directory, log_fn, what):
  """The newest intact checkpoint of `directory`: (step, path, [(step, path) skipped]).

  Newer damaged checkpoints are skipped, each with one line through `log_fn`.

  Returns:
    (None, None, []) when `directory` holds no checkpoint at all.

  Raises:
    NoUsableCheckpoint: checkpoints exist and none is intact.
  """
  skipped = []
  listed = list_checkpoints(directory)
  for step, path in reversed(listed):
    problem = checkpoint_problem(path)
    if problem is None:
      return step, path, skipped
    log_fn(f"[{what}] skipping checkpoint {path}: {problem}")
    skipped.append((step, path))
  if listed:
    raise NoUsableCheckpoint(
        f"{directory}: none of its {len(listed)} checkpoints reads back intact "
        f"(newest {listed[-1][1]}); nothing was changed")
  return None, None, []


class CheckpointVanished(ValueError):
  """The checkpoint's files went away while it was read (a trainer's rotation deleted it)."""


def restore(restorable, path, config_path, flag="--checkpoint"):
  """Restores checkpoint `path` into `restorable`, checking that every object of it matched.

  `config_path` names the configuration the model was built from, and `flag` how the error
  names the checkpoint (the flag the user gave, or "checkpoint" for one chosen here).

  Raises:
    CheckpointVanished: its files were deleted meanwhile (a running trainer rotated it away).
    ValueError: it does not fit the model.
  """
  try:
    status = restorable.restore(path)
    status.assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.OpError, IndexError) as e:
    files = checkpoint_files(path)
    if path + ".index" not in files or len(files) < 2:
      raise CheckpointVanished(f"{flag} {path}: deleted while it was read") from e
    raise ValueError(f"{flag} {path}: does not match the model configured in "
                     f"{config_path} ({_first_line(e)[:300]})") from e
  status.expect_partial()  # values no rebuilt object asks for, such as the save counter


# How often a checkpoint chosen as the newest may vanish (a trainer rotating checkpoints
# faster than they are read) before restore_run gives up.
_VANISHED_RETRIES = 5


def restore_run(model_dir, checkpoint=None, log_fn=print, program="zoo"):
  """Rebuilds the model of a zoo-train run from its run config and restores a checkpoint.

  A run may still be training: when the checkpoint chosen as the newest is deleted by the
  trainer's rotation before it is read, the newest intact one is chosen again.

  Args:
    model_dir: a directory written by zoo-train.
    checkpoint: a checkpoint path; default the newest intact one in model_dir/checkpoints
      (damaged newer ones are skipped with a line through log_fn).
    log_fn: where skipped checkpoints are reported.
    program: the name those lines start with.

  Returns:
    A RestoredRun; its gin_config is the run's operative_config.gin ("" for a run trained
    without gin).
  """
  for attempt in range(_VANISHED_RETRIES + 1):
    try:
      return _restore_run_once(model_dir, checkpoint, log_fn, program)
    except CheckpointVanished as e:
      if checkpoint or attempt == _VANISHED_RETRIES:
        raise
      log_fn(f"[{program}] {_first_line(e)}; taking the newest checkpoint again")
  raise AssertionError("unreachable")


def _restore_run_once(model_dir, checkpoint, log_fn, program):
  """One attempt of `restore_run`."""
  config_path = run_config.path(model_dir)
  gin_path = os.path.join(model_dir, OPERATIVE_CONFIG)
  if not os.path.isfile(config_path) and not os.path.isfile(gin_path):
    raise FileNotFoundError(f"--model_dir {model_dir}: no {run_config.RUN_CONFIG} or "
                            f"{OPERATIVE_CONFIG} (expected a directory written by zoo-train)")
  given = bool(checkpoint)
  if checkpoint:
    if not os.path.isfile(checkpoint + ".index"):
      raise FileNotFoundError(f"--checkpoint {checkpoint}: no such checkpoint (expected a "
                              "path like MODEL_DIR/checkpoints/ckpt-1000)")
    problem = checkpoint_problem(checkpoint)
    if problem:
      raise ValueError(f"--checkpoint {checkpoint}: damaged ({problem})")
  else:
    _, checkpoint, _ = newest_intact(checkpoint_dir(model_dir), log_fn, program)
    if not checkpoint:
      raise FileNotFoundError(f"--model_dir {model_dir}: no checkpoint in "
                              f"{checkpoint_dir(model_dir)}")
  try:
    config = run_config.read(model_dir)
  except ValueError as e:
    raise ValueError(f"--model_dir {model_dir}: {_first_line(e)}") from e
  gin_config = ""
  if os.path.isfile(gin_path):
    with open(gin_path) as f:
      gin_config = f.read()
  data = zoo_data.get_dataset(**config["dataset"])
  model, restorable = build_checkpointed_model(
      data, config["model"], learning_rate=config["training"].get("learning_rate", 1e-3))
  restore(restorable, checkpoint, config_path if os.path.isfile(config_path) else gin_path,
          flag="--checkpoint" if given else "checkpoint")
  config = run_config.make(zoo_data.dataset_arguments(**config["dataset"]), model.get_config(),
                          config["training"])
  return RestoredRun(model, data, checkpoint, int(model.optimizer.iterations.numpy()),
                     gin_config, config)


class CheckpointWriter:
  """Saves checkpoints of one run into `directory` and keeps the newest `max_to_keep`.

  Args:
    restorable: the tf.train.Checkpoint to save.
    directory: the run's checkpoint directory (created on the first save).
    max_to_keep: how many of the newest checkpoints stay.
    resumed_step: the step the run resumed from (0 for a new run). Checkpoints after it that
      this writer did not write are never deleted: they are the damaged ones the run skipped.
  """

  def __init__(self, restorable, directory, max_to_keep, resumed_step=0):
    self.restorable = restorable
    self.directory = directory
    self.max_to_keep = max_to_keep
    self.resumed_step = resumed_step
    self.written = set()
    self.latest = None
    # Created now so that every checkpoint holds it (restoring one asks for it).
    restorable.save_counter  # pylint: disable=pointless-statement
    # Left by a writer killed mid-save; the model_dir lock says no other writer is running.
    self._remove_temporaries()

  def _remove_temporaries(self):
    if not os.path.isdir(self.directory):
      return
    for name in os.listdir(self.directory):
      if _TEMPORARY.match(name):
        path = os.path.join(self.directory, name)
        shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.remove(path)

  def save(self, step, log_fn=print):
    """Writes checkpoint `step`; returns its path."""
    os.makedirs(self.directory, exist_ok=True)
    final = checkpoint_path(self.directory, step)
    in_the_way = checkpoint_files(final)
    if in_the_way:
      # Only a damaged checkpoint can be newer than the one the run resumed from.
      damaged = os.path.join(self.directory, DAMAGED)
      os.makedirs(damaged, exist_ok=True)
      for path in in_the_way:
        os.replace(path, os.path.join(damaged, os.path.basename(path)))
      log_fn(f"[zoo-train] moved the damaged {final} into {damaged}/")
    temporary = os.path.join(self.directory, f".ckpt-{step}.tmp-{os.getpid()}")
    try:
      self.restorable.write(temporary)
    except BaseException:
      # A full disk, say: the partial files go at once (they take the room a retry needs),
      # and the checkpoints before this one are untouched.
      self._remove_temporaries()
      raise
    # Data first, index last: a checkpoint is listed only once its index exists.
    files = checkpoint_files(temporary)
    for path in sorted(files, key=lambda p: p.endswith(".index")):
      os.replace(path, final + path[len(temporary):])
    self.written.add(step)
    self.latest = final
    self._delete_old(step)
    self._write_state()
    return final

  def _delete_old(self, step):
    deletable = [(s, path) for s, path in list_checkpoints(self.directory)
                 if s < step and (s <= self.resumed_step or s in self.written)]
    for _, path in deletable[:max(0, len(deletable) - (self.max_to_keep - 1))]:
      for name in checkpoint_files(path):
        os.remove(name)

  def _write_state(self):
    """The `checkpoint` state file TensorFlow's tools read (tf.train.latest_checkpoint)."""
    latest_step = checkpoint_step(self.latest)
    names = [os.path.basename(path) for step, path in list_checkpoints(self.directory)
             if step <= latest_step]
    lines = [f'model_checkpoint_path: "{os.path.basename(self.latest)}"']
    lines += [f'all_model_checkpoint_paths: "{name}"' for name in names]
    io_utils.write_text_atomically(os.path.join(self.directory, STATE_FILE),
                                   "\n".join(lines) + "\n")
