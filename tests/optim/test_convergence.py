"""Every registered optimizer converges on a quadratic and on Rosenbrock from (1.5, 1.5)."""

from __future__ import annotations

import numpy as np
import pytest

from descentlab.optim import REGISTRY, AdagradNorm, ArrayParam

# A suitable setting per optimizer: (hyperparameters, steps) on Rosenbrock.
ROSENBROCK = {
    "sgd": ({"lr": 1.5e-3}, 20_000),
    "momentum": ({"lr": 1e-3}, 5_000),
    "nesterov": ({"lr": 1e-3}, 5_000),
    "adagrad": ({"lr": 1.0}, 20_000),
    "adagrad_norm": ({"lr": 1.0}, 20_000),
    "adadelta": ({"lr": 0.05}, 20_000),
    "rmsprop": ({"lr": 3e-4, "momentum": 0.9}, 20_000),
    "adam": ({"lr": 0.02}, 10_000),
    "adamw": ({"lr": 0.02, "weight_decay": 0.0}, 10_000),
    "nadam": ({"lr": 0.01}, 20_000),
    "adamax": ({"lr": 0.02}, 10_000),
    "radam": ({"lr": 2e-3}, 20_000),  # its first steps are plain momentum: lr 0.02 diverges
    "rprop": ({"lr": 0.01}, 5_000),
    "asgd": ({"lr": 1.5e-3}, 20_000),
    "lion": ({"lr": 1e-3}, 10_000),
    "schedulefree_sgd": ({"lr": 1.8e-3}, 20_000),
    "schedulefree_adamw": ({"lr": 0.01}, 20_000),
    "prodigy": ({}, 20_000),
    "adafactor": ({"lr": 1e-3}, 20_000),
    # within 0.01 from step ~1100 on, then it hovers at 0.006-0.009 (0.0076 at 3000,
    # 0.0084 at 20000); its bfloat16-emulated steps are the slowest here (0.25 ms)
    "muon": ({"lr": 1e-3}, 3_000),
    "lbfgs": ({"lr": 1.0}, 50),  # each step is up to max_iter = 20 iterations
}
ROSENBROCK_TOL = {
    "adadelta": 0.05,  # Adadelta creeps along the valley; others get closer
    "muon": 0.01,  # an orthogonalized (here: normalized) step of fixed length eta ~ 1e-3
}
#: Muon takes matrices only: the point is a 1 x 2 matrix for it (normalized-gradient steps).
SHAPE = {"muon": (1, 2)}

QUADRATIC = {
    "sgd": {"lr": 0.15},
    "momentum": {"lr": 0.05},
    "nesterov": {"lr": 0.05},
    "adagrad": {"lr": 1.0},
    "adagrad_norm": {"lr": 1.0},
    "adadelta": {"lr": 0.15},  # near the minimum Adadelta is GD with step ~lr: keep lr < 2/L
    "rmsprop": {"lr": 3e-3},
    "adam": {"lr": 0.01},
    "adamw": {"lr": 0.01, "weight_decay": 0.0},
    "nadam": {"lr": 0.01},
    "adamax": {"lr": 0.01},
    "radam": {"lr": 0.01},
    "rprop": {"lr": 0.01},
    "asgd": {"lr": 0.15},
    "lion": {"lr": 1e-3},
    "schedulefree_sgd": {"lr": 0.1},
    "schedulefree_adamw": {"lr": 0.05},
    "prodigy": {"lr": 0.5},
    "adafactor": {"lr": 0.01},
    "muon": {"lr": 3e-3},
    "lbfgs": {"lr": 1.0},
}

H = np.diag([1.0, 10.0])  # f(x) = x^T H x / 2, L = 10


def rosenbrock_grad(x: np.ndarray) -> np.ndarray:
    """Gradient of (1 - a)^2 + 100 (b - a^2)^2."""
    a, b = x
    return np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])


def _run(opt, p, grad, steps):
    shape = p.data.shape
    for _ in range(steps):
        if opt.needs_closure:  # L-BFGS re-evaluates the gradient in its line search

            def closure() -> float:
                p.grad = grad(p.data.reshape(-1)).reshape(shape)
                return 0.0

            opt.step(closure)
        else:
            p.grad = grad(p.data.reshape(-1)).reshape(shape)
            opt.step()
    if hasattr(opt, "eval"):  # Schedule-Free: the point to evaluate is x, not y
        opt.eval()
    return p.data.reshape(-1)


def _param(name: str, x0: list[float]) -> ArrayParam:
    return ArrayParam(np.array(x0).reshape(SHAPE.get(name, (len(x0),))))


def test_settings_cover_the_registry() -> None:
    assert set(ROSENBROCK) == set(REGISTRY)
    assert set(QUADRATIC) == set(REGISTRY)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_rosenbrock(name: str) -> None:
    kwargs, steps = ROSENBROCK[name]
    p = _param(name, [1.5, 1.5])
    x = _run(REGISTRY[name].build([p], **kwargs), p, rosenbrock_grad, steps)
    assert np.linalg.norm(x - 1.0) < ROSENBROCK_TOL.get(name, 5e-3)


@pytest.mark.parametrize("name", list(REGISTRY))
def test_quadratic(name: str) -> None:
    p_start = np.array([3.0, -2.0])
    p = _param(name, [3.0, -2.0])
    x = _run(REGISTRY[name].build([p], **QUADRATIC[name]), p, lambda x: H @ x, 3_000)
    f0 = 0.5 * p_start @ H @ p_start
    assert 0.5 * x @ H @ x < 1e-5 * f0


@pytest.mark.parametrize(
    "name", [n for n, spec in REGISTRY.items() if "maximize" in spec.hyperparameters]
)
def test_maximize_ascends(name: str) -> None:
    """maximize=True climbs -f: the value of f(x) = ||x||^2/2 must fall when ascending -f."""
    p = _param(name, [3.0, -2.0])
    opt = REGISTRY[name].build([p], **{**QUADRATIC[name], "maximize": True})
    x = _run(opt, p, lambda x: -(H @ x), 200)
    assert x @ H @ x < np.array([3.0, -2.0]) @ H @ np.array([3.0, -2.0])


def test_adagrad_norm_survives_a_first_step_above_2_over_L() -> None:
    """First step eta/||g_1|| * ||g_1|| ~ eta: 0.5 > 2/L = 0.2 diverges for fixed-step GD."""
    x0 = np.array([1.0, 0.0])
    g1 = H @ x0
    lr = 5.0
    first_step = lr / np.sqrt(1e-10 + g1 @ g1)  # = 0.5
    assert first_step > 2 * (2 / 10)

    p = ArrayParam(x0.copy())
    x = _run(AdagradNorm([p], lr=lr), p, lambda x: H @ x, 500)
    assert np.linalg.norm(x) < 1e-8

    q = ArrayParam(x0.copy())
    y = _run(REGISTRY["sgd"].build([q], lr=first_step), q, lambda x: H @ x, 50)
    assert np.linalg.norm(y) > 1e10
