"""Unsupervised scores of a representation: they look at the codes only, never at the factors.

As in the reference study (disentanglement_lib, Locatello et al., ICML 2019), with Sigma the
sample covariance of the codes (`np.cov`, ddof 1) and D its diagonal:

* gaussian_total_correlation: KL(N(0, Sigma) || N(0, D)) = 1/2 (sum_i log Sigma_ii - log det
  Sigma), the total correlation of a Gaussian with the codes' covariance (constant codes left
  out);
* gaussian_wasserstein_correlation: squared 2-Wasserstein distance between N(0, Sigma) and
  N(0, D), = 2 tr(Sigma) - 2 tr((D^1/2 Sigma D^1/2)^1/2); the reference takes the matrix square
  root of D Sigma, which has the same eigenvalues, so the same trace; the symmetric form used
  here is computed from eigenvalues, which is numerically safer;
* gaussian_wasserstein_correlation_norm: the above divided by tr(Sigma);
* mutual_info_score: mean discrete mutual information (nats) over ordered pairs of distinct
  codes, each code discretized into `num_bins` equal-width bins: sum of the off-diagonal entries
  of the d x d MI matrix / (d^2 - d); NaN when d = 1.
"""
import numpy as np

from evaluation.metrics import utils


def _check_covariance(covariance):
  covariance = np.asarray(covariance, dtype=np.float64)
  if covariance.ndim != 2 or covariance.shape[0] != covariance.shape[1] or covariance.size == 0:
    raise ValueError(f"covariance: expected a square non-empty [d, d] matrix, got shape "
                     f"{covariance.shape}")
  if not np.all(np.isfinite(covariance)):
    raise ValueError("covariance: expected finite values, found NaN or Inf")
  if np.any(np.diag(covariance) < 0):
    raise ValueError(f"covariance: expected a non-negative diagonal, got {np.diag(covariance)}")
  return covariance


def gaussian_total_correlation(covariance):
  """Total correlation (nats) of N(0, covariance `[d, d]`).

  A code with zero variance is a constant, independent of the others, and adds nothing; it is
  left out (the reference's formula gives NaN there). Otherwise a singular covariance (a code
  that is an exact linear function of others) has infinite total correlation: +inf.
  """
  covariance = _check_covariance(covariance)
  varying = np.diag(covariance) > 0
  covariance = covariance[np.ix_(varying, varying)]
  if covariance.size == 0:
    return 0.0
  sign, log_det = np.linalg.slogdet(covariance)
  if sign <= 0:
    return float("inf")
  return float(0.5 * (np.sum(np.log(np.diag(covariance))) - log_det))


def gaussian_wasserstein_correlation(covariance):
  """Squared W2 distance between N(0, covariance `[d, d]`) and N(0, its diagonal)."""
  covariance = _check_covariance(covariance)
  scale = np.sqrt(np.diag(covariance))
  symmetric = covariance * scale[:, None] * scale[None, :]
  # A covariance is positive semi-definite; round-off can push zero eigenvalues slightly below.
  eigenvalues = np.clip(np.linalg.eigvalsh(symmetric), 0.0, None)
  return float(2.0 * np.trace(covariance) - 2.0 * np.sum(np.sqrt(eigenvalues)))


def mutual_info_score(codes, num_bins=20):
  """Mean pairwise mutual information (nats) between distinct discretized codes `[N, d]`.

  NaN for a single code: there is no pair (the reference divides 0 by 0 there too).
  """
  codes = utils.check_codes(codes)
  num_codes = codes.shape[1]
  if num_codes < 2:
    return float("nan")
  discrete = utils.discretize(codes, num_bins)
  mutual_info = utils.discrete_mutual_info(discrete, discrete)
  np.fill_diagonal(mutual_info, 0.0)
  return float(np.sum(mutual_info) / (num_codes ** 2 - num_codes))


def unsupervised_from_arrays(codes, num_bins=20):
  """The four unsupervised scores of codes `[N, d]` (N >= 2) -> dict of floats."""
  codes = utils.check_codes(codes)
  if codes.shape[0] < 2:
    raise ValueError(f"codes: expected at least 2 points for a covariance, got {codes.shape[0]}")
  covariance = np.cov(codes, rowvar=False).reshape(codes.shape[1], codes.shape[1])
  if np.trace(covariance) == 0:
    raise ValueError("codes: every code is constant, so the unsupervised scores are undefined")
  wasserstein = gaussian_wasserstein_correlation(covariance)
  return {
      "gaussian_total_correlation": gaussian_total_correlation(covariance),
      "gaussian_wasserstein_correlation": wasserstein,
      "gaussian_wasserstein_correlation_norm": float(wasserstein / np.trace(covariance)),
      "mutual_info_score": mutual_info_score(codes, num_bins),
  }


def compute_unsupervised(ground_truth_data, representation_function, random_state,
                         num_train=10000, batch_size=16, num_bins=20):
  """Unsupervised scores of a representation on `num_train` points (reference defaults).

  Returns:
    dict with gaussian_total_correlation, gaussian_wasserstein_correlation,
    gaussian_wasserstein_correlation_norm, mutual_info_score.
  """
  codes, _ = utils.generate_batch_factor_code(ground_truth_data, representation_function,
                                              num_train, random_state, batch_size)
  return unsupervised_from_arrays(codes, num_bins)
