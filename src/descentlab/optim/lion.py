"""Lion: the sign of an interpolated momentum (Chen et al., 2023)."""

from __future__ import annotations

from typing import Any

import numpy as np

from descentlab.optim import settings
from descentlab.optim.base import Optimizer, State, scratch_like
from descentlab.optim.registry import register
from descentlab.spec import HyperParam

__all__ = ["Lion", "lion"]


def lion(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    lr: float | np.ndarray,
    beta1: float = 0.9,
    beta2: float = 0.99,
    weight_decay: float | np.ndarray = 0.0,
    maximize: bool = False,
) -> None:
    """Apply one Lion step to each array of ``params`` in place; ``states[i]`` holds
    ``exp_avg`` (m)."""
    for theta, g, state in zip(params, grads, states):
        if maximize:
            g = np.negative(g)
        m = state.get("exp_avg")
        if m is None:
            m = state["exp_avg"] = np.zeros_like(theta)
        if np.any(np.not_equal(weight_decay, 0)):
            theta *= 1 - lr * weight_decay
        c = np.multiply(m, beta1, out=scratch_like(theta, 0))
        buf = np.multiply(g, 1 - beta1, out=scratch_like(theta, 1))
        c += buf
        np.sign(c, out=c)
        c *= lr
        theta -= c
        m *= beta2
        np.multiply(g, 1 - beta2, out=buf)
        m += buf


def _beta(name: str, default: float, help: str) -> HyperParam:
    # The reference accepts the closed interval [0, 1]: beta = 1 freezes an average.
    return HyperParam(
        name, "float", default, low=0.0, high=1.0, slider=(0.0, 0.999), help=help, pack="betas"
    )


class Lion(Optimizer):
    r"""Lion ("evoLved sIgn mOmeNtum"), as ``lion_pytorch.Lion``.

    Update at step t (g_t includes ``-`` for ``maximize``); every coordinate moves
    by exactly eta, only its direction is learned::

        theta_{t-1} <- theta_{t-1} (1 - eta lambda)                  (decoupled decay)
        c_t     <- beta1 * m_{t-1} + (1 - beta1) * g_t                 (interpolation)
        theta_t <- theta_{t-1} - eta * sign(c_t)
        m_t     <- beta2 * m_{t-1} + (1 - beta2) * g_t                 (momentum, m_0 = 0)

    ==============  ==========================  ===========
    symbol          argument                    default
    ==============  ==========================  ===========
    eta             ``lr``                      1e-4
    beta1, beta2    ``betas``                   (0.9, 0.99)
    lambda          ``weight_decay``            0
    ==============  ==========================  ===========

    The step has the length of a sign update, so eta is 3-10 times smaller and
    lambda 3-10 times larger than for AdamW. State per parameter: ``exp_avg``
    (m_t), the only buffer (Adam keeps two). With ``decoupled_weight_decay=True``
    the decay is lambda / eta_0 with eta_0 the constructor's ``lr``, so
    ``theta <- theta (1 - (eta / eta_0) lambda)`` is independent of the learning
    rate except through a schedule's factor (the reference's option).

    Differences from the reference: ``maximize`` is ours (as in every
    ``torch.optim`` optimizer); ``use_triton`` (a GPU kernel) is not offered;
    ``lr = 0`` is accepted (the reference asserts lr > 0) and does nothing.
    Reference: X. Chen et al., "Symbolic discovery of optimization algorithms",
    NeurIPS 2023 (arXiv:2302.06675); lucidrains/lion-pytorch.

    Example, f(x) = x^2 / 2: the iterate walks to 0 in steps of eta, then hovers
    within about eta of it::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = Lion([p], lr=0.01)
        >>> for _ in range(300):
        ...     p.grad = p.data.copy(); opt.step()
        >>> bool(abs(p.data[0]) <= 0.01)
        True
    """

    hyperparameters = (
        settings.lr(1e-4),
        _beta("beta1", 0.9, "beta1: interpolation between m and g inside the sign"),
        _beta("beta2", 0.99, "beta2: decay of the momentum m"),
        settings.weight_decay(decoupled=True),
        settings.maximize(),
        settings.flag(
            "decoupled_weight_decay",
            "divide lambda by the initial lr: decay independent of eta",
            kw_only=True,
        ),
    )

    def _update(
        self,
        group: dict[str, Any],
        params: list[np.ndarray],
        grads: list[np.ndarray],
        states: list[State],
    ) -> None:
        beta1, beta2 = group["betas"]
        weight_decay = group["weight_decay"]
        if group["decoupled_weight_decay"]:
            weight_decay = weight_decay / self.defaults["lr"]
        lion(
            params,
            grads,
            states,
            lr=group["lr"],
            beta1=beta1,
            beta2=beta2,
            weight_decay=weight_decay,
            maximize=group["maximize"],
        )

    def _after_init(self) -> None:
        if any(g["decoupled_weight_decay"] for g in self.param_groups) and not np.all(
            np.asarray(self.defaults["lr"]) > 0
        ):
            raise ValueError(
                f"Invalid lr value: {self.defaults['lr']!r}; decoupled_weight_decay divides "
                "the weight decay by the initial lr, which must be > 0"
            )


register(Lion, "lion", "sign of interpolated momentum: every coordinate moves by eta")
