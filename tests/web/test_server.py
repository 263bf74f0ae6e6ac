"""The playground server through FastAPI's TestClient: HTTP routes and every WebSocket message."""

from __future__ import annotations

import contextlib
import gc
import io
import json
import warnings
from typing import Any

import numpy as np
import pytest

pytest.importorskip("fastapi")

with warnings.catch_warnings():  # starlette's note about httpx vs httpx2
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from descentlab import data, landscapes, nn, optim
from descentlab.web import protocol
from descentlab.web.server import Limits, create_app

OUT_MODELS = {
    "hello": protocol.HelloMessage,
    "surface": protocol.SurfaceMessage,
    "race.frame": protocol.RaceFrame,
    "train.data": protocol.TrainData,
    "train.frame": protocol.TrainFrame,
    "lr.result": protocol.LrResult,
    "export": protocol.ExportMessage,
    "error": protocol.ErrorMessage,
}


def _no_constants(name: str) -> Any:
    raise AssertionError(f"the server sent {name}, which is not JSON")


def recv(ws: Any) -> dict[str, Any]:
    """One message, checked: strict JSON (no NaN/Infinity) and valid against its model."""
    msg = json.loads(ws.receive_text(), parse_constant=_no_constants)
    model = OUT_MODELS.get(msg["type"])
    if model is not None:
        model.model_validate(msg)
    return msg


def recv_until(ws: Any, kind: str, limit: int = 200) -> tuple[dict[str, Any], list[dict]]:
    """Messages up to and including the first of type ``kind`` (bounded)."""
    seen = []
    for _ in range(limit):
        msg = recv(ws)
        seen.append(msg)
        if msg["type"] == kind:
            return msg, seen
        if msg["type"] == "error":
            raise AssertionError(f"unexpected error while waiting for {kind!r}: {msg}")
    raise AssertionError(f"no {kind!r} message among {[m['type'] for m in seen]}")


def error_for(ws: Any, payload: Any) -> dict[str, Any]:
    ws.send_text(payload if isinstance(payload, str) else json.dumps(payload))
    msg, _ = recv_until(ws, "error")
    return msg


def app(limits: Limits | None = None) -> Any:
    """The app as TestClient reaches it (its Host header is ``testserver``)."""
    return create_app(limits or Limits(), allowed_hosts=["testserver"])


@pytest.fixture(autouse=True, scope="module")
def _earlier_objects_frozen() -> Any:
    """The server runs ``gc.collect()`` whenever its last tab closes (``_release_memory``),
    here in this process, after every test: with the objects of the tests before this
    module frozen it walks only this module's, not the whole suite's (0.1 s, not 0.8 s)."""
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()


@pytest.fixture()
def client() -> TestClient:
    return TestClient(app())


@pytest.fixture()
def ws(client: TestClient) -> Any:
    with client.websocket_connect("/ws") as sock:
        hello = recv(sock)
        assert hello["type"] == "hello"
        yield sock


def race_config(**kw: Any) -> dict[str, Any]:
    cfg = {
        "landscape": "beale",
        "start": [1.0, 1.5],
        "max_steps": 300,
        "autoplay": False,
        "optimizers": [
            {"id": "gd", "name": "sgd", "hyper": {"lr": 0.01}},
            {"id": "mom", "name": "momentum", "hyper": {"lr": 0.002}},
            {"id": "adam", "name": "adam", "hyper": {"lr": 0.05}},
        ],
    }
    cfg.update(kw)
    return cfg


def collect_race(frames: list[dict[str, Any]]) -> dict[str, dict[str, list]]:
    runs: dict[str, dict[str, list]] = {}
    for frame in frames:
        for run in frame["runs"]:
            r = runs.setdefault(run["id"], {"points": [], "values": [], "status": []})
            r["points"] += run["points"]
            r["values"] += run["values"]
            r["status"].append(run["status"])
    return runs


# ------------------------------------------------------------------------------ HTTP
def test_http_routes(client: TestClient) -> None:
    assert client.get("/api/health").json() == {"ok": True}
    page = client.get("/")
    assert page.status_code == 200 and "html" in page.headers["content-type"]
    reg = client.get("/api/registry").json()
    with client.websocket_connect("/ws") as sock:
        hello = recv(sock)
    assert hello["version"] == protocol.PROTOCOL_VERSION
    assert hello["registry"] == reg
    assert hello["limits"]["max_optimizers"] == 10 and hello["limits"]["max_sessions"] == 200
    assert set(hello["limits"]) >= {
        "max_steps",
        "max_optimizers",
        "max_layers",
        "max_neurons",
        "max_points",
        "max_lrs",
        "max_resolution",
        "max_message_bytes",
        "max_sessions",
    }


def test_the_page_preloads_every_module_app_js_imports(client: TestClient) -> None:
    """index.html lists every module of the page as a modulepreload, so the browser fetches
    them at once rather than one level of imports after another; none is missing (it
    would load late) and none is extra (it would be fetched for nothing)."""
    import re

    from descentlab.web.server import STATIC_DIR

    page = client.get("/").text
    preloaded = re.findall(r'<link rel="modulepreload" href="static/([\w.-]+)">', page)
    imported: set[str] = set()
    todo = ["app.js"]
    while todo:
        text = (STATIC_DIR / todo.pop()).read_text()
        for name in re.findall(r"(?:from|import)\s+'\./([\w.-]+\.js)'", text):
            if name not in imported:
                imported.add(name)
                todo.append(name)
    assert imported, "no imports found in app.js: the pattern is out of date"
    assert sorted(preloaded) == sorted(imported)
    assert len(preloaded) == len(set(preloaded))
    for name in preloaded:
        served = client.get(f"/static/{name}")
        assert served.status_code == 200 and "javascript" in served.headers["content-type"]


