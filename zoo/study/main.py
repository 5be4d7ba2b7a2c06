"""zoo-study: runs a study (a grid of training runs), resumable, then aggregates its results.

  zoo-study --study=gin_configs/studies/posterior_correlation_cpu.gin --output_dir=/tmp/study \
      --jobs=2
  zoo-study --study=... --output_dir=/tmp/study --print_commands   # one command per run
  zoo-study --output_dir=/tmp/study --aggregate_only

Every run trains (zoo-train), exports (zoo-export) and evaluates (zoo-evaluate) into
OUTPUT/runs/RUN/ and ends with OUTPUT/runs/RUN/DONE. Rerunning the same command skips finished
runs and resumes the others. At the end OUTPUT/results.csv, summary.md, statistics.json and
plots/ are rewritten from every finished run.
"""
import sys

from absl import app
from absl import flags

from zoo import cli
from zoo import io_utils

FLAGS = flags.FLAGS
flags.DEFINE_string("study", None, "Study gin file (binds study.*).")
flags.DEFINE_multi_string("study_bindings", [], "Gin bindings of study.* applied after the file.")
flags.DEFINE_string("output_dir", None, "Study output directory.")
flags.DEFINE_integer("jobs", 1, "Runs in parallel as local processes.")
flags.DEFINE_multi_string("only_run", [], "Run only these runs (repeatable); no aggregation.")
flags.DEFINE_integer("max_runs", 0, "If > 0, start at most this many unfinished runs now.")
flags.DEFINE_bool("print_commands", False, "Print one shell command per unfinished run (for a "
                  "cluster scheduler) instead of running anything.")
flags.DEFINE_bool("aggregate_only", False, "Only aggregate the finished runs in --output_dir.")
flags.DEFINE_bool("in_process", False, "Run the stages in this process (one run at a time) "
                  "instead of one zoo-train/zoo-export/zoo-evaluate process each.")
flags.DEFINE_list("main_metrics", None, "Metric columns the summary, tests and plots cover "
                  "(default: zoo.study.report.MAIN_METRICS, those present).")


def _report(study_name=None, expected=None):
  from zoo.study import report  # pylint: disable=g-import-not-at-top  (keeps --help fast)
  return report.write_report(FLAGS.output_dir, study_name=study_name, expected_runs=expected,
                             main_metrics=tuple(FLAGS.main_metrics or report.MAIN_METRICS))


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
    from zoo.study import run_dirs
    from zoo.study import spec
    from zoo.study import stages
    # pylint: enable=g-import-not-at-top
    study = spec.load_study(FLAGS.study, FLAGS.study_bindings)
    runs = spec.expand_runs(study)
    names = [run.name for run in runs]
    if FLAGS.aggregate_only:
      _report(study.name, names)
      return
    selected = spec.select_runs(runs, FLAGS.only_run)
    if FLAGS.print_commands:
      run_dirs.check_finished_runs_match(selected, FLAGS.output_dir)
      todo = run_dirs.unfinished_runs(selected, FLAGS.output_dir)
      for command in stages.cluster_commands(FLAGS.study, FLAGS.study_bindings,
                                             FLAGS.output_dir, todo):
        print(command)
      print(f"[zoo-study] {len(todo)} of {len(selected)} runs unfinished; aggregate with "
            f"--aggregate_only once they are done", file=sys.stderr)
      return
    from zoo.study import runner  # pylint: disable=g-import-not-at-top
    runner.install_sigterm_handler()
    print(f"[zoo-study] study {study.name}: {len(runs)} runs in {FLAGS.output_dir} "
          f"(jobs {FLAGS.jobs})")
    run_in_process = None
    if FLAGS.in_process:
      from zoo.study import in_process  # pylint: disable=g-import-not-at-top
      run_in_process = in_process.run_stages
    outcome = runner.run_study(selected, FLAGS.output_dir, jobs=FLAGS.jobs,
                               max_runs=FLAGS.max_runs or None, run_in_process=run_in_process)
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


def run():
  app.run(main)


if __name__ == "__main__":
  run()
