"""The benchmarks' shared helpers (``benchmarks/_common.py``): the order in which the
contenders alternate, and the ratios reported."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "_common.py"


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("benchmarks_common", _PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    path = list(sys.path)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path[:] = path
    return module


def test_alternate_reverses_the_order_every_other_repetition(common):
    calls: list[str] = []
    cases = {name: (lambda name=name: calls.append(name)) for name in "abc"}
    times = common.alternate(cases, reps=4, warmup=1)
    assert calls[:3] == ["a", "b", "c"]  # the warm-up, in order
    assert calls[3:] == list("abccbaabccba")
    assert {name: len(ts) for name, ts in times.items()} == {"a": 4, "b": 4, "c": 4}


def test_report_gives_the_ratio_of_medians_and_the_median_of_paired_ratios(
    common, tmp_path, capsys
):
    # a slow spell in the third repetition hits both contenders: the ratio within each
    # repetition stays 2, the ratio of medians does not
    times = {"ours": [2.0, 2.0, 9.0, 2.2], "theirs": [1.0, 1.0, 4.5, 1.5]}
    out = tmp_path / "r.json"
    result = common.report("t", times, [("ours", "theirs")], json_path=str(out))
    assert result["ratios"]["ours / theirs"] == pytest.approx(2.1 / 1.25)
    assert result["paired ratios"]["ours / theirs"] == pytest.approx(2.0)
    assert "repetition by repetition: median 2.000" in capsys.readouterr().out
    assert json.loads(out.read_text())["paired ratios"] == {"ours / theirs": 2.0}


def test_a_single_repetition_reports_no_paired_ratio(common, capsys):
    result = common.report("t", {"a": [2.0], "b": [1.0]}, [("a", "b")])
    assert result["ratios"] == {"a / b": 2.0}
    assert result["paired ratios"] == {}
    assert "repetition by repetition" not in capsys.readouterr().out


def test_paired_better_takes_the_better_of_the_two_in_each_repetition(common):
    # each repetition's better case differs (one, every, every): the chosen case is
    # 1.1 x it in every repetition, though 0.55 x the better of the two medians
    chosen = [1.1, 2.2, 1.1]
    one = [1.0, 3.0, 2.0]
    every = [2.0, 2.0, 1.0]
    assert common.paired_better(chosen, one, every) == pytest.approx(1.1)
    with pytest.raises(ValueError):
        common.paired_better(chosen, one, every[:2])
