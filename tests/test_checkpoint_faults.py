"""Damaged checkpoints: training, export and evaluation fall back to the newest intact one.

A run is trained to step 200 with a checkpoint every 50 (mlp encoder, linear_gaussian, batch
16), then its newest checkpoint is damaged in every way a crash or a disk can damage it, and
the run is resumed to step 250. It must resume from step 150, say which checkpoint it skipped
and why, never delete or overwrite anything newer than step 150, and end bitwise equal to the
run that was never damaged.
"""
import glob
import json
import os
import shutil
import subprocess
import sys
from unittest import mock

import gin
import numpy as np
import tensorflow as tf

from common import cli
from export import saved_model_export
from zoo import training
from zoo.training import checkpoints
from gin_edge import configurables  # noqa: F401  (registers every gin configurable)
from gin_edge import training as gin_training
from tiny_mlp import TINY_RUN_BINDINGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINDINGS = TINY_RUN_BINDINGS + ["training.checkpoint_every = 50", "training.log_every = 50"]


def train(model_dir, num_steps, lines=None):
  gin.clear_config()
  cli.parse_gin([], BINDINGS + [f"training.num_steps = {num_steps}"])
  try:
    return gin_training.train(model_dir, log_fn=(lines.append if lines is not None
                                             else lambda line: None))
  finally:
    gin.clear_config()


