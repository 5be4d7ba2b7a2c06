"""What zoo-study's subcommands do beyond running runs: loading the runs, the commands for a
cluster scheduler, the report, and what the outcome of a study says to its user.

  zoo-study run         runner.run_study / ray_executor.run_study, then `write_report`
  zoo-study commands    `unfinished_commands`
  zoo-study aggregate   `write_report`
  zoo-study reevaluate  reevaluate.reevaluate_runs, then `write_report`
  zoo-study udr         reevaluate.udr_of_seed_groups, then `write_report`

Nothing here imports TensorFlow.
"""
from studies import report
from studies import run_dirs
from studies import spec
from studies import stages


def load_runs(study_file, study_bindings=(), only_run=()):
  """(StudySpec, every run of the study, the runs `only_run` selects: all when empty)."""
  study = spec.load_study(study_file, study_bindings)
  runs = spec.expand_runs(study)
  return study, runs, spec.select_runs(runs, only_run)


def write_report(output_dir, study_name=None, expected_runs=None, main_metrics=None,
                 log_fn=print):
  """The study's report from its finished runs (`studies.report.write_report`)."""
  return report.write_report(output_dir, study_name=study_name, expected_runs=expected_runs,
                             main_metrics=tuple(main_metrics or report.MAIN_METRICS),
                             log_fn=log_fn)


def unfinished_commands(study_file, study_bindings, output_dir, runs):
  """The unfinished runs of `runs`, and one `zoo-study run ... --only_run=RUN` shell command
  for each.

  Raises:
    ValueError: a finished run was made with other settings (as `zoo-study run` would).
  """
  run_dirs.check_finished_runs_match(runs, output_dir)
  todo = run_dirs.unfinished_runs(runs, output_dir)
  return todo, stages.cluster_commands(study_file, study_bindings, output_dir, todo)


def outcome_lines(outcome, output_dir):
  """(lines for stdout, the error line or None) that close `zoo-study run`."""
  lines = []
  if outcome.busy:
    lines.append(f"[zoo-study] {len(outcome.busy)} runs skipped: another zoo-study process is "
                 f"working on them ({', '.join(outcome.busy)})")
  if outcome.not_started:
    lines.append(f"[zoo-study] {len(outcome.not_started)} runs not started (--max_runs); rerun "
                 "the same command to continue")
  error = None
  if outcome.failed:
    failed = ", ".join(f"{name} ({stage})" for name, stage in outcome.failed.items())
    error = (f"{len(outcome.failed)} run(s) failed: {failed}; see "
             f"{output_dir}/runs/RUN/logs/")
  return lines, error
