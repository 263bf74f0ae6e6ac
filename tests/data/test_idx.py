import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from descentlab.data import (
    MNIST_FILES,
    DataError,
    load_fashion_mnist,
    load_mnist,
    read_idx,
    write_idx,
)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_roundtrip(tmp_path, gz, dtype):
    rng = np.random.default_rng(0)
    array = (rng.normal(size=(5, 3, 4)) * 50).astype(dtype)
    path = write_idx(tmp_path / "a.idx", array, gzip=gz)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype)
    assert back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    back[0] = 0  # writable
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == gz


def test_header_bytes_are_the_idx_format(tmp_path):
    path = write_idx(tmp_path / "labels", np.array([7, 2, 1], dtype=np.uint8))
    assert path.read_bytes() == bytes([0, 0, 8, 1, 0, 0, 0, 3, 7, 2, 1])


def test_gzip_detected_by_content_not_suffix(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    gz_without_suffix = write_idx(tmp_path / "plain-name", array, gzip=True)
    raw_with_gz_suffix = write_idx(tmp_path / "fake.gz", array, gzip=False)
    np.testing.assert_array_equal(read_idx(gz_without_suffix), array)
    np.testing.assert_array_equal(read_idx(raw_with_gz_suffix), array)


def _raw(array):
    return (
        bytes([0, 0, 8, array.ndim])
        + np.asarray(array.shape, ">u4").tobytes()
        + (array.astype(np.uint8).tobytes())
    )


GOOD = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_raw(GOOD)[:-5], "truncated"),
        (_raw(GOOD)[:10], "truncated"),
        (b"\x00\x00", "truncated"),
        (b"", "truncated"),
        (_raw(GOOD) + b"\x00", "longer"),
        (b"\x08\x03" + _raw(GOOD)[2:], "magic"),
        (b"\x00\x00\x07\x03" + _raw(GOOD)[4:], "magic"),
        (b"\x00\x00\x08\x00", "0 dimensions"),
        (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), "truncated"),  # count says 5, holds 2
    ],
)
@pytest.mark.parametrize("gz", [False, True])
def test_malformed_files_raise_dataerror_naming_file(tmp_path, content, message, gz):
    path = tmp_path / "broken-file-idx3-ubyte"
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_corrupt_gzip(tmp_path):
    blob = bytearray(gzip.compress(_raw(GOOD)))
    truncated = tmp_path / "trunc.gz"
    truncated.write_bytes(bytes(blob[:-12]))
    blob[12:20] = b"\xff" * 8
    garbled = tmp_path / "garbled.gz"
    garbled.write_bytes(bytes(blob))
    for path in (truncated, garbled):
        with pytest.raises(DataError, match="gzip") as info:
            read_idx(path)
        assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_idx(tmp_path / "nope")


def test_md5_check(tmp_path):
    path = write_idx(tmp_path / "x.gz", GOOD, gzip=True)
    digest = hashlib.md5(_raw(GOOD)).hexdigest()
    np.testing.assert_array_equal(read_idx(path, md5=digest), GOOD)
    with pytest.raises(DataError, match="MD5"):
        read_idx(path, md5="0" * 32)


def test_write_idx_rejects_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="uint16"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.uint16))
    with pytest.raises(TypeError, match="bool"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=bool))


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_generated(tmp_path, gz, make_fake_mnist):
    arrays = make_fake_mnist(tmp_path, n_train=40, n_test=20, gz=gz)
    (Xtr, ytr), (Xte, yte) = load_mnist(tmp_path)
    assert Xtr.shape == (40, 784) and Xtr.dtype == np.float32
    assert ytr.shape == (40,) and ytr.dtype == np.int64
    np.testing.assert_array_equal(Xte, arrays[MNIST_FILES[2]].reshape(20, -1) / np.float32(255))
    np.testing.assert_array_equal(yte, arrays[MNIST_FILES[3]])
    (Xtr3, _), _ = load_fashion_mnist(tmp_path, flatten=False)
    assert Xtr3.shape == (40, 28, 28)


def test_load_mnist_missing_file_lists_expected(tmp_path, make_fake_mnist):
    make_fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert str(tmp_path / "t10k-labels-idx1-ubyte") in message
    for stem in MNIST_FILES:
        assert stem in message


def test_load_mnist_missing_directory(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_mnist(tmp_path / "absent")


def test_load_mnist_count_mismatch(tmp_path, make_fake_mnist):
    make_fake_mnist(tmp_path)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(29, np.uint8), gzip=True)
    with pytest.raises(DataError, match="30 images but .* 29 labels"):
        load_mnist(tmp_path)


