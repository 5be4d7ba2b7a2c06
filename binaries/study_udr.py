"""UDR of every configuration of a study over its finished seeds, then aggregates.

  zoo-study udr --study=gin_configs/studies/posterior_correlation_cpu.gin --output_dir=/tmp/study

Every configuration (a run's name without `-seed<k>`) with at least two finished seeds is
ranked by zoo-udr on the seeds' exports, with the study's evaluation gin files and bindings (the
`udr.*` settings among them) and seed, into OUTPUT/udr/CONFIGURATION/udr_results.json (its log
udr.log beside it); the report's `udr.*` columns come from there.
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
  flags.DEFINE_list("main_metrics", None, "Metric columns the summary, tests and plots cover "
                    "(default: studies.report.MAIN_METRICS, those present).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  with cli.one_line_errors("zoo-study udr"):
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
    preflight.check_study(runs, FLAGS.study, evaluation_only=True, metrics=False)
    _, failed = reevaluate.udr_of_seed_groups(runs, FLAGS.output_dir,
                                              env=stages.thread_environment(1))
    flow.write_report(FLAGS.output_dir, study.name, [run.name for run in runs],
                      FLAGS.main_metrics)
  if failed:
    print(f"zoo-study: error: UDR failed for {', '.join(failed)}; see "
          f"{FLAGS.output_dir}/udr/CONFIGURATION/udr.log", file=sys.stderr)
    sys.exit(1)

