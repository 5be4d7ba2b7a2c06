"""disentanglement_lib 1.5's metrics on a zoo export: the reference side of evaluate_speed.py.

Runs in a virtual environment of its own, never in the project's (see evaluate_speed.py for
how to make it). disentanglement_lib 1.5 was written for TF1 and gin-config's old argument
names, so two small shims come first: `gin.configurable(blacklist=...)` is passed on as
`denylist`, and `gin.tf` (which needs tf.estimator, gone from TF 2.x) is an empty module; the
metric modules use neither for anything else.

The data set and the representation are the project's: the procedural dSprites the export was
trained on (zoo.data, rebuilt from the export's gin config) and the export's `encode` signature
(export.loader, TensorFlow only), so both sides render and encode with the same code and differ
only in how the metrics call it. Each metric gets `np.random.RandomState(seed)`, as zoo-evaluate
does, and the settings zoo-evaluate recorded in its results.json.

  /tmp/dlib_venv/bin/python benchmarks/evaluate_speed_reference.py --export DIR \
      --results RESULTS_JSON --output OUT_JSON [--metrics mig,sap]
"""
import argparse
import json
import os
import sys
import time
import types

import gin
import numpy as np

_configurable = gin.configurable


def _old_gin_configurable(*args, blacklist=None, whitelist=None, **kwargs):
  if blacklist is not None:
    kwargs["denylist"] = blacklist
  if whitelist is not None:
    kwargs["allowlist"] = whitelist
  return _configurable(*args, **kwargs)


gin.configurable = _old_gin_configurable
sys.modules["gin.tf"] = gin.tf = types.ModuleType("gin.tf")

# pylint: disable=wrong-import-position
from disentanglement_lib.evaluation.metrics import beta_vae  # noqa: E402
from disentanglement_lib.evaluation.metrics import dci  # noqa: E402
from disentanglement_lib.evaluation.metrics import downstream_task  # noqa: E402
from disentanglement_lib.evaluation.metrics import factor_vae  # noqa: E402
from disentanglement_lib.evaluation.metrics import fairness  # noqa: E402
from disentanglement_lib.evaluation.metrics import irs  # noqa: E402
from disentanglement_lib.evaluation.metrics import mig  # noqa: E402
from disentanglement_lib.evaluation.metrics import modularity_explicitness  # noqa: E402
from disentanglement_lib.evaluation.metrics import reduced_downstream_task  # noqa: E402
from disentanglement_lib.evaluation.metrics import sap_score  # noqa: E402
from disentanglement_lib.evaluation.metrics import strong_downstream_task  # noqa: E402
from disentanglement_lib.evaluation.metrics import unified_scores  # noqa: E402
from disentanglement_lib.evaluation.metrics import unsupervised_metrics  # noqa: E402
from disentanglement_lib.evaluation.metrics import utils  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from common import io_utils  # noqa: E402
from export import loader  # noqa: E402
from zoo import data as zoo_data  # noqa: E402

_PREDICTORS = {"gradient_boosting_classifier": utils.gradient_boosting_classifier,
               "logistic_regression_cv": utils.logistic_regression_cv}
_MATRICES = {"importance_gbt_matrix": unified_scores.importance_gbt_matrix,
             "mutual_information_matrix": unified_scores.mutual_information_matrix,
             "accuracy_svm_matrix": unified_scores.accuracy_svm_matrix}


def _bind_discretizer(num_bins):
  gin.bind_parameter("discretizer.discretizer_fn", utils._histogram_discretize)  # pylint: disable=protected-access
  gin.bind_parameter("discretizer.num_bins", num_bins)


def _bind_predictor(name):
  gin.bind_parameter("predictor.predictor_fn", _PREDICTORS[name])


