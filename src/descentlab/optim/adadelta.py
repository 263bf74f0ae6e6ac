"""Adadelta: step sizes from running averages of squared gradients and squared updates."""

from __future__ import annotations

import numpy as np

from descentlab.optim import fused, settings
from descentlab.optim.base import Optimizer, State, flush_subnormal_, scratch_like
from descentlab.optim.registry import register

__all__ = ["Adadelta", "adadelta"]


def adadelta(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    lr: float | np.ndarray,
    rho: float = 0.9,
    eps: float = 1e-6,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    """Apply one Adadelta step in place; ``states[i]`` holds ``step``, ``square_avg``,
    ``acc_delta``."""
    for theta, state in zip(params, states):
        if "square_avg" not in state:
            state["step"] = 0
            state["square_avg"] = fused.zeros_apart(theta, 0)
            state["acc_delta"] = fused.zeros_apart(theta, 1)
        state["step"] += 1
    keys = ("square_avg", "acc_delta")
    fast, slow = fused.split(params, grads, states, keys, lr)
    if fast:
        fused.run(
            "adadelta",
            fast,
            params,
            grads,
            states,
            keys,
            [()] * len(fast),
            (float(lr), float(rho), float(eps), float(weight_decay), bool(maximize)),
        )
    for i in slow:
        theta, g, state = params[i], grads[i], states[i]
        if maximize:
            g = np.negative(g)
        if weight_decay != 0:
            g = g + weight_decay * theta
        v, u = state["square_avg"], state["acc_delta"]
        buf = np.multiply(g, 1 - rho, out=scratch_like(theta, 0))
        buf *= g
        v *= rho
        v += buf
        flush_subnormal_(v, buf)
        delta = np.add(u, eps, out=scratch_like(theta, 1))
        np.sqrt(delta, out=delta)
        np.add(v, eps, out=buf)
        np.sqrt(buf, out=buf)
        delta /= buf
        delta *= g
        np.multiply(delta, 1 - rho, out=buf)
        buf *= delta
        u *= rho
        u += buf
        flush_subnormal_(u, buf)
        delta *= lr
        theta -= delta


class Adadelta(Optimizer):
    r"""Adadelta, as ``torch.optim.Adadelta``.

    Update at step t (g_t includes ``-`` for ``maximize``)::

        g_t     <- g_t + lambda * theta_{t-1}                     (if lambda != 0)
        v_t     <- rho * v_{t-1} + (1 - rho) * g_t^2
        Delta_t <- sqrt(u_{t-1} + eps) / sqrt(v_t + eps) * g_t
        u_t     <- rho * u_{t-1} + (1 - rho) * Delta_t^2
        theta_t <- theta_{t-1} - eta * Delta_t

    ==========  ================  =======
    symbol      argument          default
    ==========  ================  =======
    eta         ``lr``            1.0
    rho         ``rho``           0.9
    eps         ``eps``           1e-6
    lambda      ``weight_decay``  0
    ==========  ================  =======

    State per parameter: ``step``, ``square_avg`` (v_t), ``acc_delta`` (u_t).
    Reference: M. D. Zeiler, "ADADELTA: an adaptive learning rate method",
    arXiv:1212.5701, 2012.

    Example, f(x) = x^2 / 2 (Adadelta starts slowly: its first steps are ~sqrt(eps))::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = Adadelta([p], lr=1.0)
        >>> for _ in range(3000):
        ...     p.grad = p.data.copy(); opt.step()
        >>> bool(abs(p.data[0]) < 1e-3)
        True
    """

    hyperparameters = (
        settings.lr(1.0),
        settings.number(
            "rho", 0.9, "rho: decay of the running averages", high=1.0, slider=(0.0, 0.9999)
        ),
        settings.eps(1e-6),
        settings.weight_decay(),
        settings.maximize(),
    )
    rule = staticmethod(adadelta)


register(Adadelta, "adadelta", "step from running RMS of gradients and of updates")
