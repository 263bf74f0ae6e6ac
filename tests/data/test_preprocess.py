import numpy as np
import pytest

from descentlab.data import normalize, standardize, train_val_test_split


def test_standardize_uses_train_statistics_only():
    rng = np.random.default_rng(0)
    Xtr = rng.normal(3.0, 2.0, size=(500, 4)).astype(np.float32)
    Xte = rng.normal(3.0, 2.0, size=(100, 4)).astype(np.float32)
    Ztr, Zte, stats = standardize(Xtr, Xte)
    assert Ztr.dtype == Zte.dtype == np.float32
    np.testing.assert_allclose(Ztr.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(Ztr.std(axis=0), 1.0, atol=1e-5)
    np.testing.assert_allclose(Zte, (Xte - Xtr.mean(0)) / Xtr.std(0), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(stats.inverse(Zte), Xte, rtol=1e-5, atol=1e-5)


def test_standardize_constant_feature_maps_to_zero():
    X = np.array([[1.0, 5.0], [3.0, 5.0]], dtype=np.float32)
    Z, stats = standardize(X)
    np.testing.assert_array_equal(Z[:, 1], 0.0)
    assert stats.std[1] == 1.0


def test_normalize_min_max():
    Xtr = np.array([[0.0, -2.0], [10.0, 2.0], [5.0, 0.0]], dtype=np.float32)
    Xte = np.array([[20.0, 0.0]], dtype=np.float32)
    Ntr, Nte, stats = normalize(Xtr, Xte)
    np.testing.assert_allclose(Ntr, [[0, 0], [1, 1], [0.5, 0.5]])
    np.testing.assert_allclose(Nte, [[2.0, 0.5]])
    np.testing.assert_allclose(stats.inverse(Nte), Xte)


def test_scaling_rejects_empty_and_non_numeric():
    with pytest.raises(ValueError, match="X_train"):
        standardize(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="X_train"):
        normalize(np.array(["a", "b"]))


def _imbalanced(seed=0):
    y = np.repeat(np.arange(4), [400, 200, 100, 13])
    X = np.arange(len(y) * 2, dtype=np.float32).reshape(-1, 2)
    return X, np.random.default_rng(seed).permutation(y)


def test_split_is_stratified_and_complete():
    X, y = _imbalanced()
    (Xtr, ytr), (Xva, yva), (Xte, yte) = train_val_test_split(X, y, val=0.1, test=0.2, seed=0)
    assert len(ytr) + len(yva) + len(yte) == len(y)
    assert len(yte) == round(0.2 * len(y)) and len(yva) == round(0.1 * len(y))
    # every sample exactly once, and X rows stay with their labels
    ids = np.concatenate([Xtr[:, 0], Xva[:, 0], Xte[:, 0]]) // 2
    np.testing.assert_array_equal(np.sort(ids), np.arange(len(y)))
    np.testing.assert_array_equal(np.concatenate([ytr, yva, yte]), y[ids.astype(int)])
    counts = np.bincount(y)
    for part, frac in ((yva, 0.1), (yte, 0.2)):
        per_class = np.bincount(part, minlength=4)
        assert np.all(per_class >= 1)
        assert np.all(np.abs(per_class - frac * counts) <= 1)


def test_split_is_deterministic_and_seed_dependent():
    X, y = _imbalanced()
    a = train_val_test_split(X, y, seed=42)
    b = train_val_test_split(X, y, seed=42)
    c = train_val_test_split(X, y, seed=43)
    for pa, pb in zip(a, b):
        np.testing.assert_array_equal(pa[0], pb[0])
    assert not np.array_equal(a[0][0], c[0][0])


def test_split_small_classes_in_every_split():
    y = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    X = np.arange(len(y))[:, None].astype(np.float32)
    (_, ytr), (_, yva), (_, yte) = train_val_test_split(X, y, val=0.1, test=0.1, seed=0)
    for part in (ytr, yva, yte):
        assert set(part.tolist()) == {0, 1, 2}


def test_split_zero_fractions_and_regression():
    X = np.linspace(0, 1, 50, dtype=np.float32)[:, None]
    y = 3 * X
    train, val, test = train_val_test_split(X, y, val=0.0, test=0.3, seed=1)
    assert val is None and len(test[0]) == 15 and len(train[0]) == 35
    np.testing.assert_allclose(test[1], 3 * test[0])
    train, val, test = train_val_test_split(X, y, val=0.2, test=0.0, seed=1)
    assert test is None and len(val[0]) == 10


def test_unstratified_split_sizes():
    X, y = _imbalanced()
    train, val, test = train_val_test_split(X, y, val=0.25, test=0.25, stratify=False, seed=0)
    assert (len(train[1]), len(val[1]), len(test[1])) == (357, 178, 178)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"val": -0.1}, r"val must be a fraction .* got -0\.1"),
        ({"test": 1.0}, "test must be a fraction .* got 1.0"),
        ({"val": 0.5, "test": 0.5}, "val \\+ test must be < 1"),
        ({"val": "0.1"}, "val must be a fraction"),
    ],
)
def test_split_bad_fractions(kwargs, match):
    X, y = _imbalanced()
    with pytest.raises(ValueError, match=match):
        train_val_test_split(X, y, **kwargs)


def test_split_length_mismatch():
    with pytest.raises(ValueError, match=r"len\(X\)=3, len\(y\)=4"):
        train_val_test_split(np.zeros((3, 1)), np.zeros(4, dtype=int))
