"""The metric registry: every name resolves to a wrapper with the common signature, unknown names
are rejected with the list of known ones, and a lookup gives the module's own function."""
import inspect

import numpy as np
import tensorflow as tf

from evaluation import metrics
from evaluation.metrics import registry
from evaluation.metrics import unsupervised

_EXPECTED_NAMES = {
    "beta_vae", "factor_vae", "mig", "dci", "sap", "modularity_explicitness", "irs",
    "unsupervised", "downstream_logistic_regression", "downstream_boosted_trees", "mi_measures",
    "fairness", "strong_downstream", "reduced_downstream", "unified_scores",
    "reconstruction",
}
# The second argument of the wrappers that take something else than codes.
_SECOND_ARGUMENT = {"mi_measures": "posterior_function",
                    "reconstruction": "reconstruction_function"}


class _FactorGrid:
  factors_num_values = (3, 4)

  def sample(self, num, random_state):
    factors = np.stack([random_state.randint(k, size=num) for k in self.factors_num_values], 1)
    return factors, factors.astype(np.float32)


class RegistryTest(tf.test.TestCase):

  def test_names(self):
    self.assertEqual(set(registry.REGISTRY), _EXPECTED_NAMES)
    self.assertLen(registry.REGISTRY, len(_EXPECTED_NAMES))
    self.assertEqual(set(metrics.METRIC_NAMES), _EXPECTED_NAMES)

  def test_every_name_maps_to_a_wrapper_with_the_common_signature(self):
    for name in registry.REGISTRY:
      fn = registry.REGISTRY[name]
      self.assertTrue(callable(fn), msg=name)
      self.assertTrue(fn.__name__.startswith("compute_"), msg=name)
      params = list(inspect.signature(inspect.unwrap(fn)).parameters)
      second = _SECOND_ARGUMENT.get(name, "representation_function")
      self.assertEqual(params[:3], ["ground_truth_data", second, "random_state"], msg=name)

  def test_unknown_name_raises_value_error_listing_the_names(self):
    with self.assertRaises(ValueError) as caught:
      registry.get_metric("disentanglement_score")
    message = str(caught.exception)
    self.assertIn("'disentanglement_score'", message)
    for name in _EXPECTED_NAMES:
      self.assertIn(name, message)
    self.assertNotIn("disentanglement_score", registry.REGISTRY)
    self.assertIn("dci", registry.REGISTRY)
    with self.assertRaises(KeyError):  # still a mapping for code that expects KeyError
      registry.REGISTRY["nope"]  # pylint: disable=pointless-statement

  def test_lookup_runs_the_module_function(self):
    self.assertIs(registry.REGISTRY["unsupervised"], unsupervised.compute_unsupervised)

    def representation(observations):
      return np.stack([observations[:, 0], observations[:, 0] + observations[:, 1]], axis=1)

    via_registry = registry.REGISTRY["unsupervised"](_FactorGrid(), representation,
                                                    np.random.RandomState(0), num_train=2000)
    direct = unsupervised.compute_unsupervised(_FactorGrid(), representation,
                                               np.random.RandomState(0), num_train=2000)
    self.assertEqual(via_registry, direct)
    # Uniform factors with 3 and 4 values have variances 2/3 and 5/4, so the two codes have
    # rho^2 = (2/3) / (2/3 + 5/4) = 8/23; 2,000 points: measured within 0.013 over 10 seeds.
    self.assertAllClose(via_registry["gaussian_total_correlation"], -0.5 * np.log(15. / 23.),
                        atol=0.03)


if __name__ == "__main__":
  tf.test.main()
