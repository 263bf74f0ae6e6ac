"""Reshaping and indexing: ops that move entries without changing them.

Each backward moves the gradient back to where the entries came from, summing
where one entry fed many (``broadcast_to``, repeated indices). ``unbroadcast`` and
``normalize_axes`` are shared with ``ops.py``: every axis argument, negative or
in a tuple, is normalised once here, so a backward never sees ``-1``.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence

import numpy as np

from descentlab.autograd.tensor import (
    Axis,
    Grad,
    Index,
    Tensor,
    TensorLike,
    lift,
    make_result,
)


def unbroadcast(g: Grad, shape: tuple[int, ...]) -> Grad:
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


def normalize_axes(axis: int | Sequence[int], ndim: int) -> tuple[int, ...]:
    """Axes as non-negative ints (``-1`` is the last); out of range or repeated raise."""
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for ax in axes:
        if not isinstance(ax, (int, np.integer)) or isinstance(ax, bool):
            raise TypeError(f"an axis must be an integer, got {ax!r}")
        if not -ndim <= ax < ndim:
            raise ValueError(f"axis {ax} is out of bounds for a tensor of dimension {ndim}")
        out.append(int(ax) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {tuple(axes)}")
    return tuple(out)


def axis_tuple(axis: Axis, ndim: int) -> tuple[int, ...] | None:
    """A reduction's ``axis`` argument normalised (None stays None: every axis)."""
    return None if axis is None else normalize_axes(axis, ndim)


def reshape(a: TensorLike, shape: int | Sequence[int]) -> Tensor:
    a = lift(a)
    try:
        out = a.data.reshape(shape)
    except ValueError:
        raise ValueError(f"cannot reshape a tensor of shape {a.shape} into {shape}") from None
    return make_result(out, (a,), lambda g: (g.reshape(a.shape),))


def transpose(a: TensorLike, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes (reverse them when ``axes`` is None); negative axes count from the end."""
    a = lift(a)
    if axes is None:
        perm = tuple(reversed(range(a.ndim)))
    else:
        perm = normalize_axes(axes, a.ndim)
        if len(perm) != a.ndim:
            raise ValueError(f"axes {tuple(axes)} do not match a tensor of shape {a.shape}")
    inverse = tuple(int(i) for i in np.argsort(perm))
    return make_result(np.transpose(a.data, perm), (a,), lambda g: (np.transpose(g, inverse),))


def broadcast_to(a: TensorLike, shape: Sequence[int]) -> Tensor:
    """``np.broadcast_to``: repeat along new or length-1 axes; the gradient sums them back."""
    a = lift(a)
    out = np.broadcast_to(a.data, tuple(shape))
    return make_result(out, (a,), lambda g: (unbroadcast(g, a.shape),))


def expand_dims(a: TensorLike, axis: int | Sequence[int]) -> Tensor:
    a = lift(a)
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return reshape(a, np.expand_dims(a.data, axes).shape)


def squeeze(a: TensorLike, axis: Axis = None) -> Tensor:
    a = lift(a)
    return reshape(a, np.squeeze(a.data, axis_tuple(axis, a.ndim)).shape)


def swapaxes(a: TensorLike, axis1: int, axis2: int) -> Tensor:
    a = lift(a)
    perm = list(range(a.ndim))
    i, j = normalize_axes((axis1,), a.ndim)[0], normalize_axes((axis2,), a.ndim)[0]
    perm[i], perm[j] = perm[j], perm[i]
    return transpose(a, perm)


def moveaxis(
    a: TensorLike, source: int | Sequence[int], destination: int | Sequence[int]
) -> Tensor:
    a = lift(a)
    src, dst = normalize_axes(source, a.ndim), normalize_axes(destination, a.ndim)
    if len(src) != len(dst):
        raise ValueError("moveaxis needs as many destination axes as source axes")
    rest = [i for i in range(a.ndim) if i not in src]
    for d, s in sorted(zip(dst, src)):
        rest.insert(d, s)
    return transpose(a, rest)


def _is_basic_index(index: Index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return all(isinstance(p, (int, np.integer, slice)) or p is None or p is Ellipsis for p in parts)


def _scatter(g: Grad, index: Index, shape: tuple[int, ...], basic: bool) -> Grad:
    """The adjoint of ``a[index]``: g placed into zeros of ``shape``, repeats summed."""

    def place(h: np.ndarray) -> np.ndarray:
        full = np.zeros(shape, dtype=h.dtype)
        if basic:
            full[index] = h
        else:
            np.add.at(full, index, h)  # type: ignore[arg-type]
        return full

    if isinstance(g, Tensor):  # create_graph: a node whose own backward is the indexing
        return make_result(place(g.data), (g,), lambda h: (getitem(h, index),))
    return place(g)


def getitem(a: TensorLike, index: Index) -> Tensor:
    """a[index] for slices, integers, None, ... and integer or boolean arrays
    (repeated indices accumulate their gradients)."""
    a = lift(a)
    if isinstance(index, Tensor):
        index = index.data
    elif isinstance(index, list):
        index = np.asarray(index)
    elif isinstance(index, tuple):
        index = tuple(
            i.data if isinstance(i, Tensor) else np.asarray(i) if isinstance(i, list) else i
            for i in index
        )
    basic = _is_basic_index(index)
    return make_result(
        a.data[index],
        (a,),
        lambda g: (_scatter(g, index, a.shape, basic),),
    )


def _slab(axis: int, part: int | slice) -> tuple[slice | int, ...]:
    return (slice(None),) * axis + (part,)


def concatenate(tensors: Sequence[TensorLike], axis: int | None = 0) -> Tensor:
    """Join along an existing axis (``axis=None`` joins the flattened tensors)."""
    parts = [lift(t) for t in tensors]
    if not parts:
        raise ValueError("need at least one tensor to concatenate")
    if axis is None:
        parts = [reshape(p, (-1,)) for p in parts]
        axis = 0
    if builtins.min(p.ndim for p in parts) == 0:
        raise ValueError("zero-dimensional tensors cannot be concatenated")
    ax = normalize_axes(axis, parts[0].ndim)[0]
    ends = np.cumsum([p.shape[ax] for p in parts])
    starts = ends - [p.shape[ax] for p in parts]
    out = np.concatenate([p.data for p in parts], axis=ax)

    def backward(g: Grad) -> list[Grad]:
        return [g[_slab(ax, slice(int(s), int(e)))] for s, e in zip(starts, ends)]

    return make_result(out, tuple(parts), backward)


def stack(tensors: Sequence[TensorLike], axis: int = 0) -> Tensor:
    """Join along a new axis (negative counts from the end of the result)."""
    parts = [lift(t) for t in tensors]
    if not parts:
        raise ValueError("need at least one tensor to stack")
    out = np.stack([p.data for p in parts], axis=axis)
    ax = normalize_axes(axis, out.ndim)[0]

    def backward(g: Grad) -> list[Grad]:
        return [g[_slab(ax, i)] for i in range(len(parts))]

    return make_result(out, tuple(parts), backward)
