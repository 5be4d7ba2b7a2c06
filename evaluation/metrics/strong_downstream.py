"""Strong downstream: factor prediction under a covariate shift (out-of-distribution
generalization), as in disentanglement_lib 1.5 (`strong_downstream_task`, used in Locatello et
al., JMLR 2020).

For each training-set size n (definition of the reference):

* Plain task: one classifier per factor, trained on the codes of n points and tested on
  `num_test` others (`mean_train_accuracy`, `mean_test_accuracy`, means over the factors).
* Shifted task, for every target factor i and `n_experiment` repetitions: another factor j is
  drawn uniformly among the others, a value v of j uniformly, and a value for every test point
  uniformly among the other values of j. The plain task's training factors get j = v, its test
  factors their drawn values (so the test set never shows v), fresh observations of both are
  drawn and encoded, and a classifier of factor i is trained on the first and tested on the
  second. `mean_strong_train_accuracy` and `mean_strong_test_accuracy` are the means over all
  targets and repetitions.
* `strong_generalization_gap` = 1 - mean_strong_test_accuracy / mean_test_accuracy: how much
  is lost when the representation meets values of another factor it was not trained on.

Result keys, the reference's `"{n}:..."` with ':' replaced by '_':

  {n}_mean_train_accuracy, {n}_mean_test_accuracy, {n}_mean_strong_train_accuracy,
  {n}_mean_strong_test_accuracy, {n}_strong_generalization_gap

The reference requires every setting (its test uses 1,000 training and test points and 2
repetitions); the defaults here are the downstream task's sizes of the reference study
(10, 100, 1,000 and 10,000 training points, 5,000 test points), its own function's default of
10 repetitions, and its predictor of the fairness study, the default
`GradientBoostingClassifier` (`predictor = "logistic_regression_cv"` gives the other one, as in
`downstream`). Differences from the reference: the interventions are drawn from the metric's
random state, not from NumPy's global one (with `np.random` standing for the random state the
reference gives the same numbers); codes are computed `batch_size` observations at a time
(the reference encodes a whole set in one call; the codes are the same); the boosted trees get
a seed drawn after all points (the reference left them unseeded); repetitions whose training
sets are identical share one fit (`distinct_fits`: the same model the reference fits again).
With a single factor there is no other factor to shift and a ValueError is raised.
"""
import concurrent.futures
import hashlib

import numpy as np

from common import validation
from evaluation import progress
from evaluation.metrics import boosted_trees
from evaluation.metrics import downstream
from evaluation.metrics import utils


def draw_intervention(target, factors_num_values, num_test, random_state):
  """One covariate shift for `target`: (factor j, its training value v, test values [num_test]).

  j is uniform among the other factors, v uniform among j's values, each test value uniform
  among j's values other than v (the reference's draws, in its order).
  """
  others = [j for j in range(len(factors_num_values)) if j != target]
  factor = int(random_state.choice(others))
  values = list(range(factors_num_values[factor]))
  train_value = int(random_state.choice(values))
  values.remove(train_value)
  test_values = random_state.choice(values, size=num_test)
  return factor, train_value, test_values


def accuracies(codes_train, labels_train, codes_test, labels_test, predictor, n_jobs=None,
               seed=0, multiclass="one_vs_rest"):
  """(train, test) accuracies `[F]` of one classifier per label column."""
  models = downstream.fit_per_factor(codes_train, labels_train, predictor, n_jobs=n_jobs,
                                     seed=seed, multiclass=multiclass)
  return (downstream.accuracy_per_factor(models, codes_train, labels_train),
          downstream.accuracy_per_factor(models, codes_test, labels_test))


