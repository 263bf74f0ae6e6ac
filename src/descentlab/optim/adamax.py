"""Adamax: Adam with the infinity norm in place of the root mean square."""

from __future__ import annotations

import numpy as np

from descentlab.optim import fused, settings
from descentlab.optim.adam import prepare_gradient
from descentlab.optim.base import Optimizer, State, flush_subnormal_, scratch_like
from descentlab.optim.params import MOMENT_FLOOR
from descentlab.optim.registry import register
from descentlab.optim.rmsprop import lerp_

__all__ = ["Adamax", "adamax"]


def adamax(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    lr: float | np.ndarray,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    """Apply one Adamax step in place; ``states[i]`` holds ``step``, ``exp_avg`` (m_t)
    and ``exp_inf`` (u_t)."""
    for theta, state in zip(params, states):
        if "exp_avg" not in state:
            state["step"] = 0
            state["exp_avg"] = fused.zeros_apart(theta, 0)
            state["exp_inf"] = fused.zeros_apart(theta, 1)
        state["step"] += 1
    keys = ("exp_avg", "exp_inf")
    fast, slow = fused.split(params, grads, states, keys, lr)
    if fast:
        fused.run(
            "adamax",
            fast,
            params,
            grads,
            states,
            keys,
            fused.rows_by_step(fast, states, lambda t: (float(lr / (1 - beta1**t)),)),
            (
                float(lr),
                float(beta1),
                float(beta2),
                float(eps),
                float(weight_decay),
                bool(maximize),
            ),
        )
    for i in slow:
        theta, g, state = params[i], grads[i], states[i]
        t = state["step"]
        g = prepare_gradient(
            theta, g, maximize=maximize, weight_decay=weight_decay, lr=lr, decoupled=False
        )
        m, u = state["exp_avg"], state["exp_inf"]
        buf = scratch_like(theta, 0)
        lerp_(m, g, 1 - beta1, buf)
        flush_subnormal_(m, buf, MOMENT_FLOOR)
        np.abs(g, out=buf)
        buf += eps
        u *= beta2
        np.maximum(u, buf, out=u)
        step_size = lr / (1 - beta1**t)
        np.multiply(m, step_size, out=buf)
        buf /= u
        theta -= buf


class Adamax(Optimizer):
    r"""Adamax, the infinity-norm variant of Adam, as ``torch.optim.Adamax``.

    Update at step t (g_t includes ``-`` for ``maximize``)::

        g_t     <- g_t + lambda * theta_{t-1}                  (coupled L2, if lambda != 0)
        m_t     <- beta1 * m_{t-1} + (1 - beta1) * g_t
        u_t     <- max(beta2 * u_{t-1}, |g_t| + eps)
        theta_t <- theta_{t-1} - eta / (1 - beta1^t) * m_t / u_t

    ==============  ==========================  ============
    symbol          argument                    default
    ==============  ==========================  ============
    eta             ``lr``                      2e-3
    beta1, beta2    ``betas``                   (0.9, 0.999)
    eps             ``eps`` (inside the max)    1e-8
    lambda          ``weight_decay``            0
    ==============  ==========================  ============

    u_t needs no bias correction: it is a maximum, not an average started at zero.
    eps is added to |g_t| before the maximum, so u_t >= eps and the division is safe.
    State per parameter: ``step``, ``exp_avg`` (m_t), ``exp_inf`` (u_t). Reference:
    D. P. Kingma, J. Ba, "Adam: a method for stochastic optimization", ICLR 2015,
    section 7.1.

    Example, f(x) = x^2 / 2::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = Adamax([p], lr=0.1)
        >>> for _ in range(500):
        ...     p.grad = p.data.copy(); opt.step()
        >>> bool(abs(p.data[0]) < 1e-3)
        True
    """

    hyperparameters = (
        settings.lr(2e-3),
        *settings.betas(0.9, 0.999),
        settings.eps(1e-8, "eps: added to |g| inside the maximum u_t"),
        settings.weight_decay(),
        settings.maximize(),
    )
    rule = staticmethod(adamax)


register(Adamax, "adamax", "Adam with the infinity norm: u <- max(beta2 u, |g|)")
