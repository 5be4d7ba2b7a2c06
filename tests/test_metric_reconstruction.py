"""The reconstruction error: known answers of the array-level function, and the wrapper."""
import math

import numpy as np
import tensorflow as tf

from evaluation import evaluate
from evaluation.metrics import registry
from evaluation import trained_model
from evaluation.metrics import reconstruction
from identity_factors import IdentityFactorsData


class _Binary:
  """Binary 'images' of 6 elements, each on with probability 0.3."""
  name = "binary"
  factors_num_values = (2,)

  def sample_observations(self, num, random_state):
    return (random_state.rand(num, 2, 3) < 0.3).astype(np.float32)


class ReconstructionErrorTest(tf.test.TestCase):

  def test_known_answers(self):
    x = (np.random.RandomState(0).rand(50, 4, 4, 1) < 0.5).astype(np.float32)
    perfect = reconstruction.reconstruction_error(x, x)
    self.assertEqual(perfect["squared_error"], 0.0)
    # Only the clipping's cost: -log(1 - 1e-7) per element, 16 elements.
    self.assertAllClose(perfect["cross_entropy"], -16 * math.log1p(-1e-7), rtol=1e-6)
    # Decoding 0.5 everywhere: 1/4 per element squared, log 2 per element cross-entropy.
    halves = reconstruction.reconstruction_error(x, np.full_like(x, 0.5))
    self.assertAllClose(halves["squared_error"], 16 * 0.25, rtol=1e-12)
    self.assertAllClose(halves["cross_entropy"], 16 * math.log(2.0), rtol=1e-12)
    # A confidently wrong element costs the clipped -log(1e-7) = 16.1 nats, not infinity.
    wrong = reconstruction.reconstruction_error(np.ones((1, 2)), np.array([[1.0, 0.0]]))
    self.assertAllClose(wrong["cross_entropy"], -math.log(1e-7) - math.log1p(-1e-7), rtol=1e-6)
    self.assertEqual(wrong["squared_error"], 1.0)

  def test_real_valued_observations_have_no_cross_entropy(self):
    x = np.array([[-0.5, 2.0], [0.1, 0.3]])
    result = reconstruction.reconstruction_error(x, np.zeros_like(x))
    self.assertAllClose(result["squared_error"], (0.25 + 4.0 + 0.01 + 0.09) / 2, rtol=1e-12)
    self.assertTrue(math.isnan(result["cross_entropy"]))

  def test_bad_input(self):
    with self.assertRaisesRegex(ValueError, "reconstructions: expected the observations' shape"):
      reconstruction.reconstruction_error(np.zeros((3, 2)), np.zeros((3, 3)))
    with self.assertRaisesRegex(ValueError, "observations: expected shape"):
      reconstruction.reconstruction_error(np.zeros((0, 2)), np.zeros((0, 2)))
    with self.assertRaisesRegex(ValueError, "finite"):
      reconstruction.reconstruction_error(np.zeros((1, 2)), np.array([[np.nan, 0.0]]))

  def test_wrapper_draws_the_points_and_batching_changes_nothing(self):
    self.assertIs(registry.REGISTRY["reconstruction"], reconstruction.compute_reconstruction)
    calls = []

    def reconstruct(x):
      calls.append(len(x))
      return np.full_like(x, 0.3)

    result = reconstruction.compute_reconstruction(_Binary(), reconstruct,
                                                   np.random.RandomState(0), num_points=1000,
                                                   batch_size=300)
    self.assertEqual(calls, [300, 300, 300, 100])
    # Decoding the on-probability itself: 6 elements of variance 0.21 and entropy H(0.3).
    entropy = -(0.3 * math.log(0.3) + 0.7 * math.log(0.7))
    self.assertAllClose(result["squared_error"], 6 * 0.21, rtol=0.05)
    self.assertAllClose(result["cross_entropy"], 6 * entropy, rtol=0.05)
    again = reconstruction.compute_reconstruction(_Binary(), reconstruct,
                                                  np.random.RandomState(0), num_points=1000)
    self.assertAllClose(again, result, rtol=1e-12)
    with self.assertRaisesRegex(ValueError, "num_points"):
      reconstruction.compute_reconstruction(_Binary(), reconstruct, np.random.RandomState(0),
                                            num_points=0)

  def test_evaluate_decodes_the_codes_the_standard_metrics_use(self):
    # An identity model of the factors: the decoder returns its codes, so the reconstruction
    # error is that of the posterior means (or of one sample with representation "sampled").
    data = IdentityFactorsData()
    dim = len(data.factors_num_values)
    model = trained_model.TrainedModel(
        lambda x: (np.asarray(x, np.float64), np.broadcast_to(np.eye(dim), (len(x), dim, dim))),
        lambda x: np.asarray(x, np.float64) + 1.0, lambda z: z, dim, (dim,), data, "identity")
    means = evaluate.evaluate(model, self.get_temp_dir(), ["reconstruction"],
                              log_fn=lambda line: None)
    self.assertEqual(means["reconstruction.squared_error"], 0.0)
    self.assertEqual(means["settings.reconstruction.num_points"], 5000)
    sampled = evaluate.evaluate(model, self.get_temp_dir(), ["reconstruction"], codes="sampled",
                                log_fn=lambda line: None)
    self.assertAllClose(sampled["reconstruction.squared_error"], float(dim), rtol=1e-6)


if __name__ == "__main__":
  tf.test.main()
