"""3D Shapes, MPI3D, SmallNORB and Cars3D from small files in their published layouts: the
factor grid and its order, the image at a known index, and one-line errors for broken files."""
import os

import numpy as np
import tensorflow as tf

from data_test_case import FileTestCase
import published_layouts as layouts
from zoo.data import Cars3D
from zoo.data import MPI3DReal
from zoo.data import MPI3DRealistic
from zoo.data import MPI3DToy
from zoo.data import Shapes3D
from zoo.data import SmallNORB
from zoo.data import get_dataset
from zoo.data import locations
from zoo.data import mpi3d
from zoo.data import smallnorb

SHAPES3D_SIZES = (2, 3, 1, 2, 2, 3)
SMALLNORB_SIZES = (2, 2, 2, 3, 2)  # category, instance, elevation, azimuth, lighting


class Shapes3DTest(FileTestCase):

  def setUp(self):
    super().setUp()
    self.images = self.random_state.randint(0, 256, size=(72, 64, 64, 3), dtype=np.uint8)
    self.labels = layouts.shapes3d_labels(SHAPES3D_SIZES)

  def test_observations_are_the_stored_images_in_row_major_order(self):
    h5 = layouts.write_shapes3d_h5(self.path("3dshapes.h5"), self.images, self.labels)
    contiguous = layouts.write_shapes3d_h5(self.path("plain.h5"), self.images, self.labels,
                                           chunks=None, compression=None)
    # disentanglement_lib's .npz, with the grid as leading axes.
    npz = self.path("reference.npz")
    np.savez(npz, images=self.images.reshape(SHAPES3D_SIZES + (64, 64, 3)),
             labels=self.labels.reshape(SHAPES3D_SIZES + (6,)))
    for path in (h5, contiguous, npz):
      for data in (Shapes3D(path), Shapes3D(path, factor_sizes=SHAPES3D_SIZES),
                   get_dataset("shapes3d", path=path)):
        self.assertEqual(data.factors_num_values, SHAPES3D_SIZES)
        self.assertEqual(data.factor_names, ("floor_hue", "wall_hue", "object_hue", "scale",
                                             "shape", "orientation"))
        self.assertEqual(data.observation_shape, (64, 64, 3))
        factors, observations = data.sample(30, self.random_state)
        rows = np.ravel_multi_index(factors.T, SHAPES3D_SIZES)
        self.assertAllEqual(observations, self.images[rows].astype(np.float32) / 255.0)
      # Row-major strides of (2, 3, 1, 2, 2, 3) are (36, 12, 12, 6, 3, 1): -> 23.
      observation = Shapes3D(path).sample_observations_from_factors(
          np.array([[0, 1, 0, 1, 1, 2]]), self.random_state)
      self.assertAllEqual(observation[0], self.images[23] / np.float32(255.0))
    self.assertIn("memory-mapped HDF5 dataset", Shapes3D(contiguous).grid.description)
    self.assertIn("gzip chunks", Shapes3D(h5).grid.description)
    os.environ[locations.ENV_VAR] = self.dir
    os.makedirs(self.path("3dshapes"))
    os.rename(h5, self.path("3dshapes", "3dshapes.h5"))
    self.assertEqual(Shapes3D().factors_num_values, SHAPES3D_SIZES)

  def test_broken_files(self):
    good = layouts.write_shapes3d_h5(self.path("good.h5"), self.images, self.labels)
    shuffled = self.random_state.permutation(72)
    expected = r"': expected an HDF5 file with datasets 'images' of shape \[N, 64, 64, 3\] uint8"
    cases = [
        (layouts.truncate(good, self.path("truncated.h5")),
         f"truncated.h5{expected}.*not a readable HDF5 file"),
        (layouts.truncate(good, self.path("empty.h5"), 0.0), "empty.h5': expected an HDF5 "
         r"file \(or .npz archive\) .* but it is neither"),
        (layouts.write_shapes3d_h5(self.path("keys.h5"), self.images, self.labels, "imgs"),
         r"keys.h5'.*datasets \['images'\] are missing"),
        (layouts.write_shapes3d_h5(self.path("rgba.h5"), np.zeros((72, 64, 64, 4), np.uint8),
                                   self.labels), r"got 'images' of shape \[72, 64, 64, 4\] uint8"),
        (layouts.write_shapes3d_h5(self.path("float.h5"), self.images.astype(np.float32),
                                   self.labels),
         r"got 'images' of shape \[72, 64, 64, 3\] float32"),
        (layouts.write_shapes3d_h5(self.path("labels.h5"), self.images, self.labels[:, :5]),
         r"'labels' of shape \[72, 5\]"),
        (layouts.write_shapes3d_h5(self.path("order.h5"), self.images, self.labels[shuffled]),
         "not in row-major grid order"),
        (layouts.write_shapes3d_h5(self.path("short.h5"), self.images[:-1], self.labels[:-1]),
         r"got 71 images for a grid of sizes \(2, 3, 1, 2, 2, 3\)"),
    ]
    compressed = self.path("compressed.npz")
    np.savez_compressed(compressed, images=self.images, labels=self.labels)
    cases.append((compressed, "compressed in the archive, so they cannot be read by rows: run "
                  "`zoo-data prepare --dataset=shapes3d` once"))
    for path, pattern in cases:
      self.assert_one_line_error(ValueError, "^shapes3d.path='.*" + pattern, Shapes3D, path)
    self.assert_one_line_error(ValueError, "does not match the distinct label values", Shapes3D,
                               good, factor_sizes=(3, 2, 1, 2, 2, 3))
    self.assert_one_line_error(ValueError, "shapes3d.factor_sizes.*6 positive integers",
                               Shapes3D, good, factor_sizes=(2, 3))


