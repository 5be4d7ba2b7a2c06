"""Base of the data sets read from published files, and how their images are opened.

`open_grid` decides where the images come from, in this order: a TFDS data folder when one is
given; else the prepared layout (memory-mapped) when `zoo-data prepare` wrote one for the file
as it is now; else the published file, read directly by the data set's own reader (slower, and
for some formats more memory; README "Data" has the measured costs).

`FileImageData` turns factors into observations as disentanglement_lib does: the data set shows
some factors of the stored grid (`latent_factor_indices`), and the others (SmallNORB's
instance, the shape of dSprites without shape) are drawn uniformly for every observation from
the caller's RandomState, in grid order, after the shown factors were drawn.
"""
from absl import logging
import numpy as np

from zoo.data import locations
from zoo.data import prepared
from zoo.data.ground_truth_data import GroundTruthData


def open_grid(source, read_published, path, binding, dataset_name, tfds_data_dir=None,
              tfds_binding=None, read_tfds=None):
  """The ImageGrid of a data set.

  Args:
    source: its locations.Source.
    read_published: (path, label) -> ImageGrid, the reader of the published file or folder.
    path: the path parameter's value (None: DISENTANGLEMENT_LIB_DATA).
    binding: the path parameter's name, e.g. "shapes3d.path".
    dataset_name: the registry name, for the hint to prepare it.
    tfds_data_dir, tfds_binding, read_tfds: a TFDS data folder, its parameter's name, and
      (folder, label) -> ImageGrid; None where the data set has no TFDS source.
  """
  if tfds_data_dir:
    if path:
      raise ValueError(f"{binding} and {tfds_binding} are both set: set one of them")
    return read_tfds(tfds_data_dir, f"{tfds_binding}={tfds_data_dir!r}")
  location = locations.locate(source, path, binding)
  if location.prepared and location.published is None:
    return prepared.open_grid(location.prepared, source.key, location.label)
  if location.prepared:
    try:
      if prepared.is_current(location.prepared, location.published, location.label):
        return prepared.open_grid(location.prepared, source.key, location.label)
      problem = "was made from another version of the file"
    except ValueError as error:  # damaged: the published file is still there to read
      problem = f"cannot be used ({error})"
    logging.warning("%s: the prepared layout %s %s; reading the published file directly. "
                    "`zoo-data prepare --dataset=%s` brings it up to date.", location.label,
                    location.prepared, problem, dataset_name)
  grid = read_published(location.published, location.label)
  logging.warning("%s: not prepared, so it is read directly (%s). `zoo-data prepare "
                  "--dataset=%s` once makes it a shared memory map.", location.label,
                  grid.description, dataset_name)
  return grid


def draw_nuisance_factors(factors, sizes, shown, random_state):
  """int64 [N, len(sizes)]: `factors` in the columns `shown`, the others drawn uniformly.

  One randint per drawn column in column order, as disentanglement_lib's
  SplitDiscreteStateSpace.sample_all_factors does.
  """
  if len(shown) == len(sizes):
    return factors
  full = np.zeros((len(factors), len(sizes)), dtype=np.int64)
  full[:, shown] = factors
  for column, size in enumerate(sizes):
    if column not in shown:
      full[:, column] = random_state.randint(size, size=len(factors))
  return full


class FileImageData(GroundTruthData):
  """A data set whose observations are the stored images of a factor grid.

  Subclasses set `name`, `observation_kind` and, in their constructor, `self._grid` (an
  ImageGrid) and optionally `self._shown` (the indices of the grid factors the data set shows;
  all by default). 8-bit images become float32 in [0, 1] (x / 255); binary images stay 0 / 1.
  """

  observation_kind = "unit_interval"
  _grid = None
  _shown = None

  @property
  def shown_factors(self):
    return tuple(range(len(self._grid.factor_sizes))) if self._shown is None else self._shown

  @property
  def factor_names(self):
    return tuple(self._grid.factor_names[i] for i in self.shown_factors)

  @property
  def factors_num_values(self):
    return tuple(self._grid.factor_sizes[i] for i in self.shown_factors)

  @property
  def observation_shape(self):
    return tuple(self._grid.image_shape)

  @property
  def grid(self):
    """The ImageGrid the observations come from (its `description` says where)."""
    return self._grid

  def stored_images(self, factors, random_state):
    """uint8 [N, H, W, C] for checked factors [N, F], drawing the nuisance factors."""
    full = draw_nuisance_factors(factors, self._grid.factor_sizes, list(self.shown_factors),
                                 random_state)
    return self._grid.images(full)

  def _observations_from_valid_factors(self, factors, random_state):
    images = self.stored_images(factors, random_state)
    if self.observation_kind == "binary":
      return images.astype(np.float32)
    # x / 255 in float32, the same numbers as images.astype(np.float32) / 255.0 with one
    # allocation instead of two (fresh allocations cost page faults, batch after batch).
    return np.divide(images, np.float32(255.0), dtype=np.float32)
