"""Linear Gaussian encoders with known mutual information, shared by the MI tests.

x ~ N(0, I_3) and z | x ~ N(W x, S) with S = D C_rho D: four latents whose I(x; z_i) are
0.3 ... 2.2 nats and whose noise has the equicorrelation C_rho (rho = 0: factorized), so every
MI quantity has a closed form in evaluation.gaussian_closed_form.
"""
import numpy as np

from evaluation import gaussian_closed_form

DATA_DIM = 3
LATENT_DIM = 4
NUM_POINTS = 2000
TARGET_MI = np.linspace(0.3, 2.2, LATENT_DIM)


def equicorrelation(size, rho):
  return (1.0 - rho) * np.eye(size) + rho * np.ones((size, size))


def linear_gaussian_encoder(rho):
  """(W, Sx, S) with I(x; z_i) = TARGET_MI and S = D C_rho D."""
  scales = np.diag(np.linspace(0.5, 1.5, LATENT_DIM))
  noise_covariance = scales @ equicorrelation(LATENT_DIM, rho) @ scales
  directions = np.random.default_rng(1).standard_normal((LATENT_DIM, DATA_DIM))
  weight = gaussian_closed_form.weight_for_mutual_information(
      directions, np.eye(DATA_DIM), noise_covariance, TARGET_MI)
  return weight, np.eye(DATA_DIM), noise_covariance


def posteriors(weight, noise_covariance, num_points=NUM_POINTS, data_seed=1000):
  """(means [N, d], covariances [N, d, d]) of the encoder on N points drawn from N(0, I)."""
  data = np.random.default_rng(data_seed).standard_normal((num_points, weight.shape[1]))
  return gaussian_closed_form.linear_gaussian_posteriors(data, weight, noise_covariance)


def random_linear_gaussian_encoder(seed=5):
  """(W [4, 3], Sx, S): a generic encoder, full data and noise covariances with no structure,
  for checking closed-form identities."""
  rng = np.random.default_rng(seed)
  weight = rng.standard_normal((LATENT_DIM, DATA_DIM))
  root = rng.standard_normal((DATA_DIM, DATA_DIM))
  data_covariance = root @ root.T + 0.5 * np.eye(DATA_DIM)
  root = rng.standard_normal((LATENT_DIM, LATENT_DIM))
  noise_covariance = root @ root.T + 0.3 * np.eye(LATENT_DIM)
  return weight, data_covariance, noise_covariance
