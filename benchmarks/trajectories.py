"""Many runs at once: 1,000,000 starts on 2-D Rosenbrock, 200 Adam steps.

descentlab: one call of ``minimize`` with x0 of shape (N, 2) (record=False),
which also checks every run's stopping rule and divergence at every step.
PyTorch: the same computation written with in-place tensor ops (the analytic
gradient, then Adam's update), with no stopping checks at all.
JAX (optional: skipped when not installed): ``jit`` of a ``fori_loop`` of 200 steps of
``vmap(grad(rosenbrock))`` and Adam's update over all rows, x64 enabled.
All in float64 (landscapes are float64 in descentlab), same threads; the three
answers are checked to agree before timing.
Target: descentlab / JAX <= 1.0.
"""

from __future__ import annotations

import numpy as np
from _common import alternate, parser, report, set_threads

STEPS = 200
LR = 1e-2


def starts(n: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.uniform([-2.0, -1.0], [2.0, 3.0], size=(n, 2))


def jax_peer(x0: np.ndarray):  # type: ignore[no-untyped-def]
    """A function running the JAX version (compiled on its first call), or None."""
    try:
        import jax
    except ImportError:
        return None
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    beta1, beta2, eps = 0.9, 0.999, 1e-8

    def rosenbrock(p):  # type: ignore[no-untyped-def]
        return 100.0 * (p[1] - p[0] ** 2) ** 2 + (1.0 - p[0]) ** 2

    grad = jax.vmap(jax.grad(rosenbrock))

    @jax.jit
    def run(X):  # type: ignore[no-untyped-def]
        def body(i, state):  # type: ignore[no-untyped-def]
            X, m, v = state
            t = i + 1
            g = grad(X)
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g * g
            step = LR / (1 - beta1**t)
            denom = jnp.sqrt(v) / jnp.sqrt(1 - beta2**t) + eps
            return X - step * m / denom, m, v

        zeros = jnp.zeros_like(X)
        return jax.lax.fori_loop(0, STEPS, body, (X, zeros, zeros))[0]

    X = jnp.asarray(x0)

    def go() -> np.ndarray:
        return np.asarray(run(X).block_until_ready())

    return go


def main() -> None:
    args = parser(__doc__).parse_args()
    import torch

    set_threads(args.threads)
    try:
        import numba

        numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    except ImportError:
        pass
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

    cases = {"descentlab minimize": ours, "torch in-place ops": theirs}
    pairs = [("descentlab minimize", "torch in-place ops")]
    jax_run = jax_peer(x0)
    reference = ours()
    np.testing.assert_allclose(reference, theirs().numpy(), rtol=1e-6, atol=1e-9)
    if jax_run is None:
        print("jax: skipped (not installed)")
    else:
        np.testing.assert_allclose(reference, jax_run(), rtol=1e-6, atol=1e-9)
        cases["jax jit"] = jax_run
        pairs.insert(0, ("descentlab minimize", "jax jit"))
    times = alternate(cases, reps)
    report(
        f"trajectories: {n:,} starts on Rosenbrock, {STEPS} Adam steps",
        times,
        pairs,
        {"starts": n, "dtype": "float64"},
        args.json,
    )


if __name__ == "__main__":
    main()
