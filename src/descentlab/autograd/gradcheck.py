"""Check a gradient against central finite differences.

The lecture's exercise: write f(x) and its derivative df(x) by hand, then
check them. ``gradcheck(f, x, df)`` compares ``df(x)`` (or, without ``df``,
descentlab's own autograd gradient) with

    (f(x + h e_i) - f(x - h e_i)) / (2 h)          for coordinates i, and
    (f(x + h v) - f(x - h v)) / (2 h)  vs  df(x) . v   for random directions v,

all in float64, and reports the worst absolute and relative error and where
it occurred.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class GradcheckResult:
    """Outcome of :func:`gradcheck`; truthy when the gradient passed."""

    max_abs_error: float
    max_rel_error: float
    where: str
    analytic: float
    numeric: float
    passed: bool
    checks: int

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        return (
            f"gradcheck {verdict}: max abs error {self.max_abs_error:.3g}, "
            f"max rel error {self.max_rel_error:.3g} at {self.where} "
            f"(analytic {self.analytic:.10g}, numeric {self.numeric:.10g}; {self.checks} checks)"
        )


def _scalar(f: Callable[[np.ndarray], object], x: np.ndarray) -> float:
    value = f(x)
    value = getattr(value, "data", value)
    value = np.asarray(value, dtype=np.float64)
    if value.size != 1:
        raise ValueError(f"gradcheck needs f to return a scalar, got shape {value.shape}")
    return float(value.reshape(()))


def gradcheck(
    f: Callable[..., object],
    x: npt.ArrayLike,
    df: Callable[[np.ndarray], object] | None = None,
    *,
    h: float = 1e-6,
    directions: int = 8,
    max_coordinates: int = 200,
    atol: float = 1e-6,
    rtol: float = 1e-5,
    seed: int = 0,
) -> GradcheckResult:
    """Compare a gradient with central finite differences in float64.

    Args:
        f: scalar function of one array (NumPy code, or Tensor code for autograd).
        x: the point, any shape; it is converted to float64.
        df: the hand-written gradient, returning an array shaped like ``x``.
            Without it, descentlab's autograd differentiates ``f``.
        h: finite-difference step.
        directions: how many random unit directions to test as well.
        max_coordinates: check every coordinate up to this many; above it, a
            random sample of this many.
        atol, rtol: an entry passes when |analytic - numeric| <= atol + rtol |numeric|.
        seed: for the random directions and the coordinate sample.

    Returns:
        A :class:`GradcheckResult` with the worst absolute and relative error
        and where it happened (a coordinate index or a direction number).
    """
    x = np.array(getattr(x, "data", x), dtype=np.float64)
    evaluate = f
    if df is None:
        from descentlab.autograd.tensor import Tensor, no_grad
        from descentlab.autograd.transforms import grad

        df = grad(f)

        def evaluate(point: np.ndarray) -> object:
            with no_grad():
                return f(Tensor(point))

    analytic = df(x.copy())
    analytic = np.asarray(getattr(analytic, "data", analytic), dtype=np.float64)
    if analytic.shape != x.shape:
        raise ValueError(f"df(x) has shape {analytic.shape}, but x has shape {x.shape}")
    rng = np.random.default_rng(seed)

    def central(v: np.ndarray) -> float:
        return (_scalar(evaluate, x + h * v) - _scalar(evaluate, x - h * v)) / (2 * h)

    rows: list[tuple[str, float, float]] = []
    coordinates = np.arange(x.size)
    if x.size > max_coordinates:
        coordinates = rng.choice(x.size, size=max_coordinates, replace=False)
    for flat in coordinates:
        e = np.zeros(x.size)
        e[flat] = 1.0
        index = np.unravel_index(flat, x.shape) if x.ndim else ()
        label = f"index {tuple(int(i) for i in index)}"
        rows.append((label, float(analytic.flat[flat]), central(e.reshape(x.shape))))
    for k in range(directions):
        v = rng.standard_normal(x.shape)
        v /= np.linalg.norm(v) or 1.0
        rows.append((f"random direction {k}", float(np.sum(analytic * v)), central(v)))

    worst_abs, worst_rel, worst = 0.0, 0.0, rows[0] if rows else ("-", 0.0, 0.0)
    passed = True
    for where, a, n in rows:
        err = abs(a - n)
        rel = err / max(abs(n), abs(a), 1e-12)
        passed &= bool(err <= atol + rtol * abs(n))
        if err > worst_abs:
            worst_abs, worst = err, (where, a, n)
        worst_rel = max(worst_rel, rel)
    return GradcheckResult(
        max_abs_error=worst_abs,
        max_rel_error=worst_rel,
        where=worst[0],
        analytic=float(worst[1]),
        numeric=float(worst[2]),
        passed=passed,
        checks=len(rows),
    )
