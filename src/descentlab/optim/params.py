"""What an optimizer works on: parameters, their state, and the checks of their values.

A *parameter* is any object with a ``.data`` NumPy array (updated in place, never
rebound) and a ``.grad`` attribute that is an array of the same shape or ``None``
(:class:`ParamLike`): a ``descentlab.Parameter``, or the tiny :class:`ArrayParam`
holder here. This module names those types once (parameter groups, per-parameter
``State``, ``state_dict()``'s layout), keeps the reusable work buffers of the update
rules (:func:`scratch_like`), and checks what a caller hands an optimizer (shared
memory, complex data, negative numbers). :mod:`descentlab.optim.base` builds the
``Optimizer`` on it.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, MutableMapping
from typing import Protocol, SupportsFloat, SupportsIndex, TypedDict, cast

import numpy as np

__all__ = [
    "MOMENT_FLOOR",
    "ArrayParam",
    "Closure",
    "HyperValue",
    "LearningRate",
    "ParamGroup",
    "ParamLike",
    "Params",
    "State",
    "StateDict",
    "check_interval",
    "check_nonnegative",
    "flush_subnormal_",
    "group_params",
    "scratch_like",
]


class ParamLike(Protocol):
    """What an optimizer updates: ``data`` in place, given ``grad`` (``None``: skipped)."""

    data: np.ndarray
    grad: np.ndarray | None


#: eta: one number, or an array broadcastable against the parameter (one eta per problem)
LearningRate = float | np.ndarray
#: the value of one hyperparameter (``lr``, ``betas``, ``nesterov``, ...) or setting
HyperValue = float | int | bool | str | np.ndarray | tuple[float, ...] | None
#: a parameter group: ``"params"`` (a list of :class:`ParamLike`) and hyperparameter values
ParamGroup = dict[str, object]
#: what an optimizer takes: parameters, or parameter groups
Params = Iterable[ParamLike] | Iterable[ParamGroup]
#: re-evaluates the model (zeroing and recomputing the gradients) and returns the loss
Closure = Callable[[], object]


class State(TypedDict, total=False):
    """One parameter's state, named after the mathematics; each rule fills the keys it uses.

    Arrays are shaped like the parameter unless said otherwise. The one place that lists
    every optimizer's state, so that a rule reads ``state["exp_avg"]`` as an array.
    """

    step: int  # t, the number of steps taken
    # first and second moments (Adam family, RMSprop, Adadelta, Adamax, Lion, Prodigy)
    exp_avg: np.ndarray  # m_t
    exp_avg_sq: np.ndarray  # v_t
    max_exp_avg_sq: np.ndarray  # max_t v_t (AMSGrad)
    exp_inf: np.ndarray  # u_t (Adamax)
    mu_product: float  # prod_i mu_i (NAdam)
    square_avg: np.ndarray  # E[g^2] (RMSprop, Adadelta)
    acc_delta: np.ndarray  # E[dx^2] (Adadelta)
    grad_avg: np.ndarray  # E[g] (centered RMSprop)
    momentum_buffer: np.ndarray  # b_t (SGD, RMSprop, Muon)
    # Adagrad and AdaGrad-Norm
    sum: np.ndarray  # G_t = sum of g^2
    sum_sq_norm: float | np.ndarray  # b_t^2 = sum of ||g||^2 (one per row when batched)
    # ASGD
    eta: float | np.ndarray
    mu: float
    ax: np.ndarray  # the averaged iterate
    # Rprop
    prev: np.ndarray  # the previous gradient
    step_size: np.ndarray
    # Schedule-Free: z, the base sequence
    z: np.ndarray
    # Prodigy
    s: np.ndarray
    p0: np.ndarray  # the initial point, flattened
    # Adafactor: factored second moments
    row_var: np.ndarray
    col_var: np.ndarray
    variance: np.ndarray
    # LBFGS (on its first parameter): direction, step, curvature pairs, counters
    func_evals: int
    n_iter: int
    d: np.ndarray
    t: float
    old_dirs: list[np.ndarray]
    old_stps: list[np.ndarray]
    ro: list[float]
    al: list[float | None]
    H_diag: float
    prev_flat_grad: np.ndarray
    prev_loss: float


class StateDict(TypedDict):
    """What :meth:`Optimizer.state_dict` returns: parameters are numbered 0, 1, ..."""

    state: dict[int, dict[str, object]]  # parameter id -> its State (copies)
    param_groups: list[dict[str, object]]  # each group's settings; "params": the ids


_SCRATCH_MIN_SIZE = 1 << 16  # smaller temporaries are cheap to allocate
_SCRATCH_SLOTS = 8
_scratch_local = threading.local()


def scratch_like(a: np.ndarray, slot: int = 0) -> np.ndarray:
    """An uninitialised work array shaped like ``a``, reused across steps for big arrays.

    Allocating a fresh 40 MB temporary every step costs page faults that dominate a
    large update; a rule asks for ``slot`` 0, 1, ... for temporaries alive at the
    same time. The cache is per thread and holds a few recent buffers.
    """
    if a.size < _SCRATCH_MIN_SIZE:
        return np.empty_like(a)
    cache = getattr(_scratch_local, "cache", None)
    if cache is None:
        cache = _scratch_local.cache = OrderedDict()
    key = (a.shape, a.dtype.str, slot)
    buf = cache.get(key)
    if buf is None:
        buf = cache[key] = np.empty(a.shape, dtype=a.dtype)
        while len(cache) > _SCRATCH_SLOTS:
            cache.popitem(last=False)
    else:
        cache.move_to_end(key)
    return buf


class ArrayParam:
    """A minimal parameter: a NumPy array ``data`` and its gradient ``grad``.

    >>> p = ArrayParam(np.array([1.0, -2.0]))
    >>> p.grad = 2 * p.data          # gradient of ||x||^2

    A floating array is kept as it is (updates happen in place, in the caller's
    array); integers and booleans become a float64 copy. Complex or non-numeric
    data raise TypeError: the update rules are for real numbers, and a cast would
    silently drop the imaginary parts.
    """

    __slots__ = ("data", "grad")

    def __init__(self, data: np.ndarray | float | Iterable[float]) -> None:
        array = np.asarray(data)
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"ArrayParam needs an array of real numbers, got dtype {array.dtype}"
                + (" (the imaginary parts would be dropped)" if array.dtype.kind == "c" else "")
            )
        self.data: np.ndarray = array if array.dtype.kind == "f" else array.astype(np.float64)
        self.grad: np.ndarray | None = None

    def __repr__(self) -> str:
        return f"ArrayParam({self.data!r})"


class _ParamState(MutableMapping[ParamLike, State]):
    """Dict keyed by parameter *identity* (parameters need not be hashable)."""

    def __init__(self) -> None:
        self._items: dict[int, tuple[ParamLike, State]] = {}

    def __getitem__(self, param: ParamLike) -> State:
        try:
            return self._items[id(param)][1]
        except KeyError:
            raise KeyError(param) from None

    def __setitem__(self, param: ParamLike, value: State) -> None:
        self._items[id(param)] = (param, value)

    def __delitem__(self, param: ParamLike) -> None:
        del self._items[id(param)]

    def __iter__(self) -> Iterator[ParamLike]:
        return (param for param, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def setdefault(self, param: ParamLike, default: State | None = None) -> State:
        entry = self._items.get(id(param))
        if entry is None:
            entry = self._items[id(param)] = (param, {} if default is None else default)
        return entry[1]


def group_params(group: ParamGroup) -> list[ParamLike]:
    """The parameters of a group built by :meth:`Optimizer.add_param_group`."""
    return cast("list[ParamLike]", group["params"])


def _as_param(param: object) -> ParamLike:
    """``param`` itself, once checked to be a parameter of floating-point data."""
    data = getattr(param, "data", None)
    if isinstance(param, np.ndarray) or not isinstance(data, np.ndarray):
        raise TypeError(
            "optimizer params must be objects with a .data ndarray and a .grad attribute "
            f"(e.g. descentlab.Parameter or descentlab.optim.ArrayParam), got "
            f"{type(param).__name__}; wrap a plain array as ArrayParam(array)"
        )
    if data.dtype.kind != "f":
        raise TypeError(
            f"optimizer params must hold floating-point arrays (updated in place), got a "
            f"{type(param).__name__} of dtype {data.dtype}"
        )
    return cast(ParamLike, param)


def _memory_owner(a: np.ndarray) -> int:
    """Identity of the buffer under ``a`` (views of one array share it)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return id(a.base if a.base is not None else a)


