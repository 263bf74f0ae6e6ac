"""fit: lowers the loss, is reproducible, stops when it should, resumes exactly."""

from __future__ import annotations

import numpy as np
import pytest

import descentlab as dl
from descentlab import data, nn, optim
from descentlab.train import EarlyStopping, Trainer, evaluate

RNG = np.random.default_rng(0)


def blobs(n=240, seed=0):
    X, y = data.make_blobs(n=n, centers=3, noise=0.5, seed=seed)
    return X, y


def make_model(seed=0, dropout=0.0, sizes=(2, 16, 3), bias=True):
    nn.manual_seed(seed)
    return nn.MLP(list(sizes), dropout=dropout, bias=bias)


def test_fit_lowers_the_loss_and_reaches_high_accuracy():
    X, y = blobs()
    model = make_model()
    history = dl.fit(
        model,
        (X, y),
        val=(X, y),
        optimizer="adam",
        lr=0.01,
        epochs=15,
        batch_size=16,
        seed=0,
        progress=False,
    )
    assert len(history) == 15
    assert history["train_loss"][-1] < 0.5 * history["train_loss"][0]
    assert history["val_accuracy"][-1] > 0.9
    assert len(history.step_loss) == 15 * len(data.DataLoader(X, y, 16))
    assert history.stop_reason == "completed 15 epochs"
    result = evaluate(model, (X, y))
    assert result["confusion_matrix"].sum() == len(y)
    assert result["confusion_matrix"].trace() / len(y) == pytest.approx(result["accuracy"])


def test_same_seed_gives_identical_history_and_weights():
    X, y = blobs()
    runs = []
    for _ in range(2):
        model = make_model(seed=1, dropout=0.3)
        h = dl.fit(
            model,
            (X, y),
            val=(X, y),
            optimizer={"name": "sgd", "lr": 0.1, "momentum": 0.9},
            epochs=4,
            batch_size=32,
            seed=7,
            progress=False,
        )
        runs.append((h.to_dict(timings=False), model.state_dict()))
    assert runs[0][0] == runs[1][0]
    for k in runs[0][1]:
        np.testing.assert_array_equal(runs[0][1][k], runs[1][1][k])
    other = dl.fit(
        make_model(seed=1, dropout=0.3),
        (X, y),
        optimizer="sgd",
        lr=0.1,
        epochs=4,
        batch_size=32,
        seed=8,
        progress=False,
    )
    assert other.step_loss != runs[0][0]["step_loss"]


def test_regularizer_changes_the_objective_and_shrinks_weights():
    X, y = blobs()
    plain, reg = make_model(seed=2), make_model(seed=2)
    penalty = nn.L2(0.05)
    loader = data.DataLoader(X, y, 32, seed=0)
    xb, yb = next(iter(loader))
    first = float((dl.nn.functional.cross_entropy(reg(xb), yb) + penalty(reg)).data)
    dl.fit(plain, (X, y), optimizer="sgd", lr=0.1, epochs=10, batch_size=32, seed=0, progress=False)
    h = dl.fit(
        reg,
        (X, y),
        optimizer="sgd",
        lr=0.1,
        epochs=10,
        batch_size=32,
        seed=0,
        regularizer=penalty,
        progress=False,
    )
    assert h.step_loss[0] == pytest.approx(first, rel=1e-6)  # the objective L + lambda R
    norm = lambda m: sum(float(np.sum(p.data**2)) for n, p in m.named_parameters() if "weight" in n)
    assert norm(reg) < 0.7 * norm(plain)


