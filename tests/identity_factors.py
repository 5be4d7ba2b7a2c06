"""A ground-truth data set whose observations are its factor indices (as floats): with the
identity as encoder, codes equal the factors exactly. For tests of everything around a metric."""
import numpy as np


class IdentityFactorsData:

  name = "identity_factors"
  factor_names = ("a", "b")
  factors_num_values = (4, 5)
  observation_shape = (2,)

  def sample_factors(self, num, random_state):
    return np.stack([random_state.randint(n, size=num) for n in self.factors_num_values], 1)

  def sample_observations_from_factors(self, factors, random_state):
    return np.asarray(factors, np.float32)

  def sample(self, num, random_state):
    factors = self.sample_factors(num, random_state)
    return factors, self.sample_observations_from_factors(factors, random_state)

  def sample_observations(self, num, random_state):
    return self.sample(num, random_state)[1]
