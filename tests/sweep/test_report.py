"""The sweep's report.html: content, escaping, robustness, charts that parse as SVG."""

from __future__ import annotations

import copy
import math
import re
import xml.etree.ElementTree as ET

import pytest

import descentlab.sweep as S
from descentlab.sweep.report import arm_colors, curve_band, log_fits, write_report

SVG = "{http://www.w3.org/2000/svg}"
NOT_A_NUMBER = re.compile(r"\b(nan|inf|infinity)\b", re.IGNORECASE)
HOSTILE = "x**2 + 0*y  <script>alert(1)</script>"


@pytest.fixture(scope="module")
def landscape(tmp_path_factory):
    """rosenbrock, three optimizers, 5 learning rates (the largest diverge), 2 seeds."""
    out = tmp_path_factory.mktemp("landscape")
    return S.sweep(
        "rosenbrock",
        optimizers="sgd,momentum,adam",
        grid={"lr": "1e-4:1:5"},
        seeds=2,
        steps=60,
        backend="serial",
        out=out,
    )


@pytest.fixture(scope="module")
def data_sweep(tmp_path_factory):
    """digits, two optimizers, a validation-accuracy target that adam reaches."""
    out = tmp_path_factory.mktemp("data")
    return S.sweep(
        ["digits", "moons"],
        optimizers="sgd,adam",
        grid={"lr": [0.01, 0.1]},
        seeds=2,
        epochs=2,
        target=0.5,
        backend="serial",
        out=out,
    )


@pytest.fixture(scope="module")
def diverged():
    """Every setting diverges: learning rates 1 to 100 on rosenbrock."""
    return S.sweep(
        "rosenbrock",
        optimizers="sgd,momentum",
        grid={"lr": "1:100:3"},
        seeds=2,
        steps=30,
        backend="serial",
    ).summary


def _svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", page, re.DOTALL)]


def _rows(page: str) -> list[str]:
    return re.findall(r'<tr data-arm="([^"]*)"', page)


def _ranked(problem) -> list[str]:
    """The arm labels best first, then those without a best setting (plan order)."""
    rest = [a["arm"] for a in problem["optimizers"] if a["arm"] not in problem["ranking"]]
    return problem["ranking"] + rest


def _write(summary, tmp_path, name="report.html") -> str:
    path = write_report(summary, tmp_path / name)
    assert path == tmp_path / name
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not NOT_A_NUMBER.search(page), NOT_A_NUMBER.search(page)
    for svg in _svgs(page):
        assert svg.tag == f"{SVG}svg"
    return page


def test_sweep_writes_the_report_beside_the_summary(landscape):
    assert landscape.report == landscape.out / "report.html"
    page = landscape.report.read_text(encoding="utf-8")
    assert "<title>Optimizer comparison on rosenbrock</title>" in page
    assert "How to read this." in page and "with 2 seeds" in page
    assert _rows(page) == _ranked(landscape.summary["problems"][0])
    svgs = _svgs(page)
    assert [s.get("aria-label") for s in svgs] == [
        "Learning-rate sensitivity on rosenbrock",
        "Loss curves at the best settings on rosenbrock",
    ]
    assert "<script" not in page and "http://" not in page.replace(SVG[1:-1], "")
    assert "lr ∈ [1e-4, 1], 5\u00a0log-spaced" in page  # the search space beside the result


