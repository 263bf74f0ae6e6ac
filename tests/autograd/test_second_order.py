"""Second derivatives: hvp and hessian, exact, against torch.autograd.functional."""

from __future__ import annotations

import doctest
import os

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import descentlab as dl
from descentlab import autograd as ag
from descentlab.autograd import transforms

from .graphs import build, record, relative_error

PROFILE = settings(
    settings.get_profile("descentlab-" + os.environ.get("DESCENTLAB_HYPOTHESIS_PROFILE", "fast"))
)


def test_hessian_and_hvp_of_a_cubic():
    x = np.array([1.0, -2.0, 0.5])
    f = lambda x: (x**3).sum() + x[0] * x[1]
    H = np.diag(6 * x)
    H[0, 1] = H[1, 0] = 1.0
    np.testing.assert_allclose(dl.hessian(f, x), H, rtol=1e-15)
    v = np.array([0.3, -1.0, 2.0])
    np.testing.assert_allclose(dl.hvp(f, x, v), H @ v, rtol=1e-15)


def test_hessian_of_numpy_written_function_matches_torch():
    x = np.array([0.3, -1.2, 2.0])
    ours = dl.hessian(lambda x: np.sum(np.sin(x) ** 2) + np.linalg.norm(x), x)
    theirs = torch.autograd.functional.hessian(
        lambda t: (torch.sin(t) ** 2).sum() + torch.linalg.norm(t), torch.tensor(x)
    )
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-13)


def test_hessian_of_a_matrix_argument_has_shape_x_by_x():
    A = np.array([[1.0, 2.0], [0.5, -1.0]])
    H = dl.hessian(lambda W: (np.tanh(W @ np.array([1.0, -1.0])) ** 2).sum(), A)
    ref = torch.autograd.functional.hessian(
        lambda W: (torch.tanh(W @ torch.tensor([1.0, -1.0], dtype=torch.float64)) ** 2).sum(),
        torch.tensor(A),
    )
    assert H.shape == (2, 2, 2, 2)
    np.testing.assert_allclose(H, ref.numpy(), rtol=1e-13, atol=1e-15)


def test_third_derivative_by_nesting_backprop():
    x = ag.tensor(np.array([1.5, -0.5]), requires_grad=True)
    (g,) = ag.backprop((x**4).sum(), [x], create_graph=True)
    (h,) = ag.backprop(g.sum(), [x], create_graph=True)
    (t,) = ag.backprop(h.sum(), [x])
    np.testing.assert_allclose(g.data, 4 * x.data**3)
    np.testing.assert_allclose(h.data, 12 * x.data**2)
    np.testing.assert_allclose(t, 24 * x.data)
    assert x.grad is None  # backprop does not touch .grad


def test_backprop_returns_zeros_for_unused_inputs_and_does_not_record_by_default():
    x, y = ag.tensor([1.0, 2.0], requires_grad=True), ag.tensor([3.0], requires_grad=True)
    gx, gy = ag.backprop((x * x).sum(), [x, y])
    assert isinstance(gx, np.ndarray)
    np.testing.assert_array_equal(gy, [0.0])
    gx, gy = ag.backprop((x * x).sum(), [x, y], create_graph=True)
    assert isinstance(gx, ag.Tensor) and gx.requires_grad and not gy.requires_grad


def test_hvp_checks_the_direction_shape():
    with pytest.raises(ValueError, match="v has shape"):
        dl.hvp(lambda x: (x * x).sum(), np.ones(3), np.ones(2))


def test_the_lecture_example_in_the_docstring_runs():
    """x^2 with eta = 1: lambda_max = 2, so GD with eta > 2 / lambda_max = 1 diverges."""
    finder = doctest.DocTestFinder()
    runner = doctest.DocTestRunner()
    for test in finder.find(transforms.hessian, "hessian", globs={"np": np}):
        runner.run(test)
    assert runner.failures == 0 and runner.tries >= 4
    assert dl.hessian(lambda x: (x**2).sum(), np.array([1.0]))[0, 0] == 2.0


def test_hvp_and_hessian_are_exported_from_the_top_level():
    assert dl.hvp is ag.hvp and dl.hessian is ag.hessian
    assert {"hvp", "hessian"} <= set(dir(dl))


@PROFILE
@given(data=st.data(), depth=st.integers(2, 6), n=st.integers(1, 4))
def test_hessian_of_random_functions_matches_torch(data, depth, n, graph_stats):
    b = build(data, np.float64, depth, n_inputs=1, new_leaves_are_inputs=False, input_shape=(n,))
    program, x0 = b.program, b.program.leaves[0][0]
    weights = b.rng.standard_normal(b.ours[-1].shape)

    def f_ours(x):
        return (program.run("ours", [x])[-1] * weights).sum()

    def f_theirs(x):
        return (program.run("theirs", [x])[-1] * torch.from_numpy(weights)).sum()

    with np.errstate(all="ignore"):
        H = dl.hessian(f_ours, x0)
        H_ref = torch.autograd.functional.hessian(f_theirs, torch.tensor(x0)).numpy()
        v = b.rng.standard_normal(x0.shape)
        hv = dl.hvp(f_ours, x0, v)
        hv_ref = torch.autograd.functional.hvp(f_theirs, torch.tensor(x0), torch.tensor(v))[1]
    scale = max(np.abs(H_ref).max(initial=0), np.abs(hv_ref.numpy()).max(initial=0), 1.0)
    steps = program.describe()
    try:  # entries below 1e-4 of the largest are compared against that (cancelling terms)
        worst = max(
            relative_error(H, H_ref, 1e-4 * scale), relative_error(hv, hv_ref.numpy(), 1e-4 * scale)
        )
    except AssertionError as err:
        raise AssertionError(f"{steps} at x = {x0}:\n{H}\nvs torch\n{H_ref}") from err
    assert worst <= 1e-9, f"relative error {worst:.3g} on {steps}:\n{H}\nvs torch\n{H_ref}"
    record(graph_stats, "float64 hessians", worst)


def test_second_derivative_of_the_norm_at_zero_is_zero_where_torch_gives_nan():
    """The one documented difference (see ``ops.norm``): the Hessian of ||x|| at x = 0
    is unbounded; torch reports NaN, descentlab 0. Away from 0 they agree."""
    x0 = np.zeros(2)
    ref = torch.autograd.functional.hessian(torch.linalg.norm, torch.tensor(x0)).numpy()
    assert np.isnan(ref).all()
    np.testing.assert_array_equal(dl.hessian(np.linalg.norm, x0), np.zeros((2, 2)))
    assert "NaN in torch" in ag.norm.__doc__
    x1 = np.array([3.0, 4.0])
    ref = torch.autograd.functional.hessian(torch.linalg.norm, torch.tensor(x1)).numpy()
    np.testing.assert_allclose(dl.hessian(np.linalg.norm, x1), ref, rtol=1e-14)


def test_second_derivative_of_the_zeroth_power_is_zero_at_zero_like_torch():
    x0 = np.array([0.0, -0.5])
    ref = torch.autograd.functional.hessian(lambda t: (t**0 * 3.0).sum(), torch.tensor(x0))
    np.testing.assert_array_equal(dl.hessian(lambda x: (x**0 * 3.0).sum(), x0), ref.numpy())
    assert not np.isnan(ref.numpy()).any()
