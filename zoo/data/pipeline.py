"""tf.data input pipeline over a ground-truth data set, reproducible batch by batch.

Batch k of a run is rendered with its own RandomState seeded from (seed, shard, step), where
step = start_step + k. A run resumed at step t therefore sees exactly the batches the
uninterrupted run would have seen from t on, and each input pipeline of a distributed run draws
its own stream. Batches are rendered in parallel but delivered in step order.

Rendering runs Python inside tf.data (tf.numpy_function). Once the interpreter has begun to shut
down, Python stops any thread that asks for the GIL, so a call still in flight then never
returns and the destructor of an iterator that is still alive waits for it forever. Iterators
held in function scope (as the training loop does) are freed before that and are safe; for
iterators that live until exit (module globals, scripts), an exit hook below first lets every
pipeline run dry: new calls return at once and the hook waits until no call has started for a
moment.
"""
import atexit
import threading
import time

import numpy as np
import tensorflow as tf

from common import validation
from zoo.data import pairs

# The step range is open-ended in practice; Dataset.range needs a bound.
_LAST_STEP = np.iinfo(np.int64).max


class _ExitGuard:
  """Counts rendering calls and turns them into no-ops while the interpreter exits."""

  def __init__(self):
    self.exiting = False
    self.started = 0
    self.running = 0
    self.lock = threading.Lock()

  def enter(self):
    with self.lock:
      self.started += 1
      self.running += 1
      return not self.exiting

  def leave(self):
    with self.lock:
      self.running -= 1

  def drain(self, quiet_s=0.2, timeout_s=5.0):
    """Waits until no call is running and none has started for `quiet_s` seconds."""
    self.exiting = True
    if not self.started:  # no pipeline ever ran in this process
      return
    deadline = time.monotonic() + timeout_s
    last, quiet_since = -1, time.monotonic()
    while time.monotonic() < deadline:
      with self.lock:
        started, running = self.started, self.running
      if started != last or running:
        last, quiet_since = started, time.monotonic()
      elif time.monotonic() - quiet_since >= quiet_s:
        return
      time.sleep(0.01)


_EXIT_GUARD = _ExitGuard()
atexit.register(_EXIT_GUARD.drain)


def batch_random_state(seed, shard, step):
  """The RandomState that renders batch `step` of input pipeline `shard` in a run with `seed`.

  SeedSequence hashes the three numbers together, so nearby seeds, shards and steps give
  unrelated streams.
  """
  sequence = np.random.SeedSequence([int(seed), int(shard), int(step)])
  return np.random.RandomState(np.random.MT19937(sequence))


def _stepped_dataset(sample, shapes, batch_size, seed, start_step, input_context, what):
  """Infinite dataset whose batch k is sample(B, batch_random_state(seed, shard, start + k)).

  Args:
    sample: (batch size, RandomState) -> a tuple of float32 arrays of `shapes` (batch first).
    shapes: the shape of each array without the batch dimension.
    what: the caller's name, for errors.
  """
  batch_size = validation.positive_int(batch_size, f"{what}: batch_size")
  seed = validation.non_negative_int(seed, f"{what}: seed")
  start_step = validation.non_negative_int(start_step, f"{what}: start_step")
  shard = 0
  if input_context is not None:
    shard = input_context.input_pipeline_id
    batch_size = input_context.get_per_replica_batch_size(batch_size)
  shapes = [(batch_size,) + tuple(shape) for shape in shapes]

  def render(step):
    try:
      if not _EXIT_GUARD.enter():  # the batch would never be read
        return tuple(np.zeros(shape, dtype=np.float32) for shape in shapes)
      return tuple(np.asarray(array, np.float32) for array in sample(
          batch_size, batch_random_state(seed, shard, int(step))))
    finally:
      _EXIT_GUARD.leave()

  def render_op(step):
    arrays = tf.numpy_function(render, [step], [tf.float32] * len(shapes), stateful=False)
    for array, shape in zip(arrays, shapes):
      array.set_shape(shape)
    return arrays[0] if len(arrays) == 1 else tuple(arrays)

  steps = tf.data.Dataset.range(start_step, _LAST_STEP)
  batches = steps.map(render_op, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
  return batches.prefetch(tf.data.AUTOTUNE)


def make_dataset(data, batch_size, seed, start_step=0, input_context=None):
  """Infinite dataset of observation batches.

  Args:
    data: a GroundTruthData.
    batch_size: global batch size; with `input_context`, each pipeline yields
      input_context.get_per_replica_batch_size(batch_size) observations per batch.
    seed: non-negative int.
    start_step: the step of the first batch (the step a resumed run starts at).
    input_context: a tf.distribute.InputContext or None; its input_pipeline_id is the shard.

  Returns:
    tf.data.Dataset of float32 [B, *data.observation_shape]; batch k equals
    data.sample_observations(B, batch_random_state(seed, shard, start_step + k)).
  """
  return _stepped_dataset(lambda num, rs: (data.sample_observations(num, rs),),
                          [data.observation_shape], batch_size, seed, start_step, input_context,
                          "make_dataset")


def make_pair_dataset(data, batch_size, seed, k, start_step=0, input_context=None):
  """Infinite dataset of batches of observation pairs that share all but some factors.

  Like `make_dataset` (step-indexed and sharded the same way), with batches
  (x1 [B, ...], x2 [B, ...], changed [B, F]) from `pairs.sample_pairs(data, B, k, ...)`.
  """
  return _stepped_dataset(lambda num, rs: pairs.sample_pairs(data, num, k, rs)[1:],
                          [data.observation_shape, data.observation_shape,
                           (data.num_factors,)],
                          batch_size, seed, start_step, input_context, "make_pair_dataset")
