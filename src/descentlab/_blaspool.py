"""OpenBLAS's threads, lent to descentlab's compiled loops between its products.

NumPy's OpenBLAS keeps a pool of threads; after a product they wait for the next one,
spinning, for about 0.1 s. A loop of descentlab's that ran on threads of its own
(Numba's ``prange``) would fight them for the same cores: on a 2-vCPU machine an Adam
step over a 235,146-parameter MLP on both cores made its epoch 6-20 % slower than on
one. OpenBLAS runs its own elementwise routines on that pool through
``blas_level1_thread``, which cuts a range into one part per thread and calls a
function on each part, the caller's part included. descentlab's loops use it the same
way: a compiled function (a Numba ``cfunc``) that steps blocks of an array, called on
each thread's share of the blocks. The threads that would have spun run the loop.
Nothing process-wide changes: no setting of OpenBLAS is touched.

The loops are elementwise, so every part gives the bits one thread would.

When the pool is lent (:func:`threads` > 1):

- OpenBLAS was found by the thread policy (``autograd/blas.py``), it has
  ``blas_level1_thread``, and it is a version this was checked on (0.3.21 or later, of
  the 0.3 series);
- its thread count is above one;
- under the policy "auto" (the default), the policy runs at least one product shape on
  all threads. It measures, as it runs, whether the other cores answer (on a busy
  machine it goes back to one thread, and so do the loops). Under "inherit" the loops
  take BLAS's thread count as it is; under "1" they stay on one thread.
"""

from __future__ import annotations

import ctypes
import re
from collections.abc import Callable
from typing import Any

import numpy as np

#: the first and the last OpenBLAS versions whose ``blas_level1_thread`` takes the
#: arguments used here (mode BLAS_DOUBLE = 3 since the bfloat16 types of 0.3.10)
_VERSIONS = ((0, 3, 21), (0, 3, 999))
_BLAS_DOUBLE = 3  # the job receives its arguments as doubles; ``a`` moves 8 bytes a block

#: entries per block: a thread's share is a whole number of blocks
BLOCK = 4096
MAX_SIZE = 1 << 22  # larger arrays keep their own loops (a share's start: one double a block)

_level1: Any = None  # blas_level1_thread of NumPy's OpenBLAS, or None
_get_threads: Callable[[], int] | None = None
_mode = "auto"  # the thread policy's mode, as it tells
_on_all = 0  # product shapes the policy runs on all threads now
# block k of a share starts at _STARTS[k]: ``a`` of each part points into this array
_STARTS = np.arange(MAX_SIZE // BLOCK, dtype=np.float64)
_ALPHA = np.ones(1)
_STARTS_AT, _ALPHA_AT = _STARTS.ctypes.data, _ALPHA.ctypes.data


def version(config: str) -> tuple[int, ...] | None:
    """The version in an ``openblas_get_config`` text ("OpenBLAS 0.3.31 ..."), or None."""
    found = re.search(r"OpenBLAS (\d+)\.(\d+)\.(\d+)", config)
    return tuple(int(x) for x in found.groups()) if found else None


def attach(dynlib: Any, config: str, get_threads: Callable[[], int]) -> bool:
    """Lend this OpenBLAS's pool if it can be (see the module); whether it can."""
    global _level1, _get_threads
    found = version(config)
    if found is None or not _VERSIONS[0] <= found <= _VERSIONS[1]:
        return False
    try:
        fn = dynlib.blas_level1_thread
    except AttributeError:
        return False
    fn.restype = ctypes.c_int
    # (mode, m, n, k, alpha, a, lda, b, ldb, c, ldc, function, threads); pointers as integers
    fn.argtypes = [ctypes.c_int] + [ctypes.c_ssize_t] * 11 + [ctypes.c_int]
    _level1, _get_threads = fn, get_threads  # (threads() reads both; either None: 1)
    return True


def set_mode(mode: str) -> None:
    """The thread policy's mode: "auto", "inherit" or "1"."""
    global _mode
    _mode = mode


def set_on_all(count: int) -> None:
    """How many product shapes the thread policy runs on all threads now."""
    global _on_all
    _on_all = count


def threads() -> int:
    """How many of OpenBLAS's threads a loop may use now (1: run it alone)."""
    get = _get_threads
    if _level1 is None or get is None or _mode == "1" or (_mode == "auto" and _on_all <= 0):
        return 1
    return max(1, int(get()))


def run(job: int, size: int, descriptor: int, numbers: int, count: int) -> None:
    """Call the compiled function at address ``job`` on ``count`` threads' shares of
    ``size`` entries (at most :data:`MAX_SIZE`).

    ``job(m, n, k, alpha, starts, lda, descriptor, ldb, numbers, ldc, buffer)`` steps the
    ``m`` blocks from block ``starts[0]``; ``descriptor`` and ``numbers`` are the
    addresses of the int64 and float64 arrays it reads (the arrays' addresses and sizes,
    the scalars), the same for every share. The caller keeps them alive.
    """
    level1 = _level1
    if level1 is None or not 0 < size <= MAX_SIZE:
        raise RuntimeError(f"OpenBLAS's pool cannot run a loop over {size} entries")
    blocks = -(-size // BLOCK)
    # lda 1: a share's ``starts`` moves by its blocks; ldb, ldc 0: all read the same arrays
    level1(
        _BLAS_DOUBLE, blocks, 0, 0, _ALPHA_AT, _STARTS_AT, 1, descriptor, 0, numbers, 0, job, count
    )
