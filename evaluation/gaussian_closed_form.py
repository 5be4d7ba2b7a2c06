"""Closed-form information measures of a linear Gaussian encoder.

Data x ~ N(0, Sx) in R^p and encoder q(z|x) = N(W x, S) in R^d with a constant noise covariance
S. Then (x, z) is jointly Gaussian and the aggregate posterior is q(z) = N(0, C) with
C = W Sx W^T + S, so every measure the estimators in `mi_measures` and `mi_invariance` target
has a closed form:

  I(x; z_i)            = 1/2 log(C_ii / S_ii)
  I(x; z)              = 1/2 log det C - 1/2 log det S
  TC(q(z))             = 1/2 (sum_i log C_ii - log det C)
  CTC                  = -1/2 log det corr(S)
  I(x; z_i | z_{-i})   = 1/2 log(Var(z_i | z_{-i}) / Var(z_i | z_{-i}, x))

For the last one: z_{-i} and z_i are jointly N(0, C), so Var(z_i | z_{-i}) is the Schur
complement C_ii - C_{i,-i} C_{-i,-i}^{-1} C_{-i,i}; given x, z is N(W x, S) and the same argument
gives S_ii - S_{i,-i} S_{-i,-i}^{-1} S_{-i,i}, which does not depend on x. Neither depends on the
value a of z_{-i}, so I(x; z_i | z_{-i} = a) is the same for every a: MI-invariance holds
exactly. Each Schur complement equals det(M) / det(M_{-i,-i}), which is how it is computed here.
"""
import numpy as np


def _check_square(matrix, name, size=None):
  matrix = np.asarray(matrix, dtype=np.float64)
  if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.shape[0] < 1:
    raise ValueError(f"{name}: expected a square matrix, got shape {matrix.shape}")
  if size is not None and matrix.shape[0] != size:
    raise ValueError(f"{name}: expected shape {(size, size)}, got {matrix.shape}")
  if not np.all(np.isfinite(matrix)):
    raise ValueError(f"{name}: expected finite values, found NaN or Inf")
  if not np.allclose(matrix, matrix.T, rtol=0.0, atol=1e-10 * np.max(np.abs(matrix))):
    raise ValueError(f"{name}: expected a symmetric matrix")
  if np.linalg.eigvalsh(matrix)[0] <= 0.0:
    raise ValueError(f"{name}: expected a positive definite matrix")
  return matrix


def _log_det(matrix):
  return float(np.linalg.slogdet(matrix)[1])


def check_linear_gaussian(weight, data_covariance, noise_covariance):
  """Validates (W [d, p], Sx [p, p], S [d, d]) and returns them as float64 arrays."""
  weight = np.asarray(weight, dtype=np.float64)
  if weight.ndim != 2 or min(weight.shape) < 1 or not np.all(np.isfinite(weight)):
    raise ValueError(f"weight: expected a finite [latent_dim, data_dim] matrix, got shape "
                     f"{weight.shape}")
  latent_dim, data_dim = weight.shape
  data_covariance = _check_square(data_covariance, "data_covariance", data_dim)
  noise_covariance = _check_square(noise_covariance, "noise_covariance", latent_dim)
  return weight, data_covariance, noise_covariance


def aggregate_covariance(weight, data_covariance, noise_covariance):
  """C = W Sx W^T + S, the covariance of the aggregate posterior q(z); [d, d]."""
  weight, data_covariance, noise_covariance = check_linear_gaussian(
      weight, data_covariance, noise_covariance)
  return weight @ data_covariance @ weight.T + noise_covariance


def _schur_log_variances(matrix):
  """log Var(v_i | v_{-i}) for v ~ N(0, matrix), per i; [d]."""
  size = matrix.shape[0]
  if size == 1:
    return np.log(np.diagonal(matrix))
  log_det = _log_det(matrix)
  return np.array([log_det - _log_det(np.delete(np.delete(matrix, i, 0), i, 1))
                   for i in range(size)])


def mutual_information_per_latent(weight, data_covariance, noise_covariance):
  """I(x; z_i) = 1/2 log(C_ii / S_ii) for each latent; [d] nats."""
  covariance = aggregate_covariance(weight, data_covariance, noise_covariance)
  noise_covariance = np.asarray(noise_covariance, dtype=np.float64)
  return 0.5 * np.log(np.diagonal(covariance) / np.diagonal(noise_covariance))


def mutual_information_joint(weight, data_covariance, noise_covariance):
  """I(x; z) = 1/2 (log det C - log det S); nats."""
  covariance = aggregate_covariance(weight, data_covariance, noise_covariance)
  return 0.5 * (_log_det(covariance) - _log_det(np.asarray(noise_covariance, np.float64)))


def total_correlation(covariance):
  """TC of N(0, covariance) = 1/2 (sum_i log covariance_ii - log det covariance); nats."""
  covariance = _check_square(covariance, "covariance")
  return 0.5 * (float(np.sum(np.log(np.diagonal(covariance)))) - _log_det(covariance))


