"""zoo-export and export.loader: round trips for every posterior family, loading without zoo,
serving tools (saved_model_cli, Keras's TFSMLayer) on the default signatures, the model card,
exports made before those existed, input checks, refusing foreign directories, and
all-or-nothing writes."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from unittest import mock

import gin
import keras
import numpy as np
import tensorflow as tf

from common import cli
from evaluation import evaluate
from export import loader
from export import model_card
from export import saved_model_export
from zoo import data as zoo_data
from zoo import models
from zoo import training
from zoo.posteriors import gaussian_utils
from zoo.training import checkpoints
from gin_edge import configurables  # noqa: F401  (registers every gin configurable)
from gin_edge import training as gin_training
from tiny_mlp import TINY_MLP_BINDINGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Small networks on the vector data set for three families; the fourth uses 32x32 dSprites with
# conv64 and a Bernoulli decoder so that images and logits are covered too.
MLP_BINDINGS = [
    "dataset.name = 'linear_gaussian'",
] + TINY_MLP_BINDINGS
CONV_BINDINGS = [
    "dataset.name = 'dsprites'",
    "dsprites.image_size = 32",
    "encoder.kind = 'conv64'",
    "decoder.kind = 'conv64'",
    "likelihood.name = 'bernoulli'",
    "correlated_noise.rho = 0.5",
]
COMMON_BINDINGS = [
    "model.name = 'beta_vae'",
    "model.latent_dim = 3",
    "training.batch_size = 8",
    "training.learning_rate = 1e-3",
    "training.num_steps = 2",
    "training.checkpoint_every = 1",
]
CASES = {
    "factorized": MLP_BINDINGS,
    "full_covariance": MLP_BINDINGS,
    "low_rank": MLP_BINDINGS + ["low_rank.rank = 2"],
    "correlated_noise": CONV_BINDINGS,
}
# Measured on CPU: the export reproduces the in-process outputs bit for bit (max difference 0.0
# for every family and batch size); the tolerance leaves room for other kernels (GPU, oneDNN).
ATOL = 1e-5
RTOL = 1e-5

# Makes keras, tf_keras, zoo, gin and TFP un-importable (as if not installed), then loads an
# export and encodes a batch. TensorFlow itself imports keras at start-up when it is installed,
# so blocking is the way to show that nothing the loader or the SavedModel does needs it.
LOADER_ONLY_SCRIPT = """
import importlib.abc, importlib.machinery, sys
BLOCKED = ("keras", "tf_keras", "zoo", "gin", "tensorflow_probability")
class Block(importlib.abc.MetaPathFinder):
  def find_spec(self, name, path=None, target=None):
    if name.split(".")[0] in BLOCKED:
      return importlib.machinery.ModuleSpec(name, None)  # a spec without loader: ImportError
    return None
sys.meta_path.insert(0, Block())
import numpy as np
from export import loader
exported = loader.load(sys.argv[1])
with np.load(sys.argv[2], allow_pickle=False) as stored:
  expected = dict(stored)
outputs = exported.encode(expected["images"])
np.testing.assert_allclose(outputs["mean"], expected["mean"], rtol=1e-5, atol=1e-5)
np.testing.assert_allclose(outputs["scale_tril"], expected["scale_tril"], rtol=1e-5, atol=1e-5)
assert outputs["sample"].shape == expected["mean"].shape
assert exported.sample_prior(3)["mean"].shape == (3,) + exported.observation_shape
for name in BLOCKED:
  assert name not in sys.modules, name
