"""Start-up: ``import descentlab`` and ``descentlab --help`` against ``import torch``.

Each is a fresh interpreter; the time of a bare ``python -c pass`` is reported
too and subtracted, so the numbers are the cost of the import itself.
Targets: import descentlab < 0.2 s, descentlab --help < 0.4 s.
"""

from __future__ import annotations

import subprocess
import sys

from _common import alternate, parser, report

COMMANDS = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import descentlab": [sys.executable, "-c", "import descentlab"],
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
    for name in ("import descentlab", "descentlab --help", "import torch"):
        med = sorted(times[name])[len(times[name]) // 2]
        extra[f"{name} minus bare interpreter"] = f"{med - base:.3f} s"
    report(
        "startup (each a fresh interpreter)",
        times,
        [("import descentlab", "import torch"), ("descentlab --help", "import torch")],
        extra,
        args.json,
    )


if __name__ == "__main__":
    main()
