"""The :class:`Landscape`: a differentiable function of D variables with its facts.

A landscape bundles a vectorized value ``f(X)`` and gradient ``grad f(X)`` on
float64 arrays of shape (..., D) with what a student or a plot needs: the known
minima (and saddles), plot bounds, a suggested start and learning rate, and
whether the contours want a log scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

ArrayFn = Callable[[np.ndarray], np.ndarray]

__all__ = ["Landscape", "PenalizedLandscape", "as_points", "from_function"]


def as_points(X: Any, dim: int, what: str = "X") -> tuple[np.ndarray, bool]:
    """Return ``X`` as a float64 array of shape (..., dim) and whether a trailing axis was added.

    For a 1-D landscape a scalar or an array whose last axis is not of length 1 is
    read as a batch of points, so ``value(0.5)`` and ``value([0.1, 0.2, 0.3])`` work.
    """
    try:
        arr = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{what} must be an array of numbers, got {type(X).__name__}") from err
    if dim == 1 and (arr.ndim == 0 or arr.shape[-1] != 1):
        return arr[..., None], True
    if arr.ndim == 0 or arr.shape[-1] != dim:
        raise ValueError(
            f"{what} must have shape (..., {dim}) for this {dim}-D landscape, got shape {arr.shape}"
        )
    return arr, False


class Landscape:
    r"""A function :math:`f: \mathbb{R}^D \to \mathbb{R}` with vectorized value and gradient.

    Parameters
    ----------
    name : str
        Short identifier (registry name or a label).
    dim : int
        Number of variables D.
    value_fn, grad_fn : callable
        ``value_fn(X)`` maps an array of shape (..., D) to shape (...);
        ``grad_fn(X)`` maps it to shape (..., D). Both see float64 arrays whose last
        axis has length D.
    minima : array-like of shape (k, D), optional
        Known minimizers (global first). Empty when there is none or it is unknown.
    minimum_values : array-like of shape (k,), optional
        f at each listed minimizer; computed from ``value_fn`` when omitted.
    minima_known : bool
        False when the minima have not been determined (e.g. a user's function).
    saddles : array-like of shape (s, D), optional
        Known saddle points / degenerate critical points.
    bounds : array-like of shape (D, 2), optional
        Plot box ``[[lo_1, hi_1], ...]``; also used to detect divergence.
    start : array-like of shape (D,), optional
        A suggested start point.
    lr : float
        A learning rate with which plain gradient descent behaves well from ``start``.
    log_scale : bool
        Whether contour plots should use logarithmically spaced levels.
    description, formula, latex : str
        One line of text, a plain-text formula and its LaTeX form.
    params : dict
        The parameters this landscape was built with (``dim``, ``a``, ...).
    value_and_grad_fn : callable, optional
        Computes both at once (faster when they share work); defaults to the two calls.

    Examples
    --------
    >>> import numpy as np
    >>> f = Landscape("bowl", 2, lambda X: (X**2).sum(-1), lambda X: 2 * X)
    >>> f.value(np.array([[1.0, 2.0], [0.0, 0.0]]))
    array([5., 0.])
    """

    def __init__(
        self,
        name: str,
        dim: int,
        value_fn: ArrayFn,
        grad_fn: ArrayFn,
        *,
        minima: Any = None,
        minimum_values: Any = None,
        minima_known: bool = True,
        saddles: Any = None,
        bounds: Any = None,
        start: Any = None,
        lr: float = 0.1,
        log_scale: bool = False,
        description: str = "",
        formula: str = "",
        latex: str = "",
        params: dict[str, Any] | None = None,
        value_and_grad_fn: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None,
    ) -> None:
        if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) or dim < 1:
            raise ValueError(f"dim must be a positive integer, got {dim!r}")
        self.name = str(name)
        self.dim = int(dim)
        self._value_fn = value_fn
        self._grad_fn = grad_fn
        self._vg_fn = value_and_grad_fn
        self._minima_known = bool(minima_known)
        self._minima = None if minima is None else self._points(minima, "minima")
        self._minimum_values = (
            None if minimum_values is None else np.asarray(minimum_values, dtype=np.float64)
        )
        self.saddles = (
            np.zeros((0, self.dim)) if saddles is None else self._points(saddles, "saddles")
        )
        self.bounds = None if bounds is None else self._bounds(bounds)
        if start is None:
            start = np.zeros(self.dim) if self.bounds is None else self.bounds.mean(axis=1)
        self.start = np.asarray(start, dtype=np.float64).reshape(self.dim)
        if not np.isfinite(lr) or lr <= 0:
            raise ValueError(f"lr must be a positive number, got {lr!r}")
        self.lr = float(lr)
        self.log_scale = bool(log_scale)
        self.description = description
        self.formula = formula
        self.latex = latex or formula
        self.params = dict(params or {})

    # -- validation helpers -------------------------------------------------------------
    def _points(self, pts: Any, what: str) -> np.ndarray:
        arr = np.asarray(pts, dtype=np.float64)
        if arr.size == 0:
            return np.zeros((0, self.dim))
        arr = arr.reshape(-1, self.dim) if arr.ndim <= 1 else arr
        if arr.ndim != 2 or arr.shape[1] != self.dim:
            raise ValueError(f"{what} must have shape (k, {self.dim}), got {arr.shape}")
        return arr

    def _bounds(self, bounds: Any) -> np.ndarray:
        arr = np.asarray(bounds, dtype=np.float64)
        if arr.shape == (2,):
            arr = np.tile(arr, (self.dim, 1))
        if arr.shape != (self.dim, 2) or not np.all(arr[:, 0] < arr[:, 1]):
            raise ValueError(
                f"bounds must have shape ({self.dim}, 2) with low < high in each row, got "
                f"{np.asarray(bounds).tolist()}"
            )
        return arr

    # -- the function -------------------------------------------------------------------
    def value(self, X: Any) -> np.ndarray:
        """f at each point of ``X`` (shape (..., D)); returns shape (...)."""
        pts, _ = as_points(X, self.dim)
        return np.asarray(self._value_fn(pts), dtype=np.float64)

    def grad(self, X: Any) -> np.ndarray:
        """The gradient at each point of ``X``; same shape as ``X``."""
        pts, added = as_points(X, self.dim)
        g = np.asarray(self._grad_fn(pts), dtype=np.float64)
        return g[..., 0] if added else g

    def value_and_grad(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(value(X), grad(X))`` in one call."""
        if self._vg_fn is None:
            return self.value(X), self.grad(X)
        pts, added = as_points(X, self.dim)
        v, g = self._vg_fn(pts)
        v, g = np.asarray(v, dtype=np.float64), np.asarray(g, dtype=np.float64)
        return v, (g[..., 0] if added else g)

    __call__ = value

    # -- facts ---------------------------------------------------------------------------
    def _find_minima(self) -> None:
        """Fill ``_minima`` / ``_minimum_values`` / ``_minima_known`` (hook for subclasses)."""
        if self._minima is None:
            self._minima = np.zeros((0, self.dim))
        if self._minimum_values is None:
            mins = self._minima
            self._minimum_values = self.value(mins) if len(mins) else np.zeros(0)

    @property
    def minima(self) -> np.ndarray:
        """Known minimizers, shape (k, D) (global first); empty if none or unknown."""
        self._find_minima()
        assert self._minima is not None  # filled by _find_minima
        return self._minima

    @property
    def minimum_values(self) -> np.ndarray:
        """f at each listed minimizer, shape (k,)."""
        self._find_minima()
        assert self._minimum_values is not None  # filled by _find_minima
        return self._minimum_values

    @property
    def minima_known(self) -> bool:
        """False when the minima of this landscape have not been determined."""
        self._find_minima()
        return self._minima_known

    @property
    def global_minimum(self) -> float | None:
        """The smallest listed minimum value, or None when no minimum is listed."""
        vals = self.minimum_values
        return float(vals.min()) if vals.size else None

    # -- derived landscapes ----------------------------------------------------------------
    def with_penalty(self, l1: float = 0.0, l2: float = 0.0) -> Landscape:
        r"""This landscape plus an L1/L2 penalty: :math:`f(x) + l_1\|x\|_1 + l_2\|x\|_2^2`.

        The gradient adds :math:`l_1\,\mathrm{sign}(x) + 2 l_2 x` (the subgradient 0 of
        :math:`|x_i|` at :math:`x_i = 0`). The minima of the penalized surface are found
        numerically (proximal gradient descent started from the original minima and a
        grid over the bounds) on first access of ``minima``; where that fails they are
        marked unknown (``minima_known = False``).
        """
        for nm, v in (("l1", l1), ("l2", l2)):
            if not np.isfinite(v) or v < 0:
                raise ValueError(f"{nm} must be a non-negative number, got {v!r}")
        if l1 == 0 and l2 == 0:
            return self
        return PenalizedLandscape(self, float(l1), float(l2))

    def check_grad(self, X: Any = None, eps: float = 1e-6, seed: int | None = 0) -> float:
        """Largest abs. difference between ``grad`` and central finite differences.

        ``X`` defaults to 16 random points in the bounds (or in [-1, 1]^D).
        """
        if X is None:
            rng = np.random.default_rng(seed)
            lo, hi = (
                (self.bounds[:, 0], self.bounds[:, 1])
                if self.bounds is not None
                else (-np.ones(self.dim), np.ones(self.dim))
            )
            X = rng.uniform(lo, hi, size=(16, self.dim))
        pts, _ = as_points(X, self.dim)
        g = np.asarray(self._grad_fn(pts))
        fd = np.empty_like(pts)
        for i in range(self.dim):
            e = np.zeros(self.dim)
            e[i] = eps
            fd[..., i] = (self._value_fn(pts + e) - self._value_fn(pts - e)) / (2 * eps)
        return float(np.max(np.abs(g - fd))) if g.size else 0.0

    def __repr__(self) -> str:
        text = f"Landscape({self.name!r}, dim={self.dim}"
        if self.formula:
            text += f", f = {self.formula}"
        return text + ")"


class PenalizedLandscape(Landscape):
    r"""``base`` plus :math:`l_1\|x\|_1 + l_2\|x\|_2^2` (see :meth:`Landscape.with_penalty`)."""

    def __init__(self, base: Landscape, l1: float, l2: float) -> None:
        self.base, self.l1, self.l2 = base, l1, l2

        def value(X: np.ndarray) -> np.ndarray:
            return base._value_fn(X) + l1 * np.abs(X).sum(axis=-1) + l2 * (X * X).sum(axis=-1)

        def grad(X: np.ndarray) -> np.ndarray:
            return base._grad_fn(X) + l1 * np.sign(X) + 2 * l2 * X

        terms = " + ".join(
            t for t in (f"{l1:g}*|x|_1" if l1 else "", f"{l2:g}*|x|^2" if l2 else "") if t
        )
        latex_terms = " + ".join(
            t for t in (rf"{l1:g}\|x\|_1" if l1 else "", rf"{l2:g}\|x\|_2^2" if l2 else "") if t
        )
        super().__init__(
            f"{base.name}+penalty",
            base.dim,
            value,
            grad,
            minima_known=False,
            saddles=None,
            bounds=base.bounds,
            start=base.start,
            lr=base.lr,
            log_scale=base.log_scale,
            description=f"{base.description} plus the penalty {terms}",
            formula=f"{base.formula or base.name} + {terms}",
            latex=f"{base.latex or base.name} + {latex_terms}",
            params={**base.params, "l1": l1, "l2": l2},
        )
        self._minima = None

    def _find_minima(self) -> None:
        if self._minima is not None:
            return
        mins = _proximal_minima(self.base, self.l1, self.l2)
        self._minima_known = len(mins) > 0
        self._minima = mins
        self._minimum_values = self.value(mins) if len(mins) else np.zeros(0)


def _proximal_minima(
    base: Landscape, l1: float, l2: float, iters: int = 4000, tol: float = 1e-9
) -> np.ndarray:
    """Local minimizers of base + l1|x|_1 + l2|x|^2 by proximal gradient descent (ISTA).

    Starts from the base's minima, the origin and a grid (or random points) in the
    bounds, each with its own backtracking step; keeps the points where the gradient
    mapping vanished and no nearby point is lower, de-duplicated, sorted by value.
    """
    dim = base.dim
    lo, hi = (
        (base.bounds[:, 0], base.bounds[:, 1])
        if base.bounds is not None
        else (-2 * np.ones(dim), 2 * np.ones(dim))
    )
    if dim <= 2:
        axes = [np.linspace(a, b, 15) for a, b in zip(lo, hi)]
        grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, dim)
    else:
        grid = np.random.default_rng(0).uniform(lo, hi, size=(64, dim))
    X = np.concatenate([base.minima, np.zeros((1, dim)), grid])
    eta = np.ones((len(X), 1))

    def smooth(Y: np.ndarray) -> np.ndarray:
        return base._value_fn(Y) + l2 * (Y * Y).sum(axis=-1)

    limit = 100 * max(float(np.abs(lo).max()), float(np.abs(hi).max()), 1.0)
    done = np.zeros(len(X), dtype=bool)
    escaped = np.zeros(len(X), dtype=bool)
    with np.errstate(all="ignore"):
        for it in range(iters):
            fX = smooth(X)
            G = base._grad_fn(X) + 2 * l2 * X
            for _ in range(40):  # backtracking until the quadratic upper bound holds
                Z = X - eta * G
                Xn = np.sign(Z) * np.maximum(np.abs(Z) - eta * l1, 0.0)
                D = Xn - X
                bound = fX + (G * D).sum(-1) + (D * D).sum(-1) / (2 * eta[:, 0])
                bad = ~(smooth(Xn) <= bound + 1e-15 * np.abs(fX)) & ~done
                if not bad.any():
                    break
                eta[bad] *= 0.5
            step = np.sqrt((D * D).sum(-1)) / eta[:, 0]
            X = np.where(done[:, None], X, Xn)
            escaped |= ~(np.abs(X).max(-1) <= limit)  # running off (unbounded below?)
            done |= (step < tol) | escaped
            if it % 50 == 49:  # let the step grow again now and then (monotone otherwise)
                eta[~done] *= 2.0
            if done.all():
                break
        ok = done & ~escaped & np.isfinite(X).all(-1)
        X = X[ok]
        if len(X) == 0:
            return np.zeros((0, dim))

        def f(Y: np.ndarray) -> np.ndarray:
            return smooth(Y) + l1 * np.abs(Y).sum(-1)

        fX = f(X)
        rng = np.random.default_rng(1)
        dirs = rng.standard_normal((32, dim))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        lower = np.zeros(len(X), dtype=bool)
        for r in (1e-4, 1e-3):
            near = f(X[:, None, :] + r * dirs[None])
            lower |= (near < fX[:, None] - 1e-12 * (1 + np.abs(fX[:, None]))).any(-1)
    X, fX = X[~lower], fX[~lower]
    order = np.argsort(fX, kind="stable")
    kept: list[np.ndarray] = []
    for i in order:
        if all(np.max(np.abs(X[i] - k)) > 1e-5 * (1 + np.max(np.abs(k))) for k in kept):
            kept.append(X[i])
    return np.array(kept).reshape(-1, dim)


