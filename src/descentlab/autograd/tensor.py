"""The Tensor: a NumPy array that remembers how it was made.

Reverse-mode automatic differentiation in the style of micrograd. Every
operation (in ``ops.py``) returns a new Tensor holding its ``_parents`` and a
``_backward`` closure that maps the gradient of the output to the gradients of
the parents. ``backward()`` walks the graph once in reverse topological order
(found iteratively, so a chain of 100,000 operations does not hit Python's
recursion limit) and applies the chain rule

    dL/dx = sum over consumers y of x:  (dy/dx)^T dL/dy

accumulating with ``+=`` into the ``.grad`` of every leaf that requires grad.
As in PyTorch, ``.grad`` accumulates across calls until it is zeroed.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

Backward = Callable[[np.ndarray], Sequence["np.ndarray | None"]]

_state = threading.local()


def is_grad_enabled() -> bool:
    """Whether operations currently record the graph for backpropagation."""
    return getattr(_state, "grad_enabled", True)


class _GradMode(contextlib.ContextDecorator):
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(is_grad_enabled())
        _state.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        _state.grad_enabled = self._previous.pop()


def no_grad() -> _GradMode:
    """Context manager (or decorator) in which no graph is recorded.

    >>> with no_grad():
    ...     y = x * 2          # y.requires_grad is False
    """
    return _GradMode(False)


def enable_grad() -> _GradMode:
    """Context manager that turns graph recording back on inside ``no_grad``."""
    return _GradMode(True)


class Tensor:
    """An n-dimensional array with an optional gradient.

    ``data`` is the NumPy array; ``grad`` is ``None`` until ``backward()`` fills
    it with an array of the same shape and dtype. Both may be read and
    assigned. Operators ``+ - * / ** @``, unary minus, indexing and the
    methods below follow NumPy's broadcasting rules.
    """

    __slots__ = ("__weakref__", "_backward", "_parents", "data", "grad", "name", "requires_grad")
    __array_priority__ = 1000  # make ``ndarray + Tensor`` call Tensor.__radd__

    def __init__(
        self,
        data: Any,
        requires_grad: bool = False,
        dtype: Any = None,
        *,
        _parents: tuple[Tensor, ...] = (),
        _backward: Backward | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        array = np.asarray(data, dtype=dtype)
        if requires_grad and not np.issubdtype(array.dtype, np.floating):
            raise TypeError(
                f"only floating-point tensors can require gradients, got dtype {array.dtype}"
            )
        self.data: np.ndarray = array
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self._parents = _parents
        self._backward = _backward
        self.name = name

    # ------------------------------------------------------------------ basics
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        body = np.array2string(self.data, precision=4, separator=", ", prefix="tensor(")
        extra = ", requires_grad=True" if self.requires_grad else ""
        return f"tensor({body}{extra})"

    def item(self) -> float:
        """The value of a one-element tensor as a Python number."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def tolist(self) -> Any:
        return self.data.tolist()

    def __float__(self) -> float:
        return float(self.item())

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut off from the graph."""
        return Tensor(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    # comparisons give plain boolean arrays: they have no gradient
    def __lt__(self, other: Any) -> np.ndarray:
        return self.data < _raw(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.data <= _raw(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.data > _raw(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.data >= _raw(other)

    __hash__ = object.__hash__

    # ---------------------------------------------------------------- backward
    def backward(self, gradient: Any = None) -> None:
        """Backpropagate from this tensor to every leaf that requires grad.

        A scalar tensor uses dL/dL = 1; a non-scalar one needs ``gradient``,
        the vector v of a vector-Jacobian product v^T J, with this tensor's
        shape.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() called on a tensor that does not require grad "
                "(no input had requires_grad=True, or it was made under no_grad())"
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward() of a non-scalar tensor of shape {self.shape} needs an "
                    "explicit gradient of that shape, e.g. t.backward(np.ones(t.shape))"
                )
            seed = np.ones_like(self.data)
        else:
            seed = np.asarray(_raw(gradient), dtype=self.dtype)
            if seed.shape != self.shape:
                raise ValueError(
                    f"gradient of shape {seed.shape} does not match the tensor's shape "
                    f"{self.shape}"
                )
        grads: dict[int, np.ndarray] = {id(self): seed}
        for node in reversed(_topological_order(self)):
            g = grads.pop(id(node), None)
            if g is None:
                continue
            if node._backward is None:
                node._accumulate(g)
                continue
            for parent, pg in zip(node._parents, node._backward(g)):
                if pg is None or not parent.requires_grad:
                    continue
                key = id(parent)
                grads[key] = grads[key] + pg if key in grads else pg

    def _accumulate(self, g: np.ndarray) -> None:
        if self.grad is None:
            self.grad = np.array(g, dtype=self.dtype, copy=True)
        else:
            self.grad += g

    # ---------------------------------------------------------------- operators
    def __add__(self, other: Any) -> Tensor:
        return ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return ops.div(other, self)

    def __pow__(self, other: Any) -> Tensor:
        return ops.pow(self, other)

    def __rpow__(self, other: Any) -> Tensor:
        return ops.pow(other, self)

    def __matmul__(self, other: Any) -> Tensor:
        return ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return ops.neg(self)

    def __getitem__(self, index: Any) -> Tensor:
        return ops.getitem(self, index)

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))

    # ------------------------------------------------------------------ methods
    def sum(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.sum(self, axis, keepdims)

    def mean(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.mean(self, axis, keepdims)

    def max(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.max(self, axis, keepdims)

    def min(self, axis: Any = None, keepdims: bool = False) -> Tensor:
        return ops.min(self, axis, keepdims)

    def exp(self) -> Tensor:
        return ops.exp(self)

    def log(self) -> Tensor:
        return ops.log(self)

    def sqrt(self) -> Tensor:
        return ops.sqrt(self)

    def abs(self) -> Tensor:
        return ops.abs(self)

    def sin(self) -> Tensor:
        return ops.sin(self)

    def cos(self) -> Tensor:
        return ops.cos(self)

    def tanh(self) -> Tensor:
        return ops.tanh(self)

    def sigmoid(self) -> Tensor:
        return ops.sigmoid(self)

    def relu(self) -> Tensor:
        return ops.relu(self)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return ops.reshape(self, shape)

    def transpose(self, *axes: Any) -> Tensor:
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = tuple(axes[0])
        return ops.transpose(self, axes or None)

    @property
    def T(self) -> Tensor:
        return ops.transpose(self, None)

    def softmax(self, axis: int = -1) -> Tensor:
        return ops.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Tensor:
        return ops.log_softmax(self, axis)


class Parameter(Tensor):
    """A Tensor that a Module learns: ``requires_grad`` is always True.

    ``p.data`` and ``p.grad`` are NumPy arrays that may be read and assigned.
    """

    __slots__ = ()

    def __init__(self, data: Any, dtype: Any = None, name: str | None = None) -> None:
        super().__init__(data, requires_grad=True, dtype=dtype, name=name)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a Tensor from array-like ``data``.

    ``dtype=None`` keeps the dtype NumPy would choose (``np.asarray``): a
    float64 array stays float64, so its gradients are float64 too.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


def _topological_order(root: Tensor) -> list[Tensor]:
    """Nodes that require grad, each after all of its parents (iterative DFS)."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order


def make_result(
    data: np.ndarray, parents: tuple[Tensor, ...], backward: Backward
) -> Tensor:
    """Wrap an op's output, recording the graph only when a parent needs it."""
    if is_grad_enabled() and any(p.requires_grad for p in parents):
        return Tensor(data, requires_grad=True, _parents=parents, _backward=backward)
    return Tensor(data)


def lift(x: Any, like: Tensor | None = None) -> Tensor:
    """Turn a number or array into a constant Tensor.

    A Python scalar takes the dtype of ``like`` (so ``float32_tensor * 2`` stays
    float32, as NumPy's own scalar promotion would).
    """
    if isinstance(x, Tensor):
        return x
    if (
        like is not None
        and isinstance(x, (int, float, bool))
        and not isinstance(x, np.generic)
        and np.issubdtype(like.dtype, np.floating)
    ):
        return Tensor(np.asarray(x, dtype=like.dtype))
    return Tensor(np.asarray(x))


from descentlab.autograd import ops