print("LOADED_WITHOUT_ZOO", exported.metadata["posterior_family"])
"""


def train_tiny(model_dir, bindings):
  gin.clear_config()
  cli.parse_gin([], COMMON_BINDINGS + bindings)
  gin_training.train(model_dir, log_fn=lambda line: None)
  gin.clear_config()


def restore_in_process(model_dir, checkpoint):
  """The trained model rebuilt independently of the exporter, the way training resumes."""
  gin.clear_config()
  gin.parse_config_file(os.path.join(model_dir, "operative_config.gin"))
  data = configurables.dataset_from_gin()
  model = configurables.model_from_gin(data.observation_shape)
  model.compile(optimizer=keras.optimizers.Adam())
  model.build_all()
  tf.train.Checkpoint(model=model, **model.optimizers()).restore(
      checkpoint).assert_existing_objects_matched()
  gin.clear_config()
  return model, data


def run_export_binary(*flags):
  return subprocess.run([sys.executable, "-m", "binaries.export_main", *flags],
                        capture_output=True, text=True, timeout=300, cwd=REPO)


def leftovers(parent):
  """Hidden staging directories an export could have left behind."""
  return [name for name in os.listdir(parent) if ".export-tmp-" in name]


RUNS = {}
ROOT = None


def setUpModule():  # pylint: disable=invalid-name
  """Trains one tiny model per family for two steps and exports it (shared by every test)."""
  global ROOT
  ROOT = tempfile.mkdtemp(prefix="test_export_")
  for family, bindings in CASES.items():
    model_dir = os.path.join(ROOT, "runs", family)
    export_dir = os.path.join(ROOT, "exports", family)
    train_tiny(model_dir, bindings + [f"posterior.name = '{family}'"])
    metadata = saved_model_export.export_model_dir(model_dir, export_dir,
                                                   log_fn=lambda line: None)
    checkpoint = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    model, data = restore_in_process(model_dir, checkpoint)
    RUNS[family] = dict(model_dir=model_dir, export_dir=export_dir, metadata=metadata,
                        model=model, data=data, exported=loader.load(export_dir))


def tearDownModule():  # pylint: disable=invalid-name
  shutil.rmtree(ROOT, ignore_errors=True)


class ExportRoundTripTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.runs = RUNS

  def test_reference_models_hold_the_trained_weights(self):
    # Every weight the optimizer trained, compared with the checkpoint's value, so that the
    # round trips below compare the export against the trained model, not a fresh one.
    for family, run in self.runs.items():
      with self.subTest(family=family):
        checkpoint = tf.train.latest_checkpoint(os.path.join(run["model_dir"], "checkpoints"))
        reader = tf.train.load_checkpoint(checkpoint)
        variables = run["model"].main_variables
        self.assertGreaterEqual(len(variables), 8)
        for i, variable in enumerate(variables):
          self.assertAllEqual(variable.numpy(), reader.get_tensor(
              f"optimizer/_trainable_variables/{i}/.ATTRIBUTES/VARIABLE_VALUE"))

  def test_encode_decode_reconstruct_match_the_in_process_model(self):
    for family, run in self.runs.items():
      model, exported = run["model"], run["exported"]
      rng = np.random.RandomState(0)
      for batch in (1, 7, 64):
        with self.subTest(family=family, batch=batch):
          images = run["data"].sample_observations(batch, rng)
          dist = model.posterior(tf.constant(images), training=False)
          encoded = exported.encode(images)
          scale_key = "stddev" if family == "factorized" else "scale_tril"
          self.assertCountEqual(encoded, ["mean", scale_key, "sample"])
          self.assertAllClose(encoded["mean"], dist.mean(), rtol=RTOL, atol=ATOL)
          if family == "factorized":
            self.assertAllClose(encoded["stddev"], gaussian_utils.marginal_stddev(dist),
                                rtol=RTOL, atol=ATOL)
            self.assertEqual(encoded["stddev"].shape, (batch, 3))
          else:
            tril = encoded["scale_tril"]
            self.assertEqual(tril.shape, (batch, 3, 3))
            self.assertAllClose(tril, dist.scale.to_dense(), rtol=RTOL, atol=ATOL)
            self.assertAllClose(tril @ np.swapaxes(tril, 1, 2),
                                dist.covariance(), rtol=1e-4, atol=1e-5)
            # The correlation must survive the export, not only the marginal scales.
            self.assertGreater(np.abs(np.tril(tril, -1)).max(), 1e-3)
          self.assertEqual(encoded["sample"].shape, (batch, 3))
          self.assertTrue(np.all(np.isfinite(encoded["sample"])))

          z = rng.standard_normal((batch, 3)).astype(np.float32)
          raw = model.decode(tf.constant(z), training=False).numpy()
          decoded = exported.decode(z)
          if model.decoder_output == "logits":
            self.assertCountEqual(decoded, ["logits", "mean"])
            self.assertAllClose(decoded["logits"], raw, rtol=RTOL, atol=ATOL)
            self.assertAllClose(decoded["mean"], 1.0 / (1.0 + np.exp(-raw)), rtol=RTOL,
                                atol=ATOL)
          else:
            self.assertCountEqual(decoded, ["mean"])
            self.assertAllClose(decoded["mean"], raw, rtol=RTOL, atol=ATOL)
          self.assertEqual(decoded["mean"].shape, (batch,) + run["data"].observation_shape)

          reconstructed = exported.reconstruct(images)
          expected = model.decode(dist.mean(), training=False).numpy()
          key = "logits" if model.decoder_output == "logits" else "mean"
          self.assertAllClose(reconstructed[key], expected, rtol=RTOL, atol=ATOL)

  def test_sample_follows_the_posterior(self):
    # 4000 draws for one input: whitened by the exported scale they must look like N(0, I).
    for family in ("correlated_noise", "full_covariance"):
      with self.subTest(family=family):
        run = self.runs[family]
        image = run["data"].sample_observations(1, np.random.RandomState(1))
        encoded = run["exported"].encode(np.repeat(image, 4000, axis=0))
        white = np.linalg.solve(encoded["scale_tril"][0],
                                (encoded["sample"] - encoded["mean"][0]).T).T
        # Standard errors: 1/sqrt(4000) = 0.016 for the means, about 0.022 for the covariance.
        self.assertAllClose(white.mean(axis=0), np.zeros(3), atol=0.08)
        self.assertAllClose(np.cov(white, rowvar=False), np.eye(3), atol=0.12)

  def test_sample_prior_decodes_its_codes(self):
    for family in ("correlated_noise", "factorized"):
      with self.subTest(family=family):
        run = self.runs[family]
        out = run["exported"].sample_prior(5)
        self.assertEqual(out["z"].shape, (5, 3))
        self.assertEqual(out["mean"].shape, (5,) + run["data"].observation_shape)
        self.assertAllClose(out["mean"], run["exported"].decode(out["z"])["mean"],
                            rtol=RTOL, atol=ATOL)
        self.assertGreater(np.std(out["z"]), 0.2)
        self.assertEqual(run["exported"].metadata["code_prior"], "normal")
    self.assertBetween(float(self.runs["correlated_noise"]["exported"].sample_prior(4)["mean"]
                             .min()), 0.0, 1.0)

  def test_metadata_describes_the_model(self):
    expected_shapes = {"correlated_noise": [32, 32, 1]}
    for family, run in self.runs.items():
      with self.subTest(family=family):
        metadata = run["exported"].metadata
        self.assertEqual(metadata, run["metadata"])
        self.assertEqual(metadata["format_version"], loader.FORMAT_VERSION)
        self.assertEqual(metadata["posterior_family"], family)
        self.assertEqual(metadata["posterior_scale"],
                         "stddev" if family == "factorized" else "scale_tril")
        self.assertEqual(metadata["model"], "beta_vae")
        self.assertEqual(metadata["latent_dim"], 3)
        self.assertEqual(metadata["training_step"], 2)
        self.assertEqual(metadata["checkpoint"], "ckpt-2")
        self.assertEqual(metadata["observation_shape"], expected_shapes.get(family, [8]))
        self.assertEqual(metadata["dataset"],
                         "dsprites" if family == "correlated_noise" else "linear_gaussian")
        self.assertEqual(metadata["decoder_output"],
                         "logits" if family == "correlated_noise" else "mean")
        with open(os.path.join(run["model_dir"], "operative_config.gin")) as f:
          self.assertEqual(metadata["gin_config"], f.read())
        self.assertEqual(metadata["encoder"],
                         "conv64" if family == "correlated_noise" else "mlp")
        self.assertEqual(metadata["seed"], 0)
        with open(os.path.join(run["model_dir"], "train_results.json")) as f:
          results = json.load(f)
        self.assertEqual(results["final_step"], 2)
        self.assertEqual(metadata["final_losses"],
                         {k[len("loss."):]: v for k, v in results.items() if k.startswith("loss.")})
        self.assertIn("kl_per_latent.2", metadata["final_losses"])
    # Plain TensorFlow sees the same signatures and the asset.
    raw = tf.saved_model.load(self.runs["low_rank"]["export_dir"])
    self.assertCountEqual(raw.signatures, loader.SIGNATURES + loader.SERVING_SIGNATURES)
    self.assertEqual(os.path.basename(raw.metadata_file.asset_path.numpy().decode()),
                     "metadata.json")

  def test_loads_and_encodes_in_a_process_without_zoo_keras_or_gin(self):
    run = self.runs["correlated_noise"]
    images = run["data"].sample_observations(7, np.random.RandomState(2))
    encoded = run["exported"].encode(images)
    expected = os.path.join(self.get_temp_dir(), "expected.npz")
    np.savez(expected, images=images, mean=encoded["mean"], scale_tril=encoded["scale_tril"])
    result = subprocess.run([sys.executable, "-c", LOADER_ONLY_SCRIPT, run["export_dir"],
                             expected], capture_output=True, text=True, timeout=300, cwd=REPO)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn("LOADED_WITHOUT_ZOO correlated_noise", result.stdout)

  def test_wrong_inputs_give_signature_errors(self):
    images = self.runs["correlated_noise"]["exported"]
    vectors = self.runs["factorized"]["exported"]
    cases = [
        (lambda: images.encode(np.zeros((7, 64, 64, 1), np.float32)),
         r"encode: images has shape \[7, 64, 64, 1\], expected float32 \[batch, 32, 32, 1\]"),
        (lambda: images.encode(np.zeros((32, 32, 1), np.float32)),
         r"has shape \[32, 32, 1\], expected float32 \[batch, 32, 32, 1\]"),
        (lambda: images.encode(np.zeros((2, 32, 32, 1), np.uint8)),
         r"encode: images has dtype uint8, expected float32 \[batch, 32, 32, 1\]"),
        (lambda: images.reconstruct(np.zeros((0, 32, 32, 1), np.float32)),
         r"reconstruct: images has an empty batch"),
        (lambda: vectors.encode(np.zeros((4, 9), np.float32)),
         r"has shape \[4, 9\], expected float32 \[batch, 8\]"),
        (lambda: vectors.decode(np.zeros((4, 4), np.float32)),
         r"decode: z has shape \[4, 4\], expected float32 \[batch, 3\]"),
        (lambda: vectors.decode(np.zeros((4, 3), np.int64)), r"decode: z has dtype int64"),
        (lambda: vectors.decode([["a", "b", "c"]]), r"decode: z has dtype <U1"),
        (lambda: vectors.sample_prior(0), r"sample_prior: count=0, expected a positive"),
        (lambda: vectors.sample_prior(2.5), r"sample_prior: count=2.5, expected a positive int"),
        (lambda: vectors.sample_prior(True), r"sample_prior: count=True"),
    ]
    for call, message in cases:
      with self.subTest(message):
        with self.assertRaisesRegex(ValueError, message) as raised:
          call()
        self.assertNotIn("\n", str(raised.exception))
    # Other float precisions are cast rather than refused.
    x = np.random.RandomState(3).rand(2, 8)
    self.assertAllClose(vectors.encode(x)["mean"], vectors.encode(x.astype(np.float32))["mean"])


class ExportDirectoryTest(tf.test.TestCase):
  """What lands on disk: not-ours directories, crashes, overwriting, the binary."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = ROOT
    cls.model_dir = RUNS["full_covariance"]["model_dir"]
    cls.export_dir = RUNS["full_covariance"]["export_dir"]

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def copy_export(self, name):
    target = os.path.join(self.get_temp_dir(), name)
    shutil.copytree(self.export_dir, target)
    return target

  def test_directories_that_are_not_exports_are_refused(self):
    with self.assertRaisesRegex(FileNotFoundError, "no such directory"):
      loader.load(os.path.join(self.root, "nothing_here"))
    empty = os.path.join(self.get_temp_dir(), "empty")
    os.makedirs(empty)
    without_metadata = self.copy_export("without_metadata")
    os.remove(loader.metadata_path(without_metadata))
    newer = self.copy_export("newer")
    with open(loader.metadata_path(newer)) as f:
      metadata = json.load(f)
    metadata["format_version"] = loader.FORMAT_VERSION + 1
    with open(loader.metadata_path(newer), "w") as f:
      json.dump(metadata, f)
    garbled = self.copy_export("garbled")
    with open(loader.metadata_path(garbled), "w") as f:
      f.write("{not json")
    cases = {
        empty: "no saved_model.pb",
        without_metadata: "no assets/metadata.json",
        newer: "format_version 2, this loader reads version 1",
        garbled: "not valid JSON",
        os.path.join(self.export_dir, "saved_model.pb"): "got a file",
    }
    for path, message in cases.items():
      with self.subTest(message):
        with self.assertRaisesRegex(ValueError, message) as raised:
          loader.load(path)
        self.assertNotIn("\n", str(raised.exception))

  def test_crash_mid_export_leaves_no_directory(self):
    target = os.path.join(self.get_temp_dir(), "crashed", "export")

    def crash_after_writing_a_little(module, export_dir, **kwargs):
      os.makedirs(os.path.join(export_dir, "variables"))
      with open(os.path.join(export_dir, "saved_model.pb"), "wb") as f:
        f.write(b"half")
      raise RuntimeError("simulated crash")

    with mock.patch.object(tf.saved_model, "save", side_effect=crash_after_writing_a_little):
      with self.assertRaisesRegex(RuntimeError, "simulated crash"):
        saved_model_export.export_model_dir(self.model_dir, target, log_fn=lambda line: None)
    self.assertFalse(os.path.exists(target))
    self.assertEqual(leftovers(os.path.dirname(target)), [])

  def test_crash_while_overwriting_keeps_the_old_export(self):
    target = self.copy_export("kept")
    with mock.patch.object(tf.saved_model, "save", side_effect=RuntimeError("simulated crash")):
      with self.assertRaisesRegex(RuntimeError, "simulated crash"):
        saved_model_export.export_model_dir(self.model_dir, target, overwrite=True,
                                            log_fn=lambda line: None)
    self.assertEqual(loader.load(target).metadata["training_step"], 2)
    self.assertEqual(leftovers(self.get_temp_dir()), [])

    # A failure after the old export was moved aside, when the new one is renamed in.
    real_rename = os.rename

    def rename_failing_for_the_new_export(source, destination):
      if os.path.basename(source) == "saved_model":
        raise OSError("simulated rename failure")
      return real_rename(source, destination)

    with mock.patch.object(os, "rename", side_effect=rename_failing_for_the_new_export):
      with self.assertRaisesRegex(OSError, "simulated rename failure"):
        saved_model_export.export_model_dir(self.model_dir, target, overwrite=True,
                                            checkpoint=os.path.join(self.model_dir,
                                                                    "checkpoints", "ckpt-1"),
                                            log_fn=lambda line: None)
    self.assertEqual(loader.load(target).metadata["training_step"], 2)
    self.assertEqual(leftovers(self.get_temp_dir()), [])

  def test_existing_targets(self):
    with self.assertRaisesRegex(ValueError, "already exists; pass --overwrite"):
      saved_model_export.export_model_dir(self.model_dir, self.export_dir,
                                          log_fn=lambda line: None)
    not_an_export = os.path.join(self.get_temp_dir(), "precious")
    os.makedirs(not_an_export)
    with open(os.path.join(not_an_export, "notes.txt"), "w") as f:
      f.write("keep me")
    with self.assertRaisesRegex(ValueError, "not a SavedModel export"):
      saved_model_export.export_model_dir(self.model_dir, not_an_export, overwrite=True,
                                          log_fn=lambda line: None)
    self.assertEqual(os.listdir(not_an_export), ["notes.txt"])
    # An empty directory (say, made by `mkdir` beforehand) is simply filled.
    empty = os.path.join(self.get_temp_dir(), "made_beforehand")
    os.makedirs(empty)
    saved_model_export.export_model_dir(self.model_dir, empty, log_fn=lambda line: None)
    self.assertEqual(loader.load(empty).latent_dim, 3)

  def test_binary_refuses_to_overwrite(self):
    target = self.copy_export("binary")
    refused = run_export_binary(f"--model_dir={self.model_dir}", f"--export_dir={target}")
    self.assertEqual(refused.returncode, 1, refused.stderr[-2000:])
    self.assertEqual(refused.stderr.strip().splitlines(),
                     [f"zoo-export: error: --export_dir {target}: already exists; pass "
                      "--overwrite to replace it"])
    self.assertEqual(loader.load(target).metadata["training_step"], 2)

  def test_overwrite_with_an_older_checkpoint(self):
    target = self.copy_export("overwritten")
    older = os.path.join(self.model_dir, "checkpoints", "ckpt-1")
    saved_model_export.export_model_dir(self.model_dir, target, checkpoint=older,
                                        overwrite=True, log_fn=lambda line: None)
    exported = loader.load(target)
    self.assertEqual(exported.metadata["training_step"], 1)
    self.assertEqual(exported.metadata["checkpoint"], "ckpt-1")
    # train_results.json holds the losses of step 2, not of this checkpoint.
    self.assertIsNone(exported.metadata["final_losses"])
    with open(os.path.join(target, model_card.CARD_FILE)) as f:
      self.assertIn("| training steps | 1 (checkpoint ckpt-1) |\n| seed | 0 |\n"
                    "| final losses | not recorded", f.read())
    self.assertEqual(leftovers(self.get_temp_dir()), [])
    # Step 1 and step 2 weights differ, so the replaced export encodes differently.
    x = np.random.RandomState(4).rand(5, 8).astype(np.float32)
    self.assertGreater(np.abs(exported.encode(x)["mean"] -
                              loader.load(self.export_dir).encode(x)["mean"]).max(), 1e-6)

  def test_library_errors_for_bad_model_dirs(self):
    target = os.path.join(self.get_temp_dir(), "never")
    with self.assertRaisesRegex(FileNotFoundError, "no run_config.json or operative_config.gin"):
      saved_model_export.export_model_dir(self.root, target, log_fn=lambda line: None)
    with self.assertRaisesRegex(FileNotFoundError, "--checkpoint .*ckpt-99: no such checkpoint"):
      saved_model_export.export_model_dir(
          self.model_dir, target, checkpoint=os.path.join(self.model_dir, "checkpoints",
                                                          "ckpt-99"), log_fn=lambda line: None)
    other_family = tf.train.latest_checkpoint(
        os.path.join(RUNS["factorized"]["model_dir"], "checkpoints"))
    with self.assertRaisesRegex(ValueError, "ckpt-2: does not match the model configured in .*"
                                "incompatible tensor with shape"):
      saved_model_export.export_model_dir(self.model_dir, target, checkpoint=other_family,
                                          log_fn=lambda line: None)
    self.assertFalse(os.path.exists(target))


