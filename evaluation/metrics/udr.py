"""UDR, unsupervised disentanglement ranking (Duan et al., ICLR 2020, "Unsupervised Model
Selection for Variational Disentangled Representation Learning").

UDR needs no ground-truth factors: it ranks models trained on the same data by how much their
representations agree, up to permutation and sign of the latents. Definition and defaults of
the reference (disentanglement_lib 1.5, `udr_sklearn`, with the settings of its configs:
1,000 points drawn in batches of 10, the Lasso correlation, KL threshold 0.01):

* Every model encodes the same observations to posterior means; each model's means are
  standardized per latent (scikit-learn's `StandardScaler`: population standard deviation, a
  constant latent stays 0). A latent's KL is KL(q(z_i|x) || N(0, 1)) of its marginal
  Gaussian, 0.5 (mu^2 + var - log var - 1), averaged over each batch and then over batches.
  Latents with a KL of at most 0.01 are set to 0 after standardizing (the reference's fixed
  0.01, whatever `kl_filter_threshold` says).
* For every ordered pair of models (a, b), a ≠ b: a `[d, d]` matrix R of how latent i of a
  relates to latent j of b, either |coefficient| of latent i in a Lasso (alpha 0.1, otherwise
  scikit-learn's defaults) regressing all of b's standardized latents on all of a's
  (`"lasso"`), or |Spearman rank correlation| of the two latents (`"spearman"`; NaN for a
  constant latent).
* With `filter_low_kl`, R keeps only the rows of a's and the columns of b's *active* latents,
  those with a KL above `kl_filter_threshold`.
* The pair's score is the relative-strength disentanglement of R: for every column the
  squared largest entry over the column's sum, for every row the same, each averaged (a
  column or row whose ratio is not a number, all zeros or containing a NaN, counts as 0),
  and the two averages averaged. A matrix with a single nonzero entry per row and column
  scores the mean of those entries: 1 for a one-to-one correspondence under Spearman, about
  1 - alpha = 0.9 under the Lasso, whose penalty shrinks even a latent's identical twin.
* Model m's score is the median, over the other models n, of the score of the pair (n, m)
  (R relating n's latents to m's: for the Lasso, n's latents predicting m's).
* Spearman without the KL filter: a zeroed latent has NaN correlations, and every row and
  column holding a NaN counts 0 (the reference's behaviour), so a pair of models that both
  have a latent at KL <= 0.01 scores 0.

Where the reference fails, here: a pair in which either model has no active latent scores 0
(the reference raises an error on the empty matrix). The reference's Lasso takes a random
state that it never uses (cyclic coordinate descent); none is passed here, the numbers are
the same.

The array-level function is `udr` (one code array and one KL vector per model); the sampling
wrapper `compute_udr` (gin `udr`) takes one posterior function per model. `zoo-evaluate
--udr --saved_model=A --saved_model=B ...` runs it on exports (`evaluation.evaluate.run_udr`).
"""
import warnings

import numpy as np
import scipy.stats
from sklearn import exceptions as sk_exceptions
from sklearn import linear_model
from sklearn import preprocessing

from common import validation
from evaluation.metrics import utils

CORRELATION_MATRICES = ("lasso", "spearman")
# The reference zeroes latents at or below this KL before it correlates anything, separately
# from (and whatever the value of) the threshold that selects the active latents.
_ZEROING_THRESHOLD = 0.01
# The reference's Lasso penalty.
_LASSO_ALPHA = 0.1


def gaussian_kl_per_latent(mean, variance):
  """Mean over points of KL(N(mean, variance) || N(0, 1)) per latent: `[B, d]` -> `[d]`."""
  mean = np.asarray(mean, dtype=np.float64)
  variance = np.asarray(variance, dtype=np.float64)
  return np.mean(0.5 * (np.square(mean) + variance - np.log(variance) - 1.0), axis=0)


def relative_strength_disentanglement(matrix):
  """The relative-strength score of a non-negative `[p, q]` matrix (see the module docstring).

  An empty matrix (no row or no column) scores 0.
  """
  matrix = np.asarray(matrix, dtype=np.float64)
  if matrix.ndim != 2:
    raise ValueError(f"matrix: expected a 2-D array, got shape {matrix.shape}")
  if matrix.size == 0:
    return 0.0

  def mean_strength(along):
    # np.max propagates a NaN entry, so such a line's ratio is NaN and then counts as 0.
    with np.errstate(divide="ignore", invalid="ignore"):
      strength = np.max(along, axis=0) ** 2 / np.sum(along, axis=0)
    return float(np.mean(np.where(np.isfinite(strength), strength, 0.0)))

  return 0.5 * (mean_strength(matrix) + mean_strength(matrix.T))


