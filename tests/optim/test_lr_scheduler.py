"""Schedules give torch.optim.lr_scheduler's learning-rate sequences."""

from __future__ import annotations

import copy
import math
import types
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab.optim import SCHEDULES, SGD, Adam, ArrayParam
from descentlab.optim import lr_scheduler as ours
from descentlab.optim.lr_scheduler import get_schedule, schedule_for_epochs

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


# registry entries built by a function rather than a class: what they build, and the
# hyperparameters that are not attributes of the result
_FACTORIES = {
    "warmup_cosine": (ours.SequentialLR, {"warmup", "T_max", "start_factor", "eta_min"}),
    "one_cycle": (ours.OneCycleLR, {"base_momentum", "max_momentum"}),
    "cyclic": (ours.CyclicLR, {"base_factor", "base_momentum", "max_momentum"}),
    "swa": (ours.SWALR, {"swa_lr"}),  # kept in each group
}


def test_schedule_registry_builds_each() -> None:
    assert {
        "constant",
        "polynomial",
        "cosine_restarts",
        "one_cycle",
        "cyclic",
        "swa",
        "warmup_cosine",
    } <= set(SCHEDULES)
    for name, spec in SCHEDULES.items():
        opt, _ = _pair()
        sched = spec.build(opt)
        cls, hidden = _FACTORIES.get(name, (spec.cls, set()))
        assert isinstance(sched, cls), name
        for hp in spec.hyperparameters.values():
            assert hp.help and hp.type in ("int", "float", "bool", "choice"), (name, hp.name)
            if hp.name in hidden:
                continue
            attr = "default_min_lr" if hp.name == "min_lr" else hp.name
            assert getattr(sched, attr) == hp.default, (name, hp.name)
        if spec.length is not None:
            assert spec.length in spec.hyperparameters
        for _ in range(3):  # each default schedule runs
            opt.step()
            sched.step(1.0) if name == "plateau" else sched.step()
    assert get_schedule("Cosine") is SCHEDULES["cosine"]
    assert get_schedule("warmup") is SCHEDULES["linear"]
    assert get_schedule("OneCycleLR") is SCHEDULES["one_cycle"]
    assert get_schedule("SGDR") is SCHEDULES["cosine_restarts"]
    assert get_schedule("cosine:T_max=7").hyperparameters["T_max"].default == 7
    assert SCHEDULES["cosine"].hyperparameters["T_max"].default == 100
    with pytest.raises(ValueError, match="unknown schedule 'triangle'.*step"):
        get_schedule("triangle")


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


# ------------------------------------------------------------------------------------------
# Side-by-side runs: a descentlab optimizer and a torch optimizer with the same parameter
# groups (different initial lrs), real gradients, the same schedule; every step compares
# the lrs, momentum / beta1 and, at the end, the parameters.

TORCH = types.SimpleNamespace(
    **{k: getattr(torch.optim.lr_scheduler, k) for k in torch.optim.lr_scheduler.__all__},
    SWALR=torch.optim.swa_utils.SWALR,
)
OURS = ours
SETTINGS = settings(max_examples=40, deadline=None, derandomize=True)
group_lrs = st.lists(st.floats(1e-3, 1.0), min_size=2, max_size=3)


def _grad(t: int, i: int) -> np.ndarray:
    return np.sin(0.7 * t + 1.3 * i + np.arange(3.0))


