"""``History``: what happened during training, per epoch and per step."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: per-epoch columns, in the order tables show them.
EPOCH_KEYS = (
    "epoch",
    "train_loss",
    "train_accuracy",
    "val_loss",
    "val_accuracy",
    "lr",
    "grad_norm",
    "full_grad_norm",
    "seconds",
    "samples_per_second",
)
#: columns that depend on the machine's speed, not on the computation.
TIMING_KEYS = ("seconds", "samples_per_second")


@dataclass
class History:
    """Per-epoch records (``history.epochs``: list of dicts with :data:`EPOCH_KEYS`)
    and per-step losses (``history.step_loss``), plus why training stopped.

    ``history["val_accuracy"]`` gives one column as a list.
    """

    epochs: list[dict[str, Any]] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)
    step_lr: list[float] = field(default_factory=list)
    stop_reason: str = ""
    best_epoch: int | None = None
    #: why the run ended early with a non-finite loss, e.g. "diverged at epoch 3: loss is nan".
    diverged: str = ""
    #: what the run was made with (as Keras's ``History.params``): ``"optimizer"`` (its
    #: registry name) and ``"model"`` (the architecture); checkpoints carry it along so a
    #: resumed run can be checked against them.
    params: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.epochs)

    def __getitem__(self, key: str) -> list[Any]:
        if key not in EPOCH_KEYS:
            raise KeyError(f"unknown history column {key!r}; expected one of {EPOCH_KEYS}")
        return [row.get(key) for row in self.epochs]

    @property
    def last(self) -> dict[str, Any]:
        return self.epochs[-1] if self.epochs else {}

    @property
    def status(self) -> str:
        """``"ok"``, or why the numbers cannot be trusted (``"diverged at epoch 3: loss is nan"``)."""
        return self.diverged or "ok"

    def to_dict(self, timings: bool = True) -> dict[str, Any]:
        """A JSON-able dict; ``timings=False`` drops the machine-dependent columns."""
        rows = [
            {k: v for k, v in row.items() if timings or k not in TIMING_KEYS} for row in self.epochs
        ]
        return {
            "epochs": rows,
            "step_loss": list(self.step_loss),
            "step_lr": list(self.step_lr),
            "stop_reason": self.stop_reason,
            "best_epoch": self.best_epoch,
            "diverged": self.diverged,
            "params": dict(self.params),
        }

    def to_json(self) -> str:
        """Strict JSON: a non-finite number becomes ``null`` (``status`` says why)."""
        return json.dumps(json_safe({**self.to_dict(), "status": self.status}), allow_nan=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls(
            epochs=[dict(r) for r in data.get("epochs", [])],
            step_loss=list(data.get("step_loss", [])),
            step_lr=list(data.get("step_lr", [])),
            stop_reason=data.get("stop_reason", ""),
            best_epoch=data.get("best_epoch"),
            diverged=data.get("diverged", ""),
            params=dict(data.get("params") or {}),
        )

    def table(self) -> str:
        """The epochs as a plain-text table."""
        cols = [k for k in EPOCH_KEYS if any(row.get(k) is not None for row in self.epochs)]
        lines = ["  ".join(f"{c:>14}" for c in cols)]
        for row in self.epochs:
            cells = []
            for c in cols:
                v = row.get(c)
                cells.append(f"{v:>14}" if isinstance(v, int) or v is None else f"{v:>14.5g}")
            lines.append("  ".join(cells))
        return "\n".join(lines)

    def __repr__(self) -> str:
        if not self.epochs:
            return "History(no epochs)"
        last = self.last
        parts = [f"{len(self)} epochs", f"train_loss={last['train_loss']:.4g}"]
        if last.get("val_accuracy") is not None:
            parts.append(f"val_accuracy={last['val_accuracy']:.4f}")
        if self.stop_reason:
            parts.append(f"stopped: {self.stop_reason}")
        return f"History({', '.join(parts)})"


def finite_or_none(value: Any) -> float | None:
    """``float(value)``, or ``None`` when it is None, NaN or infinite."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def json_safe(value: Any) -> Any:
    """``value`` with every NaN or infinity (also inside lists, dicts and arrays) as ``None``.

    ``json.dumps`` writes NaN as the bare word ``NaN``, which is not JSON; what a
    strict reader gets instead is ``null``, and the caller says why in a status field.
    """
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if np.isfinite(value) else None
    return value
