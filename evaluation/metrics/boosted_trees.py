"""The boosted trees of DCI and the downstream task: the reference's, or a faster estimator.

`fit_boosted_trees` fits one classifier per factor with one of two estimators (`ESTIMATORS`):

* "reference" (the default): the reference study's default
  `GradientBoostingClassifier(random_state=seed)`, bit for bit the models of a plain sequential
  scikit-learn loop, built faster in two ways that change no number (below);
* "histogram": scikit-learn's `HistGradientBoostingClassifier` with the reference's tree
  settings where it has them (100 stages, learning rate 0.1, depth 3, one point per leaf, no
  early stopping). Codes are binned into 255 quantiles and the splits are chosen by Newton gain,
  so the numbers differ from the reference's (docs/BENCHMARKS.md measures by how much); about
  40 times less work. The importance of a code is its share of the total split gain, as
  LightGBM's "gain" importance (`feature_importances`).

The reference's two savings:

* every tree comes from `presorted_tree`, which replays scikit-learn's tree builder but sorts
  each code once per fit instead of at every node (a boosted model refits thousands of trees
  on the same codes); where that builder would be slower (codes repeated with different
  targets, see `presorted_tree.MAX_MIXED_REPEATS`), scikit-learn's own builds the tree;
* a multi-class GradientBoostingClassifier fits, at every stage, one regression tree per class
  on the negative gradient computed *before* the stage; the K trees of a stage only share the
  RandomState, from which every tree takes exactly one integer (its splitter's seed). Drawing
  the K seeds in order and then building the K trees concurrently reproduces the sequential
  fit. The builder runs without the GIL, so threads suffice (no process start-up, no copies),
  and all factors share one pool, which keeps every worker busy even when one factor has 40
  classes and another 3: whole factors per worker cannot balance that (dSprites on 2 workers:
  at best 1.77x, and never more than 113 / 40 = 2.8x however many workers), trees per stage
  can.
"""
import concurrent.futures
import inspect
import os

import joblib
import numpy as np
import threadpoolctl
from sklearn import ensemble
from sklearn.ensemble import _gb as sk_gb

from common import validation
from evaluation import metrics as metric_names
from evaluation import progress
from evaluation.metrics import presorted_tree
from evaluation.metrics import utils

# Upper bound (exclusive) of the seed a scikit-learn tree splitter draws from its RandomState;
# the metrics draw the boosted trees' seed from the same range.
SEED_BOUND = presorted_tree.RAND_R_MAX

ESTIMATORS = metric_names.BOOSTED_TREE_ESTIMATORS


def check_estimator(estimator):
  if estimator not in ESTIMATORS:
    raise ValueError(f"estimator: expected one of {ESTIMATORS}, got {estimator!r}")
  return estimator


def resolve_n_jobs(n_jobs):
  """Number of worker threads: None or -1 means every CPU this process may use."""
  if n_jobs is None or n_jobs == -1:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else (os.cpu_count() or 1))
  return validation.positive_int(n_jobs, "n_jobs")


