"""Downstream prediction: how well each ground-truth factor can be predicted from the codes.

One classifier per factor is trained on the codes and scored by accuracy, as in the reference
study (disentanglement_lib, Locatello et al., ICML 2019), with its two predictors:

* `logistic_regression_cv`: `LogisticRegressionCV(Cs=10, cv=KFold(5))`, accuracy as the
  cross-validation score. The reference ran it with the scikit-learn of its time, whose default
  was one-vs-rest; current scikit-learn only fits multinomial models, so one-vs-rest is rebuilt
  as `OneVsRestClassifier` around a binary `LogisticRegressionCV` (a separate C per class, as
  before). `multiclass="multinomial"` gives the modern default instead (not comparable).
* `gradient_boosting_classifier`: `GradientBoostingClassifier()` with default settings.

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
metric suite (DCI fits the same models); they are also built from presorted codes
(`presorted_tree`), and the comment above `_PresortedGradientBoosting` explains how neither
saving changes a single number.
"""
import concurrent.futures
import inspect
import os
import warnings

import gin
import joblib
import numpy as np
import threadpoolctl
from sklearn import ensemble
from sklearn import exceptions as sk_exceptions
from sklearn import linear_model
from sklearn import model_selection
from sklearn import multiclass as sk_multiclass
from sklearn.ensemble import _gb as sk_gb

from evaluation.metrics import presorted_tree
from evaluation.metrics import utils

PREDICTORS = ("logistic_regression_cv", "gradient_boosting_classifier")
MULTICLASS_MODES = ("one_vs_rest", "multinomial")

# Upper bound (exclusive) of the seed a scikit-learn tree splitter draws from its RandomState;
# the metrics draw the boosted trees' seed from the same range.
SEED_BOUND = presorted_tree.RAND_R_MAX


def resolve_n_jobs(n_jobs):
  """Number of worker threads: None or -1 means every CPU this process may use."""
  if n_jobs is None or n_jobs == -1:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))
  return utils.check_positive_int(n_jobs, "n_jobs")


# ---------------------------------------------------------------------------------------------
# Boosted trees: presorted, parallel, and bit-identical to scikit-learn's sequential fit.
#
# Two independent savings, neither of which changes a single number:
# * every tree comes from `presorted_tree`, which replays scikit-learn's tree builder but sorts
#   each code once per fit instead of at every node (a boosted model refits thousands of trees
#   on the same codes);
# * a multi-class GradientBoostingClassifier fits, at every stage, one regression tree per class
#   on the negative gradient computed *before* the stage; the K trees of a stage only share the
#   RandomState, from which every tree takes exactly one integer (its splitter's seed). Drawing
#   the K seeds in order and then building the K trees concurrently reproduces the sequential
#   fit. The builder runs without the GIL, so threads suffice (no process start-up, no copies),
#   and all factors share one pool, which keeps every worker busy even when one factor has 40
#   classes and another 3: whole factors per worker cannot balance that (dSprites on 2 workers:
#   at best 1.77x, and never more than 113 / 40 = 2.8x however many workers), trees per stage
#   can.
# ---------------------------------------------------------------------------------------------


