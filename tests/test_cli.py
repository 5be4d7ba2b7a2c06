"""What every console script does at its edges: `--help`, spellings that moved, Ctrl-C, and
mistakes in gin text or types that must read as one line.

* `--help` exits 0 with the tool's description and its own flags first (absl's and
  TensorFlow's come with `--helpfull`).
* zoo-study's modes are subcommands, each with only its own flags; the old mode flags and
  `zoo-evaluate --udr` are refused with one line spelling the new command.
* Ctrl-C ends a binary with exit status 130 and one line (every binary starts through
  `cli.run_main`, which does it).
* An unclosed bracket in a binding, a gin file or a study file, and a value of the wrong type,
  are one line naming the binding.
"""
import os
import re
import signal
import subprocess
import sys
import time
from unittest import mock

import gin
import tensorflow as tf

from common import cli
from studies import spec
from gin_edge import training as gin_training
from processes import kill_if_running
from tiny_mlp import TINY_RUN_BINDINGS

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# (program, module, arguments before --help, flags the tool defines).
PROGRAMS = [
    ("zoo-train", "binaries.train_main", [], ["model_dir", "gin_config", "allow_config_change"]),
    ("zoo-export", "binaries.export_main", [], ["model_dir", "export_dir", "overwrite"]),
    ("zoo-evaluate", "binaries.evaluate_main", [], ["saved_model", "metrics", "output_dir"]),
    ("zoo-udr", "binaries.udr_main", [], ["saved_model", "output_dir"]),
    ("zoo-visualize", "binaries.visualize_main", [], ["num_traversal_steps", "output_dir"]),
    ("zoo-data", "binaries.data_main", [], ["dataset", "path", "output_dir"]),
    ("zoo-study run", "binaries.study_main", ["run"], ["study", "jobs", "executor", "only_run"]),
    ("zoo-study commands", "binaries.study_main", ["commands"], ["study", "output_dir"]),
    ("zoo-study aggregate", "binaries.study_main", ["aggregate"], ["output_dir", "main_metrics"]),
    ("zoo-study reevaluate", "binaries.study_main", ["reevaluate"], ["study", "in_process"]),
    ("zoo-study udr", "binaries.study_main", ["udr"], ["study", "output_dir"]),
]


def run_module(module, *args, timeout=120):
  return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                        timeout=timeout, cwd=REPO)


def one_error_line(test, result, status=1):
  test.assertEqual(result.returncode, status, result.stderr[-2000:])
  test.assertNotIn("Traceback", result.stderr)
  lines = result.stderr.strip().splitlines()
  test.assertLen(lines, 1, result.stderr[-2000:])
  return lines[0]


class HelpTest(tf.test.TestCase):

  def test_help_describes_the_tool_and_lists_its_own_flags_first(self):
    for program, module, before, own in PROGRAMS:
      with self.subTest(program):
        result = run_module(module, *before, "--help")
        self.assertEqual(result.returncode, 0, result.stderr[-2000:])
        text = result.stdout
        self.assertTrue(text.startswith(f"{program}: ") or text.startswith(program), text[:200])
        flags_at = text.index(f"Flags of {program}:")
        # A description of a paragraph or more comes before the flags.
        self.assertGreater(len(text[:flags_at].split()), 15, text[:flags_at])
        for flag in own:
          self.assertRegex(text[flags_at:], rf"\n  --(\[no\])?{flag}: ")
        # Only the tool's own flags: absl's (--verbosity, ...) are for --helpfull.
        self.assertNotIn("--verbosity", text)
        self.assertIn(f"{program} --helpfull", text)
    overview = run_module("binaries.study_main", "--help")
    self.assertEqual(overview.returncode, 0)
    for subcommand in ("run", "commands", "aggregate", "reevaluate", "udr"):
      self.assertRegex(overview.stdout, rf"\n  {subcommand} +\w")


class MovedSpellingsTest(tf.test.TestCase):

  def test_old_spellings_name_the_new_command(self):
    cases = {
        ("--study=s.gin", "--output_dir=o", "--jobs=2"):
            "zoo-study: error: the mode of zoo-study is a subcommand, given first: zoo-study "
            "run --study=s.gin --output_dir=o --jobs=2",
        ("--study=s.gin", "--output_dir=o", "--print_commands"):
            "zoo-study: error: the mode of zoo-study is a subcommand, given first: zoo-study "
            "commands --study=s.gin --output_dir=o",
        ("--output_dir=o", "--aggregate_only"):
            "zoo-study: error: the mode of zoo-study is a subcommand, given first: zoo-study "
            "aggregate --output_dir=o",
        ("--study=s.gin", "--output_dir=o", "--reevaluate", "--udr"):
            "zoo-study: error: the mode of zoo-study is a subcommand, given first: zoo-study "
            "reevaluate --study=s.gin --output_dir=o && zoo-study udr --study=s.gin "
            "--output_dir=o",
        ("evaluate",): "zoo-study: error: unknown subcommand 'evaluate'; expected one of run, "
                       "commands, aggregate, reevaluate, udr",
        (): "zoo-study: error: expected a subcommand: run, commands, aggregate, reevaluate, udr "
            "(zoo-study --help says more)",
    }
    for args, message in cases.items():
      with self.subTest(args):
        self.assertEqual(one_error_line(self, run_module("binaries.study_main", *args)), message)
    result = run_module("binaries.evaluate_main", "--udr", "--saved_model=a", "--saved_model=b")
    self.assertEqual(one_error_line(self, result),
                     "zoo-evaluate: error: --udr is no longer a flag of zoo-evaluate; use: "
                     "zoo-udr --saved_model=EXPORT_A --saved_model=EXPORT_B ... "
                     "--output_dir=OUTPUT_DIR")


