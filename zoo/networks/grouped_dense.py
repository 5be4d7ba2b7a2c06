"""A dense layer with one independent weight matrix per latent (the split encoder's building block).

Applying d separate `keras.layers.Dense` layers would launch d small matmuls; one batched einsum
over a [groups, in, out] kernel computes the same thing in a single op while still sharing no
parameter between groups.
"""
import keras


class GroupedDense(keras.layers.Layer):
  """Maps [B, in] (shared input) or [B, groups, in] (per-group input) to [B, groups, units]."""

  def __init__(self, groups, units, activation=None, **kwargs):
    super().__init__(**kwargs)
    if groups < 1 or units < 1:
      raise ValueError(f"GroupedDense: groups={groups} and units={units} must be >= 1")
    self.groups = groups
    self.units = units
    self.activation = keras.activations.get(activation)

  def build(self, input_shape):
    in_dim = input_shape[-1]
    # Glorot for each group's own [in, units] matrix, as a Dense layer would get.
    self.kernel = self.add_weight(
        name="kernel", shape=(self.groups, in_dim, self.units),
        initializer=keras.initializers.VarianceScaling(1.0, "fan_avg", "uniform"))
    self.bias = self.add_weight(name="bias", shape=(self.groups, self.units),
                                initializer="zeros")
    self._per_group_input = len(input_shape) == 3

  def call(self, inputs):
    if self._per_group_input:
      out = keras.ops.einsum("bgi,giu->bgu", inputs, self.kernel)
    else:
      out = keras.ops.einsum("bi,giu->bgu", inputs, self.kernel)
    return self.activation(out + self.bias)

  def get_config(self):
    config = super().get_config()
    config.update(groups=self.groups, units=self.units,
                  activation=keras.activations.serialize(self.activation))
    return config