def encode_outputs_equal(test, outputs, expected, family):
  """Serving outputs against loader's encode: the deterministic ones equal, `sample` shaped."""
  scale = "stddev" if family == "factorized" else "scale_tril"
  test.assertCountEqual(outputs, ["mean", "sample", scale])
  test.assertAllClose(np.asarray(outputs["mean"]), expected["mean"], rtol=1e-6, atol=1e-6)
  test.assertAllClose(np.asarray(outputs[scale]), expected[scale], rtol=1e-6, atol=1e-6)
  test.assertEqual(np.asarray(outputs["sample"]).shape, expected["sample"].shape)


class ServingTest(tf.test.TestCase):
  """The signatures serving tools call without being told one: `serving_default` and `serve`."""

  def test_tfsmlayer_with_its_default_endpoint_is_encode(self):
    for family, run in RUNS.items():
      with self.subTest(family=family):
        images = run["data"].sample_observations(6, np.random.RandomState(5))
        layer = keras.layers.TFSMLayer(run["export_dir"])  # call_endpoint="serve"
        encode_outputs_equal(self, layer(images), run["exported"].encode(images), family)
        # The Keras layer in a Keras model, as a user would put it.
        inputs = keras.Input(run["data"].observation_shape)
        codes = keras.Model(inputs, layer(inputs)["mean"])
        self.assertAllClose(codes.predict(images, verbose=0),
                            run["model"].posterior(tf.constant(images), training=False).mean(),
                            rtol=RTOL, atol=ATOL)

  def test_saved_model_cli_runs_serving_default(self):
    run = RUNS["correlated_noise"]  # images in, a full scale_tril out
    root = self.get_temp_dir()
    images = run["data"].sample_observations(4, np.random.RandomState(6))
    np.save(os.path.join(root, "images.npy"), images)
    outdir = os.path.join(root, "outputs")
    cli_path = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = subprocess.run(
        [cli_path, "run", "--dir", run["export_dir"], "--tag_set", "serve",
         "--signature_def", "serving_default", "--inputs",
         f"images={os.path.join(root, 'images.npy')}", "--outdir", outdir],
        capture_output=True, text=True, timeout=300)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    outputs = {name[:-len(".npy")]: np.load(os.path.join(outdir, name), allow_pickle=False)
               for name in os.listdir(outdir)}
    encode_outputs_equal(self, outputs, run["exported"].encode(images), "correlated_noise")