class InterruptTest(tf.test.TestCase):

  def wait_for(self, process, condition, what, seconds=240):
    deadline = time.time() + seconds
    while not condition():
      self.assertIsNone(process.poll(), f"ended before {what}")
      self.assertLess(time.time(), deadline, f"no {what} in time")
      time.sleep(0.1)

  def test_ctrl_c_ends_a_binary_with_one_line_and_status_130(self):
    model_dir = os.path.join(self.get_temp_dir(), "interrupted")
    bindings = TINY_RUN_BINDINGS + ["training.num_steps = 10000000",
                                    "training.checkpoint_every = 50"]
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-m", "binaries.train_main", f"--model_dir={model_dir}",
         *[f"--gin_bindings={b}" for b in bindings]],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO)
    self.addCleanup(kill_if_running, process.pid)
    checkpoints_dir = os.path.join(model_dir, "checkpoints")
    self.wait_for(process, lambda: os.path.isdir(checkpoints_dir) and any(
        name.endswith(".index") for name in os.listdir(checkpoints_dir)), "a checkpoint")
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    self.assertEqual(process.returncode, cli.INTERRUPTED_STATUS, stderr[-2000:])
    self.assertNotIn("Traceback", stderr)
    self.assertEqual(stderr.strip().splitlines()[-1], "zoo-train: interrupted")

  def test_an_interrupt_the_program_drops_still_ends_it(self):
    # Python drops a KeyboardInterrupt raised inside a destructor; this program drops them all.
    script = (
        "import sys, time\n"
        f"sys.path.insert(0, {REPO!r})\n"
        "from common import cli\n"
        "cli.INTERRUPT_GRACE_SECONDS = 1.0\n"
        "def main(argv):\n"
        "  print('ready', flush=True)\n"
        "  while True:\n"
        "    try:\n"
        "      time.sleep(0.01)\n"
        "    except KeyboardInterrupt:\n"
        "      pass\n"
        "cli.run_main(main, 'stubborn', argv=['stubborn'])\n")
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True)
    self.addCleanup(kill_if_running, process.pid)
    self.assertEqual(process.stdout.readline().strip(), "ready")
    started = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    self.assertEqual(process.returncode, cli.INTERRUPTED_STATUS, stderr)
    self.assertGreaterEqual(time.monotonic() - started, 0.9)  # the grace period, then the end
    self.assertEqual(stderr.strip().splitlines(), ["stubborn: interrupted"])


class GinTextTest(tf.test.TestCase):

  def tearDown(self):
    gin.clear_config()
    super().tearDown()

  def test_an_unclosed_bracket_is_named_where_it_was_written(self):
    with self.assertRaisesRegex(cli.UsageError, r"^--gin_bindings 'encoder.mlp_hidden_units = "
                                                r"\(32,': EOF in multi-line statement"):
      cli.parse_gin([], ["encoder.mlp_hidden_units = (32,"])
    gin.clear_config()
    path = os.path.join(self.get_temp_dir(), "unclosed.gin")
    with open(path, "w") as f:
      f.write("training.num_steps = 3\nencoder.mlp_hidden_units = [32,\n")
    with self.assertRaisesRegex(cli.UsageError, rf"^--gin_config {path}: EOF in multi-line"):
      cli.parse_gin([path], [])
    study = os.path.join(self.get_temp_dir(), "unclosed_study.gin")
    with open(study, "w") as f:
      f.write('study.name = "s"\nstudy.models = ["beta_vae"\n')
    with self.assertRaisesRegex(ValueError, rf"^--study {study}: bad study file: EOF in "
                                            "multi-line statement"):
      spec.load_study(study)

  def test_values_of_the_wrong_type(self):
    # An integer learning rate is a number like any other (Keras refused it without its name).
    gin.clear_config()
    cli.parse_gin([], TINY_RUN_BINDINGS + ["training.learning_rate = 1",
                                           "training.num_steps = 1"])
    results = gin_training.train(os.path.join(self.get_temp_dir(), "integer_rate"),
                                 log_fn=lambda line: None)
    self.assertEqual(results["final_step"], 1)
    gin.clear_config()
    # A string where a number belongs: one line naming the binding (what a binary prints and
    # exits with), not a TypeError's traceback.
    cli.parse_gin([], TINY_RUN_BINDINGS + ['beta_vae.beta = "four"'])
    with mock.patch.object(cli, "exit_with_error", side_effect=SystemExit) as exit_with_error:
      with self.assertRaises(SystemExit):
        with cli.one_line_errors("zoo-train"):
          gin_training.check_configuration()
    program, error = exit_with_error.call_args.args
    message = cli.first_line(error)
    self.assertEqual(program, "zoo-train")
    self.assertTrue(re.match(r"^a binding of beta_vae has the wrong type \(beta_vae\.beta = "
                             r"'four'\): '>=' not supported", message), message)


if __name__ == "__main__":
  tf.test.main()
