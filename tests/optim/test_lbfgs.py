"""LBFGS equals torch.optim.LBFGS: iterates, returned losses and state, step after step.

Both optimizers get the same closure values: the objective and its gradient are computed
in NumPy at the iterate each of them holds, so only the optimizers' own arithmetic is
compared. On the 2-D Rosenbrock function every number agrees to the last bit; on random
quadratics of higher dimension PyTorch's dot products (MKL) sum in another order, so the
iterates agree to round-off (relative 1e-12).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from descentlab.optim import LBFGS, REGISTRY, ArrayParam
from descentlab.optim.lbfgs import cubic_interpolate

from .harness import float64_torch, relative_error

__all__ = ["float64_torch"]

Objective = Callable[[np.ndarray], tuple[float, np.ndarray]]


def rosenbrock(x: np.ndarray) -> tuple[float, np.ndarray]:
    value = (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2
    grad = np.array([-2 * (1 - x[0]) - 400 * x[0] * (x[1] - x[0] ** 2), 200 * (x[1] - x[0] ** 2)])
    return float(value), grad


def quadratic(seed: int, n: int = 7) -> Objective:
    """f(x) = x^T A x / 2 - b^T x + 0.05 sum cos(x): a random, mildly nonlinear bowl."""
    rng = np.random.default_rng(seed)
    q = rng.normal(size=(n, n))
    a = q @ q.T / n + 0.2 * np.eye(n)
    b = rng.normal(size=n)

    def f(x: np.ndarray) -> tuple[float, np.ndarray]:
        return float(x @ a @ x / 2 - b @ x + 0.05 * np.sum(np.cos(x))), a @ x - b - 0.05 * np.sin(x)

    return f


SHAPES = ((3,), (2, 2))  # two parameters, one flat vector of 7


def _pair(f: Objective, x0: np.ndarray, shapes: tuple[tuple[int, ...], ...], opts: dict):
    """Our LBFGS and torch's on the same start, with closures evaluating ``f`` in NumPy."""
    sizes = [int(np.prod(s)) for s in shapes]
    pieces = np.split(x0, np.cumsum(sizes)[:-1])
    ours = [ArrayParam(p.reshape(s).copy()) for p, s in zip(pieces, shapes)]
    theirs = [torch.tensor(p.reshape(s).copy(), requires_grad=True) for p, s in zip(pieces, shapes)]
    opt = LBFGS(ours, **opts)
    topt = torch.optim.LBFGS(theirs, **opts)

    def closure() -> float:
        value, grad = f(np.concatenate([p.data.reshape(-1) for p in ours]))
        for p, g in zip(ours, np.split(grad, np.cumsum(sizes)[:-1])):
            p.grad = g.reshape(p.data.shape)
        return value

    def tclosure() -> torch.Tensor:
        value, grad = f(np.concatenate([p.detach().numpy().reshape(-1) for p in theirs]))
        for p, g in zip(theirs, np.split(grad, np.cumsum(sizes)[:-1])):
            p.grad = torch.from_numpy(g.reshape(p.shape).copy())
        return torch.tensor(value)

    return ours, theirs, opt, topt, closure, tclosure


def _compare_state(ours: dict, theirs: dict, rtol: float) -> float:
    assert set(ours) == set(theirs)
    worst = 0.0
    for key, tval in theirs.items():
        oval = ours[key]
        if key in ("func_evals", "n_iter"):
            assert oval == tval, key
            continue
        if isinstance(tval, list):  # compared as one array: entries of a list share a scale
            assert len(oval) == len(tval), key
            assert [o is None for o in oval] == [t is None for t in tval], key
            kept = [(o, t) for o, t in zip(oval, tval) if t is not None]
            if not kept:
                continue
            o = np.stack([np.asarray(o, dtype=np.float64) for o, _ in kept])
            t = np.stack(
                [
                    np.asarray(t.detach() if torch.is_tensor(t) else t, dtype=np.float64)
                    for _, t in kept
                ]
            )
        else:
            o, t = oval, (tval.detach().numpy() if torch.is_tensor(tval) else tval)
        err = relative_error(o, t)
        assert err <= rtol, f"state[{key!r}]: relative error {err:.3e}"
        worst = max(worst, err)
    return worst


