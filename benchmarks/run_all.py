"""Run every benchmark (``--quick``: tiny sizes, checks the scripts work; CI runs this).

Each script prints its own table; with ``--json FILE`` every result is appended
to FILE as one JSON line (the numbers behind RESULTS.md). The options below are
passed on to every script. A benchmark whose data are absent (MNIST) says that it
skipped them and does not fail the run; no benchmark downloads anything.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from _common import parser

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    "startup.py",
    "optimizer_step.py",
    "trajectories.py",
    "mlp.py",
    "mlp_floor.py",
    "thread_default.py",
    "mnist.py",
    "sweep.py",
]


def main() -> int:
    p = parser(__doc__)
    p.add_argument(
        "--only",
        default=None,
        metavar="NAMES",
        help=f"comma-separated subset of {', '.join(s[:-3] for s in SCRIPTS)}",
    )
    args = p.parse_args()
    forwarded = ["--quick"] if args.quick else []
    for flag, value in (("--reps", args.reps), ("--threads", args.threads), ("--json", args.json)):
        if value is not None:
            forwarded += [flag, str(value)]
    scripts = SCRIPTS
    if args.only:
        wanted = [name.strip().removesuffix(".py") + ".py" for name in args.only.split(",")]
        unknown = [name for name in wanted if name not in SCRIPTS]
        if unknown:
            p.error(
                f"--only: unknown benchmark(s) {', '.join(unknown)}; "
                f"expected some of {', '.join(s[:-3] for s in SCRIPTS)}"
            )
        scripts = [s for s in SCRIPTS if s in wanted]
    started = time.perf_counter()
    for script in scripts:
        print(f"\n### {script} {' '.join(forwarded)}", flush=True)
        result = subprocess.run([sys.executable, str(HERE / script), *forwarded], check=False)
        if result.returncode != 0:
            print(f"{script} failed with exit status {result.returncode}", file=sys.stderr)
            return result.returncode
    print(f"\nall benchmarks ran in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
