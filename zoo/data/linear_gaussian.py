"""An analytic data set: x = A s + noise_std * eps with s ~ N(0, I_k), eps ~ N(0, I_D).

Each continuous latent s_i is discretized into `num_values` bins of equal probability under
N(0, 1); factor i is the index of the bin s_i falls in. Rendering draws s_i uniformly in
probability *within* its bin (inverse normal CDF of a uniform on the bin's probability
interval), so with uniformly sampled factors s is exactly N(0, I_k) and x exactly
N(0, A A^T + noise_std^2 I): every mutual information between x and s has a closed form.
Observations are float32 vectors [N, D], not images.
"""
import numpy as np
from scipy import special

from common import validation
from zoo.data.ground_truth_data import GroundTruthData

# Keep the inverse CDF finite when a draw lands on 0, or rounds to 1 in the last bin (each has
# probability below 1e-14).
_PROBABILITY_RANGE = (np.finfo(np.float64).tiny, np.nextafter(1.0, 0.0))


class LinearGaussian(GroundTruthData):
  """Observations float32 [N, D] from k binned standard normal latents mixed linearly.

  Args:
    num_factors: k.
    num_values: bins (factor values) per latent.
    observation_dim: D.
    noise_std: standard deviation of the isotropic observation noise, > 0 so that every
      mutual information is finite.
    matrix_seed: seeds the mixing matrix A [D, k], whose entries are N(0, 1/k) so that each
      observation coordinate has variance about 1 + noise_std^2.
  """

  name = "linear_gaussian"
  observation_kind = "real"

  def __init__(self, num_factors=4, num_values=32, observation_dim=8, noise_std=0.5,
               matrix_seed=0):
    self._num_factors = validation.integer(num_factors, "linear_gaussian.num_factors", minimum=1)
    self._num_values = validation.integer(num_values, "linear_gaussian.num_values", minimum=2)
    self._observation_dim = validation.integer(observation_dim, "linear_gaussian.observation_dim", minimum=1)
    self._matrix_seed = validation.integer(matrix_seed, "linear_gaussian.matrix_seed", minimum=0)
    self.noise_std = validation.positive_number(noise_std, "linear_gaussian.noise_std")
    rng = np.random.RandomState(self._matrix_seed)
    self._mixing_matrix = rng.standard_normal((self._observation_dim, self._num_factors)) / (
        np.sqrt(self._num_factors))
    self._mixing_matrix.setflags(write=False)

  @property
  def factor_names(self):
    return tuple(f"s{i}" for i in range(self._num_factors))

  @property
  def factors_num_values(self):
    return (self._num_values,) * self._num_factors

  @property
  def observation_shape(self):
    return (self._observation_dim,)

  @property
  def mixing_matrix(self):
    """A, float64 [D, k] (read-only)."""
    return self._mixing_matrix

  def observation_covariance(self):
    """Cov(x) = A A^T + noise_std^2 I, float64 [D, D], exact when factors are uniform."""
    a = self._mixing_matrix
    return a @ a.T + self.noise_std ** 2 * np.eye(self._observation_dim)

  def bin_edges(self):
    """float64 [num_values + 1]: the bin boundaries on the s axis, from -inf to +inf."""
    return special.ndtri(np.linspace(0.0, 1.0, self._num_values + 1))

  def factors_from_latents(self, latents):
    """int64 [N, k]: the bin index of each latent value in float [N, k]."""
    latents = np.asarray(latents, dtype=np.float64)
    if latents.ndim != 2 or latents.shape[1] != self._num_factors:
      raise ValueError(f"linear_gaussian latents: expected shape [N, {self._num_factors}], got "
                       f"{latents.shape}")
    bins = np.floor(special.ndtr(latents) * self._num_values).astype(np.int64)
    return np.clip(bins, 0, self._num_values - 1)

  def sample_latents_from_factors(self, factors, random_state):
    """float64 [N, k]: s drawn from N(0, 1) restricted to each factor's bin."""
    validation.random_state(random_state, "linear_gaussian.sample_latents_from_factors")
    factors = self.check_factors(factors)
    within = random_state.uniform(size=factors.shape)
    probability = (factors + within) / self._num_values
    return special.ndtri(np.clip(probability, *_PROBABILITY_RANGE))

  def observations_from_latents(self, latents, random_state):
    """float32 [N, D]: A s + noise_std * eps for latents s float [N, k]."""
    validation.random_state(random_state, "linear_gaussian.observations_from_latents")
    latents = np.asarray(latents, dtype=np.float64)
    if latents.ndim != 2 or latents.shape[1] != self._num_factors:
      raise ValueError(f"linear_gaussian latents: expected shape [N, {self._num_factors}], got "
                       f"{latents.shape}")
    noise = random_state.standard_normal((len(latents), self._observation_dim))
    return (latents @ self._mixing_matrix.T + self.noise_std * noise).astype(np.float32)

  def _observations_from_valid_factors(self, factors, random_state):
    latents = self.sample_latents_from_factors(factors, random_state)
    return self.observations_from_latents(latents, random_state)
