"""Reconstruction error on evaluation points: how well decode(encode(x)) gives x back.

The points are fresh draws from the data set with the evaluation's random state, not the
training batches (on a finite grid such as dSprites' 737,280 images some may have been seen in
training). Each is encoded to the same codes the standard metrics use (the posterior mean, or
one sample with `--representation=sampled`) and decoded to the mean of p(x|z):

* `squared_error`: the mean over points of the squared error summed over an observation's
  elements, sum (x - x_hat)^2 (for binary images, close to the number of pixels wrong).
* `cross_entropy`: the mean over points of the binary cross-entropy summed over the elements,
  -sum [x log x_hat + (1 - x) log(1 - x_hat)] in nats, with x_hat clipped to
  [1e-7, 1 - 1e-7] (a pixel costs at most 16.1 nats). For a Bernoulli decoder this is the
  reconstruction term of the training loss at the decoded code; the training loss decodes a
  sample of q(z|x), so it also pays for the posterior's noise and is larger. NaN when an
  observation lies outside [0, 1] (real-valued data), where it is not defined.
"""
import numpy as np

from common import validation
from evaluation.batching import apply_in_batches

# Decoded means are clipped this far inside (0, 1) before taking logs.
CLIP = 1e-7


def reconstruction_error(observations, reconstructions):
  """Reconstruction errors of observations [N, ...] and their reconstructions [N, ...].

  Returns:
    dict with `squared_error` and `cross_entropy` (see the module docstring).
  """
  x = np.asarray(observations, np.float64)
  x_hat = np.asarray(reconstructions, np.float64)
  if x.ndim < 2 or len(x) == 0:
    raise ValueError(f"observations: expected shape [N, ...] with N >= 1, got {x.shape}")
  if x_hat.shape != x.shape:
    raise ValueError(f"reconstructions: expected the observations' shape {x.shape}, got "
                     f"{x_hat.shape}")
  if not np.all(np.isfinite(x_hat)):
    raise ValueError("reconstructions: expected finite values")
  axes = tuple(range(1, x.ndim))
  squared_error = float(np.mean(np.sum(np.square(x - x_hat), axis=axes)))
  if np.all((x >= 0.0) & (x <= 1.0)):
    clipped = np.clip(x_hat, CLIP, 1.0 - CLIP)
    per_point = -np.sum(x * np.log(clipped) + (1.0 - x) * np.log1p(-clipped), axis=axes)
    cross_entropy = float(np.mean(per_point))
  else:
    cross_entropy = float("nan")
  return {"squared_error": squared_error, "cross_entropy": cross_entropy}


def compute_reconstruction(ground_truth_data, reconstruction_function, random_state,
                           num_points=5000, batch_size=64):
  """Draws `num_points` observations, reconstructs them and computes `reconstruction_error`.

  Args:
    ground_truth_data: a `GroundTruthData`.
    reconstruction_function: observations `[B, ...]` -> decoded means `[B, ...]`.
    random_state: `np.random.RandomState` for the draws.
    num_points: evaluation points (the reference study's 5,000 test points).
    batch_size: observations per reconstruction call (changes no number).

  Returns:
    dict with `squared_error` and `cross_entropy`.
  """
  num_points = validation.positive_int(num_points, "num_points")
  batch_size = validation.positive_int(batch_size, "batch_size")
  validation.random_state(random_state)
  observations = ground_truth_data.sample_observations(num_points, random_state)
  reconstructions = apply_in_batches(reconstruction_function, observations, batch_size,
                                     what="reconstruction_function")
  return reconstruction_error(observations, reconstructions)
