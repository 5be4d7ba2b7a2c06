"""Pairs of observations that share all but k factors: the weak supervision of weak_vae models.

A pair is x1 rendered from factors f1 (drawn uniformly) and x2 rendered from f2, a copy of f1
in which k factors are resampled, each to a value other than its own, so exactly k factors
differ. k is fixed (1, 2, ...) or drawn uniformly from 1..F-1 for every pair ("random", the
paper's "k = rnd"); either way at least one factor is shared. Training takes it as
`zoo.training.train(..., pair_k=...)` (gin: `weak.k`). Only
factors with more than one value can change.

This follows the pairs of Locatello et al. (ICML 2020) with two differences from their code:
there, half of the pairs change a single factor whatever k is, and a resampled factor may keep
its value (so fewer than k differ); here exactly k do.
"""
import numpy as np

from common import validation


def check_k(k, data, name="k"):
  """`k` if it fits `data`: an integer in [1, F - 1] (at most the factors that can change) or
  "random"; errors call it `name`."""
  changeable = int(np.sum(np.asarray(data.factors_num_values) > 1))
  most = min(data.num_factors - 1, changeable)
  if most < 1:
    raise ValueError(f"{name}: data set {data.name!r} has no factor that can change while "
                     "another stays shared")
  if k == "random":
    return k
  return validation.integer(k, name, minimum=1, maximum=most)


def sample_pair_factors(data, num, k, random_state):
  """Factors of `num` pairs: (f1 int64 [N, F], f2 int64 [N, F], changed bool [N, F])."""
  k = check_k(k, data)
  sizes = np.asarray(data.factors_num_values, dtype=np.int64)
  first = data.sample_factors(num, random_state)
  # Which factors change: the k smallest of random keys, factors that cannot change last.
  keys = random_state.random_sample(first.shape)
  keys[:, sizes < 2] = np.inf
  if k == "random":
    counts = random_state.randint(1, min(len(sizes) - 1, int(np.sum(sizes > 1))) + 1, size=num)
  else:
    counts = np.full(num, k)
  ranks = np.argsort(np.argsort(keys, axis=1, kind="stable"), axis=1, kind="stable")
  changed = ranks < counts[:, None]
  # A new value uniformly among the factor's other values: a shift by 1..size-1, modulo size.
  shifts = 1 + np.floor(random_state.random_sample(first.shape) * (sizes - 1)).astype(np.int64)
  second = np.where(changed, (first + shifts) % sizes, first)
  return first, second, changed


def sample_pairs(data, num, k, random_state):
  """`num` pairs: (f1 [N, F], x1 [N, ...], x2 [N, ...], changed float32 [N, F])."""
  first, second, changed = sample_pair_factors(data, num, k, random_state)
  x1 = data.sample_observations_from_factors(first, random_state)
  x2 = data.sample_observations_from_factors(second, random_state)
  return first, x1, x2, changed.astype(np.float32)