class _PresortedGradientBoosting(ensemble.GradientBoostingClassifier):
  """GradientBoostingClassifier with presorted trees, built on a thread pool when one is set."""

  _tree_pool = None
  _presorted = None  # (X, presort(X)) of the last X seen

  def _presorted_trees_apply(self, X, sample_weight, X_csc):
    # Only built once `presorted_boosting_is_exact()`, which checked the builder itself.
    return (X_csc is None and isinstance(X, np.ndarray)
            and X.dtype == np.float32 and X.ndim == 2 and self.subsample == 1.0
            and isinstance(self.max_depth, int) and self.min_samples_split == 2
            and self.min_samples_leaf == 1 and self.min_weight_fraction_leaf == 0.0
            and self.max_features is None and self.max_leaf_nodes is None
            and self.min_impurity_decrease == 0.0 and self.ccp_alpha == 0.0
            and np.all(sample_weight == 1.0))

  def fit(self, X, y, sample_weight=None, monitor=None):
    try:
      return super().fit(X, y, sample_weight=sample_weight, monitor=monitor)
    finally:
      # The fitted model keeps neither the sorted codes nor the (finished) pool.
      self._presorted = None
      self._tree_pool = None

  def _fit_stage(self, i, X, y, raw_predictions, sample_weight, sample_mask, random_state,
                 X_csc=None, X_csr=None):
    if not self._presorted_trees_apply(X, sample_weight, X_csc):
      return super()._fit_stage(i, X, y, raw_predictions, sample_weight, sample_mask,
                                random_state, X_csc=X_csc, X_csr=X_csr)
    if self._presorted is None or self._presorted[0] is not X:
      if not np.all(np.isfinite(X)):
        return super()._fit_stage(i, X, y, raw_predictions, sample_weight, sample_mask,
                                  random_state, X_csc=X_csc, X_csr=X_csr)
      self._presorted = (X, presorted_tree.presort(X))
    neg_gradient = -self._loss.gradient(y_true=y, raw_prediction=raw_predictions,
                                        sample_weight=None)
    if neg_gradient.ndim == 1:
      neg_gradient = neg_gradient.reshape((-1, 1))
    seeds = [presorted_tree.draw_seed(random_state) for _ in range(self.n_trees_per_iteration_)]
    if self._tree_pool is None:
      for k, seed in enumerate(seeds):
        self._fit_one_tree(i, k, X, y, neg_gradient, raw_predictions, sample_weight,
                           sample_mask, seed, random_state)
    else:
      pending = [self._tree_pool.submit(
          self._fit_one_tree, i, k, X, y, neg_gradient, raw_predictions, sample_weight,
          sample_mask, seed, random_state) for k, seed in enumerate(seeds)]
      for future in pending:
        future.result()
    return raw_predictions

  def _fit_one_tree(self, i, k, X, y, neg_gradient, raw_predictions, sample_weight, sample_mask,
                    seed, random_state):
    tree = presorted_tree.build_regression_tree(
        X, neg_gradient[:, k], self._presorted[1], seed, self.max_depth, random_state)
    # The loss wants the one-vs-rest indicator of class k for the leaf update of tree k.
    target = np.array(y == k, dtype=np.float64) if self._loss.is_multiclass else y
    # Writes only column k of raw_predictions, so concurrent trees never touch the same memory.
    sk_gb._update_terminal_regions(
        self._loss, tree.tree_, X, target, neg_gradient[:, k], raw_predictions, sample_weight,
        sample_mask, learning_rate=self.learning_rate, k=k)
    self.estimators_[i, k] = tree


_presorted_boosting_verified = None


def presorted_boosting_is_exact():
  """True when `_PresortedGradientBoosting` reproduces scikit-learn's own fit (sequential and
  on a thread pool) on small binary and multi-class checks; verified once per process.

  It relies on private scikit-learn internals (`_fit_stage`, `_update_terminal_regions`, the
  tree builder replayed by `presorted_tree`); when the check fails (another scikit-learn
  version) plain scikit-learn models are fitted instead, still one factor per thread.
  """
  global _presorted_boosting_verified
  if _presorted_boosting_verified is None:
    _presorted_boosting_verified = _verify_presorted_boosting()
  return _presorted_boosting_verified


