"""AdaGrad (one accumulator per coordinate) and AdaGrad-Norm (one scalar accumulator)."""

from __future__ import annotations

from typing import Any

import numpy as np

from descentlab.optim import fused, settings
from descentlab.optim.base import Closure, Optimizer, State, scratch_like
from descentlab.optim.registry import register
from descentlab.spec import HyperParam

__all__ = ["Adagrad", "AdagradNorm", "adagrad", "adagrad_norm"]


def adagrad(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    lr: float | np.ndarray,
    lr_decay: float = 0.0,
    weight_decay: float = 0.0,
    eps: float = 1e-10,
    maximize: bool = False,
    initial_accumulator_value: float = 0.0,
) -> None:
    """Apply one AdaGrad step in place; ``states[i]`` holds ``step`` and ``sum``."""
    for theta, state in zip(params, states):
        if "sum" not in state:
            state["step"] = 0
            state["sum"] = fused.zeros_apart(theta, 0, initial_accumulator_value)
        state["step"] += 1
    keys = ("sum",)
    fast, slow = fused.split(params, grads, states, keys, lr)
    if fast:
        fused.run(
            "adagrad",
            fast,
            params,
            grads,
            states,
            keys,
            fused.rows_by_step(fast, states, lambda t: (float(lr / (1 + (t - 1) * lr_decay)),)),
            (float(weight_decay), float(eps), bool(maximize)),
        )
    for i in slow:
        theta, g, state = params[i], grads[i], states[i]
        t = state["step"]
        if maximize:
            g = np.negative(g)
        if weight_decay != 0:
            g = g + weight_decay * theta
        eta_t = lr / (1 + (t - 1) * lr_decay)
        s = state["sum"]
        buf = np.multiply(g, g, out=scratch_like(theta, 0))
        s += buf
        std = np.sqrt(s, out=scratch_like(theta, 1))
        std += eps
        np.multiply(g, eta_t, out=buf)
        buf /= std
        theta -= buf


class Adagrad(Optimizer):
    r"""AdaGrad: per-coordinate step eta / sqrt(sum of squared gradients), as torch.optim.Adagrad.

    Update at step t (g_t includes ``-`` for ``maximize``)::

        eta_t   <- eta / (1 + (t - 1) * delta)
        g_t     <- g_t + lambda * theta_{t-1}                   (if lambda != 0)
        s_t     <- s_{t-1} + g_t^2                              (s_0 = initial_accumulator_value)
        theta_t <- theta_{t-1} - eta_t * g_t / (sqrt(s_t) + eps)

    ===========  =============================  =======
    symbol       argument                       default
    ===========  =============================  =======
    eta          ``lr``                         1e-2
    delta        ``lr_decay``                   0
    lambda       ``weight_decay``               0
    s_0          ``initial_accumulator_value``  0
    eps          ``eps`` (outside the sqrt)     1e-10
    ===========  =============================  =======

    State per parameter: ``step``, ``sum`` (s_t). Reference: Duchi, Hazan & Singer,
    "Adaptive subgradient methods for online learning and stochastic optimization",
    JMLR 12, 2011.

    Example, f(x) = x^2 / 2::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = Adagrad([p], lr=0.5)
        >>> for _ in range(500):
        ...     p.grad = p.data.copy(); opt.step()
        >>> bool(abs(p.data[0]) < 1e-6)
        True
    """

    hyperparameters = (
        settings.lr(1e-2),
        settings.number("lr_decay", 0.0, "eta_t = eta / (1 + (t-1) lr_decay)", slider=(0.0, 1.0)),
        settings.weight_decay(),
        settings.number(
            "initial_accumulator_value",
            0.0,
            "starting value s_0 of the sum of squared gradients",
            slider=(0.0, 10.0),
        ),
        settings.eps(1e-10),
        settings.maximize(),
    )
    rule = staticmethod(adagrad)

    def _after_init(self) -> None:
        # PyTorch fills the state at construction, so state_dict() shows s_0 at once.
        for group in self.param_groups:
            for p in group["params"]:
                state = self.state.setdefault(p, {})
                state["step"] = 0
                state["sum"] = fused.zeros_apart(p.data, 0, group["initial_accumulator_value"])


def _row_sum_sq(g: np.ndarray, batched: bool) -> Any:
    sq = np.square(g)
    if not batched:
        return float(np.sum(sq))
    if g.ndim == 0:
        raise ValueError("AdagradNorm(batched=True) needs parameters of shape (N, ...)")
    return np.sum(sq.reshape(g.shape[0], -1), axis=1, keepdims=True)