class _Run:
    """One side of a comparison: an optimizer of ``kind`` over len(lrs) groups."""

    def __init__(self, lib, kind: str, lrs, make_sched) -> None:
        self.lib, self.kind, self.lrs, self.make_sched = lib, kind, list(lrs), make_sched
        self.params = [self._param(np.full(3, 0.5 + i)) for i in range(len(self.lrs))]
        self.opt = self._optimizer()
        self.sched = make_sched(self.lib, self.opt)

    def _param(self, data: np.ndarray):
        if self.lib is OURS:
            return ArrayParam(np.array(data, dtype=np.float64))
        return torch.tensor(data, dtype=torch.float64, requires_grad=True)

    def _optimizer(self):
        groups = [{"params": [p], "lr": lr} for p, lr in zip(self.params, self.lrs)]
        if self.kind == "adam":
            cls = Adam if self.lib is OURS else torch.optim.Adam
            return cls(groups, lr=self.lrs[0], betas=(0.9, 0.99))
        cls = SGD if self.lib is OURS else torch.optim.SGD
        return cls(groups, lr=self.lrs[0], momentum=0.5)

    def snapshot(self) -> list[float]:
        row = [float(lr) for lr in self.sched.get_last_lr()]
        row += [float(g["lr"]) for g in self.opt.param_groups]
        key = "betas" if self.kind == "adam" else "momentum"
        row += [float(g[key][0] if key == "betas" else g[key]) for g in self.opt.param_groups]
        return row

    def advance(self, t: int, epoch=None) -> None:
        for i, p in enumerate(self.params):
            g = _grad(t, i)
            if self.lib is OURS:
                p.grad = g
            else:
                p.grad = torch.tensor(g)
        self.opt.step()
        if epoch is None:
            self.sched.step()
        else:
            self.sched.step(epoch)

    def resume(self) -> None:
        """Save both state dicts, build everything afresh and load them (a checkpoint)."""
        saved = copy.deepcopy((self.opt.state_dict(), self.sched.state_dict()))
        data = [np.array(p.data if self.lib is OURS else p.detach().numpy()) for p in self.params]
        self.params = [self._param(d) for d in data]
        self.opt = self._optimizer()
        self.sched = self.make_sched(self.lib, self.opt)
        self.opt.load_state_dict(saved[0])
        self.sched.load_state_dict(saved[1])

    def values(self) -> np.ndarray:
        return np.concatenate(
            [p.data if self.lib is OURS else p.detach().numpy() for p in self.params]
        )


def _compare(
    make_sched,
    lrs,
    n: int,
    kind: str = "sgd",
    resume_at: int | None = None,
    epochs=None,
    rtol: float = 1e-12,
) -> np.ndarray:
    """Run ours (resumed from a checkpoint at ``resume_at``) and torch (uninterrupted)."""
    mine, theirs = _Run(OURS, kind, lrs, make_sched), _Run(TORCH, kind, lrs, make_sched)
    a, b = [mine.snapshot()], [theirs.snapshot()]
    for t in range(1, n + 1):
        epoch = None if epochs is None else epochs[t - 1]
        mine.advance(t, epoch)
        theirs.advance(t, epoch)
        if t == resume_at:
            mine.resume()
        a.append(mine.snapshot())
        b.append(theirs.snapshot())
    a_arr, b_arr = np.array(a), np.array(b)
    np.testing.assert_allclose(a_arr, b_arr, rtol=rtol, atol=0)
    np.testing.assert_allclose(mine.values(), theirs.values(), rtol=1e-9, atol=1e-12)
    return a_arr


def _resume_point(data, n: int) -> int | None:
    return data.draw(st.none() | st.integers(1, max(1, n - 1)), label="resume_at")


@SETTINGS
@given(lrs=group_lrs, factor=st.floats(0.01, 1.0), total_iters=st.integers(0, 12), data=st.data())
def test_constant_lr_matches_torch(lrs, factor, total_iters, data) -> None:
    seq = _compare(
        lambda M, o: M.ConstantLR(o, factor=factor, total_iters=total_iters),
        lrs,
        20,
        resume_at=_resume_point(data, 20),
    )
    # total_iters = 0 keeps the factor for ever, as in torch
    assert seq[-1][0] == pytest.approx(lrs[0] * (factor if total_iters == 0 else 1), rel=1e-12)


def test_constant_lr_factor_zero_restores_the_lr() -> None:
    opt, _ = _pair()
    seq = _sequence(opt, ours.ConstantLR(opt, factor=0.0, total_iters=3), 5)
    assert [s[0] for s in seq] == [0.0, 0.0, 0.0, LRS[0], LRS[0], LRS[0]]


@SETTINGS
@given(lrs=group_lrs, total_iters=st.integers(1, 15), power=st.floats(0.0, 3.0), data=st.data())
def test_polynomial_lr_matches_torch(lrs, total_iters, power, data) -> None:
    seq = _compare(
        lambda M, o: M.PolynomialLR(o, total_iters=total_iters, power=power),
        lrs,
        total_iters + 3,
        resume_at=_resume_point(data, total_iters + 3),
    )
    assert seq[-1][0] == (lrs[0] if power == 0 else 0.0)


class _Factor:
    """A callable object with state: MultiplicativeLR saves its __dict__."""

    def __init__(self, gamma: float) -> None:
        self.gamma = gamma

    def __call__(self, t: int) -> float:
        return self.gamma ** (t % 3)


