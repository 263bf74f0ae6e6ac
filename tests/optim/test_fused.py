"""The compiled fast path (Numba) equals the NumPy definition bit for bit, and torch.

Every rule with a kernel, in every option combination, float32 and float64: one
array of 40,000 elements (a multi-tensor call of one), groups of mixed sizes
(several multi-tensor chunks, and arrays above ``PARALLEL_SIZE``, lowered here,
on the parallel loop), and hypothesis over settings and shapes.
"""

from __future__ import annotations

import copy
import importlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from descentlab import optim
from descentlab.optim import fused

from . import test_parity
from .conftest import COMBOS, variants

FUSED_FAMILIES = (
    "sgd",
    "momentum",
    "nesterov",
    "adam",
    "adamw",
    "adamax",
    "nadam",
    "radam",
    "adagrad",
    "adadelta",
    "rmsprop",
    "rprop",
    "asgd",
)


@pytest.fixture(autouse=True)
def _restore_mode():
    old = fused.get_fast_path()
    yield
    fused.set_fast_path(old)


@pytest.fixture
def always_fast():
    assert fused.available(), "numba is a test dependency: pip install -e '.[test]'"
    old = fused.get_fast_path()
    fused.set_fast_path("always")
    yield
    fused.set_fast_path(old)


def _run(name, opts, dtype, mode, steps=20, size=6_000):
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
    [(n, o) for n in FUSED_FAMILIES for o in variants(n) if _valid(n, o)],
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


def test_auto_mode_takes_a_group_by_its_total_size():
    """ "auto": a group of small arrays that hold MIN_SIZE elements together is compiled
    whole (a model's biases with its weights); a small problem stays in NumPy."""
    fused.set_fast_path("auto")
    states = [{} for _ in range(3)]
    small = [np.zeros(5), np.zeros(7), np.zeros(3)]
    assert fused.split(small, small, states, (), 0.1) == ([], [0, 1, 2])
    big = [np.zeros(fused.MIN_SIZE // 2), np.zeros(fused.MIN_SIZE // 2), np.zeros(3)]
    assert fused.split(big, big, states, (), 0.1) == ([0, 1, 2], [])
    assert fused.split(big, big, states, (), np.array([0.1])) == ([], [0, 1, 2])
    fused.set_fast_path("never")
    assert fused.split(big, big, states, (), 0.1) == ([], [0, 1, 2])


def test_split_leaves_what_the_loops_cannot_take_to_numpy(always_fast):
    """Non-contiguous, read-only, mismatched dtypes, a missing or odd state: NumPy."""
    a = np.zeros((4, 6))
    read_only = np.zeros(6)
    read_only.flags.writeable = False
    params = [a, a[:, ::2], np.zeros(6), np.zeros(6, np.float32), np.zeros(6), np.zeros(6)]
    grads = [a.copy(), np.zeros((4, 3)), read_only, np.zeros(6, np.float32), np.zeros(6)]
    grads.append(np.zeros(6))
    states = [{"m": np.zeros((4, 6))}, {"m": np.zeros((4, 3))}, {"m": np.zeros(6)}]
    states += [{"m": np.zeros(6, np.float32)}, {}, {"m": np.zeros((2, 3))}]
    assert fused.split(params, grads, states, ("m", None), 0.1) == ([0, 3], [1, 2, 4, 5])
    # Fortran order (nn.Linear's weights) where every array of the parameter has it; a
    # gradient or a state in the other order goes to NumPy
    f = np.zeros((4, 6), order="F")
    params = [f, f.copy(order="F"), f.copy(order="F"), np.zeros((4, 6))]
    grads = [f.copy(order="F"), np.zeros((4, 6)), f.copy(order="F"), f.copy(order="F")]
    states = [{"m": f.copy(order="F")}, {"m": f.copy(order="F")}, {"m": np.zeros((4, 6))}, {}]
    assert fused.split(params, grads, states, ("m",), 0.1) == ([0], [1, 2, 3])


@pytest.mark.parametrize("name", FUSED_FAMILIES)
def test_fortran_ordered_arrays_are_stepped_in_place_as_numpy_steps_them(
    name, always_fast, monkeypatch
):
    """nn.Linear keeps W in Fortran order: the loops (multi-tensor, and for Adam and SGD
    the parallel one) step such arrays in place, entry for entry as NumPy does."""
    monkeypatch.setattr(fused, "PARALLEL_SIZE", 5_000 if name in ("adam", "sgd") else 10**12)

    def run(mode, order):
        fused.set_fast_path(mode)
        rng = np.random.default_rng(4)
        ps = [optim.ArrayParam(np.asarray(rng.standard_normal(s), order=order)) for s in SHAPES]
        opt = optim.get(name).build(ps, lr=0.01)
        for _ in range(4):
            for p in ps:
                p.grad = np.asarray(rng.standard_normal(p.data.shape), order=order)
            opt.step()
        assert all(p.data.flags.f_contiguous == (order == "F") for p in ps[:2])
        return [p.data for p in ps], [opt.state[p] for p in ps]

    SHAPES = ((30, 200), (7, 5), (3,))
    numpy_steps = run("never", "C")
    real, slow = fused.split, []
    monkeypatch.setattr(fused, "split", lambda *a: (r := real(*a), slow.append(r[1]))[0])
    _assert_same(numpy_steps, run("always", "F"))
    assert slow[-1] == []  # (the last step ran each array on a compiled loop)


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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name, opts, key",
    [
        ("adam", {}, "exp_avg"),
        ("nadam", {}, "exp_avg"),
        ("radam", {}, "exp_avg"),
        ("adamax", {}, "exp_avg"),
        ("sgd", {"momentum": 0.9}, "momentum_buffer"),
        ("rmsprop", {"momentum": 0.9}, "momentum_buffer"),
    ],
)
def test_a_vanishing_first_moment_is_flushed_before_its_products_underflow(
    name, opts, key, dtype, always_fast
):
    """A dead unit's first moment (or momentum buffer) decays by beta a step; below
    MOMENT_FLOOR x the smallest normal it is flushed, so that its products with the step
    size and 1 - beta1 never fall under the smallest normal (as slow as subnormals).
    Both paths alike: a moment just above the floor after the decay stays, one just
    below it becomes 0."""
    from descentlab.optim.params import MOMENT_FLOOR

    floor = np.finfo(dtype).tiny * MOMENT_FLOOR
    results = []
    for mode in ("never", "always"):
        fused.set_fast_path(mode)
        p = optim.ArrayParam(np.ones(4000, dtype=dtype))
        opt = optim.get(name).build([p], lr=1e-3, **opts)
        p.grad = np.ones(4000, dtype=dtype)
        opt.step()
        moment = opt.state[p][key]
        moment[:2000] = 1.2 * floor  # 0.9 x: above the floor, kept
        moment[2000:] = 1.05 * floor  # 0.9 x: below it, 0
        p.grad = np.zeros(4000, dtype=dtype)
        opt.step()
        assert np.all(moment[:2000] > floor) and np.all(moment[2000:] == 0), mode
        for _ in range(300):  # on down to 0, through normal numbers only
            opt.step()
        assert np.all(moment == 0), mode
        results.append((p.data.copy(), moment.copy()))
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)


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