def _run(
    f: Objective,
    x0: np.ndarray,
    opts: dict,
    steps: int,
    rtol: float,
    shapes: tuple[tuple[int, ...], ...],
    state_rtol: float | None = None,
) -> float:
    ours, theirs, opt, topt, closure, tclosure = _pair(f, x0, shapes, opts)
    worst = 0.0
    for step in range(steps):
        loss = opt.step(closure)
        tloss = topt.step(tclosure).item()
        err = relative_error(loss, tloss)
        assert err <= rtol, f"loss at step {step}: relative error {err:.3e}"
        worst = max(worst, err)
        for i, (p, tp) in enumerate(zip(ours, theirs)):
            err = relative_error(p.data, tp.detach().numpy())
            assert err <= rtol, f"step {step}, param {i}: relative error {err:.3e}"
            worst = max(worst, err)
        worst = max(
            worst,
            _compare_state(
                opt.state[ours[0]],
                topt.state[theirs[0]],
                rtol if state_rtol is None else state_rtol,
            ),
        )
    assert np.max(np.abs(np.concatenate([p.data.reshape(-1) for p in ours]) - x0)) > 1e-2
    return worst


ROSENBROCK_OPTS = [
    {},
    {"line_search_fn": "strong_wolfe"},
    {"max_iter": 5, "history_size": 3},
    {"max_iter": 5, "history_size": 3, "line_search_fn": "strong_wolfe"},
    {"lr": 0.1, "max_iter": 7, "max_eval": 9},
    {"lr": 0.5, "line_search_fn": "strong_wolfe", "tolerance_change": 1e-5},
    {"max_iter": 1},
    {"max_iter": 1, "max_eval": 10, "line_search_fn": "strong_wolfe"},
]


@pytest.mark.parametrize("opts", ROSENBROCK_OPTS, ids=lambda o: "-".join(map(str, o.items())))
def test_rosenbrock_matches_torch_exactly(opts: dict, float64_torch) -> None:
    steps = 40 if opts.get("max_iter") == 1 else 6
    worst = _run(rosenbrock, np.array([-1.5, 2.0]), opts, steps, 0.0, ((2,),))
    assert worst == 0.0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize(
    "opts",
    [
        {"max_iter": 4},
        {"max_iter": 4, "line_search_fn": "strong_wolfe"},
        {"max_iter": 3, "history_size": 2, "lr": 0.5},
        {"max_iter": 3, "history_size": 2, "line_search_fn": "strong_wolfe"},
    ],
    ids=lambda o: "-".join(map(str, o.items())),
)
def test_random_quadratics_match_torch(seed: int, opts: dict, float64_torch) -> None:
    x0 = np.random.default_rng(100 + seed).normal(size=7)
    # the two-loop coefficients al cancel: their round-off shows more than the iterates'
    _run(quadratic(seed), x0, opts, 5, 1e-12, SHAPES, state_rtol=1e-8)


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_state_dict_round_trip_continues_like_torch(
    line_search_fn: str | None, float64_torch
) -> None:
    """Save after 3 steps, load into a new optimizer, continue: equals torch uninterrupted."""
    opts = {"max_iter": 4, "history_size": 5, "line_search_fn": line_search_fn}
    x0 = np.array([-1.2, 1.0])
    ours, theirs, opt, topt, closure, tclosure = _pair(rosenbrock, x0, ((2,),), opts)
    for _ in range(3):
        opt.step(closure)
        topt.step(tclosure)
    saved = opt.state_dict()
    assert set(saved["state"]) == {0}
    assert set(saved["state"][0]) == set(topt.state_dict()["state"][0])
    assert saved["param_groups"][0]["max_eval"] == topt.state_dict()["param_groups"][0]["max_eval"]
    fresh = LBFGS(ours, **opts)
    fresh.load_state_dict(saved)
    saved["state"][0]["d"] += 1.0  # loading copied the arrays
    saved["state"][0]["old_dirs"][0] += 1.0
    for _ in range(4):
        assert fresh.step(closure) == topt.step(tclosure).item()
        np.testing.assert_array_equal(ours[0].data, theirs[0].detach().numpy())
    _compare_state(fresh.state[ours[0]], topt.state[theirs[0]], 0.0)


