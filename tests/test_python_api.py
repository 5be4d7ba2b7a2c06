"""The Python API: plain arguments and no gin state, Keras conventions, the gin path unchanged.

* Every model x family x encoder builds from plain arguments with gin cleared, and the same
  with an unrelated gin configuration bound (it is ignored).
* The gin path (what zoo-train runs) trains bitwise the runs pinned before the Python API
  existed (tests/data/gin_path_pins.json), with the same bindings in its operative config, and
  with callbacks firing; model_dirs the old code wrote resume bitwise (through gin and through
  the Python API), export and evaluate.
* `model.save("m.keras")` / `keras.models.load_model` round-trip every model; `fit` logs
  scalars only and runs the step zoo-train runs.
* Library errors name the library's parameters, the gin edge the gin names.
"""
import hashlib
import json
import os
import shutil

import gin
import keras
import numpy as np
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from common import cli
from export import saved_model_export
from evaluation import trained_model
from evaluation import training_metrics
from evaluation.metrics import mig
from gin_edge import configurables
from gin_edge import training as gin_training
import zoo
from zoo import models
from zoo.training import checkpoints
from zoo.training import loop
from zoo.training import run_config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "tests", "data")
with open(os.path.join(DATA, "gin_path_pins.json")) as _f:
  PINS = json.load(_f)["runs"]

# The smallest networks of every kind, so that building the whole grid stays cheap.
TINY_NETWORKS = {"encoder_options": {"mlp_hidden_units": (8,), "deep_units": 8,
                                     "branch_units": 4},
                 "decoder_options": {"mlp_hidden_units": (8,)}}
TINY_SETTINGS = {
    "factor_vae": {"discriminator_options": {"hidden_layers": 1, "hidden_units": 8}},
    "infogan": {"noise_dim": 2, "generator_options": {"dense_units": 8, "channels": (4,)},
                "discriminator_options": {"channels": (4,), "dense_units": 8, "q_units": 4,
                                          "q_branch_units": 2}},
}
WEAK_MODELS = ("group_vae", "ml_vae", "ada_gvae", "ada_ml_vae")
LEARNED_COVARIANCES = ("full_covariance", "low_rank")
# A whole other configuration, bound while the Python API builds: none of it may leak in.
UNRELATED_GIN_FILES = ["gin_configs/models/infogan.gin", "gin_configs/posteriors/low_rank.gin",
                       "gin_configs/encoders/mlp_split.gin",
                       "gin_configs/datasets/linear_gaussian.gin"]
UNRELATED_GIN_BINDINGS = [
    "model.latent_dim = 7", "beta_vae.beta = 100.0", "factor_vae.gamma = 1.5",
    "correlated_noise.rho = -0.1", "low_rank.rank = 3", "encoder.branch_units = 99",
    "decoder.mlp_hidden_units = (5,)", "likelihood.observation_std = 3.0",
    "factor_vae_discriminator.hidden_units = 77", "infogan_generator.dense_units = 33",
]


def tiny_model(name, family="factorized", encoder="mlp", latent_dim=3):
  """(observation_shape, build_model arguments) of a tiny `name` model."""
  arguments = {"latent_dim": latent_dim, "posterior": family}
  if name == "infogan":
    shape = (16, 16, 1)
  else:
    shape = (16, 16, 1) if encoder.startswith("conv64") else (6,)
    arguments.update(encoder=encoder, **TINY_NETWORKS)
    if len(shape) == 1:
      arguments["likelihood"] = "gaussian"
  arguments.update(TINY_SETTINGS.get(name, {}))
  return shape, arguments


def weights_of(model):
  return [v.numpy() for v in model.weights]


def checksums(checkpoint_path):
  """What tests/data/gin_path_pins.json pins: sha256 of each tensor (bytes, dtype, shape)."""
  reader = tf.train.load_checkpoint(checkpoint_path)
  found = {}
  for key in sorted(reader.get_variable_to_shape_map()):
    value = reader.get_tensor(key)
    if isinstance(value, bytes) or (isinstance(value, np.ndarray) and value.dtype == object):
      continue
    value = np.ascontiguousarray(value)
    found[key] = hashlib.sha256(value.tobytes() + str(value.dtype).encode()
                                + str(value.shape).encode()).hexdigest()[:16]
  return found


