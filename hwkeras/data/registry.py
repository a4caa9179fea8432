"""The dataset registry: names, expected layouts, default locations, and ``get_dataset``.

``data_dir`` is the dataset's own folder (e.g. ``~/data/celeba``) or file, or a root holding
that folder (``~/data``); each loader also accepts the inner folder or file itself (e.g.
``img_align_celeba/``). Left out, it defaults to ``<root>/<folder>``, the root being
``$HWKERAS_DATA_DIR`` or ``~/data``. Procedural datasets read nothing from disk: passing
them a ``data_dir`` is an error, so that a typo'd dataset name with ``--data-dir`` never trains
silently on synthetic data.
"""

import os
from typing import Callable, NamedTuple, Optional

from hwkeras.data import cars3d, celeba, chairs, dsprites, faces3d, mpi3d, scream, shapes3d, smallnorb
from hwkeras.data.checksums import NOT_KNOWN
from hwkeras.data.correlated_ellipses import CorrelatedEllipses
from hwkeras.data.dsprites_procedural import ProceduralDSprites
from hwkeras.data.dsprites_variants import ColorDSprites, NoisyDSprites
from hwkeras.data.shapes3d_procedural import ProceduralShapes3D

DATA_ROOT_ENV = "HWKERAS_DATA_DIR"


class DatasetEntry(NamedTuple):
    """``factory(**options)`` builds the dataset; entry[0] and entry[1] as in the first registry."""

    factory: Callable
    description: str
    layout: str  # what the loader expects to find, or "procedural"
    folder: Optional[str] = None  # default folder under the data root; None for procedural sets
    locate: Optional[Callable] = None  # data_dir -> the path it would read, or None
    factors: str = "yes"  # "yes", "no", or a condition
    # Width of the dense layer after the convolutions (Ansari & Soh 2019): 128 for the 64x64
    # binary-ish sprites and ellipses, 256 for the natural-image sets.
    hidden_units: int = 256
    publisher: Optional[str] = None  # where the publisher serves the file(s)
    check: Optional[str] = None  # how to check the file you have


def _file_dataset(name, build):
    """A factory that resolves ``data_dir`` and turns a missing path into a one-line ValueError."""

    def factory(data_dir=None, **options):
        path, looked = resolve(name, data_dir)
        if path is None:
            entry = DATASETS[name]
            places = " and ".join(p + ("" if os.path.exists(p) else " (does not exist)") for p in looked)
            hint = "" if data_dir is not None else "; pass data_dir (--data-dir)"
            raise ValueError(f"{name}: expected {entry.layout}; looked in {places}{hint}")
        return build(path, **options)

    return factory


def _procedural(name, cls):
    def factory(data_dir=None, **options):
        if data_dir is not None:
            raise ValueError(f"{name} is procedural (rendered on the fly, nothing is read from disk); "
                             f"drop data_dir / --data-dir")
        return cls(**options)

    return factory


def _dsprites(where, cache_dir=None, **options):
    return dsprites.DSprites(dsprites.locate_dsprites(where), cache_dir=cache_dir, **options)


def _dsprites_variant(cls):
    def build(where, cache_dir=None, **options):
        return cls(_dsprites(where, cache_dir=cache_dir, **options))

    return build


def _scream_dsprites(where, cache_dir=None, **options):
    npz = dsprites.locate_dsprites(where)
    return scream.ScreamDSprites(dsprites.DSprites(npz, cache_dir=cache_dir, **options), scream.locate_painting(npz))


def _mpi3d(variant):
    def build(where, **options):
        return mpi3d.MPI3D(where, variant=variant, **options)

    return build


def _mpi3d_entry(variant, description):
    return DatasetEntry(
        _file_dataset(f"mpi3d-{variant}", _mpi3d(variant)), description, mpi3d.layout(variant),
        mpi3d.folder(variant), lambda where: mpi3d.locate_mpi3d(where, variant),
        publisher=f"{mpi3d.PUBLISHER} (file: {mpi3d.URL.format(variant)})",
        check=(f"sha256 {NOT_KNOWN} (md5 {mpi3d.THIRD_PARTY_MD5[variant]} as disent records it, not checked "
               f"here); the loader checks the shape, dtype and that images.npy is stored uncompressed"))


