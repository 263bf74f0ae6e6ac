"""Each example script of the lecture's experiments runs and prints what it shows."""

import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@cache
def run(name: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-W", "error::RuntimeWarning", str(EXAMPLES / name)],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    return proc.stdout


def test_gd_1d_learning_rates():
    out = run("gd_1d_learning_rates.py")
    assert re.search(r"eta = 0\.1 +status = converged", out)
    assert re.search(r"eta = 0\.01 +status = max_steps", out)
    assert re.search(r"eta = 1 +status = max_steps .*oscillate", out)
    for eta in ("100", "1000"):
        m = re.search(rf"eta = {eta} +status = diverged +steps = (\d+)", out)
        assert m and int(m.group(1)) <= 10


def test_gd_2d():
    out = run("gd_2d.py")
    assert re.search(r"eta = 0\.1 +status = converged", out)
    assert len(re.findall(r"status = diverged", out)) == 3  # 100, 1000 and the ravine's 0.6
    assert re.search(r"eta = 0\.4 +status = converged", out)
    assert "momentum eta = 0.1, beta = 0.5: status = converged" in out


def test_saddle_escape():
    out = run("saddle_escape.py")
    assert "GD:           status = converged" in out
    assert out.count("escaped = True") == 2


def test_himmelblau_basins():
    out = run("himmelblau_basins.py")
    assert "441 starts, 441 converged" in out
    counts = [int(c) for c in re.findall(r"\): (\d+) starts", out)]
    assert len(counts) == 4 and all(c > 0 for c in counts) and sum(counts) == 441
    assert "all four minima reached: True" in out


def test_adagrad_norm():
    out = run("adagrad_norm.py")
    assert "AdaGrad-Norm: status = converged" in out
    assert re.search(r"GD \(lr = [\d.]+\): status = diverged", out)
    first = float(re.search(r"eta / b_1 = ([\d.]+)", out).group(1))
    assert first > 0.5


@pytest.mark.parametrize("label,per_epoch", [("GD", 1), ("SGD b=1", 8), ("SGD b=4", 2)])
def test_gd_vs_sgd_regression(label, per_epoch):
    out = run("gd_vs_sgd_regression.py")
    m = re.search(
        rf"{re.escape(label)} +50 epochs = (\d+) steps \((\d+) per epoch\).*"
        r"distance to solution = ([\d.]+)",
        out,
    )
    assert m and int(m.group(1)) == 50 * per_epoch and int(m.group(2)) == per_epoch
    assert float(m.group(3)) < 0.1