def from_function(
    f: Callable[..., Any],
    dim: int | None = None,
    bounds: Any = None,
    *,
    name: str | None = None,
    start: Any = None,
    lr: float = 0.05,
    minima: Any = None,
    log_scale: bool = False,
    jac: Callable[..., Any] | bool | None = None,
) -> Landscape:
    """Any Python function of arrays as a landscape; its gradient comes from autograd.

    ``f`` may be written in three ways:

    * vectorized: one array ``X`` of shape (..., D) in, shape (...) out (``X[..., 0]``
      is the first coordinate of every point). One call serves all points at once:
      the fast form when many points are evaluated together.
    * scipy-style: one point ``x`` of shape (D,) in, a scalar out, as
      ``scipy.optimize.minimize`` expects (``x[0]`` is the first coordinate). It is
      evaluated point by point, a Python loop over the points, so it is slower when
      ``minimize`` runs many starts.
    * spread: D separate arrays ``f(x, y, ...)``; ``dim`` defaults to their number.

    Which of the first two a one-argument ``f`` follows is detected once, on the
    first points evaluated: ``f`` is called on two points at once, and it is
    vectorized if it returns one value per point, equal to its value at each point
    alone. ``dim`` is needed for a one-argument ``f``.

    The gradient: by default autograd differentiates ``f``, which receives Tensors
    (write it with Tensor operations, ``dl.sin`` and friends, or NumPy's functions).
    ``jac`` gives it instead, as in scipy, for plain NumPy code with a hand-written
    gradient: a function ``jac(x)`` of the same convention as ``f`` (shape (D,) or
    (..., D)), or ``jac=True`` when ``f`` returns ``(value, gradient)``. With ``jac``,
    ``f`` receives NumPy arrays.

    >>> import descentlab as dl
    >>> g = from_function(lambda x, y: x**2 + 3 * dl.autograd.sin(y))
    >>> g.grad([1.0, 0.0]).tolist()
    [2.0, 3.0]
    >>> h = from_function(lambda x: x[0] ** 2 + 10 * x[1] ** 2, dim=2)  # scipy-style
    >>> h.grad([[1.0, 1.0], [2.0, 0.0]]).tolist()
    [[2.0, 20.0], [4.0, 0.0]]
    """
    import inspect

    if not callable(f):
        raise TypeError(f"f must be a function of arrays, got {type(f).__name__}")
    if jac is not None and not isinstance(jac, bool) and not callable(jac):
        raise TypeError(f"jac must be a function, True or None, got {type(jac).__name__}")
    n_args = None
    try:
        params = [
            p
            for p in inspect.signature(f).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        n_args = len(params)
    except (TypeError, ValueError):
        pass
    spread = n_args is not None and n_args >= 2
    if dim is None:
        if not spread or n_args is None:  # (spread implies n_args)
            raise ValueError(
                "dim is needed for a function of one array argument, e.g. from_function(f, dim=2)"
            )
        dim = n_args
    if spread and n_args != dim:
        raise ValueError(f"f takes {n_args} arguments but dim={dim}")
    if spread and jac not in (None, False):
        raise ValueError(
            "jac= needs f to take one array argument (x of shape (D,) or X of "
            "shape (..., D)), not D separate arguments"
        )
    own_jac = jac not in (None, False)
    D = int(dim)

    def call(X: Any) -> Any:
        if spread:
            return f(*[X[..., i] for i in range(D)])
        return f(X)

    def squeeze(out: Any, shape: tuple[int, ...]) -> Any:
        out_shape = tuple(getattr(out, "shape", np.shape(out)))
        if out_shape == (*shape, 1) and out_shape != shape:
            return out[..., 0]
        return out

    def plain_value(X: np.ndarray) -> np.ndarray:
        """f's value(s) at X, without recording a graph."""
        from descentlab.autograd import no_grad, tensor

        if own_jac:
            out = call(X)
            out = out[0] if jac is True else out
        else:
            with no_grad():  # Tensors in, so that NumPy and autograd operands mix safely
                out = call(tensor(X))
        return np.asarray(getattr(out, "data", out), dtype=np.float64)

    convention: list[str] = []

    def pointwise(X: np.ndarray) -> bool:
        """Whether f is scipy-style (one point in, a scalar out); decided on the first X."""
        if not convention:
            convention.append("vectorized" if spread else _probe_convention(plain_value, X))
        return convention[0] == "pointwise"

    def value(X: np.ndarray) -> np.ndarray:
        if pointwise(X):
            pts = X.reshape(-1, D)
            return np.array([_scalar(plain_value(p)) for p in pts]).reshape(X.shape[:-1])
        data = squeeze(plain_value(X), X.shape[:-1])
        return np.broadcast_to(np.asarray(data, dtype=np.float64), X.shape[:-1]).copy()

    def autograd_value_and_grad(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from descentlab.autograd import Tensor, tensor

        t = tensor(X, requires_grad=True)
        try:
            out = squeeze(call(t), X.shape[:-1])
        except TypeError as err:
            raise TypeError(
                f"f could not be differentiated ({err}); write it with Tensor operations, "
                "descentlab.autograd functions or the NumPy functions listed above, or pass "
                "jac= with its gradient"
            ) from err
        if not isinstance(out, Tensor) or tuple(out.shape) != X.shape[:-1]:
            raise ValueError(
                f"f must return a Tensor of shape {X.shape[:-1]} for points of shape "
                f"{X.shape} (a scalar for one point of shape (D,), scipy's convention), got "
                f"{type(out).__name__} of shape {getattr(out, 'shape', None)}"
            )
        if out.requires_grad:
            out.sum().backward()
        g = t.grad if t.grad is not None else np.zeros_like(X)
        return np.asarray(out.data, dtype=np.float64).copy(), np.asarray(g, dtype=np.float64)

    def given_value_and_grad(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if callable(jac):
            v, g = call(X), jac(X)
        else:
            v, g = call(X)
        v = squeeze(np.asarray(v, dtype=np.float64), X.shape[:-1])
        return v, np.asarray(g, dtype=np.float64)

    one_point = given_value_and_grad if own_jac else autograd_value_and_grad

    def value_and_grad(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if not pointwise(X):
            v, g = one_point(X)
            return np.broadcast_to(v, X.shape[:-1]).copy(), g.reshape(X.shape)
        pts = X.reshape(-1, D)
        values = np.empty(len(pts))
        grads = np.empty_like(pts)
        for i, p in enumerate(pts):
            v, g = one_point(p.copy())
            values[i] = _scalar(v)
            if g.size != D:
                raise ValueError(
                    f"the gradient at a point must have shape ({D},), got shape {g.shape}"
                )
            grads[i] = g.reshape(D)
        return values.reshape(X.shape[:-1]), grads.reshape(X.shape)

    return Landscape(
        str(name or getattr(f, "__name__", "function")),
        D,
        value,
        lambda X: value_and_grad(X)[1],
        minima=minima,
        minima_known=minima is not None,
        bounds=bounds,
        start=start,
        lr=lr,
        log_scale=log_scale,
        description="user-defined function",
        formula="",
        params={"dim": D},
        value_and_grad_fn=value_and_grad,
    )


def _scalar(value: Any) -> float:
    """A scipy-style f's value: one number (shape () or a single entry)."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.size != 1:
        raise ValueError(
            f"f must return a scalar for a point of shape (D,) (scipy's convention), got an "
            f"array of shape {arr.shape}"
        )
    return float(arr.reshape(()))


def _probe_convention(value_of: Callable[[np.ndarray], np.ndarray], X: np.ndarray) -> str:
    """'vectorized' if f maps two points at once to their two values, else 'pointwise'."""
    first = np.asarray(X, dtype=np.float64).reshape(-1, X.shape[-1])[0]
    probe = np.stack([first, first + 0.5 + 0.25 * np.arange(first.size)])
    with np.errstate(all="ignore"):
        try:
            both = value_of(probe)
        except Exception:  # noqa: BLE001 - a scipy-style f may fail on a batch in any way
            both = None
        singles = [value_of(p) for p in probe]  # a scipy-style f must work on one point
    if both is None or both.shape not in ((2,), (2, 1)) or any(s.size != 1 for s in singles):
        return "pointwise"
    alone = np.array([float(s.reshape(())) for s in singles])
    agree = np.allclose(both.reshape(2), alone, rtol=1e-9, atol=1e-12, equal_nan=True)
    return "vectorized" if agree else "pointwise"
