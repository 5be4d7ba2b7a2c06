"""Every documented setting takes effect, under the name the documentation gives it.

* Each flag a README command passes to a binary is one that binary defines, and each flag the
  prose names is defined by some binary.
* Each `configurable.parameter` the README and the docs name is accepted by gin, and the
  metric table's names are those `--metrics` and gin accept.
* Each documented MI-measure binding and each picture binding or flag changes what is written.
"""
import json
import os
import re

import gin
import numpy as np
import tensorflow as tf

from common import cli
from evaluation import evaluate
from evaluation import metrics as metric_catalog
from evaluation.metrics import registry as metric_registry
from evaluation import trained_model
from evaluation.pictures import make_pictures
from zoo import data as zoo_data
import studies.spec  # noqa: F401  (registers `study`)
from gin_edge import configurables  # noqa: F401  (registers every gin configurable)
from gin_edge import evaluation as gin_evaluation
from gin_edge import training as gin_training
from identity_factors import IdentityFactorsData

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ("README.md", "docs/MI_MEASURES.md", "docs/INFOGAN.md", "docs/ARCHITECTURE.md")
# `pictures.json` is a file, not the `json` setting of `pictures`.
FILE_EXTENSIONS = ("json", "csv", "gin", "md", "png", "gif", "py", "npz", "h5", "log", "pb")


def read(name):
  with open(os.path.join(REPO, name), encoding="utf-8") as f:
    return f.read()


def module_flags(module):
  source = read(module.replace(".", os.sep) + ".py")
  return set(re.findall(r'flags\.DEFINE_\w+\(\s*"(\w+)"', source))


def binary_flags():
  """{console script name: set of flags its module defines}, from setup.py and the sources;
  zoo-study's subcommands as `zoo-study SUBCOMMAND`, each with its module's flags."""
  scripts = dict(re.findall(r'"(zoo-[a-z]+)=([\w.]+):run"', read("setup.py")))
  flags = {script: module_flags(module) for script, module in scripts.items()
           if script != "zoo-study"}
  subcommands = re.findall(r'"(\w+)": "(binaries\.study_\w+)"', read("binaries/study_main.py"))
  for subcommand, module in subcommands:
    flags[f"zoo-study {subcommand}"] = module_flags(module)
  return flags


def retired_flags():
  """The flags that moved to a subcommand or another tool: zoo-study's old modes, zoo-evaluate's
  --udr."""
  names = re.findall(r'"--(\w+)": "\w+"', read("binaries/study_main.py"))
  names += re.findall(r'"--(\w+)": "zoo-', read("binaries/evaluate_main.py"))
  return set(names)


def readme_commands(text):
  """(binary, [flags]) for every `.venv/bin/zoo-*` command in the README's code blocks (a
  zoo-study command as `zoo-study SUBCOMMAND`)."""
  commands = []
  for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
    for command in re.split(r"(?<!\\)\n", block):
      match = re.match(r"\s*\.venv/bin/(zoo-study [a-z]+|zoo-[a-z]+)(.*)",
                       command.replace("\\\n", " "), re.S)
      if match:
        commands.append((match.group(1), re.findall(r"--(\w+)", match.group(2))))
  return commands


