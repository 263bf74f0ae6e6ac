"""Rprop: golden steps by hand, errors as torch's, random configurations against torch."""

from __future__ import annotations

import doctest
import importlib

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from descentlab.optim import REGISTRY, ArrayParam, Rprop

from .harness import STEPS, check_parity, float64_torch

__all__ = ["float64_torch"]

SPEC = REGISTRY["rprop"]
WORST: list[float] = []  # one worst relative error per random configuration


def teardown_module() -> None:
    if WORST:
        print(f"\nrprop: {len(WORST)} random configurations, worst relative error {max(WORST):.2e}")


def test_three_steps_by_hand() -> None:
    p = ArrayParam([0.0, 0.0, 0.0])
    opt = Rprop([p], lr=0.1)
    p.grad = np.array([1.0, -1.0, 0.0])
    opt.step()  # no previous gradient: Delta stays 0.1; a zero gradient does not move
    np.testing.assert_allclose(p.data, [-0.1, 0.1, 0.0], rtol=1e-15)
    p.grad = np.array([2.0, 1.0, 1.0])
    opt.step()  # same sign: Delta 0.12; flip: Delta 0.05 and no move; first sign: 0.1
    np.testing.assert_allclose(p.data, [-0.22, 0.1, -0.1], rtol=1e-15)
    np.testing.assert_allclose(opt.state[p]["step_size"], [0.12, 0.05, 0.1], rtol=1e-15)
    np.testing.assert_array_equal(opt.state[p]["prev"], [2.0, 0.0, 1.0])
    p.grad = np.array([1.0, 1.0, 1.0])
    opt.step()  # after the flip prev = 0: Delta stays 0.05 and the weight moves again
    np.testing.assert_allclose(p.data, [-0.364, 0.05, -0.22], rtol=1e-14)
    assert opt.state[p]["step"] == 3 and set(opt.state[p]) == {"step", "prev", "step_size"}


def test_step_sizes_clip_delta_even_on_the_first_step() -> None:
    p = ArrayParam([0.0, 0.0])
    opt = Rprop([p], lr=1.0, etas=(0.25, 3.0), step_sizes=(0.2, 0.5), maximize=True)
    p.grad = np.array([1.0, -1.0])
    opt.step()  # lr 1.0 clipped to Delta_max 0.5; maximize ascends
    np.testing.assert_allclose(p.data, [0.5, -0.5], rtol=1e-15)
    p.grad = np.array([-1.0, -1.0])
    opt.step()  # flip: 0.5 * 0.25 -> clipped up to 0.2, no move; agree: 1.5 -> 0.5
    np.testing.assert_allclose(opt.state[p]["step_size"], [0.2, 0.5], rtol=1e-15)
    np.testing.assert_allclose(p.data, [0.5, -1.0], rtol=1e-15)


def test_lr_only_sets_the_first_step_size() -> None:
    p = ArrayParam([0.0])
    opt = Rprop([p], lr=0.1)
    p.grad = np.array([1.0])
    opt.step()
    opt.param_groups[0]["lr"] = 10.0  # as torch: the state's Delta is what counts
    opt.step()
    np.testing.assert_allclose(p.data, [-0.1 - 0.12], rtol=1e-15)


def test_parameter_without_gradient_is_skipped() -> None:
    a, b = ArrayParam([1.0]), ArrayParam([1.0])
    opt = Rprop([a, b], lr=0.1)
    a.grad = np.array([1.0])
    opt.step()
    assert b.data[0] == 1.0 and b not in opt.state and a.data[0] < 1.0


def test_no_weight_decay_like_torch() -> None:
    assert "weight_decay" not in SPEC.hyperparameters
    with pytest.raises(TypeError):
        Rprop([ArrayParam([1.0])], weight_decay=0.1)
    with pytest.raises(ValueError, match="unknown hyperparameter.*weight_decay"):
        SPEC.build([ArrayParam([1.0])], weight_decay=0.1)


