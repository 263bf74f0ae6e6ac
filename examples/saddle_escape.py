"""The strict saddle x^2 - y^2: GD from (1, 0) converges to the saddle point; gradient
noise or perturbed GD (Jin et al. 2017) escapes (f drops below -1).

Run: python examples/saddle_escape.py
"""

import numpy as np

from descentlab.landscapes import minimize


def main() -> None:
    gd = minimize("saddle", [1.0, 0.0], lr=0.1, steps=300)
    print(f"GD:           status = {gd.status}, x = {gd.x.round(8).tolist()}, f = {gd.fun:.2e}")
    noisy = minimize("saddle", [1.0, 0.0], lr=0.1, steps=200, grad_noise=0.01, seed=0)
    report("noisy GD:    ", noisy)
    pgd = minimize(
        "saddle",
        [1.0, 0.0],
        lr=0.1,
        steps=200,
        seed=0,
        perturb={"radius": 0.01, "threshold": 1e-3, "interval": 10},
    )
    report("perturbed GD:", pgd)


def report(label: str, res) -> None:
    values = res.trajectory.values
    escaped = bool(values.min() < -1)
    when = int(np.argmax(values < -1)) if escaped else None
    print(
        f"{label} escaped = {escaped} (f < -1 first at step {when}); f = x^2 - y^2 is "
        f"unbounded below, so the run ends as {res.status!r} after {res.nit} steps"
    )


if __name__ == "__main__":
    main()