def test_early_stopping_restores_the_best_weights():
    X, y = blobs(n=90)
    Xv, yv = blobs(n=90, seed=5)
    model = make_model(seed=3)
    stopper = EarlyStopping(patience=2, monitor="val_loss")
    h = dl.fit(
        model,
        (X, y),
        val=(Xv, yv),
        optimizer="sgd",
        lr=2.0,
        epochs=200,
        batch_size=8,
        early_stopping=stopper,
        seed=0,
        progress=False,
    )
    assert len(h) < 200 and h.stop_reason.startswith("early stopping")
    best = min(h["val_loss"])
    assert h.best_epoch == int(np.argmin(h["val_loss"]))
    assert evaluate(model, (Xv, yv))["loss"] == pytest.approx(best, rel=1e-5)


def test_tol_is_the_lectures_stopping_rule():
    X, y = data.make_line(n=20, seed=0)
    nn.manual_seed(0)
    model = nn.Linear(1, 1)
    h = dl.fit(
        model,
        (X, y),
        loss="mse",
        optimizer="sgd",
        lr=0.3,
        epochs=500,
        batch_size=len(y),
        tol=1e-3,
        progress=False,
    )
    assert h.stop_reason.startswith("converged")
    assert h["full_grad_norm"][-1] < 1e-3 <= h["full_grad_norm"][-2]
    assert len(h) < 500


def test_non_finite_loss_stops_and_keeps_last_good_weights():
    X, y = data.make_line(n=32, seed=0)
    nn.manual_seed(0)
    model = nn.Linear(1, 1)
    h = dl.fit(
        model,
        (X * 100, y),
        loss="mse",
        optimizer="sgd",
        lr=10.0,
        epochs=50,
        batch_size=4,
        seed=0,
        progress=False,
    )
    assert "became" in h.stop_reason and ("nan" in h.stop_reason or "inf" in h.stop_reason)
    assert all(np.isfinite(p.data).all() for p in model.parameters())
    assert all(np.isfinite(v) for v in h.step_loss)


def test_schedule_sets_the_learning_rate_each_epoch():
    X, y = blobs()
    h = dl.fit(
        make_model(),
        (X, y),
        optimizer="sgd",
        lr=0.1,
        epochs=4,
        batch_size=64,
        lr_scheduler=("step", {"step_size": 1, "gamma": 0.5}),
        progress=False,
    )
    assert h["lr"] == pytest.approx([0.1, 0.05, 0.025, 0.0125])


def test_grad_clip_bounds_the_update():
    X, y = blobs()
    model = make_model()
    trainer = Trainer(
        model,
        (X, y),
        optimizer="sgd",
        lr=1.0,
        batch_size=len(y),
        grad_clip=1e-3,
        progress=False,
        epochs=1,
    )
    before = {n: p.data.copy() for n, p in model.named_parameters()}
    trainer.advance(1)
    moved = np.sqrt(sum(np.sum((p.data - before[n]) ** 2) for n, p in model.named_parameters()))
    assert moved == pytest.approx(1e-3, rel=1e-3)


def test_trainer_can_be_driven_step_by_step():
    X, y = blobs(n=100)
    trainer = Trainer(
        make_model(), (X, y), optimizer="adam", lr=0.01, batch_size=30, epochs=2, progress=False
    )
    assert trainer.steps_per_epoch == 4
    assert len(trainer.advance(3)) == 3 and trainer.epoch == 0
    trainer.advance(2)
    assert trainer.epoch == 1 and len(trainer.history) == 1
    trainer.run()
    assert trainer.done and len(trainer.history) == 2 and len(trainer.history.step_loss) == 8


def test_run_epoch_stops_at_the_epoch_boundary():
    X, y = blobs(n=100)
    trainer = Trainer(
        make_model(), (X, y), optimizer="sgd", lr=0.1, batch_size=30, epochs=3, progress=False
    )
    trainer.run_epoch()
    assert trainer.epoch == 1 and len(trainer.history.step_loss) == 4
    trainer.advance(2)
    trainer.run_epoch()  # finishes the epoch that advance() began, takes no step beyond it
    assert trainer.epoch == 2 and len(trainer.history.step_loss) == 8


