"""The BLAS thread policy of descentlab's matrix products (autograd.blas).

The policy is tested on a simulated machine (the product's time on one and on all
threads is drawn from a model of the load, and the clock is simulated), so that
its choices can be checked against the best fixed setting in each regime; and on
the real OpenBLAS, for what it must never do: change the thread count outside its
own products, exceed a limit the user set, or change a product's result.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from descentlab.autograd import blas, blas_parts
from descentlab.autograd.blas_parts import Parts

A = np.ones((128, 784), dtype=np.float32)
B = np.ones((784, 256), dtype=np.float32)


class FakeBLAS(blas._OpenBLAS):
    def __init__(self, threads: int = 2) -> None:
        self.threads = threads
        self.sets: list[int] = []
        super().__init__(lambda: self.threads, self._set)

    def _set(self, n: int) -> None:
        self.sets.append(n)
        self.threads = n


class Simulated(blas.Policy):
    """A policy whose products take the time ``cost(threads, call)`` on a simulated clock."""

    def __init__(
        self,
        cost,
        threads: int = 2,
        same_bits: bool = True,
        in_parts: bool = False,
        exact: bool = False,
        other: float = 50e-6,
    ) -> None:
        self.other = other  # seconds of other work after each product
        self.bits_agree = same_bits
        self.in_parts = in_parts
        self.exact = exact  # its parts give the whole product's bits
        self.now = 0.0
        self.fake = FakeBLAS(threads)
        super().__init__(self.fake, clock=lambda: self.now)
        self.cost = cost
        self.n = 0
        self.used: list[int] = []

    def _timed(self, a, b, one, parts):
        if one:
            self.fake.enter_one()
        threads = self.fake.threads
        seconds = self.cost(threads, self.n)
        self.n += 1
        self.used.append(threads)
        self.now += seconds + self.other
        if one:
            self.fake.exit_one()
        return None, seconds

    def _same_bits(self, a, b):
        return self.bits_agree

    def _new_product(self, layout, a, b):
        # a product in parts gives the same bits on any thread count; its parts are
        # not run here (the simulated clock stands for them)
        parts = SimpleNamespace(count=2) if self.in_parts else None
        product = blas._Product(parts, exact=self.exact)  # type: ignore[arg-type]
        return self.products.setdefault(layout, product)


def run(policy: Simulated, calls: int) -> float:
    start = policy.now
    for _ in range(calls):
        policy.matmul(A, B, "auto")
    return policy.now - start


def fixed(cost, threads: int, calls: int) -> float:
    return sum(cost(threads, i) + 50e-6 for i in range(calls))


def stalls(p: float, seed: int = 0):
    """All threads 1.6 x faster than one, but a fraction p of their calls stall (30 x)."""
    rng = np.random.default_rng(seed)
    stall = rng.random(1_000_000) < p

    def cost(threads: int, i: int) -> float:
        if threads == 1:
            return 700e-6
        return 24e-3 if stall[i] else 440e-6

    return cost


@pytest.mark.parametrize(
    ("regime", "cost"),
    [
        ("idle: all threads 1.6 x faster", stalls(0.0)),
        ("loaded: all threads always stall", stalls(1.0)),
        ("half the calls on all threads stall", stalls(0.5)),
        ("one call in five on all threads stalls", stalls(0.2)),
        ("one call in 200 on all threads stalls", stalls(0.005)),
        (
            "loaded for the first half, then idle",
            lambda threads, i: 700e-6 if threads == 1 else (24e-3 if i < 20_000 else 440e-6),
        ),
        (
            "idle for the first half, then loaded",
            lambda threads, i: 700e-6 if threads == 1 else (440e-6 if i < 20_000 else 24e-3),
        ),
    ],
)
def test_auto_is_within_10_percent_of_the_best_fixed_setting(regime, cost):
    calls = 40_000
    auto = run(Simulated(cost), calls)
    best = min(fixed(cost, 1, calls), fixed(cost, 2, calls))
    assert auto <= 1.10 * best, (regime, auto, best)


class Spell(Simulated):
    """A machine whose other work between products depends on the threads the products
    ran on: ``rest[threads]`` seconds after each (as on a VM whose second vCPU runs slow,
    where each product is still faster on two threads but the step as a whole is not)."""

    def __init__(self, cost, rest: dict[int, float]) -> None:
        super().__init__(cost, other=0.0)
        self.rest = rest
        self.check_steps = True

    def _timed(self, a, b, one, parts):
        out = super()._timed(a, b, one, parts)
        self.now += self.rest[self.used[-1]]
        return out


def spell(threads: int, i: int) -> float:
    return 510e-6 if threads == 1 else 375e-6


@pytest.mark.parametrize(
    ("regime", "cost", "rest"),
    [
        (
            "second vCPU slow: each product faster on two threads, the step slower",
            spell,
            {1: 150e-6, 2: 700e-6},
        ),
        ("idle: all threads faster, the rest alike", stalls(0.0), {1: 50e-6, 2: 50e-6}),
        (
            "the rest a little slower on two threads, products much faster",
            stalls(0.0),
            {1: 50e-6, 2: 150e-6},
        ),
    ],
)
def test_the_whole_step_is_within_10_percent_of_the_best_fixed_setting(regime, cost, rest):
    calls = 40_000
    policy = Spell(cost, rest)
    auto = run(policy, calls)
    best = min(sum(cost(t, i) + rest[t] for i in range(calls)) for t in (1, 2))
    assert auto <= 1.10 * best, (regime, auto, best)
    unchecked = Spell(cost, rest)
    unchecked.check_steps = False
    if regime.startswith("second vCPU"):
        # each product's own time alone keeps two threads: 1.6 x one thread's step
        assert run(unchecked, calls) > 1.5 * best
        assert policy.all_one
        (summary,) = policy.choices().values()
        assert summary.startswith("2 threads")  # (its own choice) ...
        assert summary.endswith("now 1 thread: the whole step is faster so")
    else:
        assert not policy.all_one


def test_the_step_check_follows_a_spell_and_tells_the_pool(monkeypatch):
    """Every product goes to one thread within a few seconds of a spell's start, the pool
    of descentlab's loops with it (it is told no shape runs on all threads), and both come
    back within seconds of its end."""
    told = []
    monkeypatch.setattr(blas, "_set_on_all", told.append)
    rest = {1: 150e-6, 2: 50e-6}
    policy = Spell(spell, rest)
    policy.publish = True

    def phase(slow: bool, seconds: float) -> list[int]:
        rest[2] = 700e-6 if slow else 50e-6
        start, first = policy.now, len(policy.used)
        while policy.now - start < seconds:
            policy.matmul(A, B, "auto")
        return policy.used[first:]

    phase(False, 20.0)
    assert not policy.all_one and told[-1] == 1
    used = phase(True, 20.0)
    assert policy.all_one and told[-1] == 0
    assert used[-1000:].count(2) <= 16  # at most one window of the other setting
    used = phase(False, 20.0)
    assert not policy.all_one and told[-1] == 1
    assert used[-1000:].count(1) <= 16


def test_calibration_alternates_then_settles_on_the_faster_setting():
    policy = Simulated(stalls(0.0))
    run(policy, 10)
    assert policy.used == [1, 2] * 5
    run(policy, 100)
    assert set(policy.used[10:]) == {2}
    (summary,) = policy.choices().values()
    assert summary.startswith("2 threads")

    slow = Simulated(stalls(1.0))
    run(slow, 108)
    assert set(slow.used[10:]) == {1}
    assert next(iter(slow.choices().values())).startswith("1 thread")


def test_a_shape_whose_threads_give_other_bits_stays_on_one_thread():
    # all threads 1.6 x faster, but their sums come out in another order: a seeded run
    # must not give other numbers when the load changes, so one thread it is, always
    policy = Simulated(stalls(0.0), same_bits=False)
    run(policy, 20_000)
    assert set(policy.used) == {1}
    assert 2 not in policy.fake.sets[::2]  # only ever set to one and restored
    (summary,) = policy.choices().values()
    assert summary.startswith("1 thread, always: 2 threads give other bits")


def test_a_slow_first_call_on_all_threads_does_not_decide_the_calibration():
    # the first product on all threads may start OpenBLAS's threads (or meet cold caches)
    policy = Simulated(lambda threads, i: 700e-6 if threads == 1 else (20e-3 if i == 1 else 440e-6))
    run(policy, 60)
    assert policy.used[:10] == [1, 2] * 5 and set(policy.used[10:]) == {2}


def test_a_stall_while_calibrating_ends_it_and_holds_back_every_shapes_tries():
    # on a busy machine one stall says enough: one thread, and no other shape tries all
    # threads (or calibrates) until the stall's cost is 2 % of the time since
    policy = Simulated(lambda threads, i: 700e-6 if threads == 1 else 20e-3)
    other = np.ones((129, 784), dtype=np.float32)
    run(policy, 4)
    assert policy.used == [1, 2, 1, 2]  # the second call on all threads stalled
    assert policy.quiet_until >= policy.spent + 0.9  # (19.3 ms + the spin charge) / 2 %
    for _ in range(200):
        policy.matmul(other, B, "auto")
        policy.matmul(A, B, "auto")
    assert set(policy.used[4:]) == {1}


def test_a_try_that_stalls_is_charged_for_the_threads_spinning_after_it():
    # OpenBLAS's threads spin ~0.1 s after a product, taking a busy machine's CPU: a
    # stalled try holds back the next ones longer than its own time says; a narrow loss
    # on an idle machine (all threads 3 % slower) does not
    load = {"busy": False}
    policy = Simulated(
        lambda threads, i: 700e-6 if threads == 1 else (20e-3 if load["busy"] else 720e-6)
    )

    def until_a_try() -> None:
        tries = policy.used.count(2)
        while policy.used.count(2) == tries:
            policy.matmul(A, B, "auto")

    run(policy, 10)  # calibrated: one thread, by a narrow margin
    until_a_try()
    assert policy.quiet_until - policy.spent < 0.01  # 20 us / 2 %
    load["busy"] = True
    until_a_try()
    charged = (20e-3 - 700e-6 + blas._SPIN_COST) / blas._PROBE_BUDGET
    assert policy.quiet_until - policy.spent == pytest.approx(charged, abs=0.01)


def test_the_tries_of_many_shapes_share_one_budget():
    # five shapes, all threads always stalling: calibrating and trying again cost at most
    # a few per cent over one thread, not five times the budget of one shape
    cost = stalls(1.0)
    policy = Simulated(cost)
    shapes = [np.ones((128 + i, 784), dtype=np.float32) for i in range(5)]
    start = policy.now
    for _ in range(2000):
        for a in shapes:
            policy.matmul(a, B, "auto")
    auto = policy.now - start
    assert auto <= 1.05 * fixed(cost, 1, 10_000), auto / fixed(cost, 1, 10_000)


def test_the_budget_is_a_share_of_the_products_time_not_of_the_wall_clock():
    # other work between the products (the user's, another library's, another thread
    # policy's epochs in a benchmark) does not let all threads be tried more often per
    # product: on a busy machine the tries still cost at most a few per cent of the
    # products' own time
    cost = stalls(1.0)
    for other in (50e-6, 5e-3, 50e-3):
        policy = Simulated(cost, other=other)
        run(policy, 20_000)
        tries = policy.used.count(2)
        spent_on_tries = sum(
            cost(t, i) - cost(1, i) + blas._SPIN_COST for i, t in enumerate(policy.used) if t == 2
        )
        assert spent_on_tries <= 0.03 * fixed(cost, 1, 20_000), (other, tries)


def test_a_product_in_parts_uses_all_threads_though_whole_products_give_other_bits():
    # its parts run on one thread each, in turn or side by side: the same bits, so the
    # choice may follow the load; whole products on all threads are never checked
    policy = Simulated(stalls(0.0), same_bits=False, in_parts=True)
    run(policy, 200)
    assert policy.used[:10] == [1, 2] * 5 and set(policy.used[10:]) == {2}
    (summary,) = policy.choices().values()
    assert summary.startswith("2 threads, in 2 parts")

    loaded = Simulated(stalls(1.0), same_bits=False, in_parts=True)
    run(loaded, 200)
    assert set(loaded.used[10:]) == {1}


@pytest.mark.parametrize("whole_bits_agree", [True, False])
def test_a_product_whose_parts_are_exact_runs_whole_on_all_threads_if_that_keeps_the_bits(
    whole_bits_agree,
):
    policy = Simulated(stalls(0.0), same_bits=whole_bits_agree, in_parts=True, exact=True)
    run(policy, 100)
    assert set(policy.used[10:]) == {2}  # all threads, one way or the other
    (shape,) = policy.shapes.values()
    assert (shape.side_by_side is None) == whole_bits_agree
    (summary,) = policy.choices().values()
    assert ("in 2 parts" in summary) != whole_bits_agree


def test_a_tie_goes_to_one_thread():
    policy = Simulated(lambda threads, i: 700e-6 if threads == 1 else 690e-6)
    run(policy, 50)
    assert policy.used[-1] == 1


def test_two_stalls_send_the_shape_back_to_one_thread_at_once_and_one_does_not():
    stalled = {30, 60, 65}
    policy = Simulated(
        lambda threads, i: 7e-4 if threads == 1 else (24e-3 if i in stalled else 4e-4)
    )
    run(policy, 61)
    assert policy.used[30] == policy.used[60] == 2
    run(policy, 5)
    assert policy.used[61:66] == [2] * 5  # the stall at 30 is more than 16 calls back
    run(policy, 1)
    assert policy.used[66] == 1


def test_one_thread_is_tried_again_later_and_all_threads_come_back_when_the_load_goes():
    cost = lambda threads, i: 700e-6 if threads == 1 else (24e-3 if i < 500 else 440e-6)
    policy = Simulated(cost)
    run(policy, 20_000)
    assert policy.used[-1] == 2
    tries = sum(1 for i, t in enumerate(policy.used[10:500], 10) if t == 2)
    assert tries <= 2  # at 24 ms a try, at most 2 % of the time goes to trying


def test_the_thread_count_is_restored_after_each_one_thread_product():
    policy = Simulated(stalls(1.0), threads=2)
    run(policy, 50)
    assert policy.fake.threads == 2
    assert policy.fake.sets.count(1) == policy.fake.sets.count(2) > 0


def test_small_products_and_a_limit_of_one_thread_are_left_alone():
    policy = Simulated(stalls(1.0))
    small = np.ones((16, 16), dtype=np.float32)
    policy.matmul(small, small, "auto")
    assert policy.shapes == {} and policy.used == []

    one = Simulated(stalls(0.0), threads=1)  # the user limited BLAS to one thread
    run(one, 20)
    assert one.shapes == {} and one.fake.sets == [] and one.used == []


def test_set_policy_checks_the_name():
    with pytest.raises(ValueError, match=r"one of \('auto', 'inherit', '1'\), got 'fast'"):
        blas.set_policy("fast")
    before = blas.get_policy()
    blas.set_policy("inherit")
    try:
        assert blas.get_policy() == "inherit"
    finally:
        blas.set_policy(before)


# ---------------------------------------------------------------- the real OpenBLAS
threadpoolctl = pytest.importorskip("threadpoolctl", reason="the policy needs threadpoolctl")


def _numpy_blas_threads() -> int:
    (info,) = [
        i
        for i in threadpoolctl.threadpool_info()
        if i["internal_api"] == "openblas" and "numpy" in i["filepath"]
    ] or [None]
    if info is None:
        pytest.skip("NumPy is not linked to OpenBLAS here")
    return int(info["num_threads"])


def _on_one_thread(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """descentlab's product as a sweep's worker computes it: BLAS limited to one thread."""
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        return blas.matmul(a, b)


@pytest.mark.parametrize("mode", ["auto", "1", "inherit"])
def test_real_products_keep_their_values_and_the_users_thread_count(mode):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((128, 784)).astype(np.float32)
    w = rng.standard_normal((256, 784)).astype(np.float32)
    expected = a @ w.T
    on_one_thread = _on_one_thread(a, w.T)
    before = blas.get_policy()
    threads = _numpy_blas_threads()
    blas.set_policy(mode)
    try:
        for _ in range(40):  # through calibration and beyond
            out = blas.matmul(a, w.T)
            if mode == "inherit":
                np.testing.assert_array_equal(out, expected)
            else:  # the bits of one thread, whatever the policy chose: runs repeat exactly
                np.testing.assert_array_equal(out, on_one_thread)
                np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
            assert _numpy_blas_threads() == threads
    finally:
        blas.set_policy(before)


def _padded(x: np.ndarray) -> np.ndarray:
    """``x`` as a view into wider rows (its leading dimension is not its width)."""
    wide = np.full((x.shape[0], x.shape[1] + 24), np.nan, dtype=x.dtype)
    wide[:, : x.shape[1]] = x
    return wide[:, : x.shape[1]]


@pytest.mark.parametrize(
    "shape",
    [
        (128, 784, 256),
        (256, 128, 784),
        (128, 256, 128),
        (40, 64, 256),
        (1000, 64, 64),
        (16, 4096, 300),
    ],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_auto_gives_the_bits_of_one_thread_for_every_layout(shape, dtype):
    m, k, n = shape
    rng = np.random.default_rng(1)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    before = blas.get_policy()
    blas.set_policy("auto")
    try:
        for left, right in (
            (a, b),
            (a, np.ascontiguousarray(b.T).T),
            (np.asfortranarray(a), b),
            (a[:, ::2], b[::2]),  # a layout BLAS cannot read: NumPy copies it
            (_padded(a), _padded(b.T).T),  # rows longer than the matrix: lda > k
        ):
            expected = _on_one_thread(left, right)
            np.testing.assert_allclose(expected, left @ right, rtol=1e-4, atol=1e-3)
            for _ in range(20):  # calibration alternates one thread and all threads
                np.testing.assert_array_equal(blas.matmul(left, right), expected)
    finally:
        blas.set_policy(before)


# ------------------------------------------------- products in parts (blas_parts)
def _batch() -> blas_parts.Batch:
    policy = blas._get_policy()
    if policy.blas is None or policy.blas.batch is None:
        pytest.skip("NumPy's OpenBLAS has no batch products (OpenBLAS < 0.3.29)")
    return policy.blas.batch


@given(
    m=st.integers(32, 400),
    k=st.integers(16, 300),
    n=st.integers(32, 400),
    count=st.integers(2, 5),
    axis=st.sampled_from([0, 1]),
    layout=st.sampled_from(["NN", "NT", "TN", "TT"]),
    dtype=st.sampled_from([np.float32, np.float64]),
)
@settings(max_examples=60, deadline=None)
def test_parts_give_the_product_and_the_same_bits_on_one_thread_and_on_all(
    m, k, n, count, axis, layout, dtype
):
    batch = _batch()
    rng = np.random.default_rng(m * 100_000 + k * 100 + n)
    a = rng.standard_normal((m, k)).astype(dtype)
    b = rng.standard_normal((k, n)).astype(dtype)
    if layout[0] == "T":
        a = np.ascontiguousarray(a.T).T
    if layout[1] == "T":
        b = np.ascontiguousarray(b.T).T
    count = min(count, (m, n)[axis] // 16)
    assume(count >= 2 and m * k * n // count > 2 * blas_parts.SMALL)
    parts = Parts(batch, a, b, count, axis)
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        in_turn = parts.run(a, b)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        side_by_side = parts.run(a, b)
    np.testing.assert_array_equal(in_turn, side_by_side)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(in_turn, a @ b, rtol=tol, atol=tol * np.sqrt(k))


def test_the_parts_of_a_product_follow_its_shape_alone(monkeypatch):
    monkeypatch.setattr(blas_parts.os, "cpu_count", lambda: 2)
    # the larger operand is cut: b's columns (the output's) for x @ W.T of a layer
    # wider than the batch, a's rows (the output's) for a batch larger than the layer
    assert blas_parts.part_count(128, 784, 256) == (2, 1)
    assert blas_parts.part_count(512, 784, 256) == (2, 0)
    assert blas_parts.part_count(16, 4096, 300) == (2, 1)
    assert blas_parts.part_count(128, 64, 128)[0] == 0  # 1M multiply-adds: whole
    assert blas_parts.part_count(40, 64, 40)[0] == 0
    monkeypatch.setattr(blas_parts.os, "cpu_count", lambda: 64)
    assert blas_parts.part_count(128, 784, 256) == (8, 1)  # 32 columns a part at least
    assert blas_parts.part_count(512, 64, 256) == (4, 0)  # 2M multiply-adds a part
    assert blas_parts.part_count(4096, 4096, 4096) == (64, 0)
    batch = _batch()
    a = np.ones((100, 784), np.float32)
    parts = Parts(batch, a, np.ones((784, 256), np.float32), 3, 0)
    assert parts.cuts == [0, 32, 64, 100]  # at multiples of 16
    # no part small enough for OpenBLAS's small-matrix batch path (a crash in 0.3.31)
    small = np.ones((64, 100), np.float32)
    with pytest.raises(ValueError, match="parts need more than 1000000"):
        Parts(batch, small, np.ones((100, 300), np.float32), 2, 0)
    assert Parts.plan(batch, small, np.ones((100, 300), np.float32)) is None


def test_operands_too_large_to_copy_are_not_trusted_to_give_exact_parts(monkeypatch):
    # the real operands stand in for random ones above the size limit; zeros would pass
    # any check, so the parts run in turn as well as side by side: the same bits always
    _batch()
    a = np.zeros((128, 784), np.float32)
    w = np.zeros((256, 784), np.float32)
    monkeypatch.setattr(blas, "_CHECK_BYTES", 1024)
    policy = blas.Policy(blas._find_openblas())
    policy.matmul(a, w.T, "auto")
    (product,) = policy.products.values()
    assert product.parts is not None and not product.exact
    assert product.in_turn is product.parts


def test_batch_products_that_do_not_give_numpys_product_are_not_used():
    class Ignored:  # a batch call that reads its arguments otherwise: writes nothing
        restype = None

        def __call__(self, *args):
            return None

    broken = blas_parts.Batch(Ignored(), Ignored(), int64=True)
    assert not blas_parts._works(broken)
    assert blas_parts._works(_batch())


def test_a_large_product_runs_in_parts_and_its_choice_is_shown():
    _batch()
    a = np.ones((128, 784), np.float32)
    w = np.ones((256, 784), np.float32)
    policy = blas.Policy(blas._find_openblas())
    out = policy.matmul(a, w.T, "auto")
    np.testing.assert_array_equal(out, np.full((128, 256), 784, np.float32))
    (product,) = policy.products.values()
    assert product.parts is not None and product.parts.count >= 2
    if _numpy_blas_threads() > 1:
        (summary,) = policy.choices().values()
        assert "parts" in summary
        assert next(iter(policy.choices())).startswith("(128, 784)@(256, 784).T float32")


def test_products_in_parts_from_several_python_threads_at_once_keep_their_bits():
    import threading

    rng = np.random.default_rng(5)
    a = rng.standard_normal((128, 784)).astype(np.float32)
    w = rng.standard_normal((256, 784)).astype(np.float32)
    g = rng.standard_normal((128, 256)).astype(np.float32)
    expected = {"forward": _on_one_thread(a, w.T), "weights": _on_one_thread(g.T, a)}
    wrong: list[str] = []

    def work(name: str) -> None:
        left, right = (a, w.T) if name == "forward" else (g.T, a)
        for _ in range(30):
            if not np.array_equal(blas.matmul(left, right), expected[name]):
                wrong.append(name)

    before = blas.get_policy()
    blas.set_policy("auto")
    try:
        threads = [threading.Thread(target=work, args=(n,)) for n in ["forward", "weights"] * 2]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        blas.set_policy(before)
    assert wrong == []


def test_a_users_limit_of_one_thread_is_kept():
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        if _numpy_blas_threads() != 1:
            pytest.skip("threadpoolctl cannot limit NumPy's OpenBLAS here")
        blas.matmul(A, B)
        assert _numpy_blas_threads() == 1


def test_tensors_of_a_second_order_backward_pass_through():
    from descentlab import autograd

    rng = np.random.default_rng(1)
    w = rng.standard_normal((96, 96))  # 96^3 > MIN_WORK: a product the policy would time
    x = rng.standard_normal((96, 96))
    v = rng.standard_normal((96, 96))

    def f(t):
        return ((x @ t) ** 2).sum()

    # f = ||x t||^2, so its Hessian-vector product is 2 x^T x v
    np.testing.assert_allclose(autograd.hvp(f, w, v), 2 * x.T @ x @ v, rtol=1e-10)


def test_a_seeded_training_run_repeats_to_the_bit_under_auto():
    # products above OpenBLAS's threading threshold; the second run meets shapes the
    # policy has already decided on, the first calibrates them: both must agree
    from descentlab import data, nn, optim

    rng = np.random.default_rng(0)
    X = rng.random((1280, 784), dtype=np.float32)  # 10 steps: past the 8 calibration calls
    y = rng.integers(0, 10, 1280)

    def train() -> list[np.ndarray]:
        nn.manual_seed(3)
        model = nn.MLP([784, 256, 128, 10], dropout=0.2)
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
        for xb, yb in data.DataLoader(X, y, batch_size=128, seed=0):
            opt.zero_grad()
            nn.functional.cross_entropy(model(xb), yb).backward()
            opt.step()
        return [p.data.copy() for p in model.parameters()]

    before = blas.get_policy()
    blas.set_policy("auto")
    try:
        first, second = train(), train()
    finally:
        blas.set_policy(before)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)


def test_a_pause_between_steps_is_not_taken_for_the_settings_cost():
    """An evaluation, the collector or the end of an epoch stops the steps for a while:
    a check's window that spans such a pause must not send every product to one thread
    (the window's median time between calls is compared, not its mean)."""
    rest = {1: 50e-6, 2: 50e-6}
    policy = Spell(stalls(0.0), rest)  # idle: all threads 1.6 x faster, the rest alike
    used_before = 0
    for call in range(60_000):
        policy.matmul(A, B, "auto")
        if call % 32 == 31:
            policy.now += 20e-3  # a pause every 32 steps: in one window of each check
        if call == 10_000:
            used_before = len(policy.used)
    later = policy.used[used_before:]
    # only the checks' second windows run on one thread: 16 calls every 8 s at most
    assert later.count(1) / len(later) < 0.02
    assert not policy.all_one


def test_the_step_check_forgets_a_shape_that_stopped_running(monkeypatch):
    """A setting the check made for one model (every product on one thread, in a spell)
    is not kept for the next model, whose shapes the reference never was: once the
    reference shape has not run for a second while others do, every product is back on
    its own choice, the pool is told, and the next shape on all threads times the steps."""
    told = []
    monkeypatch.setattr(blas, "_set_on_all", told.append)
    rest = {1: 150e-6, 2: 700e-6}  # a spell: the step faster on one thread
    policy = Spell(spell, rest)
    policy.publish = True
    while policy.now < 20.0:
        policy.matmul(A, B, "auto")
    assert policy.all_one and told[-1] == 0
    rest[2] = 50e-6  # the spell ends as another model starts: other shapes only
    a2 = np.ones((64, 784), dtype=np.float32)
    start, first = policy.now, len(policy.used)
    times = []
    while policy.now - start < 10.0:
        policy.matmul(a2, B, "auto")
        times.append(policy.now - start)
    used = policy.used[first:]
    assert not policy.all_one and told[-1] >= 1
    # on one thread for about a second (the reference's absence), then on its own
    # choice but for the new reference's checks (16 calls each, 1 s to 8 s apart)
    late = [u for t, u in zip(times, used) if t > 2.0]
    assert late.count(1) <= 3 * 16 < len(late) // 100
    assert used[-1000:].count(1) <= 16
