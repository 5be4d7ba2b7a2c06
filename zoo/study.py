"""Studies: a grid of training runs (model x posterior x encoder x seed), run and resumed.

A study is a gin file binding `study.*` (see `study_spec`). Every combination is one *run*
with a readable, deterministic name such as `beta_vae-correlated_noise_0.5-conv64_split-seed1`.
A run goes through three stages, each the project's own binary in a subprocess (or, for tests
and single-process use, the same library calls in this process):

  train     zoo-train    --model_dir=OUTPUT/runs/RUN/model (resumes from its checkpoint)
  export    zoo-export   --export_dir=OUTPUT/runs/RUN/export --overwrite
  evaluate  zoo-evaluate --saved_model=... --output_dir=OUTPUT/runs/RUN/evaluation

and ends by writing OUTPUT/runs/RUN/DONE (JSON: the run's configuration) atomically. A run
with DONE is never repeated, so rerunning an interrupted study finishes only what is missing;
a run without DONE restarts its stages, which each pick up what the previous attempt left.
Stage output goes to OUTPUT/runs/RUN/logs/STAGE.log.

This module imports neither TensorFlow nor the models at import time, so listing and printing
runs is fast; only the in-process stages import them.
"""
import dataclasses
import fcntl
import itertools
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

import gin

from zoo import cli
from zoo.io_utils import write_json_atomically

GIN_DIR = os.path.join(cli.REPO_ROOT, "gin_configs")
STAGES = ("train", "export", "evaluate")
# Posterior families with a parameter written `family:value` in a study, and its gin binding.
POSTERIOR_PARAMETERS = {"correlated_noise": ("rho", float), "low_rank": ("rank", int)}
_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.]+$")
# Fields of a run that decide its results; a DONE written with other values is a different run.
_IDENTITY_FIELDS = ("model", "posterior", "posterior_label", "encoder", "dataset", "seed",
                    "train_gin_files", "train_gin_bindings", "metrics", "evaluation_gin_files",
                    "evaluation_gin_bindings", "evaluation_seed")


@dataclasses.dataclass(frozen=True)
class StudySpec:
  """What `study.*` binds; see `study_spec` for the meaning of each field."""
  name: str
  models: tuple
  posteriors: tuple
  encoders: tuple
  dataset: str
  training_bindings: tuple
  seeds: tuple
  metrics: str
  evaluation_config: str
  evaluation_bindings: tuple
  evaluation_seed: int


@gin.configurable("study")
def study_spec(name=None, models=None, posteriors=("factorized",),
               encoders=("conv64",), dataset="dsprites", training_bindings=(), seeds=(0,),
               metrics="mig", evaluation_config=None, evaluation_bindings=(),
               evaluation_seed=0):
  """The study bound in gin, as a StudySpec.

  Args:
    name: the study's name (letters, digits, `_`, `.`); required.
    models: required; model names (gin_configs/models/NAME.gin) or paths of model gin files.
    posteriors: family names (gin_configs/posteriors/NAME.gin), optionally with the family's
      parameter: `correlated_noise:0.5` binds correlated_noise.rho, `low_rank:2` low_rank.rank.
    encoders: encoder names (gin_configs/encoders/NAME.gin) or gin file paths.
    dataset: data set name (gin_configs/datasets/NAME.gin) or a gin file path.
    training_bindings: gin bindings for every run, applied after the files (steps, batch size,
      image size, latent_dim, ...). The seed comes from `seeds`, not from here.
    seeds: training seeds (`training.seed`); every configuration runs once per seed.
    metrics: comma list (or list) of zoo-evaluate metric names, or "all".
    evaluation_config: optional gin file of metric settings passed to zoo-evaluate.
    evaluation_bindings: metric-setting bindings passed to zoo-evaluate after that file.
    evaluation_seed: zoo-evaluate --seed (the same for every run, as in the reference study).
  """
  as_tuple = lambda value: (tuple(value) if isinstance(value, (list, tuple))
                           else () if value is None else (value,))
  if isinstance(metrics, (list, tuple)):
    metrics = ",".join(metrics)
  return StudySpec(name=name, models=as_tuple(models), posteriors=as_tuple(posteriors),
                   encoders=as_tuple(encoders), dataset=dataset,
                   training_bindings=as_tuple(training_bindings), seeds=as_tuple(seeds),
                   metrics=metrics, evaluation_config=evaluation_config,
                   evaluation_bindings=as_tuple(evaluation_bindings),
                   evaluation_seed=evaluation_seed)


