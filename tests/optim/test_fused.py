"""The compiled fast path (Numba) equals the NumPy definition bit for bit, and torch."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from descentlab import optim
from descentlab.optim import fused

from . import test_parity
from .conftest import variants

FUSED_FAMILIES = ("sgd", "momentum", "nesterov", "adam", "adamw")


@pytest.fixture
def always_fast():
    assert fused.available(), "numba is a test dependency: pip install -e '.[test]'"
    old = fused.get_fast_path()
    fused.set_fast_path("always")
    yield
    fused.set_fast_path(old)


def _run(name, opts, dtype, mode, steps=25, size=40_000):
    fused.set_fast_path(mode)
    shape = (200, size // 200)  # a matrix, which every optimizer takes (Muon nothing else)
    p = optim.ArrayParam(np.random.default_rng(1).standard_normal(shape).astype(dtype))
    opt = optim.get(name).build([p], lr=0.01, **opts)
    rng = np.random.default_rng(2)
    for _ in range(steps):
        g = rng.standard_normal(shape).astype(dtype)
        p.grad = g
        if opt.needs_closure:
            opt.step(lambda: 0.0)
        else:
            opt.step()
    state = opt.state[p]
    return p.data.copy(), {k: copy.deepcopy(v) for k, v in state.items()}


def _valid(name, opts):
    try:
        optim.get(name).validate(**opts)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name,opts",
    [(n, o) for n in FUSED_FAMILIES for o in variants(n) if not o.get("amsgrad") and _valid(n, o)],
)
def test_fused_equals_numpy_bit_for_bit(name, opts, dtype, always_fast):
    numpy_x, numpy_state = _run(name, opts, dtype, "never")
    fused_x, fused_state = _run(name, opts, dtype, "always")
    np.testing.assert_array_equal(fused_x, numpy_x)
    assert numpy_state.keys() == fused_state.keys()
    for key in numpy_state:
        np.testing.assert_array_equal(fused_state[key], numpy_state[key])


@pytest.mark.parametrize(
    ("name", "opts"),
    [c for c in test_parity.CASES if c.values[0] in FUSED_FAMILIES],
)
def test_torch_parity_holds_on_the_fast_path(name, opts, float64_torch, always_fast):
    test_parity.test_matches_torch(name, opts, None)


@pytest.mark.parametrize("name", [n for n in optim.REGISTRY if n not in FUSED_FAMILIES])
def test_other_rules_ignore_the_fast_path(name, always_fast):
    numpy_x, _ = _run(name, {}, np.float64, "never", steps=5)
    fast_x, _ = _run(name, {}, np.float64, "always", steps=5)
    np.testing.assert_array_equal(fast_x, numpy_x)


def test_auto_mode_uses_numpy_for_small_arrays_and_modes_are_checked():
    fused.set_fast_path("auto")
    assert not fused.usable(np.zeros(10), np.zeros(10), 0.1)
    assert fused.usable(np.zeros(fused.MIN_SIZE), np.zeros(fused.MIN_SIZE), 0.1)
    assert not fused.usable(np.zeros(fused.MIN_SIZE), np.zeros(fused.MIN_SIZE), np.ones(1))
    with pytest.raises(ValueError, match="fast path mode"):
        fused.set_fast_path("sometimes")


float64_torch = test_parity.float64_torch


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_moments_of_a_dead_unit_reach_zero_not_a_subnormal(dtype, always_fast):
    """A parameter whose gradient stays 0 (a dead ReLU unit): its moments decay and, without
    a flush, stop at the smallest subnormal (beta x it rounds back to it), where every
    step is some 25 x slower. Both paths flush them to exactly 0, bit for bit alike."""
    tiny = np.finfo(dtype).tiny
    for mode in ("never", "always"):
        fused.set_fast_path(mode)
        p = optim.ArrayParam(np.ones(2000, dtype=dtype))
        opt = optim.Adam([p], lr=1e-3)
        p.grad = np.full(2000, 1.0, dtype=dtype)
        opt.step()
        state = opt.state[p]
        state["exp_avg"][:1000] = np.finfo(dtype).smallest_subnormal  # as left by the decay
        state["exp_avg"][1000:] = 4 * tiny
        state["exp_avg_sq"][:] = np.finfo(dtype).smallest_subnormal
        p.grad = np.zeros(2000, dtype=dtype)
        for _ in range(40):
            opt.step()
        m, v = state["exp_avg"], state["exp_avg_sq"]
        assert np.all(m == 0) and np.all(v == 0), mode
        assert np.all(np.isfinite(p.data))
    from descentlab.optim.adam import update_moments

    m = np.array([np.finfo(dtype).smallest_subnormal, 1.0], dtype=dtype)
    v = np.array([np.finfo(dtype).smallest_subnormal, 1.0], dtype=dtype)
    update_moments(m, v, np.zeros(2, dtype), 0.9, 0.999, np.empty(2, dtype))
    assert m[0] == 0 and m[1] == pytest.approx(0.9, rel=1e-6)
    assert v[0] == 0 and v[1] == pytest.approx(0.999, rel=1e-6)


@pytest.mark.parametrize("nesterov", [False, True])
def test_sgd_momentum_buffer_of_a_dead_unit_reaches_zero(nesterov, always_fast):
    """The same for SGD's momentum buffer: mu x (smallest subnormal) rounds back to it."""
    for mode in ("never", "always"):
        fused.set_fast_path(mode)
        p = optim.ArrayParam(np.ones(3000, dtype=np.float32))
        opt = optim.SGD([p], lr=0.1, momentum=0.9, nesterov=nesterov)
        p.grad = np.ones(3000, dtype=np.float32)
        opt.step()
        opt.state[p]["momentum_buffer"][:] = np.finfo(np.float32).smallest_subnormal
        p.grad = np.zeros(3000, dtype=np.float32)
        before = p.data.copy()
        for _ in range(5):
            opt.step()
        assert np.all(opt.state[p]["momentum_buffer"] == 0), mode
        np.testing.assert_array_equal(p.data, before)  # a subnormal step moves nothing


@pytest.mark.parametrize(
    "name, opts, keys",
    [
        ("rmsprop", {"momentum": 0.9, "centered": True}, ("square_avg", "grad_avg")),
        ("adadelta", {}, ("square_avg", "acc_delta")),
    ],
)
def test_running_averages_of_a_dead_unit_reach_zero(name, opts, keys):
    p = optim.ArrayParam(np.ones(100, dtype=np.float32))
    opt = optim.get(name).build([p], lr=0.01, **opts)
    p.grad = np.ones(100, dtype=np.float32)
    opt.step()
    for key in keys:
        opt.state[p][key][:] = np.finfo(np.float32).smallest_subnormal
    p.grad = np.zeros(100, dtype=np.float32)
    for _ in range(3):
        opt.step()
    for key in keys:
        assert np.all(opt.state[p][key] == 0), key
