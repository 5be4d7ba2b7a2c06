r"""Prints one `zoo-study run ... --only_run=RUN` shell command per unfinished run of a study.

  zoo-study commands --study=gin_configs/studies/posterior_correlation_cpu.gin \
      --output_dir=/shared/study

For a cluster scheduler: each command runs one run where the scheduler places it (the output
directory must be shared), with the same lock and DONE as `zoo-study run`. The study's settings
are checked first, so that no job is submitted that would fail on them. Aggregate with
`zoo-study aggregate` once the runs are done.
"""
import sys

from absl import app
from absl import flags

from common import cli
from common import io_utils

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("study", None, "Study gin file (binds study.*).")
  flags.DEFINE_string("output_dir", None, "Study output directory.")
  flags.DEFINE_multi_string("study_bindings", [], "Gin bindings of study.* applied after the "
                            "file (passed on to every command).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  with cli.one_line_errors("zoo-study commands"):
    if not FLAGS.study:
      raise cli.UsageError("--study is required")
    if not FLAGS.output_dir:
      raise cli.UsageError("--output_dir is required")
    io_utils.check_writable_directory(FLAGS.output_dir, "--output_dir")
    from studies import flow  # pylint: disable=g-import-not-at-top  (keeps --help fast)
    _, runs, _ = flow.load_runs(FLAGS.study, FLAGS.study_bindings)
    todo, commands = flow.unfinished_commands(FLAGS.study, FLAGS.study_bindings,
                                              FLAGS.output_dir, runs)
    if todo:
      from studies import preflight  # pylint: disable=g-import-not-at-top  (TensorFlow)
      preflight.check_study(todo, FLAGS.study, log_fn=lambda line: print(line, file=sys.stderr))
  for command in commands:
    print(command)
  print(f"[zoo-study] {len(commands)} of {len(runs)} runs unfinished; aggregate with "
        "zoo-study aggregate once they are done", file=sys.stderr)

