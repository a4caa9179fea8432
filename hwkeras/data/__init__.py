"""Datasets: the ground-truth factor API, procedural datasets and the tf.data pipeline."""

from hwkeras.data.correlated_ellipses import CorrelatedEllipses
from hwkeras.data.ground_truth import GroundTruthData, as_random_state
from hwkeras.data.pipeline import procedural_batches

#: name -> (class, one-line description). Names are what ``hwkeras fit --dataset`` accepts.
DATASETS = {
    "correlated-ellipses": (CorrelatedEllipses, "procedural ellipses with correlated factors (built in)"),
}


def get_dataset(name, **options):
    """The dataset registered under ``name``; ValueError naming the known ones otherwise."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(sorted(DATASETS))}")
    return DATASETS[name][0](**options)


__all__ = [
    "CorrelatedEllipses",
    "DATASETS",
    "GroundTruthData",
    "as_random_state",
    "get_dataset",
    "procedural_batches",
]
