"""Sweeps in parallel: the local backend on every core against one worker.

A CPU-bound sweep, the digits MLP 64-64-10 trained for 40 epochs with SGD,
momentum and Adam over 4 learning rates and 6 seeds (72 trials of about half a
second each), runs end to end as a user runs it: ``descentlab sweep digits ...``
in a fresh interpreter, once with ``--workers 1`` (in that process) and once with
the local backend's default, a pool of one process per core (its start-up and each
worker's loading of the data included). Both sides use one BLAS thread per trial
(the pool sets that for its workers; the one-worker run gets the same through the
thread variables). Repetitions alternate; both give identical records (checked).
The pool's start-up (spawning the workers, each importing scikit-learn and
loading digits: about 2 s here) is paid once per sweep, so a shorter sweep gains
less; the share of the pool's cores busy with trials is reported too. So is the
load average before the runs: other work on the machine takes cores from the pool.
Target: a speed-up of at least 1.7 x on 2 cores.

Then (not with ``--quick``) the built-in benchmark end to end:
``descentlab sweep --suite lecture --out DIR``, report included.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import alternate, machine, parser, report

TARGET = 1.7
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
FULL = [
    "digits",
    "--optimizers",
    "sgd,momentum,adam",
    "--lr",
    "1e-3:1:4",
    "--seeds",
    "6",
    "--epochs",
    "40",
    "--hidden",
    "64",
]
QUICK = ["booth", "--optimizers", "sgd,adam", "--lr", "1e-2:1e-1:3", "--seeds", "1"]
QUICK += ["--steps", "50"]


class Runs:
    """Each call runs the sweep once in a fresh interpreter, into a fresh folder."""

    def __init__(self, root: Path, args: list[str], workers: list[str]) -> None:
        self.root, self.args, self.workers = root, args, workers
        self.folders: list[Path] = []

    def __call__(self) -> None:
        out = self.root / f"run{len(self.folders)}"
        env = {**os.environ, **dict.fromkeys(THREAD_VARIABLES, "1")}
        command = [sys.executable, "-m", "descentlab.cli", "sweep", *self.args, *self.workers]
        subprocess.run([*command, "--out", str(out), "--quiet", "--no-report"], env=env, check=True)
        self.folders.append(out)

    def records(self) -> dict[str, dict]:
        """The last run's records, without their times and worker."""
        return {
            key: {k: v for k, v in r.items() if k not in ("wall_time_s", "worker")}
            for key, r in self.raw().items()
        }

    def raw(self) -> dict[str, dict]:
        lines = (self.folders[-1] / "trials.jsonl").read_text().splitlines()
        return {r["key"]: r for r in map(json.loads, lines)}


def main() -> int:
    args = parser(__doc__).parse_args()
    reps = args.reps or (1 if args.quick else 3)
    cores = os.cpu_count() or 1
    sweep_args = QUICK if args.quick else FULL
    one, pool = "--workers 1", f"local backend, {cores} workers"
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    with tempfile.TemporaryDirectory() as tmp:
        runs = {
            one: Runs(Path(tmp) / "one", sweep_args, ["--workers", "1"]),
            pool: Runs(Path(tmp) / "pool", sweep_args, []),
        }
        times = alternate(dict(runs), reps, warmup=0)
        same = runs[one].records() == runs[pool].records()
        trials = len(runs[one].records())
        in_trials = sum(r["wall_time_s"] for r in runs[pool].raw().values())
        busy = in_trials / (cores * times[pool][-1])
        lecture = None
        if not args.quick:
            started = time.perf_counter()
            out = Path(tmp) / "lecture"
            subprocess.run(
                [sys.executable, "-m", "descentlab.cli", "sweep", "--suite", "lecture"]
                + ["--out", str(out), "--quiet"],
                check=True,
            )
            lecture = time.perf_counter() - started
            lecture_trials = len((out / "trials.jsonl").read_text().splitlines())
    if not same:
        print("sweep: the pool gave other records than one worker", file=sys.stderr)
        return 1
    speedup = statistics.median(times[one]) / statistics.median(times[pool])
    cpu = machine().get("cpu", "an unknown CPU")
    met = "" if args.quick else f" ({'met' if speedup >= TARGET else 'not met'})"
    extra: dict[str, object] = {
        "speed-up (--workers 1 / local)": f"{speedup:.2f} x on {cores} cores of {cpu}",
        "target": f">= {TARGET} x on 2 cores{met}",
        "trials per sweep": trials,
        "pool cores busy with trials (last run)": f"{busy:.0%}",
        "threads": "1 BLAS thread per trial on both sides",
        "records identical": same,
        "load average (1 min) before": "unknown" if load is None else f"{load:.2f}",
        "command": "descentlab sweep " + " ".join(sweep_args),
    }
    if lecture is not None:
        extra["descentlab sweep --suite lecture, end to end with the report"] = (
            f"{lecture:.1f} s for {lecture_trials} trials on {cores} cores"
        )
    title = "sweep: " + ("quick" if args.quick else f"digits MLP, {trials} trials") + ", end to end"
    report(title, times, [(one, pool)], extra, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
