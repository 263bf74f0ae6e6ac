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