@dataclasses.dataclass(frozen=True)
class RunConfig:
  """One run of a study. Gin file paths are absolute."""
  name: str
  study: str
  model: str
  posterior: str        # family name, e.g. "correlated_noise"
  posterior_label: str  # family plus parameter, e.g. "correlated_noise_0.5"
  rho: float            # 0 for factorized, the rho of correlated_noise, NaN otherwise
  encoder: str
  dataset: str
  seed: int
  train_gin_files: tuple
  train_gin_bindings: tuple
  metrics: str
  evaluation_gin_files: tuple
  evaluation_gin_bindings: tuple
  evaluation_seed: int

  def to_json(self):
    record = dataclasses.asdict(self)
    record["rho"] = None if self.rho != self.rho else self.rho  # JSON has no NaN
    return {k: list(v) if isinstance(v, tuple) else v for k, v in record.items()}

  def identity(self):
    """The fields that decide the results; gin files by file name (the repo may move)."""
    record = self.to_json()
    identity = {}
    for field in _IDENTITY_FIELDS:
      value = record[field]
      if field.endswith("_gin_files"):
        value = [os.path.basename(path) for path in value]
      identity[field] = value
    return identity


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
  logs_dir = property(lambda self: os.path.join(self.run_dir, "logs"))
  done_file = property(lambda self: os.path.join(self.run_dir, "DONE"))
  lock_file = property(lambda self: os.path.join(self.run_dir, ".lock"))


def lock_run(paths):
  """An exclusive lock on one run, or None if another process holds it.

  Keeps two zoo-study processes (say, a cluster command submitted twice) from working on the
  same run. The lock is the open file returned; it is released when that file is closed or the
  process dies, so a killed study leaves no stale lock.
  """
  os.makedirs(paths.run_dir, exist_ok=True)
  lock = open(paths.lock_file, "w")  # pylint: disable=consider-using-with
  try:
    fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError:
    lock.close()
    return None
  return lock


def load_study(path, bindings=()):
  """Parses a study gin file (plus `study.*` bindings) into a StudySpec.

  Leaves gin cleared: the study's bindings are not training bindings.
  """
  if not os.path.isfile(path):
    raise FileNotFoundError(f"--study {path}: file not found (expected a gin file binding "
                            "study.*)")
  gin.clear_config()
  try:
    gin.add_config_file_search_path(cli.REPO_ROOT)
    try:
      gin.parse_config_files_and_bindings([path], list(bindings))
      spec = study_spec()
    except (ValueError, SyntaxError, KeyError, TypeError, RuntimeError) as e:
      message = " ".join(str(e).strip().splitlines()[0].split()) if str(e).strip() else (
          type(e).__name__)
      raise ValueError(f"--study {path}: bad study file: {message}") from e
  finally:
    gin.clear_config()
  return spec


def _known_names(kind):
  directory = os.path.join(GIN_DIR, kind)
  return sorted(f[:-4] for f in os.listdir(directory) if f.endswith(".gin"))


def _resolve_gin_file(entry, kind, field):
  """(label, absolute path) of a name in gin_configs/KIND/ or of a gin file path."""
  if not isinstance(entry, str) or not entry:
    raise ValueError(f"study.{field}: entry {entry!r} is not a name or a gin file path")
  if entry.endswith(".gin") or os.sep in entry:
    for candidate in (entry, os.path.join(cli.REPO_ROOT, entry)):
      if os.path.isfile(candidate):
        label = re.sub(r"[^A-Za-z0-9_.]", "_", os.path.basename(entry)[:-4] if
                       entry.endswith(".gin") else os.path.basename(entry))
        return label, os.path.abspath(candidate)
    raise FileNotFoundError(f"study.{field}: gin file {entry} not found")
  path = os.path.join(GIN_DIR, kind, entry + ".gin")
  if not _NAME_PATTERN.match(entry) or not os.path.isfile(path):
    raise ValueError(f"study.{field}: unknown {kind[:-1] if kind != 'datasets' else 'data set'} "
                     f"{entry!r}; expected one of {', '.join(_known_names(kind))} or a gin "
                     "file path")
  return entry, path


