r"""Optimizers: update rules for arrays given their gradients, identical to ``torch.optim``.

Every rule exists once, as a plain function over arrays with explicit state
(``sgd``, ``adagrad``, ``adagrad_norm``, ``adadelta``, ``rmsprop``, ``adam``,
``adamw``, ``nadam``); the classes (``SGD``, ``Adagrad``, ...) are thin
wrappers with PyTorch's names, arguments, defaults, parameter groups and state
dicts. NumPy is the only dependency: whoever computed the gradients,

    >>> p = ArrayParam(np.array([3.0, -1.0]))       # or a descentlab.Parameter
    >>> opt = Adam([p], lr=0.1)
    >>> for _ in range(300):
    ...     p.grad = 2 * p.data                        # f(x) = ||x||^2
    ...     opt.step()

Notation (the lecture's): eta learning rate (``lr``), beta momentum, eps,
lambda weight decay, g_t the gradient at step t.

* Gradient descent ("GD") is :class:`SGD` fed full-batch gradients (``GD = SGD``).
* PyTorch's ``weight_decay=w`` adds ``w * theta`` to the gradient, which equals an
  L2 penalty ``(w/2) ||theta||^2`` on the loss; only AdamW decouples it.
* Momentum has PyTorch's form ``b <- beta b + (1 - tau) g``, ``theta <- theta - eta b``.
* A parameter may have shape (N, D): N independent problems updated together;
  ``lr`` may then be an array of shape (N, 1). Rules are elementwise, so each row
  evolves exactly as it would alone (AdagradNorm: pass ``batched=True``).

:data:`REGISTRY` names every choice with its hyperparameters; ``get(name)``
looks one up. Schedules live in :mod:`descentlab.optim.lr_scheduler`, gradient
clipping in :mod:`descentlab.optim.clip`.
"""

# The family modules register their optimizers on import, in the order menus list them.
# isort: off
from descentlab.optim.sgd import GD, SGD, sgd
from descentlab.optim.adagrad import Adagrad, AdagradNorm, adagrad, adagrad_norm
from descentlab.optim.adadelta import Adadelta, adadelta
from descentlab.optim.rmsprop import RMSprop, rmsprop
from descentlab.optim.adam import Adam, AdamW, NAdam, adam, adamw, nadam
from descentlab.optim.adamax import Adamax, adamax
from descentlab.optim.radam import RAdam, radam
from descentlab.optim.rprop import Rprop, rprop
from descentlab.optim.asgd import ASGD, asgd
from descentlab.optim.lion import Lion, lion
from descentlab.optim.schedulefree import (
    ScheduleFreeAdamW,
    ScheduleFreeSGD,
    schedulefree_adamw,
    schedulefree_sgd,
)
from descentlab.optim.prodigy import Prodigy
from descentlab.optim.adafactor import Adafactor, adafactor
from descentlab.optim.muon import Muon, muon
from descentlab.optim.lbfgs import LBFGS

# isort: on
from descentlab.optim import lr_scheduler
from descentlab.optim.base import ArrayParam, Optimizer
from descentlab.optim.clip import clip_grad_norm_, clip_grad_value_
from descentlab.optim.lr_scheduler import SCHEDULES
from descentlab.optim.registry import REGISTRY, HyperParam, OptimizerSpec, get, register

__all__ = [
    "ASGD",
    "GD",
    "LBFGS",
    "REGISTRY",
    "SCHEDULES",
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "AdagradNorm",
    "Adam",
    "AdamW",
    "Adamax",
    "ArrayParam",
    "HyperParam",
    "Lion",
    "Muon",
    "NAdam",
    "Optimizer",
    "OptimizerSpec",
    "Prodigy",
    "RAdam",
    "RMSprop",
    "Rprop",
    "ScheduleFreeAdamW",
    "ScheduleFreeSGD",
    "adadelta",
    "adafactor",
    "adagrad",
    "adagrad_norm",
    "adam",
    "adamax",
    "adamw",
    "asgd",
    "clip_grad_norm_",
    "clip_grad_value_",
    "get",
    "lion",
    "lr_scheduler",
    "muon",
    "nadam",
    "radam",
    "register",
    "rmsprop",
    "rprop",
    "schedulefree_adamw",
    "schedulefree_sgd",
    "sgd",
]
