"""Run every benchmark (``--quick``: tiny sizes, checks the scripts work; CI runs this).

Each script prints its own table; with ``--json FILE`` every result is appended
to FILE as one JSON line (the numbers behind RESULTS.md).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["startup.py", "optimizer_step.py", "trajectories.py", "mlp.py", "mnist.py"]


def main() -> int:
    args = sys.argv[1:]
    started = time.perf_counter()
    for script in SCRIPTS:
        print(f"\n### {script} {' '.join(args)}", flush=True)
        result = subprocess.run([sys.executable, str(HERE / script), *args], check=False)
        if result.returncode != 0:
            print(f"{script} failed with exit status {result.returncode}", file=sys.stderr)
            return result.returncode
    print(f"\nall benchmarks ran in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
