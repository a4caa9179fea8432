"""Unsupervised model selection: UDR over a sweep's trials, and how far it agrees with the labels.

UDR (Duan et al., ICLR 2020; ``hwkeras.metrics.udr``, equal to disentanglement_lib's) scores a
model by how well its latents match, one to one, those of other models. As in the paper:

- ``udr_lasso`` / ``udr_spearman``: each trial against the other seeds of its configuration
  (same model and hyperparameters): the median of its pairwise scores. Needs 2 seeds or more.
- ``udr_a2a_lasso`` / ``udr_a2a_spearman``: "all-to-all", each trial against every other
  finished trial of the sweep, whatever its model and hyperparameters.

dlib's ``evaluation/udr/evaluate.py`` scores exactly the models it is handed; which models are
compared is the caller's choice, and the two choices above are the paper's. Every trial's codes
are of the same images (``measure.UDR_SETTINGS``), so ``udr_from_codes`` on them equals
``compute_udr`` on the models together.

Selection picks the trial with the highest score of one UDR column (and the configuration with
the highest mean over its seeds). Agreement with the supervised metrics is reported as Spearman
rank correlations across trials and across configurations, and as the chosen trial's rank under
each metric.
"""

import math

import numpy as np

from hwkeras.files import csv_number
from hwkeras.runs.layout import SELECTION  # noqa: F401 - selection.json, named by the layout
from hwkeras.sweep.results import UDR_COLUMNS


def udr_scores(codes, groups, seed=0):
    """``codes``: trial name -> (codes (n, d), kl (d,)); ``groups``: trial name -> configuration.

    Returns trial name -> {UDR column: score}; a trial alone in its configuration gets no
    ``udr_lasso``/``udr_spearman``, and a sweep of one trial no UDR at all.
    """
    from hwkeras.metrics.udr import udr_from_codes

    names = [n for n in codes if _finite_codes(*codes[n])]
    scores = {name: {} for name in codes}

    def score(members, prefix):
        if len(members) < 2:
            return
        for variant in ("lasso", "spearman"):
            result = udr_from_codes([codes[m][0] for m in members], [codes[m][1] for m in members],
                                    np.random.RandomState(seed), correlation_matrix=variant,
                                    include_raw_correlations=False)
            for member, value in zip(members, result["model_scores"]):
                scores[member][f"{prefix}{variant}"] = value

    for configuration in dict.fromkeys(groups[n] for n in names):
        score([n for n in names if groups[n] == configuration], "udr_")
    score(names, "udr_a2a_")
    return scores


def _finite_codes(codes, kl):
    return bool(np.all(np.isfinite(codes)) and np.all(np.isfinite(kl)))


def spearman(xs, ys):
    """{"rho", "p", "n"} of the pairs where both are numbers; rho None when undefined."""
    from scipy import stats

    pairs = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None]
    if len(pairs) < 3 or len({p[0] for p in pairs}) < 2 or len({p[1] for p in pairs}) < 2:
        return {"rho": None, "p": None, "n": len(pairs)}
    result = stats.spearmanr([p[0] for p in pairs], [p[1] for p in pairs])
    rho, p = float(result.statistic), float(result.pvalue)
    return {"rho": rho if math.isfinite(rho) else None, "p": p if math.isfinite(p) else None, "n": len(pairs)}


def select(rows, summary_rows, by, metric_columns):
    """The selection record (selection.json): the chosen trial and configuration, and the agreement.

    ``rows`` / ``summary_rows``: results.csv and summary.csv rows (strings); ``by``: a UDR column;
    ``metric_columns``: the supervised ``<protocol>.<metric>`` columns (higher is better).
    """
    if by not in UDR_COLUMNS:
        raise ValueError(f"cannot select by {by!r}; use one of {', '.join(UDR_COLUMNS)}")
    done = [r for r in rows if r.get("status") == "finished"]
    scored = [r for r in done if csv_number(r.get(by)) is not None]
    if not scored:
        need = "2 finished seeds in a configuration" if not by.startswith("udr_a2a") else "2 finished trials"
        raise ValueError(f"no trial has a {by} score (UDR needs {need}); see results.csv")
    chosen = max(scored, key=lambda r: csv_number(r[by]))  # the first of equals, in the sweep's order
    configurations = [s for s in summary_rows if csv_number(s.get(f"{by}_mean")) is not None]
    best_configuration = max(configurations, key=lambda s: csv_number(s[f"{by}_mean"])) if configurations else None

    agreement = {}
    for metric in metric_columns:
        values = [csv_number(r.get(metric)) for r in done]
        ranked = sorted((v for v in values if v is not None), reverse=True)
        value = csv_number(chosen.get(metric))
        best = max((r for r in done if csv_number(r.get(metric)) is not None),
                   key=lambda r: csv_number(r[metric]), default=None)
        agreement[metric] = {
            "trials": spearman([csv_number(r.get(by)) for r in done], values),
            "configurations": spearman([csv_number(s.get(f"{by}_mean")) for s in summary_rows],
                                       [csv_number(s.get(f"{metric}_mean")) for s in summary_rows]),
            "chosen_value": value,
            # 1 = the best trial under this metric; ties share the better rank.
            "chosen_rank": (1 + sum(v > value for v in ranked)) if value is not None else None,
            "trials_ranked": len(ranked),
            "best_trial": best["trial"] if best else None,
            "best_value": csv_number(best[metric]) if best else None,
        }
    return {
        "by": by,
        "trial": chosen["trial"],
        "configuration": chosen["configuration"],
        "score": csv_number(chosen[by]),
        "run_dir": chosen.get("run_dir"),
        "reconstruction_nll": csv_number(chosen.get("reconstruction_nll")),
        "best_configuration": best_configuration and {
            "configuration": best_configuration["configuration"],
            f"{by}_mean": csv_number(best_configuration[f"{by}_mean"]),
            "n": int(best_configuration.get("n") or 0)},
        "agreement": agreement,
        "trials_scored": len(scored),
    }


def describe(selection):
    """Lines for the terminal: the choice, then its agreement with each supervised metric."""
    lines = [f"Selected by {selection['by']}: {selection['trial']} ({selection['by']} {selection['score']:.4f}; "
             f"{selection['run_dir']})"]
    best = selection.get("best_configuration")
    if best:
        lines.append(f"Best configuration by mean {selection['by']}: {best['configuration']} "
                     f"({best[selection['by'] + '_mean']:.4f} over {best['n']} seeds)")
    for metric, a in selection["agreement"].items():
        def rho(r):
            return "n/a" if r["rho"] is None else f"{r['rho']:+.2f} (n={r['n']})"

        rank = "" if a["chosen_rank"] is None else (f"; the chosen trial ranks {a['chosen_rank']} of "
                                                     f"{a['trials_ranked']} ({a['chosen_value']:.4f}, best "
                                                     f"{a['best_value']:.4f}: {a['best_trial']})")
        lines.append(f"  {metric}: Spearman rho with {selection['by']} across trials {rho(a['trials'])}, "
                     f"across configurations {rho(a['configurations'])}{rank}")
    return lines
