"""The Network tab's frames from the server: a time budget per frame cut between mini-batches,
the boundary and the network's pictures every few frames, input features, each hidden
unit's picture, weight readouts and train metrics in eval mode, checked against NumPy."""

from __future__ import annotations

import base64
import json
import statistics
import time
from typing import Any

import numpy as np
import pytest

from descentlab import nn
from descentlab.web import protocol
from descentlab.web.protocol import Limits, ProtocolError, TrainConfig, parse_client_message
from descentlab.web.session import (
    FEATURES,
    NEURON_RESOLUTION,
    NEURONS_SHOWN,
    SPARSITY_THRESHOLD,
    TRAIN_FRAME_SECONDS,
    TRAIN_PICTURE_EVERY,
    Session,
    export_train_python,
    features_of,
)


def _start(**config: Any) -> tuple[Session, list[dict[str, Any]]]:
    s = Session(Limits())
    msgs = s.start_train(TrainConfig(**config))
    protocol.TrainData.model_validate(msgs[0])
    protocol.TrainFrame.model_validate(msgs[1])
    return s, msgs


def _decode(picture: str, scale: float) -> np.ndarray:
    q = np.frombuffer(base64.b64decode(picture), dtype=np.uint8).astype(np.float64)
    return (q - 127.5) / 127.5 * scale


