"""Schedule-Free SGD and AdamW against the authors' reference (schedulefree), float64.

The reference starts in eval mode and refuses ``step`` until ``train()``: every
reference built here is put in train mode first (ours starts in it), and the eval
points x are compared after ``eval()`` on both sides.
"""

from __future__ import annotations

import doctest
import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import schedulefree
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab.optim import REGISTRY, ArrayParam, ScheduleFreeAdamW, ScheduleFreeSGD, get

from .conftest import variant_id, variants
from .harness import assert_close, check_parity, float64_torch, gradient, problem

__all__ = ["float64_torch"]

REFERENCES: dict[str, type[torch.optim.Optimizer]] = {
    "schedulefree_sgd": schedulefree.SGDScheduleFree,
    "schedulefree_adamw": schedulefree.AdamWScheduleFree,
}
LR = {"schedulefree_sgd": 0.05, "schedulefree_adamw": 0.02}


def reference(cls: type[torch.optim.Optimizer]) -> Callable[..., torch.optim.Optimizer]:
    """The reference in train mode; ``maximize`` feeds it the negated gradient."""

    def build(groups: Any, maximize: bool = False, **kwargs: Any) -> torch.optim.Optimizer:
        class Negated(cls):  # type: ignore[misc, valid-type]
            def step(self, closure: Any = None) -> Any:
                if maximize:
                    for group in self.param_groups:
                        for p in group["params"]:
                            if p.grad is not None:
                                p.grad.neg_()
                return super().step(closure)

        opt = Negated(groups, **kwargs)
        opt.train()
        return opt

    return build


@pytest.mark.parametrize("name", list(REFERENCES))
def test_registered_with_aliases(name: str) -> None:
    short = {"schedulefree_sgd": "sf_sgd", "schedulefree_adamw": "sf_adamw"}[name]
    assert get(short) is REGISTRY[name]
    assert (
        REGISTRY[name].cls
        is {"schedulefree_sgd": ScheduleFreeSGD, "schedulefree_adamw": ScheduleFreeAdamW}[name]
    )
    assert REGISTRY["schedulefree_sgd"].hyperparameters["lr"].default == 1.0
    assert REGISTRY["schedulefree_adamw"].hyperparameters["lr"].default == 0.0025


CASES = [
    pytest.param(name, opts, id=variant_id(name, opts))
    for name in REFERENCES
    for opts in variants(name)
]


@pytest.mark.parametrize(("name", "opts"), CASES)
def test_matches_reference(name: str, opts: dict, float64_torch: None) -> None:
    err = check_parity(
        REGISTRY[name],
        {"lr": LR[name], **opts},
        reference(REFERENCES[name]),
        reload_at=123,
        exact_state_keys=True,
    )
    assert err < 1e-12


@settings(max_examples=20, deadline=None, derandomize=True)  # reproducible examples
@given(
    adam=st.booleans(),
    lr=st.floats(1e-3, 0.1),
    beta=st.floats(0.05, 0.99),
    beta2=st.floats(0.5, 0.9999),
    weight_decay=st.sampled_from([0.0, 0.01, 0.2]),
    warmup_steps=st.integers(0, 60),
    r=st.floats(0.0, 2.0),
    weight_lr_power=st.floats(0.0, 3.0),
    foreach=st.booleans(),
    maximize=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_random_configurations_match_reference(
    adam: bool,
    lr: float,
    beta: float,
    beta2: float,
    weight_decay: float,
    warmup_steps: int,
    r: float,
    weight_lr_power: float,
    foreach: bool,
    maximize: bool,
    seed: int,
) -> None:
    name = "schedulefree_adamw" if adam else "schedulefree_sgd"
    opts: dict[str, Any] = {
        "lr": lr,
        "weight_decay": weight_decay,
        "warmup_steps": warmup_steps,
        "r": r,
        "weight_lr_power": weight_lr_power,
        "foreach": foreach,
        "maximize": maximize,
    }
    if adam:
        opts.update(beta1=beta, beta2=beta2)
    else:
        opts["momentum"] = beta
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        check_parity(
            REGISTRY[name],
            opts,
            reference(REFERENCES[name]),
            steps=120,
            reload_at=57,
            seed=seed,
            exact_state_keys=True,
        )
    finally:
        torch.set_default_dtype(old)


def _pair(name: str, opts: dict, seed: int = 3) -> tuple[Any, ...]:
    mats, vecs, x0 = problem(seed)
    ours = [ArrayParam(x.copy()) for x in x0]
    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in x0]
    spec = REGISTRY[name]
    lr = opts["lr"]
    rest = {k: v for k, v in opts.items() if k != "lr"}
    opt = spec.build([{"params": ours[:2]}, {"params": ours[2:], "lr": lr / 2}], lr=lr, **rest)
    full = {**{n: hp.default for n, hp in spec.hyperparameters.items()}, **opts}
    if name == "schedulefree_adamw":
        full["betas"] = (full.pop("beta1"), full.pop("beta2"))
    full.pop("maximize")
    topt = REFERENCES[name]([{"params": theirs[:2]}, {"params": theirs[2:], "lr": lr / 2}], **full)
    return mats, vecs, ours, theirs, opt, topt