def python_blocks(card):
  return re.findall(r"```python\n(.*?)```", card, re.S)


class ModelCardTest(tf.test.TestCase):

  def test_the_card_is_generated_from_the_metadata_and_the_signatures(self):
    for family, run in RUNS.items():
      with self.subTest(family=family):
        with open(os.path.join(run["export_dir"], model_card.CARD_FILE)) as f:
          card = f.read()
        exported = run["exported"]
        metadata = exported.metadata
        self.assertEqual(card, model_card.render(metadata, exported.signature_shapes()))
        # What the card says, written out independently of render().
        d, shape = 3, ", ".join(str(n) for n in metadata["observation_shape"])
        encoder = "conv64" if family == "correlated_noise" else "mlp"
        scale = (f"`stddev` float32 [batch, {d}]" if family == "factorized"
                 else f"`scale_tril` float32 [batch, {d}, {d}]")
        for line in [
            f"# beta_vae with a {family} posterior, trained on {metadata['dataset']}",
            f"| encoder | {encoder} |",
            f"| latent dimensions | {d} (prior: normal) |",
            f"| data set | {metadata['dataset']}, observations float32 [{shape}] |",
            "| training steps | 2 (checkpoint ckpt-2) |",
            "| seed | 0 |",
        ]:
          self.assertIn(line + "\n", card)
        losses = metadata["final_losses"]
        self.assertIn(f"loss {losses['loss']:.4g}, ", card)
        self.assertIn(f"kl_per_latent [{losses['kl_per_latent.0']:.4g}, ", card)
        images = f"`images` float32 [batch, {shape}]"
        encoded = (f"`mean` float32 [batch, {d}]<br>`sample` float32 [batch, {d}]<br>"
                   f"{scale}")
        for name in ("encode", "serving_default", "serve"):
          self.assertIn(f"| `{name}` | {images} | {encoded} | ", card)
        self.assertIn(f"| `reconstruct` | {images} | ", card)
        self.assertIn(f"| `decode` | `z` float32 [batch, {d}] |", card)
        self.assertIn(f"```\n{metadata['gin_config']}```\n", card)

  def test_the_cards_loading_code_runs(self):
    # The card's Python snippets, pointed at the export, give encode's outputs.
    run = RUNS["factorized"]
    with open(os.path.join(run["export_dir"], model_card.CARD_FILE)) as f:
      blocks = [block.replace(model_card.PLACEHOLDER, run["export_dir"])
                for block in python_blocks(f.read())]
    self.assertLen(blocks, 3)  # TensorFlow alone, Keras, the zoo's loader
    expected = run["exported"].encode(np.zeros((2, 8), np.float32))["mean"]
    scope = {}
    for block in blocks:
      exec(block, scope)  # pylint: disable=exec-used
      self.assertAllClose(np.asarray(scope["codes"]), expected, rtol=1e-6, atol=1e-6)
      del scope["codes"]