@SETTINGS
@given(
    lrs=group_lrs,
    gammas=st.lists(st.floats(0.5, 1.1), min_size=3, max_size=3),
    per_group=st.booleans(),
    data=st.data(),
)
def test_multiplicative_lr_matches_torch(lrs, gammas, per_group, data) -> None:
    def make(M, o):
        if per_group:
            return M.MultiplicativeLR(o, [_Factor(g) for g in gammas[: len(lrs)]])
        return M.MultiplicativeLR(o, lambda t: gammas[0] if t % 2 else gammas[1])

    _compare(make, lrs, 15, resume_at=_resume_point(data, 15))


def test_multiplicative_lr_saves_callable_objects() -> None:
    opt, _ = _pair()
    sched = ours.MultiplicativeLR(opt, [_Factor(0.5), lambda t: 0.9])
    sd = sched.state_dict()
    assert sd["lr_lambdas"] == [{"gamma": 0.5}, None]
    sd["lr_lambdas"][0]["gamma"] = 0.25
    sched.load_state_dict(sd)
    assert sched.lr_lambdas[0].gamma == 0.25


@SETTINGS
@given(
    lrs=group_lrs,
    T_0=st.integers(1, 8),
    T_mult=st.integers(1, 3),
    eta_min=st.sampled_from([0.0, 1e-4, 0.01]),
    data=st.data(),
)
def test_cosine_warm_restarts_matches_torch(lrs, T_0, T_mult, eta_min, data) -> None:
    def make(M, o):
        return M.CosineAnnealingWarmRestarts(o, T_0=T_0, T_mult=T_mult, eta_min=eta_min)

    seq = _compare(make, lrs, 30, resume_at=_resume_point(data, 30))
    assert seq[0][0] == pytest.approx(lrs[0]) and seq[T_0][0] == pytest.approx(lrs[0])


@SETTINGS
@given(
    lrs=group_lrs,
    T_0=st.integers(1, 6),
    T_mult=st.integers(1, 3),
    epochs=st.lists(st.none() | st.floats(0.0, 40.0) | st.integers(0, 40), min_size=1, max_size=25),
    data=st.data(),
)
def test_cosine_warm_restarts_fractional_epochs_match_torch(lrs, T_0, T_mult, epochs, data) -> None:
    def make(M, o):
        return M.CosineAnnealingWarmRestarts(o, T_0=T_0, T_mult=T_mult, eta_min=1e-3)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch deprecates step(epoch)
        _compare(make, lrs, len(epochs), epochs=epochs, resume_at=_resume_point(data, len(epochs)))


def test_cosine_warm_restarts_within_an_epoch() -> None:
    opt, _ = _pair()
    sched = ours.CosineAnnealingWarmRestarts(opt, T_0=4, T_mult=2)
    sched.step(2.5)
    assert sched.get_last_lr()[0] == pytest.approx(0.05 * (1 + math.cos(math.pi * 2.5 / 4)))
    sched.step(4 + 8 + 3.0)  # third period: starts at 12, length 16
    assert (sched.T_i, sched.T_cur, sched.last_epoch) == (16, 3.0, 15)
    with pytest.raises(ValueError, match="epoch"):
        sched.step(-1.0)


def _one_cycle_kwargs(draw_total: bool = True):
    return st.fixed_dictionaries(
        {
            "pct_start": st.floats(0.0, 1.0),
            "anneal_strategy": st.sampled_from(["cos", "linear"]),
            "div_factor": st.floats(1.0, 100.0),
            "final_div_factor": st.floats(1.0, 1e4),
            "three_phase": st.booleans(),
            "cycle_momentum": st.booleans(),
            "base_momentum": st.floats(0.5, 0.85),
            "max_momentum": st.floats(0.86, 0.99),
        }
    )


