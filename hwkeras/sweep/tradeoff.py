"""The sweep's trade-off figure (tradeoff.png): a disentanglement metric against the reconstruction
NLL, one point per configuration (mean and sd over seeds). The sweep redraws it as trials finish;
the sweep's report page shows it (hwkeras.report.sweep).
"""

from hwkeras.figures import pyplot
from hwkeras.files import csv_number

#: The trade-off plot's default y-axis: the first of these that summary.csv has.
HEADLINE_METRICS = ("dlib.factor_vae", "chyvae.factor_vae", "dlib.mig", "dlib.dci", "dlib.sap",
                    "dlib.modularity", "dlib.beta_vae")


def choose_metric(summary_header, requested, notes):
    means = [name[: -len("_mean")] for name in summary_header or () if name.endswith("_mean")]
    if requested:
        if requested in means:
            return requested
        notes.append(f"summary.csv has no {requested}_mean column; the trade-off plot uses another metric")
    for name in HEADLINE_METRICS:
        if name in means:
            return name
    return next((name for name in means if "." in name), None)


def tradeoff_plot(summary_rows, metric, path, dpi=90):
    """Disentanglement ``metric`` (mean over seeds) against reconstruction_nll, one colour per model.

    ``summary_rows``: dicts as read from a sweep's summary.csv (``configuration``, ``model``,
    ``<metric>_mean``, ``<metric>_sd``, ``reconstruction_nll_mean``, ``reconstruction_nll_sd``);
    error bars are the sample sd over seeds (absent when n < 2). Rows without both means are
    left out. Returns ``path`` (a file name or a binary file object).
    """
    plt = pyplot()
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
