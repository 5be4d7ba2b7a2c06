"""The three stages of a run as processes of the project's binaries, and the cluster commands.

  train     zoo-train    --model_dir=OUTPUT/runs/RUN/model (resumes from its checkpoint)
  export    zoo-export   --export_dir=OUTPUT/runs/RUN/export --overwrite
  evaluate  zoo-evaluate --saved_model=... --output_dir=OUTPUT/runs/RUN/evaluation

A stage process never outlives zoo-study: the kernel kills it when zoo-study dies, even by
`kill -9`, and an interrupted study stops each stage's whole process group (the evaluation's
worker processes included). `in_process` runs the same stages as library calls.

Nothing here imports TensorFlow, so listing and printing runs stays fast.
"""
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import time

from studies import spec

STAGES = ("train", "export", "evaluate")
# What TensorFlow, OpenMP and the BLAS libraries read for their number of threads.
THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                    "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# prctl(2) option: the signal the kernel sends a process when the thread that started it exits.
_PR_SET_PDEATHSIG = 1
_PRCTL = getattr(ctypes.CDLL(None, use_errno=True), "prctl", None)  # Linux only


def python_command(python):
  """How a stage starts Python: without the working directory at the front of sys.path
  (`-P`, Python 3.11 and later), so that a user's `common.py` or `zoo/` where zoo-study runs
  cannot stand in for the installed package."""
  return [python, "-P"] if sys.version_info >= (3, 11) else [python]


def stage_commands(run, paths, python=None):
  """[(stage, argv)] running the project's binaries for one run.

  Gin files are absolute paths (see `spec.RunConfig`), so a stage runs the same from any
  working directory.
  """
  python = python_command(python or sys.executable)
  train = [*python, "-m", "binaries.train_main", f"--model_dir={paths.model_dir}"]
  train += [f"--gin_config={f}" for f in run.train_gin_files]
  train += [f"--gin_bindings={b}" for b in run.train_gin_bindings]
  export = [*python, "-m", "binaries.export_main", f"--model_dir={paths.model_dir}",
            f"--export_dir={paths.export_dir}", "--overwrite"]
  evaluate = [*python, "-m", "binaries.evaluate_main", f"--saved_model={paths.export_dir}",
              f"--output_dir={paths.evaluation_dir}", f"--metrics={run.metrics}",
              f"--seed={run.evaluation_seed}"]
  evaluate += [f"--gin_config={f}" for f in run.evaluation_gin_files]
  evaluate += [f"--gin_bindings={b}" for b in run.evaluation_gin_bindings]
  return [("train", train), ("export", export), ("evaluate", evaluate)]


def cluster_commands(study_file, study_bindings, output_dir, runs):
  """One self-contained shell command per run (`zoo-study --only_run=RUN`), for schedulers."""
  script = os.path.join(os.path.dirname(sys.executable), "zoo-study")
  program = ([script] if os.path.isfile(script)
             else [*python_command(sys.executable), "-m", "binaries.study_main"])
  common = program + [f"--study={spec.study_file(study_file)}"]
  common += [f"--study_bindings={b}" for b in study_bindings]
  common.append(f"--output_dir={os.path.abspath(output_dir)}")
  return [shlex.join(common + [f"--only_run={run.name}"]) for run in runs]


def thread_environment(jobs, cpus=None, base=None):
  """Environment for a stage when `jobs` runs share the machine: threads split evenly.

  Values already set in `base` (the user's choice) are kept.
  """
  if jobs > 1:
    cpus = cpus or len(os.sched_getaffinity(0))
    return threads_environment(max(1, cpus // jobs), base)
  return dict(os.environ if base is None else base)


def threads_environment(threads, base=None):
  """Environment for a stage that may use `threads` threads; values set in `base` are kept."""
  env = dict(os.environ if base is None else base)
  for variable in THREAD_VARIABLES:
    env.setdefault(variable, str(threads))
  return env


# --------------------------------------------------------------------------- stage processes

def _die_with_parent(parent_pid):
  """Runs in a new stage process before its program starts: ties its life to zoo-study's."""
  if _PRCTL is not None:
    _PRCTL(_PR_SET_PDEATHSIG, signal.SIGKILL)
  # zoo-study may have died between the fork and the prctl, and then no signal would come.
  if os.getppid() != parent_pid:
    os._exit(1)  # pylint: disable=protected-access


def start_stage(argv, log_file, env):
  """Starts one stage process, its output appended to the open `log_file` after its command.

  It runs in zoo-study's working directory, as the stages of `--in_process` do, so a relative
  path in a binding means what it means to zoo-train run by hand there. The process leads a
  process group of its own (so that `stop_stage_processes` reaches what it starts), and the
  kernel kills it when the thread that called this ends; call it from the main thread, whose
  end is zoo-study's.
  """
  log_file.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}: {shlex.join(argv)}\n")
  log_file.flush()
  parent_pid = os.getpid()
  # preexec_fn runs Python in the forked child, where a lock another thread held at the fork
  # stays locked; _die_with_parent is kept to two system calls (prctl looked up at import) so
  # that it needs none.
  return subprocess.Popen(  # pylint: disable=subprocess-popen-preexec-fn
      argv, stdout=log_file, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
      start_new_session=True,
      preexec_fn=lambda: _die_with_parent(parent_pid))


def _signal_group(process, signum):
  try:
    os.killpg(process.pid, signum)
  except ProcessLookupError:  # the whole group has exited already
    pass


def run_stage(argv, log_file, env):
  """Runs one stage process to its end (`start_stage`) -> its exit code; an exception while
  waiting (Ctrl-C, a timeout of the caller) stops it and everything it started first."""
  process = start_stage(argv, log_file, env)
  try:
    return process.wait()
  except BaseException:
    stop_stage_processes([process])
    raise


def stop_stage_processes(processes, grace_seconds=10.0):
  """Stops stage processes and everything they started, and waits for them.

  SIGTERM to each process group first, SIGKILL to a group whose leader is still running after
  `grace_seconds`, and to every group once its leader has exited (for stray workers).
  """
  running = [p for p in processes if p is not None and p.poll() is None]
  for process in running:
    _signal_group(process, signal.SIGTERM)
  deadline = time.time() + grace_seconds
  for process in running:
    try:
      process.wait(timeout=max(0.1, deadline - time.time()))
    except subprocess.TimeoutExpired:
      _signal_group(process, signal.SIGKILL)
      process.wait()
    # A group id is not reused while the group has members, so this reaches only stragglers.
    _signal_group(process, signal.SIGKILL)
