"""Lion against its authors' reference (lion_pytorch.Lion), step for step in float64."""

from __future__ import annotations

import doctest
import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from lion_pytorch import Lion as ReferenceLion

from descentlab.optim import REGISTRY, ArrayParam, Lion, get

from .conftest import variant_id, variants
from .harness import check_parity, float64_torch

__all__ = ["float64_torch"]


def reference(cls: type[torch.optim.Optimizer]) -> Callable[..., torch.optim.Optimizer]:
    """The reference built from our settings; ``maximize`` feeds it the negated gradient."""

    def build(groups: Any, maximize: bool = False, **kwargs: Any) -> torch.optim.Optimizer:
        class Negated(cls):  # type: ignore[misc, valid-type]
            def step(self, closure: Any = None) -> Any:
                if maximize:
                    for group in self.param_groups:
                        for p in group["params"]:
                            if p.grad is not None:
                                p.grad.neg_()
                return super().step(closure)

        return Negated(groups, **kwargs)

    return build


def test_registered() -> None:
    spec = REGISTRY["lion"]
    assert spec.cls is Lion and get("Lion") is spec
    assert {"lr", "beta1", "beta2", "weight_decay", "maximize"} <= set(spec.hyperparameters)
    opt = Lion([ArrayParam([1.0])])
    assert opt.param_groups[0]["lr"] == 1e-4 and opt.param_groups[0]["betas"] == (0.9, 0.99)
    assert opt.param_groups[0]["weight_decay"] == 0.0


@pytest.mark.parametrize("opts", variants("lion"), ids=lambda o: variant_id("lion", o))
def test_matches_reference(opts: dict, float64_torch: None) -> None:
    err = check_parity(
        REGISTRY["lion"],
        {"lr": 3e-3, **opts},
        reference(ReferenceLion),
        reload_at=123,
        exact_state_keys=True,
    )
    assert err < 1e-12


@settings(max_examples=20, deadline=None, derandomize=True)  # reproducible examples
@given(
    lr=st.floats(1e-4, 0.1),
    beta1=st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1.0])),
    beta2=st.floats(0.0, 0.999),
    weight_decay=st.sampled_from([0.0, 0.01, 0.3]),
    maximize=st.booleans(),
    decoupled=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_configurations_match_reference(
    lr: float,
    beta1: float,
    beta2: float,
    weight_decay: float,
    maximize: bool,
    decoupled: bool,
    seed: int,
) -> None:
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        opts = {
            "lr": lr,
            "beta1": beta1,
            "beta2": beta2,
            "weight_decay": weight_decay,
            "maximize": maximize,
            "decoupled_weight_decay": decoupled,
        }
        check_parity(
            REGISTRY["lion"],
            opts,
            reference(ReferenceLion),
            steps=120,
            reload_at=57,
            seed=seed,
            exact_state_keys=True,
        )
    finally:
        torch.set_default_dtype(old)


def test_first_steps_by_hand() -> None:
    p = ArrayParam([1.0, -2.0, 0.5])
    opt = Lion([p], lr=0.1, betas=(0.9, 0.5), weight_decay=1.0)
    p.grad = np.array([3.0, -1e-6, 0.0])
    opt.step()  # theta (1 - 0.1) then -0.1 sign(0.1 g); m = 0.5 g
    np.testing.assert_allclose(p.data, [0.9 - 0.1, -1.8 + 0.1, 0.45], rtol=1e-15)
    np.testing.assert_allclose(opt.state[p]["exp_avg"], [1.5, -5e-7, 0.0])
    p.grad = np.array([-1.0, -1.0, -1.0])
    opt.step()  # c = 0.9 m + 0.1 g = [1.25, -0.1..., -0.1]
    np.testing.assert_allclose(p.data, [0.8 * 0.9 - 0.1, -1.7 * 0.9 + 0.1, 0.405 + 0.1], rtol=1e-15)


def test_decoupled_weight_decay_divides_by_the_initial_lr() -> None:
    p = ArrayParam([2.0])
    opt = Lion([p], lr=0.1, weight_decay=0.5, decoupled_weight_decay=True)
    opt.param_groups[0]["lr"] = 0.05  # a schedule halves eta: the decay halves too
    p.grad = np.array([0.0])
    opt.step()
    np.testing.assert_allclose(p.data, [2.0 * (1 - 0.05 * 0.5 / 0.1)], rtol=1e-15)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -1e-4}, "lr"),
        ({"betas": (1.1, 0.99)}, "beta1"),
        ({"betas": (0.9, -0.1)}, "beta2"),
        ({"weight_decay": -0.1}, "weight_decay"),
        ({"betas": (0.9,)}, "betas"),
        ({"lr": 0.0, "decoupled_weight_decay": True}, "lr"),
    ],
)
def test_invalid_settings_name_the_setting(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Lion([ArrayParam([1.0])], **kwargs)


def test_converges_on_a_parabola_and_docstring_runs() -> None:
    p = ArrayParam(np.array([3.0, -2.0]))
    opt = get("lion").build([p], lr=1e-2)
    for _ in range(600):
        p.grad = np.array([1.0, 10.0]) * p.data
        opt.step()
    assert np.all(np.abs(p.data) <= 2e-2)
    module = importlib.import_module("descentlab.optim.lion")  # optim.lion is the function
    result = doctest.testmod(module, extraglobs={"np": np, "ArrayParam": ArrayParam})
    assert result.failed == 0 and result.attempted >= 4