def parse_pinned(name, *extra):
  gin.clear_config()
  run = PINS[name]
  cli.parse_gin([os.path.join(REPO, path) for path in run["gin_files"]],
                run["gin_bindings"] + list(extra))


def scalar_tags(directory):
  """{tag: [steps]} of the scalars and images in a TensorBoard log directory."""
  accumulator = event_accumulator.EventAccumulator(
      directory, size_guidance={event_accumulator.TENSORS: 0, event_accumulator.IMAGES: 0})
  accumulator.Reload()
  tags = accumulator.Tags()
  found = {}
  for tag in tags["tensors"]:
    found[tag] = [event.step for event in accumulator.Tensors(tag)]
  return found, accumulator


class BuildWithoutGinTest(tf.test.TestCase):

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def test_every_model_family_and_encoder_builds_from_plain_arguments(self):
    gin.clear_config()
    built = 0
    for name in zoo.MODEL_NAMES:
      for family in zoo.FAMILY_NAMES:
        for encoder in (zoo.ENCODER_NAMES if name != "infogan" else ("none",)):
          shape, arguments = tiny_model(name, family, encoder)
          with self.subTest(model=name, family=family, encoder=encoder):
            if name in WEAK_MODELS and family in LEARNED_COVARIANCES:
              with self.assertRaisesRegex(ValueError, rf"posterior='{family}': a learned "
                                                      "covariance has no per-latent average"):
                zoo.build_model(name, observation_shape=shape, **arguments)
              continue
            model = zoo.build_model(name, observation_shape=shape, **arguments)
            config = model.get_config()
            self.assertEqual((config["name"], config["posterior"], config["latent_dim"]),
                             (name, family, 3))
            if name != "infogan":
              self.assertEqual(config["encoder"], encoder)
            # Settings not given take the library's documented defaults.
            for key, default in zoo.model_arguments(name).items():
              if key not in arguments and not key.endswith("_options") and key not in (
                  "observation_shape", "encoder", "decoder"):
                self.assertEqual(config[key], models.zoo_model.jsonable(default), key)
            dist = model.posterior(tf.zeros((2,) + shape))
            self.assertEqual((dist.batch_shape, dist.event_shape), ([2], [3]))
            self.assertEqual(model.decode_mean(dist.mean()).shape, (2,) + shape)
            built += 1
    self.assertEqual(built, 6 * 4 * 4 + 4 * 2 * 4 + 4)

  def test_an_unrelated_gin_configuration_is_ignored(self):
    cases = [("beta_vae", "correlated_noise", "conv64_split"), ("factor_vae", "low_rank", "mlp"),
             ("infogan", "factorized", "none"), ("ada_gvae", "factorized", "mlp_split"),
             ("dip_vae", "full_covariance", "conv64")]
    without = {}
    gin.clear_config()
    for case in cases:
      keras.utils.set_random_seed(0)
      shape, arguments = tiny_model(*case)
      model = zoo.build_model(case[0], observation_shape=shape, **arguments)
      without[case] = (model.get_config(), weights_of(model))
    cli.parse_gin([os.path.join(REPO, path) for path in UNRELATED_GIN_FILES],
                  UNRELATED_GIN_BINDINGS)
    for case in cases:
      with self.subTest(case=case):
        keras.utils.set_random_seed(0)
        shape, arguments = tiny_model(*case)
        model = zoo.build_model(case[0], observation_shape=shape, **arguments)
        config, weights = without[case]
        self.assertEqual(model.get_config(), config)
        self.assertEqual(len(model.weights), len(weights))
        for a, b in zip(weights_of(model), weights):
          self.assertAllEqual(a, b)
    # The data sets and their defaults ignore gin as well.
    self.assertEqual(zoo.get_dataset("linear_gaussian").observation_shape, (8,))
    self.assertEqual(zoo.data.dataset_arguments("dsprites")["image_size"], 64)

  def test_library_errors_name_parameters_and_the_edge_names_gin_bindings(self):
    gin.clear_config()
    for call, message in (
        (lambda: zoo.build_model("beta_vae", observation_shape=(6,), latent_dim=0),
         r"^latent_dim=0: expected a positive integer"),
        (lambda: zoo.build_model("beta_vae", observation_shape=(6,), posterior="diagonal"),
         r"^posterior='diagonal': expected one of 'factorized'"),
        (lambda: zoo.build_model("beta_vae", observation_shape=(6,), encoder="resnet"),
         r"^encoder='resnet': expected one of 'conv64', 'conv64_split', 'mlp', 'mlp_split'"),
        (lambda: zoo.build_model("beta_vae", observation_shape=(6,), gamma=2.0),
         r"^name='beta_vae': unknown argument\(s\) \['gamma'\]"),
        (lambda: zoo.build_model("vae", observation_shape=(6,), encoder="mlp",
                                 observation_kind="real"),
         r"^likelihood='bernoulli' does not fit the data set's real observations"),
        (lambda: zoo.get_dataset("celeba"), r"^name='celeba': expected one of"),
        (lambda: zoo.training.train(self.get_temp_dir(), {"name": "vae"}, "linear_gaussian",
                                    learning_rate=0.0),
         r"^learning_rate=0.0: expected a finite number > 0")):
      with self.assertRaisesRegex(ValueError, message) as raised:
        call()
      self.assertNotIn("--", str(raised.exception))
      self.assertNotIn("gin", str(raised.exception))
    base = ["dataset.name = 'linear_gaussian'", "posterior.name = 'factorized'",
            "encoder.kind = 'mlp'", "decoder.kind = 'mlp'", "likelihood.name = 'gaussian'"]
    for bindings, message in (
        (["model.latent_dim = 0"], r"^model.latent_dim=0: expected a positive integer"),
        (["model.name = 'ada_gvae'", "weak.k = 9"], r"^weak.k=9: expected an integer in"),
        (["likelihood.name = 'bernoulli'"], r"^likelihood.name='bernoulli' does not fit"),
        (["encoder.kind = 'resnet'"], r"^encoder.kind='resnet': expected one of 'conv64'"),
        (["training.batch_size = 0"], r"^training.batch_size=0: expected a positive")):
      with self.subTest(bindings=bindings):
        gin.clear_config()
        cli.parse_gin([], base + bindings)
        with self.assertRaisesRegex(ValueError, message):
          gin_training.train(os.path.join(self.get_temp_dir(), "never"),
                             log_fn=lambda line: None)
        self.assertFalse(os.path.exists(os.path.join(self.get_temp_dir(), "never")))


