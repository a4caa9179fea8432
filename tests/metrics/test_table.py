"""Dataset-scale evaluation (hwkeras.metrics.table): the same numbers as the sampled path, each
distinct image encoded once, the datasets it refuses, and its file on disk.

The claim tested here: for the same seed, every metric's record is **bit-identical** on both paths
when the representation encodes each image on its own (a numpy function; hwkeras' compiled
TensorFlow encoder on the CPU, measured on a small model), because the table path consumes the
random state call for call like the sampled one and looks up the codes of the same images.
"""

import json
import os

import numpy as np
import pytest

from hwkeras.data.dsprites_procedural import ProceduralDSprites
from hwkeras.data.dsprites_variants import ColorDSprites, NoisyDSprites
from hwkeras.data.ground_truth import FactorGrid, GroundTruthData
from hwkeras.metrics import table as code_table
from hwkeras.metrics.evaluate import evaluate

#: Small sizes for every metric, enough draws that the grids below are drawn many times over.
SMALL = {
    "factor_vae": {"num_train": 40, "num_eval": 30, "num_variance_estimate": 400, "batch_size": 16},
    "beta_vae": {"num_train": 40, "num_eval": 30, "batch_size": 16},
    "mig": {"num_train": 500},
    "dci": {"num_train": 120, "num_test": 60},
    "sap": {"num_train": 120, "num_test": 60},
    "modularity": {"num_train": 120, "num_test": 60},
}


class SmallGrid(FactorGrid):
    """A 3x4x5x6 grid (360 images) of 6x6 images: a bright pixel per factor, plus a fixed texture."""

    factor_sizes = (3, 4, 5, 6)
    observation_shape = (6, 6, 1)

    def __init__(self):
        self.texture = np.random.RandomState(7).rand(6, 6).astype(np.float32) * 0.1
        self.rendered = 0

    def images_at(self, indices):
        factors = self.factors_of(indices)
        self.rendered += len(factors)
        images = np.repeat(self.texture[None], len(factors), axis=0)
        for j in range(4):
            images[np.arange(len(factors)), j, factors[:, j]] += 0.5 + 0.1 * factors[:, j]
        return images[..., None]


class PerImage:
    """A fixed nonlinear projection computed image by image (no BLAS call whose rounding could
    depend on the batch), counting every image it encodes."""

    def __init__(self, num_pixels, num_dims=5):
        self.weights = np.random.RandomState(0).randn(num_pixels, num_dims).astype(np.float32)
        self.seen = []

    def __call__(self, observations):
        x = np.asarray(observations, np.float32).reshape(len(observations), -1)
        self.seen.append(x.copy())
        return np.tanh(np.stack([(x * w).sum(axis=1) for w in self.weights.T], axis=1))


@pytest.mark.parametrize("seed", [0, 11])
def test_every_metric_is_bit_identical_on_a_small_grid(seed):
    data = SmallGrid()
    sampled_rep, table_rep = PerImage(36), PerImage(36)
    sampled = evaluate(data, sampled_rep, "all", seed=seed, params=SMALL)
    tabled = evaluate(data, table_rep, "all", seed=seed, params=SMALL, encode_once=True)
    assert tabled["metrics"] == sampled["metrics"]
    assert tabled["parameters"] == sampled["parameters"]
    assert sampled["encoding"] == {"path": "sampled"}
    # Each distinct image encoded exactly once; the draws far outnumber them.
    encoded = np.concatenate(table_rep.seen)
    draws = sum(len(x) for x in sampled_rep.seen)
    assert len(encoded) == len(np.unique(encoded, axis=0)) == tabled["encoding"]["images_encoded"] <= 360
    assert tabled["encoding"]["draws_looked_up"] == draws > 10 * len(encoded)


def test_the_chyvae_protocol_is_bit_identical():
    """The CHyVAE paper's FactorVAE protocol (the only metric it changes): other draws, same rule."""
    data, params = SmallGrid(), {"factor_vae": {"num_train": 20, "num_eval": 20, "batch_size": 16}}
    sampled = evaluate(data, PerImage(36), "factor_vae", protocol="chyvae", seed=3, params=params)
    tabled = evaluate(data, PerImage(36), "factor_vae", protocol="chyvae", seed=3, params=params, encode_once=True)
    assert tabled["metrics"] == sampled["metrics"]


def test_every_metric_is_bit_identical_on_procedural_dsprites():
    data = ProceduralDSprites()
    names = "factor_vae,beta_vae,mig"  # the grid test above covers all six
    sampled = evaluate(data, PerImage(64 * 64), names, seed=5, params=SMALL)
    tabled = evaluate(data, PerImage(64 * 64), names, seed=5, params=SMALL, encode_once=True)
    assert tabled["metrics"] == sampled["metrics"]
    assert tabled["encoding"]["path"] == "table"
    assert tabled["encoding"]["images_encoded"] < tabled["encoding"]["draws_looked_up"]


def test_compiled_keras_encoder_gives_the_same_numbers():
    """An untrained 64x64 encoder through representation_from_model (TensorFlow, compiled, 64 per
    call, the last batch padded): the table's batches are other images than the sampled path's,
    and every number still agrees to the bit (measured; the docs say so)."""
    import hwkeras
    from hwkeras.metrics import representation_from_model

    model = hwkeras.HyperpriorVAE(latent_dim=4, nu=8.0, image_shape=(64, 64, 1), hidden_units=32, seed=0)
    model(np.zeros((1, 64, 64, 1), np.float32))
    for weight in model.head.weights:  # codes that vary, as a trained model's do
        weight.assign(weight * 100.0)
    params = {"factor_vae": {"num_train": 8, "num_eval": 8, "num_variance_estimate": 256, "batch_size": 32},
              "beta_vae": {"num_train": 8, "num_eval": 8, "batch_size": 32},
              "mig": {"num_train": 300}, "sap": {"num_train": 200, "num_test": 100}}
    data = ProceduralDSprites()
    names = "factor_vae,beta_vae,mig,sap"
    sampled = evaluate(data, representation_from_model(model), names, seed=2, params=params)
    tabled = evaluate(data, representation_from_model(model), names, seed=2, params=params, encode_once=True)
    assert tabled["metrics"] == sampled["metrics"]


