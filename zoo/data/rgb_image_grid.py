"""Base of the file-backed colour data sets that store one 64x64x3 uint8 image per factor
combination in row-major order of the factor grid (Shapes3D, MPI3D)."""
import numpy as np

from zoo.data.ground_truth_data import GroundTruthData


class RGBImageGrid(GroundTruthData):
  """Subclasses set `FACTOR_NAMES` and, in their constructor, `_images` [N, 64, 64, 3] uint8 and
  `_sizes` (the factor sizes, whose product is N)."""

  FACTOR_NAMES = ()
  observation_kind = "unit_interval"

  @property
  def factor_names(self):
    return self.FACTOR_NAMES

  @property
  def factors_num_values(self):
    return self._sizes

  @property
  def observation_shape(self):
    return (64, 64, 3)

  def _observations_from_valid_factors(self, factors, random_state):
    del random_state  # The file holds one image per combination.
    rows = np.ravel_multi_index(factors.T, self._sizes)
    return self._images[rows].astype(np.float32) / 255.0
