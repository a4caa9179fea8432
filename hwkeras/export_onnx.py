"""ONNX export: the deterministic endpoints of an export, each as its own ONNX graph, for ONNX Runtime
on a machine without TensorFlow, Keras or hwkeras (``hwkeras serve --runtime onnx``).

The directory holds ``encode.onnx`` (``images`` -> ``mean`` and ``scale_tril`` for CHyVAE,
``log_variance`` for the diagonal baselines), ``decode.onnx`` (``z`` -> ``images``),
``reconstruct.onnx`` (``images`` -> ``images``) and ``model.json``: the SavedModel's model card
(``hwkeras.export.model_card``) with ``format: "onnx"``, the ONNX signatures, each graph's file,
inputs and outputs, the traversal values, so that the ONNX servable answers ``traverse``
from the encode and decode graphs (``hwkeras.serve.onnx``), and ``latent_kl`` (the explorer's
slider order, see ``_latent_kl``). Same inputs and outputs, names and
shapes as the SavedModel's signatures of the same names (docs/SERVING.md).

Not exported: ``sample`` and ``sample_seeded``. Their draws are TensorFlow's stateless random
ops (and the inverse-Wishart's gamma draws for CHyVAE), which tf2onnx does not convert; ONNX's
own RandomNormal would not give the SavedModel's numbers for a seed anyway.

No input checks in the graphs: ONNX has no assert op, so a graph answers garbage to NaN pixels
instead of failing. The ONNX servable checks every request in numpy before a graph runs
(``hwkeras.serve.servable.check_inputs``: shape, dtype, NaN/inf, pixels in [0, 1]); a client that
runs the ``.onnx`` files with ONNX Runtime directly must check its inputs itself.

Written like the SavedModel: in a staging directory next to the target, then renamed into place.
Keras and TensorFlow are imported inside the functions: ``is_onnx_export`` is cheap.
"""

import contextlib
import json
import os
import warnings

from hwkeras.files import EXPORT_CARD

#: The graphs written, in the card's order; ``serving_default`` is ``encode``, as in the SavedModel.
GRAPHS = ("encode", "decode", "reconstruct")
ALIASES = {"serving_default": "encode"}
#: Graph outputs whose signature output has another name ({graph: {graph output: signature output}}).
RENAMED = {"reconstruct": {"reconstruction": "images"}}
#: The card's mark: what tells an ONNX export from any other directory (``--overwrite`` replaces only these).
FORMAT = "onnx"
#: The model card's file name (the SavedModel's too): ``hwkeras.files.EXPORT_CARD``.
CARD = EXPORT_CARD


def is_onnx_export(path):
    """What ``hwkeras export --format onnx --overwrite`` may replace: an ONNX export, or an empty directory."""
    if not os.path.isdir(path):
        return False
    if not os.listdir(path):
        return True
    try:
        with open(os.path.join(path, CARD)) as f:
            return json.load(f).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


@contextlib.contextmanager
def _unrolled_cholesky():
    """CHyVAE's head factors S = L L^T + 1e-4 I with ``ops.cholesky``; ONNX has no Cholesky op and
    tf2onnx stops at it ("Unsupported ops: Cholesky"). While the encode graphs are traced, the head
    uses ``device_ops.unrolled_cholesky`` instead: the same factor as p column steps of elementwise
    ops and products (tests/test_device_ops.py holds it to the library factor), which ONNX has.
    The head reads ``cholesky`` from its module at call time, so swapping that name is the whole switch."""
    from hwkeras import device_ops
    from hwkeras.layers import cholesky_head

    library = cholesky_head.cholesky
    cholesky_head.cholesky = device_ops.unrolled_cholesky
    try:
        yield
    finally:
        cholesky_head.cholesky = library


def _float32(model):
    """ONNX export needs the float32 dtype policy: a mixed_bfloat16 model is rebuilt in float32 with
    the same (float32) weights, so its graphs compute in float32 throughout."""
    if model.dtype_policy.name == "float32":
        return model
    import numpy as np

    rebuilt = type(model).from_config({**model.get_config(), "dtype": "float32"})
    rebuilt(np.zeros((1, *model.image_shape), "float32"))
    rebuilt.set_weights(model.get_weights())
    return rebuilt


def _graph_models(model):
    """{graph: (functional keras.Model on the model's layers, its input spec)}: Keras's ONNX export
    takes a model with a call, so each endpoint becomes a small functional model sharing the weights."""
    import keras

    h, w, c = model.image_shape
    second = "scale_tril" if getattr(model, "nu", None) is not None else "log_variance"
    images = keras.Input((h, w, c), name="images")
    z = keras.Input((model.latent_dim,), name="z")
    mean, other = model.encode(images)
    image_spec = [keras.InputSpec(shape=(None, h, w, c), dtype="float32", name="images")]
    z_spec = [keras.InputSpec(shape=(None, model.latent_dim), dtype="float32", name="z")]
    return {
        "encode": (keras.Model(images, {"mean": mean, second: other}, name="encode"), image_spec),
        "decode": (keras.Model(z, {"images": model.decode(z)}, name="decode"), z_spec),
        # An ONNX graph's output cannot share its input's name: reconstruct's ``images`` leaves the
        # graph as ``reconstruction`` and the card's ``renamed`` gives it back its signature's name.
        "reconstruct": (keras.Model(images, {"reconstruction": model(images)}, name="reconstruct"), image_spec),
    }


