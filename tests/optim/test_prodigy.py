"""Prodigy against its authors' reference (prodigyopt.Prodigy), step for step in float64.

The reference shares one step size d across every group and refuses groups with
different learning rates (other than 0), so harness.check_parity (whose second
group has 0.3 x lr) cannot drive it; :func:`run_parity` below does the same
(several groups, a frozen lr = 0 group, None gradients, a mid-run state-dict
reload, every state entry compared) with equal learning rates.
"""

from __future__ import annotations

import doctest
import importlib
import math
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from prodigyopt import Prodigy as ReferenceProdigy

from descentlab.optim import REGISTRY, ArrayParam, Prodigy, get

from .conftest import variant_id, variants
from .harness import assert_close, float64_torch, gradient, problem

__all__ = ["float64_torch"]

SHAPES = ((3,), (2, 4), (5,), (6,))


class NegatedReference(ReferenceProdigy):
    """The reference fed -g: what ``maximize=True`` means for us."""

    def step(self, closure: Any = None) -> Any:
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad.neg_()
        return super().step(closure)


def run_parity(
    opts: dict[str, Any],
    *,
    steps: int = 300,
    reload_at: int | None = 123,
    seed: int = 0,
    frozen: bool = False,
) -> float:
    """Run ours and the reference on one gradient sequence; return the worst relative error.

    Groups: params 0-1, params 2-3 (with their own eps and weight decay); with
    ``frozen`` the last group has lr 0.
    """
    full = {name: hp.default for name, hp in REGISTRY["prodigy"].hyperparameters.items()}
    full.update(opts)
    mats, vecs, x0 = problem(seed, SHAPES)
    ours = [ArrayParam(x.copy()) for x in x0]
    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in x0]
    second: dict[str, Any] = {"eps": full["eps"] * 3, "weight_decay": full["weight_decay"] / 2}
    if frozen:
        second["lr"] = 0.0

    def groups(params: list[Any]) -> list[dict[str, Any]]:
        return [{"params": params[:2]}, {"params": params[2:], **second}]

    def build() -> Prodigy:
        return REGISTRY["prodigy"].build(groups(ours), **opts)

    opt = build()
    ref_kwargs = dict(full)
    ref_kwargs["betas"] = (ref_kwargs.pop("beta1"), ref_kwargs.pop("beta2"))
    maximize = ref_kwargs.pop("maximize")
    topt = (NegatedReference if maximize else ReferenceProdigy)(groups(theirs), **ref_kwargs)

    noise = np.random.default_rng(7 + seed)
    for step in range(steps):
        if reload_at is not None and step == reload_at:
            saved = opt.state_dict()
            opt = build()
            opt.load_state_dict(saved)
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            if step % 97 == 50 and i == len(ours) - 1:  # sometimes a parameter has no gradient
                p.grad, tp.grad = None, None
                continue
            g = gradient(tp.detach().numpy(), mats[i], vecs[i])
            g += 0.3 * noise.normal(size=g.shape)
            if maximize:  # the gradient of -f: ascending it descends f (d stays bounded)
                g = -g
            p.grad = g.copy()
            tp.grad = torch.from_numpy(g)
        opt.step()
        topt.step()

    worst = 0.0
    for i, (p, tp) in enumerate(zip(ours, theirs)):
        worst = max(worst, assert_close(p.data, tp.detach().numpy(), f"param {i}"))
        ostate, tstate = opt.state[p], topt.state[tp]
        assert set(ostate) == set(tstate), f"state keys of param {i}"
        for key, value in ostate.items():
            theirs_value = tstate[key]
            if torch.is_tensor(theirs_value):
                theirs_value = theirs_value.detach().numpy()
            worst = max(worst, assert_close(value, theirs_value, f"state[{key!r}] of {i}"))
    for g, tg in zip(opt.param_groups, topt.param_groups):
        for key in ("d", "d_max", "d_numerator", "d_denom", "d_hat", "k"):
            worst = max(worst, assert_close(g[key], tg[key], f"group {key}"))
    assert max(float(np.max(np.abs(p.data - x))) for p, x in zip(ours, x0)) > 1e-3
    assert opt.param_groups[0]["d"] > full["d0"]  # d was learned
    return worst


def test_registered() -> None:
    spec = REGISTRY["prodigy"]
    assert spec.cls is Prodigy and get("Prodigy") is spec
    opt = Prodigy([ArrayParam([1.0])])
    group = opt.param_groups[0]
    assert (group["lr"], group["betas"], group["beta3"], group["eps"]) == (
        1.0,
        (0.9, 0.999),
        None,
        1e-8,
    )
    assert (group["d"], group["d0"], group["d_coef"], group["growth_rate"]) == (
        1e-6,
        1e-6,
        1.0,
        math.inf,
    )
    assert group["decouple"] is True and group["slice_p"] == 1


