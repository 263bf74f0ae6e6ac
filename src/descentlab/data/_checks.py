"""Argument checks shared by the data generators (internal)."""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterable
from typing import SupportsFloat, cast

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
    if not np.isfinite(float(noise)) or noise < 0:
        raise ValueError(f"noise must be a finite number >= 0, got {noise!r}")
    return float(noise)


def check_range(name: str, value: object) -> tuple[float, float]:
    """Return a ``(low, high)`` pair of finite floats with low < high, else raise."""
    try:
        # anything else raises TypeError or ValueError here, turned into the message below
        low, high = (float(v) for v in cast("Iterable[SupportsFloat]", value))
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


#: Largest number of classes a data file may declare through its labels (labels 0..k-1).
#: A label such as 10**9 in a file is far more likely corruption than a real class, and
#: would make a classifier allocate a 10**9-wide output layer. Raise the bound with the
#: ``max_classes=`` argument of a loader or the environment variable ``DESCENTLAB_MAX_CLASSES``.
MAX_CLASSES = 10_000

#: Largest payload (bytes) a data file may declare (an IDX header's product of dimensions
#: times the item size, an .npz member's size). The full MNIST training images take 47 MB.
MAX_FILE_BYTES = 2**31


def max_classes(value: int | None = None) -> int:
    """The class-count bound: ``value`` if given, else ``$DESCENTLAB_MAX_CLASSES``, else 10000."""
    source = "max_classes"
    if value is None:
        text = os.environ.get("DESCENTLAB_MAX_CLASSES", "").strip()
        if not text:
            return MAX_CLASSES
        source = "DESCENTLAB_MAX_CLASSES"
        try:
            value = int(text)
        except ValueError:
            raise ValueError(
                f"DESCENTLAB_MAX_CLASSES must be a positive integer, got {text!r}"
            ) from None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{source} must be a positive integer, got {value!r}")
    return int(value)


def check_class_labels(y: np.ndarray, where: str, limit: int) -> None:
    """Raise :class:`~descentlab.data.DataError` unless integer labels lie in ``0..limit-1``."""
    from descentlab.data.idx import DataError

    if len(y) == 0:
        return
    low, high = y.min(), y.max()
    if low < 0:
        index = int(np.argmax(y < 0))
        raise DataError(
            f"{where} holds a negative class label {int(low)} (sample {index}); expected 0..k-1"
        )
    if high >= limit:
        index = int(np.argmax(y >= limit))
        raise DataError(
            f"{where} holds class label {int(high)} (first too large at sample {index}); at most "
            f"{limit} classes (labels 0..{limit - 1}) are accepted: pass max_classes= or set "
            "DESCENTLAB_MAX_CLASSES to allow more"
        )
