"""ASGD: golden steps by hand, errors as torch's, random configurations against torch."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from descentlab.optim import ASGD, REGISTRY, ArrayParam

from .harness import STEPS, check_parity, float64_torch

__all__ = ["float64_torch"]

SPEC = REGISTRY["asgd"]
WORST: list[float] = []  # one worst relative error per random configuration


def teardown_module() -> None:
    if WORST:
        print(f"\nasgd: {len(WORST)} random configurations, worst relative error {max(WORST):.2e}")


def test_first_step_by_hand() -> None:
    p = ArrayParam([1.0])
    opt = ASGD([p], lr=0.1, lambd=0.5, alpha=1.0, t0=1.0)
    p.grad = np.array([2.0])
    opt.step()  # theta = 1 (1 - 0.5 * 0.1) - 0.1 * 2 = 0.75; mu = 1: ax = theta
    np.testing.assert_allclose(p.data, [0.75], rtol=1e-15)
    state = opt.state[p]
    np.testing.assert_allclose(state["ax"], [0.75], rtol=1e-15)
    np.testing.assert_allclose(state["eta"], 0.1 / 1.05, rtol=1e-15)  # eta / (1 + lambd eta t)
    assert state["mu"] == 1.0 and state["step"] == 1
    assert set(state) == {"step", "eta", "mu", "ax"}


def test_average_starts_after_t0() -> None:
    """With t0 = 1: ax_t = theta_t up to t = 3, then the mean of theta_3, ..., theta_t."""
    lr, lambd, alpha, t0 = 0.1, 0.5, 1.0, 1.0
    grads = [2.0, 1.0, -0.5, 0.25, 1.5, -1.0]
    p = ArrayParam([1.0])
    opt = ASGD([p], lr=lr, lambd=lambd, alpha=alpha, t0=t0)
    theta, eta, thetas = 1.0, lr, []
    for t, g in enumerate(grads, start=1):
        p.grad = np.array([g])
        opt.step()
        theta = theta * (1 - lambd * eta) - eta * g
        thetas.append(theta)
        eta = lr / (1 + lambd * lr * t) ** alpha
        np.testing.assert_allclose(p.data, [theta], rtol=1e-14)
        expected_ax = theta if t <= 3 else np.mean(thetas[2:])
        np.testing.assert_allclose(opt.state[p]["ax"], [expected_ax], rtol=1e-14)
    assert opt.state[p]["mu"] == 1 / (len(grads) - t0)


def test_weight_decay_and_maximize() -> None:
    p = ArrayParam([2.0])
    opt = ASGD([p], lr=0.1, lambd=0.0, weight_decay=0.5, maximize=True)
    p.grad = np.array([-3.0])
    opt.step()  # g = 3 + 0.5 * 2 = 4 -> theta = 2 - 0.4
    np.testing.assert_allclose(p.data, [1.6], rtol=1e-15)


def test_parameter_without_gradient_is_skipped() -> None:
    a, b = ArrayParam([1.0]), ArrayParam([1.0])
    opt = ASGD([a, b], lr=0.1)
    a.grad = np.array([1.0])
    opt.step()
    assert b.data[0] == 1.0 and b not in opt.state and a.data[0] < 1.0


# What torch.optim.ASGD refuses with ValueError, refused by us too (naming the value).
REFUSED = [
    ({"lr": -1e-3}, "lr"),
    ({"lr": float("nan")}, "lr"),
    ({"weight_decay": -0.1}, "weight_decay"),
    ({"weight_decay": float("nan")}, "weight_decay"),
]

# Refused by us although torch accepts them: NaN poisons every step, a negative lambd
# grows the step (and makes (1 + lambd eta t)^alpha NaN), a negative alpha grows eta_t.
STRICTER = [
    ({"lambd": -1e-4}, "lambd"),
    ({"lambd": float("nan")}, "lambd"),
    ({"alpha": -0.75}, "alpha"),
    ({"alpha": float("nan")}, "alpha"),
    ({"t0": -1.0}, "t0"),
    ({"t0": float("nan")}, "t0"),
]


@pytest.mark.parametrize(("kwargs", "name"), REFUSED)
def test_invalid_settings_refused_like_torch(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=f"Invalid {name} value"):
        ASGD([ArrayParam([1.0])], **kwargs)
    with pytest.raises(ValueError):
        torch.optim.ASGD([torch.zeros(1, requires_grad=True)], **kwargs)


@pytest.mark.parametrize(("kwargs", "name"), STRICTER)
def test_meaningless_settings_refused(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=f"Invalid {name} value"):
        ASGD([ArrayParam([1.0])], **kwargs)
    torch.optim.ASGD([torch.zeros(1, requires_grad=True)], **kwargs)  # torch does not check


def test_never_averaging_is_allowed() -> None:
    p = ArrayParam([1.0])
    opt = ASGD([p], lr=0.1, t0=float("inf"))
    for _ in range(3):
        p.grad = p.data.copy()
        opt.step()
    assert opt.state[p]["mu"] == 1.0
    np.testing.assert_array_equal(opt.state[p]["ax"], p.data)


def test_docstring_example_runs() -> None:
    module = importlib.import_module("descentlab.optim.asgd")
    result = doctest.testmod(module, extraglobs={"np": np, "ArrayParam": ArrayParam})
    assert result.failed == 0 and result.attempted >= 4


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    lr=st.floats(1e-4, 0.1),
    lambd=st.one_of(st.just(1e-4), st.floats(0.0, 0.1)),
    alpha=st.floats(0.0, 1.5),
    t0=st.one_of(st.just(1e6), st.floats(0.0, 400.0), st.integers(0, 400).map(float)),
    weight_decay=st.one_of(st.just(0.0), st.floats(1e-4, 0.2)),
    maximize=st.booleans(),
    reload_at=st.integers(1, STEPS - 1),
    seed=st.integers(0, 2**16),
)
def test_random_configurations_match_torch(
    lr: float,
    lambd: float,
    alpha: float,
    t0: float,
    weight_decay: float,
    maximize: bool,
    reload_at: int,
    seed: int,
    float64_torch: None,
) -> None:
    opts = {
        "lr": lr,
        "lambd": lambd,
        "alpha": alpha,
        "t0": t0,
        "weight_decay": weight_decay,
        "maximize": maximize,
    }
    err = check_parity(
        SPEC, opts, torch.optim.ASGD, reload_at=reload_at, seed=seed, exact_state_keys=True
    )
    WORST.append(err)
