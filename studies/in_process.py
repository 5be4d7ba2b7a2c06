"""The three stages of a run as library calls in this process (zoo-study run --in_process).

Each stage calls what its binary calls, so a run gives the same numbers either way, and saves
TensorFlow's start-up per stage.
"""
import time

import gin

from common import cli
from export import saved_model_export
from gin_edge import evaluation as gin_evaluation
from gin_edge import training as gin_training
from studies.stages import STAGES


def _train(run, paths, log):
  gin.clear_config()
  cli.parse_gin(list(run.train_gin_files), list(run.train_gin_bindings))
  gin_training.train(paths.model_dir, log_fn=log)


def _export(run, paths, log):
  del run
  metadata = saved_model_export.export_model_dir(paths.model_dir, paths.export_dir,
                                                 overwrite=True, log_fn=log)
  log(f"[zoo-export] wrote {paths.export_dir} (step {metadata['training_step']})")


def _evaluate(run, paths, log):
  gin_evaluation.run_evaluation(paths.evaluation_dir, run.metrics,
                                saved_model=paths.export_dir, seed=run.evaluation_seed,
                                gin_files=run.evaluation_gin_files,
                                gin_bindings=run.evaluation_gin_bindings, log_fn=log)


_STAGE_FUNCTIONS = {"train": _train, "export": _export, "evaluate": _evaluate}


def run_stages(run, paths):
  """Runs the three stages in this process; returns (stage seconds, failed stage or None).

  Each stage's lines and, if it fails, its error go to its log file as they would from the
  binary; gin is cleared after every stage, since each one parses its own configuration.
  """
  seconds = {}
  for stage in STAGES:
    start = time.time()
    with open(paths.log_file(stage), "a") as log_file:
      def log(line, f=log_file):
        f.write(f"{line}\n")
        f.flush()
      log(f"# {stage} in process, {time.strftime('%Y-%m-%d %H:%M:%S')}")
      try:
        _STAGE_FUNCTIONS[stage](run, paths, log)
      except Exception as e:  # pylint: disable=broad-except
        log(f"error: {type(e).__name__}: {e}")
        return seconds, stage
      finally:
        gin.clear_config()
    seconds[stage] = time.time() - start
  return seconds, None


def evaluate_stage(run, paths):
  """Only the evaluate stage, in this process, logged as `run_stages` logs it (`zoo-study
  reevaluate --in_process`); True if it succeeded."""
  with open(paths.log_file("evaluate"), "a") as log_file:
    def log(line):
      log_file.write(f"{line}\n")
      log_file.flush()
    log(f"# evaluate in process, {time.strftime('%Y-%m-%d %H:%M:%S')}")
    try:
      _evaluate(run, paths, log)
    except Exception as e:  # pylint: disable=broad-except
      log(f"error: {type(e).__name__}: {e}")
      return False
    finally:
      gin.clear_config()
  return True
