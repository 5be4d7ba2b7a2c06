"""Decoders: latent codes [B, d] -> raw outputs shaped like the observations.

The raw output is read by the likelihood: Bernoulli logits or Gaussian means (see
`zoo.models.likelihoods`). The output layer computes in float32 whatever the global dtype
policy, so the likelihood always sees float32.
"""
import math

import keras

DECODER_KINDS = ("conv64", "mlp")


def conv64_decoder_layers(observation_shape):
  """Transpose of the conv64 encoder (the large-scale study's deconvolutional decoder)."""
  height, width, channels = observation_shape
  if height % 16 or width % 16:
    raise ValueError(f"conv64 decoder: image shape {observation_shape} must have height and "
                     "width divisible by 16")
  return [
      keras.layers.Dense(256, activation="relu", name="dense1"),
      keras.layers.Dense(height // 16 * width // 16 * 64, activation="relu", name="dense2"),
      keras.layers.Reshape((height // 16, width // 16, 64)),
      keras.layers.Conv2DTranspose(64, 4, strides=2, padding="same", activation="relu",
                                   name="deconv1"),
      keras.layers.Conv2DTranspose(32, 4, strides=2, padding="same", activation="relu",
                                   name="deconv2"),
      keras.layers.Conv2DTranspose(32, 4, strides=2, padding="same", activation="relu",
                                   name="deconv3"),
      keras.layers.Conv2DTranspose(channels, 4, strides=2, padding="same", name="deconv4",
                                   dtype="float32"),
  ]


def mlp_decoder_layers(observation_shape, hidden_units):
  layers = [keras.layers.Dense(units, activation="relu", name=f"hidden{i + 1}")
            for i, units in enumerate(hidden_units)]
  layers.append(keras.layers.Dense(math.prod(observation_shape), name="output", dtype="float32"))
  layers.append(keras.layers.Reshape(tuple(observation_shape), dtype="float32"))
  return layers


def build_decoder(observation_shape, kind="conv64", mlp_hidden_units=(256, 256)):
  """Builds a decoder to observations of `observation_shape`.

  Args:
    observation_shape: (H, W, C) for conv64 (H and W divisible by 16), any shape for mlp.
    kind: "conv64" (the transpose of the conv64 encoder) or "mlp".
    mlp_hidden_units: the mlp decoder's hidden layers.
  """
  if kind == "conv64":
    layers = conv64_decoder_layers(tuple(observation_shape))
  elif kind == "mlp":
    layers = mlp_decoder_layers(tuple(observation_shape), tuple(mlp_hidden_units))
  else:
    raise ValueError(f"kind={kind!r}: expected one of {', '.join(map(repr, DECODER_KINDS))}")
  return keras.Sequential(layers, name="decoder")
