r"""zoo-udr: ranks several models of one data set against each other by UDR.

  zoo-udr --saved_model=/tmp/run_a_export --saved_model=/tmp/run_b_export \
      --saved_model=/tmp/run_c_export --output_dir=/tmp/udr

The exports given by repeated --saved_model flags (at least two, of one data set and one latent
size) are compared with the unsupervised disentanglement ranking (Duan et al. 2020) with the
`udr.*` settings; OUTPUT_DIR/udr_results.json gets one score per model, written atomically after
the table is printed. One zoo-udr at a time writes an output directory.
"""
import os

from absl import app
from absl import flags

from common import cli
from common import io_utils

FLAGS = flags.FLAGS
flags.DEFINE_multi_string("saved_model", [], "A directory written by zoo-export; repeated, "
                          "one per model (at least two).")
flags.DEFINE_string("output_dir", None, "Where udr_results.json goes.")
flags.DEFINE_integer("seed", 0, "Seed of the random state that draws the observations.")
flags.DEFINE_multi_string("gin_config", [], "Gin files with `udr.*` settings.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings with `udr.*` settings.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  with cli.one_line_errors("zoo-udr"):
    if len(FLAGS.saved_model) < 2:
      raise cli.UsageError(f"--saved_model: expected at least 2 exports to compare, got "
                           f"{len(FLAGS.saved_model)}")
    if not FLAGS.output_dir:
      raise cli.UsageError("--output_dir is required")
    # As this process starts: a zoo-udr of the same output_dir that finishes first wins.
    started = io_utils.file_state(os.path.join(FLAGS.output_dir, "udr_results.json"))
    from evaluation import evaluate  # pylint: disable=g-import-not-at-top
    from gin_edge import evaluation as gin_evaluation
    gin_evaluation.run_udr(FLAGS.output_dir, FLAGS.saved_model, seed=FLAGS.seed,
                           gin_files=FLAGS.gin_config, gin_bindings=FLAGS.gin_bindings,
                           unchanged_since=started)
    print(f"[zoo-udr] results in {FLAGS.output_dir}/{evaluate.UDR_RESULTS}")


def run():
  cli.run_main(main, "zoo-udr")


if __name__ == "__main__":
  run()