def _verify_presorted_boosting():
  expected = ["self", "i", "X", "y", "raw_predictions", "sample_weight", "sample_mask",
              "random_state", "X_csc", "X_csr"]
  actual = list(inspect.signature(ensemble.GradientBoostingClassifier._fit_stage).parameters)
  if (actual != expected or not hasattr(sk_gb, "_update_terminal_regions")
      or not presorted_tree.is_exact()):
    return False
  check_state = np.random.RandomState(12345)
  codes = check_state.normal(size=(120, 4)).astype(np.float32)
  codes[:30, 1] = codes[30:60, 1]  # ties
  try:
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
      for num_classes in (2, 4):
        labels = check_state.randint(num_classes, size=120)
        plain = ensemble.GradientBoostingClassifier(n_estimators=4, random_state=7)
        plain.fit(codes, labels)
        for tree_pool in (None, pool):
          presorted = _PresortedGradientBoosting(n_estimators=4, random_state=7)
          presorted._tree_pool = tree_pool
          presorted.fit(codes, labels)
          if not (np.array_equal(plain.decision_function(codes),
                                 presorted.decision_function(codes))
                  and np.array_equal(plain.feature_importances_,
                                     presorted.feature_importances_)):
            return False
  except (AttributeError, TypeError):
    return False
  return True


# Below this many training points a tree costs well under a millisecond, most of it Python
# overhead that holds the GIL, so threads only add contention (measured: slower at 10 and 100).
_MIN_POINTS_FOR_THREADS = 200
# From this many points a tree costs several milliseconds of GIL-free work, enough to pay for
# the per-tree hand-off of the stage-parallel fit (a few percent of CPU time at 2,000 points).
_MIN_POINTS_FOR_STAGE_PARALLEL = 2000
# A per-factor schedule is used when it keeps the workers at least this busy.
_MIN_FACTOR_SCHEDULE_EFFICIENCY = 0.9


def trees_per_stage(labels):
  """Trees a GradientBoostingClassifier builds per stage: 1 for two classes, else the count."""
  num_classes = len(np.unique(labels))
  return 1 if num_classes == 2 else num_classes


def factor_schedule_efficiency(costs, n_jobs):
  """Busy fraction of `n_jobs` workers running whole jobs of the given costs, largest first."""
  loads = np.zeros(n_jobs)
  for cost in sorted(costs, reverse=True):
    loads[np.argmin(loads)] += cost
  return float(np.sum(costs) / (n_jobs * np.max(loads)))


def boosted_trees_strategy(num_points, costs, n_jobs):
  """How `fit_boosted_trees` parallelizes: "sequential", "per_factor" or "per_stage".

  Args:
    num_points: training points.
    costs: trees per stage of each factor (see `trees_per_stage`).
    n_jobs: worker threads.
  """
  if n_jobs == 1 or num_points < _MIN_POINTS_FOR_THREADS:
    return "sequential"
  if (num_points < _MIN_POINTS_FOR_STAGE_PARALLEL
      or factor_schedule_efficiency(costs, n_jobs) >= _MIN_FACTOR_SCHEDULE_EFFICIENCY
      or not presorted_boosting_is_exact()):
    return "per_factor"
  return "per_stage"


def _boosted_trees(seed, tree_pool=None):
  if not presorted_boosting_is_exact():
    return ensemble.GradientBoostingClassifier(random_state=seed)
  model = _PresortedGradientBoosting(random_state=seed)
  model._tree_pool = tree_pool  # pylint: disable=protected-access
  return model


