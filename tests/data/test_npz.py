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
        tmp_path / "img.npz", x_train=xtr, y_train=np.arange(20) % 4, x_test=xte,
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
