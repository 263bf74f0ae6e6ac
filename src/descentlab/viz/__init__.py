"""Pictures and animations of real runs (matplotlib, never pyplot: nothing opens a window).

* :func:`plot_landscape`, :func:`plot_surface`, :func:`plot_basins`,
  :func:`plot_regularized_landscape`, :func:`plot_gd_vs_sgd` (:mod:`.landscape`)
* :func:`race_animation`, :func:`classic_race` (:mod:`.animate`)
* :func:`plot_values`, :func:`plot_lr_sweep`, :func:`plot_history` (:mod:`.curves`)
* :func:`plot_decision_boundary`, :func:`plot_regression_fit`, :func:`plot_overfitting`
  (:mod:`.boundary`)
* :func:`plot_sensitivity`, :func:`plot_sweep_curves`, :func:`plot_profile`, :func:`plot_sweep`
  (:mod:`.sweep`: figures of a sweep's summary)
* :func:`gallery`, :func:`demo_report` (:mod:`.gallery`)

Every function returns its Figure (or animation) and saves it when ``out`` names a file;
the format follows the suffix (``.png``, ``.svg``, ``.pdf``; ``.gif``, ``.mp4`` for
animations). Submodules load on first use, so ``import descentlab.viz`` does not import
matplotlib yet.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "plot_landscape": "landscape",
    "plot_surface": "landscape",
    "plot_basins": "landscape",
    "plot_gd_vs_sgd": "landscape",
    "plot_regularized_landscape": "landscape",
    "race_animation": "animate",
    "classic_race": "animate",
    "plot_values": "curves",
    "plot_lr_sweep": "curves",
    "plot_history": "curves",
    "plot_decision_boundary": "boundary",
    "plot_regression_fit": "boundary",
    "plot_overfitting": "boundary",
    "plot_sensitivity": "sweep",
    "plot_sweep_curves": "sweep",
    "plot_profile": "sweep",
    "plot_sweep": "sweep",
    "gallery": "gallery",
    "demo_report": "gallery",
    "PALETTE": "_common",
    "optimizer_color": "_common",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        module = importlib.import_module(f"descentlab.viz.{_WHERE[name]}")
        # importing the submodule "gallery" binds the module to that name; the function wins
        for other, where in _WHERE.items():
            if where == _WHERE[name]:
                globals()[other] = getattr(module, other)
        return globals()[name]
    raise AttributeError(f"module 'descentlab.viz' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


__all__ = list(_WHERE)
