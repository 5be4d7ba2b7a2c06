"""Reduced downstream: factor prediction after removing the codes most informative of a factor,
as in disentanglement_lib 1.5 (`reduced_downstream_task`, Locatello et al., JMLR 2020).

For each training-set size n and each factor f (definition of the reference):

* The code most important for f is removed from the training and test codes, the importance
  being DCI's: `feature_importances_` of a default `GradientBoostingClassifier` of f on the
  codes (the reference's `factorwise_dci`; it fits one per factor and reads f's column, the
  same model). This is repeated `num_factors_to_remove` times, each time on what is left; ties
  go to the first code.
* One classifier per factor is trained on the reduced codes and tested on the reduced test
  codes. In a disentangled representation the accuracy of f falls (its information has gone)
  while the other factors stay predictable; where f's information is spread over several
  codes, it leaks into what is left.

Result keys, the reference's with ':' replaced by '_' (e.g. `100:reduced_factor_0:...` ->
`100_reduced_factor_0_...`), for every size n, factor f and factor i:

  {n}_reduced_factor_{f}_mean_{train,test}_accuracy_reduced_factor   (factor f's accuracy)
  {n}_reduced_factor_{f}_mean_{train,test}_accuracy_factor_{i}       (every factor's)
  {n}_reduced_factor_{f}_mean_{train,test}_accuracy_non_reduced_factor (mean over i != f)
  {n}_mean_{train,test}_accuracy_reduced_factor    (mean over f of f's accuracy)
  {n}_mean_{train,test}_accuracy_other_factors     (mean over f of the non-reduced means)

The reference requires every setting (its test config: 100 training and test points, one code
removed); the defaults here are the downstream task's sizes of the reference study (10, 100,
1,000 and 10,000 training points, 5,000 test points), one code removed, and the fairness
study's predictor, the default `GradientBoostingClassifier` (`predictor =
"logistic_regression_cv"` gives the other, as in `downstream`; the importances always come from
boosted trees). The boosted trees, for the importances and as predictor, get a seed drawn from
the random state after all points (the reference left them unseeded); the points are the
reference's. With a single factor the non-reduced means are NaN (no other factor), as in the
reference; removing every code is refused with a ValueError.
"""
import numpy as np

from common import validation
from evaluation.metrics import boosted_trees
from evaluation.metrics import dci
from evaluation.metrics import downstream


def most_important_codes(codes, factors, seed=0, n_jobs=None):
  """`[F]`: per factor, the index of the code with the largest boosted-tree importance (the
  first on ties), from one `GradientBoostingClassifier(random_state=seed)` per factor."""
  models = boosted_trees.fit_boosted_trees(codes, factors, seed=seed, n_jobs=n_jobs)
  return np.argmax(dci.importance_matrix_of(models, codes.shape[1]), axis=0)


