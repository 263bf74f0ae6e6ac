"""Numba kernels of the fast path (see ``fused.py``); importing this module imports Numba.

Each loop is the NumPy rule of its optimizer written element by element in the
same order of operations, so both paths round identically: every scalar is
rounded to the arrays' dtype first, as NumPy does with a Python float, and the
arithmetic stays in that dtype (no float64 detour for float32 data, no
``fastmath``, which would reassociate). Running averages that the NumPy rule
passes through :func:`~descentlab.optim.params.flush_subnormal_` are flushed here
too.

Every rule ``name`` comes in three compiled forms over one loop:

* ``name_serial(theta, grad, *state, c, *shared)``: one array, one thread;
* ``name_parallel``: the same loop on every core (``numba.prange``), for big arrays;
* ``name_multi(thetas, grads, *states, coef, *shared)``: a whole group in one call.
  ``thetas``, ``grads`` and each of ``states`` are tuples of :data:`~descentlab.optim.fused.CHUNK`
  1-D arrays (padded with empty ones, so that one compiled version serves any
  group), ``coef`` holds one row of per-parameter scalars (bias corrections of
  its step count, ...) per array.

``c`` is such a row for one array. A state a setting does not use (AMSGrad's
maximum, RMSprop's buffers) is an empty array, never indexed.
"""

from __future__ import annotations

import math
import types
from typing import Any

import numba
import numba.extending
import numpy as np
from numba.np.unsafe.ndarray import to_fixed_tuple

from descentlab._blaspool import BLOCK
from descentlab.optim.params import MOMENT_FLOOR


def _nanmax(a, b):  # np.maximum: NaN if either is NaN
    return a if (a >= b or math.isnan(a)) else b


_inline = numba.njit(inline="always", cache=True)
_max = _inline(_nanmax)


def _sgd(theta, grad, buf, c, lr, momentum, dampening, weight_decay, nesterov, maximize, tiny):
    dt = theta.dtype.type
    lr_, mu, keep, wd = dt(lr), dt(momentum), dt(1 - dampening), dt(weight_decay)
    floor = dt(tiny) * dt(MOMENT_FLOOR)
    for i in numba.prange(theta.size):
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = g + wd * theta[i]
        if momentum == 0:
            theta[i] = theta[i] - g * lr_
            continue
        if dampening == 0:
            b = buf[i] * mu + g
        else:
            b = buf[i] * mu + keep * g
        if abs(b) < floor:  # a vanishing average: 0 (see params.flush_subnormal_)
            b = dt(0)
        buf[i] = b
        d = b * mu + g if nesterov else b
        theta[i] = theta[i] - d * lr_


def _adam(
    theta,
    grad,
    m,
    v,
    vmax,
    c,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    maximize,
    decoupled,
    amsgrad,
    tiny,
):
    # c: step size lr / (1 - beta1^t), sqrt(1 - beta2^t)
    dt = theta.dtype.type
    w = 1 - beta1
    small = abs(w) < 0.5
    w_, w_rest = dt(w), dt(1 - w)
    b2, one_minus_b2 = dt(beta2), dt(1 - beta2)
    eps_, wd, ss, bc2 = dt(eps), dt(weight_decay), dt(c[0]), dt(c[1])
    tiny_ = dt(tiny)
    floor = tiny_ * dt(MOMENT_FLOOR)
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
        if abs(mi) < floor:  # a vanishing moment: 0 (see params.flush_subnormal_)
            mi = dt(0)
        m[i] = mi
        vi = v[i] * b2 + g * one_minus_b2 * g
        if abs(vi) < tiny_:
            vi = dt(0)
        v[i] = vi
        if amsgrad:
            vi = _max(vmax[i], vi)
            vmax[i] = vi
        denom = math.sqrt(vi) / bc2 + eps_
        theta[i] = t - mi * ss / denom


