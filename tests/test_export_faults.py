"""Exports and evaluation facing bad input: tampered metadata, unwritable targets, killed exports.

Every case ends in one line naming the input and what was expected, exit status 1 from the
binaries, and no output file.
"""
import json
import os
import shutil
import subprocess
import sys

import gin
import tensorflow as tf

from common import cli
from evaluation import evaluate
from evaluation import trained_model
from export import loader
from export import saved_model_export
from zoo import training
from zoo.training import checkpoints
from gin_edge import configurables  # noqa: F401  (registers every gin configurable)
from gin_edge import evaluation as gin_evaluation
from gin_edge import training as gin_training
from processes import make_read_only
from tiny_mlp import TINY_RUN_BINDINGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINDINGS = TINY_RUN_BINDINGS + ["training.num_steps = 4", "training.checkpoint_every = 2"]


def train_and_export(root, family):
  model_dir = os.path.join(root, f"{family}_run")
  gin.clear_config()
  cli.parse_gin([], BINDINGS + [f"posterior.name = '{family}'"])
  gin_training.train(model_dir, log_fn=lambda line: None)
  gin.clear_config()
  export_dir = os.path.join(root, f"{family}_export")
  saved_model_export.export_model_dir(model_dir, export_dir, log_fn=lambda line: None)
  gin.clear_config()
  return model_dir, export_dir


def run_module(module, *args):
  return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                        timeout=300, cwd=REPO)


def error_line(test, result, program):
  """The last stderr line, after checking that it is the only error and the status is 1."""
  test.assertEqual(result.returncode, 1, result.stderr[-3000:])
  test.assertNotIn("Traceback", result.stderr)
  lines = result.stderr.strip().splitlines()
  test.assertTrue(lines and lines[-1].startswith(f"{program}: error: "), result.stderr[-3000:])
  return lines[-1][len(f"{program}: error: "):]


class ExportFaultsTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = os.path.join(tf.compat.v1.test.get_temp_dir(), "export_faults")
    cls.model_dir, cls.export_dir = train_and_export(cls.root, "factorized")
    _, cls.correlated_export = train_and_export(cls.root, "correlated_noise")

  def tampered(self, source, name, **changes):
    copy = os.path.join(self.root, name)
    shutil.copytree(source, copy)
    path = loader.metadata_path(copy)
    with open(path) as f:
      metadata = json.load(f)
    metadata.update(changes)
    with open(path, "w") as f:
      json.dump(metadata, f)
    return copy

  def test_metadata_that_does_not_describe_the_export_is_refused(self):
    cases = {
        "latent_dim": (self.export_dir, dict(latent_dim=10),
                       r"latent_dim 10 \(the signatures have 3\)"),
        "family and scale": (self.export_dir, dict(posterior_family="full_covariance"),
                             "posterior_family 'full_covariance' with posterior_scale 'stddev'"),
        # Both families export scale_tril: only the SavedModel's own copy tells them apart.
        "family": (self.correlated_export, dict(posterior_family="full_covariance"),
                   r"posterior_family 'full_covariance' \(the SavedModel's copy says "
                   r"'correlated_noise'\)"),
        "model": (self.export_dir, dict(model="beta_tcvae"), "model 'beta_tcvae'"),
        "decoder output": (self.export_dir, dict(decoder_output="logits"),
                           r"decoder_output 'logits' \(the signatures have 'mean'\)"),
        "a word for a number": (self.export_dir, dict(latent_dim="ten"),
                                "latent_dim 'ten', expected a positive integer"),
        "gin config": (self.export_dir, dict(gin_config="model.name = = 3"),
                       r"gin_config \(differs from the SavedModel's copy\)"),
    }
    for what, (source, changes, message) in cases.items():
      with self.subTest(what):
        copy = self.tampered(source, what.replace(" ", "_"), **changes)
        with self.assertRaisesRegex(ValueError, rf"metadata.json: .*{message}"):
          loader.load(copy)
    loader.load(self.export_dir)  # the untouched export still loads

  def test_an_export_with_truncated_variables_is_one_line_everywhere(self):
    copy = os.path.join(self.root, "truncated_variables")
    shutil.copytree(self.export_dir, copy)
    data = [os.path.join(copy, "variables", name)
            for name in os.listdir(os.path.join(copy, "variables")) if ".data-" in name][0]
    os.truncate(data, os.path.getsize(data) // 2)
    with self.assertRaisesRegex(ValueError, rf"^export_dir {copy}: TensorFlow could not load "
                                            r"the SavedModel \(.*Read less bytes"):
      loader.load(copy)
    # What zoo-evaluate and zoo-visualize load it with: a ValueError, which the binaries print
    # as one line.
    output = os.path.join(self.root, "truncated_variables_evaluation")
    gin.clear_config()
    with self.assertRaisesRegex(ValueError, rf"^export_dir {copy}: .*Read less bytes"):
      evaluate.run_evaluation(output, "mig", saved_model=copy, log_fn=lambda line: None)
    with self.assertRaisesRegex(ValueError, rf"^export_dir {copy}: .*Read less bytes"):
      trained_model.load(saved_model=copy)
    gin.clear_config()
    self.assertFalse(os.path.exists(output))

  def test_a_metric_given_twice_is_refused(self):
    with self.assertRaisesRegex(ValueError, r"^--metrics 'mig,dci,mig': mig given more than "
                                            "once; expected each metric once$"):
      evaluate.parse_metric_names("mig,dci,mig")

  def test_an_export_whose_own_gin_config_is_broken(self):
    # Written broken (both copies agree), as an export of an older run with a broken operative
    # config would be: evaluation names the export and the problem in one line.
    gin.clear_config()
    restored = checkpoints.restore_run(self.model_dir, log_fn=lambda line: None)
    module = saved_model_export.ExportModule(restored.model)
    metadata = saved_model_export.export_metadata(restored, module)
    metadata["gin_config"] = "model.name = = 'beta_vae'"
    del metadata["run_config"]  # as exports made before they recorded one: the gin config counts
    target = os.path.join(self.root, "broken_gin_config")
    saved_model_export.write_export(module, metadata, target, log_fn=lambda line: None)
    gin.clear_config()
    with self.assertRaisesRegex(ValueError, rf"^--saved_model {target}: the gin_config in its "
                                            r"metadata does not parse \("):
      trained_model.from_export(target)
    gin.clear_config()

  def test_evaluating_a_tampered_export_fails_without_results(self):
    copy = self.tampered(self.export_dir, "evaluate_tampered", latent_dim=10)
    output = os.path.join(self.root, "tampered_evaluation")
    result = run_module("binaries.evaluate_main", f"--saved_model={copy}",
                        f"--output_dir={output}", "--metrics=mig")
    self.assertRegex(error_line(self, result, "zoo-evaluate"), r"latent_dim 10 \(the signatures")
    self.assertFalse(os.path.exists(output))

  def test_unwritable_output_dirs_are_refused_before_any_metric(self):
    a_file = os.path.join(self.root, "a_file")
    with open(a_file, "w") as f:
      f.write("x\n")
    read_only = os.path.join(self.root, "read_only_output")
    os.makedirs(read_only)
    cases = {"binaries.evaluate_main": [("zoo-evaluate", a_file,
                                           "exists and is not a directory")],
             "binaries.visualize_main": [("zoo-visualize", os.path.join(a_file, "pictures"),
                                            f"lies under {a_file}")]}
    if make_read_only(self, read_only):
      cases["binaries.evaluate_main"].append(("zoo-evaluate", read_only, "is not writable"))
    for module, targets in cases.items():
      for program, output, problem in targets:
        with self.subTest(f"{program} {problem}"):
          result = run_module(module, f"--saved_model={self.export_dir}",
                              f"--output_dir={output}")
          self.assertTrue(error_line(self, result, program).startswith(
              f"--output_dir {output}: {problem}"), result.stderr[-500:])
          self.assertNotIn("[zoo-evaluate] mig", result.stdout)  # nothing was computed

  def test_metric_settings_and_seeds_are_named_as_the_user_wrote_them(self):
    output = os.path.join(self.root, "settings_evaluation")
    result = run_module("binaries.evaluate_main", f"--saved_model={self.export_dir}",
                        f"--output_dir={output}", "--metrics=mig,mi_measures",
                        "--gin_bindings=mig.num_bins = 0")
    self.assertEqual(error_line(self, result, "zoo-evaluate"),
                     "mig.num_bins=0: expected a positive integer")
    self.assertFalse(os.path.exists(output))
    gin.clear_config()
    with self.assertRaisesRegex(ValueError, r"^mi_measures.num_points=1: expected an integer "
                                            r">= 2$"):
      gin_evaluation.run_evaluation(output, "mi_measures", saved_model=self.export_dir,
                                    gin_bindings=["mi_measures.num_points = 1"],
                                    log_fn=lambda line: None)
    with self.assertRaisesRegex(ValueError, r"^mi_measures.num_points=1: expected an integer "
                                            r">= 2$"):
      evaluate.run_evaluation(output, "mi_measures", saved_model=self.export_dir,
                              settings={"mi_measures": {"num_points": 1}},
                              log_fn=lambda line: None)
    with self.assertRaisesRegex(ValueError, r"^--seed=-1: expected an integer in \[0, "):
      evaluate.run_evaluation(output, "mig", saved_model=self.export_dir, seed=-1)
    gin.clear_config()
    self.assertFalse(os.path.exists(output))

  def test_export_targets_that_cannot_be_written(self):
    read_only = os.path.join(self.root, "read_only_parent")
    os.makedirs(read_only)
    if not make_read_only(self, read_only):
      self.skipTest("root without the right to mount: no read-only directory to export into")
    target = os.path.join(read_only, "export")
    result = run_module("binaries.export_main", f"--model_dir={self.model_dir}",
                        f"--export_dir={target}")
    self.assertEqual(error_line(self, result, "zoo-export"),
                     f"--export_dir {target}: cannot write into {read_only}")

  def test_a_killed_exports_staging_directory_is_removed_by_the_next_export(self):
    target = os.path.join(self.root, "after_a_kill")
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True)
    dead_pid = int(finished.stdout)  # a process that has ended
    stale = os.path.join(self.root, f".after_a_kill.export-tmp-{dead_pid}-abcd")
    alive = os.path.join(self.root, f".after_a_kill.export-tmp-{os.getpid()}-efgh")
    for path in (stale, alive):
      os.makedirs(os.path.join(path, "saved_model"))
    lines = []
    saved_model_export.export_model_dir(self.model_dir, target, log_fn=lines.append)
    gin.clear_config()
    self.assertFalse(os.path.exists(stale))
    self.assertTrue(os.path.exists(alive))  # a running export's staging stays
    self.assertTrue(any(f"removed {stale}" in line for line in lines), lines)
    self.assertEqual(loader.load(target).metadata["training_step"], 4)


if __name__ == "__main__":
  tf.test.main()
