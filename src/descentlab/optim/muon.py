"""Muon: momentum whose update matrix is orthogonalized by a Newton-Schulz iteration."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import ClassVar

import numpy as np

from descentlab.optim import settings
from descentlab.optim.base import Optimizer, ParamGroup
from descentlab.optim.registry import register
from descentlab.optim.rmsprop import lerp_
from descentlab.spec import HyperParam

__all__ = ["Muon", "muon", "newton_schulz"]


def _bfloat16(x: np.ndarray) -> np.ndarray:
    """Round to the nearest bfloat16 (ties to even), via float32 as PyTorch converts.

    bfloat16 keeps float32's exponent and 8 significant bits; the values are returned
    as a float32 array. NaN and infinity are kept.
    """
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32: inf, as PyTorch
        f = np.asarray(x, dtype=np.float32)
    bits = f.view(np.uint32).astype(np.uint64)
    rounded = (bits + np.uint64(0x7FFF) + ((bits >> np.uint64(16)) & np.uint64(1))) & np.uint64(
        0xFFFF0000
    )
    out = rounded.astype(np.uint32).view(np.float32)
    return np.where(np.isfinite(f), out, f)


def _float32(x: np.ndarray) -> np.ndarray:
    """``x`` rounded to float32, returned in float64 for exact further products."""
    return x.astype(np.float32).astype(np.float64)


def newton_schulz(
    G: np.ndarray,
    coefficients: tuple[float, float, float] = (3.4445, -4.775, 2.0315),
    steps: int = 5,
    eps: float = 1e-7,
) -> np.ndarray:
    """An approximation of U V^T for G = U S V^T, in bfloat16 as PyTorch's Muon computes it.

    X <- G / max(||G||_F, eps), then ``steps`` times X <- a X + (b A + c A^2) X with
    A = X X^T (X transposed first when it has more rows than columns). Every
    intermediate is rounded to bfloat16 the way PyTorch's CPU kernels round it.
    Returns float32 holding bfloat16 values.
    """
    a, b, c = (np.float64(np.float32(k)) for k in coefficients)
    X = _bfloat16(G)
    transposed = X.shape[0] > X.shape[1]
    if transposed:
        X = X.T
    norm = _bfloat16(np.sqrt(np.sum(np.square(X, dtype=np.float64))))
    X = _bfloat16(X / np.maximum(norm, np.float32(eps)))
    for _ in range(steps):
        # Like PyTorch's bfloat16 matrix products: a float32 sum of exact products, scaled
        # in float32, the other term added in one rounding, then rounded to bfloat16.
        X64 = X.astype(np.float64)
        A = _bfloat16(X64 @ X64.T).astype(np.float64)
        cAA = _float32(c * _float32(A @ A))
        B = _bfloat16(cAA + b * A).astype(np.float64)
        X = _bfloat16(_float32(B @ X64) + a * X64)
    return X.T if transposed else X


def _adjusted_lr(lr: float, shape: tuple[int, ...], adjust_lr_fn: str | None) -> float:
    rows, cols = shape
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols)) * lr
    return lr * math.sqrt(max(1, rows / cols))


def muon(
    params: list[np.ndarray],
    grads: list[np.ndarray],
    states: list[dict],
    *,
    lr: float,
    weight_decay: float = 0.1,
    momentum: float = 0.95,
    nesterov: bool = True,
    ns_a: float = 3.4445,
    ns_b: float = -4.775,
    ns_c: float = 2.0315,
    eps: float = 1e-7,
    ns_steps: int = 5,
    adjust_lr_fn: str | None = None,
) -> None:
    """Apply one Muon step in place to each 2-D array; ``states[i]`` holds ``momentum_buffer``."""
    for theta, g, state in zip(params, grads, states):
        if theta.ndim != 2:
            raise ValueError(_shape_message(theta.shape))
        B = state.get("momentum_buffer")
        if B is None:
            B = state["momentum_buffer"] = np.zeros_like(theta)
        buf = np.empty_like(theta)
        lerp_(B, g, 1 - momentum, buf)
        if nesterov:
            update = np.array(g, dtype=theta.dtype, copy=True)
            lerp_(update, B, momentum, buf)
        else:
            update = B
        O = newton_schulz(update, (ns_a, ns_b, ns_c), ns_steps, eps).astype(theta.dtype)
        theta *= 1 - lr * weight_decay
        np.multiply(O, -_adjusted_lr(lr, theta.shape, adjust_lr_fn), out=buf)
        theta += buf


def _shape_message(shape: tuple[int, ...]) -> str:
    return (
        f"Muon only supports 2-D parameters, got a parameter of shape {tuple(shape)}; "
        "optimize vectors, scalars and embeddings with another optimizer (e.g. AdamW)"
    )


class Muon(Optimizer):
    r"""Muon (MomentUm Orthogonalized by Newton-Schulz), as ``torch.optim.Muon``.

    For a matrix parameter theta (m x n) with gradient g_t, at step t::

        B_t     <- beta B_{t-1} + (1 - beta) g_t                  (B_0 = 0)
        D_t     <- (1 - beta) g_t + beta B_t  (nesterov)  or  B_t
        O_t     <- NS_k^(a,b,c)(D_t; eps)                          (~ U V^T of D_t = U S V^T)
        theta   <- theta_{t-1} - eta * lambda * theta_{t-1}        (decoupled decay)
        theta_t <- theta - eta' O_t

    NS (Newton-Schulz): X <- D / max(||D||_F, eps); k times X <- a X + (b A + c A^2) X
    with A = X X^T; it pushes every singular value towards 1, so O_t is (nearly) an
    orthogonal matrix of the shape of the update. As in PyTorch (and Keller Jordan's
    implementation) it runs in bfloat16: the result is the same to the last bit for
    small matrices and may differ from PyTorch in a few bfloat16 roundings for large
    ones (PyTorch's float32 accumulation order is not reproduced).

    eta' adjusts the step to the shape: ``"original"`` (the default, ``None``) uses
    eta sqrt(max(1, m/n)) (Keller Jordan); ``"match_rms_adamw"`` uses 0.2 eta
    sqrt(max(m, n)) (Moonshot AI), so that learning rate and decay tuned for AdamW carry over.

    ============  =======================  ===========================
    symbol        argument                 default
    ============  =======================  ===========================
    eta           ``lr``                   1e-3
    lambda        ``weight_decay``         0.1
    beta          ``momentum``             0.95
    --            ``nesterov``             True
    (a, b, c)     ``ns_coefficients``      (3.4445, -4.775, 2.0315)
    eps           ``eps``                  1e-7
    k             ``ns_steps``             5
    --            ``adjust_lr_fn``         None (``"original"``)
    ============  =======================  ===========================

    Only 2-D parameters: any other shape raises ValueError naming it (biases and
    embeddings belong to another optimizer). State per parameter: ``momentum_buffer``.
    References: K. Jordan et al., "Muon: an optimizer for hidden layers in neural
    networks", 2024 (kellerjordan.github.io/posts/muon); J. Liu et al., "Muon is
    scalable for LLM training", arXiv:2502.16982, 2025.

    Example, f(X) = ||X - I||^2 / 2 for a 3 x 3 matrix::

        >>> p = ArrayParam(np.zeros((3, 3)))
        >>> opt = Muon([p], lr=0.02, weight_decay=0.0)
        >>> for _ in range(200):
        ...     p.grad = p.data - np.eye(3); opt.step()
        >>> bool(np.abs(p.data - np.eye(3)).max() < 0.05)
        True
    """

    hyperparameters: ClassVar[tuple[HyperParam, ...]] = (
        replace(settings.lr(1e-3), array_ok=False),
        settings.weight_decay(0.1, decoupled=True),
        settings.number("momentum", 0.95, "beta: momentum", slider=(0.0, 0.999)),
        settings.flag("nesterov", "Nesterov momentum", default=True),
        HyperParam(
            "ns_a",
            "float",
            3.4445,
            slider=(0.0, 5.0),
            pack="ns_coefficients",
            help="a: linear coefficient of the Newton-Schulz polynomial",
        ),
        HyperParam(
            "ns_b",
            "float",
            -4.775,
            slider=(-10.0, 0.0),
            pack="ns_coefficients",
            help="b: cubic coefficient of the Newton-Schulz polynomial",
        ),
        HyperParam(
            "ns_c",
            "float",
            2.0315,
            slider=(0.0, 5.0),
            pack="ns_coefficients",
            help="c: quintic coefficient of the Newton-Schulz polynomial",
        ),
        settings.eps(1e-7, help="eps: floor of ||update||_F in the normalization"),
        HyperParam(
            "ns_steps",
            "int",
            5,
            low=0,
            high=100,
            high_open=True,
            slider=(0, 10),
            help="k: Newton-Schulz iterations (fewer than 100)",
        ),
        HyperParam(
            "adjust_lr_fn",
            "choice",
            None,
            choices=("original", "match_rms_adamw"),
            nullable=True,
            help="eta': the step's scaling by the matrix's shape",
        ),
    )
    rule = staticmethod(muon)

    #: The whole matrix is orthogonalized at once (not elementwise).
    elementwise: ClassVar[bool] = False

    def add_param_group(self, param_group: ParamGroup) -> None:
        """Add a group of 2-D parameters (any other shape raises ValueError naming it)."""
        given = param_group.get("params") if isinstance(param_group, dict) else None
        if given is not None and not isinstance(given, set):
            params: list[object] = (
                [given]
                if hasattr(given, "data") or not isinstance(given, Iterable)
                else list(given)
            )
            for p in params:
                data = getattr(p, "data", None)
                if isinstance(data, np.ndarray) and data.ndim != 2:
                    raise ValueError(_shape_message(data.shape))
            param_group = {**param_group, "params": params}
        super().add_param_group(param_group)


register(Muon, "muon", "momentum orthogonalized by Newton-Schulz (2-D parameters only)")
