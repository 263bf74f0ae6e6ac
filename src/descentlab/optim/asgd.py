"""ASGD: averaged stochastic gradient descent, with a decaying step and a running average."""

from __future__ import annotations

import numpy as np

from descentlab.optim import fused, settings
from descentlab.optim.base import Optimizer, State, scratch_like
from descentlab.optim.registry import register

__all__ = ["ASGD", "asgd"]


def asgd(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    lr: float | np.ndarray,
    lambd: float = 1e-4,
    alpha: float = 0.75,
    t0: float = 1e6,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    """Apply one ASGD step in place; ``states[i]`` holds ``step``, ``eta`` (this
    step's rate), ``mu`` (this step's averaging weight) and ``ax`` (the average)."""
    for theta, state in zip(params, states):
        if "ax" not in state:
            state["step"] = 0
            state["eta"] = float(lr) if np.ndim(lr) == 0 else np.array(lr, dtype=theta.dtype)
            state["mu"] = 1.0
            state["ax"] = fused.zeros_apart(theta, 0)
        state["step"] += 1
    keys = ("ax",)
    fast, slow = fused.split(params, grads, states, keys, lr)
    if fast:
        # eta_t and mu_t are each parameter's own (an array eta, left by an array of
        # learning rates, takes NumPy)
        slow += [i for i in fast if np.ndim(states[i]["eta"]) != 0]
        fast = [i for i in fast if np.ndim(states[i]["eta"]) == 0]
        fused.run(
            "asgd",
            fast,
            params,
            grads,
            states,
            keys,
            [
                (
                    float(1 - lambd * states[i]["eta"]),
                    float(states[i]["eta"]),
                    float(states[i]["mu"]),
                )
                for i in fast
            ],
            (float(weight_decay), bool(maximize)),
        )
        for i in fast:
            _next_rates(states[i], lr, lambd, alpha, t0)
    for i in slow:
        theta, g, state = params[i], grads[i], states[i]
        if maximize:
            g = np.negative(g)
        if weight_decay != 0:
            g = g + weight_decay * theta
        eta, mu, ax = state["eta"], state["mu"], state["ax"]
        theta *= 1 - lambd * eta
        buf = np.multiply(g, eta, out=scratch_like(theta, 0))
        theta -= buf
        if mu != 1:
            np.subtract(theta, ax, out=buf)
            buf *= mu
            ax += buf
        else:
            ax[...] = theta
        _next_rates(state, lr, lambd, alpha, t0)


def _next_rates(
    state: State, lr: float | np.ndarray, lambd: float, alpha: float, t0: float
) -> None:
    """eta_{t+1} and mu_{t+1}, after step t."""
    t = state["step"]
    eta = lr / (1 + lambd * lr * t) ** alpha
    state["eta"] = float(eta) if np.ndim(eta) == 0 else np.asarray(eta, dtype=state["ax"].dtype)
    state["mu"] = 1 / max(1.0, t - t0)


class ASGD(Optimizer):
    r"""Averaged SGD (Polyak-Ruppert averaging), as ``torch.optim.ASGD``.

    Update at step t (g_t includes ``-`` for ``maximize``), with eta_1 = eta and
    mu_1 = 1::

        g_t       <- g_t + lambda * theta_{t-1}                  (if lambda != 0)
        theta_t   <- theta_{t-1} (1 - lambd * eta_t) - eta_t * g_t
        ax_t      <- ax_{t-1} + mu_t (theta_t - ax_{t-1})        (ax_t <- theta_t if mu_t = 1)
        eta_{t+1} <- eta / (1 + lambd * eta * t)^alpha
        mu_{t+1}  <- 1 / max(1, t - t0)

    ========  ==================  =======
    symbol    argument            default
    ========  ==================  =======
    eta       ``lr``              1e-2
    lambd     ``lambd``           1e-4
    alpha     ``alpha``           0.75
    t0        ``t0``              1e6
    lambda    ``weight_decay``    0
    ========  ==================  =======

    The iterate theta_t follows SGD with a step eta_t decaying like t^-alpha and
    a built-in shrinkage by lambd * eta_t. The average ``ax`` equals theta_t up to
    step t0 + 2; after that (for an integer t0) ax_t is the mean of theta_{t0+2},
    ..., theta_t.
    The average is only kept in the state (``optimizer.state[p]["ax"]``): the
    parameters themselves are the raw iterates, as in PyTorch; copy ``ax`` into
    them to evaluate the averaged model. With the default t0 = 1e6 no averaging
    happens in a short run. State per parameter: ``step``, ``eta``, ``mu``, ``ax``.
    References: B. T. Polyak, A. B. Juditsky, "Acceleration of stochastic
    approximation by averaging", SIAM J. Control Optim. 30(4), 1992; L. Bottou,
    "Stochastic gradient descent tricks", 2012 (the eta_t schedule).

    Example, f(x) = x^2 / 2, averaging from step 102::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = ASGD([p], lr=0.1, t0=100)
        >>> for _ in range(500):
        ...     p.grad = p.data.copy(); opt.step()
        >>> bool(abs(p.data[0]) < 1e-3 and abs(opt.state[p]["ax"][0]) < 1e-3)
        True
    """

    hyperparameters = (
        settings.lr(1e-2),
        settings.number(
            "lambd",
            1e-4,
            "lambd: decay of the step eta_t and shrinkage of theta",
            slider=(0.0, 1.0),
        ),
        settings.number(
            "alpha", 0.75, "alpha: power of the step decay eta_t ~ t^-alpha", slider=(0.0, 2.0)
        ),
        settings.number(
            "t0",
            1e6,
            "t0: step after which the average ax starts",
            slider=(1.0, 1e7),
            log_scale=True,
        ),
        settings.weight_decay(),
        settings.maximize(),
    )
    rule = staticmethod(asgd)


register(ASGD, "asgd", "SGD with a decaying step and a running average of the iterates")
