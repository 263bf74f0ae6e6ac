"""A large matrix product in fixed parts, run in turn or side by side with the same bits.

OpenBLAS's threaded product splits its work by the thread count, so on some machines
(its Haswell/Zen kernels, and SkylakeX for some shapes) two threads give other bits
than one, and a seeded run would give other numbers when the load changes what the
thread policy chooses. Here the split is descentlab's own and depends on the product's
shape alone: the larger operand is cut (a's rows, so the output's rows, if the output
has at least as many rows as columns; else b's columns, so the output's columns) into
``count`` blocks at multiples of 16, and each block is a product of its own, computed
by one thread. Each thread then reads its share of the larger operand and all of the
smaller one. OpenBLAS's ``cblas_?gemm_batch`` runs such a list of products
on the threads of its pool, each product on one of them, or all on the calling thread
when it is set to one thread: the same one-thread routine for each part either way,
so the bits do not depend on the thread count. OpenBLAS's pool threads wait for work
spinning, so handing a part to one costs a few microseconds, not the 50-300 us of
waking a sleeping Python thread.

The number of parts is the machine's CPU count (the same in every process of the
machine, unlike a process's affinity), at most one per ``PART_WORK`` multiply-adds and
one per ``PART_ROWS`` rows; a product that would have fewer than 2 stays whole.
"""

from __future__ import annotations

import ctypes
import itertools
import os
from typing import Any

import numpy as np

#: A part has at least this many multiply-adds (m n k) ...
PART_WORK = 1 << 21
#: ... and at least this many rows (or columns) of the output.
PART_ROWS = 32
_ALIGN = 16  # parts start at multiples of this many rows
# OpenBLAS's batch products send a product of at most 100^3 multiply-adds to its
# small-matrix kernels, whose address its multi-CPU (DYNAMIC_ARCH) builds, such as the
# 0.3.31 NumPy bundles, do not resolve: a crash (fixed upstream by
# OpenMathLib/OpenBLAS#5980). No part is that small.
SMALL = 100**3
_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112  # CBLAS enums


class Batch:
    """OpenBLAS's ``cblas_sgemm_batch`` and ``cblas_dgemm_batch``, called through ctypes."""

    def __init__(self, sgemm: Any, dgemm: Any, int64: bool) -> None:
        for fn in (sgemm, dgemm):
            fn.restype = None
        self.fns = {"f": (sgemm, ctypes.c_float), "d": (dgemm, ctypes.c_double)}
        self.int = ctypes.c_int64 if int64 else ctypes.c_int32


def find_batch(dynlib: Any, prefix: str, suffix: str, config: str) -> Batch | None:
    """The batch products of an OpenBLAS library (0.3.29 and later), or None."""
    try:
        sgemm = getattr(dynlib, f"{prefix}cblas_sgemm_batch{suffix}")
        dgemm = getattr(dynlib, f"{prefix}cblas_dgemm_batch{suffix}")
    except AttributeError:
        return None
    batch = Batch(sgemm, dgemm, "USE64BITINT" in config)
    return batch if _works(batch) else None


def _works(batch: Batch) -> bool:
    """Whether the batch products give NumPy's product on a small case (an OpenBLAS whose
    batch call reads its arguments otherwise is not used; under a millisecond, once)."""
    rng = np.random.default_rng(0)
    for dtype in (np.float32, np.float64):
        a = rng.standard_normal((128, 160)).astype(dtype)
        b = rng.standard_normal((160, 128)).astype(dtype).T.copy().T  # a transposed layout
        try:
            out = Parts(batch, a, b, 2, 0).run(a, b)
        except (ValueError, OSError):
            return False
        if not np.allclose(out, a @ b, rtol=1e-4, atol=1e-3):
            return False
    return True


def _layout(x: np.ndarray) -> tuple[int, int] | None:
    """The CBLAS transpose flag and leading dimension of a 2-D array, if BLAS can read it."""
    s0, s1 = x.strides
    size = x.itemsize
    rows, cols = x.shape
    if s1 == size and s0 % size == 0 and s0 >= max(cols, 1) * size:
        return _NO_TRANS, s0 // size
    if s0 == size and s1 % size == 0 and s1 >= max(rows, 1) * size:
        return _TRANS, s1 // size
    return None


