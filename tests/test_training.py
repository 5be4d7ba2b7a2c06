"""zoo-train: outputs, resumption, divergence handling, strategies and user errors."""
import json
import os
import signal
import socket
import subprocess
import sys
import time

import gin
import numpy as np
import tensorflow as tf

from common import cli
from zoo import training
from zoo.training import checkpoints
from gin_edge import configurables  # noqa: F401  (registers every gin configurable)
from gin_edge import training as gin_training
from tiny_mlp import TINY_RUN_BINDINGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A small, fast configuration: an MLP VAE on the analytic linear_gaussian vectors.
FAST_BINDINGS = TINY_RUN_BINDINGS + ["training.batch_size = 32"]


def train_command(model_dir, *extra):
  command = [sys.executable, "-m", "binaries.train_main", f"--model_dir={model_dir}"]
  command += [f"--gin_bindings={b}" for b in FAST_BINDINGS]
  return command + list(extra)


def run_train(model_dir, *extra, env=None, timeout=300):
  return subprocess.run(train_command(model_dir, *extra), capture_output=True, text=True,
                        timeout=timeout, env=env, cwd=REPO)


def read_results(model_dir):
  with open(os.path.join(model_dir, "train_results.json")) as f:
    return json.load(f)


def free_port():
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    return s.getsockname()[1]


class TrainInProcessTest(tf.test.TestCase):

  def setUp(self):
    super().setUp()
    gin.clear_config()

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def configure(self, *extra):
    cli.parse_gin([], FAST_BINDINGS + list(extra))

  def test_outputs_and_resume_continue_the_step_count(self):
    model_dir = os.path.join(self.get_temp_dir(), "run")
    self.configure("training.num_steps = 20", "training.checkpoint_every = 10",
                   "training.log_every = 10")
    lines = []
    first = gin_training.train(model_dir, log_fn=lines.append)
    self.assertEqual(first["final_step"], 20)
    self.assertEqual(first["start_step"], 0)
    self.assertTrue(any("step 20/20" in line for line in lines))
    for name in ("operative_config.gin", "train_results.json"):
      self.assertTrue(os.path.isfile(os.path.join(model_dir, name)), name)
    self.assertIn("beta_vae.beta", open(os.path.join(model_dir, "operative_config.gin")).read())
    self.assertTrue(tf.io.gfile.glob(os.path.join(model_dir, "summaries", "events.*")))
    self.assertEqual(tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))[-7:],
                     "ckpt-20")
    for term in ("loss.loss", "loss.reconstruction", "loss.kl", "loss.kl_per_latent.2"):
      self.assertTrue(np.isfinite(first[term]), term)
    self.assertAllClose(first["loss.kl"],
                        sum(first[f"loss.kl_per_latent.{i}"] for i in range(3)), rtol=1e-4)

    gin.clear_config()
    self.configure("training.num_steps = 30", "training.checkpoint_every = 10",
                   "training.log_every = 10")
    lines = []
    second = gin_training.train(model_dir, log_fn=lines.append)
    self.assertEqual(second["start_step"], 20)
    self.assertEqual(second["final_step"], 30)
    self.assertTrue(any("resuming" in line and "step 20" in line for line in lines))

  def test_divergence_stops_and_keeps_last_good_checkpoint(self):
    model_dir = os.path.join(self.get_temp_dir(), "nan")
    self.configure("training.num_steps = 200", "training.checkpoint_every = 1",
                   "training.log_every = 100", "training.learning_rate = 1e12")
    with self.assertRaisesRegex(training.TrainingDiverged, r"at step \d+"):
      gin_training.train(model_dir, log_fn=lambda line: None)
    latest = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    if latest:  # every kept checkpoint holds finite weights
      reader = tf.train.load_checkpoint(latest)
      for name in reader.get_variable_to_shape_map():
        value = reader.get_tensor(name)
        if np.issubdtype(np.asarray(value).dtype, np.floating):
          self.assertTrue(np.all(np.isfinite(value)), name)
    self.assertFalse(os.path.exists(os.path.join(model_dir, "train_results.json")))


class StepsPerLoopTest(tf.test.TestCase):
  """Several training steps per call of the compiled loop change nothing but the call count."""

  def train(self, model_dir, *extra):
    gin.clear_config()
    cli.parse_gin([], FAST_BINDINGS + list(extra))
    lines = []
    try:
      return gin_training.train(model_dir, log_fn=lines.append), lines
    finally:
      gin.clear_config()

  def test_several_steps_per_loop_give_the_same_run(self):
    cadence = ["training.num_steps = 31", "training.log_every = 10",
               "training.checkpoint_every = 15"]
    runs = {}
    for k in (1, 7):
      model_dir = os.path.join(self.get_temp_dir(), f"k{k}")
      results, lines = self.train(model_dir, *cadence, f"training.steps_per_loop = {k}")
      runs[k] = (model_dir, results, [line.split("  ")[:-2] for line in lines])
    (dir_1, results_1, lines_1), (dir_7, results_7, lines_7) = runs[1], runs[7]
    losses = lambda results: {k: v for k, v in results.items() if k.startswith("loss.")}
    self.assertEqual(losses(results_7), losses(results_1))  # the logged averages too
    self.assertEqual(lines_7, lines_1)  # logged at the same steps, with the same numbers
    steps = lambda d: sorted(int(tf.train.load_checkpoint(p[:-len(".index")]).get_tensor(
        "optimizer/_iterations/.ATTRIBUTES/VARIABLE_VALUE"))
        for p in tf.io.gfile.glob(os.path.join(d, "checkpoints", "ckpt-*.index")))
    self.assertEqual(steps(dir_7), [15, 30, 31])  # checkpoints at their steps
    for name in ("ckpt-15", "ckpt-31"):
      reader_1 = tf.train.load_checkpoint(os.path.join(dir_1, "checkpoints", name))
      reader_7 = tf.train.load_checkpoint(os.path.join(dir_7, "checkpoints", name))
      for key in reader_1.get_variable_to_shape_map():
        if key != "_CHECKPOINTABLE_OBJECT_GRAPH":
          self.assertAllEqual(reader_7.get_tensor(key), reader_1.get_tensor(key), msg=key)

  def test_a_divergence_is_found_at_its_step_inside_a_loop(self):
    messages = []
    for k in (1, 8):
      with self.assertRaises(training.TrainingDiverged) as raised:
        self.train(os.path.join(self.get_temp_dir(), f"nan{k}"), "training.num_steps = 200",
                   "training.learning_rate = 1e12", f"training.steps_per_loop = {k}")
      messages.append(cli.first_line(raised.exception))
    self.assertRegex(messages[0], r"^loss term '\w+' became (nan|inf|-inf) at step \d+; ")
    self.assertEqual(messages[1], messages[0])


