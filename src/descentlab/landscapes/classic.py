"""The classic optimizer races (A. Radford's 2014 animations, reused by CS231n and
S. Ruder): SGD, momentum, Nesterov, AdaGrad, Adadelta, RMSprop and Adam from one
start on Beale's function and on the saddle x^2 - y^2.

The settings live here, once; the pictures (``viz.classic_race``), the demo and
the playground's presets all read them.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np

from descentlab.landscapes.minimize import Result, race

#: per landscape: start point, plot bounds, steps, and label -> optimizer settings.
CLASSIC_RACES: dict[str, dict[str, Any]] = {
    "beale": {
        "x0": [0.7, 1.4],
        "bounds": [[-1.0, 4.5], [-1.5, 2.5]],
        "steps": 300,
        "optimizers": {
            "sgd": {"lr": 1e-3},
            "momentum": {"lr": 1e-3, "momentum": 0.9},
            "nesterov": {"lr": 1e-3, "momentum": 0.9},
            "adagrad": {"lr": 0.5},
            "adadelta": {"lr": 1.0},
            "rmsprop": {"lr": 0.01},
            "adam": {"lr": 0.05},
        },
    },
    "saddle": {
        "x0": [1.0, 1e-3],
        "bounds": [[-2.0, 2.0], [-2.0, 2.0]],
        "steps": 120,
        "optimizers": {
            "sgd": {"lr": 0.01},
            "momentum": {"lr": 0.01, "momentum": 0.9},
            "nesterov": {"lr": 0.01, "momentum": 0.9},
            "adagrad": {"lr": 0.1},
            "adadelta": {"lr": 1.0},
            "rmsprop": {"lr": 0.01},
            "adam": {"lr": 0.01},
        },
    },
}


def classic_race(name: str = "beale", steps: int | None = None) -> OrderedDict[str, Result]:
    """Run the classic race on ``"beale"`` or ``"saddle"``; results by optimizer."""
    key = str(name).lower().replace("-", "_")
    if key not in CLASSIC_RACES:
        raise ValueError(
            f"unknown classic race {name!r}; expected one of {', '.join(CLASSIC_RACES)}"
        )
    spec = CLASSIC_RACES[key]
    n = spec["steps"] if steps is None else steps
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"steps must be a positive integer, got {n!r}")
    return race(
        key, spec["x0"], {k: dict(v) for k, v in spec["optimizers"].items()}, steps=int(n), tol=1e-8
    )
