"""UDR: hand-computed relative strengths and KLs, the two correlation matrices against their
definitions, copies of one model against unrelated encoders, invariance to permuting and
sign-flipping a model's latents, the KL filter, and the wrapper's draws."""
import numpy as np
import scipy.stats
import tensorflow as tf

from evaluation.metrics import udr

_NUM_FACTORS = 4


def _factors(seed, num=600):
  return np.random.RandomState(seed).uniform(-1.0, 1.0, size=(num, _NUM_FACTORS))


def _random_rotation(seed, dim=_NUM_FACTORS):
  q, r = np.linalg.qr(np.random.RandomState(seed).normal(size=(dim, dim)))
  return q * np.sign(np.diag(r))


def _active_kls(dim=_NUM_FACTORS):
  return np.ones(dim)


class RelativeStrengthTest(tf.test.TestCase):

  def test_hand_computed_cases(self):
    self.assertAllClose(udr.relative_strength_disentanglement(np.eye(3)), 1.0, atol=1e-15)
    # Two latents tied to two others: columns and rows score 1/2, 1/2, 1 -> 2/3.
    tied = [[1., 1., 0.], [1., 1., 0.], [0., 0., 1.]]
    self.assertAllClose(udr.relative_strength_disentanglement(tied), 2. / 3., atol=1e-15)
    self.assertAllClose(udr.relative_strength_disentanglement(np.ones((3, 3))), 1. / 3.,
                        atol=1e-15)
    self.assertEqual(udr.relative_strength_disentanglement(np.zeros((3, 3))), 0.0)
    # Columns 0.64 / 0.8 and 0.36 / 0.8, rows 0.64 / 1.0 and 0.36 / 0.6: (0.625 + 0.62) / 2.
    self.assertAllClose(udr.relative_strength_disentanglement([[0.8, 0.2], [0.0, 0.6]]),
                        0.6225, atol=1e-15)
    # A NaN entry zeroes its row and its column; the rest scores 1 each: (1/2 + 1/2) / 2.
    self.assertAllClose(udr.relative_strength_disentanglement([[np.nan, 0.], [0., 1.]]), 0.5,
                        atol=1e-15)
    self.assertEqual(udr.relative_strength_disentanglement(np.zeros((3, 0))), 0.0)

  def test_gaussian_kl_per_latent(self):
    mean = np.array([[1.0, 0.0], [-1.0, 0.0]])
    variance = np.array([[1.0, np.e], [1.0, 1.0 / np.e]])
    # Latent 0: KL(N(+-1, 1) || N(0, 1)) = 1/2. Latent 1: (e - 1 - 1) / 2 and (1/e + 1 - 1) / 2.
    self.assertAllClose(udr.gaussian_kl_per_latent(mean, variance),
                        [0.5, 0.25 * (np.e - 2.0 + 1.0 / np.e)], atol=1e-15)


class CorrelationMatrixTest(tf.test.TestCase):

  def test_spearman_matrix_is_scipys_rank_correlation(self):
    rs = np.random.RandomState(0)
    a, b = rs.normal(size=(200, 3)), rs.normal(size=(200, 2))
    b[:, 0] = np.round(a[:, 0] ** 3 + 0.3 * b[:, 0], 1)  # monotone relation, with ties
    matrix = udr.spearman_matrix(a, b)
    self.assertEqual(matrix.shape, (3, 2))
    for i in range(3):
      for j in range(2):
        self.assertAllClose(matrix[i, j], abs(scipy.stats.spearmanr(a[:, i], b[:, j])[0]),
                            atol=1e-12)
    self.assertGreater(matrix[0, 0], 0.85)  # measured 0.895
    constant = udr.spearman_matrix(np.column_stack([a[:, 0], np.zeros(200)]), b)
    self.assertTrue(np.all(np.isnan(constant[1])))
    self.assertFalse(np.any(np.isnan(constant[0])))

  def test_lasso_matrix_of_standardized_identical_codes(self):
    codes = _factors(1)
    codes = (codes - codes.mean(0)) / codes.std(0)
    matrix = udr.lasso_matrix(codes, codes)
    # Unit-variance, nearly uncorrelated inputs: each output keeps its own input, shrunk by the
    # penalty to 1 - 0.1, and the sample correlations (|r| < 0.1 here) fall to exactly 0.
    self.assertAllClose(np.diag(matrix), np.full(_NUM_FACTORS, 0.9), atol=0.02)
    self.assertAllEqual(matrix[~np.eye(_NUM_FACTORS, dtype=bool)], np.zeros(12))
    # Entry (i, j): input latent i in the regression of output latent j.
    one_way = udr.lasso_matrix(codes[:, :2], codes[:, 2:3] + 2.0 * codes[:, :1])
    self.assertEqual(one_way.shape, (2, 1))
    self.assertGreater(one_way[0, 0], 1.5)


