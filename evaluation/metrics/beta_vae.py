"""BetaVAE score (Higgins et al., 2017, "beta-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework").

One training point: draw a factor index k, two batches of factors that agree on factor k only,
and take the mean over the batch of |z(x_a) - z(x_b)| as the feature vector; the label is k. A
linear classifier (logistic regression) predicts k from the feature; the score is its accuracy.
Reference defaults: batches of 64, 10,000 training and 5,000 evaluation points.

The classifier is what `LogisticRegression(random_state=random_state)` was in the scikit-learn
releases the reference study used: liblinear, one vs rest (`utils.reference_logistic_regression`).
That fit drew one seed from the shared random state between the training and the evaluation
points; the wrapper makes the same draw so that a given seed yields the reference's points.

Edge case: if the training labels hold a single class, the classifier predicts that class.
"""

import numpy as np

from common import validation
from evaluation import progress
from evaluation.metrics import utils

# About this many observations go to the representation function per call; the random draws
# are made point by point exactly as in the reference, only the encoding is grouped.
_OBSERVATIONS_PER_CALL = 1024
# Calls whose codes are collected before their features are computed (bounds the memory).
_CALLS_PER_BLOCK = 16


def beta_vae_features(codes_a, codes_b):
  """Feature vectors of the BetaVAE score from paired batches of codes.

  Args:
    codes_a, codes_b: `[P, B, d]` codes of P pairs of batches of B observations.

  Returns:
    `[P, d]` mean absolute differences over the batch.
  """
  codes_a, codes_b = np.asarray(codes_a, dtype=np.float64), np.asarray(codes_b, dtype=np.float64)
  if codes_a.ndim != 3 or codes_a.shape != codes_b.shape:
    raise ValueError(f"codes_a, codes_b: expected two arrays of one shape [pairs, batch, codes], "
                     f"got {codes_a.shape} and {codes_b.shape}")
  if not (np.all(np.isfinite(codes_a)) and np.all(np.isfinite(codes_b))):
    raise ValueError("codes_a, codes_b: expected finite values, found NaN or Inf")
  return np.mean(np.abs(codes_a - codes_b), axis=1)


def beta_vae(train_features, train_labels, eval_features, eval_labels):
  """Accuracy of a logistic regression predicting the fixed factor from the features.

  Args:
    train_features: `[P, d]` features (see `beta_vae_features`).
    train_labels: `[P]` index of the factor held fixed.
    eval_features: `[Q, d]`.
    eval_labels: `[Q]`.

  Returns:
    dict with `train_accuracy`, `eval_accuracy`.
  """
  train_features, train_labels = _check_features_labels(train_features, train_labels, "train")
  eval_features, eval_labels = _check_features_labels(eval_features, eval_labels, "eval")
  if eval_features.shape[1] != train_features.shape[1]:
    raise ValueError(f"eval_features: expected {train_features.shape[1]} columns like "
                     f"train_features, got {eval_features.shape[1]}")
  classes = np.unique(train_labels)
  progress.report("fitting the classifier")
  if len(classes) == 1:
    predict = lambda features: np.full(len(features), classes[0])
  else:
    predict = utils.reference_logistic_regression().fit(train_features, train_labels).predict
  return {"train_accuracy": float(np.mean(predict(train_features) == train_labels)),
          "eval_accuracy": float(np.mean(predict(eval_features) == eval_labels))}


def _check_features_labels(features, labels, prefix):
  features = utils.check_codes(features, f"{prefix}_features")
  labels = np.asarray(labels)
  if labels.ndim != 1 or labels.shape[0] != features.shape[0]:
    raise ValueError(f"{prefix}_labels: expected shape [{features.shape[0]}] to match "
                     f"{prefix}_features, got {labels.shape}")
  return features, labels


def sample_beta_vae_points(ground_truth_data, representation_function, batch_size, num_points,
                           random_state, stage="training"):
  """Draws `num_points` (feature, label) pairs in the reference's order of random draws.

  Per point: the factor index, the first batch of factors, the second batch, then the
  observations of the first and of the second batch. The representation function is called on
  the observations of `_OBSERVATIONS_PER_CALL` // (2 batch_size) points at a time (through
  `utils.code_collector`, which may cache and batch them without changing a code).

  Returns:
    `(features [num_points, d], labels [num_points] int64)`.
  """
  num_points = validation.positive_int(num_points, "num_points")
  batch_size = validation.positive_int(batch_size, "batch_size")
  validation.random_state(random_state)
  num_factors = utils.num_factors_of(ground_truth_data)
  points_per_call = max(1, _OBSERVATIONS_PER_CALL // (2 * batch_size))
  points_per_block = points_per_call * _CALLS_PER_BLOCK
  features, labels = [], []
  for block_start in range(0, num_points, points_per_block):
    collector = utils.code_collector(representation_function)
    block_end = min(block_start + points_per_block, num_points)
    for start in range(block_start, block_end, points_per_call):
      for _ in range(min(points_per_call, block_end - start)):
        index = random_state.randint(num_factors)
        factors_a = ground_truth_data.sample_factors(batch_size, random_state)
        factors_b = ground_truth_data.sample_factors(batch_size, random_state)
        factors_b[:, index] = factors_a[:, index]
        collector.add(ground_truth_data, factors_a, random_state)
        collector.add(ground_truth_data, factors_b, random_state)
        labels.append(index)
      collector.end_call()
    codes = collector.codes()
    codes = codes.reshape(-1, 2, batch_size, codes.shape[-1])
    features.append(beta_vae_features(codes[:, 0], codes[:, 1]))
    progress.report(f"{stage} points", block_end, num_points)
  return np.concatenate(features, axis=0), np.asarray(labels, dtype=np.int64)


def compute_beta_vae(ground_truth_data, representation_function, random_state, batch_size=64,
                     num_train=10000, num_eval=5000):
  """BetaVAE score with the reference defaults (gin: `beta_vae_score.*`).

  Args:
    ground_truth_data: a `GroundTruthData`.
    representation_function: observations `[B, ...]` -> codes `[B, d]`.
    random_state: `np.random.RandomState` for all draws.
    batch_size: observations per batch of a pair.
    num_train: training points (pairs of batches).
    num_eval: evaluation points.

  Returns:
    dict with `train_accuracy`, `eval_accuracy`.
  """
  train_features, train_labels = sample_beta_vae_points(
      ground_truth_data, representation_function, batch_size, num_train, random_state)
  # The reference's liblinear fit consumed this draw before the evaluation points were sampled.
  random_state.randint(np.iinfo(np.int32).max)
  eval_features, eval_labels = sample_beta_vae_points(
      ground_truth_data, representation_function, batch_size, num_eval, random_state,
      stage="evaluation")
  return beta_vae(train_features, train_labels, eval_features, eval_labels)
