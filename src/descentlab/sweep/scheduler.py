"""Feed trials to a backend and write each record as it comes back.

Two sources of jobs: every trial at its full budget (the default), or
asynchronous successive halving (ASHA; Li et al. 2018, "A system for massively
parallel hyperparameter tuning"): trials start at a small budget r; whenever a
worker is free, a trial in the top 1/eta of those finished at a rung is promoted
to eta times the budget, otherwise a new trial starts. No worker waits for a rung
to fill. Trials compete only with the other settings of the same optimizer on
the same problem and seed, so every optimizer keeps its own tuning. A trial that
is never promoted is recorded as ``pruned`` with the budget it reached.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from descentlab.sweep.backends import Backend, TrialError
from descentlab.sweep.plan import Trial
from descentlab.sweep.store import RUNGS, TRIALS, SweepStore

__all__ = ["ASHA", "Job", "execute"]

Progress = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Job:
    trial: Trial
    budget: int | None
    rung: int | None = None


def _loss(record: Mapping[str, Any]) -> float:
    """What ranks trials: the final loss (a diverged trial ranks last)."""
    value = record.get("final_loss")
    if record.get("status") == "diverged" or value is None:
        return math.inf
    return float(value)


def rung_budgets(full: int, eta: int, rungs: int | None = None) -> list[int]:
    """Budgets of the rungs, smallest first, the last one ``full``.

    >>> rung_budgets(500, 3)
    [55, 166, 500]
    >>> rung_budgets(10, 3)
    [1, 3, 10]
    """
    if rungs is None:
        rungs = 3
    out = sorted({max(1, int(full / eta ** (rungs - 1 - k))) for k in range(rungs)})
    out[-1] = full
    return out


class ASHA:
    """The job source of asynchronous successive halving over ``trials``."""

    def __init__(
        self,
        trials: Iterable[Trial],
        *,
        eta: int = 3,
        rungs: int = 3,
        done: Mapping[str, Mapping[str, Any]] | None = None,
        rung_records: Iterable[Mapping[str, Any]] = (),
    ) -> None:
        if isinstance(eta, bool) or not isinstance(eta, int) or eta < 2:
            raise ValueError(f"eta must be an integer >= 2, got {eta!r}")
        if isinstance(rungs, bool) or not isinstance(rungs, int) or not 2 <= rungs <= 10:
            raise ValueError(f"rungs must be an integer from 2 to 10, got {rungs!r}")
        self.eta = eta
        self.trials = {t.key: t for t in trials}
        self.budgets = {
            key: rung_budgets(t.problem.budget, eta, rungs) for key, t in self.trials.items()
        }
        done = dict(done or {})
        self.final = set(done)
        #: group -> rung -> {key: loss}
        self.results: dict[tuple[str, str, int], dict[int, dict[str, float]]] = {}
        self.records: dict[tuple[str, int], dict[str, Any]] = {}
        self.promoted: set[tuple[str, int]] = set()
        for rec in rung_records:
            key, rung = rec.get("key"), rec.get("rung")
            if key in self.trials and isinstance(rung, int):
                self._note(self.trials[key], rung, dict(rec))
                if rung > 0:
                    self.promoted.add((key, rung - 1))
        for key, rec in done.items():
            if key in self.trials and rec.get("status") != "pruned":
                top = len(self.budgets[key]) - 1
                for rung in range(top):
                    self.promoted.add((key, rung))
        started = {key for key, _rung in self.records} | self.final
        self.fresh = [t for key, t in self.trials.items() if key not in started]
        self.running: set[str] = set()

    @staticmethod
    def group(trial: Trial) -> tuple[str, str, int]:
        return (trial.problem.name, trial.arm.label, trial.replicate)

    def _note(self, trial: Trial, rung: int, record: dict[str, Any]) -> None:
        rungs = self.results.setdefault(self.group(trial), {})
        rungs.setdefault(rung, {})[trial.key] = _loss(record)
        self.records[(trial.key, rung)] = record

    def _promotable(self) -> Job | None:
        for rungs in self.results.values():
            for rung in sorted(rungs, reverse=True):
                scores = rungs[rung]
                keep = len(scores) // self.eta
                if keep == 0:
                    continue
                ranked = sorted(scores, key=lambda k: (scores[k], k))[:keep]
                for key in ranked:
                    top = len(self.budgets[key]) - 1
                    if rung >= top or (key, rung) in self.promoted or key in self.running:
                        continue
                    if not math.isfinite(scores[key]):
                        continue
                    self.promoted.add((key, rung))
                    return Job(self.trials[key], self.budgets[key][rung + 1], rung + 1)
        return None

    def next(self) -> Job | None:
        job = self._promotable()
        if job is None and self.fresh:
            trial = self.fresh.pop(0)
            job = Job(trial, self.budgets[trial.key][0], 0)
        if job is not None:
            self.running.add(job.trial.key)
        return job

    def finished(self, job: Job, record: dict[str, Any]) -> bool:
        """Note a finished job; True when its record is the trial's final one."""
        self.running.discard(job.trial.key)
        assert job.rung is not None
        record["rung"] = job.rung
        if job.rung == len(self.budgets[job.trial.key]) - 1:
            self.final.add(job.trial.key)
            return True
        self._note(job.trial, job.rung, record)
        return False

    def failed(self, job: Job) -> None:
        self.running.discard(job.trial.key)

    def pruned(self) -> list[dict[str, Any]]:
        """Final records of the trials never promoted past their last rung (at the end)."""
        out = []
        best: dict[str, int] = {}
        for key, rung in self.records:
            if key not in self.final:
                best[key] = max(best.get(key, -1), rung)
        for key, rung in best.items():
            if (key, rung) in self.promoted:
                continue  # promoted but not finished: interrupted, not pruned
            record = dict(self.records[(key, rung)])
            if record.get("status") != "diverged":
                record["status"] = "pruned"
            out.append(record)
        return out


