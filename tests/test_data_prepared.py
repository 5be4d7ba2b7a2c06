"""The prepared layout and `zoo-data`: prepared and published files give the same batches,
preparing is atomic and checked, a stale or damaged layout is never trusted, and a run resumed
on a prepared file is bitwise the uninterrupted run."""
import json
import os
import signal
import subprocess
import sys
from unittest import mock

import gin
import numpy as np
import tensorflow as tf

from data_test_case import FileTestCase
import published_layouts as layouts
from gin_edge import configurables
from zoo.data import get_dataset
from zoo.data import image_grid
from zoo.data import locations
from zoo.data import make_dataset
from zoo.data import mpi3d
from zoo.data import prepare
from zoo.data import prepared

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DSPRITES_SIZES = (3, 2, 4, 2, 3)
SMALL_MPI3D = {48: (2, 1, 2, 1, 3, 2, 2)}  # a stand-in grid for a file of 48 images


def batches(data, num=3, batch_size=16, seed=7, start_step=0):
  dataset = make_dataset(data, batch_size, seed=seed, start_step=start_step)
  return [batch.numpy() for batch in dataset.take(num)]


class PreparedTest(FileTestCase):

  def setUp(self):
    super().setUp()
    self.root = os.path.join(self.dir, "dlib")
    os.environ[locations.ENV_VAR] = self.root
    images, classes = layouts.dsprites_arrays(DSPRITES_SIZES, self.random_state)
    self.dsprites = layouts.write_dsprites_npz(
        self.path("dlib", "dsprites", f"{layouts.DSPRITES_STEM}.npz"), images, classes)

  def prepare_and_compare(self, name, key, **kwargs):
    """Prepares `name` and checks the prepared data set gives the published one's batches."""
    published = get_dataset(name, **kwargs)
    self.assertNotIn("prepared layout", published.grid.description)
    expected = batches(published)
    result = prepare.prepare(name, **kwargs)
    self.assertEqual(result["status"], "prepared")
    self.assertEqual(os.path.basename(result["target"]), f"zoo_prepared_{key}")
    memory_mapped = get_dataset(name, **kwargs)
    self.assertIn("prepared layout", memory_mapped.grid.description)
    self.assertIsInstance(memory_mapped.grid.store.array, image_grid.FileMap)
    for a, b in zip(expected, batches(memory_mapped)):
      self.assertAllEqual(a, b)
    return result

  def test_every_format_gives_the_same_batches_prepared(self):
    result = self.prepare_and_compare("dsprites_file", "dsprites")
    for name in ("dsprites_noshape", "color_dsprites", "noisy_dsprites"):
      self.assertEqual(prepare.prepare(name)["status"], "up to date")  # one layout serves all
      self.assertIn("prepared layout", get_dataset(name).grid.description)
    self.assertEqual(result["store"], "packed_bits")
    self.assertEqual(result["bytes"], 144 * 64 * 8 + 128)  # 512 bytes an image and the header
    with open(os.path.join(result["target"], "manifest.json")) as f:
      manifest = json.load(f)
    self.assertEqual(manifest["factor_sizes"], list(DSPRITES_SIZES))
    self.assertEqual(manifest["source"]["path"], self.dsprites)
    hdf5_images, hdf5_classes = layouts.dsprites_arrays((2, 1, 3, 2, 2), self.random_state)
    hdf5 = layouts.write_dsprites_hdf5(self.path("h", "d.hdf5"), hdf5_images, hdf5_classes)
    self.prepare_and_compare("color_dsprites", "dsprites", path=hdf5)
    shapes = layouts.write_shapes3d_h5(
        self.path("dlib", "3dshapes", "3dshapes.h5"),
        self.random_state.randint(0, 256, size=(72, 64, 64, 3), dtype=np.uint8),
        layouts.shapes3d_labels((2, 3, 1, 2, 2, 3)))
    self.prepare_and_compare("shapes3d", "shapes3d")
    self.assertTrue(os.path.isdir(os.path.join(os.path.dirname(shapes), "zoo_prepared_shapes3d")))
    # A compressed .npz cannot be read by rows, but it can be prepared front to back.
    compressed = self.path("c", "shapes.npz")
    np.savez_compressed(compressed,
                        images=self.random_state.randint(0, 256, (72, 64, 64, 3), np.uint8),
                        labels=layouts.shapes3d_labels((2, 3, 1, 2, 2, 3)))
    prepare.prepare("shapes3d", path=compressed)
    self.assertEqual(get_dataset("shapes3d", path=compressed).factors_num_values,
                     (2, 3, 1, 2, 2, 3))
    with mock.patch.dict(mpi3d.GRIDS_BY_COUNT, SMALL_MPI3D):
      layouts.write_mpi3d_npz(
          self.path("dlib", "mpi3d_realistic", "mpi3d_realistic.npz"),
          self.random_state.randint(0, 256, size=(48, 64, 64, 3), dtype=np.uint8))
      self.prepare_and_compare("mpi3d_realistic", "mpi3d_realistic")
    layouts.write_smallnorb(self.path("dlib", "small_norb"),
                            layouts.smallnorb_halves((2, 2, 2, 3, 2), self.random_state))
    self.prepare_and_compare("smallnorb", "smallnorb")
    layouts.write_cars3d(self.path("dlib", "cars"), 2, self.random_state)
    self.prepare_and_compare("cars3d", "cars3d")

  def test_resuming_the_pipeline_on_a_prepared_file_continues_the_same_batches(self):
    prepare.prepare("dsprites_file")
    data = get_dataset("dsprites_file")
    whole = batches(data, num=6)
    resumed = batches(data, num=3, start_step=3)
    for a, b in zip(whole[3:], resumed):
      self.assertAllEqual(a, b)

  def test_output_dir_up_to_date_stale_and_standalone_layouts(self):
    out = os.path.join(self.dir, "scratch")
    result = prepare.prepare("dsprites_file", output_dir=out)
    target = os.path.join(out, "zoo_prepared_dsprites")
    self.assertEqual(result["target"], target)
    # The data sets do not look there by themselves; the path names it.
    self.assertNotIn("prepared", get_dataset("dsprites_file").grid.description)
    self.assertIn("prepared layout", get_dataset("noisy_dsprites", path=target).grid.description)
    self.assertEqual(prepare.prepare("dsprites_file", output_dir=out)["status"], "up to date")
    self.assert_one_line_error(ValueError, f"^shapes3d.path='{target}' is a prepared layout of "
                               "'dsprites', not of 'shapes3d'", get_dataset, "shapes3d",
                               path=target)
    # Replaced by another file: the old layout is not trusted, and info says so.
    prepare.prepare("dsprites_file")
    images, classes = layouts.dsprites_arrays((1, 2, 2, 2, 2), self.random_state)
    layouts.write_dsprites_npz(self.dsprites, images, classes)
    with self.assertLogs(level="WARNING") as logs:
      data = get_dataset("dsprites_file")
    self.assertEqual(data.factors_num_values, (1, 2, 2, 2, 2))
    self.assertIn("was made from another version of the file", "\n".join(logs.output))
    self.assertFalse(prepare.describe("dsprites")["prepared"]["current"])
    self.assertEqual(prepare.prepare("dsprites_file")["status"], "prepared")
    self.assertTrue(prepare.describe("dsprites")["prepared"]["current"])
    # The published file deleted after preparing: the prepared layout serves alone.
    os.remove(self.dsprites)
    self.assertEqual(get_dataset("dsprites_file").factors_num_values, (1, 2, 2, 2, 2))
    self.assertEqual(prepare.prepare("dsprites_file")["status"], "up to date")

  def test_damaged_layouts_are_refused_in_one_line(self):
    target = prepare.prepare("dsprites_file")["target"]
    images = os.path.join(target, "images.npy")
    os.truncate(images, os.path.getsize(images) - 100)
    self.assert_one_line_error(ValueError, rf"^dsprites_file.path='{target}': expected "
                               rf"{images} of shape \[144, 64, 8\] uint8 .*cannot be mapped.*"
                               "run `zoo-data prepare` again", get_dataset, "dsprites_file",
                               path=target)
    with open(os.path.join(target, "manifest.json"), "w") as f:
      f.write("{not json")
    self.assert_one_line_error(ValueError, "manifest.json cannot be used .*run `zoo-data "
                               "prepare` again", get_dataset, "dsprites_file", path=target)
    self.assertEqual(prepare.prepare("dsprites_file")["status"], "prepared")
    self.assertEqual(get_dataset("dsprites_file").factors_num_values, DSPRITES_SIZES)

  def test_published_checksums_are_checked(self):
    hdf5_images, hdf5_classes = layouts.dsprites_arrays(DSPRITES_SIZES, self.random_state)
    path = layouts.write_dsprites_hdf5(self.path("x", f"{layouts.DSPRITES_STEM}.hdf5"),
                                       hdf5_images, hdf5_classes)
    digest = prepared.file_digest(path, "sha256")
    size = os.path.getsize(path)
    published = {os.path.basename(path): (size, "sha256", digest)}
    result = prepare.prepare("dsprites_file", path=path, checksums=published)
    self.assertEqual(result["checksum"], {"algorithm": "sha256", "digest": digest,
                                          "checked": True})
    self.assertEqual(prepare.PUBLISHED_CHECKSUMS[os.path.basename(path)][:2],
                     (28024106, "sha256"))
    with open(path, "r+b") as f:  # one flipped byte, same size
      f.seek(size - 10)
      last = f.read(1)
      f.seek(size - 10)
      f.write(bytes([last[0] ^ 1]))
    self.assert_one_line_error(ValueError, rf"^dsprites_file.path='{path}': expected the "
                               rf"published file \(sha256 {digest}\), got sha256 [0-9a-f]{{64}} "
                               "for the same size: the file is damaged", prepare.prepare,
                               "dsprites_file", path=path, checksums=published, overwrite=True)
    # Another size is not the published bytes: checked by its layout only, and said so.
    other = {os.path.basename(path): (size + 1, "sha256", digest)}
    result = prepare.prepare("dsprites_file", path=path, checksums=other, overwrite=True)
    self.assertFalse(result["checksum"]["checked"])

  def test_a_killed_prepare_leaves_nothing_that_is_trusted(self):
    script = (
        "import os, signal, sys\n"
        "sys.path.insert(0, 'tests')\n"
        "from zoo.data import prepare\n"
        "def die(stage, done, total):\n"
        "  if stage == 'writing' and done < total:\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "prepare.prepared.WRITE_CHUNK_BYTES = 4096\n"
        "prepare.prepare('dsprites_file', progress=die)\n")
    result = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True,
                            timeout=300, env=dict(os.environ))
    self.assertEqual(result.returncode, -signal.SIGKILL, result.stderr[-2000:])
    folder = os.path.dirname(self.dsprites)
    leftovers = [name for name in os.listdir(folder) if ".partial-" in name]
    self.assertLen(leftovers, 1)
    self.assertFalse(os.path.exists(os.path.join(folder, "zoo_prepared_dsprites")))
    self.assertNotIn("prepared", get_dataset("dsprites_file").grid.description)
    self.assertEqual(prepare.prepare("dsprites_file")["status"], "prepared")
    self.assertEqual([name for name in os.listdir(folder) if ".partial-" in name], [])


