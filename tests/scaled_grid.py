"""A ground-truth data set for metric tests: factors drawn uniformly from a small grid,
observations the factor indices scaled to [0, 1] plus a little Gaussian noise from the state.
With the identity as encoder the codes are the factors plus noise, a metric's "perfect" case.
It records its draws in `calls`, so tests can pin the order in which a metric samples."""
import numpy as np


class ScaledGridData:

  def __init__(self, sizes, noise=0.02):
    self.factors_num_values = tuple(int(k) for k in sizes)
    self.noise = noise
    self.calls = []

  def sample_factors(self, num, random_state):
    self.calls.append(("factors", num))
    return np.stack([random_state.randint(k, size=num) for k in self.factors_num_values], 1)

  def sample_observations_from_factors(self, factors, random_state):
    self.calls.append(("observations", len(factors)))
    scaled = np.asarray(factors, np.float64) / (np.array(self.factors_num_values) - 1.0)
    return scaled + self.noise * random_state.normal(size=scaled.shape)

  def sample(self, num, random_state):
    factors = self.sample_factors(num, random_state)
    return factors, self.sample_observations_from_factors(factors, random_state)
