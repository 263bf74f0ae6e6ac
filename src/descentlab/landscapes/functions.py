"""Classic test functions for optimizers, each with an analytic gradient, and their registry.

Every function is vectorized over arrays of shape (..., D) in float64; the value has
shape (...) and the gradient shape (..., D). Minima and values follow the well-known
tables (Wikipedia "Test functions for optimization", Surjanovic & Bingham's Virtual
Library of Simulation Experiments), refined by Newton's method to full precision.

>>> from descentlab import landscapes
>>> f = landscapes.get("himmelblau")
>>> f.value(f.minima).round(12).tolist()
[0.0, 0.0, 0.0, 0.0]
>>> landscapes.get("rosenbrock", dim=10).minima.shape
(1, 10)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from descentlab.landscapes.base import Landscape
from descentlab.spec import Entry, HyperParam, ParamType, Registry

__all__ = ["REGISTRY", "LandscapeParam", "LandscapeSpec", "lookup", "names"]

PI = np.pi


def LandscapeParam(
    name: str,
    type: ParamType,
    default: Any,
    low: float | None = None,
    high: float | None = None,
    help: str = "",
) -> HyperParam:
    """One parameter of a registered landscape: the library's one :class:`HyperParam`,
    with ``low``/``high`` as hard limits checked when the landscape is built."""
    return HyperParam(name, type, default, low, high, False, help)


class LandscapeSpec(Entry[Landscape]):
    """A registry entry: how to build a landscape and how to describe it in a menu.

    ``parameters`` (also ``hyperparameters``) describes each keyword of the
    factory; ``build(**kwargs)`` checks them against their hard limits.
    """

    def __init__(
        self,
        name: str,
        factory: Callable[..., Landscape],
        description: str,
        formula: str,
        dims: str,  # "1", "2" or "n"
        parameters: dict[str, HyperParam] | None = None,
    ) -> None:
        super().__init__(
            name,
            factory,
            (parameters or {}).values(),
            description,
            label="landscape",
            noun="parameter",
        )
        self.description = description
        self.formula = formula
        self.dims = dims

    @property
    def parameters(self) -> Mapping[str, HyperParam]:
        """name -> description of the factory's keywords."""
        return self.hyperparameters

    def build(self, *args: object, **kwargs: object) -> Landscape:
        """Build the landscape, checking each keyword against ``parameters``."""
        for key, val in kwargs.items():
            if key not in self.parameters:
                allowed = ", ".join(self.parameters) or "none"
                raise ValueError(
                    f"landscape {self.name!r} has no parameter {key!r}; its parameters: {allowed}"
                )
            p = self.parameters[key]
            if p.type == "int" and (
                isinstance(val, bool) or not isinstance(val, (int, np.integer))
            ):
                raise TypeError(f"{self.name}: {key} must be an integer, got {val!r}")
            if not isinstance(val, (int, float, np.integer, np.floating)) or not np.isfinite(val):
                raise TypeError(f"{self.name}: {key} must be a finite number, got {val!r}")
            try:
                p.check(val)
            except ValueError:
                raise ValueError(
                    f"{self.name}: {key}={val!r} is outside its range [{p.low}, {p.high}]"
                ) from None
        return self.factory(*args, **kwargs)


def _dim_param(default: int, low: int = 1) -> HyperParam:
    return LandscapeParam("dim", "int", default, low, 1000, "number of variables D")


# --------------------------------------------------------------------------------------
# 1-D functions
# --------------------------------------------------------------------------------------
def double_well() -> Landscape:
    """f(x) = x^4 - 3x^2 + x: a local minimum at x = 1.1309 and the global one at -1.3008."""
    return Landscape(
        "double_well",
        1,
        lambda X: X[..., 0] ** 4 - 3 * X[..., 0] ** 2 + X[..., 0],
        lambda X: 4 * X**3 - 6 * X + 1,
        minima=[[-1.300839565941577], [1.1309011226299859]],
        bounds=[[-2.0, 2.0]],
        start=[1.8],
        lr=0.01,
        description="tilted double well: one local and one global minimum",
        formula="x**4 - 3*x**2 + x",
        latex=r"x^4 - 3x^2 + x",
    )


