"""Writing under pressure: a full disk, two writers of one target, writers killed mid-write.

The full-disk cases run on a 2 MB tmpfs filled to a few KB free (as root, like the read-only
cases of the other fault suites). Each ends in one line naming the file, exit status 1, no
partial output and the previous output untouched. Two exports, evaluations or visualizations
of one target never both succeed: the second is refused at once, naming the first's pid
(`benchmarks/concurrent_writers.py` runs real races). Hidden temporaries of writers killed
with `kill -9` are removed by the next writer of the same file.
"""
import json
import os
import subprocess
import sys

import gin
import numpy as np
import tensorflow as tf

from common import cli
from common import io_utils
from evaluation import evaluate
from evaluation import trained_model
from evaluation.pictures import make_pictures
from export import loader
from export import saved_model_export
from gin_edge import evaluation as gin_evaluation
from gin_edge import training as gin_training
from zoo.training import checkpoints
from identity_factors import IdentityFactorsData
from processes import fill, small_file_system
from test_export_faults import BINDINGS, error_line, run_module, train_and_export
from tiny_mlp import TINY_RUN_BINDINGS

# Small enough settings that an evaluation takes a second.
METRIC_BINDINGS = ["mig.num_train = 200", "dci.num_train = 200", "dci.num_test = 100"]
# The tiny runs and exports every case writes from, made once for the module.
ROOT = None
MODEL_DIR = EXPORT_DIR = OTHER_MODEL_DIR = None


def setUpModule():  # pylint: disable=invalid-name
  global ROOT, MODEL_DIR, EXPORT_DIR, OTHER_MODEL_DIR
  ROOT = os.path.join(tf.compat.v1.test.get_temp_dir(), "write_faults")
  MODEL_DIR, EXPORT_DIR = train_and_export(ROOT, "factorized")
  OTHER_MODEL_DIR = os.path.join(ROOT, "correlated_noise_run")
  gin.clear_config()
  cli.parse_gin([], BINDINGS + ["posterior.name = 'correlated_noise'"])
  gin_training.train(OTHER_MODEL_DIR, log_fn=lambda line: None)
  gin.clear_config()


def dead_pid():
  """The pid of a process that has ended."""
  finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                            capture_output=True, text=True, check=True)
  return int(finished.stdout)


def identity_model():
  """A model of the identity-factors data set with a fixed linear encoder (no TensorFlow)."""
  weights = np.random.RandomState(0).normal(size=(2, 2))
  return trained_model.TrainedModel(
      lambda x: (np.asarray(x, np.float64) @ weights,
                 np.broadcast_to(np.eye(2) * 0.1, (len(x), 2, 2))),
      None, None, 2, (2,), IdentityFactorsData(), "identity")


def owned_name(prefix, pid, suffix="abcd"):
  """A name as io_utils gives what a process makes: `<prefix><pid>@<host>-<suffix>`."""
  return f"{prefix}{pid}@{io_utils.owner_tag().split('@', 1)[1]}-{suffix}"


class FullDiskTest(tf.test.TestCase):

  def small_disk(self, name):
    path = os.path.join(ROOT, name)
    os.makedirs(path)
    if not small_file_system(self, path):
      self.skipTest("not root, or no right to mount: no small file system to fill")
    return path

  def test_evaluation_prints_its_numbers_and_keeps_the_previous_results(self):
    disk = self.small_disk("evaluation_disk")
    output = os.path.join(disk, "evaluation")
    gin.clear_config()
    gin_evaluation.run_evaluation(output, "mig", saved_model=EXPORT_DIR,
                                  gin_bindings=METRIC_BINDINGS, log_fn=lambda line: None)
    gin.clear_config()
    with open(os.path.join(output, "results.json"), "rb") as f:
      before = f.read()
    fill(disk)
    result = run_module("binaries.evaluate_main", f"--saved_model={EXPORT_DIR}",
                        f"--output_dir={output}", "--metrics=mig,dci",
                        *[f"--gin_bindings={b}" for b in METRIC_BINDINGS])
    self.assertEqual(error_line(self, result, "zoo-evaluate"),
                     f"{output}/results.json: No space left on device; the results printed "
                     "above were not saved")
    # Every number was shown before the write failed.
    self.assertRegex(result.stdout, r"mig\.discrete_mig +\d\.\d{4}")
    self.assertRegex(result.stdout, r"dci\.disentanglement +\d\.\d{4}")
    with open(os.path.join(output, "results.json"), "rb") as f:
      self.assertEqual(f.read(), before)
    self.assertEqual(os.listdir(output), ["results.json"])

  def test_pictures_on_a_full_disk_leave_nothing_behind(self):
    disk = self.small_disk("pictures_disk")
    fill(disk, leave_bytes=16384)
    output = os.path.join(disk, "pictures")
    result = run_module("binaries.visualize_main", f"--saved_model={EXPORT_DIR}",
                        f"--output_dir={output}", "--num_points=200")
    self.assertIn("No space left on device", error_line(self, result, "zoo-visualize"))
    self.assertFalse(os.path.exists(output))
    # Staged beside the target (so nothing is moved across file systems), and removed.
    self.assertEqual([name for name in os.listdir(disk) if "pictures-tmp" in name], [])

  def test_a_checkpoint_on_a_full_disk_keeps_the_last_one(self):
    disk = self.small_disk("checkpoint_disk")
    model_dir = os.path.join(disk, "run")
    bindings = TINY_RUN_BINDINGS + ["training.num_steps = 4", "training.checkpoint_every = 2",
                                    "training.log_every = 2"]
    gin.clear_config()
    cli.parse_gin([], bindings)
    gin_training.train(model_dir, log_fn=lambda line: None)
    gin.clear_config()
    directory = checkpoints.checkpoint_dir(model_dir)
    # Room for the summaries of step 6, not for its checkpoint (about 30 KB).
    fill(disk, leave_bytes=16384)
    result = subprocess.run(
        [sys.executable, "-m", "binaries.train_main", f"--model_dir={model_dir}",
         *[f"--gin_bindings={b}" for b in bindings + ["training.num_steps = 8"]]],
        capture_output=True, text=True, timeout=300)
    message = error_line(self, result, "zoo-train")
    self.assertRegex(message, r"/\.ckpt-6\.tmp-\d+.*No space left on device$")
    self.assertEqual([step for step, _ in checkpoints.list_checkpoints(directory)], [2, 4])
    self.assertIsNone(checkpoints.checkpoint_problem(checkpoints.checkpoint_path(directory, 4)))
    self.assertEqual([name for name in os.listdir(directory) if name.startswith(".ckpt-")], [])

  def test_an_export_on_a_full_disk_leaves_no_staging(self):
    disk = self.small_disk("export_disk")
    fill(disk, leave_bytes=16384)
    target = os.path.join(disk, "export")
    result = run_module("binaries.export_main", f"--model_dir={MODEL_DIR}",
                        f"--export_dir={target}")
    self.assertIn("No space left on device", error_line(self, result, "zoo-export"))
    self.assertFalse(os.path.exists(target))
    self.assertEqual([name for name in os.listdir(disk) if "export-tmp" in name], [])


