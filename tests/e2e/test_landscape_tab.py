"""The Network-landscape tab (issue 17): two optimizers train one network; the loss plane
around each solution with its path, the lines between the solutions and the table with the
sharpness beside 2/eta, drawn from the server's frames; pause, field errors at their
controls, the settings in the link, a hidden tab that pauses its run, and screenshots at
the three viewports.

Numbers come from the page's read-only debug hook ``window.__descentlab`` and the DOM.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import LANDSCAPE_FAST, VIEWPORTS

HOOK = "window.__descentlab"
LAND = f"{HOOK}.landscape"


def wait(page: Any, expression: str, timeout: float = 30000) -> Any:
    return page.wait_for_function(expression, timeout=timeout).json_value()


def hook(page: Any, what: str = LAND) -> Any:
    return page.evaluate(f"JSON.parse(JSON.stringify({what}))")


def state_hash(**landscape: Any) -> str:
    raw = json.dumps({"tab": "landscape", "landscape": landscape}).encode()
    return "#state=" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def painted(page: Any, testid: str) -> float:
    """The share of the canvas's pixels that are not blank."""
    return page.evaluate(
        """(id) => {
          const c = document.querySelector(`[data-testid="${id}"]`);
          const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
          let n = 0;
          for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n += 1;
          return n / (c.width * c.height);
        }""",
        testid,
    )


def test_start_see_planes_paths_lines_table_then_pause(page_at: Any, artifacts: Path) -> None:
    page = page_at("desktop", state_hash(**LANDSCAPE_FAST))
    assert page.get_by_test_id("tab-landscape").get_attribute("aria-selected") == "true"
    page.get_by_test_id("landscape-play").click()
    wait(page, f"{LAND} && {LAND}.planes[0] && {LAND}.planes[1] && {LAND}.lines === 3")
    for k in (0, 1):
        wait(
            page,
            f"document.querySelector('[data-testid=landscape-plane-{k}]').dataset.drawn === '1'",
        )
        assert painted(page, f"landscape-plane-{k}") > 0.5
        plane = hook(page)["planes"][str(k)]
        assert plane["directions"] == "pca" and plane["grid"] == LANDSCAPE_FAST["grid"]
        assert plane["path"] >= 3 and 0 < sum(plane["explained_variance"]) <= 1
        # every snapshot of the path is drawn (the canvas follows the newest plane)
        wait(
            page,
            f"Number(document.querySelector('[data-testid=landscape-plane-{k}]')"
            f".dataset.pathPoints) === {LAND}.planes[{k}].path",
        )
        assert "PC1" not in page.get_by_test_id(f"landscape-title-{k}").inner_text()  # on the axis
    assert painted(page, "landscape-lines-chart") > 0.03  # three curves over the axes
    assert len(page.locator("[data-testid=landscape-lines-legend] .legend-item").all()) == 3
    wait(page, f"{LAND}.rows.length === 2 && {LAND}.rows.every((r) => r.sharpness !== null)")
    rows = hook(page)["rows"]
    for k, row in enumerate(rows):
        assert page.get_by_test_id(f"landscape-loss-{k}").inner_text() != "—"
        assert page.get_by_test_id(f"landscape-sharpness-{k}").inner_text() != "—"
        assert float(page.get_by_test_id(f"landscape-two-over-lr-{k}").inner_text()) == (
            pytest.approx(2 / row["lr"], rel=1e-3)
        )
    # pause: the step stops at once (a frame already on its way is not shown); the pause's
    # answer and the measuring of the paused point follow, then nothing moves
    frames = hook(page)["frames"]
    page.get_by_test_id("landscape-pause").click()
    wait(page, f"{LAND}.frames > {frames} && !{LAND}.tick && {LAND}.pending === 0")
    paused = hook(page)
    assert page.get_by_test_id("landscape-status").inner_text() in ("paused", "done")
    if not paused["done"]:  # paused, not running: Step trains exactly to the next epoch
        page.get_by_test_id("landscape-step").click()
        wait(page, f"{LAND}.frames > {paused['frames']} && {LAND}.pending === 0")
        assert hook(page)["epoch"] == paused["epoch"] + 1
        assert page.get_by_test_id("landscape-epoch").inner_text() == str(paused["epoch"] + 1)
    page.screenshot(path=str(artifacts / "landscape-paused-desktop.png"), full_page=True)


