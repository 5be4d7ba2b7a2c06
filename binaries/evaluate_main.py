"""zoo-evaluate: computes disentanglement and MI metrics of a trained model.

  zoo-evaluate --model_dir=/tmp/beta_vae --output_dir=/tmp/beta_vae/eval --metrics=all
  zoo-evaluate --model_dir=/tmp/beta_vae --output_dir=/tmp/eval --metrics=mig,dci \
      --gin_bindings="mig.num_train = 5000"
  zoo-evaluate --saved_model=/tmp/beta_vae_export --output_dir=/tmp/eval --metrics=all
  zoo-evaluate --udr --saved_model=/tmp/run_a_export --saved_model=/tmp/run_b_export \
      --saved_model=/tmp/run_c_export --output_dir=/tmp/udr

Exactly one of --model_dir (rebuild the model and restore a checkpoint) and --saved_model (run a
zoo-export SavedModel) says what to evaluate; both give the same numbers.

Writes OUTPUT_DIR/results.json atomically and prints a table. With --udr, the exports given by
repeated --saved_model flags (at least two, of one data set) are ranked against each other by
UDR, with the `udr.*` settings; OUTPUT_DIR/udr_results.json gets one score per model.
"""
from absl import app
from absl import flags

from common import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A directory written by zoo-train.")
flags.DEFINE_multi_string("saved_model", [], "A directory written by zoo-export (instead of "
                          "--model_dir); with --udr, repeated: one per model.")
flags.DEFINE_string("checkpoint", None, "A checkpoint path (default: the latest in model_dir).")
flags.DEFINE_string("output_dir", None, "Where results.json goes.")
flags.DEFINE_string("metrics", "all", "'all' or a comma list of metric names.")
flags.DEFINE_enum("representation", "mean", ["mean", "sampled"],
                  "Posterior means (the reference choice) or one sample per observation.")
flags.DEFINE_integer("seed", 0, "Seed of each metric's random state.")
flags.DEFINE_multi_string("gin_config", [], "Gin files with metric settings.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings with metric settings.")
flags.DEFINE_boolean("udr", False, "Rank the --saved_model exports (two or more, of one data set) "
                     "against each other by UDR instead of computing --metrics.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  with cli.one_line_errors("zoo-evaluate"):
    if FLAGS.udr:
      _run_udr()
      return
    if bool(FLAGS.model_dir) == bool(FLAGS.saved_model):
      raise cli.UsageError("expected exactly one of --model_dir and --saved_model")
    if FLAGS.saved_model and FLAGS.checkpoint:
      raise cli.UsageError("--checkpoint applies to --model_dir only; an export holds one "
                           "checkpoint already")
    if len(FLAGS.saved_model) > 1:
      raise cli.UsageError(f"--saved_model given {len(FLAGS.saved_model)} times; several "
                           "models are compared only with --udr")
    if not FLAGS.output_dir:
      raise cli.UsageError("--output_dir is required")
    from gin_edge import evaluation as gin_evaluation  # pylint: disable=g-import-not-at-top
    saved_model = FLAGS.saved_model[0] if FLAGS.saved_model else None
    gin_evaluation.run_evaluation(FLAGS.output_dir, FLAGS.metrics, saved_model=saved_model,
                                  model_dir=FLAGS.model_dir, checkpoint=FLAGS.checkpoint,
                                  seed=FLAGS.seed, codes=FLAGS.representation,
                                  gin_files=FLAGS.gin_config, gin_bindings=FLAGS.gin_bindings)
  print(f"[zoo-evaluate] results in {FLAGS.output_dir}/results.json")


def _run_udr():
  if FLAGS.model_dir:
    raise cli.UsageError("--udr compares exports: give each model as --saved_model (repeated), "
                         "not --model_dir")
  for name in ("metrics", "representation", "checkpoint"):
    if FLAGS[name].present:
      raise cli.UsageError(f"--{name} does not apply to --udr (UDR encodes with every model's "
                           "posterior means, its settings are udr.* gin bindings)")
  if len(FLAGS.saved_model) < 2:
    raise cli.UsageError(f"--udr: expected at least 2 --saved_model exports to compare, got "
                         f"{len(FLAGS.saved_model)}")
  if not FLAGS.output_dir:
    raise cli.UsageError("--output_dir is required")
  from evaluation import evaluate  # pylint: disable=g-import-not-at-top
  from gin_edge import evaluation as gin_evaluation  # pylint: disable=g-import-not-at-top
  gin_evaluation.run_udr(FLAGS.output_dir, FLAGS.saved_model, seed=FLAGS.seed,
                         gin_files=FLAGS.gin_config, gin_bindings=FLAGS.gin_bindings)
  print(f"[zoo-evaluate] UDR results in {FLAGS.output_dir}/{evaluate.UDR_RESULTS}")


def run():
  app.run(main)


if __name__ == "__main__":
  run()