class GinPathTest(tf.test.TestCase):
  """The gin path after the change against the numbers pinned before it."""

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def test_the_gin_path_trains_the_pinned_weights_and_records_the_same_bindings(self):
    # The conv64 run also writes its summaries often: callbacks must not change a bit.
    callbacks_on = ["image_summaries.every_n_steps = 6", "metric_summaries.every_n_steps = 12",
                    "metric_summaries.num_points = 40"]
    for name, run in PINS.items():
      with self.subTest(run=name):
        with_callbacks = name.startswith("beta_vae_conv64")
        parse_pinned(name, *(callbacks_on if with_callbacks else []))
        model_dir = os.path.join(self.get_temp_dir(), name)
        gin_training.train(model_dir, log_fn=lambda line: None)
        found = checksums(os.path.join(model_dir, "checkpoints", "ckpt-24"))
        self.assertEqual(found, run["checksums"])
        with open(os.path.join(model_dir, loop.OPERATIVE_CONFIG)) as f:
          operative = f.read()
        self.assertEqual(loop.differing_bindings(run["operative_config"], operative), [])
        # The only new bindings are the callbacks' (which a resume may change).
        new = set(loop.binding_values(operative)) - set(
            loop.binding_values(run["operative_config"]))
        self.assertTrue(all(key.startswith(("image_summaries.", "metric_summaries."))
                            for key in new), new)
        # The run config says what the gin configuration says.
        with open(os.path.join(model_dir, run_config.RUN_CONFIG)) as f:
          recorded = json.load(f)
        translated = run_config.from_operative_config(run["operative_config"])
        self.assertEqual(run_config.differing_settings(
            recorded, _resolved(translated, recorded)), [])
        if with_callbacks:
          steps, accumulator = scalar_tags(os.path.join(model_dir, "summaries"))
          for tag in ("images/reconstructions", "images/traversals", "images/prior_samples"):
            self.assertEqual(steps[tag], [6, 12, 18, 24], tag)
          for tag in ("metrics/mig", "metrics/mi_invariance_violation", "metrics/seconds"):
            self.assertEqual(steps[tag], [12, 24], tag)
          image = tf.image.decode_png(
              accumulator.Tensors("images/traversals")[0].tensor_proto.string_val[2])
          # One row per latent (4), 7 traversal steps of 32 x 32 pixels.
          self.assertEqual(image.shape, (4 * 32, 7 * 32, 1))
          violation = tf.make_ndarray(accumulator.Tensors("metrics/mi_invariance_violation")[
              -1].tensor_proto)
          self.assertTrue(np.isfinite(violation) and violation >= 0)


