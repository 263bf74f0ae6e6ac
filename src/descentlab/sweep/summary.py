"""From trial records to the answer: each optimizer's best setting with error bars.

The protocol of DeepOBS (Schneider et al. 2019): every optimizer is tuned on its
own grid; a setting's score is its loss averaged over seeds (the final validation
loss for a data set, the final loss for a landscape); a setting with a diverged,
failed or pruned seed cannot be chosen. At the best setting the summary gives the
mean and standard deviation over seeds, the steps (and estimated seconds) to the
target, and the loss curves; across the grid, the fraction that diverged and the
sensitivity to the learning rate. Across problems, the performance profile of
Dolan and More (2002) on steps to target.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from descentlab.sweep.plan import Plan

__all__ = ["performance_profile", "setting_key", "summarize"]


def setting_key(record: Mapping[str, Any]) -> str:
    """A trial's key without its seed: the setting it belongs to."""
    return str(record["key"]).rsplit("|seed", 1)[0]


def _stats(values: Sequence[float | None]) -> dict[str, Any] | None:
    finite = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    if not finite:
        return None
    arr = np.asarray(finite)
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        "min": float(arr.min()),
        "max": float(arr.max()),
        "n": int(arr.size),
        "values": finite,
    }


def _score(records: Sequence[Mapping[str, Any]], seeds: int) -> float:
    if len(records) < seeds:
        return math.inf
    losses = []
    for r in records:
        if r.get("status") in ("diverged", "pruned", "failed") or r.get("final_loss") is None:
            return math.inf
        losses.append(float(r["final_loss"]))
    return float(np.mean(losses))


def _arm_summary(
    arm_label: str, optimizer: str, records: Sequence[Mapping[str, Any]], seeds: int, unit: str
) -> dict[str, Any]:
    by_setting: dict[str, list[Mapping[str, Any]]] = {}
    for r in records:
        by_setting.setdefault(setting_key(r), []).append(r)
    settings = []
    for key, group in by_setting.items():
        group.sort(key=lambda r: r.get("replicate", 0))
        stats = _stats([r.get("final_loss") for r in group])
        settings.append(
            {
                "key": key,
                "hyperparameters": _swept(group[0]),
                "lr": group[0].get("lr"),
                "score": _score(group, seeds),
                "final_loss": stats,
                "n": len(group),
                "diverged": sum(r.get("status") == "diverged" for r in group),
                "pruned": sum(r.get("status") == "pruned" for r in group),
            }
        )
    settings.sort(key=lambda s: (s["lr"] is None, s["lr"] or 0.0, s["key"]))
    n = len(records)
    out: dict[str, Any] = {
        "arm": arm_label,
        "optimizer": optimizer,
        "settings": len(settings),
        "trials": n,
        "diverged_fraction": sum(r.get("status") == "diverged" for r in records) / n if n else 0,
        "pruned_fraction": sum(r.get("status") == "pruned" for r in records) / n if n else 0,
        "sensitivity": _sensitivity(settings),
        "best": None,
    }
    finite = [s for s in settings if math.isfinite(s["score"])]
    if finite:
        best = min(finite, key=lambda s: s["score"])
        group = by_setting[best["key"]]
        steps = [r.get("steps_to_target") for r in group]
        reached = [s for s in steps if s is not None]
        times = [
            float(r["wall_time_s"]) * r["steps_to_target"] / max(1, int(r.get("steps") or 1))
            for r in group
            if r.get("steps_to_target") is not None and r.get("wall_time_s") is not None
        ]
        out["best"] = {
            "key": best["key"],
            "hyperparameters": best["hyperparameters"],
            "all_hyperparameters": group[0].get("hyperparameters"),
            "lr": best["lr"],
            "score": best["score"],
            "final_loss": _stats([r.get("final_loss") for r in group]),
            "best_loss": _stats([r.get("best_loss") for r in group]),
            "test_accuracy": _stats([r.get("test_accuracy") for r in group]),
            "val_accuracy": _stats([r.get("val_accuracy") for r in group]),
            "steps_to_target": _stats([float(s) for s in reached]),
            "reached_target": len(reached),
            "of": len(group),
            "time_to_target_s": _stats(times),
            "wall_time_s": _stats([r.get("wall_time_s") for r in group]),
            "unit": unit,
            "curves": [
                {"seed": r.get("seed"), "replicate": r.get("replicate"), **(r.get("curve") or {})}
                for r in group
            ],
        }
    return out


def _swept(record: Mapping[str, Any]) -> dict[str, Any]:
    """The hyperparameters named in the trial's key (the swept and fixed ones)."""
    text = str(record["key"]).split("|")[2] if str(record["key"]).count("|") >= 3 else ""
    names = [part.split("=", 1)[0] for part in text.split(",") if "=" in part]
    every = record.get("hyperparameters") or {}
    return {name: every.get(name) for name in names}


