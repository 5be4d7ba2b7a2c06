"""Cheap metrics to watch while a model trains, for `zoo.callbacks.MetricSummaries`.

`zoo` cannot import `evaluation` (it sits below it), so the callback takes its metrics as
functions fn(factors [N, F], mean [N, d], covariance [N, d, d]) -> float; this module makes them
from the array-level estimators, with settings small enough to run every few hundred steps:

  callback = zoo.callbacks.MetricSummaries(log_dir, standard_metrics(), data)

The numbers are the ones zoo-evaluate computes (`mig.mig`, `mi_invariance.mi_invariance`) on a
smaller sample, so they track a run's progress, not the values a paper reports (those need the
reference sizes: 10,000 points for MIG, 2,000 for the MI measures).
"""
from common import validation
from evaluation import mi_invariance
from evaluation.metrics import mig


def mig_function(num_bins=20):
  """MIG of the posterior means: `discrete_mig` of `evaluation.metrics.mig.mig`."""
  num_bins = validation.positive_int(num_bins, "num_bins")

  def discrete_mig(factors, mean, covariance):
    del covariance  # MIG scores the codes alone
    return mig.mig(mean, factors, num_bins=num_bins)["discrete_mig"]

  return discrete_mig


def mi_invariance_violation_function(num_conditioning=16, num_samples=2, num_strata=32,
                                     seed=0):
  """The MI-invariance violation sum_i std_i / sum_i mean_i of
  `evaluation.mi_invariance.mi_invariance` (a fixed seed, so only the model changes it)."""
  settings = dict(num_conditioning=validation.positive_int(num_conditioning, "num_conditioning"),
                  num_samples=validation.positive_int(num_samples, "num_samples"),
                  num_strata=validation.positive_int(num_strata, "num_strata"),
                  seed=validation.seed(seed, "seed"))

  def violation(factors, mean, covariance):
    del factors  # an unsupervised measure
    return mi_invariance.mi_invariance(mean, covariance, **settings)["violation"]

  return violation


def standard_metrics(num_bins=20, num_conditioning=16, num_samples=2, num_strata=32, seed=0):
  """{"mig": ..., "mi_invariance_violation": ...}, what zoo-train watches by default."""
  return {"mig": mig_function(num_bins),
          "mi_invariance_violation": mi_invariance_violation_function(
              num_conditioning, num_samples, num_strata, seed)}
