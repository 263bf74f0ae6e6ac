"""Operations on Tensors: each forward result beside its local backward.

A primitive computes its output with NumPy and returns, through
``make_result``, a closure ``backward(g)`` that turns g = dL/d(output) into
dL/d(input) for each input (the chain rule, one link at a time). Binary
primitives ``unbroadcast`` their gradients back to each input's shape.

Primitives (hand-written backward): add, mul, neg, pow, exp, log, abs, sin,
cos, tanh, sigmoid, relu, maximum, matmul, sum, mean, max, reshape,
transpose, getitem, concatenate, stack, where, and two fused ops,
``softmax_cross_entropy`` (for numerical stability and speed) and ``linear``
(x W^T + b, for speed); each is tested against its composed twin. Everything else (sub, div, sqrt, minimum,
softmax, log_softmax, logsumexp, ...) is composed from them.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

import numpy as np

from descentlab.autograd.tensor import Tensor, lift, make_result

Axis = int | tuple[int, ...] | None


def unbroadcast(g: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``g`` over the axes NumPy broadcast, so it has ``shape`` again."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    if isinstance(a, Tensor):
        return a, lift(b, a)
    b = lift(b)
    return lift(a, b), b


# --------------------------------------------------------------- elementwise
def add(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)

    def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return unbroadcast(g, a.shape), unbroadcast(g, b.shape)

    return make_result(a.data + b.data, (a, b), backward)


def mul(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        ga = unbroadcast(g * b.data, a.shape) if a.requires_grad else None
        gb = unbroadcast(g * a.data, b.shape) if b.requires_grad else None
        return ga, gb

    return make_result(a.data * b.data, (a, b), backward)


def neg(a: Any) -> Tensor:
    a = lift(a)
    return make_result(-a.data, (a,), lambda g: (-g,))


def pow(a: Any, b: Any) -> Tensor:
    """a ** b; b a number (power rule) or a tensor (also d/db = a^b log a)."""
    a, b = _pair(a, b)
    out = a.data**b.data

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        ga = gb = None
        if a.requires_grad:
            ga = unbroadcast(g * b.data * a.data ** (b.data - 1), a.shape)
        if b.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                log_a = np.where(a.data > 0, np.log(np.where(a.data > 0, a.data, 1)), 0)
            gb = unbroadcast(g * out * log_a, b.shape)
        return ga, gb

    return make_result(out, (a, b), backward)


def exp(a: Any) -> Tensor:
    a = lift(a)
    out = np.exp(a.data)
    return make_result(out, (a,), lambda g: (g * out,))


def log(a: Any) -> Tensor:
    a = lift(a)
    return make_result(np.log(a.data), (a,), lambda g: (g / a.data,))


def abs(a: Any) -> Tensor:
    """|a|; the gradient at 0 is 0 (the subgradient PyTorch uses)."""
    a = lift(a)
    return make_result(np.abs(a.data), (a,), lambda g: (g * np.sign(a.data),))


def sin(a: Any) -> Tensor:
    a = lift(a)
    return make_result(np.sin(a.data), (a,), lambda g: (g * np.cos(a.data),))


def cos(a: Any) -> Tensor:
    a = lift(a)
    return make_result(np.cos(a.data), (a,), lambda g: (-g * np.sin(a.data),))


def tanh(a: Any) -> Tensor:
    a = lift(a)
    out = np.tanh(a.data)
    return make_result(out, (a,), lambda g: (g * (1 - out * out),))


def sigmoid(a: Any) -> Tensor:
    """1 / (1 + e^-a), computed without overflow for large |a|."""
    a = lift(a)
    e = np.exp(-np.abs(a.data))
    out = np.where(a.data >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)
    return make_result(out, (a,), lambda g: (g * out * (1 - out),))


def relu(a: Any) -> Tensor:
    """max(a, 0); the gradient at 0 is 0, as in PyTorch."""
    a = lift(a)
    positive = a.data > 0
    return make_result(np.maximum(a.data, 0), (a,), lambda g: (g * positive,))


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max; at ties each input gets half the gradient (as PyTorch)."""
    a, b = _pair(a, b)
    a_wins = (a.data > b.data).astype(a.dtype)
    a_wins += 0.5 * (a.data == b.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return unbroadcast(g * a_wins, a.shape), unbroadcast(g * (1 - a_wins), b.shape)

    return make_result(np.maximum(a.data, b.data), (a, b), backward)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """Pick a where ``condition`` holds, else b; the gradient follows the pick."""
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition, bool)
    a, b = _pair(a, b)

    def backward(g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        zero = np.zeros((), g.dtype)
        return (
            unbroadcast(np.where(cond, g, zero), a.shape),
            unbroadcast(np.where(cond, zero, g), b.shape),
        )

    return make_result(np.where(cond, a.data, b.data), (a, b), backward)


# ------------------------------------------------------------ linear algebra
def matmul(a: Any, b: Any) -> Tensor:
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

    def backward(g: np.ndarray) -> tuple[Any, Any]:
        a2 = a.data[None, :] if a.ndim == 1 else a.data
        b2 = b.data[:, None] if b.ndim == 1 else b.data
        batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
        g2 = g.reshape(batch + (a2.shape[-2], b2.shape[-1]))
        ga = gb = None
        if a.requires_grad:
            ga = unbroadcast(g2 @ np.swapaxes(b2, -1, -2), a2.shape).reshape(a.shape)
        if b.requires_grad:
            gb = unbroadcast(np.swapaxes(a2, -1, -2) @ g2, b2.shape).reshape(b.shape)
        return ga, gb

    return make_result(a.data @ b.data, (a, b), backward)


def linear(x: Any, weight: Tensor, bias: Tensor | None = None) -> Tensor:
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
    out = x.data @ weight.data.T
    if bias is not None:
        out += bias.data

    def backward(g: np.ndarray) -> tuple[Any, ...]:
        g2 = g.reshape(-1, g.shape[-1])
        gx = g @ weight.data if x.requires_grad else None
        gw = g2.T @ x.data.reshape(-1, x.shape[-1]) if weight.requires_grad else None
        if bias is None:
            return gx, gw
        return gx, gw, g2.sum(axis=0) if bias.requires_grad else None

    parents = (x, weight) if bias is None else (x, weight, bias)
    return make_result(out, parents, backward)


# ---------------------------------------------------------------- reductions
def _expand(g: np.ndarray, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> np.ndarray:
    """Undo a reduction's loss of axes so ``g`` broadcasts against ``shape``."""
    if axis is not None and not keepdims:
        g = np.expand_dims(g, axis)
    return np.broadcast_to(g, shape)


def sum(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    a = lift(a)
    return make_result(
        np.sum(a.data, axis=axis, keepdims=keepdims),
        (a,),
        lambda g: (_expand(g, a.shape, axis, keepdims),),
    )


def mean(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    a = lift(a)
    out = np.mean(a.data, axis=axis, keepdims=keepdims)
    count = a.data.size // builtins.max(out.size, 1) if a.data.size else 1

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (_expand(g / np.asarray(count, g.dtype), a.shape, axis, keepdims),)

    return make_result(out, (a,), backward)


def max(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """Largest entry; ties share the gradient equally (like ``torch.amax``)."""
    a = lift(a)
    out = np.max(a.data, axis=axis, keepdims=keepdims)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        peak = _expand(out, a.shape, axis, keepdims)
        hits = (a.data == peak).astype(g.dtype)
        hits /= np.sum(hits, axis=axis, keepdims=True)
        return (hits * _expand(g, a.shape, axis, keepdims),)

    return make_result(out, (a,), backward)


# ---------------------------------------------------------------- reshaping
def reshape(a: Any, shape: tuple[int, ...]) -> Tensor:
    a = lift(a)
    try:
        out = a.data.reshape(shape)
    except ValueError:
        raise ValueError(f"cannot reshape a tensor of shape {a.shape} into {tuple(shape)}") from None
    return make_result(out, (a,), lambda g: (g.reshape(a.shape),))


def transpose(a: Any, axes: Sequence[int] | None = None) -> Tensor:
    a = lift(a)
    inverse = None if axes is None else tuple(np.argsort(axes))
    return make_result(
        np.transpose(a.data, axes), (a,), lambda g: (np.transpose(g, inverse),)
    )


def _is_basic_index(index: Any) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts
    )


def getitem(a: Any, index: Any) -> Tensor:
    """a[index] for slices, integers and integer arrays (repeats accumulate)."""
    a = lift(a)
    if isinstance(index, Tensor):
        index = index.data
    if isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
    basic = _is_basic_index(index)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        full = np.zeros(a.shape, dtype=g.dtype)
        if basic:
            full[index] = g
        else:
            np.add.at(full, index, g)
        return (full,)

    return make_result(a.data[index], (a,), backward)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    parts = [lift(t) for t in tensors]
    sizes = np.cumsum([p.shape[axis] for p in parts])[:-1]

    def backward(g: np.ndarray) -> list[np.ndarray]:
        return np.split(g, sizes, axis=axis)

    return make_result(np.concatenate([p.data for p in parts], axis=axis), tuple(parts), backward)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    parts = [lift(t) for t in tensors]

    def backward(g: np.ndarray) -> list[np.ndarray]:
        return [np.take(g, i, axis=axis) for i in range(len(parts))]

    return make_result(np.stack([p.data for p in parts], axis=axis), tuple(parts), backward)


# ------------------------------------------------------------------ composed
def sub(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    return add(a, neg(b))


def div(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    return mul(a, pow(b, -1))


def sqrt(a: Any) -> Tensor:
    return pow(lift(a), 0.5)


def minimum(a: Any, b: Any) -> Tensor:
    return neg(maximum(neg(a), neg(b)))


def min(a: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return neg(max(neg(a), axis, keepdims))


def logsumexp(a: Any, axis: int = -1, keepdims: bool = False) -> Tensor:
    """log sum exp(a), shifted by the max so that large entries do not overflow."""
    a = lift(a)
    shift = Tensor(np.max(a.data, axis=axis, keepdims=True))
    out = log(sum(exp(a - shift), axis=axis, keepdims=True)) + shift
    return out if keepdims else reshape(out, np.squeeze(out.data, axis=axis).shape)


def log_softmax(a: Any, axis: int = -1) -> Tensor:
    """log softmax(a) = a - logsumexp(a)."""
    a = lift(a)
    return a - logsumexp(a, axis=axis, keepdims=True)


def softmax(a: Any, axis: int = -1) -> Tensor:
    """softmax(a)_i = exp(a_i) / sum_j exp(a_j), computed stably."""
    return exp(log_softmax(a, axis))


# -------------------------------------------------------------- the fused op
def softmax_cross_entropy(
    logits: Any, target: Any, reduction: str = "mean", label_smoothing: float = 0.0
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
        if not np.issubdtype(target.dtype, np.integer):
            raise TypeError(f"class labels must be integers, got dtype {target.dtype}")
        if len(target) != n:
            raise ValueError(f"{len(target)} labels for {n} rows of logits")
        if n and (target.min() < 0 or target.max() >= classes):
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

    z = logits.data
    shifted = z - z.max(axis=1, keepdims=True)
    exp_shifted = np.exp(shifted)
    sum_exp = exp_shifted.sum(axis=1, keepdims=True)
    log_probs = shifted - np.log(sum_exp)
    if probs_target is None:
        losses = -log_probs[np.arange(n), target]
    else:
        losses = -(probs_target * log_probs).sum(axis=1)
    if reduction == "mean":
        out = losses.mean() if n else np.asarray(np.nan, z.dtype)
    elif reduction == "sum":
        out = losses.sum()
    else:
        out = losses

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        grad = exp_shifted / sum_exp
        if probs_target is None:
            grad[np.arange(n), target] -= 1
        else:
            grad *= probs_target.sum(axis=1, keepdims=True)
            grad -= probs_target
        if reduction == "mean":
            grad *= g / n
        elif reduction == "sum":
            grad *= g
        else:
            grad *= g[:, None]
        return (grad,)

    return make_result(np.asarray(out, dtype=z.dtype), (logits,), backward)
