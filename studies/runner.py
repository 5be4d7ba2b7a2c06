"""Runs a study's unfinished runs: a local pool of stage processes, or one run at a time in process.

`run_to_done` is one run's stages on whatever machine an executor placed it (the Ray executor's
tasks, `studies.ray_executor`), with the same lock and DONE as the local pool.

Each run goes through its stages (see `stages`) and ends with DONE (see `run_dirs`); a failed
run does not stop the others. One progress line per run start and finish says what is done,
what remains and about how long it will take.
"""
import dataclasses
import os
import signal
import subprocess
import time

from common import io_utils
from common.io_utils import format_duration
from studies import run_dirs
from studies import spec
from studies import stages


@dataclasses.dataclass
class _ActiveRun:
  run: spec.RunConfig
  paths: run_dirs.RunPaths
  commands: list
  started: float
  lock: object
  stage_index: int = 0
  stage_started: float = 0.0
  process: subprocess.Popen = None
  log_file: object = None
  stage_seconds: dict = dataclasses.field(default_factory=dict)

  @property
  def stage(self):
    return self.commands[self.stage_index][0]


@dataclasses.dataclass
class StudyOutcome:
  """Run names finished now, finished before (skipped), failed (name -> stage), not started
  (--max_runs), and busy (another process holds the run's lock)."""
  finished: list
  skipped: list
  failed: dict
  not_started: list
  busy: list = dataclasses.field(default_factory=list)


class Progress:
  """One line per run start and finish, with elapsed time and what remains."""

  def __init__(self, total, jobs, log_fn):
    self.total, self.jobs, self.log_fn = total, jobs, log_fn
    self.start = time.time()
    self.finished = self.failed = self.started = 0
    self.run_seconds = []

  def run_started(self, name):
    self.started += 1
    self.log_fn(f"[zoo-study] start  {name}  ({self.started}/{self.total} started, "
                f"elapsed {format_duration(time.time() - self.start)})")

  def run_ended(self, name, seconds, failed_stage=None, log_path=None):
    self.run_seconds.append(seconds)
    if failed_stage:
      self.failed += 1
      what = f"FAILED at {failed_stage} after {format_duration(seconds)} (log: {log_path})"
    else:
      self.finished += 1
      what = f"done in {format_duration(seconds)}"
    remain = self.total - self.finished - self.failed
    mean = sum(self.run_seconds) / len(self.run_seconds)
    eta = mean * remain / self.jobs
    self.log_fn(f"[zoo-study] {'finish' if not failed_stage else 'fail  '} {name}  {what}; "
                f"{self.finished} done, {self.failed} failed, {remain} remain "
                f"(elapsed {format_duration(time.time() - self.start)}, "
                f"eta ~{format_duration(eta)})")


def _write_done(run, paths, stage_seconds, started):
  """Writes DONE once the stages succeeded -> None, or the stage whose output is missing (the
  reason appended to its log), which fails the run."""
  try:
    run_dirs.write_done(run, paths, stage_seconds, started)
  except FileNotFoundError as e:
    stage = "train" if paths.train_results_file in str(e) else "evaluate"
    with open(paths.log_file(stage), "a") as log_file:
      log_file.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}: zoo-study: {e}\n")
    return stage
  return None


def _start_stage(active, env):
  _, argv = active.commands[active.stage_index]
  log_path = active.paths.log_file(active.stage)
  active.log_file = open(log_path, "a")  # pylint: disable=consider-using-with
  active.stage_started = time.time()
  active.process = stages.start_stage(argv, active.log_file, env)


def _stop_all(active_runs):
  """Stops the stage processes this scheduler started (on interrupt) and releases the runs."""
  stages.stop_stage_processes([active.process for active in active_runs])
  for active in active_runs:
    if active.log_file is not None:
      active.log_file.close()
    active.lock.close()


