"""zoo-visualize's pictures of one model: traversals, reconstructions, prior samples, MI plots.

`make_pictures` draws everything for an `evaluation.trained_model.TrainedModel`; the picture
builders it calls are pure functions of arrays (`grids`, `traversals`, `mi_plots`).

The pictures are drawn into a hidden staging directory beside the output directory (on the
same file system) and published by rename: a new output directory is the staging directory
renamed, whole; into an existing one the files are moved one by one, its old pictures.json
removed first and the new one moved last, so a complete index means a complete set. Staging
directories are named after their process, and those of processes that died (`kill -9`) are
removed by the next zoo-visualize to the same output directory. One zoo-visualize at a time
writes an output directory: a second one exits at once with an error naming the first's pid,
and zoo-visualize does not replace pictures that another one published after it started (the
first to finish wins).
"""
import json
import os
import shutil
import tempfile

import numpy as np

from common import io_utils
from common import validation
from evaluation import mi_invariance
from evaluation.pictures.grids import image_grid, reconstruction_grid, save_gif, save_image
from evaluation.pictures.grids import zoom_cells
from evaluation.pictures.mi_plots import normalized_mi_matrix, plot_mi_invariance
from evaluation.pictures.mi_plots import plot_mi_matrix
from evaluation.pictures.traversals import latent_order, marginal_kl, traversal_cells
from evaluation.pictures.traversals import traversal_frames, traversal_values

# Observations and codes go through the networks this many at a time to bound memory.
BATCH_SIZE = 256


def picture_settings(num_base_images=3, traversal_limit=2.0, quantile_range=(0.05, 0.95),
                     sort_latents=True, num_reconstructions=16, pairs_per_row=4, sample_rows=8,
                     sample_cols=8, zoom=1, separator=1, gif_frame_ms=150, mi_num_bins=20,
                     mi_num_conditioning=32, mi_num_samples=4):
  """The settings of `make_pictures` as a dict: these arguments, the defaults unless given
  (zoo-visualize binds them as `pictures.*`).

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
    mi_num_conditioning: values a of z_-i per latent in the MI-invariance plot (the
      estimator's num_conditioning, as `mi_measures.num_conditioning` for zoo-evaluate).
    mi_num_samples: Monte Carlo draws per stratified pick in that plot (`num_samples`).
  """
  # Checked by make_pictures, so a bad value reads as one clean line.
  return dict(num_base_images=num_base_images, traversal_limit=traversal_limit,
              quantile_range=quantile_range, sort_latents=sort_latents,
              num_reconstructions=num_reconstructions, pairs_per_row=pairs_per_row,
              sample_rows=sample_rows, sample_cols=sample_cols, zoom=zoom, separator=separator,
              gif_frame_ms=gif_frame_ms, mi_num_bins=mi_num_bins,
              mi_num_conditioning=mi_num_conditioning, mi_num_samples=mi_num_samples)


