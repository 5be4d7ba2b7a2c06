"""zoo-train never loses, mixes up or silently changes a run.

One trainer per model_dir; a finished run keeps its results; a changed configuration is
refused on resume unless asked for, and then really takes effect; a run killed with kill -9
and resumed is bitwise the uninterrupted run (beta-VAE, FactorVAE, InfoGAN); bad settings,
bad directories and a likelihood that does not fit the data are refused up front.
"""
import json
import os
import signal
import subprocess
import sys
import time

import gin
import tensorflow as tf

from common import cli
from common import io_utils
from zoo import training
from zoo.training import checkpoints
from gin_edge import configurables  # noqa: F401  (registers every gin configurable)
from gin_edge import training as gin_training
from processes import make_read_only
from tiny_mlp import TINY_RUN_BINDINGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MLP_RUN = TINY_RUN_BINDINGS + ["training.log_every = 100"]
# InfoGAN's networks are convolutional: the smallest that runs on 32x32 dSprites.
INFOGAN_RUN = [
    "dataset.name = 'dsprites'",
    "dsprites.image_size = 32",
    "model.name = 'infogan'",
    "model.latent_dim = 2",
    "posterior.name = 'factorized'",
    "infogan.noise_dim = 2",
    "infogan_generator.dense_units = 16",
    "infogan_generator.channels = (8, 4)",
    "infogan_discriminator.channels = (4, 8)",
    "infogan_discriminator.dense_units = 16",
    "infogan_discriminator.q_units = 8",
    "training.batch_size = 8",
    "training.log_every = 100",
]


def train(model_dir, bindings, lines=None, **kwargs):
  gin.clear_config()
  cli.parse_gin([], bindings)
  try:
    return gin_training.train(model_dir, log_fn=lines.append if lines is not None
                          else lambda line: None, **kwargs)
  finally:
    gin.clear_config()


def train_command(model_dir, bindings, *flags):
  command = [sys.executable, "-m", "binaries.train_main", f"--model_dir={model_dir}", *flags]
  return command + [f"--gin_bindings={b}" for b in bindings]


def run_train_binary(model_dir, bindings, *flags):
  return subprocess.run(train_command(model_dir, bindings, *flags), capture_output=True,
                        text=True, timeout=300, cwd=REPO)


def final_variables(model_dir):
  path = tf.train.latest_checkpoint(checkpoints.checkpoint_dir(model_dir))
  reader = tf.train.load_checkpoint(path)
  return path, {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()
                if "save_counter" not in name and name != "_CHECKPOINTABLE_OBJECT_GRAPH"}


def assert_one_line_error(test, result, pattern):
  test.assertEqual(result.returncode, 1, result.stderr[-3000:])
  lines = result.stderr.strip().splitlines()
  test.assertTrue(lines, result.stderr)
  test.assertRegex(lines[-1], "^zoo-train: error: " + pattern)
  test.assertNotIn("Traceback", result.stderr)
  test.assertNotIn("In call to configurable", result.stderr)


