"""The optimizer registry: names, lookup, hyperparameter descriptions, build."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from descentlab import optim
from descentlab.optim import REGISTRY, SGD, ArrayParam, HyperParam, OptimizerSpec, get

from .conftest import VARIANT_VALUES, variant_value


def test_names_in_order() -> None:
    assert list(REGISTRY)[:10] == [
        "sgd",
        "momentum",
        "nesterov",
        "adagrad",
        "adagrad_norm",
        "adadelta",
        "rmsprop",
        "adam",
        "adamw",
        "nadam",
    ]
    assert all(isinstance(s, OptimizerSpec) and s.name == n for n, s in REGISTRY.items())


def test_presets() -> None:
    assert REGISTRY["momentum"].cls is SGD and REGISTRY["momentum"].defaults["momentum"] == 0.9
    assert REGISTRY["nesterov"].defaults == {"momentum": 0.9, "nesterov": True}
    assert REGISTRY["momentum"].hyperparameters["momentum"].default == 0.9
    opt = REGISTRY["nesterov"].build([ArrayParam([1.0])], lr=0.1)
    assert opt.param_groups[0]["nesterov"] is True and opt.param_groups[0]["lr"] == 0.1


@pytest.mark.parametrize("name", list(REGISTRY))
def test_hyperparameters_describe_every_constructor_argument(name: str) -> None:
    spec = REGISTRY[name]
    sig = inspect.signature(spec.cls.__init__).parameters
    expected = [p for p in sig if p not in ("self", "params")]
    for pack, members in spec.packs.items():
        i = expected.index(pack)
        expected[i : i + 1] = members
    assert sorted(spec.hyperparameters) == sorted(expected)
    for hp in spec.hyperparameters.values():
        assert isinstance(hp, HyperParam)
        assert hp.type in ("float", "int", "bool", "choice", "object")
        assert hp.help
        # the tests know a value to try for it
        assert hp.name in VARIANT_VALUES or variant_value(hp) is not None, hp.name
        assert hp.check(hp.default) == hp.default  # the default obeys the hard bounds
        if hp.type == "float" and isinstance(hp.default, float) and np.isfinite(hp.default):
            assert hp.slider_low is not None and hp.slider_high is not None, hp.name
            assert hp.slider_low <= hp.default <= hp.slider_high, hp.name
            assert not hp.log_scale or hp.slider_low > 0
        if hp.type == "bool":
            assert isinstance(hp.default, bool)
        if hp.pack is None:
            default = sig[hp.name].default
        else:
            default = sig[hp.pack].default[spec.packs[hp.pack].index(hp.name)]
        assert hp.default == spec.defaults.get(hp.name, default)
    assert spec.summary and "\n" not in spec.summary


def test_build_maps_betas_and_rejects_unknown() -> None:
    p = ArrayParam([1.0])
    opt = REGISTRY["adam"].build([p], beta2=0.9)
    assert opt.param_groups[0]["betas"] == (0.9, 0.9)
    opt = REGISTRY["nadam"].build([p], betas=(0.5, 0.6))
    assert opt.param_groups[0]["betas"] == (0.5, 0.6)
    with pytest.raises(ValueError, match="betas"):
        REGISTRY["sgd"].build([p], betas=(0.5, 0.6))
    with pytest.raises(ValueError, match="unknown hyperparameter.*'momentm'"):
        REGISTRY["sgd"].build([p], momentm=0.9)


def test_build_accepts_lr_array() -> None:
    p = ArrayParam(np.zeros((3, 2)))
    opt = get("adam").build([p], lr=np.array([[0.1], [0.2], [0.3]]))
    p.grad = np.ones((3, 2))
    opt.step()
    np.testing.assert_allclose(p.data[:, 0], [-0.1, -0.2, -0.3])


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("gd", "sgd"),
        ("GD", "sgd"),
        ("SGD", "sgd"),
        ("Adagrad-Norm", "adagrad_norm"),
        ("adagradnorm", "adagrad_norm"),
        ("ADAM_W", "adamw"),
        ("adam-w", "adamw"),
        ("RMSProp", "rmsprop"),
        ("Nesterov", "nesterov"),
    ],
)
def test_get_aliases(alias: str, name: str) -> None:
    assert get(alias) is REGISTRY[name]


def test_get_unknown_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown optimizer 'adamaxx'.*sgd.*nadam"):
        get("adamaxx")


def test_package_exports() -> None:
    assert optim.GD is SGD
    for name in ("sgd", "adagrad", "adagrad_norm", "adadelta", "rmsprop", "adam", "adamw", "nadam"):
        assert callable(getattr(optim, name))


def test_optim_imports_only_numpy() -> None:
    import ast
    import sys
    from pathlib import Path

    for path in Path(optim.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                mods = [node.module or ""]
            else:
                continue
            for mod in mods:
                top = mod.split(".")[0]
                if path.name == "_kernels.py" and top == "numba":
                    continue  # the optional compiled fast path, loaded only on demand
                assert (
                    top in {"numpy", "__future__"}
                    # (the compiled loops' switch and OpenBLAS's threads they may borrow,
                    # shared with the autograd below: stdlib and NumPy only)
                    or mod.startswith(
                        (
                            "descentlab.optim",
                            "descentlab.spec",
                            "descentlab._fastpath",
                            "descentlab._blaspool",
                        )
                    )
                    or (top in sys.stdlib_module_names)
                ), f"{path.name} imports {mod}"


def test_docstring_examples_run() -> None:
    import doctest
    import importlib

    globs = {"np": np, **{k: getattr(optim, k) for k in optim.__all__}}
    attempted = 0
    for mod in (
        "",
        ".base",
        ".sgd",
        ".adagrad",
        ".adadelta",
        ".rmsprop",
        ".adam",
        ".registry",
        ".lr_scheduler",
    ):
        module = importlib.import_module("descentlab.optim" + mod)
        result = doctest.testmod(module, extraglobs=globs, report=False)
        assert result.failed == 0, mod
        attempted += result.attempted
    assert attempted > 20
