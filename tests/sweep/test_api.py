"""descentlab.sweep(...): the same numbers on every backend, resume, refusals, suites."""

from __future__ import annotations

import json

import pytest

import descentlab
import descentlab.sweep as S
from descentlab.sweep.store import TRIALS


def _strip(record):
    return {k: v for k, v in record.items() if k not in ("wall_time_s", "worker")}


def _small(**kw):
    args = {
        "optimizers": "sgd,momentum,adam",
        "grid": {"lr": "1e-3:1e-1:3"},
        "seeds": 2,
        "steps": 100,
        "report": False,
    }
    return S.sweep("rosenbrock", **{**args, **kw})


def test_the_package_is_callable_as_the_function():
    assert callable(descentlab.sweep)
    result = descentlab.sweep(
        "booth",
        optimizers="adam",
        grid={"lr": [0.1]},
        seeds=1,
        steps=20,
        backend="serial",
        report=False,
    )
    assert len(result) == 1 and result[0]["optimizer"] == "adam"


def test_serial_and_process_pool_give_identical_records():
    # trials of 1,000 steps (about 30 ms each): long enough that one worker cannot take
    # all 18 before the other gets the CPU, even on a busy 2-core machine
    serial = _small(backend="serial", steps=1000)
    pool = _small(backend="local", workers=2, steps=1000)
    assert len(serial) == 18
    assert [_strip(r) for r in serial] == [_strip(r) for r in pool]
    assert len({r["worker"]["pid"] for r in pool}) == 2  # both workers took trials


def test_data_sweep_is_identical_across_backends():
    kw = {
        "optimizers": "sgd,adam",
        "grid": {"lr": [0.01, 0.1]},
        "seeds": 2,
        "epochs": 2,
        "report": False,
    }
    serial = S.sweep("moons", backend="serial", **kw)
    pool = S.sweep("moons", backend="local", workers=2, **kw)
    assert [_strip(r) for r in serial] == [_strip(r) for r in pool]


def test_resume_runs_only_what_is_missing(tmp_path):
    out = tmp_path / "sw"
    full = _small(backend="serial", out=out)
    lines = (out / TRIALS).read_text().splitlines(keepends=True)
    (out / TRIALS).write_text("".join(lines[:11]) + lines[11][:40])  # 11 whole + a torn one
    ran = []
    again = _small(backend="serial", out=out, resume=True, on_record=ran.append)
    assert len(ran) == len(full) - 11
    assert [_strip(r) for r in again] == [_strip(r) for r in full]
    keys = [json.loads(line)["key"] for line in (out / TRIALS).read_text().splitlines()]
    assert sorted(keys) == sorted(r["key"] for r in full)  # each once, the torn line gone
    # only the folder: the plan comes from sweep.json
    ran.clear()
    S.sweep(out=out, resume=True, backend="serial", report=False, on_record=ran.append)
    assert ran == []


def test_an_existing_sweep_is_not_overwritten(tmp_path):
    out = tmp_path / "sw"
    _small(backend="serial", out=out, seeds=1)
    before = (out / TRIALS).read_bytes()
    with pytest.raises(ValueError, match="already holds a sweep"):
        _small(backend="serial", out=out, seeds=1)
    with pytest.raises(ValueError, match="other settings"):
        _small(backend="serial", out=out, seeds=2, resume=True)
    assert (out / TRIALS).read_bytes() == before
    with pytest.raises(ValueError, match="no sweep to resume"):
        _small(backend="serial", out=tmp_path / "empty", resume=True)


def test_summary_file_and_result_table(tmp_path):
    result = _small(backend="serial", out=tmp_path / "sw")
    summary = json.loads((tmp_path / "sw" / "summary.json").read_text())
    assert summary == json.loads(json.dumps(result.summary))
    labels = [a["arm"] for a in summary["problems"][0]["optimizers"]]
    assert labels == ["sgd", "momentum", "adam"]
    table = result.table()
    for label in labels:
        assert label in table
    rows = result.rows()
    assert len(rows) == 18 and rows[0]["hp_lr"] == 0.001 and "curve" not in rows[0]
    best = result.best()
    assert set(best) == {"sgd", "momentum", "adam"}


def test_to_pandas():
    pytest.importorskip("pandas", reason="pandas is optional; to_pandas needs it")
    frame = _small(backend="serial", seeds=1).to_pandas()
    assert len(frame) == 9 and {"optimizer", "hp_lr", "final_loss"} <= set(frame.columns)


def test_the_lecture_suite_plans_every_comparison_of_the_lecture():
    plan = S.get_suite("lecture")
    names = [p.name for p in plan.problems]
    assert names[:4] == ["ill-conditioned", "rosenbrock", "saddle escape", "beale"]
    arms = {p.name: [a.label for a in plan.arms_for(p)] for p in plan.problems}
    assert arms["rosenbrock"] == ["gd", "momentum", "nesterov"]
    assert arms["saddle escape"] == ["gd", "sgd + noise"]
    assert arms["beale"] == ["adagrad", "adagrad_norm", "adam"]
    assert arms["digits MLP"] == ["sgd", "momentum", "rmsprop", "adam", "adamw"]
    assert plan.problems[5].dropout == 0.2 and plan.problems[5].l2 == 1e-4
    assert plan.seeds == 3
    assert all(len(plan.settings(a, p)) == 9 for p in plan.problems for a in plan.arms_for(p))
    with pytest.raises(ValueError, match="unknown suite"):
        S.get_suite("nope")


def test_a_bad_problem_fails_once_before_any_work(tmp_path):
    out = tmp_path / "sw"
    with pytest.raises(ValueError, match="zz"):
        S.sweep("x**2 + zz", optimizers="adam", seeds=1, steps=5, out=out, report=False)
    with pytest.raises(ValueError, match="nonexistent"):
        S.sweep(str(tmp_path / "nonexistent.npz"), optimizers="adam", seeds=1, out=out)
    assert not out.exists()


def test_no_sweep_folder_is_claimed_when_the_backend_cannot_start(tmp_path):
    out = tmp_path / "sw"
    with pytest.raises(ValueError, match="workers"):
        _small(backend="local", workers=0, out=out)
    assert not (out / "sweep.json").exists()
    assert len(_small(backend="serial", out=out, seeds=1)) == 9  # the same command again works
