"""The playground protocol: message models, limits, error messages, and the Session alone."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

pytest.importorskip("pydantic")

from descentlab import landscapes, optim
from descentlab.web import protocol
from descentlab.web.protocol import Limits, ProtocolError, parse_client_message
from descentlab.web.session import Session, clean, registry


def parse(msg: Any, limits: Limits | None = None) -> Any:
    return parse_client_message(json.dumps(msg), limits)


def refused(msg: Any, limits: Limits | None = None) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        parse_client_message(msg if isinstance(msg, (str, bytes)) else json.dumps(msg), limits)
    return info.value


def test_every_client_message_type_parses_with_defaults() -> None:
    examples = {
        "surface.request": {"type": "surface.request", "landscape": "beale"},
        "race.start": {"type": "race.start", "config": {}},
        "race.control": {"type": "race.control", "action": "step", "steps": 3},
        "train.start": {"type": "train.start", "config": {}},
        "train.control": {"type": "train.control", "action": "reset"},
        "lr.start": {"type": "lr.start", "config": {}},
        "landscape.start": {"type": "landscape.start", "config": {}},
        "landscape.control": {"type": "landscape.control", "action": "pause"},
        "export": {"type": "export", "what": "train", "format": "json"},
        "ping": {"type": "ping"},
    }
    assert set(examples) == set(protocol.CLIENT_MESSAGES)
    for kind, msg in examples.items():
        model = parse(msg)
        assert isinstance(model, protocol.CLIENT_MESSAGES[kind]) and model.type == kind
    race = parse(examples["race.start"]).config
    assert race.max_steps == 500 and race.tol == 1e-6 and race.autoplay is True
    assert [o.id for o in race.optimizers] == ["sgd", "momentum", "adam"]
    train = parse(examples["train.start"]).config
    assert train.points == 400 and train.train_ratio == 0.7 and train.hidden == [8, 8]
    assert train.batch_size == 16
    lr = parse(examples["lr.start"]).config
    assert lr.lrs == [0.01, 0.1, 1.0, 100.0, 1000.0] and lr.optimizer == "gd"
    assert lr.steps == 100 and lr.landscape == "parabola"
    assert parse({"type": "surface.request"}).resolution == 120


def test_missing_ids_are_filled_and_aliases_accepted() -> None:
    cfg = parse(
        {
            "type": "race.start",
            "config": {
                "optimizers": [
                    {"name": "gd"},
                    {"name": "nag", "hyper": {"lr": 0.1, "nesterov": True}},
                ]
            },
        }
    ).config
    assert [o.id for o in cfg.optimizers] == ["gd-0", "nag-1"]
    assert (
        parse({"type": "train.start", "config": {"dataset": "blobs"}}).config.dataset == "gaussians"
    )
    err = refused(
        {
            "type": "race.start",
            "config": {"optimizers": [{"id": "a", "name": "sgd"}, {"id": "a", "name": "adam"}]},
        }
    )
    assert err.field == "config.optimizers" and "unique" in err.message


@pytest.mark.parametrize(
    ("hyper", "needle"),
    [
        ({"nesterov": 1}, "true or false"),
        ({"lr": True}, "must be a number"),
        ({"lr": "fast"}, "must be a number"),
        ({"momentum": 1e300}, "at most 1e12"),
        ({"momentum": -0.5}, "momentum"),
        ({"nesterov": True}, "Nesterov"),  # the optimizer's own check: needs momentum > 0
    ],
)
def test_hyperparameters_are_typed_and_checked_by_the_optimizer(
    hyper: dict[str, Any], needle: str
) -> None:
    err = refused(
        {
            "type": "race.start",
            "config": {"optimizers": [{"id": "a", "name": "sgd", "hyper": hyper}]},
        }
    )
    # the field names the hyperparameter when the check is about one of them
    assert err.field in (
        "config.optimizers[0].hyper",
        *(f"config.optimizers[0].hyper.{k}" for k in hyper),
    )
    assert needle.lower() in err.message.lower()
    assert err.request == "race.start"


def test_every_registered_optimizer_accepts_its_own_defaults() -> None:
    for name, spec in optim.REGISTRY.items():
        # JSON has no infinity: a non-finite default is sent by leaving the setting out
        hyper = {
            k: hp.default
            for k, hp in spec.hyperparameters.items()
            if not isinstance(hp.default, float) or np.isfinite(hp.default)
        }
        cfg = parse(
            {
                "type": "race.start",
                "config": {"optimizers": [{"id": name, "name": name, "hyper": hyper}]},
            }
        ).config
        assert cfg.optimizers[0].hyper == hyper


def test_schedules_and_limits_of_training() -> None:
    for name, spec in optim.lr_scheduler.SCHEDULES.items():
        params = {k: hp.default for k, hp in spec.hyperparameters.items()}
        cfg = parse(
            {"type": "train.start", "config": {"schedule": {"name": name, "params": params}}}
        ).config
        assert cfg.schedule.name == name
    err = refused(
        {
            "type": "train.start",
            "config": {"schedule": {"name": "step", "params": {"step_size": 2.5}}},
        }
    )
    assert err.field == "config.schedule.params.step_size" and "integer" in err.message
    tight = Limits(max_layers=2, max_neurons=3, max_points=50)
    assert (
        refused({"type": "train.start", "config": {"hidden": [3, 3, 3]}}, tight).field
        == "config.hidden"
    )
    assert (
        refused({"type": "train.start", "config": {"hidden": [4]}}, tight).field == "config.hidden"
    )
    assert (
        refused({"type": "train.start", "config": {"points": 51}}, tight).field == "config.points"
    )
    assert (
        refused({"type": "train.start", "config": {"batch_size": 51}}, tight).field
        == "config.batch_size"
    )
    ok = parse({"type": "train.start", "config": {"hidden": [3, 3], "points": 50}}, tight)
    assert ok.config.hidden == [3, 3]


def test_messages_and_fields_of_errors() -> None:
    err = refused({"type": "race.start", "config": {"max_steps": 0}})
    assert err.field == "config.max_steps" and err.message == "max steps must be at least 1, got 0"
    err = refused({"type": "race.control"})
    assert err.field == "action" and "required" in err.message
    err = refused({"type": "surface.request", "landscape": "x + y + z"})
    assert err.field == "landscape" and "the formula uses z" in err.message
    err = refused({"type": "surface.request", "landscape": "().__class__"})
    assert "not allowed" in err.message
    err = refused({"type": "surface.request", "landscape": "x" * 600 + "+1"})
    assert "at most 500" in err.message
    err = refused({"type": "ping", "extra": 1})
    assert err.field == "extra" and "unknown field" in err.message
    err = refused({"type": 7})
    assert err.field == "type" and err.request is None
    err = refused('{"type": "ping", "x": Infinity}')
    assert err.field == "message" and "Infinity" in err.message
    err = refused(b"\xc3\x28")
    assert "UTF-8" in err.message
    err = refused("[" * 100_000 + "]" * 100_000, Limits(max_message_bytes=10**6))
    assert err.field == "message"
    text = json.dumps({"type": "ping", "pad": "é" * 40_000}, ensure_ascii=False)
    assert len(text) < 65536 < len(text.encode())  # the limit counts bytes, not characters
    err = refused(text)
    assert "80027 bytes" in err.message and "65536" in err.message
    assert err.as_message() == {
        "type": "error",
        "message": err.message,
        "field": "message",
        "request": None,
    }


def test_limits_are_checked() -> None:
    assert Limits().as_dict()["max_message_bytes"] == 65536
    with pytest.raises(ValueError, match="max_optimizers"):
        Limits(max_optimizers=0)
    with pytest.raises(ValueError, match="max_resolution"):
        Limits(max_resolution=5)


def test_registry_object() -> None:
    reg = registry()
    assert set(reg) == {"optimizers", "landscapes", "datasets", "schedules", "activations"}
    assert {o["name"] for o in reg["optimizers"]} == set(optim.REGISTRY)
    assert {x["name"] for x in reg["landscapes"]} == set(landscapes.REGISTRY)
    eight = next(x for x in reg["landscapes"] if x["name"] == "eight_points")
    assert eight["finite_sum"] is True and eight["dim"] == 2
    json.dumps(reg, allow_nan=False)


def test_clean_replaces_non_finite_numbers() -> None:
    assert clean([1.0, np.nan, np.inf, -np.inf]) == [1.0, None, None, None]
    assert clean(np.float64("nan")) is None
    assert clean([[1, 2], [3, np.inf]]) == [[1.0, 2.0], [3.0, None]]


# ------------------------------------------------------------------------------ Session
def test_session_race_tick_and_done() -> None:
    s = Session(Limits())
    surface, frame = s.handle(
        parse(
            {
                "type": "race.start",
                "config": {
                    "landscape": "parabola",
                    "max_steps": 12,
                    "steps_per_frame": 5,
                    "optimizers": [{"id": "a", "name": "gd", "hyper": {"lr": 0.1}}],
                },
            }
        )
    )
    assert surface["type"] == "surface" and frame["step"] == 0 and s.playing
    frames = [s.tick() for _ in range(5)]
    assert [len(f) for f in frames] == [1, 1, 1, 0, 0]  # done after 12 steps: stops playing
    assert [f[0]["step"] for f in frames[:3]] == [5, 10, 12]
    assert frames[2][0]["done"] and not s.playing
    s.close()
    assert s.race is None and not s.playing


def test_session_export_python_runs_in_a_fresh_interpreter() -> None:
    s = Session(Limits())
    s.handle(parse({"type": "lr.start", "config": {"lrs": [0.1, 1.0, 100.0]}}))
    code = s.export("lr", "python")["text"]
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert "lr = 0.1: converged" in out and "lr = 100: diverged" in out
    assert "lr = 1: max_steps" in out


def test_session_errors_for_library_refusals() -> None:
    s = Session(Limits())
    with pytest.raises(ProtocolError) as info:
        s.handle(
            parse(
                {
                    "type": "race.start",
                    "config": {"landscape": "linear_regression", "params": {"n": 5000}},
                }
            )
        )
    assert info.value.field == "config.params.n"
    with pytest.raises(ProtocolError) as info:
        s.handle(
            parse(
                {"type": "race.start", "config": {"landscape": "rosenbrock", "params": {"b": -1e9}}}
            )
        )
    assert info.value.field == "config.params.b" and "outside its range" in info.value.message
    with pytest.raises(ProtocolError) as info:
        s.handle(parse({"type": "surface.request", "landscape": "x**2", "params": {"a": 1}}))
    assert info.value.field == "params.a" and "a formula takes only" in info.value.message


def test_importing_descentlab_does_not_load_the_web_stack() -> None:
    code = (
        "import sys, descentlab, descentlab.web; "
        "print(sorted(m for m in ('fastapi', 'pydantic', 'uvicorn', 'starlette') "
        "if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    assert out.strip() == "[]"


# ------------------------------------------------- inputs a student types (issue 16)
@pytest.mark.parametrize("lr", [100, 1000, 1e9, 1e13, 1e300])
def test_any_positive_finite_learning_rate_is_accepted_as_typed(lr: float) -> None:
    msg = parse(
        {
            "type": "race.start",
            "config": {"optimizers": [{"id": "a", "name": "sgd", "hyper": {"lr": lr}}]},
        }
    )
    assert msg.config.optimizers[0].hyper["lr"] == lr  # not clamped to the slider's 10
    assert parse({"type": "lr.start", "config": {"lrs": [0.1, lr]}}).config.lrs == [0.1, lr]
    s = Session(Limits())
    _, frame = s.handle(msg)
    assert "lr=" in frame["runs"][0]["label"] and f"{lr:g}" in frame["runs"][0]["label"]
    s.close()


def test_negative_and_non_finite_learning_rates_are_refused_in_words() -> None:
    err = refused(
        {
            "type": "race.start",
            "config": {"optimizers": [{"id": "a", "name": "adam", "hyper": {"lr": -1}}]},
        }
    )
    assert err.field == "config.optimizers[0].hyper.lr"
    assert "must be a number >= 0" in err.message and "-1" in err.message
    err = refused({"type": "lr.start", "config": {"lrs": [0.1, -2]}})
    assert err.field == "config.lrs" and "> 0" in err.message and "-2" in err.message
    # NaN cannot travel in JSON: the message says what to send instead
    err = refused(
        '{"type": "race.start", "config": {"optimizers": '
        '[{"id": "a", "name": "sgd", "hyper": {"lr": NaN}}]}}'
    )
    assert err.field == "message" and "NaN" in err.message and "finite number" in err.message


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("x+", "cannot be read"),
        ("foo(x) + y", "calls foo(), which is not allowed"),
        ("a*x + y", "the formula uses a; use x and y"),
        ("x*y*z", "the formula uses z"),
    ],
)
def test_formula_refusals_are_plain_words(text: str, needle: str) -> None:
    err = refused({"type": "race.start", "config": {"landscape": text}})
    assert err.field == "config.landscape" and needle in err.message
    assert "config." not in err.message and "race.start" not in err.message


@pytest.mark.parametrize(
    "formula", ["exp(exp(x*y))", "1/x", "1/x + 1/y", "log(x) + y**2", "x**2 + y**2", "x*y"]
)
def test_a_formula_starts_where_f_is_finite_and_the_gradient_is_not_zero(formula: str) -> None:
    s = Session(Limits())
    surface, frame = s.handle(parse({"type": "race.start", "config": {"landscape": formula}}))
    f = landscapes.from_formula(formula)
    x0 = np.asarray(surface["start"], dtype=np.float64)
    b = np.asarray(surface["bounds"])
    assert np.all((b[:, 0] <= x0) & (x0 <= b[:, 1]))
    assert np.isfinite(f.value(x0[None, :])).all()
    g = np.asarray(f.grad(x0[None, :]))
    assert np.isfinite(g).all() and np.linalg.norm(g) > 1e-9
    # the runs do not end at step 0 (exp(exp(x*y)) "converged", 1/x "diverged" before)
    assert all(r["status"] == "running" for r in frame["runs"]), frame["runs"]
    again = Session(Limits()).handle(
        parse({"type": "race.start", "config": {"landscape": formula}})
    )
    assert again[0]["start"] == surface["start"]  # deterministic


def test_a_start_where_f_is_not_finite_is_refused_at_the_start_control() -> None:
    s = Session(Limits())
    with pytest.raises(ProtocolError) as info:
        s.handle(parse({"type": "race.start", "config": {"landscape": "1/x", "start": [0.0]}}))
    assert info.value.field == "config.start"
    assert "f is +inf at this start (0)" in info.value.message
    assert "click the map at another point" in info.value.message
    with pytest.raises(ProtocolError) as info:
        s.handle(parse({"type": "race.start", "config": {"landscape": "sqrt(-x**2 - 1) + y"}}))
    assert info.value.field == "config.landscape" and "no finite value" in info.value.message
    with pytest.raises(ProtocolError) as info:  # the learning-rate tab checks its start too
        s.handle(parse({"type": "lr.start", "config": {"landscape": "log(x)", "start": [-1.0]}}))
    assert info.value.field == "config.start" and "undefined" in info.value.message


# ---------------------------------------------------------------------- fuzz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
#: Small limits, so that a valid random message is cheap to answer.
_SMALL = Limits(
    max_steps=30,
    max_points=40,
    max_resolution=12,
    max_layers=1,
    max_neurons=4,
    max_lrs=3,
    max_optimizers=2,
)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | st.sampled_from(
        [
            "beale",
            "x**2 + y",
            "x + z",
            "sgd",
            "adam",
            "play",
            "step",
            "race",
            "python",
            "spirals",
            "x10000000",
            "abc",
        ]
    ),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "config",
                    "landscape",
                    "params",
                    "optimizers",
                    "name",
                    "hyper",
                    "lr",
                    "start",
                    "bounds",
                    "action",
                    "steps",
                    "what",
                    "format",
                    "resolution",
                    "lrs",
                    "max_steps",
                    "hidden",
                    "points",
                    "epochs_per_frame",
                    "id",
                    "l1",
                    "l2",
                    "dataset",
                    "autoplay",
                    "log_scale",
                    "steps_per_frame",
                    "x",
                ]
            ),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)


def _answer(raw: str) -> list[dict[str, Any]]:
    """What the server does with one raw message: validate, then let a Session answer."""
    try:
        msg = parse_client_message(raw, _SMALL)
    except ProtocolError as err:
        return [err.as_message()]
    try:
        out = Session(_SMALL).handle(msg)
    except ProtocolError as err:
        return [err.as_message()]
    for frame in out:
        json.dumps(frame, allow_nan=False)
    return out


@_FUZZ
@given(
    st.one_of(
        _JSON.map(json.dumps),
        st.tuples(
            st.sampled_from([*protocol.CLIENT_MESSAGES, "nope"]),
            st.dictionaries(
                st.sampled_from(
                    ["config", "landscape", "params", "action", "what", "resolution", "steps", "lr"]
                ),
                _JSON,
                max_size=3,
            ),
        ).map(lambda t: json.dumps({**t[1], "type": t[0]})),
        st.text(max_size=60),
    )
)
def test_fuzz_random_json_is_a_message_or_an_error_frame(raw: str) -> None:
    out = _answer(raw)
    assert isinstance(out, list)
    for frame in out:
        if frame["type"] == "error":
            protocol.ErrorMessage.model_validate(frame)
            assert frame["message"] and not frame["message"].startswith("internal error")


@_FUZZ
@given(
    st.sampled_from(["race.start", "lr.start", "surface.request"]),
    st.sampled_from(["landscape", "params", "start", "lrs", "optimizers", "l1"]),
    _JSON,
)
def test_fuzz_one_bad_field_in_a_valid_message(kind: str, key: str, value: Any) -> None:
    msg: dict[str, Any] = {"type": kind}
    body = {
        "landscape": "x**2 + y",
        key: value,
        **({"autoplay": False} if kind == "race.start" else {}),
    }
    if kind == "surface.request":
        body.pop("autoplay", None)
        body.pop("lrs", None), body.pop("optimizers", None), body.pop("start", None)
        msg.update(body, resolution=10)
    else:
        if kind == "lr.start":
            body.pop("optimizers", None), body.pop("l1", None)
        else:
            body.pop("lrs", None)
        msg["config"] = body
    out = _answer(json.dumps(msg))
    assert out and all(isinstance(frame, dict) and "type" in frame for frame in out)
