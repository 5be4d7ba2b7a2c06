"""The model protocol: what training, export, evaluation and the pictures use of any model.

Every model of the zoo, VAE-type or InfoGAN, is a `ZooModel`:

  model_name                  registry name ("beta_vae", "infogan", ...)
  get_config()                the plain arguments it was built from (`build_model(**config)`
                              and `from_config` rebuild it; `keras.models.load_model` too)
  observation_shape           shape of one observation, e.g. (64, 64, 1)
  family, latent_dim          the posterior family (a `zoo.posteriors` family) and d
  likelihood, decoder_output  how the decoder's raw output is read ("logits" or "mean")
  posterior(x)                q(z | x), a TFP distribution with batch shape [B], event shape [d]
  decode(z), decode_mean(z)   raw decoder output, and the mean of p(x | z)
  prior_name, sample_prior(n) the prior over the codes (`zoo.models.priors`) and draws from it
  random_seeds(n)             the stateless seeds of one training step's random draws
  scaled_loss, apply_update   an optimizer step that works under every precision
  training_input              "observations", or "pairs" for weakly-supervised models
  main_variables              what the compiled optimizer updates
  optimizers()                every optimizer whose state is checkpointed, by name
  export_variables()          the variables posterior and decode read (what an export saves)
  build_all()                 creates every weight and optimizer slot (before a restore)
  compute_losses(x)           every loss term of a batch
  train_step_losses(data)     one optimizer step; every loss term (scalars and per-latent
                              vectors), what zoo-train's loop runs and sums
  train_step(data)            the same step for `fit`: its terms as scalars only, each
                              per-latent vector `<term>_per_latent` as `<term>/<i>`

Nothing outside a model reads any other attribute of it.

Models take plain arguments (see `zoo.models.build_model`), create every weight when they are
built, and compile with one optimizer that `compile` builds for `main_variables`, so a model
is ready for `fit`, a checkpoint restore or `keras.models.load_model` as soon as it exists.

Precision: models are built under a Keras dtype policy (`dtype_policy(precision)`): with
"mixed_bfloat16" or "mixed_float16" the networks compute in the low precision while their
output layers, the posterior, every divergence and the likelihood stay float32, and with
"mixed_float16" every optimizer is a LossScaleOptimizer (`for_precision`).
"""
import abc
import contextlib
import json

import keras
import numpy as np
import tensorflow as tf

from zoo.models import priors

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


@contextlib.contextmanager
def dtype_policy(precision):
  """Builds what is built inside under the Keras dtype policy `precision`, then restores it."""
  previous = keras.config.dtype_policy()
  keras.config.set_dtype_policy(precision)
  try:
    yield
  finally:
    keras.config.set_dtype_policy(previous)


def for_precision(optimizer):
  """`optimizer`, wrapped for loss scaling when the dtype policy is mixed_float16."""
  if keras.config.dtype_policy().name == "mixed_float16":
    return keras.optimizers.LossScaleOptimizer(optimizer)
  return optimizer


def jsonable(value):
  """`value` with tuples as lists and numpy scalars as Python numbers: what a JSON config holds."""
  if isinstance(value, dict):
    return {str(k): jsonable(v) for k, v in value.items()}
  if isinstance(value, (tuple, list, np.ndarray)):
    return [jsonable(v) for v in value]
  if isinstance(value, np.generic):
    return value.item()
  return value


def scalar_logs(losses):
  """The loss terms as scalars only: a per-latent vector `<term>_per_latent` [d] becomes the
  scalars `<term>/0` .. `<term>/<d-1>` (Keras logs and `fit` history hold scalars)."""
  logs = {}
  for name, value in losses.items():
    if value.shape.rank == 0:
      logs[name] = value
      continue
    prefix = name[:-len("_per_latent")] if name.endswith("_per_latent") else name
    for i, element in enumerate(tf.unstack(value)):
      logs[f"{prefix}/{i}"] = element
  return logs


