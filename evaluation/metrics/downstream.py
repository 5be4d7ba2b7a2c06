"""Downstream prediction: how well each ground-truth factor can be predicted from the codes.

One classifier per factor is trained on the codes and scored by accuracy, as in the reference
study (disentanglement_lib, Locatello et al., ICML 2019), with its two predictors:

* `logistic_regression_cv`: `LogisticRegressionCV(Cs=10, cv=KFold(5))`, accuracy as the
  cross-validation score. The reference ran it with the scikit-learn of its time, whose default
  was one-vs-rest; current scikit-learn only fits multinomial models, so one-vs-rest is rebuilt
  as `OneVsRestClassifier` around a binary `LogisticRegressionCV` (a separate C per class, as
  before). `multiclass="multinomial"` gives the modern default instead (not comparable).
* `gradient_boosting_classifier`: `GradientBoostingClassifier()` with default settings, or,
  with `downstream_boosted_trees.estimator = "histogram"`, the faster histogram gradient
  boosting of `boosted_trees` (not the reference's numbers; recorded in results.json as
  `settings.downstream_boosted_trees.estimator`).

Result keys: the reference wrote `"{num_train}:mean_test_accuracy"`; the colon is replaced by an
underscore here (`"10000_mean_test_accuracy"`), so every key is a plain identifier-like string:

  {n}_mean_train_accuracy, {n}_mean_test_accuracy, {n}_min_train_accuracy,
  {n}_min_test_accuracy, {n}_train_accuracy_factor_{i}, {n}_test_accuracy_factor_{i}

Registered (and gin-configurable) as `downstream_logistic_regression` and
`downstream_boosted_trees`; defaults as in the reference: training sets of 10, 100, 1,000 and
10,000 points, 5,000 test points, drawn in batches of 16.

Speed: the fits are independent per factor (and per class for one-vs-rest), so they run on
`n_jobs` workers (threads for the trees, processes for logistic regression) with results
identical to a sequential loop (tested). Boosted trees are the expensive part of the whole
metric suite (DCI fits the same models); `boosted_trees` explains how they are built faster
without changing a single number.
"""
import warnings

import joblib
import numpy as np
import threadpoolctl
from sklearn import exceptions as sk_exceptions
from sklearn import linear_model
from sklearn import model_selection
from sklearn import multiclass as sk_multiclass

from common import validation
from evaluation import progress
from evaluation.metrics import boosted_trees
from evaluation.metrics import utils

PREDICTORS = ("logistic_regression_cv", "gradient_boosting_classifier")
MULTICLASS_MODES = ("one_vs_rest", "multinomial")

# ---------------------------------------------------------------------------------------------
# Logistic regression.
# ---------------------------------------------------------------------------------------------


def _logistic_regression_cv():
  # scoring=None is accuracy, as in the reference; said explicitly because the default changes.
  return linear_model.LogisticRegressionCV(
      Cs=10, cv=model_selection.KFold(n_splits=5), scoring="accuracy", l1_ratios=(0.0,),
      use_legacy_attributes=False)


LOGISTIC_REGRESSION_STAGE = "fitting logistic regressions (factors)"


def fit_logistic_regressions(codes, factors, multiclass="one_vs_rest", n_jobs=None):
  """One cross-validated logistic regression per factor (reference settings).

  The per-class (one-vs-rest) or per-factor problems are independent, so they run in `n_jobs`
  worker processes with one BLAS thread each; the fitted models are the same as sequential
  ones.

  Args:
    codes: `[N, d]` training codes.
    factors: `[N, F]` training labels.
    multiclass: "one_vs_rest" (reference) or "multinomial".
    n_jobs: worker processes; None or -1 for every CPU.

  Returns:
    list of F fitted classifiers.
  """
  codes, factors = boosted_trees.check_training_set(codes, factors)
  if multiclass not in MULTICLASS_MODES:
    raise ValueError(f"multiclass: expected one of {MULTICLASS_MODES}, got {multiclass!r}")
  n_jobs = boosted_trees.resolve_n_jobs(n_jobs)
  # The BLAS calls here are tiny: threads inside them gain nothing, and spinning BLAS threads
  # slow everything down badly on a busy machine (5x measured), so parallelism comes from
  # independent fits instead, in worker processes: L-BFGS iterates in Python between its small
  # compiled calls, so threads mostly wait for the GIL (idle 2-core machine, benchmark data:
  # 52 s on 2 threads, 23 s on 2 processes, the same coefficients bit for bit).
  with threadpoolctl.threadpool_limits(1), \
       joblib.parallel_config(backend="loky", inner_max_num_threads=1), \
       warnings.catch_warnings():
    # The reference's solver settings (100 L-BFGS iterations) often stop before convergence on
    # the weakly regularized end of the C grid; that is part of the estimator, not news, and
    # there would be one warning per class, fold and C.
    warnings.simplefilter("ignore", sk_exceptions.ConvergenceWarning)
    if multiclass == "multinomial":
      return joblib.Parallel(n_jobs=n_jobs)(
          joblib.delayed(_logistic_regression_cv().fit)(codes, factors[:, j])
          for j in range(factors.shape[1]))
    progress.begin(LOGISTIC_REGRESSION_STAGE, factors.shape[1])
    models = []
    for j in range(factors.shape[1]):
      models.append(sk_multiclass.OneVsRestClassifier(_logistic_regression_cv(), n_jobs=n_jobs)
                    .fit(codes, factors[:, j]))
      progress.advance()
    return models


