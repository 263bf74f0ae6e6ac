"""NumPy's functions on Tensors: the rules behind ``__array_ufunc__`` and ``__array_function__``.

With these, a function written for NumPy arrays differentiates as it is::

    >>> import numpy as np
    >>> from descentlab.autograd import grad
    >>> grad(lambda x: np.sum(np.sin(x) ** 2))(np.array([0.0, np.pi / 4]))
    array([0., 1.])

Every NumPy function that has a rule here returns a Tensor (comparisons and
tests such as ``np.isnan`` return plain boolean arrays, as the comparison
operators do). A NumPy function without a rule raises ``TypeError`` naming it
and listing the supported ones: nothing falls back to an object array, and no
gradient is silently lost. ``np.asarray(t)`` gives the values (no graph).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from descentlab.autograd import ops, shapes
from descentlab.autograd.tensor import Axis, Tensor, TensorLike, lift

Rule = Callable[..., object]


def _const(f: Callable[[np.ndarray], np.ndarray]) -> Rule:
    """A piecewise-constant function: its value as a Tensor with no gradient (as torch)."""
    return lambda a: Tensor(f(a.data if isinstance(a, Tensor) else np.asarray(a)))


def _plain(ufunc: np.ufunc) -> Rule:
    """A test or comparison: a boolean array, like ``Tensor.__lt__``."""
    return lambda *args: ufunc(*(a.data if isinstance(a, Tensor) else a for a in args))


def _ufunc_rules() -> dict[np.ufunc, Rule]:
    rules: dict[np.ufunc, Rule] = {
        np.add: ops.add,
        np.subtract: ops.sub,
        np.multiply: ops.mul,
        np.divide: ops.div,  # also np.true_divide
        np.power: ops.pow,
        np.negative: ops.neg,
        np.positive: lift,
        np.square: ops.square,
        np.sqrt: ops.sqrt,
        np.exp: ops.exp,
        np.log: ops.log,
        np.absolute: ops.abs,
        np.sin: ops.sin,
        np.cos: ops.cos,
        np.tanh: ops.tanh,
        np.maximum: ops.maximum,
        np.minimum: ops.minimum,
        np.matmul: ops.matmul,
        np.sign: _const(np.sign),
        np.floor: _const(np.floor),
        np.ceil: _const(np.ceil),
        np.rint: _const(np.rint),
        np.trunc: _const(np.trunc),
    }
    for u in (
        np.less,
        np.less_equal,
        np.greater,
        np.greater_equal,
        np.equal,
        np.not_equal,
        np.isnan,
        np.isinf,
        np.isfinite,
        np.signbit,
        np.logical_and,
        np.logical_or,
        np.logical_xor,
        np.logical_not,
    ):
        rules[u] = _plain(u)
    return rules


def apply_ufunc(
    ufunc: np.ufunc, method: str, inputs: tuple[object, ...], kwargs: Mapping[str, object]
) -> object:
    """``Tensor.__array_ufunc__``: run the ufunc's rule, or refuse clearly."""
    name = f"np.{ufunc.__name__}"
    if method != "__call__":
        raise TypeError(
            f"{name}.{method} is not supported on Tensors (only calls such as {name}(x) are); "
            "use the Tensor's reductions (sum, max, ...) instead"
        )
    if not UFUNCS:
        _load()
    rule = UFUNCS.get(ufunc)
    if rule is None:
        raise TypeError(f"{name} has no gradient rule for Tensors; {_supported()}")
    if kwargs:
        raise TypeError(
            f"{name}(..., {', '.join(kwargs)}=...) is not supported on Tensors "
            "(a Tensor's result is a new Tensor: no out=, where= or dtype=)"
        )
    return rule(*inputs)


# ------------------------------------------------------------------ functions
_NOT_GIVEN = getattr(np, "_NoValue", None)


def _refuse(name: str, **options: object) -> None:
    """Raise for any NumPy option this rule cannot honour."""
    bad = [k for k, v in options.items() if v is not None and v is not _NOT_GIVEN]
    if bad:
        raise TypeError(f"np.{name}(..., {'=..., '.join(bad)}=...) is not supported on Tensors")


def _sum(
    a: TensorLike,
    axis: Axis = None,
    dtype: object = None,
    out: object = None,
    keepdims: bool = False,
    initial: object = None,
    where: object = None,
) -> Tensor:
    _refuse("sum", dtype=dtype, out=out, initial=initial, where=where)
    return ops.sum(a, axis, bool(keepdims))


