"""What bounds the MLP epoch of ``mlp.py``: each kind of work of its step timed alone,
with the same shapes and the same kernels, and their sum against torch's epoch.

The epoch is ``mlp.py``'s (784-256-128-10, ReLU, dropout 0.2, softmax cross-entropy,
batch 128, 60,000 samples of MNIST's shape, float32). Its work, each part an epoch's
worth (469 steps) timed alone:

- the matrix products: the step's eight, into buffers made beforehand, with NumPy's
  BLAS (``mlp.gemms_alone``);
- the update: the compiled loop of descentlab's optimizer (Adam or SGD momentum) over
  one array of the model's 235,146 parameters, its gradient set beforehand: one pass,
  without the optimizer's Python around it, on OpenBLAS's threads side by side where the
  optimizers borrow them (``descentlab._blaspool``), else on one (without Numba: the
  optimizer's ``step`` on that one array);
- the dropout masks: two a step (128 x 256 and 128 x 128), from PCG64's raw bits
  (``nn.functional.keep_mask``);
- the batch gather: a fresh permutation each epoch, then each batch's 128 rows of X and
  labels of y taken from it (what ``data.DataLoader`` does);
- the elementwise rest of the step, written directly on arrays: the three bias adds,
  ReLU and dropout each way (the compiled loops of ``ops.relu_dropout``, or NumPy
  without Numba), the softmax cross-entropy forward and backward, the three bias
  gradients.

Their sum is a floor for any step that runs this work on NumPy, OpenBLAS and the
compiled loops as descentlab runs them: what the autograd, the modules and the interpreter add
comes on top. That, too, is timed alone ("interpretation"): the same public-API loop
(``nn.MLP``, the optimizer, ``DataLoader``, ``backward``, ``step``) over as many steps,
on an MLP 16-16-16-10 with batches of 16, so small that its arithmetic is negligible, with
the compiled loops forced on (``set_fast_path("always")``) so that it takes the big
network's code paths. Its products are too small for the thread policy, which it
therefore leaves out: a lower bound of the interpretation too.

That loop runs with warm caches; in the MLP's step it does not. Between two of the step's
phases its gather, products and update move megabytes through the caches, and the
interpreter's and NumPy's own data (code objects, dicts, types) come back from memory.
"Interpretation, caches cold" times the toy loop with 4 MB copied through the caches
before each of its phases, the copies' own time ("copies alone") taken off: an estimate of
the interpretation as the step pays it.

The ratios of the floor, and of the floor plus the interpretation (warm, and cold), to
torch's epoch say how much of ``mlp.py``'s 0.5 x torch target the work, and the work
interpreted, already take. Each thread setting runs in a process of its own, as in ``mlp.py`` (``1``, ``all``,
``default``, and ``1+ftz`` and ``default+ftz``, where torch flushes subnormals to zero on
all its threads and so escapes the slowdown its fused Adam meets on these random labels:
see ``mlp.py``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import mlp
import numpy as np
from _common import alternate, parser

HERE = Path(__file__).resolve().parent
PARTS = ("GEMMs", "update", "masks", "gather", "elementwise")
#: the toy network that times the loop's interpretation alone
TOY_SIZES, TOY_BATCH = [16, 16, 16, 10], 16
#: bytes copied through the caches before each phase of the toy loop in
#: ``interpretation_cold``: about what the MLP's step moves between two of its phases (the
#: first layer's weights, gradient and Adam moments are 3.2 MB, a batch 0.4 MB; a core's
#: L2 holds 1-2 MB on the machines measured)
COLD_BYTES = 1 << 22


def update_alone(n: int, optimizer: str):
    """An epoch of one optimizer pass a step over all the model's parameters at once: the
    compiled loop alone (no Python around it), or without Numba the optimizer's step."""
    from descentlab import nn

    size = sum(a * b + b for a, b in zip(mlp.SIZES, mlp.SIZES[1:]))
    rng = np.random.default_rng(1)
    theta = rng.standard_normal(size).astype(np.float32)
    grad = rng.standard_normal(size).astype(np.float32) * np.float32(1e-3)
    steps = -(-n // mlp.BATCH)
    try:
        from descentlab.optim import _kernels
    except ImportError:
        param = nn.Parameter(theta)
        param.grad = grad
        opt = mlp._ours(optimizer, [param])

        def stepped() -> None:
            for _ in range(steps):
                opt.step()

        return stepped
    first, second = np.zeros_like(theta), np.zeros_like(theta)
    tiny = float(np.finfo(np.float32).tiny)
    threads = _pool_threads()
    if threads > 1:  # as the optimizers run it: side by side on OpenBLAS's threads
        from descentlab.optim import fused

        rule = "adam" if optimizer == "adam" else "sgd"
        if optimizer == "adam":
            states: list[np.ndarray | None] = [first, second, None]
            shared: tuple = (1e-3, 0.9, 0.999, 1e-8, 0.0, False, False, False)
        else:
            states, shared = [first], (0.01, 0.9, 0.0, 0.0, False, False)

        def pooled() -> None:
            for t in range(1, steps + 1):
                row = (1e-3 / (1 - 0.9**t), (1 - 0.999**t) ** 0.5) if optimizer == "adam" else ()
                fused._pooled(_kernels, rule, theta, grad, states, row, shared, threads)

        return pooled
    if optimizer == "adam":
        unused = np.empty(0, np.float32)

        def compiled() -> None:  # settings of mlp._ours: lr 1e-3, betas (0.9, 0.999)
            for t in range(1, steps + 1):
                coef = np.array([1e-3 / (1 - 0.9**t), (1 - 0.999**t) ** 0.5])
                _kernels.adam_serial(
                    theta, grad, first, second, unused, coef,
                    1e-3, 0.9, 0.999, 1e-8, 0.0, False, False, False, tiny,
                )  # fmt: skip

        return compiled
    coef = np.zeros(1)

    def compiled_sgd() -> None:  # lr 0.01, momentum 0.9
        for _ in range(steps):
            _kernels.sgd_serial(theta, grad, first, coef, 0.01, 0.9, 0.0, 0.0, False, False, tiny)

    return compiled_sgd


def _pool_threads() -> int:
    """The threads of OpenBLAS an optimizer's update may borrow in a training step here:
    BLAS's thread count if descentlab can lend its pool (``descentlab._blaspool``), else 1."""
    from descentlab import _blaspool
    from descentlab.autograd import blas

    policy = blas._get_policy()
    if policy.blas is None or _blaspool._level1 is None or blas.get_policy() == "1":
        return 1
    return policy.blas.current()


def masks_alone(n: int):
    """An epoch of the two dropout masks of each step."""
    from descentlab.nn.functional import keep_mask

    rng = np.random.default_rng(0)
    shapes = [(mlp.BATCH, width) for width in mlp.SIZES[1:-1]]
    steps = -(-n // mlp.BATCH)

    def epoch() -> None:
        for _ in range(steps):
            for shape in shapes:
                keep_mask(rng, shape, 0.2)

    return epoch


def gather_alone(X: np.ndarray, y: np.ndarray):
    """An epoch of shuffled batches gathered from X and y, as the DataLoader does."""
    rng = np.random.default_rng(0)
    n = len(y)

    def epoch() -> None:
        perm = rng.permutation(n)
        for start in range(0, n, mlp.BATCH):
            rows = perm[start : start + mlp.BATCH]
            X.take(rows, axis=0)
            y.take(rows, axis=0)

    return epoch


def _relu_dropout_loops():
    """The compiled ReLU-dropout loops of ``ops.relu_dropout``, or None without Numba."""
    try:
        from descentlab.autograd import _kernels
    except ImportError:
        return None
    return _kernels


def elementwise_alone(n: int):
    """An epoch of the step's work besides the products, the update, the masks and the
    gather, on arrays made beforehand: bias adds, ReLU-dropout both ways, the loss and
    its gradient, bias gradients."""
    rng = np.random.default_rng(0)
    widths = mlp.SIZES[1:]
    z = [rng.standard_normal((mlp.BATCH, w)).astype(np.float32) for w in widths]
    upstream = [rng.standard_normal((mlp.BATCH, w)).astype(np.float32) for w in widths[:-1]]
    biases = [rng.standard_normal(w).astype(np.float32) for w in widths]
    keeps = [rng.random((mlp.BATCH, w)) >= 0.2 for w in widths[:-1]]
    labels = rng.integers(0, widths[-1], mlp.BATCH)
    rows = np.arange(mlp.BATCH)
    scale = 1 / 0.8
    kernels = _relu_dropout_loops()
    steps = -(-n // mlp.BATCH)

    def relu_dropout(x, keep):
        if kernels is None:
            h = np.maximum(x, 0)
            h *= keep * np.float32(scale)
            return h, h != 0
        out, passes = np.empty_like(x), np.empty(x.shape, np.bool_)
        kernels.relu_dropout_forward(
            x.reshape(-1), keep.reshape(-1), scale, out.reshape(-1), passes.reshape(-1)
        )
        return out, passes

    def relu_dropout_back(g, keep, passes):
        if kernels is None:
            return g * (keep * np.float32(scale)) * passes
        out = np.empty_like(g)
        kernels.relu_dropout_backward(
            g.reshape(-1), keep.reshape(-1), passes.reshape(-1), scale, out.reshape(-1)
        )
        return out

    def step() -> None:
        passes = []
        for i, (zi, b) in enumerate(zip(z, biases)):
            h = zi + b
            if i < len(keeps):
                _, p = relu_dropout(h, keeps[i])
                passes.append(p)
        logits = z[-1] + biases[-1]
        shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)
        exp = np.exp(shifted)
        total = np.add.reduce(exp, axis=1, keepdims=True)
        np.add.reduce(-(shifted[rows, labels] - np.log(total)[:, 0])) / mlp.BATCH
        g = exp / total
        g[rows, labels] -= 1
        g *= np.float32(1 / mlp.BATCH)
        np.add.reduce(g, axis=0)
        for i in reversed(range(len(keeps))):
            d = relu_dropout_back(upstream[i], keeps[i], passes[i])
            np.add.reduce(d, axis=0)

    def epoch() -> None:
        for _ in range(steps):
            step()

    return epoch


def interpretation_alone(n: int, optimizer: str):
    """An epoch's worth of steps of the public-API loop on a toy MLP whose arithmetic is
    negligible, with the compiled loops on: what interpreting the step costs by itself."""
    from descentlab.optim import fused

    steps = -(-n // mlp.BATCH)
    rng = np.random.default_rng(2)
    X = rng.random((steps * TOY_BATCH, TOY_SIZES[0]), dtype=np.float32)
    y = rng.integers(0, TOY_SIZES[-1], steps * TOY_BATCH)
    loop = mlp.descentlab_epoch(X, y, optimizer, TOY_SIZES, TOY_BATCH)

    def epoch() -> None:
        before = fused.get_fast_path()
        fused.set_fast_path("always")
        try:
            loop()
        finally:
            fused.set_fast_path(before)

    return epoch


def _cold_buffers() -> tuple[np.ndarray, np.ndarray]:
    source = np.ones(COLD_BYTES // 4, dtype=np.float32)
    return source, np.empty_like(source)


def interpretation_cold(n: int, optimizer: str):
    """The loop of :func:`interpretation_alone`, with :data:`COLD_BYTES` copied through the
    caches before each of its phases (the batch, the forward pass, the loss, the backward
    pass, the step), as the MLP's gather, products and update move theirs: interpreting
    the step when the interpreter's and NumPy's own data must come back from memory each
    time. The copies' own time is :func:`copies_alone`'s, taken off in the report."""
    from descentlab import nn
    from descentlab.optim import fused

    steps = -(-n // mlp.BATCH)
    rng = np.random.default_rng(2)
    X = rng.random((steps * TOY_BATCH, TOY_SIZES[0]), dtype=np.float32)
    y = rng.integers(0, TOY_SIZES[-1], steps * TOY_BATCH)
    model, opt, loader = mlp.descentlab_epoch(X, y, optimizer, TOY_SIZES, TOY_BATCH).parts
    loss_fn = nn.functional.cross_entropy
    source, sink = _cold_buffers()

    def epoch() -> None:
        before = fused.get_fast_path()
        fused.set_fast_path("always")
        try:
            model.train()
            batches = iter(loader)
            while True:
                np.copyto(sink, source)
                batch = next(batches, None)
                if batch is None:
                    break
                opt.zero_grad()
                np.copyto(sink, source)
                out = model(batch[0])
                np.copyto(sink, source)
                loss = loss_fn(out, batch[1])
                np.copyto(sink, source)
                loss.backward()
                np.copyto(sink, source)
                opt.step()
        finally:
            fused.set_fast_path(before)

    return epoch


def copies_alone(n: int):
    """The copies of :func:`interpretation_cold` alone (five a step and one at the end)."""
    steps = -(-n // mlp.BATCH)
    source, sink = _cold_buffers()

    def epoch() -> None:
        for _ in range(5 * steps + 1):
            np.copyto(sink, source)

    return epoch


def child(mode: str, quick: bool, reps: int) -> dict:
    mlp._set_mode(mode)
    n = 6_000 if quick else 60_000
    X, y = mlp.make_data(n)
    out: dict = {"mode": mode, "samples": n, "times": {}}
    for optimizer in ("adam", "sgd_momentum"):
        opt = "adam" if optimizer == "adam" else "sgd"
        cases = {
            "descentlab": mlp.descentlab_epoch(X, y, opt),
            "torch": mlp.torch_epoch(X, y, opt),
            "GEMMs": mlp.gemms_alone(X, "numpy"),
            "update": update_alone(n, opt),
            "masks": masks_alone(n),
            "gather": gather_alone(X, y),
            "elementwise": elementwise_alone(n),
            "interpretation": interpretation_alone(n, opt),
            "interpretation, caches cold": interpretation_cold(n, opt),
            "copies alone": copies_alone(n),
        }
        out["times"][optimizer] = alternate(cases, reps, settle=0.0 if quick else mlp.SETTLE)
    return out


def main() -> None:
    p = parser(__doc__)
    p.add_argument(
        "--modes",
        default=",".join(mlp.MODES),
        help="thread settings to measure, each in its own process (default: %(default)s)",
    )
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    reps = args.reps or (1 if args.quick else 5)
    if args.child:
        print(json.dumps(child(args.child, args.quick, reps)))
        return
    modes = ["default"] if args.quick else args.modes.split(",")
    summarize(mlp.run_children(HERE / "mlp_floor.py", modes, reps, args.quick), args.json)


def summarize(results: dict, json_path: str | None) -> None:
    print("MLP epoch: its work timed part by part, medians (per step in parentheses)")
    for mode, result in results.items():
        steps = -(-result["samples"] // mlp.BATCH)
        for optimizer, times in result["times"].items():
            median = {name: float(np.median(ts)) for name, ts in times.items()}
            floor = sum(median[name] for name in PARTS)
            torch_s, ours = median["torch"], median["descentlab"]
            print(f"\n== {optimizer}, threads: {mode} ({result['samples']} samples)")
            for name in ("descentlab", "torch", *PARTS):
                per_step = median[name] / steps * 1e6
                print(f"  {name:<14} {median[name] * 1e3:8.1f} ms  ({per_step:6.1f} us)")
            print(f"  {'floor (sum)':<14} {floor * 1e3:8.1f} ms  ({floor / steps * 1e6:6.1f} us)")
            spoken = median["interpretation"]
            print(
                f"  {'interpretation':<14} {spoken * 1e3:8.1f} ms  ({spoken / steps * 1e6:6.1f} us)"
            )
            cold = median["interpretation, caches cold"] - median["copies alone"]
            print(
                f"  {'interpretation, caches cold':<14} {cold * 1e3:8.1f} ms  "
                f"({cold / steps * 1e6:6.1f} us; the copies' {median['copies alone'] * 1e3:.1f} ms "
                "taken off)"
            )
            rest = ours - floor
            print(
                f"  descentlab beyond the floor: {rest * 1e3:.1f} ms ({rest / steps * 1e6:.1f} us "
                "a step: autograd, modules, interpreter)"
            )
            print(f"  ratio floor / torch = {floor / torch_s:.3f}   (target of the epoch <= 0.5)")
            print(f"  ratio (floor + interpretation) / torch = {(floor + spoken) / torch_s:.3f}")
            print(
                "  ratio (floor + interpretation, caches cold) / torch = "
                f"{(floor + cold) / torch_s:.3f}"
            )
            print(f"  ratio descentlab / torch = {ours / torch_s:.3f}")
            print(f"  ratio GEMMs / torch = {median['GEMMs'] / torch_s:.3f}")
            if json_path:
                with open(json_path, "a") as fh:
                    record = {
                        "benchmark": f"mlp floor, {optimizer}, threads {mode}",
                        "medians": median,
                        "floor": floor,
                        "ratios": {
                            "floor / torch": floor / torch_s,
                            "(floor + interpretation) / torch": (floor + spoken) / torch_s,
                            "(floor + interpretation, caches cold) / torch": (floor + cold)
                            / torch_s,
                            "descentlab / torch": ours / torch_s,
                        },
                    }
                    fh.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