class _ExportModuleBeforeServing(saved_model_export.ExportModule):
  """ExportModule as zoo-export wrote it before `serving_default`, `serve` and the card: four
  signatures, and the Keras variables tracked rather than the tf.Variables inside them."""

  def __init__(self, model):
    super().__init__(model)
    del self.serve
    self.model_variables = list(model.export_variables())

  def signatures(self):
    return {name: getattr(self, name) for name in loader.SIGNATURES}


class OldExportTest(tf.test.TestCase):

  def test_an_export_without_serving_signatures_or_card_loads_and_evaluates(self):
    run = RUNS["full_covariance"]
    old = os.path.join(self.get_temp_dir(), "old_export")
    gin.clear_config()
    try:
      trained = checkpoints.restore_run(run["model_dir"], log_fn=lambda line: None)
      module = _ExportModuleBeforeServing(trained.model)
      metadata = saved_model_export.export_metadata(trained, module)
    finally:
      gin.clear_config()
    for key in ("encoder", "seed", "final_losses"):  # added with the card
      del metadata[key]
    saved_model_export.write_export(module, metadata, old, log_fn=lambda line: None)
    os.remove(os.path.join(old, model_card.CARD_FILE))
    raw = tf.saved_model.load(old)
    self.assertCountEqual(raw.signatures, loader.SIGNATURES)

    exported = loader.load(old)
    images = run["data"].sample_observations(5, np.random.RandomState(7))
    self.assertAllClose(exported.encode(images)["scale_tril"],
                        run["exported"].encode(images)["scale_tril"], rtol=1e-6, atol=1e-6)
    card = model_card.render(exported.metadata, exported.signature_shapes())
    self.assertIn("| seed | not recorded |", card)
    self.assertNotIn("serving_default", card)
    self.assertIn('model.signatures["encode"](images=', card)
    results = {}
    for name, export_dir in (("old", old), ("new", run["export_dir"])):
      results[name] = evaluate.run_evaluation(
          os.path.join(self.get_temp_dir(), f"evaluation_{name}"), metrics="mig",
          saved_model=export_dir, settings={"mig": {"num_train": 300}},
          log_fn=lambda line: None)
    self.assertGreater(results["old"]["mig.discrete_mig"], 0.0)
    self.assertEqual(results["old"]["mig.discrete_mig"], results["new"]["mig.discrete_mig"])


if __name__ == "__main__":
  tf.test.main()
