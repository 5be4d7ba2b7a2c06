"""The metric registry: metric name -> `compute_<metric>` wrapper.

Every wrapper is called as `fn(ground_truth_data, representation_function, random_state)`
(`mi_measures` takes a posterior function in the second place, `reconstruction` a function of
observations to their reconstructions) and returns a dict of floats. Every metric module is
imported here, which also registers each metric's gin configurable.
"""
import collections.abc

from evaluation import mi_measures
from evaluation.metrics import UnknownMetricError
from evaluation.metrics import beta_vae
from evaluation.metrics import dci
from evaluation.metrics import downstream
from evaluation.metrics import factor_vae
from evaluation.metrics import fairness
from evaluation.metrics import irs
from evaluation.metrics import mig
from evaluation.metrics import modularity_explicitness
from evaluation.metrics import reconstruction
from evaluation.metrics import reduced_downstream
from evaluation.metrics import sap
from evaluation.metrics import strong_downstream
from evaluation.metrics import unified_scores
from evaluation.metrics import unsupervised


class _Registry(collections.abc.Mapping):
  """Read-only mapping of name -> wrapper; an unknown name raises UnknownMetricError."""

  def __init__(self, wrappers):
    self._wrappers = dict(wrappers)

  def __getitem__(self, name):
    if name not in self._wrappers:
      raise UnknownMetricError(
          f"metric {name!r}: unknown; expected one of {', '.join(sorted(self._wrappers))}")
    return self._wrappers[name]

  def __iter__(self):
    return iter(self._wrappers)

  def __len__(self):
    return len(self._wrappers)


REGISTRY = _Registry({
    "beta_vae": beta_vae.compute_beta_vae,
    "factor_vae": factor_vae.compute_factor_vae,
    "mig": mig.compute_mig,
    "dci": dci.compute_dci,
    "sap": sap.compute_sap,
    "modularity_explicitness": modularity_explicitness.compute_modularity_explicitness,
    "irs": irs.compute_irs,
    "unsupervised": unsupervised.compute_unsupervised,
    "downstream_logistic_regression": downstream.compute_downstream_logistic_regression,
    "downstream_boosted_trees": downstream.compute_downstream_boosted_trees,
    "fairness": fairness.compute_fairness,
    "strong_downstream": strong_downstream.compute_strong_downstream,
    "reduced_downstream": reduced_downstream.compute_reduced_downstream,
    "unified_scores": unified_scores.compute_unified_scores,
    "mi_measures": mi_measures.compute_mi_measures,
    "reconstruction": reconstruction.compute_reconstruction,
})


def get_metric(name):
  """The wrapper registered as `name`; ValueError listing the known names otherwise."""
  return REGISTRY[name]
