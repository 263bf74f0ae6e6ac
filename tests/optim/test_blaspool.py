"""The optimizers' loops on OpenBLAS's threads (descentlab._blaspool, optim.fused).

A pooled step must give the bits of the one-thread loop, for every setting of the
rules it serves, at any array size (shares are whole blocks, the last one short); the
pool must be lent only when the thread policy says the other cores answer; and a
library it was not checked on must not be used.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from descentlab import _blaspool
from descentlab.autograd import blas
from descentlab.optim import fused
from descentlab.optim.adadelta import adadelta
from descentlab.optim.adagrad import adagrad
from descentlab.optim.adam import adam, nadam
from descentlab.optim.adamax import adamax
from descentlab.optim.asgd import asgd
from descentlab.optim.radam import radam
from descentlab.optim.rmsprop import rmsprop
from descentlab.optim.rprop import rprop
from descentlab.optim.sgd import sgd

pytest.importorskip("numba")


def _lent_threads() -> int:
    """The threads the real pool can lend here (skips where it cannot be used)."""
    policy = blas._get_policy()
    if policy.blas is None or _blaspool._level1 is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS 0.3.21+ with blas_level1_thread")
    threads = policy.blas.current()
    if threads < 2:
        pytest.skip("OpenBLAS runs on one thread here: it has no other thread to lend")
    return threads


@pytest.fixture
def pooled(monkeypatch):
    """The pool lent to every array of at least 1,000 entries; the sizes it ran (each
    example of a property test clears them; the settings stay for all of them)."""
    threads = _lent_threads()
    monkeypatch.setattr(_blaspool, "_mode", "auto")
    monkeypatch.setattr(_blaspool, "_on_all", 1)
    monkeypatch.setattr(fused, "POOL_SIZE", 1_000)
    calls: list[int] = []
    real = _blaspool.run

    def counted(job, size, descriptor, numbers, count):
        calls.append(size)
        real(job, size, descriptor, numbers, count)

    monkeypatch.setattr(fused, "_pool_run", counted)
    monkeypatch.setattr(fused, "get_mode", lambda: "always")
    return threads, calls


def _steps(rule, sizes, dtype, hyper, pool: bool, monkeypatch, steps=3) -> list[np.ndarray]:
    """``steps`` steps of ``rule`` from one seed, with the pool lent or not."""
    every = fused.POOLED
    if not pool:
        monkeypatch.setattr(fused, "POOLED", frozenset())
    rng = np.random.default_rng(sum(sizes))
    params = [rng.standard_normal(n).astype(dtype) for n in sizes]
    states: list[dict] = [{} for _ in sizes]
    for _ in range(steps):
        grads = [rng.standard_normal(n).astype(dtype) for n in sizes]
        rule(params, grads, states, **hyper)
    monkeypatch.setattr(fused, "POOLED", every)
    return params + [a for s in states for a in s.values() if isinstance(a, np.ndarray)]


@given(
    size=st.integers(1_000, 3 * _blaspool.BLOCK + 7),
    dtype=st.sampled_from([np.float32, np.float64]),
    amsgrad=st.booleans(),
    weight_decay=st.sampled_from([0.0, 0.01]),
    decoupled=st.booleans(),
    maximize=st.booleans(),
)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_pooled_adam_step_gives_the_bits_of_one_thread(
    pooled, monkeypatch, size, dtype, amsgrad, weight_decay, decoupled, maximize
):
    _, calls = pooled
    hyper = {
        "lr": 1e-2,
        "amsgrad": amsgrad,
        "weight_decay": weight_decay,
        "decoupled_weight_decay": decoupled,
        "maximize": maximize,
    }
    sizes = [size, 10]  # a large array (pooled) beside a small one (the multi loop)
    calls.clear()
    together = _steps(adam, sizes, dtype, hyper, True, monkeypatch)
    assert calls == [size] * 3
    alone = _steps(adam, sizes, dtype, hyper, False, monkeypatch)
    assert len(calls) == 3
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_array_equal(a, b)


@given(
    size=st.integers(1_000, 3 * _blaspool.BLOCK + 7),
    dtype=st.sampled_from([np.float32, np.float64]),
    momentum=st.sampled_from([0.0, 0.9]),
    dampening=st.sampled_from([0.0, 0.3]),
    nesterov=st.booleans(),
    weight_decay=st.sampled_from([0.0, 0.01]),
    maximize=st.booleans(),
)
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_pooled_sgd_step_gives_the_bits_of_one_thread(
    pooled, monkeypatch, size, dtype, momentum, dampening, nesterov, weight_decay, maximize
):
    _, calls = pooled
    if nesterov and (momentum == 0 or dampening != 0):
        nesterov = False
    hyper = {
        "lr": 1e-2,
        "momentum": momentum,
        "dampening": dampening,
        "nesterov": nesterov,
        "weight_decay": weight_decay,
        "maximize": maximize,
    }
    calls.clear()
    together = _steps(sgd, [size, 10], dtype, hyper, True, monkeypatch)
    assert calls == [size] * (3 if momentum == 0 else 2)  # (the buffer's first step: NumPy)
    alone = _steps(sgd, [size, 10], dtype, hyper, False, monkeypatch)
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_array_equal(a, b)


#: the other rules of the fast path, each with settings that take every branch of its loop
#: (RAdam rectifies from its sixth step on, ASGD averages from step t0)
OTHER_RULES = {
    "adamax": (adamax, [{}, {"weight_decay": 0.01, "maximize": True}]),
    "nadam": (
        nadam,
        [{}, {"weight_decay": 0.01}, {"weight_decay": 0.01, "decoupled_weight_decay": True}],
    ),
    "radam": (
        radam,
        [
            {"maximize": True},
            {"weight_decay": 0.01},
            {"weight_decay": 0.01, "decoupled_weight_decay": True},
        ],
    ),
    "adagrad": (adagrad, [{}, {"lr_decay": 0.01, "weight_decay": 0.01, "maximize": True}]),
    "adadelta": (adadelta, [{}, {"weight_decay": 0.01, "maximize": True}]),
    "rmsprop": (
        rmsprop,
        [
            {},
            {"centered": True},
            {"momentum": 0.9, "maximize": True},
            {"centered": True, "momentum": 0.9, "weight_decay": 0.01},
        ],
    ),
    "rprop": (rprop, [{}, {"maximize": True, "step_size_max": 0.05}]),
    "asgd": (asgd, [{}, {"t0": 2, "weight_decay": 0.01, "maximize": True}]),
}


def test_every_rule_of_the_fast_path_can_run_on_the_pool():
    assert set(OTHER_RULES) | {"sgd", "adam"} == fused.POOLED


@given(
    name=st.sampled_from(sorted(OTHER_RULES)),
    which=st.integers(0, 3),
    size=st.integers(1_000, 3 * _blaspool.BLOCK + 7),
    dtype=st.sampled_from([np.float32, np.float64]),
)
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_pooled_step_of_every_other_rule_gives_the_bits_of_one_thread(
    pooled, monkeypatch, name, which, size, dtype
):
    _, calls = pooled
    rule, options = OTHER_RULES[name]
    hyper = {"lr": 1e-2, **options[which % len(options)]}
    calls.clear()
    together = _steps(rule, [size, 10], dtype, hyper, True, monkeypatch, steps=7)
    assert calls == [size] * 7
    alone = _steps(rule, [size, 10], dtype, hyper, False, monkeypatch, steps=7)
    assert len(calls) == 7
    for a, b in zip(together, alone, strict=True):
        np.testing.assert_array_equal(a, b)


@given(
    name=st.sampled_from(sorted(fused.POOLED)),
    size=st.integers(1_000, 3 * _blaspool.BLOCK + 7),
    dtype=st.sampled_from([np.float32, np.float64]),
)
@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_a_pooled_step_that_sums_the_squared_gradient_steps_the_same_bits(
    pooled, monkeypatch, name, size, dtype
):
    _, calls = pooled
    rule = {"sgd": sgd, "adam": adam}.get(name) or OTHER_RULES[name][0]
    hyper = {"lr": 1e-2, "momentum": 0.9} if name == "sgd" else {"lr": 1e-2}
    rng = np.random.default_rng(size)
    start = rng.standard_normal(size).astype(dtype)
    grads = [rng.standard_normal(size).astype(dtype) * 10.0**k for k in (-3, 0, 2)]
    stepped = []
    for measured in (True, False):
        theta, states = [start.copy()], [{}]
        calls.clear()
        for g in grads:
            if not measured:
                rule(theta, [g], states, **hyper)
                continue
            with fused.gradient_squares() as found:
                rule(theta, [g], states, **hyper)
            if calls:  # (SGD's first step makes its buffer in NumPy, and sums nothing)
                exact = float(np.sum(g.astype(np.float64) ** 2))
                rel = 1e-5 if dtype == np.float32 else 1e-12
                assert found == {id(g): pytest.approx(exact, rel=rel)}
                assert fused.squared_norm([g], found) == found[id(g)]
        assert len(calls) >= (2 if measured else 0)
        stepped.append([theta[0]] + [a for a in states[0].values() if isinstance(a, np.ndarray)])
    for a, b in zip(*stepped, strict=True):
        np.testing.assert_array_equal(a, b)


def test_gradient_squares_records_only_inside_it_and_nests():
    assert getattr(fused._measuring, "found", None) is None
    with fused.gradient_squares() as outer:
        with fused.gradient_squares() as inner:
            assert fused._measuring.found is inner
        assert fused._measuring.found is outer
    assert fused._measuring.found is None
    g = np.arange(5.0)
    assert fused.squared_norm([g, g.reshape(5, 1)], {}) == 2 * 30.0
    assert fused.squared_norm([g], {id(g): 7.0}) == 7.0  # the loop's sum, as recorded
    h = np.arange(3, dtype=np.float32)  # summed with the other arrays in one compiled call
    assert fused.squared_norm([g, h, h], {id(g): 7.0}) == 7.0 + 2 * 5.0
    # the others: of two dtypes, one not contiguous, one of integers and one big-endian
    # (both by np.dot), and more than a compiled call's tuple holds
    strided = np.arange(12.0).reshape(3, 4)[:, ::2]
    ints = np.arange(4)
    swapped = np.arange(3, dtype=">f4")
    rest = [strided, h, ints, swapped] + [h] * fused.CHUNK
    expected = float(np.sum(strided**2)) + 5.0 + 14.0 + 5.0 + fused.CHUNK * 5.0
    assert fused.squared_norm([g, *rest], {id(g): 7.0}) == 7.0 + expected
    with fused.gradient_squares() as found:  # and when the exit comes with an exception
        with pytest.raises(KeyError), fused.gradient_squares():
            raise KeyError("x")
        assert fused._measuring.found is found


def _same_off_the_pool(lent: list[np.ndarray], run, make, monkeypatch) -> None:
    """``run(make)`` again with every rule's loop off the pool gives the arrays ``lent``."""
    every = fused.POOLED
    monkeypatch.setattr(fused, "POOLED", frozenset())
    alone = run(make)
    monkeypatch.setattr(fused, "POOLED", every)
    for a, b in zip(lent, alone, strict=True):
        np.testing.assert_array_equal(a, b)


