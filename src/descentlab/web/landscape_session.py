"""The Network-landscape tab's run: two optimizers, one network, the loss around each solution.

:class:`LandscapeLab` trains one MLP twice, from the same initialization and with the
same shuffling (``train.Trainer`` with a ``train.callbacks.WeightSnapshots`` each), a
mini-batch of each at a time on the frame budget, as the Network tab does. Around the
weights each optimizer has reached it measures, with the library only:

* the loss plane (``landscapes.of_model``: PCA directions of that optimizer's path, or
  filter-normalized random ones) on a coarse grid, with the path projected on it;
* the loss on straight lines (``landscapes.interpolate``): init -> each solution and
  between the two solutions;
* the sharpness (``landscapes.sharpness``: the top Hessian eigenvalue), beside 2/eta.

All of it is measured on one fixed batch of at most ``LandscapeConfig.samples`` training
samples, so the plane's value at (0, 0) is the loss in the table. These measurements cost
more than a frame: they are queued as *jobs* (generators that yield after each piece of
work: a few rows of a plane, one line, one sharpness) and every frame runs pieces for at
most LANDSCAPE_WORK_SECONDS after its training, so no frame waits for a whole plane.
A refresh (every ``plane_every`` playing frames, at a pause, a step, and at the end)
queues one job of each kind.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from descentlab.web.protocol import CLASS_PARAM, PLAYGROUND_DATASETS, LandscapeConfig, ProtocolError
from descentlab.web.session import _MODEL_LOCK, clean

__all__ = [
    "LANDSCAPE_FRAME_SECONDS",
    "LANDSCAPE_WORK_SECONDS",
    "LINE_POINTS",
    "LandscapeLab",
]

#: Wall-clock budget of the training in one playing frame (both optimizers together).
LANDSCAPE_FRAME_SECONDS = 0.03
#: Budget of the measuring jobs in one frame; a piece of work started is finished, and the
#: pieces are sized to take about a third of this each.
LANDSCAPE_WORK_SECONDS = 0.05
#: Points on each line of the 1-D interpolation, alpha in [-0.5, 1.5].
LINE_POINTS = 41
#: About this many weight snapshots are kept over a whole run (the PCA's path).
PATH_SNAPSHOTS = 30
#: Share of a toy data set held out for the test accuracy.
TEST_FRACTION = 0.3

Job = Iterator[None]


@dataclass
class _Run:
    name: str
    label: str
    lr: float
    model: Any
    trainer: Any
    snapshots: Any  # train.callbacks.WeightSnapshots
    sharpness: float | None = None
    sharpness_epoch: float | None = None
    plane: dict[str, Any] | None = None
    plane_sent: bool = False
    note: str = ""

    @property
    def status(self) -> str:
        if self.trainer.history.diverged:
            return "diverged"
        return "done" if self.trainer.done else "running"


@dataclass
class _Data:
    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    batch: tuple[np.ndarray, np.ndarray]  # the fixed samples of every measurement
    classes: int


def _load(config: LandscapeConfig) -> _Data:
    from descentlab import data
    from descentlab.landscapes.network.weights import take_batch

    req = "landscape.start"
    try:
        if config.dataset == "digits":
            bundle = data.load("digits", seed=config.seed)
        else:
            reg = PLAYGROUND_DATASETS[config.dataset]
            params: dict[str, Any] = {"n": config.points}
            if config.noise is not None:
                params["noise"] = config.noise
            if reg in CLASS_PARAM and config.classes is not None:
                params[CLASS_PARAM[reg]] = config.classes
            bundle = data.load(reg, seed=config.seed, val=0.0, test=TEST_FRACTION, **params)
    except (ValueError, TypeError) as err:
        raise ProtocolError(str(err), "config.dataset", req) from None
    assert bundle.num_classes is not None and bundle.test is not None
    X, y = bundle.train
    batch = take_batch(X, y, config.samples, config.seed)
    return _Data((X, y), bundle.test, batch, int(bundle.num_classes))


class LandscapeLab:
    """One Network-landscape run: see the module's docstring. Not thread-safe; the
    Session serializes calls, and ``stop`` (set from any thread) ends the work between
    two steps or two pieces of a job."""

    def __init__(self, config: LandscapeConfig, stop: threading.Event | None = None) -> None:
        from descentlab import nn
        from descentlab.landscapes.network import flat_weights, set_flat_weights
        from descentlab.train import Trainer
        from descentlab.train.callbacks import WeightSnapshots

        self.config = config
        self.stop = stop or threading.Event()
        self.data = _load(config)
        sizes = [self.data.train[0].shape[1], *config.hidden, self.data.classes]
        names = [o.name for o in config.optimizers]
        steps_per_epoch = math.ceil(len(self.data.train[1]) / config.batch_size)
        every = max(1, math.ceil(steps_per_epoch * config.epochs / PATH_SNAPSHOTS))
        self.runs: list[_Run] = []
        init: np.ndarray | None = None
        for k, choice in enumerate(config.optimizers):
            with _MODEL_LOCK:
                nn.manual_seed(config.seed)
                model = nn.MLP(sizes, activation=config.activation)
            if init is None:
                init = flat_weights(model)
            set_flat_weights(model, init)  # the same start for both, whatever the seed did
            snaps = WeightSnapshots(every)
            try:
                trainer = Trainer(
                    model,
                    self.data.train,
                    None,
                    loss="cross_entropy",
                    optimizer={"name": choice.name, **choice.hyper},
                    epochs=config.epochs,
                    batch_size=config.batch_size,
                    callbacks=[snaps],
                    seed=config.seed,
                    progress=False,
                )
            except (ValueError, TypeError) as err:
                raise ProtocolError(
                    str(err), f"config.optimizers[{k}]", "landscape.start"
                ) from None
            label = choice.name if names.count(choice.name) == 1 else f"{choice.name} ({'AB'[k]})"
            lr = float(trainer.optimizer.param_groups[0]["lr"])
            self.runs.append(_Run(choice.name, label, lr, model, trainer, snaps))
        assert init is not None
        self.init = init
        self.playing = config.autoplay
        self.jobs: list[Job] = []
        self.lines: dict[str, Any] | None = None
        self.lines_sent = False
        self.rows_sent = 0
        self.frames_since_refresh = 0
        self.ticked = False
        self.refresh()

    # ------------------------------------------------------------------ state
    @property
    def done(self) -> bool:
        return all(run.trainer.done for run in self.runs)

    @property
    def busy(self) -> bool:
        """True while the ticker should call :meth:`tick`: training or measuring."""
        return self.playing or bool(self.jobs)

    @property
    def progress(self) -> float:
        """Epochs trained (fractional mid-epoch), by the slower of the two runs."""
        return min(r.trainer.global_step / max(1, r.trainer.steps_per_epoch) for r in self.runs)

    def refresh(self) -> None:
        """Queue a new measurement of everything (planes, lines, sharpness)."""
        self.jobs = [
            *(self._plane_job(k) for k in range(len(self.runs))),
            self._lines_job(),
            *(self._sharpness_job(k) for k in range(len(self.runs))),
        ]
        self.frames_since_refresh = 0

    def halt(self) -> None:
        """Stop training and measuring (the server's error path)."""
        self.playing = False
        self.jobs = []

    # ------------------------------------------------------------------ controls
    def control(self, action: str, steps_per_frame: int | None = None) -> LandscapeLab:
        """Apply play/pause/step/reset/speed; returns the lab that goes on (a new one on
        reset)."""
        if action == "speed":
            if steps_per_frame is None:
                raise ProtocolError(
                    "landscape.control speed needs steps_per_frame (1..1000)",
                    "steps_per_frame",
                    "landscape.control",
                )
            self.config = self.config.model_copy(update={"steps_per_frame": steps_per_frame})
        elif action == "play":
            self.playing = not self.done
        elif action == "pause":
            if self.playing:
                self.playing = False
                self.refresh()  # the pictures of the point where the run stopped
        elif action == "step":
            self.playing = False
            for run in self.runs:
                if not run.trainer.done:
                    run.trainer.run_epoch()
            self.refresh()
        else:  # reset
            lab = LandscapeLab(self.config, self.stop)
            lab.playing = self.playing
            return lab
        return self

    def tick(self) -> list[dict[str, Any]]:
        """One frame: train while playing (LANDSCAPE_FRAME_SECONDS), then run the queued
        jobs' pieces (LANDSCAPE_WORK_SECONDS)."""
        if self.playing:
            self.ticked = True
            self._train(LANDSCAPE_FRAME_SECONDS)
            self.frames_since_refresh += 1
            if self.done:
                self.playing = False
                self.refresh()
            elif self.frames_since_refresh >= self.config.plane_every and not self.jobs:
                self.refresh()
        self._work(LANDSCAPE_WORK_SECONDS)
        return [self.frame(full=False)]

    def _train(self, budget: float) -> None:
        """Steps of both runs in turn (so that they stay at the same step): the speed
        setting's ``steps_per_frame`` each, fewer when the budget is spent first (at least
        one each)."""
        t0 = time.perf_counter()
        for _ in range(self.config.steps_per_frame):
            if not self.playing or self.stop.is_set():
                break
            moved = False
            for run in self.runs:
                if not run.trainer.done:
                    run.trainer.advance(1)
                    moved = True
            if not moved or time.perf_counter() - t0 > budget:
                break

    def _work(self, budget: float) -> None:
        t0 = time.perf_counter()
        while self.jobs and not self.stop.is_set():
            try:
                next(self.jobs[0])
            except StopIteration:
                self.jobs.pop(0)
            if time.perf_counter() - t0 > budget:
                break

    # ------------------------------------------------------------------ jobs
    def _finite(self, run: _Run) -> bool:
        from descentlab.landscapes.network import flat_weights

        return bool(np.isfinite(flat_weights(run.model)).all())

    def _path(self, run: _Run) -> np.ndarray:
        """The run's snapshots, and its weights now when they are past the last one."""
        from descentlab.landscapes.network import flat_weights

        snaps = list(run.snapshots.snapshots)
        if not run.snapshots.steps or run.snapshots.steps[-1] != run.trainer.global_step:
            snaps.append(flat_weights(run.model))
        return np.stack(snaps)

    def _plane_job(self, k: int) -> Job:
        from descentlab import landscapes

        run = self.runs[k]
        config = self.config
        if not self._finite(run):
            run.plane, run.note = None, "the weights are not finite: no plane"
            return
        epoch = self.progress
        try:
            f = landscapes.of_model(
                run.model,
                self.data.batch,
                directions=config.directions,
                path=self._path(run),
                seed=config.seed,
            )
        except ValueError as err:  # PCA of a path too short or flat
            run.note = f"no plane yet: {err}"
            return
        yield
        bounds = np.asarray(f.bounds, dtype=np.float64)
        xs = np.linspace(bounds[0, 0], bounds[0, 1], config.grid)
        ys = np.linspace(bounds[1, 0], bounds[1, 1], config.grid)
        grid = np.stack(np.meshgrid(xs, ys), axis=-1)  # grid[j, i] = (xs[i], ys[j])
        values = np.empty((config.grid, config.grid))
        rows, j = 1, 0
        while j < config.grid:
            t0 = time.perf_counter()
            values[j : j + rows] = f.value(grid[j : j + rows])
            per_row = (time.perf_counter() - t0) / rows
            j += rows
            rows = max(1, int(LANDSCAPE_WORK_SECONDS / 3 / max(per_row, 1e-6)))
            yield
        center = float(f.value(np.zeros(2)))
        ev = f.explained_variance
        if ev is not None:
            labels = [
                f"PC{i + 1} ({100 * float(v):.1f}% of the path's variance)"
                for i, v in enumerate(ev)
            ]
        else:
            labels = ["d₁ (filter-normalized)", "d₂ (filter-normalized)"]
        assert f.path_2d is not None
        run.plane = {
            "run": k,
            "directions": config.directions,
            "epoch": round(epoch, 3),
            "xs": clean(xs),
            "ys": clean(ys),
            "values": clean(values),
            "bounds": clean(bounds),
            "center_loss": clean(center),
            "path": clean(f.path_2d),
            "explained_variance": None if ev is None else clean(ev),
            "axis_labels": labels,
        }
        run.plane_sent = False
        run.note = ""

    def _lines_job(self) -> Job:
        from descentlab import landscapes
        from descentlab.landscapes.network import flat_weights

        a, b = self.runs
        alphas = np.linspace(-0.5, 1.5, LINE_POINTS)
        epoch = self.progress
        ends = [
            (f"init → {a.label}", self.init, flat_weights(a.model)),
            (f"init → {b.label}", self.init, flat_weights(b.model)),
            (f"{a.label} → {b.label}", flat_weights(a.model), flat_weights(b.model)),
        ]
        curves = []
        for label, start, end in ends:
            yield
            _, loss, acc = landscapes.interpolate(
                a.model, start, end, self.data.batch, alphas=alphas
            )
            curves.append({"label": label, "loss": clean(loss), "accuracy": clean(acc)})
        self.lines = {"epoch": round(epoch, 3), "alphas": clean(alphas), "curves": curves}
        self.lines_sent = False

    def _sharpness_job(self, k: int) -> Job:
        from descentlab import landscapes

        run = self.runs[k]
        yield
        if not self._finite(run):
            run.sharpness, run.sharpness_epoch = None, round(self.progress, 3)
            return
        with np.errstate(all="ignore"):
            value = landscapes.sharpness(
                run.model, self.data.batch, tol=1e-3, seed=self.config.seed
            )
        run.sharpness, run.sharpness_epoch = float(value), round(self.progress, 3)

    # ------------------------------------------------------------------ frames
    def _row(self, run: _Run) -> dict[str, Any]:
        from descentlab.train import evaluate

        with np.errstate(all="ignore"):
            on_batch = evaluate(run.model, self.data.batch, confusion=False)
            test = evaluate(run.model, self.data.test, confusion=False)
        return {
            "name": run.name,
            "lr": clean(run.lr),
            "loss": clean(on_batch["loss"]),
            "accuracy": clean(on_batch.get("accuracy", math.nan)),
            "test_accuracy": clean(test.get("accuracy", math.nan)),
            "sharpness": None if run.sharpness is None else clean(run.sharpness),
            "sharpness_epoch": run.sharpness_epoch,
            "two_over_lr": clean(2.0 / run.lr) if run.lr > 0 else None,
            "status": run.status,
            "message": run.trainer.history.stop_reason or run.note,
        }

    def frame(self, full: bool = True) -> dict[str, Any]:
        """The run as it is now. The planes and lines are sent when new, or all of them
        when ``full`` (an answer to a request)."""
        tick, self.ticked = self.ticked, False
        planes = [r.plane for r in self.runs if r.plane is not None and (full or not r.plane_sent)]
        for r in self.runs:
            r.plane_sent = r.plane_sent or r.plane is not None
        lines = self.lines if full or not self.lines_sent else None
        self.lines_sent = self.lines is not None
        a, b = (r.trainer.history.epochs for r in self.runs)
        history = [
            {
                "epoch": int(a[e]["epoch"]) + 1,
                "loss": [clean(a[e]["train_loss"]), clean(b[e]["train_loss"])],
            }
            for e in range(self.rows_sent, min(len(a), len(b)))
        ]
        self.rows_sent += len(history)
        return {
            "type": "landscape.frame",
            "epoch": min(r.trainer.epoch for r in self.runs),
            "epochs": self.config.epochs,
            "step": min(r.trainer.global_step for r in self.runs),
            "progress": round(self.progress, 4),
            "done": self.done,
            "tick": tick,
            "pending": len(self.jobs),
            "samples": len(self.data.batch[1]),
            "parameters": int(self.runs[0].model.num_parameters()),
            "rows": [self._row(r) for r in self.runs],
            "history": history,
            "planes": planes,
            "lines": lines,
            "note": "; ".join(f"{r.label}: {r.note}" for r in self.runs if r.note),
        }
