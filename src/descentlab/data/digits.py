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
    table = _read_bundled_file()
    if table is None:
        try:
            from sklearn.datasets import load_digits as _sk_load_digits
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "the digits data set is bundled with scikit-learn, which is not installed; "
                "install it with: pip install descentlab[data]"
            ) from exc
        bunch = _sk_load_digits()
        pixels, target = bunch.data, bunch.target
    else:
        pixels, target = table[:, :-1], table[:, -1]
    X = np.divide(pixels, 16.0).astype(np.float32)
    if not flatten:
        X = X.reshape(-1, 8, 8)
    return X, np.asarray(target, dtype=np.int64)


def _read_bundled_file() -> np.ndarray | None:
    """scikit-learn's ``digits.csv.gz`` read directly, without importing scikit-learn
    (1.2 s, paid again by every worker process of a sweep); None if it is not there
    or not what it should be (then scikit-learn's own loader is used)."""
    import gzip
    import importlib.util
    from pathlib import Path

    try:
        spec = importlib.util.find_spec("sklearn")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / "datasets" / "data" / "digits.csv.gz"
        if path.is_file() and path.stat().st_size < 1 << 20:
            try:
                with gzip.open(path, "rt") as fh:
                    table = np.loadtxt(fh, delimiter=",", dtype=np.float64)
            except (OSError, ValueError, EOFError):
                return None
            ok = table.shape == (1797, 65) and np.all((table >= 0) & (table <= 16))
            return table if ok and np.all(table[:, -1] <= 9) else None
    return None
