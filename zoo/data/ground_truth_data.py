"""The interface every ground-truth data set implements: discrete factors in, observations out.

Factors are int64 *indices* into each factor's grid of values, `[N, F]`, points first.
Observations are float32 `[N, *observation_shape]`: images `(H, W, C)` in [0, 1] or vectors
`(D,)`. All randomness comes from a `numpy.random.RandomState` passed in by the caller.

The public sampling methods check their inputs once here, so subclasses only implement
`_observations_from_valid_factors` and may assume a well-formed int64 factor array.
"""
import abc

import numpy as np

from common import validation


class GroundTruthData(abc.ABC):
  """A data set whose observations are rendered from known, discrete generative factors.

  Subclasses set the class attributes `name` (the registry name) and `observation_kind`, and
  implement the three shape properties and `_observations_from_valid_factors`.

  `observation_kind` says what values observations take, which decides the likelihoods that
  fit them (`zoo.models.likelihoods`): "binary" (0 or 1), "unit_interval" ([0, 1]) or "real".
  """

  name = None
  observation_kind = None

  @property
  @abc.abstractmethod
  def factor_names(self):
    """Tuple of F strings."""

  @property
  @abc.abstractmethod
  def factors_num_values(self):
    """Tuple of F ints: how many values each factor takes."""

  @property
  @abc.abstractmethod
  def observation_shape(self):
    """(H, W, C) for images, (D,) for vectors."""

  @abc.abstractmethod
  def _observations_from_valid_factors(self, factors, random_state):
    """Renders int64 factors [N, F] (already checked) to float32 [N, *observation_shape]."""

  @property
  def num_factors(self):
    return len(self.factors_num_values)

  @property
  def num_combinations(self):
    """How many distinct factor combinations the grid has."""
    return int(np.prod(self.factors_num_values, dtype=np.int64))

  def check_factors(self, factors):
    """Returns `factors` as int64 [N, F] or raises ValueError saying what was expected.

    Whole-valued float arrays are accepted because callers often build factor arrays with
    np.zeros; fractional values are not.
    """
    sizes = np.asarray(self.factors_num_values, dtype=np.int64)
    expected = (f"int factor indices of shape [N, {len(sizes)}] with column i in "
                f"[0, {tuple(self.factors_num_values)}[i])")
    array = np.asarray(factors)
    if array.ndim != 2 or array.shape[1] != len(sizes):
      raise ValueError(f"{self.name} factors: expected {expected}, got shape {array.shape}")
    if array.dtype.kind not in "iuf":
      raise ValueError(f"{self.name} factors: expected {expected}, got dtype {array.dtype}")
    if array.dtype.kind == "f":
      if not np.all(np.isfinite(array)) or np.any(array != np.round(array)):
        raise ValueError(f"{self.name} factors: expected {expected}, got non-integer values")
    array = array.astype(np.int64)
    bad = (array < 0) | (array >= sizes)
    if np.any(bad):
      row, col = np.argwhere(bad)[0]
      raise ValueError(f"{self.name} factors: expected {expected}, got {array[row, col]} in "
                       f"column {col} ({self.factor_names[col]}) of row {row}")
    return array

  def sample_factors(self, num, random_state):
    """Uniform factor indices, int64 [num, F].

    One `randint` call per factor, in factor order, as the reference study's code does, so the
    same seed gives the same factors.
    """
    num = validation.non_negative_int(num, f"{self.name}.sample_factors: num")
    validation.random_state(random_state, f"{self.name}.sample_factors: random_state")
    factors = np.zeros((num, self.num_factors), dtype=np.int64)
    for i, size in enumerate(self.factors_num_values):
      factors[:, i] = random_state.randint(size, size=num)
    return factors

  def sample_observations_from_factors(self, factors, random_state):
    """float32 [N, *observation_shape] for int64 factors [N, F]."""
    validation.random_state(random_state,
                            f"{self.name}.sample_observations_from_factors: random_state")
    factors = self.check_factors(factors)
    observations = self._observations_from_valid_factors(factors, random_state)
    return np.asarray(observations, dtype=np.float32)

  def sample(self, num, random_state):
    """(factors int64 [num, F], observations float32 [num, *observation_shape])."""
    factors = self.sample_factors(num, random_state)
    return factors, self.sample_observations_from_factors(factors, random_state)

  def sample_observations(self, num, random_state):
    """float32 [num, *observation_shape]."""
    return self.sample(num, random_state)[1]