def _forward(model: Any, X: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """The hidden layers' outputs and the logits, computed with NumPy from the weights."""
    linears = [m for m in model.children() if isinstance(m, nn.Linear)]
    act = {"tanh": np.tanh, "relu": lambda z: np.maximum(z, 0.0)}[model.activation]
    a = X.astype(np.float64)
    hidden = []
    for linear in linears[:-1]:
        a = act(a @ linear.weight.data.T.astype(np.float64) + linear.bias.data)
        hidden.append(a)
    logits = a @ linears[-1].weight.data.T.astype(np.float64) + linears[-1].bias.data
    return hidden, logits


def test_a_frame_keeps_its_time_budget_with_a_big_network() -> None:
    s, _ = _start(
        dataset="spirals",
        hidden=[64] * 6,
        points=2000,
        batch_size=16,  # 125 steps an epoch: far more than a frame's 30 ms on any machine
        max_epochs=100,
        epochs_per_frame=50,
        autoplay=True,
    )
    times, frames = [], []
    for _ in range(2 * TRAIN_PICTURE_EVERY + 1):
        t0 = time.perf_counter()
        out = s.tick()
        times.append(time.perf_counter() - t0)
        (frame,) = out
        protocol.TrainFrame.model_validate(frame)
        frames.append(frame)
    # One epoch is far more than a frame's budget: the frames are cut between mini-batches.
    assert frames[0]["epoch"] == 0 and 0 < frames[0]["step"] < s.train.trainer.steps_per_epoch
    steps = [f["step"] for f in frames]
    assert steps == sorted(steps) and steps[-1] > steps[0]
    # Behaviour bound, generous for a loaded machine: a budget of 30 ms, never seconds.
    assert TRAIN_FRAME_SECONDS <= 0.05
    assert statistics.median(times) < 0.15, times
    assert max(times) < 0.6, times
    # The boundary and the network's pictures come every few frames, never both at once.
    with_boundary = [f["boundary"] is not None for f in frames]
    with_network = [f["network"] is not None for f in frames]
    assert 1 <= sum(with_boundary) <= 3 and 1 <= sum(with_network) <= 3
    assert not any(b and n for b, n in zip(with_boundary, with_network))
    assert all(f["tick"] for f in frames)
    # an answer to a request carries everything
    (step,) = s.control_train("step")
    assert not step["tick"] and step["boundary"] is not None and step["network"] is not None
    assert step["epoch"] == frames[-1]["epoch"] + 1  # the cut epoch was finished


def test_a_pause_seen_between_batches_ends_the_frame() -> None:
    s, _ = _start(hidden=[64] * 4, points=2000, batch_size=8, autoplay=True)
    s.train.playing = False  # as if paused from another thread mid-frame
    step = s.train.trainer.global_step
    s._advance_train(s.train, 50, s.cancelled)
    assert s.train.trainer.global_step == step


def test_features_change_the_input_layer_and_the_training() -> None:
    names = ["x1", "x2", "x1^2", "x2^2", "x1*x2", "sin(x1)", "sin(x2)"]
    assert list(FEATURES) == names == list(protocol.TRAIN_FEATURES)
    cfg = {"dataset": "circles", "hidden": [4], "points": 200, "seed": 3, "autoplay": False}
    plain, msgs = _start(**cfg)
    assert msgs[0]["features"] == ["x1", "x2"]
    assert [f["name"] for f in msgs[0]["inputs"]] == names
    assert [f["used"] for f in msgs[0]["inputs"]] == [True, True] + [False] * 5
    squares, msgs = _start(**cfg, features=["x2^2", "x1^2"])  # sent in any order
    assert squares.train.config.features == ["x1^2", "x2^2"]
    assert msgs[0]["features"] == ["x1^2", "x2^2"]
    first = next(m for m in squares.train.model.children() if isinstance(m, nn.Linear))
    assert first.weight.data.shape == (4, 2)
    X = squares.train.bundle.train[0]
    np.testing.assert_array_equal(squares.train.trainer.loader.X, (X**2).astype(np.float32))
    a = plain.control_train("step")[0]["history"][0]
    b = squares.control_train("step")[0]["history"][0]
    assert a["train_loss"] != b["train_loss"]
    # the input pictures are the features over the plane
    pic = msgs[0]["inputs"][names.index("x1*x2")]
    lo, hi = np.asarray(msgs[0]["bounds"])[:, 0], np.asarray(msgs[0]["bounds"])[:, 1]
    xs = np.linspace(lo[0], hi[0], NEURON_RESOLUTION, dtype=np.float32)
    ys = np.linspace(lo[1], hi[1], NEURON_RESOLUTION, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    want = (gx * gy).ravel()
    assert pic["scale"] == pytest.approx(np.abs(want).max(), rel=1e-5)
    np.testing.assert_allclose(_decode(pic["values"], pic["scale"]), want, atol=pic["scale"] / 127)
    # all seven at once, and unknown names refused with the field named
    X7 = features_of(np.array([[0.5, -2.0]], dtype=np.float32), names)
    np.testing.assert_allclose(
        X7[0], [0.5, -2.0, 0.25, 4.0, -1.0, np.sin(0.5), np.sin(-2.0)], rtol=1e-6
    )
    with pytest.raises(ProtocolError) as err:
        parse_client_message(json.dumps({"type": "train.start", "config": {"features": ["x3"]}}))
    assert err.value.field == "config.features" and "x3" in str(err.value)
    with pytest.raises(ProtocolError):
        parse_client_message(json.dumps({"type": "train.start", "config": {"features": []}}))


def test_export_with_features_reproduces_the_run() -> None:
    cfg = TrainConfig(
        dataset="xor",
        hidden=[6],
        points=120,
        features=["x1", "x2", "x1*x2", "sin(x1)"],
        max_epochs=3,
        epochs_per_frame=3,
        seed=2,
        autoplay=False,
    )
    s = Session(Limits())
    s.start_train(cfg)
    rows = []
    for _ in range(3):
        rows += s.control_train("step")[0]["history"]
    code = export_train_python(cfg, s.train.classes, s.train.trainer.epoch)
    assert "def features(X):" in code and "np.sin(x1)" in code
    ns: dict[str, Any] = {}
    exec(compile(code, "<export>", "exec"), ns)  # noqa: S102 - the export is the code under test
    assert len(ns["history"]) == 3
    assert ns["history"].last["train_loss"] == pytest.approx(rows[-1]["train_loss"], rel=1e-9)
    assert ns["test"]["accuracy"] == rows[-1]["test_accuracy"]


def test_neuron_pictures_are_the_hidden_units_outputs() -> None:
    s, _ = _start(
        dataset="spirals",
        classes=2,
        hidden=[12, 5],
        activation="tanh",
        dropout=0.3,
        seed=4,
        autoplay=False,
    )
    frame = s.control_train("step")[0]
    net = frame["network"]
    assert net["resolution"] == NEURON_RESOLUTION == 24
    assert [(layer["units"], layer["shown"]) for layer in net["layers"]] == [
        (12, NEURONS_SHOWN),
        (5, 5),
    ]
    assert [len(layer["values"]) for layer in net["layers"]] == [NEURONS_SHOWN, 5]
    assert np.shape(net["layers"][0]["weights"]) == (NEURONS_SHOWN, 2)
    assert np.shape(net["layers"][1]["weights"]) == (5, NEURONS_SHOWN)
    assert np.shape(net["output_weights"]) == (2, 5)
    hidden, _ = _forward(s.train.model, s.train.neuron_grid)  # eval mode: no dropout
    for layer, a in zip(net["layers"], hidden):
        shown = a[:, : layer["shown"]]
        assert layer["scale"] == pytest.approx(np.abs(shown).max(), rel=1e-4)
        for j, picture in enumerate(layer["values"]):
            got = _decode(picture, layer["scale"])
            assert got.shape == (NEURON_RESOLUTION**2,)
            np.testing.assert_allclose(got, shown[:, j], atol=layer["scale"] / 120)
    w = [m.weight.data for m in s.train.model.children() if isinstance(m, nn.Linear)]
    np.testing.assert_allclose(net["layers"][1]["weights"], w[1][:, :NEURONS_SHOWN], atol=1e-5)
    # pictures change as the network trains
    later = s.control_train("step")[0]["network"]
    assert later["layers"][0]["values"] != net["layers"][0]["values"]


def test_readouts_and_eval_mode_train_metrics_against_numpy() -> None:
    s, _ = _start(
        dataset="xor",
        hidden=[8, 8],
        dropout=0.5,
        l1=0.01,
        optimizer={"name": "sgd", "hyper": {"lr": 0.1}},
        points=300,
        seed=1,
        autoplay=False,
    )
    first = s.control_train("step")[0]
    for _ in range(6):
        frame = s.control_train("step")[0]
    linears = [m for m in s.train.model.children() if isinstance(m, nn.Linear)]
    ws = [m.weight.data.astype(np.float64) for m in linears]
    rows = frame["readouts"]
    assert [r["layer"] for r in rows] == [0, 1, 2, 3] and frame["sparsity_threshold"] == 1e-3
    for r, w in zip(rows[1:], ws):
        assert (r["fan_out"], r["fan_in"], r["count"]) == (*w.shape, w.size)
        assert r["l2_norm"] == pytest.approx(np.sqrt(np.sum(w**2)), rel=1e-9)
        assert r["sparsity"] == pytest.approx(np.mean(np.abs(w) < SPARSITY_THRESHOLD))
    everything = np.concatenate([w.ravel() for w in ws])
    assert rows[0]["count"] == everything.size
    assert rows[0]["l2_norm"] == pytest.approx(np.linalg.norm(everything), rel=1e-9)
    assert rows[0]["sparsity"] == pytest.approx(np.mean(np.abs(everything) < 1e-3))
    # L1 pushes weights to 0: the share of tiny weights grows over the run
    assert rows[0]["sparsity"] > first["readouts"][0]["sparsity"] + 0.05
    # train metrics in eval mode: the whole train set, dropout off, weights after the epoch
    row = frame["history"][-1]
    X, y = s.train.trainer.loader.X, s.train.trainer.loader.y
    _, logits = _forward(s.train.model, X)
    assert row["train_accuracy_eval"] == pytest.approx(np.mean(logits.argmax(axis=1) == y))
    z = logits - logits.max(axis=1, keepdims=True)
    nll = -(z[np.arange(len(y)), y] - np.log(np.exp(z).sum(axis=1)))
    assert row["train_loss_eval"] == pytest.approx(nll.mean(), rel=1e-4)
    # the trainer's own mean over the epoch (dropout on) is a different number
    assert row["train_loss"] != pytest.approx(row["train_loss_eval"], rel=1e-3)
