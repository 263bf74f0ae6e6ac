"""Penalties lambda R(theta) added to the loss: L1, L2 and elastic net.

The lecture's objective is  L(theta) + lambda R(theta).  Each regularizer is
called on a Module (or an iterable of Parameters) and returns a scalar Tensor
to add to the loss::

    loss = F.cross_entropy(model(x), y) + nn.L2(1e-4)(model)

By default only weight matrices are penalised (parameters with two or more
dimensions), not biases; pass ``include_bias=True`` to penalise every
parameter.

L1:  R(theta) = sum |theta|     -> gradient lambda sign(theta): drives weights to exactly 0.
L2:  R(theta) = sum theta^2     -> gradient 2 lambda theta: shrinks weights ("weight decay").

PyTorch's optimizer argument ``weight_decay=w`` adds w theta to the gradient,
which equals an L2 penalty with lambda = w / 2 (R = sum theta^2). descentlab
keeps the two apart: penalties here, ``weight_decay`` in ``optim``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from descentlab.autograd import Parameter, Tensor
from descentlab.nn.module import Module


def _check_lambda(name: str, value: float) -> float:
    if not isinstance(value, (int, float, np.floating)) or not np.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def sum_terms(terms: Iterable[Tensor]) -> Tensor:
    """The sum of penalty terms as one Tensor (a float32 zero when there are none)."""
    total: Any = None
    for t in terms:
        total = t if total is None else total + t
    return total if total is not None else Tensor(np.float32(0.0))


class Regularizer:
    """Base: picks the penalised parameters and sums a per-parameter penalty."""

    def __init__(self, include_bias: bool = False) -> None:
        self.include_bias = include_bias

    def penalised(self, params: Module | Iterable[Parameter]) -> list[Tensor]:
        items = params.parameters() if isinstance(params, Module) else params
        chosen: list[Tensor] = []
        for p in items:
            if not isinstance(p, Tensor):
                raise TypeError(f"regularizers take Parameters, got {type(p).__name__}")
            if self.include_bias or p.ndim >= 2:
                chosen.append(p)
        return chosen

    def term(self, p: Tensor) -> Tensor:
        raise NotImplementedError

    def __call__(self, params: Module | Iterable[Parameter]) -> Tensor:
        return sum_terms(self.term(p) for p in self.penalised(params))

    def value(self, params: Module | Iterable[Parameter]) -> float:
        """The penalty as a number (no graph)."""
        return float(self(params).data)


class L1(Regularizer):
    """lambda * sum |theta| (lasso). Its subgradient at 0 is 0."""

    def __init__(self, lam: float, include_bias: bool = False) -> None:
        super().__init__(include_bias)
        self.lam = _check_lambda("L1 lambda", lam)

    def term(self, p: Tensor) -> Tensor:
        return p.abs().sum() * self.lam

    def __repr__(self) -> str:
        return f"L1({self.lam:g})"


class L2(Regularizer):
    """lambda * sum theta^2 (ridge). PyTorch's weight_decay=w equals L2 with lambda = w/2."""

    def __init__(self, lam: float, include_bias: bool = False) -> None:
        super().__init__(include_bias)
        self.lam = _check_lambda("L2 lambda", lam)

    def term(self, p: Tensor) -> Tensor:
        return (p * p).sum() * self.lam

    def __repr__(self) -> str:
        return f"L2({self.lam:g})"


class ElasticNet(Regularizer):
    """l1 * sum |theta| + l2 * sum theta^2 (Zou & Hastie 2005)."""

    def __init__(self, l1: float, l2: float, include_bias: bool = False) -> None:
        super().__init__(include_bias)
        self.l1 = _check_lambda("ElasticNet l1", l1)
        self.l2 = _check_lambda("ElasticNet l2", l2)

    def term(self, p: Tensor) -> Tensor:
        return p.abs().sum() * self.l1 + (p * p).sum() * self.l2

    def __repr__(self) -> str:
        return f"ElasticNet(l1={self.l1:g}, l2={self.l2:g})"


def penalty(l1: float = 0.0, l2: float = 0.0) -> Regularizer | None:
    """The penalty of the lambdas a user gives: ``L1``, ``L2``, ``ElasticNet`` when both
    are non-zero, or None when both are 0 (the command line, the playground, sweeps)."""
    if l1 and l2:
        return ElasticNet(l1, l2)
    if l1:
        return L1(l1)
    if l2:
        return L2(l2)
    return None
