"""Reconstruction log-likelihoods, summed over the observation's elements.

`bernoulli`: the decoder outputs logits; the loss is the sigmoid cross-entropy, the reference
study's choice for binary and [0, 1] images. `gaussian`: the decoder outputs means; the loss is
the Gaussian negative log-likelihood with a fixed standard deviation.
"""
import math

import tensorflow as tf

LIKELIHOODS = ("bernoulli", "gaussian")
# The observation kinds (`GroundTruthData.observation_kind`) each likelihood fits. A Bernoulli
# likelihood needs values in [0, 1] (the reference study uses it for every image data set).
FITTING_KINDS = {"bernoulli": ("binary", "unit_interval"),
                 "gaussian": ("binary", "unit_interval", "real")}


class Likelihood:
  """Reconstruction loss of a decoder's raw output.

  Args:
    name: "bernoulli" or "gaussian" (errors call it `likelihood`, as models take it).
    observation_std: the fixed standard deviation of the Gaussian likelihood.

  Attributes:
    name: "bernoulli" or "gaussian".
    decoder_output: what the decoder's raw output means ("logits" or "mean").
  """

  def __init__(self, name="bernoulli", observation_std=1.0):
    if name not in LIKELIHOODS:
      raise ValueError(f"likelihood={name!r}: expected one of {', '.join(map(repr, LIKELIHOODS))}")
    if not observation_std > 0:
      raise ValueError(f"observation_std={observation_std}: expected > 0")
    self.name = name
    self.observation_std = float(observation_std)
    self.decoder_output = "logits" if name == "bernoulli" else "mean"

  def options(self):
    """The settings besides the name, as models take them in `likelihood_options`."""
    return {"observation_std": self.observation_std}

  def check_fits(self, observation_kind):
    """Raises ValueError unless this likelihood fits observations of `observation_kind`."""
    if observation_kind not in FITTING_KINDS[self.name]:
      others = [name for name, kinds in FITTING_KINDS.items() if observation_kind in kinds]
      raise ValueError(f"likelihood={self.name!r} does not fit the data set's "
                       f"{observation_kind} observations; use one of {others}")

  def negative_log_likelihood(self, x, raw):
    """Per-example negative log-likelihood [B] of observations x [B, ...] given raw outputs."""
    axes = list(range(1, len(x.shape)))
    if self.name == "bernoulli":
      nll = tf.nn.sigmoid_cross_entropy_with_logits(labels=x, logits=raw)
      return tf.reduce_sum(nll, axis=axes)
    var = self.observation_std ** 2
    const = 0.5 * math.log(2.0 * math.pi * var)
    return tf.reduce_sum(0.5 * tf.square(x - raw) / var + const, axis=axes)

  def mean(self, raw):
    """The mean of p(x|z): sigmoid of logits, or the Gaussian mean itself."""
    return tf.sigmoid(raw) if self.name == "bernoulli" else raw