def test_registry_is_generated_from_the_library(client: TestClient) -> None:
    reg = client.get("/api/registry").json()
    by_name = {o["name"]: o for o in reg["optimizers"]}
    assert list(by_name) == list(optim.REGISTRY)
    for name, spec in optim.REGISTRY.items():
        hps = {h["name"]: h for h in by_name[name]["hyperparameters"]}
        assert list(hps) == [n for n, hp in spec.hyperparameters.items() if hp.in_ui]
        for hp_name, hp in spec.hyperparameters.items():
            if not hp.in_ui:
                continue
            assert hps[hp_name] == hp.to_dict()
            assert hps[hp_name]["type"] == hp.type
            finite = not isinstance(hp.default, float) or np.isfinite(hp.default)
            assert hps[hp_name]["default"] == (hp.default if finite else None)  # JSON: no inf
            assert set(hps[hp_name]) == {
                "name",
                "type",
                "default",
                "low",
                "high",
                "log_scale",
                "help",
                "choices",
                "min",
                "max",
                "nullable",
            }
    assert [x["name"] for x in reg["landscapes"]] == list(landscapes.REGISTRY)
    beale = next(x for x in reg["landscapes"] if x["name"] == "beale")
    assert beale["dims"] == "2" and beale["formula"] and beale["description"]
    rosen = next(x for x in reg["landscapes"] if x["name"] == "rosenbrock")
    assert {p["name"] for p in rosen["parameters"]} == set(
        landscapes.REGISTRY["rosenbrock"].parameters
    )
    assert [d["name"] for d in reg["datasets"]] == [
        "circles",
        "xor",
        "gaussians",
        "spirals",
        "moons",
    ]
    spirals = next(d for d in reg["datasets"] if d["name"] == "spirals")
    assert {h["name"] for h in spirals["hyperparameters"]} == set(
        data.DATASETS["spirals"].hyperparameters
    )
    assert [s["name"] for s in reg["schedules"]] == list(optim.lr_scheduler.SCHEDULES)
    assert reg["activations"] == list(nn.ACTIVATION_NAMES)


# ------------------------------------------------------------------------------ errors
@pytest.mark.parametrize(
    ("payload", "field", "needle"),
    [
        ({"type": "launch"}, "type", "unknown message type"),
        ("{not json", "message", "bad JSON"),
        ("[1, 2]", "message", "JSON object"),
        ('{"type": "ping", "x": NaN}', "message", "NaN"),
        (
            {"type": "race.start", "config": {"optimizers": [{"id": "a", "name": "adamm"}]}},
            "config.optimizers[0].name",
            "unknown optimizer 'adamm'",
        ),
        (
            {
                "type": "race.start",
                "config": {"optimizers": [{"id": "a", "name": "sgd", "hyper": {"lr": -0.5}}]},
            },
            "config.optimizers[0].hyper.lr",
            "lr must be a number >= 0.0, got -0.5",
        ),
        (
            {
                "type": "race.start",
                "config": {"optimizers": [{"id": "a", "name": "sgd", "hyper": {"betas": 1}}]},
            },
            "config.optimizers[0].hyper.betas",
            "no hyperparameter 'betas'",
        ),
        (
            {
                "type": "race.start",
                "config": {"optimizers": [{"id": str(i), "name": "sgd"} for i in range(11)]},
            },
            "config.optimizers",
            "1 to 10 optimizers, got 11",
        ),
        (
            {"type": "race.start", "config": {"landscape": "mount_everest"}},
            "config.landscape",
            "unknown landscape 'mount_everest'",
        ),
        (
            {"type": "race.start", "config": {"landscape": "__import__('os')"}},
            "config.landscape",
            "not allowed",
        ),
        (
            {"type": "race.start", "config": {"landscape": "x*y*z"}},
            "config.landscape",
            "the formula uses z; the playground shows 1-D and 2-D landscapes: use x and y",
        ),
        (
            {"type": "race.start", "config": {"landscape": "rosenbrock", "params": {"dim": 5}}},
            "config.params.dim",
            "1-D and 2-D",
        ),
        ({"type": "race.start", "config": {"max_steps": 20001}}, "config.max_steps", "20001"),
        ({"type": "race.start", "config": {"start": [1.0, 2.0, 3.0]}}, "config.start", "[x, y]"),
        (
            {"type": "race.start", "config": {"landscape": "beale", "start": [1.0]}},
            "config.start",
            "2 coordinate",
        ),
        (
            {"type": "race.start", "config": {"landscape": "beale", "batch_size": 4}},
            "config.batch_size",
            "finite-sum",
        ),
        ({"type": "race.start", "config": {"colour": "red"}}, "config.colour", "unknown field"),
        ({"type": "race.control", "action": "play"}, "action", "no race yet"),
        ({"type": "race.control", "action": "jump"}, "action", "jump"),
        (
            {"type": "train.start", "config": {"hidden": [8] * 7}},
            "config.hidden",
            "at most 6 hidden layers",
        ),
        ({"type": "train.start", "config": {"hidden": [65]}}, "config.hidden", "65"),
        ({"type": "train.start", "config": {"points": 2001}}, "config.points", "2001"),
        ({"type": "train.start", "config": {"dataset": "mnist"}}, "config.dataset", "mnist"),
        ({"type": "train.start", "config": {"dropout": 0.95}}, "config.dropout", "0.95"),
        (
            {"type": "train.start", "config": {"schedule": {"name": "zigzag"}}},
            "config.schedule.name",
            "zigzag",
        ),
        ({"type": "train.start", "config": {"activation": "swish"}}, "config.activation", "swish"),
        ({"type": "train.control", "action": "step"}, "action", "no training run"),
        ({"type": "surface.request", "landscape": "beale", "resolution": 201}, "resolution", "201"),
        ({"type": "surface.request", "landscape": "beale", "l2": -1}, "l2", "-1"),
        ({"type": "lr.start", "config": {"lrs": [0.1, -1]}}, "config.lrs", "> 0"),
        ({"type": "lr.start", "config": {"lrs": [0.1] * 13}}, "config.lrs", "1 to 12"),
        ({"type": "lr.start", "config": {"hyper": {"lr": 0.1}}}, "config.hyper.lr", "lrs"),
        ({"type": "export", "what": "race"}, "what", "no race"),
        ({"type": "export", "what": "pictures"}, "what", "pictures"),
    ],
)
def test_validation_errors_name_the_field_and_keep_the_session(
    ws: Any, payload: Any, field: str, needle: str
) -> None:
    err = error_for(ws, payload)
    assert err["field"] == field, err
    assert needle in err["message"], err
    ws.send_text('{"type": "ping"}')
    assert recv_until(ws, "pong")[0] == {"type": "pong"}


