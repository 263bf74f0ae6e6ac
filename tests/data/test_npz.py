import numpy as np
import pytest

from descentlab.data import DataError, load_npz


def test_x_y_layout(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 3))
    y = rng.integers(0, 3, 30).astype(np.int32)
    np.savez(tmp_path / "d.npz", X=X, y=y)
    (Xl, yl), test = load_npz(tmp_path / "d.npz")
    assert test is None
    assert Xl.dtype == np.float32 and yl.dtype == np.int64
    np.testing.assert_allclose(Xl, X.astype(np.float32))
    np.testing.assert_array_equal(yl, y)


def test_train_test_layout_with_uint8_images(tmp_path):
    rng = np.random.default_rng(1)
    xtr = rng.integers(0, 256, size=(20, 5, 5), dtype=np.uint8)
    xte = rng.integers(0, 256, size=(8, 5, 5), dtype=np.uint8)
    np.savez_compressed(
        tmp_path / "img.npz",
        x_train=xtr,
        y_train=np.arange(20) % 4,
        x_test=xte,
        y_test=np.arange(8) % 4,
    )
    (Xtr, ytr), (Xte, yte) = load_npz(tmp_path / "img.npz")
    assert Xtr.shape == (20, 25) and Xte.shape == (8, 25)
    np.testing.assert_array_equal(ytr, np.arange(20) % 4)
    np.testing.assert_array_equal(yte, np.arange(8) % 4)
    np.testing.assert_array_equal(Xte, xte.reshape(8, 25).astype(np.float32) / 255)
    (Ximg, _), _ = load_npz(tmp_path / "img.npz", flatten=False)
    assert Ximg.shape == (20, 5, 5)


def test_positional_arrays_and_regression_targets(tmp_path):
    X = np.linspace(0, 1, 10)[:, None]
    np.savez(tmp_path / "r.npz", X, 2 * X[:, 0])
    (Xl, yl), _ = load_npz(tmp_path / "r.npz")
    assert yl.shape == (10, 1) and yl.dtype == np.float32
    np.testing.assert_allclose(Xl, X)
    np.testing.assert_allclose(yl[:, 0], 2 * X[:, 0])


def test_missing_keys_are_listed(tmp_path):
    np.savez(tmp_path / "only.npz", np.zeros((3, 2)))
    with pytest.raises(DataError, match=r"keys \['arr_0'\].*x_train, y_train") as info:
        load_npz(tmp_path / "only.npz")
    assert "only.npz" in str(info.value)


def test_length_mismatch_names_both(tmp_path):
    np.savez(tmp_path / "m.npz", X=np.zeros((4, 2)), y=np.zeros(5, dtype=int))
    with pytest.raises(DataError, match="'x' has 4 samples but 'y' has 5"):
        load_npz(tmp_path / "m.npz")


def test_pickled_object_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "p.npz", X=np.array([{"a": 1}], dtype=object), y=np.zeros(1, int))
    with pytest.raises(DataError, match="p.npz"):
        load_npz(tmp_path / "p.npz")


def test_missing_and_garbage_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_npz(tmp_path / "absent.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip at all")
    with pytest.raises(DataError, match="junk.npz"):
        load_npz(tmp_path / "junk.npz")


def test_shared_fashion_npz_needs_labels(fashion_mnist_dir):
    # the shared folder stores images and labels in separate single-array files
    with pytest.raises(DataError, match="arr_0"):
        load_npz(fashion_mnist_dir / "test_first2k/x_test.npz")


def test_label_far_out_of_range_is_refused(tmp_path, monkeypatch):
    y = np.zeros(6, dtype=np.int64)
    y[4] = 10**9
    np.savez(tmp_path / "big.npz", X=np.zeros((6, 2)), y=y)
    with pytest.raises(DataError, match=r"class label 1000000000 .*sample 4.*at most 10000"):
        load_npz(tmp_path / "big.npz")
    y[4] = 10_000
    np.savez(tmp_path / "edge.npz", X=np.zeros((6, 2)), y=y)
    with pytest.raises(DataError, match="max_classes"):
        load_npz(tmp_path / "edge.npz")
    assert load_npz(tmp_path / "edge.npz", max_classes=10_001)[0][1][4] == 10_000
    monkeypatch.setenv("DESCENTLAB_MAX_CLASSES", "20000")
    assert load_npz(tmp_path / "edge.npz")[0][1][4] == 10_000
    monkeypatch.setenv("DESCENTLAB_MAX_CLASSES", "lots")
    with pytest.raises(ValueError, match="DESCENTLAB_MAX_CLASSES must be a positive integer"):
        load_npz(tmp_path / "edge.npz")


def test_negative_label_and_nonfinite_values(tmp_path):
    np.savez(tmp_path / "neg.npz", X=np.zeros((3, 2)), y=np.array([0, -3, 1]))
    with pytest.raises(DataError, match="negative class label -3"):
        load_npz(tmp_path / "neg.npz")
    X = np.zeros((3, 2))
    X[2, 1] = np.nan
    np.savez(tmp_path / "nan.npz", X=X, y=np.array([0, 1, 1]))
    with pytest.raises(DataError, match=r"NaN or infinity \(sample 2\)"):
        load_npz(tmp_path / "nan.npz")
    np.savez(tmp_path / "inf.npz", X=np.zeros((3, 2)), y=np.array([0.0, np.inf, 1.0]))
    with pytest.raises(DataError, match=r"NaN or infinity \(sample 1\)"):
        load_npz(tmp_path / "inf.npz")


def test_empty_split_is_refused(tmp_path):
    np.savez(tmp_path / "e.npz", x_train=np.zeros((0, 4)), y_train=np.zeros(0, int))
    with pytest.raises(DataError, match="at least one sample"):
        load_npz(tmp_path / "e.npz")


def _npy(shape: str, payload: bytes) -> bytes:
    """An .npy member with a hand-written header (any shape it likes) and payload."""
    text = f"{{'descr': '<f8', 'fortran_order': False, 'shape': {shape}, }}".encode()
    text = text + b" " * (63 - (10 + len(text)) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text + payload


def test_member_header_claiming_more_than_it_holds(tmp_path):
    import zipfile

    liar = _npy("(1000000000000,)", bytes(80))  # claims 8 TB, holds 80 bytes
    with zipfile.ZipFile(tmp_path / "liar.npz", "w") as archive:
        archive.writestr("X.npy", liar)
        archive.writestr("y.npy", liar)
    with pytest.raises(DataError, match=r"'X.npy' declares shape \(1000000000000,\)"):
        load_npz(tmp_path / "liar.npz")
    with pytest.raises(DataError, match="more than the limit of 10"):
        load_npz(tmp_path / "liar.npz", max_bytes=10)
    with zipfile.ZipFile(tmp_path / "honest.npz", "w") as archive:
        archive.writestr("X.npy", _npy("(5, 2)", bytes(80)))
        archive.writestr("y.npy", _npy("(5, 2)", bytes(80)))
    (X, y), _ = load_npz(tmp_path / "honest.npz")
    assert X.shape == (5, 2) and y.shape == (5, 2)


def test_npy_file_is_not_an_archive(tmp_path):
    np.save(tmp_path / "one.npy", np.zeros(3))
    with pytest.raises(DataError, match="single .npy array"):
        load_npz(tmp_path / "one.npy")
