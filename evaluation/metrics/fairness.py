"""Fairness (Locatello et al., NeurIPS 2019, "On the Fairness of Disentangled Representations").

How much a classifier's predictions of a *target* factor i, made from the codes, depend on a
*sensitive* factor j. Definition and defaults of the reference (disentanglement_lib 1.5,
`fairness`, with the fairness study's settings: 10,000 training points, 100 test points per
sensitive value, the default `GradientBoostingClassifier`):

* One classifier per factor is trained on the codes of `num_train` points.
* For every pair i ≠ j: `num_test_points_per_class` factor vectors are drawn once; for each
  value c of factor j, factor j of all of them is set to c (an intervention), the observations
  are drawn and encoded, and classifier i predicts factor i. counts[k, c] says how often value
  k was predicted under intervention c.
* Unfairness of (i, j): the total variation distance between the distribution of predictions
  under intervention c (column c of counts, normalized) and the pooled distribution (all
  columns together), averaged over c weighted by the column counts (`mean_fairness`) or its
  maximum over c (`max_fairness`). 0 means the predictions do not depend on factor j.
* Aggregates: for each target i the mean and max over sensitive j (`pred{i}_mean_sens`,
  `pred{i}_max_sens`), for each sensitive j the mean and max over targets
  (`sens{j}_mean_pred`, `sens{j}_max_pred`), and the means and maxima of those. The paper's
  score is `mean_fairness_mean_pred_mean_sens`.

Result keys, for prefix in (mean_fairness, max_fairness), with the reference's ':' replaced by
'_' (e.g. `mean_fairness:pred0:sens1` -> `mean_fairness_pred0_sens1`):

  {prefix}_pred{i}_sens{j}, {prefix}_pred{i}_mean_sens, {prefix}_pred{i}_max_sens,
  {prefix}_sens{j}_mean_pred, {prefix}_sens{j}_max_pred, {prefix}_mean_sens_mean_pred,
  {prefix}_mean_sens_max_pred, {prefix}_max_sens_mean_pred, {prefix}_max_sens_max_pred,
  {prefix}_mean_pred_mean_sens, {prefix}_mean_pred_max_sens, {prefix}_max_pred_mean_sens,
  {prefix}_max_pred_max_sens

Differences from the reference: the distances are computed in float64 (the reference used
float32, so values differ in the 7th digit); the boosted trees get a seed drawn from the
random state after every point is drawn (the reference left them unseeded; with the same
draws the points are the reference's), and `predictor = "logistic_regression_cv"` gives the
reference's other predictor, as in `downstream`. With a single factor there is no pair and a
ValueError is raised (the reference's aggregates would be empty).
"""
import numpy as np

from common import validation
from evaluation import progress
from evaluation.metrics import boosted_trees
from evaluation.metrics import downstream
from evaluation.metrics import utils

PREFIXES = ("mean_fairness", "max_fairness")


def inter_group_fairness(counts):
  """Mean and maximum total variation distance of each sensitive group to the pooled one.

  Args:
    counts: `[K_target, K_sensitive]` non-negative counts, entry (k, c) = how often value k
      was predicted under intervention c; every column has a positive total.

  Returns:
    (mean over columns weighted by column totals, maximum over columns) of the total variation
    distance between each column's normalized distribution and the row sums' distribution.
  """
  counts = validation.non_negative_matrix(counts, "counts", "target values, sensitive values",
                                          entries="counts")
  group_sizes = counts.sum(axis=0)
  if np.any(group_sizes <= 0):
    raise ValueError("counts: expected every column (sensitive value) to have a positive total")
  pooled = counts.sum(axis=1) / group_sizes.sum()
  distances = 0.5 * np.abs(counts / group_sizes - pooled[:, None]).sum(axis=0)
  return float(np.dot(distances, group_sizes) / group_sizes.sum()), float(np.max(distances))


