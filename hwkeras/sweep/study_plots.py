"""The study's pictures, from a sweep's results.csv (Locatello et al., ICML 2019):

- per metric, the distribution of its score over seeds for each setting (a method and one value of
  its hyperparameters), the methods side by side (their Figure 7's layout: what the seed does
  against what the method and its hyperparameter do);
- the Spearman rank correlation between every two scores across the finished trials (their
  Figure 2: do the metrics agree on which models are disentangled?).

The sweep's page draws them (hwkeras.report.sweep); the rank correlations are
``hwkeras.sweep.selection.spearman``, the sweep's one rank correlation.
"""

from hwkeras.figures import pyplot
from hwkeras.files import csv_number


def default_label(row):
    """A setting as its tick shows it: the configuration without its model, ``beta-vae-beta=4`` -> ``beta=4``."""
    configuration, model = row.get("configuration", ""), row.get("model", "")
    rest = configuration[len(model) + 1:] if model and configuration.startswith(model + "-") else ""
    return rest.replace("-", " ") or configuration


def setting_groups(rows, column, label=default_label):
    """[(model, [(setting label, [finished trials' values of ``column``]), ...]), ...] in the rows' order.

    ``rows``: results.csv's rows (strings); a trial that did not finish, or has no number in
    ``column``, is left out; a setting with no value keeps its place (an empty box)."""
    groups = {}
    for row in rows:
        settings = groups.setdefault(row.get("model", ""), {})
        values = settings.setdefault(row.get("configuration", ""), (label(row), []))[1]
        value = csv_number(row.get(column)) if row.get("status") == "finished" else None
        if value is not None:
            values.append(value)
    return [(model, list(settings.values())) for model, settings in groups.items()]


def distribution_plot(rows, column, path, label=default_label, dpi=90):
    """Box plots of ``column`` over each setting's seeds, one colour per model, every seed as a dot.

    Returns the number of values drawn; ``path``: a file name or a binary file object."""
    groups = setting_groups(rows, column, label)
    settings = sum(len(s) for _, s in groups)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(min(max(6.4, 0.32 * settings + 2.0), 24.0), 4.2), dpi=dpi)
    colours = plt.get_cmap("tab10")
    position, ticks, names, drawn = 0, [], [], 0
    for index, (model, model_settings) in enumerate(groups):
        colour = colours(index % 10)
        first = position
        for name, values in model_settings:
            position += 1
            ticks.append(position)
            names.append(name)
            if not values:
                continue
            drawn += len(values)
            ax.boxplot([values], positions=[position], widths=0.6, showfliers=False,
                       boxprops={"color": colour}, whiskerprops={"color": colour}, capprops={"color": colour},
                       medianprops={"color": "black"})
            # The seeds themselves, spread a little sideways (the same spread each time the page is drawn).
            spread = [position + 0.25 * ((i * 0.618) % 1.0 - 0.5) for i in range(len(values))]
            ax.scatter(spread, values, s=10, color=colour, alpha=0.7, zorder=3)
        if model_settings:
            ax.axvspan(first + 0.5, position + 0.5, color=colour, alpha=0.06)
            ax.text((first + position + 1) / 2, 1.01, model, transform=ax.get_xaxis_transform(), ha="center",
                    va="bottom", fontsize=8, color=colour)
        position += 0.5  # a gap between methods
    ax.set_xticks(ticks)
    ax.set_xticklabels(names, rotation=60, ha="right", fontsize=7)
    ax.set_xlim(0.3, max(position, 1) + 0.2)
    ax.set_ylabel(column)
    ax.grid(axis="y", alpha=0.3)
    if not drawn:
        ax.text(0.5, 0.5, f"no finished trial has {column}", ha="center", va="center", transform=ax.transAxes,
                fontsize=9)
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return drawn


def rank_correlations(rows, columns):
    """{"columns", "rho", "n"}: Spearman's rank correlation of every two ``columns`` across the
    finished trials that have both (pairwise complete); rho None when undefined (fewer than 3 pairs,
    or one side constant), the diagonal 1 wherever the column has such values."""
    from hwkeras.sweep.selection import spearman

    done = [r for r in rows if r.get("status") == "finished"]
    values = {c: [csv_number(r.get(c)) for r in done] for c in columns}
    rho = [[None] * len(columns) for _ in columns]
    n = [[0] * len(columns) for _ in columns]
    for i, a in enumerate(columns):
        for j, b in enumerate(columns[i:], start=i):
            result = spearman(values[a], values[b])
            rho[i][j] = rho[j][i] = result["rho"]
            n[i][j] = n[j][i] = result["n"]
    return {"columns": list(columns), "rho": rho, "n": n}


def rank_correlation_plot(correlations, path, dpi=90):
    """The matrix of ``rank_correlations`` as a heat map, each cell's rho written in it (blank: undefined)."""
    columns, rho = correlations["columns"], correlations["rho"]
    size = len(columns)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(max(4.0, 0.75 * size + 2.2), max(3.4, 0.65 * size + 1.6)), dpi=dpi)
    grid = [[float("nan") if v is None else v for v in line] for line in rho]
    image = ax.imshow(grid, cmap="RdBu_r", vmin=-1.0, vmax=1.0)
    for i in range(size):
        for j in range(size):
            if rho[i][j] is not None:
                ax.text(j, i, f"{rho[i][j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if abs(rho[i][j]) > 0.6 else "black")
    ax.set_xticks(range(size))
    ax.set_yticks(range(size))
    ax.set_xticklabels(columns, rotation=45, ha="right", fontsize=7)
    ax.set_yticklabels(columns, fontsize=7)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Spearman rho")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
