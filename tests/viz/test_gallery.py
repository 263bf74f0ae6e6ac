"""The gallery in quick mode, the demo report, and lazy imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from descentlab.viz import demo_report, gallery

MAGIC = {".png": b"\x89PNG\r\n\x1a\n", ".gif": b"GIF89a"}


def test_quick_gallery_writes_every_file_it_lists(tmp_path):
    from descentlab.viz.gallery import GALLERY_ITEMS

    assert callable(sys.modules["descentlab.viz.gallery"])  # module and function both work
    paths = gallery(tmp_path / "g", quick=True)
    assert [p.name for p in paths] == [*GALLERY_ITEMS, "gallery.md"]
    for p in paths:
        assert p.exists() and p.stat().st_size > 0
        if p.suffix in MAGIC:
            assert p.read_bytes()[: len(MAGIC[p.suffix])] == MAGIC[p.suffix]
    md = paths[-1].read_text()
    for name in GALLERY_ITEMS:
        assert f"]({name})" in md
    assert md.count("## ") == len(GALLERY_ITEMS)


def test_gallery_markdown_elsewhere_links_relative(tmp_path, monkeypatch):
    import importlib

    module = importlib.import_module("descentlab.viz.gallery")  # the module, not the function
    monkeypatch.setattr(
        module,
        "_items",
        lambda quick: [
            ("one.png", "One", "A caption.", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n"))
        ],
    )
    monkeypatch.setattr(module, "_compact_png", lambda p: None)
    paths = gallery(tmp_path / "docs" / "gallery", markdown=tmp_path / "docs" / "gallery.md")
    assert paths[-1] == tmp_path / "docs" / "gallery.md"
    assert "![One](gallery/one.png)\n\nA caption." in paths[-1].read_text()
    with pytest.raises(ValueError, match=".md"):
        gallery(tmp_path, markdown=tmp_path / "x.txt")


def test_demo_report(tmp_path):
    fig = tmp_path / "figs" / "loss.png"
    fig.parent.mkdir()
    fig.write_bytes(b"\x89PNG\r\n\x1a\n")
    summary = {
        "sgd": {"final loss": 0.1234567, "accuracy": 0.95},
        "adam": {"final loss": 0.01, "accuracy": 0.99, "note": "<b>fast</b>"},
    }
    index = demo_report(tmp_path / "report", {"Loss <curves>": fig}, summary)
    assert index == tmp_path / "report" / "index.html"
    page = index.read_text()
    assert '<img src="../figs/loss.png"' in page
    assert "Loss &lt;curves&gt;" in page and "&lt;b&gt;fast&lt;/b&gt;" in page
    assert '<th scope="col">final loss</th>' in page and "<td>0.123</td>" in page
    flat = demo_report(tmp_path / "r2", {}, {"epochs": 3, "lr": 0.1})
    assert '<th scope="row">epochs</th><td>3</td>' in flat.read_text()
    with pytest.raises(ValueError, match="does not exist"):
        demo_report(tmp_path / "r3", {"x": tmp_path / "missing.png"}, {})
    with pytest.raises(TypeError, match="summary"):
        demo_report(tmp_path / "r4", {}, 42)


def test_importing_descentlab_and_viz_does_not_import_matplotlib():
    code = (
        "import sys, descentlab, descentlab.viz; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'; "
        "descentlab.viz.PALETTE; assert 'matplotlib.pyplot' not in sys.modules"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr


def test_palette_has_a_colour_for_every_registered_optimizer():
    from descentlab.optim import REGISTRY
    from descentlab.viz import PALETTE, optimizer_color

    assert set(REGISTRY) <= set(PALETTE)
    assert len(set(PALETTE.values())) == len(PALETTE)
    assert optimizer_color("GD") == PALETTE["sgd"]
