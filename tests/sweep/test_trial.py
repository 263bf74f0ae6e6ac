"""One trial's record: the same numbers as minimize / fit run by hand, no NaN."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from descentlab import landscapes, minimize
from descentlab.sweep.plan import Arm, DataProblem, LandscapeProblem, Plan
from descentlab.sweep.store import json_line
from descentlab.sweep.trial import CURVE_POINTS, run_trial, starts_for


def _job(problem, optimizer="adam", seeds=1, **grid):
    plan = Plan(
        problems=(problem,), arms=(Arm(optimizer),), grid=grid or {"lr": [0.01]}, seeds=seeds
    )
    return plan.trials()[0].to_job()


def test_landscape_trial_matches_minimize_by_hand():
    problem = LandscapeProblem("rosenbrock", starts="random:3", steps=400)
    job = _job(problem, lr=[0.02])
    record = run_trial(job)
    f = landscapes.get("rosenbrock")
    X0 = starts_for(problem, f, job["seed"])
    res = minimize(f, X0, optimizer="adam", lr=0.02, steps=400, seed=job["seed"])
    assert record["final_loss"] == pytest.approx(float(np.mean(res.fun)), rel=1e-12)
    curve = res.trajectory.values.mean(axis=1)
    hit = np.flatnonzero(curve <= record["target"])
    assert record["steps_to_target"] == (int(hit[0]) if hit.size else None)
    assert record["target"] == pytest.approx(1e-3)  # rosenbrock's minimum 0, plus 1e-3
    assert record["status"] in ("converged", "max_steps")
    assert len(record["curve"]["step"]) <= CURVE_POINTS
    assert record["curve"]["step"][0] == 0 and record["curve"]["step"][-1] == len(curve) - 1
    assert record["hyperparameters"]["lr"] == 0.02
    assert record["hyperparameters"]["beta2"] == 0.999  # the defaults are recorded too


def test_diverged_trial_has_null_loss_and_strict_json():
    problem = LandscapeProblem("rosenbrock", starts="random:2", steps=100)
    record = run_trial(_job(problem, optimizer="sgd", lr=[1.0]))
    assert record["status"] == "diverged"
    assert record["final_loss"] is None and record["diverged_starts"] >= 1
    text = json_line(record)
    json.loads(text)
    assert "NaN" not in text and "Infinity" not in text


def test_starts_random_grid_and_given():
    f = landscapes.get("beale")
    a = starts_for(LandscapeProblem("beale", starts="random:5"), f, 123)
    b = starts_for(LandscapeProblem("beale", starts="random:5"), f, 123)
    c = starts_for(LandscapeProblem("beale", starts="random:5"), f, 124)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    low, high = f.bounds[:, 0], f.bounds[:, 1]
    assert np.all(a >= low) and np.all(a <= high)
    grid = starts_for(LandscapeProblem("beale", starts="grid:4"), f, 0)
    assert grid.shape == (16, 2)
    given = starts_for(LandscapeProblem("beale", starts=((1.0, 2.0),)), f, 0)
    np.testing.assert_array_equal(given, [[1.0, 2.0]])
    with pytest.raises(ValueError, match="coordinates"):
        starts_for(LandscapeProblem("beale", starts=((1.0, 2.0, 3.0),)), f, 0)


def test_noise_arm_changes_only_its_own_runs():
    saddle = LandscapeProblem("x**2 + y**4/4 - y**2/2", starts=((1.0, 0.0),), steps=300)
    plan = Plan(
        problems=(saddle,),
        arms=(Arm("sgd", label="gd"), Arm("sgd", label="noisy", problem={"grad_noise": 0.5})),
        grid={"lr": [0.1]},
        seeds=1,
    )
    gd, noisy = (run_trial(t.to_job()) for t in plan.trials())
    assert gd["status"] == "converged" and abs(gd["final_loss"]) < 1e-9  # stuck on the saddle
    assert noisy["best_loss"] < -0.2  # escaped towards a minimum of value -1/4


def test_a_smaller_budget_is_a_partial_run():
    problem = LandscapeProblem("beale", steps=300)
    job = _job(problem)
    short = run_trial(job, budget=30)
    assert short["status"] == "partial" and short["budget"] == 30 and short["steps"] == 30


def test_data_trial_records_accuracies_and_curves():
    problem = DataProblem("moons", hidden=(8,), epochs=3, batch_size=16, target=0.5)
    job = _job(problem, lr=[0.05])
    record = run_trial(job)
    again = run_trial(job)
    for key in ("final_loss", "test_accuracy", "val_accuracy", "curve"):
        assert record[key] == again[key]  # the same trial gives the same numbers
    assert record["status"] == "finished"
    assert record["epochs"] == 3 and record["curve"]["epoch"] == [1, 2, 3]
    assert record["final_loss"] == record["curve"]["loss"][-1]
    assert 0 <= record["test_accuracy"] <= 1
    per_epoch = record["steps"] // 3
    assert record["steps_to_target"] in (per_epoch, 2 * per_epoch, 3 * per_epoch, None)
    assert math.isfinite(record["wall_time_s"])
