"""Every viz test: matplotlib UserWarnings are errors, and pyplot is never imported."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
from PIL import Image

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def strict_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        warnings.simplefilter("error", RuntimeWarning)
        yield
    assert "matplotlib.pyplot" not in sys.modules, "a viz function imported pyplot"


def assert_png(path: Path, fig=None) -> tuple[int, int]:
    """The file is a PNG; when ``fig`` is given, its pixel size is the figure's."""
    data = Path(path).read_bytes()
    assert data[:8] == PNG_MAGIC
    with Image.open(path) as im:
        size = im.size
        assert im.format == "PNG"
    if fig is not None:
        w, h = fig.get_size_inches() * fig.dpi
        assert size == (round(w), round(h))
    return size


def gif_info(path: Path) -> tuple[tuple[int, int], int]:
    data = Path(path).read_bytes()
    assert data[:6] in (b"GIF89a", b"GIF87a")
    with Image.open(path) as im:
        return im.size, im.n_frames


def path_lines(ax):
    """The Line2D objects that draw runs (legend-labelled lines)."""
    return [ln for ln in ax.get_lines() if not ln.get_label().startswith("_")]


class Helpers:
    assert_png = staticmethod(assert_png)
    gif_info = staticmethod(gif_info)
    path_lines = staticmethod(path_lines)


@pytest.fixture
def viz_helpers() -> Helpers:
    """The file and figure checks above (test modules cannot import conftest)."""
    return Helpers()
