"""Gradient clipping, as ``torch.nn.utils.clip_grad_norm_`` / ``clip_grad_value_``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(params: Any) -> list[Any]:
    if hasattr(params, "grad"):
        params = [params]
    return [p for p in params if getattr(p, "grad", None) is not None]


def _vector_norm(x: np.ndarray, norm_type: float) -> float:
    a = np.abs(x)
    if a.size == 0:
        return 0.0
    if norm_type == np.inf:
        return float(np.max(a))
    if norm_type == -np.inf:
        return float(np.min(a))
    if norm_type == 0:
        return float(np.count_nonzero(a))
    if norm_type == 2:
        return float(np.sqrt(np.sum(np.square(a))))
    if norm_type == 1:
        return float(np.sum(a))
    return float(np.sum(a**norm_type) ** (1.0 / norm_type))


def clip_grad_norm_(
    params: Iterable[Any] | Any,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    r"""Rescale the gradients so that their joint norm is at most ``max_norm``; return it.

    The norm is taken over all gradients as one vector: ``N = ||(||g_1||, ..., ||g_k||)||_p``.
    Every gradient is multiplied in place by ``min(1, max_norm / (N + 1e-6))``
    (PyTorch's formula, 1e-6 included). Returns N, the norm before clipping.

    Args:
        params: parameters (objects with ``.grad``) or a single one; ``None``
            gradients are ignored.
        max_norm: the largest norm allowed (>= 0).
        norm_type: p of the p-norm (``float("inf")`` for the max norm).
        error_if_nonfinite: raise if N is NaN or infinite.
    """
    if not max_norm >= 0:
        raise ValueError(f"Invalid max_norm value: {max_norm!r}; expected a number >= 0")
    norm_type = float(norm_type)
    params = _with_grads(params)
    if not params:
        return 0.0
    norms = np.array([_vector_norm(np.asarray(p.grad), norm_type) for p in params])
    total_norm = _vector_norm(norms, norm_type)
    if error_if_nonfinite and not np.isfinite(total_norm):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients is non-finite ({total_norm}), "
            "so it cannot be clipped"
        )
    clip_coef = min(max_norm / (total_norm + 1e-6), 1.0)
    for p in params:
        p.grad *= clip_coef
    return total_norm


def clip_grad_value_(params: Iterable[Any] | Any, clip_value: float) -> None:
    """Clamp every gradient entry into ``[-clip_value, clip_value]`` in place."""
    if not clip_value >= 0:
        raise ValueError(f"Invalid clip_value value: {clip_value!r}; expected a number >= 0")
    for p in _with_grads(params):
        np.clip(p.grad, -clip_value, clip_value, out=p.grad)
