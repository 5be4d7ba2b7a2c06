"""Pictures people judge a disentangled model by (the library behind zoo-visualize).

Everything here works against `VisualModel`, a small protocol a trained model is wrapped in:

  posterior(images)   -> (mean [B, d], covariance [B, d, d]) of q(z|x)
  encode_mean(images) -> mean [B, d]
  decode_mean(z)      -> images [B, H, W, C], the mean of p(x|z)
  latent_dim, observation_shape, ground_truth_data, description

`from_model_dir` rebuilds a zoo-train run; `from_saved_model` reads a zoo-export directory
without rebuilding the network. The picture builders below are pure functions of arrays; only
`make_pictures` writes files.

Grids use one fixed layout: cells of H x W pixels separated by `separator` background pixels
(no outer border), optionally preceded by a label margin of `label_width` pixels plus one
separator. Image values are clipped to [0, 1] and mapped to uint8 by round(255 * x); one-channel
images stay grayscale ("L"), three-channel ones are RGB.
"""
import json
import os
import shutil
import tempfile

import gin
import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont
from scipy import stats

from evaluation import mi_invariance
from evaluation.metrics import utils as metric_utils

BACKGROUND = 255
LABEL_WIDTH = 24
PROGRESS_BAR_HEIGHT = 3
# Codes are pushed through the networks this many at a time to bound memory.
BATCH_SIZE = 256


class VisualModel:
  """A trained model seen through what the pictures need.

  Args:
    posterior_fn: images float32 [B, H, W, C] -> (mean [B, d], covariance [B, d, d]).
    decode_mean_fn: codes float32 [B, d] -> mean of p(x|z), [B, H, W, C].
    latent_dim: d.
    observation_shape: (H, W, C) or (D,) for vector data.
    ground_truth_data: the data set the model was trained on (a zoo GroundTruthData).
    description: where the model came from, for titles and the index.
    code_prior: the prior over the codes, "normal" (N(0, I)) or "uniform" (an InfoGAN's
      Uniform(-sqrt 3, sqrt 3) codes).
  """

  def __init__(self, posterior_fn, decode_mean_fn, latent_dim, observation_shape,
               ground_truth_data, description, code_prior="normal"):
    self._posterior_fn = posterior_fn
    self._decode_mean_fn = decode_mean_fn
    self.latent_dim = int(latent_dim)
    self.observation_shape = tuple(observation_shape)
    self.ground_truth_data = ground_truth_data
    self.description = description
    if code_prior not in ("normal", "uniform"):
      raise ValueError(f"code_prior: expected 'normal' or 'uniform', got {code_prior!r}")
    self.code_prior = code_prior

  def posterior(self, images):
    """(mean [B, d], covariance [B, d, d]) as float64 numpy arrays."""
    images = np.asarray(images, np.float32)
    means, covariances = [], []
    for start in range(0, len(images), BATCH_SIZE):
      mean, covariance = self._posterior_fn(images[start:start + BATCH_SIZE])
      means.append(np.asarray(mean, np.float64))
      covariances.append(np.asarray(covariance, np.float64))
    return np.concatenate(means), np.concatenate(covariances)

  def encode_mean(self, images):
    """Posterior means [B, d]."""
    return self.posterior(images)[0]

  def decode_mean(self, codes):
    """Mean of p(x|z) for codes [B, d]: float32 [B, *observation_shape]."""
    codes = np.asarray(codes, np.float32)
    if codes.ndim != 2 or codes.shape[1] != self.latent_dim:
      raise ValueError(f"codes: expected shape [B, {self.latent_dim}], got {codes.shape}")
    return np.concatenate([np.asarray(self._decode_mean_fn(codes[start:start + BATCH_SIZE]),
                                      np.float32)
                           for start in range(0, len(codes), BATCH_SIZE)])

  def sample_prior(self, count, random_state):
    """Decoded draws z from the prior: [count, *observation_shape]; reproducible from
    random_state."""
    if self.code_prior == "uniform":
      half_width = np.sqrt(3.0)  # unit variance, as zoo.models.infogan draws them
      return self.decode_mean(random_state.uniform(-half_width, half_width,
                                                   (count, self.latent_dim)))
    return self.decode_mean(random_state.standard_normal((count, self.latent_dim)))