class ZooDataBinaryTest(FileTestCase):

  def run_binary(self, *args):
    return subprocess.run([sys.executable, "-m", "binaries.data_main", *args], cwd=REPO,
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))

  def assert_error(self, result, pattern):
    self.assertEqual(result.returncode, 1, result.stderr[-2000:])
    self.assertRegex(result.stderr.strip().splitlines()[-1], "^zoo-data: error: " + pattern)
    self.assertNotIn("Traceback", result.stderr)

  def test_prepare_and_info(self):
    root = os.path.join(self.dir, "dlib")
    os.environ[locations.ENV_VAR] = root
    images, classes = layouts.dsprites_arrays(DSPRITES_SIZES, self.random_state)
    layouts.write_dsprites_npz(self.path("dlib", "dsprites", f"{layouts.DSPRITES_STEM}.npz"),
                               images, classes)
    result = self.run_binary("info")
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    self.assertIn(f"DISENTANGLEMENT_LIB_DATA={root}", result.stdout)
    self.assertRegex(result.stdout, r"dsprites_file, dsprites_noshape, color_dsprites, "
                     r"noisy_dsprites, scream_dsprites: .*\n  published: .*npz \(0.1 MB\)\n"
                     r"  prepared:  no")
    self.assertRegex(result.stdout, r"smallnorb: .*\n  not found: smallnorb.path is not set, "
                     f"and .* is not under DISENTANGLEMENT_LIB_DATA: no such folder "
                     f"'{root}/small_norb'")
    result = self.run_binary("prepare", "--dataset=scream_dsprites")
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    target = os.path.join(root, "dsprites", "zoo_prepared_dsprites")
    self.assertRegex(result.stdout, f"wrote {target}: 144 images \\(grid 3 x 2 x 4 x 2 x 3\\)")
    self.assertIn("the data sets find it beside the published file", result.stdout)
    self.assertIn("[zoo-data] writing [", result.stderr)
    self.assertTrue(prepare.describe("dsprites")["prepared"]["current"])
    # Refused before anything is imported.
    self.assert_error(self.run_binary("prepare"), "--dataset is required")
    self.assert_error(self.run_binary("unpack"), "expected one command, prepare or info")

  def test_messages_name_the_flags(self):
    # What the binary passes: its flags name the inputs.
    self.assert_one_line_error(ValueError, r"^--dataset='celeba': expected one of the data sets "
                               "read from files", prepare.family_key, "celeba", "--dataset")
    out = os.path.join(self.dir, "out")
    images, classes = layouts.dsprites_arrays(DSPRITES_SIZES, self.random_state)
    path = layouts.write_dsprites_npz(self.path("d.npz"), images, classes)
    result = prepare.prepare("dsprites_file", path=path, output_dir=out, path_label="--path")
    self.assertEqual(result["target"], os.path.join(out, "zoo_prepared_dsprites"))
    self.assert_one_line_error(FileNotFoundError, f"^--path='{self.dir}/none.h5': no such file; "
                               "expected the 3D Shapes file", prepare.prepare, "shapes3d",
                               path=f"{self.dir}/none.h5", path_label="--path")
    self.assert_one_line_error(ValueError, f"^--path='{self.dir}' is a directory; expected the "
                               "mpi3d_toy file", prepare.prepare, "mpi3d_toy", path=self.dir,
                               path_label="--path")
    self.assert_one_line_error(ValueError, "^--tfds_data_dir: cars3d has no TFDS source",
                               prepare.prepare, "cars3d", tfds_data_dir=self.dir,
                               tfds_label="--tfds_data_dir")


