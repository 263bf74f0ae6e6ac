"""The ray backend: the same records as the serial backend, on one node and on two.

Ray starts three times in this module (4-7 s each): a two-CPU runtime shared by the
tests of ``TestOneNode``, a simulated two-node cluster, and a runtime the backend
starts (and must shut down) itself. Each is shut down before the next starts, and
none outlives the module.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from descentlab.sweep import sweep
from descentlab.sweep.backends import THREAD_VARIABLES, TrialError, make_backend
from descentlab.sweep.plan import DataProblem, LandscapeProblem, Plan, coerce_arms

ray = pytest.importorskip(
    "ray",
    reason='the ray backend tests need Ray: pip install -e ".[test]" or "descentlab[cluster]"',
)

from descentlab.sweep.ray_backend import TASK_OPTIONS, RayBackend

#: No test here may hang: each is stopped after this many seconds.
TEST_TIMEOUT = 180

#: Fields that tell where and how fast a trial ran, not what it computed.
RUN_FIELDS = ("wall_time_s", "worker")

LANDSCAPE = {
    "problem": "rosenbrock",
    "optimizers": "sgd,momentum,adam",
    "grid": {"lr": "1e-4:1e-2:3"},
    "seeds": 2,
    "steps": 200,
}
DIGITS = {
    "problem": "digits",
    "optimizers": "sgd,adam",
    "grid": {"lr": "1e-3,1e-1"},
    "seeds": 2,
    "epochs": 2,
}


def _endless_job() -> dict[str, Any]:
    """A trial that outlives any test (100000 epochs of about 0.1 s)."""
    plan = Plan((DataProblem("digits", epochs=100_000),), coerce_arms("sgd"), {"lr": [0.01]}, 1)
    return plan.trials()[0].to_job()


def _stripped(records: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in r.items() if k not in RUN_FIELDS} for r in records]


def _lines(path: Path) -> list[str]:
    """The lines of a trials.jsonl without the run fields, sorted (trials finish in any order)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        out.append(json.dumps(_stripped([record])[0], sort_keys=True))
    return sorted(out)