def variables(path):
  """Every variable of a checkpoint by name (the model's and the optimizers').

  Left out: the save counter, and the object graph, which names objects after the process's
  own counters (`adam_8`).
  """
  reader = tf.train.load_checkpoint(path)
  return {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
          if "save_counter" not in name and name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def data_file(path):
  return glob.glob(path + ".data-*")[0]


def truncate(path):
  os.truncate(path, os.path.getsize(path) // 2)


def scribble(path):
  with open(path, "r+b") as f:
    f.seek(os.path.getsize(path) // 3)
    f.write(b"\xa5" * 64)


def snapshot(directory):
  """{relative path: (size, mtime)} of every file below directory."""
  found = {}
  for root, _, files in os.walk(directory):
    for name in files:
      path = os.path.join(root, name)
      found[os.path.relpath(path, directory)] = (os.path.getsize(path),
                                                 os.stat(path).st_mtime_ns)
  return found


class DamagedCheckpointTest(tf.test.TestCase):

  @classmethod
  def setUpClass(cls):
    super().setUpClass()
    cls.root = os.path.join(tf.compat.v1.test.get_temp_dir(), "checkpoint_faults")
    cls.pristine = os.path.join(cls.root, "pristine")
    train(cls.pristine, 200)
    cls.reference = os.path.join(cls.root, "reference")
    shutil.copytree(cls.pristine, cls.reference)
    train(cls.reference, 250)

  def damaged_copy(self, name, damage):
    model_dir = os.path.join(self.root, name)
    shutil.copytree(self.pristine, model_dir)
    newest = checkpoints.checkpoint_path(checkpoints.checkpoint_dir(model_dir), 200)
    damage(newest)
    return model_dir, newest

  def test_every_kind_of_damage_falls_back_to_the_newest_intact_checkpoint(self):
    cases = {
        "deleted index": (lambda p: os.remove(p + ".index"), None),
        "truncated index": (lambda p: truncate(p + ".index"), "not an sstable"),
        "corrupted index": (lambda p: scribble(p + ".index"), ""),
        "deleted data": (lambda p: os.remove(data_file(p)), "No such file"),
        "truncated data": (lambda p: truncate(data_file(p)), "Read less bytes"),
        "corrupted data": (lambda p: scribble(data_file(p)), "Checksum does not match"),
    }
    expected = variables(checkpoints.checkpoint_path(
        checkpoints.checkpoint_dir(self.reference), 250))
    for what, (damage, reason) in cases.items():
      with self.subTest(what):
        model_dir, newest = self.damaged_copy(what.replace(" ", "_"), damage)
        directory = checkpoints.checkpoint_dir(model_dir)
        older = {step: variables(path) for step, path in checkpoints.list_checkpoints(directory)
                 if step < 200}
        damaged_files = {os.path.basename(p): open(p, "rb").read()
                         for p in checkpoints.checkpoint_files(newest)}
        lines = []
        results = train(model_dir, 250, lines)
        self.assertEqual(results["start_step"], 150)
        self.assertEqual(results["final_step"], 250)
        self.assertTrue(any("resuming from" in line and "ckpt-150" in line for line in lines),
                        lines)
        if reason is not None:  # a checkpoint without an index is not one: nothing to skip
          skipped = [line for line in lines if line.startswith("[zoo-train] skipping")]
          self.assertLen(skipped, 1)
          self.assertIn("ckpt-200", skipped[0])
          self.assertIn(reason, skipped[0])
        # The damaged files are kept, unchanged, out of the way of the new ckpt-200.
        moved = os.path.join(directory, checkpoints.DAMAGED)
        for name, content in damaged_files.items():
          with open(os.path.join(moved, name), "rb") as f:
            self.assertEqual(f.read(), content, name)
        # Resumed from 150, the run ends where the undamaged run ended, bit for bit.
        final = variables(checkpoints.checkpoint_path(directory, 250))
        self.assertEqual(sorted(final), sorted(expected))
        for name in expected:
          self.assertAllEqual(final[name], expected[name], msg=name)
        # Older checkpoints were not rewritten (the newest 3 are kept: 150, 200, 250).
        steps = [step for step, _ in checkpoints.list_checkpoints(directory)]
        self.assertEqual(steps, [150, 200, 250])
        for name, value in older[150].items():
          self.assertAllEqual(variables(checkpoints.checkpoint_path(directory, 150))[name],
                              value)
        self.assertEqual(tf.train.latest_checkpoint(directory),
                         checkpoints.checkpoint_path(directory, 250))

  def test_a_garbage_state_file_is_ignored(self):
    model_dir, _ = self.damaged_copy("garbage_state", lambda p: None)
    state = os.path.join(checkpoints.checkpoint_dir(model_dir), checkpoints.STATE_FILE)
    with open(state, "w") as f:
      f.write("\x00 garbage {{{")
    results = train(model_dir, 250)
    self.assertEqual(results["start_step"], 200)
    self.assertEqual(tf.train.latest_checkpoint(checkpoints.checkpoint_dir(model_dir)),
                     checkpoints.checkpoint_path(checkpoints.checkpoint_dir(model_dir), 250))

  def test_when_no_checkpoint_is_intact_nothing_is_touched(self):
    model_dir = os.path.join(self.root, "all_damaged")
    shutil.copytree(self.pristine, model_dir)
    for _, path in checkpoints.list_checkpoints(checkpoints.checkpoint_dir(model_dir)):
      truncate(data_file(path))
    before = snapshot(model_dir)
    command = [sys.executable, "-m", "binaries.train_main", f"--model_dir={model_dir}"]
    command += [f"--gin_bindings={b}" for b in BINDINGS + ["training.num_steps = 250"]]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=REPO)
    self.assertEqual(result.returncode, 1, result.stderr)
    last = result.stderr.strip().splitlines()[-1]
    self.assertRegex(last, r"^zoo-train: error: .*checkpoints: none of its 3 checkpoints reads "
                           r"back intact")
    self.assertNotIn("Traceback", result.stderr)
    after = snapshot(model_dir)
    after.pop(os.path.join(checkpoints.CHECKPOINTS, training.LOCK_FILE))
    before.pop(os.path.join(checkpoints.CHECKPOINTS, training.LOCK_FILE))
    self.assertEqual(after, before)

  def test_export_and_evaluation_skip_a_damaged_newest_checkpoint(self):
    model_dir, newest = self.damaged_copy("export_fallback", lambda p: truncate(data_file(p)))
    lines = []
    gin.clear_config()
    metadata = saved_model_export.export_model_dir(model_dir, os.path.join(self.root, "export"),
                                                   log_fn=lines.append)
    gin.clear_config()
    self.assertEqual(metadata["training_step"], 150)
    self.assertEqual(metadata["checkpoint"], "ckpt-150")
    self.assertTrue(any(line.startswith("[zoo-export] skipping checkpoint")
                        and newest in line for line in lines), lines)
    # An explicitly named damaged checkpoint is an error, not a fallback.
    with self.assertRaisesRegex(ValueError, r"--checkpoint .*ckpt-200: damaged \(Read less"):
      saved_model_export.export_model_dir(model_dir, os.path.join(self.root, "export2"),
                                          checkpoint=newest, log_fn=lines.append)
    gin.clear_config()
    output = os.path.join(self.root, "evaluation")
    result = subprocess.run(
        [sys.executable, "-m", "binaries.evaluate_main", f"--model_dir={model_dir}",
         f"--output_dir={output}", "--metrics=mig", "--gin_bindings=mig.num_train = 100"],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    self.assertEqual(result.returncode, 0, result.stderr[-2000:])
    self.assertIn("skipping checkpoint", result.stdout)
    with open(os.path.join(output, "results.json")) as f:
      self.assertIn("ckpt-150", json.load(f)["evaluated"])


class RotatedAwayTest(tf.test.TestCase):

  def test_a_checkpoint_rotated_away_while_it_is_read_gives_way_to_the_newest(self):
    model_dir = os.path.join(tf.compat.v1.test.get_temp_dir(), "rotated_away")
    train(model_dir, 100)
    directory = checkpoints.checkpoint_dir(model_dir)
    restore = checkpoints.restore
    restored = []

    def rotated_away(restorable, path, *args, **kwargs):
      if not restored:  # a running trainer's rotation deletes the checkpoint just chosen
        for name in checkpoints.checkpoint_files(path):
          os.remove(name)
      restored.append(os.path.basename(path))
      return restore(restorable, path, *args, **kwargs)

    lines = []
    gin.clear_config()
    with mock.patch.object(checkpoints, "restore", rotated_away):
      metadata = saved_model_export.export_model_dir(
          model_dir, os.path.join(model_dir, "..", "rotated_away_export"), log_fn=lines.append)
    gin.clear_config()
    self.assertEqual(restored, ["ckpt-100", "ckpt-50"])
    self.assertEqual(metadata["training_step"], 50)
    self.assertIn(f"[zoo-export] checkpoint {checkpoints.checkpoint_path(directory, 100)}: "
                  "deleted while it was read; taking the newest checkpoint again", lines)
    self.assertFalse(any("--checkpoint" in line for line in lines), lines)


class CheckpointWriterTest(tf.test.TestCase):

  def test_keeps_the_newest_and_never_deletes_what_it_did_not_resume_past(self):
    directory = os.path.join(self.get_temp_dir(), "checkpoints")
    variable = tf.Variable(np.zeros(3, np.float32))
    restorable = tf.train.Checkpoint(v=variable)
    writer = checkpoints.CheckpointWriter(restorable, directory, max_to_keep=2)
    for step in (10, 20, 30):
      variable.assign(np.full(3, step, np.float32))
      writer.save(step, log_fn=lambda line: None)
    self.assertEqual([s for s, _ in checkpoints.list_checkpoints(directory)], [20, 30])
    # A damaged checkpoint at 50 that a run resuming from 30 must leave alone.
    with open(checkpoints.checkpoint_path(directory, 50) + ".index", "wb") as f:
      f.write(b"damaged")
    stale = os.path.join(directory, ".ckpt-40.tmp-123")
    os.makedirs(stale + "_temp")
    resumed = checkpoints.CheckpointWriter(restorable, directory, max_to_keep=2, resumed_step=30)
    self.assertFalse(os.path.exists(stale + "_temp"))  # a killed writer's leftovers go
    resumed.save(40, log_fn=lambda line: None)
    self.assertEqual([s for s, _ in checkpoints.list_checkpoints(directory)], [30, 40, 50])
    with open(os.path.join(directory, checkpoints.STATE_FILE)) as f:
      self.assertEqual(f.read(), 'model_checkpoint_path: "ckpt-40"\n'
                                 'all_model_checkpoint_paths: "ckpt-30"\n'
                                 'all_model_checkpoint_paths: "ckpt-40"\n')
    self.assertAllEqual(variables(checkpoints.checkpoint_path(directory, 40))["v/.ATTRIBUTES/"
                                                                              "VARIABLE_VALUE"],
                        [30, 30, 30])


if __name__ == "__main__":
  tf.test.main()
