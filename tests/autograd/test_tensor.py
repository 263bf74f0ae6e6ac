"""The engine: accumulation, graph recording, dtypes, long chains, errors."""

from __future__ import annotations

import numpy as np
import pytest

import descentlab as dl
from descentlab import autograd as ag


def test_dtype_none_keeps_numpy_dtype_and_float64_gives_float64_gradients():
    x64 = dl.tensor(np.array([1.0, 2.0]), requires_grad=True)
    x32 = dl.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    ((x64 * 3.0).sum()).backward()
    ((x32 * 3.0).sum()).backward()
    assert x64.grad.dtype == np.float64 and x32.grad.dtype == np.float32
    assert (x32 * 2.5).dtype == np.float32  # Python scalars do not promote
    assert dl.tensor([1, 2]).dtype == np.int64
    assert dl.tensor([1, 2], dtype=np.float32).dtype == np.float32


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match="floating-point"):
        dl.tensor([1, 2], requires_grad=True)


def test_grad_accumulates_until_zeroed():
    x = dl.tensor(np.array([1.0, -2.0]), requires_grad=True)
    (x * x).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [4.0, -8.0])
    x.zero_grad()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_shared_subexpression_gets_both_contributions():
    x = dl.tensor(3.0, requires_grad=True)
    y = x * x
    z = y + y * x  # x^2 + x^3 -> 2x + 3x^2 = 33
    z.backward()
    assert x.grad == pytest.approx(33.0)


def test_no_grad_is_per_thread_and_a_new_thread_records():
    import threading

    x = dl.tensor(np.ones(3), requires_grad=True)
    inside, entered, done = {}, threading.Event(), threading.Event()

    def other() -> None:
        inside["fresh thread records"] = (x * 2).requires_grad
        with dl.no_grad():
            entered.set()
            done.wait(10)
            inside["under its no_grad"] = (x * 2).requires_grad

    t = threading.Thread(target=other)
    t.start()
    assert entered.wait(10)
    assert (x * 2).requires_grad  # the other thread's no_grad is not this one's
    with dl.no_grad():
        assert not (x * 2).requires_grad
        done.set()
        t.join(10)
    assert inside == {"fresh thread records": True, "under its no_grad": False}
    assert ag.is_grad_enabled()


def test_no_grad_and_detach_cut_the_graph():
    x = dl.tensor(np.ones(3), requires_grad=True)
    with dl.no_grad():
        y = x * 2
    assert not y.requires_grad
    z = (x.detach() * 2 + x).sum()
    z.backward()
    np.testing.assert_array_equal(x.grad, np.ones(3))

    @dl.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad
    assert ag.is_grad_enabled()


def test_chain_of_100000_ops_backpropagates_without_recursion_error():
    x = dl.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.00001 + 0.0
    y.backward()
    assert x.grad == pytest.approx(1.00001**100_000, rel=1e-9)


def test_backward_of_non_scalar_needs_gradient():
    x = dl.tensor(np.ones((2, 3)), requires_grad=True)
    with pytest.raises(RuntimeError, match=r"non-scalar tensor of shape \(2, 3\)"):
        (x * 2).backward()
    (x * 2).backward(np.ones((2, 3)))
    np.testing.assert_array_equal(x.grad, 2 * np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 3\)"):
        (x * 2).backward(np.ones(3))


def test_backward_without_grad_is_an_error():
    with pytest.raises(RuntimeError, match="does not require grad"):
        dl.tensor(1.0).backward()


def test_matmul_shape_mismatch_names_both_shapes():
    a, b = dl.tensor(np.ones((3, 4))), dl.tensor(np.ones((5, 2)))
    with pytest.raises(ValueError, match=r"\(3, 4\) @ \(5, 2\)"):
        a @ b


def test_parameter_data_and_grad_are_assignable_arrays():
    p = dl.Parameter(np.zeros(3))
    assert p.requires_grad
    p.data = np.arange(3.0)
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad, [0.0, 2.0, 4.0])
    p.grad = np.zeros(3)
    assert isinstance(p.grad, np.ndarray)


def test_numpy_array_on_the_left_dispatches_to_tensor():
    x = dl.tensor(np.ones(2), requires_grad=True)
    y = np.array([2.0, 3.0]) * x
    assert isinstance(y, dl.Tensor)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [2.0, 3.0])


def test_reshape_error_names_shapes():
    with pytest.raises(ValueError, match=r"shape \(2, 3\) into \(4, 2\)"):
        dl.tensor(np.ones((2, 3))).reshape(4, 2)