def _steps(
    mats: list, vecs: list, theirs: list, topt: Any, n: int, *runs: tuple[list[ArrayParam], Any]
) -> None:
    """n steps of the reference and of every (params, optimizer) run, all fed the gradient
    taken at the reference's iterate."""
    for _ in range(n):
        for i, tp in enumerate(theirs):
            g = gradient(tp.detach().numpy(), mats[i], vecs[i])
            tp.grad = torch.from_numpy(g)
            for params, _ in runs:
                params[i].grad = g.copy()
        for _, opt in runs:
            opt.step()
        topt.step()


@pytest.mark.parametrize("name", list(REFERENCES))
def test_eval_point_train_point_and_checkpoint_match_reference(
    name: str, float64_torch: None
) -> None:
    opts = {"lr": LR[name], "warmup_steps": 5, "weight_decay": 0.01}
    mats, vecs, ours, theirs, opt, topt = _pair(name, opts)
    opt.train()  # a no-op for ours (it starts in train mode); the reference needs it
    topt.train()
    _steps(mats, vecs, theirs, topt, 40, (ours, opt))
    y = [p.data.copy() for p in ours]
    opt.eval()
    topt.eval()
    for i, (p, tp) in enumerate(zip(ours, theirs)):
        assert_close(p.data, tp.detach().numpy(), f"eval point x of param {i}")
        assert np.max(np.abs(p.data - y[i])) > 1e-6  # x really differs from y
    opt.eval()  # idempotent
    for i, (p, tp) in enumerate(zip(ours, theirs)):
        assert_close(p.data, tp.detach().numpy(), f"x of param {i} after a second eval()")
    with pytest.raises(RuntimeError, match="train"):
        opt.step()
    with pytest.raises(Exception, match="train mode"):
        topt.step()

    # A checkpoint taken in eval mode, loaded into a new optimizer over the x's.
    saved = opt.state_dict()
    assert all(g["train_mode"] is False for g in saved["param_groups"])
    resumed = [ArrayParam(p.data.copy()) for p in ours]
    fresh = REGISTRY[name].build([{"params": resumed[:2]}, {"params": resumed[2:]}], lr=opts["lr"])
    fresh.load_state_dict(saved)
    for o in (opt, fresh, topt):
        o.train()
    for i, (p, q, tp) in enumerate(zip(ours, resumed, theirs)):
        assert_close(p.data, tp.detach().numpy(), f"train point y of param {i}")
        assert_close(q.data, tp.detach().numpy(), f"resumed train point y of param {i}")
        assert_close(p.data, y[i], f"y of param {i} after eval() and train()", 1e-13)
    _steps(mats, vecs, theirs, topt, 30, (ours, opt), (resumed, fresh))
    for o in (opt, fresh, topt):
        o.eval()
    for i, (p, q, tp) in enumerate(zip(ours, resumed, theirs)):
        assert_close(p.data, tp.detach().numpy(), f"x of param {i} after 30 more steps")
        assert np.array_equal(p.data, q.data)


