"""One optimizer step on a flat 10M-parameter float32 vector: SGD momentum 0.9 and Adam,
descentlab against PyTorch's fused kernels and against the memory-bandwidth bound.

The bound is measured in the same run: the bandwidth of an in-place ``a += b`` on
arrays of the same size (3 x 4 N bytes moved), and each step's minimum traffic:
SGD momentum reads theta, g, b and writes theta, b (5 x 4 N bytes); Adam reads
theta, g, m, v and writes theta, m, v (7 x 4 N bytes).
Targets: descentlab <= 1.3 x the bound for both.
"""

from __future__ import annotations

import numpy as np
from _common import alternate, parser, report, set_threads


def main() -> None:
    args = parser(__doc__).parse_args()
    import torch

    set_threads(args.threads)
    n = 200_000 if args.quick else 10_000_000
    reps = args.reps or (2 if args.quick else 30)
    rng = np.random.default_rng(0)
    a, b = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    from descentlab import optim

    def bandwidth_probe() -> None:
        a.__iadd__(b)

    results = {}
    for name, bytes_per_element, make_ours, make_torch in (
        (
            "sgd_momentum",
            5 * 4,
            lambda ps: optim.SGD(ps, lr=1e-3, momentum=0.9),
            lambda ps: torch.optim.SGD(ps, lr=1e-3, momentum=0.9, fused=True),
        ),
        (
            "adam",
            7 * 4,
            lambda ps: optim.Adam(ps, lr=1e-3),
            lambda ps: torch.optim.Adam(ps, lr=1e-3, fused=True),
        ),
    ):
        p = optim.ArrayParam(rng.standard_normal(n).astype(np.float32))
        p.grad = rng.standard_normal(n).astype(np.float32)
        ours = make_ours([p])
        tp = torch.nn.Parameter(torch.from_numpy(p.data.copy()))
        tp.grad = torch.from_numpy(p.grad.copy())
        theirs = make_torch([tp])
        times = alternate(
            {
                "a += b (bandwidth probe)": bandwidth_probe,
                f"descentlab {name}": ours.step,
                f"torch {name} (fused)": theirs.step,
            },
            reps,
            warmup=2,
        )
        probe = float(np.median(times["a += b (bandwidth probe)"]))
        bandwidth = 3 * 4 * n / probe
        bound = bytes_per_element * n / bandwidth
        times[f"bandwidth bound {name}"] = [bound]
        extra = {
            "parameters": n,
            "bandwidth (a += b)": f"{bandwidth / 1e9:.1f} GB/s",
            "fast path": optim.fused.get_fast_path()
            if optim.fused.available()
            else "numba not installed (NumPy path)",
        }
        results[name] = report(
            f"optimizer step, {name}, {n:,} float32 parameters",
            times,
            [
                (f"descentlab {name}", f"bandwidth bound {name}"),
                (f"torch {name} (fused)", f"bandwidth bound {name}"),
                (f"descentlab {name}", f"torch {name} (fused)"),
            ],
            extra,
            args.json,
        )


if __name__ == "__main__":
    main()
