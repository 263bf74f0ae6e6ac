"""GD vs SGD (batch sizes 1 and 4) on the least-squares line through eight points.

Every run reaches the neighbourhood of the least-squares solution; SGD with batch size b
takes n / b steps per epoch.

Run: python examples/gd_vs_sgd_regression.py
"""

import numpy as np

from descentlab.landscapes import eight_points, minimize


def main() -> None:
    f = eight_points()
    print(f"least-squares solution (w, b) = {f.solution.round(4).tolist()}")
    epochs = 50
    for b in (None, 1, 4):
        steps = epochs * (1 if b is None else f.n_samples // b)
        res = minimize(
            f, [0.0, 0.0], "sgd", lr=0.02 if b else 0.05, steps=steps, batch_size=b, seed=0, tol=0.0
        )
        per_epoch = np.bincount(res.trajectory.epochs)[1]
        name = "GD" if b is None else f"SGD b={b}"
        print(
            f"{name:<9} {epochs} epochs = {res.nit} steps ({per_epoch} per epoch): "
            f"(w, b) = {res.x.round(3).tolist()}, "
            f"distance to solution = {np.linalg.norm(res.x - f.solution):.3f}"
        )


if __name__ == "__main__":
    main()