class ZooModel(keras.Model, metaclass=abc.ABCMeta):
  """Base class of every model; see the module docstring for the protocol.

  Args:
    observation_shape: shape of one observation.
    family: the `zoo.posteriors` family of q(z | x) (for InfoGAN: of Q(c | x)).
    likelihood: a `zoo.models.likelihoods.Likelihood`, which reads the decoder's raw output.
    seed: the noise seed of training's random draws (see `random_seeds`).
  """

  model_name = None
  # What a training step takes: batches of "observations", or of "pairs" (x1, x2, changed
  # factors) from `zoo.data.make_pair_dataset` for the weakly-supervised models.
  training_input = "observations"

  def __init__(self, observation_shape, family, likelihood, seed=0, **kwargs):
    kwargs.setdefault("name", self.model_name)
    super().__init__(**kwargs)
    self.observation_shape = tuple(int(n) for n in observation_shape)
    self.family = family
    self.latent_dim = family.latent_dim
    self.likelihood = likelihood
    self.noise_seed = int(seed)
    # A string, not a dict: attributes of a model that TensorFlow tracks would enter the
    # checkpoint's object graph.
    self._config_json = json.dumps({"observation_shape": list(self.observation_shape),
                                    "seed": self.noise_seed})

  def _add_config(self, **values):
    """Records constructor arguments for `get_config` (each class its own, resolved)."""
    config = json.loads(self._config_json)
    config.update(jsonable(values))
    self._config_json = json.dumps(config)

  def get_config(self):
    """The plain arguments that rebuild this model: `type(model)(**config)`, and
    `zoo.models.build_model(**config)` with `name` the registry name."""
    return dict(json.loads(self._config_json), name=self.model_name)

  @classmethod
  def from_config(cls, config):
    """The model `get_config` describes, with every weight created (fresh values)."""
    model = cls(**config)
    model.create_weights()
    return model

  def compile(self, optimizer="rmsprop", **kwargs):
    """Compiles with `optimizer` for `main_variables`, and creates every weight and that
    optimizer's slots at once (Keras would build it for every trainable variable, a second
    optimizer's too)."""
    super().compile(optimizer=optimizer, **kwargs)
    self.build_all()

  def compile_from_config(self, config):
    """What `keras.models.load_model` calls for a compiled model: the same `compile`."""
    self.compile(**keras.saving.deserialize_keras_object(config))

  @property
  def decoder_output(self):
    """What `decode` returns: "logits" (Bernoulli) or "mean" (Gaussian)."""
    return self.likelihood.decoder_output

  @property
  def prior_name(self):
    """The prior over the codes, one of `priors.PRIOR_NAMES`."""
    return "normal"

  @abc.abstractmethod
  def posterior(self, x, training=False):
    """q(z | x) for observations x [B, *observation_shape]."""

  @abc.abstractmethod
  def decode(self, z, training=False):
    """Raw decoder output [B, *observation_shape] (see `decoder_output`) for codes z [B, d]."""

  def decode_mean(self, z):
    """The mean of p(x | z): images in [0, 1] for a Bernoulli decoder."""
    return self.likelihood.mean(self.decode(z, training=False))

  def sample_prior(self, count):
    """`count` codes [count, d] drawn from the prior (count may be a scalar tensor)."""
    return priors.sample(self.prior_name, [count, self.latent_dim])

  def random_seeds(self, count):
    """`count` stateless seeds (int32 [2] tensors) for the random draws of this training step.

    They are a function of the noise seed, the optimizer step and the replica only, so a run
    resumed from a checkpoint draws exactly what the uninterrupted run drew (reparameterization
    noise, FactorVAE's permutations, InfoGAN's codes), and replicas draw independently.
    """
    context = tf.distribute.get_replica_context()
    replica = context.replica_id_in_sync_group if context is not None else 0
    seed = tf.stack([tf.constant(self.noise_seed, tf.int64),
                     tf.cast(self.optimizer.iterations, tf.int64)])
    seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(replica, tf.int64))
    seeds = tf.random.experimental.stateless_split(seed, count)
    # TFP's samplers take int32 seeds; the split has mixed all 64 bits into each half.
    return tf.unstack(tf.cast(tf.bitwise.bitwise_and(seeds, 0x7FFFFFFF), tf.int32))

  def scaled_loss(self, optimizer, loss):
    """This replica's share of `loss`, scaled for `optimizer` (call it inside the tape).

    Each optimizer sums gradients over replicas, so each replica contributes its share; a
    LossScaleOptimizer (mixed_float16) scales the loss up against float16 underflow.
    """
    return optimizer.scale_loss(loss / tf.distribute.get_strategy().num_replicas_in_sync)

  def apply_update(self, optimizer, gradients, variables):
    """Applies `gradients`; a step skipped by a LossScaleOptimizer still counts as a step.

    The step count drives the data order and every random draw, so it must advance with every
    train_step for a resumed run to match the uninterrupted one.
    """
    if not isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
      optimizer.apply(gradients, variables)
      return
    before = tf.identity(optimizer.iterations)
    optimizer.apply(gradients, variables)
    skipped = tf.equal(optimizer.iterations, before)
    optimizer.iterations.assign_add(tf.cast(skipped, optimizer.iterations.dtype))

  def call(self, x, training=False):
    """Raw reconstruction of x through the posterior mean."""
    return self.decode(self.posterior(x, training=training).mean(), training=training)

  def train_step(self, data):
    """Keras's training step (what `fit` runs): `train_step_losses` with scalar logs."""
    return scalar_logs(self.train_step_losses(data))

  @abc.abstractmethod
  def train_step_losses(self, data):
    """One optimizer step on a batch; returns its loss terms (replica-local under
    tf.distribute): scalars, and per-latent vectors named `<term>_per_latent`."""

  @property
  @abc.abstractmethod
  def main_variables(self):
    """The variables `self.optimizer` updates (a second optimizer, if any, owns the rest)."""

  @abc.abstractmethod
  def export_variables(self):
    """Every variable `posterior` and `decode` read."""

  def optimizers(self):
    """Optimizers whose state is checkpointed, by name."""
    return {"optimizer": self.optimizer}

  @abc.abstractmethod
  def build_networks(self):
    """Creates every weight, and the slots of an optimizer the model owns besides the
    compiled one; constructors call it."""

  def create_weights(self):
    """Creates every weight (`build_networks`) and marks the model built, as Keras expects."""
    self.build_networks()
    self.built = True

  def build_all(self):
    """Creates every weight and every optimizer's slots; the model must be compiled."""
    self.create_weights()
    self.optimizer.build(self.main_variables)

  @abc.abstractmethod
  def compute_losses(self, x, training=True):
    """All loss terms of a batch: a dict of scalars (and per-latent vectors)."""
