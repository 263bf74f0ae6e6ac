"""Optional compiled fast path: SGD (momentum, Nesterov) and Adam/AdamW in one pass.

The NumPy rules in ``sgd.py`` and ``adam.py`` are the definition. Written with
whole-array ufuncs, an Adam step makes about thirteen passes over memory; on a
large model that, not arithmetic, is what costs. When Numba is installed
(``pip install 'descentlab[fast]'``), the same arithmetic, element by element
and in the same order, is compiled into one parallel loop that reads each
array once. The tests run the torch parity suite on both paths, and check the
two against each other bit for bit in float64.

``set_fast_path("auto" | "always" | "never")`` (or the environment variable
``DESCENTLAB_FAST_PATH``) chooses: "auto" uses the compiled loop for arrays of
at least :data:`MIN_SIZE` elements when Numba can be imported; "never" keeps
everything in NumPy.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

MIN_SIZE = 32_768
#: from this size on the loop runs on every core (below it, threads cost more than they save
#: and would compete with BLAS's own threads in a training step).
PARALLEL_SIZE = 2_000_000
_MODES = ("auto", "always", "never")
_mode = os.environ.get("DESCENTLAB_FAST_PATH", "auto").lower()
if _mode not in _MODES:
    _mode = "auto"
_kernels: Any = None  # None: not tried yet; False: Numba unavailable


def set_fast_path(mode: str) -> None:
    """Choose when the compiled update is used: "auto", "always" or "never"."""
    global _mode
    if mode not in _MODES:
        raise ValueError(f"fast path mode must be one of {_MODES}, got {mode!r}")
    _mode = mode


def get_fast_path() -> str:
    return _mode


def available() -> bool:
    """Whether Numba can be imported (imports it on first call)."""
    return _load() is not False


def _load() -> Any:
    global _kernels
    if _kernels is None:
        try:
            _kernels = _compile()
        except ImportError:
            _kernels = False
    return _kernels


def usable(theta: np.ndarray, g: np.ndarray, lr: float | np.ndarray) -> bool:
    """Whether the compiled loop applies to this parameter and learning rate."""
    if _mode == "never" or (_mode == "auto" and theta.size < MIN_SIZE):
        return False
    if np.ndim(lr) != 0 or theta.dtype not in (np.float32, np.float64):
        return False
    if g.dtype != theta.dtype or not (theta.flags.c_contiguous and g.flags.c_contiguous):
        return False
    return _load() is not False


def sgd_momentum(
    theta: np.ndarray,
    g: np.ndarray,
    b: np.ndarray,
    *,
    lr: float | np.ndarray,
    momentum: float,
    dampening: float,
    weight_decay: float,
    nesterov: bool,
    maximize: bool,
) -> None:
    """One SGD step with an existing momentum buffer ``b`` (PyTorch's rule), fused."""
    kernel = _kernel("sgd_momentum", theta.size)
    kernel(
        theta.reshape(-1),
        g.reshape(-1),
        b.reshape(-1),
        float(lr),
        float(momentum),
        float(dampening),
        float(weight_decay),
        bool(nesterov),
        bool(maximize),
        float(np.finfo(theta.dtype).tiny),
    )


def adam(
    theta: np.ndarray,
    g: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    *,
    step: int,
    lr: float | np.ndarray,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    maximize: bool,
    decoupled: bool,
) -> None:
    """One Adam/AdamW step (no AMSGrad) at step count ``step``, fused."""
    bias_correction1 = 1 - beta1**step
    bias_correction2_sqrt = (1 - beta2**step) ** 0.5
    kernel = _kernel("adam", theta.size)
    kernel(
        theta.reshape(-1),
        g.reshape(-1),
        m.reshape(-1),
        v.reshape(-1),
        float(lr),
        float(beta1),
        float(beta2),
        float(eps),
        float(weight_decay),
        bool(maximize),
        bool(decoupled),
        float(lr / bias_correction1),
        float(bias_correction2_sqrt),
        float(np.finfo(theta.dtype).tiny),
    )


def _compile() -> Any:
    from descentlab.optim import _kernels  # imports numba

    return _kernels


def _kernel(name: str, size: int) -> Any:
    """The serial or, for big arrays, the parallel compiled loop of rule ``name``."""
    return getattr(_load(), f"{name}_{'parallel' if size >= PARALLEL_SIZE else 'serial'}")
