"""The training loop: ``fit -> epoch -> step``.

The lecture's problem is

    theta* = argmin_theta  (1/n) sum_i l(NN_theta(x_i), y_i) + lambda R(theta),

solved by mini-batch stochastic gradient descent over epochs: each epoch
shuffles the data, and each step takes the gradient of the loss on one
mini-batch (plus the penalty's gradient) and lets the optimizer update theta.

:class:`Trainer` holds one run and can be driven a step or an epoch at a time
(the playground streams it); :func:`fit` runs it to the end.
"""

from __future__ import annotations

import copy
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from descentlab.autograd import Tensor, no_grad
from descentlab.data.loader import DataLoader
from descentlab.nn import functional as F
from descentlab.nn.layers import Dropout
from descentlab.nn.module import FlatParameters, Module
from descentlab.nn.regularizers import sum_terms
from descentlab.optim import Optimizer, clip_grad_norm_, fused
from descentlab.optim import get as get_optimizer
from descentlab.optim.lr_scheduler import ReduceLROnPlateau, get_schedule
from descentlab.optim.registry import OptimizerSpec
from descentlab.train.callbacks import Callback, Checkpoint, EarlyStopping, ProgressBar
from descentlab.train.history import History, finite_or_none
from descentlab.train.metrics import confusion_matrix

LossFn = Callable[[Tensor, np.ndarray], Tensor]
Arrays = tuple[np.ndarray, np.ndarray]

_CLASSIFICATION_LOSSES = {"cross_entropy", "nll"}
_EVAL_BATCH = 4096


def _resolve_loss(loss: str | LossFn) -> tuple[LossFn, bool]:
    if callable(loss):
        return loss, True
    if loss not in F.LOSSES:
        raise ValueError(f"unknown loss {loss!r}; expected one of {sorted(F.LOSSES)}")
    return F.LOSSES[loss], loss in _CLASSIFICATION_LOSSES


def _as_arrays(data: Any, what: str, *, allow_empty: bool = True) -> Arrays:
    if isinstance(data, DataLoader):
        X, y = np.asarray(data.X), np.asarray(data.y)
    elif isinstance(data, (tuple, list)) and len(data) == 2:
        X, y = np.asarray(data[0]), np.asarray(data[1])
        if X.ndim == 0 or y.ndim == 0:
            raise ValueError(f"{what}: X and y must be arrays with one row per sample")
        if len(X) != len(y):
            raise ValueError(f"{what}: {len(X)} inputs but {len(y)} targets")
    else:
        raise TypeError(f"{what} must be an (X, y) pair or a DataLoader, got {type(data).__name__}")
    if not allow_empty and len(y) == 0:
        raise ValueError(f"the {what} set is empty (0 samples); there is nothing to train on")
    return X, y


def _optimizer_name(optimizer: Any) -> str:
    if isinstance(optimizer, Mapping):
        optimizer = optimizer.get("name")
    if isinstance(optimizer, str):
        try:
            return get_optimizer(optimizer).name
        except ValueError:
            return optimizer
    return type(optimizer).__name__.lower()


def _describe_model(model: Module) -> str:
    """The architecture in one line, e.g. ``MLP(sizes=[2, 16, 2], activation='relu', ...)``."""
    first = repr(model).splitlines()[0]
    return first if first.endswith(")") else first + ")"


def _build_optimizer(optimizer: Any, params: list[Any], lr: float | None) -> Optimizer:
    if isinstance(optimizer, Optimizer):
        return optimizer
    options: dict[str, Any] = {}
    if isinstance(optimizer, Mapping):
        options = dict(optimizer)
        optimizer = options.pop("name", None)
        if optimizer is None:
            raise ValueError(
                "an optimizer given as a dict needs a 'name' key, e.g. {'name': 'adam'}"
            )
    if not isinstance(optimizer, str):
        raise TypeError(
            f"optimizer must be a name, a dict or an Optimizer, got {type(optimizer).__name__}"
        )
    if lr is not None:
        options["lr"] = lr
    return get_optimizer(optimizer).build(params, **options)


