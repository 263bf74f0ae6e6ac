"""The backward engine: a leaf keeps a fresh gradient array instead of a copy, and
only when nothing else can see that array."""

from __future__ import annotations

import weakref

import numpy as np

import descentlab as dl
from descentlab.autograd import Parameter, blas, ops


def test_a_fresh_gradient_is_kept_without_a_copy(monkeypatch):
    made = []
    real = blas.matmul

    def recording(a, b):
        out = real(a, b)
        made.append(weakref.ref(out))  # a strong reference would (rightly) force a copy
        return out

    monkeypatch.setattr(blas, "matmul", recording)
    w = Parameter(np.ones((3, 4), np.float32))
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    ops.linear(x, w).sum().backward()
    assert any(w.grad is m() for m in made)  # dL/dW = g^T x itself
    np.testing.assert_array_equal(w.grad, np.broadcast_to(x.sum(axis=0), (3, 4)))
    # for a W in Fortran order (nn.Linear's), dL/dW = (x^T g)^T: the product's transpose,
    # a view of all of an array no one else holds, is kept too
    made.clear()
    wf = Parameter(np.asfortranarray(np.ones((3, 4), np.float32)))
    ops.linear(x, wf).sum().backward()
    assert wf.grad.flags.f_contiguous and any(wf.grad.base is m() for m in made)
    np.testing.assert_array_equal(wf.grad, w.grad)


def test_a_view_is_kept_only_if_it_is_all_of_an_array_no_one_else_holds():
    def grad_of(shape, backward):
        x = Parameter(np.zeros(shape))
        ops.make_result(np.zeros(()), (x,), backward).backward()
        return x.grad

    def fresh():
        return np.arange(12.0).reshape(3, 4)

    kept = grad_of((4, 3), lambda g: (fresh().T,))  # all of an array no one holds
    assert kept.flags.f_contiguous and kept.base is not None
    np.testing.assert_array_equal(kept, fresh().T)
    part = grad_of((2, 3), lambda g: (fresh()[:2, :3],))  # part of one: copied
    assert part.base is None
    np.testing.assert_array_equal(part, fresh()[:2, :3])
    held = fresh()  # all of an array someone else holds: copied
    copied = grad_of((4, 3), lambda g: (held.T,))
    assert not np.shares_memory(copied, held)
    copied += 1
    np.testing.assert_array_equal(held, fresh())
    read_only = fresh()
    read_only.flags.writeable = False
    assert grad_of((4, 3), lambda g: (read_only.T,)).flags.writeable


def test_one_array_sent_to_two_leaves_is_copied_for_one_of_them():
    a, b = Parameter(np.ones(3)), Parameter(np.ones(3))
    (a + b).sum().backward()  # add hands the same array to both
    assert not np.shares_memory(a.grad, b.grad)
    a.grad += 5
    np.testing.assert_array_equal(b.grad, np.ones(3))


def test_the_callers_seed_is_never_kept():
    x = Parameter(np.ones(3))
    seed = np.array([1.0, 2.0, 3.0])
    x.backward(seed)
    assert not np.shares_memory(x.grad, seed)
    x.grad *= 0
    np.testing.assert_array_equal(seed, [1.0, 2.0, 3.0])
    y = dl.tensor(np.ones(3), requires_grad=True)
    cot = dl.tensor(np.array([4.0, 5.0, 6.0]))
    (y * 1.0).backward(cot)
    y.grad += 1
    np.testing.assert_array_equal(cot.data, [4.0, 5.0, 6.0])


def test_views_and_read_only_gradients_are_copied():
    x = Parameter(np.ones((2, 3)))
    x.reshape(6).sum().backward()  # reshape's gradient is a view; sum's is broadcast
    assert x.grad.flags.writeable and x.grad.base is None
    x.grad += 1
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 2.0))


def test_other_dtype_is_converted_and_accumulation_adds_in_place():
    w = Parameter(np.ones(3, np.float32))
    (w * np.ones(3, np.float64)).sum().backward()
    assert w.grad.dtype == np.float32
    first = w.grad
    (w * 2.0).sum().backward()
    assert w.grad is first
    np.testing.assert_array_equal(w.grad, [3.0, 3.0, 3.0])


def test_a_graph_can_be_backpropagated_twice():
    rng = np.random.default_rng(0)
    w = Parameter(rng.standard_normal((3, 4)))
    z = dl.tensor(rng.standard_normal((5, 4)))
    loss = ops.softmax_cross_entropy(ops.linear(z, w), np.array([0, 1, 2, 0, 1]))
    loss.backward()
    once = w.grad.copy()
    loss.backward()
    np.testing.assert_allclose(w.grad, 2 * once, rtol=1e-15)


def test_an_array_and_its_transpose_sent_to_two_leaves_are_not_shared():
    # add hands one array to both parents; the transpose's view of it goes on to b: one of
    # the two leaves keeps it, the other gets a copy, in either order of the operands
    weights = np.arange(12.0).reshape(3, 4)
    for b_first in (False, True):
        a, b = Parameter(np.ones((3, 4))), Parameter(np.ones((4, 3)))
        total = b.T + a if b_first else a + b.T
        (total * weights).sum().backward()
        assert not np.shares_memory(a.grad, b.grad)
        a.grad += 100
        np.testing.assert_array_equal(b.grad, weights.T)
        np.testing.assert_array_equal(a.grad, weights + 100)