def fit_boosted_trees(codes, factors, seed=0, n_jobs=None):
  """One default `GradientBoostingClassifier(random_state=seed)` per factor.

  The models are those of the reference's plain sequential loop, bit for bit, built faster:
  with presorted trees, and on up to `n_jobs` threads: whole factors per thread when that
  balances the work (or the trees are small), else the trees of every boosting stage spread
  over the threads (see `boosted_trees_strategy`).

  Args:
    codes: `[N, d]` training codes.
    factors: `[N, F]` training labels.
    seed: int seed of every model (the reference left it unseeded).
    n_jobs: worker threads; None or -1 for every CPU.

  Returns:
    list of F fitted classifiers.
  """
  codes, factors = _check_training_set(codes, factors)
  # Converted once here rather than once per model; the trees work in float32 anyway.
  codes = np.ascontiguousarray(codes, dtype=np.float32)
  n_jobs = resolve_n_jobs(n_jobs)
  num_factors = factors.shape[1]
  costs = [trees_per_stage(factors[:, j]) for j in range(num_factors)]
  strategy = boosted_trees_strategy(codes.shape[0], costs, n_jobs)
  if strategy == "sequential":
    return [_boosted_trees(seed).fit(codes, factors[:, j]) for j in range(num_factors)]
  # Largest factors first: they are the critical path.
  order = sorted(range(num_factors), key=lambda j: -costs[j])
  if strategy == "per_factor":
    with concurrent.futures.ThreadPoolExecutor(min(n_jobs, num_factors)) as workers:
      futures = {j: workers.submit(_boosted_trees(seed).fit, codes, factors[:, j])
                 for j in order}
      return [futures[j].result() for j in range(num_factors)]
  with concurrent.futures.ThreadPoolExecutor(n_jobs) as tree_pool:
    # The drivers only compute gradients, queue trees and wait, so one per factor is cheap and
    # keeps the shared pool fed from every factor at once.
    with concurrent.futures.ThreadPoolExecutor(num_factors) as drivers:
      futures = {j: drivers.submit(_boosted_trees(seed, tree_pool).fit, codes, factors[:, j])
                 for j in order}
      return [futures[j].result() for j in range(num_factors)]


# ---------------------------------------------------------------------------------------------
# Logistic regression.
# ---------------------------------------------------------------------------------------------


def _logistic_regression_cv():
  # scoring=None is accuracy, as in the reference; said explicitly because the default changes.
  return linear_model.LogisticRegressionCV(
      Cs=10, cv=model_selection.KFold(n_splits=5), scoring="accuracy", l1_ratios=(0.0,),
      use_legacy_attributes=False)


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
  codes, factors = _check_training_set(codes, factors)
  if multiclass not in MULTICLASS_MODES:
    raise ValueError(f"multiclass: expected one of {MULTICLASS_MODES}, got {multiclass!r}")
  n_jobs = resolve_n_jobs(n_jobs)
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
    return [sk_multiclass.OneVsRestClassifier(_logistic_regression_cv(), n_jobs=n_jobs)
            .fit(codes, factors[:, j]) for j in range(factors.shape[1])]


# ---------------------------------------------------------------------------------------------
# The metric.
# ---------------------------------------------------------------------------------------------


def fit_per_factor(codes, factors, predictor, n_jobs=None, seed=0, multiclass="one_vs_rest"):
  """Fits `predictor` (a name in PREDICTORS) to every factor -> list of F fitted classifiers."""
  if predictor == "gradient_boosting_classifier":
    return fit_boosted_trees(codes, factors, seed=seed, n_jobs=n_jobs)
  if predictor == "logistic_regression_cv":
    return fit_logistic_regressions(codes, factors, multiclass=multiclass, n_jobs=n_jobs)
  raise ValueError(f"predictor: expected one of {PREDICTORS}, got {predictor!r}")


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
                           multiclass="one_vs_rest"):
  """Downstream accuracies of one predictor on given training and test sets.

  Args:
    codes_train, factors_train: `[N_train, d]`, `[N_train, F]`.
    codes_test, factors_test: `[N_test, d]`, `[N_test, F]`.
    predictor: "logistic_regression_cv" or "gradient_boosting_classifier".
    n_jobs: parallel workers (results do not depend on it); None or -1 for every CPU.
    seed: random_state of the boosted trees.
    multiclass: logistic regression only, "one_vs_rest" (reference) or "multinomial".

  Returns:
    dict: mean/min train/test accuracy and the per-factor accuracies (keys without prefix).
  """
  codes_train, factors_train = utils.check_codes_factors(codes_train, factors_train,
                                                         "codes_train", "factors_train")
  codes_test, factors_test = utils.check_codes_factors(codes_test, factors_test, "codes_test",
                                                       "factors_test")
  check_matching_test_set(codes_train, factors_train, codes_test, factors_test)
  models = fit_per_factor(codes_train, factors_train, predictor, n_jobs=n_jobs, seed=seed,
                          multiclass=multiclass)
  return accuracy_scores(accuracy_per_factor(models, codes_train, factors_train),
                         accuracy_per_factor(models, codes_test, factors_test))


