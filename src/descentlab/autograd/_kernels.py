"""Numba loops of the autograd's optional compiled path; importing this module imports Numba.

The fused ReLU-dropout node (``ops.relu_dropout``) makes about six NumPy passes over
its input forward and four backward, each a call of a few microseconds; a hidden
layer's activations (128 x 256 floats) are small enough for those calls to be most of
the node's time (about 5 % of an MLP epoch on MNIST). Here each direction is one loop.

Each loop is the NumPy definition element by element, in the same order of
operations and in the arrays' dtype (no ``fastmath``), so that both paths give the
same bits, NaN, infinities and signed zeros included; the tests run the node's
checks on both. ``passes`` is ReLU's test (the output is not 0; NaN passes), kept as
booleans between the two directions.
"""

from __future__ import annotations

import numba
import numpy as np

_jit = numba.njit(cache=True, fastmath=False, error_model="numpy", nogil=True)


@_jit
def relu_dropout_forward(a, keep, scale, out, passes):
    # out = maximum(a, 0) * (keep * scale); np.maximum(x, 0) keeps a NaN and gives +0.0 for -0.0
    s = a.dtype.type(scale)
    zero = a.dtype.type(0)
    for i in range(a.size):
        x = a[i]
        o = x if (x > zero or np.isnan(x)) else zero
        passes[i] = o != zero
        out[i] = o * (s if keep[i] else zero)


@_jit
def relu_dropout_backward(g, keep, passes, scale, out):
    # through = g * (keep * scale), then relu's routing: through * passes when every entry
    # of through is finite, else where(passes, through * passes, 0) (ops._route)
    s = g.dtype.type(scale)
    zero = g.dtype.type(0)
    one = g.dtype.type(1)
    finite = True
    for i in range(g.size):
        through = g[i] * (s if keep[i] else zero)
        if not np.isfinite(through):
            finite = False
        out[i] = through * (one if passes[i] else zero)
    if not finite:
        for i in range(g.size):
            if not passes[i]:
                out[i] = zero