def adagrad_norm(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    state: State,
    *,
    lr: float | np.ndarray,
    eps: float = 1e-10,
    weight_decay: float = 0.0,
    maximize: bool = False,
    batched: bool = False,
) -> None:
    """Apply one AdaGrad-Norm step to all ``params`` (one group) in place.

    ``state`` is the group's single state dict with ``step`` and ``sum_sq_norm``
    (a float, or an (N, 1) array when ``batched``: one accumulator per row).
    """
    if maximize:
        grads = [np.negative(g) for g in grads]
    if weight_decay != 0:
        grads = [g + weight_decay * theta for theta, g in zip(params, grads)]
    total = None
    for g in grads:
        sq = _row_sum_sq(g, batched)
        total = sq if total is None else total + sq
    if total is None:
        return
    if "sum_sq_norm" not in state:
        state["step"] = 0
        state["sum_sq_norm"] = 0.0 if not batched else np.zeros_like(total)
    state["step"] += 1
    if batched:
        state["sum_sq_norm"] += total
    else:
        state["sum_sq_norm"] = state["sum_sq_norm"] + total
    eta_t = lr / np.sqrt(eps + state["sum_sq_norm"])
    for theta, g in zip(params, grads):
        coef = eta_t
        if batched and theta.ndim != 2:
            coef = np.reshape(eta_t, (theta.shape[0],) + (1,) * (theta.ndim - 1))
        theta -= coef * g


class AdagradNorm(Optimizer):
    r"""AdaGrad-Norm: ONE adaptive step size for the whole gradient (Ward, Wu & Bottou, 2019).

    Update at step t, with g_t the concatenated gradient of all parameters of a
    group (``-`` for ``maximize``, ``+ lambda theta`` for weight decay)::

        b_t^2   <- b_{t-1}^2 + ||g_t||^2                 (b_0^2 = eps)
        theta_t <- theta_{t-1} - eta / b_t * g_t
                 = theta_{t-1} - eta / sqrt(eps + sum_{j<=t} ||g_j||^2) * g_t

    ==========  ================  =======
    symbol      argument          default
    ==========  ================  =======
    eta         ``lr``            0.1
    b_0^2       ``eps``           1e-10
    lambda      ``weight_decay``  0
    ==========  ================  =======

    The first step has length about eta whatever the gradient's scale, and the step
    size shrinks until it is stable: no need to know the Lipschitz constant L in
    advance (the method converges even when the first step eta/b_1 is far above
    2/L). ``eps`` plays the role of the paper's b_0^2 and only keeps the first step
    finite when the gradient is zero (default 1e-10).
    Unlike :class:`Adagrad` (one accumulator per coordinate) there is a single
    scalar per parameter group, stored as ``sum_sq_norm`` (with ``step``) in the
    state of the group's first parameter. With ``batched=True`` every parameter
    has shape (N, ...) holding N independent problems, and each row gets its own
    accumulator (sum over the non-leading axes), of shape (N, 1).

    Reference: R. Ward, X. Wu, L. Bottou, "AdaGrad stepsizes: sharp convergence
    over nonconvex landscapes", ICML 2019 (arXiv:1806.01811).

    Example, f(x) = 5 x^2 (L = 10) from a first step 5/10 = 0.5 > 2/L::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = AdagradNorm([p], lr=5.0)
        >>> for _ in range(300):
        ...     p.grad = 10 * p.data; opt.step()
        >>> bool(abs(p.data[0]) < 1e-6)
        True
    """

    hyperparameters = (
        settings.lr(0.1),
        HyperParam(
            "eps",
            "float",
            1e-10,
            low=0.0,
            low_open=True,
            slider=(1e-12, 10.0),
            log_scale=True,
            help="b_0^2: initial accumulator",
        ),
        settings.weight_decay(),
        settings.maximize(),
        settings.flag(
            "batched",
            "rows of an (N, D) parameter are N problems, one accumulator each",
            kw_only=True,
        ),
    )

    def step(self, closure: Closure | None = None) -> object:
        """Update every parameter that has a gradient; return ``closure()`` if given."""
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            pairs = [(p.data, np.asarray(p.grad)) for p in group["params"] if p.grad is not None]
            if not pairs:
                continue
            state = self.state.setdefault(group["params"][0], {})
            adagrad_norm(
                [theta for theta, _ in pairs],
                [g for _, g in pairs],
                state,
                lr=group["lr"],
                eps=group["eps"],
                weight_decay=group["weight_decay"],
                maximize=group["maximize"],
                batched=group["batched"],
            )
        return loss


register(Adagrad, "adagrad", "per-coordinate step eta / sqrt(sum of squared gradients)")
register(AdagradNorm, "adagrad_norm", "one step eta / sqrt(eps + sum ||g||^2) (Ward et al.)")
