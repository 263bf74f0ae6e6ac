"""The Network-landscape tab's session part: frames on the frame budget, planes whose value
at (0, 0) is the model's loss on the batch, projected paths, lines, sharpness, limits
refused with the field named, pause, step, reset and speed."""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

import numpy as np
import pytest

from descentlab import landscapes
from descentlab.landscapes.network import flat_weights
from descentlab.train import evaluate
from descentlab.web import protocol
from descentlab.web.landscape_session import LINE_POINTS, LandscapeLab
from descentlab.web.protocol import (
    LandscapeConfig,
    LandscapeControl,
    LandscapeStart,
    Limits,
    ProtocolError,
    parse_client_message,
)
from descentlab.web.session import Session

SMALL = {
    "dataset": "moons",
    "points": 200,
    "hidden": [8],
    "epochs": 6,
    "grid": 9,
    "samples": 100,
    "plane_every": 3,
    "steps_per_frame": 4,
}


def _start(**config: Any) -> tuple[Session, dict[str, Any]]:
    s = Session(Limits())
    (frame,) = s.handle(LandscapeStart(config=LandscapeConfig(**config)))
    protocol.LandscapeFrame.model_validate(frame)
    return s, frame


def _run_out(s: Session, limit: int = 500) -> list[dict[str, Any]]:
    """Tick until the run is finished and measured; every frame validated and JSON-safe."""
    frames = []
    for _ in range(limit):
        if not s.playing:
            break
        for frame in s.tick():
            protocol.LandscapeFrame.model_validate(frame)
            json.dumps(frame, allow_nan=False)
            frames.append(frame)
    assert not s.playing, "the run did not finish"
    return frames


