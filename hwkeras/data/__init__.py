"""Datasets: the ground-truth factor API, procedural and on-disk datasets, the tf.data pipeline.

``get_dataset(name, data_dir=None, image_size=64, **options)`` builds one by its CLI name;
``DATASETS`` lists them with the layout each expects (see docs/DATASETS.md).
"""

from hwkeras.data.celeba import CelebA
from hwkeras.data.chairs import Chairs3D
from hwkeras.data.correlated_ellipses import CorrelatedEllipses
from hwkeras.data.dsprites import DSprites
from hwkeras.data.dsprites_procedural import ProceduralDSprites
from hwkeras.data.faces3d import Faces3D
from hwkeras.data.ground_truth import GroundTruthData, as_random_state
from hwkeras.data.image_dataset import ArrayImages, ImageDataset, SkippedFilesWarning
from hwkeras.data.image_files import ImageFiles
from hwkeras.data.pipeline import file_batches, indexed_batches, procedural_batches
from hwkeras.data.registry import DATASETS, DatasetEntry, get_dataset

__all__ = [
    "ArrayImages",
    "CelebA",
    "Chairs3D",
    "CorrelatedEllipses",
    "DATASETS",
    "DSprites",
    "DatasetEntry",
    "Faces3D",
    "GroundTruthData",
    "ImageDataset",
    "ImageFiles",
    "ProceduralDSprites",
    "SkippedFilesWarning",
    "as_random_state",
    "file_batches",
    "get_dataset",
    "indexed_batches",
    "procedural_batches",
]
