"""The statistical tests of a study, computed from results.csv rows.

They test the paper's claim that disentanglement declines as the posterior's conditional
independence is violated:
  * Spearman rank correlation of rho with each main metric, over factorized (rho = 0) and
    correlated_noise runs, pooled and per model and per encoder (p-value exact by
    permutation up to 8 runs, else scipy's t approximation);
  * two-sided Mann-Whitney U of factorized against each other posterior family/parameter,
    pooled and per model; split against shared encoder where both ran; and, with more
    than one model, each model against each other one, pooled and per posterior;
  * Spearman rank correlation, over all runs, of the MI-invariance violation and the
    conditional TC with each disentanglement metric.
In a study that sweeps settings, every test is also computed within each swept value (groups
such as `beta_vae.beta=4`), and the Spearman rank correlation of each numeric swept setting
with each metric, over all its runs and per posterior, says how the setting itself matters.
p-values are per test, not corrected for the number of tests.
"""
import math
import warnings

import numpy as np
from scipy import stats

from studies.report import table

# Up to this many runs the p-value of a rank correlation is exact (all n! pairings, 40,320 at
# 8); beyond it, scipy's t approximation, which at small n is far off (n = 3 with a perfect
# rank correlation gives p = 0 instead of the exact 1/3).
EXACT_SPEARMAN_MAX_N = 8


def _spearman_exact_p_value(x, y):
  """Two-sided permutation p-value of a rank correlation (ties as average ranks).

  The share of the n! pairings of x with y whose rank correlation is at least as far from 0 as
  the observed one.
  """
  rank_x = stats.rankdata(x) - (x.size + 1) / 2.0
  rank_y = stats.rankdata(y) - (y.size + 1) / 2.0

  # Every pairing has the same rank norms, so |covariance| orders them like |correlation|; the
  # centred ranks are multiples of 1/2, so the sums are exact and ties compare exactly.
  def distance_from_zero(paired_y, axis):
    return np.abs(np.sum(paired_y * rank_x, axis=axis))

  # alternative="two-sided" would double the smaller tail instead; that is the same when the
  # null distribution is symmetric, but not when both x and y have ties (e.g. rho against a
  # metric with equal values), so the one-sided test of the distance keeps the definition.
  test = stats.permutation_test((rank_y,), distance_from_zero, permutation_type="pairings",
                                vectorized=True, n_resamples=np.inf, alternative="greater")
  return float(test.pvalue)


def spearman(x, y):
  """{n, spearman_rho, p_value, p_method} of paired samples (or a note why there is none)."""
  x, y = np.asarray(x, float), np.asarray(y, float)
  result = {"n": int(x.size), "spearman_rho": None, "p_value": None}
  if x.size < 3:
    result["note"] = "fewer than 3 runs"
  elif np.ptp(x) == 0 or np.ptp(y) == 0:
    result["note"] = "constant input"
  else:
    test = stats.spearmanr(x, y)
    result["spearman_rho"] = float(test.statistic)
    if x.size <= EXACT_SPEARMAN_MAX_N:
      result["p_value"] = _spearman_exact_p_value(x, y)
      result["p_method"] = "exact permutation"
    else:
      result["p_value"] = float(test.pvalue)
      result["p_method"] = "t approximation"
  return result


def _spearman_of_columns(frame, x_column, y_column):
  """`spearman` of two columns over the rows where both are finite."""
  values = frame[[x_column, y_column]].to_numpy(dtype=float)
  kept = values[np.isfinite(values).all(axis=1)]
  return spearman(kept[:, 0], kept[:, 1])


def mann_whitney(a, b):
  """Two-sided Mann-Whitney U of sample a (factorized / shared) against sample b."""
  a, b = np.asarray(a, float), np.asarray(b, float)
  result = {"n_a": int(a.size), "n_b": int(b.size), "u": None, "p_value": None,
            "prob_a_greater": None,
            "median_a": float(np.median(a)) if a.size else None,
            "median_b": float(np.median(b)) if b.size else None}
  if a.size and b.size:
    with warnings.catch_warnings():
      warnings.simplefilter("ignore", RuntimeWarning)
      test = stats.mannwhitneyu(a, b, alternative="two-sided")
    result["u"] = float(test.statistic)
    result["p_value"] = None if math.isnan(test.pvalue) else float(test.pvalue)
    # U counts pairs with a > b (ties half): U / (n_a n_b) is P(a > b) + P(a = b) / 2.
    result["prob_a_greater"] = float(test.statistic) / (a.size * b.size)
  else:
    result["note"] = "a sample is empty"
  return result


