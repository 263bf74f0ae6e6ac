"""Function transforms: ``grad(f)`` and ``value_and_grad(f)``, as in HIPS autograd and JAX."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from descentlab.autograd.tensor import Tensor, enable_grad


def _as_input(x: Any) -> Tensor:
    array = np.asarray(x.data if isinstance(x, Tensor) else x)
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    return Tensor(array, requires_grad=True)


def _as_output(x: Any, template: Any) -> Any:
    return float(x) if np.ndim(template) == 0 and not isinstance(template, np.ndarray) else x


def value_and_grad(
    f: Callable[..., Any], argnums: int | Sequence[int] = 0
) -> Callable[..., tuple[float, Any]]:
    """Turn a scalar function of arrays into one that also returns its gradient.

    ``value_and_grad(f)(x)`` -> ``(f(x), df/dx)``. ``f`` is written with
    Tensor operations (``x ** 2``, ``descentlab.autograd.sin(x)``, ``x @ A``);
    its inputs arrive as Tensors. ``argnums`` picks which positional arguments
    to differentiate; a sequence gives a tuple of gradients.
    """
    many = not isinstance(argnums, int)
    wanted = tuple(argnums) if many else (argnums,)

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> tuple[float, Any]:
        for i in wanted:
            if i >= len(args):
                raise ValueError(f"argnums={i} but the function got {len(args)} arguments")
        inputs = {i: _as_input(args[i]) for i in wanted}
        call_args = [inputs.get(i, a) for i, a in enumerate(args)]
        with enable_grad():
            out = f(*call_args, **kwargs)
        if not isinstance(out, Tensor):
            value = np.asarray(out)
            if value.size != 1:
                raise ValueError(f"grad needs f to return a scalar, got shape {value.shape}")
            grads = [np.zeros_like(inputs[i].data) for i in wanted]
        else:
            if out.size != 1:
                raise ValueError(f"grad needs f to return a scalar, got shape {out.shape}")
            value = out.data
            if out.requires_grad:
                out.backward()
            grads = [
                inputs[i].grad if inputs[i].grad is not None else np.zeros_like(inputs[i].data)
                for i in wanted
            ]
        results = tuple(_as_output(g, args[i]) for g, i in zip(grads, wanted))
        return float(value.reshape(())), results if many else results[0]

    return wrapped


def grad(f: Callable[..., Any], argnums: int | Sequence[int] = 0) -> Callable[..., Any]:
    """The gradient of a scalar function of arrays, as a function.

    >>> df = grad(lambda x: (x ** 2).sum())
    >>> df(np.array([1.0, -2.0]))
    array([ 2., -4.])
    """
    vg = value_and_grad(f, argnums)

    @functools.wraps(f)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return vg(*args, **kwargs)[1]

    return wrapped
