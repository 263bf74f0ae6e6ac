"""Gradient descent on x^2 + y^2 (nothing changes but D) and on the ravine 0.1 x^2 + 2 y^2.

Run: python examples/gd_2d.py
"""

import numpy as np

from descentlab.landscapes import minimize


def main() -> None:
    print("GD on f(x, y) = x^2 + y^2 from (1, 1), 100 steps")
    for eta in (0.1, 0.01, 1.0, 100.0, 1000.0):
        res = minimize("quadratic", [1.0, 1.0], optimizer="gd", lr=eta, steps=100)
        print(
            f"eta = {eta:<7g} status = {res.status:<10} steps = {res.nit:<4d} "
            f"|x| = {np.linalg.norm(res.x):.3e}"
        )
    print()
    print("the ravine 0.1 x^2 + 2 y^2 from (-5, -2): the steep direction limits eta < 2/4")
    lrs = np.array([0.1, 0.4, 0.6])
    res = minimize("ill_conditioned", np.tile([-5.0, -2.0], (3, 1)), lr=lrs, steps=500)
    for eta, status, nit in zip(lrs, res.status, res.nit):
        print(f"eta = {eta:<4g} status = {status:<10} steps = {nit}")
    mom = minimize("ill_conditioned", [-5.0, -2.0], "momentum", lr=0.1, momentum=0.5, steps=500)
    print(f"momentum eta = 0.1, beta = 0.5: status = {mom.status}, steps = {mom.nit}")


if __name__ == "__main__":
    main()
