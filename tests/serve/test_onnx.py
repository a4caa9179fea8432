"""ONNX export (``hwkeras export --format onnx``) and its ONNX Runtime servable: the graphs give the
SavedModel's numbers; the servable runs where TensorFlow cannot be imported and Keras is never loaded;
the export's paths follow the SavedModel's rules."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import hwkeras
from hwkeras.errors import UserError
from hwkeras.export import export_saved_model
from hwkeras.export_onnx import GRAPHS, export_onnx
from tests.helpers import deadline

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NO_TENSORFLOW = os.path.join(ROOT, "tests", "without_tensorflow")
# CHyVAE at p = 6 (the unrolled Cholesky of the ONNX encode graph over 6 columns) on a non-square
# 3-channel image; one diagonal baseline. The SavedModel computes the same float32 ops through
# TensorFlow's kernels; ONNX Runtime's kernels and the unrolled factor differ by float32 rounding.
MODELS = {"chyvae": dict(latent_dim=6, image_shape=(16, 32, 3), nu=12.0),
          "beta-vae": dict(latent_dim=3, image_shape=(16, 16, 1))}
# Agreement asked of every output (pixels are probabilities in [0, 1]; codes are O(1)). A wrong
# factor, a missing sigmoid, or a swapped output differs by orders of magnitude more than this; the largest
# difference measured was 8.4e-7 (CHyVAE decode), mean and scale_tril 7.0e-7.
ATOL, RTOL = 5e-6, 1e-5


@pytest.fixture(scope="module", params=sorted(MODELS))
def exports(request, tmp_path_factory):
    """(kind, SavedModel path, ONNX export path, fixed inputs) for one tiny model."""
    kind = request.param
    options = MODELS[kind]
    model = hwkeras.build_model(kind, hidden_units=16, seed=3, **options)
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(5, *options["image_shape"])).astype("float32")
    model(images)
    # Initial weights give codes near 0 and pixels near 0.5: the head's kernel x 20 and the decoder's
    # weights + N(0, 0.15^2) spread codes, scales and pixels over their ranges, so that the comparison
    # means something; the posterior covariances stay well conditioned (condition numbers 30-130 here:
    # a float32 Cholesky of a matrix near singular differs between any two implementations).
    head = model.head.dense
    head.kernel.assign(head.kernel.numpy() * 20.0)
    for weight in model.decoder.weights:
        weight.assign(weight.numpy() + rng.normal(0.0, 0.15, weight.shape).astype("float32"))
    base = tmp_path_factory.mktemp(kind)
    card = {"dataset": "correlated-ellipses", "training_steps": 3}
    saved = export_saved_model(model, base / "saved", card=card)
    onnx = export_onnx(model, base / "onnx", card=card)
    z = (2.0 * rng.standard_normal((5, options["latent_dim"]))).astype("float32")
    return kind, saved, onnx, {"images": images, "z": z, "image": images[0]}


def saved_model_answers(saved, inputs):
    """The SavedModel's answers to ``inputs``, loaded in this process with TensorFlow alone."""
    import tensorflow as tf

    sig = tf.saved_model.load(str(saved)).signatures
    images, z = tf.constant(inputs["images"]), tf.constant(inputs["z"])
    answers = {"encode": sig["encode"](images=images), "decode": sig["decode"](z=z),
               "reconstruct": sig["reconstruct"](images=images),
               "traverse": sig["traverse"](image=tf.constant(inputs["image"]))}
    return {name: {k: v.numpy() for k, v in out.items()} for name, out in answers.items()}


def assert_same_answers(onnx, saved):
    """Same signatures, same output names and shapes, the same numbers within ATOL/RTOL."""
    for signature, expected in saved.items():
        got = onnx[signature]
        assert sorted(got) == sorted(expected), signature
        for name in expected:
            assert got[name].shape == expected[name].shape, (signature, name)
            np.testing.assert_allclose(got[name], expected[name], atol=ATOL, rtol=RTOL, err_msg=f"{signature}/{name}")


