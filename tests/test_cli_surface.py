"""descentlab surface: train with several optimizers, draw the landscapes they reach."""

from __future__ import annotations

import re

import pytest

from descentlab.cli import build_parser, main

TINY = ["--hidden", "8", "--epochs", "2", "--grid", "5", "--samples", "150"]


def test_surface_end_to_end_on_digits(tmp_path, capsys):
    out = tmp_path / "surf"
    assert main(["surface", "--optimizers", "sgd,adam", "--out", str(out), *TINY]) == 0
    for name in ("landscape.png", "interpolation.png", "sharpness.png", "index.html"):
        assert (out / name).stat().st_size > 1000, name
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == 3  # self-contained
    rows = dict(re.findall(r"<tr><td>(\w+)</td>(.*?)</tr>", page))
    assert set(rows) == {"sgd", "adam"}
    header = re.findall(r"<th>(.*?)</th>", page)
    for column in ("train loss", "test accuracy", "λ_max", "2/η"):
        assert column in header
    sgd = re.findall(r"<td>(.*?)</td>", rows["sgd"])
    assert float(sgd[header.index("lr") - 1]) == 0.1  # the default learning rate for SGD
    assert 0 < float(sgd[header.index("test accuracy") - 1]) <= 1
    printed = capsys.readouterr().out
    assert "sgd: lr 0.1" in printed and "adam: lr 0.001" in printed
    assert not list(out.glob(".*.tmp"))  # atomic writes leave nothing behind


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--optimizers", "sgd,nope"], "nope"),
        (["--optimizers", "sgd,sgd"], "twice"),
        (["--grid", "2"], "--grid"),
        (["--lr", "0.1,0.2,0.3"], "--lr"),
        (["--data", "line"], "classification"),
        (["--hidden", "8,x"], "--hidden"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path, capsys, args, message):
    code = main(["surface", "--out", str(tmp_path / "o"), *TINY, *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert not (tmp_path / "o" / "index.html").exists()


def test_out_must_be_a_writable_folder(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["surface", "--out", str(target), *TINY]) == 2
    assert "folder" in capsys.readouterr().err


def test_every_option_says_its_default():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    text = " ".join(sub.choices["surface"].format_help().split())
    for default in ("digits", "64", "sgd,adam", "10", "32", "0.0", "41", "1000", "surface"):
        assert f"(default: {default})" in text, default
    assert "default: 0.1 for sgd" in text
