import numpy as np
import pytest

from descentlab.data import make_blobs, make_circles, make_moons, make_spirals, make_xor

GENERATORS = {
    "moons": (make_moons, {}),
    "circles": (make_circles, {}),
    "spirals3": (make_spirals, {"classes": 3}),
    "spirals5": (make_spirals, {"classes": 5}),
    "xor": (make_xor, {}),
    "blobs": (make_blobs, {"centers": 4}),
}


@pytest.fixture(params=sorted(GENERATORS))
def generator(request):
    return GENERATORS[request.param]


def test_shapes_dtypes_and_determinism(generator):
    make, kw = generator
    X, y = make(n=101, noise=0.1, seed=3, **kw)
    assert X.shape == (101, 2) and X.dtype == np.float32
    assert y.shape == (101,) and y.dtype == np.int64
    X2, y2 = make(n=101, noise=0.1, seed=3, **kw)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    X3, _ = make(n=101, noise=0.1, seed=4, **kw)
    assert not np.array_equal(X, X3)


def test_balanced_and_shuffled(generator):
    make, kw = generator
    _, y = make(n=203, noise=0.1, seed=0, **kw)
    counts = np.bincount(y)
    k = len(counts)
    assert k == kw.get("classes", kw.get("centers", 2))
    assert counts.max() - counts.min() <= 1 and counts.sum() == 203
    # shuffled: the first batch already mixes classes
    assert len(np.unique(y[:20])) == k


def test_values_in_documented_box(generator):
    make, kw = generator
    X, _ = make(n=2000, noise=0.0, seed=0, **kw)
    assert np.all(np.abs(X) <= 1.5 + 1e-6)
    assert np.all(np.isfinite(X))


def test_noise_is_gaussian_std(generator):
    make, kw = generator
    clean, y_clean = make(n=4000, noise=0.0, seed=7, **kw)
    noisy, y_noisy = make(n=4000, noise=0.3, seed=7, **kw)
    # same seed: same clean points in the same order, plus N(0, 0.3^2) per coordinate
    np.testing.assert_array_equal(y_clean, y_noisy)
    diff = noisy - clean
    np.testing.assert_allclose(diff.std(axis=0), [0.3, 0.3], atol=0.015)
    np.testing.assert_allclose(diff.mean(axis=0), [0.0, 0.0], atol=0.015)


def test_moons_geometry():
    X, y = make_moons(n=1000, noise=0.0, seed=0)
    upper = X[y == 0] + [0.5, 0.25]
    np.testing.assert_allclose(np.hypot(*upper.T), 1.0, atol=1e-6)
    lower = X[y == 1] + [0.5, 0.25]
    np.testing.assert_allclose(np.hypot(lower[:, 0] - 1, lower[:, 1] - 0.5), 1.0, atol=1e-6)
    assert X[:, 0].min() >= -1.5 - 1e-6 and X[:, 0].max() <= 1.5 + 1e-6
    assert np.abs(X[:, 1]).max() <= 0.75 + 1e-6


def test_circles_radii():
    X, y = make_circles(n=400, noise=0.0, factor=0.3, seed=0)
    r = np.hypot(*X.T)
    np.testing.assert_allclose(r[y == 0], 1.0, atol=1e-6)
    np.testing.assert_allclose(r[y == 1], 0.3, atol=1e-6)


def test_xor_labels_follow_quadrants():
    X, y = make_xor(n=500, noise=0.0, seed=1)
    np.testing.assert_array_equal(y, (X[:, 0] * X[:, 1] < 0).astype(np.int64))
    assert np.abs(X).min() >= 0.1 - 1e-6


def test_blobs_centres_and_spread():
    X, y = make_blobs(n=3000, centers=np.array([[0.0, 0.0], [3.0, 3.0]]), noise=0.5, seed=2)
    np.testing.assert_allclose(X[y == 1].mean(axis=0), [3.0, 3.0], atol=0.05)
    np.testing.assert_allclose(X[y == 0].std(axis=0), [0.5, 0.5], atol=0.03)


def test_spirals_arms_are_rotations():
    X, y = make_spirals(n=300, classes=3, noise=0.0, seed=0)
    r = np.hypot(*X.T)
    theta = np.arctan2(X[:, 1], X[:, 0])
    offset = np.mod(theta - 1.5 * np.pi * r - 2 * np.pi * y / 3 + np.pi, 2 * np.pi) - np.pi
    np.testing.assert_allclose(offset, 0.0, atol=1e-5)


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: make_moons(n=0), "n must be an integer >= 2, got 0"),
        (lambda: make_moons(noise=-0.1), r"noise must be .*>= 0, got -0\.1"),
        (lambda: make_circles(noise=float("nan")), "noise"),
        (lambda: make_circles(factor=1.0), "factor .* got 1.0"),
        (lambda: make_spirals(classes=1), "classes must be an integer >= 2, got 1"),
        (lambda: make_spirals(n=4, classes=5), "n must be at least classes=5"),
        (lambda: make_xor(n=-3), "got -3"),
        (lambda: make_blobs(centers=1), "centers must be an integer >= 2, got 1"),
        (lambda: make_blobs(centers=np.zeros((3, 3))), "shape"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_non_integer_n_is_a_type_error():
    with pytest.raises(TypeError, match="n must be an integer"):
        make_moons(n=10.5)
    with pytest.raises(TypeError, match="n must be an integer"):
        make_moons(n=True)
