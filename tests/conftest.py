"""Fixtures for the whole test tree: where the real MNIST / Fashion-MNIST files are.

Tests that need the real image files take the ``real_data``, ``mnist_dir`` or
``fashion_mnist_dir`` fixture. The files are looked for in ``$DESCENTLAB_DATA`` (a
folder holding ``mnist/`` and ``fashion_mnist/``; CI sets it, see ``.ci/run``), else
in ``../shared/data`` beside the checkout; without them those tests are skipped with
a one-line reason, so a fresh ``git clone`` passes.

No test may reach the internet: unless a test points the MNIST mirrors somewhere
itself, they point at a closed port of 127.0.0.1, so an accidental download fails
at once instead of fetching files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("DESCENTLAB_MNIST_MIRROR", "http://127.0.0.1:9/no-downloads-in-tests/")
os.environ.setdefault(
    "DESCENTLAB_FASHION_MNIST_MIRROR", "http://127.0.0.1:9/no-downloads-in-tests/"
)

CHECKOUT = Path(__file__).resolve().parents[1]


def real_data_root() -> tuple[Path, str]:
    """The folder that should hold ``mnist/`` and ``fashion_mnist/``, and how it was chosen."""
    env = os.environ.get("DESCENTLAB_DATA", "").strip()
    if env:
        return Path(env).expanduser(), "$DESCENTLAB_DATA"
    return CHECKOUT.parent / "shared" / "data", "../shared/data beside the checkout"


def _real_subdir(sub: str, marker: str) -> Path:
    root, source = real_data_root()
    folder = root / sub
    if not (folder / marker).is_file():
        pytest.skip(
            f"real {sub} files not found at {folder} ({source}); set DESCENTLAB_DATA to a "
            f"folder holding {sub}/ to run this test"
        )
    return folder


#: where the autograd property tests count their random graphs (tests/autograd/conftest.py)
GRAPH_STATS = pytest.StashKey[dict[str, dict[str, float]]]()


def _merge_stats(into: dict[str, dict[str, float]], stats: dict[str, dict[str, float]]) -> None:
    for key, entry in stats.items():
        mine = into.setdefault(key, {"graphs": 0, "worst_relative_error": 0.0})
        mine["graphs"] += entry["graphs"]
        mine["worst_relative_error"] = max(
            mine["worst_relative_error"], entry["worst_relative_error"]
        )


@pytest.fixture(scope="session")
def graph_stats(request: pytest.FixtureRequest) -> dict[str, dict[str, float]]:
    """Per key: how many random graphs the autograd property tests compared and the worst
    relative error seen (``tests/autograd/graphs.py: record``), printed at the end."""
    return request.config.stash.setdefault(GRAPH_STATS, {})


def pytest_sessionfinish(session: pytest.Session) -> None:
    """In a worker process (pytest-xdist): hand the graph counts to the main process."""
    output = getattr(session.config, "workeroutput", None)
    if output is not None:
        output["graph_stats"] = session.config.stash.get(GRAPH_STATS, {})


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    """In the main process: add up what each worker counted."""
    stats = getattr(node, "workeroutput", {}).get("graph_stats")
    if stats:
        _merge_stats(node.config.stash.setdefault(GRAPH_STATS, {}), stats)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    stats = terminalreporter.config.stash.get(GRAPH_STATS, {})
    for key, entry in sorted(stats.items()):
        terminalreporter.write_line(
            f"autograd property tests, {key}: {int(entry['graphs'])} random graphs compared, "
            f"worst error {entry['worst_relative_error']:.3g}"
        )


#: Test files that run last, one after the other in one worker, while no other test runs:
#: the browser tests. Their bounds (race steps per frame at top speed, a hidden tab's
#: pace) measure the playground's own speed, which a test running beside them on a 2-core
#: machine takes away (one failed at 9.6 steps per frame of the 10 it needs, 2026-12-02).
#: The other files are shared out between the workers (the load test of 50 tabs asserts
#: behaviour, not rates, and runs beside the others).
RUN_ALONE = ("tests/e2e/",)
#: The longest files (by their durations on a 2-core VM) are handed out first, so that no
#: worker is left with a long file at the end while the other waits.
LONGEST_FIRST = (
    "tests/landscapes/test_compiled.py",
    "tests/test_cli.py",
    "tests/sweep/test_cli.py",
    "tests/optim/test_fused.py",
    "tests/sweep/test_ray.py",
    "tests/web/test_load.py",
    "tests/optim/test_base.py",
    "tests/optim/test_parity.py",
    "tests/optim/test_convergence.py",
    "tests/landscapes/test_minimize.py",
    "tests/web/test_server.py",
    "tests/viz/test_gallery.py",
    "tests/test_demo.py",
)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadfile`` (the default, pyproject.toml), with the RUN_ALONE files last."""
    if config.getoption("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class AloneLast(LoadFileScheduling):  # type: ignore[misc]
        """xdist's load-by-file scheduling, except that the RUN_ALONE files wait until every
        other file has run, and then run in one worker while the others have shut down."""

        def __init__(self, config: pytest.Config, log: Any) -> None:
            super().__init__(config, log)
            self.alone: dict[str, dict[str, bool]] = {}
            self.alone_node: Any = None

        @property
        def tests_finished(self) -> bool:
            return not self.alone and bool(super().tests_finished)

        @property
        def has_pending(self) -> bool:
            return bool(self.alone) or bool(super().has_pending)

        def schedule(self) -> None:
            assert self.collection_is_completed
            if self.collection is None:
                if not self._check_nodes_have_same_collection():
                    self.log("**Different tests collected, aborting run**")
                    return
                self.collection = list(next(iter(self.registered_collections.values())))
                for nodeid in self.collection:
                    scope = self._split_scope(nodeid)
                    queue = self.alone if scope.startswith(RUN_ALONE) else self.workqueue
                    queue.setdefault(scope, {})[nodeid] = False
                rank = {scope: i for i, scope in enumerate(LONGEST_FIRST)}
                order = sorted(self.workqueue, key=lambda s: rank.get(s, len(rank)))
                for scope in order:
                    self.workqueue.move_to_end(scope)
            for _ in range(2):  # each worker starts with two files when there are enough
                for node in self.nodes:
                    self._reschedule(node)

        def _reschedule(self, node: Any) -> None:
            if node.shutting_down:
                return
            if self.workqueue:
                if self._pending_of(self.assigned_work[node]) <= 2:
                    self._assign_work_unit(node)
                return
            if not self.alone:
                node.shutdown()
                return
            # only the RUN_ALONE files are left: the first worker here runs them, once
            # every other worker has finished its files and gone
            if self.alone_node is None:
                self.alone_node = node
            if node is not self.alone_node:
                node.shutdown()
                return
            if any(other is not node for other in self.assigned_work):
                return
            self.workqueue.update(self.alone)
            self.alone.clear()
            while self.workqueue:
                self._assign_work_unit(node)
            node.shutdown()

        def remove_node(self, node: Any) -> str | None:
            crashed: str | None = super().remove_node(node)
            if node is self.alone_node:
                self.alone_node = None
            for other in self.nodes:  # a worker waiting for this one to finish goes on
                self._reschedule(other)
            return crashed

    return AloneLast(config, log)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (the default, pyproject.toml): one worker per core, at most 4; on one
    core, none (the tests run in this process).

    Each worker imports torch and, for the browser tests, runs a server and a Chromium;
    more than four buy little and cost memory. On a 2-vCPU AMD EPYC VM the suite ran in
    671-709 s with two workers (the browser tests alone at the end, cold caches) against
    812-846 s in one process (2026-12-02)."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    workers = min(4, cores)
    return workers if workers > 1 else 0


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real-data folder (holding ``mnist/`` and ``fashion_mnist/``), or skip."""
    _real_subdir("mnist", "t10k-images-idx3-ubyte.gz")
    _real_subdir("fashion_mnist", "t10k-labels-idx1-ubyte.gz")
    return real_data_root()[0]


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST files (20000 train, 10000 test in the shared copy), or skip."""
    return _real_subdir("mnist", "t10k-images-idx3-ubyte.gz")


@pytest.fixture(scope="session")
def fashion_mnist_dir() -> Path:
    """The real Fashion-MNIST folder (labels and 2000 test images in the shared copy), or skip."""
    return _real_subdir("fashion_mnist", "t10k-labels-idx1-ubyte.gz")
