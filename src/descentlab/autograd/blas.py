"""Matrix products of the autograd layer, each run with the BLAS threads that suit it.

Every product of ``ops.linear`` and ``ops.matmul`` goes through :func:`matmul`.
(The thread policy is added here; for now it is NumPy's ``a @ b``.)
"""

from __future__ import annotations

import numpy as np


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b``."""
    return a @ b
