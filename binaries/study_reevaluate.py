r"""Evaluates a study's finished runs again with its (changed) evaluation settings, then
aggregates.

  zoo-study reevaluate --study=gin_configs/studies/posterior_correlation_cpu.gin \
      --output_dir=/tmp/study

Only the evaluate stage runs, on each run's export, with the study's metrics, evaluation gin
files, bindings and seed, for every finished run whose DONE was written with other evaluation
settings; its DONE is then rewritten with them. Nothing is trained: a run trained with other
settings than the study's is refused, and an unfinished run is left to `zoo-study run`.
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
                            "file.")
  flags.DEFINE_bool("in_process", False, "Evaluate in this process instead of one zoo-evaluate "
                    "process per run.")
  flags.DEFINE_list("main_metrics", None, "Metric columns the summary, tests and plots cover "
                    "(default: studies.report.MAIN_METRICS, those present).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  with cli.one_line_errors("zoo-study reevaluate"):
    if not FLAGS.study:
      raise cli.UsageError("--study is required (the runs and their evaluation settings)")
    if not FLAGS.output_dir:
      raise cli.UsageError("--output_dir is required")
    io_utils.check_writable_directory(FLAGS.output_dir, "--output_dir")
    # pylint: disable=g-import-not-at-top
    from studies import flow
    from studies import reevaluate
    from studies import stages
    # pylint: enable=g-import-not-at-top
    study, runs, _ = flow.load_runs(FLAGS.study, FLAGS.study_bindings)
    from studies import preflight  # pylint: disable=g-import-not-at-top  (TensorFlow)
    preflight.check_study(runs, FLAGS.study, evaluation_only=True)
    evaluate_in_process = None
    if FLAGS.in_process:
      from studies import in_process  # pylint: disable=g-import-not-at-top
      evaluate_in_process = in_process.evaluate_stage
    print(f"[zoo-study] study {study.name}: evaluating the finished runs of {len(runs)} in "
          f"{FLAGS.output_dir} again ({study.metrics})")
    outcome = reevaluate.reevaluate_runs(runs, FLAGS.output_dir,
                                         evaluate_in_process=evaluate_in_process,
                                         env=stages.thread_environment(1))
    print(f"[zoo-study] {len(outcome.reevaluated)} runs evaluated again, "
          f"{len(outcome.up_to_date)} already evaluated with these settings, "
          f"{len(outcome.unfinished)} not finished (zoo-study run finishes them), "
          f"{len(outcome.busy)} held by another zoo-study process")
    flow.write_report(FLAGS.output_dir, study.name, [run.name for run in runs],
                      FLAGS.main_metrics)
  if outcome.failed:
    print(f"zoo-study: error: {len(outcome.failed)} evaluation(s) failed: "
          f"{', '.join(outcome.failed)}; see their logs", file=sys.stderr)
    sys.exit(1)