class GinBindingsTest(FileTestCase):
  """Every data set's `path` and `tfds_data_dir` bindings take effect under their gin names."""

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def test_every_binding_takes_effect(self):
    missing = os.path.join(self.dir, "missing")
    picture = layouts.write_scream(self.path("scream.png"))
    for name in sorted(prepare.FAMILY_OF):
      bindings = [f"dataset.name = '{name}'", f"{name}.path = '{missing}'"]
      if name == "scream_dsprites":
        bindings.append(f"scream_dsprites.scream_path = '{picture}'")
      gin.clear_config()
      gin.parse_config(bindings)
      with self.assertRaisesRegex(FileNotFoundError, f"^{name}.path='{missing}': no such"):
        configurables.dataset_from_gin()
      if name in ("cars3d",) or name.startswith("mpi3d"):
        continue  # no TFDS source
      gin.clear_config()
      gin.parse_config(bindings[:1] + bindings[2:] + [f"{name}.tfds_data_dir = '{missing}'"])
      with self.assertRaisesRegex(FileNotFoundError, f"^{name}.tfds_data_dir='{missing}': no "
                                  "such directory"):
        configurables.dataset_from_gin()


class ResumeOnPreparedFileTest(FileTestCase):
  """zoo-train stopped at step 10 and resumed to 20 on a prepared file is bitwise the run that
  went to 20 at once (every run in its own process, as zoo-train runs)."""

  def test_bitwise_resume(self):
    images, classes = layouts.dsprites_arrays(DSPRITES_SIZES, self.random_state)
    published = layouts.write_dsprites_npz(self.path("d.npz"), images, classes)
    target = prepare.prepare("dsprites_noshape", path=published)["target"]
    bindings = ["dataset.name = 'dsprites_noshape'", f"dsprites_noshape.path = '{target}'",
                "model.name = 'beta_vae'", "model.latent_dim = 3",
                "posterior.name = 'factorized'", "encoder.kind = 'mlp'",
                "encoder.mlp_hidden_units = (16,)", "encoder.deep_units = 16",
                "decoder.kind = 'mlp'", "decoder.mlp_hidden_units = (16,)",
                "training.batch_size = 8", "training.checkpoint_every = 10",
                "training.log_every = 10"]

    def train(model_dir, steps):
      command = [sys.executable, "-m", "binaries.train_main", f"--model_dir={model_dir}"]
      command += [f"--gin_bindings={b}" for b in bindings + [f"training.num_steps = {steps}"]]
      result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
      self.assertEqual(result.returncode, 0, result.stderr[-3000:])
      return result

    def variables(model_dir):
      reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(
          os.path.join(model_dir, "checkpoints")))
      return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
              if "save_counter" not in name and name != "_CHECKPOINTABLE_OBJECT_GRAPH"}

    whole, stopped = os.path.join(self.dir, "whole"), os.path.join(self.dir, "stopped")
    train(whole, 20)
    train(stopped, 10)
    self.assertIn("resuming", train(stopped, 20).stdout)
    expected, resumed = variables(whole), variables(stopped)
    self.assertEqual(sorted(expected), sorted(resumed))
    for name, value in expected.items():
      self.assertAllEqual(value, resumed[name], msg=name)


if __name__ == "__main__":
  tf.test.main()
