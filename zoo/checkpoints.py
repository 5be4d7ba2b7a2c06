"""The configured model with everything its checkpoints hold, and restoring it from a run.

Training, export and evaluation all build a model through `build_checkpointed_model`, so the
object graph a checkpoint is restored into is always the one training saved: the model and
every optimizer of `model.optimizers()`.
"""
import collections
import os

import gin
import keras
import tensorflow as tf

from zoo import data as zoo_data
from zoo import models

RestoredRun = collections.namedtuple(
    "RestoredRun", ["model", "data", "checkpoint", "training_step", "gin_config"])


def build_checkpointed_model(observation_shape, learning_rate=1e-3):
  """The gin-configured model, compiled and with every weight and optimizer slot created.

  Returns:
    (model, tf.train.Checkpoint of the model and its optimizers).
  """
  model = models.build_model(observation_shape)
  # Adam with the reference study's settings.
  model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.9,
                                                beta_2=0.999, epsilon=1e-8))
  model.build_all()
  return model, tf.train.Checkpoint(model=model, **model.optimizers())


def restore_run(model_dir, checkpoint=None):
  """Rebuilds the model of a zoo-train run from its operative config and restores a checkpoint.

  Args:
    model_dir: a directory written by zoo-train.
    checkpoint: a checkpoint path; default the latest in model_dir/checkpoints.

  Returns:
    A RestoredRun. Leaves the run's operative configuration parsed in gin.
  """
  config = os.path.join(model_dir, "operative_config.gin")
  if not os.path.isfile(config):
    raise FileNotFoundError(f"--model_dir {model_dir}: no operative_config.gin (expected a "
                            "directory written by zoo-train)")
  if checkpoint:
    if not tf.io.gfile.exists(checkpoint + ".index"):
      raise FileNotFoundError(f"--checkpoint {checkpoint}: no such checkpoint (expected a "
                              "path like MODEL_DIR/checkpoints/ckpt-1000)")
  else:
    checkpoint = tf.train.latest_checkpoint(os.path.join(model_dir, "checkpoints"))
    if not checkpoint:
      raise FileNotFoundError(f"--model_dir {model_dir}: no checkpoint in "
                              f"{os.path.join(model_dir, 'checkpoints')}")
  with open(config) as f:
    config_text = f.read()
  gin.parse_config(config_text)
  data = zoo_data.get_dataset()
  model, restorable = build_checkpointed_model(data.observation_shape)
  try:
    status = restorable.restore(checkpoint)
    # An export of freshly initialized weights would be silently useless.
    status.assert_existing_objects_matched()
  except (AssertionError, ValueError, tf.errors.OpError) as e:
    raise ValueError(f"--checkpoint {checkpoint}: does not match the model configured in "
                     f"{config} ({' '.join(str(e).split())[:300]})") from e
  status.expect_partial()  # values no rebuilt object asks for, such as the save counter
  return RestoredRun(model, data, checkpoint, int(model.optimizer.iterations.numpy()),
                     config_text)