def cubic() -> Landscape:
    """f(x) = x^3: no minimum; x = 0 is a flat inflection point (f' = f'' = 0)."""
    return Landscape(
        "cubic",
        1,
        lambda X: X[..., 0] ** 3,
        lambda X: 3 * X**2,
        saddles=[[0.0]],
        bounds=[[-1.5, 1.5]],
        start=[1.0],
        lr=0.1,
        description="x^3: a flat inflection point at 0 where the gradient vanishes",
        formula="x**3",
        latex=r"x^3",
    )


def xcos() -> Landscape:
    """f(x) = x cos(pi x); on its plot range [-1, 2] a local minimum and a lower one."""
    return Landscape(
        "xcos",
        1,
        lambda X: X[..., 0] * np.cos(PI * X[..., 0]),
        lambda X: np.cos(PI * X) - PI * X * np.sin(PI * X),
        minima=[[1.0904082219467213], [-0.2738526868008509]],
        bounds=[[-1.0, 2.0]],
        start=[-0.8],
        lr=0.05,
        description="x cos(pi x): local minima (listed are those inside the plot range)",
        formula="x*cos(pi*x)",
        latex=r"x\cos(\pi x)",
    )


# --------------------------------------------------------------------------------------
# quadratics and saddles
# --------------------------------------------------------------------------------------
def _quadratic(name: str, scales: np.ndarray, **kw: Any) -> Landscape:
    a = np.asarray(scales, dtype=np.float64)
    dim = a.size
    return Landscape(
        name,
        dim,
        lambda X: (a * X * X).sum(axis=-1),
        lambda X: 2 * a * X,
        minima=np.zeros((1, dim)),
        minimum_values=[0.0],
        **kw,
    )


def parabola() -> Landscape:
    """f(x) = x^2, the 1-D bowl: GD converges for 0 < eta < 1, oscillates at eta = 1."""
    return _quadratic(
        "parabola",
        np.ones(1),
        bounds=[[-2.0, 2.0]],
        start=[1.0],
        lr=0.1,
        description="x^2: the simplest bowl",
        formula="x**2",
        latex="x^2",
        params={"dim": 1},
    )


def quadratic(dim: int = 2) -> Landscape:
    """f(x) = sum_i x_i^2 (x^2 + y^2 in 2-D): round bowl, minimum 0 at the origin."""
    names = "x^2 + y^2" if dim == 2 else "sum_i x_i^2"
    return _quadratic(
        "quadratic",
        np.ones(dim),
        bounds=[[-2.0, 2.0]] * dim,
        start=np.full(dim, 1.0),
        lr=0.1,
        description=f"{names}: round bowl in {dim}-D",
        formula="x**2 + y**2" if dim == 2 else "sum_i x_i**2",
        latex=r"x^2 + y^2" if dim == 2 else r"\sum_i x_i^2",
        params={"dim": dim},
    )


def ill_conditioned() -> Landscape:
    """f(x, y) = 0.1 x^2 + 2 y^2: a ravine with condition number 20 (d2l's example)."""
    return _quadratic(
        "ill_conditioned",
        np.array([0.1, 2.0]),
        bounds=[[-6.0, 6.0], [-3.0, 3.0]],
        start=[-5.0, -2.0],
        lr=0.4,
        description="0.1 x^2 + 2 y^2: ill-conditioned ravine (condition number 20)",
        formula="0.1*x**2 + 2*y**2",
        latex=r"0.1x^2 + 2y^2",
    )