def reduced_downstream_from_arrays(codes_train, factors_train, codes_test, factors_test,
                                   num_factors_to_remove=1,
                                   predictor="gradient_boosting_classifier", n_jobs=None,
                                   seed=0, multiclass="one_vs_rest"):
  """Reduced downstream scores of given training and test sets.

  Args:
    codes_train, factors_train: `[N, d]`, `[N, F]` (factor values are class labels).
    codes_test, factors_test: `[M, d]`, `[M, F]`.
    num_factors_to_remove: codes removed per factor; fewer than d.
    predictor: "gradient_boosting_classifier" (reference) or "logistic_regression_cv".
    n_jobs: parallel workers (results do not depend on it); None or -1 for every CPU.
    seed: random_state of every boosted-tree model.
    multiclass: logistic regression only (see `downstream`).

  Returns:
    dict with the keys of the module docstring, without the size prefix.
  """
  validation.one_of(predictor, downstream.PREDICTORS, "predictor")
  codes_train, factors_train, codes_test, factors_test = downstream.check_train_test(
      codes_train, factors_train, codes_test, factors_test)
  num_codes, num_factors = codes_train.shape[1], factors_train.shape[1]
  num_factors_to_remove = validation.positive_int(num_factors_to_remove,
                                                  "num_factors_to_remove")
  if num_factors_to_remove >= num_codes:
    raise ValueError(f"num_factors_to_remove={num_factors_to_remove}: expected fewer than the "
                     f"{num_codes} codes, so that some are left to predict from")
  scores = {}
  reduced_train, reduced_test, others_train, others_test = [], [], [], []
  # The first removal sees the full codes for every factor: one fit of all factors at once
  # (the same models as one at a time, spread better over the workers).
  first = most_important_codes(codes_train, factors_train, seed=seed, n_jobs=n_jobs)
  for f in range(num_factors):
    kept = np.delete(np.arange(num_codes), first[f])
    for _ in range(num_factors_to_remove - 1):
      removed = most_important_codes(codes_train[:, kept], factors_train[:, f:f + 1],
                                     seed=seed, n_jobs=n_jobs)[0]
      kept = np.delete(kept, removed)
    models = downstream.fit_per_factor(codes_train[:, kept], factors_train, predictor,
                                       n_jobs=n_jobs, seed=seed, multiclass=multiclass)
    train = downstream.accuracy_per_factor(models, codes_train[:, kept], factors_train)
    test = downstream.accuracy_per_factor(models, codes_test[:, kept], factors_test)
    prefix = f"reduced_factor_{f}_"
    scores[prefix + "mean_train_accuracy_reduced_factor"] = float(train[f])
    scores[prefix + "mean_test_accuracy_reduced_factor"] = float(test[f])
    for i in range(num_factors):
      scores[prefix + f"mean_train_accuracy_factor_{i}"] = float(train[i])
      scores[prefix + f"mean_test_accuracy_factor_{i}"] = float(test[i])
    others = np.arange(num_factors) != f
    # No other factor (F = 1): the mean of nothing, NaN, as in the reference.
    other_train = float(np.mean(train[others])) if np.any(others) else float("nan")
    other_test = float(np.mean(test[others])) if np.any(others) else float("nan")
    scores[prefix + "mean_train_accuracy_non_reduced_factor"] = other_train
    scores[prefix + "mean_test_accuracy_non_reduced_factor"] = other_test
    reduced_train.append(train[f])
    reduced_test.append(test[f])
    others_train.append(other_train)
    others_test.append(other_test)
  scores["mean_train_accuracy_reduced_factor"] = float(np.mean(reduced_train))
  scores["mean_test_accuracy_reduced_factor"] = float(np.mean(reduced_test))
  scores["mean_train_accuracy_other_factors"] = float(np.mean(others_train))
  scores["mean_test_accuracy_other_factors"] = float(np.mean(others_test))
  return scores


def compute_reduced_downstream(ground_truth_data, representation_function, random_state,
                               num_train=(10, 100, 1000, 10000), num_test=5000,
                               num_factors_to_remove=1, batch_size=16,
                               predictor="gradient_boosting_classifier", n_jobs=None,
                               multiclass="one_vs_rest"):
  """Reduced downstream scores for every training-set size in `num_train`.

  The data are drawn in the reference's order (for each size its training set, then a test set
  of `num_test`, `batch_size` at a time), then the boosted trees' seed.

  Returns:
    dict with keys "{n}_{key}" for n in num_train (see the module docstring).
  """
  sizes = [validation.positive_int(n, "num_train") for n in np.atleast_1d(num_train).tolist()]
  validation.one_of(predictor, downstream.PREDICTORS, "predictor")
  validation.positive_int(num_factors_to_remove, "num_factors_to_remove")
  drawn, seed = downstream.draw_sets_per_size(ground_truth_data, representation_function,
                                              random_state, sizes, num_test, batch_size)
  if predictor == "gradient_boosting_classifier":
    # Per size: the importances of every factor, (num_factors_to_remove - 1) more of each
    # factor alone, and the predictor of every factor once per reduced factor.
    fitted_labels = []
    for _, (_, factors), _ in drawn:
      fitted_labels += [factors] * (1 + factors.shape[1])
      fitted_labels += [factors[:, [f]] for f in range(factors.shape[1])
                        for _ in range(num_factors_to_remove - 1)]
    boosted_trees.plan_fits(fitted_labels)
  scores = {}
  for size, (codes_train, factors_train), (codes_test, factors_test) in drawn:
    size_scores = reduced_downstream_from_arrays(
        codes_train, factors_train, codes_test, factors_test,
        num_factors_to_remove=num_factors_to_remove, predictor=predictor, n_jobs=n_jobs,
        seed=seed, multiclass=multiclass)
    scores.update({f"{size}_{key}": value for key, value in size_scores.items()})
  return scores