def test_step_returns_the_first_loss_and_converges() -> None:
    p = ArrayParam(np.array([-1.5, 2.0]))
    opt = LBFGS([p], line_search_fn="strong_wolfe", max_iter=100)

    def closure() -> float:
        value, p.grad = rosenbrock(p.data)
        return value

    first = opt.step(closure)
    assert first == rosenbrock(np.array([-1.5, 2.0]))[0]
    np.testing.assert_allclose(p.data, [1.0, 1.0], atol=1e-5)
    assert opt.state[p]["n_iter"] < 100


def test_one_iteration_per_step_leaves_the_line_search_no_evaluation(float64_torch) -> None:
    """max_iter=1 makes max_eval=1: the step's first evaluation uses it up, so (like torch)
    the strong Wolfe search can only accept its first trial point or stay put."""
    opts = {"max_iter": 1, "line_search_fn": "strong_wolfe"}
    ours, theirs, opt, topt, closure, tclosure = _pair(
        rosenbrock, np.array([-1.5, 2.0]), ((2,),), opts
    )
    for _ in range(3):
        opt.step(closure)
        topt.step(tclosure)
    np.testing.assert_array_equal(ours[0].data, [-1.5, 2.0])
    np.testing.assert_array_equal(theirs[0].detach().numpy(), [-1.5, 2.0])
    assert opt.state[ours[0]]["func_evals"] == topt.state[theirs[0]]["func_evals"] == 6


def test_max_eval_defaults_to_five_quarters_of_max_iter() -> None:
    assert LBFGS([ArrayParam([0.0])]).param_groups[0]["max_eval"] == 25
    assert LBFGS([ArrayParam([0.0])], max_iter=7).param_groups[0]["max_eval"] == 8
    assert LBFGS([ArrayParam([0.0])], max_iter=7, max_eval=3).param_groups[0]["max_eval"] == 3


def test_loss_may_be_a_tensor_or_array() -> None:
    from descentlab.autograd import Tensor

    p = ArrayParam(np.array([3.0]))
    opt = LBFGS([p], max_iter=3)

    def closure() -> Tensor:
        p.grad = 2 * p.data
        return Tensor(np.array(p.data[0] ** 2))

    loss = opt.step(closure)
    assert isinstance(loss, Tensor) and float(loss.data) == 9.0
    assert abs(p.data[0]) < 3.0


def test_cubic_interpolate_finds_the_minimum_of_a_cubic() -> None:
    # f(x) = (x - 1)^2 (a quadratic is a cubic): from (0, 1, -2) and (3, 4, 4) the minimum is 1
    assert cubic_interpolate(0.0, 1.0, -2.0, 3.0, 4.0, 4.0) == pytest.approx(1.0)
    # no real minimizer: the middle of the bounds
    assert cubic_interpolate(0.0, 0.0, 2.0, 1.0, 1.0, 2.0, bounds=(0.0, 2.0)) == 1.0


# -- errors ---------------------------------------------------------------------------------
def test_one_parameter_group_only_like_torch() -> None:
    a, b = ArrayParam([1.0]), ArrayParam([2.0])
    with pytest.raises(ValueError, match="parameter groups"):
        LBFGS([{"params": [a]}, {"params": [b]}])
    with pytest.raises(ValueError, match="parameter groups"):
        torch.optim.LBFGS(
            [
                {"params": [torch.zeros(1, requires_grad=True)]},
                {"params": [torch.zeros(1, requires_grad=True)]},
            ]
        )
    opt = LBFGS([a])
    with pytest.raises(ValueError, match="parameter groups"):
        opt.add_param_group({"params": [b]})
    assert len(opt.param_groups) == 1


