"""VAE-type models and InfoGAN; `build_model` assembles one from the gin configuration."""
import gin

from common import validation
from zoo import networks
from zoo import posteriors
from zoo.models.annealed_vae import AnnealedVAE
from zoo.models.beta_tcvae import BetaTCVAE
from zoo.models.dip_vae import DIPVAE
from zoo.models.factor_vae import FactorVAE
from zoo.models.infogan import InfoGAN
from zoo.models.likelihoods import Likelihood
from zoo.models.vae import VAE, BetaVAE
from zoo.models.weak_vae import AdaGVAE, AdaMLVAE, GroupVAE, MLVAE
from zoo.models.zoo_model import PRECISIONS, ZooModel, dtype_policy, for_precision

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


@gin.configurable("model", denylist=["observation_shape", "observation_kind", "seed"])
def build_model(observation_shape, observation_kind=None, seed=0, name="beta_vae",
                latent_dim=10):
  """Builds model `name` for observations of `observation_shape`.

  `observation_kind` (the data set's, when known) is checked against the likelihood; `seed` is
  the model's noise seed (`ZooModel.random_seeds`).

  The encoder, decoder, posterior family and likelihood come from their own gin configurables
  (`encoder.*`, `decoder.*`, `posterior.name`, `likelihood.*`), so every model combines with
  every family and network. InfoGAN takes the family for its Q network and builds its own
  generator and discriminator; `latent_dim` is then its number of continuous codes.
  """
  validation.one_of(name, sorted(MODELS), "model.name")
  latent_dim = validation.positive_int(latent_dim, "model.latent_dim")
  family = posteriors.get_family(latent_dim=latent_dim)
  observation_shape = tuple(observation_shape)
  if name == "infogan":
    # A generator and a discriminator with a Q head instead of an encoder and a decoder; they
    # come from `infogan_generator.*` and `infogan_discriminator.*`.
    model = InfoGAN(observation_shape, family, seed=seed, name=name)
  else:
    encoder = networks.build_encoder(latent_dim, family.per_latent_params, family.joint_params)
    decoder = networks.build_decoder(observation_shape)
    model = MODELS[name](observation_shape, encoder, decoder, family, Likelihood(), seed=seed,
                         name=name)
  if observation_kind is not None:
    model.likelihood.check_fits(observation_kind)
  return model
