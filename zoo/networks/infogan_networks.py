"""InfoGAN's networks: the generator G and the discriminator D with its Q heads.

`InfoGAN` passes its `generator_options` to `build_generator` and its `discriminator_options`
to `build_discriminator`; the model that trains them is `zoo.models.infogan.InfoGAN`. Why the defaults are what they are is
in docs/INFOGAN.md. Output layers (G's logits, D's logit, Q's heads) compute in float32 under
any dtype policy.
"""
import keras

from common import validation
from zoo.networks.encoders import Encoder

DISCRIMINATOR_NORMALIZATIONS = ("batch_norm", "spectral", "none")


def _check_channels(channels, what):
  if not isinstance(channels, (tuple, list)) or not channels:
    raise ValueError(f"{what}={channels!r}: expected a non-empty tuple of positive integers")
  return tuple(validation.positive_int(c, what) for c in channels)


def build_generator(observation_shape, dense_units=1024, channels=(128, 64, 32),
                    batch_norm=True):
  """G: inputs [B, n] -> logits [B, H, W, C].

  dense(dense_units) -> dense to a base grid with channels[0] maps -> one stride-2
  transposed convolution (kernel 4) per further entry of `channels` -> a last stride-2
  transposed convolution to C logits. The image side is the base side times 2^len(channels),
  so (128, 64) is the InfoGAN paper's MNIST generator (7 -> 28; here 8 -> 32) and
  (128, 64, 32) its 64x64 extension. ReLU and batch norm after every layer but the last.

  Args:
    observation_shape: (H, W, C) with H and W divisible by 2^len(channels).
    dense_units: width of the first dense layer.
    channels: feature maps of the base grid, then of each upsampled grid but the last.
    batch_norm: batch norm before each ReLU (the paper's choice; keeps G from collapsing).
  """
  height, width, image_channels = tuple(observation_shape)
  channels = _check_channels(channels, "infogan_generator.channels")
  factor = 2 ** len(channels)
  if height % factor or width % factor:
    raise ValueError(f"infogan_generator.channels={channels}: image shape {observation_shape} "
                     f"needs height and width divisible by 2^{len(channels)} = {factor}")

  def activation(name):
    block = [keras.layers.BatchNormalization(name=f"{name}_bn")] if batch_norm else []
    return block + [keras.layers.ReLU(name=f"{name}_relu")]

  base_h, base_w = height // factor, width // factor
  layers = [keras.layers.Dense(int(dense_units), name="dense1")] + activation("dense1")
  layers += [keras.layers.Dense(base_h * base_w * channels[0], name="dense2")]
  layers += activation("dense2")
  layers.append(keras.layers.Reshape((base_h, base_w, channels[0]), name="base_grid"))
  for i, units in enumerate(channels[1:]):
    name = f"deconv{i + 1}"
    layers.append(keras.layers.Conv2DTranspose(units, 4, strides=2, padding="same", name=name))
    layers += activation(name)
  layers.append(keras.layers.Conv2DTranspose(image_channels, 4, strides=2, padding="same",
                                             name=f"deconv{len(channels)}_logits",
                                             dtype="float32"))
  return keras.Sequential(layers, name="generator")


