"""Matrix products of the autograd layer, each run with the BLAS threads that suit it.

Every product of ``ops.linear`` and ``ops.matmul`` goes through :func:`matmul`.
NumPy's OpenBLAS runs a product on all its threads by default. On a machine with
few cores that is not always faster: on a 2-vCPU virtual machine whose other core
is busy, a product of a training step took 24 ms on two threads and 0.7 ms on one,
because OpenBLAS waits for a thread that cannot run; on the same machine idle,
two threads were 1.3-1.6 x faster than one. No fixed rule (by size, by machine)
gets both right, so the choice is measured, per product shape, while it runs. And
it must not change the numbers: a seeded run gives the same bits every time, in this
process, in a sweep's worker processes (one BLAS thread each) and on a Ray cluster.

- A product smaller than OpenBLAS's own threading threshold (m n k < 262,144)
  runs as it is: OpenBLAS uses one thread for it anyway.
- A larger product (2-D, float32 or float64, a layout BLAS reads as it is) has a plan
  in fixed parts: the rows (or columns) of its output cut by a rule of its shape
  alone (``blas_parts``), each part a product on one thread, run on one thread in
  turn or side by side on OpenBLAS's pool, with the same bits either way. Whether the
  parts give the bits of the whole product is checked once per shape and layout (on
  random operands of its shape and layout: two extra products).
- If they do, one thread runs the whole product (it saves the parts' overhead), and
  all threads run the whole product too if it gives one thread's bits there (checked
  the same way; OpenBLAS's own split shares its packed panels between its threads),
  else the parts side by side.
- If they do not, a product from ``SPLIT_WORK`` multiply-adds on always runs in
  parts; a smaller one runs whole, and on one thread, always, if all threads give
  other bits (OpenBLAS's threaded kernels split the work in another order on some
  machines; its Haswell/Zen kernels do for the products of an MLP).
- Where all threads may be used, the first ten calls of a shape alternate one thread
  and all threads (the number BLAS is set to: the user's setting, or the default of
  all cores). The first two warm up (the first call on all threads may start them);
  of the others, the best time on one thread and the median on all threads are
  compared, and the faster wins (one thread on a tie within 5 %: it leaves the other
  cores free). A stall on all threads (4 x one thread's time) ends the calibration
  on one thread at once.
- All threads stay chosen while their running mean time beats one thread's and
  they do not stall twice in a row of sixteen calls.
- While one thread is chosen, all threads are tried again now and then, so that a
  change of load is noticed: after a try that confirms one thread, the next comes
  twice as late (from 0.25 s to 16 s). What a try (or a spell on all threads, or a
  calibration) cost beyond one thread holds back the tries and the calibrations of
  every shape until it is 2 % of the time since: on a busy machine the shapes of a
  model share one budget (one try at 24 ms waits 1.2 s). These times are the time
  descentlab's products took, not the wall clock, so other work between the products
  buys no extra tries. A try that
  stalls is charged 40 ms more, for OpenBLAS's threads, which spin about 0.1 s after
  a product before they sleep and take that time from a busy machine's other work.

- Each product's own time can favour all threads while the step as a whole loses: on
  a 2-vCPU VM whose second vCPU slowed to about 60 % for seconds at a time, every
  product of an MLP was still faster on two threads, but its epoch took 1.15-1.2 x one
  thread's. So the whole step is checked too, by the time between calls of one product
  shape (the first to run on all threads): now and then (from 1 s to 8 s apart) 16 of
  its calls as chosen, then 16 with every product on one thread; one thread for every
  product stays while its median time between calls is 5 % shorter, until the next
  check. When that shape stops running while others run (the user trains another
  model, or evaluates with another batch size) for 1 s or 16 of its usual intervals,
  whichever is longer, the check forgets it, puts every product back on its own
  choice, and times the steps again by the next shape on all threads: a setting made
  for one model is not kept for another.

The thread count is changed only around descentlab's own products and restored at
once: NumPy code of the user, other libraries and products in other threads see
the setting they had (a product of another Python thread that starts during one of
ours may run on one thread; it still gives the same numbers). A limit the user sets
(``threadpoolctl.threadpool_limits(1)``, ``OPENBLAS_NUM_THREADS=1``) is respected:
the policy only ever chooses between one thread and that limit.

The policy needs threadpoolctl (in the ``fast`` extra) to find NumPy's OpenBLAS;
without it, or with another BLAS, products run as NumPy runs them. Choose with
:func:`set_policy` or the environment variable ``DESCENTLAB_BLAS_THREADS``:
``"auto"`` (default, the above), ``"inherit"`` (leave BLAS alone: whole products on
the threads BLAS is set to) or ``"1"`` (one thread, in turn, for descentlab's products).
"""

