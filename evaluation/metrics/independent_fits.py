"""Single scikit-learn fits that metrics run in worker processes (`utils.map_in_processes`).

Kept apart from the metric modules so that a worker process imports numpy and scikit-learn
only, not TensorFlow: a worker unpickles a task by importing the module of its function.
"""
import warnings

import numpy as np
from sklearn import exceptions as sk_exceptions
from sklearn import linear_model
from sklearn import metrics as sk_metrics
from sklearn import multiclass
from sklearn import svm


def reference_logistic_regression():
  """The logistic regression the reference study's `LogisticRegression()` calls amounted to.

  The study ran scikit-learn releases (< 0.22) whose default was the liblinear solver with
  one-vs-rest classes; newer releases default to a multinomial lbfgs fit, which gives different
  accuracies and AUCs. Spelling the old default out keeps the numbers comparable. The primal
  liblinear solver is deterministic, so the fixed seed only keeps global random state untouched.
  """
  return multiclass.OneVsRestClassifier(
      linear_model.LogisticRegression(solver="liblinear", random_state=0))


def svm_accuracy(code, factor, code_test, factor_test):
  """Test accuracy of SAP's LinearSVC (C=0.01, balanced, dual liblinear) on one code."""
  classifier = svm.LinearSVC(C=0.01, class_weight="balanced", dual=True, random_state=0)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore", sk_exceptions.ConvergenceWarning)
    classifier.fit(code[:, np.newaxis], factor)
  return float(np.mean(classifier.predict(code_test[:, np.newaxis]) == factor_test))


def svm_accuracies(code, factors, code_test, factors_test):
  """`svm_accuracy` of one code [N] for every factor column of factors [N, F] -> list of F."""
  return [svm_accuracy(code, factors[:, k], code_test, factors_test[:, k])
          for k in range(factors.shape[1])]


def explicitness_per_factor(codes, factor, codes_test, factor_test):
  """Macro ROC AUC of a one-vs-rest logistic regression of `factor [N]` on `codes [N, d]`.

  Returns:
    `(auc_train, auc_test)`; NaN where no class has both positives and negatives.
  """
  classifier = reference_logistic_regression().fit(codes, factor)
  return (_macro_auc(factor, classifier.predict_proba(codes), classifier.classes_),
          _macro_auc(factor_test, classifier.predict_proba(codes_test), classifier.classes_))


def _macro_auc(labels, probabilities, classes):
  aucs = []
  for c, cls in enumerate(classes):
    positive = labels == cls
    if np.any(positive) and not np.all(positive):
      aucs.append(sk_metrics.roc_auc_score(positive, probabilities[:, c]))
  return float(np.mean(aucs)) if aucs else float("nan")
