"""zoo-visualize: grid layout, traversals, MI pictures, both model adapters and the binary."""
import json
import os
import subprocess
import sys

import gin
import numpy as np
from PIL import Image
from scipy import stats
import tensorflow as tf

from common import cli
from evaluation import trained_model
from evaluation.pictures import grids
from evaluation.pictures import make_pictures
from evaluation.pictures import mi_plots
from evaluation.pictures import traversals
from export import saved_model_export
from zoo import data as zoo_data
from zoo import training
from gin_edge import configurables  # noqa: F401  (registers every gin configurable)
from gin_edge import evaluation as gin_evaluation
from gin_edge import training as gin_training

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A tiny conv64 model on 32x32 dSprites. beta = 0 keeps the three latents informative after a
# few hundred steps (a beta >= 1 model this short collapses to the mean image).
TINY_DSPRITES_BINDINGS = [
    "dataset.name = 'dsprites'",
    "dsprites.image_size = 32",
    "model.name = 'beta_vae'",
    "beta_vae.beta = 0.0",
    "model.latent_dim = 3",
    "posterior.name = 'factorized'",
    "encoder.kind = 'conv64'",
    "decoder.kind = 'conv64'",
    "training.batch_size = 32",
    "training.learning_rate = 1e-3",
    "training.num_steps = 300",
    "training.checkpoint_every = 300",
    "training.log_every = 300",
]
LATENT_DIM = 3
SIZE = 32
STEPS = 5
PICTURE_SETTINGS = dict(num_base_images=2, num_reconstructions=8, pairs_per_row=4,
                        sample_rows=3, sample_cols=4)


def read_image(path):
  return np.asarray(Image.open(path))


def fake_model(decode_mean_fn, latent_dim, observation_shape, data=None, posterior_fn=None):
  """A TrainedModel from plain numpy functions (known answers without a network)."""
  def default_posterior(images):
    images = np.asarray(images)
    mean = images.reshape(len(images), -1)[:, :latent_dim].astype(np.float64)
    return mean, np.tile(0.1 * np.eye(latent_dim), (len(images), 1, 1))
  return trained_model.TrainedModel(posterior_fn or default_posterior, None, decode_mean_fn,
                                    latent_dim, observation_shape, data, "fake")


class GridTest(tf.test.TestCase):

  def test_grid_places_constant_cells_and_separators(self):
    # 2 x 3 cells of 4 x 5 pixels; cell (r, c) holds (10 r + c) / 255 (exactly that uint8).
    values = np.array([[10 * r + c for c in range(3)] for r in range(2)], np.float64) / 255.0
    cells = np.broadcast_to(values[:, :, None, None, None], (2, 3, 4, 5, 1))
    grid = grids.image_grid(cells, separator=2)
    self.assertEqual(grid.shape, (2 * 4 + 2, 3 * 5 + 2 * 2, 1))
    self.assertEqual(grids.grid_shape(2, 3, 4, 5, separator=2), grid.shape[:2])
    self.assertEqual(grid.dtype, np.uint8)
    for r in range(2):
      for c in range(3):
        top, left = r * (4 + 2), c * (5 + 2)
        self.assertTrue(np.all(grid[top:top + 4, left:left + 5] == 10 * r + c), (r, c))
    self.assertTrue(np.all(grid[4:6] == 255))  # the row separator
    self.assertTrue(np.all(grid[:, 5:7] == 255))  # the first column separator
    self.assertTrue(np.all(grid[:, 12:14] == 255))

  def test_values_are_clipped_and_rounded(self):
    cells = np.array([-0.5, 0.0, 0.5, 1.0, 1.5, 0.2]).reshape(1, 6, 1, 1, 1)
    grid = grids.image_grid(cells, separator=0)
    self.assertAllEqual(grid[0, :, 0], [0, 0, 128, 255, 255, 51])

  def test_column_gaps_labels_and_rgb(self):
    cells = np.zeros((3, 2, 16, 16, 3))
    grid = grids.image_grid(cells, separator=1, column_gaps=[4],
                                row_labels=["z0", "z1", "z2"])
    label = grids.LABEL_WIDTH
    self.assertEqual(grid.shape, (3 * 16 + 2, label + 1 + 2 * 16 + 4, 3))
    self.assertEqual(
        grids.grid_shape(3, 2, 16, 16, 1, column_gaps=[4], labelled=True), grid.shape[:2])
    self.assertTrue(np.all(grid[:, label + 1 + 16:label + 1 + 20] == 255))  # the 4-pixel gap
    self.assertTrue(np.all(grid[0:16, label + 1:label + 17] == 0))
    for r in range(3):  # every label is drawn (dark text) within its own row
      band = grid[r * 17:r * 17 + 16, :label]
      self.assertLess(band.min(), 100, r)
    self.assertTrue(np.all(grid[:, label] == 255))  # separator between labels and cells

  def test_bad_cells_are_refused(self):
    with self.assertRaisesRegex(ValueError, "cells: expected"):
      grids.image_grid(np.zeros((2, 2, 4, 4, 2)))
    with self.assertRaisesRegex(ValueError, "row_labels: expected 2"):
      grids.image_grid(np.zeros((2, 2, 4, 4, 1)), row_labels=["a"])
    with self.assertRaisesRegex(ValueError, "zoom"):
      grids.zoom_cells(np.zeros((1, 1, 2, 2, 1)), 0)

  def test_zoom_repeats_pixels(self):
    cells = np.arange(4.0).reshape(1, 1, 2, 2, 1) / 3.0
    zoomed = grids.zoom_cells(cells, 3)
    self.assertEqual(zoomed.shape, (1, 1, 6, 6, 1))
    self.assertAllEqual(zoomed[0, 0, :, :, 0][::3, ::3], cells[0, 0, :, :, 0])
    self.assertAllEqual(zoomed[0, 0, 3:6, 3:6, 0], np.full((3, 3), 1.0))


