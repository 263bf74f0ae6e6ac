"""Numba kernels of the fast path (see ``fused.py``); importing this module imports Numba.

Each loop is the NumPy rule of ``sgd.py`` / ``adam.py`` written element by
element in the same order of operations, so both paths round identically.
"""

from __future__ import annotations

import math

import numba


def _sgd_momentum(
    theta, grad, buf, lr, momentum, dampening, weight_decay, nesterov, maximize, tiny
):
    dt = theta.dtype.type
    lr_, mu, keep, wd = dt(lr), dt(momentum), dt(1 - dampening), dt(weight_decay)
    tiny_ = dt(tiny)
    for i in numba.prange(theta.size):
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = g + wd * theta[i]
        if dampening == 0:
            b = buf[i] * mu + g
        else:
            b = buf[i] * mu + keep * g
        if abs(b) < tiny_:  # a subnormal average: 0 (see params.flush_subnormal_)
            b = dt(0)
        buf[i] = b
        d = b * mu + g if nesterov else b
        theta[i] = theta[i] - d * lr_


def _adam(
    theta,
    grad,
    m,
    v,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    maximize,
    decoupled,
    step_size,
    bias_correction2_sqrt,
    tiny,
):
    dt = theta.dtype.type
    w = 1 - beta1
    small = abs(w) < 0.5
    w_, w_rest = dt(w), dt(1 - w)
    b2, one_minus_b2 = dt(beta2), dt(1 - beta2)
    eps_, wd, ss, bc2 = dt(eps), dt(weight_decay), dt(step_size), dt(bias_correction2_sqrt)
    tiny_ = dt(tiny)
    decay = dt(1 - lr * weight_decay)
    for i in numba.prange(theta.size):
        t = theta[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            if decoupled:
                t = t * decay
            else:
                g = g + wd * t
        mi = m[i]
        d = g - mi
        mi = mi + d * w_ if small else g - d * w_rest
        if abs(mi) < tiny_:  # a subnormal moment: 0 (see params.flush_subnormal_)
            mi = dt(0)
        m[i] = mi
        vi = v[i] * b2 + g * one_minus_b2 * g
        if vi < tiny_:
            vi = dt(0)
        v[i] = vi
        denom = math.sqrt(vi) / bc2 + eps_
        theta[i] = t - mi * ss / denom


_serial = numba.njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
_parallel = numba.njit(cache=True, fastmath=False, error_model="numpy", nogil=True, parallel=True)

sgd_momentum_serial = _serial(_sgd_momentum)
sgd_momentum_parallel = _parallel(_sgd_momentum)
adam_serial = _serial(_adam)
adam_parallel = _parallel(_adam)
