"""Descriptions of the hyperparameters that many optimizers share.

Each optimizer lists its hyperparameters once, in its class's ``hyperparameters``
tuple, in PyTorch's argument order; the settings that recur (eta, lambda, eps,
betas, maximize) are made here so that their bounds, slider ranges and help read
the same everywhere.
"""

from __future__ import annotations

from descentlab.spec import HyperParam

__all__ = ["betas", "eps", "flag", "lr", "maximize", "number", "weight_decay"]


def lr(default: float) -> HyperParam:
    """eta, the learning rate: >= 0, a slider from 1e-5 to 10 on a log scale, or an array."""
    return HyperParam(
        "lr",
        "float",
        default,
        low=0.0,
        slider=(1e-5, 10.0),
        log_scale=True,
        help="eta: learning rate",
        array_ok=True,
    )


def weight_decay(default: float = 0.0, *, decoupled: bool = False) -> HyperParam:
    """lambda, the weight decay (coupled as PyTorch's: an L2 penalty lambda/2 ||theta||^2)."""
    help = (
        "lambda: decoupled weight decay, theta <- theta (1 - eta lambda)"
        if decoupled
        else "lambda: adds lambda*theta to the gradient (L2 penalty lambda/2 ||theta||^2)"
    )
    return HyperParam("weight_decay", "float", default, low=0.0, slider=(0.0, 1.0), help=help)


def eps(default: float, help: str = "eps: added to the denominator") -> HyperParam:
    """eps, a small positive constant for numerical stability."""
    return HyperParam(
        "eps", "float", default, low=0.0, slider=(1e-12, 1e-1), log_scale=True, help=help
    )


def betas(beta1: float, beta2: float) -> tuple[HyperParam, HyperParam]:
    """beta1 and beta2, packed into PyTorch's ``betas`` pair, each in [0, 1)."""
    return (
        HyperParam(
            "beta1",
            "float",
            beta1,
            low=0.0,
            high=1.0,
            high_open=True,
            slider=(0.0, 0.999),
            help="beta1: decay of the gradient average m",
            pack="betas",
        ),
        HyperParam(
            "beta2",
            "float",
            beta2,
            low=0.0,
            high=1.0,
            high_open=True,
            slider=(0.0, 0.99999),
            help="beta2: decay of the squared-gradient average v",
            pack="betas",
        ),
    )


def maximize() -> HyperParam:
    """PyTorch's keyword-only ``maximize``: ascend the objective."""
    return flag("maximize", "ascend the objective instead of descending it", kw_only=True)


def flag(name: str, help: str, default: bool = False, *, kw_only: bool = False) -> HyperParam:
    """A boolean option."""
    return HyperParam(name, "bool", default, help=help, kw_only=kw_only)


def number(
    name: str,
    default: float,
    help: str,
    *,
    low: float | None = 0.0,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
    slider: tuple[float, float] | None = None,
    log_scale: bool = False,
    kw_only: bool = False,
) -> HyperParam:
    """A real-valued hyperparameter (>= 0 unless ``low`` says otherwise)."""
    return HyperParam(
        name,
        "float",
        default,
        low=low,
        high=high,
        low_open=low_open,
        high_open=high_open,
        slider=slider,
        log_scale=log_scale,
        help=help,
        kw_only=kw_only,
    )
