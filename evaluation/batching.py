"""Applying a function of observations to many of them, a batch at a time."""
import numpy as np

from common import validation


def apply_in_batches(fn, inputs, batch_size, what="function"):
  """fn applied to consecutive slices of `inputs` [N, ...], the outputs joined along axis 0.

  Args:
    fn: maps a batch [B, ...] to an array [B, ...] or to a tuple of such arrays.
    inputs: array [N, ...], N >= 1.
    batch_size: rows per call (the last call gets the rest).
    what: how errors name `fn`.

  Returns:
    An array [N, ...], or a tuple of them when fn returns tuples.
  """
  batch_size = validation.positive_int(batch_size, "batch_size")
  if len(inputs) == 0:
    raise ValueError(f"{what}: expected at least one observation, got none")
  pieces = []
  for start in range(0, len(inputs), batch_size):
    batch = inputs[start:start + batch_size]
    outputs = fn(batch)
    as_tuple = isinstance(outputs, tuple)
    outputs = tuple(np.asarray(output) for output in (outputs if as_tuple else (outputs,)))
    for output in outputs:
      if output.ndim == 0 or output.shape[0] != len(batch):
        raise ValueError(f"{what}: expected outputs with {len(batch)} rows for a batch of "
                         f"{len(batch)} observations, got shape {output.shape}")
    pieces.append(outputs)
  joined = tuple(np.concatenate(parts, axis=0) for parts in zip(*pieces))
  return joined if as_tuple else joined[0]