class KillAndResumeTest(tf.test.TestCase):
  """A run killed by kill -9 and resumed ends bitwise equal to the uninterrupted run."""

  def check_model(self, name, bindings, num_steps, checkpoint_every):
    # Every run in a process of its own, as zoo-train runs: a second trace of the same step in
    # one process names its ops differently, which can change how grappler fuses them.
    bindings = bindings + [f"training.num_steps = {num_steps}",
                           f"training.checkpoint_every = {checkpoint_every}"]
    reference = os.path.join(self.get_temp_dir(), f"{name}_reference")
    result = run_train_binary(reference, bindings)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    killed = os.path.join(self.get_temp_dir(), f"{name}_killed")
    process = subprocess.Popen(train_command(killed, bindings), cwd=REPO,  # pylint: disable=consider-using-with
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    directory = checkpoints.checkpoint_dir(killed)
    deadline = time.time() + 240
    while not checkpoints.list_checkpoints(directory):
      self.assertIsNone(process.poll(), "the run ended before it could be killed")
      self.assertLess(time.time(), deadline)
      time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    killed_at = checkpoints.list_checkpoints(directory)[-1][0]
    self.assertLess(killed_at, num_steps)
    result = run_train_binary(killed, bindings)
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn(f"resuming from {checkpoints.checkpoint_path(directory, killed_at)}",
                  result.stdout)
    with open(os.path.join(killed, training.TRAIN_RESULTS)) as f:
      self.assertEqual(json.load(f)["start_step"], killed_at)
    path, resumed = final_variables(killed)
    self.assertEqual(checkpoints.checkpoint_step(path), num_steps)
    _, expected = final_variables(reference)
    self.assertEqual(sorted(resumed), sorted(expected))
    for variable in expected:
      self.assertAllEqual(resumed[variable], expected[variable], msg=f"{name} {variable}")

  def test_beta_vae(self):
    self.check_model("beta_vae", MLP_RUN, 1500, 10)

  def test_factor_vae(self):
    # The discriminator's permutations are random draws too.
    self.check_model("factor_vae", MLP_RUN + ["model.name = 'factor_vae'",
                                              "factor_vae_discriminator.hidden_layers = 2",
                                              "factor_vae_discriminator.hidden_units = 16"],
                     1500, 10)

  def test_infogan(self):
    # Noise, codes and categories are drawn afresh at every step.
    self.check_model("infogan", INFOGAN_RUN + ["infogan.num_categorical = 1",
                                               "infogan.categorical_dim = 3"], 300, 5)


class OneRunOneTrainerTest(tf.test.TestCase):

  def test_a_second_trainer_is_refused_naming_the_first(self):
    model_dir = os.path.join(self.get_temp_dir(), "busy")
    os.makedirs(checkpoints.checkpoint_dir(model_dir))
    lock, _ = io_utils.try_lock(os.path.join(checkpoints.checkpoint_dir(model_dir),
                                             training.LOCK_FILE))
    self.addCleanup(lock.close)
    result = run_train_binary(model_dir, MLP_RUN + ["training.num_steps = 5"])
    assert_one_line_error(self, result, rf"--model_dir {model_dir}: another zoo-train "
                                        rf"\(pid {os.getpid()}\) is training in it")
    self.assertEqual(os.listdir(checkpoints.checkpoint_dir(model_dir)), [training.LOCK_FILE])
    lock.close()
    self.assertEqual(train(model_dir, MLP_RUN + ["training.num_steps = 5"])["final_step"], 5)

  def test_a_finished_run_keeps_its_results(self):
    model_dir = os.path.join(self.get_temp_dir(), "finished")
    bindings = MLP_RUN + ["training.num_steps = 20", "training.checkpoint_every = 10"]
    first = train(model_dir, bindings)
    path = os.path.join(model_dir, training.TRAIN_RESULTS)
    with open(path, "rb") as f:
      written = f.read()
    stamp = os.stat(path).st_mtime_ns
    lines = []
    again = train(model_dir, bindings, lines)
    self.assertTrue(any("nothing to do" in line for line in lines), lines)
    self.assertEqual(again, first)
    self.assertIn("loss.loss", again)
    self.assertIsNotNone(again["images_per_second"])
    with open(path, "rb") as f:
      self.assertEqual(f.read(), written)
    self.assertEqual(os.stat(path).st_mtime_ns, stamp)


# Runs zoo-train, killed (kill -9, by itself) just as it renames its train_results.json into
# place: after its last checkpoint, with the results written to their temporary file.
KILLED_AT_THE_RESULTS_RENAME = """
import os, signal, sys
replace = os.replace
def replace_then_die(source, target, *args, **kwargs):
  if str(target).endswith("train_results.json"):
    os.kill(os.getpid(), signal.SIGKILL)
  return replace(source, target, *args, **kwargs)
os.replace = replace_then_die
sys.argv = sys.argv[1:]
from binaries import train_main
train_main.run()
"""


class ResultsAfterTheLastCheckpointTest(tf.test.TestCase):

  def test_a_run_killed_before_renaming_its_results_writes_them_when_rerun(self):
    model_dir = os.path.join(self.get_temp_dir(), "killed_at_rename")
    # The last logging window (steps 21 to 30) is not a whole one: its sums are in the last
    # checkpoint, not in a summary of a closed window.
    bindings = MLP_RUN + ["training.num_steps = 30", "training.checkpoint_every = 10",
                          "training.log_every = 20"]
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_AT_THE_RESULTS_RENAME, "zoo-train",
         f"--model_dir={model_dir}", *[f"--gin_bindings={b}" for b in bindings]],
        capture_output=True, text=True, timeout=300, cwd=REPO)
    self.assertEqual(killed.returncode, -signal.SIGKILL, killed.stderr[-3000:])
    results_path = os.path.join(model_dir, training.TRAIN_RESULTS)
    self.assertFalse(os.path.exists(results_path))
    leftovers = [name for name in os.listdir(model_dir)
                 if name.startswith(f".{training.TRAIN_RESULTS}.tmp-")]
    self.assertLen(leftovers, 1)
    with open(os.path.join(model_dir, leftovers[0])) as f:
      unwritten = json.load(f)  # what the killed run was about to publish

    lines = []
    returned = train(model_dir, bindings, lines)
    self.assertTrue(any("nothing to do" in line for line in lines), lines)
    self.assertTrue(any(line.startswith(f"[zoo-train] {results_path} was missing (the run "
                                        "stopped after its last checkpoint); rewrote it from")
                        for line in lines), lines)
    with open(results_path) as f:
      recovered = json.load(f)
    self.assertEqual(returned, recovered)
    losses = sorted(key for key in unwritten if key.startswith("loss."))
    self.assertGreater(len(losses), 3)
    self.assertEqual({key: recovered[key] for key in losses},
                     {key: unwritten[key] for key in losses})
    for key in ("model", "posterior_family", "dataset", "latent_dim", "final_step"):
      self.assertEqual(recovered[key], unwritten[key], key)
    self.assertEqual(recovered["recovered_from"], os.path.join("checkpoints", "ckpt-30"))
    self.assertGreater(recovered["images_per_second"], 0)  # the summaries' last value
    # The killed writer's temporary file went with the next write of the same file.
    self.assertEqual([name for name in os.listdir(model_dir) if ".tmp-" in name], [])

  def test_a_resumed_run_averages_the_last_log_every_steps(self):
    bindings = MLP_RUN + ["training.log_every = 20", "training.checkpoint_every = 10"]
    uninterrupted = train(os.path.join(self.get_temp_dir(), "uninterrupted"),
                          bindings + ["training.num_steps = 60"])
    model_dir = os.path.join(self.get_temp_dir(), "resumed_mid_window")
    train(model_dir, bindings + ["training.num_steps = 50"])  # stops halfway through a window
    lines = []
    resumed = train(model_dir, bindings + ["training.num_steps = 60"], lines)
    self.assertEqual(resumed["start_step"], 50)
    losses = [key for key in uninterrupted if key.startswith("loss.")]
    self.assertNotEmpty(losses)
    for key in losses:
      # Steps 41 to 60, not only those since the resume (a second trace in one process may
      # round differently: not bitwise).
      self.assertAllClose(resumed[key], uninterrupted[key], rtol=1e-5, atol=1e-7, msg=key)
    progress = [line for line in lines if line.startswith("[zoo-train] step ")]
    self.assertLen(progress, 1)
    self.assertRegex(progress[0], r" \d+ img/s  eta 0m00s$")  # a speed, not nan


class ChangedConfigurationTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    self.model_dir = os.path.join(self.get_temp_dir(), "run")
    self.bindings = MLP_RUN + ["training.num_steps = 20", "training.checkpoint_every = 10"]
    train(self.model_dir, self.bindings)
    with open(os.path.join(self.model_dir, training.OPERATIVE_CONFIG)) as f:
      self.config = f.read()

  def test_another_model_or_learning_rate_is_refused(self):
    for changes, named in (
        (["model.name = 'beta_tcvae'"], r"beta_tcvae\.beta, beta_vae\.beta, model\.name"),
        (["training.learning_rate = 5e-4"], r"training\.learning_rate\)"),
    ):
      with self.subTest(named):
        bindings = self.bindings + changes + ["training.num_steps = 30"]
        with self.assertRaisesRegex(ValueError, rf"another configuration \(differs in {named}"):
          train(self.model_dir, bindings)
        with open(os.path.join(self.model_dir, training.OPERATIVE_CONFIG)) as f:
          self.assertEqual(f.read(), self.config)
        self.assertEqual(checkpoints.list_checkpoints(
            checkpoints.checkpoint_dir(self.model_dir))[-1][0], 20)
    # Steps, logging and checkpoint cadence may change.
    more = self.bindings + ["training.num_steps = 30", "training.log_every = 5",
                            "training.checkpoint_every = 15", "training.max_checkpoints_to_keep = 4"]
    self.assertEqual(train(self.model_dir, more)["final_step"], 30)

  def test_an_explicit_change_takes_effect_and_is_recorded(self):
    bindings = self.bindings + ["training.learning_rate = 5e-4", "training.num_steps = 30"]
    result = run_train_binary(self.model_dir, bindings, "--allow_config_change")
    self.assertEqual(result.returncode, 0, result.stderr[-3000:])
    self.assertIn("continuing with changed training.learning_rate", result.stdout)
    with open(os.path.join(self.model_dir, training.OPERATIVE_CONFIG)) as f:
      self.assertIn("training.learning_rate = 0.0005", f.read())
    with open(os.path.join(self.model_dir, "operative_config.until_step_20.gin")) as f:
      self.assertEqual(f.read(), self.config)
    # The checkpoint holds the new rate: the change was not overwritten by the restore.
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(
        checkpoints.checkpoint_dir(self.model_dir)))
    rate = reader.get_tensor("optimizer/_learning_rate/.ATTRIBUTES/VARIABLE_VALUE")
    self.assertAllClose(rate, 5e-4)