def test_oversized_message_is_refused() -> None:
    small = Limits(max_message_bytes=2048)
    with TestClient(app(small)).websocket_connect("/ws") as sock:
        recv(sock)
        big = json.dumps({"type": "ping", "pad": "x" * 5000})
        err = error_for(sock, big)
        assert err["field"] == "message" and "2048" in err["message"]
        sock.send_bytes(b"\xff\xfe")
        assert "UTF-8" in recv_until(sock, "error")[0]["message"]
        sock.send_text('{"type": "ping"}')
        assert recv_until(sock, "pong")[0]["type"] == "pong"


def test_limits_come_from_the_app() -> None:
    tight = Limits(
        max_optimizers=2,
        max_layers=1,
        max_neurons=4,
        max_points=100,
        max_resolution=30,
        max_lrs=2,
        max_steps=50,
    )
    with TestClient(app(tight)).websocket_connect("/ws") as sock:
        assert recv(sock)["limits"]["max_optimizers"] == 2
        cases = [
            (
                {
                    "type": "race.start",
                    "config": {"optimizers": [{"id": str(i), "name": "sgd"} for i in range(3)]},
                },
                "config.optimizers",
            ),
            ({"type": "race.start", "config": {"max_steps": 51}}, "config.max_steps"),
            ({"type": "train.start", "config": {"hidden": [4, 4]}}, "config.hidden"),
            ({"type": "train.start", "config": {"hidden": [5]}}, "config.hidden"),
            ({"type": "train.start", "config": {"points": 101}}, "config.points"),
            ({"type": "surface.request", "resolution": 31}, "resolution"),
            ({"type": "lr.start", "config": {"lrs": [0.1, 0.2, 0.3]}}, "config.lrs"),
        ]
        for payload, field in cases:
            assert error_for(sock, payload)["field"] == field


def test_max_sessions_refuses_extra_connections() -> None:
    client = TestClient(app(Limits(max_sessions=1)))
    with client.websocket_connect("/ws") as first:
        assert recv(first)["type"] == "hello"
        with client.websocket_connect("/ws") as second:
            msg = recv(second)
            assert msg["type"] == "error" and "full" in msg["message"]
            with pytest.raises(Exception):  # noqa: B017 - closed by the server
                second.receive_text()
        first.send_text('{"type": "ping"}')
        assert recv_until(first, "pong")[0]["type"] == "pong"
    with client.websocket_connect("/ws") as again:  # the slot was freed on disconnect
        assert recv(again)["type"] == "hello"


# ------------------------------------------------------------------------------ surface
def test_surface_2d_and_1d(ws: Any) -> None:
    ws.send_text(
        json.dumps({"type": "surface.request", "landscape": "himmelblau", "resolution": 40})
    )
    s, _ = recv_until(ws, "surface")
    assert s["dim"] == 2 and len(s["xs"]) == 40 and len(s["ys"]) == 40
    assert np.shape(s["values"]) == (40, 40)
    f = landscapes.get("himmelblau")
    assert s["values"][3][7] == pytest.approx(float(f.value([s["xs"][7], s["ys"][3]])))
    assert len(s["minima"]) == 4 and s["log_scale"] is True
    ws.send_text(
        json.dumps(
            {"type": "surface.request", "landscape": "double_well", "resolution": 25, "l2": 0.5}
        )
    )
    s, _ = recv_until(ws, "surface")
    assert s["dim"] == 1 and len(s["values"]) == 25 and s["ys"] is None
    g = landscapes.get("double_well").with_penalty(0, 0.5)
    assert s["values"][0] == pytest.approx(float(g.value([s["xs"][0]])))
    ws.send_text(
        json.dumps({"type": "surface.request", "landscape": "x**2 + 3*sin(y)", "resolution": 10})
    )
    s, _ = recv_until(ws, "surface")
    assert s["dim"] == 2 and s["formula"] == "x**2 + 3*sin(y)"