class UdrKnownAnswersTest(tf.test.TestCase):

  def test_copies_of_one_model_beat_unrelated_random_encoders(self):
    factors = _factors(2)
    # A disentangled model: each latent a monotone function of one factor, in another order.
    model = np.column_stack([np.tanh(2.0 * factors[:, 1]), factors[:, 0] ** 3,
                             3.0 * factors[:, 3], np.exp(factors[:, 2])])
    unrelated = [factors @ _random_rotation(seed) for seed in (11, 12, 13)]
    for correlation in udr.CORRELATION_MATRICES:
      with self.subTest(correlation):
        same = udr.udr([model] * 3, [_active_kls()] * 3, correlation_matrix=correlation)
        random = udr.udr(unrelated, [_active_kls()] * 3, correlation_matrix=correlation)
        if correlation == "lasso":
          # Each latent of a copy is predicted by its twin alone, with the coefficient shrunk
          # to 1 - alpha; a single entry c per row and column scores c: 0.9 is the Lasso's
          # perfect score for independent latents (the reference's test accepts 0.8 to 1).
          self.assertAllClose(same["model_scores"], np.full(3, 0.9), atol=0.005)
        else:
          # Rank correlation 1 with the twin, plus sample correlations of about 1/sqrt(600)
          # with the three others in every row and column (measured: 0.942).
          self.assertAllClose(same["model_scores"], np.full(3, 0.94), atol=0.02)
        # Random rotations of four factors spread each latent over all four latents of the
        # other models (measured: 0.24 to 0.40 for either matrix).
        self.assertLess(np.max(random["model_scores"]), 0.5)
        self.assertAllClose(np.diag(same["pairwise_scores"]), np.full(3, np.nan))

  def test_permuting_and_sign_flipping_a_model_leaves_its_score(self):
    factors = _factors(3)
    noise = np.random.RandomState(4)
    # Three partly entangled models, so that the scores are neither 0 nor 1.
    codes = [factors @ (np.eye(_NUM_FACTORS) + 0.4 * _random_rotation(seed))
             + 0.1 * noise.normal(size=factors.shape) for seed in (20, 21, 22)]
    kls = [np.array([0.5, 2.0, 1.0, 0.005]), _active_kls(), np.array([3.0, 0.001, 1.0, 1.0])]
    permutation, signs = np.array([2, 0, 3, 1]), np.array([1., -1., -1., 1.])
    changed = [codes[0][:, permutation] * signs] + codes[1:]
    changed_kls = [kls[0][permutation]] + kls[1:]
    for correlation, atol in (("spearman", 1e-12), ("lasso", 1e-4)):
      with self.subTest(correlation):
        before = udr.udr(codes, kls, correlation_matrix=correlation)
        after = udr.udr(changed, changed_kls, correlation_matrix=correlation)
        self.assertBetween(before["model_scores"][0], 0.3, 0.95)
        self.assertAllEqual(before["num_active_latents"], [3, 4, 3])
        # Exact for Spearman; the Lasso's coordinate descent visits the latents in another
        # order, which moves its solution within its tolerance (measured below 1e-5).
        self.assertAllClose(after["model_scores"], before["model_scores"], atol=atol)

  def test_kl_filter_and_its_threshold(self):
    factors = _factors(5)
    noise = np.random.RandomState(6)

    def model():
      # The first latent follows factor 0; the others are noise with a KL of 0.
      return np.column_stack([factors[:, 0], noise.normal(size=(600, 3))])

    kls = [np.array([1.0, 0.0, 0.0, 0.0])] * 2
    codes = [model(), model()]
    filtered = udr.udr(codes, kls, correlation_matrix="lasso")
    self.assertAllClose(filtered["model_scores"], [0.9, 0.9], atol=1e-12)  # 1 - alpha
    # Unfiltered, the zeroed latents count as rows and columns of strength 0: 1 of 4 scores.
    unfiltered = udr.udr(codes, kls, correlation_matrix="lasso", filter_low_kl=False)
    self.assertAllClose(unfiltered["model_scores"], [0.225, 0.225], atol=1e-12)
    # Spearman's NaN for a zeroed latent spreads to every line: the reference's 0.
    spearman = udr.udr(codes, kls, correlation_matrix="spearman", filter_low_kl=False)
    self.assertAllEqual(spearman["model_scores"], [0.0, 0.0])
    # A latent at KL 0.005 is zeroed whatever the threshold (the reference's fixed 0.01), and
    # one at 0.5 is not active with a threshold of 0.6.
    weak = [np.array([1.0, 0.5, 0.005, 0.0])] * 2
    three = udr.udr([np.column_stack([factors[:, :3], factors[:, 3]])] * 2, weak,
                    kl_filter_threshold=0.001)
    self.assertAllEqual(three["num_active_latents"], [3, 3])
    self.assertAllClose(three["correlations"][0, 1][2], np.zeros(4))
    self.assertAllEqual(udr.udr(codes, weak, kl_filter_threshold=0.6)["num_active_latents"],
                        [1, 1])

  def test_model_score_is_the_median_over_the_other_models(self):
    factors = _factors(7)
    codes = [factors @ (np.eye(_NUM_FACTORS) + s * _random_rotation(30 + k))
             for k, s in enumerate((0.0, 0.3, 0.6, 1.5))]
    scores = udr.udr(codes, [_active_kls()] * 4)
    pairwise = scores["pairwise_scores"]
    for m in range(4):
      others = [pairwise[n, m] for n in range(4) if n != m]
      self.assertAllClose(scores["model_scores"][m], np.median(others), atol=1e-15)
    # The Lasso is not symmetric, so the two directions of a pair differ.
    self.assertNotAllClose(pairwise[0, 3], pairwise[3, 0])

  def test_a_model_without_active_latents_scores_zero(self):
    factors = _factors(8)
    scores = udr.udr([factors, factors, factors], [_active_kls(), np.zeros(4), _active_kls()])
    self.assertAllEqual(scores["num_active_latents"], [4, 0, 4])
    self.assertAllEqual(scores["pairwise_scores"][1], [0.0, np.nan, 0.0])
    self.assertEqual(scores["model_scores"][1], 0.0)
    # Models 0 and 2 agree as well as the Lasso lets them (0.9, see above); median of 0, 0.9.
    self.assertAllClose(scores["model_scores"][0], 0.45, atol=0.005)

  def test_bad_input(self):
    codes = _factors(9, num=50)
    cases = [
        (([codes], [_active_kls()]), {}, "at least 2 models"),
        (([codes, codes[:, :3]], [_active_kls()] * 2), {}, r"codes\[1\]: expected shape"),
        (([codes, codes], [_active_kls(), np.ones(3)]), {}, r"kl_divergences\[1\]"),
        (([codes, codes], [_active_kls()] * 2), {"correlation_matrix": "pearson"},
         "correlation_matrix='pearson'"),
    ]
    for args, kwargs, message in cases:
      with self.subTest(message):
        with self.assertRaisesRegex(ValueError, message):
          udr.udr(*args, **kwargs)