def _elementwise(optimizer: Any) -> bool:
    """Whether the named optimizer updates every entry on its own, so that stepping one flat
    buffer equals stepping the model's arrays (not so for Adafactor, Muon, L-BFGS)."""
    name = optimizer.get("name") if isinstance(optimizer, Mapping) else optimizer
    if not isinstance(name, (str, OptimizerSpec)):
        return True  # _build_optimizer reports the bad value
    try:
        return bool(getattr(get_optimizer(name).cls, "elementwise", True))
    except (TypeError, ValueError):
        return True  # _build_optimizer reports the bad name


def _set_mode(optimizer: Any, *, train: bool) -> None:
    """Switch an optimizer that has a train and an eval point (Schedule-Free) to one of them."""
    method = getattr(optimizer, "train" if train else "eval", None)
    if callable(method):
        method()


def _build_scheduler(schedule: Any, optimizer: Optimizer) -> Any:
    if schedule is None:
        return None
    if isinstance(schedule, str):
        return get_schedule(schedule).build(optimizer)
    if isinstance(schedule, tuple) and len(schedule) == 2 and isinstance(schedule[0], str):
        return get_schedule(schedule[0]).build(optimizer, **schedule[1])
    if hasattr(schedule, "step"):
        return schedule
    if callable(schedule):
        return schedule(optimizer)
    raise TypeError(f"lr_scheduler must be a name, a scheduler or a factory, got {schedule!r}")


def _compiled_steps() -> bool:
    """Whether optimizers step arrays with the compiled fast path (Numba installed, not off)."""
    from descentlab.optim import fused

    return fused.get_fast_path() != "never" and fused.available()


def _grad_norm(params: Sequence[Any]) -> float:
    return math.sqrt(fused.squared_norm([p.grad for p in params if p.grad is not None], {}))


class _NonFiniteLoss(Exception):
    pass


