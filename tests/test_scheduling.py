"""How the suite is shared out between worker processes (tests/conftest.py, AloneLast).

The browser tests bound the playground's speed, so they must run after every other test,
in one worker, while no other test runs. A small suite of sleeping tests that log when
and where they ran is run under two workers with the project's own conftest, and the log
is checked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("xdist")

TESTS = Path(__file__).resolve().parent

LOGGING_TEST = """
import json, os, time
from pathlib import Path

def test_{name}_{i}(request):
    start = time.monotonic()
    time.sleep(0.2)
    line = {{"test": request.node.nodeid, "pid": os.getpid(),
             "start": start, "end": time.monotonic()}}
    with open(Path(os.environ["SCHEDULE_LOG"]), "a") as log:
        log.write(json.dumps(line) + "\\n")
"""


def write_tests(path: Path, name: str, count: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(LOGGING_TEST.format(name=name, i=i) for i in range(count)))


def test_the_run_alone_files_run_last_in_one_worker_with_no_other_test_beside_them(
    tmp_path: Path,
) -> None:
    suite = tmp_path / "tests"
    suite.mkdir()
    shutil.copy(TESTS / "conftest.py", suite / "conftest.py")
    for i in range(6):  # files that share out: 18 tests of 0.2 s
        write_tests(suite / f"test_plain_{i}.py", f"plain{i}", 3)
    write_tests(suite / "e2e" / "test_browser.py", "browser", 3)
    write_tests(suite / "e2e" / "test_more.py", "more", 2)
    write_tests(suite / "web" / "test_load.py", "load", 2)  # not alone: no rates asserted
    log = tmp_path / "log.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2"]
        + ["--dist", "loadfile", "tests"],
        cwd=tmp_path,
        env={**os.environ, "SCHEDULE_LOG": str(log)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    assert len(runs) == 18 + 3 + 2 + 2
    alone = [r for r in runs if r["test"].startswith("tests/e2e/")]
    others = [r for r in runs if r not in alone]
    assert len({r["pid"] for r in others}) == 2  # the other files were shared out
    assert len({r["pid"] for r in alone}) == 1  # the RUN_ALONE ones ran in one worker
    assert min(r["start"] for r in alone) >= max(r["end"] for r in others)
