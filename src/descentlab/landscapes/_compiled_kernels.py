# mypy: ignore-errors
"""Numba kernels of the compiled ``minimize`` path (see ``_compiled.py``); importing this
module imports Numba.

Three parts, each a per-row transcription of the NumPy code it replaces, in the same
order of operations so that both round alike:

* ``VG[kind]``, one function per built-in landscape, ``(kind, lp, x, g, i)``: the value
  (returned) and gradient (written into ``g[i]``) of the point ``x[i]``, with the
  landscape's numeric parameters in ``lp``. Sums over the coordinates follow NumPy's pairwise
  summation; powers other than squares call ``pow`` (NumPy's vectorized ``pow``, ``exp``,
  ``log`` may differ from it in the last bit).
* ``STEP[code]``: one step of SGD, Adam/AdamW, RMSprop or AdaGrad on one row, with the
  hyperparameters in an array (the rules of ``descentlab.optim``).
* ``specialize(vg, step)``: a block of rows run for every step inside one compiled loop
  (update, value and gradient, the Runner's stopping and divergence checks), with the two
  row functions inlined; ``_compiled.py`` runs the blocks on threads. The templates:
  ``_run_block_py`` (rows of any length), ``_run_lanes_py`` (rows of up to
  ``LANE_MAX_DIM`` coordinates, vectorized across rows) and ``_step_block_py`` (a Runner's
  resumable, recorded steps).
"""

from __future__ import annotations

import inspect
import math

import numba
import numpy as np

RUNNING, CONVERGED, MAX_STEPS, DIVERGED = 0, 1, 2, 3
SGD, ADAM, RMSPROP, ADAGRAD, ADADELTA, ADAMAX, NADAM = 0, 1, 2, 3, 4, 5, 6
(
    ROSENBROCK,
    QUADRATIC,
    DOUBLE_WELL,
    CUBIC,
    XCOS,
    SADDLE,
    MONKEY_SADDLE,
    BEALE,
    HIMMELBLAU,
    BOOTH,
    GOLDSTEIN_PRICE,
    SIX_HUMP_CAMEL,
    RASTRIGIN,
    ACKLEY,
    STYBLINSKI_TANG,
    ROSENBROCK_2D,
) = range(16)
#: the most rows of a block of the vectorized template (``_run_lanes_py``): its buffer of
#: 9 D + 7 columns stays in the L2 cache (104 KB for D = 2, 329 KB for D = 8) ...
LANE_ROWS = 512
#: ... and its columns lie LANE_ROWS + LANE_PAD numbers apart, not a power of two: columns
#: 4 KiB apart fall in the same sets of the L1 cache, and the loop, which reads and writes
#: 25 to 79 of them at the same row, ran 3-5 x slower (AMD Zen 4, 1024 rows unpadded)
LANE_PAD = 8
#: the longest row the vectorized template takes (the Runner's own limit for its sums)
LANE_MAX_DIM = 8
#: longest row a pairwise sum handles (NumPy's block size; beyond it NumPy recurses)
MAX_SUM = 128
TINY = float(np.finfo(np.float64).tiny)
PI = float(np.pi)
E = float(np.e)

_jit = numba.njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
#: the hot helpers are inlined into the driver: a call that passes arrays costs atomic
#: reference counting, which (not the arithmetic) would dominate a row's step
_inline = numba.njit(cache=True, fastmath=False, error_model="numpy", nogil=True, inline="always")