def fairness_scores(matrix, prefix):
  """The reference's aggregates of a `[F, F]` unfairness matrix (diagonal ignored) -> dict."""
  matrix = np.asarray(matrix, dtype=np.float64)
  num_factors = matrix.shape[0]
  if matrix.shape != (num_factors, num_factors) or num_factors < 2:
    raise ValueError(f"{prefix}: expected a square matrix of at least 2 factors, got shape "
                     f"{matrix.shape}")
  off_diagonal = ~np.eye(num_factors, dtype=bool)
  scores = {f"{prefix}_pred{i}_sens{j}": float(matrix[i, j])
            for i in range(num_factors) for j in range(num_factors) if i != j}
  # Row i: target i against every other sensitive factor; column j: the other way round.
  per_target = [matrix[i][off_diagonal[i]] for i in range(num_factors)]
  per_sensitive = [matrix[:, j][off_diagonal[:, j]] for j in range(num_factors)]
  target_mean = np.array([np.mean(v) for v in per_target])
  target_max = np.array([np.max(v) for v in per_target])
  sensitive_mean = np.array([np.mean(v) for v in per_sensitive])
  sensitive_max = np.array([np.max(v) for v in per_sensitive])
  for i in range(num_factors):
    scores[f"{prefix}_pred{i}_mean_sens"] = float(target_mean[i])
    scores[f"{prefix}_pred{i}_max_sens"] = float(target_max[i])
  for j in range(num_factors):
    scores[f"{prefix}_sens{j}_mean_pred"] = float(sensitive_mean[j])
    scores[f"{prefix}_sens{j}_max_pred"] = float(sensitive_max[j])
  for outer, reduce_outer in (("mean", np.mean), ("max", np.max)):
    for inner, values in (("mean", sensitive_mean), ("max", sensitive_max)):
      scores[f"{prefix}_{outer}_sens_{inner}_pred"] = float(reduce_outer(values))
    for inner, values in (("mean", target_mean), ("max", target_max)):
      scores[f"{prefix}_{outer}_pred_{inner}_sens"] = float(reduce_outer(values))
  return scores


def fairness_from_arrays(codes_train, factors_train, intervened_codes, factors_num_values,
                         predictor="gradient_boosting_classifier", n_jobs=None, seed=0,
                         multiclass="one_vs_rest"):
  """Fairness scores from training codes and the codes of the intervened test points.

  Args:
    codes_train, factors_train: `[N, d]` codes and `[N, F]` factor indices to train the
      per-factor classifiers on.
    intervened_codes: {(i, j): `[K_j, n, d]`} for every pair i ≠ j: entry c holds the codes
      of the n test points drawn for target i, with sensitive factor j set to c.
    factors_num_values: F ints, the number of values of each factor (K).
    predictor: "gradient_boosting_classifier" (reference) or "logistic_regression_cv".
    n_jobs: parallel workers (results do not depend on it); None or -1 for every CPU.
    seed: random_state of the boosted trees.
    multiclass: logistic regression only (see `downstream`).

  Returns:
    dict with the keys of the module docstring.
  """
  codes_train, factors_train = utils.check_codes_factors(codes_train, factors_train,
                                                         "codes_train", "factors_train")
  sizes = [validation.positive_int(k, "factors_num_values") for k in factors_num_values]
  num_factors = len(sizes)
  if num_factors < 2:
    raise ValueError(f"factors_num_values: expected at least 2 factors (a target and a "
                     f"sensitive one), got {num_factors}")
  if factors_train.shape[1] != num_factors:
    raise ValueError(f"factors_train: expected {num_factors} factors like factors_num_values, "
                     f"got {factors_train.shape[1]}")
  for j, k in enumerate(sizes):
    column = factors_train[:, j]
    if np.any(column != np.round(column)) or np.any(column < 0) or np.any(column >= k):
      raise ValueError(f"factors_train: expected factor {j} to hold indices in [0, {k})")
  models = downstream.fit_per_factor(codes_train, factors_train.astype(np.int64), predictor,
                                     n_jobs=n_jobs, seed=seed, multiclass=multiclass)
  unfairness = {prefix: np.zeros([num_factors, num_factors]) for prefix in PREFIXES}
  for i in range(num_factors):
    for j in range(num_factors):
      if i == j:
        continue
      if (i, j) not in intervened_codes:
        raise ValueError(f"intervened_codes: expected codes for target {i} and sensitive {j}")
      groups = np.asarray(intervened_codes[(i, j)], dtype=np.float64)
      if groups.ndim != 3 or groups.shape[0] != sizes[j] or groups.shape[2] != \
          codes_train.shape[1]:
        raise ValueError(f"intervened_codes[({i}, {j})]: expected shape [{sizes[j]}, n, "
                         f"{codes_train.shape[1]}], got {list(groups.shape)}")
      # One call for all groups: a boosted model's predict costs mostly per call, not per point.
      predictions = models[i].predict(groups.reshape(-1, groups.shape[2])).astype(np.int64)
      predictions = predictions.reshape(groups.shape[:2])
      counts = np.stack([np.bincount(p, minlength=sizes[i]) for p in predictions], axis=1)
      mean_tv, max_tv = inter_group_fairness(counts)
      unfairness["mean_fairness"][i, j] = mean_tv
      unfairness["max_fairness"][i, j] = max_tv
  scores = {}
  for prefix in PREFIXES:
    scores.update(fairness_scores(unfairness[prefix], prefix))
  return scores