# ------------------------------------------------------------------------------ race
def test_race_streams_frames_and_the_loss_falls(ws: Any) -> None:
    ws.send_text(
        json.dumps({"type": "race.start", "config": race_config(autoplay=True, steps_per_frame=10)})
    )
    surface, _ = recv_until(ws, "surface")
    assert surface["landscape"] == "beale" and surface["start"] == [1.0, 1.5]
    frames = []
    for _ in range(200):
        msg = recv(ws)
        if msg["type"] == "race.frame":
            frames.append(msg)
            if len(frames) >= 8:
                break
    assert frames[0]["step"] == 0
    assert all(len(r["points"]) == 1 for r in frames[0]["runs"])
    steps = [f["step"] for f in frames]
    assert steps == sorted(steps) and steps[-1] >= 70
    runs = collect_race(frames)
    assert set(runs) == {"gd", "mom", "adam"}
    for run in runs.values():
        assert len(run["points"]) == steps[-1] + 1  # every step's position, exactly once
        assert run["values"][-1] < run["values"][0] * 0.5
    first = frames[-1]["runs"][2]
    assert first["optimizer"] == "adam" and first["readout"]["velocity"] is not None
    assert first["readout"]["second_moment"] is not None
    ws.send_text(json.dumps({"type": "race.control", "action": "pause"}))


def test_race_values_match_minimize(ws: Any) -> None:
    ws.send_text(json.dumps({"type": "race.start", "config": race_config()}))
    recv_until(ws, "race.frame")
    ws.send_text(json.dumps({"type": "race.control", "action": "step", "steps": 40}))
    frame, _ = recv_until(ws, "race.frame")
    run = frame["runs"][2]
    assert len(run["points"]) == 40 and run["nit"] == 40
    res = landscapes.minimize("beale", [1.0, 1.5], optimizer="adam", lr=0.05, steps=40)
    np.testing.assert_array_equal(run["points"][-1], res.x)
    assert run["values"][-1] == res.fun


def test_gd_lr_1000_diverges_cleanly(ws: Any) -> None:
    cfg = {
        "landscape": "parabola",
        "optimizers": [{"id": "big", "name": "gd", "hyper": {"lr": 1000}}],
        "max_steps": 200,
        "autoplay": False,
    }
    ws.send_text(json.dumps({"type": "race.start", "config": cfg}))
    recv_until(ws, "race.frame")
    ws.send_text(json.dumps({"type": "race.control", "action": "step", "steps": 100}))
    frame, _ = recv_until(ws, "race.frame")  # recv() rejects NaN/Infinity in the JSON
    run = frame["runs"][0]
    assert run["status"] == "diverged" and frame["done"] is True
    assert f"diverged at step {run['nit']}" in run["message"]
    assert 1 <= run["nit"] < 100 and len(run["points"]) == run["nit"]


def test_race_pause_step_reset(ws: Any) -> None:
    ws.send_text(json.dumps({"type": "race.start", "config": race_config()}))
    first, _ = recv_until(ws, "race.frame")
    assert first["step"] == 0
    ws.send_text(json.dumps({"type": "race.control", "action": "step", "steps": 7}))
    frame, _ = recv_until(ws, "race.frame")
    assert frame["step"] == 7 and all(len(r["points"]) == 7 for r in frame["runs"])
    ws.send_text(json.dumps({"type": "race.control", "action": "step"}))
    frame, _ = recv_until(ws, "race.frame")
    assert frame["step"] == 8 and all(len(r["points"]) == 1 for r in frame["runs"])
    ws.send_text(json.dumps({"type": "race.control", "action": "reset"}))
    frame, _ = recv_until(ws, "race.frame")
    assert frame["step"] == 0
    assert [r["points"] for r in frame["runs"]] == [r["points"] for r in first["runs"]]
    ws.send_text(json.dumps({"type": "race.control", "action": "play"}))
    frame, _ = recv_until(ws, "race.frame")
    assert frame["step"] > 0
    ws.send_text(json.dumps({"type": "race.control", "action": "pause"}))
    ws.send_text(json.dumps({"type": "ping"}))
    _, seen = recv_until(ws, "pong")
    ws.send_text(json.dumps({"type": "ping"}))
    _, seen = recv_until(ws, "pong")  # paused: nothing but the answer arrives
    assert [m["type"] for m in seen] == ["pong"]


def test_race_runs_to_the_end_and_says_done(ws: Any) -> None:
    cfg = {
        "landscape": "parabola",
        "max_steps": 30,
        "steps_per_frame": 50,
        "optimizers": [{"id": "a", "name": "sgd", "hyper": {"lr": 0.1}}],
    }
    ws.send_text(json.dumps({"type": "race.start", "config": cfg}))
    frames = []
    for _ in range(50):
        msg = recv(ws)
        if msg["type"] == "race.frame":
            frames.append(msg)
            if msg["done"]:
                break
    assert frames[-1]["done"] and frames[-1]["runs"][0]["status"] == "max_steps"
    assert frames[-1]["runs"][0]["nit"] == 30


def test_finite_sum_race_with_minibatches(ws: Any) -> None:
    cfg = {
        "landscape": "eight_points",
        "batch_size": 2,
        "seed": 3,
        "autoplay": False,
        "optimizers": [{"id": "sgd", "name": "sgd", "hyper": {"lr": 0.05}}],
    }
    ws.send_text(json.dumps({"type": "race.start", "config": cfg}))
    recv_until(ws, "race.frame")
    ws.send_text(json.dumps({"type": "race.control", "action": "step", "steps": 20}))
    frame, _ = recv_until(ws, "race.frame")
    res = landscapes.minimize(
        "eight_points", None, optimizer="sgd", lr=0.05, steps=20, batch_size=2, seed=3
    )
    np.testing.assert_array_equal(frame["runs"][0]["points"][-1], res.x)


# ------------------------------------------------------------------------------ training
TRAIN = {
    "dataset": "spirals",
    "classes": 3,
    "noise": 0.05,
    "points": 300,
    "hidden": [16, 16],
    "activation": "relu",
    "dropout": 0.1,
    "batch_size": 16,
    "optimizer": {"name": "adam", "hyper": {"lr": 0.02}},
    "seed": 1,
    "epochs_per_frame": 5,
    "max_epochs": 60,
    "autoplay": True,
}