def saddle() -> Landscape:
    """f(x, y) = x^2 - y^2: a strict saddle at 0 (Hessian eigenvalues +2 and -2)."""
    return Landscape(
        "saddle",
        2,
        lambda X: X[..., 0] ** 2 - X[..., 1] ** 2,
        lambda X: np.stack([2 * X[..., 0], -2 * X[..., 1]], axis=-1),
        saddles=[[0.0, 0.0]],
        bounds=[[-2.0, 2.0], [-2.0, 2.0]],
        start=[1.0, 0.0],
        lr=0.1,
        description="x^2 - y^2: strict saddle at the origin, unbounded below",
        formula="x**2 - y**2",
        latex=r"x^2 - y^2",
    )


def monkey_saddle() -> Landscape:
    """f(x, y) = x^3 - 3xy^2: a degenerate critical point at 0 (Hessian 0)."""
    return Landscape(
        "monkey_saddle",
        2,
        lambda X: X[..., 0] ** 3 - 3 * X[..., 0] * X[..., 1] ** 2,
        lambda X: np.stack(
            [3 * X[..., 0] ** 2 - 3 * X[..., 1] ** 2, -6 * X[..., 0] * X[..., 1]], axis=-1
        ),
        saddles=[[0.0, 0.0]],
        bounds=[[-2.0, 2.0], [-2.0, 2.0]],
        start=[1.0, 0.0],
        lr=0.05,
        description="x^3 - 3xy^2: monkey saddle, degenerate critical point at 0",
        formula="x**3 - 3*x*y**2",
        latex=r"x^3 - 3xy^2",
    )