def make_pictures(model, output_dir, num_traversal_steps=10, seed=0, num_points=2000,
                  settings=None, log_fn=print, unchanged_since=False):
  """Writes every picture of `model` into output_dir, plus pictures.json indexing them.

  Files: traversal_fixed_<k>.png, traversal_quantile_<k>.png, traversal_<k>.gif for each base
  image k (image data only), reconstructions.png, samples.png, mi_matrix.png,
  mi_invariance.png, pictures.json. They are drawn into a staging directory beside output_dir
  and published by rename at the end (see the module docstring), so a failure leaves no partial
  set behind.

  Args:
    model: an `evaluation.trained_model.TrainedModel`.
    output_dir: created if missing; files of the same names are replaced.
    num_traversal_steps: columns of a traversal (>= 2).
    seed: seeds the evaluation points, the prior samples and the MI-invariance estimate.
    num_points: evaluation points (factors and observations) for the MI pictures and for
      ordering the latents.
    settings: dict overriding some of `picture_settings()` (the defaults).
    log_fn: where notes go.
    unchanged_since: `io_utils.file_state` of output_dir/pictures.json when the caller started
      (zoo-visualize: when its process started), or False. If given and another zoo-visualize
      has written pictures.json since, nothing is published: the first to finish wins.

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
  validation.seed(seed, "seed")
  io_utils.check_writable_directory(output_dir, "--output_dir")
  validation.positive_int(num_points, "num_points")
  for name in ("num_base_images", "num_reconstructions", "pairs_per_row", "sample_rows",
               "sample_cols", "mi_num_bins", "zoom", "gif_frame_ms", "mi_num_conditioning",
               "mi_num_samples"):
    validation.positive_int(options[name], f"pictures.{name}")
  validation.non_negative_int(options["separator"], "pictures.separator")
  validation.positive_number(options["traversal_limit"], "pictures.traversal_limit")
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
  lock = io_utils.lock_target(output_dir, "--output_dir", "zoo-visualize")
  try:
    return _draw_and_publish(model, output_dir, num_traversal_steps, seed, num_points, options,
                             fixed_values, quantile_values, is_image, log_fn, unchanged_since)
  finally:
    lock.close()


def _staging_prefix(output_dir):
  return f".{os.path.basename(os.path.abspath(output_dir))}.pictures-tmp-"


def _publish(staging, output_dir, names):
  """Moves the files `names` (pictures.json last) from staging into output_dir."""
  if not os.path.exists(output_dir):
    # mkdtemp made it private; the published directory gets what a plain mkdir would.
    os.chmod(staging, 0o777 & ~io_utils.current_umask())
    os.rename(staging, output_dir)
    return
  index = os.path.join(output_dir, "pictures.json")
  if os.path.lexists(index):
    os.remove(index)  # an old index must not vouch for a set being replaced
  for name in names:
    os.replace(os.path.join(staging, name), os.path.join(output_dir, name))


def _draw_and_publish(model, output_dir, num_traversal_steps, seed, num_points, options,
                      fixed_values, quantile_values, is_image, log_fn, unchanged_since):
  """`make_pictures` once the output directory is this process's to write."""
  num_base_images = options["num_base_images"]
  num_reconstructions = options["num_reconstructions"]
  pairs_per_row = options["pairs_per_row"]
  sample_rows, sample_cols = options["sample_rows"], options["sample_cols"]
  zoom, separator = options["zoom"], options["separator"]
  mi_num_bins = options["mi_num_bins"]
  data = model.ground_truth_data
  random_state = np.random.RandomState(seed)
  factors, observations = data.sample(num_points, random_state)
  mean, covariance = model.posterior(observations, batch_size=BATCH_SIZE)
  order = latent_order(mean, covariance, options["sort_latents"])
  labels = [f"z{i}" for i in order]
  kl = marginal_kl(mean, covariance)

  parent = os.path.dirname(os.path.abspath(output_dir))
  prefix = _staging_prefix(output_dir)
  io_utils.remove_stale(parent, prefix, lambda line: log_fn(f"[zoo-visualize] {line}"),
                        what="a zoo-visualize")
  staging = tempfile.mkdtemp(prefix=f"{prefix}{io_utils.owner_tag()}-", dir=parent)
  try:
    written = []

    def path_of(name):
      written.append(name)
      return os.path.join(staging, name)

    if is_image:
      for k in range(num_base_images):
        for kind, values in (("fixed", fixed_values), ("quantile", quantile_values)):
          cells = zoom_cells(traversal_cells(model, mean[k], values, order, BATCH_SIZE), zoom)
          save_image(image_grid(cells, separator, row_labels=labels),
                     path_of(f"traversal_{kind}_{k}.png"))
          if kind == "fixed":
            save_gif(traversal_frames(cells, labels, separator), path_of(f"traversal_{k}.gif"),
                     options["gif_frame_ms"])
      inputs = observations[:num_reconstructions]
      reconstructions = model.decode_mean(mean[:num_reconstructions], batch_size=BATCH_SIZE)
      save_image(reconstruction_grid(zoom_cells(inputs[None], zoom)[0],
                                     zoom_cells(reconstructions[None], zoom)[0], pairs_per_row,
                                     separator, pair_gap=4 * separator),
                 path_of("reconstructions.png"))
      samples = model.decode_mean(model.sample_prior(sample_rows * sample_cols, random_state),
                                  batch_size=BATCH_SIZE)
      cells = samples.reshape((sample_rows, sample_cols) + samples.shape[1:])
      save_image(image_grid(zoom_cells(cells, zoom), separator), path_of("samples.png"))
    else:
      log_fn(f"[zoo-visualize] observations of shape {model.observation_shape} are not images: "
             "only the MI pictures are drawn")

    normalized, mi, entropy = normalized_mi_matrix(mean, factors, mi_num_bins)
    plot_mi_matrix(normalized, data.factor_names, path_of("mi_matrix.png"), num_points,
                   mi_num_bins)
    invariance = mi_invariance.mi_invariance(
        mean, covariance, num_conditioning=options["mi_num_conditioning"],
        num_samples=options["mi_num_samples"], seed=seed)
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
    io_utils.check_unchanged(os.path.join(output_dir, "pictures.json"), unchanged_since,
                             "--output_dir", output_dir, "zoo-visualize")
    _publish(staging, output_dir, written + ["pictures.json"])
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return index
