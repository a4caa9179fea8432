"""Writers of the published file layouts for the dataset tests: a stored (np.savez) .npz member
written sparsely (full-size grids on a few MB of disk), NORB binary matrices, Cars3D .mat files.

The oracle scripts that ran disentanglement_lib's loaders on these same files (outside the
repository, see each test module) import these writers, so both read identical bytes.
"""

import io
import zipfile
import zlib

import numpy as np

_CRC_POLY = 0xEDB88320


def _times(matrix, vector):
    out, row = 0, 0
    while vector:
        if vector & 1:
            out ^= matrix[row]
        vector >>= 1
        row += 1
    return out


def _square(matrix):
    return [_times(matrix, column) for column in matrix]


def crc32_zeros(crc, count):
    """zlib.crc32 continued over ``count`` zero bytes, in O(log count) (zlib's crc32_combine idea:
    the register's zero-bit step is linear over GF(2), so its powers are squared 32x32 matrices)."""
    register = crc ^ 0xFFFFFFFF
    step = [_CRC_POLY] + [1 << i for i in range(31)]  # one zero bit
    for _ in range(3):
        step = _square(step)  # one zero byte after three squarings
    while count:
        if count & 1:
            register = _times(step, register)
        count >>= 1
        if count:
            step = _square(step)
    return register ^ 0xFFFFFFFF


def write_stored_npz(path, key, shape, dtype, rows):
    """An .npz as ``np.savez`` writes it (ZIP_STORED, zip64 member ``key.npy``, .npy 1.0 header) of a
    zero array of ``shape`` with ``rows`` ({index: row}) set; zero runs are left as holes of a sparse
    file, the CRC-32 is exact."""
    dtype = np.dtype(dtype)
    row_bytes = int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": np.lib.format.dtype_to_descr(dtype),
                                                  "fortran_order": False, "shape": tuple(shape)})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        with archive.open(key + ".npy", "w", force_zip64=True) as member:
            member.write(header.getvalue())
            position = 0
            for index in sorted(rows) + [shape[0]]:
                gap = (index - position) * row_bytes
                archive.fp.seek(gap, 1)  # a hole: the writer's size and CRC are advanced by hand
                member._file_size += gap
                member._crc = crc32_zeros(member._crc, gap)
                if index < shape[0]:
                    member.write(np.ascontiguousarray(rows[index], dtype).tobytes())
                    position = index + 1
    return path


def norb_matrix(path, array, magic):
    """A NORB binary matrix: int32 magic, int32 ndim, max(3, ndim) int32 dims (unused ones 1), data."""
    dims = list(array.shape) + [1] * max(0, 3 - array.ndim)
    with open(path, "wb") as handle:
        handle.write(np.array([magic, array.ndim] + dims, "<i4").tobytes())
        handle.write(np.ascontiguousarray(array).tobytes())
    return path


def sparse_norb_dat(path, num, images):
    """A (num, 2, 96, 96) byte matrix of zeros with ``images`` ({row: (2, 96, 96) uint8}) set, sparse."""
    with open(path, "wb") as handle:
        handle.write(np.array([0x1E3D4C55, 4, num, 2, 96, 96], "<i4").tobytes())
        for row in sorted(images):
            handle.seek(24 + row * 2 * 96 * 96)
            handle.write(np.ascontiguousarray(images[row], np.uint8).tobytes())
        handle.truncate(24 + num * 2 * 96 * 96)
    return path


def zlib_crc_check():
    """crc32_zeros against zlib itself (used by the tests)."""
    return crc32_zeros(zlib.crc32(b"abc"), 1000) == zlib.crc32(b"abc" + bytes(1000))