def _check_no_shared_memory(params: list[ParamLike]) -> None:
    """Two parameters over the same memory would each be stepped: a doubled step, silently."""
    by_owner: dict[int, list[tuple[int, ParamLike]]] = {}
    for i, p in enumerate(params):
        by_owner.setdefault(_memory_owner(p.data), []).append((i, p))
    for group in by_owner.values():
        for k, (i, p) in enumerate(group):
            for j, q in group[:k]:
                if p is q or np.shares_memory(p.data, q.data):
                    raise ValueError(
                        f"optimizer parameters {j} and {i} share memory (the same array, or "
                        f"views of one array, e.g. a Parameter and a slice of it): each would "
                        f"be updated, doubling the step; pass every array once"
                    )


def _nonnegative(value: object) -> bool:
    """True when every entry of ``value`` is a number >= 0 (False for NaN)."""
    try:
        return bool(np.all(np.asarray(value, dtype=float) >= 0.0))
    except (TypeError, ValueError):
        return False


def check_nonnegative(name: str, value: object, *, array_ok: bool = False) -> None:
    """Raise ValueError unless ``value`` is a number >= 0 (an array of them if ``array_ok``)."""
    if not array_ok and np.asarray(value).ndim != 0:
        raise ValueError(f"Invalid {name} value: {value!r}; expected a number >= 0")
    if not _nonnegative(value):
        expected = "a number >= 0" + (" or an array of them" if array_ok else "")
        raise ValueError(f"Invalid {name} value: {value!r}; expected {expected}")