def test_train_spirals_accuracy_rises(ws: Any) -> None:
    ws.send_text(json.dumps({"type": "train.start", "config": TRAIN}))
    d, _ = recv_until(ws, "train.data")
    assert d["classes"] == 3 and len(d["train"]["X"]) + len(d["test"]["X"]) == 300
    assert len(d["test"]["y"]) == 90
    rows: list[dict[str, Any]] = []
    last = None
    for _ in range(100):
        msg = recv(ws)
        if msg["type"] == "train.frame":
            rows += msg["history"]
            last = msg
            if msg["done"]:
                break
    assert last is not None and last["done"] and "60 epochs" in last["stop_reason"]
    assert [r["epoch"] for r in rows] == list(range(1, 61))
    assert rows[-1]["test_accuracy"] > rows[0]["test_accuracy"] + 0.2
    assert rows[-1]["test_accuracy"] > 0.75
    b = last["boundary"]
    assert b["resolution"] == 60 and np.shape(b["probs"]) == (60, 60, 3)
    assert np.allclose(np.sum(b["probs"], axis=2), 1.0, atol=2e-3)
    assert len(b["argmax"]) == 3600 and max(b["argmax"]) <= 2
    cm = np.array(last["confusion"])
    assert cm.shape == (3, 3) and cm.sum() == 90
    assert np.trace(cm) / 90 == pytest.approx(rows[-1]["test_accuracy"])


def test_speed_changes_the_pace_without_restarting(ws: Any) -> None:
    ws.send_text(
        json.dumps({"type": "race.start", "config": race_config(autoplay=False, steps_per_frame=2)})
    )
    recv_until(ws, "race.frame")
    ws.send_text(json.dumps({"type": "race.control", "action": "step", "steps": 3}))
    frame, _ = recv_until(ws, "race.frame")
    assert frame["step"] == 3
    ws.send_text(json.dumps({"type": "race.control", "action": "speed", "steps_per_frame": 40}))
    ws.send_text(json.dumps({"type": "race.control", "action": "play"}))
    frame, _ = recv_until(ws, "race.frame")
    assert frame["step"] == 43  # the same race, 40 steps further in one frame
    ws.send_text(json.dumps({"type": "race.control", "action": "pause"}))
    err = error_for(ws, {"type": "race.control", "action": "speed"})
    assert err["field"] == "steps_per_frame"
    err = error_for(ws, {"type": "race.control", "action": "speed", "steps_per_frame": 500})
    assert err["field"] == "steps_per_frame"
    cfg = {**TRAIN, "autoplay": False, "max_epochs": 50, "points": 100}
    ws.send_text(json.dumps({"type": "train.start", "config": cfg}))
    recv_until(ws, "train.frame")
    ws.send_text(json.dumps({"type": "train.control", "action": "speed", "epochs_per_frame": 3}))
    ws.send_text(json.dumps({"type": "train.control", "action": "play"}))
    frame, _ = recv_until(ws, "train.frame")
    assert frame["epoch"] == 3
    ws.send_text(json.dumps({"type": "train.control", "action": "pause"}))
    ws.send_text(json.dumps({"type": "ping"}))
    recv_until(ws, "pong")


def test_train_step_pause_reset(ws: Any) -> None:
    cfg = {**TRAIN, "autoplay": False, "max_epochs": 10, "points": 100}
    ws.send_text(json.dumps({"type": "train.start", "config": cfg}))
    first, _ = recv_until(ws, "train.frame")
    assert first["epoch"] == 0 and first["history"] == [] and not first["done"]
    ws.send_text(json.dumps({"type": "train.control", "action": "step"}))
    frame, _ = recv_until(ws, "train.frame")
    assert frame["epoch"] == 1 and [r["epoch"] for r in frame["history"]] == [1]
    one = frame["history"][0]
    ws.send_text(json.dumps({"type": "train.control", "action": "reset"}))
    frame, _ = recv_until(ws, "train.frame")
    assert frame["epoch"] == 0 and frame["boundary"] == first["boundary"]
    ws.send_text(json.dumps({"type": "train.control", "action": "step"}))
    frame, _ = recv_until(ws, "train.frame")
    assert frame["history"] == [one]  # seeded: the same epoch again
    ws.send_text(json.dumps({"type": "train.control", "action": "play"}))
    ws.send_text(json.dumps({"type": "train.control", "action": "pause"}))
    ws.send_text(json.dumps({"type": "ping"}))
    recv_until(ws, "pong")


# ------------------------------------------------------------------------------ lr
def test_lr_experiment_statuses(ws: Any) -> None:
    ws.send_text(
        json.dumps(
            {
                "type": "lr.start",
                "config": {
                    "landscape": "parabola",
                    "optimizer": "gd",
                    "lrs": [0.1, 1, 100],
                    "steps": 100,
                },
            }
        )
    )
    res, _ = recv_until(ws, "lr.result")
    by_lr = {r["lr"]: r for r in res["runs"]}
    assert by_lr[0.1]["status"] == "converged"
    assert by_lr[1]["status"] == "max_steps" and "oscillate" in by_lr[1]["message"]
    assert by_lr[100]["status"] == "diverged" and "diverged at step" in by_lr[100]["message"]
    assert len(by_lr[0.1]["points"]) == by_lr[0.1]["nit"] + 1
    assert by_lr[0.1]["points"][0] == [1.0]


# ------------------------------------------------------------------------------ export
def _exec(code: str) -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__export__"}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(compile(code, "<export>", "exec"), namespace)  # noqa: S102 - our own export
    return namespace