def _adamax(theta, grad, m, u, c, lr, beta1, beta2, eps, weight_decay, maximize, tiny):
    # c: step size lr / (1 - beta1^t)
    dt = theta.dtype.type
    w = 1 - beta1
    small = abs(w) < 0.5
    w_, w_rest = dt(w), dt(1 - w)
    b2, eps_, wd, ss = dt(beta2), dt(eps), dt(weight_decay), dt(c[0])
    floor = dt(tiny) * dt(MOMENT_FLOOR)
    for i in numba.prange(theta.size):
        t = theta[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = g + wd * t
        mi = m[i]
        d = g - mi
        mi = mi + d * w_ if small else g - d * w_rest
        if abs(mi) < floor:  # a vanishing moment: 0 (see params.flush_subnormal_)
            mi = dt(0)
        m[i] = mi
        ui = _max(u[i] * b2, abs(g) + eps_)
        u[i] = ui
        theta[i] = t - mi * ss / ui


def _nadam(theta, grad, m, v, c, lr, beta1, beta2, eps, weight_decay, maximize, decoupled, tiny):
    # c: 1 - beta2^t, lr (1 - mu_t) / (1 - Pi_t), lr mu_{t+1} / (1 - Pi_{t+1})
    dt = theta.dtype.type
    w = 1 - beta1
    small = abs(w) < 0.5
    w_, w_rest = dt(w), dt(1 - w)
    b2, one_minus_b2 = dt(beta2), dt(1 - beta2)
    eps_, wd, bc2, cg, cm = dt(eps), dt(weight_decay), dt(c[0]), dt(c[1]), dt(c[2])
    tiny_ = dt(tiny)
    floor = tiny_ * dt(MOMENT_FLOOR)
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
        if abs(mi) < floor:
            mi = dt(0)
        m[i] = mi
        vi = v[i] * b2 + g * one_minus_b2 * g
        if abs(vi) < tiny_:
            vi = dt(0)
        v[i] = vi
        denom = math.sqrt(vi / bc2) + eps_
        t = t - g * cg / denom
        theta[i] = t - mi * cm / denom


def _radam(theta, grad, m, v, c, lr, beta1, beta2, eps, weight_decay, maximize, decoupled, tiny):
    # c: 1 - beta1^t, rectified (1.0 or 0.0), sqrt(1 - beta2^t), r_t
    dt = theta.dtype.type
    w = 1 - beta1
    small = abs(w) < 0.5
    w_, w_rest = dt(w), dt(1 - w)
    b2, one_minus_b2 = dt(beta2), dt(1 - beta2)
    eps_, wd, lr_ = dt(eps), dt(weight_decay), dt(lr)
    bc1, rectified, sqrt_bc2, r_t = dt(c[0]), c[1] != 0, dt(c[2]), dt(c[3])
    tiny_ = dt(tiny)
    floor = tiny_ * dt(MOMENT_FLOOR)
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
        if abs(mi) < floor:
            mi = dt(0)
        m[i] = mi
        vi = v[i] * b2 + g * one_minus_b2 * g
        if abs(vi) < tiny_:
            vi = dt(0)
        v[i] = vi
        s = mi / bc1 * lr_
        if rectified:
            s = s * (sqrt_bc2 / (math.sqrt(vi) + eps_)) * r_t
        theta[i] = t - s


def _adagrad(theta, grad, acc, c, weight_decay, eps, maximize, tiny):
    # c: eta_t = lr / (1 + (t - 1) lr_decay)
    dt = theta.dtype.type
    wd, eps_, eta = dt(weight_decay), dt(eps), dt(c[0])
    for i in numba.prange(theta.size):
        t = theta[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = g + wd * t
        s = acc[i] + g * g
        acc[i] = s
        theta[i] = t - g * eta / (math.sqrt(s) + eps_)


def _adadelta(theta, grad, v, u, c, lr, rho, eps, weight_decay, maximize, tiny):
    dt = theta.dtype.type
    lr_, rho_, one_minus_rho = dt(lr), dt(rho), dt(1 - rho)
    eps_, wd, tiny_ = dt(eps), dt(weight_decay), dt(tiny)
    for i in numba.prange(theta.size):
        t = theta[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = g + wd * t
        vi = v[i] * rho_ + g * one_minus_rho * g
        if abs(vi) < tiny_:
            vi = dt(0)
        v[i] = vi
        ui = u[i]
        delta = math.sqrt(ui + eps_) / math.sqrt(vi + eps_) * g
        ui = ui * rho_ + delta * one_minus_rho * delta
        if abs(ui) < tiny_:
            ui = dt(0)
        u[i] = ui
        theta[i] = t - delta * lr_


def _rmsprop(
    theta, grad, v, gbar, buf, c, lr, alpha, eps, weight_decay, momentum, centered, maximize, tiny
):
    dt = theta.dtype.type
    w = 1 - alpha
    small = abs(w) < 0.5
    w_, w_rest = dt(w), dt(1 - w)
    lr_, alpha_, eps_, wd, mu = dt(lr), dt(alpha), dt(eps), dt(weight_decay), dt(momentum)
    tiny_ = dt(tiny)
    floor = tiny_ * dt(MOMENT_FLOOR)
    for i in numba.prange(theta.size):
        t = theta[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = g + wd * t
        vi = v[i] * alpha_ + g * w_ * g
        if abs(vi) < tiny_:
            vi = dt(0)
        v[i] = vi
        if centered:
            ga = gbar[i]
            d = g - ga
            ga = ga + d * w_ if small else g - d * w_rest
            if abs(ga) < tiny_:
                ga = dt(0)
            gbar[i] = ga
            spread = vi - ga * ga
            if spread < 0:  # v flushed, gbar^2 a subnormal (see the NumPy rule)
                spread = dt(0)
            avg = math.sqrt(spread) + eps_
        else:
            avg = math.sqrt(vi) + eps_
        if momentum > 0:
            b = buf[i] * mu + g / avg
            if abs(b) < floor:
                b = dt(0)
            buf[i] = b
            theta[i] = t - b * lr_
        else:
            theta[i] = t - g * lr_ / avg


def _rprop(theta, grad, prev, step_size, c, etaminus, etaplus, lo, hi, maximize, tiny):
    dt = theta.dtype.type
    minus, plus, one, zero = dt(etaminus), dt(etaplus), dt(1), dt(0)
    lo_, hi_ = dt(lo), dt(hi)
    for i in numba.prange(theta.size):
        g = -grad[i] if maximize else grad[i]
        agreement = g * prev[i]
        d = step_size[i]
        if agreement > 0:
            d = d * plus
        elif agreement < 0:
            d = d * minus
        else:
            d = d * one
        # np.clip: a NaN stays NaN (which max/min would not promise)
        if d < lo_:  # noqa: PLR1730
            d = lo_
        if d > hi_:  # noqa: PLR1730
            d = hi_
        step_size[i] = d
        if agreement < 0:
            g = zero
        if g > 0:
            sign = one
        elif g < 0:
            sign = -one
        elif g == 0:
            sign = zero
        else:
            sign = g  # NaN
        theta[i] = theta[i] - sign * d
        prev[i] = g


def _asgd(theta, grad, ax, c, weight_decay, maximize, tiny):
    # c: 1 - lambda eta_t, eta_t, mu_t
    dt = theta.dtype.type
    wd, decay, eta, mu = dt(weight_decay), dt(c[0]), dt(c[1]), dt(c[2])
    average = c[2] != 1
    for i in numba.prange(theta.size):
        t = theta[i]
        g = -grad[i] if maximize else grad[i]
        if weight_decay != 0:
            g = g + wd * t
        t = t * decay
        t = t - g * eta
        theta[i] = t
        if average:
            a = ax[i]
            ax[i] = a + (t - a) * mu
        else:
            ax[i] = t


_serial = numba.njit(cache=True, fastmath=False, error_model="numpy", nogil=True)
_parallel_jit = numba.njit(
    cache=True, fastmath=False, error_model="numpy", nogil=True, parallel=True
)


def _parallel(fn):
    """``fn`` compiled with ``parallel=True``, under a name of its own.

    Numba names its on-disk cache files after the function's qualified name and line, not
    after the compile options, so the serial and the parallel compilation of one function
    shared one cache: the parallel dispatcher loaded the serial machine code and ran on
    one thread (10M-element Adam: 13 ms on 1 and on 2 threads; the parallel code: 7.9 ms).
    """
    twin = types.FunctionType(
        fn.__code__, fn.__globals__, fn.__name__ + "_parallel", fn.__defaults__, fn.__closure__
    )
    twin.__qualname__ = fn.__qualname__ + "_parallel"
    return _parallel_jit(twin)


sgd_serial, sgd_parallel = _serial(_sgd), _parallel(_sgd)
adam_serial, adam_parallel = _serial(_adam), _parallel(_adam)
adamax_serial, adamax_parallel = _serial(_adamax), _parallel(_adamax)
nadam_serial, nadam_parallel = _serial(_nadam), _parallel(_nadam)
radam_serial, radam_parallel = _serial(_radam), _parallel(_radam)
adagrad_serial, adagrad_parallel = _serial(_adagrad), _parallel(_adagrad)
adadelta_serial, adadelta_parallel = _serial(_adadelta), _parallel(_adadelta)
rmsprop_serial, rmsprop_parallel = _serial(_rmsprop), _parallel(_rmsprop)
rprop_serial, rprop_parallel = _serial(_rprop), _parallel(_rprop)
asgd_serial, asgd_parallel = _serial(_asgd), _parallel(_asgd)


# The multi-tensor forms: a tuple's entries, indexed by a loop variable, all have one type.
@_serial
def sgd_multi(thetas, grads, bufs, coef, lr, momentum, dampening, wd, nesterov, maximize, tiny):
    for j in range(len(thetas)):
        sgd_serial(
            thetas[j],
            grads[j],
            bufs[j],
            coef[j],
            lr,
            momentum,
            dampening,
            wd,
            nesterov,
            maximize,
            tiny,
        )


@_serial
def adam_multi(
    thetas,
    grads,
    ms,
    vs,
    vmaxs,
    coef,
    lr,
    beta1,
    beta2,
    eps,
    wd,
    maximize,
    decoupled,
    amsgrad,
    tiny,
):
    for j in range(len(thetas)):
        adam_serial(
            thetas[j],
            grads[j],
            ms[j],
            vs[j],
            vmaxs[j],
            coef[j],
            lr,
            beta1,
            beta2,
            eps,
            wd,
            maximize,
            decoupled,
            amsgrad,
            tiny,
        )


@_serial
def adamax_multi(thetas, grads, ms, us, coef, lr, beta1, beta2, eps, wd, maximize, tiny):
    for j in range(len(thetas)):
        adamax_serial(
            thetas[j], grads[j], ms[j], us[j], coef[j], lr, beta1, beta2, eps, wd, maximize, tiny
        )


@_serial
def nadam_multi(thetas, grads, ms, vs, coef, lr, beta1, beta2, eps, wd, maximize, decoupled, tiny):
    for j in range(len(thetas)):
        nadam_serial(
            thetas[j],
            grads[j],
            ms[j],
            vs[j],
            coef[j],
            lr,
            beta1,
            beta2,
            eps,
            wd,
            maximize,
            decoupled,
            tiny,
        )


@_serial
def radam_multi(thetas, grads, ms, vs, coef, lr, beta1, beta2, eps, wd, maximize, decoupled, tiny):
    for j in range(len(thetas)):
        radam_serial(
            thetas[j],
            grads[j],
            ms[j],
            vs[j],
            coef[j],
            lr,
            beta1,
            beta2,
            eps,
            wd,
            maximize,
            decoupled,
            tiny,
        )


@_serial
def adagrad_multi(thetas, grads, sums, coef, wd, eps, maximize, tiny):
    for j in range(len(thetas)):
        adagrad_serial(thetas[j], grads[j], sums[j], coef[j], wd, eps, maximize, tiny)


@_serial
def adadelta_multi(thetas, grads, vs, us, coef, lr, rho, eps, wd, maximize, tiny):
    for j in range(len(thetas)):
        adadelta_serial(
            thetas[j], grads[j], vs[j], us[j], coef[j], lr, rho, eps, wd, maximize, tiny
        )


@_serial
def rmsprop_multi(
    thetas, grads, vs, gbars, bufs, coef, lr, alpha, eps, wd, momentum, centered, maximize, tiny
):
    for j in range(len(thetas)):
        rmsprop_serial(
            thetas[j],
            grads[j],
            vs[j],
            gbars[j],
            bufs[j],
            coef[j],
            lr,
            alpha,
            eps,
            wd,
            momentum,
            centered,
            maximize,
            tiny,
        )


@_serial
def rprop_multi(thetas, grads, prevs, steps, coef, etaminus, etaplus, lo, hi, maximize, tiny):
    for j in range(len(thetas)):
        rprop_serial(
            thetas[j],
            grads[j],
            prevs[j],
            steps[j],
            coef[j],
            etaminus,
            etaplus,
            lo,
            hi,
            maximize,
            tiny,
        )


@_serial
def asgd_multi(thetas, grads, axs, coef, wd, maximize, tiny):
    for j in range(len(thetas)):
        asgd_serial(thetas[j], grads[j], axs[j], coef[j], wd, maximize, tiny)


# The loops on OpenBLAS's threads (``descentlab._blaspool``): one C-callable function per
# rule and dtype, called on each thread's share of an array's blocks, its arguments in an
# int64 array ``desc`` (the array's size and addresses) and a float64 array ``nums`` (the
# row of per-parameter scalars, the shared settings, the smallest normal): see ``job``.
@numba.extending.intrinsic
def _at(typingctx, address, offset, dtype):
    """A pointer to element ``offset`` of the ``dtype`` array at byte ``address``."""
    pointer = numba.types.CPointer(dtype.instance_type)

    def codegen(context, builder, signature, args):
        base = builder.inttoptr(args[0], context.get_value_type(pointer))
        return builder.gep(base, [args[1]])

    return pointer(address, offset, dtype), codegen


@_inline
def _share(desc, j, start, count, dtype):
    if desc[j] == 0:
        return numba.carray(_at(desc[1], 0, dtype), 0)  # type: ignore[call-arg]
    return numba.carray(_at(desc[j], start, dtype), count)  # type: ignore[call-arg]


@_inline
def _bounds(blocks, starts, desc):
    start = np.int64(starts[0]) * BLOCK
    return start, min(desc[0], start + blocks * BLOCK) - start


_JOB = numba.types.int32(
    numba.types.int64,  # blocks of this share
    numba.types.int64,
    numba.types.int64,
    numba.types.float64,
    numba.types.CPointer(numba.types.float64),  # starts: its first block at starts[0]
    numba.types.int64,
    numba.types.CPointer(numba.types.int64),  # desc
    numba.types.int64,
    numba.types.CPointer(numba.types.float64),  # nums
    numba.types.int64,
    numba.types.voidptr,
)
_compiled_jobs: dict[tuple[str, str, int, int, int], int] = {}


@_inline
def _arrays1(desc, start, count, dtype):  # theta, the gradient, one state
    return (
        _share(desc, 1, start, count, dtype),
        _share(desc, 2, start, count, dtype),
        _share(desc, 3, start, count, dtype),
    )


@_inline
def _arrays2(desc, start, count, dtype):
    return _arrays1(desc, start, count, dtype) + (_share(desc, 4, start, count, dtype),)


@_inline
def _arrays3(desc, start, count, dtype):
    return _arrays2(desc, start, count, dtype) + (_share(desc, 5, start, count, dtype),)


@numba.njit(cache=True, fastmath={"reassoc", "contract"}, error_model="numpy", nogil=True)
def _squares(g):
    """The sum of the squares of ``g``, accumulated in its dtype. This one sum may be
    reassociated (it runs in SIMD lanes), so its last bits are the machine's: it is a
    gradient norm for the record, never an input of an update."""
    total = g.dtype.type(0)
    for i in range(g.size):
        x = g[i]
        total += x * x
    return np.float64(total)


@numba.njit(cache=True, error_model="numpy", nogil=True)
def squares_multi(arrays):
    """The sum of the squares of a tuple of 1-D arrays of one dtype (padded with empty
    ones, as the multi-tensor loops' tuples are), each summed by :func:`_squares`."""
    total = 0.0
    for j in range(len(arrays)):
        total += _squares(arrays[j])
    return total


#: entries a job steps before it sums their squared gradient (from L1: the 4 to 5 arrays
#: of such a chunk take 32 to 40 KB)
SQUARES_CHUNK = 2048

# The constants of a job, set in each copy of the template (see job); never compiled as they are.
_LOOP: Any = None
_ARRAYS: Any = None
_DTYPE: Any = None
_COEFS = _SHARED = _SUMS = 0


def _job(blocks, n, k, alpha, starts, lda, desc, ldb, nums, ldc, buffer):
    """The template of every job (see :func:`job` for the names in capitals)."""
    start, count = _bounds(blocks, starts, desc)
    shared = to_fixed_tuple(numba.carray(nums, _COEFS + _SHARED)[_COEFS:], _SHARED)  # type: ignore[call-arg,var-annotated]
    row = numba.carray(nums, _COEFS)
    tiny = nums[_COEFS + _SHARED]
    if desc[_SUMS] == 0:
        _LOOP(*_ARRAYS(desc, start, count, _DTYPE), row, *shared, tiny)
        return 0
    # and the sum of each block's squared gradient, taken a chunk at a time right after
    # the chunk is stepped, while it is in L1 (a second pass would fetch it again)
    sums = numba.carray(_at(desc[_SUMS], start // BLOCK, np.float64), blocks)
    for b in range(blocks):
        lo = start + b * BLOCK
        hi = min(lo + BLOCK, start + count)
        total = 0.0
        for at in range(lo, hi, SQUARES_CHUNK):
            size = min(SQUARES_CHUNK, hi - at)
            _LOOP(*_ARRAYS(desc, at, size, _DTYPE), row, *shared, tiny)
            total += _squares(_share(desc, 2, at, size, _DTYPE))
        sums[b] = total
    return 0


def job(name: str, dtype: str, states: int, coefs: int, shared: int) -> int:
    """The address of rule ``name``'s job for arrays of ``dtype`` ("float32" or "float64"),
    compiled (or loaded from Numba's cache) on first use.

    The job calls the rule's one-thread loop with the arguments ``fused.run`` gives it,
    in their order: theta, the gradient and ``states`` state arrays (1 to 3), a row of
    ``coefs`` per-parameter scalars, ``shared`` settings (flags as 0.0 or 1.0, which the
    loops only test for truth) and the smallest normal. ``desc`` holds the array's size,
    the addresses of theta, the gradient and the states (0: one the settings do not use),
    then the address of one float64 a block of the array for the sums of the squared
    gradient, or 0 for none (see ``fused.gradient_squares``).
    """
    spec = (name, dtype, states, coefs, shared)
    if spec not in _compiled_jobs:
        constants = {
            "_LOOP": globals()[f"{name}_serial"],
            "_ARRAYS": (_arrays1, _arrays2, _arrays3)[states - 1],
            "_DTYPE": np.dtype(dtype).type,
            "_COEFS": coefs,
            "_SHARED": shared,
            "_SUMS": 3 + states,
        }
        # a copy of the template with those constants, under a name of its own: Numba's
        # disk cache keys on the function's file and qualified name (see _parallel)
        copy = types.FunctionType(_job.__code__, {**globals(), **constants}, f"_job_{name}")
        copy.__qualname__ = f"_job_{name}_{dtype}_{states}_{coefs}_{shared}"
        compiled = numba.cfunc(_JOB, cache=True, error_model="numpy")(copy)
        address = compiled.address
        assert address is not None
        _compiled_jobs[spec] = address
    return _compiled_jobs[spec]