def _resolved(translated, recorded):
  """A translated run config with the model section resolved (get_config) and the data set's
  defaults filled in, as a run records them."""
  config = json.loads(json.dumps(translated))
  arguments = dict(config["model"])
  name = arguments.pop("name")
  shape = recorded["model"]["observation_shape"]
  config["model"] = models.MODELS[name](shape, **arguments).get_config()
  config["dataset"] = zoo.data.dataset_arguments(**config["dataset"])
  return config


class OlderRunsTest(tf.test.TestCase):
  """model_dirs written before run_config.json existed (tests/data/old_model_dirs)."""

  def copy(self, name):
    target = os.path.join(self.get_temp_dir(), name)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(os.path.join(DATA, "old_model_dirs", name), target)
    return target

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def test_an_older_run_resumes_bitwise_through_gin_with_callbacks(self):
    name = "beta_vae_mlp_factorized_linear_gaussian"
    model_dir = self.copy(name)
    with open(os.path.join(model_dir, loop.OPERATIVE_CONFIG)) as f:
      old_config = f.read()
    # Callbacks on (only the metrics apply to vectors): they may differ from the stored run.
    parse_pinned(name, "metric_summaries.every_n_steps = 4", "metric_summaries.num_points = 30")
    lines = []
    gin_training.train(model_dir, log_fn=lines.append)
    self.assertTrue(any("resuming from" in line and "ckpt-12" in line for line in lines), lines)
    self.assertEqual(checksums(os.path.join(model_dir, "checkpoints", "ckpt-24")),
                     PINS[name]["checksums"])
    with open(os.path.join(model_dir, loop.OPERATIVE_CONFIG)) as f:
      self.assertEqual(f.read(), old_config)  # unchanged: nothing but the cadence differs
    self.assertTrue(os.path.isfile(os.path.join(model_dir, run_config.RUN_CONFIG)))
    steps, _ = scalar_tags(os.path.join(model_dir, "summaries"))
    self.assertEqual(steps["metrics/mig"], [16, 20, 24])

  def test_an_older_run_resumes_bitwise_through_the_python_api(self):
    name = "factor_vae_mlp_split_full_covariance_linear_gaussian"
    model_dir = self.copy(name)
    gin.clear_config()
    stored = run_config.read(model_dir)  # translated from its operative_config.gin
    settings = dict(stored["training"], num_steps=24)
    model = {key: value for key, value in stored["model"].items() if key != "seed"}
    lines = []
    zoo.training.train(model_dir, model, stored["dataset"], log_fn=lines.append, **settings)
    self.assertTrue(any("resuming from" in line for line in lines), lines)
    self.assertEqual(checksums(os.path.join(model_dir, "checkpoints", "ckpt-24")),
                     PINS[name]["checksums"])
    # A changed setting is named by its path in the run config.
    with self.assertRaisesRegex(ValueError, r"differs in model.gamma\)"):
      zoo.training.train(model_dir, dict(model, gamma=1.0), stored["dataset"],
                         log_fn=lines.append, **dict(settings, num_steps=30))

  def test_an_older_run_exports_and_evaluates(self):
    name = "beta_vae_mlp_factorized_linear_gaussian"
    model_dir = self.copy(name)
    gin.clear_config()
    export_dir = os.path.join(self.get_temp_dir(), "export")
    metadata = saved_model_export.export_model_dir(model_dir, export_dir, overwrite=True,
                                                   log_fn=lambda line: None)
    with open(os.path.join(model_dir, loop.OPERATIVE_CONFIG)) as f:
      self.assertEqual(metadata["gin_config"], f.read())
    self.assertEqual(metadata["run_config"]["model"]["name"], "beta_vae")
    self.assertEqual(metadata["run_config"]["dataset"]["noise_std"], 0.5)
    self.assertEqual(metadata["training_step"], 12)
    from_dir = trained_model.from_model_dir(model_dir, log_fn=lambda line: None)
    from_export = trained_model.from_export(export_dir)
    x = from_dir.ground_truth_data.sample_observations(20, np.random.RandomState(0))
    self.assertAllClose(from_dir.mean(x), from_export.mean(x), atol=1e-6)
    scores = mig.compute_mig(from_export.ground_truth_data, from_export.mean,
                             np.random.RandomState(0), num_train=200)
    self.assertBetween(scores["discrete_mig"], 0.0, 1.0)
    # An export written before exports carried a run config: the gin config names the data.
    restored = checkpoints.restore_run(model_dir, log_fn=lambda line: None)
    module = saved_model_export.ExportModule(restored.model)
    old_metadata = saved_model_export.export_metadata(restored, module)
    del old_metadata["run_config"]
    old_export = os.path.join(self.get_temp_dir(), "old_export")
    saved_model_export.write_export(module, old_metadata, old_export, overwrite=True,
                                    log_fn=lambda line: None)
    old = trained_model.from_export(old_export)
    self.assertEqual(old.ground_truth_data.noise_std, 0.5)
    self.assertAllClose(old.mean(x), from_export.mean(x))


