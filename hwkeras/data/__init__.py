"""Datasets: the ground-truth factor API, procedural and on-disk datasets, the training pipelines.

``get_dataset(name, data_dir=None, image_size=64, **options)`` builds one by its CLI name;
``DATASETS`` lists them with the layout each expects (see docs/DATASETS.md). Every dataset
streams training batches with ``batches(batch_size, seed=0, start=0, pipeline="auto")``; batch i
is ``batch(batch_size, seed, i)``, a numpy function of (seed, i). No module here imports Keras
or TensorFlow at import time (the pipelines import them when a stream is built).
"""

from hwkeras.data.batching import batch_items, epoch_permutation
from hwkeras.data.celeba import CelebA
from hwkeras.data.chairs import Chairs3D
from hwkeras.data.correlated_ellipses import CorrelatedEllipses
from hwkeras.data.dsprites import DSprites
from hwkeras.data.dsprites_procedural import ProceduralDSprites
from hwkeras.data.dsprites_variants import ColorDSprites, NoisyDSprites
from hwkeras.data.faces3d import Faces3D
from hwkeras.data.ground_truth import FactorGrid, GroundTruthData, as_random_state
from hwkeras.data.image_dataset import ArrayImages, ImageDataset, SkippedFilesWarning
from hwkeras.data.image_files import ImageFiles
from hwkeras.data.pipeline import take
from hwkeras.data.registry import DATASETS, DatasetEntry, get_dataset
from hwkeras.data.shapes3d import Shapes3D
from hwkeras.data.shapes3d_procedural import ProceduralShapes3D

__all__ = [
    "ArrayImages",
    "CelebA",
    "Chairs3D",
    "ColorDSprites",
    "CorrelatedEllipses",
    "DATASETS",
    "DSprites",
    "DatasetEntry",
    "Faces3D",
    "FactorGrid",
    "GroundTruthData",
    "ImageDataset",
    "ImageFiles",
    "NoisyDSprites",
    "ProceduralDSprites",
    "ProceduralShapes3D",
    "Shapes3D",
    "SkippedFilesWarning",
    "as_random_state",
    "batch_items",
    "epoch_permutation",
    "get_dataset",
    "take",
]
