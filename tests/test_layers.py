"""The import contract: every import in the package points down the layers of DESIGN.md.

The AST of every module is walked, imports inside functions included, so a lazy
import cannot hide an upward dependency. Layers, bottom to top::

    spec, _atomic, _fastpath, _blaspool  <  autograd  <  optim  <  nn  <  landscapes, data  <  train  <  sweep
    <  viz  <  demo, web  <  cli

(``sweep`` runs ``fit``, so it sits just above ``train``.)

``autograd`` imports nothing but NumPy and the standard library (and, optionally and
lazily, threadpoolctl to find NumPy's OpenBLAS for its thread policy, ``autograd/blas.py``,
and Numba in its optional compiled kernels, ``autograd/_kernels.py``); ``optim`` adds
only ``descentlab.spec`` (and Numba in its optional compiled kernels). ``_fastpath``, the
compiled loops' one switch, is standard library only; ``_blaspool``, which lends
OpenBLAS's threads to the optimizers' compiled loops, standard library and NumPy.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

import descentlab

PACKAGE = Path(descentlab.__file__).parent

RANK = {
    "spec": 0,
    "_atomic": 0,
    "_fastpath": 0,
    "_blaspool": 0,
    "autograd": 1,
    "optim": 2,
    "nn": 3,
    "landscapes": 4,
    "data": 4,
    "train": 5,
    "sweep": 5.5,
    "viz": 6,
    "demo": 7,
    "web": 7,
    "cli": 8,
}

#: Third-party packages each layer may import (besides NumPy and the standard library).
THIRD_PARTY = {
    "autograd": {"threadpoolctl", "numba"},
    "optim": {"numba"},
    "spec": set(),
    "_atomic": set(),
    "_fastpath": set(),
    "_blaspool": set(),
}


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append((".".join(parts), path))
    return out


def _imports(module: str, path: Path) -> list[tuple[str, int]]:
    """Absolute names of every module ``module`` imports, with line numbers."""
    is_package = path.name == "__init__.py"
    package = module.split(".") if is_package else module.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            if prefix == "descentlab":  # from descentlab import optim, data
                found.extend((f"descentlab.{alias.name}", node.lineno) for alias in node.names)
            else:
                found.append((prefix, node.lineno))
    return found


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "descentlab" else None


MODULES = _modules()


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_imports_point_down_the_layers(module: str, path: Path) -> None:
    layer = _layer(module)
    if layer is None:  # the package's own __init__ re-exports lazily
        return
    assert layer in RANK, f"{module}: layer {layer!r} is not in the contract; add it to RANK"
    for name, line in _imports(module, path):
        top = name.split(".")[0]
        if top == "descentlab":
            target = _layer(name)
            if target is None or target == layer:
                continue
            assert target in RANK, f"{module}:{line} imports unknown layer {name}"
            assert RANK[target] < RANK[layer], (
                f"{module}:{line} imports {name}: {layer} (rank {RANK[layer]}) may not import "
                f"{target} (rank {RANK[target]})"
            )
        elif layer in THIRD_PARTY and top not in sys.stdlib_module_names and top != "numpy":
            assert top in THIRD_PARTY[layer], f"{module}:{line} imports {name}"


def test_contract_sees_nested_imports() -> None:
    """The walker finds imports inside functions (a regression guard for the test itself)."""
    found = {name for name, _ in _imports("descentlab.cli", PACKAGE / "cli.py")}
    assert "descentlab.train" in found or any(n.startswith("descentlab.train") for n in found)


def test_import_optim_loads_no_autograd() -> None:
    import subprocess

    code = "import sys, descentlab.optim; print('\\n'.join(sys.modules))"
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    assert "descentlab.optim" in loaded
    assert not [m for m in loaded if m.startswith("descentlab.autograd")]
