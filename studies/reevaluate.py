"""Evaluating a study's finished runs again, and UDR over the seeds of each configuration.

  zoo-study --study=S --output_dir=O --reevaluate   re-runs only the evaluate stage of every
                                                      finished run whose DONE was written with
                                                      other evaluation settings than S's
  zoo-study --study=S --output_dir=O --udr          UDR of each configuration's seeds

`--reevaluate` never trains or exports: it runs zoo-evaluate on the run's export with the
study's metrics, evaluation gin files, bindings and seed, then rewrites DONE with them (the
training and export timings kept, the evaluation's replaced, `reevaluated` added). So a study
may add metrics to runs that are already trained. Only the evaluation settings may differ from
a DONE's: a run trained with other settings is refused, as without --reevaluate. A run without
DONE is not touched (zoo-study without --reevaluate finishes it), a run already evaluated with
the study's settings is skipped, and a run another process holds (its lock) is left alone. If
the evaluation fails, the old results.json and DONE stay as they were.

UDR (`evaluation.metrics.udr`) ranks models of one configuration that differ only in their
seed, as the reference does: every finished run is scored against the other seeds of its
configuration (its name without `-seed<k>`), groups of at least two runs, by
`zoo-evaluate --udr` on their exports with the study's evaluation gin files and bindings (the
`udr.*` settings among them) and seed. Each group's results go to
OUTPUT/udr/<configuration>/udr_results.json, its log to udr.log beside it; the report reads
them into the `udr.*` columns of results.csv.
"""
import dataclasses
import os
import sys
import time

from common import io_utils
from studies import run_dirs
from studies import spec
from studies import stages

# The fields of a run's identity that --reevaluate may change.
EVALUATION_FIELDS = ("metrics", "evaluation_gin_files", "evaluation_gin_bindings",
                     "evaluation_seed")
UDR_DIR = "udr"


@dataclasses.dataclass
class Outcome:
  """Run names re-evaluated, skipped as already evaluated so, not finished, held by another
  process, and failed (name -> log file)."""
  reevaluated: list = dataclasses.field(default_factory=list)
  up_to_date: list = dataclasses.field(default_factory=list)
  unfinished: list = dataclasses.field(default_factory=list)
  busy: list = dataclasses.field(default_factory=list)
  failed: dict = dataclasses.field(default_factory=dict)


def _differing(run, done, fields):
  recorded = run_dirs._recorded_identity(done)  # pylint: disable=protected-access
  current = run.identity()
  return [k for k in fields if recorded[k] != current[k]]


def check_trained_runs_match(runs, output_dir):
  """ValueError if a finished run was trained with other settings than the study says (only
  the evaluation settings may differ)."""
  training_fields = [f for f in spec.IDENTITY_FIELDS if f not in EVALUATION_FIELDS]
  for run in runs:
    done = run_dirs.read_done(output_dir, run.name)
    if done is None:
      continue
    differing = _differing(run, done, training_fields)
    if differing:
      raise ValueError(f"--output_dir {output_dir}: run {run.name} was trained with a "
                       f"different {', '.join(differing)}; --reevaluate changes only the "
                       "evaluation settings")


def _evaluate_as_process(run, paths, env):
  """Runs the evaluate stage's zoo-evaluate; True if it succeeded."""
  argv = dict(stages.stage_commands(run, paths))["evaluate"]
  with open(paths.log_file("evaluate"), "a") as log_file:
    return stages.run_stage(argv, log_file, env) == 0


def reevaluate_runs(runs, output_dir, evaluate_in_process=None, log_fn=print, env=None):
  """Re-runs the evaluate stage of the finished `runs` evaluated with other settings.

  Args:
    runs: `spec.RunConfig`s of the study (its current settings).
    output_dir: the study's output directory.
    evaluate_in_process: None (zoo-evaluate as a process) or a function (run, paths) -> True
      on success, such as `studies.in_process.evaluate_stage`.
    log_fn: where the progress lines go.
    env: environment of the zoo-evaluate processes (default: this one's).

  Returns:
    An `Outcome`.
  """
  check_trained_runs_match(runs, output_dir)
  outcome = Outcome()
  for run in runs:
    done = run_dirs.read_done(output_dir, run.name)
    if done is None:
      outcome.unfinished.append(run.name)
      continue
    if not _differing(run, done, EVALUATION_FIELDS):
      outcome.up_to_date.append(run.name)
      continue
    paths = run_dirs.RunPaths.of(output_dir, run.name)
    lock = run_dirs.lock_run(paths)
    if lock is None:
      outcome.busy.append(run.name)
      continue
    try:
      os.makedirs(paths.logs_dir, exist_ok=True)
      log_fn(f"[zoo-study] reevaluate {run.name} ({run.metrics})")
      started = time.time()
      if evaluate_in_process is not None:
        succeeded = evaluate_in_process(run, paths)
      else:
        succeeded = _evaluate_as_process(run, paths, env)
      seconds = time.time() - started
      if not succeeded:
        outcome.failed[run.name] = paths.log_file("evaluate")
        log_fn(f"[zoo-study] fail   {run.name}: evaluation failed after {seconds:.1f} s (log: "
               f"{paths.log_file('evaluate')}); its previous results and DONE are kept")
        continue
      record = dict(done)
      record["config"] = run.to_json()
      record["stage_seconds"] = {**done.get("stage_seconds", {}), "evaluate": seconds}
      record["reevaluated"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
      io_utils.write_json_atomically(paths.done_file, record)
      outcome.reevaluated.append(run.name)
      log_fn(f"[zoo-study] finish {run.name}: evaluated in {seconds:.1f} s")
    finally:
      lock.close()
  return outcome


def seed_groups(runs):
  """{configuration: [runs]}: runs whose names differ only in `-seed<k>`, in the given order."""
  groups = {}
  for run in runs:
    groups.setdefault(run.name[:run.name.rindex("-seed")], []).append(run)
  return groups


def udr_of_seed_groups(runs, output_dir, log_fn=print, env=None, python=None):
  """UDR of every configuration with at least two finished seeds (see the module docstring).

  Returns:
    {configuration: path of its udr_results.json} for the groups computed, and the
    configurations whose zoo-evaluate --udr failed, {configuration: log file}.
  """
  python = stages.python_command(python or sys.executable)
  written, failed = {}, {}
  for group, members in seed_groups(runs).items():
    finished = [run for run in members if run_dirs.read_done(output_dir, run.name) is not None]
    if len(finished) < 2:
      continue
    first = finished[0]
    group_dir = os.path.join(output_dir, UDR_DIR, group)
    os.makedirs(group_dir, exist_ok=True)
    argv = [*python, "-m", "binaries.evaluate_main", "--udr",
            f"--output_dir={group_dir}", f"--seed={first.evaluation_seed}"]
    argv += [f"--saved_model={run_dirs.RunPaths.of(output_dir, run.name).export_dir}"
             for run in finished]
    argv += [f"--gin_config={f}" for f in first.evaluation_gin_files]
    argv += [f"--gin_bindings={b}" for b in first.evaluation_gin_bindings]
    log_path = os.path.join(group_dir, "udr.log")
    log_fn(f"[zoo-study] udr    {group} ({len(finished)} seeds)")
    with open(log_path, "a") as log_file:
      code = stages.run_stage(argv, log_file, env)
    if code == 0:
      written[group] = os.path.join(group_dir, "udr_results.json")
    else:
      failed[group] = log_path
      log_fn(f"[zoo-study] fail   udr of {group} (log: {log_path})")
  return written, failed
