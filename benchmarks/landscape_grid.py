"""A network's loss on a 41 x 41 grid: ``landscapes.of_model`` against the naive loop.

The network is an MLP 784-256-128-10 and the data 2,000 random images of MNIST's shape
(784 values in [0, 1], labels 0-9); the plane uses filter-normalized directions.

* ``of_model``: building the landscape (the first layer's products W1 x, D1 x, D2 x,
  once) plus ``value`` on the whole grid (chunks of points as batched products).
* ``naive loop``: what one writes by hand, per grid point: set the weights to
  center + a d1 + b d2, run the model's forward on the data, take the loss. It is timed
  on a sample of grid points (the same for every repetition) and scaled to the grid;
  its values are checked against ``of_model``'s on those points.

Target: the grid in a few seconds on an idle 2-core machine. ``--quick`` (< 10 s):
an 11 x 11 grid on 500 images, the loop on 8 points.
"""

from __future__ import annotations

import time

import numpy as np
from _common import alternate, machine, parser, report, set_threads


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--grid", type=int, default=None, help="points per axis (default 41)")
    p.add_argument("--samples", type=int, default=None, help="images (default 2000)")
    args = p.parse_args()
    set_threads(args.threads)

    from descentlab import landscapes, nn
    from descentlab.autograd import no_grad
    from descentlab.landscapes.network import set_flat_weights
    from descentlab.nn import functional as F

    quick = args.quick
    k = args.grid or (11 if quick else 41)
    n = args.samples or (500 if quick else 2000)
    reps = args.reps or (1 if quick else 3)
    loop_points = 8 if quick else 24

    rng = np.random.default_rng(0)
    X = rng.random((n, 784), dtype=np.float32)
    y = rng.integers(0, 10, n)
    nn.manual_seed(0)
    model = nn.MLP([784, 256, 128, 10])
    axis = np.linspace(-1.0, 1.0, k)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1)
    sample = grid.reshape(-1, 2)[rng.choice(k * k, loop_points, replace=False)]

    f = landscapes.of_model(model, (X, y))  # the directions, reused by the loop
    center, dirs = f.center, f.directions

    def vectorized() -> np.ndarray:
        g = landscapes.of_model(model, (X, y), directions=(dirs[0], dirs[1]))
        return g.value(grid)

    def loop() -> np.ndarray:
        out = np.empty(len(sample))
        model.eval()
        with no_grad():
            for i, (a, b) in enumerate(sample):
                set_flat_weights(model, center + a * dirs[0] + b * dirs[1])
                out[i] = float(F.cross_entropy(model(X), y).data)
        set_flat_weights(model, center)
        model.train()
        return out

    times = alternate(
        {"of_model": vectorized, "naive loop (sample)": loop}, reps, warmup=0 if quick else 1
    )
    scale = k * k / loop_points
    times["naive loop (scaled to the grid)"] = [t * scale for t in times.pop("naive loop (sample)")]
    cpu0 = time.process_time()
    vectorized()
    cpu = time.process_time() - cpu0
    # multiply-adds: the first layer's three products once, then per point the first
    # layer's combination, and the two deeper layers' products
    flops = 2 * (3 * n * 784 * 256 + k * k * n * (3 * 256 + 256 * 128 + 128 * 10))
    t0 = time.perf_counter()
    check = f.value(sample)
    agree = float(np.max(np.abs(check - loop()) / np.abs(check)))
    per_point = time.perf_counter() - t0
    report(
        f"loss on a {k}x{k} grid, MLP 784-256-128-10, {n} images of MNIST's shape",
        times,
        [("naive loop (scaled to the grid)", "of_model")],
        extra={
            "grid points": k * k,
            "naive loop timed on": f"{loop_points} points, scaled by {scale:.1f}",
            "largest relative difference of the two on those points": f"{agree:.1e}",
            "check took": f"{per_point:.2f} s",
            "of_model CPU time (all threads, one more run)": f"{cpu:.2f} s",
            "of_model arithmetic": f"{flops / 1e9:.0f} GFLOP, "
            f"{flops / 1e9 / min(times['of_model']):.1f} GFLOP/s at its best run",
            "points per chunk": f.evaluator.chunk,
            "machine": machine(),
        },
        json_path=args.json,
    )


if __name__ == "__main__":
    main()