def aggregate_total_correlation(weight, data_covariance, noise_covariance):
  """TC(q(z)) of the Gaussian aggregate N(0, C); nats."""
  return total_correlation(aggregate_covariance(weight, data_covariance, noise_covariance))


def conditional_total_correlation(noise_covariance):
  """CTC = TC(q(z|x)) = -1/2 log det corr(S), the same for every x; nats."""
  return total_correlation(noise_covariance)


def conditional_mutual_information(weight, data_covariance, noise_covariance):
  """I(x; z_i | z_{-i}) = 1/2 log(Var(z_i|z_{-i}) / Var(z_i|z_{-i}, x)) per latent; [d] nats.

  With a single latent there is nothing to condition on and this is I(x; z_1).
  """
  covariance = aggregate_covariance(weight, data_covariance, noise_covariance)
  noise_covariance = np.asarray(noise_covariance, dtype=np.float64)
  return 0.5 * (_schur_log_variances(covariance) - _schur_log_variances(noise_covariance))


def closed_form_measures(weight, data_covariance, noise_covariance):
  """All closed forms under the keys that `mi_measures` and `mi_invariance` report.

  Returns:
    dict of floats: `mi_per_latent_<i>`, `mi_sum`, `mi_joint`, `aggregate_tc`,
    `conditional_tc`, `identity_gap` (0 up to rounding), `mi_invariance_mean_<i>` (the
    conditional MI), `mi_invariance_std_<i>` (0), `conditional_mi_sum` and `violation` (0).
  """
  per_latent = mutual_information_per_latent(weight, data_covariance, noise_covariance)
  conditional = conditional_mutual_information(weight, data_covariance, noise_covariance)
  mi_joint = mutual_information_joint(weight, data_covariance, noise_covariance)
  aggregate_tc = aggregate_total_correlation(weight, data_covariance, noise_covariance)
  conditional_tc = conditional_total_correlation(noise_covariance)
  result = {f"mi_per_latent_{i}": float(value) for i, value in enumerate(per_latent)}
  result.update(mi_sum=float(np.sum(per_latent)), mi_joint=mi_joint, aggregate_tc=aggregate_tc,
                conditional_tc=conditional_tc,
                identity_gap=(float(np.sum(per_latent)) - mi_joint) - (aggregate_tc
                                                                      - conditional_tc))
  for i, value in enumerate(conditional):
    result[f"mi_invariance_mean_{i}"] = float(value)
    result[f"mi_invariance_std_{i}"] = 0.0
  result.update(conditional_mi_sum=float(np.sum(conditional)), violation=0.0)
  return result


def weight_for_mutual_information(directions, data_covariance, noise_covariance, target):
  """Rescales each row w_i of `directions` so that I(x; z_i) equals target[i].

  I(x; z_i) = 1/2 log(1 + w_i^T Sx w_i / S_ii), so the row needs w_i^T Sx w_i =
  S_ii (exp(2 target_i) - 1).

  Args:
    directions: [d, p] rows with w_i^T Sx w_i > 0.
    data_covariance: Sx [p, p].
    noise_covariance: S [d, d].
    target: [d] positive nats.

  Returns:
    W [d, p] float64.
  """
  directions, data_covariance, noise_covariance = check_linear_gaussian(
      directions, data_covariance, noise_covariance)
  target = np.asarray(target, dtype=np.float64)
  if target.shape != (directions.shape[0],) or not np.all(target > 0):
    raise ValueError(f"target: expected {directions.shape[0]} positive values, got {target}")
  signal = np.einsum("ip,pq,iq->i", directions, data_covariance, directions)
  if not np.all(signal > 0):
    raise ValueError("directions: expected rows with positive variance under data_covariance")
  wanted = np.diagonal(noise_covariance) * np.expm1(2.0 * target)
  return directions * np.sqrt(wanted / signal)[:, None]


def linear_gaussian_posteriors(data, weight, noise_covariance):
  """The encoder's posteriors at data points x_n: mean = x_n W^T, covariance = S for every n.

  Args:
    data: [N, p] points.
    weight: [d, p].
    noise_covariance: [d, d].

  Returns:
    (mean [N, d], covariance [N, d, d]) float64.
  """
  data = np.asarray(data, dtype=np.float64)
  weight = np.asarray(weight, dtype=np.float64)
  if data.ndim != 2 or weight.ndim != 2 or data.shape[1] != weight.shape[1]:
    raise ValueError(f"data: expected shape [N, {weight.shape[-1]}] to match weight "
                     f"{weight.shape}, got {data.shape}")
  noise_covariance = _check_square(noise_covariance, "noise_covariance", weight.shape[0])
  mean = data @ weight.T
  covariance = np.broadcast_to(noise_covariance, (data.shape[0],) + noise_covariance.shape)
  return mean, covariance.copy()