from __future__ import annotations

import ctypes
import os
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from descentlab._blaspool import attach as _attach
from descentlab._blaspool import set_mode as _set_pool_mode
from descentlab._blaspool import set_on_all as _set_on_all
from descentlab.autograd.blas_parts import Batch, Parts, find_batch

#: OpenBLAS runs products with m n k below this on one thread by itself.
MIN_WORK = 262_144
#: Products from this m n k on run in fixed parts when their shape allows, even if the
#: parts do not give the whole product's bits; smaller ones only if they do.
SPLIT_WORK = 1 << 23
_POLICIES = ("auto", "inherit", "1")
_TIE = 1.05  # all threads must be this much faster than one to be chosen
_FIRST_PROBE_S = 0.25
_LAST_PROBE_S = 16.0
_PROBE_BUDGET = 0.02  # probes may cost at most this fraction of the time between them
_CALIBRATION_CALLS = 10  # one, all, one, all, ...; the first pair warms up, uncounted
_WEIGHT = 1 / 1024  # of a call in the running mean time on all threads
_STALL = 4.0  # a call on all threads this much slower than one thread is a stall
_STALL_WINDOW = 16  # two stalls among this many calls on all threads: back to one
_STALL_MASK = (1 << _STALL_WINDOW) - 1
# After a product, OpenBLAS's threads wait for the next one spinning (sched_yield) for
# 2^28 clock ticks, about 0.1 s, before they sleep: on a busy machine they take that
# time from its other work, descentlab's own included. A try of all threads that
# stalls is charged this much more, so that such tries stay within the budget.
_SPIN_COST = 0.04
_CHECK_BYTES = 64 << 20  # operands up to this size are checked on random copies
# The whole step's check (``Policy.check_steps``): a window of this many calls of one
# product shape on all threads (each as chosen), then as many with every product on one
# thread; the faster window's setting runs until the next check, this many seconds of
# the clock later, doubled each time a check keeps the setting.
_STEP_WINDOW = 16
_FIRST_STEP_CHECK_S = 1.0
_LAST_STEP_CHECK_S = 8.0
# The reference shape is gone once other shapes have run for this many of its usual
# intervals between calls (a running mean), and at least _FIRST_STEP_CHECK_S, without it.
_GONE_INTERVALS = 16
_GAP_WEIGHT = 1 / 8  # of an interval in that running mean


def _env_policy() -> str:
    value = os.environ.get("DESCENTLAB_BLAS_THREADS", "auto").strip().lower()
    return value if value in _POLICIES else "auto"


class _OpenBLAS:
    """The get/set thread-count functions of the OpenBLAS NumPy uses, called directly."""

    def __init__(
        self, get: Callable[[], int], set_: Callable[[int], Any], batch: Batch | None = None
    ) -> None:
        self.get = get
        self.set = set_
        self.batch = batch  # its batch products, for products in parts
        self.dynlib: Any = None  # the library and its openblas_get_config text
        self.config = ""
        self._lock = threading.Lock()
        self._depth = 0
        self._saved = 0

    def current(self) -> int:
        """The thread count outside descentlab's own one-thread products."""
        with self._lock:
            return self._saved if self._depth else int(self.get())

    def enter_one(self) -> None:
        with self._lock:
            if self._depth == 0:
                self._saved = int(self.get())
                self.set(1)
            self._depth += 1

    def exit_one(self) -> None:
        with self._lock:
            self._depth -= 1
            if self._depth == 0:
                self.set(self._saved)


