"""VAE-type models and InfoGAN, built from plain arguments by `build_model`.

  model = build_model("beta_vae", observation_shape=(64, 64, 1), latent_dim=10,
                      posterior="correlated_noise", posterior_options={"rho": 0.5},
                      encoder="conv64_split", beta=4.0)

Every model class takes the same plain arguments (`MODELS[name](**arguments)` is
`build_model(name, **arguments)` without the checks), returns them resolved from
`get_config()`, and is registered with Keras, so `model.save("m.keras")` and
`keras.models.load_model("m.keras")` round-trip once `zoo` is imported.
"""
import inspect

import keras

from common import validation
from zoo.models.annealed_vae import AnnealedVAE
from zoo.models.beta_tcvae import BetaTCVAE
from zoo.models.dip_vae import DIPVAE
from zoo.models.factor_vae import FactorVAE
from zoo.models.infogan import InfoGAN
from zoo.models.likelihoods import LIKELIHOODS, Likelihood
from zoo.models.vae import VAE, BetaVAE
from zoo.models.weak_vae import AdaGVAE, AdaMLVAE, GroupVAE, MLVAE
from zoo.models.zoo_model import (PRECISIONS, ZooModel, dtype_policy, for_precision,
                                  scalar_logs)

MODELS = {
    "vae": VAE,
    "beta_vae": BetaVAE,
    "annealed_vae": AnnealedVAE,
    "factor_vae": FactorVAE,
    "beta_tcvae": BetaTCVAE,
    "dip_vae": DIPVAE,
    "infogan": InfoGAN,
    "group_vae": GroupVAE,
    "ml_vae": MLVAE,
    "ada_gvae": AdaGVAE,
    "ada_ml_vae": AdaMLVAE,
}
MODEL_NAMES = tuple(MODELS)

for _cls in MODELS.values():
  keras.saving.register_keras_serializable(package="zoo", name=_cls.__name__)(_cls)


def model_arguments(name):
  """{argument: default} of everything model `name` takes (observation_shape has none)."""
  validation.one_of(name, MODEL_NAMES, "name")
  arguments = {}
  for cls in reversed(MODELS[name].__mro__):
    if cls is ZooModel or not issubclass(cls, ZooModel):
      continue
    for param in inspect.signature(cls.__init__).parameters.values():
      if param.name not in ("self", "kwargs"):
        arguments[param.name] = param.default
  return arguments


def build_model(name="beta_vae", observation_shape=None, observation_kind=None, **arguments):
  """Builds model `name` from plain arguments, with every weight created.

  Args:
    name: one of MODEL_NAMES.
    observation_shape: shape of one observation, e.g. (64, 64, 1) or (8,) (a data set's
      `observation_shape`).
    observation_kind: the data set's `observation_kind`, when known: the likelihood is checked
      against it.
    **arguments: the model's arguments (`model_arguments(name)` lists them with their
      defaults): latent_dim, posterior, posterior_options, encoder, encoder_options, decoder,
      decoder_options, likelihood, likelihood_options and seed for every VAE, and the model's
      own (beta, gamma, discriminator_options, generator_options, ...). InfoGAN builds its own
      generator and discriminator (no encoder, decoder or likelihood), its latent_dim counts
      its continuous codes.

  Returns:
    A `ZooModel`; `get_config()` gives back every argument, defaults resolved.
  """
  validation.one_of(name, MODEL_NAMES, "name")
  if observation_shape is None:
    raise ValueError("observation_shape=None: expected the shape of one observation, e.g. "
                     "(64, 64, 1) or a data set's observation_shape")
  known = model_arguments(name)
  unknown = sorted(set(arguments) - set(known))
  if unknown:
    raise ValueError(f"name={name!r}: unknown argument(s) {unknown}; it takes "
                     f"{sorted(set(known) - {'observation_shape'})}")
  model = MODELS[name](observation_shape, **arguments)
  if observation_kind is not None:
    model.likelihood.check_fits(observation_kind)
  model.create_weights()
  return model


__all__ = ["AdaGVAE", "AdaMLVAE", "AnnealedVAE", "BetaTCVAE", "BetaVAE", "DIPVAE", "FactorVAE",
           "GroupVAE", "InfoGAN", "LIKELIHOODS", "Likelihood", "MLVAE", "MODELS", "MODEL_NAMES",
           "PRECISIONS", "VAE", "ZooModel", "build_model", "dtype_policy", "for_precision",
           "model_arguments", "scalar_logs"]