# ---------------------------------------------------------------------------------------------
# The metric.
# ---------------------------------------------------------------------------------------------


def fit_per_factor(codes, factors, predictor, n_jobs=None, seed=0, multiclass="one_vs_rest",
                   estimator="reference"):
  """Fits `predictor` (a name in PREDICTORS) to every factor -> list of F fitted classifiers;
  `estimator` ("reference" or "histogram") chooses the boosted trees' estimator."""
  if predictor == "gradient_boosting_classifier":
    return boosted_trees.fit_boosted_trees(codes, factors, seed=seed, n_jobs=n_jobs,
                                           estimator=estimator)
  if predictor == "logistic_regression_cv":
    return fit_logistic_regressions(codes, factors, multiclass=multiclass, n_jobs=n_jobs)
  raise ValueError(f"predictor: expected one of {PREDICTORS}, got {predictor!r}")


def plan_fits(predictor, label_sets, multiclass="one_vs_rest", estimator="reference"):
  """Announces to the progress line every fit a metric is about to make: one `predictor` per
  column of each `[N, F]` array in `label_sets` (see `progress.plan`)."""
  if predictor == "gradient_boosting_classifier" and estimator == "reference":
    boosted_trees.plan_fits(label_sets)
  elif predictor == "logistic_regression_cv" and multiclass == "one_vs_rest":
    progress.plan(LOGISTIC_REGRESSION_STAGE, sum(labels.shape[1] for labels in label_sets))


def accuracy_per_factor(models, codes, factors):
  """Accuracy of `models[j]` on factor j -> float64 `[F]`."""
  codes, factors = utils.check_codes_factors(codes, factors)
  if len(models) != factors.shape[1]:
    raise ValueError(f"factors: expected {len(models)} factors (one per model), got "
                     f"{factors.shape[1]}")
  return np.array([np.mean(model.predict(codes) == factors[:, j])
                   for j, model in enumerate(models)])


def accuracy_scores(train_accuracy, test_accuracy):
  """The reference's result dictionary (without the training-size prefix) from `[F]` accuracies."""
  scores = {
      "mean_train_accuracy": float(np.mean(train_accuracy)),
      "mean_test_accuracy": float(np.mean(test_accuracy)),
      "min_train_accuracy": float(np.min(train_accuracy)),
      "min_test_accuracy": float(np.min(test_accuracy)),
  }
  for i, (train, test) in enumerate(zip(train_accuracy, test_accuracy)):
    scores[f"train_accuracy_factor_{i}"] = float(train)
    scores[f"test_accuracy_factor_{i}"] = float(test)
  return scores


def downstream_from_arrays(codes_train, factors_train, codes_test, factors_test,
                           predictor="logistic_regression_cv", n_jobs=None, seed=0,
                           multiclass="one_vs_rest", estimator="reference"):
  """Downstream accuracies of one predictor on given training and test sets.

  Args:
    codes_train, factors_train: `[N_train, d]`, `[N_train, F]`.
    codes_test, factors_test: `[N_test, d]`, `[N_test, F]`.
    predictor: "logistic_regression_cv" or "gradient_boosting_classifier".
    n_jobs: parallel workers (results do not depend on it); None or -1 for every CPU.
    seed: random_state of the boosted trees.
    multiclass: logistic regression only, "one_vs_rest" (reference) or "multinomial".
    estimator: boosted trees only, "reference" or "histogram" (see `boosted_trees`).

  Returns:
    dict: mean/min train/test accuracy and the per-factor accuracies (keys without prefix).
  """
  boosted_trees.check_estimator(estimator)
  codes_train, factors_train, codes_test, factors_test = check_train_test(
      codes_train, factors_train, codes_test, factors_test)
  models = fit_per_factor(codes_train, factors_train, predictor, n_jobs=n_jobs, seed=seed,
                          multiclass=multiclass, estimator=estimator)
  return accuracy_scores(accuracy_per_factor(models, codes_train, factors_train),
                         accuracy_per_factor(models, codes_test, factors_test))


