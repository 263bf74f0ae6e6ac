"""Race frames of the playground session: the time budget of a playing frame, a pause that
stops the frame being stepped, and the server's early look at a pause message."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from descentlab import landscapes
from descentlab.web import session as session_mod
from descentlab.web.protocol import Limits, RaceConfig
from descentlab.web.server import _is_race_pause
from descentlab.web.session import Session

NAMES = ["sgd", "momentum", "adam"]
#: learning rates at which none of the three leaves Beale within 2,000 steps
LRS = {"sgd": 0.01, "momentum": 0.005, "adam": 0.01}


def config(**kw: Any) -> RaceConfig:
    cfg: dict[str, Any] = {
        "landscape": "beale",
        "optimizers": [
            {"id": f"o{i + 1}", "name": n, "hyper": {"lr": LRS[n]}} for i, n in enumerate(NAMES)
        ],
        "max_steps": 2000,
        "tol": 1e-12,
        "steps_per_frame": 200,
        "autoplay": True,
    }
    cfg.update(kw)
    return RaceConfig.model_validate(cfg, context={"limits": Limits()})


def race_frames(msgs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in msgs if m["type"] == "race.frame"]


def test_a_playing_frame_is_cut_by_its_budget_and_the_next_frame_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # no time at all: each frame makes only its floor of runner steps (30 / 3 runs = 10 steps)
    monkeypatch.setattr(session_mod, "RACE_FRAME_SECONDS", 0.0)
    monkeypatch.setattr(session_mod, "RACE_FRAME_MIN_RUNNER_STEPS", 30)
    s = Session()
    s.start_race(config())
    first = race_frames(s.tick())
    second = race_frames(s.tick())
    assert [f["step"] for f in first + second] == [10, 20]
    for frame in (first[0], second[0]):
        assert all(len(r["points"]) == 10 and len(r["values"]) == 10 for r in frame["runs"])
    # the cut frames are the same race: 20 steps of Adam equal minimize's
    res = landscapes.minimize("beale", [1.0, 1.5], optimizer="adam", lr=0.01, steps=20)
    np.testing.assert_array_equal(second[0]["runs"][2]["points"][-1], res.x)


def test_a_frame_within_its_budget_makes_every_step_of_the_speed_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session_mod, "RACE_FRAME_SECONDS", 60.0)
    monkeypatch.setattr(session_mod, "RACE_FRAME_MAX_SECONDS", 60.0)
    s = Session()
    s.start_race(config(steps_per_frame=120))
    (frame,) = race_frames(s.tick())
    assert frame["step"] == 120
    assert all(len(r["points"]) == 120 for r in frame["runs"])


def test_the_floor_is_the_speed_setting_when_that_is_smaller(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session_mod, "RACE_FRAME_SECONDS", 0.0)
    s = Session()
    s.start_race(config(steps_per_frame=7))
    assert [f["step"] for f in race_frames(s.tick())] == [7]


def test_a_loaded_machine_still_gets_a_frame_every_tenth_of_a_second(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the floor would take longer than the hard limit: the frame ends there, after one step
    monkeypatch.setattr(session_mod, "RACE_FRAME_MIN_RUNNER_STEPS", 10**6)
    monkeypatch.setattr(session_mod, "RACE_FRAME_MAX_SECONDS", 0.0)
    s = Session()
    s.start_race(config(steps_per_frame=200))
    assert [f["step"] for f in race_frames(s.tick() + s.tick())] == [1, 2]


def test_a_pause_stops_the_frame_being_stepped_and_no_frame_follows_it() -> None:
    s = Session()
    s.start_race(config(steps_per_frame=200))
    race = s.race
    assert race is not None
    runner = race.runners[0]
    step = runner.step
    calls = {"n": 0}

    def step_then_pause(k: int = 1) -> Any:
        calls["n"] += 1
        if calls["n"] == 5:  # the page's pause arrives while the frame is stepping
            s.pause_race_now()
        return step(k)

    runner.step = step_then_pause  # type: ignore[method-assign]
    assert s.tick() == []  # stopped after the 5th step; nothing is sent after the pause
    assert not race.playing and not s.playing
    assert s.tick() == []
    assert runner.t == 5 and all(r.t == 5 for r in race.runners)
    # the steps made before the pause go out with the next frame: the paths stay whole
    (frame,) = s.control_race("step", 1)
    assert frame["step"] == 6
    assert all(len(r["points"]) == 6 for r in frame["runs"])
    res = landscapes.minimize("beale", [1.0, 1.5], optimizer="sgd", lr=0.01, steps=6)
    np.testing.assert_array_equal(frame["runs"][0]["points"][-1], res.x)


def test_a_race_that_ends_inside_a_frame_sends_its_last_frame(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session_mod, "RACE_FRAME_SECONDS", 60.0)
    monkeypatch.setattr(session_mod, "RACE_FRAME_MAX_SECONDS", 60.0)
    s = Session()
    s.start_race(config(max_steps=50, steps_per_frame=200))
    (frame,) = race_frames(s.tick())
    assert frame["done"] and frame["step"] == 50 and not s.playing


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ('{"type": "race.control", "action": "pause"}', True),
        (b'{"type":"race.control","action":"pause"}', True),
        ('{"type": "race.control", "action": "play"}', False),
        ('{"type": "train.control", "action": "pause"}', False),
        ('{"type": "race.control", "action": "pause"', False),  # malformed: the worker answers
        ('["race.control", "pause"]', False),
        ('{"type": "race.control", "action": "pause", "x": "' + "a" * 300 + '"}', False),
    ],
)
def test_the_server_recognises_a_race_pause_as_it_arrives(raw: str | bytes, expected: bool) -> None:
    assert _is_race_pause(raw) is expected
