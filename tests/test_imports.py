"""The core stays light: NumPy only, nothing heavy at import time."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("matplotlib", "torch", "sklearn", "rich", "fastapi", "scipy", "pydantic")


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return {m.split(".")[0] for m in out.stdout.split()}


def test_import_descentlab_loads_only_numpy():
    loaded = _modules_after("import descentlab")
    assert not loaded & set(HEAVY), loaded & set(HEAVY)


def test_core_packages_import_only_numpy():
    for pkg in (
        "descentlab.autograd",
        "descentlab.optim",
        "descentlab.nn",
        "descentlab.data",
        "descentlab.landscapes",
        "descentlab.train",
        "descentlab.cli",
    ):
        loaded = _modules_after(f"import {pkg}")
        assert not loaded & set(HEAVY), (pkg, loaded & set(HEAVY))


def test_autograd_and_optim_import_nothing_of_descentlab_above_them():
    loaded = _modules_after("import descentlab.optim")
    full = subprocess.run(
        [sys.executable, "-c", "import sys, descentlab.optim; print('\\n'.join(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert not [
        m
        for m in full
        if m.startswith(
            ("descentlab.nn", "descentlab.train", "descentlab.landscapes", "descentlab.data")
        )
    ]
    assert "numpy" in loaded
