r"""zoo-train: trains a model of the zoo (absl flags + gin).

  zoo-train --model_dir=/tmp/run --gin_config=gin_configs/models/beta_vae.gin \
      --gin_config=gin_configs/datasets/dsprites.gin --gin_bindings="training.num_steps=2000"

Running the same command again resumes from the newest intact checkpoint in --model_dir; a
changed configuration is refused unless --allow_config_change says to continue with it.
"""
from absl import app
from absl import flags

from common import cli
from common import io_utils

FLAGS = flags.FLAGS
flags.DEFINE_string("model_dir", None, "Output directory (checkpoints, summaries, results).")
flags.DEFINE_multi_string("gin_config", [], "Gin configuration files, applied in order.")
flags.DEFINE_multi_string("gin_bindings", [], "Gin bindings, applied after the files.")
flags.DEFINE_enum("strategy", "default", ["default", "mirrored", "multi_worker", "tpu"],
                  "tf.distribute strategy.")
flags.DEFINE_bool("allow_config_change", False,
                  "Resume even though the configuration differs from the run's "
                  "operative_config.gin; the new values take effect and the old configuration "
                  "is kept beside it.")
flags.DEFINE_integer("logical_cpus", 0,
                     "If > 1, split the CPU into this many logical devices (to exercise "
                     "--strategy=mirrored without accelerators).")


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
  with cli.one_line_errors("zoo-train"):
    if not FLAGS.model_dir:
      raise cli.UsageError("--model_dir is required")
    # Before TensorFlow loads, so that a bad target costs nothing (training checks it too).
    io_utils.check_writable_directory(FLAGS.model_dir, "--model_dir")
    # Imports after flag parsing keep `zoo-train --help` fast.
    from gin_edge import training as gin_training  # registers every gin configurable
    from zoo import training
    from zoo.training import distribute
    if FLAGS.logical_cpus > 1:
      distribute.split_cpu(FLAGS.logical_cpus)
    cli.parse_gin(FLAGS.gin_config, FLAGS.gin_bindings)
    strategy = distribute.make_strategy(FLAGS.strategy)
    try:
      results = gin_training.train(FLAGS.model_dir, strategy=strategy,
                                   allow_config_change=FLAGS.allow_config_change)
    except training.TrainingDiverged as e:
      cli.exit_with_error("zoo-train", e)
  print(f"[zoo-train] done at step {results['final_step']}: checkpoints in "
        f"{FLAGS.model_dir}/checkpoints, TensorBoard summaries in {FLAGS.model_dir}/summaries, "
        f"results in {FLAGS.model_dir}/train_results.json")


def run():
  cli.run_main(main, "zoo-train")


if __name__ == "__main__":
  run()
