r"""Checks a study's settings, runs its unfinished runs, then aggregates their results.

  zoo-study run --study=gin_configs/studies/posterior_correlation_cpu.gin --output_dir=/tmp/study \
      --jobs=2
  zoo-study run --study=... --output_dir=/shared/study --executor=ray --ray_address=HEAD:6379
  zoo-study run --study=... --output_dir=/tmp/study --only_run=RUN   # one run, no aggregation

Every binding of every stage is parsed and checked before the first run starts. Each run
trains, exports and evaluates into OUTPUT/runs/RUN/ and ends with its DONE; rerunning the same
command skips finished runs and resumes the others. Then OUTPUT/results.csv, summary.md,
statistics.json and plots/ are rewritten from every finished run.
"""
import os
import sys

from absl import app
from absl import flags

from common import cli
from common import io_utils

FLAGS = flags.FLAGS
# Read when Ray is imported: with it, every address of a local Ray instance stays on the
# loopback interface (Ray otherwise binds and announces the machine's outward address). Not
# for a driver that joins a cluster, whose nodes must reach it.
RAY_LOOPBACK_ENVIRONMENT = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}


def define_flags():
  flags.DEFINE_string("study", None, "Study gin file (binds study.*).")
  flags.DEFINE_string("output_dir", None, "Study output directory.")
  flags.DEFINE_multi_string("study_bindings", [], "Gin bindings of study.* applied after the "
                            "file.")
  flags.DEFINE_integer("jobs", 1, "Runs in parallel as local processes (--executor=local).")
  flags.DEFINE_enum("executor", "local", ["local", "ray"], "Where runs run: local processes, "
                    "or Ray tasks on a cluster (--ray_address) or on a local Ray instance.")
  flags.DEFINE_float("cpus_per_run", 1.0, "--executor=ray: CPUs a run's task takes (and its "
                     "stages' threads).")
  flags.DEFINE_float("gpus_per_run", 0.0, "--executor=ray: GPUs a run's task takes.")
  flags.DEFINE_string("ray_address", None, "--executor=ray: address of a running Ray cluster "
                      "(e.g. HEAD:6379, or 'auto'); without it a local Ray instance is started.")
  flags.DEFINE_multi_string("only_run", [], "Run only these runs (repeatable); no "
                            "aggregation.")
  flags.DEFINE_integer("max_runs", 0, "If > 0, start at most this many unfinished runs now.")
  flags.DEFINE_bool("in_process", False, "Run the stages in this process (one run at a time) "
                    "instead of one zoo-train/zoo-export/zoo-evaluate process each.")
  flags.DEFINE_list("main_metrics", None, "Metric columns the summary, tests and plots cover "
                    "(default: studies.report.MAIN_METRICS, those present).")


def _check_flags():
  """Refuses missing flags and flags that the chosen executor would ignore."""
  if not FLAGS.study:
    raise cli.UsageError("--study is required")
  if not FLAGS.output_dir:
    raise cli.UsageError("--output_dir is required")
  if FLAGS.jobs < 1:
    raise cli.UsageError(f"--jobs {FLAGS.jobs}: expected a positive integer")
  if FLAGS.in_process and FLAGS.jobs != 1:
    raise cli.UsageError(f"--jobs {FLAGS.jobs}: in-process runs go one at a time; expected "
                         "--jobs=1")
  if FLAGS.max_runs < 0:
    raise cli.UsageError(f"--max_runs {FLAGS.max_runs}: expected 0 (no limit) or more")
  ray_flags = ("cpus_per_run", "gpus_per_run", "ray_address")
  if FLAGS.executor == "local":
    given = [name for name in ray_flags if FLAGS[name].present]
    if given:
      raise cli.UsageError(f"--{given[0]} applies to --executor=ray only")
    return
  if FLAGS.jobs != 1:
    raise cli.UsageError(f"--jobs {FLAGS.jobs}: applies to --executor=local; Ray runs as many "
                         "runs at once as the cluster's resources hold (--cpus_per_run, "
                         "--gpus_per_run)")
  if FLAGS.in_process:
    raise cli.UsageError("--in_process runs the stages in this process; not with "
                         "--executor=ray")
  if not FLAGS.cpus_per_run > 0:
    raise cli.UsageError(f"--cpus_per_run {FLAGS.cpus_per_run:g}: expected a positive number")
  if not FLAGS.gpus_per_run >= 0:
    raise cli.UsageError(f"--gpus_per_run {FLAGS.gpus_per_run:g}: expected 0 or more")


def _run_on_ray(study, runs, selected):
  """The runs as Ray tasks: on the cluster at --ray_address, or on a local instance."""
  if not FLAGS.ray_address:
    for variable, value in RAY_LOOPBACK_ENVIRONMENT.items():
      os.environ.setdefault(variable, value)
  try:
    from studies import ray_executor  # pylint: disable=g-import-not-at-top
  except ImportError as e:
    raise cli.UsageError(f"--executor=ray: Ray is not installed ({cli.first_line(e)}); "
                         "install it with pip install '.[ray]'") from e
  started = ray_executor.connect(FLAGS.ray_address)
  try:
    print(f"[zoo-study] study {study.name}: {len(runs)} runs in {FLAGS.output_dir} (Ray tasks "
          f"of {FLAGS.cpus_per_run:g} CPUs, {FLAGS.gpus_per_run:g} GPUs)")
    return ray_executor.run_study(selected, FLAGS.output_dir, cpus_per_run=FLAGS.cpus_per_run,
                                  gpus_per_run=FLAGS.gpus_per_run,
                                  max_runs=FLAGS.max_runs or None)
  finally:
    if started:
      ray_executor.disconnect()


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  with cli.one_line_errors("zoo-study run"):
    _check_flags()
    # Before any run starts (and before TensorFlow loads), so that a bad target costs nothing.
    io_utils.check_writable_directory(FLAGS.output_dir, "--output_dir")
    # Imports after flag parsing keep `--help` and flag mistakes fast.
    # pylint: disable=g-import-not-at-top
    from studies import flow
    from studies import runner
    # pylint: enable=g-import-not-at-top
    study, runs, selected = flow.load_runs(FLAGS.study, FLAGS.study_bindings, FLAGS.only_run)
    from studies import preflight  # pylint: disable=g-import-not-at-top  (TensorFlow)
    preflight.check_study(selected, FLAGS.study)
    runner.install_sigterm_handler()
    if FLAGS.executor == "ray":
      outcome = _run_on_ray(study, runs, selected)
    else:
      print(f"[zoo-study] study {study.name}: {len(runs)} runs in {FLAGS.output_dir} "
            f"(jobs {FLAGS.jobs})")
      run_in_process = None
      if FLAGS.in_process:
        from studies import in_process  # pylint: disable=g-import-not-at-top
        run_in_process = in_process.run_stages
      outcome = runner.run_study(selected, FLAGS.output_dir, jobs=FLAGS.jobs,
                                 max_runs=FLAGS.max_runs or None, run_in_process=run_in_process)
    if not FLAGS.only_run:
      flow.write_report(FLAGS.output_dir, study.name, [run.name for run in runs],
                        FLAGS.main_metrics)
  lines, error = flow.outcome_lines(outcome, FLAGS.output_dir)
  for line in lines:
    print(line)
  if error:
    print(f"zoo-study: error: {error}", file=sys.stderr)
    sys.exit(1)

