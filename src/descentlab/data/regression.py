"""One-dimensional regression sets: the lecture's noisy line and noisy polynomials.

Both return ``(X, y)`` with ``X`` float32 of shape ``(n, 1)`` and ``y`` float32 of
shape ``(n, 1)``. The inputs are evenly spaced over ``x_range`` (both ends included),
so a plot of the samples is tidy; the targets carry Gaussian noise of standard
deviation ``noise`` drawn from ``np.random.default_rng(seed)``.

The classic overfitting demonstration: fit ``make_line(n=8)`` with a degree-7
polynomial (or a wide network) and watch it pass through every noisy point, then
add an L2 penalty lambda ||theta||^2 and watch the curve flatten.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

from descentlab.data._checks import check_int, check_noise, check_range

__all__ = ["make_line", "make_polynomial"]

Dataset = tuple[np.ndarray, np.ndarray]


def make_polynomial(
    n: int = 50,
    coeffs: Sequence[float] = (0.0, -1.0, 0.0, 1.0),
    noise: float = 0.1,
    seed: int | None = None,
    x_range: tuple[float, float] = (-1.5, 1.5),
) -> Dataset:
    """Noisy samples of ``y = sum_k coeffs[k] x^k + eps`` with ``eps ~ N(0, noise^2)``.

    ``coeffs`` are given lowest order first (``np.polynomial`` convention); the default
    ``x^3 - x`` has two bends on the default range [-1.5, 1.5]. ``x`` is evenly spaced.
    """
    n = check_int("n", n, 1)
    noise = check_noise(noise)
    low, high = check_range("x_range", x_range)
    c = np.asarray(coeffs, dtype=np.float64)
    if c.ndim != 1 or len(c) == 0 or not np.all(np.isfinite(c)):
        raise ValueError(
            f"coeffs must be a non-empty 1-D sequence of finite numbers, got {coeffs!r}"
        )
    rng = np.random.default_rng(seed)
    x = np.linspace(low, high, n)
    y = np.polynomial.polynomial.polyval(x, c)
    y = y + noise * rng.standard_normal(n)
    return x[:, None].astype(np.float32), y[:, None].astype(np.float32)


def make_line(
    n: int = 8,
    slope: float = 0.5,
    intercept: float = 0.2,
    noise: float = 0.1,
    seed: int | None = None,
    x_range: tuple[float, float] = (-1.0, 1.0),
) -> Dataset:
    """Noisy samples of a line, ``y = slope x + intercept + eps``, ``eps ~ N(0, noise^2)``.

    The default eight points on [-1, 1] are the lecture's overfitting set.
    """
    for name, value in (("slope", slope), ("intercept", intercept)):
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    return make_polynomial(
        n, coeffs=(float(intercept), float(slope)), noise=noise, seed=seed, x_range=x_range
    )