class TrainBinaryTest(tf.test.TestCase):

  def test_bad_inputs_give_one_line_errors_and_no_output(self):
    cases = {
        "bad binding": ["--gin_bindings=training.num_steps = = 3"],
        "unknown configurable": ["--gin_bindings=no_such_thing.x = 3"],
        "unknown model": ["--gin_bindings=model.name = 'no_such_model'"],
        "unknown data set": ["--gin_bindings=dataset.name = 'no_such_data'"],
        "missing gin file": ["--gin_config=/nonexistent/x.gin"],
        "bad data file": ["--gin_bindings=dataset.name = 'dsprites_file'",
                          "--gin_bindings=dsprites_file.path = '/nonexistent/d.npz'"],
    }
    for what, extra in cases.items():
      with self.subTest(what):
        model_dir = os.path.join(self.get_temp_dir(), what.replace(" ", "_"))
        result = run_train(model_dir, *extra)
        self.assertEqual(result.returncode, 1, result.stderr)
        lines = result.stderr.strip().splitlines()
        self.assertTrue(lines and lines[-1].startswith("zoo-train: error:"), result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        self.assertFalse(os.path.exists(model_dir), what)

  def test_kill_during_training_then_rerun_resumes(self):
    model_dir = os.path.join(self.get_temp_dir(), "killed")
    extra = ["--gin_bindings=training.num_steps = 3000",
             "--gin_bindings=training.checkpoint_every = 25",
             "--gin_bindings=training.log_every = 500"]
    process = subprocess.Popen(train_command(model_dir, *extra), cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = os.path.join(model_dir, "checkpoints", "checkpoint")
    deadline = time.time() + 120
    while time.time() < deadline and not os.path.exists(state):
      time.sleep(0.2)
    time.sleep(0.5)
    process.send_signal(signal.SIGKILL)
    process.wait()
    self.assertTrue(os.path.exists(state), "no checkpoint written before the kill")
    # The newest checkpoint with an index: a kill between its index and the state file leaves
    # the state file one checkpoint behind, and a resume rightly takes the newer one.
    killed_at = checkpoints.list_checkpoints(os.path.dirname(state))[-1][0]
    self.assertGreater(killed_at, 0)
    self.assertLess(killed_at, 3000)
    result = run_train(model_dir, *extra[:1], "--gin_bindings=training.num_steps = 3030",
                       *extra[1:])
    self.assertEqual(result.returncode, 0, result.stderr)
    results = read_results(model_dir)
    self.assertEqual(results["start_step"], killed_at)
    self.assertEqual(results["final_step"], 3030)

  def test_mirrored_on_two_logical_cpus_matches_default_result_shape(self):
    default_dir = os.path.join(self.get_temp_dir(), "default")
    mirrored_dir = os.path.join(self.get_temp_dir(), "mirrored")
    steps = "--gin_bindings=training.num_steps = 10"
    default = run_train(default_dir, steps)
    self.assertEqual(default.returncode, 0, default.stderr)
    mirrored = run_train(mirrored_dir, steps, "--strategy=mirrored", "--logical_cpus=2")
    self.assertEqual(mirrored.returncode, 0, mirrored.stderr)
    a, b = read_results(default_dir), read_results(mirrored_dir)
    self.assertEqual(a["num_replicas"], 1)
    self.assertEqual(b["num_replicas"], 2)
    self.assertEqual(sorted(a), sorted(b))
    self.assertEqual(b["final_step"], 10)
    self.assertTrue(np.isfinite(b["loss.loss"]))

  def test_two_process_multi_worker_run(self):
    model_dir = os.path.join(self.get_temp_dir(), "multi")
    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    processes = []
    for index in range(2):
      env = dict(os.environ, TF_CONFIG=json.dumps(
          {"cluster": cluster, "task": {"type": "worker", "index": index}}))
      processes.append(subprocess.Popen(
          train_command(model_dir, "--strategy=multi_worker",
                        "--gin_bindings=training.num_steps = 10",
                        "--gin_bindings=training.checkpoint_every = 5"),
          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=300) for p in processes]
    for p, (_, err) in zip(processes, outputs):
      self.assertEqual(p.returncode, 0, err[-3000:])
    results = read_results(model_dir)
    self.assertEqual(results["num_replicas"], 2)
    self.assertEqual(results["final_step"], 10)
    self.assertEqual(tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))[-7:],
                     "ckpt-10")
    self.assertEqual(sorted(os.listdir(model_dir)),
                     ["checkpoints", "operative_config.gin", "run_config.json", "summaries",
                      "train_results.json"])


if __name__ == "__main__":
  tf.test.main()
