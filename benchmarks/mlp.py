"""One epoch of an MLP 784-256-128-10 (ReLU, dropout 0.2 after each hidden layer,
softmax cross-entropy, batch 128) on 60,000 samples of MNIST's shape, with Adam
(PyTorch: its fastest Adam, ``fused=True``) and with SGD momentum 0.9.

Both use float32, the same data, the same threads, a fresh shuffle per epoch;
repetitions alternate. Peak memory of each is measured in a child process that
trains one epoch. Targets: descentlab / PyTorch <= 0.5 for both optimizers.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
from _common import alternate, parser, report, set_threads

SIZES = [784, 256, 128, 10]
BATCH = 128


def make_data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n)
    return X, y


def descentlab_epoch(X: np.ndarray, y: np.ndarray, optimizer: str):
    from descentlab import nn
    from descentlab.train import Trainer

    nn.manual_seed(0)
    model = nn.MLP(SIZES, dropout=0.2)
    options = (
        {"name": "adam", "lr": 1e-3}
        if optimizer == "adam"
        else {"name": "sgd", "lr": 0.01, "momentum": 0.9}
    )
    trainer = Trainer(
        model, (X, y), optimizer=options, epochs=10**9, batch_size=BATCH, seed=0, progress=False
    )
    return trainer.run_epoch


def torch_epoch(X: np.ndarray, y: np.ndarray, optimizer: str):
    import torch

    torch.manual_seed(0)
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(SIZES)):
        layers.append(torch.nn.Linear(a, b))
        if i < len(SIZES) - 2:
            layers += [torch.nn.ReLU(), torch.nn.Dropout(0.2)]
    model = torch.nn.Sequential(*layers)
    if optimizer == "adam":
        opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=True)
    else:
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    n = len(yt)
    loss_fn = torch.nn.functional.cross_entropy

    def epoch() -> None:
        model.train()
        perm = torch.randperm(n)
        Xs, ys = Xt[perm], yt[perm]
        for i in range(0, n, BATCH):
            opt.zero_grad(set_to_none=True)
            loss = loss_fn(model(Xs[i : i + BATCH]), ys[i : i + BATCH])
            loss.backward()
            opt.step()

    return epoch


def peak_memory_mb(which: str, optimizer: str, n: int, threads: int) -> float:
    """Peak resident memory added by one epoch, in a child process: after a warm-up
    epoch (imports, JIT compilation, first allocations), the kernel's peak counter
    is reset (``/proc/self/clear_refs``) and read again after a second epoch."""
    code = (
        "import sys; sys.path.insert(0, 'benchmarks'); sys.argv=['x'];"
        "import mlp, _common;"
        f"X, y = mlp.make_data({n});"
        f"fn = mlp.{which}_epoch(X, y, {optimizer!r});"
        f"_common.set_threads({threads});"
        "fn(); before = _common.reset_peak_rss(); fn();"
        "print(before, _common.peak_rss_mb())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=str(Path(__file__).resolve().parents[1]),
    )
    before, peak = map(float, out.stdout.split()[-2:])
    return peak - before


def main() -> None:
    args = parser(__doc__).parse_args()
    import torch  # noqa: F401  (so that set_threads limits its threads too)

    set_threads(args.threads)
    n = 6_000 if args.quick else 60_000
    reps = args.reps or (1 if args.quick else 7)
    X, y = make_data(n)
    results = []
    for optimizer in ("adam", "sgd_momentum"):
        opt = "adam" if optimizer == "adam" else "sgd"
        cases = {
            f"descentlab {optimizer}": descentlab_epoch(X, y, opt),
            f"torch {optimizer}" + (" (fused)" if opt == "adam" else ""): torch_epoch(X, y, opt),
        }
        times = alternate(cases, reps)
        names = list(cases)
        extra = {"samples": n, "batch": BATCH, "threads": args.threads}
        if not args.quick:
            for which, name in zip(("descentlab", "torch"), names):
                extra[f"peak memory added by an epoch, {name}"] = (
                    f"{peak_memory_mb(which, opt, n, args.threads):.0f} MB"
                )
        results.append(
            report(f"mlp epoch, {optimizer}", times, [(names[0], names[1])], extra, args.json)
        )


if __name__ == "__main__":
    main()
