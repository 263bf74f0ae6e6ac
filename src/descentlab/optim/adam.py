"""Adam, AMSGrad, AdamW (decoupled weight decay) and NAdam (Nesterov-accelerated Adam)."""

from __future__ import annotations

from typing import Any

import numpy as np

from descentlab.optim import fused, settings
from descentlab.optim.base import Optimizer, State, flush_subnormal_, scratch_like
from descentlab.optim.params import MOMENT_FLOOR
from descentlab.optim.registry import register
from descentlab.optim.rmsprop import lerp_

__all__ = ["Adam", "AdamW", "NAdam", "adam", "adamw", "nadam"]


def prepare_gradient(
    theta: np.ndarray,
    g: np.ndarray,
    *,
    maximize: bool,
    weight_decay: float,
    lr: float | np.ndarray,
    decoupled: bool,
) -> np.ndarray:
    """The gradient after its sign (maximize) and coupled decay g + lambda theta; decoupled
    decay instead shrinks theta in place, theta <- theta (1 - eta lambda). The Adam family
    (Adam, AdamW, NAdam, RAdam, Adamax) starts its step with this."""
    if maximize:
        g = np.negative(g)
    if weight_decay != 0:
        if decoupled:
            theta *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * theta
    return g


def update_moments(
    m: np.ndarray, v: np.ndarray, g: np.ndarray, beta1: float, beta2: float, buf: np.ndarray
) -> None:
    """m <- beta1 m + (1 - beta1) g and v <- beta2 v + (1 - beta2) g^2, in place (``buf`` is
    scratch space shaped like g); subnormal moments become 0, and so does m below
    ``MOMENT_FLOOR`` x the smallest normal (:func:`~descentlab.optim.params.flush_subnormal_`)."""
    lerp_(m, g, 1 - beta1, buf)
    np.multiply(g, 1 - beta2, out=buf)
    buf *= g
    v *= beta2
    v += buf
    flush_subnormal_(m, buf, MOMENT_FLOOR)
    flush_subnormal_(v, buf)


def adam(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    lr: float | np.ndarray,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    amsgrad: bool = False,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
) -> None:
    """Apply one Adam step in place; ``states[i]`` holds ``step``, ``exp_avg``,
    ``exp_avg_sq`` and (amsgrad) ``max_exp_avg_sq``."""
    for theta, state in zip(params, states):
        if "exp_avg" not in state:
            state["step"] = 0
            state["exp_avg"] = fused.zeros_apart(theta, 0)
            state["exp_avg_sq"] = fused.zeros_apart(theta, 1)
            if amsgrad:
                state["max_exp_avg_sq"] = fused.zeros_apart(theta, 2)
        state["step"] += 1
    keys = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq" if amsgrad else None)
    fast, slow = fused.split(params, grads, states, keys, lr)
    if fast:
        fused.run(
            "adam",
            fast,
            params,
            grads,
            states,
            keys,
            fused.rows_by_step(
                fast, states, lambda t: (float(lr / (1 - beta1**t)), (1 - beta2**t) ** 0.5)
            ),
            (
                float(lr),
                float(beta1),
                float(beta2),
                float(eps),
                float(weight_decay),
                bool(maximize),
                bool(decoupled_weight_decay),
                bool(amsgrad),
            ),
        )
    for i in slow:
        theta, g, state = params[i], grads[i], states[i]
        t = state["step"]
        g = prepare_gradient(
            theta,
            g,
            maximize=maximize,
            weight_decay=weight_decay,
            lr=lr,
            decoupled=decoupled_weight_decay,
        )
        m, v = state["exp_avg"], state["exp_avg_sq"]
        buf = scratch_like(theta, 0)
        update_moments(m, v, g, beta1, beta2, buf)
        bias_correction1 = 1 - beta1**t
        bias_correction2_sqrt = (1 - beta2**t) ** 0.5
        step_size = lr / bias_correction1
        if amsgrad:
            vmax = state["max_exp_avg_sq"]
            np.maximum(vmax, v, out=vmax)
            np.sqrt(vmax, out=buf)
        else:
            np.sqrt(v, out=buf)
        buf /= bias_correction2_sqrt
        buf += eps
        denom = buf
        buf = np.multiply(m, step_size, out=scratch_like(theta, 1))
        buf /= denom
        theta -= buf