@pytest.mark.parametrize("opts", variants("prodigy"), ids=lambda o: variant_id("prodigy", o))
def test_matches_reference(opts: dict, float64_torch: None) -> None:
    assert run_parity(opts) < 1e-12


def test_frozen_group_matches_reference(float64_torch: None) -> None:
    assert run_parity({"weight_decay": 0.0}, frozen=True) < 1e-12


@settings(max_examples=20, deadline=None, derandomize=True)  # reproducible examples
@given(
    lr=st.floats(0.3, 2.0),
    beta1=st.sampled_from([0.0, 0.5, 0.9]),
    beta2=st.floats(0.9, 0.9999),
    beta3=st.one_of(st.none(), st.floats(0.5, 0.999)),
    eps=st.sampled_from([1e-8, 1e-6]),
    weight_decay=st.sampled_from([0.0, 0.01, 0.1]),
    decouple=st.booleans(),
    use_bias_correction=st.booleans(),
    safeguard_warmup=st.booleans(),
    d0=st.floats(1e-6, 1e-3),
    d_coef=st.floats(0.5, 2.0),
    growth_rate=st.sampled_from([math.inf, 1.1, 1.5]),  # d grows enough to move in 150 steps
    slice_p=st.integers(1, 3),
    maximize=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_configurations_match_reference(seed: int, **opts: Any) -> None:
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        run_parity(opts, steps=150, reload_at=61, seed=seed)
    finally:
        torch.set_default_dtype(old)


def test_d_is_shared_across_groups_and_unequal_lrs_are_refused() -> None:
    a, b = ArrayParam([1.0, 2.0]), ArrayParam([-3.0])
    opt = Prodigy([{"params": [a]}, {"params": [b]}])
    for _ in range(10):
        a.grad, b.grad = a.data.copy(), b.data.copy()
        opt.step()
    assert opt.param_groups[0]["d"] == opt.param_groups[1]["d"] > 1e-6
    with pytest.raises(ValueError, match="lr"):
        Prodigy([{"params": [ArrayParam([1.0])]}, {"params": [ArrayParam([1.0])], "lr": 0.5}])
    opt.param_groups[1]["lr"] = 0.5  # e.g. a schedule touching one group only
    with pytest.raises(ValueError, match="lr"):
        opt.step()


def test_zero_gradient_takes_no_step() -> None:
    p = ArrayParam([1.0, 2.0])
    opt = Prodigy([p])
    p.grad = np.zeros(2)
    opt.step()  # ||s||_1 = 0: nothing learned, nothing moves, k stays 0
    assert np.array_equal(p.data, [1.0, 2.0]) and opt.param_groups[0]["k"] == 0
    assert opt.state[p]["step"] == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": 0.0}, "lr"),
        ({"lr": -1.0}, "lr"),
        ({"lr": np.array([1.0, 2.0])}, "lr"),
        ({"betas": (1.0, 0.999)}, "beta1"),
        ({"betas": (0.9, 1.0)}, "beta2"),
        ({"beta3": 1.5}, "beta3"),
        ({"eps": 0.0}, "eps"),
        ({"weight_decay": -1.0}, "weight_decay"),
        ({"d0": 0.0}, "d0"),
        ({"d_coef": 0.0}, "d_coef"),
        ({"growth_rate": 0.5}, "growth_rate"),
        ({"slice_p": 0}, "slice_p"),
        ({"slice_p": 1.5}, "slice_p"),
    ],
)
def test_invalid_settings_name_the_setting(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        Prodigy([ArrayParam([1.0])], **kwargs)


@pytest.mark.parametrize("scale", [1e-3, 1.0, 1e3])
def test_converges_on_a_parabola_whatever_its_scale(scale: float) -> None:
    """One setting (the default lr = 1) for starts a million times apart."""
    h = np.array([1.0, 10.0])
    x0 = scale * np.array([3.0, -2.0])
    p = ArrayParam(x0.copy())
    opt = get("prodigy").build([p])
    for _ in range(1000):
        p.grad = h * p.data
        opt.step()
    assert np.linalg.norm(p.data) < 1e-3 * np.linalg.norm(x0)


def test_docstring_examples_run() -> None:
    module = importlib.import_module("descentlab.optim.prodigy")
    result = doctest.testmod(module, extraglobs={"np": np, "ArrayParam": ArrayParam})
    assert result.failed == 0 and result.attempted >= 1