@pytest.mark.parametrize("mode", ["never", "always"])
def test_centered_rmsprop_of_a_unit_with_tiny_gradients_stays_finite_as_torchs(mode):
    # Units whose gradients were tiny (3e-17) and then 0: v falls below the smallest
    # normal and is flushed to 0 while gbar^2 is still a positive subnormal. sqrt(v - gbar^2)
    # was the square root of a negative, and the weights turned NaN at step 660; torch,
    # which keeps v subnormal, stays finite. Both paths now keep torch's weights.
    torch = pytest.importorskip("torch")
    fused.set_fast_path(mode)
    try:
        p = optim.ArrayParam(np.ones(40_000, dtype=np.float32))
        opt = optim.RMSprop([p], lr=1e-2, centered=True)
        q = torch.nn.Parameter(torch.ones(40_000, dtype=torch.float32))
        ref = torch.optim.RMSprop([q], lr=1e-2, centered=True)
        for step in range(1_000):
            g = np.full(40_000, 3e-17 if step == 0 else 0.0, dtype=np.float32)
            p.grad, q.grad = g, torch.from_numpy(g.copy())
            with np.errstate(invalid="raise"):
                opt.step()
            ref.step()
        assert np.isfinite(p.data).all()
        np.testing.assert_array_equal(p.data, q.detach().numpy())
        assert np.all(opt.state[p]["square_avg"] == 0)  # (flushed; torch's: subnormal)
        assert np.all(opt.state[p]["grad_avg"] > 0)  # (and its square: a subnormal or 0)
    finally:
        fused.set_fast_path("auto")