class DocumentedNamesTest(tf.test.TestCase):

  def test_readme_flags_are_the_binaries_flags(self):
    flags = binary_flags()
    self.assertEqual(set(flags), {"zoo-train", "zoo-export", "zoo-evaluate", "zoo-visualize",
                                  "zoo-udr", "zoo-data", "zoo-study run", "zoo-study commands",
                                  "zoo-study aggregate", "zoo-study reevaluate",
                                  "zoo-study udr"})
    text = read("README.md")
    commands = readme_commands(text)
    self.assertGreater(len(commands), 8)
    for binary, used in commands:
      self.assertIn(binary, flags, f"README runs {binary}")
      for flag in used:
        self.assertIn(flag, flags[binary], f"README runs {binary} --{flag}")
    every_flag = set().union(*flags.values())
    # absl's own help flags, and the spellings that moved, which the README names as refused
    # (tests/test_cli.py checks that each is refused with a line naming its new spelling).
    every_flag |= {"help", "helpfull"} | retired_flags()
    # The prose, without the code blocks (their zoo-* commands are checked above; other tools'
    # commands there, such as `ray start --head`, have their own flags).
    prose = re.sub(r"```[a-z]*\n.*?```", "", text, flags=re.S)
    for flag in re.findall(r"`[^`]*?--(\w+)", prose):
      self.assertIn(flag, every_flag, f"README names --{flag}")

  def test_documented_gin_names_are_accepted(self):
    checked = 0
    for name in DOCS:
      for configurable, parameter in sorted(set(re.findall(r"`([A-Za-z]\w*)\.([A-Za-z]\w*)", read(name)))):
        if parameter in FILE_EXTENSIONS:
          continue
        gin.clear_config()
        try:
          gin.parse_config(f"{configurable}.{parameter} = None")
        except ValueError as e:
          # Dotted words that are no configurable at all (file names, module paths) pass.
          if "No configurable matching" in str(e):
            continue
          self.fail(f"{name} names {configurable}.{parameter}: {e}")
        checked += 1
    gin.clear_config()
    self.assertGreater(checked, 25)  # 29 when written: the regex does find the names

  def test_metric_table_names_are_what_metrics_and_gin_accept(self):
    table = read("README.md").split("| `--metrics` name | gin settings |")[1].split("\n\n")[0]
    rows = re.findall(r"^\| `(\w+)` \| `(\w+)` \|", table, re.M)
    self.assertEqual(sorted(name for name, _ in rows), sorted(metric_registry.REGISTRY))
    for name, gin_name in rows:
      self.assertEqual(evaluate.parse_metric_names(name), [name])
      self.assertEqual(metric_catalog.gin_name(name), gin_name)
      settings = evaluate.metric_settings(name, metric_registry.REGISTRY[name])
      setting, value = next(iter(settings.items()))
      gin.parse_config(f"{gin_name}.{setting} = {value!r}")  # gin knows the name
      self.assertEqual(gin.query_parameter(f"{gin_name}.{setting}"), value)
      gin.clear_config()


class MiMeasureBindingsTest(tf.test.TestCase):

  BASE = ["mi_measures.num_points = 120", "mi_measures.num_samples = 2",
          "mi_measures.num_conditioning = 3", "mi_measures.num_strata = 8"]

  def evaluate(self, bindings):
    batches = []

    def posterior_fn(x):
      batches.append(len(x))
      x = np.asarray(x, np.float64)
      # Correlated noise, so that conditional and aggregate TC are not zero.
      covariance = np.array([[0.3, 0.1], [0.1, 0.2]])
      return x, np.broadcast_to(covariance, (len(x), 2, 2))

    model = trained_model.TrainedModel(posterior_fn, None, None, 2, (2,), IdentityFactorsData(),
                                       "identity")
    gin_evaluation.parse(gin_bindings=self.BASE + bindings)
    try:
      results = evaluate.evaluate(model, self.get_temp_dir(), ["mi_measures"],
                                  log_fn=lambda line: None,
                                  settings=gin_evaluation.metric_settings(["mi_measures"]))
    finally:
      gin.clear_config()
    return results, batches

  def test_every_documented_binding_changes_the_result(self):
    baseline, batches = self.evaluate([])
    self.assertEqual(set(batches[:-1]), {64})  # the default encoder batch
    numbers = lambda r: {k: v for k, v in r.items() if k.startswith("mi_measures.")
                         and not k.endswith("elapsed_seconds")}
    for binding in ("mi_measures.num_points = 150", "mi_measures.num_samples = 3",
                    "mi_measures.num_conditioning = 4", "mi_measures.num_strata = 16"):
      with self.subTest(binding):
        results, _ = self.evaluate([binding])
        name, value = (part.strip() for part in binding.split("="))
        self.assertEqual(results[f"settings.{name}"], int(value))
        self.assertNotEqual(numbers(results), numbers(baseline))
    results, batches = self.evaluate(["mi_measures.batch_size = 50"])
    self.assertEqual(batches, [50, 50, 20])
    self.assertEqual(numbers(results), numbers(baseline))  # batching changes no number

  def test_the_estimators_own_names_are_rejected(self):
    # The array-level functions take their settings as arguments; only mi_measures.* binds.
    for binding in ("mi_invariance.num_conditioning = 4", "mi_measures_from_posteriors.seed = 1"):
      with self.subTest(binding):
        with self.assertRaisesRegex(cli.UsageError, "No configurable matching"):
          cli.parse_gin([], [binding])
        gin.clear_config()


