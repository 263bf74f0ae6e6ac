"""The Runner's compiled steps (``_compiled.step_runner``) against its NumPy ``_one_step``:
float64 bit for bit, state included, in any split of the steps and mixed with NumPy steps."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from descentlab import landscapes
from descentlab.landscapes import Runner
from descentlab.optim import fused

numba = pytest.importorskip("numba")

from descentlab.landscapes import _compiled

#: rows: two ordinary starts, one at the minimum (converged at once), one that diverges
#: in the first steps (with its own large learning rate, ``lrs``), one that converges
#: after some steps (tol 0.1 near (1, 1))
X0 = np.array([[-1.2, 1.0], [0.3, -0.4], [1.0, 1.0], [40.0, -30.0], [1.02, 1.04]])


def lrs(opt: str, lr: float) -> np.ndarray:
    """Per-run learning rates: ``lr``, and for the 4th run one that makes it diverge (at
    step 2 for SGD, at step 1 for the adaptive steps, whose step is about lr)."""
    return np.array([lr, lr, lr, 1e-4 if opt == "sgd" else 1e9, lr])


CASES = [
    ("sgd", {"lr": 1e-3}),
    ("sgd", {"lr": 1e-3, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("sgd", {"lr": 1e-3, "momentum": 0.5, "dampening": 0.3}),
    ("adam", {"lr": 1e-2}),
    ("adam", {"lr": 1e-2, "weight_decay": 0.1, "amsgrad": True}),
    (
        "adam",
        {"lr": 5e-2, "betas": (0.3, 0.9), "decoupled_weight_decay": True, "weight_decay": 0.5},
    ),
    ("adamw", {"lr": 1e-2, "maximize": False}),
    ("rmsprop", {"lr": 1e-3}),
    ("rmsprop", {"lr": 1e-3, "momentum": 0.9, "centered": True, "weight_decay": 0.01}),
    ("adagrad", {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    ("adadelta", {"lr": 1.0}),
    ("adadelta", {"lr": 0.5, "rho": 0.95, "weight_decay": 0.01}),
    ("adamax", {"lr": 1e-2}),
    ("adamax", {"lr": 2e-2, "betas": (0.5, 0.9), "weight_decay": 0.1}),
    ("nadam", {"lr": 1e-2}),
    ("nadam", {"lr": 2e-2, "momentum_decay": 0.01, "weight_decay": 0.1}),
    ("nadam", {"lr": 2e-2, "decoupled_weight_decay": True, "weight_decay": 0.3}),
]


def mode(name: str) -> Any:
    class _Mode:
        def __enter__(self) -> None:
            self.before = fused.get_fast_path()
            fused.set_fast_path(name)

        def __exit__(self, *exc: object) -> None:
            fused.set_fast_path(self.before)

    return _Mode()


def make(f: Any = "rosenbrock", x0: Any = X0, opt: str = "adam", **kw: Any) -> Runner:
    if x0 is X0 and np.ndim(kw.get("lr", 0.0)) == 0:
        kw["lr"] = lrs(opt, kw.get("lr", 1e-3))
    kw.setdefault("steps", 400)
    kw.setdefault("tol", 0.1 if x0 is X0 else 1e-3)
    return Runner(f, x0.copy() if isinstance(x0, np.ndarray) else x0, opt, **kw)


def steps(runner: Runner, splits: list[int], compiled: bool | list[bool] = True) -> Runner:
    flags = compiled if isinstance(compiled, list) else [compiled] * len(splits)
    for k, c in zip(splits, flags):
        with mode("always" if c else "never"):
            runner.step(k)
    return runner


def assert_same_state(a: Any, b: Any, where: str) -> None:
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), (where, a.keys(), b)
        for key in a:
            assert_same_state(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert type(b) is type(a) and len(b) == len(a), (where, a, b)
        for i, (u, v) in enumerate(zip(a, b)):
            assert_same_state(u, v, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(b, a, err_msg=where)
        assert b.dtype == a.dtype and b.shape == a.shape, where
    else:
        assert type(b) is type(a) and b == a, (where, a, b)


def assert_same(ref: Runner, out: Runner) -> None:
    for name in ("x", "values", "grad", "grad_norm", "status"):
        np.testing.assert_array_equal(getattr(out, name), getattr(ref, name), err_msg=name)
    np.testing.assert_array_equal(out.nit, ref.nit)
    assert (out.t, out.epoch, out.done) == (ref.t, ref.epoch, ref.done)
    assert list(np.atleast_1d(out.result().message)) == list(np.atleast_1d(ref.result().message))
    for name in ("_prev", "_prev2", "_frozen", "_step_grad"):
        np.testing.assert_array_equal(getattr(out, name), getattr(ref, name), err_msg=name)
    tr, to = ref.trajectory(), out.trajectory()
    assert (tr is None) == (to is None)
    if tr is not None and to is not None:
        for name in ("positions", "values", "grad_norms", "lrs", "epochs"):
            np.testing.assert_array_equal(getattr(to, name), getattr(tr, name), err_msg=name)
    assert_same_state(ref.optimizer.state_dict(), out.optimizer.state_dict(), "state_dict")
    ro, rr = out.readout(), ref.readout()
    for key in ("x", "grad", "step_grad", "delta", "velocity", "second_moment", "effective_lr"):
        np.testing.assert_array_equal(ro[key], rr[key], err_msg=key)


@pytest.mark.parametrize(("opt", "hp"), CASES)
def test_chunks_and_mixed_steps_equal_numpy_steps(opt: str, hp: dict[str, Any]) -> None:
    # the 4th run diverges and the 5th converges inside the chunks, then they stay frozen
    # (their optimizer state goes on changing, as in NumPy)
    splits = [2, 5, 50, 100]
    hp = {"steps": 200, **hp}
    ref = steps(make(opt=opt, **hp), splits, compiled=False)
    out = steps(make(opt=opt, **hp), splits)
    assert list(ref.status[2:4]) == ["converged", "diverged"] and ref.status[0] == "running"
    assert 1 <= ref.nit[3] <= 2 and ref.nit[4] >= 1, ref.result().message
    assert out._plan is not None
    assert_same(ref, out)
    # mixing: step(3) compiled, one NumPy step, then compiled again
    mixed = steps(make(opt=opt, **hp), [3, 1, 4, 150], [True, False, True, True])
    steps(ref, [0])
    assert_same(steps(make(opt=opt, **hp), [158], compiled=False), mixed)
    # and to the end (max_steps inside a chunk), NumPy last
    steps(ref, [1000], compiled=False)
    steps(out, [123, 1000], [False, True])
    assert ref.done
    assert_same(ref, out)


def test_per_run_learning_rates_and_no_recording() -> None:
    x0 = np.random.default_rng(1).uniform([-2.0, -1.0], [2.0, 3.0], size=(12, 2))
    lr = np.linspace(1e-4, 3e-2, 12)
    for opt, hp in (("adam", {}), ("sgd", {"momentum": 0.9}), ("rmsprop", {"centered": True})):
        for record in (True, False):
            ref = steps(make(x0=x0, opt=opt, lr=lr, record=record, **hp), [300], False)
            out = steps(make(x0=x0, opt=opt, lr=lr, record=record, **hp), [7, 293])
            assert_same(ref, out)


def test_single_run_runs_to_the_end_and_keeps_its_steps() -> None:
    ref = make(x0=[-1.2, 1.0], opt="sgd", lr=1e-3, momentum=0.9, steps=250)
    out = make(x0=[-1.2, 1.0], opt="sgd", lr=1e-3, momentum=0.9, steps=250)
    with mode("never"):
        ref.run()
    with mode("always"):
        out.keep_steps = True
        out.step(10)
        assert out.last_steps is not None
        pos, val = out.last_steps
        out.run()
    assert_same(ref, out)
    assert out.status == "max_steps" and out.nit == 250
    traj = ref.trajectory()
    assert traj is not None
    np.testing.assert_array_equal(pos[:, 0], traj.positions[1:11])
    np.testing.assert_array_equal(val[:, 0], traj.values[1:11])
    assert out.last_steps is not None and len(out.last_steps[0]) == 240


def test_a_formula_landscape() -> None:
    f = "(x - 1)**2 + 10*(y - x**2)**2 + 0.1*sin(3*x)"
    ref = steps(make(f, opt="sgd", lr=2e-3, momentum=0.8), [1, 299], False)
    out = steps(make(f, opt="sgd", lr=2e-3, momentum=0.8), [1, 299])
    assert out._plan is not None and not isinstance(out._plan[0], tuple)
    assert_same(ref, out)


@settings(max_examples=25, deadline=None)
@given(
    opt=st.sampled_from([c for c in CASES if c[0] != "sgd" or "momentum" in c[1]]),
    splits=st.lists(st.integers(1, 60), min_size=1, max_size=6),
    numpy_at=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_any_split_of_the_steps(
    opt: tuple[str, dict[str, Any]], splits: list[int], numpy_at: list[bool]
) -> None:
    name, hp = opt
    total = sum(splits)
    ref = steps(make(opt=name, steps=150, **hp), [total], False)
    flags = [not n for n in numpy_at[: len(splits)]]
    out = steps(make(opt=name, steps=150, **hp), splits, flags)
    assert_same(ref, out)


def test_not_applicable_takes_the_numpy_steps() -> None:
    assert make(grad_noise=0.1, seed=0)._compiled_plan() is None
    assert make(perturb=True, seed=0)._compiled_plan() is None
    assert make(opt="radam")._compiled_plan() is None
    assert make(f=lambda x: (x**2).sum(), x0=np.ones((2, 2)))._compiled_plan() is None
    nine = landscapes.get("rosenbrock", dim=9)  # D > 8: NumPy sums its gradient norm otherwise
    assert make(f=nine, x0=np.ones((2, 9)), opt="sgd")._compiled_plan() is None
    with mode("never"):
        r = make(opt="adam")
        assert r._compiled_loop(10**9) is None and not r.prepare_compiled()
    with mode("always"):  # a state the loop does not take (a float32 buffer): NumPy steps
        r = steps(make(opt="sgd", lr=1e-3, momentum=0.9), [1])
        state = r.optimizer.state[r.param]
        state["momentum_buffer"] = state["momentum_buffer"].astype(np.float32)
        assert _compiled.step_runner(r, r._plan, _compiled.loaded_loop(r._plan), 5) == 0
        assert r.t == 1
