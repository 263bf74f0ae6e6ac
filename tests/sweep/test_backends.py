"""The local process pool: one BLAS thread per worker, a dead worker is a failed trial."""

from __future__ import annotations

import os
import signal
import time

import descentlab
from descentlab.sweep.backends import LocalBackend, SerialBackend, TrialError, make_backend
from descentlab.sweep.plan import LandscapeProblem, Plan, coerce_arms


def _jobs(steps: int, n: int = 2):
    plan = Plan(
        problems=(LandscapeProblem("rosenbrock", steps=steps, tol=0.0, starts="random:64"),),
        arms=coerce_arms("adam"),
        grid={"lr": [1e-4 * (i + 1) for i in range(n)]},
        seeds=1,
    )
    return [t.to_job() for t in plan.trials()]


def _wait_all(backend, n, timeout=120.0):
    out = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        out.extend(backend.wait(timeout=0.5))
    return out


def test_a_killed_worker_fails_its_trial_and_the_pool_recovers():
    backend = LocalBackend(2)
    try:
        pids = {os.getpid()}
        processes = list(backend._pool._processes.values())
        ticket = backend.submit(_jobs(steps=10**7, n=1)[0])  # minutes of work
        time.sleep(1.0)
        for process in processes:  # kill the worker that took it (and the idle one)
            os.kill(process.pid, signal.SIGKILL)
            pids.add(process.pid)
        (got, outcome), *_ = _wait_all(backend, 1, timeout=30)
        assert got == ticket and isinstance(outcome, TrialError)
        assert "worker failed" in str(outcome)
        # the next trials run in a fresh pool
        tickets = [backend.submit(job) for job in _jobs(steps=20)]
        results = dict(_wait_all(backend, 2))
        assert set(results) == set(tickets)
        assert all(isinstance(r, dict) and r["status"] == "max_steps" for r in results.values())
        assert not {r["worker"]["pid"] for r in results.values()} & pids
    finally:
        backend.close(cancel=True)


def test_workers_run_one_blas_thread_and_the_parent_keeps_its_environment():
    before = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    backend = LocalBackend(2)
    try:
        future = backend._pool.submit(os.getenv, "OPENBLAS_NUM_THREADS")
        assert future.result(timeout=30) == (before["OPENBLAS_NUM_THREADS"] or "1")
    finally:
        backend.close()
    assert {k: os.environ.get(k) for k in before} == before


def test_a_backend_object_can_be_passed_to_sweep():
    backend = SerialBackend()
    assert make_backend(backend) is backend
    result = descentlab.sweep(
        "booth", optimizers="adam", grid={"lr": [0.1]}, seeds=1, steps=10, backend=backend,
        report=False,
    )  # fmt: skip
    assert len(result) == 1