class MPI3DTest(FileTestCase):

  def test_the_grid_follows_from_the_image_count(self):
    prefix = "f: expected x"
    self.assertEqual(mpi3d.factor_sizes_for_count(1036800, prefix), (6, 6, 2, 3, 3, 40, 40))
    self.assertEqual(mpi3d.factor_sizes_for_count(460800, prefix), (4, 4, 2, 3, 3, 40, 40))
    for count in (1, 48, 460799, 1036801, 2 * 1036800):
      with self.assertRaisesRegex(ValueError, f"^f: expected x, got {count} images, which is "
                                  r"neither MPI3D grid \(1036800 nor 460800 images\)$"):
        mpi3d.factor_sizes_for_count(count, prefix)

  def test_a_file_of_the_real_size_is_read_where_it_lies(self):
    # The real code path on the real count: a sparse file, with a few images planted.
    path = self.path("mpi3d_real.npz")
    offset = layouts.write_sparse_npz(path, "images", (1036800, 64, 64, 3))
    sizes = (6, 6, 2, 3, 3, 40, 40)
    known = np.array([[5, 4, 1, 2, 0, 39, 1], [0, 0, 0, 0, 0, 0, 0], [3, 2, 1, 0, 2, 17, 23]])
    planted = self.random_state.randint(1, 256, size=(3, 64, 64, 3), dtype=np.uint8)
    with open(path, "r+b") as f:
      for factors, image in zip(known, planted):
        f.seek(offset + int(np.ravel_multi_index(factors, sizes)) * 64 * 64 * 3)
        f.write(image.tobytes())
    for cls in (MPI3DToy, MPI3DRealistic, MPI3DReal):
      data = cls(path)
      self.assertEqual(data.factors_num_values, sizes)
      self.assertEqual(data.factor_names, mpi3d.FACTOR_NAMES)
      self.assertIn("memory-mapped .npz member", data.grid.description)
      observations = data.sample_observations_from_factors(known, self.random_state)
      self.assertAllEqual(observations, planted / np.float32(255.0))
      self.assertAllEqual(data.sample_observations(5, self.random_state),
                          np.zeros((5, 64, 64, 3), np.float32))
    os.environ[locations.ENV_VAR] = self.dir
    os.makedirs(self.path("mpi3d_real"))
    os.rename(path, self.path("mpi3d_real", "mpi3d_real.npz"))
    self.assertEqual(MPI3DReal().factors_num_values, sizes)
    self.assert_one_line_error(FileNotFoundError, "^mpi3d_toy.path is not set, and the "
                               r"mpi3d_toy file \(mpi3d_toy.npz\) is not under "
                               "DISENTANGLEMENT_LIB_DATA: no such file", MPI3DToy)
    # The first toy release's 4 x 4 grid.
    old = self.path("old_toy.npz")
    layouts.write_sparse_npz(old, "images", (460800, 64, 64, 3))
    self.assertEqual(MPI3DToy(old).factors_num_values, (4, 4, 2, 3, 3, 40, 40))

  def test_broken_files(self):
    images = self.random_state.randint(0, 256, size=(48, 64, 64, 3), dtype=np.uint8)
    small = layouts.write_mpi3d_npz(self.path("small.npz"), images)
    sparse = self.path("sparse.npz")
    layouts.write_sparse_npz(sparse, "images", (1036800, 64, 64, 3))
    # A real-size member cut short (its directory at the end is gone too).
    truncated = self.path("truncated.npz")
    layouts.write_sparse_npz(truncated, "images", (1036800, 64, 64, 3))
    os.truncate(truncated, os.path.getsize(truncated) * 9 // 10)
    expected = r"': expected an \.npz archive with 'images' of shape \[1036800, 64, 64, 3\]"
    cases = [
        (small, f"small.npz{expected}.*got 48 images, which is neither MPI3D grid"),
        (truncated, f"truncated.npz{expected}.*not a readable .npz archive"),
        (layouts.truncate(small, self.path("empty.npz"), 0.0), "empty.npz.*not an .npz archive"),
        (layouts.write_mpi3d_npz(self.path("key.npz"), images, key="imgs"),
         r"the archive has no array 'images' \(found \['imgs'\]\)"),
        (layouts.write_mpi3d_npz(self.path("gray.npz"), images[..., 0]),
         r"got 'images' of shape \[48, 64, 64\] uint8"),
        (layouts.write_mpi3d_npz(self.path("compressed.npz"), images, compressed=True),
         "got 48 images"),
    ]
    # A member whose header promises more than the file holds.
    with open(sparse, "rb") as f:
      content = f.read(200)
    with open(self.path("cut.npz"), "wb") as f:
      f.write(content)
    cases.append((self.path("cut.npz"), "cut.npz.*not a readable .npz archive"))
    np.save(self.path("single.npy"), images)
    cases.append((self.path("single.npy"), r"not an \.npz archive \(a single \.npy array\)"))
    os.makedirs(self.path("folder.npz"))
    cases.append((self.path("folder.npz"), None))
    for path, pattern in cases:
      if pattern is None:
        self.assert_one_line_error(ValueError, "^mpi3d_real.path='.*folder.npz' is a directory; "
                                   r"expected the mpi3d_real file \(mpi3d_real.npz\)",
                                   MPI3DReal, path)
      else:
        self.assert_one_line_error(ValueError, "^mpi3d_real.path='.*" + pattern, MPI3DReal,
                                   path)


class SmallNORBTest(FileTestCase):

  def setUp(self):
    super().setUp()
    self.halves = layouts.smallnorb_halves(SMALLNORB_SIZES, self.random_state)
    self.folder = layouts.write_smallnorb(self.path("small_norb"), self.halves)

  def left_image(self, category, instance, elevation, azimuth, lighting):
    for dat, cat, info in self.halves:
      row = np.flatnonzero((cat == category) & np.all(
          info == [instance, elevation, 2 * azimuth, lighting], axis=1))
      if len(row):
        return dat[row[0], 0]
    self.fail("no such combination")

  def test_factors_instance_and_the_resized_left_image(self):
    with open(os.path.join(self.folder, layouts.SMALLNORB_CHUNKS[0] + "-dat.mat"), "rb") as f:
      self.assertEqual(f.read(4), bytes([0x55, 0x4C, 0x3D, 0x1E]))  # the byte matrix magic
    data = SmallNORB(self.folder)
    self.assertEqual(data.factor_names, ("category", "elevation", "azimuth", "lighting"))
    self.assertEqual(data.factors_num_values, (2, 2, 3, 2))
    self.assertEqual(data.observation_shape, (64, 64, 1))
    factors = data.sample_factors(20, np.random.RandomState(0))
    observations = data.sample_observations_from_factors(factors, np.random.RandomState(1))
    # The instance is drawn after the factors, as the reference's randint(instances).
    instances = np.random.RandomState(1).randint(2, size=20)
    for f, instance, observation in zip(factors, instances, observations):
      expected = layouts.lanczos_64(self.left_image(f[0], instance, f[1], f[2], f[3]))
      self.assertAllEqual(observation[..., 0], expected / np.float32(255.0))
    os.environ[locations.ENV_VAR] = self.dir
    self.assertEqual(get_dataset("smallnorb").factors_num_values, (2, 2, 3, 2))

  def test_broken_files(self):
    dat = layouts.SMALLNORB_CHUNKS[1] + "-dat.mat"
    info = layouts.SMALLNORB_CHUNKS[0] + "-info.mat"
    cat = layouts.SMALLNORB_CHUNKS[0] + "-cat.mat"

    def broken(name, change):
      folder = self.path(name)
      layouts.write_smallnorb(folder, self.halves)
      change(folder)
      return folder

    def write(name, array, magic):
      return lambda folder: layouts.write_binary_matrix(os.path.join(folder, name), array,
                                                        magic)

    def cut(name, size):
      def change(folder):
        with open(os.path.join(folder, name), "r+b") as f:
          f.truncate(size)
      return change

    dat_array, cat_array, info_array = self.halves[1][0], self.halves[0][1], self.halves[0][2]
    cases = [
        (broken("missing", lambda folder: os.remove(os.path.join(folder, dat))),
         FileNotFoundError, f"expected the folder of the six SmallNORB .mat files .*; no such "
         f"file '{dat}'"),
        (broken("magic", write(dat, dat_array.astype(np.int32), 0x1E3D4C54)), ValueError,
         rf"{dat}: expected a byte matrix of shape \[N, 2, 96, 96\] in NYU's binary matrix "
         r"format \(magic number 0x1E3D4C55 \(byte matrix\)\), got the magic number "
         r"0x1E3D4C54 \(int32 matrix\)"),
        (broken("empty", cut(dat, 0)), ValueError, f"{dat}: expected .* the file is empty"),
        (broken("header", cut(dat, 6)), ValueError, f"{dat}: expected .* file is truncated"),
        (broken("truncated", cut(dat, 5000)), ValueError,
         rf"{dat}: expected .* the file is truncated: 5000 bytes for shape \[24, 2, 96, 96\]"),
        (broken("shape", write(dat, dat_array[:, :, :64, :64], 0x1E3D4C55)), ValueError,
         rf"{dat}: expected .* got shape \[24, 2, 64, 64\]"),
        (broken("rows", write(cat, cat_array[:-1], 0x1E3D4C54)), ValueError,
         rf"{cat}: expected 24 rows .*got 23"),
        (broken("odd", write(info, (info_array + [0, 0, 1, 0]).astype(np.int32), 0x1E3D4C54)),
         ValueError,
         rf"{info}: expected even azimuths"),
        (broken("twice", write(info, np.concatenate([info_array[:1], info_array[:-1]]),
                               0x1E3D4C54)), ValueError,
         r"expected the folder .* do not cover the grid .* exactly once"),
    ]
    for folder, error, pattern in cases:
      self.assert_one_line_error(error, f"^smallnorb.path='{folder}': " + pattern, SmallNORB,
                                 folder)
    self.assert_one_line_error(ValueError, r"^smallnorb.path='.*' is a file; expected the "
                               "folder of the six SmallNORB .mat files", SmallNORB,
                               os.path.join(self.folder, dat))
    self.assertEqual(smallnorb.FILE_NAMES[0], "smallnorb-5x46789x9x18x6x2x96x96-training-dat.mat")


class Cars3DTest(FileTestCase):

  def test_factors_and_the_resized_image_of_each_view(self):
    cars = layouts.write_cars3d(self.path("cars"), 3, self.random_state)
    data = Cars3D(self.path("cars"))
    self.assertEqual(data.factor_names, ("elevation", "azimuth", "object_type"))
    self.assertEqual(data.factors_num_values, (4, 24, 3))
    self.assertEqual(data.observation_shape, (64, 64, 3))
    known = np.array([[0, 0, 0], [3, 23, 2], [1, 17, 1], [2, 5, 0]])
    observations = data.sample_observations_from_factors(known, self.random_state)
    for (elevation, azimuth, car), observation in zip(known, observations):
      expected = layouts.lanczos_64(cars[car][:, :, :, azimuth, elevation])
      self.assertAllEqual(observation, expected / np.float32(255.0))
    os.environ[locations.ENV_VAR] = self.dir
    self.assertEqual(get_dataset("cars3d").factors_num_values, (4, 24, 3))

  def test_broken_files(self):
    folder = self.path("cars")
    layouts.write_cars3d(folder, 2, self.random_state)
    expected = (r": expected a MATLAB file with the variable 'im' of shape \[128, 128, 3, 24, 4\] "
                "uint8")
    cases = [
        (lambda: layouts.write_cars3d(folder, 1, self.random_state, key="image"),
         r"car_001_mesh.mat" + expected + r", but it has no variable 'im' \(found \['image', "
         r"'mask'\]\)"),
        (lambda: layouts.write_text(os.path.join(folder, "car_001_mesh.mat")),
         "car_001_mesh.mat" + expected + ", but it is not a readable MATLAB file"),
        (lambda: layouts.truncate(os.path.join(self.path("good"), "car_001_mesh.mat"),
                                  os.path.join(folder, "car_001_mesh.mat")),
         "car_001_mesh.mat" + expected + ", but it is not a readable MATLAB file"),
    ]
    layouts.write_cars3d(self.path("good"), 1, self.random_state)
    for make_broken, pattern in cases:
      make_broken()
      self.assert_one_line_error(ValueError, f"^cars3d.path='{folder}': " + pattern, Cars3D,
                                 folder)
    os.makedirs(self.path("nothing"))
    self.assert_one_line_error(FileNotFoundError, "nothing': expected the folder of Cars3D's "
                               ".mat files .*, but it holds no .mat file", Cars3D,
                               self.path("nothing"))


if __name__ == "__main__":
  tf.test.main()