@pytest.mark.parametrize("name", list(REFERENCES))
def test_resumed_checkpoint_equals_uninterrupted_run(name: str) -> None:
    rng = np.random.default_rng(0)
    x0 = [rng.normal(size=3), rng.normal(size=(2, 2))]

    def run(params: list[ArrayParam], opt: Any, n: int) -> None:
        for _ in range(n):
            for p in params:
                p.grad = 2 * p.data + np.sin(3 * p.data)
            opt.step()

    spec = REGISTRY[name]
    a = [ArrayParam(x.copy()) for x in x0]
    opt_a = spec.build(a, lr=LR[name], warmup_steps=3)
    run(a, opt_a, 20)
    opt_a.eval()
    saved = opt_a.state_dict()
    b = [ArrayParam(p.data.copy()) for p in a]
    opt_b = spec.build(b, lr=LR[name], warmup_steps=3)
    opt_b.load_state_dict(saved)
    for opt_i, params in ((opt_a, a), (opt_b, b)):
        opt_i.train()
        run(params, opt_i, 20)
        opt_i.eval()
    for p, q in zip(a, b):
        assert np.array_equal(p.data, q.data)
    assert opt_b.param_groups[0]["k"] == 40


def test_new_optimizer_is_in_train_mode_and_train_eval_are_inverse() -> None:
    p = ArrayParam(np.array([1.0, -1.0]))
    opt = ScheduleFreeSGD([p], lr=0.1)
    assert opt.param_groups[0]["train_mode"] is True
    opt.eval()  # no z yet: nothing moves
    assert np.array_equal(p.data, [1.0, -1.0])
    opt.train()
    for _ in range(5):
        p.grad = p.data.copy()
        opt.step()
    y = p.data.copy()
    opt.eval()
    opt.train()
    np.testing.assert_allclose(p.data, y, rtol=1e-14)


def test_first_step_by_hand() -> None:
    """c_1 = w_1 / w_1 = 1, so x_1 = z_1 = y_1 = theta_0 - eta g_1."""
    p = ArrayParam(np.array([2.0]))
    opt = ScheduleFreeSGD([p], lr=0.1, momentum=0.9)
    p.grad = np.array([4.0])
    opt.step()
    np.testing.assert_allclose(opt.state[p]["z"], [2.0 - 0.4])
    np.testing.assert_allclose(p.data, [1.6])
    opt.eval()
    np.testing.assert_allclose(p.data, [1.6])  # x_1 = z_1 = y_1


@pytest.mark.parametrize(
    ("cls", "kwargs", "name"),
    [
        (ScheduleFreeSGD, {"lr": -1.0}, "lr"),
        (ScheduleFreeSGD, {"momentum": 0.0}, "momentum"),
        (ScheduleFreeSGD, {"momentum": 1.0}, "momentum"),
        (ScheduleFreeSGD, {"weight_decay": -0.1}, "weight_decay"),
        (ScheduleFreeSGD, {"warmup_steps": -1}, "warmup_steps"),
        (ScheduleFreeSGD, {"warmup_steps": 2.5}, "warmup_steps"),
        (ScheduleFreeSGD, {"r": -1.0}, "r"),
        (ScheduleFreeSGD, {"weight_lr_power": -1.0}, "weight_lr_power"),
        (ScheduleFreeAdamW, {"betas": (0.0, 0.999)}, "beta1"),
        (ScheduleFreeAdamW, {"betas": (0.9, 1.0)}, "beta2"),
        (ScheduleFreeAdamW, {"eps": -1.0}, "eps"),
        (ScheduleFreeAdamW, {"lr": float("nan")}, "lr"),
    ],
)
def test_invalid_settings_name_the_setting(cls: type, kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        cls([ArrayParam([1.0])], **kwargs)


@pytest.mark.parametrize(("name", "lr"), [("sf_sgd", 0.1), ("sf_adamw", 0.05)])
def test_converges_on_a_parabola(name: str, lr: float) -> None:
    h = np.array([1.0, 10.0])
    p = ArrayParam(np.array([3.0, -2.0]))
    opt = get(name).build([p], lr=lr)
    for _ in range(2000):
        p.grad = h * p.data
        opt.step()
    opt.eval()
    assert 0.5 * np.sum(h * p.data**2) < 1e-5 * 0.5 * (9 + 40)


def test_docstring_examples_run() -> None:
    module = importlib.import_module("descentlab.optim.schedulefree")
    result = doctest.testmod(module, extraglobs={"np": np, "ArrayParam": ArrayParam})
    assert result.failed == 0 and result.attempted >= 8
