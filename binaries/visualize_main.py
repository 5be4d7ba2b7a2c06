r"""zoo-visualize: latent traversals, reconstructions, prior samples and MI pictures of a model.

  zoo-visualize --model_dir=/tmp/beta_vae --output_dir=/tmp/beta_vae/pictures
  zoo-visualize --saved_model=/tmp/beta_vae_export --output_dir=/tmp/pictures \
      --num_traversal_steps=12 --gin_bindings="pictures.zoom = 2"

Writes PNGs, animated GIFs and OUTPUT_DIR/pictures.json (the files and their sizes), and prints
where they are.
"""
import os

from absl import app
from absl import flags

from common import cli
from common import io_utils

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "A directory written by zoo-train.")
flags.DEFINE_string("saved_model", None, "A directory written by zoo-export.")
flags.DEFINE_string("checkpoint", None, "With --model_dir: a checkpoint path (default: latest).")
flags.DEFINE_string("output_dir", None, "Where the pictures go.")
flags.DEFINE_integer("num_traversal_steps", 10, "Columns of each latent traversal (>= 2).")
flags.DEFINE_integer("seed", 0, "Seeds the evaluation points, prior samples and MI estimates.")
flags.DEFINE_integer("num_points", 2000,
                     "Evaluation points for the MI pictures and the latent ordering.")
flags.DEFINE_multi_string("gin_config", [], "Gin files with `pictures.*` settings.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings with `pictures.*` settings.")


def check_source_flags(model_dir, saved_model):
  """Exactly one of --model_dir / --saved_model, naming an existing directory."""
  if bool(model_dir) == bool(saved_model):
    raise cli.UsageError("expected exactly one of --model_dir and --saved_model")
  flag, path = ("--model_dir", model_dir) if model_dir else ("--saved_model", saved_model)
  if not os.path.isdir(path):
    raise FileNotFoundError(f"{flag} {path}: no such directory")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  with cli.one_line_errors("zoo-visualize"):
    check_source_flags(FLAGS.model_dir, FLAGS.saved_model)
    if not FLAGS.output_dir:
      raise cli.UsageError("--output_dir is required")
    # As this process starts: a zoo-visualize of the same output_dir that finishes first wins.
    started = io_utils.file_state(os.path.join(FLAGS.output_dir, "pictures.json"))
    # Imports after the flag checks keep mistakes and `--help` fast.
    from evaluation import trained_model  # pylint: disable=g-import-not-at-top
    from evaluation.pictures import make_pictures
    from gin_edge import evaluation as gin_evaluation
    model = trained_model.load(model_dir=FLAGS.model_dir, saved_model=FLAGS.saved_model,
                               checkpoint=FLAGS.checkpoint)
    settings = gin_evaluation.picture_settings(FLAGS.gin_config, FLAGS.gin_bindings)
    index = make_pictures.make_pictures(model, FLAGS.output_dir,
                                        num_traversal_steps=FLAGS.num_traversal_steps,
                                        seed=FLAGS.seed, num_points=FLAGS.num_points,
                                        settings=settings, unchanged_since=started)
  for name, size in sorted(index["files"].items()):
    print(f"[zoo-visualize] {os.path.join(FLAGS.output_dir, name)} ({size} bytes)")
  print(f"[zoo-visualize] index in {os.path.join(FLAGS.output_dir, 'pictures.json')}")


def run():
  cli.run_main(main, "zoo-visualize")


if __name__ == "__main__":
  run()
