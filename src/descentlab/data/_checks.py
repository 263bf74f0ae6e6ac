"""Argument checks shared by the data generators (internal)."""

from __future__ import annotations

import numbers

import numpy as np


def check_int(name: str, value: object, low: int) -> int:
    """Return ``value`` as an int if it is an integer >= ``low``, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer >= {low}, got {value!r}")
    if value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
    return int(value)


def check_noise(noise: object) -> float:
    """Return ``noise`` as a float if it is a finite number >= 0, else raise."""
    if isinstance(noise, bool) or not isinstance(noise, numbers.Real):
        raise TypeError(f"noise must be a number >= 0, got {noise!r}")
    if not np.isfinite(noise) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    return float(noise)


def check_range(name: str, value: object) -> tuple[float, float]:
    """Return a ``(low, high)`` pair of finite floats with low < high, else raise."""
    try:
        low, high = (float(v) for v in value)  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a pair (low, high) of numbers, got {value!r}") from None
    if not (np.isfinite(low) and np.isfinite(high) and low < high):
        raise ValueError(f"{name} must be finite with low < high, got {value!r}")
    return low, high


def balanced_counts(n: int, k: int) -> np.ndarray:
    """Split ``n`` samples into ``k`` classes whose sizes differ by at most one."""
    counts = np.full(k, n // k, dtype=np.int64)
    counts[: n % k] += 1
    return counts