def export(ws: Any, what: str, fmt: str) -> str:
    ws.send_text(json.dumps({"type": "export", "what": what, "format": fmt}))
    msg, _ = recv_until(ws, "export")
    assert msg["what"] == what and msg["format"] == fmt
    return msg["text"]


def test_export_race_python_reproduces_the_run(ws: Any) -> None:
    cfg = race_config(max_steps=60, l2=0.01, grad_noise=0.1, seed=5)
    ws.send_text(json.dumps({"type": "race.start", "config": cfg}))
    frames = [recv_until(ws, "race.frame")[0]]
    ws.send_text(json.dumps({"type": "race.control", "action": "step", "steps": 100}))
    frames.append(recv_until(ws, "race.frame")[0])
    assert frames[-1]["done"]
    served = collect_race(frames)
    ns = _exec(export(ws, "race", "python"))
    for label, res in ns["results"].items():
        np.testing.assert_array_equal(res.x, served[label]["points"][-1])
        assert (
            res.nit == frames[-1]["runs"][[r["id"] for r in frames[-1]["runs"]].index(label)]["nit"]
        )


def test_export_json_round_trips(ws: Any) -> None:
    ws.send_text(json.dumps({"type": "race.start", "config": race_config(l1=0.5)}))
    first, _ = recv_until(ws, "race.frame")
    text = export(ws, "race", "json")
    cfg = json.loads(text)
    assert cfg["l1"] == 0.5 and [o["id"] for o in cfg["optimizers"]] == ["gd", "mom", "adam"]
    ws.send_text(json.dumps({"type": "race.start", "config": cfg}))
    again, _ = recv_until(ws, "race.frame")
    assert again["runs"] == first["runs"]
    assert json.loads(export(ws, "race", "json")) == cfg
    ws.send_text(json.dumps({"type": "train.start", "config": {**TRAIN, "autoplay": False}}))
    recv_until(ws, "train.frame")
    tcfg = json.loads(export(ws, "train", "json"))
    ws.send_text(json.dumps({"type": "train.start", "config": tcfg}))
    recv_until(ws, "train.frame")
    assert json.loads(export(ws, "train", "json")) == tcfg
    ws.send_text(json.dumps({"type": "lr.start", "config": {"lrs": [0.5]}}))
    recv_until(ws, "lr.result")
    lcfg = json.loads(export(ws, "lr", "json"))
    ws.send_text(json.dumps({"type": "lr.start", "config": lcfg}))
    assert recv_until(ws, "lr.result")[0]["runs"][0]["lr"] == 0.5


def test_export_train_python_reproduces_accuracy(ws: Any) -> None:
    cfg = {
        **TRAIN,
        "points": 120,
        "max_epochs": 4,
        "epochs_per_frame": 4,
        "l1": 1e-4,
        "l2": 1e-3,
        "schedule": {"name": "step", "params": {"step_size": 2, "gamma": 0.5}},
    }
    ws.send_text(json.dumps({"type": "train.start", "config": cfg}))
    rows = []
    for _ in range(50):
        msg = recv(ws)
        if msg["type"] == "train.frame":
            rows += msg["history"]
            if msg["done"]:
                break
    ns = _exec(export(ws, "train", "python"))
    assert len(ns["history"]) == 4
    assert ns["test"]["accuracy"] == rows[-1]["test_accuracy"]
    assert ns["history"].last["train_loss"] == pytest.approx(rows[-1]["train_loss"], rel=1e-12)
    assert ns["history"].last["lr"] == rows[-1]["lr"]


def test_export_lr_python_reproduces_statuses(ws: Any) -> None:
    ws.send_text(
        json.dumps(
            {
                "type": "lr.start",
                "config": {
                    "landscape": "ill_conditioned",
                    "optimizer": "momentum",
                    "hyper": {"momentum": 0.5},
                    "lrs": [0.01, 0.3, 2.0],
                    "steps": 80,
                },
            }
        )
    )
    served, _ = recv_until(ws, "lr.result")
    ns = _exec(export(ws, "lr", "python"))
    assert list(ns["res"].status) == [r["status"] for r in served["runs"]]
    assert list(ns["res"].nit) == [r["nit"] for r in served["runs"]]


# ------------------------------------------------------------------------------ isolation
def test_two_sessions_do_not_share_runs(client: TestClient) -> None:
    with client.websocket_connect("/ws") as a, client.websocket_connect("/ws") as b:
        recv(a)
        recv(b)
        a.send_text(json.dumps({"type": "race.start", "config": race_config()}))
        recv_until(a, "race.frame")
        err = error_for(b, {"type": "race.control", "action": "step"})
        assert "no race yet" in err["message"]
        assert "no race" in error_for(b, {"type": "export", "what": "race"})["message"]
        b.send_text(
            json.dumps(
                {
                    "type": "race.start",
                    "config": race_config(landscape="himmelblau", start=[0.0, 0.0]),
                }
            )
        )
        recv_until(b, "race.frame")
        a.send_text(json.dumps({"type": "race.control", "action": "step", "steps": 3}))
        frame, _ = recv_until(a, "race.frame")
        assert frame["step"] == 3
        res = landscapes.minimize("beale", [1.0, 1.5], optimizer="sgd", lr=0.01, steps=3)
        np.testing.assert_array_equal(frame["runs"][0]["points"][-1], res.x)
        assert json.loads(export(b, "race", "json"))["landscape"] == "himmelblau"


# ------------------------------------------------------------------------------ same origin
from starlette.websockets import WebSocketDisconnect

from descentlab.web.server import CLOSE_POLICY_VIOLATION, allowed_hosts_for


