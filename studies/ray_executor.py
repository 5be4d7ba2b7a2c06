"""Runs a study's unfinished runs as Ray tasks (`zoo-study --executor=ray`).

Each run is one task with the resources of a run (`num_cpus`, `num_gpus`), placed by Ray on a
node of the cluster, where it runs the run's three stages as processes (`runner.run_to_done`):
the same lock, the same DONE and the same files in the shared --output_dir as the local
executor, so skipping finished runs, resuming, `--only_run` and `--aggregate_only` work the same
either way, and a run may be finished by either. Requirements of the cluster: every node has
this package installed with the Python Ray runs (start Ray with the virtual environment's
`ray`) and sees --output_dir, and the study's own gin files (those that are not shipped with
the package), at the same paths. The shipped gin files a run names are those of the node's own
installation, wherever it lies (`_relocated`).

A run whose worker process or node dies is retried by Ray (`max_retries` times) and resumes:
zoo-train continues from the newest intact checkpoint, the export and the evaluation are
redone. A stage process dies with the worker that started it (see `stages.start_stage`), and
the retried task waits for zoo-train's lock on the model_dir to be free before it starts a
trainer, so a retried run never races a second trainer. A stage that fails (exit status not
0) is a failed run and is not retried, as with the local executor.

Progress lines are those of the local executor: the tasks report their start through a Ray
queue, the driver prints the lines as starts and results come in.
"""
import dataclasses
import os
import time

import ray
from ray.util.queue import Queue

from common import cli
from common import gin_files
from studies import run_dirs
from studies import runner
from studies import stages

# Retries of a run whose worker died (Ray's default for tasks); a run that fails a stage is not
# retried.
DEFAULT_MAX_RETRIES = 3
# The object store of a local instance: the tasks pass nothing but a run's configuration.
LOCAL_OBJECT_STORE_BYTES = 100 * 1024 * 1024


