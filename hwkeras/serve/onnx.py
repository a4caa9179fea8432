"""The ``onnx`` runtime: an ONNX export (``hwkeras export --format onnx``) run by ONNX Runtime.

Loads numpy, onnxruntime and json only (with hwkeras's one-line errors and the servable interface,
both free of TensorFlow and Keras): a machine with no TensorFlow, no Keras and no hwkeras model
code serves the export (``hwkeras serve --runtime onnx``; tests/serve/test_onnx.py runs it in a
process where ``import tensorflow`` fails and checks that Keras was never imported).

Signatures: ``encode`` (and ``serving_default``), ``decode``, ``reconstruct``, each its own graph,
and ``traverse``, answered from the encode and decode graphs in numpy with the export's
``traversal_values``. The graphs hold no input checks (ONNX has no assert op): requests are checked
in numpy by ``hwkeras.serve.servable.check_inputs`` before ``predict``, as for every runtime.
"""

import os

import numpy as np

from hwkeras.errors import UserError
from hwkeras.files import EXPORT_CARD as CARD
from hwkeras.files import read_export_card
from hwkeras.serve.servable import Servable

INSTALL = "pip install 'hwkeras[onnx]' (or pip install onnxruntime)"


def load(path, name=None):
    """The ONNX export at ``path`` as a Servable; a path that is not one is a one-line ``UserError``."""
    path = os.path.abspath(os.fspath(path))
    card = _read_card(path)
    try:
        import onnxruntime
    except ImportError:
        raise UserError(f"serving an ONNX export needs onnxruntime, which is not installed here: {INSTALL}") from None
    sessions = {}
    for graph, entry in card["graphs"].items():
        file = entry.get("file") if isinstance(entry, dict) else None
        # The card names the files; a name that is not a plain file name of this directory is refused,
        # so an edited card cannot make the server read outside the export.
        if not isinstance(file, str) or os.path.basename(file) != file or file in ("", ".", ".."):
            raise UserError(f"{path}/{CARD}: graph {graph!r} names {file!r}, not a file of the export; re-export "
                            f"with hwkeras export --format onnx")
        try:
            sessions[graph] = onnxruntime.InferenceSession(os.path.join(path, file),
                                                           providers=onnxruntime.get_available_providers())
        except Exception as exc:  # noqa: BLE001 - onnxruntime raises its own classes for any bad file
            raise UserError(f"{os.path.join(path, file)} is not a loadable ONNX graph ({exc.__class__.__name__}); "
                            f"re-export with hwkeras export --format onnx") from None
    return OnnxServable(name or os.path.basename(path), card, sessions)


def _read_card(path):
    if not os.path.isdir(path):
        what = "a file" if os.path.exists(path) else "missing"
        raise UserError(f"{path} is {what}, not an ONNX export directory: write one with hwkeras export RUN_DIR "
                        f"--format onnx --output DIR")
    card = read_export_card(path, f"{path} is not an ONNX export; write one with hwkeras export RUN_DIR --format "
                                  f"onnx --output DIR")
    if not isinstance(card, dict) or card.get("format") != "onnx" or not isinstance(card.get("graphs"), dict):
        raise UserError(f"{path} is not an ONNX export (its {CARD} has no format: onnx); serve a SavedModel with "
                        f"--runtime tensorflow, or write one with hwkeras export RUN_DIR --format onnx")
    missing = [graph for graph in ("encode", "decode") if graph not in card["graphs"]]
    if missing:
        raise UserError(f"{os.path.join(path, CARD)} lists no {' or '.join(missing)} graph; re-export with "
                        f"hwkeras export --format onnx")
    return card


def _spec(value):
    """An ONNX Runtime input or output -> (shape with None for a symbolic size, numpy dtype name)."""
    dtype = {"tensor(float)": "float32", "tensor(int32)": "int32", "tensor(int64)": "int64"}[value.type]
    return tuple(d if isinstance(d, int) else None for d in value.shape), dtype


class OnnxServable(Servable):
    """ONNX Runtime sessions, one per graph, behind the export's signatures.

    ``sessions``: {graph: onnxruntime.InferenceSession}. A graph's outputs take their signature's
    names (the card's ``renamed``: reconstruct's graph output ``reconstruction`` is ``images``).
    """

    def __init__(self, name, card, sessions):
        self.name, self.card, self._sessions = name, card, sessions
        self._renamed = {graph: dict(entry.get("renamed") or {}) for graph, entry in card["graphs"].items()}
        self._graph_of = {graph: graph for graph in sessions}
        self._graph_of.update({alias: graph for alias, graph in (card.get("aliases") or {}).items()
                               if graph in sessions})
        self._signatures = {}
        for signature, graph in self._graph_of.items():
            session, renamed = sessions[graph], self._renamed[graph]
            self._signatures[signature] = {
                "inputs": {v.name: _spec(v) for v in session.get_inputs()},
                "outputs": {renamed.get(v.name, v.name): _spec(v) for v in session.get_outputs()},
            }
        values = card.get("traversal_values")
        self._values = np.asarray(values, "float32") if values else None
        if self._values is not None:  # traverse needs only encode and decode (both checked on load)
            (images_shape, dtype), = self._signatures["encode"]["inputs"].values()
            image = tuple(images_shape[1:])
            p = self._signatures["decode"]["inputs"]["z"][0][1]
            self._signatures["traverse"] = {
                "inputs": {"image": (image, dtype)},
                "outputs": {"images": ((p, len(self._values), *image), "float32"),
                            "values": ((len(self._values),), "float32")},
            }

    def signatures(self):
        return self._signatures

    def predict(self, signature_name, inputs):
        if signature_name == "traverse":
            return self._traverse(np.asarray(inputs["image"], "float32"))
        graph = self._graph_of[signature_name]
        session, renamed = self._sessions[graph], self._renamed[graph]
        names = [v.name for v in session.get_outputs()]
        arrays = session.run(names, {name: np.asarray(inputs[name]) for name in self._signatures[graph]["inputs"]})
        return {renamed.get(name, name): array for name, array in zip(names, arrays)}

    def _traverse(self, image):
        """Row d: the image's posterior mean with latent d set to each traversal value, decoded (as the
        SavedModel's traverse: hwkeras.viz.traversal_latents)."""
        mean = self.predict("encode", {"images": image[None]})["mean"][0]
        p, steps = mean.shape[0], len(self._values)
        codes = np.repeat(mean[None, None, :], p * steps, axis=0).reshape(p, steps, p)
        codes[np.arange(p), :, np.arange(p)] = self._values
        images = self.predict("decode", {"z": codes.reshape(p * steps, p)})["images"]
        return {"images": images.reshape(p, steps, *images.shape[1:]), "values": self._values.copy()}
