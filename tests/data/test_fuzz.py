"""Fuzzing the file readers: any bytes either load or raise DataError, cheaply."""

from __future__ import annotations

import gzip
import io
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from descentlab.data import DataError, load_npz, read_idx, write_idx

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
# far below any real data; a hostile header must not get past it (nor allocate near it)
LIMIT = 1 << 20


def _idx_seed() -> bytes:
    buf = io.BytesIO()
    array = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + np.asarray(array.shape, ">u4").tobytes()
    buf.write(header + array.tobytes())
    return buf.getvalue()


IDX_SEED = _idx_seed()


def _mutations(seed: bytes):
    """Byte strings near ``seed``: overwritten, cut, extended, or spliced at random."""
    edits = st.lists(
        st.tuples(st.integers(0, len(seed) + 8), st.binary(min_size=0, max_size=6)),
        max_size=4,
    )

    def apply(args):
        cut, spliced = args
        out = bytearray(seed[:cut] if cut else seed)
        for pos, blob in spliced:
            pos = min(pos, len(out))
            out[pos : pos + len(blob)] = blob
        return bytes(out)

    return st.tuples(st.integers(0, len(seed)), edits).map(apply)


def _check_idx(raw: bytes, path) -> None:
    path.write_bytes(raw)
    try:
        array = read_idx(path, max_bytes=LIMIT)
    except DataError:
        return
    # loaded: the header must describe exactly what came back
    assert array.nbytes <= LIMIT and array.dtype.isnative
    assert 4 + 4 * array.ndim + array.nbytes == len(
        gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw
    )


@FUZZ
@given(raw=st.one_of(st.binary(max_size=64), _mutations(IDX_SEED)))
def test_idx_reader_loads_or_raises_dataerror(raw, tmp_path):
    _check_idx(raw, tmp_path / "fuzz-idx")


@FUZZ
@given(raw=_mutations(IDX_SEED), level=st.integers(0, 9))
def test_gzipped_idx_reader_loads_or_raises_dataerror(raw, level, tmp_path):
    _check_idx(gzip.compress(raw, compresslevel=level, mtime=0), tmp_path / "fuzz-idx.gz")


@FUZZ
@given(blob=_mutations(gzip.compress(IDX_SEED, mtime=0)))
def test_damaged_gzip_loads_or_raises_dataerror(blob, tmp_path):
    path = tmp_path / "damaged.gz"
    path.write_bytes(blob)
    try:
        read_idx(path, max_bytes=LIMIT)
    except DataError:
        pass


def _npz_seed(compressed: bool) -> bytes:
    buf = io.BytesIO()
    save = np.savez_compressed if compressed else np.savez
    save(buf, X=np.arange(12, dtype=np.float32).reshape(6, 2), y=np.array([0, 1, 2, 0, 1, 2]))
    return buf.getvalue()


@pytest.mark.parametrize("compressed", [False, True])
def test_npz_seed_loads(tmp_path, compressed):
    path = tmp_path / "seed.npz"
    path.write_bytes(_npz_seed(compressed))
    (X, y), _ = load_npz(path)
    assert X.shape == (6, 2) and list(y) == [0, 1, 2, 0, 1, 2]


def _check_npz(raw: bytes, path) -> None:
    path.write_bytes(raw)
    try:
        (X, y), test = load_npz(path, max_bytes=LIMIT)
    except DataError:
        return
    assert len(X) == len(y) and X.dtype == np.float32 and np.isfinite(X).all()
    assert test is None or len(test[0]) == len(test[1])


@FUZZ
@given(raw=st.one_of(st.binary(max_size=64), _mutations(_npz_seed(False))))
def test_npz_reader_loads_or_raises_dataerror(raw, tmp_path):
    _check_npz(raw, tmp_path / "fuzz.npz")


@FUZZ
@given(raw=_mutations(_npz_seed(True)))
def test_compressed_npz_reader_loads_or_raises_dataerror(raw, tmp_path):
    _check_npz(raw, tmp_path / "fuzz.npz")


@FUZZ
@given(
    header=st.dictionaries(
        st.sampled_from(["descr", "fortran_order", "shape", "extra"]),
        st.one_of(
            st.sampled_from(["<f8", "|u1", ">i4", "O", "<U3", "|V4", "<c16", "|b1"]),
            st.booleans(),
            st.lists(st.integers(-3, 2**40), max_size=4).map(tuple),
            st.integers(),
            st.text(max_size=5),
        ),
    ),
    payload=st.binary(max_size=64),
)
def test_npy_members_with_odd_headers(header, payload, tmp_path):
    text = repr(header).encode()
    text = text + b" " * (63 - (10 + len(text)) % 64) + b"\n"
    member = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + payload
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("X.npy", member)
        archive.writestr("y.npy", member)
    _check_npz(buf.getvalue(), tmp_path / "odd.npz")


def test_roundtrip_still_exact(tmp_path):
    array = np.arange(60, dtype=np.int16).reshape(3, 4, 5)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "r", array)), array)
