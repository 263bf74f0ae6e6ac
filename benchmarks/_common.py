"""Shared helpers of the benchmarks: alternating repetitions, statistics, tables.

Each benchmark runs descentlab and PyTorch in the same process (or the same
invocation), alternating repetitions so that machine noise hits both alike,
and reports the median, the spread (min-max) and the ratio descentlab / PyTorch.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes, one repetition: checks the script works (CI)",
    )
    p.add_argument("--reps", type=int, default=None, help="repetitions per contender")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--json", default=None, help="append the results as JSON lines to this file")
    return p


def set_threads(n: int) -> None:
    """The same number of threads for NumPy's BLAS and PyTorch."""
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(n)
    except ImportError:
        pass
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)


def reset_peak_rss() -> float:
    """Reset the kernel's peak-RSS counter (Linux) and return the RSS now, in MB."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")
    return rss_mb()


def peak_rss_mb() -> float:
    """The peak resident memory since the last reset (VmHWM), in MB."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def rss_mb() -> float:
    """The resident memory of this process now, in MB (Linux)."""
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def alternate(
    cases: dict[str, Callable[[], object]], reps: int, warmup: int = 1, settle: float = 0.0
) -> dict[str, list[float]]:
    """Time each case ``reps`` times, interleaved, after warm-up: the cases in their order in
    even repetitions and in reverse in odd ones (a, b, c, c, b, a, ...), so that a drift of
    the machine's speed over a run, or one case's wake, does not favour a case.

    ``settle``: seconds to wait before each timed run, so that one case's leftovers (BLAS
    threads that spin on for a while after a product) do not run into the next case's time.
    """
    for fn in cases.values():
        for _ in range(warmup):
            fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    order = list(cases.items())
    for rep in range(reps):
        for name, fn in order if rep % 2 == 0 else order[::-1]:
            time.sleep(settle)
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def paired_better(chosen: list[float], one: list[float], every: list[float]) -> float:
    """The median over repetitions of ``chosen``'s time over the better of ``one`` and
    ``every`` in the same repetition (of :func:`alternate`): a spell of a slow core that
    falls on some repetitions (on a VM, for seconds at a time) weighs on all three alike,
    where a ratio of medians can set one case's slow repetitions against another's fast."""
    return statistics.median(c / min(o, e) for c, o, e in zip(chosen, one, every, strict=True))


def stats(samples: list[float]) -> dict[str, float]:
    return {
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "n": len(samples),
    }


def fmt_seconds(s: float) -> str:
    if s >= 1:
        return f"{s:.3f} s"
    if s >= 1e-3:
        return f"{s * 1e3:.2f} ms"
    return f"{s * 1e6:.1f} us"


def report(
    title: str,
    times: dict[str, list[float]],
    pairs: list[tuple[str, str]],
    extra: dict[str, object] | None = None,
    json_path: str | None = None,
) -> dict:
    """Print a table of medians and spreads, and the ratios ``a / b`` for each pair."""
    print(f"\n== {title}")
    rows = {name: stats(samples) for name, samples in times.items()}
    width = max(len(n) for n in rows)
    for name, s in rows.items():
        print(
            f"  {name:<{width}}  median {fmt_seconds(s['median']):>10}   "
            f"spread {fmt_seconds(s['min'])} .. {fmt_seconds(s['max'])}   (n={s['n']})"
        )
    ratios, paired = {}, {}
    for a, b in pairs:
        ratio = rows[a]["median"] / rows[b]["median"]
        ratios[f"{a} / {b}"] = ratio
        line = f"  ratio {a} / {b} = {ratio:.3f}"
        if len(times[a]) == len(times[b]) > 1:
            # the two timed in the same repetition, next to each other or nearly: the median
            # of those ratios is blind to the machine's slower spells between repetitions
            paired[f"{a} / {b}"] = within = statistics.median(
                x / y for x, y in zip(times[a], times[b])
            )
            line += f" (repetition by repetition: median {within:.3f})"
        print(line)
    for key, value in (extra or {}).items():
        print(f"  {key}: {value}")
    result = {
        "benchmark": title,
        "stats": rows,
        "ratios": ratios,
        "paired ratios": paired,
        "extra": extra or {},
        "machine": machine(),
    }
    if json_path:
        with open(json_path, "a") as fh:
            fh.write(json.dumps(result) + "\n")
    return result


def machine() -> dict[str, object]:
    import numpy

    info = {
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
    }
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        pass
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info
