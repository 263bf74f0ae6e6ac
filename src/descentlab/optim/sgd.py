"""Stochastic gradient descent, with optional momentum and Nesterov momentum.

Gradient descent ("GD") is this same rule fed full-batch gradients; ``GD`` is
an alias of :class:`SGD`, not a second algorithm.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from descentlab.optim import fused, settings
from descentlab.optim.base import Optimizer, State, flush_subnormal_, scratch_like
from descentlab.optim.params import MOMENT_FLOOR
from descentlab.optim.registry import register

__all__ = ["GD", "SGD", "sgd"]


def sgd(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    lr: float | np.ndarray,
    momentum: float = 0.0,
    dampening: float = 0.0,
    weight_decay: float = 0.0,
    nesterov: bool = False,
    maximize: bool = False,
) -> None:
    """Apply one SGD step to each array of ``params`` in place (PyTorch's rule).

    ``states[i]`` receives ``momentum_buffer`` when ``momentum != 0``.
    """
    keys = ("momentum_buffer",) if momentum != 0 else (None,)
    fast, slow = fused.split(params, grads, states, keys, lr)
    if fast:  # the first step (no buffer yet) takes NumPy
        values = (float(lr), float(momentum), float(dampening), float(weight_decay))
        fused.run(
            "sgd",
            fast,
            params,
            grads,
            states,
            keys,
            [()] * len(fast),
            (*values, bool(nesterov), bool(maximize)),
        )
    for i in slow:
        theta, g, state = params[i], grads[i], states[i]
        if maximize:
            g = np.negative(g)
        if weight_decay != 0:
            g = g + weight_decay * theta
        if momentum != 0:
            b = state.get("momentum_buffer")
            if b is None:
                b = state["momentum_buffer"] = fused.zeros_apart(theta, 0)
                b[...] = g
            else:
                b *= momentum
                if dampening == 0:
                    b += g
                else:
                    b += (1 - dampening) * g
                flush_subnormal_(b, scratch_like(theta, 1), MOMENT_FLOOR)
            if nesterov:
                d = np.multiply(b, momentum, out=scratch_like(theta, 0))
                d += g
            else:
                d = b
        else:
            d = g
        buf = np.multiply(d, lr, out=scratch_like(theta, 0))
        theta -= buf


class SGD(Optimizer):
    r"""Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    Update at step t with gradient g_t = grad f(theta_{t-1}) (``-grad`` if ``maximize``)::

        g_t   <- g_t + lambda * theta_{t-1}                     (if lambda != 0)
        b_t   <- g_t                                            (t = 1)
        b_t   <- beta * b_{t-1} + (1 - tau) * g_t               (t > 1, if beta != 0)
        d_t   <- g_t + beta * b_t  (nesterov)   or   b_t        (or g_t if beta = 0)
        theta_t <- theta_{t-1} - eta * d_t

    ==========  ================  =======
    symbol      argument          default
    ==========  ================  =======
    eta         ``lr``            1e-3
    beta        ``momentum``      0
    tau         ``dampening``     0
    lambda      ``weight_decay``  0
    ==========  ================  =======

    Conventions shared by every optimizer in :mod:`descentlab.optim` (PyTorch's):

    * ``weight_decay=w`` adds ``w * theta`` to the gradient, i.e. it equals an L2
      penalty of ``(w/2) ||theta||^2`` added to the loss (coupled; only AdamW, and
      Adam/NAdam with ``decoupled_weight_decay=True``, decay the weights directly).
    * Momentum follows PyTorch's form ``b <- beta b + (1 - tau) g``,
      ``theta <- theta - eta b`` (the learning rate multiplies the whole buffer,
      unlike Sutskever et al.'s ``v <- beta v + eta g``; the iterates agree for a
      constant eta and tau = 0).
    * Plain gradient descent is SGD fed the full-batch gradient (``GD = SGD``).

    Nesterov momentum requires ``momentum > 0`` and ``dampening = 0``
    (Sutskever et al., "On the importance of initialization and momentum in deep
    learning", ICML 2013). SGD: Robbins & Monro, 1951; momentum: Polyak, 1964.

    Example, f(x) = x^2 / 2 (gradient x)::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = SGD([p], lr=0.1, momentum=0.9)
        >>> for _ in range(400):
        ...     p.grad = p.data.copy(); opt.step()
        >>> bool(abs(p.data[0]) < 1e-6)
        True
    """

    hyperparameters = (
        settings.lr(1e-3),
        settings.number("momentum", 0.0, "beta: momentum", slider=(0.0, 0.999)),
        settings.number("dampening", 0.0, "tau: dampening of the momentum", high=1.0),
        settings.weight_decay(),
        settings.flag("nesterov", "Nesterov momentum (needs momentum > 0 and dampening = 0)"),
        settings.maximize(),
    )
    rule = staticmethod(sgd)

    def _check(self, hp: Mapping[str, Any]) -> None:
        if hp["nesterov"] and (hp["momentum"] <= 0 or hp["dampening"] != 0):
            raise ValueError(
                "Nesterov momentum requires momentum > 0 and dampening = 0, got "
                f"momentum={hp['momentum']!r}, dampening={hp['dampening']!r}"
            )


GD = SGD


register(
    SGD,
    "sgd",
    "gradient descent: theta <- theta - eta g (GD when g is full-batch)",
    aliases=("gd",),
)
register(
    SGD, "momentum", "SGD with heavy-ball momentum beta = 0.9", aliases=("heavyball",), momentum=0.9
)
register(
    SGD,
    "nesterov",
    "SGD with Nesterov momentum beta = 0.9",
    aliases=("nag",),
    momentum=0.9,
    nesterov=True,
)