class UpFrontChecksTest(tf.test.TestCase):

  def test_bad_training_settings_write_nothing(self):
    for binding, message in (("training.learning_rate = 0.0", "training.learning_rate=0.0"),
                             ("training.learning_rate = -1e-3", "training.learning_rate=-0.001"),
                             ("training.learning_rate = float('inf')", None),
                             ("training.num_steps = True", "training.num_steps=True"),
                             ("training.seed = -1", "training.seed=-1")):
      with self.subTest(binding):
        model_dir = os.path.join(self.get_temp_dir(), "bad")
        if message is None:  # gin has no float('inf'); the number 1e400 is infinite.
          binding, message = "training.learning_rate = 1e400", "training.learning_rate=inf"
        with self.assertRaisesRegex(ValueError, message):
          train(model_dir, MLP_RUN + [binding])
        self.assertFalse(os.path.exists(model_dir))

  def test_a_low_rank_beyond_the_latent_size_is_refused(self):
    with self.assertRaisesRegex(ValueError, r"low_rank.rank=10: expected at most the latent "
                                            r"size \(model.latent_dim=3\)"):
      train(os.path.join(self.get_temp_dir(), "rank"),
            MLP_RUN + ["posterior.name = 'low_rank'", "low_rank.rank = 10"])

  def test_a_likelihood_that_does_not_fit_the_data_is_refused(self):
    with self.assertRaisesRegex(ValueError, r"likelihood.name='bernoulli' does not fit the data "
                                            r"set's real observations; use one of \['gaussian'\]"):
      train(os.path.join(self.get_temp_dir(), "bernoulli"),
            MLP_RUN + ["likelihood.name = 'bernoulli'"])
    # The data set's gin file chooses the likelihood that fits.
    gin.clear_config()
    cli.parse_gin([os.path.join(REPO, "gin_configs", "datasets", "linear_gaussian.gin"),
                   os.path.join(REPO, "gin_configs", "encoders", "mlp.gin")],
                  ["training.num_steps = 3", "posterior.name = 'factorized'"])
    try:
      results = gin_training.train(os.path.join(self.get_temp_dir(), "gaussian"),
                               log_fn=lambda line: None)
    finally:
      gin.clear_config()
    self.assertEqual(results["final_step"], 3)

  def test_model_dirs_that_cannot_be_written(self):
    root = self.get_temp_dir()
    a_file = os.path.join(root, "a_file")
    with open(a_file, "w") as f:
      f.write("not a directory\n")
    read_only = os.path.join(root, "read_only")
    os.makedirs(read_only)
    cases = {a_file: "exists and is not a directory",
             os.path.join(a_file, "run"): f"lies under {a_file}, which is not a directory"}
    if make_read_only(self, read_only):
      cases[read_only] = "is not writable"
      cases[os.path.join(read_only, "run")] = f"cannot be created: {read_only} is not writable"
    for model_dir, problem in cases.items():
      with self.subTest(problem):
        result = run_train_binary(model_dir, MLP_RUN + ["training.num_steps = 3"])
        assert_one_line_error(self, result, f"--model_dir {model_dir}: {problem}")

  def test_messages_name_the_input_and_come_last(self):
    model_dir = os.path.join(self.get_temp_dir(), "messages")
    cases = {
        "a gin binding": (["training.num_steps = = 3"],
                          r"--gin_bindings 'training.num_steps = = 3': "),
        "a missing family": ([b for b in MLP_RUN if not b.startswith("posterior.")],
                             "posterior.name is not set"),
        "a divergence": (["training.learning_rate = 1e12", "training.num_steps = 300"],
                         r"loss term '\w+' became (nan|inf) at step \d+; the last good "
                         r"checkpoint \(none\) is kept$"),
    }
    for what, (bindings, pattern) in cases.items():
      with self.subTest(what):
        base = MLP_RUN if what != "a missing family" else []
        result = run_train_binary(model_dir, base + bindings)
        assert_one_line_error(self, result, pattern)

  def test_a_bad_gin_file_is_named(self):
    path = os.path.join(self.get_temp_dir(), "broken.gin")
    with open(path, "w") as f:
      f.write("training.num_steps = 3\n\nmodel.name = = 'x'\n")
    with self.assertRaisesRegex(cli.UsageError, rf"^--gin_config {path}: "):
      cli.parse_gin([path], [])
    gin.clear_config()


class AtomicFileModeTest(tf.test.TestCase):

  def test_atomic_files_get_the_modes_a_plain_open_would(self):
    path = os.path.join(self.get_temp_dir(), "results.json")
    for umask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
      with self.subTest(umask=oct(umask)):
        previous = os.umask(umask)
        try:
          io_utils.write_json_atomically(path, {"a": 1})
        finally:
          os.umask(previous)
        self.assertEqual(os.stat(path).st_mode & 0o777, mode)
        with open(path) as f:
          self.assertEqual(json.load(f), {"a": 1})


if __name__ == "__main__":
  tf.test.main()
