"""Many runs at once: 1,000,000 starts on 2-D Rosenbrock, 200 Adam steps.

descentlab: one call of ``minimize`` with x0 of shape (N, 2) (record=False),
which also checks every run's stopping rule and divergence at every step.
PyTorch: the same computation written with in-place tensor ops (the analytic
gradient, then Adam's update), with no stopping checks at all.
Both in float64 (landscapes are float64 in descentlab), same threads.
Target: descentlab / PyTorch <= 0.6.
"""

from __future__ import annotations

import numpy as np
from _common import alternate, parser, report, set_threads

STEPS = 200
LR = 1e-2


def starts(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform([-2.0, -1.0], [2.0, 3.0], size=(n, 2))


def main() -> None:
    args = parser(__doc__).parse_args()
    import torch

    set_threads(args.threads)
    n = 20_000 if args.quick else 1_000_000
    reps = args.reps or (1 if args.quick else 5)
    x0 = starts(n)

    from descentlab import minimize

    def ours() -> np.ndarray:
        res = minimize(
            "rosenbrock", x0, optimizer="adam", lr=LR, steps=STEPS, tol=1e-12, record=False
        )
        return res.x

    def theirs() -> torch.Tensor:
        X = torch.from_numpy(x0.copy())
        m, v = torch.zeros_like(X), torch.zeros_like(X)
        g, tmp = torch.empty_like(X), torch.empty(n, dtype=X.dtype)
        beta1, beta2, eps = 0.9, 0.999, 1e-8
        x, y = X[:, 0], X[:, 1]
        for t in range(1, STEPS + 1):
            # f = (1 - x)^2 + 100 (y - x^2)^2
            torch.mul(x, x, out=tmp)
            tmp.neg_().add_(y)  # y - x^2
            torch.mul(tmp, 200.0, out=g[:, 1])
            torch.mul(tmp, x, out=g[:, 0]).mul_(-400.0)
            g[:, 0].add_(x, alpha=2.0).sub_(2.0)
            m.mul_(beta1).add_(g, alpha=1 - beta1)
            v.mul_(beta2).addcmul_(g, g, value=1 - beta2)
            bc1, bc2 = 1 - beta1**t, 1 - beta2**t
            denom = (v / bc2).sqrt_().add_(eps)
            X.addcdiv_(m, denom, value=-LR / bc1)
        return X

    np.testing.assert_allclose(ours(), theirs().numpy(), rtol=1e-6, atol=1e-9)
    times = alternate({"descentlab minimize": ours, "torch in-place ops": theirs}, reps)
    report(
        f"trajectories: {n:,} starts on Rosenbrock, {STEPS} Adam steps",
        times,
        [("descentlab minimize", "torch in-place ops")],
        {"starts": n, "dtype": "float64"},
        args.json,
    )


if __name__ == "__main__":
    main()