class TraversalTest(tf.test.TestCase):

  def test_traversal_values(self):
    self.assertAllClose(traversals.traversal_values("fixed", 5), [-2, -1, 0, 1, 2])
    quantile = traversals.traversal_values("quantile", 5)
    self.assertAllClose(quantile, stats.norm.ppf([0.05, 0.275, 0.5, 0.725, 0.95]))
    self.assertAllClose(quantile[0], -1.6448536, atol=1e-6)
    self.assertAllClose(quantile, -quantile[::-1], atol=1e-12)
    with self.assertRaisesRegex(ValueError, "num_traversal_steps"):
      traversals.traversal_values("fixed", 1)
    with self.assertRaisesRegex(ValueError, "traversal kind"):
      traversals.traversal_values("random", 5)

  def test_each_row_changes_only_its_latent(self):
    # The fake decoder writes (z_j + 3) / 6 into pixel column j of a 2 x 3 image.
    def decode(codes):
      return np.broadcast_to(((codes + 3.0) / 6.0)[:, None, :, None], (len(codes), 2, 3, 1))
    model = fake_model(decode, 3, (2, 3, 1))
    code = np.array([0.5, -1.0, 0.25])
    values = traversals.traversal_values("fixed", 4)
    order = [2, 0, 1]
    cells = traversals.traversal_cells(model, code, values, order)
    self.assertEqual(cells.shape, (3, 4, 2, 3, 1))
    for r, latent in enumerate(order):
      for t, value in enumerate(values):
        expected = code.copy()
        expected[latent] = value
        self.assertAllClose(cells[r, t, 0, :, 0], (expected + 3.0) / 6.0, atol=1e-6)

  def test_samples_come_from_the_model_prior(self):
    for prior, low, high in (("normal", 3.0, 6.0), ("uniform", 1.6, np.sqrt(3.0))):
      model = trained_model.TrainedModel(None, None, None, 2, (2,), None, "fake",
                                         prior_name=prior)
      codes = model.sample_prior(4000, np.random.RandomState(0))
      self.assertEqual(codes.shape, (4000, 2))
      self.assertBetween(float(np.abs(codes).max()), low, high, msg=prior)
      self.assertAllClose(codes.var(axis=0), [1.0, 1.0], atol=0.1, msg=prior)
    with self.assertRaisesRegex(ValueError, "prior_name"):
      trained_model.TrainedModel(None, None, None, 2, (2,), None, "fake", prior_name="cauchy")

  def test_latent_order_follows_marginal_kl(self):
    mean = np.array([[0.0, 2.0, 0.5], [0.0, -2.0, 0.5]])
    covariance = np.tile(np.diag([1.0, 0.5, 0.1]), (2, 1, 1))
    kl = traversals.marginal_kl(mean, covariance)
    expected = 0.5 * (np.square(mean[0]) + np.array([1.0, 0.5, 0.1]) - 1
                      - np.log([1.0, 0.5, 0.1]))
    self.assertAllClose(kl, expected)
    self.assertAllEqual(traversals.latent_order(mean, covariance), [1, 2, 0])
    self.assertAllEqual(traversals.latent_order(mean, covariance, sort=False), [0, 1, 2])

  def test_frames_ping_pong_with_progress_bar(self):
    self.assertEqual(traversals.ping_pong(4), [0, 1, 2, 3, 2, 1])
    self.assertEqual(traversals.ping_pong(2), [0, 1])
    steps, width = 4, 8
    cells = np.broadcast_to((np.arange(steps) / 4.0)[None, :, None, None, None],
                            (2, steps, 6, width, 1))
    frames = traversals.traversal_frames(cells, ["z0", "z1"], separator=1)
    self.assertLen(frames, 2 * steps - 2)
    left = grids.LABEL_WIDTH + 1
    for frame, t in zip(frames, traversals.ping_pong(steps)):
      self.assertEqual(frame.shape, (2 * 6 + 2 + traversals.PROGRESS_BAR_HEIGHT, left + width, 1))
      self.assertTrue(np.all(frame[:6, left:] == round(255 * t / 4.0)))
      bar = frame[-1, left:, 0]
      self.assertEqual(int(np.sum(bar == 0)), round(width * (t + 1) / steps))


