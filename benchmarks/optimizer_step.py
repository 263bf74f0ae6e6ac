"""One optimizer step, descentlab against PyTorch's fastest implementation of the same rule.

Part 1, one flat 10M-parameter float32 vector, every elementwise optimizer of
torch.optim that descentlab has: descentlab's step against torch's ``fused=True``
step where torch has one for that optimizer (SGD, Adam, AdamW, Adagrad), else
its ``foreach=True`` step. Targets: Adam and SGD momentum <= 1.0 x torch fused,
every other <= 1.5 x. Also shown, the memory-bandwidth bound of Adam and SGD
momentum, measured in the same run: the bandwidth of an in-place ``a += b`` (3 x
4 N bytes moved) and each step's minimum traffic (SGD momentum reads theta, g, b
and writes theta, b: 5 x 4 N bytes; Adam reads theta, g, m, v and writes theta,
m, v: 7 x 4 N bytes).

Part 2, a model-like parameter group (the weights and biases of a 784-256-128-10
MLP: shapes (256,784), (256,), (128,256), (128,), (10,128), (10,)), as a training
loop hands it over (``Adam(model.parameters())``): the time of one ``step()`` of
descentlab (compiled multi-tensor step, and the NumPy rule alone) against torch's
fused / foreach step on the same shapes.

``--threads`` sets BLAS's, PyTorch's and Numba's threads alike.
"""

from __future__ import annotations

import gc
from collections.abc import Callable

import numpy as np
from _common import alternate, fmt_seconds, parser, report, set_threads

#: (label, descentlab registry name, its settings, torch class, torch settings, target)
CASES: list[tuple[str, str, dict, str, dict, float]] = [
    ("sgd", "sgd", {}, "SGD", {}, 1.5),
    ("sgd momentum", "sgd", {"momentum": 0.9}, "SGD", {"momentum": 0.9}, 1.0),
    (
        "sgd nesterov",
        "sgd",
        {"momentum": 0.9, "nesterov": True},
        "SGD",
        {"momentum": 0.9, "nesterov": True},
        1.5,
    ),
    ("adam", "adam", {}, "Adam", {}, 1.0),
    ("adam amsgrad", "adam", {"amsgrad": True}, "Adam", {"amsgrad": True}, 1.5),
    ("adamw", "adamw", {}, "AdamW", {}, 1.5),
    ("adamw amsgrad", "adamw", {"amsgrad": True}, "AdamW", {"amsgrad": True}, 1.5),
    ("adamax", "adamax", {}, "Adamax", {}, 1.5),
    ("nadam", "nadam", {}, "NAdam", {}, 1.5),
    (
        "nadam decoupled",
        "nadam",
        {"weight_decay": 0.01, "decoupled_weight_decay": True},
        "NAdam",
        {"weight_decay": 0.01, "decoupled_weight_decay": True},
        1.5,
    ),
    ("radam", "radam", {}, "RAdam", {}, 1.5),
    (
        "radam decoupled",
        "radam",
        {"weight_decay": 0.01, "decoupled_weight_decay": True},
        "RAdam",
        {"weight_decay": 0.01, "decoupled_weight_decay": True},
        1.5,
    ),
    ("adagrad", "adagrad", {}, "Adagrad", {}, 1.5),
    ("adadelta", "adadelta", {}, "Adadelta", {}, 1.5),
    ("rmsprop", "rmsprop", {}, "RMSprop", {}, 1.5),
    (
        "rmsprop centered momentum",
        "rmsprop",
        {"centered": True, "momentum": 0.9},
        "RMSprop",
        {"centered": True, "momentum": 0.9},
        1.5,
    ),
    ("rprop", "rprop", {}, "Rprop", {}, 1.5),
    ("asgd", "asgd", {}, "ASGD", {}, 1.5),
]
#: torch.optim classes with a fused CPU step (torch 2.4+); the others run foreach
TORCH_FUSED = {"SGD", "Adam", "AdamW", "Adagrad"}
#: the optimizers timed on the model-like group (--quick: the first two)
GROUP_CASES = ("sgd momentum", "adam", "adamw", "rmsprop", "adagrad")
MODEL_SHAPES = ((256, 784), (256,), (128, 256), (128,), (10, 128), (10,))