def adamw(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    lr: float | np.ndarray,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 1e-2,
    amsgrad: bool = False,
    maximize: bool = False,
) -> None:
    """Apply one AdamW step in place: :func:`adam` with decoupled weight decay."""
    adam(
        params,
        grads,
        states,
        lr=lr,
        beta1=beta1,
        beta2=beta2,
        eps=eps,
        weight_decay=weight_decay,
        amsgrad=amsgrad,
        maximize=maximize,
        decoupled_weight_decay=True,
    )


class Adam(Optimizer):
    r"""Adam (and AMSGrad), as ``torch.optim.Adam``.

    Update at step t (g_t includes ``-`` for ``maximize``)::

        g_t     <- g_t + lambda * theta_{t-1}                  (coupled L2, if lambda != 0)
        m_t     <- beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t     <- beta2 * v_{t-1} + (1 - beta2) * g_t^2
        mhat_t  <- m_t / (1 - beta1^t);   vhat_t <- v_t / (1 - beta2^t)
        theta_t <- theta_{t-1} - eta * mhat_t / (sqrt(vhat_t) + eps)
        amsgrad: vmax_t <- max(vmax_{t-1}, v_t) (raw v), and vmax_t replaces v_t above

    ==============  ==========================  ============
    symbol          argument                    default
    ==============  ==========================  ============
    eta             ``lr``                      1e-3
    beta1, beta2    ``betas``                   (0.9, 0.999)
    eps             ``eps`` (outside the sqrt)  1e-8
    lambda          ``weight_decay``            0
    ==============  ==========================  ============

    ``decoupled_weight_decay=True`` turns Adam into AdamW (see :class:`AdamW`).
    State per parameter: ``step``, ``exp_avg`` (m_t), ``exp_avg_sq`` (v_t),
    ``max_exp_avg_sq`` (amsgrad). References: D. P. Kingma, J. Ba, "Adam: a method
    for stochastic optimization", ICLR 2015; S. J. Reddi, S. Kale, S. Kumar, "On
    the convergence of Adam and beyond", ICLR 2018 (AMSGrad).

    Example, f(x) = x^2 / 2::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = Adam([p], lr=0.1)
        >>> for _ in range(500):
        ...     p.grad = p.data.copy(); opt.step()
        >>> bool(abs(p.data[0]) < 1e-3)
        True
    """

    hyperparameters = (
        settings.lr(1e-3),
        *settings.betas(0.9, 0.999),
        settings.eps(1e-8),
        settings.weight_decay(),
        settings.flag("amsgrad", "AMSGrad: use the running maximum of v (Reddi et al., 2018)"),
        settings.maximize(),
        settings.flag("decoupled_weight_decay", "decay the weights directly (AdamW)", kw_only=True),
    )
    rule = staticmethod(adam)


class AdamW(Optimizer):
    r"""AdamW: Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    Update at step t: first shrink the weights, then take an Adam step whose
    gradient carries no decay term::

        theta_{t-1} <- theta_{t-1} - eta * lambda * theta_{t-1}
        m_t, v_t, mhat_t, vhat_t as in Adam (from the raw g_t)
        theta_t <- theta_{t-1} - eta * mhat_t / (sqrt(vhat_t) + eps)

    Arguments and defaults as :class:`Adam` except ``weight_decay`` (lambda) = 1e-2.
    Coupled (Adam's ``weight_decay``) and decoupled decay agree only for plain SGD;
    with adaptive denominators the decoupled form shrinks every weight at the
    same relative rate eta * lambda.
    Reference: I. Loshchilov, F. Hutter, "Decoupled weight decay regularization",
    ICLR 2019.

    Example, f(x) = x^2 / 2::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = AdamW([p], lr=0.1)
        >>> for _ in range(500):
        ...     p.grad = p.data.copy(); opt.step()
        >>> bool(abs(p.data[0]) < 1e-3)
        True
    """

    hyperparameters = (
        settings.lr(1e-3),
        *settings.betas(0.9, 0.999),
        settings.eps(1e-8),
        settings.weight_decay(1e-2, decoupled=True),
        settings.flag("amsgrad", "AMSGrad: use the running maximum of v (Reddi et al., 2018)"),
        settings.maximize(),
    )
    rule = staticmethod(adamw)