class KerasConventionsTest(tf.test.TestCase):

  def test_every_model_round_trips_through_a_keras_file(self):
    gin.clear_config()
    for name in zoo.MODEL_NAMES:
      with self.subTest(model=name):
        keras.utils.set_random_seed(1)
        shape, arguments = tiny_model(name, "correlated_noise",
                                      "conv64" if name == "infogan" else "mlp")
        model = zoo.build_model(name, observation_shape=shape, **arguments)
        model.compile(optimizer=keras.optimizers.Adam(1e-3))
        x = np.random.RandomState(0).uniform(size=(8,) + shape).astype(np.float32)
        batch = tf.constant(x)
        if name in WEAK_MODELS:
          batch = (batch, batch[::-1], tf.constant(np.eye(8, 3, dtype=np.float32)))
        model.train_step(batch)  # one step, so that the optimizers hold state
        path = os.path.join(self.get_temp_dir(), f"{name}.keras")
        model.save(path)
        loaded = keras.models.load_model(path)
        self.assertIsInstance(loaded, type(model))
        self.assertEqual(loaded.get_config(), model.get_config())
        self.assertEqual(len(loaded.weights), len(model.weights))
        for a, b in zip(weights_of(loaded), weights_of(model)):
          self.assertAllEqual(a, b)
        for key, optimizer in model.optimizers().items():
          self.assertEqual(int(loaded.optimizers()[key].iterations.numpy()),
                           int(optimizer.iterations.numpy()), key)
          for a, b in zip(loaded.optimizers()[key].variables, optimizer.variables):
            self.assertAllEqual(a.numpy(), b.numpy())
        for mine, theirs in ((model.posterior(x), loaded.posterior(x)),):
          self.assertAllEqual(mine.mean(), theirs.mean())
          self.assertAllEqual(mine.covariance(), theirs.covariance())

  def test_fit_logs_scalars_and_runs_the_step_zoo_train_runs(self):
    gin.clear_config()
    model_arguments = {"name": "beta_vae", "latent_dim": 3, "encoder": "mlp",
                       "likelihood": "gaussian", **TINY_NETWORKS}
    settings = {"num_steps": 6, "batch_size": 16, "learning_rate": 1e-3, "seed": 1,
                "checkpoint_every": 6, "log_every": 3}
    model_dir = os.path.join(self.get_temp_dir(), "loop")
    zoo.training.train(model_dir, model_arguments, "linear_gaussian", log_fn=lambda line: None,
                       **settings)
    by_loop = checkpoints.restore_run(model_dir, log_fn=lambda line: None).model

    keras.utils.set_random_seed(1)
    data = zoo.get_dataset("linear_gaussian")
    arguments = {k: v for k, v in model_arguments.items() if k != "name"}
    model = zoo.build_model("beta_vae", observation_shape=data.observation_shape, seed=1,
                            **arguments)
    model.compile(optimizer=keras.optimizers.Adam(1e-3, beta_1=0.9, beta_2=0.999,
                                                  epsilon=1e-8))
    with zoo.training.reproducible_graph_optimizations():
      history = model.fit(zoo.data.make_dataset(data, 16, seed=1), steps_per_epoch=6,
                          epochs=1, verbose=0)
    self.assertEqual(sorted(history.history), ["elbo", "kl", "kl/0", "kl/1", "kl/2", "loss",
                                               "reconstruction", "regularizer"])
    for values in history.history.values():
      self.assertTrue(all(np.ndim(v) == 0 for v in values))
    self.assertEqual(int(model.optimizer.iterations.numpy()), 6)
    for a, b in zip(weights_of(model), weights_of(by_loop)):
      self.assertAllEqual(a, b)