def plan_runs(runs, output_dir, max_runs, log_fn):
  """The runs to start now (unfinished ones, at most `max_runs`) and the outcome so far.

  Raises:
    ValueError for a bad max_runs, or a finished run whose DONE holds other settings.
  """
  if max_runs is not None and (not isinstance(max_runs, int) or max_runs < 1):
    raise ValueError(f"--max_runs {max_runs!r}: expected a positive integer")
  run_dirs.check_finished_runs_match(runs, output_dir)
  todo = run_dirs.unfinished_runs(runs, output_dir)
  for run in todo:
    reason = run_dirs.unfinished_reason(output_dir, run.name)
    if reason:
      log_fn(f"[zoo-study] {run.name}: {reason}; finishing it again")
  todo_names = {run.name for run in todo}
  skipped = [run.name for run in runs if run.name not in todo_names]
  if skipped:
    log_fn(f"[zoo-study] {len(skipped)} of {len(runs)} runs already finished (DONE); "
           "skipping them")
  now = todo if max_runs is None else todo[:max_runs]
  return now, StudyOutcome(finished=[], skipped=skipped, failed={},
                           not_started=[run.name for run in todo[len(now):]])


def run_study(runs, output_dir, jobs=1, max_runs=None, run_in_process=None, log_fn=print,
              poll_seconds=0.2):
  """Runs every unfinished run of `runs`; skips finished ones (DONE present).

  Args:
    runs: RunConfigs (from `spec.expand_runs`, possibly a selection).
    output_dir: the study directory; runs go to OUTPUT/runs/RUN.
    jobs: runs in parallel, each stage a local subprocess.
    max_runs: start at most this many runs now (None: all); the rest stay for a later call.
    run_in_process: None to run each stage as a subprocess, or a function (run, paths) ->
      (stage seconds, failed stage or None) that runs them in this process, such as
      `studies.in_process.run_stages` (jobs must be 1). Passed in, so that a scheduler of
      subprocesses never loads TensorFlow itself.
    log_fn: where progress lines go.
    poll_seconds: how often running stages are checked.

  Returns:
    A StudyOutcome.
  """
  if not isinstance(jobs, int) or jobs < 1:
    raise ValueError(f"--jobs {jobs!r}: expected a positive integer")
  if run_in_process and jobs != 1:
    raise ValueError(f"--jobs {jobs}: in-process runs go one at a time; expected --jobs=1")
  now, outcome = plan_runs(runs, output_dir, max_runs, log_fn)
  progress = Progress(len(now), jobs, log_fn)

  def begin(run):
    """(paths, lock) of a run this process may work on now, else None."""
    paths = run_dirs.RunPaths.of(output_dir, run.name)
    lock = run_dirs.lock_run(paths)
    if lock is None or run_dirs.is_finished(output_dir, run.name):
      if lock is not None:
        lock.close()
      outcome.busy.append(run.name)
      progress.total -= 1
      log_fn(f"[zoo-study] skip   {run.name}: another zoo-study process is running or has "
             "just finished it")
      return None
    os.makedirs(paths.logs_dir, exist_ok=True)
    progress.run_started(run.name)
    return paths, lock

  if run_in_process:
    for run in now:
      claimed = begin(run)
      if claimed is None:
        continue
      paths, lock = claimed
      started = time.time()
      try:
        seconds, failed_stage = run_in_process(run, paths)
        failed_stage = failed_stage or _write_done(run, paths, seconds, started)
        if failed_stage:
          outcome.failed[run.name] = failed_stage
        else:
          outcome.finished.append(run.name)
      finally:
        lock.close()
      progress.run_ended(run.name, time.time() - started, failed_stage,
                         paths.log_file(failed_stage) if failed_stage else None)
    return outcome

  env = stages.thread_environment(jobs)
  pending = list(now)
  active_runs = []
  try:
    while pending or active_runs:
      while pending and len(active_runs) < jobs:
        run = pending.pop(0)
        claimed = begin(run)
        if claimed is None:
          continue
        paths, lock = claimed
        active = _ActiveRun(run=run, paths=paths, commands=stages.stage_commands(run, paths),
                            started=time.time(), lock=lock)
        active_runs.append(active)
        _start_stage(active, env)
      time.sleep(poll_seconds)
      for active in list(active_runs):
        code = active.process.poll()
        if code is None:
          continue
        active.log_file.close()
        active.stage_seconds[active.stage] = time.time() - active.stage_started
        if code != 0:
          active_runs.remove(active)
          active.lock.close()
          outcome.failed[active.run.name] = active.stage
          progress.run_ended(active.run.name, time.time() - active.started, active.stage,
                             active.paths.log_file(active.stage))
        elif active.stage_index + 1 < len(active.commands):
          active.stage_index += 1
          _start_stage(active, env)
        else:
          active_runs.remove(active)
          failed_stage = _write_done(active.run, active.paths, active.stage_seconds,
                                     active.started)
          active.lock.close()
          if failed_stage:
            outcome.failed[active.run.name] = failed_stage
          else:
            outcome.finished.append(active.run.name)
          progress.run_ended(active.run.name, time.time() - active.started, failed_stage,
                             active.paths.log_file(failed_stage) if failed_stage else None)
  except BaseException:
    _stop_all(active_runs)
    raise
  return outcome


