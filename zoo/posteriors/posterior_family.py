"""The base class every posterior family derives from: raw encoder outputs -> a TFP distribution.

A family fixes how many encoder outputs it needs and how they are laid out:
`per_latent_params` numbers belong to each latent (so a split encoder can give every latent its
own branch) and `joint_params` numbers belong to no single latent. The distribution it returns
always has batch shape [B] and event shape [d].
"""
import tensorflow as tf

from common import validation


def _as_float_tensor(value, what):
  tensor = tf.convert_to_tensor(value)
  if not tensor.dtype.is_floating:
    raise ValueError(f"{what} must be a floating-point tensor, got dtype {tensor.dtype.name}")
  return tensor


class PosteriorFamily:
  """Turns raw encoder outputs into a distribution over R^d.

  Subclasses set the class attributes `name` and `is_factorized`, set `per_latent_params` and
  `joint_params` in their constructor, and implement `_distribution`.
  """

  name = None
  is_factorized = False

  def __init__(self, latent_dim, per_latent_params, joint_params):
    self.latent_dim = validation.positive_int(latent_dim, f"{self.name}: latent_dim")
    self.per_latent_params = int(per_latent_params)
    self.joint_params = int(joint_params)

  def options(self):
    """The family's settings besides latent_dim, as `get_family(name, d, **options)` takes
    them ({} for families without any)."""
    return {}

  @property
  def num_params(self):
    """Total raw outputs per example: d * per_latent_params + joint_params."""
    return self.latent_dim * self.per_latent_params + self.joint_params

  def __call__(self, per_latent, joint=None):
    """Builds q(z | x) from raw parameters.

    Args:
      per_latent: float [B, d, per_latent_params]; entry [b, i, :] belongs to latent i.
      joint: float [B, joint_params]; may be None when joint_params == 0.

    Returns:
      A `tfd.Distribution` with batch shape [B] and event shape [d].
    """
    per_latent = _as_float_tensor(per_latent, f"{self.name}: per_latent")
    expected = [None, self.latent_dim, self.per_latent_params]
    if per_latent.shape.rank is not None and not per_latent.shape.is_compatible_with(expected):
      raise ValueError(
          f"{self.name}: per_latent has shape {per_latent.shape.as_list()}, expected "
          f"[batch, {self.latent_dim}, {self.per_latent_params}] "
          f"(latent_dim, per_latent_params)")
    if joint is None:
      if self.joint_params:
        raise ValueError(
            f"{self.name}: joint is None, expected a [batch, {self.joint_params}] tensor")
    else:
      joint = _as_float_tensor(joint, f"{self.name}: joint")
      if joint.shape.rank is not None and not joint.shape.is_compatible_with(
          [None, self.joint_params]):
        raise ValueError(
            f"{self.name}: joint has shape {joint.shape.as_list()}, expected "
            f"[batch, {self.joint_params}] (joint_params)")
      if per_latent.shape.rank is not None and joint.shape.rank is not None and not (
          per_latent.shape[:1].is_compatible_with(joint.shape[:1])):
        raise ValueError(
            f"{self.name}: per_latent batch size {per_latent.shape[0]} differs from joint "
            f"batch size {joint.shape[0]}")
      if joint.dtype != per_latent.dtype:
        raise ValueError(
            f"{self.name}: joint dtype {joint.dtype.name} differs from per_latent dtype "
            f"{per_latent.dtype.name}")
    return self._distribution(per_latent, joint)

  def from_flat(self, params):
    """Builds q(z | x) from one flat vector of raw parameters per example.

    Args:
      params: float [B, num_params]; the first d * per_latent_params entries are latent-major
        (latent 0's parameters, then latent 1's, ...), the remaining joint_params are joint.

    Returns:
      Same as `__call__`.
    """
    params = _as_float_tensor(params, f"{self.name}: params")
    if params.shape.rank is not None and not params.shape.is_compatible_with(
        [None, self.num_params]):
      raise ValueError(
          f"{self.name}: params has shape {params.shape.as_list()}, expected "
          f"[batch, {self.num_params}] (num_params)")
    cut = self.latent_dim * self.per_latent_params
    per_latent = tf.reshape(params[:, :cut], [-1, self.latent_dim, self.per_latent_params])
    return self(per_latent, params[:, cut:])

  def _distribution(self, per_latent, joint):
    raise NotImplementedError

  def __repr__(self):
    return f"{type(self).__name__}(latent_dim={self.latent_dim})"
