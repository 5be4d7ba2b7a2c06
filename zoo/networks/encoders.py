"""Encoders: observations -> raw posterior parameters in the layout a posterior family asks for.

Every encoder is a trunk (convolutions or hidden dense layers), one "deep" layer, and an output
head. In the *shared* encoder the deep layer and the head are ordinary dense layers, so every
latent's parameters depend on every weight. In the *split* encoder (the later version of
arXiv 1911.10922) the deep layer and the head are per-latent branches with no shared weights,
so the only parameters latents share are the trunk's. Families with joint parameters (the
off-diagonal scale of `full_covariance`) get one more branch of their own.

The output heads compute in float32 whatever the global dtype policy: under mixed precision
the trunk runs in bfloat16 or float16, but the posterior's parameters stay float32.
"""
import keras

from zoo.networks.grouped_dense import GroupedDense

ENCODER_KINDS = ("conv64", "mlp")


def conv64_trunk():
  """The four convolutions of the large-scale study's encoder (32-32-64-64, kernel 4, stride 2)."""
  return [
      keras.layers.Conv2D(32, 4, strides=2, padding="same", activation="relu", name="conv1"),
      keras.layers.Conv2D(32, 4, strides=2, padding="same", activation="relu", name="conv2"),
      keras.layers.Conv2D(64, 4, strides=2, padding="same", activation="relu", name="conv3"),
      keras.layers.Conv2D(64, 4, strides=2, padding="same", activation="relu", name="conv4"),
      keras.layers.Flatten(name="flatten"),
  ]


def mlp_trunk(hidden_units):
  layers = [keras.layers.Flatten(name="flatten")]
  for i, units in enumerate(hidden_units):
    layers.append(keras.layers.Dense(units, activation="relu", name=f"hidden{i + 1}"))
  return layers


class Encoder(keras.Model):
  """Maps observations [B, ...] to (per_latent [B, d, k], joint [B, j]).

  Args:
    trunk_layers: layers applied in order to the observations.
    latent_dim: d.
    per_latent_params: k, the family's outputs per latent.
    joint_params: j, the family's outputs tied to no single latent (may be 0).
    deep_units: width of the shared deep layer.
    split: per-latent branches instead of the shared deep layer and head.
    branch_units: width of each latent's deep layer when split.
  """

  def __init__(self, trunk_layers, latent_dim, per_latent_params, joint_params, deep_units,
               split, branch_units, **kwargs):
    super().__init__(**kwargs)
    self.latent_dim = latent_dim
    self.per_latent_params = per_latent_params
    self.joint_params = joint_params
    self.split = split
    # A Sequential (not a plain list) so that tf.train.Checkpoint sees the trunk's weights.
    self.trunk = keras.Sequential(trunk_layers, name="trunk")
    if split:
      self.deep = GroupedDense(latent_dim, branch_units, activation="relu", name="split_deep")
      self.head = GroupedDense(latent_dim, per_latent_params, name="split_head", dtype="float32")
      if joint_params:
        self.joint_deep = keras.layers.Dense(branch_units, activation="relu", name="joint_deep")
        self.joint_head = keras.layers.Dense(joint_params, name="joint_head", dtype="float32")
    else:
      self.deep = keras.layers.Dense(deep_units, activation="relu", name="deep")
      self.head = keras.layers.Dense(latent_dim * per_latent_params + joint_params, name="head",
                                     dtype="float32")

  def call(self, x):
    h = self.trunk(x)
    batch = keras.ops.shape(h)[0]
    if self.split:
      per_latent = self.head(self.deep(h))
      if self.joint_params:
        joint = self.joint_head(self.joint_deep(h))
      else:
        joint = keras.ops.zeros((batch, 0), dtype=per_latent.dtype)
      return per_latent, joint
    out = self.head(self.deep(h))
    cut = self.latent_dim * self.per_latent_params
    per_latent = keras.ops.reshape(out[:, :cut], (batch, self.latent_dim, self.per_latent_params))
    return per_latent, out[:, cut:]


def build_encoder(latent_dim, per_latent_params, joint_params, kind="conv64", split=False,
                  branch_units=64, mlp_hidden_units=(256,), deep_units=256):
  """Builds an encoder for a family with the given output layout.

  Args:
    latent_dim, per_latent_params, joint_params: the posterior family's layout.
    kind: "conv64" (four convolutions) or "mlp" (dense `mlp_hidden_units`); the trunk.
    split: per-latent branches (the split encoder) instead of a shared deep layer and head.
    branch_units: width of each latent's deep layer when split.
    mlp_hidden_units: the mlp trunk's hidden layers.
    deep_units: width of the shared deep layer (dense 256 in the reference's conv64).
  """
  if kind == "conv64":
    trunk = conv64_trunk()
  elif kind == "mlp":
    trunk = mlp_trunk(tuple(mlp_hidden_units))
  else:
    raise ValueError(f"kind={kind!r}: expected one of {', '.join(map(repr, ENCODER_KINDS))}")
  return Encoder(trunk, latent_dim, per_latent_params, joint_params, deep_units=deep_units,
                 split=bool(split), branch_units=branch_units,
                 name="split_encoder" if split else "encoder")
