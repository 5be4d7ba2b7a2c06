"""The study's plots: each metric against rho, bars per posterior, MI measures against metrics.

Drawn on matplotlib `Figure`s directly (no pyplot), so no backend or global state is involved.
Lines and bars show the mean over seeds of the finite values, with their standard deviation
(ddof 1; 0 for a single seed) as error bar.
"""
import math
import os

from matplotlib.figure import Figure
import numpy as np

from common.io_utils import atomic_write
from studies.report import table


def _figure(rows, cols, width=4.0, height=3.2, extra_width=0.0):
  figure = Figure(figsize=(width * cols + extra_width, height * rows), layout="constrained")
  axes = figure.subplots(rows, cols, squeeze=False)
  return figure, axes


def _save(figure, path):
  with atomic_write(path, mode="wb") as f:
    figure.savefig(f, format="png", dpi=100)


def _legend(ax, **kwargs):
  if ax.get_legend_handles_labels()[0]:  # a panel without data gets none
    ax.legend(**kwargs)


def _mean_std(values):
  if not values.size:
    return float("nan"), float("nan")
  return float(np.mean(values)), float(np.std(values, ddof=1)) if values.size > 1 else 0.0


def _panels(frame):
  """[(title, rows, grid row, grid column)]: a panel per model side by side, or with swept
  settings a row of panels per model, one per combination of its swept values."""
  sweeps = table.frame_sweep_columns(frame)
  panels = []
  for model_index, model in enumerate(sorted(frame["model"].unique())):
    members = frame[frame["model"] == model]
    if not sweeps:
      panels.append((model, members, 0, model_index))
      continue
    combos = members[sweeps].astype(str).drop_duplicates()
    combos = sorted((tuple(c) for c in combos.itertuples(index=False)),
                    key=lambda c: [table.sweep_order(v) for v in c])
    for column_index, combo in enumerate(combos):
      chosen = members
      for column, value in zip(sweeps, combo):
        chosen = chosen[chosen[column].astype(str) == value]
      shown = ", ".join(f"{c[len(table.SWEEP_PREFIX):]} = {v}" for c, v in zip(sweeps, combo)
                        if v)
      panels.append((f"{model}, {shown}" if shown else model, chosen, model_index,
                     column_index))
  return panels


def plot_metric_against_rho(frame, metric, path):
  """Per model (and per swept value) a panel; per encoder a line of mean +- std over seeds
  against rho.

  Families without a rho (full covariance, low rank) stand to the right of rho = 1. With swept
  settings every model is a row of panels, one per combination of its swept values.
  """
  encoders = sorted(frame["encoder"].unique())
  labels = list(frame["posterior_label"].cat.categories)
  rho_labels = [l for l in labels if table.has_rho(l)]
  other_labels = [l for l in labels if l not in rho_labels]
  rho_of = dict(zip(frame["posterior_label"], frame["rho"]))
  position = {l: rho_of[l] for l in rho_labels}
  position.update({l: 1.15 + 0.2 * k for k, l in enumerate(other_labels)})
  panels = _panels(frame)
  figure, axes = _figure(max(p[2] for p in panels) + 1, max(p[3] for p in panels) + 1)
  places = [axes[row][column] for _, _, row, column in panels]
  for ax in axes.flat:
    ax.set_visible(any(ax is place for place in places))
  for ax, (title, members, _, _) in zip(places, panels):
    for index, encoder in enumerate(encoders):
      offset = (index - (len(encoders) - 1) / 2) * 0.015  # keep error bars apart
      labelled = False
      for family in (rho_labels, other_labels):
        xs, means, stds = [], [], []
        for label in family:
          mean, std = _mean_std(table.finite(members, metric, encoder=encoder,
                                             posterior_label=label))
          if np.isfinite(mean):
            xs.append(position[label] + offset), means.append(mean), stds.append(std)
        if xs:
          ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3,
                      linestyle="-" if family is rho_labels else "none",
                      color=f"C{index}", label=None if labelled else encoder)
          labelled = True
    ax.set_xticks([position[l] for l in labels],
                  [f"{rho_of[l]:g}" if l in rho_labels else
                   l.replace("_covariance", "").replace("_", " ") for l in labels], fontsize=8)
    ax.set_xlabel("rho (correlated noise; 0 = factorized)")
    ax.set_title(title)
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    _legend(ax, fontsize=8)
  _save(figure, path)


