"""Run one trial: a pure function of its job dict, the same in any process on any machine.

:func:`run_trial` is what every backend calls (in this process, in a pool worker,
or as a Ray task). It returns the trial's record: a dict of JSON values with no
NaN (``None`` and a ``status`` instead), ready for one line of ``trials.jsonl``.
"""

from __future__ import annotations

import math
import os
import socket
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from descentlab.sweep.plan import DataProblem, LandscapeProblem, Problem, problem_from_dict
from descentlab.train.history import finite_or_none

__all__ = ["CURVE_POINTS", "load_bundle", "run_trial", "starts_for"]

#: The most points of a trial's loss curve kept in its record.
CURVE_POINTS = 101

#: Data sets already loaded and split in this process, by (spec, seed).
_BUNDLES: dict[tuple[str, int], Any] = {}


def _downsample(n: int) -> np.ndarray:
    """At most CURVE_POINTS indices of 0..n-1, evenly spread, first and last included."""
    if n <= CURVE_POINTS:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, CURVE_POINTS)).astype(np.int64))


def _curve_values(values: np.ndarray) -> list[float | None]:
    return [finite_or_none(v) for v in values]


def starts_for(problem: LandscapeProblem, landscape: Any, seed: int) -> np.ndarray:
    """The start points of a trial, shape (K, D): drawn from ``seed``, a grid, or given."""
    D = landscape.dim
    if not isinstance(problem.starts, str):
        X = np.asarray(problem.starts, dtype=np.float64)
        if X.shape[1] != D:
            raise ValueError(
                f"starts must have {D} coordinates for {problem.function!r}, got {X.shape[1]}"
            )
        return X
    kind, _, count = problem.starts.partition(":")
    k = int(count)
    bounds = landscape.bounds if landscape.bounds is not None else np.tile([-2.0, 2.0], (D, 1))
    low, high = bounds[:, 0], bounds[:, 1]
    if kind == "random":
        rng = np.random.default_rng([seed, 1])
        return np.asarray(rng.uniform(low, high, size=(k, D)), dtype=np.float64)
    if k**D > 1000:
        raise ValueError(f"starts 'grid:{k}' in {D} dimensions is {k**D} points; at most 1000")
    axes = [np.linspace(lo, hi, k + 2)[1:-1] for lo, hi in zip(low, high)]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1)


def _landscape_target(problem: LandscapeProblem, landscape: Any) -> float | None:
    if problem.target is not None:
        return float(problem.target)
    values = landscape.minimum_values
    if len(values) and np.all(np.isfinite(values)):
        return float(np.min(values)) + 1e-3
    return None


def _run_landscape(
    problem: LandscapeProblem, job: Mapping[str, Any], budget: int
) -> dict[str, Any]:
    from descentlab import landscapes
    from descentlab.landscapes.minimize import minimize

    kwargs = {"dim": problem.dim} if problem.dim else {}
    f = landscapes.get(problem.function, **kwargs)
    X0 = starts_for(problem, f, job["seed"])
    overrides = job["arm"].get("problem", {})
    hyperparameters = dict(job["hyperparameters"])
    if "lr" not in hyperparameters:  # what minimize would use: the landscape's lr for SGD
        from descentlab.optim import REGISTRY, SGD

        if REGISTRY[job["arm"]["optimizer"]].cls is SGD:
            hyperparameters["lr"] = f.lr
    res = minimize(
        f,
        X0,
        optimizer=job["arm"]["optimizer"],
        steps=budget,
        tol=problem.tol,
        batch_size=overrides.get("batch_size", problem.batch_size),
        grad_noise=overrides.get("grad_noise", problem.grad_noise),
        seed=job["seed"],
        record=True,
        **hyperparameters,
    )
    status = np.asarray(res.status).reshape(-1)
    values = np.asarray(res.trajectory.values, dtype=np.float64).reshape(len(res.trajectory), -1)
    with np.errstate(all="ignore"):
        curve = values.mean(axis=1)
    finite = curve[np.isfinite(curve)]
    target = _landscape_target(problem, f)
    reached = np.flatnonzero(curve <= target) if target is not None else np.zeros(0, np.int64)
    if (status == "diverged").any():
        verdict, final = "diverged", None
    elif (status == "converged").all():
        verdict, final = "converged", finite_or_none(np.mean(res.fun))
    else:
        verdict, final = "max_steps", finite_or_none(np.mean(res.fun))
    idx = _downsample(len(curve))
    return {
        "used": hyperparameters,
        "status": verdict,
        "final_loss": final,
        "best_loss": finite_or_none(finite.min()) if finite.size else None,
        "target": target,
        "steps_to_target": int(reached[0]) if reached.size else None,
        "steps": int(np.max(res.nit)),
        "starts": int(X0.shape[0]),
        "converged_starts": int((status == "converged").sum()),
        "diverged_starts": int((status == "diverged").sum()),
        "curve": {"step": idx.tolist(), "loss": _curve_values(curve[idx])},
    }


def load_bundle(spec: str, seed: int) -> Any:
    """The data set ``spec`` split with ``seed``, loaded once per process."""
    key = (spec, seed)
    if key not in _BUNDLES:
        from descentlab import data

        _BUNDLES.clear()  # keep one data set, not every one a process has ever seen
        _BUNDLES[key] = data.load(spec, seed=seed)
    return _BUNDLES[key]