class MutualInformationPictureTest(tf.test.TestCase):

  def test_normalized_mi_known_answers(self):
    rng = np.random.RandomState(0)
    factors = np.stack([rng.randint(5, size=4000), rng.randint(4, size=4000),
                        np.zeros(4000, int)], axis=1)
    # Code 0 is factor 0 itself (5 values land in 5 distinct bins of 20); code 1 is noise.
    codes = np.stack([factors[:, 0].astype(float), rng.standard_normal(4000)], axis=1)
    normalized, mi, entropy = mi_plots.normalized_mi_matrix(codes, factors, num_bins=20)
    self.assertAllClose(entropy[:2], [np.log(5), np.log(4)], atol=0.01)
    self.assertAllClose(normalized[0, 0], 1.0, atol=1e-9)
    self.assertAllClose(mi[0, 0], entropy[0], atol=1e-9)
    # Plug-in MI of independent variables is biased up by about (bins-1)(values-1)/(2N).
    self.assertLess(normalized[1, 0], 0.02)
    self.assertLess(normalized[0, 1], 0.01)
    self.assertAllEqual(normalized[:, 2], [0.0, 0.0])  # a constant factor has no entropy

  def test_vector_data_gets_only_the_mi_pictures(self):
    data = zoo_data.get_dataset("linear_gaussian")
    model = fake_model(None, 3, data.observation_shape, data)
    output_dir = os.path.join(self.get_temp_dir(), "vector")
    lines = []
    index = make_pictures.make_pictures(model, output_dir, num_points=200, log_fn=lines.append)
    self.assertEqual(sorted(os.listdir(output_dir)),
                     ["mi_invariance.png", "mi_matrix.png", "pictures.json"])
    self.assertTrue(any("not images" in line for line in lines))
    self.assertEqual(index["factor_names"], list(data.factor_names))
    self.assertEqual(np.asarray(index["normalized_mi"]).shape, (3, len(data.factor_names)))

  def test_bad_settings_leave_no_output(self):
    data = zoo_data.get_dataset("linear_gaussian")
    model = fake_model(None, 3, data.observation_shape, data)
    output_dir = os.path.join(self.get_temp_dir(), "bad")
    for what, arguments in {
        "num_traversal_steps": dict(num_traversal_steps=1),
        "num_points": dict(num_points=0),
        "seed": dict(seed=-1),
        "zoom": dict(settings=dict(zoom=0)),
        "separator": dict(settings=dict(separator=-1)),
        "traversal_limit": dict(settings=dict(traversal_limit=0.0)),
        "unknown names": dict(settings=dict(no_such_setting=1)),
    }.items():
      with self.subTest(what):
        with self.assertRaisesRegex(ValueError, what):
          make_pictures.make_pictures(model, output_dir, **arguments)
        self.assertFalse(os.path.exists(output_dir))

  def test_gin_bindings_reach_the_settings(self):
    try:
      settings = gin_evaluation.picture_settings(
          gin_bindings=["pictures.zoom = 3", "pictures.sample_rows = 2"])
    finally:
      gin.clear_config()
    # The library's own settings read no gin.
    self.assertEqual(make_pictures.picture_settings()["zoom"], 1)
    self.assertEqual(settings["zoom"], 3)
    self.assertEqual(settings["sample_rows"], 2)
    self.assertEqual(settings["sample_cols"], 8)