def _parse_posterior(entry):
  """'family' or 'family:value' -> (family, label, rho, gin file, extra bindings)."""
  if not isinstance(entry, str) or not entry:
    raise ValueError(f"study.posteriors: entry {entry!r} is not a family name")
  family, _, text = entry.partition(":")
  known = _known_names("posteriors")
  if family not in known:
    raise ValueError(f"study.posteriors: unknown family {family!r} in {entry!r}; expected one "
                     f"of {', '.join(known)}, optionally as correlated_noise:RHO or "
                     "low_rank:RANK")
  path = os.path.join(GIN_DIR, "posteriors", family + ".gin")
  rho = 0.0 if family == "factorized" else float("nan")
  if not text:
    if ":" in entry:
      raise ValueError(f"study.posteriors: {entry!r} has an empty parameter after ':'")
    if family == "correlated_noise":  # the gin file's rho; name it so runs say what they used
      raise ValueError("study.posteriors: 'correlated_noise' needs its rho, e.g. "
                       "'correlated_noise:0.5'")
    return family, family, rho, path, ()
  if family not in POSTERIOR_PARAMETERS:
    raise ValueError(f"study.posteriors: {entry!r}: family {family} takes no parameter")
  parameter, kind = POSTERIOR_PARAMETERS[family]
  try:
    value = kind(text)
  except ValueError as e:
    expected = "an integer" if kind is int else "a number"
    raise ValueError(f"study.posteriors: {entry!r}: {parameter} must be {expected}") from e
  if family == "correlated_noise":
    if not -1.0 < value < 1.0:
      raise ValueError(f"study.posteriors: {entry!r}: rho must lie in (-1, 1)")
    rho = value
    shown = format(value, "g")
  else:
    if value < 1:
      raise ValueError(f"study.posteriors: {entry!r}: rank must be a positive integer")
    shown = str(value)
  return family, f"{family}_{shown}", rho, path, (f"{family}.{parameter} = {value!r}",)


def _check_strings(values, field):
  if not values:
    raise ValueError(f"study.{field}: expected a non-empty list")
  for value in values:
    if not isinstance(value, str):
      raise ValueError(f"study.{field}: entry {value!r} is not a string")


