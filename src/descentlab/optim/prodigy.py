"""Prodigy: Adam whose step size d is estimated on the fly (Mishchenko & Defazio, 2024)."""

from __future__ import annotations

import math
from dataclasses import replace
from typing import ClassVar

import numpy as np

from descentlab.optim import settings
from descentlab.optim.base import Closure, Optimizer, ParamGroup, State, scratch_like
from descentlab.optim.registry import register
from descentlab.spec import HyperParam

__all__ = ["Prodigy", "prodigy_moments", "prodigy_step"]


def prodigy_moments(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    d: float,
    dlr: float,
    d0: float,
    beta1: float,
    beta2: float,
    beta3: float,
    safeguard_warmup: bool = False,
    slice_p: int = 1,
    numerator: float = 0.0,
    denominator: float = 0.0,
) -> tuple[float, float]:
    """First pass: update m, v and s in place; return the running sums ``numerator`` +
    sum of (d/d0) dlr <g, x_0 - x> and ``denominator`` + sum of ||s||_1 (added term by
    term, in the reference's order). ``grads`` already carry the sign and any coupled
    decay."""
    for theta, g, state in zip(params, grads, states):
        flat = theta.reshape(-1)[::slice_p]
        g_flat = g.reshape(-1)[::slice_p]
        numerator += (d / d0) * dlr * float(np.dot(g_flat, state["p0"] - flat))
        buf = scratch_like(theta, 0)
        if beta1 > 0:
            m = state["exp_avg"]
            m *= beta1
            np.multiply(g, d * (1 - beta1), out=buf)
            m += buf
        v = state["exp_avg_sq"]
        v *= beta2
        np.multiply(g, d * d * (1 - beta2), out=buf)
        buf *= g
        v += buf
        s = state["s"]
        s *= beta3
        s += ((d / d0) * (d if safeguard_warmup else dlr)) * g_flat
        denominator += float(np.sum(np.abs(s)))
    return numerator, denominator


def prodigy_step(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    d: float,
    dlr: float,
    beta1: float,
    eps: float,
    weight_decay: float = 0.0,
    decouple: bool = True,
) -> None:
    """Second pass: x <- x - dlr m / (sqrt(v) + d eps) (with g d for m when beta1 = 0)."""
    for theta, g, state in zip(params, grads, states):
        state["step"] += 1
        denom = np.sqrt(state["exp_avg_sq"], out=scratch_like(theta, 0))
        denom += d * eps
        buf = scratch_like(theta, 1)
        if weight_decay != 0 and decouple:
            np.multiply(theta, -weight_decay * dlr, out=buf)
            theta += buf
        if beta1 > 0:
            np.multiply(state["exp_avg"], -dlr, out=buf)
        else:
            np.multiply(g, -dlr * d, out=buf)
        buf /= denom
        theta += buf


def _init_state(theta: np.ndarray, state: State, beta1: float, slice_p: int) -> None:
    flat = theta.reshape(-1)[::slice_p]
    state["step"] = 0
    state["s"] = np.zeros_like(flat)
    # An all-zero start is stored as one zero, as the reference does (x_0 = 0 everywhere).
    state["p0"] = flat.copy() if np.any(theta) else np.zeros((), dtype=theta.dtype)
    if beta1 > 0:
        state["exp_avg"] = np.zeros_like(theta)
    state["exp_avg_sq"] = np.zeros_like(theta)


