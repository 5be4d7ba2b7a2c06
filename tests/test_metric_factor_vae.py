"""FactorVAE score: votes by hand, pruning rule, order of random draws, known-answer codes."""

import inspect

import gin
import numpy as np
import tensorflow as tf

from gin_edge import evaluation as gin_evaluation
from evaluation.metrics import factor_vae

import dsprites_grid_codes  # tests/dsprites_grid_codes.py



def _linear_code(obs):
  return np.asarray(obs, dtype=np.float64) @ np.arange(15.).reshape(5, 3)


# Three codes with global variances (ddof=1) 1, 4 and 1e-4 (standard deviations 1, 2, 0.01).
_GLOBAL = np.array([[-1., -2., -0.01], [0., 0., 0.], [1., 2., 0.01]])
# Variances within batches with factor 0, 1, 1, 2 fixed. Relative to the global variances the
# smallest active code is 0, 1, 1, 0; code 2 would win every row but is pruned (std < 0.05).
_TRAIN = np.array([[0.1, 4., 1e-9], [0.6, 2., 0.], [1., 0.4, 0.], [0.05, 4., 0.]])
_TRAIN_FIXED = np.array([0, 1, 1, 2])
# Chosen codes 0, 1, 1 for fixed factors 0, 2, 1.
_EVAL = np.array([[0.2, 4., 0.], [1., 0.4, 0.], [1., 0.4, 0.]])
_EVAL_FIXED = np.array([0, 2, 1])


class FactorVaeByHandTest(tf.test.TestCase):

  def test_votes_and_majority_classifier(self):
    active = factor_vae.active_codes(np.var(_GLOBAL, axis=0, ddof=1), 0.05)
    self.assertAllEqual(active, [True, True, False])
    votes = factor_vae.factor_vae_votes(_TRAIN, _TRAIN_FIXED, np.var(_GLOBAL, axis=0, ddof=1),
                                        active, 3)
    self.assertAllEqual(votes, [[1, 0, 0], [0, 2, 0], [1, 0, 0]])
    # Code 0 -> factor 0 (a 1:1 tie goes to the lower index), code 1 -> factor 1. Training:
    # 3 of 4 votes agree; evaluation: the vote of factor 2 lands on code 1, 2 of 3.
    result = factor_vae.factor_vae(_GLOBAL, _TRAIN, _TRAIN_FIXED, _EVAL, _EVAL_FIXED, 3)
    self.assertAllClose(result, {"train_accuracy": .75, "eval_accuracy": 2. / 3.,
                                 "num_active_dims": 2.})

  def test_without_pruning_the_collapsed_code_takes_every_vote(self):
    # Code 2 (std 0.01) becomes active: every batch picks it; it is assigned factor 1 (2 of 4).
    result = factor_vae.factor_vae(_GLOBAL, _TRAIN, _TRAIN_FIXED, _EVAL, _EVAL_FIXED, 3,
                                   prune_threshold=0.001)
    self.assertAllClose(result, {"train_accuracy": .5, "eval_accuracy": 1. / 3.,
                                 "num_active_dims": 3.})

  def test_threshold_applies_to_the_standard_deviation(self):
    # Variance 0.01 is below 0.05, but its standard deviation 0.1 is not: the code stays active.
    local, fixed = np.ones([2, 2]), np.array([0, 1])
    kept = np.array([[-1., -.1], [0., 0.], [1., .1]])
    self.assertEqual(factor_vae.factor_vae(kept, local, fixed, local, fixed, 2)["num_active_dims"],
                     2.)
    dropped = np.array([[-1., -.04], [0., 0.], [1., .04]])
    self.assertEqual(
        factor_vae.factor_vae(dropped, local, fixed, local, fixed, 2)["num_active_dims"], 1.)

  def test_no_active_code_and_fewer_codes_than_factors(self):
    collapsed = np.full([3, 2], 0.7)
    self.assertAllClose(
        factor_vae.factor_vae(collapsed, np.ones([2, 2]), [0, 1], np.ones([2, 2]), [0, 1], 2),
        {"train_accuracy": 0., "eval_accuracy": 0., "num_active_dims": 0.})
    # One code, four factors: it is assigned its most frequent factor (1: 2 of 4 votes).
    one_code = np.ones([4, 1])
    result = factor_vae.factor_vae(_GLOBAL[:, :1], one_code, [0, 1, 1, 3], one_code[:2], [1, 2], 4)
    self.assertAllClose(result, {"train_accuracy": .5, "eval_accuracy": .5,
                                 "num_active_dims": 1.})

  def test_local_variances(self):
    batches = np.array([[[0., 1.], [2., 1.]], [[1., 0.], [1., 4.]]])
    # ddof=1 over the batch of 2: (a - b)^2 / 2.
    self.assertAllClose(factor_vae.local_variances(batches), [[2., 0.], [0., 8.]])

  def test_bad_input(self):
    with self.assertRaisesRegex(ValueError, "batch_codes"):
      factor_vae.local_variances(np.zeros([3, 1, 2]))
    with self.assertRaisesRegex(ValueError, "global_codes"):
      factor_vae.factor_vae(np.zeros(3), _TRAIN, _TRAIN_FIXED, _EVAL, _EVAL_FIXED, 3)
    with self.assertRaisesRegex(ValueError, "train_fixed_factors"):
      factor_vae.factor_vae(_GLOBAL, _TRAIN, _TRAIN_FIXED[:3], _EVAL, _EVAL_FIXED, 3)
    with self.assertRaisesRegex(ValueError, "eval_fixed_factors"):
      factor_vae.factor_vae(_GLOBAL, _TRAIN, _TRAIN_FIXED, _EVAL, [0, 3, 1], 3)
    with self.assertRaisesRegex(ValueError, "eval_local_variances"):
      factor_vae.factor_vae(_GLOBAL, _TRAIN, _TRAIN_FIXED, _EVAL[:, :2], _EVAL_FIXED, 3)
    with self.assertRaisesRegex(ValueError, "prune_threshold"):
      factor_vae.factor_vae(_GLOBAL, _TRAIN, _TRAIN_FIXED, _EVAL, _EVAL_FIXED, 3, -1.)
    with self.assertRaisesRegex(ValueError, "global_codes"):
      factor_vae.compute_factor_vae(dsprites_grid_codes.FactorGrid(), lambda x: x * np.nan, np.random.RandomState(0),
                                    num_variance_estimate=10)
    with self.assertRaisesRegex(ValueError, "finite"):
      factor_vae.factor_vae(_GLOBAL * np.nan, _TRAIN, _TRAIN_FIXED, _EVAL, _EVAL_FIXED, 3)