class PictureBindingsTest(tf.test.TestCase):
  """Each pictures.* binding and each zoo-visualize flag changes a file that is written."""

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.data = zoo_data.get_dataset("dsprites", image_size=32)
    weights = np.random.RandomState(0).normal(size=(32 * 32, 3)) / 32.0

    def posterior_fn(images):
      mean = np.asarray(images, np.float64).reshape(len(images), -1) @ weights
      # Latents of different spread, so that sorting by KL reorders the traversal rows.
      covariance = np.diag([0.05, 0.5, 0.2])
      return mean * [3.0, 1.0, 2.0], np.broadcast_to(covariance, (len(images), 3, 3))

    def decode_mean_fn(codes):
      codes = np.asarray(codes, np.float64)
      grid = np.linspace(-1.0, 1.0, 32)
      images = np.tanh(codes[:, 0, None, None] * grid[None, :, None]
                       + codes[:, 1, None, None] * grid[None, None, :] + codes[:, 2, None, None])
      return (0.5 + 0.5 * images)[..., None].astype(np.float32)

    cls.model = trained_model.TrainedModel(posterior_fn, None, decode_mean_fn, 3, (32, 32, 1),
                                           cls.data, "fake")

  def outputs(self, bindings=(), **flags):
    output_dir = os.path.join(self.get_temp_dir(), "pictures")
    try:
      settings = gin_evaluation.picture_settings(gin_bindings=list(bindings))
      make_pictures.make_pictures(self.model, output_dir, **dict(
          dict(num_traversal_steps=4, num_points=60), **flags), settings=settings,
          log_fn=lambda line: None)
    finally:
      gin.clear_config()
    files = {}
    for name in sorted(os.listdir(output_dir)):
      with open(os.path.join(output_dir, name), "rb") as f:
        files[name] = f.read()
      os.remove(os.path.join(output_dir, name))
    index = json.loads(files.pop("pictures.json"))
    del index["settings"]
    files["index"] = json.dumps(index, sort_keys=True)
    return files

  def test_every_binding_and_flag_changes_the_pictures(self):
    baseline = self.outputs()
    changes = {
        "pictures.num_base_images = 1": [], "pictures.traversal_limit = 1.0": [],
        "pictures.quantile_range = (0.2, 0.8)": [], "pictures.sort_latents = False": [],
        "pictures.num_reconstructions = 8": [], "pictures.pairs_per_row = 2": [],
        "pictures.sample_rows = 2": [], "pictures.sample_cols = 3": [], "pictures.zoom = 2": [],
        "pictures.separator = 2": [], "pictures.gif_frame_ms = 90": [],
        "pictures.mi_num_bins = 5": [], "pictures.mi_num_conditioning = 5": [],
        "pictures.mi_num_samples = 2": [],
    }
    documented = re.findall(r"`(\w+)`", read("README.md").split("a gin binding of `pictures.*`")[1]
                            .split("The binned MI")[0])
    self.assertEqual(sorted(documented),
                     sorted(b.split("=")[0].strip()[len("pictures."):] for b in changes))
    for binding in changes:
      with self.subTest(binding):
        self.assertNotEqual(self.outputs([binding]), baseline)
    for flag, value in (("num_traversal_steps", 5), ("seed", 1), ("num_points", 70)):
      with self.subTest(flag):
        self.assertNotEqual(self.outputs(**{flag: value}), baseline)


if __name__ == "__main__":
  tf.test.main()
