"""hwkeras.serve.json_arrays against its oracle, ``orjson.loads`` then ``np.asarray``: every body gives
the same values (each fast-read list equal to np.asarray of orjson's list, dtype included) or the same
refusal, for well-formed bodies of every spelling and for each way a body can be almost right."""

import json

import numpy as np
import orjson
import pytest

from hwkeras.serve import json_arrays

SMALL = 16  # spans of 16 bytes and more are read fast here, so the cases stay small


def unwrap(value):
    """The fast result with arrays as the nested lists orjson gives (numbers compare exactly)."""
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if isinstance(value, dict):
        return {k: unwrap(v) for k, v in value.items()}
    return value


def arrays_in(value):
    if isinstance(value, np.ndarray):
        return [value]
    if isinstance(value, list):
        return [a for v in value for a in arrays_in(v)]
    if isinstance(value, dict):
        return [a for v in value.values() for a in arrays_in(v)]
    return []


def same_as_orjson(body, min_span_bytes=SMALL):
    """Asserts the fast read equals orjson's; returns the fast value."""
    expected = orjson.loads(body)
    got = json_arrays.loads(body, min_span_bytes=min_span_bytes)
    assert unwrap(got) == expected
    for array in arrays_in(got):  # each array is np.asarray of orjson's list: same dtype and values
        assert array.dtype in (np.float64, np.int64)
    return got


rng = np.random.default_rng(0)
IMAGES = rng.uniform(size=(3, 4, 5, 1))

WELL_FORMED = {
    "rows, Python's json (', ' separators)": json.dumps({"signature_name": "reconstruct",
                                                          "instances": IMAGES.tolist()}),
    "columns, compact": json.dumps({"inputs": {"images": IMAGES.round(3).tolist()}}, separators=(",", ":")),
    "pretty-printed (new lines and indents)": json.dumps({"instances": IMAGES.round(2).tolist()}, indent=2),
    "float32's shortest form (orjson from numpy)": orjson.dumps(
        {"instances": IMAGES.astype(np.float32)}, option=orjson.OPT_SERIALIZE_NUMPY).decode(),
    "exponents, signs, -0 and 1e-05": json.dumps({"instances": [[1e-05, -2.5e+30, -0.0, 0, -1, 3.25E-7] * 3] * 2}),
    "integers only (int64, as np.asarray makes)": json.dumps({"instances": (IMAGES * 255).astype(int).tolist()}),
    "integers and floats mixed (float64)": json.dumps({"instances": [[1, 2.5, 3, 4, 5, 6, 7, 8]] * 3}),
    "two arrays and a small one left to orjson": json.dumps(
        {"inputs": {"codes": rng.normal(size=(4, 6)).tolist(), "nu": [1.5], "z": rng.normal(size=(2, 9)).tolist()}}),
    "instances as objects, each with its array": json.dumps(
        {"instances": [{"images": IMAGES[0].tolist()}, {"images": IMAGES[1].tolist()}]}),
    "array-like text inside a string": json.dumps({"note": "[[1, 2, 3], [4, 5, 6], [7, 8, 9]]",
                                                   "instances": [[1.5] * 9]}),
    "the placeholder's own text in a string": json.dumps({"note": "hwkeras-array-0", "instances": [[0.5] * 9] * 2}),
    "a key that looks like an array": json.dumps({"[[1,2,3],[4,5,6],[7,8,9]]": 1, "instances": [[0.5] * 9]}),
    "a ragged list (rows of 3 and 2): orjson's nested lists": json.dumps({"instances": [[1, 2, 3, 4, 5], [6, 7]]}),
    "an empty row among rows": json.dumps({"instances": [[1, 2, 3, 4, 5, 6], []]}),
    "a list of numbers at top level": json.dumps(rng.normal(size=(5, 5)).tolist()),
}


@pytest.mark.parametrize("name", list(WELL_FORMED))
def test_well_formed_bodies_read_as_orjson_reads_them(name):
    same_as_orjson(WELL_FORMED[name].encode())


def test_regular_lists_come_back_as_arrays_of_their_shape():
    got = same_as_orjson(WELL_FORMED["rows, Python's json (', ' separators)"].encode())
    assert isinstance(got["instances"], np.ndarray) and got["instances"].shape == (3, 4, 5, 1)
    np.testing.assert_array_equal(got["instances"], IMAGES)  # repr round-trips: the very same doubles
    got = same_as_orjson(WELL_FORMED["integers only (int64, as np.asarray makes)"].encode())
    assert got["instances"].dtype == np.int64
    got = same_as_orjson(WELL_FORMED["a ragged list (rows of 3 and 2): orjson's nested lists"].encode())
    assert isinstance(got["instances"], list)  # not read fast: left to orjson


