"""RAdam: golden steps by hand, errors as torch's, random configurations against torch."""

from __future__ import annotations

import doctest
import importlib
import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from descentlab.optim import REGISTRY, ArrayParam, RAdam

from .harness import STEPS, check_parity, float64_torch

__all__ = ["float64_torch"]

SPEC = REGISTRY["radam"]
WORST: list[float] = []  # one worst relative error per random configuration


def teardown_module() -> None:
    if WORST:
        print(f"\nradam: {len(WORST)} random configurations, worst relative error {max(WORST):.2e}")


def test_first_step_is_plain_sgd() -> None:
    """rho_1 = 1 for every beta2, so step 1 is theta - eta * mhat_1 = theta - eta * g_1."""
    p = ArrayParam([1.0, -3.0])
    opt = RAdam([p], lr=0.1)
    p.grad = np.array([2.0, 0.5])
    opt.step()
    np.testing.assert_allclose(p.data, [0.8, -3.05], rtol=1e-15)
    assert set(opt.state[p]) == {"step", "exp_avg", "exp_avg_sq"}


def test_constant_gradient_switches_to_rectified_steps() -> None:
    """With a constant g and eps = 0: mhat = g and sqrt(vhat) = |g|, so a step moves
    eta * |g| while rho_t <= 5 and eta * r_t once rho_t > 5 (step 6 for beta2 = 0.999)."""
    lr, b2, g = 0.1, 0.999, 2.0
    p = ArrayParam([0.0])
    opt = RAdam([p], lr=lr, eps=0.0)
    rho_inf = 2 / (1 - b2) - 1
    expected = 0.0
    rectified = []
    for t in range(1, 9):
        p.grad = np.array([g])
        opt.step()
        rho = rho_inf - 2 * t * b2**t / (1 - b2**t)
        if rho > 5:
            r = math.sqrt((rho - 4) * (rho - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho))
            expected -= lr * r
            rectified.append(t)
        else:
            expected -= lr * g
        np.testing.assert_allclose(p.data, [expected], rtol=1e-13)
    assert rectified == [6, 7, 8]


def test_decoupled_weight_decay_shrinks_the_weights_first() -> None:
    p = ArrayParam([2.0])
    opt = RAdam([p], lr=0.1, weight_decay=0.5, decoupled_weight_decay=True)
    p.grad = np.array([1.0])
    opt.step()  # theta = 2 (1 - 0.05) = 1.9, then - 0.1 * 1
    np.testing.assert_allclose(p.data, [1.8], rtol=1e-15)
    q = ArrayParam([2.0])
    opt = RAdam([q], lr=0.1, weight_decay=0.5, maximize=True)
    q.grad = np.array([1.0])
    opt.step()  # g = -1 + 0.5 * 2 = 0: coupled decay cancels the ascent
    np.testing.assert_allclose(q.data, [2.0], rtol=1e-15)


def test_parameter_without_gradient_is_skipped() -> None:
    a, b = ArrayParam([1.0]), ArrayParam([1.0])
    opt = RAdam([a, b], lr=0.1)
    a.grad = np.array([1.0])
    opt.step()
    assert b.data[0] == 1.0 and b not in opt.state and a.data[0] < 1.0


# What torch.optim.RAdam refuses with ValueError, refused by us too (naming the value).
REFUSED = [
    ({"lr": -1e-3}, "lr"),
    ({"lr": float("nan")}, "lr"),
    ({"eps": -1e-8}, "eps"),
    ({"betas": (1.0, 0.999)}, "beta1"),
    ({"betas": (-0.1, 0.999)}, "beta1"),
    ({"betas": (0.9, 1.0)}, "beta2"),
    ({"betas": (0.9, float("nan"))}, "beta2"),
    ({"weight_decay": -0.1}, "weight_decay"),
]


@pytest.mark.parametrize(("kwargs", "name"), REFUSED)
def test_invalid_settings_refused_like_torch(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=f"Invalid {name} value"):
        RAdam([ArrayParam([1.0])], **kwargs)
    with pytest.raises(ValueError):
        torch.optim.RAdam([torch.zeros(1, requires_grad=True)], **kwargs)


def test_malformed_betas_and_unknown_options_are_value_errors() -> None:
    with pytest.raises(ValueError, match="betas"):
        RAdam([ArrayParam([1.0])], betas=(0.9, 0.99, 0.9))
    with pytest.raises(ValueError, match="decoupled_weight_decay"):
        RAdam([ArrayParam([1.0])], decoupled_weight_decay="yes")


def test_docstring_example_runs() -> None:
    module = importlib.import_module("descentlab.optim.radam")
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
    lr=st.floats(1e-4, 0.05),
    beta1=st.floats(0.0, 0.99),
    # below ~0.6 rho_inf <= 5: RAdam never rectifies, which must match too
    beta2=st.one_of(st.floats(0.3, 0.9999), st.just(0.999)),
    eps=st.floats(1e-10, 1e-2),
    weight_decay=st.one_of(st.just(0.0), st.floats(1e-4, 0.2)),
    decoupled=st.booleans(),
    maximize=st.booleans(),
    reload_at=st.integers(1, STEPS - 1),
    seed=st.integers(0, 2**16),
)
def test_random_configurations_match_torch(
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled: bool,
    maximize: bool,
    reload_at: int,
    seed: int,
    float64_torch: None,
) -> None:
    opts = {
        "lr": lr,
        "beta1": beta1,
        "beta2": beta2,
        "eps": eps,
        "weight_decay": weight_decay,
        "decoupled_weight_decay": decoupled,
        "maximize": maximize,
    }
    err = check_parity(
        SPEC, opts, torch.optim.RAdam, reload_at=reload_at, seed=seed, exact_state_keys=True
    )
    WORST.append(err)
