"""The command line, through subprocess: output, JSON, and one-line errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args, check_exit=None):
    proc = subprocess.run(
        [sys.executable, "-m", "descentlab.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if check_exit is not None:
        assert proc.returncode == check_exit, proc.stderr + proc.stdout
    return proc


def test_help_lists_every_command():
    out = run("--help", check_exit=0).stdout
    for cmd in (
        "train",
        "evaluate",
        "minimize",
        "race",
        "plot",
        "functions",
        "optimizers",
        "datasets",
        "gallery",
        "demo",
        "playground",
    ):
        assert cmd in out


def test_train_json_on_a_toy_set():
    out = run(
        "train",
        "--data",
        "blobs",
        "--hidden",
        "16",
        "--epochs",
        "5",
        "--lr",
        "0.02",
        "--json",
        check_exit=0,
    ).stdout
    result = json.loads(out)
    for key in ("test_accuracy", "test_loss", "train_loss", "epochs", "seconds"):
        assert key in result
    assert result["epochs"] == 5 and result["test_accuracy"] > 0.8


def test_train_accepts_registry_hyperparameters_and_saves(tmp_path):
    model = tmp_path / "m.npz"
    run(
        "train",
        "--data",
        "moons",
        "--hidden",
        "8",
        "--epochs",
        "2",
        "--optimizer",
        "sgd",
        "--lr",
        "0.1",
        "--momentum",
        "0.9",
        "--nesterov",
        "--l2",
        "1e-4",
        "--save",
        str(model),
        "--quiet",
        check_exit=0,
    )
    assert model.exists()
    out = run("evaluate", str(model), "--data", "moons", "--json", check_exit=0).stdout
    assert 0 <= json.loads(out)["accuracy"] <= 1


def test_minimize_prints_a_table_of_each_run():
    out = run(
        "minimize",
        "parabola",
        "--optimizer",
        "gd",
        "--lr",
        "0.1,1,100",
        "--steps",
        "100",
        check_exit=0,
    ).stdout
    assert "converged" in out and "diverged" in out and "oscillat" in out


def test_minimize_formula_json():
    out = run(
        "minimize",
        "x**2 + (y-1)**2",
        "--optimizer",
        "adam",
        "--lr",
        "0.1",
        "--steps",
        "3000",
        "--json",
        check_exit=0,
    ).stdout
    rows = json.loads(out)
    assert rows[0]["status"] == "converged"


@pytest.mark.parametrize("name", ["functions", "optimizers", "datasets"])
def test_listings(name):
    out = run(name, check_exit=0).stdout
    expected = {"functions": "rosenbrock", "optimizers": "adagrad_norm", "datasets": "spirals"}
    assert expected[name] in out


@pytest.mark.parametrize(
    "args,expected",
    [
        (["train", "--optimizer", "adamm"], "unknown optimizer 'adamm'"),
        (["train", "--lr", "-0.1"], "expected a positive float, got '-0.1'"),
        (["train", "--data", "nosuchset"], "nosuchset"),
        (["train", "--data", "mnist:/no/such/dir", "--epochs", "1"], "/no/such/dir"),
        (["train", "--optimizer", "sgd", "--beta1", "0.9"], "has no hyperparameter beta1"),
        (["train", "--hidden", "16,x"], "--hidden"),
        (["evaluate", "/no/model.npz"], "no model file"),
        (["minimize", "nosuchfunction"], "unknown landscape"),
        (["minimize", "__import__('os')"], "not allowed"),
        (["minimize", "parabola", "--start", "1,2"], "--start needs 1 numbers"),
        (["minimize", "parabola", "--optimizer", "sgd", "--beta2", "0.9"], "beta2"),
        (["train", "--epochs", "0"], "expected a positive int"),
    ],
)
def test_user_errors_print_one_line_and_exit_2(args, expected):
    proc = run(*args, check_exit=2)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]
    assert "Traceback" not in proc.stderr


def _is_png(path, min_bytes=1000):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > min_bytes


def test_race_writes_a_gif(tmp_path):
    out = tmp_path / "race.gif"
    text = run(
        "race",
        "beale",
        "--optimizers",
        "sgd,adam",
        "--steps",
        "30",
        "--fps",
        "10",
        "--set",
        "adam.lr=0.05",
        "--out",
        str(out),
        check_exit=0,
    ).stdout
    assert out.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    assert "adam" in text and "sgd" in text


@pytest.mark.parametrize(
    "kind,extra",
    [
        ("lr-sweep", []),
        ("gd-vs-sgd", []),
        ("landscape", ["rosenbrock", "--optimizers", "adam", "--steps", "50"]),
    ],
)
def test_plot_commands_write_pictures(tmp_path, kind, extra):
    out = tmp_path / f"{kind}.png"
    run("plot", kind, *extra, "--out", str(out), check_exit=0)
    assert _is_png(out)


def test_plot_option_of_train_and_minimize(tmp_path):
    curves, paths = tmp_path / "curves.svg", tmp_path / "paths.png"
    run(
        "train",
        "--data",
        "moons",
        "--hidden",
        "8",
        "--epochs",
        "3",
        "--quiet",
        "--plot",
        str(curves),
        check_exit=0,
    )
    assert b"<svg" in curves.read_bytes()[:400]
    run(
        "minimize",
        "himmelblau",
        "--optimizer",
        "sgd,adam",
        "--lr",
        "0.01",
        "--steps",
        "200",
        "--plot",
        str(paths),
        check_exit=0,
    )
    assert _is_png(paths)


def test_unknown_picture_format_is_a_one_line_error(tmp_path):
    proc = run("plot", "lr-sweep", "--out", str(tmp_path / "x.bmp"), check_exit=2)
    assert len(proc.stderr.strip().splitlines()) == 1 and ".bmp" in proc.stderr


def test_playground_command_serves_the_page():
    import socket
    import time
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "descentlab.cli", "playground", "--no-browser", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/health", timeout=2) as r:
                    assert r.status == 200
                    break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                assert time.monotonic() < deadline, "the playground did not start"
                time.sleep(0.3)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert b"descentlab" in r.read()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_race_on_a_classic_surface_uses_the_classic_settings(tmp_path):
    from descentlab import landscapes

    out = run(
        "race",
        "beale",
        "--optimizers",
        "adam",
        "--steps",
        "300",
        "--out",
        str(tmp_path / "r.gif"),
        check_exit=0,
    ).stdout
    classic = landscapes.classic_race("beale")["adam"]
    assert f"f = {float(classic.fun):.6g}" in out


def test_playground_on_a_busy_port_is_a_one_line_error():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run("playground", "--no-browser", "--port", str(port), check_exit=2)
    expected = (
        f"descentlab: error: cannot listen on 127.0.0.1:{port}: Address already in use; "
        "choose another --port"
    )
    assert proc.stderr.strip().splitlines() == [expected]


# ------------------------------------------------------------------ trust
def _strict_json(text):
    def refuse(constant):
        raise AssertionError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def _one_line_error(proc):
    assert proc.returncode == 2, proc.stderr + proc.stdout
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    return lines[0]


@pytest.mark.parametrize(
    "args,named",
    [
        (["train", "--hidden", "64,,32"], "'64,,32'"),
        (["minimize", "parabola", "--lr", ","], "','"),
        (["minimize", "parabola", "--lr", "-0.5"], "-0.5"),
        (["minimize", "parabola", "--optimizer", "sgd,,adam"], "'sgd,,adam'"),
        (["train", "--patience", "-1"], "'-1'"),
        (["train", "--lr", "-0.1"], "'-0.1'"),
        (["train", "--lr", "abc"], "'abc'"),
        (["train", "--lr", "nan"], "'nan'"),
        (["train", "--epochs", "0"], "'0'"),
        (["train", "--batch-size", "0"], "'0'"),
        (["train", "--dropout", "1.5"], "'1.5'"),
        (["train", "--optimizer", "adamm"], "'adamm'"),
        (["minimize", "parabola", "--optimizer", "adamm"], "'adamm'"),
        (["minimize", "nosuchfunction"], "'nosuchfunction'"),
        (["race", "nosuchfunction", "--out", "r.gif"], "'nosuchfunction'"),
        (["race", "beale", "--lr-dec", "0.1", "--out", "r.gif"], "--lr-dec"),
        (
            ["race", "beale", "--optimizers", "sgd,adam", "--lr", "0.1,0.2,0.3", "--out", "r.gif"],
            "'0.1,0.2,0.3'",
        ),
        (["race", "beale", "--set", "adam.nosuch=1", "--out", "r.gif"], "'nosuch'"),
        (["train", "--save", "a_file.npz/sub/m.npz"], "a_file.npz"),
        (["plot", "lr-sweep", "--out", "/proc/x.png"], "/proc"),
        (["plot", "lr-sweep", "--out", "a_file.npz/x.png"], "a_file.npz"),
        (["train", "--checkpoint", "ck.ckpt"], "'ck.ckpt'"),
        (["train", "--resume", "no_such_checkpoint.npz"], "no_such_checkpoint.npz"),
        (["train", "--data", "labels.npz", "--epochs", "1"], "200"),
    ],
)
def test_bad_command_lines_get_one_line_naming_the_value(tmp_path, args, named):
    import numpy as np

    (tmp_path / "a_file.npz").write_bytes(b"")
    X = np.random.default_rng(0).normal(size=(40, 2))
    np.savez(tmp_path / "labels.npz", X=X, y=np.array([0, 1] * 19 + [1, 200]))
    proc = subprocess.run(
        [sys.executable, "-m", "descentlab.cli", *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    line = _one_line_error(proc)
    assert named in line


def test_an_output_path_is_checked_before_training(tmp_path):
    (tmp_path / "a_file.npz").write_bytes(b"")
    bad = tmp_path / "a_file.npz" / "sub" / "m.npz"
    # 100000 epochs would take minutes: the error must come before any of them
    proc = run("train", "--data", "moons", "--epochs", "100000", "--save", str(bad))
    line = _one_line_error(proc)
    assert line == (
        f"descentlab: error: cannot write {bad}: {tmp_path / 'a_file.npz'} is a file, not a folder"
    )


def test_no_folder_is_created_at_the_root():
    import os

    name = "descentlab_test_no_such_folder_92731"
    assert not os.path.exists("/" + name)
    proc = run("plot", "lr-sweep", "--out", f"/{name}/x.png")
    line = _one_line_error(proc)
    assert line == (
        f"descentlab: error: cannot write /{name}/x.png: folder /{name} does not "
        "exist and will not be created at the root; create it first"
    )
    assert not os.path.exists("/" + name)


def test_an_existing_folder_is_not_a_file_name(tmp_path):
    line = _one_line_error(run("race", "beale", "--out", str(tmp_path)))
    assert "is a folder" in line and str(tmp_path) in line


def test_save_creates_missing_folders_and_prints_the_path_written(tmp_path):
    target = tmp_path / "new" / "dir" / "model"
    out = run(
        "train",
        "--data",
        "moons",
        "--hidden",
        "4",
        "--epochs",
        "1",
        "--save",
        str(target),
        check_exit=0,
    ).stdout
    written = [
        line.removeprefix("model saved to ")
        for line in out.splitlines()
        if line.startswith("model saved to ")
    ]
    assert len(written) == 1
    from pathlib import Path

    assert Path(written[0]).is_file()
    assert (tmp_path / "new" / "dir" / "model.ckpt.npz").is_file()


def test_json_of_a_diverged_run_is_strict_with_a_status():
    proc = run(
        "train",
        "--data",
        "line",
        "--hidden",
        "8",
        "--epochs",
        "4",
        "--lr",
        "100000",
        "--optimizer",
        "sgd",
        "--json",
        check_exit=0,
    )
    result = _strict_json(proc.stdout)
    assert result["status"].startswith("diverged at epoch ")
    assert ": loss is " in result["status"]
    assert "RuntimeWarning" not in proc.stderr


def test_json_turns_an_overflowing_loss_into_null_and_says_why():
    result = _strict_json(
        run(
            "train",
            "--data",
            "line",
            "--hidden",
            "8",
            "--epochs",
            "4",
            "--lr",
            "10000",
            "--optimizer",
            "sgd",
            "--json",
            check_exit=0,
        ).stdout
    )
    assert result["test_loss"] is None and result["status"] == "test_loss is inf"


def test_minimize_json_is_strict_and_numeric():
    rows = _strict_json(
        run(
            "minimize",
            "parabola",
            "--optimizer",
            "gd",
            "--lr",
            "0.1,100",
            "--steps",
            "200",
            "--json",
            check_exit=0,
        ).stdout
    )
    assert [r["status"] for r in rows] == ["converged", "diverged"]
    assert rows[0]["lr"] == 0.1 and isinstance(rows[0]["fun"], float)


def test_race_lr_is_a_real_option_not_lr_decay(tmp_path):
    from descentlab import landscapes

    out = run(
        "race",
        "beale",
        "--optimizers",
        "adam,rmsprop",
        "--lr",
        "0.05,0.01",
        "--steps",
        "40",
        "--out",
        str(tmp_path / "r.gif"),
        check_exit=0,
    ).stdout
    f = landscapes.get("beale")
    expected = landscapes.race(
        f,
        landscapes.CLASSIC_RACES["beale"]["x0"],
        {"adam": {"lr": 0.05}, "rmsprop": {"lr": 0.01}},
        steps=40,
    )
    for name, res in expected.items():
        assert (
            f"{name:>12}: {res.status:<9} after {res.nit:>5} steps, f = {float(res.fun):.6g}" in out
        )


def test_main_lets_a_bug_surface_as_a_traceback(monkeypatch):
    from descentlab import cli

    def broken(args):
        raise TypeError("a bug")

    monkeypatch.setattr(cli, "cmd_functions", broken)
    with pytest.raises(TypeError, match="a bug"):
        cli.main(["functions"])


_INTERRUPT_MID_EPOCH = """
import importlib, os, signal, sys
from descentlab import cli
fit = importlib.import_module("descentlab.train.fit")
original = fit.Trainer._step

