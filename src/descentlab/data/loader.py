"""Mini-batches for stochastic gradient descent.

Mini-batch SGD estimates the full gradient from a batch B_t of the data,
``g_t = (1/|B_t|) sum_{i in B_t} grad l_i(theta_t)``, and an epoch is one pass in
which every sample is used exactly once. :class:`DataLoader` produces such
passes in a fresh random order each epoch.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

__all__ = ["DataLoader"]


class DataLoader:
    """Iterate over ``(xb, yb)`` mini-batches of NumPy arrays, reshuffled every epoch.

    Args:
        X: samples, shape ``(n, ...)``.
        y: labels or targets, shape ``(n, ...)``.
        batch_size: samples per batch, a positive int (it may exceed n: one batch).
        shuffle: draw a new random order at the start of every epoch.
        drop_last: skip the final batch if it is smaller than ``batch_size``.
        seed: seed of the loader's own ``np.random.Generator`` (same seed, same orders).

    Every epoch draws one order ``perm``; each shuffled batch is gathered when it is
    asked for, ``X[perm[k*b:(k+1)*b]]``, into a contiguous array of its own (so it is
    still in the cache when the model reads it, and no shuffled copy of the whole data
    set is kept: the loader adds one batch to the memory, not one more ``X``). Without
    shuffling the batches are views of ``X`` and ``y``.

    Attributes:
        num_samples: n.
        batch_size, shuffle, drop_last: as given.
        epoch: number of completed epochs (0 during the first pass).

    ``get_state()`` / ``set_state()`` save and restore the shuffle sequence as a
    JSON-able dict, also in the middle of an epoch, so a resumed run sees exactly the
    batches an uninterrupted one would have seen.

    Example:
        >>> import numpy as np
        >>> X, y = np.arange(10.0).reshape(5, 2), np.arange(5)
        >>> loader = DataLoader(X, y, batch_size=2, seed=0)
        >>> len(loader), [len(yb) for _, yb in loader]
        (3, [2, 2, 1])
    """

    def __init__(
        self,
        X: np.ndarray,
        y: np.ndarray,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        seed: int | None = None,
    ) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)):
            raise TypeError(f"batch_size must be a positive int, got {batch_size!r}")
        if batch_size <= 0:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        X = np.ascontiguousarray(X)
        y = np.ascontiguousarray(y)
        if X.ndim == 0 or y.ndim == 0:
            raise ValueError(
                f"X and y must be arrays with a sample axis, got shapes {X.shape} and {y.shape}"
            )
        if len(X) != len(y):
            raise ValueError(
                f"X and y must hold the same number of samples, got len(X)={len(X)} and "
                f"len(y)={len(y)}"
            )
        self.X = X
        self.y = y
        self.num_samples = len(X)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.epoch = 0
        self._rng = np.random.default_rng(seed)
        self._epoch_start_state: Mapping[str, Any] | None = None
        self._position = 0  # batches handed out in the current epoch
        self._resume_at = 0  # batch to start from after set_state() in mid-epoch

    def __len__(self) -> int:
        """Number of batches per epoch."""
        if self.drop_last:
            return self.num_samples // self.batch_size
        return (self.num_samples + self.batch_size - 1) // self.batch_size

    def __repr__(self) -> str:
        return (
            f"DataLoader(num_samples={self.num_samples}, batch_size={self.batch_size}, "
            f"shuffle={self.shuffle}, drop_last={self.drop_last}, epoch={self.epoch})"
        )

    def _epoch_order(self) -> np.ndarray | None:
        """This epoch's order of the samples (None: in order, no shuffling)."""
        self._epoch_start_state = copy.deepcopy(self._rng.bit_generator.state)
        if not self.shuffle:
            return None
        return self._rng.permutation(self.num_samples)

    def __iter__(self) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        perm = self._epoch_order()
        start, self._resume_at = self._resume_at, 0
        bs, n = self.batch_size, self.num_samples
        X, y = self.X, self.y
        for k in range(start, len(self)):
            self._position = k + 1
            rows = slice(k * bs, min((k + 1) * bs, n))
            if perm is None:
                yield X[rows], y[rows]
            else:
                # mode="clip" skips the bounds check (perm holds every index once)
                yield (
                    X.take(perm[rows], axis=0, mode="clip"),
                    y.take(perm[rows], axis=0, mode="clip"),
                )
        self._position = 0
        self.epoch += 1

    def get_state(self) -> dict[str, Any]:
        """The shuffle state as a JSON-able dict: ``{"epoch", "batch", "bit_generator"}``.

        ``epoch`` counts completed epochs, ``batch`` the batches already handed out of
        the current one (0 between epochs), and ``bit_generator`` is the generator state
        from which the current (or, between epochs, the next) order is drawn.
        """
        in_epoch = 0 < self._position < len(self)
        if in_epoch:
            generator_state = self._epoch_start_state
        else:
            generator_state = self._rng.bit_generator.state
        finished = self._position == len(self) and self._position > 0
        return {
            "epoch": self.epoch + (1 if finished else 0),
            "batch": self._position if in_epoch else 0,
            "bit_generator": copy.deepcopy(generator_state),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restore a state from :meth:`get_state`; the next iteration resumes from it."""
        try:
            epoch = state["epoch"]
            batch = state["batch"]
            generator_state = state["bit_generator"]
        except (KeyError, TypeError):
            raise ValueError(
                "state must be a dict with keys 'epoch', 'batch' and 'bit_generator' "
                f"(from DataLoader.get_state()), got {state!r:.200}"
            ) from None
        for name, value in (("epoch", epoch), ("batch", batch)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"state[{name!r}] must be an int >= 0, got {value!r}")
        if batch >= max(len(self), 1):
            raise ValueError(f"state['batch'] must be < {len(self)} batches per epoch, got {batch}")
        try:
            self._rng.bit_generator.state = copy.deepcopy(generator_state)
        except (TypeError, ValueError, KeyError) as exc:
            raise ValueError(
                f"state['bit_generator'] is not a valid {type(self._rng.bit_generator).__name__} "
                f"state: {exc}"
            ) from None
        self.epoch = int(epoch)
        self._resume_at = int(batch)
        self._position = int(batch)
        self._epoch_start_state = copy.deepcopy(generator_state) if batch else None
