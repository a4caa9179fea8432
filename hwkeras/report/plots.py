"""matplotlib figures of the reports: training curves and a sweep's trade-off plot.

The Agg backend draws without a display; every function saves to a path or a file object and
closes its figure.
"""

import math

from hwkeras.files import csv_number


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


#: Curves of at least this many points are drawn raw (thin, light) with their EMA (bold) on top.
SMOOTH_FROM = 10
#: The EMA's time constant, as a fraction of the curve's points (TensorBoard-style, debiased).
SMOOTH_FRACTION = 0.05


def ema(values, fraction=SMOOTH_FRACTION):
    """Exponential moving average over the points in order, time constant ``fraction`` of them
    (at least one point), debiased as TensorBoard's smoothing is (the first point is itself)."""
    weight = 1.0 - 1.0 / max(1.0, fraction * len(values))
    smoothed, last, norm = [], 0.0, 0.0
    for value in values:
        last = weight * last + (1.0 - weight) * value
        norm = weight * norm + (1.0 - weight)
        smoothed.append(last / norm)
    return smoothed


def training_curves(series, path, xlabel="step", panel_width=3.2, panel_height=2.2, dpi=80):
    """One small panel per logged term; ``series``: name -> (x values, values, None where absent).

    Each term gets its own y-axis (the reconstruction is hundreds of nats, a KL term a few). A
    curve of ``SMOOTH_FROM`` points or more is drawn raw (thin, light) with its EMA (``ema``, bold)
    on top; a shorter one as points joined by a line. ``val_<term>`` is drawn dashed in ``<term>``'s panel.
    """
    plt = _pyplot()
    names = [n for n in series if not (n.startswith("val_") and n[len("val_"):] in series)]
    cols = min(3, max(1, len(names)))
    rows = max(1, math.ceil(len(names) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(panel_width * cols, panel_height * rows),
                             squeeze=False, dpi=dpi)
    for ax, name in zip(axes.flat, names):
        labelled = False
        for key, style, label, colour in ((name, "-", "training", "C0"), (f"val_{name}", "--", "validation", "C1")):
            xs, values = series.get(key, ((), ()))
            points = [(x, v) for x, v in zip(xs, values) if v is not None]
            if not points:
                continue
            px, py = [p[0] for p in points], [p[1] for p in points]
            if len(points) >= SMOOTH_FROM:
                ax.plot(px, py, style, color=colour, linewidth=0.6, alpha=0.35)
                ax.plot(px, ema(py), style, color=colour, linewidth=1.8, label=label)
            else:
                ax.plot(px, py, style, color=colour, label=label, linewidth=1.2, marker="o", markersize=3)
            labelled = labelled or key != name
        if labelled:
            ax.legend(fontsize=6)
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    for ax in axes[-1]:
        ax.set_xlabel(xlabel, fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def tradeoff_plot(summary_rows, metric, path, dpi=90):
    """Disentanglement ``metric`` (mean over seeds) against reconstruction_nll, one colour per model.

    ``summary_rows``: dicts as read from a sweep's summary.csv (``configuration``, ``model``,
    ``<metric>_mean``, ``<metric>_sd``, ``reconstruction_nll_mean``, ``reconstruction_nll_sd``);
    error bars are the sample sd over seeds (absent when n < 2). Rows without both means are
    left out. Returns ``path`` (a file name or a binary file object).
    """
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.4), dpi=dpi)
    models = list(dict.fromkeys(row.get("model", "") for row in summary_rows))
    colours = plt.get_cmap("tab10")
    plotted = 0
    for index, model in enumerate(models):
        points = []
        for row in summary_rows:
            if row.get("model", "") != model:
                continue
            x, y = csv_number(row.get("reconstruction_nll_mean")), csv_number(row.get(f"{metric}_mean"))
            if x is None or y is None:
                continue
            points.append((x, y, csv_number(row.get("reconstruction_nll_sd")) or 0.0,
                           csv_number(row.get(f"{metric}_sd")) or 0.0, row.get("configuration", "")))
        if not points:
            continue
        plotted += len(points)
        colour = colours(index % 10)
        ax.errorbar([p[0] for p in points], [p[1] for p in points], xerr=[p[2] for p in points],
                    yerr=[p[3] for p in points], fmt="o", color=colour, capsize=3, label=model)
        for x, y, _, _, name in points:
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color=colour)
    if not plotted:
        ax.text(0.5, 0.5, f"no configuration has both {metric} and reconstruction_nll",
                ha="center", va="center", transform=ax.transAxes, fontsize=9)
    ax.set_xlabel("reconstruction_nll (nats per image, lower is better)")
    ax.set_ylabel(f"{metric} (higher is better)")
    ax.grid(alpha=0.3)
    if plotted:
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