def expand_runs(spec):
  """The runs of a study, seed-major (every configuration once before the next seed).

  Raises:
    ValueError / FileNotFoundError naming the study field at fault.
  """
  if spec.name is None:
    raise ValueError("study.name is not bound (expected a study file binding study.name, "
                     "study.models, ...)")
  if not isinstance(spec.name, str) or not _NAME_PATTERN.match(spec.name):
    raise ValueError(f"study.name {spec.name!r}: expected letters, digits, '_' or '.'")
  for field in ("models", "posteriors", "encoders"):
    _check_strings(getattr(spec, field), field)
  _check_strings(spec.training_bindings or ("",), "training_bindings")
  _check_strings(spec.evaluation_bindings or ("",), "evaluation_bindings")
  if (not spec.seeds or len(set(spec.seeds)) != len(spec.seeds)
      or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0
                 for s in spec.seeds)):
    raise ValueError(f"study.seeds {list(spec.seeds)}: expected distinct non-negative integers")
  if any(re.match(r"\s*training\.seed\s*=", b) for b in spec.training_bindings):
    raise ValueError("study.training_bindings: binds training.seed; give the seeds as "
                     "study.seeds instead")
  from evaluation import metrics as metric_registry  # pylint: disable=g-import-not-at-top
  metric_names = [m.strip() for m in str(spec.metrics).split(",") if m.strip()]
  if metric_names == ["all"]:
    metric_names = sorted(metric_registry.REGISTRY)
  unknown = [m for m in metric_names if m not in metric_registry.REGISTRY]
  if not metric_names or unknown:
    raise ValueError(f"study.metrics {spec.metrics!r}: unknown metric(s) "
                     f"{', '.join(unknown) or '(none)'}; expected a comma list of "
                     f"{', '.join(sorted(metric_registry.REGISTRY))}")
  evaluation_files = ()
  if spec.evaluation_config:
    path = spec.evaluation_config
    path = path if os.path.isfile(path) else os.path.join(cli.REPO_ROOT, path)
    if not os.path.isfile(path):
      raise FileNotFoundError(f"study.evaluation_config: {spec.evaluation_config} not found")
    evaluation_files = (os.path.abspath(path),)

  models = [_resolve_gin_file(m, "models", "models") for m in spec.models]
  posteriors = [_parse_posterior(p) for p in spec.posteriors]
  encoders = [_resolve_gin_file(e, "encoders", "encoders") for e in spec.encoders]
  dataset_label, dataset_file = _resolve_gin_file(spec.dataset, "datasets", "dataset")

  runs = []
  for seed, (model, model_file), posterior, (encoder, encoder_file) in itertools.product(
      spec.seeds, models, posteriors, encoders):
    family, label, rho, posterior_file, posterior_bindings = posterior
    runs.append(RunConfig(
        name=f"{model}-{label}-{encoder}-seed{seed}", study=spec.name, model=model,
        posterior=family, posterior_label=label, rho=rho, encoder=encoder,
        dataset=dataset_label, seed=seed,
        train_gin_files=(model_file, posterior_file, encoder_file, dataset_file),
        train_gin_bindings=(tuple(spec.training_bindings) + posterior_bindings
                            + (f"training.seed = {seed}",)),
        metrics=",".join(metric_names), evaluation_gin_files=evaluation_files,
        evaluation_gin_bindings=tuple(spec.evaluation_bindings),
        evaluation_seed=spec.evaluation_seed))
  names = [run.name for run in runs]
  duplicates = sorted({n for n in names if names.count(n) > 1})
  if duplicates:
    raise ValueError(f"study {spec.name}: entries repeat, giving the same run twice: "
                     f"{', '.join(duplicates[:3])}")
  return runs


def read_done(output_dir, run_name):
  """The DONE record of a finished run, or None."""
  path = RunPaths.of(output_dir, run_name).done_file
  if not os.path.isfile(path):
    return None
  with open(path) as f:
    return json.load(f)


def check_finished_runs_match(runs, output_dir):
  """Refuses to mix results: a DONE written with another configuration is an error."""
  for run in runs:
    done = read_done(output_dir, run.name)
    if done is None:
      continue
    recorded = {field: done.get("config", {}).get(field) for field in _IDENTITY_FIELDS}
    recorded = {k: ([os.path.basename(p) for p in v] if k.endswith("_gin_files") and v else v)
                for k, v in recorded.items()}
    current = run.identity()
    differing = [k for k in _IDENTITY_FIELDS if recorded[k] != current[k]]
    if differing:
      raise ValueError(f"--output_dir {output_dir}: run {run.name} was finished with a "
                       f"different {', '.join(differing)}; use a new --output_dir for a "
                       "changed study")


def unfinished_runs(runs, output_dir):
  return [run for run in runs if read_done(output_dir, run.name) is None]


def select_runs(runs, only_runs):
  """The runs named in only_runs (all runs if it is empty)."""
  if not only_runs:
    return list(runs)
  by_name = {run.name: run for run in runs}
  unknown = [name for name in only_runs if name not in by_name]
  if unknown:
    raise ValueError(f"--only_run {unknown[0]}: not a run of this study (runs are named like "
                     f"{runs[0].name})")
  return [by_name[name] for name in dict.fromkeys(only_runs)]