class InfoGANDiscriminator(keras.Model):
  """D and Q on one trunk: x [B, H, W, C] -> dict of
     logits [B] (real vs generated), per_latent [B, d, k] and joint [B, j] (Q's raw continuous
     posterior parameters for `family`), and, with categorical codes,
     categorical_logits [B, num_categorical, categorical_dim].

  Args:
    features: layers x -> h [B, F], shared by D and Q.
    real_fake: layer h -> [B, 1], D's logit.
    q_head: an `zoo.networks.encoders.Encoder` applied to h (its "trunk" is Q's hidden layer),
      so a shared or split head gives the same parameter layout as an encoder.
    num_categorical, categorical_dim: the categorical codes Q also predicts.
  """

  def __init__(self, features, real_fake, q_head, num_categorical, categorical_dim, **kwargs):
    super().__init__(**kwargs)
    self.features = keras.Sequential(features, name="trunk")
    self.real_fake = real_fake
    self.q_head = q_head
    self.num_categorical = num_categorical
    self.categorical_dim = categorical_dim
    if num_categorical:
      self.categorical_head = keras.layers.Dense(num_categorical * categorical_dim,
                                                 name="categorical_logits", dtype="float32")

  def call(self, x, training=False):
    h = self.features(x, training=training)
    per_latent, joint = self.q_head(h, training=training)
    outputs = {"logits": self.real_fake(h, training=training)[:, 0], "per_latent": per_latent,
               "joint": joint}
    if self.num_categorical:
      outputs["categorical_logits"] = keras.ops.reshape(
          self.categorical_head(h), (-1, self.num_categorical, self.categorical_dim))
    return outputs


def build_discriminator(family, num_categorical=0, categorical_dim=10, channels=(64, 128, 128),
                        dense_units=1024, q_units=128, q_split=False, q_branch_units=32,
                        normalization="spectral"):
  """D/Q: stride-2 convolutions (kernel 4, leaky ReLU 0.2) -> dense(dense_units) -> real/fake
  logit, and Q: dense(q_units) -> the encoder head.

  (64, 128) with dense 1024, Q 128 and batch norm is the InfoGAN paper's MNIST discriminator.

  Args:
    family: the posterior family of Q(c | x); fixes Q's output layout.
    num_categorical, categorical_dim: categorical codes (0 for none).
    channels: feature maps of each convolution.
    dense_units: the shared dense layer after the convolutions.
    q_units: width of Q's hidden layer (and of the encoder head's deep layer when not split).
    q_split: give each continuous code its own deep layer and output, as the split encoder does.
    q_branch_units: width of each code's branch when split.
    normalization: "spectral" (spectral normalization of every trunk weight and of the
      real/fake logit, no batch norm: a Lipschitz-bounded D), "batch_norm" (the paper's: after
      every convolution but the first, after the dense layer and Q's hidden layer) or "none".
      On binary dSprites the batch-norm D overpowers G (docs/INFOGAN.md).
  """
  channels = _check_channels(channels, "infogan_discriminator.channels")
  validation.one_of(normalization, DISCRIMINATOR_NORMALIZATIONS,
                    "infogan_discriminator.normalization")
  batch_norm = normalization == "batch_norm"

  def weights(layer):
    if normalization == "spectral":
      return keras.layers.SpectralNormalization(layer, name=f"{layer.name}_sn",
                                                dtype=layer.dtype_policy)
    return layer

  def activation(name, normalize):
    block = [keras.layers.BatchNormalization(name=f"{name}_bn")] if normalize else []
    return block + [keras.layers.LeakyReLU(negative_slope=0.2, name=f"{name}_lrelu")]

  features = []
  for i, units in enumerate(channels):
    name = f"conv{i + 1}"
    features.append(weights(keras.layers.Conv2D(units, 4, strides=2, padding="same", name=name)))
    features += activation(name, batch_norm and i > 0)
  features += [keras.layers.Flatten(name="flatten"),
               weights(keras.layers.Dense(int(dense_units), name="dense"))]
  features += activation("dense", batch_norm)
  q_hidden = [keras.layers.Dense(int(q_units), name="q_hidden")] + activation("q_hidden",
                                                                              batch_norm)
  q_head = Encoder(q_hidden, family.latent_dim, family.per_latent_params, family.joint_params,
                   deep_units=int(q_units), split=bool(q_split), branch_units=int(q_branch_units),
                   name="q_split_head" if q_split else "q_head")
  real_fake = weights(keras.layers.Dense(1, name="real_fake_logit", dtype="float32"))
  return InfoGANDiscriminator(features, real_fake, q_head, num_categorical, categorical_dim,
                              name="discriminator")