def _mean(
    a: TensorLike,
    axis: Axis = None,
    dtype: object = None,
    out: object = None,
    keepdims: bool = False,
    *,
    where: object = None,
) -> Tensor:
    _refuse("mean", dtype=dtype, out=out, where=where)
    return ops.mean(a, axis, bool(keepdims))


def _extremum(op: Callable[[TensorLike, Axis, bool], Tensor], name: str) -> Rule:
    def rule(
        a: TensorLike,
        axis: Axis = None,
        out: object = None,
        keepdims: bool = False,
        initial: object = None,
        where: object = None,
    ) -> Tensor:
        _refuse(name, out=out, initial=initial, where=where)
        return op(a, axis, bool(keepdims))

    return rule


def _where(
    condition: TensorLike, x: TensorLike | None = None, y: TensorLike | None = None
) -> object:
    cond = condition.data if isinstance(condition, Tensor) else condition
    if x is None and y is None:
        return np.where(cond)
    if x is None or y is None:
        raise ValueError("np.where needs both x and y, or neither")
    return ops.where(cond, x, y)


def _dot(a: TensorLike, b: TensorLike, out: object = None) -> Tensor:
    _refuse("dot", out=out)
    ta, tb = lift(a), lift(b)
    if ta.ndim == 0 or tb.ndim == 0:
        return ops.mul(ta, tb)
    if tb.ndim > 2:
        raise TypeError(
            "np.dot with a second operand of more than 2 dimensions has no gradient rule "
            "for Tensors; use np.matmul (batched) instead"
        )
    return ops.matmul(ta, tb)


def _norm(
    x: TensorLike, ord: float | str | None = None, axis: Axis = None, keepdims: bool = False
) -> Tensor:
    """np.linalg.norm: vector 2-, 1-, inf-norms and the Frobenius norm."""
    t = lift(x)
    axes = None if axis is None else shapes.normalize_axes(axis, t.ndim)
    matrix = (axes is None and t.ndim == 2) or (axes is not None and len(axes) == 2)
    vector = (axes is None and t.ndim == 1) or (axes is not None and len(axes) == 1)
    if ord is None and (axes is None or matrix or vector):
        return ops.norm(t, axes, keepdims)
    if ord == "fro" and matrix:
        return ops.norm(t, axes, keepdims)
    if vector and not isinstance(ord, str):
        if ord == 2:
            return ops.norm(t, axes, keepdims)
        if ord == 1:
            return ops.sum(ops.abs(t), axes, keepdims)
        if ord == np.inf:
            return ops.max(ops.abs(t), axes, keepdims)
        if ord == -np.inf:
            return ops.min(ops.abs(t), axes, keepdims)
    kind = "matrix" if matrix else "vector" if vector else f"{t.ndim}-D"
    raise TypeError(
        f"np.linalg.norm(ord={ord!r}) of a {kind} has no gradient rule for Tensors; "
        "supported: the vector 2-, 1- and inf-norms (ord=None, 2, 1, inf, -inf) and the "
        "Frobenius norm (ord=None or 'fro')"
    )


def _clip(
    a: TensorLike,
    a_min: object = _NOT_GIVEN,
    a_max: object = _NOT_GIVEN,
    out: object = None,
    *,
    min: object = _NOT_GIVEN,
    max: object = _NOT_GIVEN,
    **kwargs: object,
) -> Tensor:
    _refuse("clip", out=out, **kwargs)
    low = min if a_min is _NOT_GIVEN else a_min
    high = max if a_max is _NOT_GIVEN else a_max
    return ops.clip(
        a,
        None if low is _NOT_GIVEN else low,  # type: ignore[arg-type]
        None if high is _NOT_GIVEN else high,  # type: ignore[arg-type]
    )


def _joiner(op: Callable[..., Tensor], name: str) -> Rule:
    def rule(
        arrays: Sequence[TensorLike],
        axis: int | None = 0,
        out: object = None,
        *,
        dtype: object = None,
        casting: object = None,
    ) -> Tensor:
        _refuse(name, out=out, dtype=dtype)
        return op(list(arrays), axis)

    return rule


