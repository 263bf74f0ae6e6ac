"""Schedule-Free SGD and AdamW: averaging instead of a learning-rate schedule (Defazio et al.)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from descentlab.optim import settings
from descentlab.optim.base import Closure, Optimizer, ParamGroup, State, scratch_like
from descentlab.optim.registry import register
from descentlab.optim.rmsprop import lerp_
from descentlab.spec import HyperParam

__all__ = [
    "ScheduleFreeAdamW",
    "ScheduleFreeSGD",
    "schedulefree_adamw",
    "schedulefree_sgd",
]

Rate = float | np.ndarray


def _lerp(a: np.ndarray, b: np.ndarray, w: Rate, buf: np.ndarray) -> None:
    """a <- a + w (b - a) in place, rounded as ``torch.lerp``; ``w`` may be an array."""
    if np.ndim(w) == 0:
        lerp_(a, b, float(w), buf)
        return
    np.subtract(b, a, out=buf)
    low = a + w * buf  # torch's two formulas, chosen per element as for a scalar weight
    high = b - buf * (1 - w)
    np.copyto(a, np.where(np.abs(w) < 0.5, low, high))


def _interpolate(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    lr: Rate,
    c: Rate,
    beta: float,
) -> None:
    """The shared y/z move: y <- (1 - c) y + c z + eta (beta (1 - c) - 1) d;  z <- z - eta d.

    ``grads`` hold the step directions d (the gradient, or Adam's normalized one).
    """
    coef = lr * (beta * (1 - c) - 1)
    for y, d, state in zip(params, grads, states):
        z = state["z"]
        buf = scratch_like(y, 0)
        _lerp(y, z, c, buf)
        np.multiply(d, coef, out=buf)
        y += buf
        np.multiply(d, lr, out=buf)
        z -= buf


def schedulefree_sgd(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    lr: Rate,
    c: Rate,
    momentum: float = 0.9,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    """One Schedule-Free SGD step in place: ``params`` hold y; ``states[i]["z"]`` is z.

    ``lr`` is this step's eta_t (after warmup) and ``c`` the averaging weight c_{t+1}.
    """
    directions = []
    for y, g, state in zip(params, grads, states):
        if "z" not in state:
            state["z"] = y.copy()
        if maximize:
            g = np.negative(g)
        if weight_decay != 0:
            g = g + weight_decay * y
        directions.append(g)
    _interpolate(params, directions, states, lr, c, momentum)


def schedulefree_adamw(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[State],
    *,
    lr: Rate,
    c: Rate,
    step: int,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
    maximize: bool = False,
) -> None:
    """One Schedule-Free AdamW step in place: ``params`` hold y; ``states[i]`` holds ``z`` and
    ``exp_avg_sq`` (v). ``step`` is t (1-based) for v's bias correction."""
    bias_correction2 = 1 - beta2**step
    directions = []
    for y, g, state in zip(params, grads, states):
        if "z" not in state:
            state["z"] = y.copy()
            state["exp_avg_sq"] = np.zeros_like(y)
        if maximize:
            g = np.negative(g)
        v = state["exp_avg_sq"]
        v *= beta2
        buf = np.multiply(g, 1 - beta2, out=scratch_like(y, 1))
        buf *= g
        v += buf
        denom = np.divide(v, bias_correction2, out=buf)
        np.sqrt(denom, out=denom)
        denom += eps
        d = g / denom
        if weight_decay != 0:
            d += weight_decay * y  # decay at y, inside the averaged step
        directions.append(d)
    _interpolate(params, directions, states, lr, c, beta1)


def _advance(group: dict[str, Any]) -> tuple[Rate, Rate]:
    """Step the group's averaging bookkeeping; return (eta_t, c_{t+1}).

    eta_t = eta min(1, t / warmup_steps); w_t = t^r (max_{i<=t} eta_i)^weight_lr_power;
    c_{t+1} = w_t / sum_{i<=t} w_i (0 while every weight is 0).
    """
    k = group["k"]
    warmup = group["warmup_steps"]
    lr = group["lr"] * ((k + 1) / warmup if k < warmup else 1.0)
    group["scheduled_lr"] = lr
    if isinstance(lr, np.ndarray) or isinstance(group["lr_max"], np.ndarray):
        lr_max: Rate = np.maximum(lr, group["lr_max"])
    else:
        lr_max = max(lr, group["lr_max"])
    group["lr_max"] = lr_max
    weight = ((k + 1) ** group["r"]) * (lr_max ** group["weight_lr_power"])
    weight_sum = group["weight_sum"] = group["weight_sum"] + weight
    if isinstance(weight_sum, np.ndarray):
        c: Rate = np.divide(
            weight, weight_sum, out=np.zeros_like(weight_sum), where=weight_sum != 0
        )
    else:
        c = weight / weight_sum if weight_sum != 0 else 0.0
    return lr, c


class _ScheduleFree(Optimizer):
    """train()/eval() switching and the per-group bookkeeping shared by both variants."""

    def _beta(self, group: dict[str, Any]) -> float:
        raise NotImplementedError

    def _move(
        self,
        group: dict[str, Any],
        params: list[np.ndarray],
        grads: list[np.ndarray],
        states: list[State],
        lr: Rate,
        c: Rate,
    ) -> None:
        raise NotImplementedError

    def add_param_group(self, param_group: ParamGroup) -> None:
        """Add a group; it starts in the optimizer's current mode with no averaging history."""
        mode = self.param_groups[0]["train_mode"] if self.param_groups else True
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        for key, value in (
            ("k", 0),
            ("train_mode", mode),
            ("weight_sum", 0.0),
            ("lr_max", -1.0),
            ("scheduled_lr", 0.0),
        ):
            group.setdefault(key, value)

    def train(self) -> None:
        """Put y = (1 - beta) z + beta x into the parameters (where the gradient is taken)."""
        self._switch(to_train=True)

    def eval(self) -> None:
        """Put the average x = (y - (1 - beta) z) / beta into the parameters (evaluate it)."""
        self._switch(to_train=False)

    def _switch(self, to_train: bool) -> None:
        for group in self.param_groups:
            if group["train_mode"] == to_train:
                continue
            beta = self._beta(group)
            w = 1 - beta if to_train else 1 - 1 / beta
            for p in group["params"]:
                state = self.state.get(p)
                if state is not None and "z" in state:
                    lerp_(p.data, state["z"], w, scratch_like(p.data, 0))
            group["train_mode"] = to_train

    def step(self, closure: Closure | None = None) -> object:
        """One step from y (train mode only); return ``closure()`` if given."""
        if not self.param_groups[0]["train_mode"]:
            raise RuntimeError(
                f"{type(self).__name__}.step() called in eval mode: the parameters hold the "
                "average x, not the gradient point y; call optimizer.train() first"
            )
        loss = closure() if closure is not None else None
        for group in self.param_groups:
            lr, c = _advance(group)
            active = [p for p in group["params"] if p.grad is not None]
            if active:
                self._move(
                    group,
                    [p.data for p in active],
                    [np.asarray(p.grad) for p in active],
                    [self.state.setdefault(p, {}) for p in active],
                    lr,
                    c,
                )
            group["k"] += 1
        return loss


_COMMON = (
    HyperParam(
        "warmup_steps",
        "int",
        0,
        low=0,
        slider=(0, 1000),
        help="linear warmup of eta over this many steps",
    ),
    settings.number("r", 0.0, "r: average weights grow as t^r", slider=(0.0, 4.0)),
    settings.number(
        "weight_lr_power", 2.0, "average weights grow as (max eta)^power", slider=(0.0, 4.0)
    ),
    HyperParam("foreach", "object", True, help="accepted for compatibility; ignored"),
    settings.maximize(),
)


class ScheduleFreeSGD(_ScheduleFree):
    r"""Schedule-Free SGD, as ``schedulefree.SGDScheduleFree``.

    Three sequences: z (plain SGD steps), x (their weighted average, the point to
    evaluate) and y (between them, where the gradient is taken). At step t, with
    g_t = grad f(y_t) (``-`` for ``maximize``) plus lambda y_t::

        y_t     = (1 - beta) z_t + beta x_t
        z_{t+1} = z_t - eta_t g_t
        x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}
        eta_t   = eta min(1, t / warmup_steps),   c_{t+1} = w_t / sum_{i<=t} w_i,
        w_t     = t^r (max_{i<=t} eta_i)^weight_lr_power

    With constant weights x is the running mean of the z's: Polyak averaging
    that, interpolated with the momentum-like beta, matches or beats a tuned
    cosine/linear-decay schedule without knowing the run's length (winner of
    the AlgoPerf self-tuning track, 2024).

    ===========  =====================  =======
    symbol       argument               default
    ===========  =====================  =======
    eta          ``lr``                 1.0
    beta         ``momentum``           0.9
    lambda       ``weight_decay``       0 (coupled: an L2 penalty at y)
    -            ``warmup_steps``       0
    r            ``r``                  0
    -            ``weight_lr_power``    2
    ===========  =====================  =======

    The parameters hold y in train mode and x in eval mode: call ``train()``
    before training steps and ``eval()`` before evaluating or saving. ``step`` in
    eval mode raises RuntimeError. Only y and z are stored (x is recovered
    exactly from them): state per parameter ``z``; per group ``k`` (steps),
    ``weight_sum``, ``lr_max``, ``scheduled_lr`` and ``train_mode``.

    Differences from the reference: a new optimizer starts in train mode (the
    reference starts in eval mode and refuses ``step`` until ``train()``; before
    the first step both modes hold the same point); a group added later takes the
    current mode; ``maximize`` is ours; ``foreach`` is accepted and ignored.
    Reference: A. Defazio, X. Yang, H. Mehta, K. Mishchenko, A. Khaled,
    A. Cutkosky, "The road less scheduled", NeurIPS 2024 (arXiv:2405.15682).

    Example, f(x) = x^2 / 2::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = ScheduleFreeSGD([p], lr=0.5)
        >>> for _ in range(300):
        ...     p.grad = p.data.copy(); opt.step()
        >>> opt.eval()
        >>> bool(abs(p.data[0]) < 1e-2)
        True
    """

    hyperparameters = (
        settings.lr(1.0),
        settings.number(
            "momentum",
            0.9,
            "beta: y interpolates z and x",
            low_open=True,
            high=1.0,
            high_open=True,
            slider=(0.01, 0.999),
        ),
        settings.weight_decay(),
        *_COMMON,
    )

    def _beta(self, group: dict[str, Any]) -> float:
        return float(group["momentum"])

    def _move(
        self,
        group: dict[str, Any],
        params: list[np.ndarray],
        grads: list[np.ndarray],
        states: list[State],
        lr: Rate,
        c: Rate,
    ) -> None:
        schedulefree_sgd(
            params,
            grads,
            states,
            lr=lr,
            c=c,
            momentum=group["momentum"],
            weight_decay=group["weight_decay"],
            maximize=group["maximize"],
        )


class ScheduleFreeAdamW(_ScheduleFree):
    r"""Schedule-Free AdamW, as ``schedulefree.AdamWScheduleFree``.

    :class:`ScheduleFreeSGD`'s y/z/x sequences, with the step direction
    normalized as in Adam (no first moment: the averaging plays its role)::

        v_t     = beta2 v_{t-1} + (1 - beta2) g_t^2,   vhat_t = v_t / (1 - beta2^t)
        d_t     = g_t / (sqrt(vhat_t) + eps) + lambda y_t
        z_{t+1} = z_t - eta_t d_t,   x_{t+1} = (1 - c_{t+1}) x_t + c_{t+1} z_{t+1}
        y_{t+1} = (1 - beta1) z_{t+1} + beta1 x_{t+1}

    with eta_t, c_{t+1} and the weights as in Schedule-Free SGD.

    ==============  ==========================  ============
    symbol          argument                    default
    ==============  ==========================  ============
    eta             ``lr``                      0.0025
    beta1, beta2    ``betas``                   (0.9, 0.999)
    eps             ``eps`` (outside the sqrt)  1e-8
    lambda          ``weight_decay``            0 (decoupled, at y)
    ==============  ==========================  ============

    ``warmup_steps``, ``r``, ``weight_lr_power``, ``train()``/``eval()``, the group
    bookkeeping and the differences from the reference are those of
    :class:`ScheduleFreeSGD`; state per parameter: ``z``, ``exp_avg_sq`` (v).
    Reference: Defazio et al., "The road less scheduled", NeurIPS 2024.

    Example, f(x) = x^2 / 2::

        >>> p = ArrayParam(np.array([1.0]))
        >>> opt = ScheduleFreeAdamW([p], lr=0.05)
        >>> for _ in range(500):
        ...     p.grad = p.data.copy(); opt.step()
        >>> opt.eval()
        >>> bool(abs(p.data[0]) < 1e-2)
        True
    """

    hyperparameters = (
        settings.lr(0.0025),
        replace(
            settings.betas(0.9, 0.999)[0],
            low_open=True,
            slider=(0.01, 0.999),
            help="beta1: y interpolates z and x",
        ),
        settings.betas(0.9, 0.999)[1],
        settings.eps(1e-8),
        settings.weight_decay(decoupled=True),
        *_COMMON,
    )

    def _beta(self, group: dict[str, Any]) -> float:
        return float(group["betas"][0])

    def _move(
        self,
        group: dict[str, Any],
        params: list[np.ndarray],
        grads: list[np.ndarray],
        states: list[State],
        lr: Rate,
        c: Rate,
    ) -> None:
        beta1, beta2 = group["betas"]
        schedulefree_adamw(
            params,
            grads,
            states,
            lr=lr,
            c=c,
            step=group["k"] + 1,
            beta1=beta1,
            beta2=beta2,
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            maximize=group["maximize"],
        )


register(
    ScheduleFreeSGD,
    "schedulefree_sgd",
    "SGD whose average is evaluated: no learning-rate schedule needed",
    aliases=("sf_sgd",),
)
register(
    ScheduleFreeAdamW,
    "schedulefree_adamw",
    "AdamW whose average is evaluated: no learning-rate schedule needed",
    aliases=("sf_adamw",),
)
