"""Gradient descent on f(x) = x^2 from x0 = 1 with five learning rates.

eta = 0.1 converges, eta = 0.01 creeps, eta = 1 bounces between +1 and -1, and
eta = 100 or 1000 diverge within a few steps (x_{t+1} = (1 - 2 eta) x_t).

Run: python examples/gd_1d_learning_rates.py
"""

from descentlab.landscapes import minimize


def main() -> None:
    print("GD on f(x) = x^2 from x0 = 1, 100 steps")
    for eta in (0.1, 0.01, 1.0, 100.0, 1000.0):
        res = minimize("parabola", 1.0, optimizer="gd", lr=eta, steps=100)
        print(
            f"eta = {eta:<7g} status = {res.status:<10} steps = {res.nit:<4d} "
            f"x = {res.x[0]: .3e}   {res.message}"
        )


if __name__ == "__main__":
    main()