def test_onnx_graphs_give_the_saved_model_numbers(exports):
    from hwkeras.serve import load_servable

    kind, saved, onnx, inputs = exports
    servable = load_servable(onnx, runtime="onnx")
    answers = {"encode": {"images": inputs["images"]}, "decode": {"z": inputs["z"]},
               "reconstruct": {"images": inputs["images"]}, "traverse": {"image": inputs["image"]}}
    got = {signature: servable.predict(signature, request) for signature, request in answers.items()}
    expected = saved_model_answers(saved, inputs)
    assert_same_answers(got, expected)
    second = "scale_tril" if kind == "chyvae" else "log_variance"
    assert sorted(got["encode"]) == sorted(["mean", second])
    # Not a comparison of constants: the codes and pixels vary over the inputs.
    assert got["encode"]["mean"].std(axis=0).min() > 1e-2 and got["reconstruct"]["images"].std() > 1e-2
    if kind == "chyvae":  # a Cholesky factor: lower triangular, positive diagonal, factor of S >= 1e-4 I
        tril = got["encode"]["scale_tril"]
        assert np.all(np.triu(tril, 1) == 0) and np.all(np.diagonal(tril, axis1=1, axis2=2) > 0)
        assert np.abs(tril - np.tril(tril)).max() == 0 and np.ptp(tril[:, 3, 1]) > 1e-2
    np.testing.assert_array_equal(servable.predict("serving_default", answers["encode"])["mean"], got["encode"]["mean"])

    # The graphs themselves (a client with ONNX Runtime alone): the same numbers as the servable's.
    import onnxruntime

    session = onnxruntime.InferenceSession(os.path.join(onnx, "encode.onnx"), providers=["CPUExecutionProvider"])
    raw = dict(zip([o.name for o in session.get_outputs()], session.run(None, {"images": inputs["images"]})))
    np.testing.assert_array_equal(raw["mean"], got["encode"]["mean"])


def test_onnx_card_lists_the_graphs_and_the_saved_model_fields(exports):
    kind, saved, onnx, _ = exports
    card = json.loads(open(os.path.join(onnx, "model.json")).read())
    saved_card = json.loads(open(os.path.join(saved, "model.json")).read())
    assert sorted(os.listdir(onnx)) == sorted([f"{g}.onnx" for g in GRAPHS] + ["model.json"])
    assert card["format"] == "onnx" and list(card["graphs"]) == list(GRAPHS)
    assert set(saved_card) - {"signatures", "signature_inputs", "versions"} <= set(card)
    for key in ("model", "latent_dim", "image_shape", "config", "dataset", "training_steps", "input"):
        assert card[key] == saved_card[key], key
    assert card["signatures"] == ["decode", "encode", "reconstruct", "serving_default", "traverse"]
    for signature in card["signatures"]:  # the same inputs as the SavedModel's signature of that name
        assert card["signature_inputs"][signature] == saved_card["signature_inputs"][signature], signature
    p, shape = card["latent_dim"], card["image_shape"]
    assert card["graphs"]["decode"]["inputs"] == {"z": {"shape": [None, p], "dtype": "float32"}}
    assert card["graphs"]["reconstruct"]["outputs"] == {"reconstruction": {"shape": [None, *shape], "dtype": "float32"}}
    assert card["graphs"]["reconstruct"]["renamed"] == {"reconstruction": "images"}
    assert set(card["versions"]) == {"hwkeras", "keras", "tensorflow", "onnx", "tf2onnx"}
    np.testing.assert_allclose(card["traversal_values"], np.linspace(-3, 3, 10), atol=1e-6)


SERVE_WITHOUT_TENSORFLOW = r"""
import json, sys
import numpy as np
try:
    import tensorflow
    sys.exit("tensorflow imported")
except ImportError:
    pass
from hwkeras.serve import load_servable
from hwkeras.serve.servable import check_inputs
servable = load_servable(sys.argv[1], runtime="onnx")
inputs = dict(np.load(sys.argv[2]))
requests = {"encode": {"images": inputs["images"].tolist()}, "decode": {"z": inputs["z"].tolist()},
            "reconstruct": {"images": inputs["images"].tolist()}, "traverse": {"image": inputs["image"].tolist()}}
answers = {}
for signature, request in requests.items():  # as the REST app does: JSON lists, checked, then run
    for name, array in servable.predict(signature, check_inputs(servable.signatures(), signature, request)).items():
        answers[signature + "/" + name] = array
np.savez(sys.argv[3], **answers)
shape = servable.card["image_shape"]
bad = dict(nan=np.full((1, *shape), np.nan), above=np.full((1, *shape), 2.0), shape=np.zeros((1, 3, 3, 1)))
errors = {}
for case, array in bad.items():
    try:
        check_inputs(servable.signatures(), "encode", {"images": array.tolist()})
    except ValueError as exc:
        errors[case] = str(exc)
from hwkeras.serve.latents import latent_rows  # what a replica computes first, for the explorer
assert latent_rows(servable)["source"] == "the model card"
model_code = ("hwkeras.model", "hwkeras.base", "hwkeras.layers", "hwkeras.export", "hwkeras.baselines")
print(json.dumps({"errors": errors, "keras": "keras" in sys.modules, "tensorflow": sys.modules.get("tensorflow"),
                  "hwkeras_models": sorted(m for m in sys.modules if m.startswith(model_code))}))
"""