def _graph_signature(path):
    """A written graph's inputs and outputs as ONNX declares them: {name: {"shape", "dtype"}}."""
    import onnx
    from onnx import helper

    graph = onnx.load(path, load_external_data=False).graph
    initializers = {t.name for t in graph.initializer}

    def spec(value):
        kind = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else None for d in kind.shape.dim]
        return {"shape": shape, "dtype": helper.tensor_dtype_to_np_dtype(kind.elem_type).name}

    return {"inputs": {v.name: spec(v) for v in graph.input if v.name not in initializers},
            "outputs": {v.name: spec(v) for v in graph.output}}


def onnx_card(model, graphs, **extra):
    """The SavedModel's card (``hwkeras.export.model_card``) for the ONNX graphs written."""
    from importlib.metadata import version

    import numpy as np

    from hwkeras.export import model_card
    from hwkeras.viz import TRAVERSAL_RANGE, TRAVERSAL_STEPS

    card = model_card(model, **extra)
    signatures = {**{alias: graphs[target] for alias, target in ALIASES.items()}, **graphs}
    card.update(
        format=FORMAT,
        signatures=sorted(list(signatures) + ["traverse"]),
        signature_inputs={name: {k: v["shape"] for k, v in g["inputs"].items()} for name, g in signatures.items()},
        graphs=graphs,
        aliases=ALIASES,
        # traverse is encode, then decode of the mean with latent d set to each of these values.
        traversal_values=np.linspace(*TRAVERSAL_RANGE, TRAVERSAL_STEPS, dtype="float32").tolist(),
        versions={**card["versions"], **{name: version(name) for name in ("onnx", "tf2onnx")}},
    )
    card["traverse"] = {"inputs": {"image": card["image_shape"]}, "uses": ["encode", "decode"]}
    card["signature_inputs"]["traverse"] = {"image": card["image_shape"]}
    return card


def export_onnx(model, path, overwrite=False, card=None, opset=None):
    """Writes ``model``'s encode, decode and reconstruct as ONNX graphs in directory ``path``
    atomically, with ``model.json``; returns the path. Needs TensorFlow (Keras's ONNX export runs
    tf2onnx on the TensorFlow backend)."""
    import keras

    from hwkeras.export import write_directory_atomically

    if keras.backend.backend() != "tensorflow":
        raise RuntimeError("ONNX export runs on the TensorFlow backend (hwkeras export hands a JAX or "
                           "PyTorch process's model to a TensorFlow process)")
    model = _float32(model)

    def write(staging):
        graphs = {}
        with _unrolled_cholesky(), warnings.catch_warnings():
            # Keras's tf2onnx patch probes np.object, which numpy 2 warns about: not the user's concern.
            warnings.filterwarnings("ignore", message=".*np.object.*", category=FutureWarning)
            for name, (graph_model, spec) in _graph_models(model).items():
                target = os.path.join(staging, name + ".onnx")
                graph_model.export(target, format="onnx", input_signature=spec, opset_version=opset,
                                   verbose=False)
                graphs[name] = {"file": name + ".onnx", **_graph_signature(target), "renamed": RENAMED.get(name, {})}
        full_card = onnx_card(model, graphs, **(card or {}))
        with open(os.path.join(staging, CARD), "w") as f:
            json.dump(full_card, f, indent=2)
        full_card["latent_kl"], full_card["latent_kl_images"] = _latent_kl(model, staging)
        with open(os.path.join(staging, CARD), "w") as f:
            json.dump(full_card, f, indent=2)

    return write_directory_atomically(path, write, overwrite=overwrite)


class _WithSeededSamples:
    """The ONNX servable of ``staging`` plus the SavedModel's ``sample_seeded``, run here by TensorFlow
    from the model's own endpoint (the same draws as the SavedModel's for a seed)."""

    def __init__(self, servable, model, card):
        from hwkeras.export import _endpoints

        self._servable, self.card = servable, card
        self._sample_seeded, specs = _endpoints(model)["sample_seeded"]
        self._inputs = [spec.name for spec in specs]

    def signatures(self):
        return {**self._servable.signatures(), "sample_seeded": {"inputs": {n: None for n in self._inputs}}}

    def predict(self, signature_name, inputs):
        if signature_name != "sample_seeded":
            return self._servable.predict(signature_name, inputs)
        import numpy as np
        import tensorflow as tf

        out = self._sample_seeded(**{n: tf.constant(inputs[n]) for n in self._inputs})
        return {k: np.asarray(v) for k, v in out.items()}


def _latent_kl(model, staging):
    """(each latent's average KL, over which images): the latent explorer's slider order, written in the
    card now because an ONNX server has no ``sample_seeded`` for the images that ``hwkeras.serve.latents``
    falls back to when the card's dataset is not on the serving machine (it then reads the card's).
    The same images and numbers as a SavedModel server's start would use on this machine."""
    from hwkeras.serve import latents
    from hwkeras.serve.onnx import load

    servable = load(staging)
    images, source = latents.kl_images(_WithSeededSamples(servable, model, servable.card))
    if tuple(images.shape[1:]) != tuple(model.image_shape):  # the card's dataset, not at the model's size
        without_dataset = {k: v for k, v in servable.card.items() if k != "dataset"}
        images, source = latents.kl_images(_WithSeededSamples(servable, model, without_dataset))
    return latents.average_kl(servable, images).tolist(), source
