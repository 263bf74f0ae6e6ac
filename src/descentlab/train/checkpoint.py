"""Checkpoints: a whole training run in one ``.npz``, resumable exactly.

The file holds the model's weights, the optimizer's state (PyTorch's layout,
flattened into arrays), the scheduler and early-stopping state, the epoch, the
random states (shuffling, each Dropout's generator) and the History. Loading it
into a freshly built Trainer and running on gives the same numbers as a run
that was never interrupted. Read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

import numpy as np

from descentlab.nn.layers import Dropout
from descentlab.nn.module import read_npz
from descentlab.train.history import History

if TYPE_CHECKING:
    from descentlab.train.fit import Trainer

_FORMAT = "descentlab-checkpoint-1"


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.name}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")


def _json_restore(value: Any) -> Any:
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return np.asarray(value["__ndarray__"], dtype=value["dtype"])
        return {k: _json_restore(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_restore(v) for v in value]
    return value


def save_checkpoint(trainer: Trainer, path: str | os.PathLike[str]) -> None:
    """Write ``trainer``'s complete state to ``path`` (an ``.npz``)."""
    if trainer._batches is not None:
        raise RuntimeError("checkpoints are written between epochs; finish the epoch first")
    arrays: dict[str, np.ndarray] = {}
    for name, value in trainer.model.state_dict().items():
        arrays[f"model/{name}"] = value
    opt_state = trainer.optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for pid, state in opt_state["state"].items():
        for key, value in state.items():
            if isinstance(value, np.ndarray):
                arrays[f"optim/{pid}/{key}"] = value
            else:
                scalars.setdefault(str(pid), {})[key] = value
    dropouts = [m for m in trainer.model.modules() if isinstance(m, Dropout)]
    meta = {
        "format": _FORMAT,
        "epoch": trainer.epoch,
        "global_step": trainer.global_step,
        "param_groups": opt_state["param_groups"],
        "optim_scalars": scalars,
        "scheduler": trainer.scheduler.state_dict() if trainer.scheduler is not None else None,
        "early_stopping": (
            trainer.early_stopping.state_dict() if trainer.early_stopping is not None else None
        ),
        "loader": trainer.loader.get_state(),
        "dropout_rngs": [m.rng.bit_generator.state for m in dropouts],
        "history": trainer.history.to_dict(),
    }
    arrays["meta"] = np.array(json.dumps(meta, default=_json_default))
    np.savez(path, **arrays)


def load_checkpoint(trainer: Trainer, path: str | os.PathLike[str]) -> None:
    """Restore a state written by :func:`save_checkpoint` into a matching Trainer."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    arrays = read_npz(path, "descentlab checkpoint")
    try:
        meta = _json_restore(json.loads(str(arrays.pop("meta"))))
    except (ValueError, KeyError) as exc:
        raise ValueError(f"{path!r} is not a readable descentlab checkpoint: no metadata "
                         f"({exc})") from None
    if meta.get("format") != _FORMAT:
        raise ValueError(f"{path!r} has checkpoint format {meta.get('format')!r}, expected {_FORMAT!r}")
    trainer.model.load_state_dict(
        {k.removeprefix("model/"): v for k, v in arrays.items() if k.startswith("model/")}
    )
    state: dict[int, dict[str, Any]] = {}
    for key, value in arrays.items():
        if key.startswith("optim/"):
            _, pid, name = key.split("/", 2)
            state.setdefault(int(pid), {})[name] = value
    for pid, values in meta["optim_scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    trainer.optimizer.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    if meta["scheduler"] is not None:
        if trainer.scheduler is None:
            raise ValueError("the checkpoint has a learning-rate schedule but this run has none")
        trainer.scheduler.load_state_dict(meta["scheduler"])
    if meta["early_stopping"] is not None and trainer.early_stopping is not None:
        trainer.early_stopping.load_state_dict(meta["early_stopping"])
    trainer.loader.set_state(meta["loader"])
    dropouts = [m for m in trainer.model.modules() if isinstance(m, Dropout)]
    if len(dropouts) != len(meta["dropout_rngs"]):
        raise ValueError(
            f"the checkpoint has {len(meta['dropout_rngs'])} dropout layers, the model "
            f"{len(dropouts)}"
        )
    for m, rng_state in zip(dropouts, meta["dropout_rngs"]):
        m.rng.bit_generator.state = rng_state
    trainer.history = History.from_dict(meta["history"])
    trainer.epoch = meta["epoch"]
    trainer.global_step = meta["global_step"]
    trainer.done = trainer.epoch >= trainer.total_epochs
    if trainer.done:
        trainer.history.stop_reason = trainer.history.stop_reason or "completed"