class Prodigy(Optimizer):
    r"""Prodigy: Adam with a learned step size d, as ``prodigyopt.Prodigy``.

    The idea of :class:`AdagradNorm`, taken further: do not ask the user for the
    learning rate, estimate it. Prodigy estimates d ~ ||x_0 - x_*|| (the distance
    to a solution) from the gradients seen so far and takes Adam steps of size
    eta d; eta = 1 (the default) should be left alone, and the method is robust to
    eta and to the problem's scale, where Adam's lr must be tuned. At step t, with
    g_t the gradient (``-`` for ``maximize``, ``+ lambda x`` if not ``decouple``)
    and every sum running over all parameters of all groups::

        eta'_t  = eta d_t                           (times sqrt(1-beta2^t)/(1-beta1^t)
                                                     with use_bias_correction)
        m_t     = beta1 m_{t-1} + (1 - beta1) d_t g_t
        v_t     = beta2 v_{t-1} + (1 - beta2) d_t^2 g_t^2
        r_t     = beta3 r_{t-1} + (d_t/d_0) eta'_t <g_t, x_0 - x_t>
        s_t     = beta3 s_{t-1} + (d_t/d_0) eta'_t g_t     (d_t instead of eta'_t
                                                            with safeguard_warmup)
        dhat_t  = d_coef r_t / ||s_t||_1
        d_{t+1} = min(max(d_0, dhat_1, ..., dhat_t), growth_rate d_t)
        x_{t+1} = x_t (1 - lambda eta'_t) - eta'_t m_t / (sqrt(v_t) + d_{t+1} eps)

    (the decay term only with ``decouple``; with beta1 = 0, d_t g_t replaces m_t).

    ==============  ===========================  ============
    symbol          argument                     default
    ==============  ===========================  ============
    eta             ``lr``                       1.0
    beta1, beta2    ``betas``                    (0.9, 0.999)
    beta3           ``beta3`` (None: sqrt(beta2))  None
    eps             ``eps`` (times d)            1e-8
    lambda          ``weight_decay``             0
    d_0             ``d0``                       1e-6
    -               ``d_coef``                   1.0
    -               ``growth_rate``              inf
    -               ``slice_p`` (every p-th      1
                    entry enters r and s)
    ==============  ===========================  ============

    State per parameter: ``step``, ``s``, ``p0`` (x_0; one zero for an all-zero
    start), ``exp_avg`` (m, if beta1 > 0), ``exp_avg_sq`` (v); in every group: ``d``,
    ``d_max``, ``d_numerator`` (r), ``d_denom``, ``d_hat``, ``k``. As in the
    reference, betas, beta3, d_coef, growth_rate, decouple, use_bias_correction
    and d are read from the first group; every group must have the same lr, or
    0 (no moment updates); ``lr`` must be a single number > 0.
    Differences from the reference: ``maximize`` is ours; ``fsdp_in_use`` is
    accepted and ignored; an unequal lr raises ValueError (RuntimeError there),
    already when the group is added.
    Reference: K. Mishchenko, A. Defazio, "Prodigy: an expeditiously adaptive
    parameter-free learner", ICML 2024 (arXiv:2306.06101).

    Example, f(x) = x^2 / 2 from x_0 = 1 and from 1000, with no lr to tune::

        >>> for start in (1.0, 1000.0):
        ...     p = ArrayParam(np.array([start]))
        ...     opt = Prodigy([p])
        ...     for _ in range(500):
        ...         p.grad = p.data.copy(); opt.step()
        ...     print(bool(abs(p.data[0]) < 1e-3 * start))
        True
        True
    """

    elementwise: ClassVar[bool] = False  # one step size d for all parameters of all groups

    hyperparameters = (
        replace(
            settings.lr(1.0),
            array_ok=False,
            slider=(1e-3, 10.0),
            help="eta: multiplies the estimated step size d (leave at 1)",
        ),
        *settings.betas(0.9, 0.999),
        HyperParam(
            "beta3",
            "float",
            None,
            low=0.0,
            high=1.0,
            nullable=True,
            slider=(0.0, 0.9999),
            help="beta3: decay of r and s (None: sqrt(beta2))",
        ),
        replace(settings.eps(1e-8), low_open=True),
        settings.weight_decay(),
        settings.flag("decouple", "decoupled (AdamW) weight decay", default=True),
        settings.flag("use_bias_correction", "Adam's bias correction in eta'"),
        settings.flag("safeguard_warmup", "leave eta out of s (for lr warmup)"),
        settings.number(
            "d0",
            1e-6,
            "d_0: initial estimate of d",
            low_open=True,
            slider=(1e-10, 1.0),
            log_scale=True,
        ),
        settings.number(
            "d_coef",
            1.0,
            "scales the estimate: d = d_coef r / ||s||_1",
            low_open=True,
            slider=(0.1, 10.0),
            log_scale=True,
        ),
        settings.number(
            "growth_rate",
            math.inf,
            "d may grow by at most this factor per step",
            low=1.0,
            slider=(1.0, math.inf),
        ),
        HyperParam("fsdp_in_use", "object", False, help="accepted for compatibility; ignored"),
        HyperParam(
            "slice_p",
            "int",
            1,
            low=1,
            slider=(1, 32),
            help="use every p-th entry for the d estimate (saves memory)",
        ),
        settings.maximize(),
    )

    def _after_init(self) -> None:
        if not self.defaults["lr"] > 0:
            raise ValueError(
                f"Invalid lr value: {self.defaults['lr']!r}; expected a number > 0 "
                "(only a parameter group may have lr 0)"
            )

    def add_param_group(self, param_group: ParamGroup) -> None:
        """Add a group (with the shared d-estimate fields); its lr must match the others."""
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        d0 = self.defaults["d0"]
        for key, value in (("d", d0), ("d_max", d0), ("d_numerator", 0.0), ("k", 0)):
            group.setdefault(key, value)
        self._check_lrs()

    def _check_lrs(self) -> float:
        lrs = [float(g["lr"]) for g in self.param_groups]
        lr = max(lrs)
        if any(x not in (lr, 0.0) for x in lrs):
            raise ValueError(
                f"Invalid lr value: {lrs}; Prodigy shares one step size d across all "
                "parameter groups, so every group needs the same lr (or 0)"
            )
        return lr

    def step(self, closure: Closure | None = None) -> object:
        """Update every parameter that has a gradient; return ``closure()`` if given."""
        loss = closure() if closure is not None else None
        first = self.param_groups[0]
        beta1, beta2 = first["betas"]
        beta3 = math.sqrt(beta2) if first["beta3"] is None else first["beta3"]
        k, d, d_max = first["k"], first["d"], first["d_max"]
        lr = self._check_lrs()
        bias_correction = (
            ((1 - beta2 ** (k + 1)) ** 0.5) / (1 - beta1 ** (k + 1))
            if first["use_bias_correction"]
            else 1
        )
        dlr = d * lr * bias_correction
        decouple = first["decouple"]

        delta_numerator, d_denom = 0.0, 0.0
        active = []
        for group in self.param_groups:
            params, grads, states = [], [], []
            for p in group["params"]:
                if p.grad is None:
                    continue
                g = np.asarray(p.grad)
                if group["maximize"]:
                    g = np.negative(g)
                if group["weight_decay"] != 0 and not decouple:
                    g = g + group["weight_decay"] * p.data
                state = self.state.setdefault(p, {})
                if "step" not in state:
                    _init_state(p.data, state, beta1, group["slice_p"])
                params.append(p.data)
                grads.append(g)
                states.append(state)
            if group["lr"] > 0.0 and params:
                delta_numerator, d_denom = prodigy_moments(
                    params,
                    grads,
                    states,
                    d=d,
                    dlr=dlr,
                    d0=group["d0"],
                    beta1=beta1,
                    beta2=beta2,
                    beta3=beta3,
                    safeguard_warmup=group["safeguard_warmup"],
                    slice_p=group["slice_p"],
                    numerator=delta_numerator,
                    denominator=d_denom,
                )
            active.append((params, grads, states))

        if d_denom == 0:  # no gradient (or all zero): nothing learned, no step
            return loss
        numerator = first["d_numerator"] * beta3 + delta_numerator
        d_hat = first["d_coef"] * numerator / d_denom
        if d == self.param_groups[-1]["d0"]:
            d = max(d, d_hat)
        d_max = max(d_max, d_hat)
        d = min(d_max, d * first["growth_rate"])

        for group, (params, grads, states) in zip(self.param_groups, active):
            group.update(d_numerator=numerator, d_denom=d_denom, d=d, d_max=d_max, d_hat=d_hat)
            prodigy_step(
                params,
                grads,
                states,
                d=d,
                dlr=dlr,
                beta1=beta1,
                eps=group["eps"],
                weight_decay=group["weight_decay"],
                decouple=decouple,
            )
            group["k"] += 1
        return loss


register(Prodigy, "prodigy", "Adam with a learned step size d: no learning rate to tune")
