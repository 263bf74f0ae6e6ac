"""descentlab's default BLAS thread policy against the better of one thread and all
threads, on the MLP epoch of ``mlp.py`` (784-256-128-10, dropout 0.2, batch 128,
60,000 samples), all in one process: the policies "1", "inherit" (OpenBLAS's own
threads, all of them) and "auto" (the default) alternate epoch by epoch, so that a
slower spell of a shared machine does not pass for a policy's cost. Target: "auto"
at most 1.10 x the better of the other two, idle and beside busy processes (``--load``).

``--other-bits`` makes the policy see the bits of a machine such as the AMD EPYC VM of
RESULTS.md: no product's parts give the whole product's bits, and no whole product on
all threads gives one thread's bits. Products from ``blas.SPLIT_WORK`` on then run in
parts (in turn, or side by side), and smaller ones on one thread, always: what "auto"
can reach there, measured on this machine.
"""

from __future__ import annotations

import statistics
from typing import Any

from _common import alternate, paired_better, parser, report
from mlp import SETTLE, _with_policy, busy, descentlab_epoch, make_data


def assume_other_bits() -> None:
    """The policy's checks answer as on a machine whose parts and threads give other bits."""
    from descentlab.autograd import blas

    found = blas.Policy._new_product

    def new_product(self: Any, layout: tuple[Any, ...], a: Any, b: Any) -> Any:
        product = found(self, layout, a, b)
        large = a.shape[-2] * a.shape[-1] * b.shape[-1] >= blas.SPLIT_WORK
        inexact = blas._Product(product.parts if large else None, exact=False)
        self.products[layout] = inexact
        return inexact

    blas.Policy._new_product = new_product  # type: ignore[method-assign]
    blas.Policy._same_bits = lambda self, a, b: False  # type: ignore[method-assign]


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--other-bits", action="store_true", help="simulate the AMD VM's bits")
    p.add_argument("--load", type=int, default=0, help="busy processes to run meanwhile")
    args = p.parse_args()
    reps = args.reps or (1 if args.quick else 5)
    if args.other_bits:
        assume_other_bits()
    from descentlab.autograd import blas

    X, y = make_data(6_000 if args.quick else 60_000)
    with busy(args.load):
        for optimizer in ("adam", "sgd_momentum"):
            opt = "adam" if optimizer == "adam" else "sgd"
            cases = {
                f"policy {policy}": _with_policy(descentlab_epoch(X, y, opt), policy)
                for policy in ("1", "inherit", "auto")
            }
            times = alternate(cases, reps, settle=SETTLE)
            med = {name: statistics.median(t) for name, t in times.items()}
            better = min(med["policy 1"], med["policy inherit"])
            paired = paired_better(times["policy auto"], times["policy 1"], times["policy inherit"])
            extra = {
                "auto / the better of 1 and inherit (target <= 1.10)": f"{med['policy auto'] / better:.3f}",
                "the same, repetition by repetition (median)": f"{paired:.3f}",
                "bits": "simulated: other bits for parts and threads"
                if args.other_bits
                else "this machine's",
                "busy processes alongside": args.load,
            }
            title = f"thread default, mlp epoch, {optimizer}"
            report(
                title,
                times,
                [("policy auto", "policy 1"), ("policy auto", "policy inherit")],
                extra,
                args.json,
            )
        for shape, choice in blas.choices().items():
            print(f"  thread policy: {shape}: {choice}")


if __name__ == "__main__":
    main()
