"""Issue 16 in the browser, Race and Learning-rate tabs: speed at the top setting, a pause
that stops at once, the loss chart's legend, gradient and step arrows, the update rule as
MathML with its current numbers, ten distinguishable path colours, the learning-rate
panels; screenshots at the three viewports.

Speeds here are behaviour bounds with wide margins (the machine is shared); the targets
are measured by ``benchmarks/playground.py``.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
from typing import Any

import pytest

HOOK = "window.__descentlab"
#: the three screens of issue 16 (conftest.VIEWPORTS)
VIEWPORTS = ("desktop", "projector", "phone")
TEN = [
    ("sgd", 1e-4),
    ("momentum", 1e-4),
    ("nesterov", 1e-4),
    ("adam", 1e-3),
    ("rmsprop", 1e-3),
    ("adagrad", 1e-2),
    ("adamw", 1e-3),
    ("adadelta", 1.0),
    ("adamax", 1e-3),
    ("nadam", 1e-3),
]


def race_hash(landscape: str, optimizers: list[tuple[str, float]], speed: int, **kw: Any) -> str:
    race = {
        "landscape": landscape,
        "params": {},
        "start": None,
        "optimizers": [
            {"id": f"o{i + 1}", "name": name, "hyper": {"lr": lr}}
            for i, (name, lr) in enumerate(optimizers)
        ],
        "max_steps": 20000,
        "tol": 1e-12,
        "grad_noise": 0,
        "batch_size": None,
        "l1": 0,
        "l2": 0,
        "seed": 0,
        "steps_per_frame": speed,
        "autoplay": True,
    }
    race.update(kw)
    text = json.dumps({"tab": "race", "race": race}).encode()
    return "#state=" + base64.urlsafe_b64encode(text).decode().rstrip("=")


def wait(page: Any, expression: str, timeout: float = 20000) -> Any:
    return page.wait_for_function(expression, timeout=timeout).json_value()


def speed_window(page: Any, ms: int) -> dict[str, float]:
    """Race steps and frames per second over `ms` milliseconds of playing."""
    wait(page, f"{HOOK}.raceSpeed && {HOOK}.raceSpeed.frames > 3")
    a = page.evaluate(f"({{...{HOOK}.raceSpeed, now: performance.now()}})")
    wait(page, f"performance.now() - {a['now']} > {ms}", timeout=ms + 20000)
    z = page.evaluate(f"({{...{HOOK}.raceSpeed}})")
    seconds = (z["last"] - a["last"]) / 1000
    assert seconds > 0, "no frame arrived while the race played"
    return {
        "steps_per_s": (z["step"] - a["step"]) / seconds,
        "frames_per_s": (z["frames"] - a["frames"]) / seconds,
        "steps_per_frame": (z["step"] - a["step"]) / max(1, z["frames"] - a["frames"]),
    }


def lab(hex_color: str) -> tuple[float, float, float]:
    """CIELAB (D65) of an sRGB colour."""
    rgb = [int(hex_color[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    lin = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    x = (0.4124 * lin[0] + 0.3576 * lin[1] + 0.1805 * lin[2]) / 0.95047
    y = 0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2]
    z = (0.0193 * lin[0] + 0.1192 * lin[1] + 0.9505 * lin[2]) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def test_top_speed_with_ten_optimizers_keeps_frames_coming_and_pause_stops_at_once(
    page_at: Any,
) -> None:
    page = page_at("desktop", race_hash("rosenbrock", TEN, 200))
    fast = speed_window(page, 2500)
    # behaviour bounds that hold even on a shared 2-CPU machine at a load of 15 (the
    # targets, 3,000 steps/s and 20 frames/s, are measured by benchmarks/playground.py)
    assert fast["steps_per_s"] >= 30, fast
    assert fast["frames_per_s"] >= 3, fast
    assert fast["steps_per_frame"] >= 10, fast  # many steps per frame, not one
    # the paths are drawn piece by piece: a frame's drawing stays far below a frame period
    draw = page.evaluate(f"({{...{HOOK}.raceDraw}})")
    assert draw["count"] > 5 and draw["total"] / draw["count"] < 120, draw
    # pause: from the click on, no point arrives on screen
    at_pause = page.evaluate(
        f"""() => {{
            document.querySelector('[data-testid=race-pause]').click();
            return {{
                points: Object.fromEntries(Object.entries({HOOK}.runs).map(([k, r]) => [k, r.points])),
                step: {HOOK}.race.step,
                text: document.querySelector('[data-testid=race-step-count]').textContent,
            }};
        }}"""
    )
    assert at_pause["step"] > 0
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    moved = f"""() => Object.entries({HOOK}.runs).some(([k, r]) =>
        r.points !== {json.dumps(at_pause["points"])}[k]) || {HOOK}.race.step !== {at_pause["step"]}"""
    with pytest.raises(PlaywrightTimeout):
        page.wait_for_function(moved, timeout=1500)
    assert page.get_by_test_id("race-step-count").inner_text() == at_pause["text"]
    # a step after the pause goes on from where the race was: the paths stay whole (a
    # run that has converged or diverged by then, as on a fast machine, adds no point)
    running = page.evaluate(
        f"Object.keys({HOOK}.runs).filter(k => {HOOK}.runs[k].status === 'running')"
    )
    assert running, "every run had stopped before the pause"
    page.get_by_test_id("race-step").click()
    wait(page, f"{HOOK}.race.step > {at_pause['step']}")
    after = page.evaluate(f"({{...{HOOK}.runs}})")
    for k in running:
        assert after[k]["points"] > at_pause["points"][k], (k, after[k])
    for k in set(after) - set(running):
        assert after[k]["points"] == at_pause["points"][k], (k, after[k])


def test_steps_per_frame_grow_with_the_speed_setting(page_at: Any) -> None:
    page = page_at("desktop", race_hash("beale", TEN[:3], 1))
    slow = speed_window(page, 1200)
    box = page.get_by_test_id("race-speed")
    box.fill("50")
    box.press("Tab")  # the same race goes on at the new pace
    wait(page, f"{HOOK}.raceSpeed.frames > {page.evaluate(HOOK + '.raceSpeed.frames')} + 2")
    page.evaluate(f"{HOOK}.raceSpeed = null")  # measure the new pace only
    fast = speed_window(page, 1200)
    page.get_by_test_id("race-pause").click()
    assert slow["steps_per_frame"] == pytest.approx(1, abs=0.01), slow
    assert fast["steps_per_frame"] > 5 * slow["steps_per_frame"], (slow, fast)
    assert fast["steps_per_s"] > 2 * slow["steps_per_s"], (slow, fast)


def test_ten_path_colours_are_distinct_and_7_to_10_are_dashed(page_at: Any) -> None:
    page = page_at("desktop", race_hash("rosenbrock", TEN, 5, max_steps=30))
    styles = page.evaluate(
        "import('/static/draw.js').then(m => m.PATH_COLORS.map((_, i) => m.pathStyle(i)))"
    )
    assert len(styles) == 10
    colors = [s["color"] for s in styles]
    for a, b in itertools.combinations(colors, 2):
        distance = sum((p - q) ** 2 for p, q in zip(lab(a), lab(b))) ** 0.5
        assert distance >= 25, f"{a} and {b} are only {distance:.1f} delta E apart"
    assert all(not s["dash"] for s in styles[:6]) and all(s["dash"] for s in styles[6:])
    # the legend shows every optimizer, in order, with its colour and dash
    wait(page, f"{HOOK}.race && {HOOK}.race.done")
    entries = page.locator("[data-testid=race-loss-legend] button")
    assert entries.count() == 10
    for i, (name, _) in enumerate(TEN):
        entry = entries.nth(i)
        assert entry.get_attribute("data-id") == f"o{i + 1}"
        assert entry.inner_text().startswith(name)
        line = entry.locator("line")
        assert line.get_attribute("stroke") == colors[i]
        assert bool(line.get_attribute("stroke-dasharray")) == (i >= 6)
        assert entry.bounding_box()["height"] >= 20  # big enough to tap


def test_legend_arrows_and_update_rule_with_its_numbers(page_at: Any, artifacts: Any) -> None:
    for name in VIEWPORTS:
        page = page_at(
            name, race_hash("beale", [("sgd", 0.01), ("momentum", 0.005), ("adam", 0.1)], 2)
        )
        wait(page, f"({HOOK}.runs.o3 || {{}}).points > 30")
        legend = page.get_by_test_id("race-loss-legend")
        assert [t.split()[0] for t in legend.locator("button").all_inner_texts()] == [
            "sgd",
            "momentum",
            "adam",
        ]
        # arrows: on, drawn at each current point (gradient and step); off, none
        arrows = page.get_by_test_id("race-arrows")
        arrows.check()
        wait(page, f"{HOOK}.raceArrows.shown && {HOOK}.raceArrows.count >= 5")
        # the rule of the selected optimizer, as MathML, with its settings and numbers
        page.locator("[data-testid=race-legend-o3]").click()
        page.get_by_test_id("race-pause").click()
        wait(page, f"{HOOK}.raceRule && {HOOK}.raceRule.optimizer === 'adam'")
        rule = page.get_by_test_id("race-rule")
        assert "adam" in rule.locator("h3").inner_text()
        # measured in one evaluation: the rule is redrawn with each frame still arriving
        # after the pause, and a locator's element can be replaced between two calls
        heights = page.evaluate(
            "[...document.querySelectorAll('[data-testid=race-rule] math')]"
            ".map((m) => m.getBoundingClientRect().height)"
        )
        assert len(heights) >= 6
        assert heights[0] > 12  # rendered, not an empty element
        settings = re.sub(r"\s+", "", page.get_by_test_id("race-rule-settings").inner_text())
        assert "0.1" in settings and "0.9" in settings and "0.999" in settings
        wait(page, f"{HOOK}.raceRule.step === {HOOK}.race.step")
        grad = page.evaluate(f"{HOOK}.raceRule.grad")
        shown = re.sub(r"\s+", "", page.get_by_test_id("race-rule-now").inner_text())
        for g in grad:
            digits = page.evaluate(f"String(Number(Math.abs({g}).toPrecision(4)))")
            if 1e-3 <= abs(g) < 1e4:
                assert digits in shown, (digits, shown)
        width = page.evaluate("document.documentElement.clientWidth")
        for testid in ("race-rule", "race-loss-legend", "race-canvas"):
            box = page.get_by_test_id(testid).bounding_box()
            assert box["width"] > 100 and box["x"] >= 0 and box["x"] + box["width"] <= width + 1
        page.screenshot(path=str(artifacts / f"race-classroom-{name}.png"), full_page=True)
        arrows.uncheck()
        wait(page, f"!{HOOK}.raceArrows.shown && {HOOK}.raceArrows.count === 0")


def test_learning_rate_tab_scale_rule_colours_and_aligned_panels(
    page_at: Any, artifacts: Any
) -> None:
    for name in VIEWPORTS:
        page = page_at(name, "#lr")
        page.get_by_test_id("tab-lr").click()
        page.get_by_test_id("lr-lrs").fill("0.01, 0.1, 1, 100, 1000")
        page.get_by_test_id("lr-lrs").press("Tab")
        page.get_by_test_id("lr-run").click()
        wait(page, f"{HOOK}.lr && {HOOK}.lr.length === 5 && {HOOK}.lrChart")
        note = page.get_by_test_id("lr-chart-note")
        assert page.evaluate(f"{HOOK}.lrChart.logY") is True
        assert note.get_attribute("data-scale") == "log" and "log scale" in note.inner_text()
        # one colour per eta: the panel's border, its swatch and the chart's legend agree
        for i in range(5):
            panel = page.get_by_test_id(f"lr-panel-{i}")
            color = panel.get_attribute("data-color")
            border = panel.evaluate("e => getComputedStyle(e).borderTopColor")
            r, g, b = (int(color[k : k + 2], 16) for k in (1, 3, 5))
            assert border == f"rgb({r}, {g}, {b})"
            assert panel.locator("figcaption line").get_attribute("stroke") == color
            legend = page.get_by_test_id(f"lr-legend-{i}").locator("line")
            assert legend.get_attribute("stroke") == color
        # panels in one row have their maps at the same height (eta = 100 too)
        tops: dict[float, list[float]] = {}
        for i in range(5):
            panel = page.get_by_test_id(f"lr-panel-{i}").bounding_box()
            canvas = page.get_by_test_id(f"lr-panel-{i}").locator("canvas").bounding_box()
            tops.setdefault(round(panel["y"]), []).append(canvas["y"])
        for row in tops.values():
            assert max(row) - min(row) < 1, tops
        # the heading shows the rule of the optimizer that runs
        rule = page.get_by_test_id("lr-rule")
        assert rule.get_attribute("data-optimizer") == "gd" and rule.locator("math").count() == 1
        page.screenshot(path=str(artifacts / f"lr-classroom-{name}.png"), full_page=True)
        if name == "desktop":
            page.get_by_test_id("lr-optimizer").select_option("adam")
            wait(
                page, "document.querySelector('[data-testid=lr-rule]').dataset.optimizer === 'adam'"
            )
            assert rule.locator("math").count() == 4
            text = rule.evaluate("e => e.textContent")
            assert "m" in text and "β" in text
            # a landscape with negative values: the chart is linear and says so
            page.get_by_test_id("lr-landscape").select_option("six_hump_camel")
            wait(page, f"{HOOK}.lrChart && {HOOK}.lrChart.logY === false", timeout=30000)
            assert note.get_attribute("data-scale") == "linear"
            assert "linear" in note.inner_text()