def spearman_matrix(codes_a, codes_b):
  """`[d_a, d_b]` |Spearman rank correlation| of every latent of a with every latent of b.

  Ranks are averaged over ties (as scipy's `spearmanr`); a constant latent gives NaN.
  """
  ranks_a = _centred_unit_columns(scipy.stats.rankdata(codes_a, axis=0))
  ranks_b = _centred_unit_columns(scipy.stats.rankdata(codes_b, axis=0))
  return np.abs(np.clip(ranks_a.T @ ranks_b, -1.0, 1.0))


def _centred_unit_columns(values):
  centred = values - values.mean(axis=0)
  norms = np.sqrt(np.sum(np.square(centred), axis=0))
  with np.errstate(divide="ignore", invalid="ignore"):
    return centred / norms  # a constant column: 0 / 0, NaN


def lasso_matrix(codes_a, codes_b):
  """`[d_a, d_b]` |coefficients| of a Lasso (alpha 0.1) predicting b's latents from a's."""
  with warnings.catch_warnings():
    # Part of the reference's estimator: the default 1,000 iterations, converged or not.
    warnings.simplefilter("ignore", sk_exceptions.ConvergenceWarning)
    model = linear_model.Lasso(alpha=_LASSO_ALPHA).fit(codes_a, codes_b)
  return np.abs(np.asarray(model.coef_, dtype=np.float64).reshape(codes_b.shape[1], -1)).T


def _check_models(codes, kl_divergences):
  if len(codes) < 2:
    raise ValueError(f"codes: expected the codes of at least 2 models, got {len(codes)}")
  if len(kl_divergences) != len(codes):
    raise ValueError(f"kl_divergences: expected one KL vector per model ({len(codes)}), got "
                     f"{len(kl_divergences)}")
  checked = [utils.check_codes(c, f"codes[{m}]") for m, c in enumerate(codes)]
  shape = checked[0].shape
  for m, c in enumerate(checked):
    if c.shape != shape:
      raise ValueError(f"codes[{m}]: expected shape {list(shape)} like codes[0] (the same "
                       f"points, the same number of latents), got {list(c.shape)}")
  if shape[0] < 2:
    raise ValueError(f"codes: expected at least 2 points, got {shape[0]}")
  kls = []
  for m, kl in enumerate(kl_divergences):
    kl = np.asarray(kl, dtype=np.float64)
    if kl.shape != (shape[1],) or not np.all(np.isfinite(kl)):
      raise ValueError(f"kl_divergences[{m}]: expected {shape[1]} finite numbers (one per "
                       f"latent), got shape {list(kl.shape)}")
    kls.append(kl)
  return checked, kls


def udr(codes, kl_divergences, correlation_matrix="lasso", filter_low_kl=True,
        kl_filter_threshold=0.01):
  """UDR of M models from their codes of the same points.

  Args:
    codes: M arrays `[N, d]`, each model's posterior means of the same N observations.
    kl_divergences: M arrays `[d]`, each latent's mean KL to N(0, 1).
    correlation_matrix: "lasso" or "spearman".
    filter_low_kl: score only the active latents (KL above `kl_filter_threshold`).
    kl_filter_threshold: KL (nats) above which a latent is active.

  Returns:
    dict with `model_scores` `[M]`, `pairwise_scores` `[M, M]` (entry (n, m) relates n's
    latents to m's; NaN on the diagonal), `correlations` `[M, M, d, d]` (the matrices R
    before filtering; zeros on the diagonal pairs) and `num_active_latents` `[M]`.
  """
  validation.one_of(correlation_matrix, CORRELATION_MATRICES, "correlation_matrix")
  if not isinstance(filter_low_kl, (bool, np.bool_)):
    raise ValueError(f"filter_low_kl={filter_low_kl!r}: expected True or False")
  kl_filter_threshold = validation.number(kl_filter_threshold, "kl_filter_threshold")
  codes, kls = _check_models(codes, kl_divergences)
  num_models, num_latents = len(codes), codes[0].shape[1]
  prepared = [preprocessing.StandardScaler().fit_transform(c) * (kl > _ZEROING_THRESHOLD)
              for c, kl in zip(codes, kls)]
  active = [kl > kl_filter_threshold for kl in kls]
  correlations = np.zeros([num_models, num_models, num_latents, num_latents])
  pairwise = np.full([num_models, num_models], np.nan)
  for a in range(num_models):
    for b in range(num_models):
      if a == b:
        continue
      if correlation_matrix == "lasso":
        matrix = lasso_matrix(prepared[a], prepared[b])
      else:
        with warnings.catch_warnings():
          warnings.simplefilter("ignore", RuntimeWarning)
          matrix = spearman_matrix(prepared[a], prepared[b])
      correlations[a, b] = matrix
      if filter_low_kl:
        matrix = matrix[active[a]][:, active[b]]
      pairwise[a, b] = relative_strength_disentanglement(matrix)
  model_scores = np.array([np.median(np.delete(pairwise[:, m], m)) for m in range(num_models)])
  return {"model_scores": model_scores, "pairwise_scores": pairwise,
          "correlations": correlations,
          "num_active_latents": np.array([int(np.sum(a)) for a in active])}


