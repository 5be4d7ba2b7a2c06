r"""zoo-evaluate: computes disentanglement and MI metrics of a trained model.

  zoo-evaluate --model_dir=/tmp/beta_vae --output_dir=/tmp/beta_vae/eval --metrics=all
  zoo-evaluate --model_dir=/tmp/beta_vae --output_dir=/tmp/eval --metrics=mig,dci \
      --gin_bindings="mig.num_train = 5000"
  zoo-evaluate --saved_model=/tmp/beta_vae_export --output_dir=/tmp/eval --metrics=all

Exactly one of --model_dir (rebuild the model and restore a checkpoint) and --saved_model (run a
zoo-export SavedModel) says what to evaluate; both give the same numbers. Prints a table of
the numbers, then writes OUTPUT_DIR/results.json atomically; one evaluation at a time writes an
output directory. Several models are ranked against each other by UDR with zoo-udr.
"""
import os

from absl import app
from absl import flags

from common import cli
from common import io_utils

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A directory written by zoo-train.")
flags.DEFINE_multi_string("saved_model", [], "A directory written by zoo-export (instead of "
                          "--model_dir).")
flags.DEFINE_string("checkpoint", None, "A checkpoint path (default: the latest in model_dir).")
flags.DEFINE_string("output_dir", None, "Where results.json goes.")
flags.DEFINE_string("metrics", "all", "'all' or a comma list of metric names, each once.")
flags.DEFINE_enum("representation", "mean", ["mean", "sampled"],
                  "Posterior means (the reference choice) or one sample per observation.")
flags.DEFINE_integer("seed", 0, "Seed of each metric's random state.")
flags.DEFINE_multi_string("gin_config", [], "Gin files with metric settings.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings with metric settings.")

# Spellings that moved to another tool.
MOVED = {"--udr": "zoo-udr --saved_model=EXPORT_A --saved_model=EXPORT_B ... "
                  "--output_dir=OUTPUT_DIR"}


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  with cli.one_line_errors("zoo-evaluate"):
    if bool(FLAGS.model_dir) == bool(FLAGS.saved_model):
      raise cli.UsageError("expected exactly one of --model_dir and --saved_model")
    if FLAGS.saved_model and FLAGS.checkpoint:
      raise cli.UsageError("--checkpoint applies to --model_dir only; an export holds one "
                           "checkpoint already")
    if len(FLAGS.saved_model) > 1:
      raise cli.UsageError(f"--saved_model given {len(FLAGS.saved_model)} times; several "
                           "models are compared by zoo-udr")
    if not FLAGS.output_dir:
      raise cli.UsageError("--output_dir is required")
    # As this process starts: an evaluation of the same output_dir that finishes first wins.
    started = io_utils.file_state(os.path.join(FLAGS.output_dir, "results.json"))
    from gin_edge import evaluation as gin_evaluation  # pylint: disable=g-import-not-at-top
    saved_model = FLAGS.saved_model[0] if FLAGS.saved_model else None
    gin_evaluation.run_evaluation(FLAGS.output_dir, FLAGS.metrics, saved_model=saved_model,
                                  model_dir=FLAGS.model_dir, checkpoint=FLAGS.checkpoint,
                                  seed=FLAGS.seed, codes=FLAGS.representation,
                                  gin_files=FLAGS.gin_config, gin_bindings=FLAGS.gin_bindings,
                                  unchanged_since=started)
  print(f"[zoo-evaluate] results in {FLAGS.output_dir}/results.json")


def run():
  cli.run_main(main, "zoo-evaluate", moved=MOVED)


if __name__ == "__main__":
  run()
