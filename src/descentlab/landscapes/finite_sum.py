"""Finite-sum problems: a loss that is the mean of n per-sample losses, for SGD.

:math:`F(\\theta) = \\frac1n \\sum_{i=1}^n \\ell_i(\\theta)`. With ``idx`` the value and
gradient are the exact means over those samples, so a mini-batch gradient
:math:`g_t = \\frac1{|B|}\\sum_{i \\in B} \\nabla \\ell_i(\\theta_t)` is what SGD uses, and
``idx=None`` gives the full-batch (GD) gradient. Parameters are
:math:`\\theta = (w, b)`, so each problem is a 2-D landscape one can draw.

>>> from descentlab.landscapes import eight_points
>>> f = eight_points()
>>> f.n_samples, f.solution.round(4).tolist()
(8, [2.2614, 0.4746])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from descentlab.landscapes.base import Landscape, as_points

__all__ = [
    "EIGHT_X",
    "EIGHT_Y",
    "FiniteSum",
    "LinearRegression",
    "LogisticRegression",
    "eight_points",
    "linear_regression",
    "logistic_regression",
]

#: The lecture's eight noisy points around the line y = 2x + 1.
EIGHT_X = np.array([-1.5, -1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0])
EIGHT_Y = np.array([-2.87, -1.67, -0.68, 0.82, 0.84, 2.91, 3.52, 5.45])


def _samples(x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """The data of a two-parameter problem as equal-length float64 vectors."""
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape or x.size < 2:
        raise ValueError(
            f"x and y must be 1-D with the same length >= 2, got {x.shape} and {y.shape}"
        )
    return x, y


class FiniteSum(Landscape):
    """A landscape F = mean_i l_i over n samples, with per-sample values and gradients.

    Subclasses implement ``sample_values(X, idx)`` -> (..., m) and
    ``sample_grads(X, idx)`` -> (..., m, D) for the samples ``idx`` (m of them).
    """

    n_samples: int

    def _idx(self, idx: Any) -> np.ndarray | slice:
        if idx is None:
            return slice(None)
        arr = np.asarray(idx)
        if arr.dtype.kind not in "iu" or arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"idx must be a non-empty 1-D array of sample indices, got {idx!r}")
        if arr.min() < 0 or arr.max() >= self.n_samples:
            raise ValueError(
                f"idx must lie in [0, {self.n_samples - 1}], got values from {arr.min()} to "
                f"{arr.max()}"
            )
        return arr

    def sample_values(self, X: np.ndarray, idx: Any = None) -> np.ndarray:
        raise NotImplementedError

    def sample_grads(self, X: np.ndarray, idx: Any = None) -> np.ndarray:
        raise NotImplementedError

    def value(self, X: Any, idx: Any = None) -> np.ndarray:
        """Mean loss over the samples ``idx`` (all when None) at each point of X."""
        pts, _ = as_points(X, self.dim)
        return self.sample_values(pts, self._idx(idx)).mean(axis=-1)

    def grad(self, X: Any, idx: Any = None) -> np.ndarray:
        """Mean gradient over the samples ``idx`` (all when None), shape of X."""
        pts, _ = as_points(X, self.dim)
        return self._mean_grad(pts, self._idx(idx))

    def value_and_grad(self, X: Any, idx: Any = None) -> tuple[np.ndarray, np.ndarray]:
        return self.value(X, idx), self.grad(X, idx)

    def _mean_grad(self, pts: np.ndarray, idx: Any) -> np.ndarray:
        return self.sample_grads(pts, idx).mean(axis=-2)


class LinearRegression(FiniteSum):
    r"""Least squares for a line: :math:`F(w, b) = \frac1n\sum_i (w x_i + b - y_i)^2`.

    The per-sample loss is PyTorch's ``MSELoss`` term (no factor 1/2); the gradient of
    sample i is :math:`2 r_i (x_i, 1)` with residual :math:`r_i = w x_i + b - y_i`.
    ``solution`` is the least-squares solution (the unique minimum).
    """

    def __init__(self, x: Any, y: Any, name: str = "linear_regression") -> None:
        self.x, self.y = _samples(x, y)
        if not (np.isfinite(self.x).all() and np.isfinite(self.y).all()):
            raise ValueError("x and y must be finite")
        self.n_samples = self.x.size
        A = np.stack([self.x, np.ones_like(self.x)], axis=1)
        self.solution = np.linalg.lstsq(A, self.y, rcond=None)[0]
        hess = 2 * A.T @ A / self.n_samples
        lmax = float(np.linalg.eigvalsh(hess).max())
        w, b = self.solution
        span = max(2.0, 1.5 * abs(w), 1.5 * abs(b))
        super().__init__(
            name,
            2,
            self._value_all,
            self._grad_all,
            minima=[self.solution],
            bounds=[[w - span, w + span], [b - span, b + span]],
            start=[w - 0.8 * span, b + 0.8 * span],
            lr=round(0.5 / lmax, 3) or 0.5 / lmax,
            description=f"least-squares line fit to {self.n_samples} points: F(w, b) = mean "
            "(w x_i + b - y_i)^2",
            formula="mean_i (w*x_i + b - y_i)**2",
            latex=r"\frac1n\sum_i (w x_i + b - y_i)^2",
            params={"n": self.n_samples},
        )

    def _residuals(self, X: np.ndarray, idx: Any) -> tuple[np.ndarray, np.ndarray]:
        xs = self.x[idx]
        r = X[..., 0:1] * xs + X[..., 1:2] - self.y[idx]
        return r, xs

    def sample_values(self, X: np.ndarray, idx: Any = None) -> np.ndarray:
        r, _ = self._residuals(X, slice(None) if idx is None else idx)
        return r * r

    def sample_grads(self, X: np.ndarray, idx: Any = None) -> np.ndarray:
        r, xs = self._residuals(X, slice(None) if idx is None else idx)
        return np.stack([2 * r * xs, 2 * r], axis=-1)

    def _mean_grad(self, pts: np.ndarray, idx: Any) -> np.ndarray:
        r, xs = self._residuals(pts, idx)
        return np.stack([2 * (r * xs).mean(axis=-1), 2 * r.mean(axis=-1)], axis=-1)

    def _value_all(self, X: np.ndarray) -> np.ndarray:
        return self.sample_values(X).mean(axis=-1)

    def _grad_all(self, X: np.ndarray) -> np.ndarray:
        return self._mean_grad(X, slice(None))


class LogisticRegression(FiniteSum):
    r"""Logistic regression with one feature: :math:`F(w, b) = \frac1n\sum_i
    \left[\log(1 + e^{z_i}) - y_i z_i\right]`, :math:`z_i = w x_i + b`, :math:`y_i \in \{0, 1\}`.

    This is PyTorch's ``BCEWithLogitsLoss``; sample i has gradient
    :math:`(\sigma(z_i) - y_i)(x_i, 1)`. ``solution`` (the minimum, found by Newton's
    method) exists when the classes overlap; for separable data it is ``None``.
    """

    def __init__(self, x: Any, y: Any, name: str = "logistic_regression") -> None:
        self.x, self.y = _samples(x, y)
        if not np.isin(self.y, (0.0, 1.0)).all():
            raise ValueError(f"labels y must be 0 or 1, got {np.unique(self.y).tolist()}")
        self.n_samples = self.x.size
        self.solution = self._newton()
        center = self.solution if self.solution is not None else np.zeros(2)
        span = max(3.0, 1.5 * float(np.abs(center).max()))
        A = np.stack([self.x, np.ones_like(self.x)], axis=1)
        lmax = float(np.linalg.eigvalsh(A.T @ A / (4 * self.n_samples)).max())
        super().__init__(
            name,
            2,
            self._value_all,
            self._grad_all,
            minima=None if self.solution is None else [self.solution],
            minima_known=self.solution is not None,
            bounds=[[center[0] - span, center[0] + span], [center[1] - span, center[1] + span]],
            start=center + np.array([-0.7, 0.7]) * span,
            lr=round(1.0 / lmax, 3),
            description=f"logistic regression on {self.n_samples} labelled points: "
            "F(w, b) = mean BCE(sigmoid(w x_i + b), y_i)",
            formula="mean_i log(1 + exp(w*x_i + b)) - y_i*(w*x_i + b)",
            latex=r"\frac1n\sum_i \log(1 + e^{w x_i + b}) - y_i (w x_i + b)",
            params={"n": self.n_samples},
        )

    def _z(self, X: np.ndarray, idx: Any) -> tuple[np.ndarray, np.ndarray]:
        xs = self.x[idx]
        return X[..., 0:1] * xs + X[..., 1:2], xs

    def sample_values(self, X: np.ndarray, idx: Any = None) -> np.ndarray:
        idx = slice(None) if idx is None else idx
        z, _ = self._z(X, idx)
        return np.logaddexp(0.0, z) - self.y[idx] * z

    def sample_grads(self, X: np.ndarray, idx: Any = None) -> np.ndarray:
        idx = slice(None) if idx is None else idx
        z, xs = self._z(X, idx)
        d = 0.5 * (1.0 + np.tanh(0.5 * z)) - self.y[idx]
        return np.stack([d * xs, d], axis=-1)

    def _mean_grad(self, pts: np.ndarray, idx: Any) -> np.ndarray:
        z, xs = self._z(pts, idx)
        d = 0.5 * (1.0 + np.tanh(0.5 * z)) - self.y[idx]
        return np.stack([(d * xs).mean(axis=-1), d.mean(axis=-1)], axis=-1)

    def _value_all(self, X: np.ndarray) -> np.ndarray:
        return self.sample_values(X).mean(axis=-1)

    def _grad_all(self, X: np.ndarray) -> np.ndarray:
        return self._mean_grad(X, slice(None))

    def _newton(self) -> np.ndarray | None:
        x0, x1 = self.x[self.y == 0], self.x[self.y == 1]
        if x0.size == 0 or x1.size == 0 or x0.max() < x1.min() or x1.max() < x0.min():
            return None  # one class, or separable: F decreases forever along a direction
        A = np.stack([self.x, np.ones_like(self.x)], axis=1)
        theta = np.zeros(2)
        with np.errstate(all="ignore"):
            for _ in range(100):
                p = 0.5 * (1.0 + np.tanh(0.5 * (A @ theta)))
                g = A.T @ (p - self.y) / self.n_samples
                H = (A * (p * (1 - p))[:, None]).T @ A / self.n_samples
                if np.linalg.cond(H) > 1e12:
                    return None
                theta = theta - np.linalg.solve(H, g)
                if not np.isfinite(theta).all() or np.abs(theta).max() > 1e6:
                    return None
                if np.linalg.norm(g) < 1e-14:
                    break
        return theta if np.linalg.norm(g) < 1e-10 else None


def eight_points() -> LinearRegression:
    """The lecture's eight noisy points around y = 2x + 1 as a least-squares problem."""
    return LinearRegression(EIGHT_X, EIGHT_Y, name="eight_points")


def linear_regression(
    n: int = 8, slope: float = 2.0, intercept: float = 1.0, noise: float = 0.5, seed: int = 0
) -> LinearRegression:
    """n noisy points y = slope x + intercept + N(0, noise^2), x evenly spaced in [-1.5, 2]."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    x = np.linspace(-1.5, 2.0, n)
    y = slope * x + intercept + np.random.default_rng(seed).normal(0.0, noise, n)
    return LinearRegression(x, y)


def logistic_regression(n: int = 40, seed: int = 0, separation: float = 2.0) -> LogisticRegression:
    """n points, half of class 0 around x = -separation/2 and half of class 1 around +separation/2
    (unit variance, so the classes overlap and the minimum exists)."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(np.float64)
    x = rng.normal(0.0, 1.0, n) + separation * (y - 0.5)
    return LogisticRegression(x, y)