def _run_group(name, opts, dtype, mode, shapes, steps=6, seed=3, lr=0.01):
    """A group of arrays of ``shapes`` stepped ``steps`` times; each sometimes without a
    gradient (its step count then lags the others'), returns parameters and states."""
    fused.set_fast_path(mode)
    rng = np.random.default_rng(seed)
    ps = [optim.ArrayParam(rng.standard_normal(s).astype(dtype)) for s in shapes]
    opt = optim.get(name).build(ps, lr=lr, **opts)
    for step in range(steps):
        for k, p in enumerate(ps):
            skip = step > 0 and (k + step) % 4 == 0
            p.grad = None if skip else rng.standard_normal(p.data.shape).astype(dtype)
        opt.step()
    return [p.data.copy() for p in ps], [copy.deepcopy(opt.state[p]) for p in ps]


def _assert_same(a, b):
    (xs, states), (ys, other_states) = a, b
    for x, y in zip(xs, ys):
        np.testing.assert_array_equal(x, y)
    for s, t in zip(states, other_states):
        assert s.keys() == t.keys()
        for key in s:
            np.testing.assert_array_equal(s[key], t[key], err_msg=key)


#: a group of mixed sizes: more arrays than one multi-tensor chunk, one-element and empty
#: arrays, and (for Adam and SGD) two arrays above PARALLEL_SIZE, lowered to 5,000 here,
#: on the parallel loop
MIXED_SHAPES = ((30, 200), (7,), (1,), (3, 4), (0,), (6000,), (2,), (5, 5), (9,), (11,), (40,))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    "name,opts",
    [(n, c) for n in FUSED_FAMILIES for c in [{}, *COMBOS.get(n, [])] if _valid(n, c)],
)
def test_mixed_group_equals_numpy_bit_for_bit(name, opts, dtype, always_fast, monkeypatch):
    # Every rule's parallel loop is its serial loop's Python function compiled with
    # parallel=True; compiling all 26 (a parfor compilation takes seconds) would double this
    # file's time on a fresh machine, so two families stand for them.
    parallel = name in ("adam", "sgd")
    monkeypatch.setattr(fused, "PARALLEL_SIZE", 5_000 if parallel else 10**12)
    _assert_same(
        _run_group(name, opts, dtype, "never", MIXED_SHAPES),
        _run_group(name, opts, dtype, "always", MIXED_SHAPES),
    )


def _settings(name):
    """Hypothesis strategy: valid settings of registry entry ``name`` (bounded sliders)."""
    spec = optim.REGISTRY[name]
    fields = {}
    for hp in spec.hyperparameters.values():
        if hp.name == "lr":
            continue
        if hp.type == "bool":
            fields[hp.name] = st.booleans()
        elif hp.type == "float" and hp.slider_low is not None and hp.slider_high is not None:
            fields[hp.name] = st.floats(hp.slider_low, hp.slider_high)
    return st.fixed_dictionaries({}, optional=fields).filter(lambda o: _valid(name, o))


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
@pytest.mark.parametrize("name", FUSED_FAMILIES)
def test_any_settings_and_shapes_equal_numpy_bit_for_bit(name, data, always_fast):
    opts = data.draw(_settings(name), label="settings")
    shapes = data.draw(
        st.lists(
            st.sampled_from([(1,), (2,), (5,), (17,), (3, 3), (64,), (4, 33), (1000,)]),
            min_size=1,
            max_size=12,
        ),
        label="shapes",
    )
    dtype = data.draw(st.sampled_from([np.float32, np.float64]), label="dtype")
    lr = data.draw(st.sampled_from([1e-3, 0.01, 0.3]), label="lr")
    _assert_same(
        _run_group(name, opts, dtype, "never", shapes, steps=4, lr=lr),
        _run_group(name, opts, dtype, "always", shapes, steps=4, lr=lr),
    )


