"""zoo-evaluate's and zoo-visualize's settings from gin.

Every metric wrapper's settings are a configurable named like the metric (`mig.*`, `dci.*`, ...;
`beta_vae_score.*` and `factor_vae_score.*`, since `beta_vae` and `factor_vae` name models),
with the wrapper's own defaults; `udr.*` are UDR's and `pictures.*` zoo-visualize's. The
functions below parse the gin files and bindings and hand the library the plain settings.
"""
import gin

from common import cli
from evaluation import code_cache
from evaluation import evaluate
from evaluation import metrics as metric_catalog
from evaluation.metrics import registry as metric_registry
from evaluation.metrics import udr
from evaluation.pictures import make_pictures
from gin_edge import configurables

_SKIP = ("ground_truth_data", "representation_function", "posterior_function",
         "posterior_functions", "reconstruction_function", "random_state")


def _register_all():
  """Every metric's configurable (a settings file may name any metric: a study's names all of
  them), UDR's and the pictures'."""
  for name, fn in metric_registry.REGISTRY.items():
    configurables.register(metric_catalog.gin_name(name), evaluate.setting_defaults(fn))
  configurables.register("udr", {k: v for k, v in evaluate.setting_defaults(
      udr.compute_udr).items() if k not in _SKIP})
  configurables.register("pictures", configurables.defaults_of(make_pictures.picture_settings))
  configurables.register("code_cache", configurables.defaults_of(
      code_cache.CachedCodes.__init__,
      ("self", "representation_function", "ground_truth_data", "log_fn")))


_register_all()


def parse(gin_files=(), gin_bindings=()):
  """Clears gin and parses the settings files and bindings."""
  gin.clear_config()
  cli.parse_gin(list(gin_files), list(gin_bindings))


def metric_settings(names):
  """{metric: {parameter: value}} of `names` as the parsed gin configuration sets them."""
  return {name: configurables.settings(metric_catalog.gin_name(name)) for name in names}


def run_evaluation(output_dir, metrics="all", saved_model=None, model_dir=None,
                   checkpoint=None, seed=0, codes="mean", gin_files=(), gin_bindings=(),
                   log_fn=print, unchanged_since=False):
  """zoo-evaluate: `evaluation.evaluate.run_evaluation` with the settings gin gives."""
  names = evaluate.parse_metric_names(metrics)
  parse(gin_files, gin_bindings)
  with configurables.wrongly_typed_bindings_named():
    return evaluate.run_evaluation(output_dir, metrics, saved_model=saved_model,
                                   model_dir=model_dir, checkpoint=checkpoint, seed=seed,
                                   codes=codes, settings=metric_settings(names),
                                   code_cache_settings=code_cache_settings(), log_fn=log_fn,
                                   unchanged_since=unchanged_since)



def code_cache_settings():
  """`code_cache.*` as the parsed gin configuration sets them."""
  return configurables.settings("code_cache")


def run_udr(output_dir, saved_models, seed=0, gin_files=(), gin_bindings=(), log_fn=print,
            unchanged_since=False):
  """zoo-udr: `evaluation.evaluate.run_udr` with the `udr.*` settings gin gives."""
  parse(gin_files, gin_bindings)
  with configurables.wrongly_typed_bindings_named():
    return evaluate.run_udr(output_dir, saved_models, seed=seed,
                            settings=configurables.settings("udr"), log_fn=log_fn,
                            unchanged_since=unchanged_since)


def picture_settings(gin_files=(), gin_bindings=()):
  """zoo-visualize's `pictures.*` settings from gin files and bindings."""
  parse(gin_files, gin_bindings)
  return configurables.settings("pictures")
