"""RAdam: Adam whose adaptive step is switched on only once its variance is tractable."""

from __future__ import annotations

import math

import numpy as np

from descentlab.optim import fused, settings
from descentlab.optim.adam import prepare_gradient, update_moments
from descentlab.optim.base import Optimizer, State, scratch_like
from descentlab.optim.registry import register

__all__ = ["RAdam", "radam"]


def radam(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    lr: float | np.ndarray,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    decoupled_weight_decay: bool = False,
    maximize: bool = False,
) -> None:
    """Apply one RAdam step in place; ``states[i]`` holds ``step``, ``exp_avg`` (m_t)
    and ``exp_avg_sq`` (v_t)."""
    rho_inf = 2 / (1 - beta2) - 1
    for theta, state in zip(params, states):
        if "exp_avg" not in state:
            state["step"] = 0
            state["exp_avg"] = fused.zeros_apart(theta, 0)
            state["exp_avg_sq"] = fused.zeros_apart(theta, 1)
        state["step"] += 1

    def rectification(t: int) -> tuple[bool, float, float]:
        """Whether step t is rectified (rho_t > 5), 1 - beta2^t, and r_t (or 0)."""
        bias_correction2 = 1 - beta2**t
        rho_t = rho_inf - 2 * t * beta2**t / bias_correction2
        if rho_t <= 5.0:
            return False, bias_correction2, 0.0
        r_t = math.sqrt(
            (rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)
        )
        return True, bias_correction2, r_t

    def row(t: int) -> tuple[float, ...]:
        rectified, bias_correction2, r_t = rectification(t)
        return (1 - beta1**t, float(rectified), math.sqrt(bias_correction2), r_t)

    keys = ("exp_avg", "exp_avg_sq")
    fast, slow = fused.split(params, grads, states, keys, lr)
    if fast:
        fused.run(
            "radam",
            fast,
            params,
            grads,
            states,
            keys,
            fused.rows_by_step(fast, states, row),
            (
                float(lr),
                float(beta1),
                float(beta2),
                float(eps),
                float(weight_decay),
                bool(maximize),
                bool(decoupled_weight_decay),
            ),
        )
    for i in slow:
        theta, g, state = params[i], grads[i], states[i]
        t = state["step"]
        g = prepare_gradient(
            theta,
            g,
            maximize=maximize,
            weight_decay=weight_decay,
            lr=lr,
            decoupled=decoupled_weight_decay,
        )
        m, v = state["exp_avg"], state["exp_avg_sq"]
        buf = scratch_like(theta, 0)
        update_moments(m, v, g, beta1, beta2, buf)
        bias_correction1 = 1 - beta1**t
        rectified, bias_correction2, r_t = rectification(t)
        step = np.divide(m, bias_correction1, out=buf)  # mhat_t
        step *= lr
        if rectified:
            l_t = np.sqrt(v, out=scratch_like(theta, 1))
            l_t += eps
            np.divide(math.sqrt(bias_correction2), l_t, out=l_t)
            step *= l_t
            step *= r_t
        theta -= step


class RAdam(Optimizer):
    r"""RAdam (rectified Adam), as ``torch.optim.RAdam``.

    Update at step t (g_t includes ``-`` for ``maximize``)::

        g_t     <- g_t + lambda * theta_{t-1}        (decoupled: theta <- theta (1 - eta lambda))
        m_t     <- beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t     <- beta2 * v_{t-1} + (1 - beta2) * g_t^2
        mhat_t  <- m_t / (1 - beta1^t)
        rho_inf <- 2 / (1 - beta2) - 1;   rho_t <- rho_inf - 2 t beta2^t / (1 - beta2^t)
        if rho_t > 5:
            l_t <- sqrt(1 - beta2^t) / (sqrt(v_t) + eps)
            r_t <- sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t))
            theta_t <- theta_{t-1} - eta * mhat_t * l_t * r_t
        else:
            theta_t <- theta_{t-1} - eta * mhat_t          (SGD with bias-corrected momentum)

    ==============  ==============================  ============
    symbol          argument                        default
    ==============  ==============================  ============
    eta             ``lr``                          1e-3
    beta1, beta2    ``betas``                       (0.9, 0.999)
    eps             ``eps`` (outside the sqrt)      1e-8
    lambda          ``weight_decay``                0
    \               ``decoupled_weight_decay``      False
    ==============  ==============================  ============

    rho_t approximates the length of the simple moving average that v_t stands
    for; while it is at most 5 (the first few steps; with beta2 = 0.999 the first
    five) the variance of the adaptive rate is intractable, and RAdam takes plain
    momentum steps instead of a warmup. ``decoupled_weight_decay=True`` shrinks the
    weights directly, as AdamW does. State per parameter: ``step``, ``exp_avg``
    (m_t), ``exp_avg_sq`` (v_t). Reference: L. Liu et al., "On the variance of the
    adaptive learning rate and beyond", ICLR 2020.

    Example, f(x) = x^2 / 2::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = RAdam([p], lr=0.1)
        >>> for _ in range(500):
        ...     p.grad = p.data.copy(); opt.step()
        >>> bool(abs(p.data[0]) < 1e-3)
        True
    """

    hyperparameters = (
        settings.lr(1e-3),
        *settings.betas(0.9, 0.999),
        settings.eps(1e-8),
        settings.weight_decay(),
        settings.flag("decoupled_weight_decay", "decay the weights directly (as AdamW)"),
        settings.maximize(),
    )
    rule = staticmethod(radam)


register(RAdam, "radam", "Adam with a rectified adaptive rate instead of warmup")
