"""TFDS as a source: dsprites, shapes3d and smallnorb prepared by TFDS's own builders (offline,
from small files in the published layouts, in the array_record format) give the same factors
and images as the file loaders."""
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from tensorflow_datasets.datasets.dsprites import dsprites_dataset_builder
from tensorflow_datasets.datasets.shapes3d import shapes3d_dataset_builder
from tensorflow_datasets.datasets.smallnorb import smallnorb_dataset_builder

from data_test_case import FileTestCase
import published_layouts as layouts
from zoo.data import DSpritesFile
from zoo.data import NoisyDSprites
from zoo.data import Shapes3D
from zoo.data import SmallNORB
from zoo.data import prepare


def offline_builder(module, name, split_files):
  """TFDS's builder of `name`, reading `split_files` (split -> generator kwargs) instead of
  downloading; the dataset folder it writes is the one `tfds.builder(name)` reads."""

  class Offline(module.Builder, skip_registration=True):

    @classmethod
    def _get_pkg_dir_path(cls):  # the original's metadata (citation, description)
      return module.Builder._get_pkg_dir_path()

    def _split_generators(self, dl_manager):
      del dl_manager
      return [tfds.core.SplitGenerator(name=split, gen_kwargs=kwargs)
              for split, kwargs in split_files.items()]

  Offline.name = name
  return Offline


def build(module, name, data_dir, split_files, file_format="array_record"):
  builder = offline_builder(module, name, split_files)(data_dir=data_dir,
                                                       file_format=file_format)
  builder.download_and_prepare(
      download_config=tfds.download.DownloadConfig(try_download_gcs=False))


class TFDSSourceTest(FileTestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data_dir = os.path.join(tf.compat.v1.test.get_temp_dir(), "tfds")
    cls.files = os.path.join(tf.compat.v1.test.get_temp_dir(), "published")
    os.makedirs(cls.files, exist_ok=True)
    random_state = np.random.RandomState(0)
    images, classes = layouts.dsprites_arrays((3, 2, 4, 2, 3), random_state)
    cls.dsprites = layouts.write_dsprites_hdf5(os.path.join(cls.files, "d.hdf5"), images,
                                               classes)
    build(dsprites_dataset_builder, "dsprites", cls.data_dir,
          {"train": {"filepath": cls.dsprites}})
    cls.shapes3d = layouts.write_shapes3d_h5(
        os.path.join(cls.files, "3dshapes.h5"),
        random_state.randint(0, 256, size=(72, 64, 64, 3), dtype=np.uint8),
        layouts.shapes3d_labels((2, 3, 1, 2, 2, 3)) * [1, 1, 1, 1, 1, -1])  # increasing values
    build(shapes3d_dataset_builder, "shapes3d", cls.data_dir,
          {"train": {"filepath": cls.shapes3d}})
    cls.smallnorb = layouts.write_smallnorb(
        os.path.join(cls.files, "small_norb"),
        layouts.smallnorb_halves((2, 2, 2, 3, 2), random_state))
    split_files = {}
    for split, chunk in zip(("train", "test"), layouts.SMALLNORB_CHUNKS):
      paths = {f"{part}_path": os.path.join(cls.smallnorb, f"{chunk}-{part}.mat")
               for part in ("dat", "cat", "info")}
      split_files[split] = dict(split_prefix=split, **paths)
    build(smallnorb_dataset_builder, "smallnorb", cls.data_dir, split_files)

  def assert_same_data(self, from_file, from_tfds, num=40, source="TFDS"):
    self.assertEqual(from_tfds.factor_names, from_file.factor_names)
    self.assertEqual(from_tfds.factors_num_values, from_file.factors_num_values)
    self.assertIn(source, from_tfds.grid.description)
    for seed in range(2):
      expected = from_file.sample(num, np.random.RandomState(seed))
      actual = from_tfds.sample(num, np.random.RandomState(seed))
      self.assertAllEqual(expected[0], actual[0])
      self.assertAllEqual(expected[1], actual[1])

  def test_the_same_factors_and_images_as_the_files(self):
    self.assert_same_data(DSpritesFile(self.dsprites),
                          DSpritesFile(tfds_data_dir=self.data_dir))
    self.assert_same_data(NoisyDSprites(self.dsprites),
                          NoisyDSprites(tfds_data_dir=self.data_dir))
    self.assert_same_data(Shapes3D(self.shapes3d), Shapes3D(tfds_data_dir=self.data_dir))
    self.assert_same_data(SmallNORB(self.smallnorb), SmallNORB(tfds_data_dir=self.data_dir))

  def test_prepare_from_tfds(self):
    out = os.path.join(self.dir, "out")
    result = prepare.prepare("smallnorb", tfds_data_dir=self.data_dir, output_dir=out)
    self.assertEqual(result["target"], os.path.join(out, "zoo_prepared_smallnorb"))
    self.assert_same_data(SmallNORB(self.smallnorb), SmallNORB(result["target"]),
                          source="prepared layout")
    result = prepare.prepare("dsprites_file", tfds_data_dir=self.data_dir, output_dir=out)
    self.assertEqual(result["store"], "packed_bits")
    self.assert_same_data(DSpritesFile(self.dsprites), DSpritesFile(result["target"]),
                          source="prepared layout")

  def test_what_tfds_cannot_read_is_refused_in_one_line(self):
    self.assert_one_line_error(ValueError, "^shapes3d.path and shapes3d.tfds_data_dir are both "
                               "set", Shapes3D, self.shapes3d, tfds_data_dir=self.data_dir)
    empty = self.path("empty_tfds")
    os.makedirs(empty)
    self.assert_one_line_error(FileNotFoundError, f"^smallnorb.tfds_data_dir='{empty}': "
                               "expected a TFDS data folder holding a prepared 'smallnorb'",
                               SmallNORB, tfds_data_dir=empty)
    streamed = self.path("tfrecord")
    build(shapes3d_dataset_builder, "shapes3d", streamed, {"train": {"filepath": self.shapes3d}},
          file_format="tfrecord")
    self.assert_one_line_error(ValueError, f"^shapes3d.tfds_data_dir='{streamed}': 'shapes3d' "
                               "is stored as tfrecord, which TFDS cannot read by index; rebuild "
                               "it with `tfds build shapes3d --file_format=array_record",
                               Shapes3D, tfds_data_dir=streamed)


if __name__ == "__main__":
  tf.test.main()
