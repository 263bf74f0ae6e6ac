"""The playground in a real browser: races, training, the learning-rate tab, shared links,
errors, and a screenshot of every tab under test-artifacts/.

Every number the page shows comes from the server; these tests read the page's read-only
debug hook ``window.__descentlab`` (updated from the frames) and its DOM.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

HOOK = "window.__descentlab"


def wait(page: Any, expression: str, timeout: float = 20000) -> Any:
    """Wait until a JavaScript expression is truthy; returns its value."""
    return page.wait_for_function(expression, timeout=timeout).json_value()


def hook(page: Any) -> dict[str, Any]:
    return page.evaluate(f"JSON.parse(JSON.stringify({HOOK}))")


def set_number(page: Any, testid: str, value: float) -> None:
    box = page.get_by_test_id(testid)
    box.fill(str(value))
    box.press("Tab")


def race_done(ids: list[str]) -> str:
    cond = " && ".join(f"r[{i!r}] && r[{i!r}].status !== 'running'" for i in ids)
    return f"(() => {{ const r = {HOOK}.runs; return {HOOK}.race.done && {cond}; }})()"


def test_race_on_beale_three_paths_grow_and_loss_falls(new_page: Any, artifacts: Any) -> None:
    page = new_page()
    page.get_by_test_id("race-landscape").select_option("rosenbrock")
    page.get_by_test_id("race-landscape").select_option("beale")
    names = [page.get_by_test_id(f"race-opt-o{k}-name").input_value() for k in (1, 2, 3)]
    assert names == ["sgd", "momentum", "adam"]
    for k, lr in (("o1", 0.01), ("o2", 0.005), ("o3", 0.1)):
        set_number(page, f"race-opt-{k}-lr", lr)
    set_number(page, "race-speed", 8)
    page.get_by_test_id("race-reset").click()
    page.get_by_test_id("race-play").click()
    wait(page, f"{HOOK}.surface && {HOOK}.surface.landscape === 'beale'")
    wait(page, f"['o1','o2','o3'].every(k => ({HOOK}.runs[k] || {{}}).points > 20)")
    before = hook(page)["runs"]
    most = max(before[k]["points"] for k in ("o1", "o2", "o3"))
    wait(page, f"['o1','o2','o3'].every(k => {HOOK}.runs[k].points > {max(most, 120)})")
    after = hook(page)
    assert after["frames"]["race"] > 10
    for k in ("o1", "o2", "o3"):
        run = after["runs"][k]
        assert run["points"] > before[k]["points"], f"path {k} did not grow"
        assert run["first"] == pytest.approx(41.25)  # Beale at its start (1, 1.5)
        assert run["last"] < 0.1 * run["first"], f"{k}: loss did not fall: {run}"
        badge = page.get_by_test_id(f"status-{k}").inner_text()
        assert badge == "running" or badge.startswith(("converged", "max steps")), badge
    # the loss chart and the map were drawn (non-blank canvases)
    for testid in ("race-canvas", "race-loss-chart"):
        assert page.get_by_test_id(testid).bounding_box()["width"] > 200
    page.get_by_test_id("race-pause").click()
    page.wait_for_timeout(300)
    paused = hook(page)["frames"]["race"]
    page.wait_for_timeout(500)
    assert hook(page)["frames"]["race"] == paused, "frames kept coming after pause"
    # frames that were on their way at the pause are held, then shown by the step, before
    # the step's own frame: wait for that one
    held = hook(page).get("raceHeld") or 0
    page.get_by_test_id("race-step").click()
    wait(page, f"{HOOK}.frames.race > {paused + held}")
    # a new speed changes the pace of the same race: nothing restarts, the paths keep growing
    kept = hook(page)["runs"]["o1"]["points"]
    set_number(page, "race-speed", 40)
    page.wait_for_timeout(400)
    assert hook(page)["runs"]["o1"]["points"] == kept, "changing the speed restarted the race"
    page.get_by_test_id("race-play").click()
    wait(page, f"{HOOK}.runs['o1'].points > {min(kept + 80, 500)}")
    page.get_by_test_id("race-pause").click()
    # Export Python: the library's own API in a dialog
    page.get_by_test_id("export-python").click()
    text = page.get_by_test_id("dialog-text")
    text.wait_for(state="visible")
    code = text.input_value()
    assert "landscapes.race" in code and "'beale'" in code
    page.get_by_test_id("dialog-close").click()
    page.get_by_test_id("race-play").click()
    wait(page, race_done(["o1", "o2", "o3"]), timeout=30000)
    page.screenshot(path=str(artifacts / "playground-race.png"))


def test_train_spirals_with_adam_and_dropout_accuracy_rises(new_page: Any, artifacts: Any) -> None:
    page = new_page()
    page.get_by_test_id("race-pause").click()
    page.get_by_test_id("tab-train").click()
    page.get_by_test_id("train-dataset").select_option("spirals")
    page.get_by_test_id("train-optimizer").select_option("adam")
    set_number(page, "train-hp-lr", 0.02)
    set_number(page, "train-dropout", 0.1)
    set_number(page, "train-speed", 5)
    page.get_by_test_id("train-layer-plus").click()
    assert page.get_by_test_id("train-layers").inner_text().startswith("3 hidden")
    page.get_by_test_id("train-play").click()
    wait(page, f"{HOOK}.train.epoch >= 150 && {HOOK}.train.test_accuracy >= 0.85", timeout=40000)
    page.get_by_test_id("train-pause").click()
    page.wait_for_timeout(400)  # frames already on their way arrive; then the view is still
    tr = hook(page)["train"]
    assert tr["first_test_accuracy"] is not None
    assert tr["test_accuracy"] > tr["first_test_accuracy"]
    shown = page.get_by_test_id("train-test-accuracy").inner_text()
    assert shown.endswith("%") and float(shown[:-1]) >= 85.0
    assert int(page.get_by_test_id("train-epoch").inner_text()) >= 150
    cells = page.get_by_test_id("confusion-matrix").locator("tbody td").all_inner_texts()
    assert len(cells) == tr["classes"] ** 2
    assert sum(int(c) for c in cells) == 120  # the test set: 30 % of 400 points
    page.screenshot(path=str(artifacts / "playground-train.png"))


def test_shared_link_restores_controls_and_runs(new_page: Any) -> None:
    page = new_page()
    page.get_by_test_id("race-landscape").select_option("himmelblau")
    set_number(page, "race-opt-o1-lr", 0.005)
    page.get_by_test_id("race-remove-o2").click()
    page.get_by_test_id("race-add-name").select_option("nesterov")
    page.get_by_test_id("race-add").click()
    set_number(page, "race-opt-o4-lr", 0.002)
    set_number(page, "race-noise", 0.5)
    set_number(page, "race-seed", 7)
    set_number(page, "race-max-steps", 120)
    set_number(page, "race-speed", 20)
    page.get_by_test_id("tab-train").click()
    set_number(page, "train-dropout", 0.3)
    page.get_by_test_id("tab-race").click()
    page.get_by_test_id("race-play").click()
    ids = ["o1", "o3", "o4"]
    wait(page, race_done(ids) + f" && {HOOK}.runs.o1.points === 121", timeout=30000)
    page.wait_for_timeout(300)  # the URL is written shortly after the last change
    url = page.url
    assert "#state=" in url
    a = hook(page)["runs"]

    other = new_page(url)
    assert other.get_by_test_id("race-landscape").input_value() == "himmelblau"
    assert float(other.get_by_test_id("race-opt-o1-lr").input_value()) == 0.005
    assert other.get_by_test_id("race-opt-o4-name").input_value() == "nesterov"
    assert other.get_by_test_id("race-opt-o2").count() == 0
    assert float(other.get_by_test_id("race-noise").input_value()) == 0.5
    wait(other, race_done(ids) + f" && {HOOK}.runs.o1.points === 121", timeout=30000)
    b = hook(other)["runs"]
    for k in ids:
        assert b[k]["points"] == a[k]["points"]
        assert b[k]["status"] == a[k]["status"]
        assert b[k]["last"] == a[k]["last"], f"{k}: a seeded noisy run differs after the same steps"
    other.get_by_test_id("tab-train").click()
    assert float(other.get_by_test_id("train-dropout").input_value()) == 0.3


def test_export_and_import_json_round_trip(new_page: Any) -> None:
    page = new_page()
    page.get_by_test_id("race-landscape").select_option("booth")
    set_number(page, "race-opt-o2-lr", 0.02)
    page.get_by_test_id("export-json").click()
    text = page.get_by_test_id("dialog-text")
    text.wait_for(state="visible")
    state = json.loads(text.input_value())
    assert set(state) == {"tab", "race", "train", "lr", "landscape"}
    assert state["race"]["landscape"] == "booth"
    assert state["race"]["optimizers"][1]["hyper"]["lr"] == 0.02

    other = new_page()
    state["race"]["max_steps"] = 77
    other.get_by_test_id("import-json").click()
    other.get_by_test_id("dialog-text").fill(json.dumps(state))
    other.get_by_test_id("dialog-import").click()
    wait(other, f"{HOOK}.surface && {HOOK}.surface.landscape === 'booth'")
    assert other.get_by_test_id("race-landscape").input_value() == "booth"
    assert float(other.get_by_test_id("race-opt-o2-lr").input_value()) == 0.02
    assert int(other.get_by_test_id("race-max-steps").input_value()) == 77
    # a bad paste is an error in the banner, not a broken page
    other.get_by_test_id("import-json").click()
    other.get_by_test_id("dialog-text").fill("{not json")
    other.get_by_test_id("dialog-import").click()
    assert other.get_by_test_id("error-banner").is_visible()


def test_learning_rate_tab_statuses(new_page: Any, artifacts: Any) -> None:
    page = new_page()
    page.get_by_test_id("race-pause").click()
    page.get_by_test_id("tab-lr").click()
    assert page.get_by_test_id("lr-lrs").input_value() == "0.01, 0.1, 1, 100, 1000"
    page.get_by_test_id("lr-run").click()
    wait(page, f"{HOOK}.lr && {HOOK}.lr.length === 5")
    runs = {r["lr"]: r for r in hook(page)["lr"]}
    assert sorted(runs) == [0.01, 0.1, 1, 100, 1000]
    assert runs[100]["status"] == "diverged" and runs[1000]["status"] == "diverged"
    assert runs[0.1]["status"] == "converged"
    assert runs[1]["outcome"] == "oscillating"  # x -> -x on x^2 with eta = 1
    texts = [page.get_by_test_id(f"lr-status-{i}").inner_text() for i in range(5)]
    assert texts[1] == f"converged in {runs[0.1]['nit']} steps"
    assert texts[3].startswith("diverged at step") and texts[4].startswith("diverged at step")
    assert page.get_by_test_id("lr-panels").locator("figure").count() == 5
    page.wait_for_timeout(200)
    page.screenshot(path=str(artifacts / "playground-lr.png"))
    # edit the list: two panels
    page.get_by_test_id("lr-lrs").fill("0.05, 2")
    page.get_by_test_id("lr-lrs").press("Tab")
    wait(page, f"{HOOK}.lr && {HOOK}.lr.length === 2")
    assert page.get_by_test_id("lr-panels").locator("figure").count() == 2


def test_refused_formula_shows_error_beside_the_box_and_page_keeps_working(new_page: Any) -> None:
    page = new_page()
    banner = page.get_by_test_id("error-banner")
    assert not banner.is_visible()
    formula = page.get_by_test_id("race-formula")
    formula.fill("__import__('os')")
    formula.press("Enter")
    # the refusal is shown beside the formula box (tests/e2e/test_field_errors.py), not in the banner
    error = page.get_by_test_id("race-formula-control").get_by_test_id("field-error")
    error.wait_for(state="visible")
    assert "__import__" in error.inner_text() or "refused" in error.inner_text().lower()
    assert formula.get_attribute("aria-invalid") == "true"
    assert not banner.is_visible()
    # a valid formula and then a registry landscape still race
    formula.fill("x**2 + 3*sin(y)")
    assert error.count() == 0, "typing in the box did not clear its error"
    formula.press("Enter")
    wait(page, f"{HOOK}.surface && {HOOK}.surface.landscape === 'x**2 + 3*sin(y)'")
    page.get_by_test_id("race-landscape").select_option("booth")
    page.get_by_test_id("race-play").click()
    wait(page, f"{HOOK}.surface.landscape === 'booth' && ({HOOK}.runs.o1 || {{}}).points > 10")
    assert not banner.is_visible()
    assert hook(page)["connected"] is True
