"""Run trials as Ray tasks: on a local Ray runtime or on a cluster of machines.

Each trial is one task needing one CPU, run by the same
:func:`~descentlab.sweep.trial.run_trial` as on every other backend, so a trial
gives the same record wherever it runs. Results stream back as trials finish.
Every node needs the same Python and descentlab (``pip install "descentlab[cluster]"``)
and its own copy of the data sets; see ``docs/cluster.md``.

Ray is imported only when a :class:`RayBackend` is made, so ``import
descentlab.sweep`` never needs it.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from descentlab.sweep.backends import THREAD_VARIABLES, Backend, Outcome, TrialError, _guarded

if TYPE_CHECKING:
    from types import ModuleType

__all__ = ["RayBackend"]

#: How a trial runs on Ray: one CPU; a worker started with one BLAS/OpenMP thread,
#: whatever the environment of the node's ``ray start`` (workers must not fight over
#: cores; this costs 1-2 s once, when the node starts such workers); one rerun if the
#: worker process or its node dies (a pure trial is safe to rerun).
TASK_OPTIONS: dict[str, Any] = {
    "num_cpus": 1,
    "runtime_env": {"env_vars": {name: "1" for name in THREAD_VARIABLES}},
    "max_retries": 1,
}


def _import_ray() -> ModuleType:
    try:
        import ray
    except ImportError as err:
        raise ImportError(
            'the ray backend needs Ray: pip install "descentlab[cluster]"', name="ray"
        ) from err
    return ray


def _attach(ray: ModuleType, address: str | None, options: Mapping[str, Any]) -> None:
    try:
        ray.init(address=address, **options)
    except ConnectionError as err:
        where = address or os.environ.get("RAY_ADDRESS")
        raise ConnectionError(
            f"cannot reach the Ray cluster at {where!r} ({err}); is it running (ray start "
            "--head on its head node)? If it uses token authentication, set "
            "RAY_AUTH_MODE=token and give this machine the cluster's token (docs/cluster.md)"
        ) from err


def _run_on_node(job: Mapping[str, Any], budget: int | None) -> dict[str, Any] | TrialError:
    """The Ray task: the guarded trial, its record tagged with the Ray node that ran it."""
    import ray

    outcome = _guarded(job, budget)
    if isinstance(outcome, dict) and isinstance(outcome.get("worker"), dict):
        outcome["worker"]["node"] = ray.get_runtime_context().get_node_id()
    return outcome


class RayBackend(Backend):
    """Trials as Ray tasks, one CPU each, at most ``workers`` at once.

    Args:
        address: ``None`` starts a Ray runtime on this machine (or uses the one this
            process already started); ``"auto"`` attaches to the cluster started on this
            machine by ``ray start``; ``"HOST:PORT"`` to the cluster whose head is there.
        workers: trials run at once (default: every CPU of the cluster). Jobs beyond
            that wait here, not in Ray, so a cancelled sweep leaves nothing queued.
    """

    name = "ray"

    def __init__(self, address: str | None = None, workers: int | None = None) -> None:
        super().__init__()
        if workers is not None and (
            isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
        ):
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        ray = _import_ray()
        self._ray = ray
        #: whether this backend called ``ray.init`` (and so calls ``ray.shutdown``)
        self._owner = not ray.is_initialized()
        if self._owner:
            quiet = {"logging_level": logging.WARNING, "include_dashboard": False}
            if address is None and not os.environ.get("RAY_ADDRESS"):
                ray.init(num_cpus=workers or os.cpu_count() or 1, **quiet)
            else:
                _attach(ray, address, quiet)
        cpus = int(ray.cluster_resources().get("CPU", 0))
        if workers is None:
            if cpus < 1:
                self._shutdown()
                raise ValueError("the Ray cluster has no CPU to run trials on")
            workers = cpus
        self.workers = workers
        self._task = ray.remote(_run_on_node).options(**TASK_OPTIONS)
        self._queue: deque[tuple[int, dict[str, Any], int | None]] = deque()
        self._running: dict[Any, int] = {}
        self._closed = False

    def _start_queued(self) -> None:
        while self._queue and len(self._running) < self.workers:
            ticket, job, budget = self._queue.popleft()
            self._running[self._task.remote(job, budget)] = ticket

    def submit(self, job: Mapping[str, Any], budget: int | None = None) -> int:
        if self._closed:
            raise RuntimeError("this Ray backend is closed")
        ticket = self._ticket()
        self._queue.append((ticket, dict(job), budget))
        self._start_queued()
        return ticket

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        if not self._running:
            return []
        refs = list(self._running)
        ready, _ = self._ray.wait(refs, num_returns=1, timeout=timeout)
        if ready:
            ready, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0)
        out: list[Outcome] = []
        for ref in ready:
            ticket = self._running.pop(ref)
            try:
                out.append((ticket, self._ray.get(ref)))
            except self._ray.exceptions.RayError as exc:  # the worker or its node died
                text = " ".join(str(exc).split())[:500]
                out.append(
                    (ticket, TrialError(f"the Ray task failed: {type(exc).__name__}: {text}"))
                )
        self._start_queued()
        return out

    def close(self, cancel: bool = False) -> None:
        """Release the cluster; with ``cancel``, drop waiting jobs and kill running ones.

        Without ``cancel`` the jobs already submitted run to the end first. Ray is shut
        down only if this backend started it (or attached to the cluster itself).
        """
        if self._closed:
            return
        self._closed = True
        try:
            if cancel:
                self._queue.clear()
                for ref in self._running:
                    self._ray.cancel(ref, force=True)
            else:
                while self._running:
                    self.wait()
        finally:
            self._running.clear()
            self._queue.clear()
            self._shutdown()

    def _shutdown(self) -> None:
        if self._owner and self._ray.is_initialized():
            self._ray.shutdown()

    def describe(self) -> str:
        nodes = sum(1 for node in self._ray.nodes() if node.get("Alive"))
        plural = "s" if self.workers != 1 else ""
        return f"ray ({self.workers} worker{plural} on {nodes} node{'s' if nodes != 1 else ''})"
