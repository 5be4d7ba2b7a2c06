"""Latent traversals: which values a latent takes, in which order, decoded into grid cells."""
import numpy as np
from scipy import stats

from common import validation
from evaluation.pictures.grids import BACKGROUND, LABEL_WIDTH, check_cells, image_grid

PROGRESS_BAR_HEIGHT = 3


def traversal_values(kind, num_steps, limit=2.0, quantile_range=(0.05, 0.95)):
  """Values a traversed latent takes: [num_steps] float64.

  "fixed": evenly spaced in [-limit, limit]. "quantile": the standard normal quantiles of
  evenly spaced probabilities in quantile_range, so steps are denser where the prior has mass.
  """
  num_steps = validation.integer(num_steps, "num_traversal_steps", minimum=2)
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


def traversal_cells(model, code, values, order, batch_size=None):
  """Decoded traversals of one code: [len(order), len(values), *observation_shape].

  Row r changes latent order[r] through `values`, all other latents stay at `code [d]`.
  """
  order = np.asarray(order)
  codes = np.tile(np.asarray(code, np.float64), (len(order), len(values), 1))
  codes[np.arange(len(order)), :, order] = np.asarray(values)[None, :]
  decoded = model.decode_mean(codes.reshape(-1, model.latent_dim), batch_size=batch_size)
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
  cells = check_cells(cells)
  num_steps, cell_width = cells.shape[1], cells.shape[3]
  left = LABEL_WIDTH + separator
  frames = []
  for t in ping_pong(num_steps):
    column = image_grid(cells[:, t:t + 1], separator, row_labels=labels)
    bar = np.full((separator + PROGRESS_BAR_HEIGHT,) + column.shape[1:], BACKGROUND, np.uint8)
    bar[separator:, left:left + int(round(cell_width * (t + 1) / num_steps))] = 0
    frames.append(np.concatenate([column, bar], axis=0))
  return frames