def test_load_mnist_bad_kind(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        load_mnist(tmp_path, kind="cifar")


def test_real_mnist_facts(mnist_dir: Path):
    (Xtr, ytr), (Xte, yte) = load_mnist(mnist_dir)
    assert Xtr.shape == (20000, 784) and Xte.shape == (10000, 784)
    assert Xtr.dtype == Xte.dtype == np.float32
    assert ytr.dtype == yte.dtype == np.int64
    assert Xtr.min() == 0.0 and Xtr.max() == 1.0 and Xte.max() == 1.0
    np.testing.assert_array_equal(
        np.bincount(yte), [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    )
    np.testing.assert_array_equal(yte[:10], [7, 2, 1, 0, 4, 1, 4, 9, 5, 9])
    np.testing.assert_array_equal(ytr[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    # scaled exactly as torchvision's ToTensor: uint8 / 255 in float32
    raw = read_idx(mnist_dir / "t10k-images-idx3-ubyte.gz")
    assert raw.shape == (10000, 28, 28) and raw.dtype == np.uint8
    np.testing.assert_array_equal(Xte[:100], raw[:100].reshape(100, -1).astype(np.float32) / 255)


def test_real_mnist_checksums(mnist_dir: Path):
    images = read_idx(
        mnist_dir / "t10k-images-idx3-ubyte.gz", md5="2646ac647ad5339dbf082846283269ea"
    )
    labels = read_idx(
        mnist_dir / "t10k-labels-idx1-ubyte.gz", md5="27ae3e4e09519cfbb04c329615203637"
    )
    assert len(images) == len(labels) == 10000


def test_real_fashion_labels(fashion_mnist_dir):
    labels = read_idx(fashion_mnist_dir / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,)
    np.testing.assert_array_equal(np.bincount(labels), [1000] * 10)


def _header(code: int, *dims: int) -> bytes:
    return bytes([0, 0, code, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize(
    ("dims", "message"),
    [
        ((0xFFFFFFFF, 28, 28), "4294967295"),  # a negative count written unsigned
        ((2**31 - 1, 2**31 - 1, 2**31 - 1, 2**31 - 1), "more than the limit"),  # > int64
        ((60000, 28, 28), "truncated"),  # honest-looking header, 16 data bytes
    ],
)
def test_hostile_header_refused_before_allocating(tmp_path, dims, message, gz):
    content = _header(0x08, *dims) + bytes(16)
    path = tmp_path / "hostile-idx3-ubyte"
    path.write_bytes(gzip.compress(content) if gz else content)
    with pytest.raises(DataError, match=message) as info:
        read_idx(path)
    assert str(path) in str(info.value)


def test_header_product_against_limit(tmp_path):
    path = write_idx(tmp_path / "a", np.zeros((4, 5, 6), np.float64))
    assert read_idx(path, max_bytes=4 * 5 * 6 * 8).shape == (4, 5, 6)
    with pytest.raises(DataError, match="960 data bytes, more than the limit of 959"):
        read_idx(path, max_bytes=959)


def test_gzip_bomb_claiming_little_is_refused_without_reading_it_all(tmp_path):
    # the header says 10 bytes, the stream decompresses to 50 MB of zeros
    content = _header(0x08, 10) + bytes(50_000_000)
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(content, compresslevel=1))
    with pytest.raises(DataError, match="longer than its header says"):
        read_idx(path)


def test_big_endian_types_come_back_native_and_writable(tmp_path):
    array = np.array([[1, -2], [300000, -4]], dtype=np.int32)
    back = read_idx(write_idx(tmp_path / "i", array, gzip=True))
    assert back.dtype == np.dtype("=i4") and back.flags.writeable
    np.testing.assert_array_equal(back, array)


def _mnist_dir(tmp_path, make_fake_mnist, **overrides):
    make_fake_mnist(tmp_path, n_train=20, n_test=10, gz=False)
    for stem, array in overrides.items():
        write_idx(tmp_path / stem, array)
    return tmp_path


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"train-labels-idx1-ubyte": np.array([0] * 19 + [10**9], np.int32)},
            "label 1000000000 at index 19; mnist labels are 0..9",
        ),
        ({"t10k-labels-idx1-ubyte": np.array([0] * 9 + [10], np.uint8)}, "label 10 at index 9"),
        ({"t10k-labels-idx1-ubyte": np.array([0] * 9 + [-1], np.int8)}, "label -1"),
        ({"train-labels-idx1-ubyte": np.zeros(20, np.float32)}, "expected integers"),
        (
            {
                "train-images-idx3-ubyte": np.zeros((0, 28, 28), np.uint8),
                "train-labels-idx1-ubyte": np.zeros(0, np.uint8),
            },
            "holds no data",
        ),
        ({"t10k-images-idx3-ubyte": np.zeros((10, 0, 28), np.uint8)}, "holds no data"),
        ({"t10k-images-idx3-ubyte": np.zeros((10, 28, 28), np.float32)}, "uint8 pixels"),
        ({"t10k-labels-idx1-ubyte": np.zeros(11, np.uint8)}, "10 images but .* 11 labels"),
    ],
)
def test_load_mnist_rejects_bad_contents(tmp_path, make_fake_mnist, overrides, message):
    folder = _mnist_dir(tmp_path, make_fake_mnist, **overrides)
    with pytest.raises(DataError, match=message):
        load_mnist(folder)