def execute(
    trials: list[Trial],
    backend: Backend,
    store: SweepStore | None,
    *,
    done: Mapping[str, Mapping[str, Any]] | None = None,
    early_stop: ASHA | None = None,
    on_record: Progress | None = None,
    on_error: Callable[[Trial, TrialError], None] | None = None,
) -> list[dict[str, Any]]:
    """Run ``trials`` (skipping those in ``done``) on ``backend``; write and return records.

    Each final record is appended to ``trials.jsonl`` the moment it arrives; with
    early stopping each rung's record goes to ``rungs.jsonl`` first. A trial that
    raises is reported to ``on_error`` and not written, so ``--resume`` retries it.
    """
    done = dict(done or {})
    records: list[dict[str, Any]] = []
    in_flight: dict[int, Job] = {}
    if early_stop is None:
        pending = [Job(t, None) for t in trials if t.key not in done]
        capacity = 2 * backend.workers
    else:
        capacity = backend.workers

    def next_job() -> Job | None:
        if early_stop is not None:
            return early_stop.next()
        return pending.pop(0) if pending else None

    def submit() -> None:
        while len(in_flight) < capacity:
            job = next_job()
            if job is None:
                return
            in_flight[backend.submit(job.trial.to_job(), job.budget)] = job

    submit()
    while in_flight:
        for ticket, outcome in backend.wait(timeout=0.5):
            job = in_flight.pop(ticket)
            if isinstance(outcome, TrialError):
                if early_stop is not None:
                    early_stop.failed(job)
                if on_error is not None:
                    on_error(job.trial, outcome)
                continue
            final = True
            if early_stop is not None:
                final = early_stop.finished(job, outcome)
            if store is not None:
                store.append(outcome, TRIALS if final else RUNGS)
            if final:
                records.append(outcome)
                if on_record is not None:
                    on_record(outcome)
        submit()
    if early_stop is not None:
        for record in early_stop.pruned():
            if store is not None:
                store.append(record, TRIALS)
            records.append(record)
            if on_record is not None:
                on_record(record)
    return records