@SETTINGS
@given(
    lrs=group_lrs,
    total=st.integers(2, 60),
    kwargs=_one_cycle_kwargs(),
    kind=st.sampled_from(["sgd", "adam"]),
    by_epochs=st.booleans(),
    data=st.data(),
)
def test_one_cycle_matches_torch(lrs, total, kwargs, kind, by_epochs, data) -> None:
    length = {"epochs": total // 2, "steps_per_epoch": 2} if by_epochs else {"total_steps": total}
    steps = total // 2 * 2 if by_epochs else total
    if steps == 0:
        return

    def make(M, o):
        return M.OneCycleLR(o, max_lr=[lr * 2 for lr in lrs], **length, **kwargs)

    try:
        make(OURS, _Run(OURS, kind, lrs, lambda M, o: None).opt)
    except ValueError as err:  # a phase of zero steps: torch divides by zero on the way
        assert "zero steps" in str(err)
        with pytest.raises(ZeroDivisionError):
            run = _Run(TORCH, kind, lrs, make)
            for t in range(1, steps + 1):
                run.advance(t)
        return
    seq = _compare(make, lrs, steps, kind=kind, resume_at=_resume_point(data, steps))
    p = kwargs["pct_start"]
    ends = [p * steps - 1, 2 * p * steps - 2] if kwargs["three_phase"] else [p * steps - 1]
    if max(ends) < steps - 1:  # phases in order: the last lr used is the lowest
        final = 2 * lrs[0] / kwargs["div_factor"] / kwargs["final_div_factor"]
        assert seq[steps - 1][0] == pytest.approx(final, rel=1e-12)
    run = _Run(OURS, kind, lrs, make)
    for t in range(1, steps + 1):
        run.advance(t)
    with pytest.raises(ValueError, match=f"stepped {steps + 1} times, but total_steps is {steps}"):
        run.advance(steps + 1)


@SETTINGS
@given(
    lrs=group_lrs,
    up=st.integers(1, 8),
    down=st.none() | st.integers(0, 8),
    mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
    gamma=st.floats(0.8, 1.0),
    cycle_momentum=st.booleans(),
    kind=st.sampled_from(["sgd", "adam"]),
    data=st.data(),
)
def test_cyclic_lr_matches_torch(lrs, up, down, mode, gamma, cycle_momentum, kind, data) -> None:
    def make(M, o):
        return M.CyclicLR(
            o,
            base_lr=[lr / 10 for lr in lrs],
            max_lr=lrs,
            step_size_up=up,
            step_size_down=down,
            mode=mode,
            gamma=gamma,
            cycle_momentum=cycle_momentum,
            base_momentum=0.8,
            max_momentum=0.95,
        )

    seq = _compare(make, lrs, 30, kind=kind, resume_at=_resume_point(data, 30))
    assert seq[0][0] == pytest.approx(lrs[0] / 10)
    if down != 0 and mode == "triangular":
        assert seq[up][0] == pytest.approx(lrs[0])


class _Halving:
    def __init__(self) -> None:
        self.base = 0.5

    def __call__(self, x: float) -> float:
        return self.base ** (x / 4)


@SETTINGS
@given(
    lrs=group_lrs,
    scale_mode=st.sampled_from(["cycle", "iterations"]),
    as_object=st.booleans(),
    data=st.data(),
)
def test_cyclic_lr_custom_scale_matches_torch(lrs, scale_mode, as_object, data) -> None:
    def make(M, o):
        fn = _Halving() if as_object else (lambda x: 1.0 / (1.0 + 0.1 * x))
        return M.CyclicLR(
            o,
            base_lr=0.01,
            max_lr=lrs,
            step_size_up=3,
            step_size_down=2,
            scale_fn=fn,
            scale_mode=scale_mode,
            cycle_momentum=False,
        )

    _compare(make, lrs, 25, resume_at=_resume_point(data, 25))


@SETTINGS
@given(
    lrs=group_lrs,
    swa_lr=st.floats(1e-3, 0.5),
    anneal_epochs=st.integers(0, 10),
    strategy=st.sampled_from(["cos", "linear"]),
    per_group=st.booleans(),
    data=st.data(),
)
def test_swalr_matches_torch(lrs, swa_lr, anneal_epochs, strategy, per_group, data) -> None:
    value = [swa_lr * (i + 1) for i in range(len(lrs))] if per_group else swa_lr

    def make(M, o):
        return M.SWALR(o, swa_lr=value, anneal_epochs=anneal_epochs, anneal_strategy=strategy)

    seq = _compare(make, lrs, 15, resume_at=_resume_point(data, 15))
    assert seq[-1][0] == pytest.approx(swa_lr, rel=1e-12)


# simple schedules to compose, by name: (constructor keyword arguments)
_PIECES = {
    "constant": lambda M, o: M.ConstantLR(o, factor=0.5, total_iters=3),
    "linear": lambda M, o: M.LinearLR(o, start_factor=0.2, total_iters=4),
    "exponential": lambda M, o: M.ExponentialLR(o, gamma=0.9),
    "step": lambda M, o: M.StepLR(o, step_size=3, gamma=0.5),
    "multistep": lambda M, o: M.MultiStepLR(o, milestones=[2, 5, 5], gamma=0.7),
    "cosine": lambda M, o: M.CosineAnnealingLR(o, T_max=6, eta_min=1e-3),
    "polynomial": lambda M, o: M.PolynomialLR(o, total_iters=5, power=2.0),
    "lambda": lambda M, o: M.LambdaLR(o, lambda t: 1.0 / (1 + t)),
    "multiplicative": lambda M, o: M.MultiplicativeLR(o, lambda t: 0.95),
}


@SETTINGS
@given(
    lrs=group_lrs,
    names=st.lists(st.sampled_from(sorted(_PIECES)), min_size=1, max_size=3),
    gaps=st.lists(st.integers(1, 6), min_size=2, max_size=2),
    data=st.data(),
)
def test_sequential_lr_matches_torch(lrs, names, gaps, data) -> None:
    milestones = list(np.cumsum(gaps[: len(names) - 1]).tolist())

    def make(M, o):
        return M.SequentialLR(o, [_PIECES[n](M, o) for n in names], milestones=milestones)

    _compare(make, lrs, 18, resume_at=_resume_point(data, 18))


@SETTINGS
@given(
    lrs=group_lrs,
    names=st.lists(st.sampled_from(sorted(set(_PIECES) - {"lambda"})), min_size=1, max_size=3),
    data=st.data(),
)
def test_chained_scheduler_matches_torch(lrs, names, data) -> None:
    def make(M, o):
        return M.ChainedScheduler([_PIECES[n](M, o) for n in names])

    _compare(make, lrs, 15, resume_at=_resume_point(data, 15))


def test_chained_constant_and_exponential_product() -> None:
    opt, _ = _pair()
    sched = ours.ChainedScheduler(
        [ours.ConstantLR(opt, factor=0.1, total_iters=2), ours.ExponentialLR(opt, gamma=0.9)]
    )
    seq = _sequence(opt, sched, 4)
    expected = [0.1 * 0.9**t * (0.1 if t < 2 else 1.0) for t in range(5)]
    assert [s[0] for s in seq] == pytest.approx(expected, rel=1e-14)


@SETTINGS
@given(
    lrs=group_lrs,
    warmup=st.integers(0, 8),
    extra=st.integers(1, 20),
    start_factor=st.floats(0.01, 1.0),
    eta_min=st.sampled_from([0.0, 1e-4]),
)
def test_warmup_cosine_is_linear_then_cosine(lrs, warmup, extra, start_factor, eta_min) -> None:
    T_max = warmup + extra

    def make(M, o):
        if M is OURS:
            return ours.warmup_cosine(
                o, warmup=warmup, T_max=T_max, start_factor=start_factor, eta_min=eta_min
            )
        cosine = M.CosineAnnealingLR(o, T_max=T_max - warmup, eta_min=eta_min)
        if warmup == 0:
            return cosine
        return M.SequentialLR(o, [M.LinearLR(o, start_factor, 1.0, warmup), cosine], [warmup])

    seq = _compare(make, lrs, T_max)
    base = lrs[0]
    for t in range(T_max + 1):
        want = (
            base * (start_factor + (1 - start_factor) * t / warmup)
            if t < warmup
            else eta_min
            + (base - eta_min) * (1 + math.cos(math.pi * (t - warmup) / (T_max - warmup))) / 2
        )
        assert seq[t][0] == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_warmup_cosine_from_a_schedule_string() -> None:
    opt, _ = _pair()
    sched = get_schedule("warmup_cosine:warmup=5").build(opt)
    assert isinstance(sched, ours.SequentialLR)
    seq = _sequence(opt, sched, 100)
    assert seq[0][0] == pytest.approx(0.01) and seq[5][0] == pytest.approx(0.1)
    assert seq[100][0] == pytest.approx(0.0, abs=1e-17)
    assert schedule_for_epochs("warmup_cosine:warmup=5", 40) == (
        "warmup_cosine",
        {"warmup": 5, "T_max": 40},
    )
    assert schedule_for_epochs("cosine:T_max=7", 40) == ("cosine", {"T_max": 7})
    assert schedule_for_epochs("step", 40) == ("step", {})
    assert schedule_for_epochs("OneCycle:three_phase=true", 12) == (
        "one_cycle",
        {"three_phase": True, "total_steps": 12},
    )
    with pytest.raises(ValueError, match="T_max > warmup, got T_max=5 and warmup=5"):
        get_schedule("warmup_cosine:warmup=5,T_max=5").build(opt)
    for bad, pattern in [
        ("warmup_cosine:warmup=2.5", "Invalid warmup value: '2.5'; expected an integer >= 0"),
        ("warmup_cosine:warm=5", "no hyperparameter 'warm'"),
        ("warmup_cosine:warmup", "expected key=value"),
        ("one_cycle:anneal_strategy=exp", "expected one of 'cos', 'linear'"),
        ("one_cycle:three_phase=maybe", "true or false"),
    ]:
        with pytest.raises(ValueError, match=pattern):
            get_schedule(bad)


def test_registry_cycles_follow_the_optimizers_lr() -> None:
    opt, _ = _pair()
    one = SCHEDULES["one_cycle"].build(opt, total_steps=10)
    assert [g["max_lr"] for g in opt.param_groups] == list(LRS)
    assert one.get_last_lr() == pytest.approx([lr / 25 for lr in LRS])
    opt, _ = _pair()
    cyc = SCHEDULES["cyclic"].build(opt, step_size_up=2, cycle_momentum=False)
    seq = _sequence(opt, cyc, 4)
    assert [s[0] for s in seq] == pytest.approx([0.01, 0.055, 0.1, 0.055, 0.01])


_VALIDATION = [
    # (class, kwargs, message pattern, torch raises too)
    ("ConstantLR", {"factor": 1.5}, "factor", True),
    ("ConstantLR", {"factor": -0.1}, "factor", True),
    ("ConstantLR", {"total_iters": -1}, "total_iters", False),
    ("PolynomialLR", {"total_iters": 0}, "total_iters", False),  # torch: constant lr
    ("PolynomialLR", {"power": -1.0}, "power", True),
    ("MultiplicativeLR", {"lr_lambda": [lambda t: 1.0]}, "Expected 2 lr_lambdas", True),
    ("CosineAnnealingWarmRestarts", {"T_0": 0}, "T_0", True),
    ("CosineAnnealingWarmRestarts", {"T_0": 2.5}, "T_0", True),
    ("CosineAnnealingWarmRestarts", {"T_0": 5, "T_mult": 0}, "T_mult", True),
    ("CosineAnnealingWarmRestarts", {"T_0": 5, "T_mult": 1.5}, "T_mult", True),
    ("CosineAnnealingWarmRestarts", {"T_0": 5, "eta_min": "0"}, "eta_min", True),
    ("OneCycleLR", {"max_lr": 0.1}, "total_steps, or epochs and steps_per_epoch", True),
    ("OneCycleLR", {"max_lr": 0.1, "total_steps": 0}, "total_steps", True),
    ("OneCycleLR", {"max_lr": 0.1, "epochs": 0, "steps_per_epoch": 3}, "epochs", True),
    ("OneCycleLR", {"max_lr": 0.1, "epochs": 2, "steps_per_epoch": -3}, "steps_per_epoch", True),
    ("OneCycleLR", {"max_lr": 0.1, "total_steps": 10, "pct_start": 1.5}, "pct_start", True),
    (
        "OneCycleLR",
        {"max_lr": 0.1, "total_steps": 10, "anneal_strategy": "exp"},
        "anneal_strategy",
        True,
    ),
    ("OneCycleLR", {"max_lr": [0.1, 0.2, 0.3], "total_steps": 10}, "max_lr must have one", True),
    ("OneCycleLR", {"max_lr": 0.1, "total_steps": 10, "pct_start": 0.1}, "zero steps", True),
    ("OneCycleLR", {"max_lr": 0.1, "total_steps": 10, "div_factor": 0.0}, "div_factor", True),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "mode": "square"}, "mode", True),
    ("CyclicLR", {"base_lr": [0.01], "max_lr": 0.1}, "base_lr must have one", True),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "step_size_up": 0}, "step_size_up", True),
    ("CyclicLR", {"base_lr": 0.01, "max_lr": 0.1, "scale_mode": "epoch"}, "scale_mode", False),
    ("SWALR", {"swa_lr": 0.05, "anneal_strategy": "exp"}, "anneal_strategy", True),
    ("SWALR", {"swa_lr": 0.05, "anneal_epochs": -1}, "anneal_epochs", True),
    ("SWALR", {"swa_lr": 0.05, "anneal_epochs": 2.5}, "anneal_epochs", True),
    ("SWALR", {"swa_lr": [0.05]}, "swa_lr must have one", True),
]