def _latest(frames: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    planes: dict[int, dict[str, Any]] = {}
    for frame in frames:
        for plane in frame["planes"]:
            planes[plane["run"]] = plane
    return planes


def test_a_run_trains_both_optimizers_from_one_start_and_measures_their_solutions() -> None:
    s, first = _start(**SMALL)
    lab = s.landscape
    assert lab is not None and first["step"] == 0 and not first["done"]
    frames = _run_out(s)
    last = frames[-1]
    assert last["done"] and last["epoch"] == SMALL["epochs"] and last["pending"] == 0
    # the same initialization and the same number of steps for both
    a, b = lab.runs
    np.testing.assert_array_equal(a.snapshots.snapshots[0], b.snapshots.snapshots[0])
    np.testing.assert_array_equal(a.snapshots.snapshots[0], lab.init)
    assert a.trainer.global_step == b.trainer.global_step == last["step"] > 0
    # the steps came a few per frame (the speed setting), not all at once
    steps = [f["step"] for f in frames]
    assert steps == sorted(steps) and len(set(steps)) > 3
    # one loss row per epoch per optimizer
    history = [row for f in [first, *frames] for row in f["history"]]
    assert [r["epoch"] for r in history] == list(range(1, SMALL["epochs"] + 1))
    planes = _latest(frames)
    assert sorted(planes) == [0, 1]
    for k, run in enumerate(lab.runs):
        plane, row = planes[k], last["rows"][k]
        assert plane["epoch"] == SMALL["epochs"]  # the final plane is the solution's
        batch_loss = evaluate(run.model, lab.data.batch)["loss"]
        # the plane's value at (0, 0) is the model's loss on the batch, the table's loss
        assert plane["center_loss"] == pytest.approx(batch_loss, rel=1e-5)
        assert row["loss"] == pytest.approx(batch_loss, rel=1e-6)
        xs, ys, values = plane["xs"], plane["ys"], np.array(plane["values"], dtype=float)
        assert values.shape == (SMALL["grid"], SMALL["grid"]) and np.isfinite(values).all()
        mid = SMALL["grid"] // 2
        assert xs[mid] == pytest.approx(0, abs=1e-12) and ys[mid] == pytest.approx(0, abs=1e-12)
        assert values[mid, mid] == pytest.approx(batch_loss, rel=1e-4)
        # the path, projected on the PCA plane: it starts at init and ends at (0, 0)
        path = np.array(plane["path"], dtype=float)
        assert len(path) == len(run.snapshots.snapshots) >= 3
        np.testing.assert_allclose(path[-1], [0, 0], atol=1e-6)
        d = np.array(
            landscapes.of_model(
                run.model, lab.data.batch, directions="pca", path=run.snapshots
            ).directions
        )
        np.testing.assert_allclose(path[0], d @ (lab.init - flat_weights(run.model)), atol=1e-5)
        ev = plane["explained_variance"]
        assert 0 < ev[1] <= ev[0] and sum(ev) <= 1 + 1e-9
        assert plane["axis_labels"][0].startswith("PC1")
        # sharpness of the solution, beside 2 / eta
        assert row["sharpness"] == pytest.approx(
            landscapes.sharpness(run.model, lab.data.batch, tol=1e-3), rel=1e-2
        )
        assert row["two_over_lr"] == pytest.approx(2 / row["lr"])
        assert row["sharpness_epoch"] == SMALL["epochs"] and row["status"] == "done"
    lines = next(f["lines"] for f in reversed(frames) if f["lines"])
    assert len(lines["alphas"]) == LINE_POINTS and len(lines["curves"]) == 3
    labels = [c["label"] for c in lines["curves"]]
    assert labels == ["init → sgd", "init → adam", "sgd → adam"]
    alphas = np.array(lines["alphas"])
    at = (int(np.argmin(abs(alphas))), int(np.argmin(abs(alphas - 1))))
    rows = last["rows"]
    # alpha = 1 on init -> solution, and the ends of solution -> solution, are the table's loss
    assert lines["curves"][0]["loss"][at[1]] == pytest.approx(rows[0]["loss"], rel=1e-4)
    assert lines["curves"][2]["loss"][at[0]] == pytest.approx(rows[0]["loss"], rel=1e-4)
    assert lines["curves"][2]["loss"][at[1]] == pytest.approx(rows[1]["loss"], rel=1e-4)


def test_planes_are_sent_when_new_and_in_full_when_asked() -> None:
    config = {**SMALL, "epochs": 50, "plane_every": 300, "steps_per_frame": 1}
    s, _ = _start(**config, directions="filter")
    lab = s.landscape
    assert lab is not None
    frames = []
    while lab.jobs or len(frames) < 12:  # the first measuring (at init), then training
        frames.extend(s.tick())
    assert all(f["planes"] == [] and f["lines"] is None for f in frames[-3:])
    assert sum(len(f["planes"]) for f in frames) == len(_latest(frames)) == 2  # each once
    (answer,) = s.handle(LandscapeControl(action="step"))  # an answer carries all there is
    assert answer["lines"] is not None
    assert len(answer["planes"]) == 2


def test_filter_directions_give_a_plane_before_training() -> None:
    s, first = _start(**{**SMALL, "directions": "filter", "grid": 7}, autoplay=False)
    assert first["planes"] == [] and first["pending"] > 0 and s.playing  # measuring
    frames = _run_out(s)
    assert all(f["step"] == 0 for f in frames)
    planes = _latest(frames)
    assert sorted(planes) == [0, 1]
    for plane in planes.values():
        assert plane["explained_variance"] is None and plane["epoch"] == 0
        assert plane["bounds"] == [[-1.0, 1.0], [-1.0, 1.0]]
        np.testing.assert_allclose(plane["path"], [[0.0, 0.0]], atol=1e-9)
    # both start from the same weights: the same loss
    rows = frames[-1]["rows"]
    assert rows[0]["loss"] == rows[1]["loss"]


def test_pca_needs_a_path_and_says_so() -> None:
    s, _ = _start(**SMALL, autoplay=False)
    frames = _run_out(s)
    assert _latest(frames) == {}
    assert "at least 3 weight snapshots" in frames[-1]["note"]


def test_pause_stops_training_and_measures_where_it_stopped() -> None:
    s, _ = _start(**{**SMALL, "epochs": 20, "steps_per_frame": 2})
    for _ in range(5):
        s.tick()
    (paused,) = s.handle(LandscapeControl(action="pause"))
    step = paused["step"]
    assert 0 < step and not paused["done"]
    frames = _run_out(s)  # the measuring of the paused point, then nothing
    assert frames and all(f["step"] == step for f in frames)
    assert {p["epoch"] for p in _latest(frames).values()} == {paused["progress"]}
    assert s.tick() == [] and not s.playing
    (again,) = s.handle(LandscapeControl(action="step"))  # one more epoch
    assert again["epoch"] == paused["epoch"] + 1 and not s.landscape.playing  # type: ignore[union-attr]
    s.handle(LandscapeControl(action="speed", steps_per_frame=7))
    assert s.landscape is not None and s.landscape.config.steps_per_frame == 7
    (reset,) = s.handle(LandscapeControl(action="reset"))
    assert reset["step"] == 0 and reset["history"] == []


def test_the_hidden_tab_and_a_closed_tab_stop_the_work() -> None:
    s, _ = _start(**{**SMALL, "epochs": 200})
    s.pause()  # the server's error path: everything stops at once
    assert not s.playing and s.tick() == []
    s.handle(LandscapeControl(action="play"))
    assert s.playing
    s.close()
    assert not s.playing and s.landscape is None


def test_frames_keep_to_the_budget_while_a_digits_plane_is_measured() -> None:
    s, _ = _start(
        dataset="digits",
        hidden=[32],
        samples=500,
        grid=25,
        epochs=3,
        steps_per_frame=1000,
        plane_every=1,
    )
    times, frames = [], []
    while s.playing and len(times) < 400:
        t0 = time.perf_counter()
        frames.extend(s.tick())
        times.append(time.perf_counter() - t0)
    assert not s.playing
    # a 25 x 25 plane is computed over several frames: generous bounds for a loaded machine
    assert len(_latest(frames)) == 2
    assert statistics.median(times) < 0.25, times


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"hidden": [65]}, "config.hidden"),
        ({"hidden": [4, 4, 4, 4]}, "config.hidden"),
        ({"epochs": 100_000}, "config.epochs"),
        ({"grid": 1001}, "config.grid"),
        ({"samples": 100_000}, "config.samples"),
        ({"points": 10**7}, "config.points"),
        ({"optimizers": [{"name": "sgd"}]}, "config.optimizers"),
        (
            {"optimizers": [{"name": "sgd", "hyper": {"lr": "x"}}, {}]},
            "config.optimizers[0].hyper.lr",
        ),
        ({"optimizers": [{}, {"name": "nope"}]}, "config.optimizers[1].name"),
        ({"dataset": "mnist"}, "config.dataset"),
        ({"directions": "random"}, "config.directions"),
        ({"activation": "cosh"}, "config.activation"),
    ],
)
def test_limits_are_refused_before_any_work_with_the_field_named(
    config: dict[str, Any], field: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_work(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("a refused configuration reached the run")

    monkeypatch.setattr(LandscapeLab, "__init__", no_work)
    raw = json.dumps({"type": "landscape.start", "config": config})
    with pytest.raises(ProtocolError) as err:
        Session(Limits()).handle(parse_client_message(raw, Limits()))
    assert err.value.field == field
    assert err.value.request == "landscape.start"


def test_control_before_start_and_speed_without_a_value_are_refused() -> None:
    with pytest.raises(ProtocolError) as err:
        Session(Limits()).handle(LandscapeControl(action="play"))
    assert err.value.field == "action"
    s, _ = _start(**SMALL, autoplay=False)
    with pytest.raises(ProtocolError) as err:
        s.handle(LandscapeControl(action="speed"))
    assert err.value.field == "steps_per_frame"