def main() -> None:
    args = parser(__doc__).parse_args()
    import torch

    from descentlab import optim
    from descentlab.optim import fused

    set_threads(args.threads)
    if fused.available():
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    n = 200_000 if args.quick else 10_000_000
    reps = args.reps or (2 if args.quick else 30)
    cases = (
        [c for c in CASES if c[0] in ("sgd momentum", "adam", "rmsprop")] if args.quick else CASES
    )
    rng = np.random.default_rng(0)
    mode = fused.get_fast_path() if fused.available() else "numba not installed (NumPy path)"
    print(f"{n:,} float32 parameters, {args.threads} thread(s), fast path: {mode}")

    def torch_optimizer(cls_name: str, ps: list, opts: dict) -> tuple[object, str]:
        kind = "fused" if cls_name in TORCH_FUSED else "foreach"
        return getattr(torch.optim, cls_name)(ps, lr=1e-3, **opts, **{kind: True}), kind

    # -- part 1: one big vector --------------------------------------------------------
    a, b = rng.random(n, dtype=np.float32), rng.random(n, dtype=np.float32)
    rows = []
    for label, name, opts, cls_name, torch_opts, target in cases:
        p = optim.ArrayParam(rng.standard_normal(n).astype(np.float32))
        p.grad = rng.standard_normal(n).astype(np.float32)
        ours = optim.get(name).build([p], lr=1e-3, **opts)
        tp = torch.nn.Parameter(torch.from_numpy(p.data.copy()))
        tp.grad = torch.from_numpy(p.grad.copy())
        theirs, kind = torch_optimizer(cls_name, [tp], torch_opts)
        contenders: dict[str, Callable[[], object]] = {
            f"descentlab {label}": ours.step,
            f"torch {label} ({kind})": theirs.step,  # type: ignore[attr-defined]
        }
        bound_bytes = {"sgd momentum": 5 * 4, "adam": 7 * 4}.get(label)
        if bound_bytes:
            contenders["a += b (bandwidth probe)"] = lambda: a.__iadd__(b)
        times = alternate(contenders, reps, warmup=2)
        extra: dict[str, object] = {"parameters": n, "target": f"<= {target} x torch {kind}"}
        pairs = [(f"descentlab {label}", f"torch {label} ({kind})")]
        if bound_bytes:
            bandwidth = 3 * 4 * n / float(np.median(times["a += b (bandwidth probe)"]))
            times[f"bandwidth bound {label}"] = [bound_bytes * n / bandwidth]
            extra["bandwidth (a += b)"] = f"{bandwidth / 1e9:.1f} GB/s"
            pairs.append((f"descentlab {label}", f"bandwidth bound {label}"))
        result = report(
            f"optimizer step, {label}, {n:,} float32 parameters", times, pairs, extra, args.json
        )
        ours_s = result["stats"][f"descentlab {label}"]["median"]
        theirs_s = result["stats"][f"torch {label} ({kind})"]["median"]
        rows.append((label, ours_s, theirs_s, kind, target))
        del p, ours, tp, theirs
        gc.collect()

    # -- part 2: a model-like group ----------------------------------------------------
    group_rows = []
    for label, name, opts, cls_name, torch_opts, target in cases:
        if label not in GROUP_CASES[: 2 if args.quick else None]:
            continue
        ps = [optim.ArrayParam(rng.standard_normal(s).astype(np.float32)) for s in MODEL_SHAPES]
        for q in ps:
            q.grad = rng.standard_normal(q.data.shape).astype(np.float32)
        ours = optim.get(name).build(ps, lr=1e-3, **opts)
        numpy_ps = [optim.ArrayParam(q.data.copy()) for q in ps]
        for q, r in zip(numpy_ps, ps):
            q.grad = r.grad
        numpy_opt = optim.get(name).build(numpy_ps, lr=1e-3, **opts)

        def numpy_step(opt: optim.Optimizer = numpy_opt) -> None:
            old = fused.get_fast_path()
            fused.set_fast_path("never")
            try:
                opt.step()
            finally:
                fused.set_fast_path(old)

        tps = [torch.nn.Parameter(torch.from_numpy(q.data.copy())) for q in ps]
        for tq, q in zip(tps, ps):
            tq.grad = torch.from_numpy(q.grad.copy())
        theirs, kind = torch_optimizer(cls_name, tps, torch_opts)
        times = alternate(
            {
                f"descentlab {label}": ours.step,
                f"descentlab {label} (NumPy rule)": numpy_step,
                f"torch {label} ({kind})": theirs.step,  # type: ignore[attr-defined]
            },
            max(reps, 20) * 5,
            warmup=3,
        )
        result = report(
            f"model-like group step, {label}, shapes {MODEL_SHAPES}",
            times,
            [
                (f"descentlab {label}", f"torch {label} ({kind})"),
                (f"descentlab {label} (NumPy rule)", f"torch {label} ({kind})"),
            ],
            {"parameters": sum(q.data.size for q in ps)},
            args.json,
        )
        s = result["stats"]
        group_rows.append(
            (
                label,
                s[f"descentlab {label}"]["median"],
                s[f"descentlab {label} (NumPy rule)"]["median"],
                s[f"torch {label} ({kind})"]["median"],
                kind,
            )
        )

    print(f"\n== summary: one step on {n:,} float32 parameters, {args.threads} thread(s)")
    print(f"  {'optimizer':<26}{'descentlab':>11}{'torch':>11}  {'impl':<8}{'ratio':>7}  target")
    for label, ours_s, theirs_s, kind, target in rows:
        ratio = ours_s / theirs_s
        verdict = "ok" if ratio <= target else "MISSED"
        print(
            f"  {label:<26}{fmt_seconds(ours_s):>11}{fmt_seconds(theirs_s):>11}  {kind:<8}"
            f"{ratio:>7.2f}  <= {target}  {verdict}"
        )
    print(f"\n== summary: one step of the model-like group {MODEL_SHAPES}")
    print(f"  {'optimizer':<16}{'descentlab':>11}{'NumPy rule':>12}{'torch':>11}  impl     ratio")
    for label, ours_s, numpy_s, theirs_s, kind in group_rows:
        print(
            f"  {label:<16}{fmt_seconds(ours_s):>11}{fmt_seconds(numpy_s):>12}"
            f"{fmt_seconds(theirs_s):>11}  {kind:<8}{ours_s / theirs_s:>6.2f}"
        )


if __name__ == "__main__":
    main()