def _sensitivity(settings: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per learning rate, the best setting of the other swept values (the loss-vs-lr line)."""
    by_lr: dict[Any, dict[str, Any]] = {}
    for s in settings:
        lr = s["lr"]
        current = by_lr.get(lr)
        if current is None or _better(s, current):
            by_lr[lr] = s
    out = []
    for lr in sorted(by_lr, key=lambda v: (v is None, v or 0.0)):
        s = by_lr[lr]
        stats = s["final_loss"] or {}
        out.append(
            {
                "lr": lr,
                "hyperparameters": s["hyperparameters"],
                "mean": stats.get("mean"),
                "std": stats.get("std"),
                "min": stats.get("min"),
                "max": stats.get("max"),
                "n": s["n"],
                "diverged": s["diverged"],
                "pruned": s["pruned"],
                "score": s["score"] if math.isfinite(s["score"]) else None,
            }
        )
    return out


def _better(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    if math.isfinite(a["score"]) or math.isfinite(b["score"]):
        return bool(a["score"] < b["score"])
    am = (a["final_loss"] or {}).get("mean", math.inf)
    bm = (b["final_loss"] or {}).get("mean", math.inf)
    return bool(am < bm)


def performance_profile(
    times: Mapping[str, Mapping[str, float | None]], taus: Iterable[float] | None = None
) -> dict[str, Any]:
    """Dolan-More profiles: ``times[problem][method]`` (None: never reached the target).

    rho_s(tau) is the fraction of problems on which method s is within a factor tau
    of the fastest method; rho_s(1) is how often s is fastest.

    >>> p = performance_profile({"a": {"x": 10, "y": 20}, "b": {"x": 30, "y": 15}})
    >>> p["rho"]["x"][0], p["rho"]["y"][0], p["rho"]["x"][-1]
    (0.5, 0.5, 1.0)
    """
    methods = sorted({m for row in times.values() for m in row})
    ratios: dict[str, list[float]] = {m: [] for m in methods}
    for row in times.values():
        finite = [float(t) for t in row.values() if t is not None and math.isfinite(float(t))]
        best = min(finite) if finite else None
        for m in methods:
            t = row.get(m)
            if best is None or t is None or not math.isfinite(float(t)):
                ratios[m].append(math.inf)
            else:  # a target met at the start counts as one step, not as a tie of everyone
                ratios[m].append(max(float(t), 1.0) / max(best, 1.0))
    finite_r = [r for rs in ratios.values() for r in rs if math.isfinite(r)]
    top = max(finite_r + [1.0])
    if taus is None:
        taus = np.unique(np.concatenate([[1.0], np.geomspace(1.0, max(2.0, top * 1.05), 60)]))
    tau_list = [float(t) for t in taus]
    count = max(1, len(times))
    rho = {m: [sum(r <= t for r in ratios[m]) / count for t in tau_list] for m in methods}
    return {
        "tau": tau_list,
        "rho": rho,
        "ratios": {m: [r if math.isfinite(r) else None for r in rs] for m, rs in ratios.items()},
        "problems": list(times),
        "times": {p: dict(row) for p, row in times.items()},
    }


def summarize(plan: Plan, records: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The summary of a sweep (the content of ``summary.json``)."""
    records = [dict(r) for r in records]
    problems = []
    times: dict[str, dict[str, float | None]] = {}
    total = len(plan.trials())
    for problem in plan.problems:
        mine = [r for r in records if r.get("problem") == problem.name]
        arms = []
        for arm in plan.arms_for(problem):
            rs = [r for r in mine if r.get("arm") == arm.label]
            if rs:
                arms.append(_arm_summary(arm.label, arm.optimizer, rs, plan.seeds, problem.unit))
        ranked = sorted(
            (a for a in arms if a["best"] is not None), key=lambda a: a["best"]["score"]
        )
        targets = {r.get("target") for r in mine if r.get("target") is not None}
        problems.append(
            {
                "name": problem.name,
                "kind": problem.kind,
                "problem": problem.to_dict(),
                "selection": "final validation loss"
                if problem.kind == "data"
                else "final loss (mean over starts)",
                "unit": problem.unit,
                "target": targets.pop() if len(targets) == 1 else None,
                "optimizers": arms,
                "ranking": [a["arm"] for a in ranked],
            }
        )
        row: dict[str, float | None] = {}
        for a in arms:
            best = a["best"]
            ok = best is not None and best["reached_target"] == best["of"] and best["of"] > 0
            row[a["arm"]] = best["steps_to_target"]["mean"] if ok else None
        if row and any(r.get("target") is not None for r in mine):
            times[problem.name] = row
    # a profile compares optimizers on the problems they all ran: one per set of optimizers
    groups: dict[tuple[str, ...], dict[str, dict[str, float | None]]] = {}
    for name, row in times.items():
        groups.setdefault(tuple(sorted(row)), {})[name] = row
    # a profile is across several problems; one problem's answer is its table
    profiles = [performance_profile(g) for g in groups.values() if len(g) >= 2]
    profiles.sort(key=lambda prof: -len(prof["problems"]))
    return {
        "version": 1,
        "plan": plan.to_dict(),
        "trials": {
            "total": total,
            "done": len(records),
            "diverged": sum(r.get("status") == "diverged" for r in records),
            "pruned": sum(r.get("status") == "pruned" for r in records),
        },
        "problems": problems,
        "profile": profiles[0] if profiles else None,
        "profiles": profiles,
    }
