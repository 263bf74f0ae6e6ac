"""Basins of attraction: GD from a 21 x 21 grid of starts on Himmelblau's function
reaches each of its four minima; one vectorized run of 441 problems.

Run: python examples/himmelblau_basins.py
"""

import numpy as np

from descentlab import landscapes
from descentlab.landscapes import minimize


def main() -> None:
    f = landscapes.get("himmelblau")
    g = np.linspace(-4.5, 4.5, 21)
    X0 = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    res = minimize(f, X0, "gd", lr=0.01, steps=3000)
    dist = np.linalg.norm(res.x[:, None] - f.minima[None], axis=-1)
    basin = dist.argmin(axis=1)
    print(f"{len(X0)} starts, {int((res.status == 'converged').sum())} converged")
    for k, m in enumerate(f.minima):
        print(f"minimum ({m[0]: .6f}, {m[1]: .6f}): {int((basin == k).sum())} starts")
    print(f"all four minima reached: {len(set(basin.tolist())) == 4}")


if __name__ == "__main__":
    main()
