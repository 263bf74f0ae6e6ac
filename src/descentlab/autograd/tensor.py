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

Second derivatives: :func:`backprop` with ``create_graph=True`` runs the same
closures on Tensors instead of arrays, so the gradient it returns is itself a
differentiable Tensor (``hvp`` and ``hessian`` in ``transforms.py`` use it).

NumPy's own functions work on Tensors (``np.sin(x)``, ``np.sum(x, axis=0)``,
``x @ A``) through NumPy's dispatch protocols; the rules are in
``numpy_api.py``.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from types import EllipsisType

import numpy as np
import numpy.typing as npt

Axis = int | tuple[int, ...] | None


class _GradState(threading.local):
    # the class attribute is every thread's default: a read never misses (getattr with a
    # default on a bare threading.local costs an AttributeError, 0.5 us, at every op)
    grad_enabled = True


_state = _GradState()


def is_grad_enabled() -> bool:
    """Whether operations currently record the graph for backpropagation."""
    return _state.grad_enabled


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
    methods below follow NumPy's broadcasting rules, and so do NumPy's own
    functions applied to a Tensor (``np.exp(t)``, ``np.sum(t, axis=0)``): they
    return Tensors; one without a gradient rule raises ``TypeError``.
    """

    __slots__ = ("__weakref__", "_backward", "_parents", "data", "grad", "name", "requires_grad")
    __array_priority__ = 1000  # ``ndarray + Tensor`` is a Tensor (also via __array_ufunc__)

    def __init__(
        self,
        data: TensorLike,
        requires_grad: bool = False,
        dtype: npt.DTypeLike | None = None,
        *,
        _parents: tuple[Tensor, ...] = (),
        _backward: Backward | None = None,
        name: str | None = None,
    ) -> None:
        if isinstance(data, Tensor):
            data = data.data
        array = np.asarray(data, dtype=dtype)
        if requires_grad and array.dtype.kind != "f":  # (np.issubdtype is slow per op)
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

    def __array__(self, dtype: npt.DTypeLike | None = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(t)``: the values, without the graph (like ``t.detach().numpy()``)."""
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def tolist(self) -> object:
        return self.data.tolist()

    def __float__(self) -> float:
        return float(self.item())

    def detach(self) -> Tensor:
        """A tensor sharing this one's data, cut off from the graph."""
        return Tensor(self.data)

    def zero_grad(self) -> None:
        self.grad = None

    # comparisons give plain boolean arrays: they have no gradient
    def __lt__(self, other: TensorLike) -> np.ndarray:
        return self.data < _raw(other)

    def __le__(self, other: TensorLike) -> np.ndarray:
        return self.data <= _raw(other)

    def __gt__(self, other: TensorLike) -> np.ndarray:
        return self.data > _raw(other)

    def __ge__(self, other: TensorLike) -> np.ndarray:
        return self.data >= _raw(other)

    __hash__ = object.__hash__

    # ------------------------------------------------------------ NumPy protocols
    def __array_ufunc__(
        self, ufunc: np.ufunc, method: str, *inputs: object, **kwargs: object
    ) -> object:
        return numpy_api.apply_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(
        self,
        func: Callable[..., object],
        types: tuple[type, ...],
        args: tuple[object, ...],
        kwargs: dict[str, object],
    ) -> object:
        return numpy_api.apply_function(func, types, args, kwargs)

    # ---------------------------------------------------------------- backward
    def backward(self, gradient: TensorLike | None = None) -> None:
        """Backpropagate from this tensor to every leaf that requires grad.

        A scalar tensor uses dL/dL = 1; a non-scalar one needs ``gradient``,
        the vector v of a vector-Jacobian product v^T J, with this tensor's
        shape.
        """
        _backpropagate(self, _seed(self, gradient), None)

    def _accumulate(self, g: np.ndarray, owned: bool = False) -> None:
        """Add ``g`` to ``.grad``. ``owned``: no one else holds ``g``, so a first
        gradient of the right shape and dtype is kept as it is instead of copied."""
        if self.grad is None:
            if owned and g.dtype == self.data.dtype and g.shape == self.data.shape:
                self.grad = g
            else:
                self.grad = np.array(g, dtype=self.dtype, copy=True)
        else:
            self.grad += g

    # ---------------------------------------------------------------- operators
    def __add__(self, other: TensorLike) -> Tensor:
        return ops.add(self, other)

    def __radd__(self, other: TensorLike) -> Tensor:
        return ops.add(other, self)

    def __sub__(self, other: TensorLike) -> Tensor:
        return ops.sub(self, other)

    def __rsub__(self, other: TensorLike) -> Tensor:
        return ops.sub(other, self)

    def __mul__(self, other: TensorLike) -> Tensor:
        return ops.mul(self, other)

    def __rmul__(self, other: TensorLike) -> Tensor:
        return ops.mul(other, self)

    def __truediv__(self, other: TensorLike) -> Tensor:
        return ops.div(self, other)

    def __rtruediv__(self, other: TensorLike) -> Tensor:
        return ops.div(other, self)

    def __pow__(self, other: TensorLike) -> Tensor:
        return ops.pow(self, other)

    def __rpow__(self, other: TensorLike) -> Tensor:
        return ops.pow(other, self)

    def __matmul__(self, other: TensorLike) -> Tensor:
        return ops.matmul(self, other)

    def __rmatmul__(self, other: TensorLike) -> Tensor:
        return ops.matmul(other, self)

    def __neg__(self) -> Tensor:
        return ops.neg(self)

    def __getitem__(self, index: Index) -> Tensor:
        return ops.getitem(self, index)

    def __iter__(self) -> Iterator[Tensor]:
        return (self[i] for i in range(len(self)))

    # ------------------------------------------------------------------ methods
    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return ops.sum(self, axis, keepdims)

    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return ops.mean(self, axis, keepdims)

    def max(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        return ops.max(self, axis, keepdims)

    def min(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
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

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        return ops.reshape(self, _shape_args(shape))

    def transpose(self, *axes: int | Sequence[int]) -> Tensor:
        return ops.transpose(self, _shape_args(axes) or None)

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

    def __init__(
        self, data: TensorLike, dtype: npt.DTypeLike | None = None, name: str | None = None
    ) -> None:
        super().__init__(data, requires_grad=True, dtype=dtype, name=name)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


#: What a backward closure receives and returns: arrays, or Tensors under create_graph.
Grad = Tensor | np.ndarray
Backward = Callable[[Grad], Sequence[Grad | None]]
#: Anything an operation accepts as an operand: a Tensor, an array, a number.
TensorLike = Tensor | npt.ArrayLike
#: An index for ``tensor[index]``: integers, slices, None, ..., integer or boolean arrays.
IndexPart = int | np.integer | slice | None | EllipsisType | np.ndarray | Sequence[int] | Tensor
Index = IndexPart | tuple[IndexPart, ...]


def tensor(
    data: TensorLike, requires_grad: bool = False, dtype: npt.DTypeLike | None = None
) -> Tensor:
    """Make a Tensor from array-like ``data``.

    ``dtype=None`` keeps the dtype NumPy would choose (``np.asarray``): a
    float64 array stays float64, so its gradients are float64 too.
    """
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


def _raw(x: TensorLike) -> npt.ArrayLike:
    return x.data if isinstance(x, Tensor) else x


def _shape_args(args: tuple[int | Sequence[int], ...]) -> tuple[int, ...]:
    """``t.reshape(2, 3)`` and ``t.reshape((2, 3))`` alike."""
    if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
        return tuple(int(n) for n in args[0])
    return tuple(int(n) for n in args)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the engine
def _whole_view(g: np.ndarray) -> bool:
    """Whether ``g`` views all of a base array that no one else holds (the base's only
    references: the view's, the local name's and getrefcount's argument)."""
    base = g.base
    return (
        type(base) is np.ndarray
        and base.base is None
        and base.size == g.size
        and sys.getrefcount(base) == 3  # (g's, the local name's, the argument's)
    )


def _topological_order(root: Tensor) -> list[Tensor]:
    """Nodes that require grad, each after all of its parents (iterative DFS)."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    pop, push, visit, emit = stack.pop, stack.append, visited.add, order.append
    while stack:
        node, expanded = pop()
        if expanded:
            emit(node)
            continue
        key = id(node)
        if key in visited:
            continue
        visit(key)
        parents = node._parents
        if not parents:  # a leaf: it would be popped right back
            emit(node)
            continue
        push((node, True))
        for parent in parents:
            if parent.requires_grad and id(parent) not in visited:
                push((parent, False))
    return order


def _seed(root: Tensor, gradient: TensorLike | None) -> np.ndarray:
    if not root.requires_grad:
        raise RuntimeError(
            "backward() called on a tensor that does not require grad "
            "(no input had requires_grad=True, or it was made under no_grad())"
        )
    if gradient is None:
        if root.data.size != 1:
            raise RuntimeError(
                f"backward() of a non-scalar tensor of shape {root.shape} needs an "
                "explicit gradient of that shape, e.g. t.backward(np.ones(t.shape))"
            )
        return np.ones_like(root.data)
    seed = np.asarray(_raw(gradient), dtype=root.dtype)
    if seed.shape != root.shape:
        raise ValueError(
            f"gradient of shape {seed.shape} does not match the tensor's shape {root.shape}"
        )
    return seed


def _backpropagate(root: Tensor, seed: Grad, wanted: set[int] | None) -> dict[int, Grad]:
    """The chain rule from ``root`` back to the leaves, one node at a time.

    ``wanted=None`` accumulates into the ``.grad`` of every leaf (``backward``);
    otherwise the total gradient of each wanted tensor (by id) is returned and
    no ``.grad`` changes.
    """
    grads: dict[int, Grad] = {id(root): seed}
    found: dict[int, Grad] = {}
    for node in reversed(_topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if wanted is not None and id(node) in wanted:
            found[id(node)] = g
        backward = node._backward
        if backward is None:
            if wanted is None:
                # The local name and getrefcount's argument are the only references to a
                # fresh array no other node, leaf or caller holds (as torch's AccumulateGrad
                # steals a gradient whose use count is 1): the leaf may keep it uncopied.
                # So is the transpose of such an array (nn.Linear's dL/dW, in W's layout):
                # a whole view of a base only it holds.
                owned = (
                    type(g) is np.ndarray
                    and g.flags.writeable
                    and sys.getrefcount(g) == 2
                    and (g.base is None or _whole_view(g))
                )
                node._accumulate(g, owned)  # type: ignore[arg-type]  # arrays outside create_graph
            continue
        pg: Grad | None
        for parent, pg in zip(node._parents, backward(g)):
            if pg is None or not parent.requires_grad:
                continue
            key = id(parent)
            grads[key] = grads[key] + pg if key in grads else pg
        pg = None  # no stray reference to the last gradient (see ``owned``)
    return found


def backprop(
    output: Tensor,
    inputs: Sequence[Tensor],
    cotangent: TensorLike | None = None,
    *,
    create_graph: bool = False,
) -> list[Grad]:
    """The gradients of ``output`` with respect to ``inputs`` (like ``torch.autograd.grad``).

    Returns v^T d(output)/d(input) for each input, with v = ``cotangent`` (1 for a
    scalar output); an input that ``output`` does not depend on gets zeros. No
    ``.grad`` is touched. With ``create_graph=True`` every primitive's backward
    runs on Tensors, so the gradients are Tensors that can be differentiated
    again (Hessian-vector products); otherwise they are arrays.
    """
    if not output.requires_grad:
        zeros = [np.zeros_like(x.data) for x in inputs]
        return [Tensor(z) for z in zeros] if create_graph else list(zeros)
    seed: Grad = _seed(output, cotangent)
    wanted = {id(x) for x in inputs}
    if create_graph:
        with enable_grad():
            found = _backpropagate(output, Tensor(seed), wanted)
    else:
        found = _backpropagate(output, seed, wanted)
    result: list[Grad] = []
    for x in inputs:
        g = found.get(id(x))
        if g is None:
            g = Tensor(np.zeros_like(x.data)) if create_graph else np.zeros_like(x.data)
        elif create_graph and not isinstance(g, Tensor):
            g = Tensor(g)
        result.append(g)
    return result


def make_result(data: np.ndarray, parents: tuple[Tensor, ...], backward: Backward) -> Tensor:
    """Wrap an op's output, recording the graph only when a parent needs it."""
    if is_grad_enabled() and any(p.requires_grad for p in parents):
        return Tensor(data, requires_grad=True, _parents=parents, _backward=backward)
    return Tensor(data)


def lift(x: TensorLike, like: Tensor | None = None) -> Tensor:
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


from descentlab.autograd import numpy_api, ops  # last: both use Tensor