def nadam(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    lr: float | np.ndarray,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    momentum_decay: float = 4e-3,
    maximize: bool = False,
    decoupled_weight_decay: bool = False,
) -> None:
    """Apply one NAdam step in place; ``states[i]`` holds ``step``, ``mu_product``,
    ``exp_avg`` and ``exp_avg_sq``."""
    rows: list[tuple[Any, ...]] = []  # floats, or arrays for an array of learning rates
    for theta, state in zip(params, states):
        if "exp_avg" not in state:
            state["step"] = 0
            state["mu_product"] = 1.0
            state["exp_avg"] = fused.zeros_apart(theta, 0)
            state["exp_avg_sq"] = fused.zeros_apart(theta, 1)
        state["step"] += 1
        t = state["step"]
        bias_correction2 = 1 - beta2**t
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * momentum_decay))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * momentum_decay))
        state["mu_product"] *= mu
        mu_product = state["mu_product"]
        mu_product_next = mu_product * mu_next
        rows.append(
            (
                bias_correction2,
                lr * (1.0 - mu) / (1.0 - mu_product),
                lr * mu_next / (1.0 - mu_product_next),
            )
        )
    keys = ("exp_avg", "exp_avg_sq")
    fast, slow = fused.split(params, grads, states, keys, lr)
    if fast:
        fused.run(
            "nadam",
            fast,
            params,
            grads,
            states,
            keys,
            [rows[i] for i in fast],
            (
                float(lr),
                float(beta1),
                float(beta2),
                float(eps),
                float(weight_decay),
                bool(maximize),
                bool(decoupled_weight_decay),
            ),
        )
    for i in slow:
        theta, g, state = params[i], grads[i], states[i]
        g = prepare_gradient(
            theta,
            g,
            maximize=maximize,
            weight_decay=weight_decay,
            lr=lr,
            decoupled=decoupled_weight_decay,
        )
        bias_correction2, step_grad, step_avg = rows[i]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        buf = scratch_like(theta, 0)
        update_moments(m, v, g, beta1, beta2, buf)
        denom = np.divide(v, bias_correction2, out=scratch_like(theta, 1))
        np.sqrt(denom, out=denom)
        denom += eps
        np.multiply(g, step_grad, out=buf)
        buf /= denom
        theta -= buf
        np.multiply(m, step_avg, out=buf)
        buf /= denom
        theta -= buf


class NAdam(Optimizer):
    r"""NAdam: Adam with Nesterov momentum and a momentum schedule, as ``torch.optim.NAdam``.

    Update at step t (g_t includes ``-`` for ``maximize``)::

        g_t     <- g_t + lambda * theta_{t-1}        (decoupled: theta <- theta (1 - eta lambda))
        mu_t    <- beta1 * (1 - 0.5 * 0.96^(t psi)),  mu_{t+1} likewise,  Pi_t = prod_{i<=t} mu_i
        m_t     <- beta1 * m_{t-1} + (1 - beta1) * g_t
        v_t     <- beta2 * v_{t-1} + (1 - beta2) * g_t^2
        D_t     <- sqrt(v_t / (1 - beta2^t)) + eps
        theta_t <- theta_{t-1} - eta (1 - mu_t) / (1 - Pi_t) * g_t / D_t
                               - eta mu_{t+1} / (1 - Pi_t mu_{t+1}) * m_t / D_t

    ==============  ==========================  ============
    symbol          argument                    default
    ==============  ==========================  ============
    eta             ``lr``                      2e-3
    beta1, beta2    ``betas``                   (0.9, 0.999)
    eps             ``eps`` (outside the sqrt)  1e-8
    lambda          ``weight_decay``            0
    psi             ``momentum_decay``          4e-3
    ==============  ==========================  ============

    State per parameter: ``step``, ``mu_product`` (Pi_t), ``exp_avg`` (m_t),
    ``exp_avg_sq`` (v_t). Reference: T. Dozat, "Incorporating Nesterov momentum
    into Adam", ICLR 2016 workshop.

    Example, f(x) = x^2 / 2::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = NAdam([p], lr=0.1)
        >>> for _ in range(500):
        ...     p.grad = p.data.copy(); opt.step()
        >>> bool(abs(p.data[0]) < 1e-3)
        True
    """

    hyperparameters = (
        settings.lr(2e-3),
        *settings.betas(0.9, 0.999),
        settings.eps(1e-8),
        settings.weight_decay(),
        settings.number("momentum_decay", 4e-3, "psi of the mu_t schedule", slider=(0.0, 0.1)),
        settings.flag("decoupled_weight_decay", "decay the weights directly (NAdamW)"),
        settings.maximize(),
    )
    rule = staticmethod(nadam)


register(Adam, "adam", "momentum + RMSprop with bias correction")
register(AdamW, "adamw", "Adam with decoupled weight decay")
register(NAdam, "nadam", "Adam with Nesterov momentum")