# zoo-train's lock on a model_dir (zoo.training.LOCK_FILE in zoo.training.checkpoints.checkpoint_dir),
# named here rather than imported, so that the scheduler never loads TensorFlow.
TRAINER_LOCK = os.path.join("checkpoints", ".lock")


def wait_for_trainer_to_end(model_dir, timeout_seconds=60.0, poll_seconds=0.1):
  """Waits until no process holds zoo-train's lock on model_dir; False after the timeout.

  A run retried because the worker running it died starts while the kernel may still be
  killing that worker's trainer; the new trainer would find the lock held and fail.
  """
  path = os.path.join(model_dir, TRAINER_LOCK)
  if not os.path.isfile(path):  # no trainer has ever worked here
    return True
  deadline = time.time() + timeout_seconds
  while True:
    lock = io_utils.try_lock(path)[0]
    if lock is not None:
      lock.close()
      return True
    if time.time() >= deadline:
      return False
    time.sleep(poll_seconds)


@dataclasses.dataclass
class RunResult:
  """What `run_to_done` did: status "finished", "failed", "busy" (another process holds the
  run's lock) or "done_before" (DONE was there when the lock was taken); the seconds of each
  stage it ran, the failed stage, and the seconds from its start to its end."""
  status: str
  stage_seconds: dict = dataclasses.field(default_factory=dict)
  failed_stage: str = None
  seconds: float = 0.0


def run_to_done(run, output_dir, env, on_start=None, trainer_wait_seconds=60.0):
  """Runs one run's stages one after the other as processes, and writes DONE.

  What an executor runs where a run is placed (a Ray task, say): it takes the run's lock, skips
  a run with DONE, calls `on_start()` once it works on the run, and keeps the lock until DONE
  is written. Call it from the thread whose end should end the stage processes (see
  `stages.start_stage`).
  """
  paths = run_dirs.RunPaths.of(output_dir, run.name)
  lock = run_dirs.lock_run(paths)
  if lock is None:
    return RunResult("busy")
  try:
    if run_dirs.is_finished(output_dir, run.name):
      return RunResult("done_before")
    os.makedirs(paths.logs_dir, exist_ok=True)
    if on_start is not None:
      on_start()
    started = time.time()
    seconds = {}
    for stage, argv in stages.stage_commands(run, paths):
      stage_started = time.time()
      with open(paths.log_file(stage), "a") as log_file:
        if stage == "train" and not wait_for_trainer_to_end(paths.model_dir,
                                                            trainer_wait_seconds):
          log_file.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}: another zoo-train still "
                         f"holds {os.path.join(paths.model_dir, TRAINER_LOCK)} after "
                         f"{trainer_wait_seconds:g} s; not starting a second one\n")
          return RunResult("failed", seconds, stage, time.time() - started)
        code = stages.run_stage(argv, log_file, env)
      seconds[stage] = time.time() - stage_started
      if code != 0:
        return RunResult("failed", seconds, stage, time.time() - started)
    failed_stage = _write_done(run, paths, seconds, started)
    if failed_stage:
      return RunResult("failed", seconds, failed_stage, time.time() - started)
    return RunResult("finished", seconds, None, time.time() - started)
  finally:
    lock.close()


def install_sigterm_handler():
  """Turns SIGTERM into SystemExit, so a killed study stops the stages it started."""
  def handler(signum, frame):
    del signum, frame
    raise SystemExit(143)
  signal.signal(signal.SIGTERM, handler)