def reference_call(name, s):
  """(function, keyword arguments) of the reference for our metric `name` with settings s;
  binds what the reference reads from gin."""
  gin.clear_config()
  if name == "beta_vae":
    return beta_vae.compute_beta_vae_sklearn, dict(
        batch_size=s["batch_size"], num_train=s["num_train"], num_eval=s["num_eval"])
  if name == "factor_vae":
    gin.bind_parameter("prune_dims.threshold", s["prune_threshold"])
    return factor_vae.compute_factor_vae, dict(
        batch_size=s["batch_size"], num_train=s["num_train"], num_eval=s["num_eval"],
        num_variance_estimate=s["num_variance_estimate"])
  if name == "mig":
    _bind_discretizer(s["num_bins"])
    return mig.compute_mig, dict(num_train=s["num_train"], batch_size=s["batch_size"])
  if name == "dci":
    return dci.compute_dci, dict(num_train=s["num_train"], num_test=s["num_test"],
                                 batch_size=s["batch_size"])
  if name == "sap":
    return sap_score.compute_sap, dict(num_train=s["num_train"], num_test=s["num_test"],
                                       batch_size=s["batch_size"],
                                       continuous_factors=s["continuous_factors"])
  if name == "modularity_explicitness":
    _bind_discretizer(s["num_bins"])
    return modularity_explicitness.compute_modularity_explicitness, dict(
        num_train=s["num_train"], num_test=s["num_test"], batch_size=s["batch_size"])
  if name == "irs":
    _bind_discretizer(s["num_bins"])
    return irs.compute_irs, dict(diff_quantile=s["diff_quantile"], num_train=s["num_train"],
                                 batch_size=s["batch_size"])
  if name == "unsupervised":
    _bind_discretizer(s["num_bins"])
    return unsupervised_metrics.unsupervised_metrics, dict(num_train=s["num_train"],
                                                           batch_size=s["batch_size"])
  if name in ("downstream_logistic_regression", "downstream_boosted_trees"):
    _bind_predictor("logistic_regression_cv" if name.endswith("regression")
                    else "gradient_boosting_classifier")
    return downstream_task.compute_downstream_task, dict(
        num_train=list(s["num_train"]), num_test=s["num_test"], batch_size=s["batch_size"])
  if name == "fairness":
    _bind_predictor(s["predictor"])
    return fairness.compute_fairness, dict(
        num_train=s["num_train"], num_test_points_per_class=s["num_test_points_per_class"],
        batch_size=s["batch_size"])
  if name == "strong_downstream":
    _bind_predictor(s["predictor"])
    return strong_downstream_task.compute_strong_downstream_task, dict(
        num_train=list(s["num_train"]), num_test=s["num_test"], n_experiment=s["n_experiment"])
  if name == "reduced_downstream":
    _bind_predictor(s["predictor"])
    gin.bind_parameter("reduced_representation.correlation_measure",
                       reduced_downstream_task.compute_factorwise_dci)
    return reduced_downstream_task.compute_reduced_downstream_task, dict(
        num_factors_to_remove=s["num_factors_to_remove"], num_train=list(s["num_train"]),
        num_test=s["num_test"], batch_size=s["batch_size"])
  if name == "unified_scores":
    _bind_discretizer(s["num_bins"])
    return unified_scores.compute_unified_scores, dict(
        num_train=s["num_train"], num_test=s["num_test"], batch_size=s["batch_size"],
        matrix_fns=[_MATRICES[m] for m in s["matrices"]])
  return None, None


def _settings_of(results, name):
  prefix = f"settings.{name}."
  return {k[len(prefix):]: v for k, v in results.items() if k.startswith(prefix)}


def _jsonable(value):
  if isinstance(value, dict):
    return {str(k): _jsonable(v) for k, v in value.items()}
  if isinstance(value, (list, tuple, np.ndarray)):
    return [_jsonable(v) for v in np.asarray(value).ravel().tolist()]
  if isinstance(value, (np.floating, float)):
    return float(value)
  if isinstance(value, (np.integer, int)):
    return int(value)
  return str(value)


def main():
  parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  parser.add_argument("--export", required=True)
  parser.add_argument("--results", required=True, help="zoo-evaluate's results.json")
  parser.add_argument("--output", required=True)
  parser.add_argument("--metrics", default="", help="comma list; default all with a reference")
  args = parser.parse_args()
  output_dir = os.path.dirname(os.path.abspath(args.output))
  if not (os.path.isdir(output_dir) and os.access(output_dir, os.W_OK)):
    # Checked before the metrics, which run for hours.
    parser.error(f"--output {args.output}: expected a file in a writable folder")
  with open(args.results) as f:
    ours = json.load(f)
  exported = loader.load(args.export)
  gin.parse_config(exported.metadata["gin_config"], skip_unknown=True)
  data = zoo_data.get_dataset(name=exported.metadata["dataset"])
  gin.clear_config()

  def representation_function(observations):
    return np.asarray(exported.encode(np.asarray(observations, np.float32))["mean"])

  names = [n for n in (args.metrics.split(",") if args.metrics else
                       sorted({k.split(".")[1] for k in ours if k.startswith("settings.")}))]
  out = {}
  for name in names:
    function, kwargs = reference_call(name, _settings_of(ours, name))
    if function is None:
      continue
    print(f"[reference] {name} ...", flush=True)
    start = time.time()
    try:
      scores = function(data, representation_function, np.random.RandomState(ours["seed"]),
                        **kwargs)
    except Exception as error:  # pylint: disable=broad-except
      # The reference crashes on some edge cases our metrics handle (a class missing from a
      # small test set, for one): recorded, and left out of the totals.
      out[name] = {"seconds": time.time() - start,
                   "error": f"{type(error).__name__}: {str(error).splitlines()[0]}"}
      print(f"[reference] {name} failed: {out[name]['error']}", flush=True)
    else:
      out[name] = {"seconds": time.time() - start, "scores": _jsonable(scores)}
      print(f"[reference] {name} done in {out[name]['seconds']:.1f} s", flush=True)
    # Written after every metric: the slow ones run for hours, and a stopped run keeps the
    # times it has.
    io_utils.write_json_atomically(args.output, out)
  io_utils.write_json_atomically(args.output, out)  # also when no metric had a reference


if __name__ == "__main__":
  main()