def draw_sets_per_size(ground_truth_data, representation_function, random_state, sizes,
                       num_test, batch_size):
  """The reference's draws for a task at several training sizes: for each size its training
  set, then a test set of `num_test` (`batch_size` at a time), then the boosted trees' seed.

  Returns:
    ([(size, (codes_train, factors_train), (codes_test, factors_test)), ...], seed).
  """
  drawn = []
  for size in sizes:
    train = utils.generate_batch_factor_code(ground_truth_data, representation_function, size,
                                             random_state, batch_size)
    test = utils.generate_batch_factor_code(ground_truth_data, representation_function,
                                            num_test, random_state, batch_size)
    drawn.append((size, train, test))
  return drawn, int(random_state.randint(boosted_trees.SEED_BOUND))


def compute_downstream(ground_truth_data, representation_function, random_state, predictor,
                       num_train=(10, 100, 1000, 10000), num_test=5000, batch_size=16,
                       n_jobs=None, multiclass="one_vs_rest", estimator="reference"):
  """Downstream accuracies of `predictor` for every training-set size in `num_train`.

  The data are drawn in the reference order (for each size: its training set, then a test set
  of `num_test`); only then is the seed of the boosted trees drawn from `random_state`, so the
  points are the reference's for the same seed.

  Returns:
    dict with keys "{n}_{key}" for n in num_train (see the module docstring).
  """
  sizes = [validation.positive_int(n, "num_train") for n in np.atleast_1d(num_train).tolist()]
  boosted_trees.check_estimator(estimator)
  data, seed = draw_sets_per_size(ground_truth_data, representation_function, random_state,
                                  sizes, num_test, batch_size)
  plan_fits(predictor, [factors_train for _, (_, factors_train), _ in data],
            multiclass=multiclass, estimator=estimator)
  scores = {}
  for size, (codes_train, factors_train), (codes_test, factors_test) in data:
    size_scores = downstream_from_arrays(codes_train, factors_train, codes_test, factors_test,
                                         predictor=predictor, n_jobs=n_jobs, seed=seed,
                                         multiclass=multiclass, estimator=estimator)
    scores.update({f"{size}_{key}": value for key, value in size_scores.items()})
  return scores


_WRAPPER_DENYLIST = ["ground_truth_data", "representation_function", "random_state"]


def compute_downstream_logistic_regression(ground_truth_data, representation_function,
                                           random_state, num_train=(10, 100, 1000, 10000),
                                           num_test=5000, batch_size=16, n_jobs=None,
                                           multiclass="one_vs_rest"):
  """Downstream accuracies with the reference's cross-validated logistic regression."""
  return compute_downstream(ground_truth_data, representation_function, random_state,
                            "logistic_regression_cv", num_train=num_train, num_test=num_test,
                            batch_size=batch_size, n_jobs=n_jobs, multiclass=multiclass)


def compute_downstream_boosted_trees(ground_truth_data, representation_function, random_state,
                                     num_train=(10, 100, 1000, 10000), num_test=5000,
                                     batch_size=16, n_jobs=None, estimator="reference"):
  """Downstream accuracies with the reference's default gradient boosting classifier, or with
  the histogram estimator (`estimator = "histogram"`, not the reference's numbers)."""
  return compute_downstream(ground_truth_data, representation_function, random_state,
                            "gradient_boosting_classifier", num_train=num_train,
                            num_test=num_test, batch_size=batch_size, n_jobs=n_jobs,
                            estimator=estimator)


def check_train_test(codes_train, factors_train, codes_test, factors_test):
  """The four arrays checked (`utils.check_codes_factors`) and matched to each other."""
  codes_train, factors_train = utils.check_codes_factors(codes_train, factors_train,
                                                         "codes_train", "factors_train")
  codes_test, factors_test = utils.check_codes_factors(codes_test, factors_test, "codes_test",
                                                       "factors_test")
  check_matching_test_set(codes_train, factors_train, codes_test, factors_test)
  return codes_train, factors_train, codes_test, factors_test


def check_matching_test_set(codes_train, factors_train, codes_test, factors_test):
  """ValueError unless the test set has as many codes and factors (columns) as the training set."""
  if codes_train.shape[1] != codes_test.shape[1]:
    raise ValueError(f"codes_test: expected {codes_train.shape[1]} codes like codes_train, got "
                     f"{codes_test.shape[1]}")
  if factors_train.shape[1] != factors_test.shape[1]:
    raise ValueError(f"factors_test: expected {factors_train.shape[1]} factors like "
                     f"factors_train, got {factors_test.shape[1]}")
