"""The metrics' names, and the gin configurables holding their settings.

This module imports nothing, so that code which only needs the names (a study's spec, checks of
`--metrics`) stays fast. The wrappers themselves are in `registry.REGISTRY`, which imports every
metric module (and with it registers every metric's gin configurable):

  from evaluation.metrics import registry
  scores = registry.REGISTRY["mig"](data, codes_fn, np.random.RandomState(0))
"""

# What `--metrics` and `study.metrics` take (`registry.REGISTRY` has a wrapper for each).
METRIC_NAMES = ("beta_vae", "factor_vae", "mig", "dci", "sap", "modularity_explicitness", "irs",
                "unsupervised", "downstream_logistic_regression", "downstream_boosted_trees",
                "fairness", "strong_downstream", "reduced_downstream", "unified_scores",
                "mi_measures", "reconstruction")

# The boosted-tree estimators of the metrics that fit trees (`boosted_trees.fit_boosted_trees`);
# a study's table names columns by them.
BOOSTED_TREE_ESTIMATORS = ("reference", "histogram")

# Where a metric's gin configurable has another name than the metric (the model configurables
# `beta_vae` and `factor_vae` were taken first).
_GIN_NAMES = {"beta_vae": "beta_vae_score", "factor_vae": "factor_vae_score"}


class UnknownMetricError(ValueError, KeyError):
  """A metric name that is not registered (a ValueError; a KeyError so `in` works)."""

  def __str__(self):
    return str(self.args[0]) if self.args else ""


def gin_name(name):
  """The gin configurable holding metric `name`'s settings (e.g. `beta_vae_score`)."""
  return _GIN_NAMES.get(name, name)
