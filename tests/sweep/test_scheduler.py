"""The scheduler: every trial once, failures reported, and asynchronous successive halving."""

from __future__ import annotations

import pytest

import descentlab.sweep as sweep_pkg
from descentlab.sweep.backends import SerialBackend
from descentlab.sweep.plan import LandscapeProblem, Plan, coerce_arms
from descentlab.sweep.scheduler import ASHA, execute, rung_budgets
from descentlab.sweep.store import RUNGS, TRIALS, SweepStore


def _plan(steps=270, lrs="1e-4:1:9", seeds=1):
    return Plan(
        problems=(LandscapeProblem("rosenbrock", steps=steps, starts="random:2"),),
        arms=coerce_arms("sgd,adam"),
        grid={"lr": lrs},
        seeds=seeds,
    )


@pytest.mark.parametrize(
    "full, eta, expected", [(270, 3, [30, 90, 270]), (10, 3, [1, 3, 10]), (8, 2, [2, 4, 8])]
)
def test_rung_budgets(full, eta, expected):
    assert rung_budgets(full, eta) == expected


def test_every_trial_runs_once(tmp_path):
    plan = _plan(steps=30)
    store = SweepStore(tmp_path)
    seen = []
    records = execute(plan.trials(), SerialBackend(), store, on_record=seen.append)
    keys = [r["key"] for r in records]
    assert sorted(keys) == sorted(t.key for t in plan.trials())
    assert [r["key"] for r in store.records(TRIALS)] == keys == [r["key"] for r in seen]


def test_a_raising_trial_is_reported_and_not_written(tmp_path, monkeypatch):
    plan = _plan(steps=30)
    bad = plan.trials()[3].key
    real = sweep_pkg.backends.run_trial

    def flaky(job, budget=None):
        if job["key"] == bad:
            raise RuntimeError("boom")
        return real(job, budget)

    monkeypatch.setattr(sweep_pkg.backends, "run_trial", flaky)
    errors = []
    store = SweepStore(tmp_path)
    records = execute(
        plan.trials(), SerialBackend(), store, on_error=lambda t, e: errors.append((t.key, str(e)))
    )
    assert errors == [(bad, "RuntimeError: boom")]
    assert bad not in {r["key"] for r in records}
    assert len(store.records()) == len(plan.trials()) - 1


def test_asha_prunes_within_each_optimizer_and_keeps_the_best(tmp_path):
    plan = _plan()
    trials = plan.trials()
    store = SweepStore(tmp_path)
    asha = ASHA(trials, eta=3)
    records = execute(trials, SerialBackend(), store, early_stop=asha)
    assert sorted(r["key"] for r in records) == sorted(t.key for t in trials)
    by_arm: dict[str, list[dict]] = {}
    for r in records:
        by_arm.setdefault(r["arm"], []).append(r)
    for arm, rs in by_arm.items():
        full = [r for r in rs if r["budget"] == 270]
        stopped = [r for r in rs if r["budget"] < 270]
        # 9 settings, eta 3: 9 start, 3 reach 90 steps, 1 reaches 270
        assert len(full) >= 1, arm
        assert len(stopped) >= 5, arm
        assert all(r["budget"] in (30, 90) for r in stopped)
        # a run that diverged early stays "diverged" (the full run would have, too)
        assert {r["status"] for r in stopped} <= {"pruned", "diverged"}
        assert any(r["status"] == "pruned" for r in stopped)
        # the survivor was the best at the first rung among those that did not diverge
        rung0 = {r["key"]: r for r in store.records(RUNGS) if r["rung"] == 0 and r["arm"] == arm}
        finished = [r for r in rung0.values() if r["final_loss"] is not None]
        best0 = min(finished, key=lambda r: r["final_loss"])
        assert best0["key"] in {r["key"] for r in rs if r["budget"] >= 90}
    work = sum(r["budget"] for r in store.records(RUNGS)) + sum(
        r["budget"] for r in records if r["status"] != "pruned"
    )
    assert work < 0.6 * 270 * len(trials)  # far less than running every trial to the end


def test_asha_resumes_from_its_rung_records(tmp_path):
    plan = _plan()
    trials = plan.trials()
    store = SweepStore(tmp_path)
    first = execute(trials, SerialBackend(), store, early_stop=ASHA(trials, eta=3))
    finals = {r["key"]: r for r in store.records(TRIALS) if r["status"] != "pruned"}
    rungs = store.records(RUNGS)
    # the same state, read back: nothing is left to do
    asha = ASHA(trials, eta=3, done=finals, rung_records=rungs)
    assert asha.next() is None
    assert {r["key"] for r in asha.pruned()} == {r["key"] for r in first if r["status"] == "pruned"}
