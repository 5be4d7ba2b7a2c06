"""Training: the loop behind zoo-train, checkpoints and restoring a run, tf.distribute strategies.

`zoo.training.train` is the loop (`zoo/training/loop.py`); `zoo.training.checkpoints` builds the
checkpointed model for training, export and evaluation alike; `zoo.training.distribute` makes
the strategies.
"""
from zoo.training.loop import (LOCK_FILE, OPERATIVE_CONFIG, RESUMABLE_CHANGES, TRAIN_RESULTS,
                               TrainingDiverged, binding_values, check_configuration,
                               differing_bindings, reproducible_graph_optimizations, train)

__all__ = ["LOCK_FILE", "OPERATIVE_CONFIG", "RESUMABLE_CHANGES", "TRAIN_RESULTS",
           "TrainingDiverged", "binding_values", "check_configuration", "differing_bindings",
           "reproducible_graph_optimizations", "train"]