def stage_commands(run, paths, python=None):
  """[(stage, argv)] running the project's binaries for one run."""
  python = python or sys.executable
  train = [python, "-m", "zoo.train_main", f"--model_dir={paths.model_dir}"]
  train += [f"--gin_config={f}" for f in run.train_gin_files]
  train += [f"--gin_bindings={b}" for b in run.train_gin_bindings]
  export = [python, "-m", "export.export_main", f"--model_dir={paths.model_dir}",
            f"--export_dir={paths.export_dir}", "--overwrite"]
  evaluate = [python, "-m", "evaluation.evaluate_main", f"--saved_model={paths.export_dir}",
              f"--output_dir={paths.evaluation_dir}", f"--metrics={run.metrics}",
              f"--seed={run.evaluation_seed}"]
  evaluate += [f"--gin_config={f}" for f in run.evaluation_gin_files]
  evaluate += [f"--gin_bindings={b}" for b in run.evaluation_gin_bindings]
  return [("train", train), ("export", export), ("evaluate", evaluate)]


def cluster_commands(study_file, study_bindings, output_dir, runs):
  """One self-contained shell command per run (`zoo-study --only_run=RUN`), for schedulers."""
  script = os.path.join(os.path.dirname(sys.executable), "zoo-study")
  program = ([script] if os.path.isfile(script)
             else [sys.executable, "-m", "zoo.study_main"])
  common = program + [f"--study={os.path.abspath(study_file)}"]
  common += [f"--study_bindings={b}" for b in study_bindings]
  common.append(f"--output_dir={os.path.abspath(output_dir)}")
  return [shlex.join(common + [f"--only_run={run.name}"]) for run in runs]