def compute_downstream(ground_truth_data, representation_function, random_state, predictor,
                       num_train=(10, 100, 1000, 10000), num_test=5000, batch_size=16,
                       n_jobs=None, multiclass="one_vs_rest"):
  """Downstream accuracies of `predictor` for every training-set size in `num_train`.

  The data are drawn in the reference order (for each size: its training set, then a test set
  of `num_test`); only then is the seed of the boosted trees drawn from `random_state`, so the
  points are the reference's for the same seed.

  Returns:
    dict with keys "{n}_{key}" for n in num_train (see the module docstring).
  """
  sizes = [utils.check_positive_int(n, "num_train") for n in np.atleast_1d(num_train).tolist()]
  data = []
  for size in sizes:
    train = utils.generate_batch_factor_code(ground_truth_data, representation_function, size,
                                             random_state, batch_size)
    test = utils.generate_batch_factor_code(ground_truth_data, representation_function,
                                            num_test, random_state, batch_size)
    data.append((size, train, test))
  seed = int(random_state.randint(SEED_BOUND))
  scores = {}
  for size, (codes_train, factors_train), (codes_test, factors_test) in data:
    size_scores = downstream_from_arrays(codes_train, factors_train, codes_test, factors_test,
                                         predictor=predictor, n_jobs=n_jobs, seed=seed,
                                         multiclass=multiclass)
    scores.update({f"{size}_{key}": value for key, value in size_scores.items()})
  return scores


_WRAPPER_DENYLIST = ["ground_truth_data", "representation_function", "random_state"]


@gin.configurable("downstream_logistic_regression", denylist=_WRAPPER_DENYLIST)
def compute_downstream_logistic_regression(ground_truth_data, representation_function,
                                           random_state, num_train=(10, 100, 1000, 10000),
                                           num_test=5000, batch_size=16, n_jobs=None,
                                           multiclass="one_vs_rest"):
  """Downstream accuracies with the reference's cross-validated logistic regression."""
  return compute_downstream(ground_truth_data, representation_function, random_state,
                            "logistic_regression_cv", num_train=num_train, num_test=num_test,
                            batch_size=batch_size, n_jobs=n_jobs, multiclass=multiclass)


@gin.configurable("downstream_boosted_trees", denylist=_WRAPPER_DENYLIST)
def compute_downstream_boosted_trees(ground_truth_data, representation_function, random_state,
                                     num_train=(10, 100, 1000, 10000), num_test=5000,
                                     batch_size=16, n_jobs=None):
  """Downstream accuracies with the reference's default gradient boosting classifier."""
  return compute_downstream(ground_truth_data, representation_function, random_state,
                            "gradient_boosting_classifier", num_train=num_train,
                            num_test=num_test, batch_size=batch_size, n_jobs=n_jobs)


def _check_training_set(codes, factors):
  codes, factors = utils.check_codes_factors(codes, factors, "codes_train", "factors_train")
  for j in range(factors.shape[1]):
    values = np.unique(factors[:, j])
    if len(values) < 2:
      raise ValueError(f"factors_train: factor {j} takes the single value {values[0]!r} in the "
                       "training set; a classifier needs at least two classes")
  return codes, factors


def check_matching_test_set(codes_train, factors_train, codes_test, factors_test):
  """ValueError unless the test set has as many codes and factors (columns) as the training set."""
  if codes_train.shape[1] != codes_test.shape[1]:
    raise ValueError(f"codes_test: expected {codes_train.shape[1]} codes like codes_train, got "
                     f"{codes_test.shape[1]}")
  if factors_train.shape[1] != factors_test.shape[1]:
    raise ValueError(f"factors_test: expected {factors_train.shape[1]} factors like "
                     f"factors_train, got {factors_test.shape[1]}")