def test_onnx_card_carries_the_latent_order_a_saved_model_server_computes(exports):
    """The explorer's average KLs: in the card, equal to what a SavedModel server computes at its start
    (hwkeras.serve.latents on the TensorFlow runtime) over the same images: the card's dataset where it
    fits the model (beta-VAE), else the model's prior samples by sample_seeded (CHyVAE at 16 x 32 x 3)."""
    from hwkeras.serve import latents
    from hwkeras.serve.saved_model import load

    kind, saved, onnx, _ = exports
    card = json.loads(open(os.path.join(onnx, "model.json")).read())
    servable = load(saved)
    if kind == "chyvae":
        assert card["latent_kl_images"] == "256 of the model's own prior samples (seed 0; its dataset is not here)"
        servable.card = {k: v for k, v in servable.card.items() if k != "dataset"}
    else:
        assert card["latent_kl_images"] == "256 images of correlated-ellipses"
    rows = latents.latent_rows(servable)
    expected = np.zeros(card["latent_dim"])
    for row in rows["latents"]:
        expected[row["latent"]] = row["kl"]
    # Not all collapsed (a latent may be: the smallest KL came out 0.000999 in one order of the suite, as
    # Keras's initial draws depend on what ran before), so the order compared is an order of real values.
    assert rows["source"] == card["latent_kl_images"] and expected.max() > 1e-3
    np.testing.assert_allclose(card["latent_kl"], expected, rtol=1e-4, atol=1e-7)


def test_onnx_servable_runs_without_tensorflow_or_keras(exports, tmp_path):
    _, saved, onnx, inputs = exports
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([NO_TENSORFLOW, ROOT]))
    done = subprocess.run([sys.executable, "-c", SERVE_WITHOUT_TENSORFLOW, str(onnx), str(tmp_path / "inputs.npz"),
                           str(tmp_path / "answers.npz")], capture_output=True, text=True, env=env,
                          timeout=deadline(120))
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["keras"] is False and report["tensorflow"] is None and report["hwkeras_models"] == []
    assert "NaN or inf" in report["errors"]["nan"] and "above 1" in report["errors"]["above"]
    assert "wrong shape" in report["errors"]["shape"]
    answers = np.load(tmp_path / "answers.npz")
    got = {}
    for key in answers.files:
        signature, name = key.split("/")
        got.setdefault(signature, {})[name] = answers[key]
    assert_same_answers(got, saved_model_answers(saved, inputs))


# -- the export's paths: the SavedModel's rules ------------------------------------------------

@pytest.fixture(scope="module")
def keras_file(tmp_path_factory):
    model = hwkeras.build_model("vae", latent_dim=2, image_shape=(16, 16, 1), hidden_units=8, seed=0)
    model(np.zeros((1, 16, 16, 1), "float32"))
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    return path


def export(*args):
    from click.testing import CliRunner

    from hwkeras.cli.export import export_command

    return CliRunner().invoke(export_command, [*map(str, args)])


def test_export_command_writes_then_replaces_an_onnx_export_only_with_overwrite(keras_file, tmp_path):
    out = tmp_path / "m-onnx"
    done = export(keras_file, "--format", "onnx", "--output", out)
    assert done.exit_code == 0, done.output
    assert done.output.strip() == f"ONNX (encode.onnx, decode.onnx, reconstruct.onnx): {out}"
    first = (out / "encode.onnx").stat().st_mtime_ns
    again = export(keras_file, "--format", "onnx", "--output", out)
    assert again.exit_code == 2 and again.output.strip() == (f"Error: {out} already exists; pass --overwrite "
                                                             f"(it holds an ONNX export) or choose another --output")
    assert (out / "encode.onnx").stat().st_mtime_ns == first  # nothing touched
    replaced = export(keras_file, "--format", "onnx", "--output", out, "--overwrite")
    assert replaced.exit_code == 0, replaced.output
    assert sorted(os.listdir(tmp_path)) == ["m-onnx"]  # no staging or old directory left behind


