"""Adafactor: Adam-like steps with a factored second moment and relative step sizes."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import numpy as np

from descentlab.optim import settings
from descentlab.optim.base import Optimizer
from descentlab.optim.registry import register
from descentlab.optim.rmsprop import lerp_
from descentlab.spec import HyperParam

__all__ = ["Adafactor", "adafactor"]


def _rms(a: np.ndarray) -> float:
    """Root mean square of every entry (the norm over sqrt(size), as PyTorch computes it)."""
    return float(np.linalg.norm(a.reshape(-1))) / a.size**0.5


def adafactor(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[dict],
    *,
    lr: float,
    beta2_decay: float = -0.8,
    eps1: float | None = None,
    eps2: float = 1e-3,
    d: float = 1.0,
    weight_decay: float = 0.0,
    foreach: bool | None = None,
    maximize: bool = False,
) -> None:
    """Apply one Adafactor step in place (PyTorch's rule; ``foreach`` is ignored).

    ``states[i]`` holds ``step`` and, for a parameter of two or more dimensions, the
    factors ``row_var`` (shape ``(..., m, 1)``) and ``col_var`` (``(..., 1, n)``);
    for a vector or scalar the full ``variance``. ``eps1=None`` means the machine
    epsilon of the parameter's dtype.
    """
    for theta, g, state in zip(params, grads, states):
        factored = theta.ndim >= 2
        if "step" not in state:
            state["step"] = 0
            if factored:
                state["row_var"] = np.zeros(theta.shape[:-1] + (1,), dtype=theta.dtype)
                state["col_var"] = np.zeros(
                    theta.shape[:-2] + (1, theta.shape[-1]), dtype=theta.dtype
                )
            else:
                state["variance"] = np.zeros_like(theta)
        if maximize:
            g = np.negative(g)
        state["step"] += 1
        t = state["step"]
        e1 = float(np.finfo(theta.dtype).eps) if eps1 is None else eps1
        beta2_t = 1 - t**beta2_decay
        rho = min(lr, 1 / t**0.5)
        alpha = max(eps2, _rms(theta)) * rho
        if weight_decay != 0:
            theta *= 1 - lr * weight_decay
        buf = np.empty_like(theta)
        if factored:
            R, C = state["row_var"], state["col_var"]
            row_mean = np.linalg.norm(g, axis=-1, keepdims=True) ** 2 / g.shape[-1]
            lerp_(R, row_mean, 1 - beta2_t, np.empty_like(R))
            col_mean = np.linalg.norm(g, axis=-2, keepdims=True) ** 2 / g.shape[-2]
            lerp_(C, col_mean, 1 - beta2_t, np.empty_like(C))
            v = np.matmul(R, C)
            v /= np.maximum(R.mean(axis=-2, keepdims=True), e1)
        else:
            v = state["variance"]
            lerp_(v, g * g, 1 - beta2_t, buf)
            v = v.copy()
        # U = G / max(sqrt(V), eps1), computed as rsqrt(max(V, eps1^2)) * G
        np.maximum(v, e1 * e1, out=v)
        np.sqrt(v, out=v)
        np.divide(1.0, v, out=v)
        np.multiply(v, g, out=buf)
        denom = max(1.0, _rms(buf) / d)
        buf *= -alpha / denom
        theta += buf


class Adafactor(Optimizer):
    r"""Adafactor, as ``torch.optim.Adafactor``: a factored second moment and relative steps.

    Update at step t (G_t is ``-grad`` if ``maximize``), for a matrix G_t of shape (m, n)::

        beta2_t <- 1 - t^tau
        rho_t   <- min(eta, 1 / sqrt(t))
        a_t     <- max(eps2, RMS(theta_{t-1})) * rho_t
        theta   <- theta_{t-1} - eta * lambda * theta_{t-1}        (decoupled decay)
        R_t     <- beta2_t R_{t-1} + (1 - beta2_t) mean_j G_t^2     (row factor, m x 1)
        C_t     <- beta2_t C_{t-1} + (1 - beta2_t) mean_i G_t^2     (column factor, 1 x n)
        V_t     <- R_t C_t / max(mean_i R_t, eps1)                  (rank-one estimate)
        U_t     <- G_t / max(sqrt(V_t), eps1)
        theta_t <- theta - a_t * U_t / max(1, RMS(U_t) / d)

    A vector (or scalar) keeps the full V_t <- beta2_t V_{t-1} + (1 - beta2_t) G_t^2;
    higher-dimensional arrays are factored over their last two axes. The memory for the
    second moment of an m x n matrix is m + n numbers instead of m n.

    ==========  ================================  ===========
    symbol      argument                          default
    ==========  ================================  ===========
    eta         ``lr`` (max. relative step, decay)  1e-2
    tau         ``beta2_decay``                   -0.8
    eps1, eps2  ``eps`` (``eps1`` None: dtype's)  (None, 1e-3)
    d           ``d`` (update clipping threshold) 1.0
    lambda      ``weight_decay`` (decoupled)      0
    ==========  ================================  ===========

    As in PyTorch (and unlike the paper), eps1 is applied to the variance estimate and
    the update rather than added to G_t^2, means replace sums, and eta caps rho_t.
    State per parameter: ``step``, ``row_var`` and ``col_var`` (>= 2-D) or ``variance``.
    PyTorch's ``foreach`` switch selects an implementation, not a result: it is accepted
    and ignored. Reference: N. Shazeer, M. Stern, "Adafactor: adaptive learning rates
    with sublinear memory cost", ICML 2018.

    Example, f(X) = ||X||^2 / 2 for a 2 x 3 matrix::

        >>> p = ArrayParam(np.full((2, 3), 1.0))
        >>> opt = Adafactor([p], lr=0.1)
        >>> for _ in range(300):
        ...     p.grad = p.data.copy(); opt.step()
        >>> bool(np.abs(p.data).max() < 1e-2), sorted(opt.state[p])
        (True, ['col_var', 'row_var', 'step'])
    """

    hyperparameters: ClassVar[tuple[HyperParam, ...]] = (
        replace(
            settings.lr(1e-2),
            array_ok=False,
            help="eta: the largest relative step size rho_t, and the decay's factor",
        ),
        settings.number(
            "beta2_decay", -0.8, "tau: beta2_t = 1 - t^tau", low=None, high=0.0, slider=(-1.0, 0.0)
        ),
        HyperParam(
            "eps1",
            "float",
            None,
            low=0.0,
            slider=(1e-30, 1e-3),
            log_scale=True,
            help="eps1: floor of the variance estimate (None: the dtype's epsilon)",
            nullable=True,
            pack="eps",
        ),
        HyperParam(
            "eps2",
            "float",
            1e-3,
            low=0.0,
            slider=(1e-8, 1e-1),
            log_scale=True,
            help="eps2: floor of RMS(theta) in the relative step size",
            pack="eps",
        ),
        settings.number("d", 1.0, "d: clip the update to RMS <= d", low=1.0, slider=(1.0, 10.0)),
        settings.weight_decay(decoupled=True),
        HyperParam(
            "foreach",
            "object",
            None,
            help="PyTorch's implementation switch; ignored",
            nullable=True,
            kw_only=True,
        ),
        settings.maximize(),
    )
    rule = staticmethod(adafactor)

    #: Rows of a matrix parameter share the factored second moment (not elementwise).
    elementwise: ClassVar[bool] = False


register(Adafactor, "adafactor", "factored second moment, relative step sizes (memory-light)")