def _reshape(
    a: TensorLike,
    shape: int | Sequence[int] | None = None,
    order: str = "C",
    *,
    newshape: int | Sequence[int] | None = None,
    copy: object = None,
) -> Tensor:
    if order != "C":
        raise TypeError(f"np.reshape(order={order!r}) is not supported on Tensors (only 'C')")
    target = shape if shape is not None else newshape
    if target is None:
        raise TypeError("np.reshape needs a shape")
    return ops.reshape(a, target)


def _transpose(a: TensorLike, axes: Sequence[int] | None = None) -> Tensor:
    return ops.transpose(a, axes)


def _broadcast_to(array: TensorLike, shape: int | Sequence[int], subok: bool = False) -> Tensor:
    return ops.broadcast_to(array, (shape,) if isinstance(shape, int) else shape)


def _like(fill: Callable[[npt.ArrayLike], np.ndarray]) -> Rule:
    def rule(a: TensorLike, dtype: npt.DTypeLike | None = None, **kwargs: object) -> Tensor:
        data = a.data if isinstance(a, Tensor) else np.asarray(a)
        return Tensor(fill(data).astype(dtype or data.dtype, copy=False))

    return rule


def _data(f: Callable[..., object]) -> Rule:
    return lambda a, *args, **kwargs: f(a.data if isinstance(a, Tensor) else a, *args, **kwargs)


def _function_rules() -> dict[Callable[..., object], tuple[str, Rule]]:
    return {
        np.sum: ("sum", _sum),
        np.mean: ("mean", _mean),
        np.max: ("max", _extremum(ops.max, "max")),
        np.amax: ("amax", _extremum(ops.max, "amax")),
        np.min: ("min", _extremum(ops.min, "min")),
        np.amin: ("amin", _extremum(ops.min, "amin")),
        np.where: ("where", _where),
        np.dot: ("dot", _dot),
        np.linalg.norm: ("linalg.norm", _norm),
        np.clip: ("clip", _clip),
        np.concatenate: ("concatenate", _joiner(ops.concatenate, "concatenate")),
        np.stack: ("stack", _joiner(ops.stack, "stack")),
        np.transpose: ("transpose", _transpose),
        np.reshape: ("reshape", _reshape),
        np.broadcast_to: ("broadcast_to", _broadcast_to),
        np.expand_dims: ("expand_dims", ops.expand_dims),
        np.squeeze: ("squeeze", ops.squeeze),
        np.swapaxes: ("swapaxes", ops.swapaxes),
        np.moveaxis: ("moveaxis", ops.moveaxis),
        np.zeros_like: ("zeros_like", _like(np.zeros_like)),
        np.ones_like: ("ones_like", _like(np.ones_like)),
        np.shape: ("shape", _data(np.shape)),
        np.ndim: ("ndim", _data(np.ndim)),
        np.size: ("size", _data(np.size)),
    }


# built on first use: ``ops`` is still loading when the Tensor class imports this module
UFUNCS: dict[np.ufunc, Rule] = {}
FUNCTIONS: dict[Callable[..., object], tuple[str, Rule]] = {}


def _load() -> None:
    UFUNCS.update(_ufunc_rules())
    FUNCTIONS.update(_function_rules())


def _supported() -> str:
    aliases = {"absolute": "abs/np.absolute", "divide": "divide/np.true_divide"}
    ufuncs = [f"np.{aliases.get(u.__name__, u.__name__)}" for u in UFUNCS]
    functions = sorted(f"np.{name}" for name, _ in FUNCTIONS.values())
    return "supported: " + ", ".join(sorted(ufuncs + functions))


def apply_function(
    func: Callable[..., object],
    types: tuple[type, ...],
    args: tuple[object, ...],
    kwargs: Mapping[str, object],
) -> object:
    """``Tensor.__array_function__``: run the function's rule, or refuse clearly."""
    if not all(issubclass(t, (Tensor, np.ndarray)) for t in types):
        return NotImplemented
    if not FUNCTIONS:
        _load()
    entry = FUNCTIONS.get(func)
    if entry is None:
        module = getattr(func, "__module__", "numpy") or "numpy"
        prefix = "np." + module[len("numpy.") :] + "." if module.startswith("numpy.") else "np."
        name = prefix + getattr(func, "__name__", repr(func))
        if ".lib." in name or "._core" in name or ".core." in name:
            name = "np." + getattr(func, "__name__", repr(func))
        raise TypeError(f"{name} has no gradient rule for Tensors; {_supported()}")
    return entry[1](*args, **kwargs)