class ConcurrentWritersTest(tf.test.TestCase):
  """The second writer of a target is refused; `benchmarks/concurrent_writers.py` runs the
  real races of every tool ten times each."""

  def test_two_exports_to_one_target_give_one_export(self):
    target = os.path.join(ROOT, "raced_export")
    writers = {model_dir: subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "binaries.export_main", f"--model_dir={model_dir}",
         f"--export_dir={target}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for model_dir in (MODEL_DIR, OTHER_MODEL_DIR)}
    finished = {model_dir: (process.wait(300), process.stdout.read(), process.stderr.read())
                for model_dir, process in writers.items()}
    winners = [model_dir for model_dir, (code, _, _) in finished.items() if code == 0]
    self.assertLen(winners, 1, finished)
    loser = next(model_dir for model_dir in finished if model_dir not in winners)
    code, stdout, stderr = finished[loser]
    self.assertEqual(code, 1, stderr[-2000:])
    self.assertNotIn("wrote", stdout)
    self.assertRegex(stderr.strip().splitlines()[-1],
                     rf"^zoo-export: error: --export_dir {target}: (another zoo-export \(pid "
                     r"\d+\) is writing it|already exists)")
    family = {MODEL_DIR: "factorized", OTHER_MODEL_DIR: "correlated_noise"}
    self.assertEqual(loader.load(target).metadata["posterior_family"], family[winners[0]])

  def test_a_second_writer_is_refused_at_once_naming_the_first(self):
    fake_model = identity_model()
    cases = {
        "zoo-evaluate": ("--output_dir", lambda target: evaluate.run_evaluation(
            target, "mig", saved_model=EXPORT_DIR, log_fn=lambda line: None)),
        "zoo-udr": ("--output_dir", lambda target: evaluate.evaluate_udr(
            [fake_model, fake_model], target, names=["a", "b"], log_fn=lambda line: None)),
        "zoo-visualize": ("--output_dir", lambda target: make_pictures.make_pictures(
            fake_model, target, num_points=60, log_fn=lambda line: None)),
        "zoo-export": ("--export_dir", lambda target: saved_model_export.export_model_dir(
            MODEL_DIR, target, log_fn=lambda line: None)),
    }
    for program, (flag, write) in cases.items():
      with self.subTest(program):
        target = os.path.join(ROOT, f"held_by_{program}")
        # What the first writer holds while it works (here this process, through another
        # open file: a lock of its own).
        held = io_utils.lock_target(target, flag, program)
        gin.clear_config()
        try:
          with self.assertRaisesRegex(ValueError, rf"^{flag} {target}: another {program} \(pid "
                                                  rf"{os.getpid()}\) is writing it; wait for it "
                                                  "to finish or stop it$"):
            write(target)
        finally:
          held.close()
          gin.clear_config()
        self.assertFalse(os.path.exists(target))


  def test_the_first_to_finish_wins(self):
    # Two writers started together, the second taking the lock only after the first finished
    # (a slow start): the second does not replace what the first published.
    model = identity_model()
    target = os.path.join(self.get_temp_dir(), "first_wins")
    cases = {
        "results.json": lambda since: evaluate.evaluate(
            model, target, ["mig"], log_fn=lambda line: None, unchanged_since=since),
        "pictures.json": lambda since: make_pictures.make_pictures(
            model, target, num_points=60, log_fn=lambda line: None, unchanged_since=since),
    }
    gin.clear_config()
    cli.parse_gin([], ["mig.num_train = 100"])
    try:
      for name, write in cases.items():
        with self.subTest(name):
          path = os.path.join(target, name)
          second_started = io_utils.file_state(path)
          write(io_utils.file_state(path))  # the first
          with open(path, "rb") as f:
            published = f.read()
          program = "zoo-evaluate" if name == "results.json" else "zoo-visualize"
          with self.assertRaisesRegex(ValueError, rf"^--output_dir {target}: {name} was written "
                                                  rf"by another {program} after this one "
                                                  "started; not replacing it"):
            write(second_started)
          with open(path, "rb") as f:
            self.assertEqual(f.read(), published)
          write(io_utils.file_state(path))  # a rerun started after it replaces it
    finally:
      gin.clear_config()


class KilledWritersTest(tf.test.TestCase):
  """What a writer killed with kill -9 left is removed by the next writer of the same target,
  and only that."""

  def test_temporaries_of_dead_writers_go_and_those_of_live_ones_stay(self):
    directory = self.get_temp_dir()
    target = os.path.join(directory, "results.json")
    stale = os.path.join(directory, owned_name(".results.json.tmp-", dead_pid()))
    live = os.path.join(directory, owned_name(".results.json.tmp-", os.getpid(), "efgh"))
    other_host = os.path.join(directory, ".results.json.tmp-1@another_machine-ijkl")
    other_file = os.path.join(directory, owned_name(".other.json.tmp-", dead_pid()))
    for path in (stale, live, other_host, other_file):
      with open(path, "w") as f:
        f.write("{")
    io_utils.write_json_atomically(target, {"a": 1})
    self.assertFalse(os.path.exists(stale))
    for path in (live, other_host, other_file):  # running, on another machine, another file
      self.assertTrue(os.path.exists(path), path)
    with open(target) as f:
      self.assertEqual(json.load(f), {"a": 1})

  def test_a_killed_visualizations_staging_is_removed_by_the_next(self):
    model = identity_model()
    root = self.get_temp_dir()
    output = os.path.join(root, "pictures")
    prefix = ".pictures.pictures-tmp-"
    stale = os.path.join(root, owned_name(prefix, dead_pid()))
    live = os.path.join(root, owned_name(prefix, os.getpid(), "efgh"))
    for path in (stale, live):
      os.makedirs(path)
      with open(os.path.join(path, "mi_matrix.png"), "wb") as f:
        f.write(b"\x89PNG")
    lines = []
    gin.clear_config()
    index = make_pictures.make_pictures(model, output, num_points=60, log_fn=lines.append)
    self.assertFalse(os.path.exists(stale))
    self.assertTrue(os.path.exists(live))
    self.assertTrue(any(f"removed {stale}" in line for line in lines), lines)
    self.assertEqual(sorted(os.listdir(output)), sorted(list(index["files"]) + ["pictures.json"]))
    # Drawn again into the existing directory: replaced file by file, index last.
    again = make_pictures.make_pictures(model, output, num_points=60, seed=1,
                                        log_fn=lambda line: None)
    with open(os.path.join(output, "pictures.json")) as f:
      self.assertEqual(json.load(f)["settings"]["seed"], again["settings"]["seed"])


class ErrorLinesTest(tf.test.TestCase):
  """The one-line form of the errors a full disk raises, without filling one."""

  def test_a_failed_atomic_write_names_its_file(self):
    target = os.path.join(self.get_temp_dir(), "results.json")

    class FullFile:  # a write that fails as on a full disk
      def write(self, text):
        del text
        raise OSError(28, "No space left on device")

    with self.assertRaises(OSError) as raised:
      with io_utils.atomic_write(target) as f:
        FullFile().write("x")
        f.write("never")
    self.assertEqual(cli.first_line(raised.exception), f"{target}: No space left on device")
    self.assertEqual(os.listdir(self.get_temp_dir()), [])

  def test_tensorflows_disk_errors_read_as_one_line(self):
    error = tf.errors.ResourceExhaustedError(
        None, None, "{{function_node __wrapped__SaveV2_dtypes_2_device_/job:localhost}} "
                    "/x/.ckpt-4.tmp-1_temp/part-00000-of-00001.data-00000-of-00001.tempstate1; "
                    "No space left on device [Op:SaveV2]")
    self.assertEqual(cli._tensorflow_write_problem(error),  # pylint: disable=protected-access
                     "/x/.ckpt-4.tmp-1_temp/part-00000-of-00001.data-00000-of-00001.tempstate1; "
                     "No space left on device")
    self.assertIsNone(cli._tensorflow_write_problem(  # pylint: disable=protected-access
        tf.errors.InvalidArgumentError(None, None, "shapes differ")))


if __name__ == "__main__":
  tf.test.main()
