"""File-backed data sets: small files in the real layouts load, and every broken file is refused
with a one-line error naming the file."""
import os

import h5py
import numpy as np
import tensorflow as tf

from zoo.data import DSpritesFile, MPI3D, Shapes3D, get_dataset

DSPRITES_SIZES = (3, 2, 4, 2, 3)  # shape, scale, orientation, posX, posY
SHAPES3D_SIZES = (2, 3, 1, 2, 2, 3)
MPI3D_SIZES = (2, 1, 2, 1, 3, 2, 2)


def grid_rows(sizes):
  """int64 [prod(sizes), len(sizes)]: every combination, in row-major order."""
  return np.stack(np.unravel_index(np.arange(int(np.prod(sizes))), sizes), axis=1)


class FileTestCase(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.dir = self.get_temp_dir()
    self.random_state = np.random.RandomState(0)

  def path(self, name):
    return os.path.join(self.dir, name)

  def truncate(self, source, name):
    with open(source, "rb") as f:
      content = f.read()
    path = self.path(name)
    with open(path, "wb") as f:
      f.write(content[:len(content) // 2])
    return path

  def write_text(self, name):
    path = self.path(name)
    with open(path, "w") as f:
      f.write("not an array file\n")
    return path

  def assert_one_line_error(self, error_type, pattern, fn, *args, **kwargs):
    with self.assertRaisesRegex(error_type, pattern) as context:
      fn(*args, **kwargs)
    # gin appends "In call to configurable ..." lines; the message itself must be one line.
    message = str(context.exception).split("\n  In call to configurable")[0]
    self.assertNotIn("\n", message)


class DSpritesFileTest(FileTestCase):

  def write(self, name="dsprites.npz", images=None, classes=None, shuffle=True, **extra):
    classes_grid = np.concatenate(
        [np.zeros((int(np.prod(DSPRITES_SIZES)), 1), np.int64), grid_rows(DSPRITES_SIZES)], 1)
    if classes is None:
      classes = classes_grid
    num = len(classes_grid)
    if images is None:
      images = (self.random_state.uniform(size=(num, 64, 64)) < 0.3).astype(np.uint8)
    if shuffle:  # the loader must look images up by their classes, not by position.
      order = self.random_state.permutation(len(images))
      images, classes = images[order], classes[order]
    path = self.path(name)
    arrays = dict(imgs=images, latents_classes=classes, **extra)
    np.savez_compressed(path, **arrays)
    return path, images, classes

  def test_observations_are_the_stored_images_of_the_factors(self):
    path, images, classes = self.write(latents_values=np.zeros((3, 6)))
    data = DSpritesFile(path)
    self.assertEqual(data.factors_num_values, DSPRITES_SIZES)
    self.assertEqual(data.num_combinations, len(images))
    self.assertEqual(data.factor_names, ("shape", "scale", "orientation", "posX", "posY"))
    self.assertEqual(data.observation_shape, (64, 64, 1))
    factors, observations = data.sample(40, self.random_state)
    self.assertEqual(observations.dtype, np.float32)
    self.assertEqual(observations.shape, (40, 64, 64, 1))
    for f, observation in zip(factors, observations):
      row = np.flatnonzero(np.all(classes[:, 1:] == f, axis=1))
      self.assertLen(row, 1)
      self.assertAllEqual(observation[..., 0], images[row[0]].astype(np.float32))
    # Every stored image is reachable through its classes.
    all_observations = data.sample_observations_from_factors(classes[:, 1:], self.random_state)
    self.assertAllEqual(all_observations[..., 0], images)

  def test_registry_and_gin_path(self):
    path, _, _ = self.write()
    self.assertEqual(get_dataset("dsprites_file", path=path).factors_num_values, DSPRITES_SIZES)

  def test_missing_file(self):
    self.assert_one_line_error(FileNotFoundError, "dsprites_file.path.*nope.npz", DSpritesFile,
                               self.path("nope.npz"))
    self.assert_one_line_error(ValueError, "dsprites_file.path is not set", DSpritesFile)

  def test_broken_files(self):
    good, images, classes = self.write(shuffle=False)
    cases = [
        (self.truncate(good, "truncated.npz"), "truncated.npz: expected key 'imgs'"),
        (self.write_text("text.npz"), "text.npz: expected key 'imgs'.*not a readable"),
        (self.write("float.npz", images=images.astype(np.float32))[0],
         r"float.npz: expected key 'imgs' of shape \[N, 64, 64\] uint8.*got shape .* float32"),
        (self.write("small.npz", images=images[:, :32, :32])[0], r"got shape \[144, 32, 32\]"),
        (self.write("short.npz", images=images[:-1], classes=classes[:-1])[0],
         r"got 143 images for a grid of sizes \(3, 2, 4, 2, 3\) \(144 combinations\)"),
        (self.write("mismatch.npz", classes=classes[:-1], shuffle=False)[0],
         r"'latents_classes' of shape \[143, 6\] int64 for 144 images"),
        (self.write("five.npz", classes=classes[:, 1:], shuffle=False)[0],
         r"'latents_classes' of shape \[144, 5\]"),
        (self.write("twice.npz", classes=np.concatenate([classes[:1], classes[:-1]]),
                    shuffle=False)[0], "some combinations of classes twice"),
        (self.write("colour.npz", classes=np.concatenate(
            [classes[:, :1] + np.arange(len(classes))[:, None] % 2, classes[:, 1:]], 1))[0],
         "colour column that is not constant"),
        (self.write("values.npz", images=images * 255)[0], "got image values up to 255"),
    ]
    with open(good, "rb") as f:
      corrupt = bytearray(f.read())
    corrupt[len(corrupt) // 3] ^= 0xFF  # inside the compressed images; the directory is intact.
    with open(self.path("corrupt.npz"), "wb") as f:
      f.write(corrupt)
    cases.append((self.path("corrupt.npz"), "corrupt.npz: expected key 'imgs'.*cannot be read"))
    npy = self.path("single.npy")
    np.save(npy, images)
    cases.append((npy, "single .npy array"))
    no_classes = self.path("no_classes.npz")
    np.savez(no_classes, imgs=images)
    cases.append((no_classes, r"keys \['latents_classes'\] are missing"))
    pickled = self.path("pickled.npz")
    np.savez(pickled, imgs=np.array([object()] * 2), latents_classes=classes)
    cases.append((pickled, "pickled.npz: expected key 'imgs'.*cannot be read"))
    for path, pattern in cases:
      self.assert_one_line_error(ValueError, pattern, DSpritesFile, path)


class Shapes3DTest(FileTestCase):

  def write(self, name="shapes.h5", sizes=SHAPES3D_SIZES, labels=None, images=None,
            image_key="images"):
    grid = grid_rows(sizes)
    if labels is None:
      # Real files store label *values*; any spacing and direction must work.
      labels = grid * np.array([0.1, 0.1, 0.1, 0.0714285714, 1.0, -4.2857142857]) + [
          0.0, 0.0, 0.0, 0.75, 0.0, 30.0]
    if images is None:
      images = self.random_state.randint(0, 256, size=(len(grid), 64, 64, 3), dtype=np.uint8)
    path = self.path(name)
    with h5py.File(path, "w") as h5:
      h5.create_dataset(image_key, data=images)
      h5.create_dataset("labels", data=labels)
    return path, images, labels

  def test_observations_are_the_stored_images_in_row_major_order(self):
    path, images, _ = self.write()
    for data in (Shapes3D(path), Shapes3D(path, factor_sizes=SHAPES3D_SIZES),
                 get_dataset("shapes3d", path=path)):
      self.assertEqual(data.factors_num_values, SHAPES3D_SIZES)
      self.assertEqual(data.observation_shape, (64, 64, 3))
      self.assertEqual(data.factor_names[0], "floor_hue")
      factors, observations = data.sample(30, self.random_state)
      self.assertEqual(observations.dtype, np.float32)
      rows = np.ravel_multi_index(factors.T, SHAPES3D_SIZES)
      self.assertAllClose(observations, images[rows] / 255.0)
      self.assertBetween(observations.min(), 0.0, 1.0)
      self.assertBetween(observations.max(), 0.0, 1.0)
    # Row-major strides of (2, 3, 1, 2, 2, 3) are (36, 12, 12, 6, 3, 1): (0, 1, 0, 1, 1, 2) -> 23.
    observation = Shapes3D(path).sample_observations_from_factors(
        np.array([[0, 1, 0, 1, 1, 2]]), self.random_state)
    self.assertAllClose(observation[0], images[23] / 255.0)

  def test_missing_file(self):
    self.assert_one_line_error(FileNotFoundError, "shapes3d.path.*none.h5", Shapes3D,
                               self.path("none.h5"))

  def test_broken_files(self):
    good, images, labels = self.write()
    shuffled = self.random_state.permutation(len(images))
    cases = [
        (self.truncate(good, "truncated.h5"), "truncated.h5: expected datasets 'images'.*not a "
         "readable HDF5 file"),
        (self.write_text("text.h5"), "text.h5: expected datasets.*not a readable HDF5"),
        (self.write("keys.h5", image_key="imgs")[0], r"datasets \['images'\] are missing"),
        (self.write("rgba.h5", images=np.zeros((72, 64, 64, 4), np.uint8))[0],
         r"got shape \[72, 64, 64, 4\] uint8"),
        (self.write("labels.h5", labels=labels[:, :5])[0], r"'labels' of shape \[72, 5\]"),
        (self.write("order.h5", labels=labels[shuffled])[0], "not in row-major grid order"),
        (self.write("short.h5", images=images[:-1], labels=labels[:-1])[0],
         r"got 71 images for a grid of sizes \(2, 3, 1, 2, 2, 3\)"),
    ]
    for path, pattern in cases:
      self.assert_one_line_error(ValueError, pattern, Shapes3D, path)
    self.assert_one_line_error(ValueError, "does not match the distinct label values", Shapes3D,
                               good, factor_sizes=(3, 2, 1, 2, 2, 3))
    self.assert_one_line_error(ValueError, "shapes3d.factor_sizes.*6 positive integers",
                               Shapes3D, good, factor_sizes=(2, 3))


class MPI3DTest(FileTestCase):

  def write(self, name="mpi3d.npz", images=None, key="images"):
    if images is None:
      images = self.random_state.randint(0, 256, size=(int(np.prod(MPI3D_SIZES)), 64, 64, 3),
                                         dtype=np.uint8)
    path = self.path(name)
    np.savez(path, **{key: images})
    return path, images

  def test_observations_are_the_stored_images_in_row_major_order(self):
    path, images = self.write()
    data = MPI3D(path, factor_sizes=MPI3D_SIZES)
    self.assertEqual(data.factors_num_values, MPI3D_SIZES)
    self.assertEqual(data.observation_shape, (64, 64, 3))
    self.assertLen(data.factor_names, 7)
    factors, observations = data.sample(30, self.random_state)
    self.assertAllClose(observations, images[np.ravel_multi_index(factors.T, MPI3D_SIZES)] / 255)
    # Row-major strides of (2, 1, 2, 1, 3, 2, 2) are (24, 24, 12, 12, 4, 2, 1): -> row 46.
    observation = data.sample_observations_from_factors(np.array([[1, 0, 1, 0, 2, 1, 0]]),
                                                        self.random_state)
    self.assertAllClose(observation[0], images[46] / 255.0)

  def test_broken_files(self):
    good, images = self.write()
    self.assert_one_line_error(FileNotFoundError, "mpi3d.path", MPI3D, self.path("x.npz"),
                               factor_sizes=MPI3D_SIZES)
    # The real grid needs 1,036,800 images.
    self.assert_one_line_error(ValueError, r"expected key 'images' of shape \[1036800, 64, 64, 3\]"
                               r".*got shape \[48, 64, 64, 3\]", MPI3D, good)
    cases = [
        (self.truncate(good, "truncated.npz"), "truncated.npz: expected key 'images'"),
        (self.write("key.npz", key="imgs")[0], r"keys \['images'\] are missing"),
        (self.write("gray.npz", images=images[..., 0])[0], r"got shape \[48, 64, 64\] uint8"),
    ]
    for path, pattern in cases:
      self.assert_one_line_error(ValueError, pattern, MPI3D, path, factor_sizes=MPI3D_SIZES)
    self.assert_one_line_error(ValueError, "mpi3d.factor_sizes.*7 positive integers", MPI3D,
                               good, factor_sizes=(2, 2, 0, 1, 3, 2, 2))


if __name__ == "__main__":
  tf.test.main()