def test_export_onnx_refuses_what_it_did_not_write(keras_file, tmp_path):
    """Each bad --output is one Error: line, exit 2, and is left as it was."""
    saved = tmp_path / "saved"
    saved.mkdir()
    (saved / "saved_model.pb").write_bytes(b"x")
    other = tmp_path / "notes"
    other.mkdir()
    (other / "a.txt").write_text("keep")
    plain = tmp_path / "file.txt"
    plain.write_text("keep")
    for output, words in [
        (saved, "is a SavedModel export (it has saved_model.pb), not an ONNX export"),
        (other, "is a directory of 1 entries"), (plain, "exists and is not a directory"),
    ]:
        done = export(keras_file, "--format", "onnx", "--output", output, "--overwrite")
        assert done.exit_code == 2 and done.output.count("\n") == 1, done.output
        assert done.output.startswith(f"Error: --output {output}") and words in done.output, done.output
    assert (saved / "saved_model.pb").read_bytes() == b"x" and (other / "a.txt").read_text() == "keep"
    assert plain.read_text() == "keep"


def test_onnx_servable_refuses_what_is_not_an_onnx_export(exports, tmp_path):
    from hwkeras.serve import load_servable

    _, saved, onnx, _ = exports
    with pytest.raises(UserError, match="is not an ONNX export .*--runtime tensorflow"):
        load_servable(saved, runtime="onnx")
    with pytest.raises(UserError, match="missing, not an ONNX export directory"):
        load_servable(tmp_path / "nowhere", runtime="onnx")
    # An edited card cannot make the server open a file outside the export.
    card = json.loads(open(os.path.join(onnx, "model.json")).read())
    card["graphs"]["encode"]["file"] = "../" + os.path.basename(onnx) + "/encode.onnx"
    edited = tmp_path / "edited"
    edited.mkdir()
    (edited / "model.json").write_text(json.dumps(card))
    with pytest.raises(UserError, match="not a file of the export"):
        load_servable(edited, runtime="onnx")


def test_a_mixed_bfloat16_model_exports_float32_graphs(tmp_path):
    """ONNX export needs the float32 policy: the model is rebuilt in float32 with its weights. The
    graphs hold no bfloat16 tensor and answer what the bfloat16 model computes, within its rounding."""
    import onnx

    from hwkeras.serve import load_servable

    model = hwkeras.build_model("chyvae", latent_dim=3, image_shape=(16, 16, 1), hidden_units=8, seed=0, nu=10.0,
                                dtype="mixed_bfloat16")
    images = np.random.default_rng(0).uniform(size=(4, 16, 16, 1)).astype("float32")
    model(images)
    path = export_onnx(model, tmp_path / "mixed")
    for graph in GRAPHS:
        proto = onnx.load(os.path.join(path, graph + ".onnx")).graph
        types = {t.data_type for t in proto.initializer} | {
            a.i for node in proto.node for a in node.attribute if node.op_type == "Cast" and a.name == "to"}
        assert onnx.TensorProto.BFLOAT16 not in types and onnx.TensorProto.FLOAT in types, graph
    got = load_servable(path, runtime="onnx").predict("encode", {"images": images})
    mean, scale_tril = (np.asarray(v) for v in model.encode(images))
    # bfloat16 keeps 8 bits of mantissa: 2^-8 relative; codes here are O(0.1-1).
    np.testing.assert_allclose(got["mean"], mean, atol=1e-2)
    np.testing.assert_allclose(got["scale_tril"], scale_tril, atol=1e-2)


def test_export_onnx_without_its_packages_is_one_line(keras_file, tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *args: None if name == "tf2onnx" else find_spec(name, *args))
    done = export(keras_file, "--format", "onnx", "--output", tmp_path / "m")
    assert done.exit_code == 2 and done.output == (
        "Error: ONNX export needs tf2onnx, not installed here: pip install 'hwkeras[onnx]'\n")
    assert not (tmp_path / "m").exists()
