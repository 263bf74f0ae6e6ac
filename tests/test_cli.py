"""The command line, through subprocess: output, JSON, and one-line errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args, check_exit=None):
    proc = subprocess.run([sys.executable, "-m", "descentlab.cli", *args],
                          capture_output=True, text=True, timeout=300, check=False)
    if check_exit is not None:
        assert proc.returncode == check_exit, proc.stderr + proc.stdout
    return proc


def test_help_lists_every_command():
    out = run("--help", check_exit=0).stdout
    for cmd in ("train", "evaluate", "minimize", "race", "plot", "functions", "optimizers",
                "datasets", "gallery", "demo", "playground"):
        assert cmd in out


def test_train_json_on_a_toy_set():
    out = run("train", "--data", "blobs", "--hidden", "16", "--epochs", "5", "--lr", "0.02", "--json",
              check_exit=0).stdout
    result = json.loads(out)
    for key in ("test_accuracy", "test_loss", "train_loss", "epochs", "seconds"):
        assert key in result
    assert result["epochs"] == 5 and result["test_accuracy"] > 0.8


def test_train_accepts_registry_hyperparameters_and_saves(tmp_path):
    model = tmp_path / "m.npz"
    run("train", "--data", "moons", "--hidden", "8", "--epochs", "2", "--optimizer", "sgd",
        "--lr", "0.1", "--momentum", "0.9", "--nesterov", "--l2", "1e-4", "--save", str(model),
        "--quiet", check_exit=0)
    assert model.exists()
    out = run("evaluate", str(model), "--data", "moons", "--json", check_exit=0).stdout
    assert 0 <= json.loads(out)["accuracy"] <= 1


def test_minimize_prints_a_table_of_each_run():
    out = run("minimize", "parabola", "--optimizer", "gd", "--lr", "0.1,1,100", "--steps", "100",
              check_exit=0).stdout
    assert "converged" in out and "diverged" in out and "oscillat" in out


def test_minimize_formula_json():
    out = run("minimize", "x**2 + (y-1)**2", "--optimizer", "adam", "--lr", "0.1",
              "--steps", "3000", "--json", check_exit=0).stdout
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
        (["train", "--optimizer", "adamm"], "invalid choice: 'adamm'"),
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
    text = run("race", "beale", "--optimizers", "sgd,adam", "--steps", "30", "--fps", "10",
               "--set", "adam.lr=0.05", "--out", str(out), check_exit=0).stdout
    assert out.read_bytes()[:6] in (b"GIF87a", b"GIF89a")
    assert "adam" in text and "sgd" in text


@pytest.mark.parametrize("kind,extra", [("lr-sweep", []), ("gd-vs-sgd", []),
                                        ("landscape", ["rosenbrock", "--optimizers", "adam",
                                                       "--steps", "50"])])
def test_plot_commands_write_pictures(tmp_path, kind, extra):
    out = tmp_path / f"{kind}.png"
    run("plot", kind, *extra, "--out", str(out), check_exit=0)
    assert _is_png(out)


def test_plot_option_of_train_and_minimize(tmp_path):
    curves, paths = tmp_path / "curves.svg", tmp_path / "paths.png"
    run("train", "--data", "moons", "--hidden", "8", "--epochs", "3", "--quiet", "--plot",
        str(curves), check_exit=0)
    assert b"<svg" in curves.read_bytes()[:400]
    run("minimize", "himmelblau", "--optimizer", "sgd,adam", "--lr", "0.01", "--steps", "200",
        "--plot", str(paths), check_exit=0)
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
    proc = subprocess.Popen([sys.executable, "-m", "descentlab.cli", "playground", "--no-browser",
                             "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
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

    out = run("race", "beale", "--optimizers", "adam", "--steps", "300", "--out",
              str(tmp_path / "r.gif"), check_exit=0).stdout
    classic = landscapes.classic_race("beale")["adam"]
    assert f"f = {float(classic.fun):.6g}" in out


def test_playground_on_a_busy_port_is_a_one_line_error():
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = run("playground", "--no-browser", "--port", str(port), check_exit=2)
    expected = (f"descentlab: error: cannot listen on 127.0.0.1:{port}: Address already in use; "
                "choose another --port")
    assert proc.stderr.strip().splitlines() == [expected]