def thread_environment(jobs, cpus=None, base=None):
  """Environment for a stage when `jobs` runs share the machine: threads split evenly.

  Values already set in `base` (the user's choice) are kept.
  """
  env = dict(os.environ if base is None else base)
  if jobs > 1:
    cpus = cpus or len(os.sched_getaffinity(0))
    threads = str(max(1, cpus // jobs))
    for variable in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS",
                     "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
      env.setdefault(variable, threads)
  return env


def format_seconds(seconds):
  seconds = int(round(max(seconds, 0)))
  if seconds >= 3600:
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
  return f"{seconds // 60}m{seconds % 60:02d}s"


def _write_done(run, paths, stage_seconds, started):
  write_json_atomically(paths.done_file, {
      "run": run.name, "config": run.to_json(), "stage_seconds": stage_seconds,
      "elapsed_seconds": time.time() - started,
      "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")})


# ----------------------------------------------------------------------------- in-process stages

def _train_in_process(run, paths, log):
  from zoo import training  # pylint: disable=g-import-not-at-top
  import zoo.all_configurables  # noqa: F401  pylint: disable=g-import-not-at-top,unused-import
  gin.clear_config()
  cli.parse_gin(list(run.train_gin_files), list(run.train_gin_bindings))
  training.train(paths.model_dir, log_fn=log)


def _export_in_process(run, paths, log):
  del run
  from export import check_export_target  # pylint: disable=g-import-not-at-top
  from export import saved_model_export  # pylint: disable=g-import-not-at-top
  gin.clear_config()
  check_export_target(paths.export_dir, True)
  metadata = saved_model_export.export_model_dir(paths.model_dir, paths.export_dir,
                                                 overwrite=True)
  log(f"[zoo-export] wrote {paths.export_dir} (step {metadata['training_step']})")


def _evaluate_in_process(run, paths, log):
  # The same sequence as zoo-evaluate's main: the export's config first, then metric settings.
  from evaluation import evaluate  # pylint: disable=g-import-not-at-top
  from evaluation import representation as representation_lib  # pylint: disable=g-import-not-at-top
  names = evaluate.parse_metric_names(run.metrics)
  gin.clear_config()
  representation = representation_lib.load_from_saved_model(paths.export_dir)
  for name in evaluate.metric_registry.REGISTRY:
    try:
      evaluate.metric_registry.REGISTRY[name]  # pylint: disable=pointless-statement
    except ImportError:
      if name in names:
        raise
  cli.parse_gin(list(run.evaluation_gin_files), list(run.evaluation_gin_bindings))
  evaluate.evaluate(representation, paths.evaluation_dir, names, seed=run.evaluation_seed,
                    log_fn=log)


_IN_PROCESS_STAGES = {"train": _train_in_process, "export": _export_in_process,
                      "evaluate": _evaluate_in_process}


def _run_in_process(run, paths):
  """Runs the three stages in this process; returns (stage seconds, failed stage or None)."""
  seconds = {}
  for stage in STAGES:
    start = time.time()
    with open(os.path.join(paths.logs_dir, f"{stage}.log"), "a") as log_file:
      log = lambda line, f=log_file: (f.write(str(line) + "\n"), f.flush())
      log(f"# {stage} in process, {time.strftime('%Y-%m-%d %H:%M:%S')}")
      try:
        _IN_PROCESS_STAGES[stage](run, paths, log)
      except Exception as e:  # pylint: disable=broad-except
        log(f"error: {type(e).__name__}: {e}")
        return seconds, stage
      finally:
        gin.clear_config()
    seconds[stage] = time.time() - start
  return seconds, None


# ---------------------------------------------------------------------------- the scheduler

@dataclasses.dataclass
class _ActiveRun:
  run: RunConfig
  paths: RunPaths
  commands: list
  started: float
  lock: object
  stage_index: int = 0
  stage_started: float = 0.0
  process: subprocess.Popen = None
  log_file: object = None
  stage_seconds: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class StudyOutcome:
  """Run names finished now, finished before (skipped), failed (name -> stage), not started
  (--max_runs), and busy (another process holds the run's lock)."""
  finished: list
  skipped: list
  failed: dict
  not_started: list
  busy: list = dataclasses.field(default_factory=list)


class _Progress:
  """One line per run start and finish, with elapsed time and what remains."""

  def __init__(self, total, jobs, log_fn):
    self.total, self.jobs, self.log_fn = total, jobs, log_fn
    self.start = time.time()
    self.finished = self.failed = self.started = 0
    self.run_seconds = []

  def run_started(self, name):
    self.started += 1
    self.log_fn(f"[zoo-study] start  {name}  ({self.started}/{self.total} started, "
                f"elapsed {format_seconds(time.time() - self.start)})")

  def run_ended(self, name, seconds, failed_stage=None, log_path=None):
    self.run_seconds.append(seconds)
    if failed_stage:
      self.failed += 1
      what = f"FAILED at {failed_stage} after {format_seconds(seconds)} (log: {log_path})"
    else:
      self.finished += 1
      what = f"done in {format_seconds(seconds)}"
    remain = self.total - self.finished - self.failed
    mean = sum(self.run_seconds) / len(self.run_seconds)
    eta = mean * remain / self.jobs
    self.log_fn(f"[zoo-study] {'finish' if not failed_stage else 'fail  '} {name}  {what}; "
                f"{self.finished} done, {self.failed} failed, {remain} remain "
                f"(elapsed {format_seconds(time.time() - self.start)}, eta ~{format_seconds(eta)})")


def _start_stage(active, env):
  stage, argv = active.commands[active.stage_index]
  log_path = os.path.join(active.paths.logs_dir, f"{stage}.log")
  active.log_file = open(log_path, "a")  # pylint: disable=consider-using-with
  active.log_file.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')}: {shlex.join(argv)}\n")
  active.log_file.flush()
  active.stage_started = time.time()
  active.process = subprocess.Popen(argv, stdout=active.log_file, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env, cwd=cli.REPO_ROOT)


def _stop_all(active_runs):
  """Terminates the stage processes this scheduler started (on interrupt)."""
  for active in active_runs:
    if active.process is not None and active.process.poll() is None:
      active.process.terminate()
  deadline = time.time() + 10
  for active in active_runs:
    if active.process is not None:
      try:
        active.process.wait(timeout=max(0.1, deadline - time.time()))
      except subprocess.TimeoutExpired:
        active.process.kill()
        active.process.wait()
    if active.log_file is not None:
      active.log_file.close()
    active.lock.close()


def run_study(runs, output_dir, jobs=1, max_runs=None, in_process=False, log_fn=print,
              poll_seconds=0.2):
  """Runs every unfinished run of `runs`; skips finished ones (DONE present).

  Args:
    runs: RunConfigs (from `expand_runs`, possibly a selection).
    output_dir: the study directory; runs go to OUTPUT/runs/RUN.
    jobs: runs in parallel, each stage a local subprocess.
    max_runs: start at most this many runs now (None: all); the rest stay for a later call.
    in_process: run the stages in this process instead of subprocesses (jobs must be 1).
    log_fn: where progress lines go.
    poll_seconds: how often running stages are checked.

  Returns:
    A StudyOutcome.
  """
  if not isinstance(jobs, int) or jobs < 1:
    raise ValueError(f"--jobs {jobs!r}: expected a positive integer")
  if in_process and jobs != 1:
    raise ValueError(f"--jobs {jobs}: in-process runs go one at a time; expected --jobs=1")
  if max_runs is not None and (not isinstance(max_runs, int) or max_runs < 1):
    raise ValueError(f"--max_runs {max_runs!r}: expected a positive integer")
  check_finished_runs_match(runs, output_dir)
  todo = unfinished_runs(runs, output_dir)
  todo_names = {run.name for run in todo}
  skipped = [run.name for run in runs if run.name not in todo_names]
  if skipped:
    log_fn(f"[zoo-study] {len(skipped)} of {len(runs)} runs already finished (DONE); "
           "skipping them")
  now = todo if max_runs is None else todo[:max_runs]
  outcome = StudyOutcome(finished=[], skipped=skipped, failed={},
                         not_started=[run.name for run in todo[len(now):]])
  progress = _Progress(len(now), jobs, log_fn)
  env = thread_environment(jobs)

  def begin(run):
    """(paths, lock) of a run this process may work on now, else None."""
    paths = RunPaths.of(output_dir, run.name)
    lock = lock_run(paths)
    if lock is None or read_done(output_dir, run.name) is not None:
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

  if in_process:
    for run in now:
      claimed = begin(run)
      if claimed is None:
        continue
      paths, lock = claimed
      started = time.time()
      try:
        seconds, failed_stage = _run_in_process(run, paths)
        if failed_stage:
          outcome.failed[run.name] = failed_stage
        else:
          _write_done(run, paths, seconds, started)
          outcome.finished.append(run.name)
      finally:
        lock.close()
      progress.run_ended(run.name, time.time() - started, failed_stage,
                         os.path.join(paths.logs_dir, f"{failed_stage}.log"))
    return outcome

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
        active = _ActiveRun(run=run, paths=paths, commands=stage_commands(run, paths),
                            started=time.time(), lock=lock)
        active_runs.append(active)
        _start_stage(active, env)
      time.sleep(poll_seconds)
      for active in list(active_runs):
        code = active.process.poll()
        if code is None:
          continue
        active.log_file.close()
        stage = active.commands[active.stage_index][0]
        active.stage_seconds[stage] = time.time() - active.stage_started
        if code != 0:
          active_runs.remove(active)
          active.lock.close()
          outcome.failed[active.run.name] = stage
          progress.run_ended(active.run.name, time.time() - active.started, stage,
                             os.path.join(active.paths.logs_dir, f"{stage}.log"))
        elif active.stage_index + 1 < len(active.commands):
          active.stage_index += 1
          _start_stage(active, env)
        else:
          active_runs.remove(active)
          _write_done(active.run, active.paths, active.stage_seconds, active.started)
          active.lock.close()
          outcome.finished.append(active.run.name)
          progress.run_ended(active.run.name, time.time() - active.started)
  except BaseException:
    _stop_all(active_runs)
    raise
  return outcome


def install_sigterm_handler():
  """Turns SIGTERM into SystemExit, so a killed study stops the stages it started."""
  def handler(signum, frame):
    del signum, frame
    raise SystemExit(143)
  signal.signal(signal.SIGTERM, handler)