@pytest.fixture(autouse=True)
def _watchdog() -> Iterator[None]:
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise TimeoutError(f"a ray test ran longer than {TEST_TIMEOUT} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True, scope="module")
def _no_ray_leaks() -> Iterator[None]:
    """Ray starts clean, ends shut down, and its token-mode switch does not outlive us."""
    saved = os.environ.get("RAY_AUTH_MODE")
    assert not ray.is_initialized(), "a Ray runtime leaked into this module"
    yield
    leaked = ray.is_initialized()
    if leaked:
        ray.shutdown()
    if saved is None:
        os.environ.pop("RAY_AUTH_MODE", None)
    else:
        os.environ["RAY_AUTH_MODE"] = saved
    assert not leaked, "a test of this module left Ray running"


@pytest.fixture(scope="class")
def one_node() -> Iterator[None]:
    """A two-CPU Ray runtime on this machine, started here and shared by a class."""
    assert not ray.is_initialized()
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield
    finally:
        ray.shutdown()


def _thread_variables() -> dict[str, str | None]:
    return {name: os.environ.get(name) for name in THREAD_VARIABLES}


def _descendants(root: int) -> dict[int, str]:
    """Processes below ``root``: pid -> command line (Linux)."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            names[int(entry.name)] = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    below: dict[int, str] = {}
    frontier = {root}
    while frontier:
        frontier = {pid for pid, ppid in parents.items() if ppid in frontier} - set(below)
        below.update({pid: names[pid] for pid in frontier})
    return below


@pytest.mark.usefixtures("one_node")
class TestOneNode:
    def test_landscape_records_equal_the_serial_ones(self):
        on_ray = sweep(**LANDSCAPE, backend="ray")
        serial = sweep(**LANDSCAPE, backend="serial")
        assert len(on_ray) == 18
        assert _stripped(on_ray) == _stripped(serial)
        assert {r["worker"]["node"] for r in on_ray} == {ray.get_runtime_context().get_node_id()}
        assert ray.is_initialized(), "the backend must not shut down a runtime it did not start"

    def test_data_records_equal_the_serial_ones(self):
        on_ray = sweep(**DIGITS, backend="ray")
        serial = sweep(**DIGITS, backend="serial")
        assert len(on_ray) == 8
        assert all(r["status"] == "finished" and r["epochs"] == 2 for r in on_ray)
        assert _stripped(on_ray) == _stripped(serial)

    def test_trials_file_equals_the_local_one_and_resume_reruns_only_the_missing(
        self, tmp_path: Path
    ):
        options = {**LANDSCAPE, "steps": 100, "grid": {"lr": "1e-4,1e-3"}, "report": False}
        sweep(**options, backend="ray", out=tmp_path / "ray")
        sweep(**options, backend="local", workers=2, out=tmp_path / "local")
        trials = tmp_path / "ray" / "trials.jsonl"
        assert len(_lines(trials)) == 12
        assert _lines(trials) == _lines(tmp_path / "local" / "trials.jsonl")

        lines = trials.read_text(encoding="utf-8").splitlines(keepends=True)
        trials.write_text("".join(lines[:-3]), encoding="utf-8")
        removed = {json.loads(line)["key"] for line in lines[-3:]}
        started: list[tuple[int, int]] = []
        rerun: list[str] = []
        result = sweep(
            out=tmp_path / "ray",
            resume=True,
            backend="ray",
            report=False,
            on_start=lambda todo, done, _backend: started.append((todo, done)),
            on_record=lambda record: rerun.append(record["key"]),
        )
        assert started == [(3, 9)]
        assert set(rerun) == removed and len(rerun) == 3
        assert len(result) == 12
        assert _lines(trials) == _lines(tmp_path / "local" / "trials.jsonl")

    def test_asha_prunes_on_ray_and_the_best_setting_runs_to_the_end(self):
        options = {
            "problem": "ill_conditioned",
            "optimizers": "sgd",
            "grid": {"lr": "1e-3:1:9"},
            "seeds": 1,
            "steps": 270,
        }
        full = sweep(**options, backend="serial")
        asha = sweep(**options, backend="ray", early_stop="asha")
        assert len(asha) == 9
        pruned = [r for r in asha if r["status"] == "pruned"]
        assert pruned and all(r["budget"] < 270 for r in pruned)
        assert {r["budget"] for r in pruned} <= {30, 90}
        best_lr = full.best()["sgd"]["lr"]
        (best,) = [r for r in asha if r["lr"] == best_lr]
        assert best["budget"] == 270 and best["status"] in ("converged", "max_steps")
        assert asha.best() == full.best()
        diverged = next(r for r in asha if r["lr"] == 1.0)
        assert diverged["status"] == "diverged" and diverged["budget"] == 30

    def test_a_trial_that_raises_is_a_failure_and_the_sweep_finishes(self, tmp_path):
        # the file is there when the sweep checks its problems, and gone before the trials
        # run on the workers (as when a node lacks a data set the head has)
        import numpy as np

        path = tmp_path / "blobs.npz"
        rng = np.random.default_rng(0)
        np.savez(path, x=rng.normal(size=(60, 2)), y=rng.integers(0, 2, 60))
        problems = [LandscapeProblem("rosenbrock", steps=50), DataProblem(str(path))]
        result = sweep(
            problems,
            optimizers="sgd",
            grid={"lr": "1e-3,1e-2"},
            seeds=1,
            backend="ray",
            report=False,
            on_start=lambda *_: path.unlink(),
        )
        assert [r["problem"] for r in result] == ["rosenbrock", "rosenbrock"]
        assert len(result.failures) == 2
        for key, error in result.failures:
            assert key.startswith(f"{path}|sgd|")
            assert str(path) in error

    def test_a_killed_worker_is_a_failed_trial_not_an_exception(self):
        if not Path("/proc/self/stat").exists():
            pytest.skip("finds the worker process through /proc")
        backend = RayBackend()
        job = _endless_job()
        ticket = backend.submit(job)
        killed: set[int] = set()
        outcomes: list[Any] = []
        deadline = time.monotonic() + 60
        while not outcomes and time.monotonic() < deadline:
            outcomes = backend.wait(timeout=0.2)
            for pid, command in _descendants(os.getpid()).items():
                if command.startswith("ray::_run_on_node") and pid not in killed:
                    os.kill(pid, signal.SIGKILL)
                    killed.add(pid)
        backend.close(cancel=True)
        assert len(outcomes) == 1
        got, outcome = outcomes[0]
        assert got == ticket
        assert isinstance(outcome, TrialError)
        assert "WorkerCrashedError" in str(outcome)
        assert len(killed) == 2, "Ray reruns a trial once when its worker dies"
        assert ray.is_initialized()

    def test_trial_workers_run_one_blas_thread(self):
        task = ray.remote(_thread_variables).options(**TASK_OPTIONS)
        assert ray.get(task.remote(), timeout=60) == dict.fromkeys(THREAD_VARIABLES, "1")

    def test_workers_caps_the_trials_running_at_once(self):
        backend = RayBackend(workers=1)
        try:
            backend.submit(_endless_job())
            backend.submit(_endless_job())
            deadline = time.monotonic() + 30
            while ray.available_resources().get("CPU", 0) > 1 and time.monotonic() < deadline:
                assert backend.wait(timeout=0.1) == []
            assert backend.wait(timeout=1.0) == []
            assert ray.available_resources().get("CPU", 0) == 1, "one trial runs, one waits"
        finally:
            backend.close(cancel=True)

    def test_cancel_stops_running_trials_at_once_and_frees_the_cpus(self):
        backend = make_backend("ray")
        assert backend.workers == 2 and backend.describe() == "ray (2 workers on 1 node)"
        job = _endless_job()
        for _ in range(3):
            backend.submit(job)
        deadline = time.monotonic() + 30
        while ray.available_resources().get("CPU", 0) > 0 and time.monotonic() < deadline:
            assert backend.wait(timeout=0.1) == []
        assert ray.available_resources().get("CPU", 0) == 0, "both trials should be running"
        started = time.perf_counter()
        backend.close(cancel=True)
        assert time.perf_counter() - started < 5
        deadline = time.monotonic() + 30
        while ray.available_resources().get("CPU", 0) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert ray.available_resources().get("CPU", 0) == 2
        assert ray.is_initialized()
        with pytest.raises(RuntimeError, match="closed"):
            backend.submit(job)


def test_a_two_node_cluster_gives_the_serial_records_and_uses_both_nodes():
    """The backend attaches to the cluster at an address itself, as ``--address`` does."""
    from ray.cluster_utils import Cluster

    assert not ray.is_initialized()
    cluster = Cluster(
        initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False}
    )
    try:
        cluster.add_node(num_cpus=1)
        cluster.wait_for_nodes(timeout=60)
        nodes = {node.node_id for node in cluster.list_all_nodes()}
        descriptions: list[str] = []
        on_ray = sweep(
            **LANDSCAPE,
            backend="ray",
            address=cluster.address,
            on_start=lambda _todo, _done, backend: descriptions.append(backend),
        )
        assert not ray.is_initialized(), "the backend disconnects from what it attached to"
        assert descriptions == ["ray (2 workers on 2 nodes)"]
        assert {r["worker"]["node"] for r in on_ray} == nodes and len(nodes) == 2
        assert _stripped(on_ray) == _stripped(sweep(**LANDSCAPE, backend="serial"))
    finally:
        ray.shutdown()
        cluster.shutdown()


def test_a_backend_that_starts_ray_shuts_it_down_even_when_cancelled():
    assert not ray.is_initialized()
    backend = RayBackend(workers=1)
    assert ray.is_initialized() and ray.cluster_resources()["CPU"] == 1
    job = _endless_job()
    backend.submit(job)
    backend.submit(job)
    assert backend.wait(timeout=0.5) == []
    started = time.perf_counter()
    backend.close(cancel=True)
    assert time.perf_counter() - started < 10
    assert not ray.is_initialized()


def test_workers_must_be_a_positive_integer():
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="workers must be a positive integer"):
            RayBackend(workers=bad)  # type: ignore[arg-type]
    assert not ray.is_initialized()


def test_without_ray_the_backend_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(ImportError, match=r'pip install "descentlab\[cluster\]"') as info:
        make_backend("ray")
    assert info.value.name == "ray"


def test_importing_the_sweep_package_does_not_import_ray():
    code = "import sys, descentlab.sweep; print('ray' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
