"""L-BFGS: a quasi-Newton method driven by a closure, with an optional strong Wolfe line search."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import Any, ClassVar, cast

import numpy as np

from descentlab.optim import settings
from descentlab.optim.base import Closure, Optimizer, ParamGroup, ParamLike, group_params
from descentlab.optim.registry import register
from descentlab.spec import HyperParam

__all__ = ["LBFGS", "cubic_interpolate", "strong_wolfe"]

#: (t, d) -> f(x + t d) and its gradient, for a step length t along d from a fixed x.
Objective = Callable[[float, np.ndarray], tuple[float, np.ndarray]]


def cubic_interpolate(
    x1: float,
    f1: float,
    g1: float,
    x2: float,
    f2: float,
    g2: float,
    bounds: tuple[float, float] | None = None,
) -> float:
    """The minimizer of the cubic through (x1, f1, f1'=g1) and (x2, f2, f2'=g2), clipped.

    Without ``bounds`` the result is kept within [min(x1, x2), max(x1, x2)]; when the
    cubic has no minimizer, the middle of the bounds (Nocedal & Wright, eq. 3.59).
    """
    lo, hi = bounds if bounds is not None else (min(x1, x2), max(x1, x2))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    d2_square = d1**2 - g1 * g2
    if d2_square >= 0:
        d2 = math.sqrt(d2_square)
        if x1 <= x2:
            min_pos = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
        else:
            min_pos = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
        return float(min(max(min_pos, lo), hi))
    return (lo + hi) / 2.0


def strong_wolfe(
    obj: Objective,
    t: float,
    d: np.ndarray,
    f: float,
    g: np.ndarray,
    gtd: float,
    c1: float = 1e-4,
    c2: float = 0.9,
    tolerance_change: float = 1e-9,
    max_ls: int = 25,
) -> tuple[float, np.ndarray, float, int]:
    """A step length t along d satisfying the strong Wolfe conditions.

    f(x + t d) <= f + c1 t g.d (sufficient decrease) and |grad f(x + t d).d| <= c2 |g.d|
    (curvature): bracketing with cubic extrapolation, then zoom by cubic interpolation
    (Nocedal & Wright, "Numerical Optimization", algorithms 3.5 and 3.6, as in minFunc
    and PyTorch). ``f``, ``g`` and ``gtd`` = g.d are taken at t = 0. Returns
    (f_new, g_new, t, evaluations).
    """
    d_norm = float(np.max(np.abs(d)))
    f_new, g_new = obj(t, d)
    evals = 1
    gtd_new = _dot(g_new, d)
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    ls_iter = 0
    bracket: list[float] = []
    bracket_f: list[float] = []
    bracket_g: list[np.ndarray] = []
    bracket_gtd: list[float] = []
    while ls_iter < max_ls:
        if f_new > (f + c1 * t * gtd) or (ls_iter > 1 and f_new >= f_prev):
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            bracket, bracket_f, bracket_g = [t], [f_new], [g_new]
            done = True
            break
        if gtd_new >= 0:
            bracket, bracket_f = [t_prev, t], [f_prev, f_new]
            bracket_g, bracket_gtd = [g_prev, g_new], [gtd_prev, gtd_new]
            break
        # extrapolate, at least 1% beyond t and at most ten times t
        min_step = t + 0.01 * (t - t_prev)
        max_step = t * 10
        t_prev, t = (
            t,
            cubic_interpolate(
                t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(min_step, max_step)
            ),
        )
        f_prev, g_prev, gtd_prev = f_new, g_new, gtd_new
        f_new, g_new = obj(t, d)
        evals += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1
    if ls_iter == max_ls:
        bracket, bracket_f, bracket_g = [0.0, t], [f, f_new], [g, g_new]

    # zoom: shrink the bracket until a point satisfies both conditions
    insufficient_progress = False
    low, high = (0, 1) if bracket_f[0] <= bracket_f[-1] else (1, 0)
    while not done and ls_iter < max_ls:
        if abs(bracket[1] - bracket[0]) * d_norm < tolerance_change:
            break
        t = cubic_interpolate(
            bracket[0], bracket_f[0], bracket_gtd[0], bracket[1], bracket_f[1], bracket_gtd[1]
        )
        # a point too close to an end of the bracket makes little progress: move it
        # to 10% of the bracket's width inside, the second time in a row
        eps = 0.1 * (max(bracket) - min(bracket))
        if min(max(bracket) - t, t - min(bracket)) < eps:
            if insufficient_progress or t >= max(bracket) or t <= min(bracket):
                if abs(t - max(bracket)) < abs(t - min(bracket)):
                    t = max(bracket) - eps
                else:
                    t = min(bracket) + eps
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = obj(t, d)
        evals += 1
        gtd_new = _dot(g_new, d)
        ls_iter += 1
        if f_new > (f + c1 * t * gtd) or f_new >= bracket_f[low]:
            bracket[high], bracket_f[high] = t, f_new
            bracket_g[high], bracket_gtd[high] = g_new, gtd_new
            low, high = (0, 1) if bracket_f[0] <= bracket_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (bracket[high] - bracket[low]) >= 0:
                bracket[high], bracket_f[high] = bracket[low], bracket_f[low]
                bracket_g[high], bracket_gtd[high] = bracket_g[low], bracket_gtd[low]
            bracket[low], bracket_f[low] = t, f_new
            bracket_g[low], bracket_gtd[low] = g_new, gtd_new
    return bracket_f[low], bracket_g[low], bracket[low], evals


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """a . b as a plain sum of products (PyTorch's value exactly for two entries)."""
    return float(np.sum(a * b))


def _axpy(alpha: float, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """y + alpha x rounded once, as PyTorch's ``y.add_(x, alpha=alpha)`` (a fused multiply-add).

    The rounding matters: L-BFGS on a curved valley amplifies a last-bit difference of an
    iterate. In float64 the product's rounding error is recovered exactly (Dekker's
    split) and added back before the final rounding; narrower floats go through float64.
    """
    if y.dtype != np.float64:
        return (np.float64(alpha) * x.astype(np.float64) + y).astype(y.dtype)
    a = np.float64(alpha)
    with np.errstate(all="ignore"):
        p = a * x
        split = 134217729.0  # 2^27 + 1
        ah = split * a
        ah = ah - (ah - a)
        al = a - ah
        xh = split * x
        xh = xh - (xh - x)
        xl = x - xh
        err = ((ah * xh - p) + ah * xl + al * xh) + al * xl  # p + err == a x exactly
        s = y + p
        v = s - y
        sum_err = (y - (s - v)) + (p - v)  # s + sum_err == y + p exactly
        out = s + (sum_err + err)
    return np.where(np.isfinite(out), out, y + a * x)


def _loss_value(loss: Any) -> float:
    """A closure's loss as a float (a number, a 0-d array, or a Tensor with ``.data``)."""
    value = getattr(loss, "data", loss)
    return float(np.asarray(value, dtype=np.float64).reshape(()))


class LBFGS(Optimizer):
    r"""Limited-memory BFGS, as ``torch.optim.LBFGS``: ``step(closure)`` runs several iterations.

    All parameters form one vector theta (one parameter group only). The closure
    sets the gradients and returns f(theta). Each iteration k, with g_k = grad f::

        s_k <- theta_k - theta_{k-1},  y_k <- g_k - g_{k-1}     (kept if y.s > 1e-10;
                                                                 the last m pairs)
        d_k <- -H_k g_k       (two-loop recursion, H_0 = (y.s / y.y) I, Nocedal 1980)
        t_k <- min(1, 1 / ||g_0||_1) eta  at the very first iteration, else eta;
               with ``line_search_fn="strong_wolfe"``, a step length from t_k that
               satisfies the strong Wolfe conditions (c1 = 1e-4, c2 = 0.9)
        theta_{k+1} <- theta_k + t_k d_k

    A step stops after ``max_iter`` iterations or ``max_eval`` evaluations of f, when
    max |g| <= ``tolerance_grad``, or when the step, the change of f or the directional
    derivative falls below ``tolerance_change``. The memory (directions, curvature
    pairs) carries over to the next ``step``. ``step`` returns the loss at its start.

    ==========  ======================  ====================
    symbol      argument                default
    ==========  ======================  ====================
    eta         ``lr``                  1
    --          ``max_iter``            20
    --          ``max_eval``            None (max_iter * 5 // 4)
    --          ``tolerance_grad``      1e-7
    --          ``tolerance_change``    1e-9
    m           ``history_size``        100
    --          ``line_search_fn``      None or "strong_wolfe"
    ==========  ======================  ====================

    State (of the first parameter, PyTorch's names): ``func_evals``, ``n_iter``, ``d``,
    ``t``, ``old_dirs`` (y), ``old_stps`` (s), ``ro`` (1 / y.s), ``H_diag``,
    ``prev_flat_grad``, ``prev_loss``, ``al``. References: J. Nocedal, "Updating
    quasi-Newton matrices with limited storage", Math. Comp. 35, 1980; D. C. Liu,
    J. Nocedal, "On the limited memory BFGS method for large scale optimization",
    Math. Programming 45, 1989; M. Schmidt, minFunc (2005).

    Example, f(x) = (x1 - 1)^2 + 10 (x2 + 2)^2::

        >>> p = ArrayParam(np.zeros(2))
        >>> opt = LBFGS([p], line_search_fn="strong_wolfe")
        >>> def closure():
        ...     x = p.data
        ...     p.grad = np.array([2 * (x[0] - 1), 20 * (x[1] + 2)])
        ...     return (x[0] - 1) ** 2 + 10 * (x[1] + 2) ** 2
        >>> first = opt.step(closure)
        >>> np.allclose(p.data, [1.0, -2.0]), first
        (True, 41.0)
    """

    hyperparameters: ClassVar[tuple[HyperParam, ...]] = (
        replace(settings.lr(1.0), array_ok=False, help="eta: the step length tried first"),
        HyperParam("max_iter", "int", 20, low=1, slider=(1, 100), help="iterations per step"),
        HyperParam(
            "max_eval",
            "int",
            None,
            low=1,
            slider=(1, 200),
            nullable=True,
            help="evaluations of f per step (None: max_iter * 5 // 4)",
        ),
        settings.number(
            "tolerance_grad",
            1e-7,
            "stop when max |g| <= this",
            slider=(1e-12, 1e-2),
            log_scale=True,
        ),
        settings.number(
            "tolerance_change",
            1e-9,
            "stop when the step or change of f is below this",
            slider=(1e-15, 1e-3),
            log_scale=True,
        ),
        HyperParam(
            "history_size",
            "int",
            100,
            low=1,
            slider=(1, 200),
            help="m: curvature pairs (s, y) kept",
        ),
        HyperParam(
            "line_search_fn",
            "choice",
            None,
            choices=("strong_wolfe",),
            nullable=True,
            help="None: fixed step eta; 'strong_wolfe': a strong Wolfe line search",
        ),
    )

    #: ``step`` needs a closure that re-evaluates the loss and the gradients.
    needs_closure: ClassVar[bool] = True
    #: All parameters form one vector: the entries interact.
    elementwise: ClassVar[bool] = False

    def _after_init(self) -> None:
        for hp in (self.defaults, *self.param_groups):
            if hp["max_eval"] is None:
                hp["max_eval"] = hp["max_iter"] * 5 // 4

    def add_param_group(self, param_group: ParamGroup) -> None:
        """The first and only group (L-BFGS has no per-parameter options)."""
        if self.param_groups:
            raise ValueError(
                "LBFGS doesn't support per-parameter options (parameter groups): pass one "
                "list of parameters"
            )
        super().add_param_group(param_group)

    # -- the flat vector -------------------------------------------------------------------
    def _params(self) -> list[ParamLike]:
        return list(group_params(self.param_groups[0]))

    def _flat_grad(self) -> np.ndarray:
        return np.concatenate(
            [
                np.zeros(p.data.size, dtype=p.data.dtype)
                if p.grad is None
                else np.asarray(p.grad, dtype=p.data.dtype).reshape(-1)
                for p in self._params()
            ]
        )

    def _add(self, t: float, d: np.ndarray) -> None:
        offset = 0
        for p in self._params():
            n = p.data.size
            p.data[...] = _axpy(t, d[offset : offset + n].reshape(p.data.shape), p.data)
            offset += n

    def _set(self, x: list[np.ndarray]) -> None:
        for p, saved in zip(self._params(), x):
            np.copyto(p.data, saved)

    def _evaluate(self, closure: Closure) -> float:
        return _loss_value(closure())

    def step(self, closure: Closure | None = None) -> object:
        """Run up to ``max_iter`` iterations; return the closure's loss at the start.

        ``closure()`` must set every parameter's ``.grad`` at the current parameters and
        return f (a number; a Tensor's value is read from ``.data``).
        """
        if closure is None:
            raise TypeError(
                "LBFGS.step needs a closure: a function that recomputes the gradients "
                "(setting each parameter's .grad) and returns the loss"
            )
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tolerance_grad, tolerance_change = group["tolerance_grad"], group["tolerance_change"]
        history_size, line_search_fn = group["history_size"], group["line_search_fn"]

        # one memory for the whole flat vector, kept with the first parameter; its entries
        # start as None (as torch's), so they are read here without the State key types
        state: dict[str, Any] = cast("dict[str, Any]", self.state.setdefault(self._params()[0], {}))
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)

        orig_loss = closure()
        loss = _loss_value(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if float(np.max(np.abs(flat_grad), initial=0.0)) <= tolerance_grad:
            return orig_loss

        d = state.get("d")
        t = state.get("t")
        old_dirs = state.get("old_dirs")
        old_stps = state.get("old_stps")
        ro = state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad = state.get("prev_flat_grad")
        prev_loss = state.get("prev_loss")

        n_iter = 0
        while n_iter < max_iter:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1:
                d = -flat_grad
                old_dirs, old_stps, ro = [], [], []
                H_diag = 1.0
            else:
                assert d is not None and t is not None and prev_flat_grad is not None
                assert old_dirs is not None and old_stps is not None and ro is not None
                y = flat_grad - prev_flat_grad
                s = d * t
                ys = _dot(y, s)
                if ys > 1e-10:
                    if len(old_dirs) == history_size:
                        old_dirs.pop(0)
                        old_stps.pop(0)
                        ro.pop(0)
                    old_dirs.append(y)
                    old_stps.append(s)
                    ro.append(1.0 / ys)
                    H_diag = ys / _dot(y, y)
                # two-loop recursion: d = -H g
                if "al" not in state:
                    state["al"] = [None] * history_size
                al = state["al"]
                q = -flat_grad
                for i in range(len(old_dirs) - 1, -1, -1):
                    al[i] = _dot(old_stps[i], q) * ro[i]
                    q = _axpy(-al[i], old_dirs[i], q)
                r = q * H_diag
                for i in range(len(old_dirs)):
                    be_i = _dot(old_dirs[i], r) * ro[i]
                    r = _axpy(al[i] - be_i, old_stps[i], r)
                d = r
            prev_flat_grad = flat_grad.copy()
            prev_loss = loss

            if state["n_iter"] == 1:
                t = min(1.0, 1.0 / float(np.sum(np.abs(flat_grad)))) * lr
            else:
                t = lr
            gtd = _dot(flat_grad, d)
            if gtd > -tolerance_change:  # not a descent direction
                break

            evals = 0
            if line_search_fn is not None:
                x_init = [p.data.copy() for p in self._params()]

                def along(
                    step: float, direction: np.ndarray, start: list[np.ndarray] = x_init
                ) -> tuple[float, np.ndarray]:
                    self._add(step, direction)
                    value = self._evaluate(closure)
                    grad = self._flat_grad()
                    self._set(start)
                    return value, grad

                # the line search may use what is left of this step's evaluations
                loss, flat_grad, t, evals = strong_wolfe(
                    along, t, d, loss, flat_grad, gtd, max_ls=max_eval - current_evals
                )
                self._add(t, d)
            else:
                self._add(t, d)
                if n_iter != max_iter:
                    loss = self._evaluate(closure)
                    flat_grad = self._flat_grad()
                    evals = 1
            current_evals += evals
            state["func_evals"] += evals

            if n_iter == max_iter or current_evals >= max_eval:
                break
            if float(np.max(np.abs(flat_grad))) <= tolerance_grad:
                break
            if float(np.max(np.abs(d * t))) <= tolerance_change:
                break
            if abs(loss - prev_loss) < tolerance_change:
                break

        state.update(
            d=d,
            t=t,
            old_dirs=old_dirs,
            old_stps=old_stps,
            ro=ro,
            H_diag=H_diag,
            prev_flat_grad=prev_flat_grad,
            prev_loss=prev_loss,
        )
        return orig_loss


register(
    LBFGS,
    "lbfgs",
    "quasi-Newton with a memory of curvature pairs; step(closure)",
    aliases=("l-bfgs",),
)