@pytest.mark.parametrize(
    ("cls", "kwargs", "pattern", "torch_too"),
    _VALIDATION,
    ids=[f"{c}-{i}" for i, (c, *_) in enumerate(_VALIDATION)],
)
def test_new_schedules_reject_invalid_arguments(cls, kwargs, pattern, torch_too) -> None:
    opt, topt = _pair()
    with pytest.raises(ValueError, match=pattern):
        getattr(ours, cls)(opt, **kwargs)
    if torch_too:  # at once or in the first 20 steps
        with pytest.raises((ValueError, ZeroDivisionError, TypeError)):
            sched = getattr(TORCH, cls)(topt, **kwargs)
            for _ in range(20):
                topt.step()
                sched.step()


def test_momentum_cycling_needs_momentum_or_betas() -> None:
    from descentlab.optim import Adagrad

    opt = Adagrad([ArrayParam([1.0])], lr=0.1)
    topt = torch.optim.Adagrad([torch.zeros(1, requires_grad=True)], lr=0.1)
    for M, o in ((OURS, opt), (TORCH, topt)):
        with pytest.raises(ValueError, match="momentum or beta"):
            M.OneCycleLR(o, max_lr=0.1, total_steps=10)
        with pytest.raises(ValueError, match="momentum or beta"):
            M.CyclicLR(o, base_lr=0.01, max_lr=0.1)
    assert ours.OneCycleLR(opt, max_lr=0.1, total_steps=10, cycle_momentum=False)


