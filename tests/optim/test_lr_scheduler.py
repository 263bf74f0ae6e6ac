"""Schedules give torch.optim.lr_scheduler's learning-rate sequences."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from descentlab.optim import SCHEDULES, SGD, ArrayParam
from descentlab.optim import lr_scheduler as ours
from descentlab.optim.lr_scheduler import get_schedule

LRS = (0.1, 0.03)  # two parameter groups


def _pair():
    a, b = ArrayParam([1.0]), ArrayParam([2.0])
    opt = SGD([{"params": [a]}, {"params": [b], "lr": LRS[1]}], lr=LRS[0])
    ta, tb = torch.zeros(1, requires_grad=True), torch.zeros(1, requires_grad=True)
    topt = torch.optim.SGD([{"params": [ta]}, {"params": [tb], "lr": LRS[1]}], lr=LRS[0])
    return opt, topt


def _sequence(opt, sched, n):
    out = [list(sched.get_last_lr())]
    for _ in range(n):
        opt.step()
        sched.step()
        out.append(list(sched.get_last_lr()))
    assert [g["lr"] for g in opt.param_groups] == out[-1]
    return out


CASES = [
    ("StepLR", {"step_size": 7, "gamma": 0.5}),
    ("MultiStepLR", {"milestones": [3, 10, 10, 25], "gamma": 0.3}),
    ("ExponentialLR", {"gamma": 0.93}),
    ("CosineAnnealingLR", {"T_max": 12, "eta_min": 0.001}),
    ("CosineAnnealingLR", {"T_max": 40}),
    ("LinearLR", {"start_factor": 0.1, "end_factor": 1.0, "total_iters": 8}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.2, "total_iters": 15}),
    ("LambdaLR", {"lr_lambda": lambda t: 1.0 / (1.0 + 0.3 * t) + 0.01 * (t % 3)}),
]


@pytest.mark.parametrize(
    ("cls", "kwargs"), CASES, ids=[f"{c}-{i}" for i, (c, _) in enumerate(CASES)]
)
def test_matches_torch(cls: str, kwargs: dict) -> None:
    opt, topt = _pair()
    mine = _sequence(opt, getattr(ours, cls)(opt, **kwargs), 50)
    theirs = _sequence(topt, getattr(torch.optim.lr_scheduler, cls)(topt, **kwargs), 50)
    np.testing.assert_allclose(np.array(mine), np.array(theirs), rtol=1e-13, atol=0)
    assert len({tuple(x) for x in mine}) > 1


def test_reduce_on_plateau_matches_torch() -> None:
    metrics = [5, 4, 4, 4.1, 4, 3.9999, 4, 4, 3, 3, 3, 3, 3, 3, 3, 2, 2.5, 2.5, 2.6, 2.7] * 3
    for kwargs in (
        {"patience": 2, "factor": 0.5},
        {"patience": 1, "factor": 0.1, "cooldown": 2, "min_lr": [0.002, 0.001]},
        {"mode": "max", "patience": 0, "threshold": 0.1, "threshold_mode": "abs"},
    ):
        opt, topt = _pair()
        s = ours.ReduceLROnPlateau(opt, **kwargs)
        t = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
        mine, theirs = [], []
        for m in metrics:
            s.step(m)
            t.step(m)
            mine.append(list(s.get_last_lr()))
            theirs.append(list(t.get_last_lr()))
        np.testing.assert_allclose(mine, theirs, rtol=1e-15)
        assert mine[-1] != mine[0]


def test_inverse_time() -> None:
    opt, _ = _pair()
    sched = ours.InverseTimeLR(opt, k=0.5)
    seq = _sequence(opt, sched, 10)
    for t, lrs in enumerate(seq):
        assert lrs == pytest.approx([lr / (1 + 0.5 * t) for lr in LRS], rel=1e-15)


def test_state_dict_round_trip() -> None:
    opt, _ = _pair()
    sched = ours.CosineAnnealingLR(opt, T_max=10)
    _sequence(opt, sched, 4)
    sd = sched.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 4
    rest = _sequence(opt, sched, 3)
    opt2, _ = _pair()
    opt2.load_state_dict(opt.state_dict())  # carries initial_lr
    sched2 = ours.CosineAnnealingLR(opt2, T_max=10)
    sched2.load_state_dict(sd)
    for group, lr in zip(opt2.param_groups, rest[0]):
        group["lr"] = lr
    assert _sequence(opt2, sched2, 3) == rest


def test_lr_array_schedules_elementwise() -> None:
    lr = np.array([[0.1], [0.2]])
    p = ArrayParam(np.zeros((2, 3)))
    opt = SGD([p], lr=lr)
    sched = ours.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(4):
        opt.step()
        sched.step()
    np.testing.assert_allclose(opt.param_groups[0]["lr"], lr * 0.25)
    np.testing.assert_array_equal(opt.param_groups[0]["initial_lr"], lr)


def test_schedule_registry_builds_each() -> None:
    for name, spec in SCHEDULES.items():
        cls, hps = spec  # a (cls, hyperparameters) pair
        opt, _ = _pair()
        sched = spec.build(opt)
        assert isinstance(sched, cls)
        for hp in hps.values():
            attr = "default_min_lr" if hp.name == "min_lr" else hp.name
            assert getattr(sched, attr) == hp.default, (name, hp.name)
    assert get_schedule("Cosine") is SCHEDULES["cosine"]
    assert get_schedule("warmup") is SCHEDULES["linear"]
    with pytest.raises(ValueError, match="unknown schedule 'cyclic'.*step"):
        get_schedule("cyclic")


@pytest.mark.parametrize(
    ("cls", "kwargs", "pattern"),
    [
        ("StepLR", {"step_size": 0}, "step_size"),
        ("StepLR", {"step_size": 2, "gamma": -1.0}, "gamma"),
        ("CosineAnnealingLR", {"T_max": 0}, "T_max"),
        ("LinearLR", {"start_factor": 0.0}, "start_factor"),
        ("LinearLR", {"end_factor": 1.5}, "end_factor"),
        ("InverseTimeLR", {"k": -1.0}, "k"),
        ("ReduceLROnPlateau", {"factor": 1.0}, "factor"),
        ("ReduceLROnPlateau", {"mode": "up"}, "mode"),
    ],
)
def test_invalid_schedule_arguments(cls: str, kwargs: dict, pattern: str) -> None:
    opt, _ = _pair()
    with pytest.raises(ValueError, match=pattern):
        getattr(ours, cls)(opt, **kwargs)


def test_cosine_closed_form() -> None:
    opt, _ = _pair()
    seq = _sequence(opt, ours.CosineAnnealingLR(opt, T_max=10), 10)
    for t, lrs in enumerate(seq):
        assert lrs[0] == pytest.approx(0.1 * (1 + math.cos(math.pi * t / 10)) / 2, abs=1e-15)
