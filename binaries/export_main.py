r"""zoo-export: writes a trained model as a SavedModel that loads without zoo.

  zoo-export --model_dir=/tmp/beta_vae --export_dir=/tmp/beta_vae_export
  zoo-export --model_dir=/tmp/beta_vae --export_dir=/tmp/beta_vae_export \
      --checkpoint=/tmp/beta_vae/checkpoints/ckpt-2000 --overwrite

Load the result with `export.loader.load(EXPORT_DIR)` or `tf.saved_model.load(EXPORT_DIR)`.
"""
from absl import app
from absl import flags

from common import cli
from export import check_export_target

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A directory written by zoo-train.")
flags.DEFINE_string("export_dir", None, "Where the SavedModel goes (must not exist yet, or be "
                    "an earlier export together with --overwrite).")
flags.DEFINE_string("checkpoint", None, "A checkpoint path (default: the latest in model_dir).")
flags.DEFINE_bool("overwrite", False, "Replace an existing export at --export_dir.")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  with cli.one_line_errors("zoo-export"):
    if not FLAGS.model_dir:
      raise cli.UsageError("--model_dir is required")
    if not FLAGS.export_dir:
      raise cli.UsageError("--export_dir is required")
    # Checked before importing TensorFlow, so a refused target costs no start-up time.
    check_export_target(FLAGS.export_dir, FLAGS.overwrite)
    # Imports after flag parsing keep `zoo-export --help` fast.
    from export import saved_model_export  # pylint: disable=g-import-not-at-top
    metadata = saved_model_export.export_model_dir(FLAGS.model_dir, FLAGS.export_dir,
                                                   checkpoint=FLAGS.checkpoint,
                                                   overwrite=FLAGS.overwrite)
  print(f"[zoo-export] wrote {FLAGS.export_dir} ({metadata['model']}/"
        f"{metadata['posterior_family']}, latent_dim {metadata['latent_dim']}, "
        f"step {metadata['training_step']})")


def run():
  cli.run_main(main, "zoo-export")


if __name__ == "__main__":
  run()