@_inline
def _psum(a, row, n):
    """a[row, 0] + ... + a[row, n-1] in the order of NumPy's pairwise summation (n <= 128)."""
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[row, i]
        return res
    r0, r1, r2, r3 = a[row, 0], a[row, 1], a[row, 2], a[row, 3]
    r4, r5, r6, r7 = a[row, 4], a[row, 5], a[row, 6], a[row, 7]
    i = 8
    stop = n - (n % 8)
    while i < stop:
        r0 += a[row, i]
        r1 += a[row, i + 1]
        r2 += a[row, i + 2]
        r3 += a[row, i + 3]
        r4 += a[row, i + 4]
        r5 += a[row, i + 5]
        r6 += a[row, i + 6]
        r7 += a[row, i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[row, i]
        i += 1
    return res


@_inline
def _vg_rosenbrock_2d(kind, lp, x, g, i):
    """Rosenbrock in two dimensions alone: the general function's D == 2 case, with no
    loop over the coordinates beside it (which cost the compiled loop 1.7 x its time)."""
    a, b = lp[0], lp[1]
    x0, y = x[i, 0], x[i, 1]
    inner = y - x0 * x0
    rest = a - x0
    g[i, 1] = inner * (2 * b)
    g[i, 0] = (x0 * inner) * (-4 * b) - 2 * rest
    return (inner * inner) * b + rest * rest


@_inline
def _vg_rosenbrock(kind, lp, x, g, i):
    D = x.shape[1]
    a, b = lp[0], lp[1]
    if D == 2:
        x0, y = x[i, 0], x[i, 1]
        inner = y - x0 * x0
        rest = a - x0
        g[i, 1] = inner * (2 * b)
        g[i, 0] = (x0 * inner) * (-4 * b) - 2 * rest
        return (inner * inner) * b + rest * rest
    # g holds the terms of the sum first, then the gradient
    for j in range(D - 1):
        inner = x[i, j + 1] - x[i, j] * x[i, j]
        rest = a - x[i, j]
        g[i, j] = b * inner * inner + rest * rest
    value = _psum(g, i, D - 1)
    for j in range(D - 1):
        inner = x[i, j + 1] - x[i, j] * x[i, j]
        rest = a - x[i, j]
        g[i, j] = -4 * b * x[i, j] * inner - 2 * rest
    g[i, D - 1] = 0.0
    for j in range(D - 1):
        inner = x[i, j + 1] - x[i, j] * x[i, j]
        g[i, j + 1] += 2 * b * inner
    return value


@_inline
def _vg_quadratic(kind, lp, x, g, i):
    D = x.shape[1]
    for j in range(D):
        g[i, j] = lp[j] * x[i, j] * x[i, j]
    value = _psum(g, i, D)
    for j in range(D):
        g[i, j] = (2 * lp[j]) * x[i, j]
    return value


@_inline
def _vg_double_well(kind, lp, x, g, i):
    D = x.shape[1]  # noqa: F841 (used by the landscapes of any dimension)
    u = x[i, 0]
    g[i, 0] = 4 * u**3.0 - 6 * u + 1
    return u**4.0 - 3 * (u * u) + u


@_inline
def _vg_cubic(kind, lp, x, g, i):
    D = x.shape[1]  # noqa: F841 (used by the landscapes of any dimension)
    u = x[i, 0]
    g[i, 0] = 3 * (u * u)
    return u**3.0


@_inline
def _vg_xcos(kind, lp, x, g, i):
    D = x.shape[1]  # noqa: F841 (used by the landscapes of any dimension)
    u = x[i, 0]
    g[i, 0] = math.cos(PI * u) - PI * u * math.sin(PI * u)
    return u * math.cos(PI * u)


@_inline
def _vg_saddle(kind, lp, x, g, i):
    D = x.shape[1]  # noqa: F841 (used by the landscapes of any dimension)
    g[i, 0] = 2 * x[i, 0]
    g[i, 1] = -2 * x[i, 1]
    return x[i, 0] * x[i, 0] - x[i, 1] * x[i, 1]


@_inline
def _vg_monkey_saddle(kind, lp, x, g, i):
    D = x.shape[1]  # noqa: F841 (used by the landscapes of any dimension)
    u, v = x[i, 0], x[i, 1]
    g[i, 0] = 3 * (u * u) - 3 * (v * v)
    g[i, 1] = -6 * u * v
    return u**3.0 - 3 * u * (v * v)


@_inline
def _vg_beale(kind, lp, x, g, i):
    D = x.shape[1]  # noqa: F841 (used by the landscapes of any dimension)
    u, v = x[i, 0], x[i, 1]
    value = 0.0
    gx = 0.0
    gy = 0.0
    for k in range(1, 4):
        c = 1.5 if k == 1 else (2.25 if k == 2 else 2.625)
        vk = _ipow(v, k)
        t = c - u + u * vk
        value = t * t if k == 1 else value + t * t
        gx = gx + 2 * t * (vk - 1)
        gy = gy + 2 * t * k * u * _ipow(v, k - 1)
    g[i, 0] = gx
    g[i, 1] = gy
    return value


@_inline
def _vg_himmelblau(kind, lp, x, g, i):
    D = x.shape[1]  # noqa: F841 (used by the landscapes of any dimension)
    u, v = x[i, 0], x[i, 1]
    a = u * u + v - 11
    b = u + v * v - 7
    g[i, 0] = 4 * u * a + 2 * b
    g[i, 1] = 2 * a + 4 * v * b
    return a * a + b * b


@_inline
def _vg_booth(kind, lp, x, g, i):
    D = x.shape[1]  # noqa: F841 (used by the landscapes of any dimension)
    u, v = x[i, 0], x[i, 1]
    a = u + 2 * v - 7
    b = 2 * u + v - 5
    g[i, 0] = 2 * a + 4 * b
    g[i, 1] = 4 * a + 2 * b
    return a * a + b * b


@_inline
def _vg_goldstein_price(kind, lp, x, g, i):
    D = x.shape[1]  # noqa: F841 (used by the landscapes of any dimension)
    u, v = x[i, 0], x[i, 1]
    s = u + v + 1
    p = 19 - 14 * u + 3 * u * u - 14 * v + 6 * u * v + 3 * v * v
    d = 2 * u - 3 * v
    q = 18 - 32 * u + 12 * u * u + 48 * v - 36 * u * v + 27 * v * v
    A = 1 + s * s * p
    B = 30 + d * d * q
    dA = 2 * s * p + s * s * (-14 + 6 * u + 6 * v)
    dBx = 4 * d * q + d * d * (-32 + 24 * u - 36 * v)
    dBy = -6 * d * q + d * d * (48 - 36 * u + 54 * v)
    g[i, 0] = dA * B + A * dBx
    g[i, 1] = dA * B + A * dBy
    return A * B


@_inline
def _vg_six_hump_camel(kind, lp, x, g, i):
    D = x.shape[1]  # noqa: F841 (used by the landscapes of any dimension)
    u, v = x[i, 0], x[i, 1]
    u2, v2 = u * u, v * v
    g[i, 0] = 8 * u - 8.4 * u**3.0 + 2 * u**5.0 + v
    g[i, 1] = u - 8 * v + 16 * v**3.0
    return (4 - 2.1 * u2 + u2 * u2 / 3) * u2 + u * v + (-4 + 4 * v2) * v2


@_inline
def _vg_rastrigin(kind, lp, x, g, i):
    D = x.shape[1]
    A, constant, amplitude = lp[0], lp[1], lp[2]
    for j in range(D):
        g[i, j] = x[i, j] * x[i, j] - A * math.cos(2 * PI * x[i, j])
    value = constant + _psum(g, i, D)
    for j in range(D):
        g[i, j] = 2 * x[i, j] + amplitude * math.sin(2 * PI * x[i, j])
    return value


@_inline
def _vg_ackley(kind, lp, x, g, i):
    D = x.shape[1]
    a, b, c = lp[0], lp[1], lp[2]
    for j in range(D):
        g[i, j] = x[i, j] * x[i, j]
    r = math.sqrt(_psum(g, i, D) / D)
    for j in range(D):
        g[i, j] = math.cos(c * x[i, j])
    wave = math.exp(_psum(g, i, D) / D)
    cone = -b * r
    coef = a * b * math.exp(cone) / D
    scale = (c / D) * wave
    for j in range(D):
        cx = (coef * x[i, j]) / r if r > 0 else 0.0
        g[i, j] = cx + scale * math.sin(c * x[i, j])
    return -a * math.exp(cone) - wave + a + E


@_inline
def _vg_styblinski_tang(kind, lp, x, g, i):
    D = x.shape[1]
    for j in range(D):
        x2 = x[i, j] * x[i, j]
        g[i, j] = x2 * x2 - 16 * x2 + 5 * x[i, j]
    value = 0.5 * _psum(g, i, D)
    for j in range(D):
        g[i, j] = 2 * x[i, j] ** 3.0 - 16 * x[i, j] + 2.5
    return value


#: the value-and-gradient row function of each built-in landscape, by kind number
VG = (
    _vg_rosenbrock,
    _vg_quadratic,
    _vg_double_well,
    _vg_cubic,
    _vg_xcos,
    _vg_saddle,
    _vg_monkey_saddle,
    _vg_beale,
    _vg_himmelblau,
    _vg_booth,
    _vg_goldstein_price,
    _vg_six_hump_camel,
    _vg_rastrigin,
    _vg_ackley,
    _vg_styblinski_tang,
    _vg_rosenbrock_2d,
)


@_inline
def _ipow(v, k):
    """v**k as NumPy computes it for k = 0, 1, 2 (exactly) and 3 (pow)."""
    if k == 0:
        return 1.0
    if k == 1:
        return v
    if k == 2:
        return v * v
    return v ** float(k)


@_inline
def _norm(g, i):
    """||g[i]||, summed coordinate by coordinate as the Runner's ``_row_norm`` (D <= 8)."""
    s = g[i, 0] * g[i, 0]
    for j in range(1, g.shape[1]):
        s += g[i, j] * g[i, j]
    return math.sqrt(s)


@_inline
def _row_max_abs(x, i):
    """max_j |x[i, j]|, NaN if any entry is NaN (as np.maximum)."""
    m = abs(x[i, 0])
    for j in range(1, x.shape[1]):
        a = abs(x[i, j])
        if a > m or math.isnan(a):
            m = a
    return m


@_inline
def _adam_row(opt, hp, t, lr, bc1, bc2s, x, grad, s1, s2, s3, i, r):
    D = x.shape[1]
    # hp: beta2, eps, weight_decay, amsgrad, maximize, decoupled, w, 1 - w, 1 - beta2
    beta2, eps, wd = hp[0], hp[1], hp[2]
    amsgrad, maximize, decoupled = hp[3] != 0, hp[4] != 0, hp[5] != 0
    w, w_rest, one_minus_b2 = hp[6], hp[7], hp[8]
    small = abs(w) < 0.5
    step_size = lr / bc1
    decay = 1 - lr * wd
    for j in range(D):
        th = x[i, j]
        g = -grad[i, j] if maximize else grad[i, j]
        if wd != 0:
            if decoupled:
                th = th * decay
            else:
                g = g + wd * th
        m = s1[r, j]
        d = g - m
        m = m + d * w if small else g - d * w_rest
        if abs(m) < TINY:
            m = 0.0
        s1[r, j] = m
        v = s2[r, j] * beta2 + g * one_minus_b2 * g
        if abs(v) < TINY:
            v = 0.0
        s2[r, j] = v
        if amsgrad:
            vmax = s3[r, j]
            if not (vmax >= v):  # np.maximum: NaN wins
                vmax = v
            s3[r, j] = vmax
            v = vmax
        denom = math.sqrt(v) / bc2s + eps
        x[i, j] = th - m * step_size / denom


@_inline
def _sgd_row(opt, hp, t, lr, bc1, bc2s, x, grad, s1, s2, s3, i, r):
    D = x.shape[1]
    # hp: momentum, dampening, weight_decay, nesterov, maximize
    mu, dampening, wd = hp[0], hp[1], hp[2]
    nesterov, maximize = hp[3] != 0, hp[4] != 0
    keep = 1 - dampening
    for j in range(D):
        g = -grad[i, j] if maximize else grad[i, j]
        if wd != 0:
            g = g + wd * x[i, j]
        if mu != 0:
            if t == 1:
                b = g
            else:
                b = s1[r, j] * mu + g if dampening == 0 else s1[r, j] * mu + keep * g
                if abs(b) < TINY:
                    b = 0.0
            s1[r, j] = b
            d = b * mu + g if nesterov else b
        else:
            d = g
        x[i, j] = x[i, j] - d * lr


@_inline
def _rmsprop_row(opt, hp, t, lr, bc1, bc2s, x, grad, s1, s2, s3, i, r):
    D = x.shape[1]
    # hp: alpha, eps, weight_decay, momentum, centered, maximize, 1 - alpha, w, 1 - w
    alpha, eps, wd, mu = hp[0], hp[1], hp[2], hp[3]
    centered, maximize = hp[4] != 0, hp[5] != 0
    one_minus_alpha, w, w_rest = hp[6], hp[7], hp[8]
    small = abs(w) < 0.5
    for j in range(D):
        g = -grad[i, j] if maximize else grad[i, j]
        if wd != 0:
            g = g + wd * x[i, j]
        v = s1[r, j] * alpha + g * one_minus_alpha * g
        if abs(v) < TINY:
            v = 0.0
        s1[r, j] = v
        if centered:
            gbar = s3[r, j]
            d = g - gbar
            gbar = gbar + d * w if small else g - d * w_rest
            if abs(gbar) < TINY:
                gbar = 0.0
            s3[r, j] = gbar
            avg = math.sqrt(v - gbar * gbar) + eps
        else:
            avg = math.sqrt(v) + eps
        if mu > 0:
            b = s2[r, j] * mu + g / avg
            if abs(b) < TINY:
                b = 0.0
            s2[r, j] = b
            x[i, j] = x[i, j] - b * lr
        else:
            x[i, j] = x[i, j] - g * lr / avg


@_inline
def _adagrad_row(opt, hp, t, lr, bc1, bc2s, x, grad, s1, s2, s3, i, r):
    D = x.shape[1]
    # ADAGRAD; hp: lr_decay, weight_decay, eps, maximize, initial_accumulator_value
    lr_decay, wd, eps, maximize = hp[0], hp[1], hp[2], hp[3] != 0
    eta = lr / (1 + (t - 1) * lr_decay)
    for j in range(D):
        g = -grad[i, j] if maximize else grad[i, j]
        if wd != 0:
            g = g + wd * x[i, j]
        s = s1[r, j] + g * g
        s1[r, j] = s
        x[i, j] = x[i, j] - g * eta / (math.sqrt(s) + eps)


@_inline
def _adadelta_row(opt, hp, t, lr, bc1, bc2s, x, grad, s1, s2, s3, i, r):
    D = x.shape[1]
    # ADADELTA; hp: rho, eps, weight_decay, maximize, 1 - rho; s1 square_avg, s2 acc_delta
    rho, eps, wd, maximize, one_minus_rho = hp[0], hp[1], hp[2], hp[3] != 0, hp[4]
    for j in range(D):
        g = -grad[i, j] if maximize else grad[i, j]
        if wd != 0:
            g = g + wd * x[i, j]
        v = s1[r, j] * rho + g * one_minus_rho * g
        if abs(v) < TINY:
            v = 0.0
        s1[r, j] = v
        delta = math.sqrt(s2[r, j] + eps) / math.sqrt(v + eps) * g
        u = s2[r, j] * rho + delta * one_minus_rho * delta
        if abs(u) < TINY:
            u = 0.0
        s2[r, j] = u
        x[i, j] = x[i, j] - delta * lr


@_inline
def _adamax_row(opt, hp, t, lr, bc1, bc2s, x, grad, s1, s2, s3, i, r):
    D = x.shape[1]
    # ADAMAX; hp: beta2, eps, weight_decay, maximize, w = 1 - beta1, 1 - w;
    # s1 exp_avg, s2 exp_inf; bc1 = 1 - beta1^t
    beta2, eps, wd, maximize = hp[0], hp[1], hp[2], hp[3] != 0
    w, w_rest = hp[4], hp[5]
    small = abs(w) < 0.5
    step_size = lr / bc1
    for j in range(D):
        g = -grad[i, j] if maximize else grad[i, j]
        if wd != 0:
            g = g + wd * x[i, j]
        m = s1[r, j]
        d = g - m
        m = m + d * w if small else g - d * w_rest
        s1[r, j] = m
        a = s2[r, j] * beta2
        b = abs(g) + eps
        u = a if (a >= b or math.isnan(a)) else b  # np.maximum: NaN wins
        s2[r, j] = u
        x[i, j] = x[i, j] - m * step_size / u


@_inline
def _nadam_row(opt, hp, t, lr, bc1, bc2s, x, grad, s1, s2, s3, i, r):
    D = x.shape[1]
    # NADAM; hp: beta2, eps, weight_decay, maximize, decoupled, w = 1 - beta1, 1 - w,
    # 1 - beta2, t0, then for each step s of the call (t = t0 + 1 + s) five numbers:
    # 1 - beta2^t, 1 - mu_t, 1 - Pi_t, mu_{t+1}, 1 - Pi_t mu_{t+1}; s1 exp_avg, s2 exp_avg_sq
    beta2, eps, wd = hp[0], hp[1], hp[2]
    maximize, decoupled = hp[3] != 0, hp[4] != 0
    w, w_rest, one_minus_b2 = hp[5], hp[6], hp[7]
    base = 9 + 5 * (t - int(hp[8]) - 1)
    bc2 = hp[base]
    step_grad = lr * hp[base + 1] / hp[base + 2]
    step_avg = lr * hp[base + 3] / hp[base + 4]
    small = abs(w) < 0.5
    decay = 1 - lr * wd
    for j in range(D):
        th = x[i, j]
        g = -grad[i, j] if maximize else grad[i, j]
        if wd != 0:
            if decoupled:
                th = th * decay
            else:
                g = g + wd * th
        m = s1[r, j]
        d = g - m
        m = m + d * w if small else g - d * w_rest
        if abs(m) < TINY:
            m = 0.0
        s1[r, j] = m
        v = s2[r, j] * beta2 + g * one_minus_b2 * g
        if abs(v) < TINY:
            v = 0.0
        s2[r, j] = v
        denom = math.sqrt(v / bc2) + eps
        th = th - g * step_grad / denom
        x[i, j] = th - m * step_avg / denom


#: the row update of each optimizer, by code (SGD, ADAM, RMSPROP, ADAGRAD, ADADELTA,
#: ADAMAX, NADAM; the last three in the Runner's steps only)
STEP = (
    _sgd_row,
    _adam_row,
    _rmsprop_row,
    _adagrad_row,
    _adadelta_row,
    _adamax_row,
    _nadam_row,
)


def _run_block_py(
    X,
    F,
    G,
    GN,
    status,
    nit,
    P1,
    P2,
    x_limit,
    f_limit,
    lrs,
    kind,
    lp,
    opt,
    hp,
    bc1,
    bc2s,
    steps,
    tol,
    lo,
    hi,
):
    """Run the RUNNING rows lo..hi-1 of X for up to ``steps`` steps (see ``_drive``).

    One call per block, with the optimizer's and the landscape's row functions inlined:
    a call per row that passes arrays would cost more in reference counting than the
    row's arithmetic.
    """
    D = X.shape[1]
    n = hi - lo
    init = hp[4] if opt == ADAGRAD else 0.0
    S1 = np.full((n, D), init)
    S2 = np.zeros((n, D))
    S3 = np.zeros((n, D))
    for t in range(1, steps + 1):
        running = False
        for r in range(n):
            i = lo + r
            if status[i] != RUNNING:
                continue
            running = True
            if t >= steps - 1:
                for j in range(D):
                    P2[i, j] = P1[i, j]
                    P1[i, j] = X[i, j]
            _step_row(opt, hp, t, lrs[i], bc1[t - 1], bc2s[t - 1], X, G, S1, S2, S3, i, r)  # noqa: F821
            nit[i] += 1
            f = _vg(kind, lp, X, G, i)  # noqa: F821 - bound by specialize()
            gn = _norm(G, i)
            F[i] = f
            GN[i] = gn
            xmax = _row_max_abs(X, i)
            if not ((xmax <= x_limit[i]) and (abs(f) <= f_limit[i]) and (gn < np.inf)):
                status[i] = DIVERGED
            elif gn < tol:
                status[i] = CONVERGED
            elif t >= steps:
                status[i] = MAX_STEPS
        if not running:
            break


def _run_lanes_py(
    X,
    F,
    G,
    GN,
    status,
    nit,
    P1,
    P2,
    x_limit,
    f_limit,
    lrs,
    kind,
    lp,
    opt,
    hp,
    bc1,
    bc2s,
    steps,
    tol,
    lo,
    hi,
):
    """``_run_block_py`` for rows of a fixed, small length ``_D``, vectorized across rows.

    The generated module fixes ``_D`` (the row length), ``_ROWS`` (the most rows of a
    block) and ``_PAD``; the rows lo..hi-1 are run block by block, each block's rows
    copied into one local buffer, coordinate-major (column j of the positions is a
    contiguous run of rows; columns ``_ROWS + _PAD`` numbers apart), so that LLVM steps several rows in
    one SIMD instruction: the loop over the rows has no branch and every array it touches
    is a view of that one buffer (arrays of their own would each need a runtime overlap
    check, more than LLVM allows). A row that has stopped is stepped too, and its results
    thrown away: its value, gradient norm, status and step count are kept by selects, and
    its position and gradient were copied to ``FX``, ``FG`` (what is reported) at the step
    it stopped. The generated module also fixes ``_ONE_LR``: True when every row has one
    learning rate, which the loop then holds as a number, so that ``lr / (1 - beta1^t)``
    is computed once per step (a per-row division made the loop 2-4 % slower); each
    compilation holds one of the two loops, not both (a third less time to compile).
    Each row's arithmetic is that of ``_run_block_py``, operation for operation. Only for
    runs from scratch (every row's step count 0).
    """
    D = _D  # noqa: F821 - a number in the generated module
    rows = _ROWS  # noqa: F821 - a number in the generated module
    init = hp[4] if opt == ADAGRAD else 0.0
    B = np.empty((9 * D + 7, rows + _PAD))  # noqa: F821 - a number in the generated module
    Xb = B[0:D].T
    Gb = B[D : 2 * D].T
    S1 = B[2 * D : 3 * D].T
    S2 = B[3 * D : 4 * D].T
    S3 = B[4 * D : 5 * D].T
    P1b = B[5 * D : 6 * D].T
    P2b = B[6 * D : 7 * D].T
    FX = B[7 * D : 8 * D].T
    FG = B[8 * D : 9 * D].T
    k = 9 * D
    Fb = B[k]
    GNb = B[k + 1]
    XL = B[k + 2]
    FL = B[k + 3]
    LR = B[k + 4]
    ST = B[k + 5]
    IT = B[k + 6]

    def row(r, lr, t, b1, b2, last):
        """Step row r; (1, 0) if it runs on, (0, 1) if it stopped at this step, else 0s."""
        _step_row(opt, hp, t, lr, b1, b2, Xb, Gb, S1, S2, S3, r, r)  # noqa: F821
        f = _vg(kind, lp, Xb, Gb, r)  # noqa: F821 - bound by specialize()
        gn = _norm(Gb, r)
        xmax = _row_max_abs(Xb, r)
        # every value is loaded before it is chosen, so that each choice is a select
        was, count, f_was, gn_was = ST[r], IT[r], Fb[r], GNb[r]
        live = was == RUNNING
        ok = (xmax <= XL[r]) & (abs(f) <= FL[r]) & (gn < np.inf)
        s = 2.0 if last else 0.0
        s = 1.0 if gn < tol else s
        s = s if ok else 3.0
        ST[r] = s if live else was
        IT[r] = count + 1.0 if live else count
        Fb[r] = f if live else f_was
        GNb[r] = gn if live else gn_was
        return (s == 0.0) & live, (s != 0.0) & live

    for blo in range(lo, hi, rows):  # block by block: each block's rows in the buffer
        n = min(hi, blo + rows) - blo
        for r in range(n):
            i = blo + r
            for j in range(D):
                Xb[r, j] = X[i, j]
                Gb[r, j] = G[i, j]
                FX[r, j] = X[i, j]
                FG[r, j] = G[i, j]
                P1b[r, j] = P1[i, j]
                P2b[r, j] = P2[i, j]
                S1[r, j] = init
                S2[r, j] = 0.0
                S3[r, j] = 0.0
            Fb[r] = F[i]
            GNb[r] = GN[i]
            XL[r] = x_limit[i]
            FL[r] = f_limit[i]
            LR[r] = lrs[i]
            ST[r] = status[i]
            IT[r] = nit[i]

        for t in range(1, steps + 1):
            if t >= steps - 1:
                for r in range(n):
                    if ST[r] == RUNNING:
                        for j in range(D):
                            P2b[r, j] = P1b[r, j]
                            P1b[r, j] = Xb[r, j]
            b1 = bc1[t - 1]
            b2 = bc2s[t - 1]
            last = t >= steps
            running = 0
            stopped = 0
            lr = LR[0]  # every row's, when _ONE_LR
            for r in range(n):
                on, off = row(r, lr if _ONE_LR else LR[r], t, b1, b2, last)  # noqa: F821
                running += on
                stopped += off
            if stopped:  # the rows that stopped at this step: keep where they are
                for r in range(n):
                    if ST[r] != RUNNING and IT[r] == t:
                        for j in range(D):
                            FX[r, j] = Xb[r, j]
                            FG[r, j] = Gb[r, j]
            if running == 0:
                break
        for r in range(n):
            i = blo + r
            for j in range(D):
                X[i, j] = FX[r, j]
                G[i, j] = FG[r, j]
                P1[i, j] = P1b[r, j]
                P2[i, j] = P2b[r, j]
            F[i] = Fb[r]
            GN[i] = GNb[r]
            status[i] = int(ST[r])
            nit[i] = int(IT[r])


def _step_block_py(
    X,
    F,
    G,
    GN,
    status,
    nit,
    P1,
    P2,
    frozen,
    SG,
    x_limit,
    f_limit,
    lrs,
    kind,
    lp,
    opt,
    hp,
    bc1,
    bc2s,
    S1,
    S2,
    S3,
    t0,
    k,
    t_max,
    tol,
    rec,
    RX,
    RF,
    RG,
):
    """Up to ``k`` steps of a Runner, resumed from its state: the Runner's ``_one_step``
    (see ``minimize.py``) transcribed row by row; the number of steps made.

    Every row of X is one run; the optimizer's state arrays S1, S2, S3 (N, D) are its
    own (``momentum_buffer``, ``exp_avg`` ... as ``_compiled.step_runner`` picks them) and
    are updated in place, ``t0`` is the optimizer's step count before the first of these
    steps (the row functions get t0 + 1, t0 + 2, ...; ``bc1[s]``, ``bc2s[s]`` are the bias
    corrections of step s of this call). As in NumPy, a finished run's row is stepped too
    (its optimizer state goes on changing) and then put back to ``frozen``; its value and
    gradient, at the same point, stay. A step is made only while some run is RUNNING; a
    run still RUNNING after step ``t_max`` (relative: the Runner's max_steps) stops there.
    P1, P2 become the positions before the last and the second-to-last step, SG the
    gradient the last step used; with ``rec`` the positions, values and gradient norms
    after step s go to RX[s], RF[s], RG[s].
    """
    N = X.shape[0]
    D = X.shape[1]
    made = 0
    for s in range(k):
        running = False
        for i in range(N):
            if status[i] == RUNNING:
                running = True
                break
        if not running:
            break
        t = t0 + s + 1
        for i in range(N):
            for j in range(D):
                SG[i, j] = G[i, j]
                P2[i, j] = P1[i, j]
                P1[i, j] = X[i, j]
        for i in range(N):
            _step_row(opt, hp, t, lrs[i], bc1[s], bc2s[s], X, G, S1, S2, S3, i, i)  # noqa: F821
            if status[i] != RUNNING:
                for j in range(D):
                    X[i, j] = frozen[i, j]
                continue
            nit[i] += 1
            f = _vg(kind, lp, X, G, i)  # noqa: F821 - bound by specialize()
            gn = _norm(G, i)
            F[i] = f
            GN[i] = gn
            xmax = _row_max_abs(X, i)
            if not ((xmax <= x_limit[i]) and (abs(f) <= f_limit[i]) and (gn < np.inf)):
                status[i] = DIVERGED
            elif gn < tol:
                status[i] = CONVERGED
            elif s + 1 >= t_max:
                status[i] = MAX_STEPS
            if status[i] == DIVERGED or status[i] == CONVERGED:
                for j in range(D):
                    frozen[i, j] = X[i, j]
        if rec:
            for i in range(N):
                RF[s, i] = F[i]
                RG[s, i] = GN[i]
                for j in range(D):
                    RX[s, i, j] = X[i, j]
        made += 1
    return made


#: the templates a (landscape, optimizer) pair is compiled from: ``minimize``'s loop from
#: scratch and the Runner's resumable, recording steps
TEMPLATES = {
    "run": _run_block_py,
    "lanes": _run_lanes_py,
    "lanes_one_lr": _run_lanes_py,
    "step": _step_block_py,
}


def specialize(vg, step, template="run", dim=0):
    """The template ``TEMPLATES[template]`` compiled for the row functions ``vg``, ``step``.

    The template calls ``_vg`` and ``_step_row``; each pair gets its own compilation
    with both inlined (a generic loop that chose the
    landscape and the optimizer at every row ran 7 x slower). The results are not cached
    on disk: the functions are made here, not in a file of their own.
    """
    scope = dict(globals())
    scope["_vg"] = vg
    scope["_step_row"] = step if step is not None else _sgd_row
    scope["_D"], scope["_ROWS"], scope["_PAD"] = dim, LANE_ROWS, LANE_PAD
    scope["_ONE_LR"] = template == "lanes_one_lr"
    fn = TEMPLATES[template]
    source = inspect.getsource(fn)
    exec(compile(source, __file__, "exec"), scope)  # noqa: S102 - this module's own code
    return numba.njit(fastmath=False, error_model="numpy", nogil=True)(scope[fn.__name__])


# -- helpers of generated formula code (see ``_codegen.py``) ------------------------------
@_jit
def f_sign(u):
    """np.sign of a scalar (NaN stays NaN)."""
    if u > 0:
        return 1.0
    if u < 0:
        return -1.0
    return u


@_jit
def f_sigmoid(u):
    return 0.5 * (1.0 + math.tanh(0.5 * u))


@_jit
def f_softplus(u):
    """np.logaddexp(0.0, u), case by case as NumPy's loop."""
    if u == 0.0:
        return 0.0 + math.log(2.0)
    tmp = 0.0 - u
    if tmp > 0:
        return 0.0 + math.log1p(math.exp(-tmp))
    if tmp <= 0:
        return u + math.log1p(math.exp(tmp))
    return tmp


@_jit
def f_relu(u):
    """np.maximum(u, 0.0) (NaN propagates)."""
    return u if (u >= 0.0 or math.isnan(u)) else 0.0


@_jit
def f_step(u):
    return 1.0 if u > 0 else 0.0


@_jit
def f_pow(a, b):
    return a**b


@_jit
def f_log(u):
    return np.log(u)


@_jit
def f_log1p(u):
    return np.log1p(u)


@_jit
def f_sqrt(u):
    return np.sqrt(u)
