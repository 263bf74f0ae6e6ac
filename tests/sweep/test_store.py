"""trials.jsonl: whole lines only, a torn tail ignored and cut, strict JSON."""

from __future__ import annotations

import json
import math

import pytest

from descentlab.sweep.store import MAX_LINE, TRIALS, SweepStore, json_line


def test_append_and_read_back(tmp_path):
    store = SweepStore(tmp_path / "s")
    for i in range(5):
        store.append({"key": f"k{i}", "final_loss": i / 3})
    records = store.records()
    assert [r["key"] for r in records] == [f"k{i}" for i in range(5)]
    assert records[1]["final_loss"] == 1 / 3  # floats round-trip exactly


def test_nan_and_infinity_become_null():
    line = json_line({"key": "a", "x": math.nan, "y": [math.inf, 1.0], "z": {"w": -math.inf}})
    assert json.loads(line) == {"key": "a", "x": None, "y": [None, 1.0], "z": {"w": None}}
    assert "NaN" not in line and "Infinity" not in line


def test_a_torn_last_line_is_ignored_then_cut(tmp_path):
    store = SweepStore(tmp_path)
    store.append({"key": "a"})
    store.append({"key": "b"})
    with open(tmp_path / TRIALS, "ab") as fh:
        fh.write(b'{"key": "c", "final_lo')  # a kill -9 in the middle of a write
    assert [r["key"] for r in store.records()] == ["a", "b"]
    removed = store.repair()
    assert removed == len(b'{"key": "c", "final_lo')
    store.append({"key": "c"})
    assert [r["key"] for r in store.records()] == ["a", "b", "c"]
    assert (tmp_path / TRIALS).read_bytes().count(b"\n") == 3


def test_a_file_that_is_all_one_torn_line_is_emptied(tmp_path):
    (tmp_path / TRIALS).write_bytes(b"x" * 100_000)
    store = SweepStore(tmp_path)
    assert store.records() == []
    assert store.repair() == 100_000
    assert (tmp_path / TRIALS).read_bytes() == b""


def test_foreign_and_oversized_lines_are_skipped(tmp_path):
    path = tmp_path / TRIALS
    path.write_bytes(
        b'{"key": "ok"}\n[1, 2]\n"text"\n{"no_key": 1}\n\xff\xfe\n'
        + b'{"key": "'
        + b"a" * MAX_LINE
        + b'"}\n{"key": "last"}\n'
    )
    assert [r["key"] for r in SweepStore(tmp_path).records()] == ["ok", "last"]


def test_manifest_round_trip_and_corruption(tmp_path):
    store = SweepStore(tmp_path)
    assert store.read_manifest() is None
    store.write_manifest({"plan": {"seeds": 3}, "x": math.nan})
    assert store.read_manifest() == {"plan": {"seeds": 3}, "x": None}
    store.manifest_path.write_text("{not json")
    with pytest.raises(ValueError, match="not a sweep manifest"):
        store.read_manifest()
    store.manifest_path.write_text("[1, 2]")
    with pytest.raises(ValueError, match="not a sweep manifest"):
        store.read_manifest()
