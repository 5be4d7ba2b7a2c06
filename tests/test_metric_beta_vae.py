"""BetaVAE score: features and classifier by hand, order of random draws, known-answer codes."""

import inspect

import gin
import numpy as np
import tensorflow as tf

from gin_edge import evaluation as gin_evaluation
from evaluation.metrics import beta_vae

import dsprites_grid_codes  # tests/dsprites_grid_codes.py



def _linear_code(obs):
  return np.asarray(obs, dtype=np.float64) @ np.arange(10.).reshape(5, 2)


class BetaVaeByHandTest(tf.test.TestCase):

  def test_features_are_mean_absolute_differences(self):
    codes_a = np.array([[[0., 1.], [2., 3.]]])
    codes_b = np.array([[[1., 1.], [0., 7.]]])
    # |a - b| = [[1, 0], [2, 4]]; mean over the batch: [1.5, 2].
    self.assertAllClose(beta_vae.beta_vae_features(codes_a, codes_b), [[1.5, 2.]])

  def test_separable_features_are_classified_perfectly(self):
    # The fixed factor's code barely changes within a pair; the others change by about 1.
    random_state = np.random.RandomState(0)
    labels = np.arange(60) % 3
    features = 1. - np.eye(3)[labels] + 0.05 * random_state.rand(60, 3)
    result = beta_vae.beta_vae(features[:40], labels[:40], features[40:], labels[40:])
    self.assertAllClose(result, {"train_accuracy": 1., "eval_accuracy": 1.})

  def test_uninformative_features_give_the_majority_class(self):
    # Constant features: the classifier can only predict the most frequent training label (0),
    # right for 5 of 10 training points and 1 of 4 evaluation points.
    labels = np.array([0] * 5 + [1] * 3 + [2] * 2)
    result = beta_vae.beta_vae(np.ones([10, 3]), labels, np.ones([4, 3]), [0, 1, 1, 2])
    self.assertAllClose(result, {"train_accuracy": .5, "eval_accuracy": .25})
    # A single training class is predicted everywhere.
    result = beta_vae.beta_vae(np.ones([3, 2]), [1, 1, 1], np.ones([4, 2]), [1, 0, 0, 0])
    self.assertAllClose(result, {"train_accuracy": 1., "eval_accuracy": .25})

  def test_bad_input(self):
    with self.assertRaisesRegex(ValueError, "codes_a, codes_b"):
      beta_vae.beta_vae_features(np.zeros([2, 3, 4]), np.zeros([2, 3, 5]))
    with self.assertRaisesRegex(ValueError, "finite"):
      beta_vae.beta_vae_features(np.zeros([1, 2, 2]), np.full([1, 2, 2], np.nan))
    with self.assertRaisesRegex(ValueError, "train_labels"):
      beta_vae.beta_vae(np.zeros([4, 2]), [0, 1, 0], np.zeros([4, 2]), [0, 1, 0, 1])
    with self.assertRaisesRegex(ValueError, "train_features"):
      beta_vae.beta_vae(np.zeros(4), [0, 1, 0, 1], np.zeros([4, 2]), [0, 1, 0, 1])
    with self.assertRaisesRegex(ValueError, "eval_features"):
      beta_vae.beta_vae(np.zeros([4, 2]), [0, 1, 0, 1], np.zeros([4, 3]), [0, 1, 0, 1])
    with self.assertRaisesRegex(ValueError, "finite"):
      beta_vae.beta_vae(np.full([4, 2], np.inf), [0, 1, 0, 1], np.zeros([4, 2]), [0, 1, 0, 1])


class BetaVaeSamplingTest(tf.test.TestCase):

  def _by_hand(self, data, num_points, batch_size, random_state):
    """The reference's sequence of draws, one point at a time."""
    features, labels = [], []
    for _ in range(num_points):
      index = random_state.randint(5)
      factors_a = data.sample_factors(batch_size, random_state)
      factors_b = data.sample_factors(batch_size, random_state)
      factors_b[:, index] = factors_a[:, index]
      codes_a = _linear_code(data.sample_observations_from_factors(factors_a, random_state))
      codes_b = _linear_code(data.sample_observations_from_factors(factors_b, random_state))
      features.append(np.mean(np.abs(codes_a - codes_b), axis=0))
      labels.append(index)
    return np.array(features), np.array(labels)

  def test_points_follow_the_reference_draws(self):
    data = dsprites_grid_codes.FactorGrid()
    # 40 points of batch 64 are encoded in five groups of 8; the draws stay point by point.
    features, labels = beta_vae.sample_beta_vae_points(data, _linear_code, 64, 40,
                                                       np.random.RandomState(5))
    expected_features, expected_labels = self._by_hand(data, 40, 64, np.random.RandomState(5))
    self.assertAllEqual(labels, expected_labels)
    self.assertAllClose(features, expected_features)

  def test_wrapper_makes_the_classifier_seed_draw(self):
    data = dsprites_grid_codes.FactorGrid()
    random_state = np.random.RandomState(2)
    result = beta_vae.compute_beta_vae(data, _linear_code, random_state, batch_size=8,
                                       num_train=30, num_eval=20)
    by_hand = np.random.RandomState(2)
    train = self._by_hand(data, 30, 8, by_hand)
    by_hand.randint(np.iinfo(np.int32).max)
    evaluation = self._by_hand(data, 20, 8, by_hand)
    self.assertEqual(random_state.randint(1 << 30), by_hand.randint(1 << 30))
    self.assertAllClose(result, beta_vae.beta_vae(*train, *evaluation))


class BetaVaeOnFactorGridTest(tf.test.TestCase):

  def test_known_answer_representations(self):
    scores = {kind: beta_vae.compute_beta_vae(dsprites_grid_codes.FactorGrid(), dsprites_grid_codes.representation(kind),
                                              np.random.RandomState(0), num_train=500,
                                              num_eval=250)
              for kind in ("identity", "rotated", "noise")}
    # Measured (5 seeds, 500/250 points): identity 1.0 train and eval; rotated eval 0.74-0.83;
    # noise eval 0.18-0.22 (chance 1/5), train 0.25-0.29.
    self.assertGreaterEqual(scores["identity"]["train_accuracy"], 0.99)
    self.assertGreaterEqual(scores["identity"]["eval_accuracy"], 0.99)
    self.assertBetween(scores["rotated"]["eval_accuracy"], 0.65, 0.92)
    self.assertBetween(scores["noise"]["eval_accuracy"], 0.12, 0.29)

  def test_reference_defaults_and_gin(self):
    defaults = {k: p.default for k, p in
                inspect.signature(beta_vae.compute_beta_vae).parameters.items()}
    self.assertEqual((defaults["batch_size"], defaults["num_train"], defaults["num_eval"]),
                     (64, 10000, 5000))
    seen = []

    def representation(obs):
      seen.append(len(obs))
      return dsprites_grid_codes.representation("identity")(obs)

    try:
      gin_evaluation.parse(gin_bindings=["beta_vae_score.batch_size = 4", "beta_vae_score.num_train = 10",
                        "beta_vae_score.num_eval = 5"])
      beta_vae.compute_beta_vae(dsprites_grid_codes.FactorGrid(), representation, np.random.RandomState(0),
          **gin_evaluation.metric_settings(["beta_vae"])["beta_vae"])
    finally:
      gin.clear_config()
    # One encoding call per group of points: 10 and 5 pairs of batches of 4.
    self.assertEqual(seen, [80, 40])


if __name__ == "__main__":
  tf.test.main()