def test_composites_reject_bad_schedulers() -> None:
    opt, _ = _pair()
    other, _ = _pair()
    a = ours.ExponentialLR(opt, gamma=0.9)
    with pytest.raises(ValueError, match="at least one"):
        ours.SequentialLR(opt, [], [])
    with pytest.raises(ValueError, match="one milestone fewer"):
        ours.SequentialLR(opt, [a, ours.StepLR(opt, 2)], [2, 4])
    with pytest.raises(ValueError, match="same optimizer"):
        ours.SequentialLR(opt, [a, ours.StepLR(other, 2)], [2])
    with pytest.raises(ValueError, match="ReduceLROnPlateau"):
        ours.ChainedScheduler([a, ours.ReduceLROnPlateau(opt)])
    with pytest.raises(TypeError, match="no optimizer"):
        ours.ChainedScheduler([a, object()])
    with pytest.raises(ValueError, match="at least one"):
        ours.ChainedScheduler([])


@SETTINGS
@given(
    lrs=group_lrs,
    name=st.sampled_from(
        [
            "StepLR",
            "MultiStepLR",
            "ExponentialLR",
            "CosineAnnealingLR",
            "LinearLR",
            "ConstantLR",
            "PolynomialLR",
        ]
    ),
    epochs=st.lists(st.integers(0, 30), min_size=1, max_size=10),
)
def test_step_with_an_epoch_uses_the_closed_form_as_torch(lrs, name, epochs) -> None:
    kwargs = {
        "StepLR": {"step_size": 3},
        "MultiStepLR": {"milestones": [2, 6, 6]},
        "ExponentialLR": {"gamma": 0.9},
        "CosineAnnealingLR": {"T_max": 10},
        "LinearLR": {"total_iters": 7},
        "ConstantLR": {"total_iters": 4},
        "PolynomialLR": {"total_iters": 12, "power": 1.5},
    }[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # torch deprecates step(epoch)
        _compare(lambda M, o: getattr(M, name)(o, **kwargs), lrs, len(epochs), epochs=epochs)


# ------------------------------------------------------------------------------------------
# The registry: each schedule registered once, each setting described once.

# today's aliases (before the registry became a spec.Registry) must keep resolving
_OLD_ALIASES = {
    "steplr": "step",
    "exp": "exponential",
    "cos": "cosine",
    "warmup": "linear",
    "inversetime": "inverse_time",
    "inverse": "inverse_time",
    "reduceonplateau": "plateau",
    "constantlr": "constant",
    "poly": "polynomial",
    "polynomiallr": "polynomial",
    "sgdr": "cosine_restarts",
    "cosinerestarts": "cosine_restarts",
    "cosinewarmrestarts": "cosine_restarts",
    "warmupcosine": "warmup_cosine",
    "cosinewarmup": "warmup_cosine",
    "onecycle": "one_cycle",
    "onecyclelr": "one_cycle",
    "1cycle": "one_cycle",
    "cycliclr": "cyclic",
    "clr": "cyclic",
    "swalr": "swa",
    "Inverse-Time": "inverse_time",
    "One_Cycle": "one_cycle",
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_every_schedule_builds_from_its_defaults_and_its_settings_round_trip(name) -> None:
    from descentlab.spec import Registry, parse_value

    assert isinstance(SCHEDULES, Registry)
    spec = SCHEDULES[name]
    assert isinstance(spec, ours.ScheduleSpec) and spec.name == name and spec.summary
    opt, _ = _pair()
    sched = spec.build(opt)
    assert sched.optimizer is opt and sched.get_last_lr()
    for key, hp in spec.hyperparameters.items():
        text = str(hp.default)
        value = parse_value(hp, text)
        assert value == hp.default and type(value) is type(hp.default), (name, key, text)
        assert ours.parse_schedule(f"{name}:{key}={text}") == (name, {key: hp.default})
        for choice in hp.choices:
            assert parse_value(hp, str(choice)) == choice
        if hp.type in ("int", "float"):  # the slider lies inside the hard bounds
            assert hp.slider_low is not None and hp.slider_high is not None, (name, key)
            assert hp.check(hp.slider_low) == hp.slider_low, (name, key)
            assert hp.check(hp.slider_high) == hp.slider_high, (name, key)
        built = spec.build(opt, **{key: hp.default})
        assert type(built) is type(sched)


def test_registry_aliases_unknown_names_and_settings() -> None:
    for alias, name in _OLD_ALIASES.items():
        assert get_schedule(alias) is SCHEDULES[name], alias
        assert SCHEDULES.knows(alias)
    listing = ", ".join(SCHEDULES)
    with pytest.raises(ValueError, match=f"unknown schedule 'nope'; expected one of {listing}"):
        ours.parse_schedule("nope:gamma=0.5")
    opt, _ = _pair()
    with pytest.raises(ValueError, match="'gama'.*'step'.*expected some of step_size, gamma"):
        SCHEDULES["step"].build(opt, gama=0.5)
    with pytest.raises(
        ValueError, match="no hyperparameter 'gama'; expected some of step_size, gamma"
    ):
        get_schedule("step:gama=0.5")
    # the hard bounds are checked on every build; the old slider ends are not bounds
    with pytest.raises(ValueError, match="Invalid gamma value: 0.0; expected a number > 0"):
        SCHEDULES["step"].build(opt, gamma=0.0)
    with pytest.raises(ValueError, match="Invalid T_max value: 0; expected an integer >= 1"):
        get_schedule("cosine:T_max=0")
    assert SCHEDULES["exponential"].build(opt, gamma=0.2).gamma == 0.2  # below the slider
    assert SCHEDULES["step"].build(opt, step_size=50_000).step_size == 50_000


def test_a_schedule_registered_once_is_everywhere() -> None:
    def halving(optimizer, every=2):
        return ours.StepLR(optimizer, step_size=every, gamma=0.5)

    from descentlab.spec import HyperParam

    entry = ours.register_schedule(
        "halving",
        halving,
        "halve the lr every few epochs",
        HyperParam("every", "int", 2, low=1, help="epochs between halvings"),
        length="every",
        aliases=("halve",),
    )
    try:
        assert get_schedule("Halve") is entry and "halving" in ours.schedule_help()
        assert schedule_for_epochs("halving", 7) == ("halving", {"every": 7})
        opt, _ = _pair()
        assert get_schedule("halving:every=3").build(opt).step_size == 3
        with pytest.raises(ValueError, match="'cos' is already taken by 'cosine'"):
            ours.register_schedule("cos", halving, "a name another schedule holds")
    finally:
        SCHEDULES.unregister("halving")
    assert "halving" not in SCHEDULES and not SCHEDULES.knows("halve")


def test_schedule_modules_docstring_examples_run() -> None:
    import doctest
    import importlib

    from descentlab import optim

    globs = {"np": np, **{k: getattr(optim, k) for k in optim.__all__}}
    attempted = 0
    for mod in ("", ".base", ".simple", ".cyclic", ".composite", ".plateau", ".registry"):
        module = importlib.import_module("descentlab.optim.lr_scheduler" + mod)
        result = doctest.testmod(module, extraglobs=globs, report=False)
        assert result.failed == 0, mod
        attempted += result.attempted
    assert attempted >= 8
