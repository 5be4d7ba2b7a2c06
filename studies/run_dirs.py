"""A run's directory OUTPUT/runs/RUN: where its outputs go, its lock, and its DONE record.

  model/        zoo-train (resumes from its checkpoint)
  export/       zoo-export --overwrite
  evaluation/   zoo-evaluate --saved_model (results.json)
  logs/         STAGE.log, each stage's output headed by its command line
  .lock         held (flock) while a process works on the run
  DONE          written atomically as the last step: the run's configuration and timings

A run with DONE is never repeated, so rerunning an interrupted study finishes only what is
missing; a run without DONE restarts its stages, which each pick up what the previous attempt
left. DONE is written only once every file the report reads (`REQUIRED_OUTPUTS`) is in place,
and a run whose DONE is there but one of those files is not, or whose DONE does not read back
(a truncated file), counts as unfinished: its stages run again (zoo-train, with nothing left to
do, rewrites a missing train_results.json) and DONE is written anew.
"""
import dataclasses
import json
import os
import time

from common import io_utils
from studies.spec import IDENTITY_DEFAULTS
from studies.spec import IDENTITY_FIELDS


@dataclasses.dataclass(frozen=True)
class RunPaths:
  """Where one run's outputs go."""
  run_dir: str

  @classmethod
  def of(cls, output_dir, run_name):
    return cls(os.path.join(output_dir, "runs", run_name))

  model_dir = property(lambda self: os.path.join(self.run_dir, "model"))
  export_dir = property(lambda self: os.path.join(self.run_dir, "export"))
  evaluation_dir = property(lambda self: os.path.join(self.run_dir, "evaluation"))
  results_file = property(lambda self: os.path.join(self.run_dir, "evaluation", "results.json"))
  train_results_file = property(lambda self: os.path.join(self.run_dir, "model",
                                                          "train_results.json"))
  logs_dir = property(lambda self: os.path.join(self.run_dir, "logs"))
  done_file = property(lambda self: os.path.join(self.run_dir, "DONE"))
  lock_file = property(lambda self: os.path.join(self.run_dir, ".lock"))

  def log_file(self, stage):
    return os.path.join(self.logs_dir, f"{stage}.log")


def lock_run(paths):
  """An exclusive lock on one run, or None if another process holds it.

  Keeps two zoo-study processes (say, a cluster command submitted twice) from working on the
  same run. The lock is the open file returned; it is released when that file is closed or the
  process dies, so a killed study leaves no stale lock.
  """
  os.makedirs(paths.run_dir, exist_ok=True)
  return io_utils.try_lock(paths.lock_file)[0]


# What the report reads of a finished run, as RunPaths properties: DONE vouches for them.
REQUIRED_OUTPUTS = ("results_file", "train_results_file")


class DamagedDone(ValueError):
  """A DONE file that does not read back as a DONE record."""


def read_done_file(path):
  """The record in the DONE file `path`, or None if there is none.

  Raises:
    DamagedDone naming the file, for one that is not a JSON object with a `config`.
  """
  if not os.path.isfile(path):
    return None
  try:
    with open(path, encoding="utf-8") as f:
      record = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise DamagedDone(f"{path}: damaged ({' '.join(str(e).split())})") from e
  if not isinstance(record, dict) or not isinstance(record.get("config"), dict):
    raise DamagedDone(f"{path}: damaged (expected a JSON object with the run's config)")
  return record


def read_done(output_dir, run_name):
  """The DONE record of a finished run, or None (also for a DONE that does not read back:
  such a run is finished again, see the module docstring)."""
  try:
    return read_done_file(RunPaths.of(output_dir, run_name).done_file)
  except DamagedDone:
    return None


def missing_outputs(paths):
  """The files of REQUIRED_OUTPUTS that `paths` lacks."""
  return [getattr(paths, name) for name in REQUIRED_OUTPUTS
          if not os.path.isfile(getattr(paths, name))]


def is_finished(output_dir, run_name):
  """Whether a run has a readable DONE and every file it vouches for."""
  return (read_done(output_dir, run_name) is not None
          and not missing_outputs(RunPaths.of(output_dir, run_name)))


def unfinished_reason(output_dir, run_name):
  """Why a run with a DONE file counts as unfinished, or None (no DONE file, or finished)."""
  paths = RunPaths.of(output_dir, run_name)
  try:
    if read_done_file(paths.done_file) is None:
      return None
  except DamagedDone as e:
    return str(e)
  missing = missing_outputs(paths)
  if missing:
    return f"{', '.join(missing)} missing although {paths.done_file} says the run finished"
  return None


def write_done(run, paths, stage_seconds, started):
  """Marks a run finished: its configuration, the seconds of each stage and in all.

  Raises:
    FileNotFoundError: a file DONE would vouch for is missing (DONE is not written).
  """
  missing = missing_outputs(paths)
  if missing:
    raise FileNotFoundError(f"run {run.name}: {', '.join(missing)} missing after its stages "
                            "finished; not marking it done")
  io_utils.write_json_atomically(paths.done_file, {
      "run": run.name, "config": run.to_json(), "stage_seconds": stage_seconds,
      "elapsed_seconds": time.time() - started,
      "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


def _recorded_identity(done):
  """The identity fields of a DONE record, gin files by name, absent fields at their default."""
  config = done.get("config", {})
  recorded = {field: config.get(field, IDENTITY_DEFAULTS.get(field)) for field in IDENTITY_FIELDS}
  return {k: ([os.path.basename(p) for p in v] if k.endswith("_gin_files") and v else v)
          for k, v in recorded.items()}


def check_finished_runs_match(runs, output_dir):
  """Refuses to mix results: a DONE written with another configuration is an error.

  Besides the runs given, every finished run of one of their models is checked for the values
  its study swept: a study whose sweep changed would otherwise aggregate the runs of the old
  sweep values with the new ones.
  """
  for run in runs:
    done = read_done(output_dir, run.name)
    if done is None:
      continue
    recorded = _recorded_identity(done)
    current = run.identity()
    differing = [k for k in IDENTITY_FIELDS if recorded[k] != current[k]]
    if differing:
      raise ValueError(f"--output_dir {output_dir}: run {run.name} was finished with a "
                       f"different {', '.join(differing)}; use a new --output_dir for a "
                       "changed study")
  axes_by_model = {run.model: run.identity()["sweep_axes"] for run in runs}
  runs_dir = os.path.join(output_dir, "runs")
  names = {run.name for run in runs}
  for name in sorted(os.listdir(runs_dir)) if os.path.isdir(runs_dir) else ():
    if name in names:
      continue
    done = read_done(output_dir, name)
    if done is None:
      continue
    recorded = _recorded_identity(done)
    model = recorded["model"]
    if model in axes_by_model and recorded["sweep_axes"] != axes_by_model[model]:
      raise ValueError(f"--output_dir {output_dir}: run {name} was finished by a study that "
                       f"swept {json.dumps(recorded['sweep_axes'])} for {model}, this one "
                       f"sweeps {json.dumps(axes_by_model[model])}; use a new --output_dir "
                       "for a changed sweep")


def unfinished_runs(runs, output_dir):
  """The runs not finished (see `is_finished`), in the given order."""
  return [run for run in runs if not is_finished(output_dir, run.name)]
