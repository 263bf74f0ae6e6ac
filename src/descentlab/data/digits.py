"""scikit-learn's bundled 8 x 8 handwritten digits (no download needed).

1797 grey-scale images of the digits 0..9 (UCI Optical Recognition of Handwritten
Digits, E. Alpaydin and C. Kaynak, CC BY 4.0). The raw pixel values are counts
0..16; :func:`load_digits` divides them by 16 so that features lie in [0, 1].
Requires scikit-learn (the optional extra ``pip install descentlab[data]``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["load_digits"]


def load_digits(*, flatten: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Load the 8 x 8 digits: ``X`` float32 in [0, 1] (pixel / 16), ``y`` int64 in 0..9.

    Args:
        flatten: ``X`` of shape ``(1797, 64)`` if True, else ``(1797, 8, 8)``.

    Raises:
        ImportError: scikit-learn is not installed (``pip install descentlab[data]``).
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "the digits data set is bundled with scikit-learn, which is not installed; "
            "install it with: pip install descentlab[data]"
        ) from exc
    bunch = _sk_load_digits()
    X = np.divide(bunch.data, 16.0).astype(np.float32)
    if not flatten:
        X = X.reshape(-1, 8, 8)
    return X, np.asarray(bunch.target, dtype=np.int64)
