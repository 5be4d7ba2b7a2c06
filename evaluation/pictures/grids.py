"""Image grids: the fixed layout every picture of zoo-visualize uses, and writing PNGs and GIFs.

Cells of H x W pixels are separated by `separator` background pixels (no outer border),
optionally preceded by a label margin of `label_width` pixels plus one separator. Image values
are clipped to [0, 1] and mapped to uint8 by round(255 * x); one-channel images stay grayscale
("L"), three-channel ones are RGB.
"""
import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont

from common import validation

BACKGROUND = 255
LABEL_WIDTH = 24


def to_uint8(images):
  """Clips float images to [0, 1] and maps them to uint8 (round(255 x)); uint8 passes through."""
  images = np.asarray(images)
  if images.dtype == np.uint8:
    return images
  return np.round(np.clip(images.astype(np.float64), 0.0, 1.0) * 255.0).astype(np.uint8)


def check_cells(cells):
  cells = np.asarray(cells)
  if cells.ndim != 5 or cells.shape[-1] not in (1, 3) or 0 in cells.shape:
    raise ValueError(f"cells: expected [rows, cols, H, W, 1 or 3] images, got shape {cells.shape}")
  return to_uint8(cells)


def zoom_cells(cells, zoom):
  """Enlarges each cell of [rows, cols, H, W, C] by an integer factor (nearest neighbour)."""
  zoom = validation.positive_int(zoom, "zoom")
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
  cells = check_cells(cells)
  rows, cols, height, width, channels = cells.shape
  separator = validation.non_negative_int(separator, "separator")
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