def test_training_with_the_pool_lent_gives_the_same_model(pooled, monkeypatch):
    # the README's loop over an MLP: its first layer's update runs on the pool
    from descentlab import data, nn, optim

    _, calls = pooled
    monkeypatch.setattr(fused, "POOL_SIZE", 65_536)
    rng = np.random.default_rng(0)
    X = rng.random((512, 784), dtype=np.float32)
    y = rng.integers(0, 10, 512)

    def train(make) -> list[np.ndarray]:
        nn.manual_seed(0)
        model = nn.MLP([784, 256, 10], dropout=0.2)
        opt = make(model.parameters())
        for xb, yb in data.DataLoader(X, y, batch_size=128, seed=0):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
        return [p.data.copy() for p in model.parameters()]

    makers = [
        (4, lambda p: optim.Adam(p, lr=1e-3)),
        (3, lambda p: optim.SGD(p, lr=0.1, momentum=0.9)),  # (the buffer's first step: NumPy)
        (4, lambda p: optim.RMSprop(p, lr=1e-3, centered=True)),
    ]
    for steps, make in makers:
        calls.clear()
        lent = train(make)
        assert calls == [256 * 784] * steps
        _same_off_the_pool(lent, train, make, monkeypatch)


def test_a_planned_pooled_step_follows_a_changed_learning_rate(pooled, monkeypatch):
    # a plan keeps a pooled loop's arguments from step to step and sets again what
    # changed: the per-step scalars (Adam's bias corrections) and, when a scheduler
    # changes them, the group's settings; every step must match the loop off the pool
    from descentlab import optim

    _, calls = pooled
    rng = np.random.default_rng(3)
    start = rng.standard_normal((64, 40)).astype(np.float32)
    grads = [rng.standard_normal((64, 40)).astype(np.float32) for _ in range(6)]

    def run(make) -> list[np.ndarray]:
        p = optim.ArrayParam(start.copy())
        opt = make([p])
        out = []
        for step, g in enumerate(grads):
            p.grad = g.copy()
            opt.step()
            out.append(p.data.copy())
            if step % 2:
                for group in opt.param_groups:
                    group["lr"] *= 0.5
        return out

    makers = [
        lambda p: optim.Adam(p, lr=1e-2),
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-3),
        lambda p: optim.RMSprop(p, lr=1e-2),
    ]
    for make in makers:
        calls.clear()
        lent = run(make)
        assert len(calls) >= len(grads) - 1  # (SGD's first step makes its buffer in NumPy)
        _same_off_the_pool(lent, run, make, monkeypatch)
        assert not np.array_equal(lent[-1], lent[-2])