def plot_bars_per_posterior(frame, metrics, series, path):
  """Per metric a panel: bars per posterior family/parameter, one bar per value of `series`.

  `series` is a column ("model", "encoder", or a sweep column, whose runs are then drawn by
  value); runs that differ only in the other columns are pooled.
  """
  labels = list(frame["posterior_label"].cat.categories)
  if series.startswith(table.SWEEP_PREFIX):  # a swept setting: its runs, by value
    frame = frame[frame[series].astype(str) != ""]
    names = table.sweep_values(frame, series)
    shown = {name: f"{series[len(table.SWEEP_PREFIX):]} = {name}" for name in names}
  else:
    names = sorted(frame[series].unique())
    shown = {name: name for name in names}
  width = 0.8 / max(len(names), 1)
  cols = min(3, len(metrics))
  figure, axes = _figure(math.ceil(len(metrics) / cols), cols)
  for ax, metric in zip(axes.flat, metrics):
    for index, name in enumerate(names):
      means, stds = zip(*(_mean_std(table.finite(frame, metric, posterior_label=label,
                                                 **{series: name})) for label in labels))
      xs = np.arange(len(labels)) + (index - (len(names) - 1) / 2) * width
      ax.bar(xs, means, width=width, yerr=stds, capsize=2, label=shown[name],
             color=f"C{index}")
    ax.set_xticks(np.arange(len(labels)), labels, rotation=30, ha="right", fontsize=7)
    ax.set_title(metric, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    _legend(ax, fontsize=7)
  for ax in list(axes.flat)[len(metrics):]:
    ax.set_visible(False)
  _save(figure, path)


def plot_mi_against_disentanglement(frame, mi_metrics, other_metrics, path):
  """Scatter of every run: MI measure (rows) against disentanglement metric (columns)."""
  # Extra width for the legend outside the panels.
  figure, axes = _figure(len(mi_metrics), len(other_metrics), width=3.4, height=3.0,
                         extra_width=2.5)
  labels = list(frame["posterior_label"].cat.categories)
  encoders = sorted(frame["encoder"].unique())
  markers = "os^vDP*X"
  for i, mi_metric in enumerate(mi_metrics):
    for j, metric in enumerate(other_metrics):
      ax = axes[i][j]
      both = frame[np.isfinite(frame[metric].to_numpy(float))
                   & np.isfinite(frame[mi_metric].to_numpy(float))]
      for k, label in enumerate(labels):
        for e, encoder in enumerate(encoders):
          kept = both[(both["posterior_label"] == label) & (both["encoder"] == encoder)]
          if len(kept):
            ax.scatter(kept[metric].to_numpy(float), kept[mi_metric].to_numpy(float), s=18,
                       color=f"C{k}", marker=markers[e % len(markers)],
                       label=f"{label} / {encoder}" if i == 0 and j == 0 else None)
      ax.set_xlabel(metric, fontsize=8)
      ax.set_ylabel(mi_metric, fontsize=8)
      ax.grid(alpha=0.3)
  if mi_metrics and other_metrics:
    figure.legend(loc="outside right upper", fontsize=7)
  _save(figure, path)


def write_plots(rows, metrics, plots_dir):
  """Draws every plot for the main metrics; returns the files written (relative names)."""
  os.makedirs(plots_dir, exist_ok=True)
  written = []
  if not rows or not metrics:
    return written
  frame = table.as_frame(rows, metrics)

  def draw(name, plot, *args):
    plot(frame, *args, os.path.join(plots_dir, name))
    written.append(name)

  for metric in metrics:
    draw(f"rho_{metric.replace('.', '_')}.png", plot_metric_against_rho, metric)
  draw("families.png", plot_bars_per_posterior, metrics, "model")
  if frame["encoder"].nunique() > 1:
    draw("encoders.png", plot_bars_per_posterior, metrics, "encoder")
  for column in table.frame_sweep_columns(frame):
    draw(f"sweep_{column[len(table.SWEEP_PREFIX):].replace('/', '_')}.png",
         plot_bars_per_posterior, metrics, column)
  mi_metrics, other = table.mi_and_disentanglement_metrics(metrics)
  if mi_metrics and other:
    draw("mi_vs_disentanglement.png", plot_mi_against_disentanglement, mi_metrics, other)
  return written
