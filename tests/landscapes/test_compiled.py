"""The compiled path of ``minimize`` (``landscapes/_compiled.py``) against the NumPy path."""

from __future__ import annotations

import ast

import numpy as np
import pytest

from descentlab import landscapes
from descentlab.landscapes import FormulaError, minimize, parse_formula
from descentlab.optim import fused

numba = pytest.importorskip("numba")

from descentlab.landscapes import _codegen, _compiled

FIELDS = ("x", "fun", "jac", "grad_norm", "nit", "status", "success")


def both(*args, **kw):
    before = fused.get_fast_path()
    try:
        fused.set_fast_path("never")
        ref = minimize(*args, record=False, **kw)
        fused.set_fast_path("always")
        out = minimize(*args, record=False, **kw)
    finally:
        fused.set_fast_path(before)
    return ref, out


def assert_same(ref, out):
    for key in FIELDS:
        np.testing.assert_array_equal(np.asarray(out[key]), np.asarray(ref[key]), err_msg=key)
    assert list(out["message"]) == list(ref["message"])
    np.testing.assert_array_equal(np.asarray(out["lr"]), np.asarray(ref["lr"]))


def starts(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform([-2.0, -1.0], [2.0, 3.0], size=(n, 2))


@pytest.mark.parametrize(
    "optimizer, hp",
    [
        ("sgd", {"lr": 1e-3}),
        ("sgd", {"lr": 1e-3, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
        ("sgd", {"lr": 1e-3, "momentum": 0.5, "dampening": 0.3, "maximize": False}),
        ("adam", {"lr": 1e-2}),
        ("adam", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
        (
            "adam",
            {"lr": 5e-2, "betas": (0.3, 0.9), "decoupled_weight_decay": True, "weight_decay": 0.5},
        ),
        ("adamw", {"lr": 1e-2}),
        # RMSprop and AdaGrad: the same row functions run in test_compiled_steps.py's loop
        ("rmsprop", {"lr": 1e-3, "momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    ],
)
def test_rosenbrock_matches_numpy(optimizer, hp):
    x0 = starts()
    x0[0] = [1.0, 1.0]  # converged at once
    x0[1] = [1e4, 1e4]  # diverges
    ref, out = both("rosenbrock", x0, optimizer=optimizer, steps=150, tol=1e-3, **hp)
    assert_same(ref, out)


def test_statuses_and_per_run_lr():
    x0 = starts(40)
    lr = np.linspace(1e-4, 2e-2, 40)
    ref, out = both("rosenbrock", x0, optimizer="adam", lr=lr, steps=300, tol=1e-2)
    assert_same(ref, out)
    ref, out = both("quadratic", x0, optimizer="sgd", lr=np.linspace(0.01, 1.2, 40), steps=100)
    assert_same(ref, out)
    assert {"converged", "diverged", "max_steps"} <= set(ref.status.tolist())


def templates_used(monkeypatch):
    """The list the templates of the compiled loops ``minimize`` asks for are added to."""
    used = []
    runner = _compiled._block_runner

    def spy(target, code, template="run", dim=0):
        used.append(template)
        return runner(target, code, template, dim)

    monkeypatch.setattr(_compiled, "_block_runner", spy)
    return used


def test_one_learning_rate_and_one_per_run_each_compile_one_loop_once(monkeypatch):
    """One learning rate for every run compiles the loop that holds it as a number; a
    learning rate per run, as a writeable or read-only array or a list, the other loop,
    once. An array of equal learning rates is one learning rate."""
    x0 = starts(40)
    before = fused.get_fast_path()
    fused.set_fast_path("always")
    seen = templates_used(monkeypatch)
    try:
        minimize("rosenbrock", x0, optimizer="adam", lr=1e-2, steps=5, record=False)
        minimize("rosenbrock", x0, optimizer="adam", lr=np.full(40, 1e-2), steps=5, record=False)
        per_run = np.linspace(1e-4, 2e-2, 40)
        ref = minimize("rosenbrock", x0, optimizer="adam", lr=per_run, steps=5, record=False)
        per_run.flags.writeable = False  # as a user's array may be
        minimize("rosenbrock", x0, optimizer="adam", lr=per_run, steps=5, record=False)
        out = minimize("rosenbrock", x0, optimizer="adam", lr=list(per_run), steps=5, record=False)
    finally:
        fused.set_fast_path(before)
    assert seen == ["lanes_one_lr"] * 2 + ["lanes"] * 3
    np.testing.assert_array_equal(out.x, ref.x)
    for template in ("lanes_one_lr", "lanes"):
        (run_block,) = [
            v for k, v in _compiled._blocks.items() if k == (template, 2, "builtin", 15, 1)
        ]
        assert len(run_block.signatures) == 1, (template, run_block.signatures)


def test_one_learning_rate_gives_the_numbers_of_one_per_run():
    """The two lanes loops step a row alike: the same learning rate given once, or given
    to every run (with one run's different, so that the per-run loop is used)."""
    x0 = starts(300)
    lr = np.full(300, 3e-3)
    lr[-1] = 1e-3
    _, one = both("rosenbrock", x0, optimizer="adam", lr=3e-3, steps=80)
    _, per_run = both("rosenbrock", x0, optimizer="adam", lr=lr, steps=80)
    for key in ("x", "fun", "jac", "grad_norm", "nit", "status"):
        np.testing.assert_array_equal(np.asarray(per_run[key])[:-1], np.asarray(one[key])[:-1])


@pytest.mark.parametrize(("dim", "template"), [(2, "lanes"), (5, "lanes"), (10, "run")])
def test_blocks_of_rows_that_stop_at_different_steps(dim, template, monkeypatch):
    """Rows of up to 8 coordinates run in the vectorized loop (``_run_lanes_py``), longer
    ones in the row loop: both give NumPy's numbers for every row, over several blocks
    (the last one partial) in which rows converge, diverge and run out of steps at
    different steps, while the rest of their block goes on."""
    used = templates_used(monkeypatch)
    rows = 2 * kernels().LANE_ROWS + 37
    rng = np.random.default_rng(dim)
    x0 = rng.uniform(-1.5, 1.5, size=(rows, dim))
    x0[::97] = 1.0  # at the minimum: converged at step 0
    x0[5::211] = 1e100  # f overflows: diverged
    lr = rng.uniform(1e-4, 3e-2, size=rows)  # each row its own pace
    f = landscapes.get("rosenbrock", dim=dim)
    ref, out = both(f, x0, optimizer="adam", lr=lr, steps=120, tol=5e-2)
    assert_same(ref, out)
    assert {"converged", "diverged", "max_steps"} <= set(ref.status.tolist())
    # plain gradient descent on a bowl: each row's lr sets the step at which it converges
    # (lr < 1) or diverges (lr > 1)
    lr = rng.uniform(0.01, 1.3, size=rows)
    ref, out = both(landscapes.get("quadratic", dim=dim), x0, optimizer="sgd", lr=lr, steps=90)
    assert_same(ref, out)
    assert used == [template, template]
    assert {"converged", "diverged", "max_steps"} <= set(ref.status.tolist())
    for status in ("converged", "diverged"):  # rows stopped at many different steps
        assert len(set(ref.nit[ref.status == status].tolist())) > 10


# (each landscape and optimizer pair is a compilation of a few seconds: a few pairs here,
# every landscape's value and gradient in test_builtin_value_and_grad)
@pytest.mark.parametrize(("name", "optimizer"), [("booth", "sgd"), ("goldstein_price", "adam")])
def test_polynomial_landscapes_match_exactly(name, optimizer):
    f = landscapes.get(name)
    rng = np.random.default_rng(1)
    x0 = rng.uniform(f.bounds[:, 0], f.bounds[:, 1], size=(16, 2))
    lr = f.lr if optimizer == "sgd" else 1e-2
    ref, out = both(f, x0, optimizer=optimizer, lr=lr, steps=50)
    assert_same(ref, out)


def kernels():
    return _compiled._load()


@pytest.mark.parametrize("name", landscapes.names())
def test_builtin_value_and_grad(name):
    f = landscapes.get(name)
    target = _compiled.kernel_of(f)
    if name in ("eight_points", "linear_regression", "logistic_regression"):
        assert target is None
        return
    assert isinstance(target, tuple)
    kind, lp = target
    rng = np.random.default_rng(2)
    X = rng.uniform(-3, 3, size=(50, f.dim))
    X[0] = 0.0
    X[1] = 1e200
    X[2] = np.nan
    F, G = np.zeros(len(X)), np.zeros_like(X)
    vg = kernels().VG[kind]
    for i in range(len(X)):
        F[i] = vg(kind, lp, X, G, i)
    with np.errstate(all="ignore"):
        fv, g = f.value_and_grad(X)
    np.testing.assert_allclose(F, fv, rtol=1e-12, atol=0, equal_nan=True)
    np.testing.assert_allclose(G, g, rtol=1e-12, atol=1e-300, equal_nan=True)


FORMULAS = [
    "x**2 + 3*sin(y)",
    "(1 - x)^2 + 100*(y - x^2)^2",
    "sqrt(x**2 + y**2) + abs(x) - max(x, y) * min(x, 2)",
    "exp(-x*y) / (1 + x**2) + log(1 + y**2) + tanh(x) * sigmoid(y)",
    "softplus(x) + relu(y) + arctan(x*y) + cosh(x/3) - sinh(y/4) + log1p(x**2)",
    "x**0.5 + y**3 + x**y + 2**x + x**-1 + pi*e",
]


@pytest.mark.parametrize("text", FORMULAS)
def test_formula_value_and_grad(text):
    formula = parse_formula(text)
    vg = _compiled.compiled_formula(formula)
    rng = np.random.default_rng(3)
    X = rng.uniform(-3, 3, size=(60, formula.dim))
    X[0] = 0.0
    X[1] = 1e300
    F, G = np.zeros(len(X)), np.zeros_like(X)
    for i in range(len(X)):
        F[i] = vg(0, np.zeros(1), X, G, i)
    fv, g = formula.value_and_grad(X)
    np.testing.assert_allclose(F, fv, rtol=1e-12, atol=0, equal_nan=True)
    np.testing.assert_allclose(G, g, rtol=1e-12, atol=1e-300, equal_nan=True)


def test_formula_minimize_and_cache():
    text = "(1 - x)^2 + 100*(y - x^2)^2"
    ref, out = both(text, starts(), optimizer="adam", lr=1e-2, steps=100, tol=1e-6)
    assert_same(ref, out)
    first = _compiled.compiled_formula(parse_formula(text))
    assert _compiled.compiled_formula(parse_formula(" (1-x)**2 + 100*(y-x**2)**2")) is first


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "x.__class__",
        "(lambda: 1)()",
        "x[0]",
        "'a' + x",
        "open('f')",
        "x if y else 1",
    ],
)
def test_injection_is_refused_before_codegen(text, monkeypatch):
    seen = []
    monkeypatch.setattr(_codegen, "formula_source", lambda f: seen.append(f) or "")
    with pytest.raises(ValueError):  # FormulaError, or not a formula at all
        minimize(text, [[1.0, 1.0]], optimizer="adam", record=False)
    with pytest.raises(FormulaError):
        parse_formula(text)
    assert not seen


def test_generated_source_has_only_whitelisted_names():
    source = _codegen.formula_source(parse_formula("sin(x) ** 2 + 1e-3 * y / (1 + exp(x))"))
    tree = ast.parse(source)
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    allowed = {"x", "g", "i", "math", "_pow", "_log", "_sqrt", "_log1p"}
    assert {n for n in names if not n.startswith("v")} <= allowed | {
        "f_sign",
        "f_sigmoid",
        "f_softplus",
        "f_relu",
        "f_step",
    }
    assert not any(
        isinstance(n, ast.Attribute) and n.value.id != "math"
        for n in ast.walk(tree)
        if isinstance(n, ast.Attribute)
    )


def test_not_applicable_falls_back():
    assert _compiled.kernel_of(landscapes.from_function(lambda x: (x**2).sum(-1), dim=2)) is None
    assert _compiled.kernel_of(landscapes.get("rosenbrock").with_penalty(l2=0.1)) is None
    ref, out = both("rosenbrock", starts(8), optimizer="lion", lr=1e-3, steps=20)
    assert_same(ref, out)


RUN = """
import json, sys
import numpy as np
from descentlab import minimize
from descentlab.optim import fused
from descentlab.landscapes import _compiled
fused.set_fast_path("always")
x0 = np.random.default_rng(0).uniform([-2.0, -1.0], [2.0, 3.0], size=(300, 2))
r = minimize("booth", x0, optimizer="sgd", lr=0.05, steps=40, record=False)
hits = sum(sum(b.stats.cache_hits.values()) for b in _compiled._blocks.values())
print(json.dumps({"x": r.x.tolist(), "hits": hits}))
"""


def _run_in_child(cache: str) -> dict:
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, DESCENTLAB_CACHE=cache)
    out = subprocess.run(
        [sys.executable, "-c", RUN], env=env, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_compiled_loops_are_cached_on_disk_between_processes(tmp_path):
    first = _run_in_child(str(tmp_path))
    (generated,) = (tmp_path / "kernels").glob("block_*.py")
    assert "_vg = _k._vg_booth" in generated.read_text()
    second = _run_in_child(str(tmp_path))
    assert first["hits"] == 0 and second["hits"] == 1
    assert second["x"] == first["x"]

    generated.write_text("raise SystemExit('tampered')\n")  # a changed file is rewritten
    third = _run_in_child(str(tmp_path))
    assert third["x"] == first["x"]
    assert "_vg = _k._vg_booth" in generated.read_text()


def test_no_disk_cache_when_off_or_unwritable(tmp_path, monkeypatch):
    monkeypatch.setenv("DESCENTLAB_CACHE", "off")
    assert _compiled._cache_folder() is None
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("DESCENTLAB_CACHE", str(blocked))
    assert _compiled._from_disk((9, np.zeros(1)), 0) is None  # falls back to compiling here


@pytest.mark.parametrize(("threads", "spans"), [(1, [(0, 2085)]), (2, [(0, 1536), (1536, 2085)])])
def test_each_call_of_the_vectorized_loop_runs_several_blocks(threads, spans, monkeypatch):
    """The rows are handed to the vectorized loop in a few runs of whole blocks (all of
    them on one thread; on two, CHUNKS_PER_THREAD runs a thread, here one), not a call
    per block, and the loop walks each run block by block, the last block partial: every
    row's numbers are NumPy's."""
    assert kernels().LANE_ROWS == 512  # the spans below are counted in its blocks
    calls = []
    runner = _compiled._block_runner

    def spy(target, code, template="run", dim=0):
        run_block = runner(target, code, template, dim)

        def recorded(*args):
            calls.append((args[-2], args[-1]))
            return run_block(*args)

        return recorded

    monkeypatch.setattr(_compiled, "_block_runner", spy)
    monkeypatch.setattr(_compiled, "_threads", lambda: threads)
    monkeypatch.setattr(_compiled, "CHUNKS_PER_THREAD", 1)
    x0 = starts(4 * 512 + 37, seed=threads)
    x0[::101] = 1.0  # converged at step 0
    x0[7::301] = 1e80  # diverges
    lr = np.full(len(x0), 2e-2)
    lr[1::5] = 1e-3  # (a learning rate per run: the "lanes" loop)
    for kw in ({"lr": 2e-2}, {"lr": lr}):
        calls.clear()
        ref, out = both("rosenbrock", x0, optimizer="adam", steps=90, tol=1e-2, **kw)
        assert sorted(calls) == spans
        assert_same(ref, out)
        assert {"converged", "diverged", "max_steps"} <= set(ref.status.tolist())