def test_url_state_round_trips_and_a_hidden_tab_pauses(page_at: Any) -> None:
    settings = {
        **LANDSCAPE_FAST,
        "dataset": "xor",
        "hidden": [6, 4],
        "directions": "filter",
        "seed": 3,
    }
    settings["optimizers"] = [
        {"name": "momentum", "hyper": {"lr": 0.05}},
        {"name": "rmsprop", "hyper": {"lr": 0.003}},
    ]
    page = page_at("desktop", state_hash(**settings))
    assert page.get_by_test_id("landscape-hidden").input_value() == "6, 4"
    assert page.get_by_test_id("landscape-directions").input_value() == "filter"
    assert page.get_by_test_id("landscape-optimizer-1").input_value() == "rmsprop"
    # filter directions: a plane at the initial weights before any training
    wait(page, f"{LAND} && {LAND}.planes[0] && {LAND}.planes[1]")
    assert hook(page)["planes"]["0"]["explained_variance"] is None
    # a change in the page goes into the link, and the link brings it back
    page.get_by_test_id("landscape-grid").fill("15")
    page.get_by_test_id("landscape-grid").dispatch_event("change")
    wait(page, "window.location.hash.length > 10")
    wait(page, f"{LAND}.planes[0] && {LAND}.planes[0].grid === 15")
    url = page.url
    again = page_at("phone", url)
    assert again.get_by_test_id("landscape-grid").input_value() == "15"
    assert again.get_by_test_id("landscape-hidden").input_value() == "6, 4"
    state = again.evaluate("JSON.parse(JSON.stringify(window.__descentlab))")
    assert state is not None
    # a hidden tab pauses its playing run; back, it goes on
    page.get_by_test_id("landscape-play").click()
    wait(page, f"{LAND}.step > 0")
    page.get_by_test_id("tab-race").click()
    wait(page, f"{LAND}.hidden_paused === true")
    # the pause's answer has come (frames shown while playing are ticks; the answer and the
    # measurements after it are not) and its measurements are done: from then on nothing moves
    wait(page, f"{LAND}.tick === false && {LAND}.pending === 0")
    step = hook(page)["step"]
    page.wait_for_timeout(600)
    assert hook(page)["step"] == step, "the hidden tab's run went on"
    page.get_by_test_id("tab-landscape").click()
    wait(page, f"{LAND}.step > {step} || {LAND}.done")


def test_bad_input_is_shown_at_its_control(page_at: Any) -> None:
    page = page_at("desktop", state_hash(**LANDSCAPE_FAST))
    wait(page, f"{LAND} && {LAND}.frames >= 1")
    box = page.get_by_test_id("landscape-hidden")
    box.fill("16, 200")
    box.dispatch_event("change")
    error = page.locator("[data-field=hidden] [data-testid=field-error]")
    error.wait_for(timeout=15000)
    assert "64" in error.inner_text()
    box.fill("8")  # fixed: its error goes; the next refusal is the learning rate's
    box.dispatch_event("change")
    error.wait_for(state="detached", timeout=15000)
    lr = page.get_by_test_id("landscape-hp-1-lr")
    lr.fill("-1")
    lr.dispatch_event("change")
    page.locator("[data-field='optimizers[1].hyper.lr'] [data-testid=field-error]").wait_for(
        timeout=15000
    )


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_screenshots_at_the_three_viewports(page_at: Any, artifacts: Path, viewport: str) -> None:
    page = page_at(viewport, state_hash(**{**LANDSCAPE_FAST, "autoplay": True, "epochs": 12}))
    wait(page, f"{LAND} && {LAND}.done && {LAND}.pending === 0 && {LAND}.planes[1]", 40000)
    page.wait_for_function(
        "document.querySelector('[data-testid=landscape-plane-1]').dataset.drawn === '1'"
    )
    for k in (0, 1):
        box = page.get_by_test_id(f"landscape-plane-{k}").bounding_box()
        assert box is not None and box["width"] >= 200 and box["height"] >= 200
        assert box["x"] >= 0 and box["x"] + box["width"] <= VIEWPORTS[viewport][0] + 1
    width = VIEWPORTS[viewport][0]
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scroll
    header = page.locator(".topbar").bounding_box()
    assert header is not None and header["height"] <= 60  # the four tabs fit on one row
    page.screenshot(path=str(artifacts / f"landscape-{viewport}.png"))
