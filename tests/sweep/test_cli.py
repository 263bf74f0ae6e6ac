"""``descentlab sweep``: tables, JSON, files, refusals, resume, kill -9 and Ctrl-C."""

from __future__ import annotations

import inspect
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from descentlab import cli
from descentlab.sweep import DEFAULT_GRID, SUITES, sweep
from descentlab.sweep.plan import parse_values

#: 4 optimizers x 25 learning rates x 3 seeds of 50 steps: about a second of trials on two
#: workers, after the 20 trials the tests wait for before they interrupt the sweep
MANY = [
    "rosenbrock",
    "--optimizers",
    "sgd,momentum,adam,rmsprop",
    "--lr",
    "1e-4:1:25",
    "--seeds",
    "3",
    "--steps",
    "50",
    "--workers",
    "2",
    "--no-report",
]
MANY_TRIALS = 4 * 25 * 3


def run(*args, cwd=None, env=None, timeout=240):
    return subprocess.run(
        [sys.executable, "-m", "descentlab.cli", "sweep", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        cwd=cwd,
        env=env,
    )


def ok(*args, **kw):
    proc = run(*args, **kw)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    return proc


def strict_json(text):
    def refuse(name):
        raise ValueError(f"not strict JSON: {name}")

    return json.loads(text, parse_constant=refuse)


def lines(path):
    return Path(path).read_bytes().splitlines(keepends=True)


def records(path):
    return {r["key"]: r for r in map(json.loads, lines(path))}


def strip(record):
    return {k: v for k, v in record.items() if k not in ("wall_time_s", "worker")}


def wait_for_lines(path, count, proc, limit=90.0):
    """Poll until ``path`` has ``count`` lines; the process must still be running."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        n = Path(path).read_bytes().count(b"\n") if Path(path).exists() else 0
        if n >= count:
            return n
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        time.sleep(0.01)
    raise AssertionError(f"{path} did not reach {count} lines in {limit} s")


# ------------------------------------------------------------------ the parser
def _sweep_parser():
    parser = cli.build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return sub.choices["sweep"]


def test_every_option_has_help_and_shows_its_default():
    for action in _sweep_parser()._actions:
        if action.dest == "help":
            continue
        assert action.help, action.dest
        if action.option_strings and not action.dest.startswith("hp_"):
            assert "default" in action.help, action.option_strings


def test_help_lists_suites_and_generated_hyperparameter_flags():
    text = " ".join(run("--help").stdout.split())
    for name in SUITES:
        assert name in text
    for flag in ("--momentum", "--beta2", "--nesterov", "--early-stop", "--backend"):
        assert flag in text
    assert f"(default: {cli.SWEEP_OPTIMIZERS})" in text and f"(default: {cli.SWEEP_LR})" in text
    assert "not swept" in text  # the hyperparameter flags' default


def test_the_command_lines_defaults_are_the_apis():
    default = inspect.signature(sweep).parameters["optimizers"].default
    assert cli.SWEEP_OPTIMIZERS == ",".join(default)
    assert parse_values(cli.SWEEP_LR, "lr") == DEFAULT_GRID["lr"]


# ------------------------------------------------------------------ sweeps
def test_landscape_sweep_prints_the_table_and_writes_the_files(tmp_path):
    out = tmp_path / "sweep-rb"
    proc = ok(
        "rosenbrock",
        "--optimizers",
        "sgd,momentum,adam",
        "--lr",
        "1e-3:1e-1:3",
        "--seeds",
        "2",
        "--steps",
        "100",
        "--workers",
        "2",
        "--out",
        out,
    )
    assert len(lines(out / "trials.jsonl")) == 3 * 3 * 2
    for name in ("sgd", "momentum", "adam", "rosenbrock"):
        assert name in proc.stdout
    for name in ("trials.jsonl", "summary.json", "report.html"):
        assert (out / name).stat().st_size > 0
        assert str(out / name) in proc.stdout
    assert "18/18 trials" in proc.stderr  # the plain progress line (stderr is no terminal)


def test_json_is_one_strict_object_with_the_best_settings(tmp_path):
    out = tmp_path / "sweep-digits"
    proc = ok(
        "digits",
        "--optimizers",
        "sgd,adam,adagrad_norm",
        "--lr",
        "1e-2:1e-1:2",
        "--seeds",
        "2",
        "--epochs",
        "1",
        "--hidden",
        "16",
        "--backend",
        "serial",
        "--out",
        out,
        "--json",
    )
    result = strict_json(proc.stdout)
    assert proc.stderr == ""  # no progress with --json
    assert result["folder"] == str(out) and result["status"] == "ok"
    assert result["trials"]["total"] == result["trials"]["done"] == 12
    (problem,) = result["problems"]
    assert problem["name"] == "digits" and sorted(problem["ranking"]) == [
        "adagrad_norm",
        "adam",
        "sgd",
    ]
    best = problem["optimizers"]["adam"]["best"]
    assert best["hyperparameters"]["lr"] in (0.01, 0.1)
    assert 0 < best["test_accuracy"]["mean"] <= 1 and best["final_loss"]["n"] == 2
    assert Path(result["files"]["report"]).is_file()


def test_hyperparameter_flags_sweep_their_values(tmp_path):
    out = tmp_path / "hp"
    ok(
        "rosenbrock",
        "--optimizers",
        "momentum,adam",
        "--lr",
        "1e-3",
        "--momentum",
        "0.5,0.9",
        "--beta2",
        "0.99,0.999",
        "--seeds",
        "1",
        "--steps",
        "30",
        "--backend",
        "serial",
        "--out",
        out,
        "--quiet",
    )
    rs = list(records(out / "trials.jsonl").values())
    momentum = {r["hyperparameters"]["momentum"] for r in rs if r["optimizer"] == "momentum"}
    beta2 = {r["hyperparameters"]["beta2"] for r in rs if r["optimizer"] == "adam"}
    assert len(rs) == 4 and momentum == {0.5, 0.9} and beta2 == {0.99, 0.999}


def test_random_search_one_start_and_the_default_folder(tmp_path):
    proc = ok(
        "booth",
        "--optimizers",
        "sgd,adam",
        "--search",
        "random:3",
        "--start",
        "1.5,-2",
        "--seeds",
        "1",
        "--steps",
        "20",
        "--backend",
        "serial",
        "--no-report",
        cwd=tmp_path,
    )
    (folder,) = (tmp_path / cli.SWEEPS_FOLDER).iterdir()
    rs = list(records(folder / "trials.jsonl").values())
    assert len(rs) == 6 and all(r["starts"] == 1 for r in rs)
    assert all(1e-4 <= r["lr"] <= 1 for r in rs) and len({r["lr"] for r in rs}) == 6
    assert str(Path(cli.SWEEPS_FOLDER) / folder.name) in proc.stdout


def test_a_suite_runs_every_problem(tmp_path):
    proc = ok("--suite", "lecture-quick", "--steps", "20", "--epochs", "1", "--out", tmp_path / "s")
    for name in ("ill-conditioned", "rosenbrock", "saddle escape", "beale", "digits MLP"):
        assert name in proc.stdout
    summary = json.loads((tmp_path / "s" / "summary.json").read_text())
    assert summary["trials"]["done"] == summary["trials"]["total"] > 100


# ------------------------------------------------------------------ refusals
BAD = {
    "unknown optimizer": (["rosenbrock", "--optimizers", "sgd,adamm"], "unknown optimizer"),
    "decreasing range": (["rosenbrock", "--lr", "1:0.1:3"], "LOW:HIGH"),
    "not a number": (["rosenbrock", "--lr", "abc"], "'abc'"),
    "nobody has it": (["rosenbrock", "--optimizers", "adam", "--momentum", "0.5"], "momentum"),
    "epochs on a landscape": (["rosenbrock", "--epochs", "3"], "epochs"),
    "unknown landscape": (["rosenbrok"], "unknown landscape"),
    "start of the wrong size": (["rosenbrock", "--start", "1,2,3"], "2 coordinates"),
    "start on a data set": (["digits", "--start", "1,2"], "--start"),
    "suite with a grid": (["--suite", "lecture", "--lr", "0.1"], "--suite"),
    "unknown suite": (["--suite", "nope"], "unknown suite"),
    "nothing to compare": ([], "give a problem"),
    "address without ray": (["rosenbrock", "--address", "auto"], "--backend ray"),
    "bad search": (["rosenbrock", "--search", "random"], "random:N"),
    "nothing to resume": (["--resume"], "no sweep to resume"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_and_exit_2(tmp_path, case):
    args, message = BAD[case]
    out = tmp_path / "out"
    proc = run(*args, "--out", out)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.splitlines()) == 1 and message in proc.stderr, proc.stderr
    assert proc.stderr.startswith("descentlab: error:") and proc.stdout == ""
    assert not out.exists()  # refused before any work


@pytest.mark.parametrize("where", ["/proc/sweep", "a-file"])
def test_an_output_that_cannot_be_written_is_refused(tmp_path, where):
    (tmp_path / "a-file").write_text("x")
    proc = run("rosenbrock", "--out", where, cwd=tmp_path)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "cannot write" in proc.stderr


def test_ray_backend_without_ray_says_how_to_install_it(tmp_path):
    fake = tmp_path / "no-ray" / "ray"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'ray'\", name='ray')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(fake.parent)}
    proc = run("rosenbrock", "--backend", "ray", "--out", tmp_path / "out", env=env)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert 'pip install "descentlab[cluster]"' in proc.stderr
    assert not (tmp_path / "out").exists()


def test_an_existing_sweep_is_refused_and_kept(tmp_path):
    args = ["booth", "--optimizers", "adam", "--lr", "0.1", "--seeds", "1", "--steps", "10"]
    args += ["--backend", "serial", "--no-report", "--out", tmp_path / "s"]
    ok(*args)
    before = (tmp_path / "s" / "trials.jsonl").read_bytes()
    proc = run(*args)
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "already holds a sweep" in proc.stderr and "--resume" in proc.stderr
    assert (tmp_path / "s" / "trials.jsonl").read_bytes() == before


# ------------------------------------------------------------------ resume
@pytest.mark.parametrize("how", ["same arguments", "only the folder"])
def test_resume_finishes_a_cut_sweep(tmp_path, how):
    args = ["rosenbrock", "--optimizers", "sgd,adam", "--lr", "1e-3:1e-1:3", "--seeds", "2"]
    args += ["--steps", "50", "--backend", "serial", "--no-report", "--quiet"]
    ok(*args, "--out", tmp_path / "full")
    full = records(tmp_path / "full" / "trials.jsonl")
    cut = tmp_path / "cut"
    ok(*args, "--out", cut)
    kept = lines(cut / "trials.jsonl")
    (cut / "trials.jsonl").write_bytes(b"".join(kept[:5]) + kept[5][:30])  # 5 whole, 1 torn
    again = args if how == "same arguments" else ["--quiet", "--no-report"]
    ok(*again, "--out", cut, "--resume")
    assert len(lines(cut / "trials.jsonl")) == len(full) == 12
    resumed = records(cut / "trials.jsonl")
    assert {k: strip(r) for k, r in resumed.items()} == {k: strip(r) for k, r in full.items()}


def test_resume_with_only_the_folder_keeps_early_stopping(tmp_path):
    args = ["rosenbrock", "--optimizers", "sgd,adam", "--lr", "1e-4:1:9", "--seeds", "1"]
    args += ["--steps", "90", "--early-stop", "asha", "--backend", "serial", "--no-report"]
    ok(*args, "--quiet", "--out", tmp_path / "s")
    kept = lines(tmp_path / "s" / "trials.jsonl")
    (tmp_path / "s" / "trials.jsonl").write_bytes(b"".join(kept[:4]))
    ok("--out", tmp_path / "s", "--resume", "--no-report", "--quiet")
    rs = records(tmp_path / "s" / "trials.jsonl")
    assert len(rs) == 18 and any(r["status"] == "pruned" for r in rs.values())


def test_kill_9_then_resume_gives_the_uninterrupted_records(tmp_path):
    out = tmp_path / "killed"
    with open(tmp_path / "log", "w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "descentlab.cli", "sweep", *MANY, "--out", str(out)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        try:
            wait_for_lines(out / "trials.jsonl", 20, proc)
        finally:
            os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its workers
            proc.wait(timeout=30)
    written = lines(out / "trials.jsonl")
    whole = written if written[-1].endswith(b"\n") else written[:-1]  # a torn last line at most
    assert 20 <= len(whole) < MANY_TRIALS
    assert all(isinstance(json.loads(line)["key"], str) for line in whole)

    ok("--out", out, "--resume", "--quiet", "--no-report", "--workers", "2")
    keys = [json.loads(line)["key"] for line in lines(out / "trials.jsonl")]
    assert len(keys) == len(set(keys)) == MANY_TRIALS

    ok(*MANY, "--quiet", "--out", tmp_path / "whole")
    reference = records(tmp_path / "whole" / "trials.jsonl")
    resumed = records(out / "trials.jsonl")
    assert {k: strip(r) for k, r in resumed.items()} == {k: strip(r) for k, r in reference.items()}


def test_ctrl_c_saves_the_trials_and_prints_the_command_that_resumes(tmp_path):
    out = tmp_path / "stopped"
    proc = subprocess.Popen(
        [sys.executable, "-m", "descentlab.cli", "sweep", *MANY, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        wait_for_lines(out / "trials.jsonl", 20, proc)
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == 130, err
    saved = sum(line.endswith(b"\n") for line in lines(out / "trials.jsonl"))
    assert 20 <= saved < MANY_TRIALS
    assert f"interrupted; {saved} of {MANY_TRIALS} trials are saved in {out}" in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("resume with: descentlab sweep ") and last.endswith("--resume")

    command = shlex.split(last.removeprefix("resume with: "))[2:]  # after "descentlab sweep"
    ok(*command, "--quiet")
    keys = [json.loads(line)["key"] for line in lines(out / "trials.jsonl")]
    assert len(keys) == len(set(keys)) == MANY_TRIALS