class _Points:
  """Observations are 4 uniform numbers; only `sample_observations` is used by UDR."""
  factors_num_values = (2, 2, 2, 2)
  calls = []

  def sample_observations(self, num, random_state):
    self.calls.append(num)
    return random_state.uniform(-1.0, 1.0, size=(num, 4)).astype(np.float32)


def _posterior(weights, log_variance):
  def posterior_fn(x):
    mean = np.asarray(x, np.float64) @ weights
    variance = np.exp(log_variance + 0.1 * np.tanh(mean))
    return mean, np.stack([np.diag(v) for v in variance])
  return posterior_fn


class ComputeUdrTest(tf.test.TestCase):

  def test_draws_kl_and_scores_match_the_array_level_function(self):
    weights = [np.eye(4), _random_rotation(40), np.eye(4)[:, ::-1] * 2.0]
    log_variance = np.array([-2.0, -1.0, 0.0, -0.5])
    functions = [_posterior(w, log_variance) for w in weights]
    _Points.calls = []
    result = udr.compute_udr(_Points(), functions, np.random.RandomState(3), batch_size=10,
                             num_data_points=200, correlation_matrix="spearman")
    self.assertEqual(_Points.calls, [10] * 20)
    rs = np.random.RandomState(3)
    observations = np.concatenate([rs.uniform(-1.0, 1.0, size=(10, 4)).astype(np.float32)
                                   for _ in range(20)])
    codes, kls = [], []
    for fn in functions:
      mean, covariance = fn(observations)
      codes.append(mean)
      # Equal batches: the mean of the batch means is the mean over all points.
      kls.append(udr.gaussian_kl_per_latent(mean, np.diagonal(covariance, axis1=1, axis2=2)))
    direct = udr.udr(codes, kls, correlation_matrix="spearman")
    self.assertAllClose(result["model_scores"], direct["model_scores"], atol=1e-12)
    self.assertAllClose(result["kl_divergence"], kls, atol=1e-12)
    self.assertEqual(result["pairwise_scores"][0][0], None)
    self.assertEqual(np.array(result["raw_correlations"], dtype=float).shape, (3, 3, 4, 4))
    # Models 0 and 2 are the same latents permuted and scaled: rank correlation 1 with the
    # twin, sample correlations of 200 points with the others (measured 0.879); model 1 is a
    # rotation of them (measured 0.38).
    self.assertBetween(result["pairwise_scores"][0][2], 0.85, 0.95)
    self.assertLess(result["pairwise_scores"][0][1], 0.5)
    self.assertNotIn("raw_correlations",
                     udr.compute_udr(_Points(), functions, np.random.RandomState(3),
                                     batch_size=10, num_data_points=20,
                                     include_raw_correlations=False))

  def test_bad_settings_and_posteriors(self):
    good = _posterior(np.eye(4), np.zeros(4))
    cases = [
        ({"num_data_points": 25}, [good, good], "num_data_points=25: expected a multiple of "
                                                "batch_size"),
        ({}, [good], "at least 2 models"),
        ({}, [good, lambda x: (x, np.zeros((len(x), 4, 4)))], r"posterior_functions\[1\]: "
                                                              "expected finite means and "
                                                              "positive"),
        ({}, [good, lambda x: x], r"posterior_functions\[1\]: expected \(mean"),
    ]
    for settings, functions, message in cases:
      with self.subTest(message):
        with self.assertRaisesRegex(ValueError, message):
          udr.compute_udr(_Points(), functions, np.random.RandomState(0),
                          **dict({"num_data_points": 20}, **settings))


if __name__ == "__main__":
  tf.test.main()
