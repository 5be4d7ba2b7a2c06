"""TFDS as an optional source: dSprites, 3D Shapes and SmallNORB from a prepared TFDS data folder.

Needs `pip install '.[tfds]'` (tensorflow-datasets 4.9 with array_record). The data set must
have been prepared in the array_record file format (`tfds build dsprites
--file_format=array_record`, or a builder's `download_and_prepare` with
`file_format="array_record"`), which TFDS reads by index (`builder.as_data_source`); the default
tfrecord format can only be streamed, so it is refused with a message saying how to rebuild.

TFDS stores the examples in an order of its own (shuffled by key), so opening a data set reads
every example's labels once (the serialized labels only, not the images) and builds the row of
each factor combination; after that a batch reads and decodes only its own examples. The
factors and images are those of the file loaders: TFDS's `label_*` features are the class
indices (for 3D Shapes the ranks of the label values, the same indices as the file's grid order
for the published file), and SmallNORB's left image (`image`) is resized to 64 x 64 as the file
loader does.

tensorflow_datasets is imported inside `open_splits`: it is an optional dependency, and it takes
seconds to import.
"""
import os

import numpy as np
import tensorflow as tf

from zoo.data import image_grid

DSPRITES_LABELS = ("label_shape", "label_scale", "label_orientation", "label_x_position",
                   "label_y_position")
SHAPES3D_LABELS = ("label_floor_hue", "label_wall_hue", "label_object_hue", "label_scale",
                   "label_shape", "label_orientation")
SMALLNORB_LABELS = ("label_category", "instance", "label_elevation", "label_azimuth",
                    "label_lighting")
# Serialized examples parsed at a time while the labels are indexed.
INDEX_BATCH = 8192


def _tfds(label):
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError as error:
    raise ValueError(f"{label}: reading TFDS needs tensorflow-datasets, which is not installed "
                     f"({error}); install it with pip install '.[tfds]'") from None
  return tfds


def open_splits(name, data_dir, label, splits):
  """The array_record data sources of `splits` of the TFDS data set `name` in `data_dir`."""
  tfds = _tfds(label)
  if not os.path.isdir(data_dir):
    raise FileNotFoundError(f"{label}: no such directory; expected a TFDS data folder holding "
                            f"{name!r}")
  try:
    builder = tfds.builder(name, data_dir=data_dir)
  except Exception as error:  # pylint: disable=broad-except
    raise ValueError(f"{label}: TFDS cannot open {name!r} there "
                     f"({str(error).strip().splitlines()[0] if str(error).strip() else error})"
                     ) from None
  if not builder.is_prepared():
    raise FileNotFoundError(f"{label}: expected a TFDS data folder holding a prepared {name!r} "
                            f"({os.path.join(data_dir, name)}/<version>/), found none")
  file_format = str(getattr(builder.info.file_format, "value", builder.info.file_format))
  if file_format != "array_record":
    raise ValueError(f"{label}: {name!r} is stored as {file_format}, which TFDS cannot read by "
                     f"index; rebuild it with `tfds build {name} --file_format=array_record "
                     f"--data_dir={data_dir}`")
  return builder, [builder.as_data_source(split=split) for split in splits]


def _labels(source, keys):
  """int64 [N, len(keys)]: the labels of every example, parsed from the serialized records."""
  features = {key: tf.io.FixedLenFeature([], tf.int64) for key in keys}
  raw = source.data_source
  out = np.empty((len(source), len(keys)), dtype=np.int64)
  for start in range(0, len(source), INDEX_BATCH):
    stop = min(len(source), start + INDEX_BATCH)
    parsed = tf.io.parse_example(tf.constant(raw.__getitems__(list(range(start, stop)))),
                                 features)
    for column, key in enumerate(keys):
      out[start:stop, column] = parsed[key].numpy()
  return out


class TFDSRows:
  """Rows across the splits of a TFDS data set, decoded (and resized) when read."""

  kind = "plain"

  def __init__(self, sources, image_shape, transform=None):
    self.sources = sources
    self.starts = np.cumsum([0] + [len(s) for s in sources])
    self.image_shape = tuple(image_shape)
    self.stored_shape = self.image_shape
    self.transform = transform

  def __len__(self):
    return int(self.starts[-1])

  def _images(self, rows):
    rows = np.asarray(rows, dtype=np.int64)
    unique, inverse = np.unique(rows, return_inverse=True)
    split_of_row = np.searchsorted(self.starts, unique, side="right") - 1
    images = []
    for split, source in enumerate(self.sources):
      local = unique[split_of_row == split] - self.starts[split]
      if len(local):
        examples = source.__getitems__([int(i) for i in local])
        images.extend(np.asarray(example["image"]) for example in examples)
    stacked = np.stack(images) if images else np.zeros((0, 1, 1, 1), np.uint8)
    if self.transform is not None:
      stacked = self.transform(stacked)
    return stacked[inverse.ravel()]

  def read(self, rows):
    return self._images(rows)

  def decode(self, stored):
    return stored


class PackedTFDSRows(TFDSRows):
  """dSprites' binary images from TFDS, stored bit-packed like the file loader's."""

  kind = image_grid.PackedBitRows.kind

  def __init__(self, sources):
    super().__init__(sources, (64, 64, 1))
    self.stored_shape = (64, 8)
    self.width = 64

  def read(self, rows):
    return np.packbits(self._images(rows)[..., 0], axis=-1)

  def decode(self, stored):
    return np.unpackbits(stored, axis=-1, count=self.width)[..., None]


def read_grid(name, data_dir, label, splits, label_keys, factor_names, make_rows):
  """The ImageGrid of the TFDS data set `name` (array_record) in `data_dir`.

  Args:
    name: the TFDS name ("dsprites", "shapes3d", "smallnorb").
    data_dir: the TFDS data folder.
    label: how messages name it (the parameter that set it).
    splits: the splits whose examples together make the grid, in order.
    label_keys: the int features that are the factor indices, in grid order.
    factor_names: the grid's factor names.
    make_rows: [data sources] -> the store (TFDSRows or PackedTFDSRows).
  """
  _, sources = open_splits(name, data_dir, label, splits)
  labels = np.concatenate([_labels(source, label_keys) for source in sources])
  sizes, lookup = image_grid.lookup_from_factor_indices(
      labels, factor_names, f"{label}: expected the TFDS data set {name!r}")
  return image_grid.ImageGrid(factor_names, sizes, make_rows(sources),
                              row_of_combination=lookup,
                              description=f"TFDS {name!r} in {data_dir} (array_record)")