def test_sensitivity_chart_has_a_line_per_arm_crosses_rings_and_round_ticks(landscape):
    page = _write(landscape.summary, landscape.out, "again.html")
    sens = _svgs(page)[0]
    colors = arm_colors(landscape.summary)
    strokes = [p.get("stroke") for p in sens.iter(f"{SVG}polyline")]
    assert set(strokes) == set(colors.values())
    rings = [c for c in sens.iter(f"{SVG}circle") if c.get("r") == "8"]
    assert len(rings) == len(landscape.summary["problems"][0]["ranking"])
    crosses = [g for g in sens.iter(f"{SVG}g") if "diverged" in (g.findtext(f"{SVG}title") or "")]
    diverged = sum(
        bool(p["diverged"])
        for a in landscape.summary["problems"][0]["optimizers"]
        for p in a["sensitivity"]
    )
    assert diverged > 0 and len(crosses) == diverged
    ticks = [t.text for t in sens.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert ["1e-4", "1e-3", "0.01", "0.1", "1"] == ticks[:5]  # the log lr axis
    legend = {t.text for t in sens.iter(f"{SVG}text") if t.get("class") == "key"}
    assert {"sgd", "momentum", "adam", "chosen setting", "min–max over seeds"} <= legend


def test_numbers_are_short(landscape):
    page = _write(landscape.summary, landscape.out, "short.html")
    text = re.sub(r"<svg\b.*?</svg>", "", page, flags=re.DOTALL)
    assert not re.search(r"\d\.\d{5,}", text)  # 4 significant digits, not 16
    means = re.findall(r">(-?[\d.]+)(?:e(-?\d+))? ± ", text)
    assert len(means) == len(landscape.summary["problems"][0]["ranking"])
    for mantissa, _ in means:
        assert len(mantissa.replace("-", "").replace(".", "").lstrip("0")) <= 4, mantissa
    adam = next(a for a in landscape.summary["problems"][0]["optimizers"] if a["arm"] == "adam")
    assert f"lr = {adam['best']['lr']:g}</td>" in page


def test_data_problem_shows_accuracy_steps_to_target_and_the_profile(data_sweep):
    page = data_sweep.report.read_text(encoding="utf-8")
    assert "test accuracy" in page and "final validation loss" in page
    problem = data_sweep.summary["problems"][0]
    assert _rows(page)[: len(problem["ranking"])] == problem["ranking"]
    for arm in problem["optimizers"]:
        best = arm["best"]
        assert f"({best['reached_target']}/{best['of']})" in page
    profile = [
        s for s in _svgs(page) if s.get("aria-label") == "Performance profile across problems"
    ]
    assert len(profile) == 1
    assert len(list(profile[0].iter(f"{SVG}path"))) == len(data_sweep.summary["profile"]["rho"])
    assert "target: validation accuracy ≥ 0.5" in page


def test_hostile_names_are_escaped(landscape, tmp_path):
    summary = copy.deepcopy(landscape.summary)
    summary["problems"][0]["name"] = HOSTILE
    summary["problems"][0]["optimizers"][0]["arm"] = '<img src=x onerror="alert(2)">'
    summary["failures"] = [{"key": "<b>k</b>", "error": "</li><script>alert(3)</script>"}]
    page = _write(summary, tmp_path)
    assert "<script>" not in page and "<img" not in page and "<b>k" not in page
    assert "x**2 + 0*y  &lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert 'data-arm="&lt;img src=x onerror=&quot;alert(2)&quot;&gt;"' in page
    assert "Failed trials (1)" in page
    assert len(_svgs(page)) == 2  # the escaped text keeps the SVG well-formed


def test_every_setting_diverged(diverged, tmp_path):
    page = _write(diverged, tmp_path)
    assert diverged["problems"][0]["ranking"] == []
    assert page.count("none: no setting finished every seed") == 2
    (sens,) = _svgs(page)  # no best setting, so no loss curves
    assert not [c for c in sens.iter(f"{SVG}circle") if c.get("r") == "8"]
    assert "no setting kept a finite loss" in page
    assert "no profile to draw" in page or "Performance profile" not in page


def _nulled(value):
    """Every number of a summary replaced by None (labels and structure kept)."""
    if isinstance(value, dict):
        return {k: _nulled(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nulled(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None
    return value


def test_none_anywhere_and_empty_summaries_render(landscape, data_sweep, tmp_path):
    for i, summary in enumerate((landscape.summary, data_sweep.summary)):
        page = _write(_nulled(summary), tmp_path, f"null{i}.html")
        first = _ranked(summary["problems"][0])
        assert _rows(page)[: len(first)] == first
        assert "none: no setting finished every seed" not in page  # the best settings stay
    page = _write({"problems": [], "profile": None}, tmp_path, "empty.html")
    assert "Optimizer comparison on 0 problems" in page
    broken = copy.deepcopy(landscape.summary)
    broken["problems"][0]["optimizers"][0]["sensitivity"] = []
    broken["problems"][0]["optimizers"][1]["best"] = None
    broken["profile"] = {"tau": [], "rho": {}, "problems": ["rosenbrock"]}
    assert len(_svgs(_write(broken, tmp_path, "broken.html"))) == 2
    with pytest.raises(TypeError, match="summary"):
        write_report(["not", "a", "summary"], tmp_path / "x.html")


def test_one_learning_rate_huge_and_negative_losses(tmp_path):
    summary = S.sweep(
        "rosenbrock",
        optimizers="sgd,adam",
        grid={"lr": [0.001]},
        seeds=2,
        steps=20,
        backend="serial",
    ).summary
    page = _write(summary, tmp_path, "one.html")
    sens = _svgs(page)[0]
    assert len([c for c in sens.iter(f"{SVG}circle") if c.get("r") == "8"]) == 2
    ticks = [t.text for t in sens.iter(f"{SVG}text") if t.get("class") == "tick"]
    assert "1e-3" in ticks
    wild = copy.deepcopy(summary)
    for arm, scale in zip(wild["problems"][0]["optimizers"], (1e27, -1.0)):
        for entry in arm["sensitivity"]:
            for key in ("mean", "min", "max"):
                entry[key] = scale * (entry[key] or 1.0)
        for curve in arm["best"]["curves"]:
            curve["loss"] = [None if v is None else scale * v for v in curve["loss"]]
    page = _write(wild, tmp_path, "wild.html")
    assert "(log scale)" not in re.search(r'aria-label="Loss curves.*?</svg>', page, re.DOTALL)[0]


def test_curve_band_holds_a_finished_seed_at_its_last_value():
    steps, mean, low, high = curve_band(
        [
            {"step": [0, 10, 20], "loss": [4.0, 2.0, 1.0]},
            {"step": [0, 10], "loss": [6.0, None]},  # a gap, then stopped early
            "not a curve",
        ]
    )
    assert steps == [0, 10, 20]
    assert mean == [5.0, 2.0, 1.0] and low == [4.0, 2.0, 1.0] and high == [6.0, 2.0, 1.0]
    assert curve_band([]) == ([], [], [], [])


def test_log_fits_and_colours_follow_the_plan():
    assert log_fits([1e-3, 1.0]) and not log_fits([0.1, 1.0]) and not log_fits([-1, 100])
    assert not log_fits([None, math.nan]) and log_fits([0.1, 2.0], decades=1.0)
    summary = {"plan": {"arms": [{"label": "b"}, {"label": "a"}]}, "problems": []}
    colors = arm_colors(summary)
    assert list(colors) == ["b", "a"] and colors["b"] != colors["a"]