def from_model_dir(model_dir, checkpoint=None):
  """Rebuilds a zoo-train run from its operative config and latest (or given) checkpoint.

  The restore is the exporter's `restore_trained_model` (the object graph training saves, checked
  to match), shared so that pictures and exports of a run see the same weights. Leaves the
  run's configuration parsed in gin, so picture settings can be bound after it.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from export import saved_model_export
  from zoo.posteriors import gaussian_utils

  if not os.path.isdir(model_dir):
    raise FileNotFoundError(f"--model_dir {model_dir}: no such directory")
  trained = saved_model_export.restore_trained_model(model_dir, checkpoint)
  model, data = trained.model, trained.data

  @tf.function(reduce_retracing=True)
  def posterior_fn(images):
    dist = model.posterior(images, training=False)
    return dist.mean(), gaussian_utils.covariance(dist)

  @tf.function(reduce_retracing=True)
  def decode_mean_fn(codes):
    return model.likelihood.mean(model.decode(codes, training=False))

  return VisualModel(posterior_fn, decode_mean_fn, model.latent_dim, data.observation_shape,
                     data, f"{model.model_name}/{model.family.name} from {trained.checkpoint}",
                     code_prior=saved_model_export.code_prior(model))


def from_saved_model(export_dir):
  """Wraps a zoo-export SavedModel; the data set is rebuilt from the export's gin config.

  The networks run from the SavedModel's signatures; zoo is imported only to construct the
  ground-truth data set named in the metadata (with the data set bindings the run used).
  """
  from export import loader  # pylint: disable=g-import-not-at-top
  from zoo import data as zoo_data
  import zoo.all_configurables  # noqa: F401  (the exported config names every configurable)

  if not os.path.isdir(export_dir):
    raise FileNotFoundError(f"--saved_model {export_dir}: no such directory")
  exported = loader.load(export_dir)
  metadata = exported.metadata
  gin.parse_config(metadata["gin_config"])
  data = zoo_data.get_dataset()
  if data.name != metadata["dataset"] or tuple(data.observation_shape) != tuple(
      exported.observation_shape):
    raise ValueError(f"--saved_model {export_dir}: its gin config builds data set {data.name!r} "
                     f"with observations {tuple(data.observation_shape)}, but the metadata says "
                     f"{metadata['dataset']!r} with {tuple(exported.observation_shape)}")

  def posterior_fn(images):
    outputs = exported.encode(images)
    if "scale_tril" in outputs:
      scale_tril = outputs["scale_tril"].astype(np.float64)
      covariance = scale_tril @ np.swapaxes(scale_tril, 1, 2)
    else:
      variance = np.square(outputs["stddev"].astype(np.float64))
      covariance = variance[:, :, None] * np.eye(variance.shape[1])[None]
    return outputs["mean"], covariance

  def decode_mean_fn(codes):
    return exported.decode(codes)["mean"]

  step = metadata.get("training_step")
  return VisualModel(posterior_fn, decode_mean_fn, exported.latent_dim,
                     exported.observation_shape, data,
                     f"{metadata['model']}/{metadata['posterior_family']} (step {step}) from "
                     f"{export_dir}", code_prior=metadata.get("code_prior", "normal"))


# ---------------------------------------------------------------------------------------------
# Grids.


def to_uint8(images):
  """Clips float images to [0, 1] and maps them to uint8 (round(255 x)); uint8 passes through."""
  images = np.asarray(images)
  if images.dtype == np.uint8:
    return images
  return np.round(np.clip(images.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def _check_cells(cells):
  cells = np.asarray(cells)
  if cells.ndim != 5 or cells.shape[-1] not in (1, 3) or 0 in cells.shape:
    raise ValueError(f"cells: expected [rows, cols, H, W, 1 or 3] images, got shape {cells.shape}")
  return to_uint8(cells)


def zoom_cells(cells, zoom):
  """Enlarges each cell of [rows, cols, H, W, C] by an integer factor (nearest neighbour)."""
  if isinstance(zoom, bool) or not isinstance(zoom, (int, np.integer)) or zoom < 1:
    raise ValueError(f"zoom: expected a positive integer, got {zoom!r}")
  return np.repeat(np.repeat(np.asarray(cells), zoom, axis=2), zoom, axis=3)


def grid_shape(rows, cols, cell_height, cell_width, separator=1, column_gaps=None,
               labelled=False, label_width=LABEL_WIDTH):
  """(height, width) in pixels of the grid `image_grid` builds with these settings."""
  gaps = [separator] * (cols - 1) if column_gaps is None else list(column_gaps)
  height = rows * cell_height + (rows - 1) * separator
  width = cols * cell_width + sum(gaps) + (label_width + separator if labelled else 0)
  return height, width


def image_grid(cells, separator=1, column_gaps=None, row_labels=None, label_width=LABEL_WIDTH):
  """Tiles cells into one image with background-coloured separators and optional row labels.

  Args:
    cells: [rows, cols, H, W, C] images, C in {1, 3}; floats are clipped to [0, 1].
    separator: pixels between rows (and between columns unless column_gaps is given).
    column_gaps: cols - 1 widths of the gaps between columns.
    row_labels: rows strings drawn in a left margin of label_width pixels.
    label_width: width of the label margin.

  Returns:
    uint8 [height, width, C], see `grid_shape`.
  """
  cells = _check_cells(cells)
  rows, cols, height, width, channels = cells.shape
  if isinstance(separator, bool) or not isinstance(separator, (int, np.integer)) or separator < 0:
    raise ValueError(f"separator: expected a non-negative integer, got {separator!r}")
  gaps = [separator] * (cols - 1) if column_gaps is None else [int(g) for g in column_gaps]
  if len(gaps) != cols - 1 or min(gaps, default=0) < 0:
    raise ValueError(f"column_gaps: expected {cols - 1} non-negative widths, got {column_gaps!r}")
  if row_labels is not None and len(row_labels) != rows:
    raise ValueError(f"row_labels: expected {rows} labels, got {len(row_labels)}")
  labelled = row_labels is not None
  left = label_width + separator if labelled else 0
  shape = grid_shape(rows, cols, height, width, separator, gaps, labelled, label_width)
  grid = np.full(shape + (channels,), BACKGROUND, np.uint8)
  column_starts = left + np.concatenate([[0], np.cumsum(np.asarray(gaps, int) + width)])
  for r in range(rows):
    top = r * (height + separator)
    for c in range(cols):
      grid[top:top + height, column_starts[c]:column_starts[c] + width] = cells[r, c]
  if labelled:
    _draw_row_labels(grid, row_labels, height, separator, label_width)
  return grid


def _draw_row_labels(grid, labels, row_height, separator, label_width):
  """Writes each label, vertically centred on its row, into grid[:, :label_width] in place."""
  channels = grid.shape[-1]
  margin = Image.fromarray(np.ascontiguousarray(grid[:, :label_width, 0]), "L")
  draw = ImageDraw.Draw(margin)
  font = ImageFont.load_default()
  for r, label in enumerate(labels):
    left, top, right, bottom = draw.textbbox((0, 0), str(label), font=font)
    x = max((label_width - (right - left)) // 2 - left, 0)
    y = r * (row_height + separator) + (row_height - (bottom - top)) // 2 - top
    draw.text((x, y), str(label), fill=0, font=font)
  grid[:, :label_width] = np.repeat(np.asarray(margin)[:, :, None], channels, axis=2)


def save_image(array, path):
  """Writes uint8 [H, W, 1 or 3] as a PNG (grayscale or RGB)."""
  array = np.asarray(array)
  image = Image.fromarray(array[:, :, 0], "L") if array.shape[-1] == 1 else Image.fromarray(
      array, "RGB")
  image.save(path)


def save_gif(frames, path, frame_ms):
  """Writes uint8 frames [H, W, 1 or 3] as a looping animated GIF."""
  images = [Image.fromarray(f[:, :, 0], "L") if f.shape[-1] == 1 else Image.fromarray(f, "RGB")
            for f in frames]
  images[0].save(path, save_all=True, append_images=images[1:], duration=int(frame_ms), loop=0)


# ---------------------------------------------------------------------------------------------
# Latent traversals.


def traversal_values(kind, num_steps, limit=2.0, quantile_range=(0.05, 0.95)):
  """Values a traversed latent takes: [num_steps] float64.

  "fixed": evenly spaced in [-limit, limit]. "quantile": the standard normal quantiles of
  evenly spaced probabilities in quantile_range, so steps are denser where the prior has mass.
  """
  if isinstance(num_steps, bool) or not isinstance(num_steps, (int, np.integer)) or num_steps < 2:
    raise ValueError(f"num_traversal_steps: expected an integer >= 2, got {num_steps!r}")
  if kind == "fixed":
    return np.linspace(-limit, limit, num_steps)
  if kind == "quantile":
    low, high = quantile_range
    if not 0.0 < low < high < 1.0:
      raise ValueError(f"quantile_range: expected 0 < low < high < 1, got {quantile_range!r}")
    return stats.norm.ppf(np.linspace(low, high, num_steps))
  raise ValueError(f"traversal kind {kind!r}: expected 'fixed' or 'quantile'")


def marginal_kl(mean, covariance):
  """KL(q(z_i|x) || N(0, 1)) averaged over the points: [d] nats, for mean [N, d], cov [N, d, d]."""
  variance = np.maximum(np.diagonal(covariance, axis1=1, axis2=2), 1e-30)
  return np.mean(0.5 * (np.square(mean) + variance - 1.0 - np.log(variance)), axis=0)


def latent_order(mean, covariance, sort=True):
  """Latent indices, most informative first (largest mean marginal KL) when sort is True."""
  if not sort:
    return np.arange(mean.shape[1])
  return np.argsort(-marginal_kl(mean, covariance), kind="stable")


def traversal_cells(model, code, values, order):
  """Decoded traversals of one code: [len(order), len(values), *observation_shape].

  Row r changes latent order[r] through `values`, all other latents stay at `code [d]`.
  """
  order = np.asarray(order)
  codes = np.tile(np.asarray(code, np.float64), (len(order), len(values), 1))
  codes[np.arange(len(order)), :, order] = np.asarray(values)[None, :]
  decoded = model.decode_mean(codes.reshape(-1, model.latent_dim))
  return decoded.reshape((len(order), len(values)) + decoded.shape[1:])


def ping_pong(num_steps):
  """Step indices of a back-and-forth animation: 0..S-1 then S-2..1 (2S - 2 frames)."""
  return list(range(num_steps)) + list(range(num_steps - 2, 0, -1))


def traversal_frames(cells, labels, separator=1):
  """Animation frames of a traversal, frame t showing every latent at step t.

  Each frame is column t of the traversal grid (with the row labels) above a progress bar of
  PROGRESS_BAR_HEIGHT pixels, separated by one separator, whose dark part covers
  round(cell_width * (t + 1) / S) pixels from the left of the image column. The bar makes
  consecutive frames differ even when the decoder ignores a latent (GIF writers merge equal
  frames) and tells the viewer where in the traversal a frame is.

  Args:
    cells: [rows, S, H, W, C] decoded traversals.
    labels: rows labels.

  Returns:
    list of 2S - 2 uint8 frames [rows * H + rows * separator + PROGRESS_BAR_HEIGHT,
    LABEL_WIDTH + separator + W, C].
  """
  cells = _check_cells(cells)
  num_steps, cell_width = cells.shape[1], cells.shape[3]
  left = LABEL_WIDTH + separator
  frames = []
  for t in ping_pong(num_steps):
    column = image_grid(cells[:, t:t + 1], separator, row_labels=labels)
    bar = np.full((separator + PROGRESS_BAR_HEIGHT,) + column.shape[1:], BACKGROUND, np.uint8)
    bar[separator:, left:left + int(round(cell_width * (t + 1) / num_steps))] = 0
    frames.append(np.concatenate([column, bar], axis=0))
  return frames


# ---------------------------------------------------------------------------------------------
# Reconstructions and samples.


def reconstruction_grid(inputs, reconstructions, pairs_per_row=4, separator=1, pair_gap=4):
  """Pairs input | reconstruction, pairs_per_row pairs a row, pair_gap pixels between pairs.

  Args:
    inputs, reconstructions: [N, H, W, C] with N a multiple of pairs_per_row.

  Returns:
    uint8 grid of N / pairs_per_row rows and 2 * pairs_per_row columns; gaps are separator
    inside a pair and pair_gap between pairs.
  """
  inputs, reconstructions = np.asarray(inputs), np.asarray(reconstructions)
  if inputs.shape != reconstructions.shape or len(inputs) % pairs_per_row:
    raise ValueError(f"reconstructions: expected inputs and reconstructions of the same shape "
                     f"with a multiple of {pairs_per_row} images, got {inputs.shape} and "
                     f"{reconstructions.shape}")
  pairs = np.stack([inputs, reconstructions], axis=1)  # [N, 2, H, W, C]
  cells = pairs.reshape((len(inputs) // pairs_per_row, 2 * pairs_per_row) + inputs.shape[1:])
  return image_grid(cells, separator, column_gaps=reconstruction_gaps(pairs_per_row, separator,
                                                                       pair_gap))


def reconstruction_gaps(pairs_per_row, separator=1, pair_gap=4):
  """Column gaps of `reconstruction_grid`: separator inside a pair, pair_gap between pairs."""
  return [separator if c % 2 == 0 else pair_gap for c in range(2 * pairs_per_row - 1)]


# ---------------------------------------------------------------------------------------------
# Mutual-information pictures.


def normalized_mi_matrix(codes, factors, num_bins=20):
  """Discretized MI of each code with each factor, divided by the factor's entropy.

  Args:
    codes: [N, d] (posterior means); each column is binned into num_bins equal-width bins.
    factors: [N, F] discrete factor values.

  Returns:
    (normalized [d, F], mi [d, F] nats, entropy [F] nats); a factor that takes a single value
    in the sample (entropy 0) gets a normalized column of zeros.
  """
  mi = metric_utils.discrete_mutual_info(metric_utils.discretize(codes, num_bins), factors)
  entropy = metric_utils.discrete_entropy(factors)
  safe = np.where(entropy > 0, entropy, 1.0)
  return np.where(entropy[None] > 0, mi / safe[None], 0.0), mi, entropy


def plot_mi_matrix(normalized, factor_names, path, num_points, num_bins):
  """Heatmap of normalized [d, F] with factor names on x and z_i on y; written to path (PNG)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  latent_dim, num_factors = normalized.shape
  figure, axes = plt.subplots(figsize=(2.5 + 1.0 * num_factors, 1.6 + 0.45 * latent_dim))
  shown = axes.imshow(normalized, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
  for i in range(latent_dim):
    for j in range(num_factors):
      value = normalized[i, j]
      axes.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                color="black" if value > 0.6 else "white")
  axes.set_xticks(range(num_factors), list(factor_names), rotation=30, ha="right")
  axes.set_yticks(range(latent_dim), [f"z_{i}" for i in range(latent_dim)])
  axes.set_xlabel("factor")
  axes.set_ylabel("latent (posterior mean)")
  axes.set_title(f"I(z_i; factor) / H(factor)\n{num_bins}-bin discretized means, "
                 f"N = {num_points}", fontsize=9)
  figure.colorbar(shown, ax=axes, fraction=0.05)
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)