def step(self, xb, yb):
    loss = original(self, xb, yb)
    if self.global_step == self.steps_per_epoch + 3:  # three steps into the second epoch
        os.kill(os.getpid(), signal.SIGINT)
    return loss

fit.Trainer._step = step
sys.exit(cli.main(sys.argv[1:]))
"""


def _resume_line(stderr):
    lines = [line for line in stderr.splitlines() if line.startswith("resume with: descentlab ")]
    assert len(lines) == 1, stderr
    return lines[0].removeprefix("resume with: descentlab ")


def test_ctrl_c_mid_epoch_writes_a_checkpoint_that_resumes_exactly(tmp_path):
    import shlex

    args = [
        "train",
        "--data",
        "moons",
        "--hidden",
        "8",
        "--epochs",
        "4",
        "--batch-size",
        "8",
        "--patience",
        "3",
        "--json",
    ]
    proc = subprocess.run(
        [sys.executable, "-c", _INTERRUPT_MID_EPOCH, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 130, proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    resume = shlex.split(_resume_line(proc.stderr))
    checkpoint = resume[resume.index("--resume") + 1]
    assert checkpoint.startswith("descentlab-runs/") and (tmp_path / checkpoint).is_file()
    assert resume[: len(args)] == args

    resumed = subprocess.run(
        [sys.executable, "-m", "descentlab.cli", *resume],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert resumed.returncode == 0, resumed.stderr
    straight = run(*args, check_exit=0)
    a, b = _strict_json(resumed.stdout), _strict_json(straight.stdout)
    for key in ("epochs", "train_loss", "val_loss", "test_loss", "test_accuracy", "stop_reason"):
        assert a[key] == b[key], key


def test_sigint_from_outside_checkpoints_beside_the_checkpoint_option(tmp_path):
    import signal
    import time

    import numpy as np

    ckpt = tmp_path / "run" / "ck.npz"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "descentlab.cli",
            "train",
            "--data",
            "moons",
            "--hidden",
            "8",
            "--epochs",
            "100000",
            "--batch-size",
            "4",
            "--checkpoint",
            str(ckpt),
            "--quiet",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not ckpt.exists():  # the first epoch has ended: training is under way
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no checkpoint after the first epoch"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert _resume_line(stderr).endswith(f"--resume {ckpt}")
    with np.load(ckpt, allow_pickle=False) as archive:
        meta = json.loads(str(archive["meta"]))
    assert meta["epoch"] >= 1 and len(meta["history"]["epochs"]) == meta["epoch"]


def test_resume_with_another_optimizer_or_hidden_size_is_refused(tmp_path):
    ckpt = tmp_path / "ck.npz"
    base = ["train", "--data", "moons", "--epochs", "2", "--quiet"]
    run(*base, "--hidden", "8", "--checkpoint", str(ckpt), check_exit=0)
    line = _one_line_error(run(*base, "--hidden", "8", "--optimizer", "sgd", "--resume", str(ckpt)))
    assert "made with optimizer adam, this run uses sgd" in line
    line = _one_line_error(run(*base, "--hidden", "16", "--resume", str(ckpt)))
    assert "sizes=[2, 8, 2]" in line and "sizes=[2, 16, 2]" in line


def test_check_output_allows_new_folders_only_below_a_writable_folder(tmp_path):
    from descentlab.cli import UsageError, check_output

    assert (
        check_output(str(tmp_path / "a" / "b" / "x.png"), "--out") == tmp_path / "a" / "b" / "x.png"
    )
    assert not (tmp_path / "a").exists()  # made only when the file is written
    (tmp_path / "f").write_text("")
    with pytest.raises(UsageError, match="it is a file, not a folder"):
        check_output(str(tmp_path / "f"), "DIRECTORY", folder=True)
    with pytest.raises(UsageError, match="needs a file name"):
        check_output("", "--out")


@pytest.mark.skipif(
    not hasattr(__import__("os"), "geteuid") or __import__("os").geteuid() == 0,
    reason="root may write anywhere",
)
def test_check_output_refuses_a_folder_that_is_not_writable(tmp_path):
    from descentlab.cli import UsageError, check_output

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        with pytest.raises(UsageError, match=f"folder {locked} is not writable"):
            check_output(str(locked / "sub" / "x.png"), "--out")
    finally:
        locked.chmod(0o700)


def test_train_schedule_fills_its_length_from_epochs_and_names_the_choices():
    from descentlab.optim.lr_scheduler import SCHEDULES

    out = run(
        "train",
        "--data",
        "moons",
        "--hidden",
        "8",
        "--epochs",
        "3",
        "--schedule",
        "warmup_cosine:warmup=1",
        "--json",
        check_exit=0,
    ).stdout
    assert _strict_json(out)["epochs"] == 3  # T_max = 3 > warmup; the default T_max is 100
    line = _one_line_error(
        run("train", "--data", "moons", "--epochs", "3", "--schedule", "triangle", "--json")
    )
    assert f"unknown schedule 'triangle'; expected one of {', '.join(SCHEDULES)}" in line
    line = _one_line_error(
        run("train", "--data", "moons", "--epochs", "3", "--schedule", "cosine:T_max=x")
    )
    assert "T_max" in line and "'x'" in line
    helptext = " ".join(run("train", "--help", check_exit=0).stdout.split())
    assert f"one of {', '.join(SCHEDULES)};" in helptext
    assert "NAME:KEY=VALUE" in helptext and "warmup_cosine:warmup=5" in helptext
    assert "default: none" in helptext


def test_every_argument_of_every_command_has_help_and_shows_its_default(capsys):
    """What --help shows: a line of help for each argument, with its default where it has
    one; and one spelling of the optimizer option, accepted in both forms everywhere."""
    import argparse

    from descentlab.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, command in sub.choices.items():
        text = command.format_help()
        flat = " ".join(text.split())
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            where = f"{name} {action.option_strings or action.dest}"
            assert action.help, f"{where} has no help"
            default = action.default
            if default is not None and default is not False and not action.dest.startswith("hp_"):
                shown = ",".join(map(str, default)) if isinstance(default, list) else default
                assert f"default: {shown}" in flat, f"{where}: default {default!r} not shown"
        options = {s for a in command._actions for s in a.option_strings}
        assert ("--optimizer" in options) == ("--optimizers" in options), name