DSPRITES_PUBLISHER = "https://github.com/deepmind/dsprites-dataset (the .npz is in the repository)"
DSPRITES_CHECK = ("np.load(file, allow_pickle=True, encoding='latin1'): imgs (737280, 64, 64) uint8, "
                  "metadata['latents_sizes'] [1 3 6 40 32 32]; the loader checks latents_classes' order")


DATASETS = {
    "correlated-ellipses": DatasetEntry(
        _procedural("correlated-ellipses", CorrelatedEllipses),
        "procedural ellipses with correlated factors (built in)", "procedural", hidden_units=128),
    "dsprites-procedural": DatasetEntry(
        _procedural("dsprites-procedural", ProceduralDSprites),
        "dSprites grid rendered offline: squares, ellipses, hearts (built in)", "procedural", hidden_units=128),
    "dsprites": DatasetEntry(
        _file_dataset("dsprites", _dsprites), "dSprites, the official 737,280-image file",
        dsprites.LAYOUT, "dsprites", dsprites.locate_dsprites, hidden_units=128,
        publisher=DSPRITES_PUBLISHER, check=DSPRITES_CHECK),
    "color-dsprites": DatasetEntry(
        _file_dataset("color-dsprites", _dsprites_variant(ColorDSprites)),
        "Color-dSprites (disentanglement_lib): each sprite in a random colour, from the dSprites file",
        dsprites.LAYOUT, "dsprites", dsprites.locate_dsprites, hidden_units=128,
        publisher=DSPRITES_PUBLISHER, check=DSPRITES_CHECK),
    "noisy-dsprites": DatasetEntry(
        _file_dataset("noisy-dsprites", _dsprites_variant(NoisyDSprites)),
        "Noisy-dSprites (disentanglement_lib): white sprites on uniform noise, from the dSprites file",
        dsprites.LAYOUT, "dsprites", dsprites.locate_dsprites, hidden_units=128,
        publisher=DSPRITES_PUBLISHER, check=DSPRITES_CHECK),
    "scream-dsprites": DatasetEntry(
        _file_dataset("scream-dsprites", _scream_dsprites),
        "Scream-dSprites (disentanglement_lib): sprites inverted on a patch of the painting, from the dSprites "
        "file and your copy of the painting", f"{dsprites.LAYOUT} and the painting {scream.FILENAME} beside it, "
        f"in scream/ there or in ../scream/", "dsprites", scream.locate_scream_dsprites, hidden_units=128,
        publisher=f"{DSPRITES_PUBLISHER}; the painting: {scream.PUBLISHER}",
        check=f"{DSPRITES_CHECK}; the painting's sha256 {NOT_KNOWN}"),
    "shapes3d-procedural": DatasetEntry(
        _procedural("shapes3d-procedural", ProceduralShapes3D),
        "Shapes3D grid rendered offline: a room, an object, 6 factors in colour (built in)", "procedural"),
    "shapes3d": DatasetEntry(
        _file_dataset("shapes3d", shapes3d.Shapes3D), "Shapes3D (3dshapes), DeepMind's 480,000-image file",
        shapes3d.LAYOUT, "shapes3d", shapes3d.locate_shapes3d,
        publisher=f"{shapes3d.PUBLISHER} (file: {shapes3d.URL})",
        check=(f"sha256sum 3dshapes.h5 prints {shapes3d.PUBLISHED_SHA256} (md5 {shapes3d.PUBLISHED_MD5}, "
               f"{shapes3d.PUBLISHED_SIZE:,} bytes); the loader checks that labels enumerate the grid in order")),
    "mpi3d-toy": _mpi3d_entry("toy", "MPI3D toy: simple renders of a robot arm's object (Gondal et al. 2019)"),
    "mpi3d-realistic": _mpi3d_entry("realistic", "MPI3D realistic: realistic renders of the same scenes"),
    "mpi3d-real": _mpi3d_entry("real", "MPI3D real: camera images of the real platform"),
    "smallnorb": DatasetEntry(
        _file_dataset("smallnorb", smallnorb.SmallNORB),
        "SmallNORB: 48,600 grayscale toy photos (both chunks), resized to 64x64", smallnorb.LAYOUT,
        "smallnorb", smallnorb.locate_smallnorb, publisher=smallnorb.PUBLISHER,
        check=(f"sha256 {NOT_KNOWN}; the loader checks each file's header (magic, dims) against its size and "
               f"that the rows cover the grid once")),
    "cars3d": DatasetEntry(
        _file_dataset("cars3d", cars3d.Cars3D), "Cars3D: 183 car models, 24 azimuths x 4 elevations, RGB",
        cars3d.LAYOUT, "cars3d", cars3d.locate_cars3d, publisher=cars3d.PUBLISHER,
        check=f"sha256 {NOT_KNOWN}; the loader checks there are 183 .mat files and each im's shape and dtype"),
    "celeba": DatasetEntry(
        _file_dataset("celeba", celeba.CelebA), "CelebA aligned faces, RGB, centre-cropped",
        celeba.LAYOUT, "celeba", celeba.locate_celeba, factors="no"),
    "chairs": DatasetEntry(
        _file_dataset("chairs", chairs.Chairs3D), "3D Chairs renders, grayscale by default",
        chairs.LAYOUT, "chairs", chairs.locate_chairs, factors="no"),
    "faces3d": DatasetEntry(
        _file_dataset("faces3d", faces3d.open_faces3d), "3D Faces (Basel face model renders)",
        faces3d.LAYOUT, "faces3d", faces3d.locate_faces3d,
        factors="yes if the array is an (identity, azimuth, elevation, lighting) grid, else no"),
}


