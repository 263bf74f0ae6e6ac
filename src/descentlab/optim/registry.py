"""The registry of optimizers: one entry per choice, with every hyperparameter described.

The CLI's options, the playground's controls and the tests are generated from
:data:`REGISTRY`; no list of optimizers is written anywhere else.

>>> from descentlab.optim import REGISTRY, get
>>> list(REGISTRY)[:3]
['sgd', 'momentum', 'nesterov']
>>> opt = get("adam").build([ArrayParam([1.0, 2.0])], lr=0.1, beta2=0.99)
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from descentlab.optim.adadelta import Adadelta
from descentlab.optim.adagrad import Adagrad, AdagradNorm
from descentlab.optim.adam import Adam, AdamW, NAdam
from descentlab.optim.base import Optimizer
from descentlab.optim.rmsprop import RMSprop
from descentlab.optim.sgd import SGD

__all__ = ["ALIASES", "REGISTRY", "HyperParam", "OptimizerSpec", "get", "names"]

_TYPES = ("float", "int", "bool", "choice")


@dataclass(frozen=True)
class HyperParam:
    """One hyperparameter of an optimizer (or schedule), as a UI control describes it.

    ``low``/``high`` bound a numeric value (``None`` for flags); ``log_scale`` says
    whether a slider should be logarithmic; ``choices`` lists the values of a
    ``"choice"``.
    """

    name: str
    type: str
    default: Any
    low: float | None = None
    high: float | None = None
    log_scale: bool = False
    help: str = ""
    choices: tuple = ()

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"HyperParam type {self.type!r} is not one of {_TYPES}")


def _flag(name: str, help: str) -> HyperParam:
    return HyperParam(name, "bool", False, help=help)


# name -> HyperParam (default filled in from the constructor's signature).
_LR = HyperParam("lr", "float", None, 1e-5, 10.0, True, "learning rate eta")
_WD = HyperParam(
    "weight_decay", "float", None, 0.0, 1.0, False,
    "lambda: adds lambda*theta to the gradient (L2 penalty lambda/2 ||theta||^2)",
)
_MAX = _flag("maximize", "ascend the objective instead of descending it")
_EPS = HyperParam("eps", "float", None, 1e-12, 1e-1, True, "eps added to the denominator")
_BETA1 = HyperParam("beta1", "float", None, 0.0, 0.999, False, "decay of the gradient average m")
_BETA2 = HyperParam(
    "beta2", "float", None, 0.0, 0.99999, False, "decay of the squared-gradient average v"
)
_AMSGRAD = _flag("amsgrad", "AMSGrad: use the running maximum of v (Reddi et al., 2018)")

_META: dict[type, list[HyperParam]] = {
    SGD: [
        _LR,
        HyperParam("momentum", "float", None, 0.0, 0.999, False, "momentum beta"),
        HyperParam("dampening", "float", None, 0.0, 1.0, False, "dampening tau of the momentum"),
        _WD,
        _flag("nesterov", "Nesterov momentum (needs momentum > 0 and dampening = 0)"),
        _MAX,
    ],
    Adagrad: [
        _LR,
        HyperParam(
            "lr_decay", "float", None, 0.0, 1.0, False, "eta_t = eta / (1 + (t-1) lr_decay)"
        ),
        _WD,
        HyperParam(
            "initial_accumulator_value", "float", None, 0.0, 10.0, False,
            "starting value s_0 of the sum of squared gradients",
        ),
        _EPS,
        _MAX,
    ],
    AdagradNorm: [
        _LR,
        HyperParam("eps", "float", None, 1e-12, 10.0, True, "b_0^2: initial accumulator"),
        _WD,
        _MAX,
        _flag("batched", "rows of an (N, D) parameter are N problems, one accumulator each"),
    ],
    Adadelta: [
        _LR,
        HyperParam("rho", "float", None, 0.0, 0.9999, False, "decay of the running averages"),
        _EPS,
        _WD,
        _MAX,
    ],
    RMSprop: [
        _LR,
        HyperParam("alpha", "float", None, 0.0, 0.9999, False, "decay of the squared average v"),
        _EPS,
        _WD,
        HyperParam("momentum", "float", None, 0.0, 0.999, False, "momentum beta"),
        _flag("centered", "divide by an estimate of the variance instead of the raw 2nd moment"),
        _MAX,
    ],
    Adam: [
        _LR, _BETA1, _BETA2, _EPS, _WD, _AMSGRAD, _MAX,
        _flag("decoupled_weight_decay", "decay the weights directly (AdamW)"),
    ],
    AdamW: [_LR, _BETA1, _BETA2, _EPS, _WD, _AMSGRAD, _MAX],
    NAdam: [
        _LR, _BETA1, _BETA2, _EPS, _WD,
        HyperParam("momentum_decay", "float", None, 0.0, 0.1, False, "psi of the mu_t schedule"),
        _flag("decoupled_weight_decay", "decay the weights directly (NAdamW)"),
        _MAX,
    ],
}


def constructor_defaults(cls: type) -> dict[str, Any]:
    """The constructor's keyword defaults, with ``betas`` split into beta1/beta2."""
    out: dict[str, Any] = {}
    for name, par in inspect.signature(cls.__init__).parameters.items():
        if name in ("self", "params"):
            continue
        if name == "betas":
            out["beta1"], out["beta2"] = par.default
        else:
            out[name] = par.default
    return out