def compute_statistics(rows, metrics):
  """Tests of the claim, from results.csv rows (see the module docstring).

  Returns:
    {"spearman": {metric: {group: {n, spearman_rho, p_value}}},
     "mann_whitney": {metric: {posterior_label: {group: {n_a, n_b, u, p_value, ...}}}},
     "encoders": {metric: {"SHARED vs SPLIT[, SWEEP GROUP]": {n_a, n_b, u, p_value, ...}}},
     "models": {metric: {"A vs B": {"all" or "posterior=LABEL": {n_a, n_b, u, ...}}}}
       (only with more than one model; A before B in name order),
     "mi_vs_metrics": {mi_measure: {metric: {n, spearman_rho, p_value}}}}
    where sample a is factorized (resp. the shared encoder), and mi_vs_metrics ranks every run
    (all posteriors) by an MI measure against a disentanglement metric. Groups are "all",
    "model=M", "encoder=E" and, with sweeps, "BINDING=VALUE". A study with sweeps also has
    "mi_vs_metrics_by_sweep": {sweep group: {mi_measure: {metric: ...}}} and
    "sweeps": {metric: {binding: {"all" or "posterior=LABEL": {n, spearman_rho, p_value}}}}
    for the numeric swept settings with more than one value. Missing or NaN values are
    dropped.
  """
  frame = table.as_frame(rows, metrics)
  mi_metrics, other_metrics = table.mi_and_disentanglement_metrics(metrics)

  def mi_against_metrics(members):
    return {mi_metric: {metric: _spearman_of_columns(members, mi_metric, metric)
                        for metric in other_metrics}
            for mi_metric in mi_metrics}

  statistics = {"spearman": {}, "mann_whitney": {}, "encoders": {},
                "mi_vs_metrics": mi_against_metrics(frame)}
  sweep_groups = table.sweep_groups(frame)
  rho_frame = frame[frame["posterior"].isin(("factorized", "correlated_noise"))]
  model_groups = table.groups(frame, keys=("model",)) + sweep_groups
  rho_groups = table.groups(rho_frame) + table.sweep_groups(rho_frame)
  other_labels = [label for label in frame["posterior_label"].cat.categories
                  if label != "factorized"]
  encoders = sorted(frame["encoder"].unique())
  encoder_pairs = [(e[:-len("_split")], e) for e in encoders
                   if e.endswith("_split") and e[:-len("_split")] in encoders]
  for metric in metrics:
    statistics["spearman"][metric] = {
        group: _spearman_of_columns(members, "rho", metric) for group, members in rho_groups}
    statistics["mann_whitney"][metric] = {
        label: {group: mann_whitney(
                    table.finite(members, metric, posterior_label="factorized"),
                    table.finite(members, metric, posterior_label=label))
                for group, members in model_groups}
        for label in other_labels}
    statistics["encoders"][metric] = {
        f"{shared} vs {split}" + (f", {group}" if group != "all" else ""): mann_whitney(
            table.finite(members, metric, encoder=shared),
            table.finite(members, metric, encoder=split))
        for group, members in [("all", frame)] + sweep_groups
        for shared, split in encoder_pairs}
  models = sorted(frame["model"].unique())
  if len(models) > 1:
    posterior_groups = [("all", frame)]
    if frame["posterior_label"].nunique() > 1:
      posterior_groups += [(f"posterior={label}", members) for label, members
                           in frame.groupby("posterior_label", observed=True)]
    statistics["models"] = {
        metric: {f"{first} vs {second}": {
                     group: mann_whitney(table.finite(members, metric, model=first),
                                         table.finite(members, metric, model=second))
                     for group, members in posterior_groups}
                 for i, first in enumerate(models) for second in models[i + 1:]}
        for metric in metrics}
  if sweep_groups:
    statistics["mi_vs_metrics_by_sweep"] = {group: mi_against_metrics(members)
                                            for group, members in sweep_groups}
    statistics["sweeps"] = _sweep_correlations(frame, metrics)
  return statistics


def _sweep_correlations(frame, metrics):
  """Spearman of each numeric swept setting (more than one value) with each metric."""
  correlations = {metric: {} for metric in metrics}
  for column in table.frame_sweep_columns(frame):
    values = table.sweep_values(frame, column)
    if len(values) < 2 or any(table.sweep_order(v)[0] for v in values):
      continue
    swept = frame[frame[column].astype(str) != ""].copy()
    swept["_value"] = swept[column].astype(str).astype(float)
    posterior_groups = [(f"posterior={label}", members) for label, members
                        in swept.groupby("posterior_label", observed=True)]
    for metric in metrics:
      correlations[metric][column[len(table.SWEEP_PREFIX):]] = {
          group: _spearman_of_columns(members, "_value", metric)
          for group, members in [("all", swept)] + posterior_groups}
  return correlations


def json_safe(obj):
  """obj with every non-finite float as None, for JSON (which has no NaN)."""
  if isinstance(obj, dict):
    return {k: json_safe(v) for k, v in obj.items()}
  if isinstance(obj, (list, tuple)):
    return [json_safe(v) for v in obj]
  if isinstance(obj, float) and not math.isfinite(obj):
    return None
  return obj