def test_a_model_group_costs_one_compiled_call_per_chunk(monkeypatch):
    """Adam on a model's six arrays in "auto": one multi-tensor call, no NumPy rule."""
    fused.set_fast_path("auto")
    kernels = fused._load()
    calls = []
    multi = kernels.adam_multi
    monkeypatch.setattr(kernels, "adam_multi", lambda *a: calls.append(a) or multi(*a))
    adam_module = importlib.import_module("descentlab.optim.adam")
    monkeypatch.setattr(adam_module, "update_moments", None)  # the NumPy rule would fail
    shapes = ((256, 784), (256,), (128, 256), (128,), (10, 128), (10,))
    rng = np.random.default_rng(0)
    ps = [optim.ArrayParam(rng.standard_normal(s).astype(np.float32)) for s in shapes]
    opt = optim.Adam(ps, lr=1e-3)
    for _ in range(3):
        for p in ps:
            p.grad = rng.standard_normal(p.data.shape).astype(np.float32)
        opt.step()
    assert len(calls) == 3
    ps = [optim.ArrayParam(rng.standard_normal(s).astype(np.float32)) for s in shapes * 2]
    opt = optim.Adam(ps, lr=1e-3)
    for p in ps:
        p.grad = np.ones_like(p.data)
    calls.clear()
    opt.step()
    assert len(calls) == -(-len(ps) // fused.CHUNK)


#: a group with a weight in nn.Linear's (Fortran) layout, a bias, and an array large
#: enough for OpenBLAS's pool where it is lent
PLAN_SHAPES = ((30, 20), (20,), (70_000,))


def _plan_group(dtype=np.float32, seed=4):
    rng = np.random.default_rng(seed)
    ps = [optim.ArrayParam(rng.standard_normal(s).astype(dtype)) for s in PLAN_SHAPES]
    ps[0].data = np.asfortranarray(ps[0].data)
    return ps, rng


def _grads(ps, rng, c_order=False):
    for p in ps:
        g = rng.standard_normal(p.data.shape).astype(p.data.dtype)
        p.grad = np.asfortranarray(g) if p.data.flags.f_contiguous and not c_order else g


def _scenario(mode, change, name="adam"):
    """Two steps, then ``change(ps, opt)``, then two steps: parameters and states."""
    fused.set_fast_path(mode)
    ps, rng = _plan_group()
    opt = optim.get(name).build(ps, lr=0.01)
    for step in range(4):
        if step == 2:
            change(ps, opt)
        _grads(ps, rng, c_order=step >= 2 and change is _c_gradient)
        opt.step()
    return [p.data.copy() for p in ps], [copy.deepcopy(opt.state[p]) for p in ps]


def test_a_group_keeps_one_plan_while_it_holds_the_same_arrays(always_fast, monkeypatch):
    made = []

    class Counted(fused.Plan):
        __slots__ = ()

        def __init__(self, *args):
            made.append(1)
            super().__init__(*args)

    monkeypatch.setattr(fused, "Plan", Counted)
    for name in ("adam", "sgd", "rmsprop"):
        made.clear()
        _scenario("always", lambda ps, opt: None, name)
        assert len(made) == 1, name


def _rebind(ps, opt):
    ps[0].data = ps[0].data * 1.5  # (a new array, C-ordered)
    ps[2].data = ps[2].data.copy()


def _reload(ps, opt):
    opt.load_state_dict(opt.state_dict())  # new state arrays


def _c_gradient(ps, opt):
    """(from here on, the Fortran-ordered weight gets C-ordered gradients: see _scenario)"""


@pytest.mark.parametrize("change", [_rebind, _reload, _c_gradient])
@pytest.mark.parametrize("name", ["adam", "sgd", "adagrad"])
def test_a_plan_follows_the_arrays_a_group_holds(name, change, always_fast):
    """Rebound parameters, reloaded states: the steps after them equal NumPy's bit for bit."""
    _assert_same(_scenario("never", change, name), _scenario("always", change, name))


def test_a_plan_never_steps_an_array_the_group_no_longer_holds(always_fast):
    ps, rng = _plan_group()
    opt = optim.Adam(ps, lr=0.01)
    for _ in range(2):
        _grads(ps, rng)
        opt.step()
    old = [p.data for p in ps]
    before = [a.copy() for a in old]
    _rebind(ps, opt)
    _grads(ps, rng)
    opt.step()
    np.testing.assert_array_equal(old[0], before[0])
    np.testing.assert_array_equal(old[2], before[2])
    assert not np.array_equal(ps[0].data, before[0] * 1.5)


def test_a_read_only_parameter_is_refused_after_planned_steps(always_fast):
    ps, rng = _plan_group()
    opt = optim.Adam(ps, lr=0.01)
    for _ in range(2):
        _grads(ps, rng)
        opt.step()
    ps[2].data.flags.writeable = False
    frozen = ps[2].data.copy()
    _grads(ps, rng)
    with pytest.raises(ValueError, match="read-only"):
        opt.step()
    np.testing.assert_array_equal(ps[2].data, frozen)


def test_a_copy_of_an_optimizer_steps_its_own_arrays(always_fast):
    ps, rng = _plan_group()
    opt = optim.Adam(ps, lr=0.01)
    for _ in range(2):
        _grads(ps, rng)
        opt.step()
    twin_ps, twin = copy.deepcopy((ps, opt))
    before = [p.data.copy() for p in ps]
    _grads(twin_ps, rng)
    twin.step()
    for p, b, q in zip(ps, before, twin_ps):
        np.testing.assert_array_equal(p.data, b)
        assert not np.array_equal(q.data, b)


# -- state arrays placed apart from their parameter within a page -------------------------
APART_CASES = [
    ("sgd", {"lr": 0.1, "momentum": 0.9}),
    ("adam", {"lr": 1e-3, "amsgrad": True}),
    ("adamw", {"lr": 1e-3}),
    ("nadam", {"lr": 1e-3}),
    ("radam", {"lr": 1e-3}),
    ("adamax", {"lr": 1e-3}),
    ("adagrad", {"lr": 1e-2, "initial_accumulator_value": 0.5}),
    ("adadelta", {"lr": 1.0}),
    ("rmsprop", {"lr": 1e-3, "momentum": 0.9, "centered": True}),
    ("asgd", {"lr": 1e-2}),
    ("rprop", {"lr": 1e-2}),
]


def _page_gap(a: np.ndarray, b: np.ndarray) -> int:
    """How far apart two arrays start within a 4 KiB page (0 to 2048 bytes)."""
    d = (a.ctypes.data - b.ctypes.data) % 4096
    return min(d, 4096 - d)


@pytest.mark.parametrize(("name", "hp"), APART_CASES)
def test_state_arrays_start_apart_from_their_parameter_within_a_page(name, hp):
    """A parameter of a page or more gets state arrays of its shape, dtype and order whose
    first entries lie at least 64 bytes from its own and from each other's within a 4 KiB
    page (arrays of whole pages otherwise come from the heap at one offset); a small one
    gets plain arrays. The step's numbers are those of plain arrays (the rules'
    own tests compare them with PyTorch)."""
    from descentlab.optim.params import ArrayParam

    rng = np.random.default_rng(0)
    weight = ArrayParam(np.asfortranarray(rng.standard_normal((256, 784)).astype(np.float32)))
    square = ArrayParam(rng.standard_normal((64, 64)))
    bias = ArrayParam(rng.standard_normal(10).astype(np.float32))
    params = [weight, square, bias]
    opt = optim.get(name).build(params, **hp)
    for p in params:
        g = np.empty_like(p.data)
        g[...] = rng.standard_normal(p.data.shape)
        p.grad = g
    opt.step()
    opt.step()
    for p in (weight, square):
        arrays = [v for v in opt.state[p].values() if isinstance(v, np.ndarray) and v.ndim]
        assert arrays, name
        for a in arrays:
            assert a.shape == p.data.shape and a.dtype == p.data.dtype
            assert a.flags.f_contiguous if p is weight else a.flags.c_contiguous
            assert _page_gap(a, p.data) >= 64, (name, _page_gap(a, p.data))
        for i, a in enumerate(arrays):
            for b in arrays[i + 1 :]:
                assert _page_gap(a, b) >= 64, name
    for v in opt.state[bias].values():
        if isinstance(v, np.ndarray) and v.ndim:
            assert v.base is None  # (a plain array)


def test_zeros_apart_fills_and_places_each_slot():
    theta = np.asfortranarray(np.ones((300, 40), dtype=np.float64))
    for slot in range(3):
        a = fused.zeros_apart(theta, slot, fill=0.25)
        assert a.shape == theta.shape and a.dtype == theta.dtype and a.flags.f_contiguous
        assert a.flags.writeable and np.all(a == 0.25)
        assert (a.ctypes.data - theta.ctypes.data) % 4096 == 1024 * (slot + 1) + 64 * slot
    small = np.ones(100, dtype=np.float32)
    b = fused.zeros_apart(small, 1)
    assert b.base is None and b.shape == (100,) and not b.any()
    strided = np.ones((64, 64))[:, ::2]
    c = fused.zeros_apart(strided, 0, fill=2.0)
    assert c.shape == strided.shape and np.all(c == 2.0)