@pytest.mark.parametrize("name", list(optim.REGISTRY))
def test_resume_equals_uninterrupted_run(tmp_path, name):
    X, y = blobs(n=120)
    kwargs = {
        "optimizer": name,
        "epochs": 4,
        "batch_size": 16,
        "seed": 3,
        "progress": False,
        "lr_scheduler": ("step", {"step_size": 2, "gamma": 0.5}),
    }
    bias = name != "muon"  # Muon takes weight matrices only, as torch's does
    straight = make_model(seed=4, dropout=0.2, bias=bias)
    h1 = dl.fit(straight, (X, y), val=(X, y), **kwargs)

    path = tmp_path / "ck.npz"
    first = make_model(seed=4, dropout=0.2, bias=bias)
    dl.fit(first, (X, y), val=(X, y), **{**kwargs, "epochs": 2}, checkpoint=path)
    # different init: everything comes from the file
    resumed = make_model(seed=99, dropout=0.2, bias=bias)
    h2 = dl.fit(resumed, (X, y), val=(X, y), **kwargs, resume=path)

    assert h2.to_dict(timings=False)["step_loss"] == h1.to_dict(timings=False)["step_loss"]
    assert [r["val_loss"] for r in h2.epochs] == [r["val_loss"] for r in h1.epochs]
    for (_, p), (_, q) in zip(straight.named_parameters(), resumed.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_bad_arguments_are_named():
    X, y = blobs(n=30)
    model = make_model()
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        dl.fit(model, (X, y), loss="hinge", progress=False)
    with pytest.raises(ValueError, match="adamm"):
        dl.fit(model, (X, y), optimizer="adamm", progress=False)
    with pytest.raises(ValueError, match="30 inputs but 29 targets"):
        dl.fit(model, (X, y[:-1]), progress=False)
    with pytest.raises(ValueError, match="epochs must be an integer >= 0, got -1"):
        dl.fit(model, (X, y), epochs=-1, progress=False)
    with pytest.raises(ValueError, match="lr"):
        dl.fit(model, (X, y), optimizer="sgd", lr=-0.1, progress=False)
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        dl.fit(model, (X, y), resume="/nonexistent/ck.npz", progress=False)


def test_progress_bar_shows_epoch_loss_and_speed_on_a_terminal():
    import io

    from descentlab.train import ProgressBar

    X, y = blobs(n=60)
    stream = io.StringIO()
    dl.fit(
        make_model(),
        (X, y),
        optimizer="adam",
        lr=0.01,
        epochs=2,
        batch_size=20,
        callbacks=[ProgressBar(stream, force=True)],
        progress=False,
    )
    text = stream.getvalue()
    assert "epoch" in text and "loss" in text and "samples/s" in text
    quiet = io.StringIO()  # not a terminal: nothing is written
    dl.fit(make_model(), (X, y), epochs=1, callbacks=[ProgressBar(quiet)], progress=False)
    assert quiet.getvalue() == ""


@pytest.mark.parametrize("which", ["training", "validation"])
def test_an_empty_data_set_is_refused_by_name(which):
    X, y = blobs(n=30)
    empty = (X[:0], y[:0])
    train, val = (empty, (X, y)) if which == "training" else ((X, y), empty)
    with pytest.raises(ValueError, match=f"the {which} set is empty"):
        dl.fit(make_model(), train, val=val, epochs=2, progress=False)


def _trainer(**overrides):
    X, y = blobs(n=90)
    kwargs = {
        "optimizer": "adam",
        "lr": 0.01,
        "epochs": 4,
        "batch_size": 16,
        "seed": 3,
        "progress": False,
        "early_stopping": 2,
        "lr_scheduler": "step",
    }
    kwargs.update(overrides)
    return Trainer(make_model(dropout=0.3), (X, y), (X[:30], y[:30]), **kwargs)


@pytest.mark.parametrize("steps_into_epoch", [0, 3])
def test_rewind_mid_epoch_then_checkpoint_resumes_exactly(tmp_path, steps_into_epoch):
    straight = _trainer()
    h1 = straight.run()

    interrupted = _trainer()
    interrupted.run_epoch()
    interrupted.advance(steps_into_epoch)  # an interrupt lands somewhere in epoch 2
    interrupted.rewind()
    assert interrupted.epoch == 1 and len(interrupted.history) == 1
    path = tmp_path / "ck.npz"
    interrupted.save_checkpoint(path)

    resumed = _trainer()
    resumed.load_checkpoint(path)
    h2 = resumed.run()
    assert h2.step_loss == h1.step_loss
    assert h2["val_loss"] == h1["val_loss"]
    for p, q in zip(straight.model.parameters(), resumed.model.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


class _InterruptAfterEpoch(dl.train.Callback):
    """Ctrl-C landing in an epoch-end callback (say right after the epoch's checkpoint)."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer, logs) -> None:
        if trainer.epoch == self.epoch:
            raise KeyboardInterrupt


def test_an_interrupt_after_an_epoch_ended_keeps_that_epoch(tmp_path):
    straight = _trainer()
    h1 = straight.run()

    interrupted = _trainer(callbacks=[_InterruptAfterEpoch(2)])
    with pytest.raises(KeyboardInterrupt):
        interrupted.run()
    interrupted.rewind()  # the epoch is complete: nothing to undo
    assert interrupted.epoch == 2 and len(interrupted.history) == 2
    path = tmp_path / "ck.npz"
    interrupted.save_checkpoint(path)

    resumed = _trainer()
    resumed.load_checkpoint(path)
    assert resumed.epoch == 2
    h2 = resumed.run()
    assert h2.step_loss == h1.step_loss
    assert h2["val_loss"] == h1["val_loss"]
    for p, q in zip(straight.model.parameters(), resumed.model.parameters()):
        np.testing.assert_array_equal(p.data, q.data)


def test_resume_refuses_another_optimizer_or_architecture(tmp_path):
    X, y = blobs(n=60)
    path = tmp_path / "ck.npz"
    dl.fit(make_model(), (X, y), optimizer="adam", epochs=1, checkpoint=path, progress=False)
    with pytest.raises(ValueError, match="made with optimizer adam, this run uses sgd"):
        dl.fit(make_model(), (X, y), optimizer="sgd", epochs=2, resume=path, progress=False)
    with pytest.raises(
        ValueError,
        match=r"made with the model MLP\(sizes=\[2, 16, 3\].*this run "
        r"builds MLP\(sizes=\[2, 8, 3\]",
    ):
        dl.fit(
            make_model(sizes=(2, 8, 3)),
            (X, y),
            optimizer="adam",
            epochs=2,
            resume=path,
            progress=False,
        )


def test_a_diverged_run_says_so_and_its_json_is_strict():
    import json

    X, y = blobs(n=60)
    history = dl.fit(make_model(), (X, y), optimizer="sgd", lr=1e9, epochs=3, progress=False)
    assert history.status.startswith("diverged at epoch ") and ": loss is " in history.status
    history.epochs.append({"epoch": 9, "train_loss": float("nan"), "lr": float("inf")})

    def refuse(constant):
        raise AssertionError(f"not JSON: {constant}")

    data = json.loads(history.to_json(), parse_constant=refuse)
    assert data["status"] == history.status
    assert data["epochs"][-1]["train_loss"] is None and data["epochs"][-1]["lr"] is None


def test_evaluate_an_overflowing_model_reports_inf_without_warnings():
    X, y = blobs(n=30)
    model = make_model()
    for p in model.parameters():
        p.data[...] = 1e30
    result = evaluate(model, (X, y))  # RuntimeWarnings are errors in this test suite
    assert not np.isfinite(result["loss"])


@pytest.mark.parametrize(
    "labels,message",
    [
        (np.array([0, 1, 1, 200]), "largest label 200 would make 201 classes, but only 3"),
        (np.array([0, 1, 20000] * 20000), "20001 classes, more than 10000"),
        (np.array([0, -1, 1]), "negative label -1"),
        (np.array([0.0, 1.5]), "1.5"),
        (np.array(["a", "b"]), "dtype <U1"),
    ],
)
def test_check_labels_refuses_labels_that_are_not_0_to_c_minus_1(labels, message):
    from descentlab.train.metrics import check_labels

    with pytest.raises(ValueError, match=message):
        check_labels(labels)


def test_check_labels_counts_classes():
    from descentlab.train.metrics import check_labels

    assert check_labels(np.array([2, 0, 1, 2])) == 3
    assert check_labels(np.array([0.0, 1.0, 3.0])) == 4


@pytest.mark.parametrize("name", ["schedulefree_sgd", "schedulefree_adamw"])
def test_schedule_free_trains_at_y_and_is_evaluated_and_kept_at_x(name):
    X, y = blobs()
    model = make_model()
    trainer = Trainer(
        model, (X, y), val=(X, y), optimizer=name, lr=0.05, epochs=3, batch_size=16, seed=0
    )
    history = trainer.run()
    opt = trainer.optimizer
    x_point = [p.data.copy() for p in model.parameters()]
    # the validation numbers are those of the weights the model keeps (x)
    assert history["val_loss"][-1] == pytest.approx(evaluate(model, (X, y))["loss"], rel=1e-6)
    opt.train()  # y, the point the gradients were taken at, differs from x
    y_point = [p.data.copy() for p in model.parameters()]
    assert any(not np.allclose(a, b) for a, b in zip(x_point, y_point))
    opt.eval()  # and back to x (float32 round-off of the interpolation aside)
    for p, a in zip(model.parameters(), x_point):
        np.testing.assert_allclose(p.data, a, rtol=1e-6, atol=1e-8)


def test_a_step_trains_in_training_mode_whatever_mode_the_model_was_left_in():
    trainer = _trainer()
    dropouts = [m for m in trainer.model.modules() if isinstance(m, nn.Dropout)]
    assert dropouts
    trainer.advance(1)
    trainer.model.eval()  # as evaluation between steps leaves it
    dropouts[0].eval()
    before = {id(p): p.data.copy() for p in trainer.model.parameters()}
    trainer.advance(1)
    assert all(m.training for m in trainer.model.modules())
    assert any(not np.array_equal(p.data, before[id(p)]) for p in trainer.model.parameters())
    # only a sub-module left in evaluation mode: back to training too
    dropouts[-1].eval()
    trainer.advance(1)
    assert dropouts[-1].training


class _GradNorms(dl.train.Callback):
    """The norm of every step's gradients, taken in float64 after the step (the built-in
    rules leave ``.grad`` as the backward pass made it)."""

    def __init__(self) -> None:
        self.by_epoch: list[list[float]] = []

    def on_epoch_begin(self, trainer) -> None:
        self.by_epoch.append([])

    def on_step_end(self, trainer, loss) -> None:
        squares = sum(
            float(np.sum(p.grad.astype(np.float64) ** 2))
            for p in trainer.model.parameters()
            if p.grad is not None
        )
        self.by_epoch[-1].append(np.sqrt(squares))


@pytest.mark.parametrize("fast_path", ["never", "always"])
@pytest.mark.parametrize(
    "optimizer,grad_clip",
    [
        ({"name": "adam", "lr": 0.01}, None),
        ({"name": "sgd", "lr": 0.05, "momentum": 0.9}, None),
        ({"name": "rmsprop", "lr": 0.01}, 1e9),  # the norm clip_grad_norm_ returns
    ],
)
def test_each_epoch_records_the_mean_gradient_norm_of_its_steps(
    fast_path, optimizer, grad_clip, monkeypatch
):
    monkeypatch.setattr("descentlab._fastpath._mode", fast_path)
    X, y = blobs()
    norms = _GradNorms()
    history = dl.fit(
        make_model(seed=2, dropout=0.2, sizes=(2, 64, 32, 3)),
        (X, y),
        optimizer=optimizer,
        grad_clip=grad_clip,
        epochs=3,
        batch_size=16,
        seed=0,
        progress=False,
        callbacks=[norms],
    )
    assert [len(steps) for steps in norms.by_epoch] == [15, 15, 15]
    expected = [float(np.mean(steps)) for steps in norms.by_epoch]
    assert expected[0] != pytest.approx(expected[-1], rel=1e-3)  # the norm moves
    assert history["grad_norm"] == pytest.approx(expected, rel=1e-5)


class _DoublingSGD(optim.SGD):
    """A user's optimizer that rescales the gradients in place before stepping."""

    def step(self, closure=None):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    p.grad *= 2.0
        return super().step(closure)


def test_the_recorded_norm_is_of_the_gradients_before_a_users_optimizer_changes_them():
    # descentlab's own optimizers leave .grad alone, and fit may take the norm during and
    # after their step; a user's may not, so for theirs the norm is taken before it
    X, y = blobs()
    model = make_model(seed=2, sizes=(2, 32, 3))
    norms = _GradNorms()
    history = dl.fit(
        model,
        (X, y),
        optimizer=_DoublingSGD(model.parameters(), lr=0.05),
        epochs=2,
        batch_size=16,
        seed=0,
        progress=False,
        callbacks=[norms],
    )
    doubled = [float(np.mean(steps)) for steps in norms.by_epoch]  # (after the step)
    assert history["grad_norm"] == pytest.approx([d / 2 for d in doubled], rel=1e-6)


class _ModeSpy(nn.Module):
    """Passes its input through and records, at each forward pass, whether it is training."""

    def __init__(self) -> None:
        super().__init__()
        self.modes: list[bool] = []

    def forward(self, x):
        self.modes.append(self.training)
        return x


class _EvalAtStepEnd(dl.train.Callback):
    """Leaves the model in evaluation mode after every step, and records the error state
    NumPy is in when it is called."""

    def __init__(self) -> None:
        self.error_states: list[dict[str, str]] = []

    def on_step_end(self, trainer, loss) -> None:
        self.error_states.append(np.geterr())
        trainer.model.eval()


def test_a_callback_that_sets_eval_mode_at_a_step_end_does_not_change_the_next_step():
    X, y = blobs(n=120)
    spy = _ModeSpy()
    nn.manual_seed(0)
    model = nn.Sequential(spy, nn.Linear(2, 3))
    callback = _EvalAtStepEnd()
    trainer = Trainer(
        model, (X, y), lr=0.01, batch_size=30, epochs=2, callbacks=[callback], progress=False
    )
    trainer.advance(6)  # one advance over an epoch's end: 4 steps, then 2 of the next epoch
    assert spy.modes == [True] * 6
    assert len(callback.error_states) == 6


def test_step_end_callbacks_run_under_the_callers_error_state_while_steps_stay_quiet():
    """A run that overflows stops with its message, not a NumPy error or warning, even where
    the caller asked NumPy to raise; its callbacks see the caller's setting."""
    X, y = data.make_line(n=32, seed=0)
    nn.manual_seed(0)
    callback = _EvalAtStepEnd()
    trainer = Trainer(
        nn.Linear(1, 1),
        (X * 100, y),
        loss="mse",
        optimizer="sgd",
        lr=10.0,
        epochs=50,
        batch_size=4,
        seed=0,
        callbacks=[callback],
        progress=False,
    )
    with np.errstate(all="raise"):
        history = trainer.run()
    assert "became" in history.stop_reason
    assert callback.error_states
    assert all(state["over"] == "raise" for state in callback.error_states)
    assert all(state["invalid"] == "raise" for state in callback.error_states)