def connect(address=None, num_cpus=None, num_gpus=None, log_fn=print):
  """Connects to the Ray cluster at `address`, or starts a local instance.

  Returns:
    True when this call started a Ray instance or connection that `disconnect` should end;
    False when Ray was initialized already (by the caller, e.g. a test).

  Raises:
    ValueError naming --ray_address when the cluster cannot be reached.
  """
  if ray.is_initialized():
    return False
  if address:
    try:
      ray.init(address=address, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as e:
      raise ValueError(f"--ray_address {address}: cannot connect to a Ray cluster there: "
                       f"{cli.first_line(e)}") from e
    log_fn(f"[zoo-study] connected to the Ray cluster at {address}")
  else:
    ray.init(num_cpus=num_cpus, num_gpus=num_gpus, include_dashboard=False,
             object_store_memory=LOCAL_OBJECT_STORE_BYTES, log_to_driver=False)
    resources = ray.cluster_resources()
    log_fn(f"[zoo-study] started a local Ray instance ({resources.get('CPU', 0):g} CPUs, "
           f"{resources.get('GPU', 0):g} GPUs)")
  return True


def disconnect():
  """Ends what `connect` started (a local instance stops; a cluster keeps running)."""
  ray.shutdown()


def _relocated(run, driver_configs):
  """The run with the driver's shipped gin files (under `driver_configs`, the driver's
  `gin_files.shipped_dir()`) pointed at the same files of this node's installation."""
  here = gin_files.shipped_dir()

  def move(path):
    if path.startswith(driver_configs + os.sep):
      return os.path.join(here, path[len(driver_configs) + 1:])
    return path
  return dataclasses.replace(
      run, train_gin_files=tuple(move(p) for p in run.train_gin_files),
      evaluation_gin_files=tuple(move(p) for p in run.evaluation_gin_files))


def _run_task(run, output_dir, threads, driver_configs, events):
  """The Ray task of one run: its stages on this node, reporting its start to the driver."""
  run = _relocated(run, driver_configs)

  def on_start():
    events.put((run.name, os.getpid()))

  env = stages.threads_environment(threads)
  if not ray.get_gpu_ids():
    # Ray sets CUDA_VISIBLE_DEVICES only for tasks it gives GPUs; a run given none must not
    # take a GPU that Ray gives another run on this node.
    env["CUDA_VISIBLE_DEVICES"] = ""
  return runner.run_to_done(run, output_dir, env, on_start=on_start)


_REMOTE_RUN = ray.remote(_run_task)


def _concurrent_runs(count, cpus_per_run, gpus_per_run):
  """How many runs the cluster's resources hold at once (for the time estimate)."""
  resources = ray.cluster_resources()
  slots = [count]
  if cpus_per_run > 0:
    slots.append(int(resources.get("CPU", 0) // cpus_per_run))
  if gpus_per_run > 0:
    slots.append(int(resources.get("GPU", 0) // gpus_per_run))
  return max(1, min(slots))


def run_study(runs, output_dir, cpus_per_run=1.0, gpus_per_run=0.0, max_runs=None,
              max_retries=DEFAULT_MAX_RETRIES, log_fn=print, poll_seconds=0.5):
  """Runs every unfinished run of `runs` as a Ray task; skips finished ones (DONE present).

  Ray must be initialized (`connect`). Arguments as for `runner.run_study`, plus the resources
  of one run's task and the retries of a run whose worker died.

  Returns:
    A `runner.StudyOutcome`.
  """
  if not cpus_per_run > 0:
    raise ValueError(f"--cpus_per_run {cpus_per_run!r}: expected a positive number")
  if not gpus_per_run >= 0:
    raise ValueError(f"--gpus_per_run {gpus_per_run!r}: expected 0 or more")
  if not ray.is_initialized():
    raise ValueError("Ray is not initialized: call studies.ray_executor.connect() first")
  now, outcome = runner.plan_runs(runs, output_dir, max_runs, log_fn)
  if not now:
    return outcome
  progress = runner.Progress(len(now), _concurrent_runs(len(now), cpus_per_run, gpus_per_run),
                             log_fn)
  output_dir = os.path.abspath(output_dir)
  threads = max(1, int(cpus_per_run))
  events = Queue(actor_options={"num_cpus": 0})
  task = _REMOTE_RUN.options(num_cpus=cpus_per_run, num_gpus=gpus_per_run,
                             max_retries=max_retries, retry_exceptions=False)
  pending = {task.remote(run, output_dir, threads, gin_files.shipped_dir(), events): run
             for run in now}
  first_start = {}
  attempts = {}

  def take_events():
    for name, pid in events.get_nowait_batch(events.qsize()) if events.qsize() else ():
      attempts[name] = attempts.get(name, 0) + 1
      if name in first_start:
        log_fn(f"[zoo-study] retry  {name}  (attempt {attempts[name]}, worker pid {pid}: the "
               "previous worker was lost; resuming from the run's checkpoint)")
      else:
        first_start[name] = time.time()
        progress.run_started(name)

  try:
    while pending:
      ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=poll_seconds)
      take_events()  # before the results: a run that ended has reported its start
      for ref in ready:
        run = pending.pop(ref)
        paths = run_dirs.RunPaths.of(output_dir, run.name)
        try:
          result = ray.get(ref)
        except ray.exceptions.RayError as e:  # the retries were used up, or it was cancelled
          outcome.failed[run.name] = "worker"
          log_fn(f"[zoo-study] Ray gave up on {run.name}: {cli.first_line(e)[:300]}")
          if run.name not in first_start:
            first_start[run.name] = time.time()
            progress.run_started(run.name)
          progress.run_ended(run.name, time.time() - first_start[run.name], "worker",
                             paths.logs_dir)
          continue
        if result.status == "busy" or (result.status == "done_before"
                                       and run.name not in first_start):
          outcome.busy.append(run.name)
          progress.total -= 1
          log_fn(f"[zoo-study] skip   {run.name}: another zoo-study process is running or has "
                 "just finished it")
        elif result.status == "failed":
          outcome.failed[run.name] = result.failed_stage
          progress.run_ended(run.name, time.time() - first_start[run.name], result.failed_stage,
                             paths.log_file(result.failed_stage))
        else:  # finished, or finished by an attempt whose worker died before it returned
          outcome.finished.append(run.name)
          progress.run_ended(run.name, time.time() - first_start[run.name])
  except BaseException:
    for ref in pending:
      ray.cancel(ref, force=True)  # kills the workers, and with them their stage processes
    raise
  finally:
    events.shutdown()
  return outcome
