"""Adamax: golden steps by hand, errors as torch's, random configurations against torch."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from descentlab.optim import REGISTRY, Adamax, ArrayParam

from .harness import STEPS, check_parity, float64_torch

__all__ = ["float64_torch"]

SPEC = REGISTRY["adamax"]
WORST: list[float] = []  # one worst relative error per random configuration


def teardown_module() -> None:
    if WORST:
        print(
            f"\nadamax: {len(WORST)} random configurations, worst relative error {max(WORST):.2e}"
        )


def test_first_two_steps_by_hand() -> None:
    p = ArrayParam([1.0])
    opt = Adamax([p], lr=0.1, eps=0.0)
    p.grad = np.array([2.0])
    opt.step()  # m = 0.2, u = 2, step = 0.1 / (1 - 0.9) * 0.2 / 2 = 0.1
    np.testing.assert_allclose(p.data, [0.9], rtol=1e-15)
    p.grad = np.array([-1.0])
    opt.step()  # m = 0.18 - 0.1 = 0.08, u = max(0.999 * 2, 1) = 1.998: the max remembers
    state = opt.state[p]
    np.testing.assert_allclose(state["exp_avg"], [0.08], rtol=1e-14)
    np.testing.assert_allclose(state["exp_inf"], [1.998], rtol=1e-15)
    np.testing.assert_allclose(p.data, [0.9 - 0.1 / 0.19 * 0.08 / 1.998], rtol=1e-14)
    assert state["step"] == 2 and set(state) == {"step", "exp_avg", "exp_inf"}


def test_eps_inside_the_max_and_coupled_weight_decay() -> None:
    p = ArrayParam([2.0])
    opt = Adamax([p], lr=0.1, eps=0.5, weight_decay=0.25, maximize=True)
    p.grad = np.array([-1.0])
    opt.step()  # g = 1 + 0.25 * 2 = 1.5; u = 1.5 + 0.5 = 2; step = 0.1 * 1.5 / 2
    np.testing.assert_allclose(p.data, [2.0 - 0.075], rtol=1e-15)


def test_parameter_without_gradient_is_skipped() -> None:
    a, b = ArrayParam([1.0]), ArrayParam([1.0])
    opt = Adamax([a, b], lr=0.1)
    a.grad = np.array([1.0])
    opt.step()
    assert b.data[0] == 1.0 and b not in opt.state and a.data[0] < 1.0


# What torch.optim.Adamax refuses with ValueError, refused by us too (naming the value).
REFUSED = [
    ({"lr": -1e-3}, "lr"),
    ({"lr": float("nan")}, "lr"),
    ({"eps": -1e-8}, "eps"),
    ({"eps": float("nan")}, "eps"),
    ({"betas": (1.0, 0.999)}, "beta1"),
    ({"betas": (-0.1, 0.999)}, "beta1"),
    ({"betas": (0.9, 1.0)}, "beta2"),
    ({"betas": (0.9, -0.5)}, "beta2"),
    ({"weight_decay": -0.1}, "weight_decay"),
    ({"weight_decay": float("nan")}, "weight_decay"),
]


@pytest.mark.parametrize(("kwargs", "name"), REFUSED)
def test_invalid_settings_refused_like_torch(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=f"Invalid {name} value"):
        Adamax([ArrayParam([1.0])], **kwargs)
    with pytest.raises(ValueError):
        torch.optim.Adamax([torch.zeros(1, requires_grad=True)], **kwargs)


def test_malformed_betas_are_a_value_error() -> None:
    """torch raises IndexError for a 1-tuple; we say which pair was expected."""
    with pytest.raises(ValueError, match="betas"):
        Adamax([ArrayParam([1.0])], betas=(0.9,))


def test_docstring_example_runs() -> None:
    module = importlib.import_module("descentlab.optim.adamax")
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
    beta1=st.floats(0.0, 0.99),
    beta2=st.one_of(st.floats(0.0, 0.9999), st.just(0.999)),
    eps=st.floats(1e-10, 1e-2),
    weight_decay=st.one_of(st.just(0.0), st.floats(1e-4, 0.2)),
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
        "maximize": maximize,
    }
    err = check_parity(
        SPEC, opts, torch.optim.Adamax, reload_at=reload_at, seed=seed, exact_state_keys=True
    )
    WORST.append(err)
