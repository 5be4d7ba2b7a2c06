"""Posterior families: raw encoder outputs -> q(z | x), a TFP distribution over R^d.

Pick one with `get_family(name, latent_dim, **kwargs)` or, from gin, `posterior.name = "..."`;
family-specific settings have their own configurables (`correlated_noise.rho`, `low_rank.rank`).
Closed-form quantities of the resulting distributions live in `zoo.posteriors.gaussian_utils`.
"""
import gin

from zoo.posteriors import gaussian_utils
from zoo.posteriors.correlated_noise import CorrelatedNoise
from zoo.posteriors.factorized import Factorized
from zoo.posteriors.full_covariance import FullCovariance
from zoo.posteriors.low_rank import LowRank
from zoo.posteriors.posterior_family import PosteriorFamily

# name -> (class, names of the settings it accepts besides latent_dim).
_REGISTRY = {
    Factorized.name: (Factorized, ()),
    CorrelatedNoise.name: (CorrelatedNoise, ("rho",)),
    FullCovariance.name: (FullCovariance, ()),
    LowRank.name: (LowRank, ("rank",)),
}
FAMILY_NAMES = tuple(_REGISTRY)


@gin.configurable("posterior", denylist=["latent_dim"])
def get_family(name=None, latent_dim=None, **kwargs):
  """Returns the `PosteriorFamily` registered as `name` for latent_dim latents.

  Args:
    name: one of FAMILY_NAMES.
    latent_dim: d, a positive int.
    **kwargs: settings of that family (`rho` for correlated_noise, `rank` for low_rank);
      settings not given come from the family's gin configurable or its default.
  """
  if name is None:
    raise ValueError("posterior.name is not set: choose a family, e.g. "
                     "--gin_config=gin_configs/posteriors/factorized.gin")
  if name not in _REGISTRY:
    raise ValueError(
        f"posterior family name={name!r} is unknown, expected one of {', '.join(FAMILY_NAMES)}")
  family_cls, settings = _REGISTRY[name]
  unknown = sorted(set(kwargs) - set(settings))
  if unknown:
    raise ValueError(
        f"posterior family {name!r} got unknown settings {unknown}, expected only "
        f"{list(settings) or 'none'}")
  return family_cls(latent_dim, **kwargs)


__all__ = [
    "CorrelatedNoise", "FAMILY_NAMES", "Factorized", "FullCovariance", "LowRank",
    "PosteriorFamily", "gaussian_utils", "get_family",
]
