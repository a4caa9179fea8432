"""The runtimes behind ``hwkeras serve`` in-process: the SavedModel (tensorflow) and the run directory
(keras) answer alike, and the latents' average KL equals the run report's."""

import numpy as np
import pytest

from hwkeras.serve import load_servable
from hwkeras.serve.latents import COLLAPSED_KL, KL_IMAGES, PREVIEW_SEED, latent_rows
from hwkeras.serve.servable import check_inputs
from tests.serve import tiny


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    root = tmp_path_factory.mktemp("runtimes")
    model = tiny.tiny_model()
    (root / "run").mkdir()
    model.save(root / "run" / "model.keras")
    tiny.export(model, root / "sm")
    return model, load_servable(root / "sm"), load_servable(root / "run", runtime="keras")


def test_keras_runtime_has_the_saved_models_signatures_and_answers(served):
    _, saved, keras_run = served
    assert saved.signatures() == keras_run.signatures() and saved.name == "sm" and keras_run.name == "run"
    x = np.random.default_rng(0).uniform(size=(3,) + tiny.IMAGE_SHAPE).astype("float32")
    requests = {"encode": {"images": x}, "reconstruct": {"images": x}, "decode": {"z": np.ones((2, 4))},
                "sample_seeded": {"num_samples": 5, "seed": 3, "nu": 7.0}, "traverse": {"image": x[0]}}
    for signature, inputs in requests.items():
        arrays = check_inputs(saved.signatures(), signature, inputs)
        a, b = saved.predict(signature, arrays), keras_run.predict(signature, arrays)
        assert sorted(a) == sorted(b)
        for name in a:
            np.testing.assert_allclose(a[name], b[name], atol=1e-6, err_msg=f"{signature}:{name}")


def test_the_models_own_checks_are_one_line_value_errors(served):
    _, saved, _ = served
    with pytest.raises(ValueError, match=r"^nu must exceed latent_dim - 1 = 3 \(or be <= 0 for the model's nu\)$"):
        saved.predict("sample_seeded", check_inputs(saved.signatures(), "sample_seeded",
                                                    {"num_samples": 2, "seed": 0, "nu": 2.0}))


def test_latent_kl_equals_the_run_reports_and_marks_the_collapsed_latent(served):
    from hwkeras.report import latents

    model, saved, _ = served
    found = latent_rows(saved)  # no dataset in the card: the model's own prior samples
    rows = found["latents"]
    images = saved.predict("sample_seeded", {"num_samples": np.int32(KL_IMAGES), "seed": np.int32(PREVIEW_SEED),
                                             "nu": np.float32(0.0)})["images"]
    oracle = latents.latent_kl(model, images)  # the report's own computation, through Keras
    assert [r["latent"] for r in rows] == list(np.argsort(-oracle, kind="stable"))
    np.testing.assert_allclose([r["kl"] for r in rows], np.sort(oracle)[::-1], rtol=1e-4, atol=1e-7)
    assert [r["latent"] for r in rows if r["collapsed"]] == [tiny.COLLAPSED]
    assert COLLAPSED_KL == latents.COLLAPSED_KL and KL_IMAGES == latents.KL_IMAGES
    assert rows[-1]["kl"] < 1e-3 < rows[-2]["kl"] and "prior samples" in found["source"]


def test_a_card_with_latent_kl_is_used_as_it_is(served):
    _, saved, _ = served
    saved.card["latent_kl"] = [0.5, 0.001, 2.0, 0.5]
    try:
        rows = latent_rows(saved)
    finally:
        del saved.card["latent_kl"]
    assert [r["latent"] for r in rows["latents"]] == [2, 0, 3, 1] and rows["source"] == "the model card"
    assert [r["collapsed"] for r in rows["latents"]] == [False, False, False, True]


def test_the_average_kl_is_over_the_cards_dataset_when_it_is_here(served):
    from hwkeras.data import get_dataset
    from hwkeras.report import latents

    model, saved, _ = served
    saved.card["dataset"] = "correlated-ellipses"  # procedural: always here
    try:
        found = latent_rows(saved)
    finally:
        del saved.card["dataset"]
    images = get_dataset("correlated-ellipses", image_size=16).sample_observations(
        KL_IMAGES, np.random.RandomState(PREVIEW_SEED))  # as the run report draws them
    oracle = latents.latent_kl(model, np.asarray(images, np.float32))
    np.testing.assert_allclose([r["kl"] for r in found["latents"]], np.sort(oracle)[::-1], rtol=1e-4, atol=1e-7)
    assert found["source"] == f"{KL_IMAGES} images of correlated-ellipses"


def test_without_images_to_average_over_the_latents_keep_their_order_unmarked(served):
    """A runtime without sample_seeded (ONNX), no dataset here and no latent_kl in its card."""
    _, saved, _ = served

    class NoSamples:
        name, card = "no-samples", saved.card

        def signatures(self):
            return {k: v for k, v in saved.signatures().items() if not k.startswith("sample")}

    rows = latent_rows(NoSamples())
    assert rows["latents"] == [{"latent": j, "kl": None, "collapsed": False} for j in range(tiny.LATENT_DIM)]
    assert "no sample_seeded" in rows["source"]
