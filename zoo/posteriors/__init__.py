"""Posterior families: raw encoder outputs -> q(z | x), a TFP distribution over R^d.

Pick one with `get_family(name, latent_dim, **options)`, e.g.
`get_family("correlated_noise", 10, rho=0.5)`; `FAMILY_OPTIONS` lists each family's options and
their defaults. Closed-form quantities of the resulting distributions live in `zoo.posteriors.gaussian_utils`.
"""
import inspect

from zoo.posteriors import gaussian_utils
from zoo.posteriors.correlated_noise import CorrelatedNoise
from zoo.posteriors.factorized import Factorized
from zoo.posteriors.full_covariance import FullCovariance
from zoo.posteriors.low_rank import LowRank
from zoo.posteriors.posterior_family import PosteriorFamily

_REGISTRY = {cls.name: cls for cls in (Factorized, CorrelatedNoise, FullCovariance, LowRank)}
FAMILY_NAMES = tuple(_REGISTRY)
# name -> {option: default} of the settings each family takes besides latent_dim.
FAMILY_OPTIONS = {
    name: {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
           if p.name not in ("self", "latent_dim")}
    for name, cls in _REGISTRY.items()}


def get_family(name, latent_dim, **options):
  """Returns the `PosteriorFamily` registered as `name` for latent_dim latents.

  Args:
    name: one of FAMILY_NAMES.
    latent_dim: d, a positive int.
    **options: settings of that family (`rho` for correlated_noise, `rank` for low_rank;
      FAMILY_OPTIONS has them with their defaults).
  """
  if name not in _REGISTRY:
    raise ValueError(
        f"posterior={name!r}: expected one of {', '.join(map(repr, FAMILY_NAMES))}")
  unknown = sorted(set(options) - set(FAMILY_OPTIONS[name]))
  if unknown:
    raise ValueError(
        f"posterior_options={options!r}: family {name!r} takes "
        f"{sorted(FAMILY_OPTIONS[name]) or 'no options'}, not {unknown}")
  return _REGISTRY[name](latent_dim, **options)


__all__ = [
    "CorrelatedNoise", "FAMILY_NAMES", "FAMILY_OPTIONS", "Factorized", "FullCovariance", "LowRank",
    "PosteriorFamily", "gaussian_utils", "get_family",
]