def check_training_set(codes, factors):
  codes, factors = utils.check_codes_factors(codes, factors, "codes_train", "factors_train")
  for j in range(factors.shape[1]):
    values = np.unique(factors[:, j])
    if len(values) < 2:
      raise ValueError(f"factors_train: factor {j} takes the single value {values[0]!r} in the "
                       "training set; a classifier needs at least two classes")
  return codes, factors


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
    tree = presorted_tree.fit_regression_tree(
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
  codes[90:120] = codes[:30]  # repeated points, some with their original's label
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


def fit_boosted_trees(codes, factors, seed=0, n_jobs=None, estimator="reference"):
  """One boosted-tree classifier per factor.

  With the reference estimator, `GradientBoostingClassifier(random_state=seed)`: the models of
  the reference's plain sequential loop, bit for bit, built faster: with presorted trees, and
  on up to `n_jobs` threads: whole factors per thread when that balances the work (or the trees
  are small), else the trees of every boosting stage spread over the threads (see
  `boosted_trees_strategy`). With the histogram estimator, `histogram_boosted_trees(seed)`,
  whole factors in `n_jobs` worker processes.

  Args:
    codes: `[N, d]` training codes.
    factors: `[N, F]` training labels.
    seed: int seed of every model (the reference left it unseeded).
    n_jobs: worker threads (processes for the histogram estimator); None or -1 for every CPU.
    estimator: "reference" or "histogram" (see the module docstring).

  Returns:
    list of F fitted classifiers (`feature_importances` gives their importances).
  """
  codes, factors = check_training_set(codes, factors)
  check_estimator(estimator)
  # Converted once here rather than once per model; the trees work in float32 anyway.
  codes = np.ascontiguousarray(codes, dtype=np.float32)
  n_jobs = resolve_n_jobs(n_jobs)
  num_factors = factors.shape[1]
  if estimator == "histogram":
    return _fit_histogram(codes, factors, seed, n_jobs)
  costs = [trees_per_stage(factors[:, j]) for j in range(num_factors)]
  strategy = boosted_trees_strategy(codes.shape[0], costs, n_jobs)
  progress.begin(FIT_STAGE, fitting_work([factors]), percent=True)
  if strategy == "sequential":
    return [_fit_counted(_boosted_trees(seed), codes, factors[:, j]) for j in range(num_factors)]
  # Largest factors first: they are the critical path.
  order = sorted(range(num_factors), key=lambda j: -costs[j])
  if strategy == "per_factor":
    with concurrent.futures.ThreadPoolExecutor(min(n_jobs, num_factors)) as workers:
      futures = {j: workers.submit(_fit_counted, _boosted_trees(seed), codes, factors[:, j])
                 for j in order}
      return [futures[j].result() for j in range(num_factors)]
  with concurrent.futures.ThreadPoolExecutor(n_jobs) as tree_pool:
    # The drivers only compute gradients, queue trees and wait, so one per factor is cheap and
    # keeps the shared pool fed from every factor at once.
    with concurrent.futures.ThreadPoolExecutor(num_factors) as drivers:
      futures = {j: drivers.submit(_fit_counted, _boosted_trees(seed, tree_pool), codes,
                                   factors[:, j])
                 for j in order}
      return [futures[j].result() for j in range(num_factors)]


# The progress stage of every boosted-tree fit, counted in trees times training rows (a tree's
# cost grows with its rows, so sets of 10 and of 10,000 points weigh what they cost).
FIT_STAGE = "fitting boosted trees"


def fitting_work(label_sets):
  """Progress units of fitting one reference classifier per column of each `[N, F]` label
  array in `label_sets`: rows x trees per stage x stages, summed."""
  stages = ensemble.GradientBoostingClassifier().n_estimators
  return int(sum(labels.shape[0] * trees_per_stage(labels[:, j]) * stages
                 for labels in label_sets for j in range(labels.shape[1])))


def plan_fits(label_sets):
  """Announces a metric's whole boosted-tree work (see `fitting_work`) to the progress line,
  so its ETA covers fits not started yet."""
  progress.plan(FIT_STAGE, fitting_work(label_sets), percent=True)


def _fit_counted(model, codes, labels):
  rows = codes.shape[0]

  def count_stage(unused_stage, fitted, unused_locals):
    progress.advance(rows * fitted.n_trees_per_iteration_)
    return False  # never stop early

  # `monitor` is scikit-learn's public per-stage hook, so the plain estimator is counted too.
  return model.fit(codes, labels, monitor=count_stage)


def histogram_boosted_trees(seed):
  """The histogram estimator's classifier: the reference's settings where it has them."""
  return ensemble.HistGradientBoostingClassifier(
      learning_rate=0.1, max_iter=100, max_depth=3, max_leaf_nodes=None, min_samples_leaf=1,
      early_stopping=False, random_state=seed)


def _fit_histogram_one(codes, labels, seed):
  # One OpenMP thread per fit: on 10,000 x 10 codes OpenMP's start-up at every node costs more
  # than a second thread gains (measured: 5.1 s wall and 10.0 CPU-s on 2 threads against 4.8 s
  # on one). It also keeps the models independent of n_jobs.
  with threadpoolctl.threadpool_limits(1, user_api="openmp"):
    return histogram_boosted_trees(seed).fit(codes, labels)


def _fit_histogram(codes, factors, seed, n_jobs):
  num_factors = factors.shape[1]
  # Largest factors first: they are the critical path.
  order = sorted(range(num_factors), key=lambda j: -trees_per_stage(factors[:, j]))
  # Whole factors in worker processes: each tree's growth is Python code between small
  # compiled calls, so threads mostly wait for the GIL (DCI on 1,000 codes of a trained model:
  # 2.6 s in one thread, 3.4 s on two, 2.0 s in two processes).
  with joblib.parallel_config(backend="loky", inner_max_num_threads=1):
    models = joblib.Parallel(n_jobs=min(n_jobs, num_factors))(
        joblib.delayed(_fit_histogram_one)(codes, factors[:, j], seed) for j in order)
  by_factor = dict(zip(order, models))
  return [by_factor[j] for j in range(num_factors)]


def feature_importances(model):
  """`[d]` importance of each code in a model of `fit_boosted_trees`, summing to 1 (or all 0).

  The reference's `feature_importances_` (mean impurity decrease); for the histogram
  estimator, each code's share of the summed gain of all splits on it (LightGBM's "gain"
  importance). scikit-learn offers no importance for histogram models, so the gains are read
  from the fitted trees (`_predictors`, unchanged since scikit-learn 0.21).
  """
  if not isinstance(model, ensemble.HistGradientBoostingClassifier):
    return np.asarray(model.feature_importances_, dtype=np.float64)
  gains = np.zeros(model.n_features_in_)
  for stage in model._predictors:  # pylint: disable=protected-access
    for predictor in stage:
      nodes = predictor.nodes
      split = nodes["is_leaf"] == 0
      np.add.at(gains, nodes["feature_idx"][split], nodes["gain"][split])
  total = gains.sum()
  return gains / total if total > 0 else gains
