"""Rprop: resilient backpropagation, a step size per weight adapted from gradient signs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from descentlab.optim import fused, settings
from descentlab.optim.base import Optimizer, State
from descentlab.optim.registry import register
from descentlab.spec import HyperParam

__all__ = ["Rprop", "rprop"]


def rprop(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    lr: float | np.ndarray,
    etaminus: float = 0.5,
    etaplus: float = 1.2,
    step_size_min: float = 1e-6,
    step_size_max: float = 50.0,
    maximize: bool = False,
) -> None:
    """Apply one Rprop step in place; ``states[i]`` holds ``step``, ``prev`` (the
    previous gradient, zeroed where its sign flipped) and ``step_size`` (Delta)."""
    for theta, state in zip(params, states):
        if "prev" not in state:
            state["step"] = 0
            state["prev"] = fused.zeros_apart(theta, 0)
            step_size = state["step_size"] = fused.zeros_apart(theta, 1)
            step_size[...] = lr  # the initial Delta; later changes of lr do not matter
        state["step"] += 1
    keys = ("prev", "step_size")
    fast, slow = fused.split(params, grads, states, keys, lr)
    if fast:
        fused.run(
            "rprop",
            fast,
            params,
            grads,
            states,
            keys,
            [()] * len(fast),
            (
                float(etaminus),
                float(etaplus),
                float(step_size_min),
                float(step_size_max),
                bool(maximize),
            ),
        )
    for i in slow:
        theta, g, state = params[i], grads[i], states[i]
        if maximize:
            g = np.negative(g)
        prev, delta = state["prev"], state["step_size"]
        agreement = np.sign(g * prev)
        factor = np.where(agreement > 0, etaplus, np.where(agreement < 0, etaminus, 1.0))
        delta *= factor.astype(delta.dtype, copy=False)  # the factors rounded as Delta is
        np.clip(delta, step_size_min, step_size_max, out=delta)
        # After a sign flip the weight stays put, and the next step counts as a fresh start.
        g = np.where(agreement < 0, 0.0, g)
        theta -= np.sign(g) * delta
        prev[...] = g


class Rprop(Optimizer):
    r"""Rprop (resilient backpropagation), as ``torch.optim.Rprop``.

    Each weight has its own step size Delta, grown while its gradient keeps its
    sign and shrunk when the sign flips; only the sign of g_t is used
    (g_t includes ``-`` for ``maximize``)::

        Delta_0 <- eta,  g_0 <- 0
        if g_t g_{t-1} > 0:  Delta_t <- min(eta_plus Delta_{t-1}, Delta_max)
        if g_t g_{t-1} < 0:  Delta_t <- max(eta_minus Delta_{t-1}, Delta_min);  g_t <- 0
        otherwise:           Delta_t <- Delta_{t-1}   (clipped to [Delta_min, Delta_max])
        theta_t <- theta_{t-1} - Delta_t * sign(g_t)

    ====================  ====================  ===========
    symbol                argument              default
    ====================  ====================  ===========
    eta (Delta_0)         ``lr``                1e-2
    eta_minus, eta_plus   ``etas``              (0.5, 1.2)
    Delta_min, Delta_max  ``step_sizes``        (1e-6, 50)
    ====================  ====================  ===========

    Setting g_t to 0 after a sign flip (stored as ``prev``) means the weight does
    not move at that step and the next step neither grows nor shrinks Delta
    ("iRprop-"). ``lr`` only sets the first Delta: a schedule that changes it
    later has no effect. Rprop is a full-batch method: noisy minibatch signs make
    Delta collapse. Like PyTorch's, it has no ``weight_decay`` (add an L2 penalty
    to the loss instead). Constraints: 0 < eta_minus < 1 < eta_plus (as PyTorch)
    and 0 <= Delta_min <= Delta_max (PyTorch does not check these; a negative step
    size would silently ascend). State per parameter: ``step``, ``prev``,
    ``step_size``. References: M. Riedmiller, H. Braun, "A direct adaptive method
    for faster backpropagation learning: the RPROP algorithm", ICNN 1993;
    C. Igel, M. Huesken, "Improving the Rprop learning algorithm", 2000.

    Example, f(x) = x^2 / 2::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = Rprop([p], lr=0.1)
        >>> for _ in range(100):
        ...     p.grad = p.data.copy(); opt.step()
        >>> bool(abs(p.data[0]) < 1e-3)
        True
    """

    hyperparameters = (
        settings.lr(1e-2),
        HyperParam(
            "etaminus",
            "float",
            0.5,
            low=0.0,
            high=1.0,
            low_open=True,
            high_open=True,
            slider=(0.05, 0.95),
            help="eta_minus: factor shrinking Delta after a sign flip",
            pack="etas",
        ),
        HyperParam(
            "etaplus",
            "float",
            1.2,
            low=1.0,
            low_open=True,
            slider=(1.01, 3.0),
            help="eta_plus: factor growing Delta while the sign holds",
            pack="etas",
        ),
        HyperParam(
            "step_size_min",
            "float",
            1e-6,
            low=0.0,
            slider=(1e-9, 1.0),
            log_scale=True,
            help="Delta_min: smallest step size",
            pack="step_sizes",
        ),
        HyperParam(
            "step_size_max",
            "float",
            50.0,
            low=0.0,
            slider=(1e-3, 100.0),
            log_scale=True,
            help="Delta_max: largest step size",
            pack="step_sizes",
        ),
        settings.maximize(),
    )
    rule = staticmethod(rprop)

    def _check(self, hp: Mapping[str, Any]) -> None:
        low, high = hp["step_sizes"]
        if low > high:
            raise ValueError(
                f"Invalid step_sizes value: {hp['step_sizes']!r}; expected "
                "step_size_min <= step_size_max"
            )


register(Rprop, "rprop", "sign-based steps, each weight's step size adapted (full batch)")
