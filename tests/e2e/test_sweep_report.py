"""The sweep's report.html in Chromium, opened from disk (file://) with no server.

On a desktop (1280x800) and a phone (390x844) viewport: no console errors, no request
leaves the file, every chart's SVG has a size and fits the page width, the page never
scrolls sideways, and each problem's table has one row per optimizer, best first.
Screenshots go to test-artifacts/ (``sweep-report.png``, ``sweep-report-phone.png``).
"""

from __future__ import annotations

from typing import Any

import pytest

import descentlab.sweep as S

VIEWPORTS = [
    ("sweep-report.png", {"width": 1280, "height": 800}),
    ("sweep-report-phone.png", {"width": 390, "height": 844}),
]

#: The page's geometry: viewport width, page width, each chart's box, each table's rows.
GEOMETRY = """() => ({
  inner: window.innerWidth,
  scroll: document.documentElement.scrollWidth,
  charts: [...document.querySelectorAll('svg.chart')].map(s => {
    const r = s.getBoundingClientRect();
    return {label: s.getAttribute('aria-label'), left: r.left, right: r.right,
            width: r.width, height: r.height};
  }),
  tables: [...document.querySelectorAll('section.problem')].map(sec => ({
    name: sec.querySelector('h2').textContent,
    rows: [...sec.querySelectorAll('table.results tr[data-arm]')].map(r => r.dataset.arm),
  })),
})"""


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """Two landscapes (one where the targets are reached, so a profile is drawn)."""
    out = tmp_path_factory.mktemp("sweep-report") / "run"
    return S.sweep(
        ["ill_conditioned", "rosenbrock"],
        optimizers="sgd,momentum,adam",
        grid={"lr": "1e-3:1e-1:3"},
        seeds=2,
        steps=150,
        backend="serial",
        out=out,
    )


@pytest.mark.parametrize(("shot", "viewport"), VIEWPORTS, ids=["desktop", "phone"])
def test_report_in_chromium(browser: Any, artifacts, sweep, shot, viewport) -> None:
    ctx = browser.new_context(viewport=viewport)
    errors: list[str] = []
    requests: list[str] = []
    try:
        page = ctx.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("request", lambda r: requests.append(r.url))
        page.goto(sweep.report.resolve().as_uri())
        page.wait_for_load_state("load")
        geo = page.evaluate(GEOMETRY)
        page.screenshot(path=str(artifacts / shot), full_page=True)
    finally:
        ctx.close()
    assert not errors, f"console errors: {errors}"
    assert requests == [sweep.report.resolve().as_uri()], requests  # self-contained
    assert geo["inner"] == viewport["width"]
    assert geo["scroll"] <= geo["inner"], "the page scrolls sideways"
    labels = [c["label"] for c in geo["charts"]]
    assert labels == [
        "Learning-rate sensitivity on ill_conditioned",
        "Loss curves at the best settings on ill_conditioned",
        "Learning-rate sensitivity on rosenbrock",
        "Loss curves at the best settings on rosenbrock",
        "Performance profile across problems",
    ]
    for chart in geo["charts"]:
        assert chart["width"] > 100 and chart["height"] > 100, chart
        assert 0 <= chart["left"] and chart["right"] <= geo["inner"], chart
    problems = sweep.summary["problems"]
    assert [t["name"] for t in geo["tables"]] == [p["name"] for p in problems]
    for table, problem in zip(geo["tables"], problems):
        rest = [a["arm"] for a in problem["optimizers"] if a["arm"] not in problem["ranking"]]
        assert table["rows"] == problem["ranking"] + rest
        assert sorted(table["rows"]) == ["adam", "momentum", "sgd"]
    assert (artifacts / shot).stat().st_size > 10_000
