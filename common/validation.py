"""Checks of user-supplied values, with one-line errors that name the setting.

Used where values enter the library: gin configurables, the binaries' flags and the public
functions of each module. Every error is a ValueError reading `<name>=<value>: expected ...`,
so `name` should be what the user wrote (`training.num_steps`, `--seed`, `mig.num_bins`).
Inner functions trust what their callers checked.
"""
import math
import numbers

import numpy as np

SEED_LIMIT = 2**32  # numpy's RandomState takes seeds in [0, 2**32)


def _is_integer(value):
  return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _integer_expectation(minimum, maximum):
  if maximum is not None:
    return f"an integer in [{minimum}, {maximum}]"
  if minimum == 0:
    return "a non-negative integer"
  if minimum == 1:
    return "a positive integer"
  return "an integer" if minimum is None else f"an integer >= {minimum}"


def integer(value, name, minimum=None, maximum=None):
  """`value` as an int if it is an integer (a bool is not) within [minimum, maximum]."""
  if not (_is_integer(value) and (minimum is None or value >= minimum)
          and (maximum is None or value <= maximum)):
    raise ValueError(f"{name}={value!r}: expected {_integer_expectation(minimum, maximum)}")
  return int(value)


def positive_int(value, name):
  return integer(value, name, minimum=1)


def non_negative_int(value, name):
  return integer(value, name, minimum=0)


def seed(value, name="seed"):
  """A seed numpy's RandomState accepts: an integer in [0, 2**32)."""
  return integer(value, name, minimum=0, maximum=SEED_LIMIT - 1)


def number(value, name, minimum=None, maximum=None, exclusive_minimum=False,
           exclusive_maximum=False):
  """`value` as a float if it is a finite real number (a bool is not) within the bounds."""
  valid = (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
           and math.isfinite(value))
  if valid and minimum is not None:
    valid = value > minimum if exclusive_minimum else value >= minimum
  if valid and maximum is not None:
    valid = value < maximum if exclusive_maximum else value <= maximum
  if not valid:
    bounds = []
    if minimum is not None:
      bounds.append(f"{'>' if exclusive_minimum else '>='} {minimum:g}")
    if maximum is not None:
      bounds.append(f"{'<' if exclusive_maximum else '<='} {maximum:g}")
    raise ValueError(f"{name}={value!r}: expected a finite number"
                     + (f" {' and '.join(bounds)}" if bounds else ""))
  return float(value)


def positive_number(value, name):
  return number(value, name, minimum=0, exclusive_minimum=True)


def one_of(value, choices, name):
  """`value` if it is one of `choices`."""
  if value not in choices:
    raise ValueError(f"{name}={value!r}: expected one of {', '.join(map(repr, choices))}")
  return value


def random_state(value, name="random_state"):
  """`value` if it is a numpy RandomState (the metrics and data sets draw from one)."""
  if not isinstance(value, np.random.RandomState):
    raise ValueError(f"{name}: expected a numpy.random.RandomState, got {type(value).__name__}")
  return value


def non_negative_matrix(value, name, axes, entries="values"):
  """`value` as a float64 `[rows, columns]` array with no empty axis and only finite,
  non-negative entries; `axes` names the two axes in the error (`num_codes, num_factors`)."""
  matrix = np.asarray(value, dtype=np.float64)
  if matrix.ndim != 2 or 0 in matrix.shape:
    raise ValueError(f"{name}: expected a non-empty 2-D array [{axes}], got shape "
                     f"{matrix.shape}")
  if not np.all(np.isfinite(matrix)) or np.any(matrix < 0):
    raise ValueError(f"{name}: expected finite non-negative {entries}")
  return matrix


def options(value, allowed, name):
  """`value` (None or a dict) as a new dict, if every key is one of `allowed`."""
  if value is None:
    return {}
  if not isinstance(value, dict):
    raise ValueError(f"{name}={value!r}: expected a dict of settings (some of {sorted(allowed)})")
  unknown = sorted(set(value) - set(allowed))
  if unknown:
    raise ValueError(f"{name}={value!r}: unknown {unknown}, expected some of {sorted(allowed)}")
  return dict(value)
