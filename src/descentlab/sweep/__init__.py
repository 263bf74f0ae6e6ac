"""Fair optimizer comparisons: sweeps over optimizers, hyperparameters and seeds.

``descentlab.sweep(problem, optimizers=..., grid=..., seeds=...)`` tunes every
optimizer on its own grid, runs every setting over several seeds, writes each
finished trial to ``trials.jsonl`` as it finishes, and summarizes (best setting
per optimizer with error bars, learning-rate sensitivity, steps to target,
performance profiles) into ``summary.json`` and a self-contained ``report.html``.
Trials run in this process, in a pool of local processes, or on a Ray cluster.

This module is also callable: ``descentlab.sweep(...)`` is :func:`sweep`.
"""

from __future__ import annotations

import sys
import types
from typing import Any

from descentlab.sweep.api import DEFAULT_GRID, SweepResult, sweep
from descentlab.sweep.backends import Backend, LocalBackend, SerialBackend, make_backend
from descentlab.sweep.plan import Arm, DataProblem, LandscapeProblem, Plan, Trial
from descentlab.sweep.scheduler import ASHA
from descentlab.sweep.store import SweepStore
from descentlab.sweep.suites import SUITES, get_suite
from descentlab.sweep.summary import performance_profile, summarize
from descentlab.sweep.trial import run_trial

__all__ = [
    "ASHA",
    "DEFAULT_GRID",
    "SUITES",
    "Arm",
    "Backend",
    "DataProblem",
    "LandscapeProblem",
    "LocalBackend",
    "Plan",
    "SerialBackend",
    "SweepResult",
    "SweepStore",
    "Trial",
    "get_suite",
    "make_backend",
    "performance_profile",
    "run_trial",
    "summarize",
    "sweep",
]


class _CallableModule(types.ModuleType):
    """``descentlab.sweep`` is both this package and its main function."""

    def __call__(self, *args: Any, **kwargs: Any) -> SweepResult:
        return sweep(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