def test_allowed_hosts_follow_the_bound_address() -> None:
    assert allowed_hosts_for("127.0.0.1", 8100) == {
        "127.0.0.1:8100",
        "localhost:8100",
        "[::1]:8100",
    }
    assert "192.168.1.5:8000" in allowed_hosts_for("192.168.1.5", 8000)
    assert allowed_hosts_for("0.0.0.0", 8000) == allowed_hosts_for("127.0.0.1", 8000)
    assert "localhost" in allowed_hosts_for("127.0.0.1", 80)


@pytest.mark.parametrize(
    "base", ["http://127.0.0.1:8000", "http://localhost:8000", "http://[::1]:8000"]
)
def test_own_host_and_origin_are_accepted_by_default(base: str) -> None:
    client = TestClient(create_app(), base_url=base)  # default: the port it listens on
    assert client.get("/api/health").json() == {"ok": True}
    assert client.get("/api/health", headers={"origin": base}).status_code == 200
    ws_url = base.replace("http", "ws") + "/ws"
    with client.websocket_connect(ws_url, headers={"origin": base}) as sock:
        assert recv(sock)["type"] == "hello"
    with client.websocket_connect(ws_url) as sock:  # a non-browser client: no Origin
        assert recv(sock)["type"] == "hello"


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": "http://127.0.0.1:9999"},  # another port is another origin
        {"origin": "https://127.0.0.1:8000"},
        {"host": "evil.example:8000"},  # DNS rebinding: a name that resolves to 127.0.0.1
        {"host": "127.0.0.1:9999"},
        {"host": "evil.example:8000", "origin": "http://evil.example:8000"},
    ],
)
def test_other_origins_and_hosts_are_refused(headers: dict[str, str]) -> None:
    client = TestClient(create_app(), base_url="http://127.0.0.1:8000")
    for path in ("/api/health", "/api/registry", "/"):
        answer = client.get(path, headers=headers)
        assert answer.status_code == 403 and "forbidden" in answer.text
    with (
        pytest.raises(WebSocketDisconnect) as info,
        client.websocket_connect("ws://127.0.0.1:8000/ws", headers=headers) as sock,
    ):
        sock.receive_text()
    assert info.value.code == CLOSE_POLICY_VIOLATION


def test_allowed_hosts_are_configurable() -> None:
    assert TestClient(create_app()).get("/api/health").status_code == 403  # Host: testserver
    client = TestClient(app())
    assert client.get("/api/health", headers={"origin": "http://testserver"}).status_code == 200
    assert client.get("/api/health", headers={"origin": "http://evil.example"}).status_code == 403


# ------------------------------------------------------------------------------ plain errors
@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [
        (
            {"type": "race.start", "config": {"landscape": "x**2 + y", "params": {"lr": "abc"}}},
            "config.params.lr",
            "learning rate must be a number, got 'abc'",
        ),
        (
            {
                "type": "race.start",
                "config": {"optimizers": [{"id": "a", "name": "sgd", "hyper": {"lr": "abc"}}]},
            },
            "config.optimizers[0].hyper.lr",
            "learning rate must be a number, got 'abc'",
        ),
        (
            {"type": "surface.request", "landscape": "x**2 + y", "params": {"name": "mine"}},
            "params.name",
            "a formula takes only the params bounds, start, lr, log_scale; got 'name'",
        ),
        (
            {
                "type": "race.start",
                "config": {"landscape": "x**2 + y", "params": {"start": [0] * 5000}},
            },
            "config.params.start",
            "start must be 2 number(s)",
        ),
        (
            {
                "type": "race.start",
                "config": {"landscape": "x**2 + y", "params": {"bounds": [[0, 1], [1, 0]]}},
            },
            "config.params.bounds",
            "bounds must be 2 pair(s) [low, high] with low < high",
        ),
        (
            {"type": "race.start", "config": {"landscape": "x + z"}},
            "config.landscape",
            "the formula uses z; the playground shows 1-D and 2-D landscapes: use x and y",
        ),
        (
            {
                "type": "race.start",
                "config": {"optimizers": [{"id": "a", "name": "sgd", "hyper": {"lr": [1, 2]}}]},
            },
            "config.optimizers[0].hyper.lr",
            "learning rate must be a number, true or false, or text",
        ),
        (
            {
                "type": "race.start",
                "config": {"optimizers": [{"id": "a", "name": "sgd", "hyper": {"lr": None}}]},
            },
            "config.optimizers[0].hyper.lr",
            "learning rate must be set, got null",
        ),
        (
            {"type": "lr.start", "config": {"lrs": [0.1, "abc"]}},
            "config.lrs[1]",
            "learning rates must be a number, got 'abc'",
        ),
        (
            {"type": "surface.request", "landscape": "x10000000"},
            "landscape",
            "at most 100 variables",
        ),
        ({"type": "surface.request", "landscape": "1" * 400 + "*x"}, "landscape", "too large"),
        (
            {"type": "surface.request", "landscape": "-" * 250 + "x"},
            "landscape",
            "formula refused: the formula is nested too deeply (more than 200 levels)",
        ),
    ],
)
def test_errors_name_the_field_in_plain_words(
    ws: Any, payload: Any, field: str, message: str
) -> None:
    err = error_for(ws, payload)
    assert err["field"] == field, err
    assert message in err["message"], err
    assert len(err["message"]) < 300 and "ufunc" not in err["message"]
    assert "got multiple values" not in err["message"] and "reshape" not in err["message"]


