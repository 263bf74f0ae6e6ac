"""RMSprop: divide the gradient by a running root mean square of recent gradients."""

from __future__ import annotations

import numpy as np

from descentlab.optim import fused, settings
from descentlab.optim.base import Optimizer, State, flush_subnormal_, scratch_like
from descentlab.optim.params import MOMENT_FLOOR
from descentlab.optim.registry import register

__all__ = ["RMSprop", "lerp_", "rmsprop"]


def lerp_(a: np.ndarray, b: np.ndarray, w: float, buf: np.ndarray) -> None:
    """a <- a + w (b - a) in place, rounded as ``torch.lerp`` does; ``buf`` is scratch."""
    np.subtract(b, a, out=buf)
    if abs(w) < 0.5:
        buf *= w
        a += buf
    else:
        buf *= 1 - w
        np.subtract(b, buf, out=a)


def rmsprop(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    lr: float | np.ndarray,
    alpha: float = 0.99,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum: float = 0.0,
    centered: bool = False,
    maximize: bool = False,
) -> None:
    """Apply one RMSprop step in place; ``states[i]`` holds ``step``, ``square_avg`` and,
    as needed, ``momentum_buffer`` and ``grad_avg``."""
    for theta, state in zip(params, states):
        if "square_avg" not in state:
            state["step"] = 0
            state["square_avg"] = fused.zeros_apart(theta, 0)
            if momentum > 0:
                state["momentum_buffer"] = fused.zeros_apart(theta, 1)
            if centered:
                state["grad_avg"] = fused.zeros_apart(theta, 2)
        state["step"] += 1
    keys = (
        "square_avg",
        "grad_avg" if centered else None,
        "momentum_buffer" if momentum > 0 else None,
    )
    fast, slow = fused.split(params, grads, states, keys, lr)
    if fast:
        fused.run(
            "rmsprop",
            fast,
            params,
            grads,
            states,
            keys,
            [()] * len(fast),
            (
                float(lr),
                float(alpha),
                float(eps),
                float(weight_decay),
                float(momentum),
                bool(centered),
                bool(maximize),
            ),
        )
    for i in slow:
        theta, g, state = params[i], grads[i], states[i]
        if maximize:
            g = np.negative(g)
        if weight_decay != 0:
            g = g + weight_decay * theta
        v = state["square_avg"]
        buf = np.multiply(g, 1 - alpha, out=scratch_like(theta, 0))
        buf *= g
        v *= alpha
        v += buf
        flush_subnormal_(v, buf)
        if centered:
            gbar = state["grad_avg"]
            lerp_(gbar, g, 1 - alpha, buf)
            flush_subnormal_(gbar, buf)
            np.multiply(gbar, gbar, out=buf)
            np.subtract(v, buf, out=buf)
            # v is flushed to 0 below the smallest normal, gbar^2 may still be a positive
            # subnormal: not the square root of a negative (NaN stays NaN)
            np.maximum(buf, 0, out=buf)
            np.sqrt(buf, out=buf)
        else:
            np.sqrt(v, out=buf)
        buf += eps
        if momentum > 0:
            np.divide(g, buf, out=buf)
            b = state["momentum_buffer"]
            b *= momentum
            b += buf
            flush_subnormal_(b, buf, MOMENT_FLOOR)
            np.multiply(b, lr, out=buf)
        else:
            avg = buf
            buf = np.multiply(g, lr, out=scratch_like(theta, 1))
            buf /= avg
        theta -= buf


class RMSprop(Optimizer):
    r"""RMSprop, as ``torch.optim.RMSprop``.

    Update at step t (g_t includes ``-`` for ``maximize``)::

        g_t     <- g_t + lambda * theta_{t-1}                     (if lambda != 0)
        v_t     <- alpha * v_{t-1} + (1 - alpha) * g_t^2
        D_t     <- sqrt(v_t) + eps
                   (centered: gbar_t <- alpha gbar_{t-1} + (1 - alpha) g_t,
                    D_t <- sqrt(max(v_t - gbar_t^2, 0)) + eps)
        theta_t <- theta_{t-1} - eta * g_t / D_t                   (beta = 0)
        b_t     <- beta * b_{t-1} + g_t / D_t;  theta_t <- theta_{t-1} - eta * b_t   (beta > 0)

    ==========  ==========================  =======
    symbol      argument                    default
    ==========  ==========================  =======
    eta         ``lr``                      1e-2
    alpha       ``alpha``                   0.99
    eps         ``eps`` (outside the sqrt)  1e-8
    lambda      ``weight_decay``            0
    beta        ``momentum``                0
    ==========  ==========================  =======

    No bias correction: the first step is about eta / sqrt(1 - alpha) = 10 eta.
    State per parameter: ``step``, ``square_avg`` (v_t), ``momentum_buffer`` (b_t,
    if momentum > 0), ``grad_avg`` (gbar_t, if centered).
    Reference: G. Hinton, Coursera "Neural networks for machine learning",
    lecture 6e, 2012; centered form: A. Graves, arXiv:1308.0850, 2013.

    Example, f(x) = x^2 / 2::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = RMSprop([p], lr=0.01)
        >>> for _ in range(500):
        ...     p.grad = p.data.copy(); opt.step()
        >>> bool(abs(p.data[0]) < 1e-2)
        True
    """

    hyperparameters = (
        settings.lr(1e-2),
        settings.number(
            "alpha", 0.99, "alpha: decay of the squared average v", high=1.0, slider=(0.0, 0.9999)
        ),
        settings.eps(1e-8),
        settings.weight_decay(),
        settings.number("momentum", 0.0, "beta: momentum", slider=(0.0, 0.999)),
        settings.flag(
            "centered", "divide by an estimate of the variance instead of the raw 2nd moment"
        ),
        settings.maximize(),
    )
    rule = staticmethod(rmsprop)


register(RMSprop, "rmsprop", "divide by a running RMS of recent gradients")
