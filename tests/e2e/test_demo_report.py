"""The demo's index.html in Chromium, opened from disk (file://), at the three viewports.

The report is built by the demo's own code (``demo._report_tables`` and
``viz.demo_report``) from real races and the real learning-rate experiment; the
training numbers are given at full float precision, to check that the page rounds
them. Checked from the page's boxes and text: one headed table per experiment with
the expected rows and columns, no Python dict text, no number with more than 4
significant digits, every image loaded and inside the page, no sideways scrolling.
Screenshots: ``test-artifacts/demo-report-<viewport>.png``.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from descentlab import demo, viz

from .conftest import VIEWPORTS

#: What the page shows: its width, every table with its heading, cells and box, every image.
GEOMETRY = """() => ({
  inner: window.innerWidth,
  scroll: document.documentElement.scrollWidth,
  text: document.body.innerText,
  tables: [...document.querySelectorAll('section')].map(sec => {
    const t = sec.querySelector('table'), r = t.getBoundingClientRect();
    const wrap = t.parentElement.getBoundingClientRect();
    return {
      title: sec.querySelector('h3').textContent,
      columns: [...t.querySelectorAll('th[scope=col]')].map(th => th.textContent),
      rows: [...t.querySelectorAll('th[scope=row]')].map(th => th.textContent),
      cells: [...t.querySelectorAll('td')].map(td => td.textContent),
      right: r.right, wrapRight: wrap.right, left: r.left,
    };
  }),
  images: [...document.querySelectorAll('figure img')].map(img => {
    const r = img.getBoundingClientRect();
    return {src: img.getAttribute('src'), complete: img.complete,
            natural: img.naturalWidth, width: r.width, height: r.height,
            left: r.left, right: r.right};
  }),
})"""

#: a number in a cell: 0.0992, -1.25e+03, 100, 4.02e-07, 94.2
NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:e[+-]?\d+)?")


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Any:
    """index.html of a small demo: real races and learning-rate runs, few frames."""
    from descentlab import landscapes

    out = tmp_path_factory.mktemp("demo-report")
    races = demo._race(quick=True)
    summary = {
        "race": {
            surface: {
                name: {"status": str(r.status), "steps": int(r.nit), "f": float(r.fun)}
                for name, r in results.items()
            }
            for surface, (_, results) in races.items()
        },
        "learning_rates": demo._lr_experiment(),
        "training": {
            "SGD": {
                "test_accuracy": 0.9415094339622642,
                "test_loss": 0.19712345678,
                "train_accuracy": 0.948329621380846,
                "seconds": 3.61234,
            },
            "Adam + L2 + dropout": {
                "test_accuracy": 0.9638364779874213,
                "test_loss": 0.1181234567,
                "train_accuracy": 0.9625835189309577,
                "seconds": 3.5987654,
            },
        },
        "comparison": {"ill_conditioned": "nesterov (lr 0.1), then momentum, gd"},
    }
    figures = {
        "race on saddle": out / "race_saddle.png",
        "race animation on beale": out / "race_beale.gif",
        "learning rates on x^2": out / "lr_sweep.png",
    }
    f, results = races["saddle"]
    bounds = landscapes.CLASSIC_RACES["saddle"]["bounds"]
    viz.plot_landscape(f, results, bounds=bounds, resolution=60, out=figures["race on saddle"])
    f, results = races["beale"]
    viz.race_animation(
        f,
        results,
        frames=3,
        out=figures["race animation on beale"],
        bounds=landscapes.CLASSIC_RACES["beale"]["bounds"],
    )
    viz.plot_lr_sweep(
        demo.LR_FUNCTION,
        demo.LEARNING_RATES,
        x0=[demo.LR_START],
        steps=demo.LR_STEPS,
        out=figures["learning rates on x^2"],
    )
    index = viz.demo_report(out, figures, demo._report_tables(summary, races))
    return index, summary


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_demo_report_in_chromium(browser: Any, artifacts, report, viewport) -> None:
    index, summary = report
    width, height, scale = VIEWPORTS[viewport]
    ctx = browser.new_context(
        viewport={"width": width, "height": height},
        device_scale_factor=scale,
        is_mobile=viewport == "phone",
        has_touch=viewport == "phone",
    )
    errors: list[str] = []
    try:
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.goto(index.resolve().as_uri())
        page.wait_for_load_state("load")
        page.wait_for_function(
            "[...document.images].every(i => i.complete && i.naturalWidth > 0)", timeout=15000
        )
        geo = page.evaluate(GEOMETRY)
        page.screenshot(path=str(artifacts / f"demo-report-{viewport}.png"), full_page=True)
    finally:
        ctx.close()
    assert not errors, f"console errors: {errors}"
    assert geo["inner"] == width
    assert geo["scroll"] <= geo["inner"], "the page scrolls sideways"

    # one table per experiment, with its heading, rows and columns
    titles = [t["title"] for t in geo["tables"]]
    assert titles == [
        "The classic race on beale, from (0.7, 1.4)",
        "The classic race on saddle, from (1, 0.001)",
        "Gradient descent on x² from x0 = 1, at most 100 steps",
        "An MLP on handwritten digits",
        "A fair comparison: best first",
    ]
    beale, saddle, lrs, mlp, fair = geo["tables"]
    assert beale["rows"][:2] == ["sgd (η=0.001)", "momentum (η=0.001, β=0.9)"]
    assert [r.split()[0] for r in saddle["rows"]] == list(summary["race"]["saddle"])
    assert beale["columns"] == ["result", "steps", "f at the end"]
    assert beale["cells"][:3] == ["not converged", "100", "4.71"]
    assert any("left the plot at step" in c for c in saddle["cells"])
    assert lrs["rows"] == ["η=0.01", "η=0.1", "η=1", "η=100", "η=1000"]
    assert lrs["cells"][4:6] == ["converged", "66"]  # eta = 0.1, as on the console
    assert mlp["rows"] == ["SGD", "Adam + L2 + dropout"]
    assert mlp["columns"] == ["test accuracy", "train accuracy", "test loss", "seconds"]
    assert mlp["cells"][:4] == ["94.2 %", "94.8 %", "0.197", "3.6"]
    assert fair["cells"] == ["nesterov (lr 0.1), then momentum, gd"]

    # readable: no Python dicts, numbers rounded, tables inside the page
    assert "{'" not in geo["text"] and "':" not in geo["text"]
    for table in geo["tables"]:
        for cell in table["cells"]:
            for number in NUMBER.findall(cell):
                digits = re.sub(r"e.*", "", number).lstrip("-").replace(".", "").lstrip("0")
                assert len(digits) <= 4, f"{number!r} in {cell!r} is not rounded"
        assert table["left"] >= 0 and table["right"] <= geo["inner"] + 0.5, table["title"]
        assert table["right"] <= table["wrapRight"] + 0.5, f"{table['title']} scrolls"

    # every figure loaded and inside the page
    assert [i["src"] for i in geo["images"]] == [
        "race_saddle.png",
        "race_beale.gif",
        "lr_sweep.png",
    ]
    for img in geo["images"]:
        assert img["complete"] and img["natural"] > 0, img["src"]
        assert img["width"] > 0.5 * min(width, 1100 - 32) and img["height"] > 50, img
        assert img["left"] >= 0 and img["right"] <= geo["inner"] + 0.5, img
