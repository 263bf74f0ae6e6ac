"""Callbacks: hooks into the training loop (early stopping, progress bar, your own)."""

from __future__ import annotations

import math
import os
import sys
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from descentlab.train.fit import Trainer


class Callback:
    """Override any hook. ``trainer.stop(reason)`` ends training after this epoch."""

    def on_train_begin(self, trainer: Trainer) -> None: ...

    def on_epoch_begin(self, trainer: Trainer) -> None: ...

    def on_step_end(self, trainer: Trainer, loss: float) -> None: ...

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None: ...

    def on_train_end(self, trainer: Trainer) -> None: ...


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best=True`` the weights of the best epoch are put back at the end.
    """

    def __init__(
        self,
        patience: int = 5,
        monitor: str = "val_loss",
        min_delta: float = 0.0,
        mode: str | None = None,
        restore_best: bool = True,
    ) -> None:
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"patience must be an integer >= 0, got {patience!r}")
        if min_delta < 0:
            raise ValueError(f"min_delta must be >= 0, got {min_delta!r}")
        self.patience, self.monitor, self.min_delta = patience, monitor, float(min_delta)
        self.mode = mode or ("max" if "accuracy" in monitor else "min")
        if self.mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.restore_best = restore_best
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch: int | None = None
        self.best_state: dict[str, np.ndarray] | None = None
        self.wait = 0

    def _improved(self, value: float) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        value = logs.get(self.monitor)
        if value is None:
            raise ValueError(
                f"EarlyStopping monitors {self.monitor!r}, which this run does not record "
                "(give fit a validation set, or monitor 'train_loss')"
            )
        if self._improved(value):
            self.best, self.best_epoch, self.wait = value, logs["epoch"], 0
            if self.restore_best:
                self.best_state = trainer.model.state_dict()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop(
                    f"early stopping: {self.monitor} did not improve for {self.patience} "
                    f"epochs (best {self.best:.6g} at epoch {self.best_epoch})"
                )

    def on_train_end(self, trainer: Trainer) -> None:
        trainer.history.best_epoch = self.best_epoch
        if self.restore_best and self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]


class Checkpoint(Callback):
    """Write a resumable checkpoint (:meth:`Trainer.save_checkpoint`) after every epoch."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = path

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        trainer.save_checkpoint(self.path)


class ProgressBar(Callback):
    """A rich progress bar with epoch, loss, accuracy, samples/s and ETA.

    Silent unless the stream is a terminal (so logs and pipes stay clean).
    """

    def __init__(self, stream: Any = None, force: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.enabled = force or bool(getattr(self.stream, "isatty", lambda: False)())
        self._progress: Any = None
        self._task: Any = None

    def on_train_begin(self, trainer: Trainer) -> None:
        if not self.enabled:
            return
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )
        except ImportError:  # rich is an optional extra
            self.enabled = False
            return
        self._progress = Progress(
            TextColumn("epoch {task.fields[epoch]}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}  acc {task.fields[acc]}  {task.fields[speed]}"),
            TimeRemainingColumn(),
            console=Console(file=self.stream),
            transient=False,
        )
        self._progress.start()
        total = trainer.total_epochs * trainer.steps_per_epoch
        self._task = self._progress.add_task(
            "train", total=total, epoch="1", loss="-", acc="-", speed=""
        )

    def on_step_end(self, trainer: Trainer, loss: float) -> None:
        if self._progress is not None:
            self._progress.update(self._task, advance=1, loss=f"{loss:.4f}")

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        if self._progress is None:
            return
        acc = logs.get("val_accuracy") or logs.get("train_accuracy")
        self._progress.update(
            self._task,
            epoch=f"{logs['epoch'] + 1}/{trainer.total_epochs}",
            acc="-" if acc is None else f"{acc:.4f}",
            speed=f"{logs['samples_per_second']:,.0f} samples/s",
        )

    def on_train_end(self, trainer: Trainer) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None


class WeightSnapshots(Callback):
    """Record the model's weights as flat vectors along training (the path of Li et al. 2018).

    The first snapshot is the initial weights; then one after every epoch
    (``every="epoch"``) or every ``every`` optimizer steps (an int). ``snapshots`` is
    the list of flat vectors (float64, over ``model.parameters()``) and ``steps`` the
    global step of each. Feed it to ``landscapes.of_model(..., directions="pca",
    path=snapshots)`` to see the path projected on its two principal directions.
    """

    def __init__(self, every: str | int = "epoch") -> None:
        if every != "epoch" and (
            isinstance(every, bool) or not isinstance(every, int) or every < 1
        ):
            raise ValueError(f"every must be 'epoch' or a positive number of steps, got {every!r}")
        self.every = every
        self.snapshots: list[np.ndarray] = []
        self.steps: list[int] = []

    def _record(self, trainer: Trainer) -> None:
        from descentlab.landscapes.network import flat_weights

        self.snapshots.append(flat_weights(trainer.model))
        self.steps.append(trainer.global_step)

    def on_train_begin(self, trainer: Trainer) -> None:
        if not self.snapshots:
            self._record(trainer)

    def on_step_end(self, trainer: Trainer, loss: float) -> None:
        if self.every != "epoch" and trainer.global_step % int(self.every) == 0:
            self._record(trainer)

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        if self.every == "epoch":
            self._record(trainer)

    @property
    def path(self) -> np.ndarray:
        """The snapshots as one array of shape (T, D)."""
        return np.stack(self.snapshots)


class SharpnessTracker(Callback):
    """Record lambda_max, the top Hessian eigenvalue of the loss on ``data``, every ``every`` epochs.

    Under full-batch gradient descent with step eta it rises until it reaches about
    2 / eta (the edge of stability, Cohen et al. 2021); ``viz.plot_sharpness`` draws it
    against that line. Recorded once before training (epoch 0) and after every
    ``every``-th epoch: ``epochs``, ``values`` and ``lrs`` (the learning rate then).
    ``batch`` samples (drawn once with ``seed``) stand in for the whole of ``data``;
    ``tol`` is the relative accuracy of each value (Lanczos stops when it moves less).
    """

    def __init__(
        self,
        data: Any,
        every: int = 1,
        batch: int | None = None,
        seed: int = 0,
        tol: float = 1e-3,
    ) -> None:
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be a positive number of epochs, got {every!r}")
        self.data, self.every, self.batch, self.seed, self.tol = data, every, batch, seed, tol
        self.epochs: list[int] = []
        self.values: list[float] = []
        self.lrs: list[float] = []

    def _record(self, trainer: Trainer, epoch: int) -> None:
        from descentlab.landscapes.network import sharpness

        loss = trainer.loss_fn if not isinstance(trainer.loss_fn, str) else None
        value = sharpness(
            trainer.model, self.data, batch=self.batch, seed=self.seed, loss=loss, tol=self.tol
        )
        self.epochs.append(epoch)
        self.values.append(value)
        self.lrs.append(trainer._lr())

    def on_train_begin(self, trainer: Trainer) -> None:
        if not self.epochs:
            self._record(trainer, trainer.epoch)

    def on_epoch_end(self, trainer: Trainer, logs: dict[str, Any]) -> None:
        if (logs["epoch"] + 1) % self.every == 0:
            self._record(trainer, logs["epoch"] + 1)
