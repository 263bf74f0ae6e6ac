"""Function transforms, as in HIPS autograd and JAX.

``grad(f)`` and ``value_and_grad(f)`` differentiate a scalar function of arrays;
``hvp(f, x, v)`` and ``hessian(f, x)`` give its second derivatives exactly, by
differentiating the backward pass itself (``backprop(..., create_graph=True)``).
``f`` may be written with Tensor operations or with NumPy's functions.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from descentlab.autograd.tensor import Tensor, TensorLike, backprop, enable_grad

#: A scalar function of one or more arrays, written with Tensor ops or NumPy functions.
ScalarFunction = Callable[..., object]
Gradient = np.ndarray | float


def _as_input(x: TensorLike) -> Tensor:
    array = np.asarray(x.data if isinstance(x, Tensor) else x)
    if not np.issubdtype(array.dtype, np.floating):
        array = array.astype(np.float64)
    return Tensor(array, requires_grad=True)


def _as_output(g: np.ndarray, template: TensorLike) -> Gradient:
    return float(g) if np.ndim(template) == 0 and not isinstance(template, np.ndarray) else g


def _scalar_output(out: object, what: str) -> Tensor:
    t = out if isinstance(out, Tensor) else Tensor(np.asarray(out, dtype=np.float64))
    if t.size != 1:
        raise ValueError(f"{what} needs f to return a scalar, got shape {t.shape}")
    return t


def value_and_grad(
    f: ScalarFunction, argnums: int | Sequence[int] = 0
) -> Callable[..., tuple[float, Gradient | tuple[Gradient, ...]]]:
    """Turn a scalar function of arrays into one that also returns its gradient.

    ``value_and_grad(f)(x)`` -> ``(f(x), df/dx)``. ``f`` is written with
    Tensor operations (``x ** 2``, ``descentlab.autograd.sin(x)``, ``x @ A``) or
    NumPy's functions (``np.sin(x)``, ``np.sum(x)``); its inputs arrive as
    Tensors. ``argnums`` picks which positional arguments to differentiate; a
    sequence gives a tuple of gradients.
    """
    many = not isinstance(argnums, int)
    wanted = tuple(argnums) if not isinstance(argnums, int) else (argnums,)

    @functools.wraps(f)
    def wrapped(
        *args: TensorLike, **kwargs: object
    ) -> tuple[float, Gradient | tuple[Gradient, ...]]:
        for i in wanted:
            if i >= len(args):
                raise ValueError(f"argnums={i} but the function got {len(args)} arguments")
        inputs = {i: _as_input(args[i]) for i in wanted}
        call_args = [inputs.get(i, a) for i, a in enumerate(args)]
        with enable_grad():
            out = _scalar_output(f(*call_args, **kwargs), "grad")
        grads = backprop(out, [inputs[i] for i in wanted])
        results = tuple(_as_output(np.asarray(g), args[i]) for g, i in zip(grads, wanted))
        return float(out.data.reshape(())), results if many else results[0]

    return wrapped


def grad(
    f: ScalarFunction, argnums: int | Sequence[int] = 0
) -> Callable[..., Gradient | tuple[Gradient, ...]]:
    """The gradient of a scalar function of arrays, as a function.

    >>> df = grad(lambda x: (x ** 2).sum())
    >>> df(np.array([1.0, -2.0]))
    array([ 2., -4.])
    >>> grad(lambda x: np.sum(np.sin(x) ** 2))(np.array([0.0, np.pi / 4]))
    array([0., 1.])
    """
    vg = value_and_grad(f, argnums)

    @functools.wraps(f)
    def wrapped(*args: TensorLike, **kwargs: object) -> Gradient | tuple[Gradient, ...]:
        return vg(*args, **kwargs)[1]

    return wrapped


def _gradient_graph(f: ScalarFunction, x: npt.ArrayLike | Tensor) -> tuple[Tensor, Tensor]:
    """x as a Tensor and grad f(x) as a Tensor that is itself differentiable in x."""
    xt = _as_input(x)
    with enable_grad():
        out = _scalar_output(f(xt), "hvp/hessian")
    (g,) = backprop(out, [xt], create_graph=True)
    assert isinstance(g, Tensor)
    return xt, g


def hvp(f: ScalarFunction, x: npt.ArrayLike | Tensor, v: npt.ArrayLike | Tensor) -> np.ndarray:
    """The Hessian-vector product H(x) v of a scalar function, exactly.

    Reverse over reverse: grad f(x) is computed with a recorded backward pass,
    then (grad f(x) . v) is differentiated once more, which costs about two
    gradient evaluations and never forms H. Like
    ``torch.autograd.functional.hvp(f, x, v)[1]``.

    >>> hvp(lambda x: (x ** 3).sum(), np.array([1.0, 2.0]), np.array([1.0, 1.0]))
    array([ 6., 12.])
    """
    xt, g = _gradient_graph(f, x)
    direction = np.asarray(v.data if isinstance(v, Tensor) else v, dtype=xt.dtype)
    if direction.shape != xt.shape:
        raise ValueError(f"v has shape {direction.shape}, but x has shape {xt.shape}")
    (hv,) = backprop(g, [xt], direction)
    return np.asarray(hv)


def hessian(f: ScalarFunction, x: npt.ArrayLike | Tensor) -> np.ndarray:
    r"""The Hessian matrix of a scalar function at x, exactly; shape ``x.shape + x.shape``.

    One recorded gradient, then one backward pass through it per coordinate.
    The lecture's example: for f(x) = x^2 the Hessian is 2, so the largest
    curvature is lambda_max = 2, and gradient descent with a step eta beyond
    2 / lambda_max = 1 diverges (each step multiplies x by 1 - 2 eta):

    >>> import descentlab as dl
    >>> f = lambda x: (x ** 2).sum()
    >>> H = dl.hessian(f, np.array([3.0]))
    >>> H
    array([[2.]])
    >>> lam_max = float(np.linalg.eigvalsh(H).max())
    >>> 2 / lam_max
    1.0
    >>> [dl.minimize(f, [1.0], lr=eta, steps=200).status for eta in (0.9, 1.1)]
    ['converged', 'diverged']
    """
    xt, g = _gradient_graph(f, x)
    n = xt.size
    rows = np.empty((n, n), dtype=xt.dtype)
    flat = g.reshape(-1)
    for i in range(n):
        e = np.zeros(n, dtype=xt.dtype)
        e[i] = 1
        (row,) = backprop(flat, [xt], e)
        rows[i] = np.asarray(row).reshape(-1)
    return rows.reshape(xt.shape + xt.shape)