@dataclass(frozen=True)
class OptimizerSpec:
    """A named choice of optimizer: class, preset overrides, summary, hyperparameters."""

    name: str
    cls: type
    defaults: Mapping[str, Any]
    summary: str
    hyperparameters: Mapping[str, HyperParam] = field(default_factory=dict)

    def build(self, params: Iterable[Any], **overrides: Any) -> Optimizer:
        """Construct the optimizer; ``overrides`` may use ``beta1``/``beta2`` or ``betas``."""
        allowed = set(self.hyperparameters)
        if "beta1" in allowed:
            allowed.add("betas")
        unknown = set(overrides) - allowed
        if unknown:
            raise ValueError(
                f"unknown hyperparameter(s) {sorted(unknown)} for optimizer {self.name!r}; "
                f"expected some of {sorted(self.hyperparameters)}"
            )
        kwargs = {**self.defaults, **overrides}
        if "beta1" in self.hyperparameters:
            beta1, beta2 = kwargs.pop("betas", (None, None))
            beta1 = kwargs.pop("beta1", beta1)
            beta2 = kwargs.pop("beta2", beta2)
            defaults = constructor_defaults(self.cls)
            kwargs["betas"] = (
                defaults["beta1"] if beta1 is None else beta1,
                defaults["beta2"] if beta2 is None else beta2,
            )
        return self.cls(params, **kwargs)


def _spec(name: str, cls: type, summary: str, **defaults: Any) -> OptimizerSpec:
    effective = {**constructor_defaults(cls), **defaults}
    hps = {}
    for hp in _META[cls]:
        hps[hp.name] = HyperParam(
            hp.name, hp.type, effective[hp.name], hp.low, hp.high, hp.log_scale, hp.help,
            hp.choices,
        )
    missing = set(effective) - set(hps)
    if missing:  # every constructor argument must be described
        raise RuntimeError(f"registry entry {name!r} does not describe {sorted(missing)}")
    return OptimizerSpec(name, cls, MappingProxyType(dict(defaults)), summary,
                         MappingProxyType(hps))


REGISTRY: dict[str, OptimizerSpec] = {
    spec.name: spec
    for spec in (
        _spec("sgd", SGD, "gradient descent: theta <- theta - eta g (GD when g is full-batch)"),
        _spec("momentum", SGD, "SGD with heavy-ball momentum beta = 0.9", momentum=0.9),
        _spec(
            "nesterov", SGD, "SGD with Nesterov momentum beta = 0.9", momentum=0.9, nesterov=True
        ),
        _spec("adagrad", Adagrad, "per-coordinate step eta / sqrt(sum of squared gradients)"),
        _spec("adagrad_norm", AdagradNorm, "one step eta / sqrt(eps + sum ||g||^2) (Ward et al.)"),
        _spec("adadelta", Adadelta, "step from running RMS of gradients and of updates"),
        _spec("rmsprop", RMSprop, "divide by a running RMS of recent gradients"),
        _spec("adam", Adam, "momentum + RMSprop with bias correction"),
        _spec("adamw", AdamW, "Adam with decoupled weight decay"),
        _spec("nadam", NAdam, "Adam with Nesterov momentum"),
    )
}

ALIASES: dict[str, str] = {"gd": "sgd", "heavyball": "momentum", "nag": "nesterov",
                           "adagradnorm": "adagrad_norm"}


def _normalize(name: str) -> str:
    return name.lower().replace("-", "").replace("_", "").replace(" ", "")


def names() -> list[str]:
    """The registry's names, in order."""
    return list(REGISTRY)


def get(name: str) -> OptimizerSpec:
    """Look up an optimizer by name (case, ``-`` and ``_`` ignored; ``"gd"`` means SGD)."""
    if isinstance(name, OptimizerSpec):
        return name
    if not isinstance(name, str):
        raise TypeError(f"optimizer name must be a str, got {type(name).__name__}")
    key = _normalize(name)
    lookup = {_normalize(n): n for n in REGISTRY}
    lookup.update({_normalize(a): target for a, target in ALIASES.items()})
    if key not in lookup:
        raise ValueError(
            f"unknown optimizer {name!r}; expected one of {', '.join(REGISTRY)} "
            f"(aliases: {', '.join(ALIASES)})"
        )
    return REGISTRY[lookup[key]]
