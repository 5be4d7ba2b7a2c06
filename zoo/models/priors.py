"""The priors a model's latent codes can have, by name.

`normal` is N(0, I), every VAE's prior. `uniform` is Uniform(-sqrt 3, sqrt 3) per code: unit
variance like N(0, 1), so traversal ranges mean the same for both; InfoGAN's continuous codes
can have it (`infogan.code_prior`). Exports record the name in their metadata (`code_prior`),
so programs that sample codes themselves draw from the right distribution.
"""
import math

import numpy as np
import tensorflow as tf

PRIOR_NAMES = ("normal", "uniform")
UNIFORM_HALF_WIDTH = math.sqrt(3.0)
# Differential entropy of one code, in nats.
ENTROPY_PER_CODE = {"normal": 0.5 * math.log(2.0 * math.pi * math.e),
                    "uniform": math.log(2.0 * UNIFORM_HALF_WIDTH)}


def sample(name, shape, seed=None):
  """Codes of the given shape (a list or a 1-D int tensor) drawn from prior `name` (TF op).

  With a stateless `seed` ([2] int tensor) the draw is a function of it; without, it comes
  from TensorFlow's global random state.
  """
  if seed is not None:
    if name == "uniform":
      return tf.random.stateless_uniform(shape, seed, -UNIFORM_HALF_WIDTH, UNIFORM_HALF_WIDTH)
    return tf.random.stateless_normal(shape, seed)
  if name == "uniform":
    return tf.random.uniform(shape, -UNIFORM_HALF_WIDTH, UNIFORM_HALF_WIDTH)
  return tf.random.normal(shape)


def sample_numpy(name, shape, random_state):
  """The same draw in numpy from `random_state`, so that a seed fixes it."""
  if name == "uniform":
    return random_state.uniform(-UNIFORM_HALF_WIDTH, UNIFORM_HALF_WIDTH, shape)
  return random_state.standard_normal(shape)


__all__ = ["ENTROPY_PER_CODE", "PRIOR_NAMES", "UNIFORM_HALF_WIDTH", "sample", "sample_numpy"]