class TrainedModelPicturesTest(tf.test.TestCase):
  """Pictures of a tiny conv64 model trained in-process once for the whole class."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = os.path.join(tf.compat.v1.test.get_temp_dir(), "visualize")
    cls.model_dir = os.path.join(cls.root, "run")
    cls.export_dir = os.path.join(cls.root, "export")
    gin.clear_config()
    cli.parse_gin([], TINY_DSPRITES_BINDINGS)
    gin_training.train(cls.model_dir, log_fn=lambda line: None)
    gin.clear_config()
    saved_model_export.export_model_dir(cls.model_dir, cls.export_dir, log_fn=lambda line: None)
    gin.clear_config()
    cls.model = trained_model.from_model_dir(cls.model_dir)
    cls.pictures_dir = os.path.join(cls.root, "pictures")
    cls.index = make_pictures.make_pictures(cls.model, cls.pictures_dir, num_traversal_steps=STEPS,
                                        num_points=300, settings=PICTURE_SETTINGS,
                                        log_fn=lambda line: None)
    gin.clear_config()

  def path(self, name):
    return os.path.join(self.pictures_dir, name)

  def test_files_and_index(self):
    expected = {"reconstructions.png", "samples.png", "mi_matrix.png", "mi_invariance.png"}
    for k in range(2):
      expected |= {f"traversal_fixed_{k}.png", f"traversal_quantile_{k}.png",
                   f"traversal_{k}.gif"}
    self.assertEqual(set(os.listdir(self.pictures_dir)), expected | {"pictures.json"})
    with open(self.path("pictures.json")) as f:
      index = json.load(f)
    self.assertEqual(set(index["files"]), expected)
    for name, size in index["files"].items():
      self.assertEqual(size, os.path.getsize(self.path(name)), name)
    self.assertEqual(index["factor_names"],
                     ["shape", "scale", "orientation", "posX", "posY"])
    kl = np.asarray(index["marginal_kl"])
    self.assertAllEqual(index["latent_order"], np.argsort(-kl, kind="stable"))
    normalized = np.asarray(index["normalized_mi"])
    self.assertEqual(normalized.shape, (LATENT_DIM, 5))
    self.assertTrue(np.all((normalized >= 0) & (normalized <= 1 + 1e-9)))
    self.assertAllClose(index["settings"]["quantile_values"],
                        stats.norm.ppf(np.linspace(0.05, 0.95, STEPS)))

  def test_traversal_grids_have_the_exact_layout_and_vary(self):
    height = LATENT_DIM * SIZE + (LATENT_DIM - 1)
    width = grids.LABEL_WIDTH + 1 + STEPS * SIZE + (STEPS - 1)
    for kind in ("fixed", "quantile"):
      grid = read_image(self.path(f"traversal_{kind}_0.png"))
      self.assertEqual(grid.shape, (height, width), kind)
      cells = grid[:, grids.LABEL_WIDTH + 1:]
      top_row = [cells[:SIZE, t * (SIZE + 1):t * (SIZE + 1) + SIZE].astype(float)
                 for t in range(STEPS)]
      # The most informative latent (first row) changes the decoded image along its row.
      # (Measured: 12 grey levels between the ends of a 300-step model's top row.)
      self.assertGreater(np.abs(top_row[0] - top_row[-1]).max(), 4, kind)
    # The fixed traversal's middle column decodes the base code with the top latent at 0.
    observations = self.model.ground_truth_data.sample(300, np.random.RandomState(0))[1]
    code = self.model.mean(observations[:1])[0]
    code[self.index["latent_order"][0]] = 0.0
    expected = grids.to_uint8(self.model.decode_mean(code[None])[0, :, :, 0]).astype(int)
    middle = (STEPS // 2) * (SIZE + 1)
    shown = read_image(self.path("traversal_fixed_0.png"))[
        :SIZE, grids.LABEL_WIDTH + 1 + middle:grids.LABEL_WIDTH + 1 + middle + SIZE]
    self.assertLessEqual(np.abs(shown.astype(int) - expected).max(), 1)
    gif = Image.open(self.path("traversal_0.gif"))
    self.assertEqual(gif.n_frames, 2 * STEPS - 2)
    self.assertEqual(gif.size, (grids.LABEL_WIDTH + 1 + SIZE,
                                LATENT_DIM * (SIZE + 1) + traversals.PROGRESS_BAR_HEIGHT))

  def test_reconstructions_and_samples_layout_and_content(self):
    grid = read_image(self.path("reconstructions.png"))
    gaps = grids.reconstruction_gaps(4, 1, 4)
    self.assertEqual(grid.shape, (2 * SIZE + 1, 8 * SIZE + sum(gaps)))
    self.assertEqual(gaps, [1, 4, 1, 4, 1, 4, 1])  # 1 inside a pair, 4 between pairs
    starts = np.concatenate([[0], np.cumsum(np.asarray(gaps) + SIZE)])
    # Inputs are the first evaluation points, drawn with RandomState(seed=0).
    inputs = self.model.ground_truth_data.sample(300, np.random.RandomState(0))[1][:8]
    for n in range(8):
      row, pair = divmod(n, 4)
      top = row * (SIZE + 1)
      shown_input = grid[top:top + SIZE, starts[2 * pair]:starts[2 * pair] + SIZE]
      shown_reconstruction = grid[top:top + SIZE, starts[2 * pair + 1]:starts[2 * pair + 1] + SIZE]
      self.assertAllEqual(shown_input, grids.to_uint8(inputs[n, :, :, 0]))
      # Measured: grey-level std 4.8 to 5.2 per reconstruction (a blank cell has 0).
      self.assertGreater(shown_reconstruction.std(), 2.0, n)
    samples = read_image(self.path("samples.png"))
    self.assertEqual(samples.shape, (3 * SIZE + 2, 4 * SIZE + 3))
    cells = [samples[r * (SIZE + 1):r * (SIZE + 1) + SIZE, c * (SIZE + 1):c * (SIZE + 1) + SIZE]
             for r in range(3) for c in range(4)]
    # Measured: grey-level std 0.4 to 20 per sample (a prior draw far from the data can decode
    # to a nearly blank image after 300 steps: 1 of 12), and the samples' means spread by 2.0.
    self.assertGreaterEqual(sum(cell.std() > 1.0 for cell in cells), 9)
    self.assertGreater(np.std([cell.mean() for cell in cells]), 0.1)  # samples differ

  def test_mi_plots_are_plausible_pngs(self):
    for name in ("mi_matrix.png", "mi_invariance.png"):
      image = Image.open(self.path(name))
      self.assertEqual(image.format, "PNG")
      width, height = image.size
      self.assertTrue(300 <= width <= 2000 and 200 <= height <= 2000, (name, image.size))
      pixels = np.asarray(image.convert("RGB"), float)
      self.assertGreater(pixels.std(), 10.0, name)  # measured 70 to 86

  def test_saved_model_adapter_matches_model_dir(self):
    gin.clear_config()
    exported = trained_model.from_export(self.export_dir)
    gin.clear_config()
    self.assertEqual(exported.latent_dim, LATENT_DIM)
    self.assertEqual(exported.observation_shape, (SIZE, SIZE, 1))
    self.assertEqual(exported.ground_truth_data.name, "dsprites")
    images = self.model.ground_truth_data.sample_observations(16, np.random.RandomState(1))
    mean, covariance = exported.posterior(images)
    self.assertEqual(covariance.shape, (16, LATENT_DIM, LATENT_DIM))
    self.assertAllClose(covariance, np.transpose(covariance, (0, 2, 1)))
    codes = np.random.RandomState(2).standard_normal((6, LATENT_DIM))
    self.assertAllClose(exported.decode_mean(codes), self.model.decode_mean(codes), atol=1e-5)
    expected_mean, expected_covariance = self.model.posterior(images)
    self.assertAllClose(mean, expected_mean, atol=1e-4)
    self.assertAllClose(covariance, expected_covariance, atol=1e-4)


  def test_binary_on_the_export(self):
    output_dir = os.path.join(self.root, "binary_pictures")
    result = subprocess.run(
        [sys.executable, "-m", "binaries.visualize_main", f"--saved_model={self.export_dir}",
         f"--output_dir={output_dir}", "--num_traversal_steps=3", "--num_points=100",
         "--seed=3", "--gin_bindings=pictures.num_base_images = 1",
         "--gin_bindings=pictures.num_reconstructions = 4",
         "--gin_bindings=pictures.sample_rows = 2", "--gin_bindings=pictures.zoom = 2"],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn(os.path.join(output_dir, "pictures.json"), result.stdout)
    self.assertIn(os.path.join(output_dir, "traversal_0.gif"), result.stdout)
    with open(os.path.join(output_dir, "pictures.json")) as f:
      index = json.load(f)
    self.assertEqual(index["settings"]["seed"], 3)
    self.assertEqual(len(index["files"]), 3 + 4)
    zoomed = 2 * SIZE
    grid = read_image(os.path.join(output_dir, "traversal_fixed_0.png"))
    self.assertEqual(grid.shape, (LATENT_DIM * zoomed + LATENT_DIM - 1,
                                  grids.LABEL_WIDTH + 1 + 3 * zoomed + 2))
    self.assertEqual(Image.open(os.path.join(output_dir, "traversal_0.gif")).n_frames, 4)
    samples = read_image(os.path.join(output_dir, "samples.png"))
    self.assertEqual(samples.shape, (2 * zoomed + 1, 8 * zoomed + 7))


class BinaryTest(tf.test.TestCase):

  def run_binary(self, *args, timeout=300):
    return subprocess.run([sys.executable, "-m", "binaries.visualize_main", *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO)

  def test_bad_sources_give_one_line_errors_and_no_output(self):
    existing = self.get_temp_dir()
    missing = os.path.join(existing, "no_such_dir")
    cases = {
        "neither": ([], "exactly one of --model_dir and --saved_model"),
        "both": ([f"--model_dir={existing}", f"--saved_model={existing}"], "exactly one"),
        "missing model_dir": ([f"--model_dir={missing}"], "--model_dir .*no such directory"),
        "missing saved_model": ([f"--saved_model={missing}"],
                                "--saved_model .*no such directory"),
        "not a model_dir": ([f"--model_dir={existing}"], "operative_config.gin"),
    }
    for what, (args, message) in cases.items():
      with self.subTest(what):
        output_dir = os.path.join(existing, what.replace(" ", "_") + "_out")
        result = self.run_binary(*args, f"--output_dir={output_dir}")
        self.assertEqual(result.returncode, 1, result.stderr)
        lines = result.stderr.strip().splitlines()
        self.assertTrue(lines and lines[-1].startswith("zoo-visualize: error:"), result.stderr)
        self.assertRegex(lines[-1], message)
        self.assertNotIn("Traceback", result.stderr)
        self.assertFalse(os.path.exists(output_dir), what)


if __name__ == "__main__":
  tf.test.main()
