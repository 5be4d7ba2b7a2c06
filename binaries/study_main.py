"""zoo-study: runs a study (a grid of training runs), resumable, then aggregates its results.

  zoo-study --study=gin_configs/studies/posterior_correlation_cpu.gin --output_dir=/tmp/study \
      --jobs=2
  zoo-study --study=... --output_dir=/tmp/study --print_commands   # one command per run
  zoo-study --study=... --output_dir=/shared/study --executor=ray --ray_address=HEAD:6379
  zoo-study --output_dir=/tmp/study --aggregate_only
  zoo-study --study=... --output_dir=/tmp/study --reevaluate   # changed metrics, no training
  zoo-study --study=... --output_dir=/tmp/study --udr          # UDR over each config's seeds

Every run trains (zoo-train), exports (zoo-export) and evaluates (zoo-evaluate) into
OUTPUT/runs/RUN/ and ends with OUTPUT/runs/RUN/DONE. Rerunning the same command skips finished
runs and resumes the others. At the end OUTPUT/results.csv, summary.md, statistics.json and
plots/ are rewritten from every finished run.
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
flags.DEFINE_string("study", None, "Study gin file (binds study.*).")
flags.DEFINE_multi_string("study_bindings", [], "Gin bindings of study.* applied after the file.")
flags.DEFINE_string("output_dir", None, "Study output directory.")
flags.DEFINE_integer("jobs", 1, "Runs in parallel as local processes (--executor=local).")
flags.DEFINE_enum("executor", "local", ["local", "ray"], "Where runs run: local processes, or "
                  "Ray tasks on a cluster (--ray_address) or on a local Ray instance.")
flags.DEFINE_float("cpus_per_run", 1.0, "--executor=ray: CPUs a run's task takes (and its "
                   "stages' threads).")
flags.DEFINE_float("gpus_per_run", 0.0, "--executor=ray: GPUs a run's task takes.")
flags.DEFINE_string("ray_address", None, "--executor=ray: address of a running Ray cluster "
                    "(e.g. HEAD:6379, or 'auto'); without it a local Ray instance is started.")
flags.DEFINE_multi_string("only_run", [], "Run only these runs (repeatable); no aggregation.")
flags.DEFINE_integer("max_runs", 0, "If > 0, start at most this many unfinished runs now.")
flags.DEFINE_bool("print_commands", False, "Print one shell command per unfinished run (for a "
                  "cluster scheduler) instead of running anything.")
flags.DEFINE_bool("aggregate_only", False, "Only aggregate the finished runs in --output_dir.")
flags.DEFINE_bool("in_process", False, "Run the stages in this process (one run at a time) "
                  "instead of one zoo-train/zoo-export/zoo-evaluate process each.")
flags.DEFINE_bool("reevaluate", False, "Only evaluate again, with the study's (changed) "
                  "metrics and evaluation settings, the finished runs evaluated otherwise; no "
                  "training, then aggregate.")
flags.DEFINE_bool("udr", False, "Also compute UDR of every configuration's finished seeds "
                  "(zoo-evaluate --udr on their exports) before aggregating.")
flags.DEFINE_list("main_metrics", None, "Metric columns the summary, tests and plots cover "
                  "(default: studies.report.MAIN_METRICS, those present).")


def _report(study_name=None, expected=None):
  from studies import report  # pylint: disable=g-import-not-at-top  (keeps --help fast)
  return report.write_report(FLAGS.output_dir, study_name=study_name, expected_runs=expected,
                             main_metrics=tuple(FLAGS.main_metrics or report.MAIN_METRICS))


def _check_executor_flags():
  """Refuses flags that the chosen executor would ignore."""
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
  if FLAGS.print_commands:
    raise cli.UsageError("--print_commands prints commands for another scheduler; not with "
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
  with cli.one_line_errors("zoo-study"):
    if not FLAGS.output_dir:
      raise cli.UsageError("--output_dir is required")
    if FLAGS.aggregate_only and FLAGS.print_commands:
      raise cli.UsageError("--aggregate_only and --print_commands exclude each other")
    if FLAGS.jobs < 1:
      raise cli.UsageError(f"--jobs {FLAGS.jobs}: expected a positive integer")
    if FLAGS.in_process and FLAGS.jobs != 1:
      raise cli.UsageError(f"--jobs {FLAGS.jobs}: in-process runs go one at a time; expected "
                           "--jobs=1")
    if FLAGS.max_runs < 0:
      raise cli.UsageError(f"--max_runs {FLAGS.max_runs}: expected 0 (no limit) or more")
    _check_executor_flags()
    _check_reevaluate_flags()
    # Before any run starts (and before TensorFlow loads), so that a bad target costs nothing.
    io_utils.check_writable_directory(FLAGS.output_dir, "--output_dir")
    if FLAGS.aggregate_only and not FLAGS.study:
      _report()
      return
    if not FLAGS.study:
      raise cli.UsageError("--study is required (except with --aggregate_only)")
    # Imports after flag parsing keep `zoo-study --help` fast; TensorFlow loads only for
    # in-process stages.
    # pylint: disable=g-import-not-at-top
    from studies import run_dirs
    from studies import spec
    from studies import stages
    # pylint: enable=g-import-not-at-top
    study = spec.load_study(FLAGS.study, FLAGS.study_bindings)
    runs = spec.expand_runs(study)
    names = [run.name for run in runs]
    if FLAGS.aggregate_only:
      _report(study.name, names)
      return
    selected = spec.select_runs(runs, FLAGS.only_run)
    if FLAGS.reevaluate:
      _reevaluate(study, runs, names, selected)
      return
    if FLAGS.print_commands:
      run_dirs.check_finished_runs_match(selected, FLAGS.output_dir)
      todo = run_dirs.unfinished_runs(selected, FLAGS.output_dir)
      for command in stages.cluster_commands(FLAGS.study, FLAGS.study_bindings,
                                             FLAGS.output_dir, todo):
        print(command)
      print(f"[zoo-study] {len(todo)} of {len(selected)} runs unfinished; aggregate with "
            f"--aggregate_only once they are done", file=sys.stderr)
      return
    from studies import runner  # pylint: disable=g-import-not-at-top
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
    udr_failed = _udr(runs) if FLAGS.udr else {}
    if not FLAGS.only_run:
      _report(study.name, names)
    if outcome.busy:
      print(f"[zoo-study] {len(outcome.busy)} runs skipped: another zoo-study process is "
            f"working on them ({', '.join(outcome.busy)})")
    if outcome.not_started:
      print(f"[zoo-study] {len(outcome.not_started)} runs not started (--max_runs); rerun the "
            "same command to continue")
    if outcome.failed:
      failed = ", ".join(f"{name} ({stage})" for name, stage in outcome.failed.items())
      print(f"zoo-study: error: {len(outcome.failed)} run(s) failed: {failed}; see "
            f"{FLAGS.output_dir}/runs/RUN/logs/", file=sys.stderr)
      sys.exit(1)
    if udr_failed:
      print(f"zoo-study: error: UDR failed for {', '.join(udr_failed)}; see "
            f"{FLAGS.output_dir}/udr/CONFIGURATION/udr.log", file=sys.stderr)
      sys.exit(1)


def _check_reevaluate_flags():
  """Refuses flags that --reevaluate and --udr would ignore."""
  for name in ("reevaluate", "udr"):
    if not FLAGS[name].value:
      continue
    if not FLAGS.study:
      raise cli.UsageError(f"--{name} needs --study (the runs and their evaluation settings)")
    for other in ("aggregate_only", "print_commands"):
      if FLAGS[other].value:
        raise cli.UsageError(f"--{name} and --{other} exclude each other")
  if FLAGS.udr and FLAGS.only_run:
    raise cli.UsageError("--udr compares the seeds of each configuration; not with --only_run")
  if FLAGS.reevaluate:
    if FLAGS.executor != "local":
      raise cli.UsageError("--reevaluate runs zoo-evaluate on this machine; not with "
                           "--executor=ray")
    if FLAGS.jobs != 1 or FLAGS.max_runs:
      raise cli.UsageError("--reevaluate evaluates one run at a time; --jobs and --max_runs "
                           "apply to training runs")


def _udr(runs):
  from studies import reevaluate  # pylint: disable=g-import-not-at-top
  from studies import stages  # pylint: disable=g-import-not-at-top
  _, failed = reevaluate.udr_of_seed_groups(runs, FLAGS.output_dir,
                                            env=stages.thread_environment(1))
  return failed


def _reevaluate(study, runs, names, selected):
  """--reevaluate: the evaluate stage of the finished runs, [UDR], then the report."""
  # pylint: disable=g-import-not-at-top
  from studies import reevaluate
  from studies import stages
  # pylint: enable=g-import-not-at-top
  evaluate_in_process = None
  if FLAGS.in_process:
    from studies import in_process  # pylint: disable=g-import-not-at-top
    evaluate_in_process = in_process.evaluate_stage
  print(f"[zoo-study] study {study.name}: evaluating the finished runs of {len(selected)} in "
        f"{FLAGS.output_dir} again ({study.metrics})")
  outcome = reevaluate.reevaluate_runs(selected, FLAGS.output_dir,
                                       evaluate_in_process=evaluate_in_process,
                                       env=stages.thread_environment(1))
  print(f"[zoo-study] {len(outcome.reevaluated)} runs evaluated again, "
        f"{len(outcome.up_to_date)} already evaluated with these settings, "
        f"{len(outcome.unfinished)} not finished (rerun without --reevaluate to train them), "
        f"{len(outcome.busy)} held by another zoo-study process")
  udr_failed = _udr(runs) if FLAGS.udr else {}
  if not FLAGS.only_run:
    _report(study.name, names)
  failed = [f"{name} (evaluate)" for name in outcome.failed]
  failed += [f"udr of {group}" for group in udr_failed]
  if failed:
    print(f"zoo-study: error: {len(failed)} evaluation(s) failed: {', '.join(failed)}; see "
          "their logs", file=sys.stderr)
    sys.exit(1)


def run():
  app.run(main)


if __name__ == "__main__":
  run()
