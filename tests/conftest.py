"""Fixtures for the whole test tree: where the real MNIST / Fashion-MNIST files are.

Tests that need the real image files take the ``real_data``, ``mnist_dir`` or
``fashion_mnist_dir`` fixture. The files are looked for in ``$DESCENTLAB_DATA`` (a
folder holding ``mnist/`` and ``fashion_mnist/``; CI sets it, see ``.ci/run``), else
in ``../shared/data`` beside the checkout; without them those tests are skipped with
a one-line reason, so a fresh ``git clone`` passes.

No test may reach the internet: unless a test points the MNIST mirrors somewhere
itself, they point at a closed port of 127.0.0.1, so an accidental download fails
at once instead of fetching files.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("DESCENTLAB_MNIST_MIRROR", "http://127.0.0.1:9/no-downloads-in-tests/")
os.environ.setdefault(
    "DESCENTLAB_FASHION_MNIST_MIRROR", "http://127.0.0.1:9/no-downloads-in-tests/"
)

CHECKOUT = Path(__file__).resolve().parents[1]


def real_data_root() -> tuple[Path, str]:
    """The folder that should hold ``mnist/`` and ``fashion_mnist/``, and how it was chosen."""
    env = os.environ.get("DESCENTLAB_DATA", "").strip()
    if env:
        return Path(env).expanduser(), "$DESCENTLAB_DATA"
    return CHECKOUT.parent / "shared" / "data", "../shared/data beside the checkout"


def _real_subdir(sub: str, marker: str) -> Path:
    root, source = real_data_root()
    folder = root / sub
    if not (folder / marker).is_file():
        pytest.skip(
            f"real {sub} files not found at {folder} ({source}); set DESCENTLAB_DATA to a "
            f"folder holding {sub}/ to run this test"
        )
    return folder


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real-data folder (holding ``mnist/`` and ``fashion_mnist/``), or skip."""
    _real_subdir("mnist", "t10k-images-idx3-ubyte.gz")
    _real_subdir("fashion_mnist", "t10k-labels-idx1-ubyte.gz")
    return real_data_root()[0]


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The real MNIST files (20000 train, 10000 test in the shared copy), or skip."""
    return _real_subdir("mnist", "t10k-images-idx3-ubyte.gz")


@pytest.fixture(scope="session")
def fashion_mnist_dir() -> Path:
    """The real Fashion-MNIST folder (labels and 2000 test images in the shared copy), or skip."""
    return _real_subdir("fashion_mnist", "t10k-labels-idx1-ubyte.gz")