def _find_openblas() -> _OpenBLAS | None:
    """NumPy's OpenBLAS, through threadpoolctl; None if either is missing."""
    try:
        from threadpoolctl import ThreadpoolController
    except ImportError:
        return None
    try:
        controllers = ThreadpoolController().select(internal_api="openblas").lib_controllers
    except Exception:  # noqa: BLE001  (a broken library scan must not break a product)
        return None
    # the library NumPy loaded (wheels: numpy.libs/), not another package's
    ours = [
        lib
        for lib in controllers
        if "numpy"
        in os.path.basename(os.path.dirname(os.path.realpath(getattr(lib, "filepath", "") or "")))
    ]
    if not ours and len(controllers) == 1:
        ours = controllers  # a system OpenBLAS that NumPy links to
    for lib in ours:
        prefix = getattr(lib, "_symbol_prefix", "")
        suffix = getattr(lib, "_symbol_suffix", "")
        try:
            get = getattr(lib.dynlib, f"{prefix}openblas_get_num_threads{suffix}")
            set_ = getattr(lib.dynlib, f"{prefix}openblas_set_num_threads{suffix}")
        except AttributeError:
            continue
        if getattr(lib, "threading_layer", "") == "openmp":
            return None  # per-thread limits; nothing to gain from the policy
        blas = _OpenBLAS(get, set_)
        blas.enter_one()  # (find_batch tries a product: on one thread, it cannot stall)
        try:
            config = getattr(lib.dynlib, f"{prefix}openblas_get_config{suffix}")
            config.restype = ctypes.c_char_p
            text = config().decode("ascii", "replace")
            blas.dynlib, blas.config = lib.dynlib, text
            blas.batch = find_batch(lib.dynlib, prefix, suffix, text)
        except (AttributeError, OSError):
            blas.batch = None
        finally:
            blas.exit_one()
        return blas
    return None


class _Product:
    """How a product shape and layout runs: its plan in fixed parts (``parts``, None:
    whole products only), and whether the parts give the whole product's bits
    (``exact``). If they do, the whole product runs on one thread (``in_turn`` None:
    it saves the parts' overhead), and on all threads too if it keeps the bits there
    (OpenBLAS's own split shares its packed panels between its threads: it is faster
    than the parts where it may be used); if they do not, the parts run either way."""

    __slots__ = ("exact", "in_turn", "parts", "shapes")

    def __init__(self, parts: Parts | None, exact: bool) -> None:
        self.parts = parts
        self.exact = exact
        self.in_turn = None if exact else parts
        self.shapes: dict[int, _Shape] = {}  # by thread count


class _Shape:
    """What the policy knows of one product shape: times on one and on all threads."""

    __slots__ = (
        "all",
        "best",
        "calls",
        "choice",
        "excess",
        "interval",
        "next_probe",
        "one",
        "recent",
        "same_bits",
        "side_by_side",
        "stalls",
        "tries",
    )

    def __init__(self) -> None:
        self.calls = 0
        self.tries = 0  # calls on all threads while calibrating
        self.one: list[float] = []  # the last three times on one thread
        self.all = 0.0  # the running mean time on all threads since they were chosen
        self.choice = 0  # 0 undecided, 1 one thread, 2 all threads
        self.next_probe = 0.0  # when one thread is chosen: when to try all threads again
        self.interval = _FIRST_PROBE_S
        self.excess = 0.0  # what all threads cost beyond one thread since then
        self.recent: list[float] = []  # the calibration's times on all threads
        self.best = 0.0  # on all threads: one thread's best time when they were chosen
        self.stalls = 0  # on all threads: bit i set if the call i calls back stalled
        self.same_bits = True  # whether all threads give one thread's bits
        self.side_by_side: Parts | None = None  # what runs on all threads (None: whole)