def check_interval(name: str, value: object, low: float, high: float, *, closed_high: bool) -> None:
    """Raise ValueError unless low <= value <= high (or < high)."""
    bracket = "]" if closed_high else ")"
    try:
        v = float(value) if isinstance(value, (SupportsFloat, SupportsIndex, str)) else math.nan
    except (TypeError, ValueError):
        v = math.nan
    ok = low <= v <= high if closed_high else low <= v < high
    if not ok:
        raise ValueError(
            f"Invalid {name} value: {value!r}; expected a number in [{low}, {high}{bracket}"
        )


#: A first moment (Adam's, NAdam's, RAdam's, Adamax's) or momentum buffer (SGD's,
#: RMSprop's) smaller in size than
#: this many times the smallest normal number is flushed to 0 (see :func:`flush_subnormal_`).
MOMENT_FLOOR = 2.0**24


def flush_subnormal_(a: np.ndarray, buf: np.ndarray | None = None, floor: float = 1.0) -> None:
    """Set the entries of ``a`` smaller in size than ``floor`` x the smallest normal number
    to 0 (by default: the subnormal ones).

    A running average whose gradient stays 0 (a dead ReLU unit) decays into the
    subnormal range and stays there: beta x (smallest subnormal) rounds back to itself.
    Arithmetic on subnormals is some 25 x slower on x86; it made a whole Adam epoch
    2.3 x as long as an SGD one. A subnormal average changes a step by less than 1e-30,
    so the rules of SGD's momentum and Adam's moments flush it (the compiled kernels
    alike): the one place where descentlab departs from PyTorch, below float32's
    smallest normal 1.2e-38 (float64's 2.2e-308).

    A first moment or momentum buffer is flushed earlier, below :data:`MOMENT_FLOOR` x
    the smallest normal (2^-102 = 2.0e-31 in float32, 2^-998 in float64). On its way
    down it is multiplied by the step size (lr / (1 - beta1^t), or lr) and by 1 - beta1:
    products under the smallest normal, as slow as arithmetic on subnormals, for every
    factor of 2^-24 or more in them. An Adam step over an MLP whose units had died took
    10-20 x as long for some hundred steps. Such a moment changes a step by less than
    1e-22 (with lr 1e-3 and eps 1e-8).
    """
    if a.dtype.kind != "f":
        return
    tiny = np.finfo(a.dtype).tiny * floor
    scratch = np.abs(a, out=buf) if buf is not None else np.abs(a)
    np.copyto(a, 0, where=scratch < tiny)
