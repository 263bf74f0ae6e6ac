"""Where trials run: this process (``serial``), a pool of processes (``local``), or a Ray
cluster (``ray``, in :mod:`descentlab.sweep.ray_backend`).

A backend takes jobs (a trial's job dict and a budget) and hands back finished
ones as they finish, in whatever order; the scheduler does the rest. Every
backend calls the same :func:`~descentlab.sweep.trial.run_trial`, so a trial gives
the same record on each.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import signal
import threading
import traceback
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Mapping
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from descentlab.sweep.trial import run_trial

__all__ = [
    "THREAD_VARIABLES",
    "Backend",
    "LocalBackend",
    "SerialBackend",
    "TrialError",
    "make_backend",
]

#: Environment variables that set the thread count of BLAS and OpenMP libraries.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "MKL_NUM_THREADS",
    "BLIS_NUM_THREADS",
    "VECLIB_MAXIMUM_THREADS",
    "NUMBA_NUM_THREADS",
)

#: Serializes the brief environment change while pool workers are being started.
_SPAWN_LOCK = threading.Lock()

Outcome = tuple[int, "dict[str, Any] | TrialError"]


class TrialError(Exception):
    """A trial raised: its message and the worker's traceback (the sweep goes on)."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.details = details


def _guarded(job: Mapping[str, Any], budget: int | None) -> dict[str, Any] | TrialError:
    try:
        return run_trial(job, budget)
    except Exception as exc:  # noqa: BLE001 - one bad trial must not end a sweep of thousands
        text = " ".join(str(exc).split()) or type(exc).__name__
        return TrialError(f"{type(exc).__name__}: {text}", traceback.format_exc())


class Backend(ABC):
    """Runs jobs; ``submit`` returns a ticket, ``wait`` returns finished (ticket, outcome)."""

    name = "backend"
    #: how many trials run at once
    workers = 1

    def __init__(self) -> None:
        self._next = 0

    def _ticket(self) -> int:
        self._next += 1
        return self._next

    @abstractmethod
    def submit(self, job: Mapping[str, Any], budget: int | None = None) -> int: ...

    @abstractmethod
    def wait(self, timeout: float | None = None) -> list[Outcome]:
        """At least one finished job unless ``timeout`` passes first (or none is running)."""

    def close(self, cancel: bool = False) -> None:
        """Release the workers; with ``cancel``, drop queued jobs and stop running ones."""

    def describe(self) -> str:
        return f"{self.name} ({self.workers} worker{'s' if self.workers != 1 else ''})"

    def __enter__(self) -> Backend:  # noqa: PYI034 - Self needs Python 3.11
        return self

    def __exit__(self, *exc: object) -> None:
        self.close(cancel=exc[0] is not None)


class SerialBackend(Backend):
    """Runs each job in this process when it is waited for (debugging, tiny sweeps)."""

    name = "serial"

    def __init__(self) -> None:
        super().__init__()
        self._queue: deque[tuple[int, Mapping[str, Any], int | None]] = deque()

    def submit(self, job: Mapping[str, Any], budget: int | None = None) -> int:
        ticket = self._ticket()
        self._queue.append((ticket, job, budget))
        return ticket

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        if not self._queue:
            return []
        ticket, job, budget = self._queue.popleft()
        return [(ticket, _guarded(job, budget))]

    def close(self, cancel: bool = False) -> None:
        self._queue.clear()


def _limit_threads() -> None:
    """Pool worker initializer: one BLAS/OpenMP thread per worker, so workers do not fight;
    Ctrl-C is the parent's to handle (it stops the workers), not a traceback in each."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # the environment set at spawn time already asked for one thread
        return
    threadpool_limits(1)


def _ping() -> int:
    return os.getpid()


class LocalBackend(Backend):
    """A pool of worker processes on this machine (started fresh, one BLAS thread each).

    Workers are started with the ``spawn`` method (no copy of this process's threads
    or locks) and with the BLAS thread variables set to 1 while they start; this
    process's own environment is restored at once.
    """

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        super().__init__()
        count = os.cpu_count() or 1
        if workers is None:
            workers = count
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 1024:
            raise ValueError(f"workers must be an integer from 1 to 1024, got {workers!r}")
        self.workers = workers
        self._futures: dict[cf.Future[Any], int] = {}
        self._pool = self._start()

    def _start(self) -> cf.ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        workers = self.workers
        with _SPAWN_LOCK:
            saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
            try:
                for key in THREAD_VARIABLES:
                    os.environ.setdefault(key, "1")
                pool = cf.ProcessPoolExecutor(
                    max_workers=workers, mp_context=context, initializer=_limit_threads
                )
                # start every worker now, while the environment asks for one thread
                pings = [pool.submit(_ping) for _ in range(workers)]
                cf.wait(pings)
            finally:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
        return pool

    def submit(self, job: Mapping[str, Any], budget: int | None = None) -> int:
        ticket = self._ticket()
        try:
            future = self._pool.submit(_guarded, dict(job), budget)
        except BrokenProcessPool:  # a worker died (killed, out of memory): a fresh pool
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._start()
            future = self._pool.submit(_guarded, dict(job), budget)
        self._futures[future] = ticket
        return ticket

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        if not self._futures:
            return []
        done, _ = cf.wait(self._futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        out: list[Outcome] = []
        for future in done:
            ticket = self._futures.pop(future)
            try:
                out.append((ticket, future.result()))
            except Exception as exc:  # noqa: BLE001 - the worker process died (killed, out of memory)
                out.append((ticket, TrialError(f"the worker failed: {type(exc).__name__}: {exc}")))
        return out

    def close(self, cancel: bool = False) -> None:
        if cancel:
            for future in self._futures:
                future.cancel()
            processes = list(getattr(self._pool, "_processes", {}).values())
            for process in processes:  # stop trials in flight now, not when they finish
                if process.is_alive():
                    process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=cancel)
        self._futures.clear()


def make_backend(backend: str | Backend = "local", **options: Any) -> Backend:
    """A backend by name: ``"local"`` (``workers=``), ``"serial"``, ``"ray"`` (``address=``)."""
    if isinstance(backend, Backend):
        if options:
            raise ValueError("options cannot be applied to a backend that is already made")
        return backend
    if backend == "local":
        workers = options.pop("workers", None)
        _no_options(backend, options)
        if workers == 1:
            return SerialBackend()
        return LocalBackend(workers)
    if backend == "serial":
        options.pop("workers", None)
        _no_options(backend, options)
        return SerialBackend()
    if backend == "ray":
        from descentlab.sweep.ray_backend import RayBackend

        return RayBackend(**options)
    raise ValueError(f"unknown backend {backend!r}; expected one of local, serial, ray")


def _no_options(name: str, options: Mapping[str, Any]) -> None:
    unknown = {k for k, v in options.items() if v is not None}
    if unknown:
        raise ValueError(f"the {name} backend takes no option {', '.join(sorted(unknown))}")
