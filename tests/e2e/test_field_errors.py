"""Errors beside the control that caused them (issue "Trust").

A value the server refuses comes back as an ``error`` frame naming its ``field``
(``config.optimizers[1].hyper``, ``config.landscape``, ``config.start``,
``config.dropout``, ...). The page shows the plain ``message`` in a small role="alert"
element inside the control's row or group, marks the control with aria-invalid, keeps
what the user typed, and keeps running the last accepted configuration; the banner at
the top is only for errors that belong to no control. Each case saves a screenshot under
test-artifacts/ (``playground-error-*.png``).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from .conftest import LANDSCAPE_FAST

HOOK = "window.__descentlab"

#: Records every message the page sends on its WebSocket (window.__sent).
RECORD_SENT = """() => {
  window.__sent = [];
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) { window.__sent.push(String(data)); return send.call(this, data); };
}"""


def wait(page: Any, expression: str, timeout: float = 20000) -> Any:
    return page.wait_for_function(expression, timeout=timeout).json_value()


def hook(page: Any) -> dict[str, Any]:
    return page.evaluate(f"JSON.parse(JSON.stringify({HOOK}))")


def type_into(page: Any, testid: str, text: str) -> None:
    box = page.get_by_test_id(testid)
    box.fill(text)
    box.press("Tab")


def sent(page: Any, kind: str) -> list[dict[str, Any]]:
    msgs = [json.loads(m) for m in page.evaluate("window.__sent")]
    return [m for m in msgs if m.get("type") == kind]


def field_error(scope: Any) -> Any:
    return scope.get_by_test_id("field-error")


def assert_beside(page: Any, group: Any, control: Any | None, text: str) -> str:
    """The error is visible inside `group`, says `text`, the control is marked and
    described by it, and the banner is not used."""
    error = field_error(group)
    error.wait_for(state="visible")
    assert error.count() == 1
    shown = error.inner_text()
    assert text in shown, shown
    assert error.get_attribute("role") == "alert"
    assert "(field " not in shown and " in race.start" not in shown
    if control is not None:
        assert control.get_attribute("aria-invalid") == "true"
        assert error.get_attribute("id") in (control.get_attribute("aria-describedby") or "")
    # near the control: the message's box starts within 90 px below the control's top
    if control is not None:
        c = control.bounding_box()
        e = error.bounding_box()
        assert c is not None and e is not None
        assert 0 <= e["y"] - c["y"] <= 90, (c, e)
    assert not page.get_by_test_id("error-banner").is_visible()
    return shown


def shoot(page: Any, artifacts: Path, name: str, group: Any) -> None:
    page.wait_for_timeout(150)
    page.screenshot(path=str(artifacts / f"playground-error-{name}.png"))
    group.screenshot(path=str(artifacts / f"playground-error-{name}-control.png"))


def race_runs(page: Any, points: int = 10) -> None:
    """A valid race plays: frames arrive and every path grows."""
    before = hook(page)["frames"]["race"]
    page.get_by_test_id("race-reset").click()
    page.get_by_test_id("race-play").click()
    wait(
        page,
        f"{HOOK}.frames.race > {before} + 3 && Object.values({HOOK}.runs).length > 0"
        f" && Object.values({HOOK}.runs).every(r => r.points > {points})",
    )
    assert hook(page)["connected"] is True


def test_bad_learning_rates_in_an_optimizer_row(new_page: Any, artifacts: Path) -> None:
    page = new_page()
    page.evaluate(RECORD_SENT)
    wait(page, f"{HOOK}.frames.race > 2")
    banner = page.get_by_test_id("error-banner")
    card1 = page.get_by_test_id("race-opt-o1")
    card2 = page.get_by_test_id("race-opt-o2")
    lr1 = page.get_by_test_id("race-opt-o1-lr")
    lr2 = page.get_by_test_id("race-opt-o2-lr")

    # text is refused by the page itself (nothing is sent), in plain words, beside the box
    starts = len(sent(page, "race.start"))
    type_into(page, "race-opt-o1-lr", "abc")
    shown = assert_beside(page, card1, lr1, "learning rate must be a number, got 'abc'")
    assert lr1.input_value() == "abc", "the typed text was replaced"
    page.wait_for_timeout(400)
    assert len(sent(page, "race.start")) == starts, "the page sent a race for text in a number box"
    assert shown == "learning rate must be a number, got 'abc'"

    # a negative learning rate is sent as typed (not clamped to the slider) and the
    # server's plain message comes back beside the optimizer's settings
    type_into(page, "race-opt-o2-lr", "-1")
    wait(page, "window.__sent.some(m => m.includes('\"lr\":-1'))")
    o2_lrs = [
        next(o["hyper"].get("lr") for o in m["config"]["optimizers"] if o["id"] == "o2")
        for m in sent(page, "race.start")
    ]
    assert -1 in o2_lrs
    error = field_error(card2)
    error.wait_for(state="visible")
    assert "-1" in error.inner_text() and "lr" in error.inner_text()
    assert not banner.is_visible()
    assert lr2.input_value() == "-1", "the refused value left the box"
    last = hook(page)["errors"][-1]
    assert last["shown"] == "field" and last["field"].startswith("config.optimizers[1]")
    # the o1 message of the page is still there, each card has its own
    assert field_error(card1).count() == 1 and field_error(card2).count() == 1
    # meanwhile the race goes on with the last accepted settings
    frames = hook(page)["frames"]["race"]
    page.get_by_test_id("race-play").click()
    wait(page, f"{HOOK}.frames.race > {frames} + 3")
    shoot(page, artifacts, "learning-rate", page.locator("#race-opt-list"))

    # correcting a box clears its message at once; the next accepted race clears the rest
    type_into(page, "race-opt-o1-lr", "0.01")
    assert field_error(card1).count() == 0
    assert lr1.get_attribute("aria-invalid") is None
    type_into(page, "race-opt-o2-lr", "0.005")
    wait(page, "document.querySelectorAll('[data-testid=field-error]').length === 0")
    race_runs(page)
    assert not banner.is_visible()


#: Holds the server's error frames back (window.__holdErrors) and delivers them right after
#: the `change` of the control whose test id is in window.__releaseOn (a listener on window,
#: so after the control's own handler has scheduled its restart), or right after the page
#: has sent a message of the type in window.__releaseOnSend (so while that newer request is
#: unanswered).
HOLD_ERRORS = """() => {
  window.__held = []; window.__holdErrors = false; window.__releaseOn = null;
  window.__releaseOnSend = null;
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (!this.__holding) {
      this.__holding = true;
      const deliver = this.onmessage;
      const release = () => { window.__holdErrors = false; for (const ev of window.__held.splice(0)) deliver.call(this, ev); };
      this.__release = release;
      this.onmessage = (ev) => {
        if (window.__holdErrors && JSON.parse(ev.data).type === 'error') window.__held.push(ev);
        else deliver.call(this, ev);
      };
      window.addEventListener('change', (ev) => {
        if (window.__releaseOn && ev.target.dataset.testid === window.__releaseOn) release();
      });
    }
    const out = send.call(this, data);
    // after the sending code has run (as a real answer would), before any answer can arrive
    if (window.__releaseOnSend && JSON.parse(data).type === window.__releaseOnSend) queueMicrotask(this.__release);
    return out;
  };
}"""


def test_a_late_refusal_does_not_outlive_the_correction(new_page: Any) -> None:
    """A refusal that arrives after the refused value was corrected (the corrected race is
    about to be sent) must not undo the correction: the corrected race is sent, accepted,
    and no message stays beside the corrected box."""
    page = new_page()
    page.evaluate(RECORD_SENT)
    page.evaluate(HOLD_ERRORS)
    wait(page, f"{HOOK}.frames.race > 2")
    card2 = page.get_by_test_id("race-opt-o2")
    type_into(page, "race-opt-o2-lr", "-1")
    field_error(card2).wait_for(state="visible")
    frames = hook(page)["frames"]["race"]
    page.get_by_test_id("race-play").click()
    wait(page, f"{HOOK}.frames.race > {frames} + 3")  # the last accepted race runs again

    # another setting changes while o2 still says -1: that race is refused too, but its
    # answer comes only after the user has corrected o2 (the restart is pending)
    page.evaluate("window.__holdErrors = true")
    type_into(page, "race-opt-o1-lr", "0.02")
    wait(page, "window.__held.length === 1")
    page.evaluate("window.__releaseOn = 'race-opt-o2-lr'")
    type_into(page, "race-opt-o2-lr", "0.004")
    wait(page, "window.__held.length === 0 && !window.__holdErrors")

    lrs = "m => m.includes('\"lr\":0.02') && m.includes('\"lr\":0.004')"
    wait(page, f"window.__sent.some({lrs})")  # the corrected race is sent
    wait(page, "document.querySelectorAll('[data-testid=field-error]').length === 0")
    frames = hook(page)["frames"]["race"]
    wait(page, f"{HOOK}.frames.race > {frames} + 3")
    last = sent(page, "race.start")[-1]
    assert [o["hyper"]["lr"] for o in last["config"]["optimizers"][:2]] == [0.02, 0.004]
    assert field_error(page.locator("#panel-race")).count() == 0
    assert page.get_by_test_id("race-opt-o2-lr").get_attribute("aria-invalid") is None
    assert not page.get_by_test_id("error-banner").is_visible()


#: When a held refusal is delivered: right after the correcting `change` (the tab's restart
#: is pending) or right after the corrected request is sent (it is still unanswered).
RELEASES = ["on-change", "after-send"]


def refuse_late_then_correct(
    page: Any, kind: str, other: tuple[str, str], fix: tuple[str, str], release: str
) -> None:
    """With the refused value still in its box, another setting changes: that request is
    refused too, but the refusal is held back and delivered only once the refused value has
    been corrected (`release`: on the correcting change, or after the corrected `kind`
    request has gone out). The settings are typed into boxes by test id."""
    page.evaluate("window.__holdErrors = true")
    type_into(page, *other)
    wait(page, "window.__held.length === 1")
    if release == "on-change":
        page.evaluate(f"window.__releaseOn = '{fix[0]}'")
    else:
        page.evaluate(f"window.__releaseOnSend = '{kind}'")
    type_into(page, *fix)
    wait(page, "window.__held.length === 0 && !window.__holdErrors")


def corrected(page: Any, panel: str, testid: str) -> None:
    """No message is left in the tab, the corrected box is not marked, no banner."""
    wait(page, f"document.querySelectorAll('{panel} [data-testid=field-error]').length === 0")
    assert field_error(page.locator(panel)).count() == 0
    assert page.get_by_test_id(testid).get_attribute("aria-invalid") is None
    assert not page.get_by_test_id("error-banner").is_visible()


@pytest.mark.parametrize("release", RELEASES)
def test_network_tab_a_late_refusal_does_not_outlive_the_correction(
    new_page: Any, release: str
) -> None:
    """The Network tab: a refused train.start whose answer comes after the correction does
    not undo it: the corrected run is sent, accepted, and no message stays."""
    page = new_page()
    page.evaluate(RECORD_SENT)
    page.evaluate(HOLD_ERRORS)
    page.get_by_test_id("race-pause").click()
    page.get_by_test_id("tab-train").click()
    page.get_by_test_id("train-play").click()
    wait(page, f"{HOOK}.frames.train > 2")
    type_into(page, "train-dropout", "0.95")
    field_error(page.locator("#train-controls")).wait_for(state="visible")
    frames = hook(page)["frames"]["train"]
    wait(page, f"{HOOK}.frames.train > {frames} + 2")  # the last accepted run trains on

    refuse_late_then_correct(
        page, "train.start", ("train-noise", "0.3"), ("train-dropout", "0.1"), release
    )
    both = "m => m.includes('\"noise\":0.3') && m.includes('\"dropout\":0.1')"
    wait(page, f"window.__sent.some({both})")  # the corrected run is sent
    corrected(page, "#panel-train", "train-dropout")
    frames = hook(page)["frames"]["train"]
    wait(page, f"{HOOK}.frames.train > {frames} + 2")
    last = sent(page, "train.start")[-1]["config"]
    assert (last["noise"], last["dropout"]) == (0.3, 0.1)
    corrected(page, "#panel-train", "train-dropout")


@pytest.mark.parametrize("release", RELEASES)
def test_learning_rate_tab_a_late_refusal_does_not_outlive_the_correction(
    new_page: Any, release: str
) -> None:
    """The learning-rate tab: a refused lr.start whose answer comes after the correction
    does not undo it: the corrected experiment is sent and shown, and no message stays."""
    page = new_page()
    page.evaluate(RECORD_SENT)
    page.evaluate(HOLD_ERRORS)
    page.get_by_test_id("race-pause").click()
    page.get_by_test_id("tab-lr").click()
    wait(page, f"{HOOK}.lr && {HOOK}.lr.length === 5")
    type_into(page, "lr-start-x", "1e9")
    field_error(page.get_by_test_id("lr-start")).wait_for(state="visible")
    wait(page, f"{HOOK}.lr && {HOOK}.lr.length === 5")  # the last accepted one again

    refuse_late_then_correct(page, "lr.start", ("lr-steps", "50"), ("lr-start-x", "1.5"), release)
    both = "m => m.includes('\"steps\":50') && m.includes('\"start\":[1.5]')"
    wait(page, f"window.__sent.some({both})")  # the corrected experiment is sent
    corrected(page, "#panel-lr", "lr-start-x")
    wait(page, f"{HOOK}.lr && {HOOK}.lr.length === 5")
    last = sent(page, "lr.start")[-1]["config"]
    assert (last["steps"], last["start"]) == (50, [1.5])
    corrected(page, "#panel-lr", "lr-start-x")


@pytest.mark.parametrize("release", RELEASES)
def test_landscape_tab_a_late_refusal_does_not_outlive_the_correction(
    new_page: Any, release: str
) -> None:
    """The Network-landscape tab: a refused landscape.start whose answer comes after the
    correction does not undo it: the corrected run is sent, accepted, and no message stays."""
    raw = json.dumps({"tab": "landscape", "landscape": LANDSCAPE_FAST}).encode()
    page = new_page("#state=" + base64.urlsafe_b64encode(raw).decode().rstrip("="))
    page.evaluate(RECORD_SENT)
    page.evaluate(HOLD_ERRORS)
    land = f"{HOOK}.landscape"
    wait(page, f"{land} && {land}.frames >= 1")
    frames = hook(page)["landscape"]["frames"]
    type_into(page, "landscape-hidden", "16, 200")
    field_error(page.locator("[data-field=hidden]")).wait_for(state="visible")
    wait(page, f"{land}.frames > {frames}")  # the last accepted run again

    refuse_late_then_correct(
        page, "landscape.start", ("landscape-seed", "5"), ("landscape-hidden", "8"), release
    )
    both = "m => m.includes('\"seed\":5') && m.includes('\"hidden\":[8]')"
    wait(page, f"window.__sent.some({both})")  # the corrected run is sent
    corrected(page, "#panel-landscape", "landscape-hidden")
    last = sent(page, "landscape.start")[-1]["config"]
    assert (last["seed"], last["hidden"]) == (5, [8])
    frames = hook(page)["landscape"]["frames"]
    page.get_by_test_id("landscape-step").click()
    wait(page, f"{land}.frames > {frames} && {land}.step > 0")
    corrected(page, "#panel-landscape", "landscape-hidden")


def test_formula_with_z_is_refused_beside_the_formula(new_page: Any, artifacts: Path) -> None:
    page = new_page()
    wait(page, f"{HOOK}.frames.race > 2")
    group = page.get_by_test_id("race-formula-control")
    formula = page.get_by_test_id("race-formula")
    formula.fill("x + z")
    formula.press("Enter")
    assert_beside(
        page,
        group,
        formula,
        "the formula uses z; the playground shows 1-D and 2-D landscapes: use x and y",
    )
    assert formula.input_value() == "x + z"
    # the map keeps the last accepted landscape and the race keeps running
    assert hook(page)["surface"]["landscape"] == "beale"
    frames = hook(page)["frames"]["race"]
    page.get_by_test_id("race-play").click()
    wait(page, f"{HOOK}.frames.race > {frames} + 3")
    shoot(page, artifacts, "formula", page.locator("#race-controls"))

    formula.fill("(x - 1)**2 + (y + 1)**2")
    assert field_error(group).count() == 0, "typing did not clear the message"
    assert formula.get_attribute("aria-invalid") is None
    formula.press("Enter")
    wait(page, f"{HOOK}.surface.landscape === '(x - 1)**2 + (y + 1)**2'")
    race_runs(page)
    assert field_error(page.locator("#race-controls")).count() == 0


def test_start_outside_the_bounds_is_refused_beside_the_start(
    new_page: Any, artifacts: Path
) -> None:
    page = new_page()
    page.get_by_test_id("race-pause").click()
    page.get_by_test_id("tab-lr").click()
    wait(page, f"{HOOK}.lr && {HOOK}.lr.length === 5")
    group = page.get_by_test_id("lr-start")
    start = page.get_by_test_id("lr-start-x")
    # coordinates are bounded by +-1e6 (a start off the map but inside that is allowed: it
    # is how a run from far away is watched)
    type_into(page, "lr-start-x", "1e9")
    shown = assert_beside(page, group, start, "start coordinates must be within +-1e+06")
    assert "1000000000" in shown
    assert start.input_value() == "1e9"
    # the last accepted experiment is shown again
    wait(page, f"{HOOK}.lr && {HOOK}.lr.length === 5")
    assert page.get_by_test_id("lr-panels").locator("figure").count() == 5
    shoot(page, artifacts, "start", page.locator("#lr-controls"))

    # text in a start box is the page's own refusal
    type_into(page, "lr-start-x", "far")
    assert_beside(page, group, start, "start x must be a number, got 'far'")
    type_into(page, "lr-start-x", "1.5")
    wait(page, "document.querySelectorAll('#panel-lr [data-testid=field-error]').length === 0")
    wait(page, f"{HOOK}.lr && {HOOK}.lr.length === 5")
    assert start.get_attribute("aria-invalid") is None

    page.get_by_test_id("tab-race").click()
    race_runs(page)


def test_network_tab_bad_values_beside_their_controls(new_page: Any, artifacts: Path) -> None:
    page = new_page()
    page.get_by_test_id("race-pause").click()
    page.get_by_test_id("tab-train").click()
    controls = page.locator("#train-controls")
    dropout = page.get_by_test_id("train-dropout")
    dropout_group = page.locator("#train-controls .control", has=dropout)
    page.get_by_test_id("train-play").click()
    wait(page, f"{HOOK}.frames.train > 2")

    # above the slider's range: sent as typed, refused by the server beside the box
    type_into(page, "train-dropout", "0.95")
    assert_beside(page, dropout_group, dropout, "dropout must be at most 0.9, got 0.95")
    assert dropout.input_value() == "0.95"
    frames = hook(page)["frames"]["train"]
    wait(page, f"{HOOK}.frames.train > {frames} + 2")  # the last accepted run trains on
    shoot(page, artifacts, "network-dropout", controls)

    type_into(page, "train-dropout", "0.1")
    assert field_error(dropout_group).count() == 0

    # a schedule setting: the server names the schedule's settings, shown under them
    page.get_by_test_id("train-schedule").select_option("step")
    type_into(page, "train-sched-step_size", "0")
    sched = page.get_by_test_id("train-sched-hyper")
    error = field_error(sched)
    error.wait_for(state="visible")
    assert "step_size" in error.inner_text() and "0" in error.inner_text()
    assert not page.get_by_test_id("error-banner").is_visible()
    shoot(page, artifacts, "network-schedule", controls)
    type_into(page, "train-sched-step_size", "30")
    wait(page, "document.querySelectorAll('#panel-train [data-testid=field-error]').length === 0")

    frames = hook(page)["frames"]["train"]
    page.get_by_test_id("train-play").click()
    wait(page, f"{HOOK}.frames.train > {frames} + 3 && {HOOK}.train.epoch > 3")
    page.get_by_test_id("train-pause").click()
    page.get_by_test_id("tab-race").click()
    race_runs(page)


def test_every_control_names_its_field_and_unplaced_errors_use_the_banner(new_page: Any) -> None:
    page = new_page()
    page.get_by_test_id("race-pause").click()
    found = page.evaluate("""async () => {
      const { findHost } = await import('./static/fields.js');
      const race = document.getElementById('panel-race');
      const train = document.getElementById('panel-train');
      const lr = document.getElementById('panel-lr');
      const id = (n) => n ? (n.dataset.testid
        || n.querySelector('input:not([type=range])[data-testid], select[data-testid]')?.dataset.testid
        || n.className) : null;
      return {
        lr0: id(findHost(race, 'config.optimizers[0].hyper.lr')),
        hyper1: id(findHost(race, 'config.optimizers[1].hyper')),
        name2: id(findHost(race, 'config.optimizers[2].name')),
        optimizers: id(findHost(race, 'config.optimizers')),
        landscape: id(findHost(race, 'config.landscape')),
        bounds: id(findHost(race, 'config.params.bounds')),
        start: id(findHost(race, 'config.params.start')),
        raceStart: id(findHost(race, 'config.start')),
        speed: id(findHost(race, 'steps_per_frame')),
        hidden: id(findHost(train, 'config.hidden')),
        dropout: id(findHost(train, 'config.dropout')),
        points: id(findHost(train, 'config.points')),
        dataset: id(findHost(train, 'config.dataset')),
        trainHyper: id(findHost(train, 'config.optimizer.hyper')),
        lrs: id(findHost(lr, 'config.lrs')),
        lrStart: id(findHost(lr, 'config.start')),
        lrLandscape: id(findHost(lr, 'landscape')),
        none: [findHost(race, 'message'), findHost(race, 'config'), findHost(race, 'type'),
               findHost(train, 'config.nothing'), findHost(lr, null)].map(id),
      };
    }""")
    assert found == {
        "lr0": "race-opt-o1-lr",
        "hyper1": "race-opt-o2-hyper",
        "name2": "race-opt-o3",
        "optimizers": "race-optimizers",
        "landscape": "race-formula-control",
        "bounds": "race-formula-control",
        "start": "race-start",
        "raceStart": "race-start",
        "speed": "race-speed",
        "hidden": "train-hidden",
        "dropout": "train-dropout",
        "points": "train-points",
        "dataset": "train-dataset",
        "trainHyper": "train-hp-hyper",
        "lrs": "lr-lrs-control",
        "lrStart": "lr-start",
        "lrLandscape": "lr-landscape",
        "none": [None] * 5,
    }

    # a server error whose field names no control goes to the banner, as plain words
    page.get_by_test_id("tab-lr").click()
    wait(page, f"{HOOK}.lr && {HOOK}.lr.length === 5")
    page.locator("#lr-controls details.more summary").click()
    type_into(page, "lr-hp-momentum", "-1")
    wait(page, f"{HOOK}.errors.length > 0")
    err = hook(page)["errors"][-1]
    placed = page.evaluate(
        "async (f) => { const { findHost } = await import('./static/fields.js');"
        " return findHost(document.getElementById('panel-lr'), f) !== null; }",
        err["field"],
    )
    banner = page.get_by_test_id("error-banner")
    if placed:
        assert err["shown"] == "field"
        assert field_error(page.locator("#lr-controls")).count() == 1
        assert not banner.is_visible()
    else:
        assert err["shown"] == "banner"
        banner.wait_for(state="visible")
        text = page.get_by_test_id("error-banner").inner_text()
        assert err["message"] in text and "(field" not in text
        assert field_error(page.locator("#panel-lr")).count() == 0