class Trainer:
    """One training run, advanced a step, an epoch, or to the end.

    Arguments are those of :func:`fit`. ``trainer.history`` grows as it runs;
    ``trainer.done`` turns true when the epochs are spent or a stopping rule
    fired (``trainer.history.stop_reason`` says which).
    """

    def __init__(
        self,
        model: Module,
        train: Any,
        val: Any = None,
        *,
        loss: str | LossFn = "cross_entropy",
        optimizer: Any = "adam",
        lr: float | None = None,
        epochs: int = 10,
        batch_size: int = 32,
        regularizer: Any = None,
        lr_scheduler: Any = None,
        grad_clip: float | None = None,
        early_stopping: EarlyStopping | int | None = None,
        tol: float | None = None,
        callbacks: Iterable[Callback] = (),
        seed: int | None = None,
        progress: bool = True,
    ) -> None:
        if not isinstance(model, Module):
            raise TypeError(f"model must be a descentlab Module, got {type(model).__name__}")
        if not isinstance(epochs, int) or epochs < 0:
            raise ValueError(f"epochs must be an integer >= 0, got {epochs!r}")
        if grad_clip is not None and not grad_clip > 0:
            raise ValueError(f"grad_clip must be > 0, got {grad_clip!r}")
        if tol is not None and not tol > 0:
            raise ValueError(f"tol must be > 0, got {tol!r}")
        if hasattr(train, "train") and hasattr(train, "val") and hasattr(train, "test"):
            if val is None:
                val = train.val
            train = train.train
        self.model = model
        self.params = list(model.parameters())
        self._all_modules = list(model.modules())  # (to check the training mode at each step)
        if not self.params:
            raise ValueError("the model has no parameters to train")
        self.loss_fn, self.classification = _resolve_loss(loss)
        X, y = _as_arrays(train, "training", allow_empty=False)
        if isinstance(train, DataLoader):
            self.loader = train
        else:
            self.loader = DataLoader(X, y, batch_size=batch_size, shuffle=True, seed=seed)
        self.val = _as_arrays(val, "validation", allow_empty=False) if val is not None else None
        # Without the compiled fast path, an optimizer built here steps one flat buffer
        # holding every parameter (a few whole-buffer operations instead of a loop over
        # layers). With it, the optimizer steps the model's arrays in one compiled call,
        # and the buffer's zeroing and accumulation would only cost the step time.
        self.flat: FlatParameters | None = None
        if (
            not isinstance(optimizer, Optimizer)
            and len({p.dtype for p in self.params}) == 1
            and _elementwise(optimizer)
            and not _compiled_steps()
        ):
            self.flat = FlatParameters(self.params)
        self.optimizer = _build_optimizer(optimizer, [self.flat] if self.flat else self.params, lr)
        # descentlab's own optimizers leave the gradients as they found them, so their norm
        # may be taken during and after the step (not with a closure, which recomputes
        # them), by the compiled loops (the flat buffer is stepped by NumPy's)
        self._norm_in_step = (
            self.flat is None
            and type(self.optimizer).__module__.startswith("descentlab.optim.")
            and not getattr(self.optimizer, "needs_closure", False)
        )
        self.scheduler = _build_scheduler(lr_scheduler, self.optimizer)
        if isinstance(regularizer, (list, tuple)):
            parts = list(regularizer)
            self.regularizer: Any = lambda m: sum_terms(r(m) for r in parts)
        else:
            self.regularizer = regularizer
        self.grad_clip, self.tol = grad_clip, tol
        self.callbacks: list[Callback] = list(callbacks)
        if isinstance(early_stopping, int) and not isinstance(early_stopping, bool):
            early_stopping = EarlyStopping(
                patience=early_stopping, monitor="val_loss" if self.val else "train_loss"
            )
        if isinstance(early_stopping, bool):
            raise TypeError(
                "early_stopping must be an EarlyStopping, a patience (int) or None, "
                f"got {early_stopping!r}"
            )
        self.early_stopping: EarlyStopping | None = early_stopping
        if early_stopping is not None:
            self.callbacks.append(early_stopping)
        if progress:
            self.callbacks.append(ProgressBar())
        if seed is not None:
            dropouts = [m for m in model.modules() if isinstance(m, Dropout)]
            for i, m in enumerate(dropouts):
                m.rng = np.random.default_rng([seed, i])
        self.total_epochs = epochs
        self.steps_per_epoch = len(self.loader)
        self.history = History(
            params={
                "optimizer": _optimizer_name(optimizer),
                "model": _describe_model(model),
            }
        )
        self.epoch = 0  # epochs completed
        self.global_step = 0
        self.done = epochs == 0
        self._begun = False
        self._batches: Iterator[Arrays] | None = None
        self._epoch_stats: dict[str, float] = {}
        self._epoch_start_state: dict[str, np.ndarray] | None = None
        self._snapshot: dict[str, Any] | None = None
        self._unsettled = False  # true while an epoch is being opened or closed
        self._stop_reason: str | None = None

    # ----------------------------------------------------------------- control
    def stop(self, reason: str) -> None:
        """Ask training to end after the current epoch (callbacks use this)."""
        if self._stop_reason is None:
            self._stop_reason = reason

    def _begin(self) -> None:
        if not self._begun:
            self._begun = True
            for cb in self.callbacks:
                cb.on_train_begin(self)

    def _finish(self, reason: str) -> None:
        self.done = True
        self.history.stop_reason = reason
        for cb in self.callbacks:
            cb.on_train_end(self)

    # -------------------------------------------------------------------- step
    def objective(self, xb: np.ndarray, yb: np.ndarray) -> tuple[Tensor, Tensor, Tensor]:
        """Forward pass: (objective L + lambda R, data loss L, model output)."""
        out = self.model(xb)
        data_loss = self.loss_fn(out, yb)
        total = data_loss
        if self.regularizer is not None:
            total = data_loss + self.regularizer(self.model)
        return total, data_loss, out

    def train_step(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """One optimizer step on one mini-batch; returns the objective before the step."""
        self._ensure_training()
        # Overflow is detected in _step and reported once, not as a stream of NumPy warnings.
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            value = self._step(xb, yb)
        for cb in self.callbacks:
            cb.on_step_end(self, value)
        return value

    def _ensure_training(self) -> None:
        """Put the model back in training mode if anything (an evaluation, a callback, the
        user between two calls) left a module of it in eval mode."""
        if not all(m.training for m in self._all_modules):
            self.model.train()

    def _step(self, xb: np.ndarray, yb: np.ndarray) -> float:
        """The step of :meth:`train_step` without its checks and callbacks: the caller has
        put the model in training mode and silenced NumPy's overflow, invalid and divide
        warnings."""
        if self.flat is not None:
            self.flat.zero_grad()
        else:
            self.optimizer.zero_grad()
        total, data_loss, out = self.objective(xb, yb)
        value = float(total.data)
        if not math.isfinite(value):
            raise _NonFiniteLoss(value)
        total.backward()
        stepped: list[Any] = self.params
        if self.flat is not None:
            self.flat.sync()
            stepped = [self.flat]
        if self._norm_in_step and self.grad_clip is None and fused.pool_lent():
            # a loop that steps an array on OpenBLAS's threads sums its squared gradient
            # as it goes (fused.gradient_squares); the others' are summed after the
            # step, which leaves the gradients as they were. (With no pool, before the
            # step: the step would push a large gradient out of the cache.)
            with fused.gradient_squares() as found:
                self.optimizer.step()
            grads = [p.grad for p in stepped if p.grad is not None]
            norm = math.sqrt(fused.squared_norm(grads, found))
        else:
            if self.grad_clip is not None:
                norm = float(clip_grad_norm_(stepped, self.grad_clip))
            else:
                norm = _grad_norm(stepped)
            if getattr(self.optimizer, "needs_closure", False):
                self.optimizer.step(self._closure(xb, yb, stepped, total))
            else:
                self.optimizer.step()
        n = len(yb)
        stats = self._epoch_stats
        stats["samples"] += n
        stats["loss_sum"] += (value if data_loss is total else float(data_loss.data)) * n
        stats["grad_norm_sum"] += norm
        stats["steps"] += 1
        if self.classification:
            stats["correct"] += int(np.count_nonzero(out.data.argmax(axis=1) == yb))
        self.history.step_loss.append(value)
        self.history.step_lr.append(self._lr())
        self.global_step += 1
        return value

    def _closure(
        self, xb: np.ndarray, yb: np.ndarray, stepped: list[Any], first: Tensor
    ) -> Callable[[], Tensor]:
        """For an optimizer that re-evaluates the loss (L-BFGS): zero the gradients, recompute
        the batch objective and backpropagate. The first call returns the evaluation that
        train_step has just made (its gradients are in place)."""
        pending = [first]

        def closure() -> Tensor:
            if pending:
                return pending.pop()
            if self.flat is not None:
                self.flat.zero_grad()
            else:
                self.optimizer.zero_grad()
            total, _, _ = self.objective(xb, yb)
            total.backward()
            if self.flat is not None:
                self.flat.sync()
            if self.grad_clip is not None:
                clip_grad_norm_(stepped, self.grad_clip)
            return total

        return closure

    def _lr(self) -> float:
        lr = self.optimizer.param_groups[0]["lr"]
        if isinstance(lr, float):
            return lr
        return float(lr) if np.ndim(lr) == 0 else float(np.mean(lr))

    # ------------------------------------------------------------------- epoch
    def _start_epoch(self) -> None:
        _set_mode(self.optimizer, train=True)
        self._unsettled = True
        self._snapshot = self._take_snapshot()
        self._epoch_start_state = self._snapshot["model"]
        self.model.new_epoch()
        for cb in self.callbacks:
            cb.on_epoch_begin(self)
        self._epoch_stats = dict.fromkeys(
            ("samples", "loss_sum", "grad_norm_sum", "steps", "correct"), 0.0
        )
        self._epoch_stats["t0"] = time.perf_counter()
        self._batches = iter(self.loader)
        self._unsettled = False

    def advance(self, steps: int = 1, *, stop_at_epoch_end: bool = False) -> list[float]:
        """Take up to ``steps`` mini-batch steps, closing epochs as they end.

        With ``stop_at_epoch_end`` it returns as soon as an epoch has been closed,
        without starting the next one. Returns the objective values of the steps
        taken (fewer when training or the epoch ends).
        """
        losses: list[float] = []
        self._begin()
        while len(losses) < steps and not self.done:
            if self._batches is None:
                self._start_epoch()
            try:
                ended = self._run_steps(steps - len(losses), losses)
            except _NonFiniteLoss as exc:
                self._on_non_finite(float(exc.args[0]))
                continue
            if ended:
                self._end_epoch()
                if stop_at_epoch_end:
                    break
        return losses

    def _run_steps(self, count: int, losses: list[float]) -> bool:
        """Up to ``count`` steps of the epoch in progress, their objectives appended to
        ``losses``; True if the epoch's batches ran out first.

        What :meth:`train_step` does at each step, done once for the run of steps where
        nothing else runs between them: the steps share one ``np.errstate`` (entering one
        and checking the modules' modes took 10-12 us a step in the MLP of
        ``benchmarks/mlp.py``, about 1 % of it). The callbacks that act at a step's end
        run under the caller's error state, and the modes are checked again after them.
        """
        hooks = [
            cb.on_step_end
            for cb in self.callbacks
            if getattr(cb.on_step_end, "__func__", None) is not Callback.on_step_end
        ]
        caller = np.geterr()
        batches = self._batches
        assert batches is not None
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            self._ensure_training()
            for _ in range(count):
                batch = next(batches, None)
                if batch is None:
                    return True
                value = self._step(*batch)
                losses.append(value)
                if hooks:
                    with np.errstate(**caller):
                        for hook in hooks:
                            hook(self, value)
                    if self._batches is not batches or self.done:
                        break  # (a callback rewound or ended the run)
                    self._ensure_training()
        return False

    def run_epoch(self) -> dict[str, Any]:
        """Finish the current epoch (or run a whole new one); returns its record."""
        if self.done:
            return self.history.last
        self.advance(self.steps_per_epoch + 1, stop_at_epoch_end=True)
        return self.history.last

    def run(self) -> History:
        """Train to the end and return the History."""
        self._begin()
        while not self.done:
            self.run_epoch()
        return self.history

    # ------------------------------------------------------------ interruption
    def _take_snapshot(self) -> dict[str, Any]:
        """Everything a checkpoint holds, as it is now (taken when an epoch begins)."""
        return {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "early_stopping": (
                (self.early_stopping.state_dict(), self.early_stopping.best_state)
                if self.early_stopping is not None
                else None
            ),
            "loader": self.loader.get_state(),
            "dropout_rngs": [copy.deepcopy(m.rng.bit_generator.state) for m in self._dropouts()],
            "epoch": self.epoch,
            "global_step": self.global_step,
            "history": (
                len(self.history.epochs),
                len(self.history.step_loss),
                len(self.history.step_lr),
            ),
            "stop_reason": self._stop_reason,
        }

    def _dropouts(self) -> list[Dropout]:
        return [m for m in self.model.modules() if isinstance(m, Dropout)]

    def rewind(self) -> None:
        """Undo the epoch in progress, so that the run can be checkpointed and resumed exactly.

        A KeyboardInterrupt can land anywhere, even between two lines of an update
        rule, so the state it leaves is not trusted: the model, optimizer, schedule,
        early stopping, shuffling and dropout generators, step counter and History
        go back to what they were when the interrupted epoch began. A checkpoint
        written afterwards resumes with that epoch and gives the numbers of a run
        that was never interrupted. Between epochs (or before the first) there is
        nothing to undo and nothing changes.
        """
        snap = self._snapshot
        if (self._batches is None and not self._unsettled) or snap is None:
            return
        self._batches = None
        self._unsettled = False
        self.model.load_state_dict(snap["model"])
        self.optimizer.load_state_dict(snap["optimizer"])
        if self.scheduler is not None:
            self.scheduler.load_state_dict(snap["scheduler"])
        if self.early_stopping is not None:
            counters, best_state = snap["early_stopping"]
            self.early_stopping.load_state_dict(counters)
            self.early_stopping.best_state = best_state
        self.loader.set_state(snap["loader"])
        for m, state in zip(self._dropouts(), snap["dropout_rngs"]):
            m.rng.bit_generator.state = copy.deepcopy(state)
        self.epoch, self.global_step = snap["epoch"], snap["global_step"]
        n_epochs, n_steps, n_lrs = snap["history"]
        del self.history.epochs[n_epochs:]
        del self.history.step_loss[n_steps:]
        del self.history.step_lr[n_lrs:]
        self._stop_reason = snap["stop_reason"]
        self.done = False
        self.history.stop_reason = ""

    def _on_non_finite(self, value: float) -> None:
        if self._epoch_start_state is not None:
            self.model.load_state_dict(self._epoch_start_state)
        self._batches = None
        self.history.diverged = f"diverged at epoch {self.epoch + 1}: loss is {value}"
        self._finish(
            f"the loss became {value} at epoch {self.epoch + 1}, step "
            f"{int(self._epoch_stats['steps']) + 1} (learning rate too large?); the weights "
            f"from the start of that epoch were kept"
        )

    def _end_epoch(self) -> None:
        self._unsettled = True
        stats = self._epoch_stats
        seconds = time.perf_counter() - stats["t0"]
        samples = stats["samples"]
        logs: dict[str, Any] = {
            "epoch": self.epoch,
            "train_loss": stats["loss_sum"] / samples if samples else None,
            "train_accuracy": stats["correct"] / samples
            if self.classification and samples
            else None,
            "val_loss": None,
            "val_accuracy": None,
            "lr": self._lr(),
            "grad_norm": stats["grad_norm_sum"] / stats["steps"] if stats["steps"] else None,
            "full_grad_norm": None,
            "seconds": seconds,
            "samples_per_second": samples / seconds if seconds > 0 else None,
        }
        # Schedule-Free optimizers train at y; the point to evaluate and to keep is x.
        _set_mode(self.optimizer, train=False)
        if self.val is not None:
            result = evaluate(self.model, self.val, self.loss_fn, confusion=False)
            logs["val_loss"] = finite_or_none(result["loss"])
            logs["val_accuracy"] = result.get("accuracy") if self.classification else None
        if self.tol is not None:
            logs["full_grad_norm"] = self.full_gradient_norm()
        self.history.epochs.append(logs)
        self.epoch += 1
        self._batches = None
        if self.scheduler is not None:
            if isinstance(self.scheduler, ReduceLROnPlateau):
                metric = logs["val_loss"] if logs["val_loss"] is not None else logs["train_loss"]
                self.scheduler.step(metric)
            else:
                self.scheduler.step()
        # The epoch is complete: an interrupt from here on (say in a callback, right after
        # it wrote the epoch's checkpoint) keeps it instead of going back to its start.
        self._unsettled = False
        for cb in self.callbacks:
            cb.on_epoch_end(self, logs)
        if self.tol is not None and logs["full_grad_norm"] < self.tol:
            self.stop(
                f"converged: the full gradient norm {logs['full_grad_norm']:.3g} fell below "
                f"tol = {self.tol:g}"
            )
        reason = self._stop_reason
        if reason is None and self.epoch >= self.total_epochs:
            reason = f"completed {self.total_epochs} epochs"
        if reason is not None:
            self._unsettled = True  # (the end of training: its callbacks restore, write, ...)
            self._finish(reason)
            self._unsettled = False

    def full_gradient_norm(self) -> float:
        """|grad| of the whole objective over the full training set (the lecture's
        stopping rule), with dropout off."""
        X, y = self.loader.X, self.loader.y
        n = len(y)
        self.model.eval()
        for p in self.params:
            p.grad = None
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            for start in range(0, n, _EVAL_BATCH):
                xb, yb = X[start : start + _EVAL_BATCH], y[start : start + _EVAL_BATCH]
                loss = self.loss_fn(self.model(xb), yb) * (len(yb) / n)
                loss.backward()
            if self.regularizer is not None:
                self.regularizer(self.model).backward()
            norm = _grad_norm(self.params)
        for p in self.params:
            p.grad = None
        self.model.train()
        return norm

    # -------------------------------------------------------------- checkpoints
    def save_checkpoint(self, path: str | os.PathLike[str]) -> Path:
        """Model, optimizer state, epoch, random states and history in one ``.npz``.

        Written atomically to exactly ``path``, which is returned.
        """
        from descentlab.train.checkpoint import save_checkpoint

        return save_checkpoint(self, path)

    def load_checkpoint(self, path: str | os.PathLike[str]) -> None:
        """Continue a run saved by :meth:`save_checkpoint` (at an epoch boundary).

        Refuses (ValueError naming both) a checkpoint made with another optimizer or
        another model architecture than this Trainer's.
        """
        from descentlab.train.checkpoint import load_checkpoint

        self._check_checkpoint_matches(path)
        params = dict(self.history.params)
        load_checkpoint(self, path)
        self.history.params = {**self.history.params, **params}

    def _check_checkpoint_matches(self, path: str | os.PathLike[str]) -> None:
        from descentlab.nn.module import read_npz

        path = os.fspath(path)
        if not os.path.exists(path):
            raise FileNotFoundError(f"no checkpoint at {path!r}")
        arrays = read_npz(path, "descentlab checkpoint")
        try:
            made_with = json.loads(str(arrays["meta"]))["history"].get("params") or {}
        except (KeyError, TypeError, AttributeError, ValueError):
            return  # not ours to judge: load_checkpoint says what is wrong with the file
        ours = self.history.params
        if made_with.get("optimizer") not in (None, ours["optimizer"]):
            raise ValueError(
                f"checkpoint {path} was made with optimizer {made_with['optimizer']}, "
                f"this run uses {ours['optimizer']}"
            )
        saved = {
            k.removeprefix("model/"): v.shape for k, v in arrays.items() if k.startswith("model/")
        }
        mine = {k: v.shape for k, v in self.model.state_dict().items()}
        same_model = made_with.get("model") in (None, ours["model"]) or (
            _without_dropout(made_with["model"]) == _without_dropout(ours["model"])
        )
        if saved != mine or not same_model:
            theirs = made_with.get("model") or ", ".join(
                f"{k} {'x'.join(map(str, v))}" for k, v in saved.items()
            )
            raise ValueError(
                f"checkpoint {path} was made with the model {theirs}, this run builds "
                f"{ours['model']}"
            )


def fit(
    model: Module,
    train: Any,
    val: Any = None,
    loss: str | LossFn = "cross_entropy",
    optimizer: Any = "adam",
    epochs: int = 10,
    batch_size: int = 32,
    regularizer: Any = None,
    lr_scheduler: Any = None,
    grad_clip: float | None = None,
    early_stopping: EarlyStopping | int | None = None,
    tol: float | None = None,
    callbacks: Iterable[Callback] = (),
    seed: int | None = None,
    progress: bool = True,
    *,
    lr: float | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    resume: str | os.PathLike[str] | None = None,
) -> History:
    """Train ``model`` with mini-batch gradient descent and return its :class:`History`.

    Args:
        model: a Module producing logits (classification) or predictions.
        train: ``(X, y)``, a DataLoader, or a ``data.DataBundle`` (its val split is used).
        val: ``(X, y)`` evaluated after every epoch (loss, accuracy).
        loss: "cross_entropy" (logits, integer labels), "mse", "bce_with_logits",
            "nll", or a function ``(output, y) -> Tensor``.
        optimizer: a name from ``optim.REGISTRY`` ("sgd", "adam", ...), a dict
            ``{"name": "sgd", "lr": 0.1, "momentum": 0.9}``, or an Optimizer.
        epochs: passes over the training set.
        batch_size: samples per step (ignored when ``train`` is a DataLoader).
        regularizer: ``nn.L1``/``nn.L2``/``nn.ElasticNet`` (or a list, or any
            ``model -> Tensor``): the lambda R(theta) added to the loss.
        lr_scheduler: a schedule name ("step", "cosine", ...), ``(name, kwargs)``,
            a scheduler, or ``optimizer -> scheduler``; stepped once per epoch.
        grad_clip: clip the gradient norm to this value before each step.
        early_stopping: an ``EarlyStopping`` or a patience (monitors val_loss).
        tol: the lecture's stopping rule: stop when the full-batch gradient norm
            |grad| < tol (checked after every epoch).
        callbacks: extra :class:`Callback` objects.
        seed: seeds the shuffling and dropout, so the same seed gives the same History.
        progress: show a progress bar (only on a terminal).
        lr: learning rate for an optimizer given by name.
        checkpoint: write a checkpoint here after every epoch.
        resume: continue from this checkpoint (``epochs`` counts the total).

    A non-finite loss stops training with a message in ``history.stop_reason``
    and keeps the weights from the start of that epoch.

    Per epoch ``train_loss`` is the mean data loss over the epoch's batches
    (without the penalty); ``history.step_loss`` holds each step's full
    objective L + lambda R; ``grad_norm`` is the mean over the epoch's steps of the
    gradient's norm as the backward pass left it (before clipping). Its last bits
    depend on where it was summed (on BLAS's threads or in the update's loop), so unlike
    the weights and losses it is not held to the same bits from one machine or thread
    setting to another.
    """
    trainer = Trainer(
        model,
        train,
        val,
        loss=loss,
        optimizer=optimizer,
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        regularizer=regularizer,
        lr_scheduler=lr_scheduler,
        grad_clip=grad_clip,
        early_stopping=early_stopping,
        tol=tol,
        callbacks=callbacks,
        seed=seed,
        progress=progress,
    )
    if resume is not None:
        trainer.load_checkpoint(resume)
    if checkpoint is not None:
        trainer.callbacks.append(Checkpoint(checkpoint))
    return trainer.run()


def _without_dropout(description: str) -> str:
    """The architecture without the dropout rate (which does not change the weights)."""
    return re.sub(r",? ?dropout=[0-9.e-]+", "", description)


def predict(model: Module, X: np.ndarray, batch_size: int = _EVAL_BATCH) -> np.ndarray:
    """The model's outputs on ``X`` in evaluation mode, without a graph."""
    was_training = model.training
    model.eval()
    try:
        # Huge weights overflow to inf: the loss says so (and --json's status), once.
        with no_grad(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            outs = [model(X[i : i + batch_size]).data for i in range(0, len(X), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(outs) if outs else np.zeros((0,))


def evaluate(
    model: Module,
    data: Any,
    loss: str | LossFn = "cross_entropy",
    batch_size: int = _EVAL_BATCH,
    confusion: bool = True,
) -> dict[str, Any]:
    """Loss, accuracy and confusion matrix of ``model`` on ``(X, y)`` (dropout off).

    Returns ``{"loss", "n"}`` plus, for classification, ``"accuracy"`` and
    ``"confusion_matrix"`` (rows: true class, columns: predicted class).
    """
    loss_fn, classification = _resolve_loss(loss)
    X, y = _as_arrays(data, "data")
    out = predict(model, X, batch_size)
    with no_grad(), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        value = float(loss_fn(Tensor(out), y).data) if len(y) else float("nan")
    result: dict[str, Any] = {"loss": value, "n": len(y)}
    if classification and out.ndim == 2:
        predicted = out.argmax(axis=1)
        result["accuracy"] = float(np.mean(predicted == y)) if len(y) else float("nan")
        if confusion:
            result["confusion_matrix"] = confusion_matrix(y, predicted, out.shape[1])
    return result
