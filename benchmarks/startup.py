"""Start-up: ``import descentlab`` and ``descentlab --help`` against ``import torch``.

Each is a fresh interpreter; the time of a bare ``python -c pass`` is reported
too and subtracted, so the numbers are the cost of the import itself.
Targets: ``import descentlab`` costs at most 50 ms more than ``import numpy``
(also given as the ratio of the two, since absolute times differ 4 x between
machines of the same kind); descentlab --help < 0.4 s.
"""

from __future__ import annotations

import subprocess
import sys

from _common import alternate, parser, report

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import numpy": [sys.executable, "-c", "import numpy"],
    "import descentlab": [sys.executable, "-c", "import descentlab"],
    "import descentlab, numpy": [sys.executable, "-c", "import descentlab, numpy"],
    "descentlab --help": [sys.executable, "-m", "descentlab.cli", "--help"],
    "import torch": [sys.executable, "-c", "import torch"],
}


def main() -> None:
    args = parser(__doc__).parse_args()
    reps = args.reps or (1 if args.quick else 15)

    def runner(cmd: list[str]):
        return lambda: subprocess.run(cmd, check=True, capture_output=True)

    times = alternate({k: runner(v) for k, v in COMMANDS.items()}, reps)
    base = sorted(times["python -c pass"])[len(times["python -c pass"]) // 2]
    extra = {}
    cost = {}
    for name in COMMANDS:
        if name == "python -c pass":
            continue
        med = sorted(times[name])[len(times[name]) // 2]
        cost[name] = med - base
        extra[f"{name} minus bare interpreter"] = f"{cost[name]:.3f} s"
    more = cost["import descentlab, numpy"] - cost["import numpy"]
    extra["import descentlab, numpy minus import numpy"] = (
        f"{more * 1e3:.0f} ms (target <= 50 ms), ratio "
        f"{cost['import descentlab, numpy'] / cost['import numpy']:.2f}"
    )
    report(
        "startup (each a fresh interpreter)",
        times,
        [
            ("import descentlab", "import numpy"),
            ("import descentlab, numpy", "import numpy"),
            ("import descentlab", "import torch"),
            ("descentlab --help", "import torch"),
        ],
        extra,
        args.json,
    )


if __name__ == "__main__":
    main()
