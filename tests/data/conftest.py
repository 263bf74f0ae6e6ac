"""Fixtures shared by the descentlab.data tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from descentlab.data import MNIST_FILES, write_idx

# The real-data fixtures (mnist_dir, fashion_mnist_dir, real_data) live in tests/conftest.py.


def write_fake_mnist(
    directory: Path, n_train: int = 60, n_test: int = 30, gz: bool = True, seed: int = 0
) -> dict[str, np.ndarray]:
    """Write the four MNIST-named IDX files with random 28x28 images; return the arrays."""
    rng = np.random.default_rng(seed)
    arrays = {
        MNIST_FILES[0]: rng.integers(0, 256, size=(n_train, 28, 28), dtype=np.uint8),
        MNIST_FILES[1]: (np.arange(n_train) % 10).astype(np.uint8),
        MNIST_FILES[2]: rng.integers(0, 256, size=(n_test, 28, 28), dtype=np.uint8),
        MNIST_FILES[3]: (np.arange(n_test) % 10).astype(np.uint8),
    }
    directory.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        write_idx(directory / (stem + (".gz" if gz else "")), array, gzip=gz)
    return arrays


@pytest.fixture
def make_fake_mnist():
    """The function :func:`write_fake_mnist`, for tests that write IDX directories."""
    return write_fake_mnist
