"""matplotlib figures of the reports: the training curves (a sweep's trade-off plot: hwkeras.sweep.tradeoff).

The Agg backend draws without a display; every function saves to a path or a file object and
closes its figure.
"""

import math

from hwkeras.figures import pyplot as _pyplot

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