def sample_codes_and_kl(ground_truth_data, posterior_functions, random_state, batch_size,
                        num_data_points):
  """Encodes the same `num_data_points` observations with every model, the reference's way.

  Observations are drawn `batch_size` at a time (`sample_observations`); every model encodes
  each batch; a latent's KL is averaged over each batch and the batch means averaged.

  Returns:
    (codes: M arrays `[num_data_points, d]`, kl_divergences: M arrays `[d]`).
  """
  batch_size = validation.positive_int(batch_size, "batch_size")
  num_data_points = validation.positive_int(num_data_points, "num_data_points")
  validation.random_state(random_state)
  if num_data_points % batch_size:
    raise ValueError(f"num_data_points={num_data_points}: expected a multiple of batch_size "
                     f"({batch_size})")
  if len(posterior_functions) < 2:
    raise ValueError(f"posterior_functions: expected at least 2 models, got "
                     f"{len(posterior_functions)}")
  codes = [[] for _ in posterior_functions]
  batch_kls = [[] for _ in posterior_functions]
  for _ in range(num_data_points // batch_size):
    observations = ground_truth_data.sample_observations(batch_size, random_state)
    for m, posterior_fn in enumerate(posterior_functions):
      mean, variance = _mean_and_variance(posterior_fn(observations), batch_size, m)
      codes[m].append(mean)
      batch_kls[m].append(gaussian_kl_per_latent(mean, variance))
  return ([np.concatenate(c, axis=0) for c in codes],
          [np.mean(np.stack(k), axis=0) for k in batch_kls])


def _mean_and_variance(posterior, batch_size, index):
  what = f"posterior_functions[{index}]"
  try:
    mean, covariance = posterior
  except (TypeError, ValueError):
    raise ValueError(f"{what}: expected (mean [B, d], covariance [B, d, d])") from None
  mean = np.asarray(mean, dtype=np.float64)
  covariance = np.asarray(covariance, dtype=np.float64)
  if (mean.ndim != 2 or mean.shape[0] != batch_size
      or covariance.shape != mean.shape + mean.shape[1:]):
    raise ValueError(f"{what}: expected mean [{batch_size}, d] and covariance "
                     f"[{batch_size}, d, d], got {list(mean.shape)} and "
                     f"{list(covariance.shape)}")
  variance = np.diagonal(covariance, axis1=1, axis2=2)
  if not (np.all(np.isfinite(mean)) and np.all(np.isfinite(variance))
          and np.all(variance > 0)):
    raise ValueError(f"{what}: expected finite means and positive finite variances")
  return mean, variance


def compute_udr(ground_truth_data, posterior_functions, random_state, batch_size=10,
                num_data_points=1000, correlation_matrix="lasso", filter_low_kl=True,
                include_raw_correlations=True, kl_filter_threshold=0.01):
  """UDR of several models of the same data set, with the reference defaults.

  Args:
    ground_truth_data: the data set every model was trained on.
    posterior_functions: one per model, observations `[B, ...]` -> (mean `[B, d]`,
      covariance `[B, d, d]`), d the same for all.
    random_state: `np.random.RandomState` for the observations.
    batch_size: observations per draw (changes the draws).
    num_data_points: observations in all; a multiple of batch_size.
    correlation_matrix: "lasso" or "spearman".
    filter_low_kl: score only active latents.
    include_raw_correlations: also return the matrices R (`raw_correlations`).
    kl_filter_threshold: KL above which a latent is active.

  Returns:
    dict of lists: `model_scores` `[M]`, `pairwise_scores` `[M][M]` (None on the diagonal),
    `num_active_latents` `[M]`, `kl_divergence` `[M][d]` and, with include_raw_correlations,
    `raw_correlations` `[M][M][d][d]`.
  """
  if not isinstance(include_raw_correlations, (bool, np.bool_)):
    raise ValueError(f"include_raw_correlations={include_raw_correlations!r}: expected True or "
                     "False")
  validation.one_of(correlation_matrix, CORRELATION_MATRICES, "correlation_matrix")
  codes, kls = sample_codes_and_kl(ground_truth_data, posterior_functions, random_state,
                                   batch_size, num_data_points)
  scores = udr(codes, kls, correlation_matrix=correlation_matrix, filter_low_kl=filter_low_kl,
               kl_filter_threshold=kl_filter_threshold)
  result = {
      "model_scores": [float(s) for s in scores["model_scores"]],
      "pairwise_scores": [[None if np.isnan(s) else float(s) for s in row]
                          for row in scores["pairwise_scores"]],
      "num_active_latents": [int(n) for n in scores["num_active_latents"]],
      "kl_divergence": [[float(v) for v in kl] for kl in kls],
  }
  if include_raw_correlations:
    result["raw_correlations"] = np.where(np.isnan(scores["correlations"]), None,
                                          scores["correlations"]).tolist()
  return result
