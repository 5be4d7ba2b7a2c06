"""The metric registry: metric name -> `compute_<metric>` wrapper.

Every wrapper is called as `fn(ground_truth_data, representation_function, random_state)`
(`mi_measures` takes a posterior function in the second place, `reconstruction` a function of
observations to their reconstructions) and returns a dict of floats.
Modules are imported when a metric is first looked up, so one missing or broken metric module
(or its heavy imports) does not stop the others from loading.

  from evaluation import metrics
  scores = metrics.REGISTRY["mig"](data, codes_fn, np.random.RandomState(0))
"""
import collections.abc
import importlib

# name -> (module, wrapper function name)
_LOCATIONS = {
    "beta_vae": ("evaluation.metrics.beta_vae", "compute_beta_vae"),
    "factor_vae": ("evaluation.metrics.factor_vae", "compute_factor_vae"),
    "mig": ("evaluation.metrics.mig", "compute_mig"),
    "dci": ("evaluation.metrics.dci", "compute_dci"),
    "sap": ("evaluation.metrics.sap", "compute_sap"),
    "modularity_explicitness": ("evaluation.metrics.modularity_explicitness",
                                "compute_modularity_explicitness"),
    "irs": ("evaluation.metrics.irs", "compute_irs"),
    "unsupervised": ("evaluation.metrics.unsupervised", "compute_unsupervised"),
    "downstream_logistic_regression": ("evaluation.metrics.downstream",
                                       "compute_downstream_logistic_regression"),
    "downstream_boosted_trees": ("evaluation.metrics.downstream",
                                 "compute_downstream_boosted_trees"),
    "fairness": ("evaluation.metrics.fairness", "compute_fairness"),
    "strong_downstream": ("evaluation.metrics.strong_downstream", "compute_strong_downstream"),
    "reduced_downstream": ("evaluation.metrics.reduced_downstream",
                           "compute_reduced_downstream"),
    "unified_scores": ("evaluation.metrics.unified_scores", "compute_unified_scores"),
    "mi_measures": ("evaluation.mi_measures", "compute_mi_measures"),
    "reconstruction": ("evaluation.metrics.reconstruction", "compute_reconstruction"),
}


class UnknownMetricError(ValueError, KeyError):
  """A metric name that is not registered (a ValueError; a KeyError so `in` works)."""

  def __str__(self):
    return str(self.args[0]) if self.args else ""


class _LazyRegistry(collections.abc.Mapping):
  """Read-only mapping whose values are imported on first access."""

  def __init__(self, locations):
    self._locations = dict(locations)

  def __getitem__(self, name):
    if name not in self._locations:
      raise UnknownMetricError(
          f"metric {name!r}: unknown; expected one of {', '.join(sorted(self._locations))}")
    module_name, function_name = self._locations[name]
    return getattr(importlib.import_module(module_name), function_name)

  def __contains__(self, name):
    return name in self._locations

  def __iter__(self):
    return iter(self._locations)

  def __len__(self):
    return len(self._locations)


REGISTRY = _LazyRegistry(_LOCATIONS)
METRIC_NAMES = tuple(_LOCATIONS)


# Where a metric's gin configurable has another name than the metric (the model configurables
# `beta_vae` and `factor_vae` were taken first).
_GIN_NAMES = {"beta_vae": "beta_vae_score", "factor_vae": "factor_vae_score"}


def gin_name(name):
  """The gin configurable holding metric `name`'s settings (e.g. `beta_vae_score`)."""
  return _GIN_NAMES.get(name, name)


def get_metric(name):
  """The wrapper registered as `name`; ValueError listing the known names otherwise."""
  return REGISTRY[name]