class Policy:
    """The per-shape choice between one thread and all threads, measured as it runs.

    On one thread a product takes about the same time at every call; on all threads
    it is often faster but, on a loaded machine, now and then 10-50 x slower. So one
    thread is judged by its best recent time, and all threads by a running mean
    since they were last chosen (each call weighing 1/1024: a rare stall costs less
    than the gain of the calls around it) and by their stalls (4 x one thread's
    time): two among the last sixteen calls send the shape back to one thread at
    once. While one thread is in
    use, all threads are tried again after the probe interval: a try that loses,
    or a spell on all threads that cost more than one thread would have, doubles it
    (0.25 s to 16 s); a spell that saved time resets it; and no shape tries again
    before the last spell's, try's or calibration's cost beyond one thread (a stalled
    try's with ``_SPIN_COST`` added) is 2 % of the time since.

    That schedule runs on the time the products governed here have taken (``spent``), not
    on the wall clock: the budget is 2 % of descentlab's own products, however much other
    work (the user's, another library's, an evaluation pass) runs between them.

    ``blas`` is the OpenBLAS handle (None: products run as NumPy runs them) and
    ``clock`` the time source; both are parameters so that the tests can replace them.
    """

    def __init__(
        self,
        blas: _OpenBLAS | None,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.blas = blas
        self.clock = clock
        self.products: dict[tuple[Any, ...], _Product] = {}
        self.on_all = 0  # shapes whose choice is all threads now
        self.publish = False  # tell descentlab._blaspool (the process's policy does)
        self.spent = 0.0  # seconds the products timed by _learn took: the schedule's clock
        self.quiet_until = 0.0  # no shape tries all threads before this (one budget for all)
        # the whole step's check (the process's policy makes it; see the module)
        self.check_steps = False
        self.all_one = False  # every product on one thread (the check found it faster)
        self._ref: _Shape | None = None  # the shape whose calls time the steps
        self._ref_seen = 0.0  # the clock at its last call
        self._ref_gap = 0.0  # the running mean time between its calls (0: none yet)
        self._window = 0  # 0: no check; 1: timing the setting in use; 2: the other one
        self._gaps: list[float] = []  # the window's times between calls of the reference
        self._in_use = 0.0  # their median in the first window
        self._next_check = 0.0
        self._check_interval = _FIRST_STEP_CHECK_S
        self._lock = threading.Lock()

    @property
    def shapes(self) -> dict[tuple[Any, ...], _Shape]:
        """Every shape's record, by (a's shape, b's shape, dtype, a's strides, b's strides,
        thread count)."""
        return {
            (*layout, threads): shape
            for layout, product in list(self.products.items())
            for threads, shape in list(product.shapes.items())
        }

    def matmul(self, a: np.ndarray, b: np.ndarray, mode: str) -> np.ndarray:
        blas = self.blas
        if blas is None or mode == "inherit" or type(a) is not np.ndarray:
            return a @ b  # (a Tensor in a second-order backward records its own graph)
        if type(b) is not np.ndarray or a.ndim < 2 or b.ndim < 2 or a.dtype.kind not in "fc":
            return a @ b
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        if m * k * n < MIN_WORK:
            return a @ b
        layout = (a.shape, b.shape, a.dtype.char, a.strides, b.strides)
        product = self.products.get(layout)
        if product is None:
            product = self._new_product(layout, a, b)
        threads = 1 if mode == "1" else blas.current()
        if threads <= 1:
            if product.in_turn is None and mode != "1":
                return a @ b  # (under the user's limit of one thread)
            return self._timed(a, b, True, product.in_turn)[0]
        shape = product.shapes.get(threads)
        if shape is None:
            shape = self._new_shape(threads, a, b, product)
        if self.check_steps and shape.same_bits and self._steps(shape):
            return self._timed(a, b, True, product.in_turn)[0]  # (not learnt: not chosen)
        # read without the lock: a race with another thread's _learn can only change
        # which setting this call times, never its bits (a shape whose threads give other
        # bits is on one thread for good before any thread can see it)
        one = self._next_is_one(shape)
        out, seconds = self._timed(a, b, one, product.in_turn if one else shape.side_by_side)
        with self._lock:
            self._learn(shape, one, seconds)
        return out

    def _timed(
        self, a: np.ndarray, b: np.ndarray, one: bool, parts: Parts | None
    ) -> tuple[np.ndarray, float]:
        """``a @ b``, whole or in ``parts``, on one thread or all threads, and its time."""
        blas = self.blas
        assert blas is not None
        if one:
            blas.enter_one()
        try:
            start = self.clock()
            out = a @ b if parts is None else parts.run(a, b)
            seconds = self.clock() - start
        finally:
            if one:
                blas.exit_one()
        return out, seconds

    def _new_product(self, layout: tuple[Any, ...], a: np.ndarray, b: np.ndarray) -> _Product:
        """How a product shape and layout met for the first time runs (see ``_Product``):
        with its parts if they give the whole product's bits or it is large
        (``SPLIT_WORK``), else whole only."""
        parts = Parts.plan(self.blas.batch if self.blas else None, a, b)
        large = a.shape[-2] * a.shape[-1] * b.shape[-1] >= SPLIT_WORK
        exact = False
        if parts is not None and a.nbytes + b.nbytes <= _CHECK_BYTES:
            # (above that, no random copies: the real operands could be zeros, which
            # every order sums alike, so the parts are not trusted to be exact)
            ra, rb = _random_operands(a, b)
            whole = self._timed(ra, rb, True, None)[0]
            exact = bool(np.array_equal(whole, self._timed(ra, rb, True, parts)[0]))
        if not exact and not large:
            parts = None
        product = _Product(parts, exact)
        with self._lock:
            return self.products.setdefault(layout, product)

    def _new_shape(self, threads: int, a: np.ndarray, b: np.ndarray, product: _Product) -> _Shape:
        """The record of a shape met for the first time at this thread count, its bits
        checked before any other thread can see it (so no product of it runs on all
        threads before the verdict). Parts give the same bits on any thread count."""
        shape = _Shape()
        shape.side_by_side = product.parts
        if product.parts is None or product.exact:
            if self._same_bits(a, b):
                shape.side_by_side = None
            elif product.parts is None:
                shape.same_bits = False
                shape.choice = 1
                shape.next_probe = float("inf")  # never try all threads: other numbers
        with self._lock:
            return product.shapes.setdefault(threads, shape)

    def _same_bits(self, a: np.ndarray, b: np.ndarray) -> bool:
        """Whether all threads give the bits of one thread for whole products of this
        shape and layout, on random operands."""
        a, b = _random_operands(a, b)
        one, _ = self._timed(a, b, True, None)
        every, _ = self._timed(a, b, False, None)
        return bool(np.array_equal(one, every, equal_nan=True))

    def _steps(self, shape: _Shape) -> bool:
        """The whole step's check (see the module): advanced by the calls of the
        reference shape; whether this call runs on one thread for it."""
        with self._lock:
            ref = self._ref
            if ref is not None and shape is not ref:
                gone = max(_FIRST_STEP_CHECK_S, _GONE_INTERVALS * self._ref_gap)
                if self.clock() - self._ref_seen > gone:
                    self._forget_ref()
                    ref = None
            if ref is None:
                if shape.choice != 2:
                    return self.all_one
                self._ref = shape  # the first shape on all threads times the steps
                self._ref_seen = self.clock()
                self._ref_gap = 0.0
                self._next_check = self._ref_seen + self._check_interval
            elif shape is ref:
                now = self.clock()
                gap = now - self._ref_seen
                self._ref_gap += (gap - self._ref_gap) * (_GAP_WEIGHT if self._ref_gap else 1.0)
                self._ref_seen = now
                if self._window == 0:
                    if now >= self._next_check and (self.on_all > 0 or self.all_one):
                        self._window, self._gaps = 1, []
                elif len(gaps := self._gaps) < _STEP_WINDOW - 1:
                    gaps.append(gap)
                else:
                    # the median step: a pause between two calls (an evaluation, the
                    # collector, the end of an epoch) does not pass for the setting's cost
                    gaps.append(gap)
                    typical = sorted(gaps)[_STEP_WINDOW // 2]
                    self._gaps = []
                    if self._window == 1:  # the setting in use timed: now the other one
                        self._in_use = typical
                        self._window = 2
                        self._publish_one(not self.all_one)
                        return self._one_now()
                    other = typical
                    self._window = 0
                    if other * _TIE < self._in_use:  # the other setting is faster
                        self.all_one = not self.all_one
                        self._check_interval = _FIRST_STEP_CHECK_S
                    else:
                        self._check_interval = min(2 * self._check_interval, _LAST_STEP_CHECK_S)
                        self._publish_one(self.all_one)
                    self._next_check = now + self._check_interval
            return self._one_now()

    def _forget_ref(self) -> None:
        """The reference shape stopped running: drop it, the check's window and its
        setting (every product back on its own choice, and the pool told so)."""
        self._ref = None
        self._window = 0
        self.all_one = False
        self._check_interval = _FIRST_STEP_CHECK_S
        self._publish_one(False)

    def _one_now(self) -> bool:
        """Whether every product runs on one thread now: the check's setting, or the
        other one while the check's second window times it."""
        return self.all_one != (self._window == 2)

    def _publish_one(self, one: bool) -> None:
        """Tell descentlab._blaspool whether its loops may use the pool: not while every
        product runs on one thread."""
        if self.publish:
            _set_on_all(0 if one else self.on_all)

    def _next_is_one(self, shape: _Shape) -> bool:
        """Whether the next product of this shape runs on one thread."""
        if shape.choice == 2:
            return False
        now = self.spent
        if now < self.quiet_until:  # another shape's try just cost: the machine is busy
            return True
        if shape.choice == 0:  # calibrating: one, all, one, all, ...
            return shape.calls - shape.tries <= shape.tries
        return now < shape.next_probe

    def _learn(self, shape: _Shape, one: bool, seconds: float) -> None:
        shape.calls += 1
        if one:
            shape.one = [*shape.one[-2:], seconds]
        self.spent += seconds
        now = self.spent
        if shape.choice == 0:  # calibrating
            if not one:
                shape.tries += 1
                if shape.tries > 1:  # (the first call on all threads may start them)
                    shape.recent.append(seconds)
                    if seconds > _STALL * min(shape.one):  # a stall: the machine is busy
                        shape.all = seconds
                        self._choose_one(shape, now, seconds - min(shape.one) + _SPIN_COST)
                        return
            if shape.tries >= _CALIBRATION_CALLS // 2 and shape.calls >= _CALIBRATION_CALLS:
                every = float(np.median(shape.recent))
                shape.all = every
                if every * _TIE < min(shape.one):
                    self._choose_all(shape, now, every)
                else:
                    self._choose_one(shape, now, max(0.0, every - min(shape.one)))
        elif shape.choice == 1:
            if not one:  # a try of all threads
                if seconds * _TIE < min(shape.one):
                    self._choose_all(shape, now, seconds)
                else:
                    shape.interval = min(2 * shape.interval, _LAST_PROBE_S)
                    stalled = seconds > _STALL * min(shape.one)
                    spin = _SPIN_COST if stalled else 0.0
                    self._choose_one(shape, now, seconds - min(shape.one) + spin)
        else:
            best = shape.best  # (no call runs on one thread while all threads are chosen)
            shape.all += (seconds - shape.all) * _WEIGHT
            shape.excess += seconds - best
            shape.stalls = ((shape.stalls << 1) | (seconds > _STALL * best)) & _STALL_MASK
            stalls = shape.stalls.bit_count()
            if stalls >= 2 or shape.all * _TIE >= best:
                if shape.excess <= 0:  # all threads saved time over the spell
                    shape.interval = _FIRST_PROBE_S
                else:
                    shape.interval = min(2 * shape.interval, _LAST_PROBE_S)
                self._choose_one(shape, now, shape.excess + (_SPIN_COST if stalls >= 2 else 0.0))

    def _choose_all(self, shape: _Shape, now: float, mean: float) -> None:
        if shape.choice != 2:
            self._count_on_all(1)
        shape.choice = 2
        shape.all = mean
        shape.excess = 0.0
        shape.best = min(shape.one)
        shape.stalls = 0

    def _choose_one(self, shape: _Shape, now: float, cost: float) -> None:
        """One thread for this shape, until its next try of all threads; what all threads
        cost beyond one thread (``cost``) also holds back every shape's tries, so that
        on a busy machine all of them together spend at most ``_PROBE_BUDGET``."""
        if shape.choice == 2:
            self._count_on_all(-1)
        shape.choice = 1
        wait = max(cost, 0.0) / _PROBE_BUDGET
        shape.next_probe = now + max(shape.interval, wait)
        self.quiet_until = max(self.quiet_until, now + wait)

    def _count_on_all(self, change: int) -> None:
        """Count a shape that starts or stops running on all threads; the process's
        policy lends OpenBLAS's pool to descentlab's loops while some shape does
        (``descentlab._blaspool``): the other cores answer."""
        self.on_all += change
        self._publish_one(self._one_now())

    def choices(self) -> dict[str, str]:
        """For each product shape seen: the setting in use and the best recent times."""
        out = {}
        with self._lock:
            for (sa, sb, dtype, da, db, threads), s in self.shapes.items():
                name = (
                    f"{_shown(sa, da)}@{_shown(sb, db)} {np.dtype(dtype).name}, {threads} threads"
                )
                chosen = {0: "calibrating", 1: "1 thread", 2: f"{threads} threads"}[s.choice]
                if not s.same_bits:
                    chosen = f"1 thread, always: {threads} threads give other bits"
                if s.side_by_side is not None:
                    chosen += f", in {s.side_by_side.count} parts"
                one = f"{min(s.one) * 1e6:.0f} us" if s.one else "-"
                every = f"{s.all * 1e6:.0f} us" if s.all else "-"
                out[name] = f"{chosen} (1 thread {one}, {threads} threads {every})"
                if self.all_one and s.same_bits and threads > 1:
                    out[name] += "; now 1 thread: the whole step is faster so"
        return out


def _shown(shape: tuple[int, ...], strides: tuple[int, ...]) -> str:
    """A shape as ``choices`` shows it; a transposed view as the transpose of its array."""
    if len(shape) == 2 and strides[0] < strides[1]:
        return f"{shape[::-1]}.T"
    return f"{shape}"


def _random_like(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random values in an array of ``x``'s shape, dtype and strides (a plan in parts
    reads its operands with the leading dimension of ``x``)."""
    if x.size and all(s > 0 for s in x.strides):
        extent = sum((n - 1) * s for n, s in zip(x.shape, x.strides)) + x.itemsize
        buffer = np.zeros(-(-extent // x.itemsize), dtype=x.dtype)
        out = np.lib.stride_tricks.as_strided(buffer, x.shape, x.strides)
    else:
        out = np.empty_like(x)
    out[...] = rng.standard_normal(x.shape)
    return out


def _random_operands(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Random operands of the shapes and layouts of ``a`` and ``b``, for the checks of
    bits (the real ones may be zeros, which any order sums alike; above 64 MB the
    real ones are used, not copies)."""
    if a.nbytes + b.nbytes > _CHECK_BYTES:
        return a, b
    rng = np.random.default_rng(0)
    return _random_like(a, rng), _random_like(b, rng)


_policy: Policy | None = None
_mode = _env_policy()
_set_pool_mode(_mode)


def _get_policy() -> Policy:
    global _policy
    if _policy is None:
        blas = _find_openblas()
        policy = Policy(blas)
        policy.publish = True
        policy.check_steps = True
        if blas is not None and blas.dynlib is not None:
            _attach(blas.dynlib, blas.config, blas.current)
        _policy = policy
    return _policy


def set_policy(mode: str) -> None:
    """Choose how descentlab's products use BLAS threads: "auto", "inherit" or "1"."""
    global _mode
    if mode not in _POLICIES:
        raise ValueError(f"BLAS thread policy must be one of {_POLICIES}, got {mode!r}")
    _mode = mode
    _set_pool_mode(mode)


def get_policy() -> str:
    """The current policy: "auto", "inherit" or "1"."""
    return _mode


def choices() -> dict[str, str]:
    """What "auto" chose so far, per product shape (for benchmarks and curious users)."""
    return _get_policy().choices()


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b``, on the BLAS threads the policy chooses for its shape (arrays only; anything
    else, such as the Tensors of a second-order backward, is multiplied as it is)."""
    if _mode == "inherit":
        if _policy is None:
            _get_policy()  # (once: finds NumPy's OpenBLAS, whose pool the loops may borrow)
        return a @ b
    return _get_policy().matmul(a, b, _mode)
