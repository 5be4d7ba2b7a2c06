"""Training: the loop behind zoo-train, checkpoints and restoring a run, tf.distribute strategies.

`zoo.training.train` is the loop (`zoo/training/loop.py`), which takes the model and the data set
as plain arguments; `zoo.training.run_config` is what a run records of them;
`zoo.training.checkpoints` builds the checkpointed model for training, export and evaluation
alike; `zoo.training.distribute` makes the strategies.
"""
from zoo.training.checkpoints import RestoredRun, restore_run
from zoo.training.loop import (LOCK_FILE, OPERATIVE_CONFIG, RESUMABLE_CHANGES, TRAIN_RESULTS,
                               TRAINING_SETTINGS, TrainingDiverged, binding_values, check_settings,
                               differing_bindings, reproducible_graph_optimizations, train)
from zoo.training.run_config import RUN_CONFIG

__all__ = ["LOCK_FILE", "OPERATIVE_CONFIG", "RESUMABLE_CHANGES", "RUN_CONFIG", "RestoredRun",
           "TRAINING_SETTINGS", "TRAIN_RESULTS", "TrainingDiverged", "binding_values",
           "check_settings",
           "differing_bindings", "reproducible_graph_optimizations", "restore_run", "train"]