class FactorVaeSamplingTest(tf.test.TestCase):

  def test_wrapper_follows_the_reference_draws(self):
    data = dsprites_grid_codes.FactorGrid()
    result = factor_vae.compute_factor_vae(data, _linear_code, np.random.RandomState(4),
                                           batch_size=16, num_train=300, num_eval=20,
                                           num_variance_estimate=50)
    # By hand: global observations first, then per point the factor index, the batch, its
    # observations (300 points of 16 are encoded in groups of 64 points).
    random_state = np.random.RandomState(4)
    global_codes = _linear_code(data.sample_observations(50, random_state))
    sets = []
    for num_points in (300, 20):
      variances, fixed = [], []
      for _ in range(num_points):
        index = random_state.randint(5)
        factors = data.sample_factors(16, random_state)
        factors[:, index] = factors[0, index]
        codes = _linear_code(data.sample_observations_from_factors(factors, random_state))
        variances.append(np.var(codes, axis=0, ddof=1))
        fixed.append(index)
      sets += [np.array(variances), np.array(fixed)]
    self.assertAllClose(result, factor_vae.factor_vae(global_codes, *sets, 5))
    got = factor_vae.sample_factor_vae_points(data, _linear_code, 16, 300,
                                              np.random.RandomState(8))
    random_state = np.random.RandomState(8)
    first_index = random_state.randint(5)
    first_batch = data.sample_factors(16, random_state)
    first_batch[:, first_index] = first_batch[0, first_index]
    self.assertEqual(got[1][0], first_index)
    self.assertAllClose(got[0][0], np.var(_linear_code(first_batch), axis=0, ddof=1))


class FactorVaeOnFactorGridTest(tf.test.TestCase):

  def test_known_answer_representations(self):
    scores = {kind: factor_vae.compute_factor_vae(dsprites_grid_codes.FactorGrid(), dsprites_grid_codes.representation(kind),
                                                  np.random.RandomState(0), num_train=500,
                                                  num_eval=250, num_variance_estimate=1000)
              for kind in ("identity", "rotated", "noise")}
    # Measured (5 seeds, 500/250 points): identity 1.0; rotated eval 0.57-0.65; noise eval
    # 0.18-0.23 (chance 1/5). Every code is active (standard deviation about 1).
    self.assertGreaterEqual(scores["identity"]["eval_accuracy"], 0.99)
    self.assertGreaterEqual(scores["identity"]["train_accuracy"], 0.99)
    self.assertBetween(scores["rotated"]["eval_accuracy"], 0.5, 0.72)
    self.assertBetween(scores["noise"]["eval_accuracy"], 0.12, 0.29)
    self.assertEqual(scores["rotated"]["num_active_dims"], 5.)

  def test_collapsed_codes_are_pruned(self):
    scale = np.array([1., 1., 0.01, 1., 0.01])

    def representation(obs):
      return dsprites_grid_codes.representation("identity")(obs) * scale

    result = factor_vae.compute_factor_vae(dsprites_grid_codes.FactorGrid(), representation, np.random.RandomState(0),
                                           num_train=200, num_eval=100, num_variance_estimate=500)
    # Factors 2 and 4 live only in collapsed codes, so their votes are lost to the three active
    # codes: about 3/5 right. Measured eval accuracy (5 seeds): 0.59-0.66.
    self.assertEqual(result["num_active_dims"], 3.)
    self.assertBetween(result["eval_accuracy"], 0.45, 0.75)

  def test_reference_defaults_and_gin(self):
    defaults = {k: p.default for k, p in
                inspect.signature(factor_vae.compute_factor_vae).parameters.items()}
    self.assertEqual((defaults["batch_size"], defaults["num_train"], defaults["num_eval"],
                      defaults["num_variance_estimate"], defaults["prune_threshold"]),
                     (64, 10000, 5000, 10000, 0.05))
    seen = []

    def representation(obs):
      seen.append(len(obs))
      return dsprites_grid_codes.representation("identity")(obs)

    try:
      gin_evaluation.parse(gin_bindings=["factor_vae_score.batch_size = 4", "factor_vae_score.num_train = 10",
                        "factor_vae_score.num_eval = 5",
                        "factor_vae_score.num_variance_estimate = 70"])
      factor_vae.compute_factor_vae(dsprites_grid_codes.FactorGrid(), representation, np.random.RandomState(0),
          **gin_evaluation.metric_settings(["factor_vae"])["factor_vae"])
    finally:
      gin.clear_config()
    # Global variances in batches of 64, then one call per group: 10 and 5 batches of 4.
    self.assertEqual(seen, [64, 6, 40, 20])


if __name__ == "__main__":
  tf.test.main()