def part_count(m: int, k: int, n: int) -> tuple[int, int]:
    """How many parts a product of (m, k) by (k, n) is cut into, and along which
    axis of the output (0: rows, 1: columns); 0 parts: it stays whole."""
    # cut the larger operand: each thread then reads its share of it and the smaller one
    # whole (cutting the smaller one makes every thread read all of the larger one)
    axis, rows = (0, m) if m >= n else (1, n)
    count = min(os.cpu_count() or 1, (m * k * n) // PART_WORK, rows // PART_ROWS)
    return (count, axis) if count >= 2 else (0, axis)


class Parts:
    """The plan of one product shape and memory layout in fixed parts (see the module).

    Thread-safe: a call builds its own pointer arrays; the rest is read only.
    """

    def __init__(self, batch: Batch, a: np.ndarray, b: np.ndarray, count: int, axis: int) -> None:
        layout_a, layout_b = _layout(a), _layout(b)
        assert layout_a is not None and layout_b is not None
        (trans_a, lda), (trans_b, ldb) = layout_a, layout_b
        m, k = a.shape
        n = b.shape[1]
        size = a.itemsize
        self.shape = (m, n)
        self.dtype = a.dtype
        self.count = count
        self.axis = axis
        length = (m, n)[axis]
        cuts = [0] + [round(length * i / count / _ALIGN) * _ALIGN for i in range(1, count)]
        cuts.append(length)
        smallest = min(hi - lo for lo, hi in itertools.pairwise(cuts)) * (n if axis == 0 else m) * k
        if smallest <= SMALL:
            raise ValueError(
                f"a part of {(m, k)} @ {(k, n)} in {count} parts would have {smallest} "
                f"multiply-adds; parts need more than {SMALL}"
            )
        a_at, b_at, c_at, ms, ns = [], [], [], [], []
        for lo, hi in itertools.pairwise(cuts):
            if axis == 0:  # a block of a's rows gives a block of the output's rows
                a_at.append(lo * size * (lda if trans_a == _NO_TRANS else 1))
                b_at.append(0)
                c_at.append(lo * n * size)
                ms.append(hi - lo)
                ns.append(n)
            else:  # a block of b's columns gives a block of the output's columns
                a_at.append(0)
                b_at.append(lo * size * (1 if trans_b == _NO_TRANS else ldb))
                c_at.append(lo * size)
                ms.append(m)
                ns.append(hi - lo)
        self.cuts = cuts
        self.offsets = (a_at, b_at, c_at)
        fn, real = batch.fns[a.dtype.char]
        self.fn = fn
        integer = batch.int
        self._args = (
            ctypes.c_int(_ROW_MAJOR),
            (ctypes.c_int * count)(*[trans_a] * count),
            (ctypes.c_int * count)(*[trans_b] * count),
            (integer * count)(*ms),
            (integer * count)(*ns),
            (integer * count)(*[k] * count),
            (real * count)(*[1.0] * count),
            (integer * count)(*[lda] * count),
            (integer * count)(*[ldb] * count),
            (real * count)(*[0.0] * count),
            (integer * count)(*[n] * count),
            integer(count),
            (integer * count)(*[1] * count),
        )

    @classmethod
    def plan(cls, batch: Batch | None, a: np.ndarray, b: np.ndarray) -> Parts | None:
        """The plan for ``a @ b``, or None if it stays whole (too small, a layout or a
        dtype BLAS cannot take as it is, no batch products in this OpenBLAS)."""
        if batch is None or a.ndim != 2 or b.ndim != 2:
            return None
        if a.dtype != b.dtype or a.dtype.char not in batch.fns or not a.dtype.isnative:
            return None
        if not (a.flags.aligned and b.flags.aligned):
            return None
        if _layout(a) is None or _layout(b) is None:
            return None
        m, k = a.shape
        count, axis = part_count(m, k, b.shape[1])
        if not count:
            return None
        try:
            return cls(batch, a, b, count, axis)
        except ValueError:  # a part too small for the batch call
            return None

    def run(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``a @ b`` (of the planned shape and layout), its parts through the batch call."""
        out = np.empty(self.shape, self.dtype)
        count = self.count
        pointers = ctypes.c_void_p * count
        a_at, b_at, c_at = self.offsets
        base_a, base_b, base_c = a.ctypes.data, b.ctypes.data, out.ctypes.data
        (order, ta, tb, ms, ns, ks, alpha, lda, ldb, beta, ldc, groups, sizes) = self._args
        self.fn(
            order,
            ta,
            tb,
            ms,
            ns,
            ks,
            alpha,
            pointers(*[base_a + at for at in a_at]),
            lda,
            pointers(*[base_b + at for at in b_at]),
            ldb,
            beta,
            pointers(*[base_c + at for at in c_at]),
            ldc,
            groups,
            sizes,
        )
        return out
