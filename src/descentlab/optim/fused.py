"""Optional compiled fast path: every elementwise rule of torch.optim's family in one pass.

The NumPy rules (``sgd.py``, ``adam.py``, ``rmsprop.py``, ...) are the definition.
Written with whole-array ufuncs, an Adam step makes about thirteen passes over
memory, and costs some ten NumPy calls per parameter: on a large model the passes
cost, on the many small arrays of a network (biases, small layers) the calls do.
When Numba is installed (``pip install 'descentlab[fast]'``) the same arithmetic,
element by element and in the same order, is compiled (``_kernels.py``) into
loops that read each array once, and a group's arrays are stepped together:

* arrays of at least :data:`PARALLEL_SIZE` elements: one loop on every core each;
* arrays from :data:`POOL_SIZE` elements on, while OpenBLAS lends its threads
  (``descentlab._blaspool``: in a training step whose products use them), one loop
  each, on those threads side by side;
* all the others: :data:`CHUNK` at a time in one compiled call (a "multi-tensor"
  step), whatever their sizes, so that a step of a model's group costs a few
  Python-level calls however many biases it has.

An Optimizer's step keeps, for each parameter group, what it found of the group's
arrays (:class:`Plan`): while the group holds the same arrays, the next steps check
only the new gradients and reuse the arrays' flat views.

The tests run the torch parity suite on both paths, and check the two against
each other bit for bit in float32 and float64.

``set_fast_path("auto" | "always" | "never")`` (or the environment variable
``DESCENTLAB_FAST_PATH``) chooses: "auto" uses the compiled loops for a parameter
group whose eligible arrays hold at least :data:`MIN_SIZE` elements together, when
Numba can be imported (a small problem, say a 2-D test function, never imports
Numba nor waits for a compilation); "always" uses them for every eligible array;
"never" keeps everything in NumPy. Eligible: float32 or float64, C-contiguous and
writable, gradient and state of the same dtype and shape, and a scalar learning
rate (an array of learning rates, one per batched problem, takes the NumPy rule).
The same switch (kept in ``descentlab._fastpath``) governs the other compiled loops:
the autograd's ReLU-dropout node and the many-start landscape runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

from descentlab._blaspool import BLOCK
from descentlab._blaspool import run as _pool_run
from descentlab._blaspool import threads as _pool_threads
from descentlab._fastpath import get_mode, load_kernels, set_mode
from descentlab.optim.params import State

#: "auto" uses the compiled loops for a group of at least this many elements in all.
MIN_SIZE = 32_768
#: from this size on an array's loop runs on every core (below it, threads cost more than
#: they save, and would compete with BLAS's own threads in a training step).
PARALLEL_SIZE = 2_000_000
#: from this size on (below PARALLEL_SIZE) an array's loop of the rules in POOLED runs on
#: OpenBLAS's threads when they are lent (``descentlab._blaspool``): in a training step
#: they are awake between products, and a loop on threads of its own would fight them.
POOL_SIZE = 65_536
POOLED = frozenset(
    {"sgd", "adam", "adamax", "nadam", "radam", "adagrad", "adadelta", "rmsprop", "rprop", "asgd"}
)
#: arrays per multi-tensor call (the tuples are padded to it: one compiled version).
CHUNK = 8
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_EMPTY = {dt: np.empty(0, dtype=dt) for dt in _FLOATS}
_TINY = {dt: float(np.finfo(dt).tiny) for dt in _FLOATS}
#: ``found``: where this thread's pooled loops record the sums of squared gradients, if anywhere
_measuring = threading.local()
#: ``plans``: the dict of :class:`Plan` of the group an Optimizer is stepping on this
#: thread (``base.Optimizer.step`` sets it; a rule called directly finds none)
_stepping = threading.local()


class Plan:
    """What :func:`split` found of one parameter group's arrays, kept for its next steps.

    A training step hands every optimizer the same parameter and state arrays, with new
    gradients. While the group holds the same arrays (the same objects, the parameters
    still writeable) and its mode of the fast path is the same, :func:`split` checks only
    the gradients, and :func:`run` reuses the arrays' flat views and the arguments of
    the pooled loops (:class:`_PoolCall`). In a training step each Python-level call
    costs several times what it costs alone (the step's own data has pushed the
    interpreter's out of the caches): the checks and views took some 60 us of the MLP
    step of ``benchmarks/mlp.py``.

    Only a group whose arrays all take the compiled loops gets a plan; it holds its
    arrays (as the optimizer does) until the next step replaces it.
    """

    __slots__ = ("calls", "chunks", "fast", "keys", "mode", "states", "thetas")

    def __init__(
        self,
        params: Sequence[np.ndarray],
        states: Sequence[State],
        keys: Sequence[str | None],
        fast: list[int],
        mode: str,
    ) -> None:
        self.thetas = list(params)
        self.states = [tuple(None if k is None else s.get(k) for k in keys) for s in states]
        self.keys = tuple(keys)
        self.fast = fast
        self.mode = mode
        self.calls: dict[int, _PoolCall] = {}  # by array: its pooled loop's arguments
        # by the arrays of a multi-tensor call: their flat views and their states'
        self.chunks: dict[tuple[int, ...], tuple[tuple[np.ndarray, ...], list[Any]]] = {}

    def holds(
        self,
        params: Sequence[np.ndarray],
        grads: Sequence[np.ndarray],
        states: Sequence[State],
        keys: Sequence[str | None],
        mode: str,
    ) -> bool:
        """Whether this step's arrays are the plan's and its gradients fit them."""
        if mode != self.mode or len(params) != len(self.thetas) or tuple(keys) != self.keys:
            return False
        for theta, kept, g, state, arrays in zip(params, self.thetas, grads, states, self.states):
            if theta is not kept or not theta.flags.writeable:
                return False
            for key, a in zip(keys, arrays):
                if key is not None and state.get(key) is not a:
                    return False
            if not (
                g.dtype == theta.dtype
                and g.shape == theta.shape
                and _same_layout(g, theta)
                and g.flags.writeable
            ):
                return False
        return True


def set_fast_path(mode: str) -> None:
    """Choose when descentlab's compiled loops are used: "auto", "always" or "never" (the
    optimizers' updates here, and every other compiled loop: see ``descentlab._fastpath``)."""
    set_mode(mode)


def get_fast_path() -> str:
    return get_mode()


def available() -> bool:
    """Whether Numba can be imported (imports it on first call)."""
    return _load() is not False


def _load() -> Any:
    """The compiled loops (``_kernels.py``, imports Numba), or False without Numba."""
    return load_kernels("descentlab.optim._kernels") or False


def usable(theta: np.ndarray, g: np.ndarray, lr: float | np.ndarray) -> bool:
    """Whether the compiled loop applies to this one parameter and learning rate alone."""
    mode = get_mode()
    if mode == "never" or (mode == "auto" and theta.size < MIN_SIZE):
        return False
    if np.ndim(lr) != 0 or not _eligible(theta, g):
        return False
    return _load() is not False


def _eligible(theta: np.ndarray, g: np.ndarray) -> bool:
    return (
        theta.dtype in _FLOATS
        and g.dtype == theta.dtype
        and g.shape == theta.shape
        and (theta.flags.c_contiguous or theta.flags.f_contiguous)
        and _same_layout(g, theta)
        and theta.flags.writeable
        and g.flags.writeable
    )


#: a state array of at least this many bytes is placed apart from its parameter (below)
APART_BYTES = 4096
_PAGE = 4096


def zeros_apart(theta: np.ndarray, slot: int = 0, fill: float = 0.0) -> np.ndarray:
    """``np.full_like(theta, fill)`` (its shape, dtype and C or Fortran order) for state
    array number ``slot`` of a parameter, its first entry ``(slot + 1)`` KiB + ``64 slot``
    bytes after ``theta``'s within a 4 KiB page.

    An update reads the parameter, its gradient and its states at the same index. Arrays
    of a whole number of pages (a 256 x 784 float32 weight is 196) come from the heap one
    after another at the same offset within a page, so all of them fall in the same sets
    of the L1 cache: Adam's step over an MLP's parameters took 155 us so, 124 us with its
    moments placed apart (AMD Zen 4, one thread). A smaller array, or a parameter that is
    not contiguous, gets a plain array."""
    if theta.nbytes < APART_BYTES or not (theta.flags.c_contiguous or theta.flags.f_contiguous):
        return np.full_like(theta, fill)
    order: Literal["C", "F"] = "C" if theta.flags.c_contiguous else "F"
    buffer = np.zeros(theta.nbytes + _PAGE, dtype=np.uint8)
    start = (theta.ctypes.data + 1024 * (slot + 1) + 64 * slot - buffer.ctypes.data) % _PAGE
    start -= start % theta.itemsize  # (both are aligned: a no-op but for odd layouts)
    out = buffer[start : start + theta.nbytes].view(theta.dtype).reshape(theta.shape, order=order)
    if fill != 0.0:
        out.fill(fill)
    return out


def _state_ok(a: Any, theta: np.ndarray) -> bool:
    return (
        isinstance(a, np.ndarray)
        and a.dtype == theta.dtype
        and a.shape == theta.shape
        and _same_layout(a, theta)
        and a.flags.writeable
    )


def _same_layout(a: np.ndarray, theta: np.ndarray) -> bool:
    """Whether ``a`` is contiguous in the order ``theta`` is (C, or Fortran as
    ``nn.Linear`` keeps its weights), so that both flatten to views entry for entry."""
    return a.flags.c_contiguous if theta.flags.c_contiguous else a.flags.f_contiguous


def _flat(a: np.ndarray) -> np.ndarray:
    """A contiguous array as a 1-D view in its memory order."""
    return a.reshape(-1) if a.flags.c_contiguous else a.T.reshape(-1)


def split(
    params: Sequence[np.ndarray],
    grads: Sequence[np.ndarray],
    states: Sequence[State],
    keys: Sequence[str | None],
    lr: float | np.ndarray,
) -> tuple[list[int], list[int]]:
    """The indices of the arrays the compiled loops take, and of those left to NumPy.

    ``keys`` names the state arrays the rule's loop reads (``None``: one it does not
    use with these settings); an array whose state lacks one of them takes NumPy.
    """
    everything = list(range(len(params)))
    mode = get_mode()
    if mode == "never" or np.ndim(lr) != 0:
        return [], everything
    plans = getattr(_stepping, "plans", None)
    if plans is not None:
        plan = plans.get("plan")
        if plan is not None and plan.holds(params, grads, states, keys, mode):
            return plan.fast, []
        plans.pop("plan", None)
    fast: list[int] = []
    slow: list[int] = []
    total = 0
    for i, (theta, g, state) in enumerate(zip(params, grads, states)):
        if _eligible(theta, g) and all(k is None or _state_ok(state.get(k), theta) for k in keys):
            fast.append(i)
            total += theta.size
        else:
            slow.append(i)
    if not fast or (mode == "auto" and total < MIN_SIZE) or _load() is False:
        return [], everything
    if plans is not None and not slow:
        plans["plan"] = Plan(params, states, keys, fast, mode)
    return fast, slow


def run(
    name: str,
    fast: Sequence[int],
    params: Sequence[np.ndarray],
    grads: Sequence[np.ndarray],
    states: Sequence[State],
    keys: Sequence[str | None],
    coefs: Sequence[tuple[float, ...]],
    shared: tuple[float | bool, ...],
) -> None:
    """One step of rule ``name`` on the arrays ``fast`` (from :func:`split`).

    ``coefs[k]`` is the row of per-parameter scalars of ``params[fast[k]]`` (bias
    corrections of its step count, ...), ``shared`` the group's settings in the
    order of the kernel's arguments; the dtype's smallest normal number is appended.
    """
    kernels = _load()
    batches: dict[np.dtype, list[int]] = {}
    lent = _pool_threads() if name in POOLED else 1
    plans = getattr(_stepping, "plans", None)
    plan: Plan | None = None if plans is None else plans.get("plan")
    if plan is not None and plan.fast is not fast:
        plan = None  # (split did not give this step the plan's arrays)
    for k, i in enumerate(fast):
        theta = params[i]
        if lent > 1 and POOL_SIZE <= theta.size < PARALLEL_SIZE:
            state = states[i]
            arrays = [None if key is None else state[key] for key in keys]  # type: ignore[literal-required]
            call = None if plan is None else plan.calls.get(i)
            call = _pooled(kernels, name, theta, grads[i], arrays, coefs[k], shared, lent, call)
            if plan is not None:
                plan.calls[i] = call
        elif theta.size >= PARALLEL_SIZE:
            loop = getattr(kernels, f"{name}_parallel")
            state = states[i]
            loop(
                _flat(theta),
                _flat(grads[i]),
                *[_EMPTY[theta.dtype] if key is None else _flat(state[key]) for key in keys],  # type: ignore[literal-required]
                np.array(coefs[k], dtype=np.float64),
                *shared,
                _TINY[theta.dtype],
            )
        else:
            batches.setdefault(theta.dtype, []).append(k)
    if not batches:
        return
    multi = getattr(kernels, f"{name}_multi")
    for dtype, ks in batches.items():
        empty = _EMPTY[dtype]
        for start in range(0, len(ks), CHUNK):
            chunk = ks[start : start + CHUNK]
            pad = (empty,) * (CHUNK - len(chunk))
            members = tuple([fast[k] for k in chunk])
            kept = None if plan is None else plan.chunks.get(members)
            if kept is None:
                kept = (
                    tuple([_flat(params[i]) for i in members]) + pad,
                    [
                        (empty,) * CHUNK
                        if key is None
                        else tuple([_flat(states[i][key]) for i in members]) + pad  # type: ignore[literal-required]
                        for key in keys
                    ],
                )
                if plan is not None:
                    plan.chunks[members] = kept
            thetas, state_arrays = kept
            arrays = [thetas, tuple([_flat(grads[i]) for i in members]) + pad, *state_arrays]
            rows = [coefs[k] for k in chunk]
            coef = np.array(rows + rows[:1] * (CHUNK - len(rows)), dtype=np.float64)
            multi(*arrays, coef, *shared, _TINY[dtype])


def _address(a: np.ndarray) -> int:
    address: int = a.__array_interface__["data"][0]
    return address


class _PoolCall:
    """What a pooled loop over one array takes, kept by a :class:`Plan` from one step to the
    next: its descriptor (the arrays' sizes and addresses) and its numbers (the scalars),
    both arrays whose addresses the loop reads, those addresses, and the compiled job. The
    next step sets only what changed: the gradient's address and the per-step scalars (the
    group's settings too, if a scheduler changed them). Built anew each step, they took a
    warm Adam step over the MLP of ``benchmarks/mlp.py`` from 98 to 105 us, and in the
    training step, where each Python-level call costs several times more, the Python of
    the pooled loop came to about 40 us (instrumented)."""

    __slots__ = ("desc", "desc_at", "job", "nums", "nums_at", "shared")

    def __init__(
        self,
        kernels: Any,
        name: str,
        theta: np.ndarray,
        states: Sequence[np.ndarray | None],
        row: tuple[float, ...],
        shared: tuple[float | bool, ...],
    ) -> None:
        where = [theta.size, _address(theta), 0]
        where += [0 if a is None else _address(a) for a in states]
        self.desc = np.array([*where, 0], dtype=np.int64)
        self.desc_at = _address(self.desc)
        self.job = kernels.job(name, theta.dtype.name, len(states), len(row), len(shared))
        self.set_numbers(row, shared, _TINY[theta.dtype])

    def set_numbers(
        self, row: tuple[float, ...], shared: tuple[float | bool, ...], tiny: float
    ) -> None:
        self.nums = np.array([*row, *shared, tiny], dtype=np.float64)
        self.nums_at = _address(self.nums)
        self.shared = shared


def _pooled(
    kernels: Any,
    name: str,
    theta: np.ndarray,
    grad: np.ndarray,
    states: Sequence[np.ndarray | None],
    row: tuple[float, ...],
    shared: tuple[float | bool, ...],
    threads: int,
    call: _PoolCall | None = None,
) -> _PoolCall:
    """One step of rule ``name`` on one array, on ``threads`` of OpenBLAS's threads.

    ``call``: what an earlier step of the same arrays returned (its job, descriptor and
    numbers), whose gradient, scalars and sums entries are set again here; returned.
    """
    found = getattr(_measuring, "found", None)
    sums = None if found is None else np.empty(-(-theta.size // BLOCK))
    if call is None:
        call = _PoolCall(kernels, name, theta, states, row, shared)
    elif shared != call.shared:
        call.set_numbers(row, shared, _TINY[theta.dtype])
    else:
        nums = call.nums
        for j, value in enumerate(row):
            nums[j] = value
    desc = call.desc
    desc[2] = _address(grad)
    desc[-1] = 0 if sums is None else _address(sums)
    _pool_run(call.job, theta.size, call.desc_at, call.nums_at, threads)
    if found is not None and sums is not None:
        found[id(grad)] = float(sums.sum())
    return call


def pool_lent() -> bool:
    """Whether large arrays' loops would run on OpenBLAS's threads now (see _blaspool)."""
    return _pool_threads() > 1


class gradient_squares:  # (a lower-case name: it is used like a function)
    """Within it, a loop that steps an array on OpenBLAS's threads also sums the squares
    of the gradient it reads, and records the sum in the dict yielded, under the
    gradient's ``id``: see :func:`squared_norm`. It sums them chunk by chunk right after
    stepping the chunk, from L1, where a later ``np.dot`` would fetch again a gradient
    that the products had just spread over the cores' caches (40 us a step for the first
    layer of ``benchmarks/mlp.py``'s MLP). The sum's last bits are the machine's (SIMD
    lanes).

    A class, not a ``contextlib`` generator: a training step enters it once, and between
    the products the generator's machinery took 11-12 us a step where this takes a few.
    """

    __slots__ = ("_found", "_previous")

    def __enter__(self) -> dict[int, float]:
        self._found: dict[int, float] = {}
        self._previous = getattr(_measuring, "found", None)
        _measuring.found = self._found
        return self._found

    def __exit__(self, *exc: object) -> None:
        _measuring.found = self._previous


def squared_norm(grads: Sequence[np.ndarray], found: Mapping[int, float]) -> float:
    """The sum of the squares of every entry of ``grads`` (alive since the step that filled
    ``found``, of :func:`gradient_squares`): from ``found`` for those a loop summed; where
    some were, the others of float dtypes in one compiled call, else by ``np.dot``."""
    total = 0.0
    rest: dict[np.dtype, list[np.ndarray]] = {}
    for g in grads:
        known = found.get(id(g))
        if known is not None:
            total += known
        elif found and (dtype := g.dtype) in _FLOATS:  # (native float32 and float64)
            rest.setdefault(dtype, []).append(g.ravel("K"))  # (a copy where not contiguous)
        else:
            flat = g.ravel("K")
            total += float(np.dot(flat, flat))
    if rest:
        kernels = _load()
        for dtype, arrays in rest.items():
            pad = (_EMPTY[dtype],)
            for start in range(0, len(arrays), CHUNK):
                chunk = arrays[start : start + CHUNK]
                total += kernels.squares_multi(tuple(chunk) + pad * (CHUNK - len(chunk)))
    return total


def rows_by_step(
    fast: Sequence[int], states: Sequence[State], row: Callable[[int], tuple[float, ...]]
) -> list[tuple[float, ...]]:
    """``row(t)`` for each array of ``fast`` at its step count t, computed once per t."""
    memo: dict[int, tuple[float, ...]] = {}
    out = []
    for i in fast:
        t = states[i]["step"]
        r = memo.get(t)
        if r is None:
            r = memo[t] = row(t)
        out.append(r)
    return out