# What torch.optim.Rprop refuses with ValueError, refused by us too (naming the value).
REFUSED = [
    ({"lr": -1e-3}, "lr"),
    ({"lr": float("nan")}, "lr"),
    ({"etas": (0.0, 1.2)}, "etaminus"),
    ({"etas": (-0.5, 1.2)}, "etaminus"),
    ({"etas": (1.0, 1.2)}, "etaminus"),
    ({"etas": (float("nan"), 1.2)}, "etaminus"),
    ({"etas": (0.5, 1.0)}, "etaplus"),
    ({"etas": (0.5, 0.9)}, "etaplus"),
]

# Refused by us although torch accepts them: a negative, NaN or inverted step-size
# range silently turns descent into ascent, NaNs, or a constant step.
STRICTER = [
    ({"step_sizes": (-1.0, 50.0)}, "step_size_min"),
    ({"step_sizes": (1e-6, -1.0)}, "step_size_max"),
    ({"step_sizes": (float("nan"), 50.0)}, "step_size_min"),
    ({"step_sizes": (1.0, 0.5)}, "step_size_min <= step_size_max"),
]


@pytest.mark.parametrize(("kwargs", "name"), REFUSED)
def test_invalid_settings_refused_like_torch(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=f"Invalid {name} value"):
        Rprop([ArrayParam([1.0])], **kwargs)
    with pytest.raises(ValueError):
        torch.optim.Rprop([torch.zeros(1, requires_grad=True)], **kwargs)


@pytest.mark.parametrize(("kwargs", "pattern"), STRICTER)
def test_meaningless_step_sizes_refused(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        Rprop([ArrayParam([1.0])], **kwargs)
    torch.optim.Rprop([torch.zeros(1, requires_grad=True)], **kwargs)  # torch does not check


def test_malformed_pairs_are_value_errors() -> None:
    """torch raises IndexError for a 1-tuple; we say which pair was expected."""
    with pytest.raises(ValueError, match="etas"):
        Rprop([ArrayParam([1.0])], etas=(0.5,))
    with pytest.raises(ValueError, match="step_sizes"):
        Rprop([ArrayParam([1.0])], step_sizes=(1e-6, 1.0, 50.0))


def test_packs_and_members_build_the_same() -> None:
    a = SPEC.build([ArrayParam([1.0])], etaminus=0.3, step_size_max=2.0)
    b = SPEC.build([ArrayParam([1.0])], etas=(0.3, 1.2), step_sizes=(1e-6, 2.0))
    assert a.param_groups[0]["etas"] == b.param_groups[0]["etas"] == (0.3, 1.2)
    assert a.param_groups[0]["step_sizes"] == b.param_groups[0]["step_sizes"] == (1e-6, 2.0)


def test_docstring_example_runs() -> None:
    module = importlib.import_module("descentlab.optim.rprop")
    result = doctest.testmod(module, extraglobs={"np": np, "ArrayParam": ArrayParam})
    assert result.failed == 0 and result.attempted >= 4


@st.composite
def step_sizes(draw: st.DrawFn) -> tuple[float, float]:
    low = draw(st.one_of(st.just(0.0), st.floats(1e-8, 1e-2)))
    high = draw(st.one_of(st.just(50.0), st.floats(max(low, 1e-3), 10.0)))
    return low, high


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    lr=st.floats(1e-4, 0.1),
    etaminus=st.floats(0.05, 0.95),
    etaplus=st.floats(1.01, 3.0),
    sizes=step_sizes(),
    maximize=st.booleans(),
    reload_at=st.integers(1, STEPS - 1),
    seed=st.integers(0, 2**16),
)
def test_random_configurations_match_torch(
    lr: float,
    etaminus: float,
    etaplus: float,
    sizes: tuple[float, float],
    maximize: bool,
    reload_at: int,
    seed: int,
    float64_torch: None,
) -> None:
    opts = {
        "lr": lr,
        "etaminus": etaminus,
        "etaplus": etaplus,
        "step_size_min": sizes[0],
        "step_size_max": sizes[1],
        "maximize": maximize,
    }
    err = check_parity(
        SPEC, opts, torch.optim.Rprop, reload_at=reload_at, seed=seed, exact_state_keys=True
    )
    WORST.append(err)