@pytest.mark.parametrize("optimizer", ["adam", "sgd", "rmsprop"])
def test_fit_records_the_gradient_norm_the_pooled_loops_summed(pooled, monkeypatch, optimizer):
    # fit takes the norm of a pooled array's gradient from the loop that stepped it: the
    # mean norm it records is the float64 norm of the gradients, and the run's numbers are
    # those of a run with no pool
    from tests.train.test_fit import _GradNorms

    import descentlab as dl
    from descentlab import nn

    _, calls = pooled
    rng = np.random.default_rng(0)
    X = rng.standard_normal((256, 40)).astype(np.float32)
    y = rng.integers(0, 3, 256)
    options = {"name": optimizer, "lr": 0.01, **({"momentum": 0.9} if optimizer == "sgd" else {})}

    def run(pool: bool):
        every = fused.POOLED
        if not pool:
            monkeypatch.setattr(fused, "POOLED", frozenset())
        nn.manual_seed(0)
        model = nn.MLP([40, 64, 3], dropout=0.2)
        norms = _GradNorms()  # (float64, after each step)
        history = dl.fit(
            model,
            (X, y),
            optimizer=options,
            epochs=2,
            batch_size=32,
            seed=0,
            progress=False,
            callbacks=[norms],
        )
        monkeypatch.setattr(fused, "POOLED", every)
        return history, [float(np.mean(steps)) for steps in norms.by_epoch], model

    calls.clear()
    lent, exact, model = run(True)
    assert calls.count(40 * 64) >= 15  # the first layer's update ran on the pool
    assert lent["grad_norm"] == pytest.approx(exact, rel=1e-5)
    alone, _, model_alone = run(False)
    assert lent["train_loss"] == alone["train_loss"]
    for p, q in zip(model.parameters(), model_alone.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    assert lent["grad_norm"] == pytest.approx(alone["grad_norm"], rel=1e-5)


def test_the_pool_is_lent_only_as_the_thread_policy_says(monkeypatch):
    monkeypatch.setattr(_blaspool, "_level1", object())
    monkeypatch.setattr(_blaspool, "_get_threads", lambda: 4)
    monkeypatch.setattr(_blaspool, "_mode", "auto")
    monkeypatch.setattr(_blaspool, "_on_all", 0)
    assert _blaspool.threads() == 1  # no product shape on all threads: maybe a busy machine
    _blaspool.set_on_all(2)
    assert _blaspool.threads() == 4
    _blaspool.set_mode("1")
    assert _blaspool.threads() == 1
    _blaspool.set_mode("inherit")
    _blaspool.set_on_all(0)
    assert _blaspool.threads() == 4  # BLAS's own thread count, as the user left it
    monkeypatch.setattr(_blaspool, "_level1", None)
    assert _blaspool.threads() == 1
    with pytest.raises(RuntimeError, match="cannot run a loop over 10 entries"):
        _blaspool.run(0, 10, 0, 0, 2)


def test_blas_set_policy_tells_the_pool(monkeypatch):
    before = blas.get_policy()
    try:
        blas.set_policy("1")
        assert _blaspool._mode == "1"
        blas.set_policy("inherit")
        assert _blaspool._mode == "inherit"
    finally:
        blas.set_policy(before)
    assert _blaspool._mode == before


def test_the_policy_counts_the_shapes_on_all_threads_and_tells_the_pool(monkeypatch):
    from tests.autograd.test_blas import B, Simulated

    monkeypatch.setattr(_blaspool, "_on_all", 0)
    busy = {"now": False}
    policy = Simulated(
        lambda threads, i: 700e-6 if threads == 1 else (24e-3 if busy["now"] else 440e-6)
    )
    policy.publish = True
    for rows in (128, 129):  # two shapes
        a = np.ones((rows, 784), np.float32)
        for _ in range(12):
            policy.matmul(a, B, "auto")
    assert policy.on_all == 2 and _blaspool._on_all == 2
    busy["now"] = True  # two stalls send each shape back to one thread
    for rows in (128, 129):
        a = np.ones((rows, 784), np.float32)
        for _ in range(2):
            policy.matmul(a, B, "auto")
    assert policy.on_all == 0 and _blaspool._on_all == 0
    quiet = Simulated(lambda threads, i: 700e-6 if threads == 1 else 440e-6)
    for _ in range(12):
        quiet.matmul(np.ones((128, 784), np.float32), B, "auto")
    assert quiet.on_all == 1 and _blaspool._on_all == 0  # a policy of a test's: untold


def test_only_the_versions_it_was_checked_on_are_used(monkeypatch):
    monkeypatch.setattr(_blaspool, "_level1", None)
    monkeypatch.setattr(_blaspool, "_get_threads", None)

    class Library:
        def __init__(self) -> None:
            self.blas_level1_thread = lambda *args: 0

    assert _blaspool.version("OpenBLAS 0.3.31 DYNAMIC_ARCH NO_AFFINITY SkylakeX") == (0, 3, 31)
    assert _blaspool.version("some other BLAS") is None
    assert not _blaspool.attach(Library(), "OpenBLAS 0.3.20 DYNAMIC_ARCH", lambda: 2)
    assert not _blaspool.attach(Library(), "OpenBLAS 0.4.0", lambda: 2)
    assert not _blaspool.attach(object(), "OpenBLAS 0.3.31", lambda: 2)  # no such function
    assert _blaspool._level1 is None


def test_the_process_policy_lends_numpys_openblas_where_it_can():
    policy = blas._get_policy()
    if policy.blas is None or policy.blas.dynlib is None:
        pytest.skip("NumPy's BLAS is not an OpenBLAS that threadpoolctl finds")
    found = _blaspool.version(policy.blas.config)
    expected = (
        found is not None
        and (0, 3, 21) <= found <= (0, 3, 999)
        and hasattr(policy.blas.dynlib, "blas_level1_thread")
    )
    assert (_blaspool._level1 is not None) == expected


def test_every_share_of_a_pooled_loop_is_stepped():
    # NaN gradients poison every entry a share steps: none may be left out, the short
    # last block included
    threads = _lent_threads()
    n = 5 * _blaspool.BLOCK + 123
    theta = np.zeros(n, np.float32)
    grad = np.full(n, np.nan, np.float32)
    buf = np.zeros(n, np.float32)
    kernels = fused._load()
    fused._pooled(
        kernels, "sgd", theta, grad, [buf], (), (0.1, 0.9, 0.0, 0.0, False, False), threads
    )
    assert np.isnan(theta).all() and np.isnan(buf).all()


def test_under_inherit_the_first_product_lends_the_pool_too():
    # "inherit" leaves BLAS's threads as they are, and its products bypass the policy's
    # timing; the loops may still borrow the pool at BLAS's thread count
    import subprocess
    import sys

    code = (
        "import numpy as np\n"
        "from descentlab import _blaspool\n"
        "from descentlab.autograd import blas\n"
        "assert _blaspool._level1 is None\n"
        "blas.matmul(np.ones((4, 3)), np.ones((3, 2)))\n"
        "print(_blaspool._level1 is not None, _blaspool.threads())\n"
    )
    env = {**os.environ, "DESCENTLAB_BLAS_THREADS": "inherit"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    policy = blas._get_policy()  # (attaches the pool in this process, under any policy)
    lendable = _blaspool._level1 is not None
    assert out[0] == str(lendable)
    if lendable:
        assert int(out[1]) == policy.blas.current()
