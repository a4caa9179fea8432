"""The request checks every runtime shares (hwkeras.serve.servable), without a server."""

import numpy as np
import pytest

from hwkeras.serve.servable import batched, check_inputs

SIGNATURES = {
    "encode": {"inputs": {"images": ((None, 4, 4, 1), "float32")},
               "outputs": {"mean": ((None, 3), "float32"), "log_variance": ((None, 3), "float32")}},
    "decode": {"inputs": {"z": ((None, 3), "float32")}, "outputs": {"images": ((None, 4, 4, 1), "float32")}},
    "sample_seeded": {"inputs": {"num_samples": ((), "int32"), "seed": ((), "int32")},
                      "outputs": {"images": ((None, 4, 4, 1), "float32"), "z": ((None, 3), "float32")}},
    "traverse": {"inputs": {"image": ((4, 4, 1), "float32")},
                 "outputs": {"images": ((3, 10, 4, 4, 1), "float32"), "values": ((10,), "float32")}},
}


def test_good_inputs_come_back_with_the_declared_dtype():
    out = check_inputs(SIGNATURES, "decode", {"z": [[0, 1, 2]]})
    assert out["z"].dtype == np.float32 and out["z"].shape == (1, 3)
    out = check_inputs(SIGNATURES, "sample_seeded", {"num_samples": 4, "seed": 3.0})
    assert out["num_samples"].dtype == np.int32 and out["seed"] == 3


@pytest.mark.parametrize("signature, inputs, words", [
    ("nope", {}, "no signature 'nope'"),
    ("decode", {"x": [[0, 0, 0]]}, "missing input(s) z; unknown input(s) x"),
    ("decode", {"z": [[0, 0]]}, "wrong shape for input 'z': got (1, 2)"),
    ("decode", {"z": [[0, 0, 0], [0, 0]]}, "ragged"),
    ("decode", {"z": np.zeros((0, 3))}, "empty batch"),
    ("decode", {"z": [[0, float("nan"), 0]]}, "NaN or inf"),
    ("decode", {"z": [["a", "b", "c"]]}, "holds strings"),
    ("decode", {"z": [[None, 0, 0]]}, "not numbers"),
    ("decode", {"z": [[True, False, True]]}, "booleans"),
    ("encode", {"images": np.full((1, 4, 4, 1), 1.5)}, "pixel values above 1"),
    ("encode", {"images": np.full((1, 4, 4, 1), -0.1)}, "pixel values below 0"),
    ("encode", {"images": np.zeros((1, 4, 5, 1))}, "got (1, 4, 5, 1)"),
    ("sample_seeded", {"num_samples": 2.5, "seed": 0}, "must hold integers"),
    ("sample_seeded", {"num_samples": 2 ** 40, "seed": 0}, "int32 range"),
    ("sample_seeded", {"num_samples": [2], "seed": 0}, "wrong shape"),
])
def test_bad_inputs_are_one_line_value_errors(signature, inputs, words):
    with pytest.raises(ValueError) as info:
        check_inputs(SIGNATURES, signature, inputs)
    assert words in str(info.value) and "\n" not in str(info.value)


def test_batched_signatures_are_those_with_a_batch_on_every_input_and_output():
    assert batched(SIGNATURES["encode"]) and batched(SIGNATURES["decode"])
    assert not batched(SIGNATURES["sample_seeded"]) and not batched(SIGNATURES["traverse"])
