"""Rewrites a study's report (results.csv, summary.md, statistics.json, plots/) from its
finished runs.

  zoo-study aggregate --output_dir=/tmp/study
  zoo-study aggregate --output_dir=/tmp/study --study=gin_configs/studies/...   # lists the
                                                                                # unfinished runs

Trains and evaluates nothing. With --study the summary is named after the study and lists
the study's runs that are not finished yet.
"""
import sys

from absl import app
from absl import flags

from common import cli
from common import io_utils

FLAGS = flags.FLAGS


def define_flags():
  flags.DEFINE_string("output_dir", None, "Study output directory.")
  flags.DEFINE_string("study", None, "Study gin file (optional): names the study and its runs.")
  flags.DEFINE_multi_string("study_bindings", [], "Gin bindings of study.* applied after the "
                            "file.")
  flags.DEFINE_list("main_metrics", None, "Metric columns the summary, tests and plots cover "
                    "(default: studies.report.MAIN_METRICS, those present).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  with cli.one_line_errors("zoo-study aggregate"):
    if not FLAGS.output_dir:
      raise cli.UsageError("--output_dir is required")
    if FLAGS.study_bindings and not FLAGS.study:
      raise cli.UsageError("--study_bindings applies to the --study file; give --study")
    io_utils.check_writable_directory(FLAGS.output_dir, "--output_dir")
    from studies import flow  # pylint: disable=g-import-not-at-top
    if FLAGS.study:
      study, runs, _ = flow.load_runs(FLAGS.study, FLAGS.study_bindings)
      flow.write_report(FLAGS.output_dir, study.name, [run.name for run in runs],
                        FLAGS.main_metrics)
    else:
      flow.write_report(FLAGS.output_dir, main_metrics=FLAGS.main_metrics)