class CallbacksInFitTest(tf.test.TestCase):

  def test_fit_writes_images_and_metrics_that_tensorboard_reads(self):
    gin.clear_config()
    data = zoo.get_dataset("dsprites", image_size=32)
    keras.utils.set_random_seed(0)
    model = zoo.build_model("beta_vae", observation_shape=data.observation_shape, latent_dim=2,
                            encoder="conv64")
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    log_dir = os.path.join(self.get_temp_dir(), "logs")
    images = zoo.callbacks.ImageSummaries(log_dir, data, every_n_steps=2, num_images=4,
                                          traversal_steps=5, num_prior_samples=4)
    metrics = zoo.callbacks.MetricSummaries(
        log_dir, training_metrics.standard_metrics(num_conditioning=4, num_strata=8), data,
        every_n_steps=3, num_points=40)
    model.fit(zoo.data.make_dataset(data, 8, seed=0), steps_per_epoch=6, epochs=1, verbose=0,
              callbacks=[images, metrics])
    steps, accumulator = scalar_tags(log_dir)
    self.assertEqual(steps["images/reconstructions"], [2, 4, 6])
    self.assertEqual(steps["metrics/mig"], [3, 6])
    grid = tf.image.decode_png(
        accumulator.Tensors("images/reconstructions")[0].tensor_proto.string_val[2])
    self.assertEqual(grid.shape, (2 * 32, 4 * 32, 1))  # 4 inputs above their reconstructions
    samples = tf.image.decode_png(
        accumulator.Tensors("images/prior_samples")[0].tensor_proto.string_val[2])
    self.assertEqual(samples.shape, (2 * 32, 2 * 32, 1))
    with self.assertRaisesRegex(ValueError, "are not images"):
      vectors = zoo.build_model("vae", observation_shape=(8,), encoder="mlp",
                                likelihood="gaussian", **TINY_NETWORKS)
      vectors.compile(optimizer=keras.optimizers.Adam(1e-3))
      linear = zoo.get_dataset("linear_gaussian")
      vectors.fit(zoo.data.make_dataset(linear, 8, seed=0), steps_per_epoch=1, verbose=0,
                  callbacks=[zoo.callbacks.ImageSummaries(log_dir, linear, every_n_steps=1)])


if __name__ == "__main__":
  tf.test.main()
