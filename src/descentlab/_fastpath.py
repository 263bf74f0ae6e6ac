"""The one switch of descentlab's optional compiled loops (Numba, ``pip install 'descentlab[fast]'``).

Every layer that has such loops reads it: the fused ReLU-dropout node of the autograd
(``autograd/_kernels.py``), the optimizers' updates (``optim/fused.py``) and the
many-start landscape runs (``landscapes/_compiled.py``). Each loop is the NumPy
definition element by element, checked against it by the tests, so the switch changes
speed, never a number.

``"auto"`` (the default, or the environment variable ``DESCENTLAB_FAST_PATH``) uses a
compiled loop where the work is large enough to pay for importing Numba; ``"always"``
wherever one applies; ``"never"`` keeps everything in NumPy. Users set it through
``descentlab.optim.fused.set_fast_path``.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

MODES = ("auto", "always", "never")

_mode = os.environ.get("DESCENTLAB_FAST_PATH", "auto").strip().lower()
if _mode not in MODES:
    _mode = "auto"


def get_mode() -> str:
    return _mode


def set_mode(value: str) -> None:
    global _mode
    if value not in MODES:
        raise ValueError(f"fast path mode must be one of {MODES}, got {value!r}")
    _mode = value


_loaded: dict[str, Any] = {}


def load_kernels(module: str) -> Any:
    """The module of compiled loops named ``module`` (importing it imports Numba), or None
    if Numba cannot be imported; tried once per module."""
    if module not in _loaded:
        try:
            _loaded[module] = importlib.import_module(module)
        except ImportError:
            _loaded[module] = None
    return _loaded[module]
