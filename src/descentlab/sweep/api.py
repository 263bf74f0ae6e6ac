"""``descentlab.sweep(...)``: an honest optimizer comparison in one call."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from descentlab.sweep.backends import Backend, TrialError, make_backend
from descentlab.sweep.plan import (
    Arm,
    LandscapeProblem,
    Plan,
    Trial,
    coerce_arms,
    coerce_problems,
)
from descentlab.sweep.scheduler import ASHA, execute
from descentlab.sweep.store import RUNGS, TRIALS, SweepStore
from descentlab.sweep.summary import summarize

__all__ = ["DEFAULT_GRID", "SweepResult", "sweep"]

#: The learning-rate grid when none is given: 9 values, log-spaced from 1e-4 to 1.
DEFAULT_GRID: dict[str, Any] = {"lr": (1e-4, 1.0, 9)}

#: Columns of :meth:`SweepResult.to_pandas` (the curve stays out of the table).
COLUMNS = (
    "problem",
    "arm",
    "optimizer",
    "lr",
    "seed",
    "replicate",
    "status",
    "final_loss",
    "best_loss",
    "steps_to_target",
    "steps",
    "val_accuracy",
    "test_accuracy",
    "wall_time_s",
)


class SweepResult(Sequence[dict[str, Any]]):
    """The records of a sweep (one dict per trial) and its summary.

    A sequence of records; ``to_pandas()`` makes a DataFrame (one row per trial,
    hyperparameters as columns) when pandas is installed; ``best()`` gives each
    optimizer's chosen setting; ``failures`` lists trials that raised.
    """

    def __init__(
        self,
        plan: Plan,
        records: list[dict[str, Any]],
        summary: dict[str, Any],
        out: Path | None,
        failures: list[tuple[str, str]],
        report: Path | None = None,
    ) -> None:
        self.plan = plan
        self.records = records
        self.summary = summary
        self.out = out
        self.failures = failures
        self.report = report

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: Any) -> Any:
        return self.records[i]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.records)

    def best(self, problem: str | None = None) -> dict[str, dict[str, Any] | None]:
        """``{arm: best swept hyperparameters}`` on ``problem`` (default: the first)."""
        problems = self.summary["problems"]
        entry = (
            problems[0] if problem is None else next(p for p in problems if p["name"] == problem)
        )
        return {
            a["arm"]: (a["best"]["hyperparameters"] if a["best"] else None)
            for a in entry["optimizers"]
        }

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per trial: the columns and every hyperparameter (``hp_<name>``)."""
        out = []
        for r in self.records:
            row = {c: r.get(c) for c in COLUMNS}
            for name, value in (r.get("hyperparameters") or {}).items():
                row[f"hp_{name}"] = value
            out.append(row)
        return out

    def to_pandas(self) -> Any:
        """The rows as a pandas DataFrame (needs pandas)."""
        import pandas as pd

        return pd.DataFrame(self.rows())

    def table(self) -> str:
        """Each problem's optimizers, best first, as plain text."""
        lines = []
        for p in self.summary["problems"]:
            lines.append(f"{p['name']}  (chosen on the {p['selection']}; mean ± std over seeds)")
            order = {name: i for i, name in enumerate(p["ranking"])}
            arms = sorted(p["optimizers"], key=lambda a: order.get(a["arm"], len(order)))
            for a in arms:
                best = a["best"]
                div = f"{a['diverged_fraction']:.0%} of grid diverged"
                if best is None:
                    lines.append(f"  {a['arm']:<18} no setting finished every seed; {div}")
                    continue
                loss = best["final_loss"]
                text = f"  {a['arm']:<18} {_setting(best['hyperparameters'])}"
                text += f"  loss {loss['mean']:.4g} ± {loss['std']:.2g}"
                if best["test_accuracy"]:
                    acc = best["test_accuracy"]
                    text += f"  test acc {acc['mean']:.4f} ± {acc['std']:.4f}"
                if best["steps_to_target"]:
                    s = best["steps_to_target"]
                    text += (
                        f"  {s['mean']:.0f} steps to target ({best['reached_target']}/{best['of']})"
                    )
                lines.append(text + f"  {div}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        where = f", out={str(self.out)!r}" if self.out else ""
        return f"SweepResult({len(self.records)} trials{where})"


def _setting(hps: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in hps.items())


def _plan(
    problem: Any,
    suite: str | None,
    optimizers: Any,
    grid: Mapping[str, Any] | None,
    seeds: int,
    seed: int,
    search: str,
    options: Mapping[str, Any],
) -> Plan:
    if suite is not None:
        if problem is not None:
            raise ValueError("give a problem or a suite, not both")
        from descentlab.sweep.suites import get_suite

        plan = get_suite(suite, seed=seed)
        if options:
            plan = plan.with_budget(**options)
        return plan
    if problem is None:
        raise ValueError("a sweep needs a problem (a landscape, formula or data set) or a suite")
    arms: tuple[Arm, ...] = coerce_arms(optimizers)
    return Plan(
        problems=coerce_problems(problem, **options),
        arms=arms,
        grid=dict(DEFAULT_GRID if grid is None else grid),
        seeds=seeds,
        seed=seed,
        search=search,
    )


def _check_problems(plan: Plan) -> None:
    """Build every problem once here, so that a typo in a formula or a missing data file is
    one clear error before any work, and a data set is downloaded once, not by each worker."""
    from descentlab import landscapes
    from descentlab.sweep.trial import load_bundle, starts_for

    for problem in plan.problems:
        if isinstance(problem, LandscapeProblem):
            kwargs = {"dim": problem.dim} if problem.dim else {}
            f = landscapes.get(problem.function, **kwargs)
            starts_for(problem, f, 0)
        else:
            load_bundle(problem.data, plan.data_seed(problem))


def sweep(
    problem: Any = None,
    optimizers: Any = ("sgd", "momentum", "adam"),
    grid: Mapping[str, Any] | None = None,
    seeds: int = 3,
    *,
    seed: int = 0,
    search: str = "grid",
    suite: str | None = None,
    backend: str | Backend = "local",
    workers: int | None = None,
    address: str | None = None,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    early_stop: str | None = None,
    eta: int = 3,
    report: bool = True,
    on_record: Callable[[dict[str, Any]], None] | None = None,
    on_start: Callable[[int, int, str], None] | None = None,
    on_error: Callable[[str, str], None] | None = None,
    **problem_options: Any,
) -> SweepResult:
    """Compare optimizers fairly: each tuned on its own grid, each setting over seeds.

    Args:
        problem: a landscape name or formula (runs of ``minimize``), a data set name
            (runs of ``fit``; ``"digits"``, ``"mnist"``, ...), a ``LandscapeProblem`` /
            ``DataProblem``, or a list of them.
        optimizers: names (``"sgd,adam"`` or a list), dicts
            ``{"optimizer": "sgd", "label": "sgd+noise", "fixed": {...}, "problem": {...}}``
            or :class:`Arm` objects.
        grid: ``{name: values}``; values are a list, ``"a,b,c"``, or ``"LOW:HIGH:N"`` /
            ``(LOW, HIGH, N)`` for N log-spaced values. Default: ``lr`` 1e-4 to 1 in 9 steps.
            A hyperparameter applies to the optimizers that have it.
        seeds: replicates of every setting.
        seed: the sweep's seed; a trial's random numbers come from (seed, problem,
            replicate) only, so results do not depend on the backend or on order.
        search: ``"grid"`` or ``"random:N"`` (N settings per optimizer, log-uniform
            for log-scale hyperparameters such as ``lr``).
        suite: a built-in comparison instead of a problem (``"lecture"``).
        backend: ``"local"`` (a process pool over all cores), ``"serial"`` or ``"ray"``.
        workers: processes for ``"local"`` (default: every core).
        address: the Ray cluster (``"auto"``, ``"HOST:PORT"``; default: a local runtime).
        out: a folder for ``sweep.json``, ``trials.jsonl``, ``summary.json`` and
            ``report.html``; each finished trial is appended as it finishes.
        resume: run only the trials ``out`` does not hold yet.
        early_stop: ``"asha"`` to stop hopeless settings early (``eta`` its factor).
        report: write ``report.html`` beside the summary.
        on_record: called with each final record as it arrives.
        on_start: called once with (trials to run, trials already done, backend).
        on_error: called with (trial key, message) when a trial raises (it is not saved,
            so a resume runs it again).
        **problem_options: fields of the problem (``steps``, ``tol``, ``starts``,
            ``target``, ``dim``, ``grad_noise``, ``batch_size``; ``epochs``,
            ``hidden``, ``dropout``, ``l1``, ``l2``, ``activation``).

    Returns:
        a :class:`SweepResult`: the records (one per trial) and the summary.
    """
    store = SweepStore(out) if out is not None else None
    manifest = store.read_manifest() if store is not None else None
    if resume and store is None:
        raise ValueError("resume needs out= (the folder of the sweep to finish)")
    if resume and manifest is None:
        raise ValueError(f"{out} holds no sweep to resume (no sweep.json)")
    if resume and manifest is not None and problem is None and suite is None:
        plan = Plan.from_dict(manifest["plan"])  # the folder alone: its own settings
        early_stop = manifest.get("early_stop")
        eta = int(manifest.get("eta") or eta)
    else:
        plan = _plan(problem, suite, optimizers, grid, seeds, seed, search, problem_options)
    if early_stop not in (None, "asha"):
        raise ValueError(f"early_stop must be None or 'asha', got {early_stop!r}")

    trials: list[Trial] = plan.trials()
    keys = {t.key for t in trials}
    done: dict[str, dict[str, Any]] = {}
    rung_records: list[dict[str, Any]] = []
    if store is not None:
        if manifest is not None and not resume:
            raise ValueError(
                f"{out} already holds a sweep; pass resume (--resume) to finish it or choose "
                "another folder"
            )
        if manifest is not None:
            if (
                manifest["plan"] != plan.to_dict()
                or manifest.get("early_stop") != early_stop
                or (early_stop is not None and manifest.get("eta") != eta)
            ):
                raise ValueError(
                    f"the sweep in {out} was started with other settings; resume it with the "
                    "same ones (or with none: --resume --out DIR)"
                )
            store.repair(TRIALS)
            store.repair(RUNGS)
            done = {r["key"]: r for r in store.records(TRIALS) if r["key"] in keys}
            rung_records = [r for r in store.records(RUNGS) if r["key"] in keys]

    failures: list[tuple[str, str]] = []

    def failed(trial: Trial, err: TrialError) -> None:
        failures.append((trial.key, str(err)))
        if on_error is not None:
            on_error(trial.key, str(err))

    _check_problems(plan)
    remaining = [t for t in trials if t.key not in done]
    asha = (
        ASHA(trials, eta=eta, done=done, rung_records=rung_records)
        if early_stop == "asha"
        else None
    )
    new: list[dict[str, Any]] = []
    if remaining:
        options = {"workers": workers, "address": address}
        with make_backend(backend, **{k: v for k, v in options.items() if v is not None}) as engine:
            if store is not None and manifest is None:  # only once the backend is up
                store.write_manifest(
                    {"version": 1, "plan": plan.to_dict(), "early_stop": early_stop, "eta": eta}
                )
            if on_start is not None:
                on_start(len(remaining), len(done), engine.describe())
            new = execute(
                remaining if asha is None else trials,
                engine,
                store,
                done=done,
                early_stop=asha,
                on_record=on_record,
                on_error=failed,
            )
    elif on_start is not None:
        on_start(0, len(done), "none")
    order = {t.key: i for i, t in enumerate(trials)}
    records = sorted([*done.values(), *new], key=lambda r: order.get(r["key"], len(order)))
    summary = summarize(plan, records)
    summary["failures"] = [{"key": k, "error": e} for k, e in failures]
    written = None
    if store is not None:
        store.write_json("summary.json", summary)
        if report:
            from descentlab.sweep.report import write_report

            written = write_report(summary, store.folder / "report.html")
    return SweepResult(
        plan, records, summary, None if store is None else store.folder, failures, written
    )