def data_root():
    return os.path.expanduser(os.environ.get(DATA_ROOT_ENV) or os.path.join("~", "data"))


def default_location(entry, root=None):
    """Where a file dataset is looked for when no data_dir is given."""
    return os.path.join(root or data_root(), entry.folder)


def get_dataset(name, data_dir=None, image_size=64, **options):
    """The dataset registered under ``name``; ValueError (one line) for unknown names and bad input.

    ``data_dir``: the dataset's folder or file (file datasets only). ``options`` go to the
    dataset, e.g. ``crop=108`` or ``cache=False`` for CelebA, ``channels=3`` for chairs.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")
    try:
        return DATASETS[name].factory(data_dir=data_dir, image_size=image_size, **options)
    except TypeError as exc:
        if "unexpected keyword argument" not in str(exc):
            raise
        option = str(exc).rsplit(" ", 1)[-1]
        raise ValueError(f"{name} does not take the option {option}") from None


def resolve(name, data_dir=None):
    """``(path, looked)``: the folder or file to read (None if not found) and the places tried.

    ``data_dir`` may be the dataset's own folder or file, or a root holding ``<folder>``
    (e.g. ``~/data`` for ``~/data/celeba``); without it, the default location is tried.
    """
    entry = DATASETS[name]
    if data_dir is None:
        looked = [default_location(entry)]
    else:
        data_dir = os.path.expanduser(str(data_dir))
        looked = [data_dir, os.path.join(data_dir, entry.folder)]
    for candidate in looked:
        if os.path.exists(candidate) and entry.locate(candidate) is not None:
            return candidate, looked
    return None, looked[: 1 if data_dir is None or not os.path.isdir(data_dir) else 2]


def find(name, data_dir=None):
    """``(status, where)`` without decoding anything: status 'built in', 'found' or 'missing';
    ``where`` is the file or folder found, or the places looked in."""
    entry = DATASETS[name]
    if entry.locate is None:
        return "built in", None
    path, looked = resolve(name, data_dir)
    if path is None:
        return "missing", " and ".join(looked)
    located = entry.locate(path)
    return "found", located[1] if isinstance(located, tuple) else located
