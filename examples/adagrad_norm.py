"""AdaGrad-Norm (Ward, Wu & Bottou 2019) converges with a first step far above 2/L where
fixed-step GD taking the same first step diverges.

x_{t+1} = x_t - eta / sqrt(b_0^2 + sum_j ||g_j||^2) g_t

Run: python examples/adagrad_norm.py
"""

import numpy as np

from descentlab import landscapes
from descentlab.landscapes import minimize


def main() -> None:
    f = landscapes.get("ill_conditioned")  # L = 4, so GD needs eta < 0.5
    x0 = np.array([-5.0, -2.0])
    eta = 20.0
    first = eta / np.sqrt(1e-10 + np.sum(f.grad(x0) ** 2))
    ada = minimize(f, x0, "adagrad_norm", lr=eta, steps=2000)
    gd = minimize(f, x0, "gd", lr=first, steps=2000)
    print(f"first step size eta / b_1 = {first:.3f} (2 / L = 0.5)")
    print(f"AdaGrad-Norm: status = {ada.status}, steps = {ada.nit}")
    print(f"GD (lr = {first:.3f}): status = {gd.status}, steps = {gd.nit}")


if __name__ == "__main__":
    main()