def compute_fairness(ground_truth_data, representation_function, random_state, num_train=10000,
                     num_test_points_per_class=100, batch_size=16,
                     predictor="gradient_boosting_classifier", n_jobs=None,
                     multiclass="one_vs_rest"):
  """Fairness scores of a representation, with the reference defaults.

  The draws are the reference's, in its order: the training set (`batch_size` at a time), then
  for every target i and sensitive j ≠ i the test factors, and for each value of j the
  observations of the intervened factors; then the boosted trees' seed.

  Args:
    ground_truth_data: a `GroundTruthData`.
    representation_function: observations `[B, ...]` -> codes `[B, d]`.
    random_state: `np.random.RandomState` for all draws.
    num_train: training points of the classifiers.
    num_test_points_per_class: test points per (target, sensitive) pair, each intervened on
      once per sensitive value.
    batch_size: points per sampling/encoding call (for the training set, it changes the draws).
    predictor: "gradient_boosting_classifier" (reference) or "logistic_regression_cv".
    n_jobs: parallel workers (results do not depend on it).
    multiclass: logistic regression only (see `downstream`).

  Returns:
    dict with the keys of the module docstring.
  """
  validation.one_of(predictor, downstream.PREDICTORS, "predictor")
  num_test = validation.positive_int(num_test_points_per_class, "num_test_points_per_class")
  batch_size = validation.positive_int(batch_size, "batch_size")
  sizes = tuple(ground_truth_data.factors_num_values)
  if len(sizes) < 2:
    raise ValueError(f"ground_truth_data: expected at least 2 factors (a target and a "
                     f"sensitive one), got {len(sizes)}")
  codes_train, factors_train = utils.generate_batch_factor_code(
      ground_truth_data, representation_function, num_train, random_state, batch_size)
  intervened = {}
  progress.begin("intervened test sets", len(sizes) * (len(sizes) - 1))
  for i in range(len(sizes)):
    for j in range(len(sizes)):
      if i == j:
        continue
      test_factors = ground_truth_data.sample_factors(num_test, random_state)
      groups = []
      for c in range(sizes[j]):
        factors = np.array(test_factors, copy=True)
        factors[:, j] = c
        groups.append(utils.codes_of_factors(ground_truth_data, representation_function,
                                             factors, random_state, batch_size))
      intervened[(i, j)] = np.stack(groups)
      progress.advance()
  seed = int(random_state.randint(boosted_trees.SEED_BOUND))
  return fairness_from_arrays(codes_train, factors_train, intervened, sizes,
                              predictor=predictor, n_jobs=n_jobs, seed=seed,
                              multiclass=multiclass)