def strong_downstream_from_arrays(codes_train, factors_train, codes_test, factors_test,
                                  experiments, predictor="gradient_boosting_classifier",
                                  n_jobs=None, seed=0, multiclass="one_vs_rest"):
  """Strong downstream scores of given plain and shifted training and test sets.

  Args:
    codes_train, factors_train: `[N, d]`, `[N, F]`: the plain task's training set.
    codes_test, factors_test: `[M, d]`, `[M, F]`: its test set.
    experiments: list of (target i, codes_train `[N', d]`, factors_train `[N', F]`,
      codes_test `[M', d]`, factors_test `[M', F]`): the shifted tasks, a classifier of factor
      i each.
    predictor: "gradient_boosting_classifier" (reference) or "logistic_regression_cv".
    n_jobs: parallel workers (results do not depend on it); None or -1 for every CPU.
    seed: random_state of the boosted trees.
    multiclass: logistic regression only (see `downstream`).

  Returns:
    dict with the keys of the module docstring, without the size prefix.
  """
  validation.one_of(predictor, downstream.PREDICTORS, "predictor")
  codes_train, factors_train, codes_test, factors_test = downstream.check_train_test(
      codes_train, factors_train, codes_test, factors_test)
  if not experiments:
    raise ValueError("experiments: expected at least one shifted task")
  train, test = accuracies(codes_train, factors_train, codes_test, factors_test, predictor,
                           n_jobs=n_jobs, seed=seed, multiclass=multiclass)
  checked = [_check_experiment(k, experiment, codes_train, factors_train)
             for k, experiment in enumerate(experiments)]
  fitted_by = distinct_fits(checked)
  distinct = sorted(set(fitted_by))
  workers = min(boosted_trees.resolve_n_jobs(n_jobs), len(distinct))

  def fit_shifted(k, inner_jobs):
    target, shifted_codes, shifted_factors, _, _ = checked[k]
    return downstream.fit_per_factor(shifted_codes, shifted_factors[:, target:target + 1],
                                     predictor, n_jobs=inner_jobs, seed=seed,
                                     multiclass=multiclass)[0]

  def shifted_accuracies(k):
    target, shifted_codes, shifted_factors, shifted_codes_test, shifted_factors_test = checked[k]
    model = [models[fitted_by[k]]]
    return (downstream.accuracy_per_factor(model, shifted_codes, shifted_factors[:, [target]])[0],
            downstream.accuracy_per_factor(model, shifted_codes_test,
                                           shifted_factors_test[:, [target]])[0])

  if predictor == "gradient_boosting_classifier" and workers > 1:
    # One factor per shifted task leaves a single model to fit, which the boosted trees cannot
    # spread over threads when it has two classes: whole tasks per thread instead (the tree
    # builder releases the GIL; every model is the same as when fitted alone).
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
      models = dict(zip(distinct, pool.map(lambda k: fit_shifted(k, 1), distinct)))
      shifted = list(pool.map(shifted_accuracies, range(len(checked))))
  else:
    models = {k: fit_shifted(k, n_jobs) for k in distinct}
    shifted = [shifted_accuracies(k) for k in range(len(checked))]
  strong_train = [train_k for train_k, _ in shifted]
  strong_test = [test_k for _, test_k in shifted]
  scores = {"mean_train_accuracy": float(np.mean(train)),
            "mean_test_accuracy": float(np.mean(test)),
            "mean_strong_train_accuracy": float(np.mean(strong_train)),
            "mean_strong_test_accuracy": float(np.mean(strong_test))}
  with np.errstate(divide="ignore", invalid="ignore"):
    scores["strong_generalization_gap"] = float(
        1.0 - np.float64(scores["mean_strong_test_accuracy"]) / scores["mean_test_accuracy"])
  return scores


def distinct_fits(experiments):
  """`[K]`: for each shifted task, the index of the first task with the same target and the
  same training codes and labels.

  Repetitions that drew the same shift (target, factor and value) of a data set whose
  observations are fixed by their factors train on identical sets, and a fit depends on
  nothing else (its seed is shared), so one model serves them all. At the reference's settings
  on dSprites (10 repetitions of 5 targets) 5.7 of the 50 shifted fits of a training size are
  repeats in expectation, 13 % of their trees (most repeats shift the 3-valued shape).
  """
  first_of = {}
  fitted_by = []
  for k, (target, codes, factors, _, _) in enumerate(experiments):
    codes, labels = np.ascontiguousarray(codes), np.ascontiguousarray(factors[:, target])
    key = (target, codes.shape, codes.dtype.str, labels.dtype.str,
           hashlib.sha256(codes.tobytes() + labels.tobytes()).hexdigest())
    same = first_of.setdefault(key, k)
    fitted_by.append(same)
  return fitted_by


def _check_experiment(k, experiment, codes_train, factors_train):
  try:
    target, codes, factors, codes_test, factors_test = experiment
  except (TypeError, ValueError):
    raise ValueError(f"experiments[{k}]: expected (target, codes_train, factors_train, "
                     "codes_test, factors_test)") from None
  target = validation.integer(target, f"experiments[{k}] target", minimum=0,
                              maximum=factors_train.shape[1] - 1)
  codes, factors = utils.check_codes_factors(codes, factors, f"experiments[{k}] codes_train",
                                             f"experiments[{k}] factors_train")
  codes_test, factors_test = utils.check_codes_factors(
      codes_test, factors_test, f"experiments[{k}] codes_test", f"experiments[{k}] factors_test")
  downstream.check_matching_test_set(codes_train, factors_train, codes, factors)
  downstream.check_matching_test_set(codes_train, factors_train, codes_test, factors_test)
  return target, codes, factors, codes_test, factors_test


