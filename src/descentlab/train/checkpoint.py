"""Checkpoints: a whole training run in one ``.npz``, resumable exactly.

The file holds the model's weights, the optimizer's state (PyTorch's layout,
flattened into arrays), the scheduler and early-stopping state, the epoch, the
random states (shuffling, each Dropout's generator) and the History. Loading it
into a freshly built Trainer and running on gives the same numbers as a run
that was never interrupted. Read with ``allow_pickle=False``.

Saving is atomic (temporary file in the same folder, fsync, ``os.replace``), so
a crash mid-save leaves the previous checkpoint whole. Loading trusts nothing:
the archive is checked by :func:`descentlab.nn.modelfile.read_npz` (size limits
before allocation), the metadata field by field, and every array against the
model and optimizer it is meant for, before the trainer is touched; any problem
raises :class:`~descentlab.nn.modelfile.ModelFileError` naming the file, and
the trainer is left as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeGuard

import numpy as np

from descentlab._atomic import atomic_write
from descentlab.nn.layers import Dropout
from descentlab.nn.modelfile import ModelFileError, parse_json_member, read_npz
from descentlab.nn.module import check_weights
from descentlab.train.history import History

if TYPE_CHECKING:
    from descentlab.train.fit import Trainer

Fail = Callable[[str], NoReturn]

_FORMAT = "descentlab-checkpoint-1"
_WHAT = "descentlab checkpoint"
#: Largest array the JSON metadata may describe (``{"__ndarray__": [...]}``), in elements.
_MAX_JSON_ARRAY = 1_000_000


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": value.dtype.name}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"cannot store {type(value).__name__} in a checkpoint")


_MAX_DEPTH = 100


def _json_restore(value: Any, depth: int = 0) -> Any:
    """Undo :func:`_json_default`: ``{"__ndarray__": ..., "dtype": ...}`` becomes an array.

    Raises ``ValueError`` for nesting deeper than 100, or an array that is not a
    plain list of real numbers of at most a million elements.
    """
    if depth > _MAX_DEPTH:
        raise ValueError(f"metadata nested more than {_MAX_DEPTH} deep")
    if isinstance(value, dict):
        if "__ndarray__" in value:
            return _restore_array(value)
        return {k: _json_restore(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_restore(v, depth + 1) for v in value]
    return value


def _restore_array(value: Mapping[str, Any]) -> np.ndarray:
    try:
        dtype = np.dtype(value["dtype"])
    except (KeyError, TypeError, ValueError):
        raise ValueError(
            f"stored array has no valid numeric dtype: {value.get('dtype')!r:.60}"
        ) from None
    if dtype.kind not in "biuf" or set(value) != {"__ndarray__", "dtype"}:
        raise ValueError(f"stored array must be real numbers, got dtype {dtype}")
    data = value["__ndarray__"]
    n = 1
    level: Any = data
    while isinstance(level, list):  # count elements before numpy sees the list
        n *= max(len(level), 1)
        if n > _MAX_JSON_ARRAY:
            raise ValueError(f"stored array has more than {_MAX_JSON_ARRAY} elements")
        level = level[0] if level else None
    if not _all_real(data):
        raise ValueError("stored array holds something other than numbers")
    return np.asarray(data, dtype=dtype)


def _all_real(data: Any) -> bool:
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, bool) or not isinstance(item, (int, float)):
            return False
    return True


def save_checkpoint(trainer: Trainer, path: str | os.PathLike[str]) -> Path:
    """Write ``trainer``'s complete state to exactly ``path`` (an ``.npz``; no suffix is
    added) and return the path written.

    The write is atomic: a crash or ``kill -9`` at any moment leaves the previous
    checkpoint at ``path`` intact.
    """
    if trainer._batches is not None:
        raise RuntimeError("checkpoints are written between epochs; finish the epoch first")
    arrays: dict[str, np.ndarray] = {}
    for name, weights in trainer.model.state_dict().items():
        arrays[f"model/{name}"] = weights
    opt_state = trainer.optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for pid, state in opt_state["state"].items():
        for key, value in state.items():
            if isinstance(value, np.ndarray):
                arrays[f"optim/{pid}/{key}"] = value
            elif (
                isinstance(value, list) and value and all(isinstance(v, np.ndarray) for v in value)
            ):
                # a history of arrays (L-BFGS's old_dirs): arrays key#0, key#1, ...
                for i, v in enumerate(value):
                    arrays[f"optim/{pid}/{key}#{i}"] = v
                scalars.setdefault(str(pid), {})[key] = {_LIST_OF_ARRAYS: len(value)}
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
    target = Path(path)
    with atomic_write(target, "wb") as f:
        # numpy's stub lets the arrays' **kwds reach savez's allow_pickle: bool
        np.savez(f, **arrays)  # type: ignore[arg-type]
    return target


def load_checkpoint(
    trainer: Trainer, path: str | os.PathLike[str], *, max_bytes: int | None = None
) -> None:
    """Restore a state written by :func:`save_checkpoint` into a matching Trainer.

    Everything in the file is checked before the trainer is changed; if anything
    is wrong the trainer is left as it was. ``max_bytes`` caps the arrays the file
    may ask for (default 2 GiB, or the environment variable
    ``DESCENTLAB_MAX_FILE_BYTES``); raise it for a larger checkpoint you trust.

    Raises:
        FileNotFoundError: nothing at ``path``.
        ModelFileError: (a ``ValueError``) the file is not a sound checkpoint or does
            not fit this trainer's model, optimizer or schedule; the message names
            the file and the problem.
    """
    path = os.fspath(path)
    if not os.path.lexists(path):
        raise FileNotFoundError(f"no checkpoint at {path!r}")
    arrays = read_npz(path, _WHAT, max_bytes=max_bytes)

    def fail(problem: str) -> NoReturn:
        raise ModelFileError(path, _WHAT, problem)

    meta = _read_meta(arrays, path, fail)
    model_state: dict[str, np.ndarray] = {}
    optim_state: dict[int, dict[str, Any]] = {}
    for key, value in arrays.items():
        if key == "meta":
            continue
        if key.startswith("model/"):
            model_state[key.removeprefix("model/")] = value
        elif key.startswith("optim/") and key.count("/") >= 2:
            _, pid, name = key.split("/", 2)
            if not pid.isdigit() or len(pid) > 9 or value.dtype.kind not in "biuf":
                fail(f"optimizer array {key!r} is not a real array of a numbered parameter")
            optim_state.setdefault(int(pid), {})[name] = value
        else:
            fail(f"unexpected array {key!r}")
    check_weights(trainer.model, model_state, path, _WHAT)
    for pid, values in meta["optim_scalars"].items():
        target = optim_state.setdefault(int(pid), {})
        for key, value in values.items():
            if isinstance(value, dict):  # a list of arrays stored as key#0, key#1, ...
                parts = [target.pop(f"{key}#{i}", None) for i in range(value[_LIST_OF_ARRAYS])]
                if any(part is None for part in parts):
                    fail(
                        f"optimizer state {pid}/{key} lacks some of its "
                        f"{value[_LIST_OF_ARRAYS]} arrays"
                    )
                target[key] = parts
            else:
                target[key] = value
    for number, values in optim_state.items():
        stray = [k for k in values if "#" in k]
        if stray:
            fail(f"optimizer arrays {stray[:3]} of parameter {number} belong to no list")
    _check_callbacks(trainer, meta, fail)
    _check_optimizer(trainer, meta["param_groups"], optim_state, fail)

    backup = _snapshot(trainer)
    stage: list[str] = ["the checkpoint"]
    try:
        _apply(trainer, meta, model_state, optim_state, stage)
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
        _restore(trainer, backup)
        fail(f"cannot restore {stage[-1]} ({type(exc).__name__}: {exc})")


# ------------------------------------------------------------------ checks
_META_TYPES: dict[str, tuple[type, ...]] = {
    "format": (str,),
    "epoch": (int,),
    "global_step": (int,),
    "param_groups": (list,),
    "optim_scalars": (dict,),
    "scheduler": (dict, type(None)),
    "early_stopping": (dict, type(None)),
    "loader": (dict,),
    "dropout_rngs": (list,),
    "history": (dict,),
}


def _read_meta(arrays: Mapping[str, np.ndarray], path: str, fail: Fail) -> dict[str, Any]:
    raw = parse_json_member(arrays, "meta", path, _WHAT)
    if not isinstance(raw, dict):
        fail(f"the metadata is {type(raw).__name__}, not an object")
    if raw.get("format") != _FORMAT:
        fail(f"checkpoint format {raw.get('format')!r:.60}, expected {_FORMAT!r}")
    missing = [k for k in _META_TYPES if k not in raw]
    if missing:
        fail(f"the metadata lacks {missing}")
    try:
        meta = _json_restore(raw)
    except RecursionError:
        fail("the metadata is nested too deeply")
    except ValueError as exc:
        fail(f"the metadata is malformed: {exc}")
    for key, types in _META_TYPES.items():
        value = meta[key]
        if not isinstance(value, types) or isinstance(value, bool):
            fail(
                f"metadata {key!r} must be {' or '.join(t.__name__ for t in types)}, "
                f"got {type(value).__name__}"
            )
    for key in ("epoch", "global_step"):
        if meta[key] < 0:
            fail(f"metadata {key!r} is negative")
    if not all(
        isinstance(g, dict)
        and isinstance(g.get("params"), list)
        and all(_is_int(i) and i >= 0 for i in g["params"])
        for g in meta["param_groups"]
    ):
        fail("metadata 'param_groups' must be a list of objects with 'params' id lists")
    for pid, values in meta["optim_scalars"].items():
        if not (pid.isdigit() and len(pid) <= 9) or not isinstance(values, dict):
            fail(f"metadata 'optim_scalars' has a bad entry {pid!r:.40}")
        for key, value in values.items():
            if not _state_value_ok(value):
                fail(
                    f"optimizer state {pid}/{key} is not a number, a list of numbers or None: "
                    f"{value!r:.40}"
                )
    if not all(isinstance(s, dict) for s in meta["dropout_rngs"]):
        fail("metadata 'dropout_rngs' must be a list of generator states")
    return meta


_LIST_OF_ARRAYS = "__list_of_arrays__"
_MAX_STATE_LIST = 100_000


def _state_value_ok(value: Any) -> bool:
    """A stored non-array optimizer state: a number, None, a bounded list of numbers, or
    the marker of a list of arrays (L-BFGS keeps histories)."""
    if value is None or _is_real(value):
        return True
    if isinstance(value, list):
        return len(value) <= _MAX_STATE_LIST and all(v is None or _is_real(v) for v in value)
    if isinstance(value, dict):
        count = value.get(_LIST_OF_ARRAYS)
        return set(value) == {_LIST_OF_ARRAYS} and _is_int(count) and 0 < count <= 10_000
    return False


def _is_int(v: object) -> TypeGuard[int]:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_real(v: Any) -> bool:
    if isinstance(v, np.ndarray):
        return v.dtype.kind in "biuf"
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _check_optimizer(
    trainer: Trainer,
    saved_groups: list[dict[str, Any]],
    state: Mapping[int, Mapping[str, Any]],
    fail: Fail,
) -> None:
    groups = trainer.optimizer.param_groups
    if len(saved_groups) != len(groups):
        fail(f"it has {len(saved_groups)} optimizer parameter groups, this run {len(groups)}")
    id_to_param: dict[int, Any] = {}
    for i, (g, s) in enumerate(zip(groups, saved_groups)):
        if len(s["params"]) != len(g["params"]):
            fail(
                f"optimizer parameter group {i} has {len(s['params'])} parameters, this "
                f"run {len(g['params'])}"
            )
        for key, value in s.items():
            if key == "params":
                continue
            if key not in g:
                if _is_real(value) and not isinstance(value, np.ndarray):
                    continue  # a plain number such as a scheduler's "initial_lr" is harmless
                fail(f"optimizer parameter group {i} has an unknown setting {key!r:.40}")
            if not _fits(value, g[key]):
                fail(
                    f"optimizer setting {key!r} of group {i} is {value!r:.60}, which does not "
                    f"fit this run's {g[key]!r:.60}"
                )
        try:  # the optimizer's own checks of its hyperparameters (lr >= 0, ...)
            trainer.optimizer._validate({**g, **{k: v for k, v in s.items() if k != "params"}})
        except (TypeError, ValueError) as exc:
            fail(f"optimizer parameter group {i}: {exc}")
        id_to_param.update(zip(s["params"], g["params"]))
    total_size = sum(int(q.data.size) for g in trainer.optimizer.param_groups for q in g["params"])
    elementwise = getattr(trainer.optimizer, "elementwise", True)
    for pid, values in state.items():
        p = id_to_param.get(pid)
        if p is None:
            fail(f"optimizer state for parameter {pid}, which no parameter group lists")
        for key, value in values.items():
            if not isinstance(value, np.ndarray):
                continue
            if elementwise:  # state shaped like its parameter
                try:
                    ok = np.broadcast_shapes(value.shape, p.data.shape) == p.data.shape
                except ValueError:
                    ok = False
                if not ok:
                    fail(
                        f"optimizer state {pid}/{key} has shape {value.shape}, its parameter "
                        f"{p.data.shape}"
                    )
            # Otherwise shaped as the optimizer likes (Adafactor's factored moments,
            # Prodigy's slices, L-BFGS's flat vectors), but never more numbers than the model.
            elif value.size > total_size:
                fail(
                    f"optimizer state {pid}/{key} has shape {value.shape}, more numbers than "
                    f"the model's {total_size} parameters"
                )


def _check_callbacks(trainer: Trainer, meta: Mapping[str, Any], fail: Fail) -> None:
    if meta["scheduler"] is not None:
        if trainer.scheduler is None:
            fail("it has a learning-rate schedule but this run has none")
        current = trainer.scheduler.state_dict()
        for key, value in meta["scheduler"].items():
            if key not in current or not _fits(value, current[key]):
                fail(
                    f"scheduler setting {key!r:.40} = {value!r:.60} does not fit "
                    f"this run's {type(trainer.scheduler).__name__}"
                )
    if meta["early_stopping"] is not None and trainer.early_stopping is not None:
        current = trainer.early_stopping.state_dict()
        saved = meta["early_stopping"]
        if set(saved) != set(current) or not all(_fits(saved[k], current[k]) for k in saved):
            fail(f"early-stopping state {saved!r:.80} does not fit this run")
    dropouts = [m for m in trainer.model.modules() if isinstance(m, Dropout)]
    if len(dropouts) != len(meta["dropout_rngs"]):
        fail(f"it has {len(meta['dropout_rngs'])} dropout layers, the model {len(dropouts)}")
    history = meta["history"]
    lists = ("epochs", "step_loss", "step_lr")
    if (
        any(not isinstance(history.get(k, []), list) for k in lists)
        or not all(isinstance(r, dict) for r in history.get("epochs", []))
        or not all(_is_real(v) or v is None for k in lists[1:] for v in history.get(k, []))
    ):
        fail("metadata 'history' is malformed")


def _fits(saved: Any, current: Any, depth: int = 0) -> bool:
    """Whether a value read from a file can stand where ``current`` stands now."""
    if depth > 20:
        return False
    if saved is None or current is None:
        return saved is None or not isinstance(saved, (dict, list))
    if isinstance(current, (bool, np.bool_)):
        return isinstance(saved, bool)
    if isinstance(current, (int, float, np.integer, np.floating)):
        return _is_real(saved) and not isinstance(saved, np.ndarray)
    if isinstance(current, str):
        return isinstance(saved, str)
    if isinstance(current, np.ndarray):
        return _is_real(saved) and np.shape(saved) == current.shape
    if isinstance(current, (list, tuple)):
        if not isinstance(saved, list):
            return False
        if len(saved) == len(current):
            return all(_fits(s, c, depth + 1) for s, c in zip(saved, current))
        return all(_is_real(s) or s is None for s in saved)
    if isinstance(current, dict):
        return isinstance(saved, dict) and all(
            k in current and _fits(v, current[k], depth + 1) for k, v in saved.items()
        )
    return False  # functions and other objects are never replaced from a file


# ------------------------------------------------------------------ applying
def _snapshot(trainer: Trainer) -> dict[str, Any]:
    dropouts = [m for m in trainer.model.modules() if isinstance(m, Dropout)]
    return {
        "model": trainer.model.state_dict(),
        "optimizer": trainer.optimizer.state_dict(),
        "scheduler": trainer.scheduler.state_dict() if trainer.scheduler is not None else None,
        "early_stopping": (
            trainer.early_stopping.state_dict() if trainer.early_stopping is not None else None
        ),
        "loader": trainer.loader.get_state(),
        "dropout_rngs": [m.rng.bit_generator.state for m in dropouts],
        "attributes": {k: getattr(trainer, k) for k in ("history", "epoch", "global_step", "done")},
    }


def _restore(trainer: Trainer, backup: Mapping[str, Any]) -> None:
    trainer.model.load_state_dict(backup["model"])
    trainer.optimizer.load_state_dict(backup["optimizer"])
    if backup["scheduler"] is not None:
        trainer.scheduler.load_state_dict(backup["scheduler"])
    if backup["early_stopping"] is not None and trainer.early_stopping is not None:
        trainer.early_stopping.load_state_dict(backup["early_stopping"])
    trainer.loader.set_state(backup["loader"])
    dropouts = [m for m in trainer.model.modules() if isinstance(m, Dropout)]
    for m, rng_state in zip(dropouts, backup["dropout_rngs"]):
        m.rng.bit_generator.state = rng_state
    for key, value in backup["attributes"].items():
        setattr(trainer, key, value)


def _apply(
    trainer: Trainer,
    meta: Mapping[str, Any],
    model_state: Mapping[str, np.ndarray],
    optim_state: dict[int, dict[str, Any]],
    stage: list[str],
) -> None:
    """Load everything into ``trainer``; ``stage`` names the part being loaded."""
    stage.append("the model's weights")
    trainer.model.load_state_dict(model_state)
    stage.append("the optimizer state")
    trainer.optimizer.load_state_dict({"state": optim_state, "param_groups": meta["param_groups"]})
    stage.append("the scheduler state")
    if meta["scheduler"] is not None:
        trainer.scheduler.load_state_dict(meta["scheduler"])
    stage.append("the early-stopping state")
    if meta["early_stopping"] is not None and trainer.early_stopping is not None:
        trainer.early_stopping.load_state_dict(meta["early_stopping"])
    stage.append("the data loader state ('loader')")
    trainer.loader.set_state(meta["loader"])
    stage.append("the dropout generators ('dropout_rngs')")
    dropouts = [m for m in trainer.model.modules() if isinstance(m, Dropout)]
    for m, rng_state in zip(dropouts, meta["dropout_rngs"]):
        m.rng.bit_generator.state = rng_state
    stage.append("the history")
    trainer.history = History.from_dict(meta["history"])
    trainer.epoch = meta["epoch"]
    trainer.global_step = meta["global_step"]
    trainer.done = trainer.epoch >= trainer.total_epochs
    if trainer.done:
        trainer.history.stop_reason = trainer.history.stop_reason or "completed"
