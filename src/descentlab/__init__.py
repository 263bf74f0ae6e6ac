"""descentlab: see and measure how neural networks are optimized and regularized.

The top level re-exports the pieces a student reaches for first. Heavy
sub-packages (landscapes, training, pictures) load on first use, so that
``import descentlab`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from descentlab.autograd import Parameter, Tensor, grad, no_grad, tensor, value_and_grad
    from descentlab.autograd.gradcheck import gradcheck
    from descentlab.autograd.transforms import hessian, hvp
    from descentlab.landscapes.minimize import minimize, race
    from descentlab.nn import manual_seed
    from descentlab.train import History, evaluate, fit

__version__ = "0.1.0"

# name -> module that defines it; imported on first attribute access (PEP 562), so that
# ``import descentlab.optim`` loads the optimizers alone, not the autograd engine.
_LAZY = {
    "Parameter": "descentlab.autograd",
    "Tensor": "descentlab.autograd",
    "grad": "descentlab.autograd",
    "no_grad": "descentlab.autograd",
    "tensor": "descentlab.autograd",
    "value_and_grad": "descentlab.autograd",
    "hvp": "descentlab.autograd",
    "hessian": "descentlab.autograd",
    "gradcheck": "descentlab.autograd.gradcheck",
    "minimize": "descentlab.landscapes",
    "race": "descentlab.landscapes",
    "fit": "descentlab.train",
    "evaluate": "descentlab.train",
    "History": "descentlab.train",
    "manual_seed": "descentlab.nn",
}
_SUBMODULES = {
    "autograd",
    "nn",
    "optim",
    "landscapes",
    "data",
    "train",
    "viz",
    "cli",
    "web",
    "spec",
    "sweep",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"descentlab.{name}")
    raise AttributeError(f"module 'descentlab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | _SUBMODULES)


__all__ = [
    "History",
    "Parameter",
    "Tensor",
    "evaluate",
    "fit",
    "grad",
    "gradcheck",
    "hessian",
    "hvp",
    "manual_seed",
    "minimize",
    "no_grad",
    "race",
    "tensor",
    "value_and_grad",
]