def _run_data(problem: DataProblem, job: Mapping[str, Any], budget: int) -> dict[str, Any]:
    from descentlab import nn
    from descentlab.nn import init
    from descentlab.train import evaluate, fit

    overrides = job["arm"].get("problem", {})
    dropout = overrides.get("dropout", problem.dropout)
    l1, l2 = overrides.get("l1", problem.l1), overrides.get("l2", problem.l2)
    batch_size = overrides.get("batch_size", problem.batch_size)
    bundle = load_bundle(problem.data, job["data_seed"])
    classification = bundle.kind == "classification"
    outputs = bundle.num_classes if classification else bundle.train[1].shape[1]
    saved = init.generator()
    init.manual_seed(job["seed"])
    try:
        model = nn.MLP(
            [bundle.num_features, *problem.hidden, outputs],
            activation=problem.activation,
            dropout=dropout,
        )
    finally:
        init._generator = saved
    regularizer = nn.penalty(l1, l2)
    loss = "cross_entropy" if classification else "mse"
    history = fit(
        model,
        bundle.train,
        bundle.val,
        loss=loss,
        optimizer={"name": job["arm"]["optimizer"], **job["hyperparameters"]},
        epochs=budget,
        batch_size=batch_size,
        regularizer=regularizer,
        seed=job["seed"],
        progress=False,
    )
    n_train = len(bundle.train[0])
    per_epoch = math.ceil(n_train / batch_size)
    val_loss = np.array([e.get("val_loss", np.nan) for e in history.epochs], dtype=np.float64)
    train_loss = np.array([e.get("train_loss", np.nan) for e in history.epochs], dtype=np.float64)
    val_acc = [e.get("val_accuracy") for e in history.epochs]
    diverged = history.status != "ok"
    target = problem.target
    steps_to_target = None
    if target is not None and classification:
        for i, acc in enumerate(val_acc):
            if acc is not None and acc >= target:
                steps_to_target = (i + 1) * per_epoch
                break
    test = evaluate(model, bundle.test, loss=loss, confusion=False) if bundle.test else {}
    finite = val_loss[np.isfinite(val_loss)]
    epochs = np.arange(1, len(val_loss) + 1)
    idx = _downsample(len(epochs))
    return {
        "status": "diverged" if diverged else "finished",
        "final_loss": None if diverged or not val_loss.size else finite_or_none(val_loss[-1]),
        "best_loss": finite_or_none(finite.min()) if finite.size else None,
        "target": target,
        "steps_to_target": steps_to_target,
        "steps": len(history.epochs) * per_epoch,
        "epochs": len(history.epochs),
        "train_loss": None if diverged or not train_loss.size else finite_or_none(train_loss[-1]),
        "val_accuracy": None if diverged or not val_acc else finite_or_none(val_acc[-1]),
        "test_accuracy": None if diverged else finite_or_none(test.get("accuracy")),
        "test_loss": None if diverged else finite_or_none(test.get("loss")),
        "stop_reason": history.stop_reason,
        "curve": {
            "step": (epochs[idx] * per_epoch).tolist(),
            "epoch": epochs[idx].tolist(),
            "loss": _curve_values(val_loss[idx]),
            "train_loss": _curve_values(train_loss[idx]),
            "val_accuracy": [finite_or_none(val_acc[i]) for i in idx],
        },
    }


def run_trial(job: Mapping[str, Any], budget: int | None = None) -> dict[str, Any]:
    """Run the trial ``job`` (``Trial.to_job()``) for ``budget`` steps or epochs
    (default: the problem's full budget) and return its record."""
    problem: Problem = problem_from_dict(job["problem"])
    full = problem.budget
    budget = full if budget is None else int(budget)
    if isinstance(problem, DataProblem):
        load_bundle(problem.data, job["data_seed"])  # loading is not the optimizer's time
    started = time.perf_counter()
    with np.errstate(all="ignore"):
        if isinstance(problem, LandscapeProblem):
            result = _run_landscape(problem, job, budget)
        else:
            result = _run_data(problem, job, budget)
    used = result.pop("used", job["hyperparameters"])
    every = _all_hyperparameters(job["arm"]["optimizer"], used)
    if budget < full and result["status"] != "diverged":
        result["status"] = "partial"
    return {
        "key": job["key"],
        "problem": problem.name,
        "kind": problem.kind,
        "arm": job["arm"]["label"],
        "optimizer": job["arm"]["optimizer"],
        "hyperparameters": every,
        "lr": every.get("lr"),
        "seed": job["seed"],
        "replicate": job["replicate"],
        "budget": budget,
        **result,
        "wall_time_s": time.perf_counter() - started,
        "worker": {"host": socket.gethostname(), "pid": os.getpid()},
    }


def _all_hyperparameters(optimizer: str, given: Mapping[str, Any]) -> dict[str, Any]:
    """Every hyperparameter of the trial's optimizer: the swept and fixed ones, and the
    defaults of the rest (JSON values only)."""
    from descentlab.optim import REGISTRY

    spec = REGISTRY[optimizer]
    out: dict[str, Any] = {}
    for name, hp in spec.hyperparameters.items():
        if not hp.in_ui:
            continue
        value = given.get(name, hp.default)
        if isinstance(value, (bool, int, float, str)) or value is None:
            out[name] = value
    for name, value in given.items():
        out[name] = value
    return out
