"""The two MI pictures: binned MI of each latent with each factor, and MI-invariance per latent.

Figures are drawn on `matplotlib.figure.Figure` directly (no pyplot), so nothing here changes
matplotlib's global state.
"""
from matplotlib.figure import Figure
import numpy as np

from evaluation.metrics import utils as metric_utils


def normalized_mi_matrix(codes, factors, num_bins=20):
  """Discretized MI of each code with each factor, divided by the factor's entropy.

  Args:
    codes: [N, d] (posterior means); each column is binned into num_bins equal-width bins.
    factors: [N, F] discrete factor values.

  Returns:
    (normalized [d, F], mi [d, F] nats, entropy [F] nats); a factor that takes a single value
    in the sample (entropy 0) gets a normalized column of zeros.
  """
  mi = metric_utils.discrete_mutual_info(metric_utils.discretize(codes, num_bins), factors)
  entropy = metric_utils.discrete_entropy(factors)
  safe = np.where(entropy > 0, entropy, 1.0)
  return np.where(entropy[None] > 0, mi / safe[None], 0.0), mi, entropy


def plot_mi_matrix(normalized, factor_names, path, num_points, num_bins):
  """Heatmap of normalized [d, F] with factor names on x and z_i on y; written to path (PNG)."""
  latent_dim, num_factors = normalized.shape
  figure = Figure(figsize=(2.5 + 1.0 * num_factors, 1.6 + 0.45 * latent_dim))
  axes = figure.subplots()
  shown = axes.imshow(normalized, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
  for i in range(latent_dim):
    for j in range(num_factors):
      value = normalized[i, j]
      axes.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                color="black" if value > 0.6 else "white")
  axes.set_xticks(range(num_factors), list(factor_names), rotation=30, ha="right")
  axes.set_yticks(range(latent_dim), [f"z_{i}" for i in range(latent_dim)])
  axes.set_xlabel("factor")
  axes.set_ylabel("latent (posterior mean)")
  axes.set_title(f"I(z_i; factor) / H(factor)\n{num_bins}-bin discretized means, "
                 f"N = {num_points}", fontsize=9)
  figure.colorbar(shown, ax=axes, fraction=0.05)
  figure.tight_layout()
  figure.savefig(path, dpi=100)


def plot_mi_invariance(result, latent_dim, path):
  """Bar chart of mean +- std over a of I(x; z_i | z_{-i} = a) per latent; written to path."""
  means = [result[f"mi_invariance_mean_{i}"] for i in range(latent_dim)]
  stds = [result[f"mi_invariance_std_{i}"] for i in range(latent_dim)]
  figure = Figure(figsize=(2.5 + 0.5 * latent_dim, 3.5))
  axes = figure.subplots()
  axes.bar(range(latent_dim), means, yerr=stds, capsize=3, color="tab:blue")
  axes.set_xticks(range(latent_dim), [f"z_{i}" for i in range(latent_dim)])
  axes.set_ylabel("nats")
  axes.set_title("I(x; z_i | z_-i = a): mean and std over values a\n"
                 f"violation = sum std / sum mean = {result['violation']:.3f}", fontsize=9)
  figure.tight_layout()
  figure.savefig(path, dpi=100)
