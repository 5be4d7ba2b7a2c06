"""dSprites from the published file (.npz and .hdf5) and the reference study's variants on it:
dsprites_noshape, color_dsprites, noisy_dsprites, scream_dsprites. Small files in the published
layout; every broken file is refused with one line naming it and what was expected."""
import os

import numpy as np
import tensorflow as tf

from data_test_case import FileTestCase
import published_layouts as layouts
from zoo.data import ColorDSprites
from zoo.data import DSpritesFile
from zoo.data import DSpritesNoShape
from zoo.data import NoisyDSprites
from zoo.data import ScreamDSprites
from zoo.data import dsprites_variants
from zoo.data import get_dataset
from zoo.data import locations

SIZES = (3, 2, 4, 2, 3)  # shape, scale, orientation, posX, posY
NAMES = ("shape", "scale", "orientation", "posX", "posY")


class _PickleBomb:
  """Unpickling this creates the file `target`: proof that nothing was unpickled."""

  def __init__(self, target):
    self.target = target

  def __reduce__(self):
    return (open, (self.target, "w"))


class DSpritesFileTest(FileTestCase):

  def setUp(self):
    super().setUp()
    self.images, self.classes = layouts.dsprites_arrays(SIZES, self.random_state)

  def image_of(self, factors):
    """The stored image of the factor indices [5], found through the classes."""
    row = np.flatnonzero(np.all(self.classes[:, 1:] == factors, axis=1))
    self.assertLen(row, 1)
    return self.images[row[0]]

  def test_both_published_forms_give_the_stored_image_of_the_factors(self):
    npz = layouts.write_dsprites_npz(self.path("d.npz"), self.images, self.classes)
    hdf5 = layouts.write_dsprites_hdf5(self.path("d.hdf5"), self.images, self.classes)
    # The loader tells the forms apart by content, not by name.
    renamed = layouts.write_dsprites_hdf5(self.path("hdf5_named.npz"), self.images, self.classes)
    for path in (npz, hdf5, renamed):
      data = DSpritesFile(path)
      self.assertEqual(data.factor_names, NAMES)
      self.assertEqual(data.factors_num_values, SIZES)
      self.assertEqual(data.observation_shape, (64, 64, 1))
      factors, observations = data.sample(40, self.random_state)
      self.assertEqual(observations.dtype, np.float32)
      for f, observation in zip(factors, observations):
        self.assertAllEqual(observation[..., 0], self.image_of(f))
      # Every stored image is reachable through its classes.
      everything = data.sample_observations_from_factors(self.classes[:, 1:], self.random_state)
      self.assertAllEqual(everything[..., 0], self.images)
    # The factors are drawn as before: one randint per factor, in order.
    state = np.random.RandomState(5)
    draws = [state.randint(size, size=7) for size in SIZES]
    self.assertAllEqual(DSpritesFile(npz).sample_factors(7, np.random.RandomState(5)),
                        np.stack(draws, 1))

  def test_registry_gin_name_and_disentanglement_lib_folder(self):
    path = layouts.write_dsprites_npz(self.path("d.npz"), self.images, self.classes)
    self.assertEqual(get_dataset("dsprites_file", path=path).factors_num_values, SIZES)
    root = os.path.join(self.dir, "dlib")
    os.makedirs(os.path.join(root, "dsprites"))
    os.environ[locations.ENV_VAR] = root
    # The .hdf5 of the published name is found when the .npz is not there.
    layouts.write_dsprites_hdf5(os.path.join(root, "dsprites", f"{layouts.DSPRITES_STEM}.hdf5"),
                                self.images, self.classes)
    self.assertIn(f"{layouts.DSPRITES_STEM}.hdf5", DSpritesFile().grid.description)
    layouts.write_dsprites_npz(os.path.join(root, "dsprites", f"{layouts.DSPRITES_STEM}.npz"),
                               self.images, self.classes)
    self.assertIn(f"{layouts.DSPRITES_STEM}.npz", DSpritesFile().grid.description)
    # An explicit path wins over the folder.
    other_sizes = (1, 2, 1, 2, 3)
    images, classes = layouts.dsprites_arrays(other_sizes, self.random_state)
    other = layouts.write_dsprites_npz(self.path("other.npz"), images, classes)
    self.assertEqual(DSpritesFile(other).factors_num_values, other_sizes)

  def test_missing_files_name_the_binding_and_the_path_tried(self):
    self.assert_one_line_error(FileNotFoundError,
                               r"^dsprites_file.path='.*nope.npz': no such file; expected the "
                               r"dSprites file", DSpritesFile, self.path("nope.npz"))
    self.assert_one_line_error(ValueError, "^color_dsprites.path is not set and neither is "
                               "DISENTANGLEMENT_LIB_DATA: bind color_dsprites.path to the "
                               "dSprites file", ColorDSprites)
    os.environ[locations.ENV_VAR] = self.dir
    tried = os.path.join(self.dir, "dsprites", f"{layouts.DSPRITES_STEM}.npz")
    self.assert_one_line_error(
        FileNotFoundError, f"^dsprites_noshape.path is not set, and the dSprites file .* is not "
        f"under DISENTANGLEMENT_LIB_DATA: no such file '{tried}' or '.*hdf5'", DSpritesNoShape)
    # A directory where the file should be says so (it used to say "no such file").
    self.assert_one_line_error(ValueError, r"^dsprites_file.path='.*' is a directory; expected "
                               "the dSprites file", DSpritesFile, self.dir)
    os.makedirs(tried)
    self.assert_one_line_error(ValueError, f"^dsprites_file.path is not set and '{tried}' "
                               r"\(under DISENTANGLEMENT_LIB_DATA\) is a directory",
                               DSpritesFile)

  def test_broken_files(self):
    good = layouts.write_dsprites_npz(self.path("good.npz"), self.images, self.classes)
    images, classes = self.images, self.classes
    npz = r": expected an \.npz archive with 'imgs' of shape \[N, 64, 64\] uint8"
    cases = [
        (layouts.truncate(good, self.path("truncated.npz")),
         f"truncated.npz'{npz}.*not a readable .npz archive"),
        (layouts.truncate(good, self.path("empty.npz"), 0.0),
         r"empty.npz': expected .* neither an \.npz archive nor an HDF5 file"),
        (layouts.write_text(self.path("text.npz")),
         "text.npz': expected .* neither an .npz archive nor an HDF5 file"),
        (layouts.write_dsprites_npz(self.path("float.npz"), images.astype(np.float32),
                                    classes),
         rf"float.npz'{npz}.*got 'imgs' of shape \[144, 64, 64\] float32"),
        (layouts.write_dsprites_npz(self.path("small.npz"), images[:, :32, :32], classes),
         r"got 'imgs' of shape \[144, 32, 32\] uint8"),
        (layouts.write_dsprites_npz(self.path("short.npz"), images[:-1], classes[:-1]),
         r"got 143 images for a grid of sizes \(3, 2, 4, 2, 3\) \(144 combinations\)"),
        (layouts.write_dsprites_npz(self.path("mismatch.npz"), images, classes[:-1]),
         r"got classes of shape \[143, 6\] int64 for 144 images"),
        (layouts.write_dsprites_npz(self.path("five.npz"), images, classes[:, 1:]),
         r"got classes of shape \[144, 5\]"),
        (layouts.write_dsprites_npz(self.path("twice.npz"), images,
                                    np.concatenate([classes[:1], classes[:-1]])),
         "some combinations of classes twice"),
        (layouts.write_dsprites_npz(self.path("colour.npz"), images, np.concatenate(
            [classes[:, :1] + np.arange(len(classes))[:, None] % 2, classes[:, 1:]], 1)),
         "colour column that is not constant"),
        (layouts.write_dsprites_npz(self.path("values.npz"), images * 255, classes),
         "got image values up to 255"),
    ]
    with open(good, "rb") as f:
      corrupt = bytearray(f.read())
    corrupt[len(corrupt) // 3] ^= 0xFF  # inside the compressed images; the directory is intact.
    with open(self.path("corrupt.npz"), "wb") as f:
      f.write(corrupt)
    cases.append((self.path("corrupt.npz"), f"corrupt.npz'{npz}.*'imgs' cannot be read"))
    np.save(self.path("single.npy"), images)
    cases.append((self.path("single.npy"), "got a single .npy array"))
    np.savez(self.path("no_classes.npz"), imgs=images)
    cases.append((self.path("no_classes.npz"),
                  "the archive has no array 'latents_classes' .found .'imgs'.."))
    # A pickle payload is refused without being unpickled.
    marker = self.path("unpickled")
    np.savez(self.path("pickled.npz"), imgs=np.array([_PickleBomb(marker)] * 2),
             latents_classes=classes)
    cases.append((self.path("pickled.npz"),
                  f"pickled.npz'{npz}.*'imgs' holds pickled Python objects, which are never "
                  "loaded"))
    hdf5 = r": expected an HDF5 file with datasets 'imgs' of shape \[N, 64, 64\] uint8"
    cases += [
        (layouts.truncate(layouts.write_dsprites_hdf5(self.path("h.hdf5"), images, classes),
                          self.path("truncated.hdf5")),
         f"truncated.hdf5'{hdf5}.*not a readable HDF5 file"),
        (layouts.write_dsprites_hdf5(self.path("gray.hdf5"), images[..., None], classes),
         rf"gray.hdf5'{hdf5}.*got 'imgs' of shape \[144, 64, 64, 1\] uint8"),
        (layouts.write_dsprites_hdf5(self.path("short.hdf5"), images[:-1], classes[:-1]),
         r"short.hdf5'.*got 143 images for a grid of sizes"),
    ]
    for path, pattern in cases:
      self.assert_one_line_error(ValueError, r"^dsprites_file.path='.*" + pattern, DSpritesFile,
                                 path)
    self.assertFalse(os.path.exists(marker))


class NoShapeAndVariantsTest(FileTestCase):

  def setUp(self):
    super().setUp()
    self.images, self.classes = layouts.dsprites_arrays(SIZES, self.random_state,
                                                        shuffle=False)
    self.file = layouts.write_dsprites_npz(self.path("d.npz"), self.images, self.classes)
    self.masks = self.images.reshape(SIZES + (64, 64))  # unshuffled: grid order

  def test_noshape_shows_four_factors_and_draws_the_shape(self):
    data = DSpritesNoShape(self.file)
    self.assertEqual(data.factor_names, NAMES[1:])
    self.assertEqual(data.factors_num_values, SIZES[1:])
    factors = data.sample_factors(200, np.random.RandomState(3))
    self.assertEqual(factors.shape, (200, 4))
    observations = data.sample_observations_from_factors(factors, np.random.RandomState(4))
    # The reference draws the shape after the factors: randint(3) from the same state.
    shapes = np.random.RandomState(4).randint(3, size=200)
    for f, shape, observation in zip(factors, shapes, observations):
      self.assertAllEqual(observation[..., 0], self.masks[(shape,) + tuple(f)])
    self.assertLen(np.unique(shapes), 3)

  def test_color_dsprites_paints_the_sprite_one_colour(self):
    data = ColorDSprites(self.file)
    self.assertEqual(data.observation_shape, (64, 64, 3))
    factors = data.sample_factors(100, np.random.RandomState(0))
    images = data.sample_observations_from_factors(factors, np.random.RandomState(1))
    self.assertEqual(images.dtype, np.float32)
    mask = self.masks[tuple(factors.T)].astype(bool)
    self.assertAllEqual(images.max(axis=3) > 0, mask)
    # The colours are the reference's uniform(0.5, 1, [N, 1, 1, 3]) from the same state.
    colours = np.random.RandomState(1).uniform(0.5, 1, [100, 1, 1, 3]).astype(np.float32)
    self.assertAllEqual(images, mask[..., None] * colours)

  def test_noisy_dsprites_has_a_white_sprite_on_noise(self):
    data = NoisyDSprites(self.file)
    factors = data.sample_factors(50, np.random.RandomState(0))
    images = data.sample_observations_from_factors(factors, np.random.RandomState(1))
    mask = self.masks[tuple(factors.T)][..., None]
    # The reference's min(mask + uniform(0, 1, [N, 64, 64, 3]), 1).
    noise = np.random.RandomState(1).uniform(0, 1, [50, 64, 64, 3])
    self.assertAllEqual(images, np.minimum(mask + noise, 1.0).astype(np.float32))
    background = images[~np.broadcast_to(mask.astype(bool), images.shape)]
    self.assertAllClose(background.mean(), 0.5, atol=0.01)

  def test_scream_dsprites_inverts_the_sprite_into_a_random_patch(self):
    picture = layouts.write_scream(self.path("scream", "scream.jpg"), width=300, height=400)
    data = ScreamDSprites(self.file, scream_path=picture)
    # Fitted into 350 x 274 keeping the aspect ratio: 400 x 300 becomes 274 x 205.
    self.assertEqual(data.scream.shape, (274, 205, 3))
    factors = data.sample_factors(6, np.random.RandomState(0))
    images = data.sample_observations_from_factors(factors, np.random.RandomState(1))
    self.assertEqual(images.shape, (6, 64, 64, 3))
    state = np.random.RandomState(1)
    for f, image in zip(factors, images):
      row, column = state.randint(0, 274 - 64), state.randint(0, 205 - 64)
      background = (data.scream[row:row + 64, column:column + 64]
                    + state.uniform(0, 1, size=3)) / 2
      mask = self.masks[tuple(f)].astype(bool)
      background[mask] = 1 - background[mask]
      self.assertAllEqual(image, background.astype(np.float32))
    # Found under DISENTANGLEMENT_LIB_DATA too.
    os.environ[locations.ENV_VAR] = self.dir
    self.assertEqual(ScreamDSprites(self.file).scream_path,
                     os.path.join(self.dir, "scream", "scream.jpg"))

  def test_scream_picture_errors(self):
    self.assert_one_line_error(ValueError, "^scream_dsprites.scream_path is not set and neither "
                               "is DISENTANGLEMENT_LIB_DATA: bind scream_dsprites.scream_path "
                               "to the Scream picture", ScreamDSprites, self.file)
    os.environ[locations.ENV_VAR] = self.dir
    self.assert_one_line_error(
        FileNotFoundError, "^scream_dsprites.scream_path is not set, and the Scream picture .* "
        f"is not under DISENTANGLEMENT_LIB_DATA: no such file "
        f"'{os.path.join(self.dir, 'scream', 'scream.jpg')}'", ScreamDSprites, self.file)
    self.assert_one_line_error(
        ValueError, r"^scream_dsprites.scream_path='.*text.jpg': expected the Scream picture .* "
        "not a picture Pillow can read", ScreamDSprites, self.file,
        scream_path=layouts.write_text(self.path("text.jpg")))
    self.assert_one_line_error(
        ValueError, r"small.png': expected a picture of more than 64 x 64 pixels .* got 40 x 60",
        ScreamDSprites, self.file,
        scream_path=layouts.write_scream(self.path("small.png"), width=40, height=60))

  def test_variants_refuse_a_broken_file_naming_their_own_binding(self):
    broken = layouts.write_text(self.path("broken.npz"))
    for cls in (DSpritesNoShape, ColorDSprites, NoisyDSprites):
      self.assert_one_line_error(ValueError, f"^{cls.name}.path='.*broken.npz': expected",
                                 cls, broken)
    self.assertEqual(dsprites_variants.SCREAM_FIT, (350, 274))


if __name__ == "__main__":
  tf.test.main()