def _encode(ground_truth_data, representation_function, factors, random_state, batch_size):
  return utils.codes_of_factors(ground_truth_data, representation_function, factors,
                                random_state, batch_size)


def compute_strong_downstream(ground_truth_data, representation_function, random_state,
                              num_train=(10, 100, 1000, 10000), num_test=5000, n_experiment=10,
                              batch_size=64, predictor="gradient_boosting_classifier",
                              n_jobs=None, multiclass="one_vs_rest"):
  """Strong downstream scores for every training-set size in `num_train`.

  Draws, for each size and in the reference's order: the training factors, the test factors,
  their observations; then for every target factor and repetition the intervention and the
  observations of the shifted training and test sets. After every size is drawn, the boosted
  trees' seed.

  Args:
    ground_truth_data: a `GroundTruthData` with at least 2 factors.
    representation_function: observations `[B, ...]` -> codes `[B, d]`.
    random_state: `np.random.RandomState` for all draws.
    num_train: training-set sizes.
    num_test: test points.
    n_experiment: shifted tasks per target factor.
    batch_size: observations per encoding call (changes no number).
    predictor: "gradient_boosting_classifier" (reference) or "logistic_regression_cv".
    n_jobs: parallel workers (results do not depend on it).
    multiclass: logistic regression only (see `downstream`).

  Returns:
    dict with keys "{n}_{key}" for n in num_train (see the module docstring).
  """
  sizes = [validation.positive_int(n, "num_train") for n in np.atleast_1d(num_train).tolist()]
  num_test = validation.positive_int(num_test, "num_test")
  n_experiment = validation.positive_int(n_experiment, "n_experiment")
  batch_size = validation.positive_int(batch_size, "batch_size")
  validation.one_of(predictor, downstream.PREDICTORS, "predictor")
  validation.random_state(random_state)
  factors_num_values = tuple(ground_truth_data.factors_num_values)
  if len(factors_num_values) < 2:
    raise ValueError(f"ground_truth_data: expected at least 2 factors (a target and one to "
                     f"shift), got {len(factors_num_values)}")
  drawn = []
  # Points rendered and encoded, for the progress line.
  points = sum(sizes) + len(sizes) * num_test
  points *= 1 + len(factors_num_values) * n_experiment
  done = 0
  for size in sizes:
    factors_train = ground_truth_data.sample_factors(size, random_state)
    factors_test = ground_truth_data.sample_factors(num_test, random_state)
    codes_train = _encode(ground_truth_data, representation_function, factors_train,
                          random_state, batch_size)
    codes_test = _encode(ground_truth_data, representation_function, factors_test,
                         random_state, batch_size)
    done += size + num_test
    experiments = []
    for target in range(len(factors_num_values)):
      for _ in range(n_experiment):
        factor, train_value, test_values = draw_intervention(target, factors_num_values,
                                                             num_test, random_state)
        shifted_train = np.array(factors_train, copy=True)
        shifted_train[:, factor] = train_value
        shifted_test = np.array(factors_test, copy=True)
        shifted_test[:, factor] = test_values
        experiments.append((target,
                            _encode(ground_truth_data, representation_function, shifted_train,
                                    random_state, batch_size), shifted_train,
                            _encode(ground_truth_data, representation_function, shifted_test,
                                    random_state, batch_size), shifted_test))
        done += size + num_test
        progress.report("drawing and encoding points", done, points)
    drawn.append((size, (codes_train, factors_train, codes_test, factors_test), experiments))
  seed = int(random_state.randint(boosted_trees.SEED_BOUND))
  fitted_labels = []
  for _, (_, factors_train, _, _), experiments in drawn:
    fitted_labels.append(factors_train)
    for k in sorted(set(distinct_fits(experiments))):
      target, _, shifted_factors, _, _ = experiments[k]
      fitted_labels.append(shifted_factors[:, [target]])
  downstream.plan_fits(predictor, fitted_labels, multiclass=multiclass)
  scores = {}
  for size, arrays, experiments in drawn:
    size_scores = strong_downstream_from_arrays(*arrays, experiments, predictor=predictor,
                                                n_jobs=n_jobs, seed=seed,
                                                multiclass=multiclass)
    scores.update({f"{size}_{key}": value for key, value in size_scores.items()})
  return scores