def plot_mi_invariance(result, latent_dim, path):
  """Bar chart of mean +- std over a of I(x; z_i | z_{-i} = a) per latent; written to path."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt
  means = [result[f"mi_invariance_mean_{i}"] for i in range(latent_dim)]
  stds = [result[f"mi_invariance_std_{i}"] for i in range(latent_dim)]
  figure, axes = plt.subplots(figsize=(2.5 + 0.5 * latent_dim, 3.5))
  axes.bar(range(latent_dim), means, yerr=stds, capsize=3, color="tab:blue")
  axes.set_xticks(range(latent_dim), [f"z_{i}" for i in range(latent_dim)])
  axes.set_ylabel("nats")
  axes.set_title("I(x; z_i | z_-i = a): mean and std over values a\n"
                 f"violation = sum std / sum mean = {result['violation']:.3f}", fontsize=9)
  figure.tight_layout()
  figure.savefig(path, dpi=100)
  plt.close(figure)


# ---------------------------------------------------------------------------------------------
# Everything together.


def _check_positive(value, name):
  if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
    raise ValueError(f"{name}: expected a positive integer, got {value!r}")
  return int(value)


@gin.configurable("pictures")
def picture_settings(num_base_images=3, traversal_limit=2.0, quantile_range=(0.05, 0.95),
                     sort_latents=True, num_reconstructions=16, pairs_per_row=4, sample_rows=8,
                     sample_cols=8, zoom=1, separator=1, gif_frame_ms=150, mi_num_bins=20):
  """The gin-configurable settings of `make_pictures`, as a dict.

  Args:
    num_base_images: images whose codes are traversed (the first evaluation points).
    traversal_limit: the fixed traversal spans [-limit, limit].
    quantile_range: probabilities spanned by the quantile traversal.
    sort_latents: order traversal rows by mean KL(q(z_i|x) || N(0, 1)), largest first.
    num_reconstructions: inputs shown with their reconstructions (multiple of pairs_per_row).
    pairs_per_row: input | reconstruction pairs per row of reconstructions.png.
    sample_rows, sample_cols: layout of samples.png.
    zoom: integer enlargement of every image cell.
    separator: pixels between cells.
    gif_frame_ms: duration of one GIF frame.
    mi_num_bins: bins per latent for the discretized MI.
  """
  # Checked by make_pictures, outside gin's wrapper, so a bad value reads as one clean line.
  return dict(num_base_images=num_base_images, traversal_limit=traversal_limit,
              quantile_range=quantile_range, sort_latents=sort_latents,
              num_reconstructions=num_reconstructions, pairs_per_row=pairs_per_row,
              sample_rows=sample_rows, sample_cols=sample_cols, zoom=zoom, separator=separator,
              gif_frame_ms=gif_frame_ms, mi_num_bins=mi_num_bins)


def make_pictures(model, output_dir, num_traversal_steps=10, seed=0, num_points=2000,
                  settings=None, log_fn=print):
  """Writes every picture of `model` into output_dir, plus pictures.json indexing them.

  Files: traversal_fixed_<k>.png, traversal_quantile_<k>.png, traversal_<k>.gif for each base
  image k (image data only), reconstructions.png, samples.png, mi_matrix.png,
  mi_invariance.png, pictures.json. They are written to a temporary directory first and moved
  into output_dir (created only then) at the end, so a failure leaves no partial set behind.

  Args:
    model: a `VisualModel`.
    output_dir: created if missing; files of the same names are replaced.
    num_traversal_steps: columns of a traversal (>= 2).
    seed: seeds the evaluation points, the prior samples and the MI-invariance estimate.
    num_points: evaluation points (factors and observations) for the MI pictures and for
      ordering the latents.
    settings: dict overriding some of `picture_settings()` (whose values come from gin).
    log_fn: where notes go.

  Returns:
    The index dict written to pictures.json.
  """
  options = picture_settings()
  unknown = sorted(set(settings or {}) - set(options))
  if unknown:
    raise ValueError(f"settings: unknown names {unknown}; expected some of {sorted(options)}")
  options.update(settings or {})
  num_base_images = options["num_base_images"]
  num_reconstructions = options["num_reconstructions"]
  pairs_per_row = options["pairs_per_row"]
  sample_rows, sample_cols = options["sample_rows"], options["sample_cols"]
  zoom, separator = options["zoom"], options["separator"]
  mi_num_bins = options["mi_num_bins"]
  if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
    raise ValueError(f"seed: expected an integer in [0, 2**32), got {seed!r}")
  for name, value in (("num_points", num_points), ("num_base_images", num_base_images),
                      ("num_reconstructions", num_reconstructions),
                      ("pairs_per_row", pairs_per_row), ("sample_rows", sample_rows),
                      ("sample_cols", sample_cols), ("mi_num_bins", mi_num_bins),
                      ("zoom", zoom), ("gif_frame_ms", options["gif_frame_ms"])):
    _check_positive(value, name)
  if isinstance(separator, bool) or not isinstance(separator, (int, np.integer)) or separator < 0:
    raise ValueError(f"separator: expected a non-negative integer, got {separator!r}")
  if not (isinstance(options["traversal_limit"], (int, float)) and options["traversal_limit"] > 0):
    raise ValueError(f"traversal_limit: expected a positive number, got "
                     f"{options['traversal_limit']!r}")
  fixed_values = traversal_values("fixed", num_traversal_steps,
                                  limit=options["traversal_limit"])
  quantile_values = traversal_values("quantile", num_traversal_steps,
                                     quantile_range=options["quantile_range"])
  is_image = len(model.observation_shape) == 3
  if is_image:
    needed = max(num_base_images, num_reconstructions)
    if num_points < needed:
      raise ValueError(f"num_points={num_points}: expected at least {needed} (the base images "
                       "and reconstructions are drawn from the evaluation points)")
    if num_reconstructions % pairs_per_row:
      raise ValueError(f"num_reconstructions={num_reconstructions}: expected a multiple of "
                       f"pairs_per_row={pairs_per_row}")
  data = model.ground_truth_data
  random_state = np.random.RandomState(seed)
  factors, observations = data.sample(num_points, random_state)
  mean, covariance = model.posterior(observations)
  order = latent_order(mean, covariance, options["sort_latents"])
  labels = [f"z{i}" for i in order]
  kl = marginal_kl(mean, covariance)

  staging = tempfile.mkdtemp(prefix="zoo_pictures_")
  try:
    written = []

    def path_of(name):
      written.append(name)
      return os.path.join(staging, name)

    if is_image:
      for k in range(num_base_images):
        for kind, values in (("fixed", fixed_values), ("quantile", quantile_values)):
          cells = zoom_cells(traversal_cells(model, mean[k], values, order), zoom)
          save_image(image_grid(cells, separator, row_labels=labels),
                     path_of(f"traversal_{kind}_{k}.png"))
          if kind == "fixed":
            save_gif(traversal_frames(cells, labels, separator), path_of(f"traversal_{k}.gif"),
                     options["gif_frame_ms"])
      inputs = observations[:num_reconstructions]
      reconstructions = model.decode_mean(mean[:num_reconstructions])
      save_image(reconstruction_grid(zoom_cells(inputs[None], zoom)[0],
                                     zoom_cells(reconstructions[None], zoom)[0], pairs_per_row,
                                     separator, pair_gap=4 * separator),
                 path_of("reconstructions.png"))
      samples = model.sample_prior(sample_rows * sample_cols, random_state)
      cells = samples.reshape((sample_rows, sample_cols) + samples.shape[1:])
      save_image(image_grid(zoom_cells(cells, zoom), separator), path_of("samples.png"))
    else:
      log_fn(f"[zoo-visualize] observations of shape {model.observation_shape} are not images: "
             "only the MI pictures are drawn")

    normalized, mi, entropy = normalized_mi_matrix(mean, factors, mi_num_bins)
    plot_mi_matrix(normalized, data.factor_names, path_of("mi_matrix.png"), num_points,
                   mi_num_bins)
    invariance = mi_invariance.mi_invariance(mean, covariance, seed=seed)
    plot_mi_invariance(invariance, model.latent_dim, path_of("mi_invariance.png"))

    index = {
        "model": model.description,
        "dataset": data.name,
        "output_dir": os.path.abspath(output_dir),
        "files": {name: os.path.getsize(os.path.join(staging, name)) for name in written},
        "latent_order": [int(i) for i in order],
        "marginal_kl": [float(v) for v in kl],
        "factor_names": list(data.factor_names),
        "normalized_mi": normalized.tolist(),
        "mi": mi.tolist(),
        "factor_entropy": entropy.tolist(),
        "mi_invariance": invariance,
        "settings": dict(options, num_traversal_steps=num_traversal_steps, seed=seed,
                         num_points=num_points, quantile_range=list(options["quantile_range"]),
                         fixed_values=fixed_values.tolist(),
                         quantile_values=quantile_values.tolist()),
    }
    with open(os.path.join(staging, "pictures.json"), "w") as f:
      json.dump(index, f, indent=2, sort_keys=True)
      f.write("\n")
    os.makedirs(output_dir, exist_ok=True)
    for name in written + ["pictures.json"]:
      shutil.move(os.path.join(staging, name), os.path.join(output_dir, name))
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return index
