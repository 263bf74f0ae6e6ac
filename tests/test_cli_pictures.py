"""The CLI's pictures: where ``race`` writes without --out, what --help says about it, and
one optimizer option spelled both ways on every command that takes optimizers."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from descentlab.cli import RACE_FILE, RUNS_FOLDER, build_parser, main

README = Path(__file__).resolve().parents[1] / "README.md"


def test_race_without_out_writes_into_a_new_runs_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    argv = ["race", "beale", "--optimizers", "sgd,adam", "--steps", "4", "--fps", "5"]
    assert main(argv) == 0
    assert main(argv) == 0  # a second race gets a folder of its own, even in the same second
    printed = capsys.readouterr().out
    assert sorted(p.name for p in tmp_path.iterdir()) == [RUNS_FOLDER]  # nothing else here
    folders = sorted((tmp_path / RUNS_FOLDER).iterdir())
    assert len(folders) == 2 and all(f.name.startswith("race-") for f in folders)
    for folder in folders:
        assert [p.name for p in folder.iterdir()] == [RACE_FILE]
        assert (folder / RACE_FILE).read_bytes()[:6] == b"GIF89a"
        assert f"wrote {Path(RUNS_FOLDER) / folder.name / RACE_FILE}" in printed


def test_race_help_and_readme_name_the_same_folder():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    race = sub.choices["race"]
    bare = "".join(race.format_help().split())  # argparse may wrap the path at its "-"
    where = f"./{RUNS_FOLDER}/race-TIME/{RACE_FILE}"
    assert "".join(f"(default: {where}, a new folder per race)".split()) in bare
    readme = README.read_text(encoding="utf-8")
    assert f"# {where}" in readme and f"`./{RUNS_FOLDER}/race-TIME/`" in readme
    assert "--out race.gif" not in readme


@pytest.mark.parametrize(
    ("command", "dest"),
    [
        (["race"], "optimizers"),
        (["minimize", "parabola"], "optimizer"),
        (["train"], "optimizer"),
        (["sweep", "parabola"], "optimizers"),
        (["plot", "landscape", "--out", "x.png"], "optimizers"),
    ],
)
def test_optimizer_and_optimizers_are_the_same_option(command, dest):
    parser = build_parser()
    names = "adam" if command == ["train"] else "adam,sgd"  # train takes one optimizer
    one = parser.parse_args([*command, "--optimizer", names])
    many = parser.parse_args([*command, "--optimizers", names])
    assert getattr(one, dest) == getattr(many, dest) == names


def test_every_command_that_takes_optimizers_accepts_both_spellings():
    """Commands added later (surface, ...) included: whoever takes one spelling takes both,
    and its help shows a default and a line of help for each (the general test checks)."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    taking = []
    for name, command in sub.choices.items():
        options = {s: a for a in command._actions for s in a.option_strings}
        if "--optimizer" in options or "--optimizers" in options:
            assert options.get("--optimizer") is options.get("--optimizers"), name
            assert options["--optimizer"].help, name
            taking.append(name)
    assert {"race", "minimize", "train", "sweep", "plot"} <= set(taking)