def test_datasets_that_draw_per_observation_keep_the_sampled_path():
    for variant in (ColorDSprites, NoisyDSprites):
        why = code_table.table_refusal(variant(ProceduralDSprites()))
        assert "does not declare" in why
        record = evaluate(variant(ProceduralDSprites()), PerImage(64 * 64 * 3), "mig", seed=0,
                          params={"mig": {"num_train": 50}}, encode_once=True)
        assert record["encoding"] == {"path": "sampled", "why": why}
    with pytest.raises(ValueError, match="no code table for this dataset: ColorDSprites"):
        code_table.CodeTable(ColorDSprites(ProceduralDSprites()), PerImage(10))


def test_a_dataset_that_claims_fixed_images_but_draws_is_caught():
    class Lying(SmallGrid):
        def sample_observations_from_factors(self, factors, random_state=None):
            return self.images_at(self.index_of(factors)) + random_state.uniform(size=(len(factors), 1, 1, 1))

    class Changing(SmallGrid):
        def images_at(self, indices):
            return super().images_at(indices) + self.rendered

    assert "draws from the random state" in code_table.table_refusal(Lying())
    assert "different images for the same factors" in code_table.table_refusal(Changing())

    class Undeclared(GroundTruthData):
        factor_sizes = (2, 2)

    assert "does not declare" in code_table.table_refusal(Undeclared())


def test_index_wrapper_draws_like_the_dataset():
    data = SmallGrid()
    wrapped = code_table.IndexedFactors(data)
    a, b = np.random.RandomState(4), np.random.RandomState(4)
    factors, indices = wrapped.sample(50, a)
    expected_factors, images = data.sample(50, b)
    assert np.array_equal(factors, expected_factors)
    assert np.array_equal(indices, data.index_of(factors))  # the dataset's own mixed-radix index
    assert np.array_equal(wrapped.images_at(indices), images)
    assert np.array_equal(a.get_state()[1], b.get_state()[1]) and a.get_state()[2] == b.get_state()[2]


# ------------------------------------------------------------------------------------------
# The table on disk.
# ------------------------------------------------------------------------------------------

def filled_table(data=None):
    data = data or SmallGrid()
    table = code_table.CodeTable(data, PerImage(36))
    table.representation_function(np.array([0, 5, 5, 359, 17]))
    return table


def test_cache_round_trip_stale_and_corrupt(tmp_path):
    table = filled_table()
    key = code_table.cache_key("a" * 64, {"backend": "numpy"}, {"name": "small", "factor_sizes": (3, 4, 5, 6)})
    path = str(tmp_path / "codes.npz")
    code_table.save_table(table, path, key)
    codes, filled, why = code_table.load_table(path, key, 360)
    assert why is None and filled.sum() == 4 and np.array_equal(codes, table.codes)
    # A table read back serves its codes without encoding them again.
    reused = code_table.CodeTable(SmallGrid(), PerImage(36), codes=codes, filled=filled)
    assert np.array_equal(reused.representation_function(np.array([359, 0])), table.codes[[359, 0]])
    assert reused.encoded == 0 and reused.loaded == 4

    retrained = dict(key, model_sha256="b" * 64)
    assert code_table.load_table(path, retrained, 360) == (None, None, "stale (made for another model_sha256)")
    assert code_table.load_table(str(tmp_path / "none.npz"), key, 360) == (None, None, None)
    assert "corrupt" in code_table.load_table(path, key, 100)[2]  # another grid's size

    raw = open(path, "rb").read()
    for damage in (raw[: len(raw) // 2], raw[:200] + bytes(300) + raw[500:], b"not a zip"):
        with open(path, "wb") as f:
            f.write(damage)
        codes, filled, why = code_table.load_table(path, key, 360)
        assert codes is None and why.startswith("corrupt ("), why
    assert why == "corrupt (not an .npz file)"


def test_an_interrupted_save_leaves_the_previous_file(tmp_path, monkeypatch):
    table = filled_table()
    path = str(tmp_path / "codes.npz")
    code_table.save_table(table, path, {"v": 1})
    before = open(path, "rb").read()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(code_table.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        code_table.save_table(table, path, {"v": 2})
    assert os.listdir(tmp_path) == ["codes.npz"] and open(path, "rb").read() == before


def test_file_digest_and_dataset_identity(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"weights")
    first = code_table.file_digest(str(tmp_path / "m.keras"))
    (tmp_path / "m.keras").write_bytes(b"weightz")
    assert code_table.file_digest(str(tmp_path / "m.keras")) != first
    (tmp_path / "ckpt").mkdir()
    (tmp_path / "ckpt" / "a").write_bytes(b"1")
    first = code_table.file_digest(str(tmp_path / "ckpt"))
    (tmp_path / "ckpt" / "a").write_bytes(b"2")
    assert code_table.file_digest(str(tmp_path / "ckpt")) != first
    identity = code_table.dataset_identity(SmallGrid(), "small", {"image_size": 6})
    assert json.loads(json.dumps(identity))["factor_sizes"] == [3, 4, 5, 6]


def test_progress_line():
    table = filled_table()
    table.encoded, table.encode_seconds = 100, 2.0
    assert code_table.progress_line(table) == "encoding: 4 of 360 images (1%), 50 images/s, at most 7 s left"
