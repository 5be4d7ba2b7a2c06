"""Known-answer codes on a dSprites-sized factor grid, shared by the metric tests.

The "data set" renders each observation as its factor indices (floats), so a representation is a
plain function of the factors and the expected scores follow from how it mixes them.
"""
import numpy as np


class FactorGrid:
  """dSprites factor sizes; observations are the factor indices as floats."""
  factors_num_values = (3, 6, 40, 32, 32)

  def sample_factors(self, num, random_state):
    return np.stack([random_state.randint(n, size=num) for n in self.factors_num_values], axis=1)

  def sample_observations_from_factors(self, factors, random_state):
    del random_state
    return np.asarray(factors, dtype=np.float32)

  def sample(self, num, random_state):
    factors = self.sample_factors(num, random_state)
    return factors, self.sample_observations_from_factors(factors, random_state)

  def sample_observations(self, num, random_state):
    return self.sample(num, random_state)[1]


def representation(kind, seed=0):
  """`identity`: standardized factors + N(0, 0.05^2); `rotated`: those times a rotation that
  mixes every factor into every code; `noise`: N(0, 1) codes unrelated to the factors."""
  noise = np.random.RandomState(seed)
  sizes = np.array(FactorGrid.factors_num_values, dtype=np.float64)
  rotation = np.linalg.qr(np.random.RandomState(17).randn(5, 5))[0]  # largest |entry| 0.67

  def identity(obs):
    return (np.asarray(obs) / (sizes - 1.) - 0.5) * np.sqrt(12.) + 0.05 * noise.randn(len(obs), 5)

  return {"identity": identity, "rotated": lambda obs: identity(obs) @ rotation,
          "noise": lambda obs: noise.randn(len(obs), 5)}[kind]
