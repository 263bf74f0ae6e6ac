"""Operations on Tensors: each forward result beside its local backward.

A primitive computes its output with NumPy and returns, through
``make_result``, a closure ``backward(g)`` that turns g = dL/d(output) into
dL/d(input) for each input (the chain rule, one link at a time). Binary
primitives ``unbroadcast`` their gradients back to each input's shape.

The backward formulas are NumPy code. Normally ``g`` is an array and so is
everything they touch. Under ``create_graph`` (second derivatives) ``g`` is a
Tensor: ``_value(t, g)`` then hands the formula the input Tensor instead of
its array, and the same NumPy calls dispatch to differentiable Tensor ops, so
the backward pass is itself recorded.

Primitives (hand-written backward): add, mul, neg, pow, exp, log, abs, sin,
cos, tanh, sigmoid, relu, maximum, where, clip, matmul, sum, mean, max, norm,
the reshaping and indexing ops of ``shapes.py`` (reshape, transpose,
broadcast_to, getitem, concatenate, stack), and two fused ops, ``softmax_cross_entropy`` (for numerical stability and speed) and
``linear`` (x W^T + b, for speed); each is tested against its composed twin.
Everything else (sub, div, sqrt, minimum, min, softmax, log_softmax,
logsumexp, ...) is composed from them.

Edge cases follow PyTorch's conventions (checked against torch in the tests):
d(x**0)/dx = 0 everywhere; d(a**x)/dx = 0 at a = 0, x >= 0 and is NaN for
a < 0; ``relu`` and ``maximum`` route the gradient with ``where`` (so an
infinite upstream gradient gives 0, not NaN, to the inactive side); ties share
the gradient evenly.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from descentlab._fastpath import get_mode, load_kernels
from descentlab.autograd import blas
from descentlab.autograd.shapes import (
    axis_tuple,
    broadcast_to,
    concatenate,
    expand_dims,
    getitem,
    moveaxis,
    reshape,
    squeeze,
    stack,
    swapaxes,
    transpose,
    unbroadcast,
)
from descentlab.autograd.tensor import (
    Axis,
    Grad,
    Tensor,
    TensorLike,
    lift,
    make_result,
)

Pair = tuple["Grad | None", "Grad | None"]


def _value(t: Tensor, g: Grad) -> Grad:
    """``t`` as a backward formula should see it: its array, or under create_graph
    (``g`` a Tensor) the Tensor itself, so that the formula is differentiable too."""
    return t if isinstance(g, Tensor) else t.data


def _pair(a: TensorLike, b: TensorLike) -> tuple[Tensor, Tensor]:
    if isinstance(a, Tensor):
        return a, lift(b, a)
    tb = lift(b)
    return lift(a, tb), tb


# --------------------------------------------------------------- elementwise
def add(a: TensorLike, b: TensorLike) -> Tensor:
    a, b = _pair(a, b)

    def backward(g: Grad) -> Pair:
        return unbroadcast(g, a.shape), unbroadcast(g, b.shape)

    return make_result(a.data + b.data, (a, b), backward)


def mul(a: TensorLike, b: TensorLike) -> Tensor:
    a, b = _pair(a, b)

    def backward(g: Grad) -> Pair:
        ga = unbroadcast(g * _value(b, g), a.shape) if a.requires_grad else None
        gb = unbroadcast(g * _value(a, g), b.shape) if b.requires_grad else None
        return ga, gb

    return make_result(a.data * b.data, (a, b), backward)


def neg(a: TensorLike) -> Tensor:
    a = lift(a)
    return make_result(-a.data, (a,), lambda g: (-g,))


def pow(a: TensorLike, b: TensorLike) -> Tensor:
    """a ** b; d/da = b a^(b-1) (0 where b = 0), d/db = a^b log a (0 where a = 0, b >= 0).

    As in PyTorch: d(x**0)/dx is 0 even at x = 0; for a < 0, d/db is NaN (log of a
    negative number) and so is d/da for a non-integer b; at a = 0, b < 0, d/db = -inf.
    A constant exponent 0 (``x ** 0``) gives a gradient with no graph behind it, so its
    second derivative is 0 too, as torch's ``x ** 0`` (a scalar exponent).
    """
    a, b = _pair(a, b)
    out = a.data**b.data

    def backward(g: Grad) -> Pair:
        ga = gb = None
        with np.errstate(divide="ignore", invalid="ignore"):
            if a.requires_grad and b.ndim == 0 and not b.requires_grad and b.data == 0:
                zeros = np.zeros(a.shape, a.dtype)  # x**0: no dependence on x at all
                ga = Tensor(zeros) if isinstance(g, Tensor) else zeros
            elif a.requires_grad:
                bv = _value(b, g)
                slope = g * bv * _value(a, g) ** (bv - 1)
                ga = unbroadcast(np.where(b.data == 0, 0, slope), a.shape)
            if b.requires_grad:
                power = pow(a, b) if isinstance(g, Tensor) else out
                slope = g * power * log(a) if isinstance(g, Tensor) else g * out * np.log(a.data)
                gb = unbroadcast(np.where((a.data == 0) & (b.data >= 0), 0, slope), b.shape)
        return ga, gb

    return make_result(out, (a, b), backward)


def exp(a: TensorLike) -> Tensor:
    a = lift(a)
    out = np.exp(a.data)
    return make_result(out, (a,), lambda g: (g * (exp(a) if isinstance(g, Tensor) else out),))


def log(a: TensorLike) -> Tensor:
    a = lift(a)
    return make_result(np.log(a.data), (a,), lambda g: (g / _value(a, g),))


def abs(a: TensorLike) -> Tensor:
    """|a|; the gradient is g sign(a): 0 at a = 0, and NaN there if g is infinite (as torch)."""
    a = lift(a)
    return make_result(np.abs(a.data), (a,), lambda g: (g * np.sign(a.data),))


def sin(a: TensorLike) -> Tensor:
    a = lift(a)
    return make_result(np.sin(a.data), (a,), lambda g: (g * np.cos(_value(a, g)),))


def cos(a: TensorLike) -> Tensor:
    a = lift(a)
    return make_result(np.cos(a.data), (a,), lambda g: (-(g * np.sin(_value(a, g))),))


def tanh(a: TensorLike) -> Tensor:
    a = lift(a)
    out = np.tanh(a.data)

    def backward(g: Grad) -> tuple[Grad]:
        t = tanh(a) if isinstance(g, Tensor) else out
        return (g * (1 - t * t),)

    return make_result(out, (a,), backward)


def sigmoid(a: TensorLike) -> Tensor:
    """1 / (1 + e^-a), computed without overflow for large |a|."""
    a = lift(a)
    e = np.exp(-np.abs(a.data))
    out = np.where(a.data >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)

    def backward(g: Grad) -> tuple[Grad]:
        s = sigmoid(a) if isinstance(g, Tensor) else out
        return (g * (1 - s) * s,)

    return make_result(out, (a,), backward)


def _route(g: Grad, weight: np.ndarray) -> Grad:
    """g * weight, except that a zero weight gives exactly 0 even where g is inf or NaN
    (PyTorch masks with ``where``; a bare product would make inf * 0 = NaN)."""
    if isinstance(g, Tensor):
        return np.where(weight == 0, 0, g * weight)
    out = g * weight
    if np.isfinite(out).all():  # the common case: one multiplication, no branching
        return out
    return np.where(weight == 0, 0, out)


def relu(a: TensorLike) -> Tensor:
    """max(a, 0); the gradient passes where the output is not <= 0 (NaN passes), as in torch."""
    a = lift(a)
    out = np.maximum(a.data, 0)
    passes = out != 0  # torch blocks where out <= 0: out is never negative, NaN passes
    return make_result(out, (a,), lambda g: (_route(g, passes),))


def relu_dropout(a: TensorLike, keep: np.ndarray, scale: float) -> Tensor:
    """relu(a) * (keep * scale) in one node: ReLU followed by inverted dropout.

    ``keep`` (booleans, broadcastable to ``a``) is the dropout mask and ``scale``
    1 / (1 - p). Its twin is ``relu(a) * (keep.astype(a.dtype) * scale)`` (what
    ``nn.functional.dropout(relu(a), mask=keep)`` records); the values and
    gradients are the same to the bit, NaN and infinities included (a dropped NaN
    stays NaN, as in torch), with one node instead of two and fewer passes. With
    Numba, a large node runs as one compiled loop each way (``_kernels.py``: the
    same bits again).
    """
    a = lift(a)
    kernels = _relu_dropout_kernels(a.data, keep)
    if kernels is not None:
        return _relu_dropout_compiled(a, keep, scale, kernels)
    dtype = a.dtype
    weight = _dropout_weight(keep, scale, dtype)
    out = np.maximum(a.data, 0)
    # relu's own test (out is never negative, NaN passes), as a float for a fast product
    passes = np.not_equal(out, 0).astype(dtype)
    out *= weight

    def backward(g: Grad) -> tuple[Grad]:
        if isinstance(g, Tensor):
            return (_route(g * weight, passes),)
        through = g * weight  # the dropout's product, then relu's routing
        if np.isfinite(through).all():  # then through * passes is too: _route's common case
            through *= passes
            return (through,)
        return (_route(through, passes),)

    return make_result(out, (a,), backward)


def _dropout_weight(keep: np.ndarray, scale: float, dtype: np.dtype) -> np.ndarray:
    """keep * scale in ``dtype`` (a new array: never the caller's mask)."""
    weight = np.asarray(keep, dtype=dtype)
    if weight is keep or weight.base is not None:
        return weight * np.asarray(scale, dtype=dtype)
    weight *= np.asarray(scale, dtype=dtype)
    return weight


#: "auto" runs a ReLU-dropout node of at least this many entries as a compiled loop (the
#: first one imports Numba, once, in a fraction of a second: a toy network never does).
RELU_DROPOUT_MIN_SIZE = 4096


def _relu_dropout_kernels(x: np.ndarray, keep: np.ndarray) -> Any:
    """The compiled loops for this node, or None (NumPy): the fast path's switch allows
    them, Numba imports, and the node is a real float array with a mask of its shape."""
    mode = get_mode()
    if mode == "never" or (mode == "auto" and x.size < RELU_DROPOUT_MIN_SIZE):
        return None
    if not (
        type(x) is np.ndarray
        and x.dtype.char in "fd"
        and x.flags.c_contiguous
        and type(keep) is np.ndarray
        and keep.dtype == np.bool_
        and keep.shape == x.shape
        and keep.flags.c_contiguous
    ):
        return None
    return load_kernels("descentlab.autograd._kernels")


def _relu_dropout_compiled(a: Tensor, keep: np.ndarray, scale: float, kernels: Any) -> Tensor:
    x = a.data
    out = np.empty_like(x)
    passes = np.empty(x.shape, dtype=np.bool_)
    kernels.relu_dropout_forward(
        x.reshape(-1), keep.reshape(-1), scale, out.reshape(-1), passes.reshape(-1)
    )

    def backward(g: Grad) -> tuple[Grad]:
        if isinstance(g, Tensor) or g.dtype != x.dtype or g.shape != x.shape:
            # (a second-order backward, or a gradient of another dtype: the NumPy rule,
            # whose two branches _route's own test reproduces)
            weight = _dropout_weight(keep, scale, x.dtype)
            return (_route(g * weight, passes.astype(x.dtype)),)
        g = np.ascontiguousarray(g)
        result = np.empty_like(g)
        kernels.relu_dropout_backward(
            g.reshape(-1), keep.reshape(-1), passes.reshape(-1), scale, result.reshape(-1)
        )
        return (result,)

    return make_result(out, (a,), backward)


def maximum(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise max, with PyTorch's gradient.

    Each input gets g where it is strictly larger, g/2 at ties, 0 where it is
    smaller; a NaN operand compares neither way, so both inputs get g.
    """
    a, b = _pair(a, b)
    out = np.maximum(a.data, b.data)

    def backward(g: Grad) -> Pair:
        share = np.where(a.data == b.data, 0.5, 1.0).astype(out.dtype, copy=False)
        ga = gb = None
        if a.requires_grad:
            ga = unbroadcast(_route(g, np.where(a.data < b.data, 0, share)), a.shape)
        if b.requires_grad:
            gb = unbroadcast(_route(g, np.where(a.data > b.data, 0, share)), b.shape)
        return ga, gb

    return make_result(out, (a, b), backward)


def where(condition: TensorLike, a: TensorLike, b: TensorLike) -> Tensor:
    """Pick a where ``condition`` holds, else b; the gradient follows the pick."""
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition, bool)
    a, b = _pair(a, b)

    def backward(g: Grad) -> Pair:
        return (
            unbroadcast(np.where(cond, g, 0), a.shape),
            unbroadcast(np.where(cond, 0, g), b.shape),
        )

    return make_result(np.where(cond, a.data, b.data), (a, b), backward)


def clip(a: TensorLike, low: npt.ArrayLike | None, high: npt.ArrayLike | None) -> Tensor:
    """``np.clip(a, low, high)`` with constant bounds; the gradient passes where
    low <= a <= high (bounds included, NaN blocked), as ``torch.clamp``."""
    a = lift(a)
    if isinstance(low, Tensor) or isinstance(high, Tensor):
        raise TypeError("clip bounds must be numbers or arrays, not Tensors")
    if low is None and high is None:
        raise ValueError("clip needs at least one of the bounds low and high")
    inside = np.ones(a.shape, bool)
    if low is not None:
        inside = inside & (a.data >= low)
    if high is not None:
        inside = inside & (a.data <= high)
    out = np.clip(a.data, low, high).astype(a.dtype, copy=False)
    return make_result(out, (a,), lambda g: (unbroadcast(np.where(inside, g, 0), a.shape),))


# ------------------------------------------------------------ linear algebra
def _mm(a: Grad, b: Grad) -> Grad:
    """``blas.matmul`` in a backward formula: arrays, or Tensors under create_graph
    (whose ``@`` records the product)."""
    return blas.matmul(a, b)  # type: ignore[arg-type]


def matmul(a: TensorLike, b: TensorLike) -> Tensor:
    """a @ b, with NumPy's rules for 1-D operands and batch dimensions."""
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul needs arrays of at least 1 dimension, got {a.shape} @ {b.shape}")
    k_a, k_b = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(
            f"matmul shape mismatch: {a.shape} @ {b.shape} "
            f"(inner dimensions {k_a} and {k_b} differ)"
        )

    def backward(g: Grad) -> Pair:
        av, bv = _value(a, g), _value(b, g)
        a2 = av[None, :] if a.ndim == 1 else av
        b2 = bv[:, None] if b.ndim == 1 else bv
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g2 = g.reshape(batch + (a2.shape[-2], b2.shape[-1]))
        ga = gb = None
        if a.requires_grad:
            ga = unbroadcast(_mm(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if b.requires_grad:
            gb = unbroadcast(_mm(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
        return ga, gb

    return make_result(blas.matmul(a.data, b.data), (a, b), backward)


def _fortran(a: np.ndarray) -> bool:
    return a.flags.f_contiguous and not a.flags.c_contiguous


def linear(x: TensorLike, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b in one node: the fast path of ``nn.Linear``.

    Its twin composed of primitives is ``x @ weight.T + bias``; the tests check
    that both give the same values and gradients. Fusing saves the transpose
    and broadcast nodes and writes dL/dW = g^T x and dL/db = sum_i g_i directly.
    """
    x = lift(x)
    if x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear layer expects inputs with {weight.shape[1]} features, got input of "
            f"shape {x.shape} (weight has shape {weight.shape})"
        )
    out = blas.matmul(x.data, weight.data.T)
    if bias is not None:
        out += bias.data

    def backward(g: Grad) -> tuple[Grad | None, ...]:
        g2 = g.reshape(-1, g.shape[-1])
        gx = _mm(g, _value(weight, g)) if x.requires_grad else None
        gw = None
        if weight.requires_grad:
            x2 = _value(x, g).reshape(-1, x.shape[-1])
            if _fortran(weight.data):  # (as nn.Linear keeps it: dL/dW in W's own layout)
                gw = _mm(x2.T, g2).T
            else:
                gw = _mm(g2.T, x2)
        if bias is None:
            return gx, gw
        return gx, gw, g2.sum(axis=0) if bias.requires_grad else None

    parents = (x, weight) if bias is None else (x, weight, bias)
    return make_result(out, parents, backward)


# ---------------------------------------------------------------- reductions
def _expand(g: Grad, shape: tuple[int, ...], axes: tuple[int, ...] | None, keepdims: bool) -> Grad:
    """Undo a reduction's loss of axes so ``g`` broadcasts against ``shape``."""
    if axes is not None and not keepdims:
        g = g.reshape(tuple(1 if i in axes else n for i, n in enumerate(shape)))
    return np.broadcast_to(g, shape)


def sum(a: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    a = lift(a)
    axes = axis_tuple(axis, a.ndim)
    return make_result(
        np.sum(a.data, axis=axes, keepdims=keepdims),
        (a,),
        lambda g: (_expand(g, a.shape, axes, keepdims),),
    )


def mean(a: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    a = lift(a)
    axes = axis_tuple(axis, a.ndim)
    out = np.mean(a.data, axis=axes, keepdims=keepdims)
    count = a.data.size // builtins.max(out.size, 1) if a.data.size else 1

    def backward(g: Grad) -> tuple[Grad]:
        return (_expand(g / np.asarray(count, a.dtype), a.shape, axes, keepdims),)

    return make_result(np.asarray(out), (a,), backward)


def max(a: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Largest entry, with ``torch.amax``'s gradient: ties share it evenly, and where
    the maximum is NaN every entry of that slice gets NaN. (``torch.max(x)`` without
    a dim sends it to the NaN entries instead; ``torch.max(x, dim)`` to one index.)"""
    a = lift(a)
    axes = axis_tuple(axis, a.ndim)
    out = np.max(a.data, axis=axes, keepdims=keepdims)

    def backward(g: Grad) -> tuple[Grad]:
        hits = (a.data == _expand(out, a.shape, axes, keepdims)).astype(a.dtype)
        with np.errstate(invalid="ignore", divide="ignore"):
            hits /= np.sum(hits, axis=axes, keepdims=True)
        return (hits * _expand(g, a.shape, axes, keepdims),)

    return make_result(np.asarray(out), (a,), backward)


def norm(a: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Euclidean (Frobenius) norm sqrt(sum a^2) over ``axis``; its gradient a g / norm
    is 0 where the norm is 0 (as ``torch.linalg.vector_norm``).

    One difference from torch: where the norm is exactly 0, the second derivative
    (``hessian``, ``hvp``) is 0 here and NaN in torch (it is unbounded there).
    """
    a = lift(a)
    axes = axis_tuple(axis, a.ndim)
    out = np.sqrt(np.sum(a.data * a.data, axis=axes, keepdims=keepdims))

    def backward(g: Grad) -> tuple[Grad]:
        n = norm(a, axis, keepdims) if isinstance(g, Tensor) else out
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = np.where(out == 0, 0, g / n)
        return (_value(a, g) * _expand(ratio, a.shape, axes, keepdims),)

    return make_result(np.asarray(out), (a,), backward)


# ------------------------------------------------------------------ composed
def sub(a: TensorLike, b: TensorLike) -> Tensor:
    a, b = _pair(a, b)
    return add(a, neg(b))


def div(a: TensorLike, b: TensorLike) -> Tensor:
    a, b = _pair(a, b)
    return mul(a, pow(b, -1))


def sqrt(a: TensorLike) -> Tensor:
    """a ** 0.5; the gradient at 0 is inf (as torch.sqrt)."""
    return pow(lift(a), 0.5)


def square(a: TensorLike) -> Tensor:
    return pow(lift(a), 2)


def minimum(a: TensorLike, b: TensorLike) -> Tensor:
    """Elementwise min; the gradient mirrors :func:`maximum`'s (as torch.minimum)."""
    return neg(maximum(neg(a), neg(b)))


def min(a: TensorLike, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Smallest entry; the gradient mirrors :func:`max`'s (``torch.amin``)."""
    return neg(max(neg(a), axis, keepdims))


def logsumexp(a: TensorLike, axis: Axis = -1, keepdims: bool = False) -> Tensor:
    """log sum exp(a), shifted by the (finite) max so that large entries do not overflow."""
    a = lift(a)
    axes = axis_tuple(axis, a.ndim)
    peak = np.max(a.data, axis=axes, keepdims=True)
    shift = Tensor(np.where(np.isfinite(peak), peak, 0).astype(a.dtype, copy=False))
    with np.errstate(divide="ignore"):
        out = log(sum(exp(a - shift), axis=axes, keepdims=True)) + shift
    return out if keepdims else reshape(out, np.squeeze(out.data, axis=axes).shape)


def log_softmax(a: TensorLike, axis: int = -1) -> Tensor:
    """log softmax(a) = a - logsumexp(a)."""
    a = lift(a)
    return a - logsumexp(a, axis=axis, keepdims=True)


def softmax(a: TensorLike, axis: int = -1) -> Tensor:
    """softmax(a)_i = exp(a_i) / sum_j exp(a_j), computed stably."""
    return exp(log_softmax(a, axis))


# -------------------------------------------------------------- the fused op
def _largest_unsigned(labels: np.ndarray) -> int:
    """The largest integer label read as unsigned: a negative one counts as huge, so
    one reduction checks 0 <= label < classes."""
    if labels.dtype.kind == "i":
        labels = labels.view(np.dtype(f"u{labels.dtype.itemsize}"))
    return int(np.maximum.reduce(labels, axis=None))


def softmax_cross_entropy(
    logits: TensorLike,
    target: TensorLike,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Mean cross-entropy of softmax(logits) against class labels, in one node.

    l_i = -log softmax(z_i)[y_i] = logsumexp(z_i) - z_i[y_i];  dl_i/dz_i = p_i - onehot(y_i).

    ``target`` holds integer labels of shape (n,) or class probabilities
    (one-hot) of shape (n, C).
    """
    logits = lift(logits)
    if logits.ndim != 2:
        raise ValueError(f"logits must have shape (n, classes), got {logits.shape}")
    n, classes = logits.shape
    target = np.asarray(target.data if isinstance(target, Tensor) else target)
    if target.ndim == 1:
        if target.dtype.kind not in "iu":
            raise TypeError(f"class labels must be integers, got dtype {target.dtype}")
        if len(target) != n:
            raise ValueError(f"{len(target)} labels for {n} rows of logits")
        if n and _largest_unsigned(target) >= classes:
            bad = target[(target < 0) | (target >= classes)][0]
            raise ValueError(
                f"label {bad} is out of range for {classes} classes "
                f"(expected labels in [0, {classes - 1}])"
            )
        probs_target = None
    elif target.shape == logits.shape:
        probs_target = target.astype(logits.dtype, copy=False)
    else:
        raise ValueError(
            f"target of shape {target.shape} does not fit logits of shape {logits.shape}: "
            "expected integer labels (n,) or class probabilities (n, C)"
        )
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    if label_smoothing:
        if probs_target is None:
            probs_target = np.zeros(logits.shape, logits.dtype)
            probs_target[np.arange(n), target] = 1
        probs_target = probs_target * (1 - label_smoothing) + label_smoothing / classes
    return _softmax_cross_entropy(logits, target, probs_target, reduction)


def _softmax_cross_entropy(
    logits: Tensor, target: np.ndarray, probs_target: np.ndarray | None, reduction: str
) -> Tensor:
    """The node of :func:`softmax_cross_entropy`, its arguments checked: (n, C) logits,
    and n labels in [0, C) or (``probs_target``) class probabilities."""
    n = logits.shape[0]
    # one shift, one exp and one row sum; the loss needs only log(sum) and the picked entries
    z = logits.data
    shifted = z - np.maximum.reduce(z, axis=1, keepdims=True)
    exp_shifted = np.exp(shifted)
    sum_exp = np.add.reduce(exp_shifted, axis=1, keepdims=True)
    log_sum = np.log(sum_exp)
    rows = np.arange(n)
    if probs_target is None:
        losses = -(shifted[rows, target] - log_sum[:, 0])
    else:
        losses = -np.add.reduce(probs_target * (shifted - log_sum), axis=1)
    if reduction == "mean":
        # np.mean's own sum / n
        out = np.add.reduce(losses) / n if n else np.asarray(np.nan, z.dtype)
    elif reduction == "sum":
        out = np.add.reduce(losses)
    else:
        out = losses

    def per_row(g: Grad) -> Grad:
        if reduction == "mean":
            return g / n
        return g if reduction == "sum" else g[:, None]

    def backward(g: Grad) -> tuple[Grad]:
        if isinstance(g, Tensor):  # create_graph: the same formula from differentiable ops
            onehot = probs_target
            if onehot is None:
                onehot = np.zeros(logits.shape, logits.dtype)
                onehot[rows, target] = 1
            p = softmax(logits, axis=1)
            return ((p * onehot.sum(axis=1, keepdims=True) - onehot) * per_row(g),)
        grad = exp_shifted / sum_exp  # (not in place: backward may run again)
        if probs_target is None:
            grad[rows, target] -= 1
        else:
            grad *= probs_target.sum(axis=1, keepdims=True)
            grad -= probs_target
        grad *= per_row(g)
        return (grad,)

    return make_result(np.asarray(out, dtype=z.dtype), (logits,), backward)


#: every op by name, for the NumPy dispatch tables and the tests
OPS: dict[str, Callable[..., Tensor]] = {
    f.__name__: f
    for f in (
        add,
        sub,
        mul,
        div,
        neg,
        pow,
        exp,
        log,
        abs,
        sin,
        cos,
        tanh,
        sigmoid,
        relu,
        relu_dropout,
        maximum,
        minimum,
        where,
        clip,
        matmul,
        linear,
        sum,
        mean,
        max,
        min,
        norm,
        reshape,
        transpose,
        broadcast_to,
        expand_dims,
        squeeze,
        swapaxes,
        moveaxis,
        getitem,
        concatenate,
        stack,
        sqrt,
        square,
        logsumexp,
        log_softmax,
        softmax,
        softmax_cross_entropy,
    )
}
