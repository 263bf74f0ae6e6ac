"""The summary: the best setting per optimizer, spreads, diverged fractions, profiles."""

from __future__ import annotations

import math

import pytest

from descentlab.sweep.plan import LandscapeProblem, Plan, coerce_arms
from descentlab.sweep.summary import performance_profile, summarize


def _records(plan, losses, steps_to_target=None):
    """Records of ``plan`` with final losses taken from ``losses[(arm, lr)]`` (a list per seed)."""
    out = []
    for t in plan.trials():
        loss = losses[(t.arm.label, t.hyperparameters["lr"])][t.replicate]
        out.append(
            {
                "key": t.key,
                "problem": t.problem.name,
                "arm": t.arm.label,
                "optimizer": t.arm.optimizer,
                "hyperparameters": dict(t.hyperparameters),
                "lr": t.hyperparameters["lr"],
                "seed": t.seed,
                "replicate": t.replicate,
                "status": "diverged" if loss is None else "max_steps",
                "final_loss": loss,
                "best_loss": loss,
                "target": 0.5,
                "steps_to_target": (steps_to_target or {}).get(t.arm.label),
                "steps": 100,
                "wall_time_s": 1.0,
                "curve": {"step": [0, 100], "loss": [5.0, loss]},
            }
        )
    return out


PLAN = Plan(
    problems=(LandscapeProblem("booth", steps=100),),
    arms=coerce_arms("sgd,adam"),
    grid={"lr": [0.1, 0.01]},
    seeds=3,
)


def test_best_is_the_lowest_mean_over_seeds_and_a_diverged_seed_disqualifies():
    losses = {
        ("sgd", 0.1): [0.1, 0.1, None],  # the lowest losses, but one seed diverged
        ("sgd", 0.01): [0.3, 0.5, 0.4],
        ("adam", 0.1): [0.2, 0.2, 0.2],
        ("adam", 0.01): [0.1, 0.5, 0.6],
    }
    summary = summarize(PLAN, _records(PLAN, losses, {"adam": 20}))
    (problem,) = summary["problems"]
    arms = {a["arm"]: a for a in problem["optimizers"]}
    assert arms["sgd"]["best"]["lr"] == 0.01
    assert arms["sgd"]["best"]["final_loss"]["mean"] == pytest.approx(0.4)
    assert arms["sgd"]["best"]["final_loss"]["std"] == pytest.approx(0.1)
    assert arms["sgd"]["diverged_fraction"] == pytest.approx(1 / 6)
    assert arms["adam"]["best"]["lr"] == 0.1
    assert problem["ranking"] == ["adam", "sgd"]
    assert arms["adam"]["best"]["steps_to_target"]["mean"] == 20
    assert arms["adam"]["best"]["time_to_target_s"]["mean"] == pytest.approx(0.2)
    assert arms["sgd"]["best"]["reached_target"] == 0
    sens = {s["lr"]: s for s in arms["sgd"]["sensitivity"]}
    assert sens[0.1]["diverged"] == 1 and sens[0.1]["score"] is None
    assert len(arms["adam"]["best"]["curves"]) == 3
    assert summary["trials"] == {"total": 12, "done": 12, "diverged": 1, "pruned": 0}


def test_an_optimizer_with_no_complete_setting_has_no_best():
    losses = {(a, lr): [None, 0.1, 0.1] for a in ("sgd", "adam") for lr in (0.1, 0.01)}
    summary = summarize(PLAN, _records(PLAN, losses))
    assert all(a["best"] is None for a in summary["problems"][0]["optimizers"])
    assert summary["problems"][0]["ranking"] == []


def test_performance_profile_by_hand():
    times = {
        "p1": {"a": 10, "b": 20, "c": None},
        "p2": {"a": 40, "b": 20, "c": 30},
        "p3": {"a": 5, "b": None, "c": None},
    }
    prof = performance_profile(times, taus=[1.0, 1.5, 2.0, 100.0])
    # ratios: a = 1, 2, 1; b = 2, 1, inf; c = inf, 1.5, inf
    assert prof["rho"]["a"] == pytest.approx([2 / 3, 2 / 3, 1.0, 1.0])
    assert prof["rho"]["b"] == pytest.approx([1 / 3, 1 / 3, 2 / 3, 2 / 3])
    assert prof["rho"]["c"] == pytest.approx([0, 1 / 3, 1 / 3, 1 / 3])
    assert prof["ratios"]["c"][0] is None


def test_profile_taus_start_at_one_and_reach_past_the_largest_ratio():
    prof = performance_profile({"p": {"a": 1.0, "b": 7.0}})
    assert prof["tau"][0] == 1.0 and prof["tau"][-1] >= 7.0
    assert prof["rho"]["b"][-1] == 1.0 and prof["rho"]["b"][0] == 0.0
    assert all(math.isfinite(t) for t in prof["tau"])


def test_a_target_met_at_the_start_is_one_step_not_a_tie():
    prof = performance_profile({"p": {"a": 0, "b": 500}}, taus=[1.0, 10.0, 1000.0])
    assert prof["rho"]["a"] == [1.0, 1.0, 1.0]
    assert prof["rho"]["b"] == [0.0, 0.0, 1.0]


def test_profiles_compare_optimizers_only_on_problems_they_all_ran():
    from descentlab.sweep.plan import Arm

    plan = Plan(
        problems=(
            LandscapeProblem("booth", steps=100),
            LandscapeProblem("ill_conditioned", steps=100),
            LandscapeProblem("beale", steps=100),
        ),
        arms=(Arm("sgd"), Arm("adam"), Arm("adagrad")),
        grid={"lr": [0.1]},
        seeds=1,
        arms_of={
            "booth": ["sgd", "adam"],
            "ill_conditioned": ["sgd", "adam"],
            "beale": ["adagrad"],
        },
    )
    records = []
    for t in plan.trials():
        records.append(
            {
                "key": t.key, "problem": t.problem.name, "arm": t.arm.label,
                "hyperparameters": {"lr": 0.1}, "lr": 0.1, "replicate": 0,
                "status": "converged", "final_loss": 0.0, "target": 1e-3,
                "steps_to_target": 10, "steps": 10, "wall_time_s": 0.1,
            }
        )  # fmt: skip
    summary = summarize(plan, records)
    # beale's one optimizer on one problem: no profile (a profile is across problems)
    assert [sorted(p["problems"]) for p in summary["profiles"]] == [["booth", "ill_conditioned"]]
    assert set(summary["profiles"][0]["rho"]) == {"sgd", "adam"}
    assert summary["profile"] == summary["profiles"][0]