# --------------------------------------------------------------------------------------
# the classic 2-D / n-D test functions
# --------------------------------------------------------------------------------------
def rosenbrock(dim: int = 2, a: float = 1.0, b: float = 100.0) -> Landscape:
    """f(x) = sum_{i<D} b (x_{i+1} - x_i^2)^2 + (a - x_i)^2; minimum 0 at (a, a^2, ...)."""

    def value(X: np.ndarray) -> np.ndarray:
        x, nxt = X[..., :-1], X[..., 1:]
        return (b * (nxt - x * x) ** 2 + (a - x) ** 2).sum(axis=-1)

    def value_and_grad(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        g = np.empty_like(X)
        if X.shape[-1] == 2:  # contiguous columns: no reduction over an axis of length 1,
            # and NumPy mixes strided and contiguous operands slowly
            # in place where possible: this runs once per step on every row of a big run
            x, y = X[..., 0].copy(), X[..., 1].copy()
            inner = np.multiply(x, x)
            np.subtract(y, inner, out=inner)  # y - x^2
            rest = np.subtract(a, x)  # a - x
            np.multiply(inner, 2 * b, out=g[..., 1])
            x *= inner
            x *= -4 * b
            x -= 2 * rest
            g[..., 0] = x
            value = np.multiply(inner, inner, out=inner)
            value *= b
            rest *= rest
            value += rest
            return value, g
        x, nxt = X[..., :-1], X[..., 1:]
        inner = nxt - x * x
        rest = a - x
        value = (b * inner * inner + rest * rest).sum(axis=-1)
        g[..., :-1] = -4 * b * x * inner - 2 * rest
        g[..., -1] = 0
        g[..., 1:] += 2 * b * inner
        return value, g

    def grad(X: np.ndarray) -> np.ndarray:
        return value_and_grad(X)[1]

    if dim == 2:
        minimum = [[a, a * a]]
    elif a == 1.0:
        minimum = [[1.0] * dim]
    else:  # (a, a^2, a^4, ...) only when each step is consistent, which needs a in {0, 1}
        minimum = None
    bounds = [[-2.0, 2.0], [-1.0, 3.0]] if dim == 2 else [[-2.0, 2.0]] * dim
    start = [-1.2, 1.0] if dim == 2 else np.tile([-1.2, 1.0], dim)[:dim]
    return Landscape(
        "rosenbrock",
        dim,
        value,
        grad,
        value_and_grad_fn=value_and_grad,
        minima=minimum,
        minimum_values=None,
        minima_known=minimum is not None,
        bounds=bounds,
        start=start,
        lr=1e-3,
        log_scale=True,
        description=f"Rosenbrock's banana valley in {dim}-D: minimum 0 at (1, ..., 1)",
        formula=f"{b:g}*(y - x**2)**2 + ({a:g} - x)**2"
        if dim == 2
        else f"sum_i {b:g}*(x_(i+1) - x_i**2)**2 + ({a:g} - x_i)**2",
        latex=rf"{b:g}(y - x^2)^2 + ({a:g} - x)^2"
        if dim == 2
        else rf"\sum_{{i<D}} {b:g}(x_{{i+1}} - x_i^2)^2 + ({a:g} - x_i)^2",
        params={"dim": dim, "a": a, "b": b},
    )


_BEALE_C = (1.5, 2.25, 2.625)


def beale() -> Landscape:
    """f = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2; min 0 at (3, 0.5)."""

    def value(X: np.ndarray) -> np.ndarray:
        x, y = X[..., 0], X[..., 1]
        return sum((c - x + x * y ** (k + 1)) ** 2 for k, c in enumerate(_BEALE_C))

    def grad(X: np.ndarray) -> np.ndarray:
        x, y = X[..., 0], X[..., 1]
        gx = np.zeros_like(x)
        gy = np.zeros_like(y)
        for k, c in enumerate(_BEALE_C, start=1):
            t = c - x + x * y**k
            gx = gx + 2 * t * (y**k - 1)
            gy = gy + 2 * t * k * x * y ** (k - 1)
        return np.stack([gx, gy], axis=-1)

    return Landscape(
        "beale",
        2,
        value,
        grad,
        minima=[[3.0, 0.5]],
        minimum_values=[0.0],
        bounds=[[-4.5, 4.5], [-4.5, 4.5]],
        start=[1.0, 1.5],
        lr=0.01,
        log_scale=True,
        description="Beale: sharp corners and a flat valley to the minimum at (3, 0.5)",
        formula="(1.5 - x + x*y)**2 + (2.25 - x + x*y**2)**2 + (2.625 - x + x*y**3)**2",
        latex=r"(1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2",
    )


def himmelblau() -> Landscape:
    """f = (x^2 + y - 11)^2 + (x + y^2 - 7)^2: four minima, all with value 0."""

    def value(X: np.ndarray) -> np.ndarray:
        x, y = X[..., 0], X[..., 1]
        return (x * x + y - 11) ** 2 + (x + y * y - 7) ** 2

    def grad(X: np.ndarray) -> np.ndarray:
        x, y = X[..., 0], X[..., 1]
        a, b = x * x + y - 11, x + y * y - 7
        return np.stack([4 * x * a + 2 * b, 2 * a + 4 * y * b], axis=-1)

    return Landscape(
        "himmelblau",
        2,
        value,
        grad,
        minima=[
            [3.0, 2.0],
            [-2.805118086952745, 3.131312518250573],
            [-3.779310253377747, -3.2831859912861696],
            [3.5844283403304917, -1.8481265269644034],
        ],
        minimum_values=[0.0, 0.0, 0.0, 0.0],
        saddles=None,
        bounds=[[-5.0, 5.0], [-5.0, 5.0]],
        start=[0.0, 0.0],
        lr=0.01,
        log_scale=True,
        description="Himmelblau: four minima of value 0, a maximum at (-0.27, -0.92)",
        formula="(x**2 + y - 11)**2 + (x + y**2 - 7)**2",
        latex=r"(x^2 + y - 11)^2 + (x + y^2 - 7)^2",
    )


def booth() -> Landscape:
    """f = (x + 2y - 7)^2 + (2x + y - 5)^2: a convex quadratic, minimum 0 at (1, 3)."""

    def value(X: np.ndarray) -> np.ndarray:
        x, y = X[..., 0], X[..., 1]
        return (x + 2 * y - 7) ** 2 + (2 * x + y - 5) ** 2

    def grad(X: np.ndarray) -> np.ndarray:
        x, y = X[..., 0], X[..., 1]
        a, b = x + 2 * y - 7, 2 * x + y - 5
        return np.stack([2 * a + 4 * b, 4 * a + 2 * b], axis=-1)

    return Landscape(
        "booth",
        2,
        value,
        grad,
        minima=[[1.0, 3.0]],
        minimum_values=[0.0],
        bounds=[[-10.0, 10.0], [-10.0, 10.0]],
        start=[-5.0, -5.0],
        lr=0.05,
        description="Booth: a tilted convex bowl, minimum 0 at (1, 3)",
        formula="(x + 2*y - 7)**2 + (2*x + y - 5)**2",
        latex=r"(x + 2y - 7)^2 + (2x + y - 5)^2",
    )


def goldstein_price() -> Landscape:
    """Goldstein-Price: f = A(x, y) B(x, y), minimum 3 at (0, -1), many local minima."""

    def parts(X: np.ndarray) -> tuple[np.ndarray, ...]:
        x, y = X[..., 0], X[..., 1]
        s = x + y + 1
        p = 19 - 14 * x + 3 * x * x - 14 * y + 6 * x * y + 3 * y * y
        d = 2 * x - 3 * y
        q = 18 - 32 * x + 12 * x * x + 48 * y - 36 * x * y + 27 * y * y
        return x, y, s, p, d, q

    def value(X: np.ndarray) -> np.ndarray:
        _, _, s, p, d, q = parts(X)
        return (1 + s * s * p) * (30 + d * d * q)

    def grad(X: np.ndarray) -> np.ndarray:
        x, y, s, p, d, q = parts(X)
        A, B = 1 + s * s * p, 30 + d * d * q
        dA = 2 * s * p + s * s * (-14 + 6 * x + 6 * y)  # dA/dx == dA/dy
        dBx = 4 * d * q + d * d * (-32 + 24 * x - 36 * y)
        dBy = -6 * d * q + d * d * (48 - 36 * x + 54 * y)
        return np.stack([dA * B + A * dBx, dA * B + A * dBy], axis=-1)

    return Landscape(
        "goldstein_price",
        2,
        value,
        grad,
        minima=[[0.0, -1.0]],
        minimum_values=[3.0],
        bounds=[[-2.0, 2.0], [-2.0, 2.0]],
        start=[-0.5, 0.25],
        lr=5e-5,
        log_scale=True,
        description="Goldstein-Price: huge range of values, minimum 3 at (0, -1)",
        formula="(1 + (x+y+1)**2*(19 - 14*x + 3*x**2 - 14*y + 6*x*y + 3*y**2))"
        "*(30 + (2*x - 3*y)**2*(18 - 32*x + 12*x**2 + 48*y - 36*x*y + 27*y**2))",
        latex=r"[1 + (x+y+1)^2(19 - 14x + 3x^2 - 14y + 6xy + 3y^2)]"
        r"[30 + (2x-3y)^2(18 - 32x + 12x^2 + 48y - 36xy + 27y^2)]",
    )


def six_hump_camel() -> Landscape:
    """f = (4 - 2.1x^2 + x^4/3) x^2 + xy + (-4 + 4y^2) y^2; two global minima -1.0316."""

    def value(X: np.ndarray) -> np.ndarray:
        x, y = X[..., 0], X[..., 1]
        x2, y2 = x * x, y * y
        return (4 - 2.1 * x2 + x2 * x2 / 3) * x2 + x * y + (-4 + 4 * y2) * y2

    def grad(X: np.ndarray) -> np.ndarray:
        x, y = X[..., 0], X[..., 1]
        return np.stack([8 * x - 8.4 * x**3 + 2 * x**5 + y, x - 8 * y + 16 * y**3], axis=-1)

    m = np.array([0.08984201310031807, -0.7126564030207396])
    return Landscape(
        "six_hump_camel",
        2,
        value,
        grad,
        minima=[m, -m],
        bounds=[[-3.0, 3.0], [-2.0, 2.0]],
        start=[-1.5, 1.0],
        lr=0.01,
        description="six-hump camel: six local minima, two global ones of value -1.0316",
        formula="(4 - 2.1*x**2 + x**4/3)*x**2 + x*y + (-4 + 4*y**2)*y**2",
        latex=r"(4 - 2.1x^2 + x^4/3)x^2 + xy + (-4 + 4y^2)y^2",
    )


def rastrigin(dim: int = 2, A: float = 10.0) -> Landscape:
    """f = A D + sum_i (x_i^2 - A cos 2 pi x_i): a grid of local minima, global 0 at 0."""

    def value(X: np.ndarray) -> np.ndarray:
        return A * dim + (X * X - A * np.cos(2 * PI * X)).sum(axis=-1)

    def grad(X: np.ndarray) -> np.ndarray:
        return 2 * X + 2 * PI * A * np.sin(2 * PI * X)

    return Landscape(
        "rastrigin",
        dim,
        value,
        grad,
        minima=np.zeros((1, dim)),
        minimum_values=[0.0],
        bounds=[[-5.12, 5.12]] * dim,
        start=np.tile([2.2, -1.8], dim)[:dim],
        lr=2e-3,
        description=f"Rastrigin in {dim}-D: a regular grid of local minima, global 0 at 0",
        formula=f"{A:g}*{dim} + sum_i (x_i**2 - {A:g}*cos(2*pi*x_i))",
        latex=rf"{A:g}D + \sum_i \left(x_i^2 - {A:g}\cos 2\pi x_i\right)",
        params={"dim": dim, "A": A},
    )


def ackley(dim: int = 2, a: float = 20.0, b: float = 0.2, c: float = 2 * PI) -> Landscape:
    """f = -a exp(-b sqrt(mean x_i^2)) - exp(mean cos(c x_i)) + a + e; global 0 at 0.

    The first term is a cone tip at the origin, so f is not differentiable there; the
    gradient returns the subgradient 0 at x = 0 (no NaN, no warning).
    """

    def value(X: np.ndarray) -> np.ndarray:
        r = np.sqrt((X * X).mean(axis=-1))
        return -a * np.exp(-b * r) - np.exp(np.cos(c * X).mean(axis=-1)) + a + np.e

    def grad(X: np.ndarray) -> np.ndarray:
        r = np.sqrt((X * X).mean(axis=-1))[..., None]
        coef = a * b * np.exp(-b * r) / dim
        cone = np.divide(coef * X, r, out=np.zeros_like(X), where=r > 0)
        wave = (c / dim) * np.exp(np.cos(c * X).mean(axis=-1))[..., None] * np.sin(c * X)
        return cone + wave

    return Landscape(
        "ackley",
        dim,
        value,
        grad,
        minima=np.zeros((1, dim)),
        minimum_values=[0.0],
        bounds=[[-5.0, 5.0]] * dim,
        start=np.tile([2.5, -3.5], dim)[:dim],
        lr=0.05,
        description=f"Ackley in {dim}-D: a bumpy plateau around a sharp global minimum 0 at 0",
        formula="-20*exp(-0.2*sqrt(0.5*(x**2 + y**2))) - exp(0.5*(cos(2*pi*x) + cos(2*pi*y)))"
        " + e + 20"
        if dim == 2
        else "-a exp(-b sqrt(mean x_i^2)) - exp(mean cos(c x_i)) + a + e",
        latex=r"-20e^{-0.2\sqrt{0.5(x^2+y^2)}} - e^{0.5(\cos 2\pi x + \cos 2\pi y)} + e + 20",
        params={"dim": dim, "a": a, "b": b, "c": c},
    )


_ST_ROOT = -2.903534027771177  # the root of 4x^3 - 32x + 5 = 0 with f''(x) > 0


def styblinski_tang(dim: int = 2) -> Landscape:
    """f = 0.5 sum_i (x_i^4 - 16 x_i^2 + 5 x_i); global minimum -39.16617 D at x_i = -2.9035."""

    def value(X: np.ndarray) -> np.ndarray:
        X2 = X * X
        return 0.5 * (X2 * X2 - 16 * X2 + 5 * X).sum(axis=-1)

    def grad(X: np.ndarray) -> np.ndarray:
        return 2 * X**3 - 16 * X + 2.5

    return Landscape(
        "styblinski_tang",
        dim,
        value,
        grad,
        minima=np.full((1, dim), _ST_ROOT),
        bounds=[[-5.0, 5.0]] * dim,
        start=np.full(dim, 0.5),
        lr=0.01,
        description=f"Styblinski-Tang in {dim}-D: 2^D local minima, global -39.166 D",
        formula="0.5*sum_i (x_i**4 - 16*x_i**2 + 5*x_i)",
        latex=r"\tfrac12 \sum_i \left(x_i^4 - 16x_i^2 + 5x_i\right)",
        params={"dim": dim},
    )


# --------------------------------------------------------------------------------------
# registry
# --------------------------------------------------------------------------------------
def _spec(
    name: str, factory: Callable[..., Landscape], dims: str, params: tuple[HyperParam, ...] = ()
) -> LandscapeSpec:
    proto = factory()
    return LandscapeSpec(
        name, factory, proto.description, proto.formula, dims, {p.name: p for p in params}
    )


#: Every built-in landscape, in menu order (the finite sums are added by the package).
REGISTRY: Registry[LandscapeSpec] = Registry(
    "landscape",
    normalize=lambda name: name.strip().lower().replace("-", "").replace("_", "").replace(" ", ""),
)

_ALIASES = {
    "parabola": ("x2", "square"),
    "quadratic": ("sphere", "bowl"),
    "ill_conditioned": ("ravine",),
    "rosenbrock": ("banana",),
    "six_hump_camel": ("camel",),
    "monkey_saddle": ("monkey",),
    "xcos": ("xcospix",),
}

for _entry in (
    _spec("parabola", parabola, "1"),
    _spec("double_well", double_well, "1"),
    _spec("cubic", cubic, "1"),
    _spec("xcos", xcos, "1"),
    _spec("quadratic", quadratic, "n", (_dim_param(2),)),
    _spec("ill_conditioned", ill_conditioned, "2"),
    _spec(
        "rosenbrock",
        rosenbrock,
        "n",
        (
            _dim_param(2, 2),
            LandscapeParam("a", "float", 1.0, -10, 10, "position of the valley's minimum"),
            LandscapeParam("b", "float", 100.0, 0, 1e4, "steepness of the valley walls"),
        ),
    ),
    _spec("beale", beale, "2"),
    _spec("himmelblau", himmelblau, "2"),
    _spec("booth", booth, "2"),
    _spec("goldstein_price", goldstein_price, "2"),
    _spec("six_hump_camel", six_hump_camel, "2"),
    _spec(
        "rastrigin",
        rastrigin,
        "n",
        (_dim_param(2), LandscapeParam("A", "float", 10.0, 0, 100, "amplitude of the ripples")),
    ),
    _spec(
        "ackley",
        ackley,
        "n",
        (
            _dim_param(2),
            LandscapeParam("a", "float", 20.0, 0, 100, "depth of the cone"),
            LandscapeParam("b", "float", 0.2, 0, 10, "width of the cone"),
            LandscapeParam("c", "float", 2 * PI, 0, 100, "frequency of the ripples"),
        ),
    ),
    _spec("styblinski_tang", styblinski_tang, "n", (_dim_param(2),)),
    _spec("saddle", saddle, "2"),
    _spec("monkey_saddle", monkey_saddle, "2"),
):
    REGISTRY.register(_entry, aliases=_ALIASES.get(_entry.name, ()))

ALIASES: Mapping[str, str] = REGISTRY.aliases


def lookup(name: str) -> LandscapeSpec | None:
    """The registry entry for ``name`` (case, '-', '_' and aliases tolerated), or None."""
    return REGISTRY.get(name) if REGISTRY.knows(name) else None


def names() -> list[str]:
    """Names of all registered test functions, in menu order."""
    return list(REGISTRY)
