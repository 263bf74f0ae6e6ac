import numpy as np
import pytest

from descentlab.data import make_line, make_polynomial


def test_line_defaults_and_exact_without_noise():
    X, y = make_line(seed=0)
    assert X.shape == (8, 1) and y.shape == (8, 1)
    assert X.dtype == y.dtype == np.float32
    Xc, yc = make_line(n=5, slope=2.0, intercept=-1.0, noise=0.0, x_range=(0, 4))
    np.testing.assert_allclose(Xc[:, 0], [0, 1, 2, 3, 4])
    np.testing.assert_allclose(yc[:, 0], [-1, 1, 3, 5, 7])


def test_line_noise_deterministic_and_scaled():
    _, y1 = make_line(n=2000, noise=0.3, seed=5)
    _, y2 = make_line(n=2000, noise=0.3, seed=5)
    _, clean = make_line(n=2000, noise=0.0)
    np.testing.assert_array_equal(y1, y2)
    assert abs(np.std(y1 - clean) - 0.3) < 0.02


def test_polynomial_coefficients_lowest_order_first():
    X, y = make_polynomial(n=7, coeffs=(1.0, 0.0, 2.0), noise=0.0, x_range=(-3, 3))
    np.testing.assert_allclose(y[:, 0], 1 + 2 * X[:, 0] ** 2, rtol=1e-6)
    X, y = make_polynomial(noise=0.0)
    np.testing.assert_allclose(y[:, 0], X[:, 0] ** 3 - X[:, 0], atol=1e-6)
    assert X.min() == -1.5 and X.max() == 1.5


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: make_line(n=0), "n must be an integer >= 1, got 0"),
        (lambda: make_line(noise=-1), "noise"),
        (lambda: make_line(slope=float("inf")), "slope must be a finite number"),
        (lambda: make_line(x_range=(1, 1)), "x_range"),
        (lambda: make_polynomial(coeffs=()), "coeffs"),
        (lambda: make_polynomial(x_range=(0,)), "x_range"),
    ],
)
def test_bad_arguments(call, match):
    with pytest.raises(ValueError, match=match):
        call()