def test_full_size_batch_bit_for_bit():
    """A batch of 64 images of 64x64x1 (the benchmark's request), at the default span size."""
    images = rng.uniform(size=(64, 64, 64, 1)).astype(np.float32)
    body = orjson.dumps({"signature_name": "reconstruct", "instances": images}, option=orjson.OPT_SERIALIZE_NUMPY)
    got = json_arrays.loads(body)
    assert isinstance(got["instances"], np.ndarray)
    expected = np.asarray(orjson.loads(body)["instances"])
    assert got["instances"].dtype == expected.dtype and np.array_equal(got["instances"], expected)
    assert np.array_equal(got["instances"].astype(np.float32), images)


ALMOST = {
    "two commas": '{"instances": [[1, 2,, 3, 4, 5, 6]]}',
    "a trailing comma": '{"instances": [[1, 2, 3, 4, 5, 6,]]}',
    "a leading comma": '{"instances": [[, 1, 2, 3, 4, 5, 6]]}',
    "numbers without a comma": '{"instances": [[1 2, 3, 4, 5, 6, 7]]}',
    "a number after a bracket": '{"instances": [[1, 2, 3], 4 [5, 6, 7]]}',
    "a number glued to a bracket": '{"instances": [[1, 2, 3]4, [5, 6, 7]]}',
    "a number glued before a bracket": '{"instances": [[1, 2, 3], 4[5, 6, 7]]}',
    "rows without a comma": '{"instances": [[1, 2, 3] [4, 5, 6]]}',
    "a leading zero": '{"instances": [[01, 2, 3, 4, 5, 6]]}',
    "a negative leading zero": '{"instances": [[-01, 2, 3, 4, 5, 6]]}',
    "a bare dot": '{"instances": [[1., 2, 3, 4, 5, 6]]}',
    "a dot first": '{"instances": [[.5, 2, 3, 4, 5, 6]]}',
    "a plus sign": '{"instances": [[+1, 2, 3, 4, 5, 6]]}',
    "two dots": '{"instances": [[1.2.3, 2, 3, 4, 5, 6]]}',
    "an exponent without digits": '{"instances": [[1e, 2, 3, 4, 5, 6]]}',
    "a double sign": '{"instances": [[--1, 2, 3, 4, 5, 6]]}',
    "beyond a double": '{"instances": [[1e400, 2, 3, 4, 5, 6]]}',
    "NaN": '{"instances": [[NaN, 2, 3, 4, 5, 6]]}',
    "an unclosed list": '{"instances": [[1, 2, 3, 4, 5, 6]}',
    "one bracket too many": '{"instances": [[1, 2, 3, 4, 5, 6]]]}',
    "no object around": '[[1, 2, 3, 4, 5, 6]] [1]',
}


@pytest.mark.parametrize("name", list(ALMOST))
def test_almost_json_is_refused_as_orjson_refuses_it(name):
    body = ALMOST[name].encode()
    with pytest.raises(orjson.JSONDecodeError) as expected:
        orjson.loads(body)
    with pytest.raises(orjson.JSONDecodeError) as got:
        json_arrays.loads(body, min_span_bytes=SMALL)
    assert str(got.value) == str(expected.value)


def test_random_bodies_against_the_oracle():
    """Random shapes, spellings and one-character damage: same value or same refusal, every time."""
    cases = np.random.default_rng(1)
    alphabet = b"0123456789.eE+-[], \n"
    read_fast = well_formed = 0
    for _ in range(300):
        shape = tuple(cases.integers(1, 5, size=cases.integers(1, 4)))
        values = cases.normal(size=shape) * 10.0 ** cases.integers(-8, 8)
        text = json.dumps({"instances": values.round(int(cases.integers(0, 6))).tolist()})
        if cases.random() < 0.5:  # damage one character inside the list
            body = bytearray(text.encode())
            where = int(cases.integers(text.index("["), len(body) - 1))
            body[where] = alphabet[int(cases.integers(len(alphabet)))]
            body = bytes(body)
        else:
            body = text.encode()
        try:
            expected = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            with pytest.raises(orjson.JSONDecodeError, match=None) as got:
                json_arrays.loads(body, min_span_bytes=SMALL)
            assert str(got.value) == str(error)
            continue
        got = json_arrays.loads(body, min_span_bytes=SMALL)
        assert unwrap(got) == expected, body
        well_formed += 1
        read_fast += isinstance(got["instances"], np.ndarray)
    assert read_fast > well_formed / 2  # the fast reader did most of the work, not orjson alone