# ------------------------------------------------------------------------------ bounded work
def test_a_flooding_client_gets_errors_and_its_queue_stays_bounded() -> None:
    import asyncio

    from descentlab.web.server import _Connection

    class Sink:
        def __init__(self) -> None:
            self.sent: list[dict[str, Any]] = []

        async def send_text(self, text: str) -> None:
            self.sent.append(json.loads(text))

    async def flood() -> tuple[_Connection, Sink]:
        sink = Sink()
        conn = _Connection(sink, Limits(max_pending=3))  # type: ignore[arg-type]
        for _ in range(10):  # no worker runs: nothing is taken from the queue
            await conn.submit('{"type": "ping"}')
        return conn, sink

    # In a thread of its own: an earlier test (Playwright's sync API in tests/e2e) may have
    # left an event loop running in this thread, where asyncio.run() is refused.
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        conn, sink = pool.submit(asyncio.run, flood()).result(timeout=120)
    assert conn.pending.qsize() == 3
    assert len(sink.sent) == 7
    assert all(
        m["type"] == "error"
        and m["field"] == "message"
        and "too many requests waiting (3)" in m["message"]
        for m in sink.sent
    )


def test_a_closed_tab_stops_its_work(client: TestClient) -> None:
    app_ = client.app
    with client.websocket_connect("/ws") as sock:
        recv(sock)
        sock.send_text(
            json.dumps(
                {
                    "type": "train.start",
                    "config": {"max_epochs": 10000, "epochs_per_frame": 50, "points": 400},
                }
            )
        )
        recv_until(sock, "train.frame")
        (conn,) = app_.state.connections
        session = conn.session
    # the endpoint has returned: the connection is gone and its session cancelled
    assert app_.state.connections == set()
    assert session.cancelled.is_set() and session.train is None and session.race is None
    assert session.tick() == []


def test_session_cancel_stops_between_steps_and_epochs() -> None:
    from descentlab.web.protocol import RaceConfig, TrainConfig
    from descentlab.web.session import Session

    s = Session(Limits())
    s.start_race(RaceConfig(max_steps=1000, autoplay=True))
    s.start_train(TrainConfig(max_epochs=100, autoplay=True))
    steps, epochs = s.race.runners[0].t, s.train.trainer.epoch
    s.cancel()
    assert s.tick() == []
    s._advance_race(s.race, 100, s.cancelled)
    s._advance_train(s.train, 10, s.cancelled)
    assert s.race.runners[0].t == steps and s.train.trainer.epoch == epochs
    assert s.handle(protocol.parse_client_message('{"type": "ping"}')) == []


# ------------------------------------------------------------------------------ fuzz
def test_fuzz_random_messages_over_the_socket_never_break_the_session(ws: Any) -> None:
    rng = np.random.default_rng(7)
    atoms = [
        None,
        True,
        0,
        -1,
        1e308,
        2**70,
        "abc",
        "",
        "x" * 300,
        "x + z",
        "beale",
        [],
        [0] * 50,
        {},
        {"lr": "abc"},
        {"name": "x"},
        [[0, 1], [1, 0]],
    ]
    types = [*protocol.CLIENT_MESSAGES, "nope", 7]
    keys = [
        "config",
        "landscape",
        "params",
        "optimizers",
        "lr",
        "hyper",
        "start",
        "action",
        "steps",
        "what",
        "format",
        "resolution",
        "lrs",
        "max_steps",
        "bounds",
        "name",
    ]

    def value(depth: int = 0) -> Any:
        if depth > 2 or rng.random() < 0.5:
            return atoms[rng.integers(len(atoms))]
        return {keys[rng.integers(len(keys))]: value(depth + 1) for _ in range(rng.integers(0, 4))}

    for _ in range(60):
        body = value(1)
        msg: Any = body
        if rng.random() < 0.8:
            msg = {
                **(body if isinstance(body, dict) else {}),
                "type": types[rng.integers(len(types))],
            }
        if isinstance(msg, dict) and msg.get("type") in ("race.start", "train.start", "lr.start"):
            msg["config"] = {
                **(msg.get("config") if isinstance(msg.get("config"), dict) else {}),
                "autoplay": False,
            }
        ws.send_text(json.dumps(msg))
        ws.send_text('{"type": "ping"}')
        for _ in range(10):  # every message is answered before the ping's pong
            answer = recv(ws)
            if answer["type"] == "pong":
                break
            if answer["type"] == "error":
                assert not answer["message"].startswith("internal error"), (msg, answer)
        else:
            raise AssertionError(f"no pong after {msg}")


def test_every_registered_optimizer_races_in_the_playground(ws: Any) -> None:
    """The menu is the registry: each optimizer (elementwise or not, with a closure or a
    train/eval switch) streams frames whose points move, in races of ten."""
    names = list(optim.REGISTRY)
    for start in range(0, len(names), 10):
        chunk = names[start : start + 10]
        ws.send_text(
            json.dumps(
                {
                    "type": "race.start",
                    "config": {
                        "landscape": "rosenbrock",
                        "autoplay": True,
                        "steps_per_frame": 5,
                        "optimizers": [{"id": n, "name": n} for n in chunk],
                    },
                }
            )
        )
        frames = []
        started = False  # frames of the last race, paused in flight, may come before
        for _ in range(400):
            msg = recv(ws)
            assert msg["type"] != "error", msg
            started = started or msg["type"] == "surface"
            if started and msg["type"] == "race.frame":
                frames.append(msg)
                if frames[-1]["step"] >= 10 or frames[-1]["done"]:
                    break
        assert started, "no surface answered the race.start"
        runs = collect_race(frames)
        assert set(runs) == set(chunk)
        for name, run in runs.items():
            # some diverge at their default lr on Rosenbrock (ASGD): they moved all the same
            first, last = run["points"][0], run["points"][-1]
            assert first != last, f"{name} did not move"
        ws.send_text(json.dumps({"type": "race.control", "action": "pause"}))