def test_step_needs_a_closure() -> None:
    opt = LBFGS([ArrayParam([1.0])])
    with pytest.raises(TypeError, match="closure"):
        opt.step()


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"lr": -1.0}, "lr"),
        ({"max_iter": 0}, "max_iter"),
        ({"max_iter": 2.5}, "max_iter"),
        ({"max_eval": 0}, "max_eval"),
        ({"tolerance_grad": -1.0}, "tolerance_grad"),
        ({"tolerance_change": float("nan")}, "tolerance_change"),
        ({"history_size": 0}, "history_size"),
        ({"line_search_fn": "armijo"}, "line_search_fn"),
    ],
)
def test_invalid_settings_name_the_setting(kwargs: dict, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        LBFGS([ArrayParam([1.0])], **kwargs)


def test_registered_as_a_closure_optimizer() -> None:
    spec = REGISTRY["lbfgs"]
    assert spec.cls is LBFGS and LBFGS.needs_closure and not LBFGS.elementwise


# -- in minimize, race and fit ------------------------------------------------------------
def test_minimize_rosenbrock_converges() -> None:
    from descentlab.landscapes import minimize

    res = minimize("rosenbrock", [-1.5, 2], optimizer="lbfgs", steps=50)
    assert res.status == "converged", res.message
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-6)
    assert res.trajectory.steps == res.nit <= 10  # one step(closure) per step: <= 20 iterations


def test_minimize_runs_every_start_alone() -> None:
    """L-BFGS couples a parameter's entries: N starts run as N separate problems."""
    from descentlab.landscapes import minimize

    starts = np.array([[-1.5, 2.0], [0.5, 0.5], [2.0, -1.0]])
    lrs = [1.0, 0.5, 1.0]
    opts = {
        "optimizer": "lbfgs",
        "steps": 30,
        "max_iter": 2,
        "line_search_fn": "strong_wolfe",
        "max_eval": 10,
    }
    together = minimize("rosenbrock", starts, lr=lrs, **opts)
    for i, (x0, lr) in enumerate(zip(starts, lrs)):
        alone = minimize("rosenbrock", x0, lr=lr, **opts)
        np.testing.assert_array_equal(together.x[i], alone.x)
        assert together.nit[i] == alone.nit
        np.testing.assert_array_equal(
            together.run(i).trajectory.positions, alone.trajectory.positions
        )
    assert np.all(together.lr == lrs)


def test_minimize_keeps_explicit_tolerances() -> None:
    """The runner turns L-BFGS's own early exits off by default; given ones are used."""
    from descentlab.landscapes import Runner

    runner = Runner("rosenbrock", [-1.5, 2.0], "lbfgs", steps=5)
    group = runner.optimizer.optimizers[0].param_groups[0]
    assert group["tolerance_grad"] == 0.0 and group["tolerance_change"] == 0.0
    runner = Runner("rosenbrock", [-1.5, 2.0], "lbfgs", steps=5, tolerance_change=1e-3)
    assert runner.optimizer.optimizers[0].param_groups[0]["tolerance_change"] == 1e-3


def test_race_with_adam_and_cli_race(tmp_path) -> None:
    from descentlab.cli import main
    from descentlab.landscapes import race

    results = race("rosenbrock", [-1.5, 2.0], {"adam": {"lr": 0.05}, "lbfgs": {}}, steps=60)
    assert results["lbfgs"].status == "converged"
    assert results["adam"].nit == 60
    out = tmp_path / "race.gif"
    assert (
        main(
            ["race", "rosenbrock", "--optimizers", "adam,lbfgs", "--steps", "20", "--out", str(out)]
        )
        == 0
    )
    assert out.stat().st_size > 0


def test_fit_steps_with_a_closure_that_recomputes_the_batch_loss() -> None:
    from descentlab import nn
    from descentlab.train import Trainer

    rng = np.random.default_rng(0)
    X = rng.normal(size=(48, 3))
    y = X @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    trainer = Trainer(
        nn.Linear(3, 1),
        (X, y),
        loss="mse",
        optimizer={"name": "lbfgs", "line_search_fn": "strong_wolfe"},
        epochs=3,
        batch_size=48,
        progress=False,
        seed=0,
    )
    calls = []
    objective = trainer.objective

    def counting(xb: np.ndarray, yb: np.ndarray):
        calls.append(len(yb))
        return objective(xb, yb)

    trainer.objective = counting  # type: ignore[method-assign]
    history = trainer.run()
    assert isinstance(trainer.optimizer, LBFGS)
    assert len(calls) > 3  # the closure re-evaluated the batch loss
    assert trainer.optimizer.state[trainer.optimizer.param_groups[0]["params"][0]][
        "func_evals"
    ] == len(calls)
    assert history["train_loss"][-1] < 1e-9
