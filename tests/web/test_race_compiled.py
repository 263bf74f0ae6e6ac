"""A race stepped by chunks with the compiled steps draws the same paths as with NumPy steps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from descentlab.landscapes import _compiled
from descentlab.optim import fused
from descentlab.web import session as session_mod
from descentlab.web.protocol import Limits, RaceConfig
from descentlab.web.session import Session

pytest.importorskip("numba")

#: compiled (sgd, momentum, adam, rmsprop, adagrad) and NumPy-only (radam) optimizers
OPTIMIZERS = [
    ("sgd", {"lr": 1e-3}),
    ("momentum", {"lr": 1e-3}),
    ("adam", {"lr": 1e-2}),
    ("rmsprop", {"lr": 1e-3, "centered": True}),
    ("adagrad", {"lr": 1e4}),  # diverges at its first step
    ("radam", {"lr": 1e-2}),
]


def config() -> RaceConfig:
    cfg = {
        "landscape": "rosenbrock",
        "optimizers": [
            {"id": f"o{i + 1}", "name": n, "hyper": hp} for i, (n, hp) in enumerate(OPTIMIZERS)
        ],
        "max_steps": 700,
        "tol": 1e-12,
        "steps_per_frame": 200,
        "autoplay": True,
    }
    return RaceConfig.model_validate(cfg, context={"limits": Limits()})


def play(mode: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every frame of a race played to its end with the fast path ``mode``: the runs'
    paths joined over the frames, and the last frame."""
    before = fused.get_fast_path()
    fused.set_fast_path(mode)
    try:
        s = Session()
        frames = [m for m in s.start_race(config()) if m["type"] == "race.frame"]
        if mode == "always":  # compiled from the first chunk on
            for runner in s.race.runners:  # type: ignore[union-attr]
                runner.prepare_compiled(wait=True)
        for _ in range(1000):
            frames += [m for m in s.tick() if m["type"] == "race.frame"]
            if frames[-1]["done"]:
                break
        s.control_race("step", 5)  # done: nothing more
    finally:
        fused.set_fast_path(before)
    paths = []
    for i in range(len(OPTIMIZERS)):
        runs = [f["runs"][i] for f in frames]
        paths.append(
            {
                "points": [p for r in runs for p in r["points"]],
                "values": [v for r in runs for v in r["values"]],
            }
        )
    return paths, frames


def test_race_paths_with_compiled_steps_equal_numpy_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(session_mod, "RACE_FRAME_SECONDS", 0.004)  # several chunks a frame
    made: list[int] = []
    step_runner = _compiled.step_runner

    def counted(*args: Any) -> int:
        made.append(step_runner(*args))
        return made[-1]

    monkeypatch.setattr(_compiled, "step_runner", counted)
    ref, ref_frames = play("never")
    assert made == []
    out, out_frames = play("always")
    assert sum(made) >= 4 * 690 and max(made) > 1  # compiled, by chunks
    for i, (a, b) in enumerate(zip(ref, out)):
        assert len(a["points"]) == len(b["points"]), OPTIMIZERS[i]
        np.testing.assert_array_equal(np.array(b["points"]), np.array(a["points"]))
        np.testing.assert_array_equal(np.array(b["values"]), np.array(a["values"]))
    last_ref, last_out = ref_frames[-1], out_frames[-1]
    assert last_ref["done"] and last_out["done"] and last_ref["step"] == last_out["step"] == 700
    for a, b in zip(last_ref["runs"], last_out["runs"]):
        assert (a["status"], a["nit"], a["message"]) == (b["status"], b["nit"], b["message"])
        assert a["readout"] == b["readout"]
    statuses = [r["status"] for r in last_ref["runs"]]
    assert "diverged" in statuses and "max_steps" in statuses
    # the paths start at the start and have one point per step made
    assert all(len(p["points"]) == 1 + r["nit"] for p, r in zip(ref, last_ref["runs"]))
