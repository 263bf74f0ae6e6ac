"""The fused ReLU + dropout node against its unfused twin and against torch.

``ops.relu_dropout`` (and ``F.relu_dropout``, and the ReLU -> Dropout pairs that
``nn.Sequential`` and ``nn.MLP`` fuse in training) must give the values and
gradients of ``dropout(relu(x))`` to the bit, NaN and infinities included, and
draw the same masks from the same generators: in NumPy, and as the compiled loops
that run a large node when Numba is installed (``PATHS``: the fast path's "never"
and "always").
"""

from __future__ import annotations

import contextlib
import subprocess
import sys

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import descentlab as dl
from descentlab import nn
from descentlab.autograd import ops
from descentlab.nn import functional as F
from descentlab.optim import fused

PATHS = ["never", "always"]


@contextlib.contextmanager
def fast_path(mode: str):
    before = fused.get_fast_path()
    fused.set_fast_path(mode)
    try:
        yield
    finally:
        fused.set_fast_path(before)


SETTINGS = settings(
    max_examples=60, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)


def _unfused(x: np.ndarray, mask: np.ndarray, p: float, cot: np.ndarray):
    a = dl.tensor(x, requires_grad=True)
    out = F.dropout(F.relu(a), p, mask=mask)
    out.backward(cot)
    return out.data, a.grad


def _fused(x: np.ndarray, mask: np.ndarray, p: float, cot: np.ndarray):
    a = dl.tensor(x, requires_grad=True)
    out = F.relu_dropout(a, p, mask=mask)
    out.backward(cot)
    return out.data, a.grad


def _same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype and a.shape == b.shape
    np.testing.assert_array_equal(a.view(np.uint8), b.view(np.uint8))


@SETTINGS
@given(
    rows=st.integers(1, 9),
    cols=st.integers(1, 9),
    p=st.sampled_from([0.0, 0.1, 0.5, 0.9, 0.999]),
    dtype=st.sampled_from([np.float32, np.float64]),
    per_feature=st.booleans(),
    seed=st.integers(0, 2**16),
)
@pytest.mark.parametrize("path", PATHS)
def test_matches_the_unfused_chain_to_the_bit_and_torch(
    path, rows, cols, p, dtype, per_feature, seed
):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols)).astype(dtype)
    x[rng.random(x.shape) < 0.2] = 0  # exact zeros: relu blocks them
    mask = rng.random((cols,) if per_feature else (rows, cols)) >= p
    cot = rng.standard_normal((rows, cols)).astype(dtype)
    with fast_path(path):
        fused, unfused = _fused(x, mask, p, cot), _unfused(x, mask, p, cot)
    for a, b in zip(fused, unfused):
        _same_bits(a, b)
    xt = torch.tensor(x, requires_grad=True)
    keep = torch.tensor(np.broadcast_to(mask, x.shape).astype(dtype))
    ref = torch.relu(xt) * keep / (1 - p)
    ref.backward(torch.tensor(cot))
    tol = 1e-6 if dtype == np.float32 else 1e-14
    np.testing.assert_allclose(fused[0], ref.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(fused[1], xt.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_infinities_follow_the_unfused_chain(path, dtype):
    x = np.array([[np.nan, np.inf, -np.inf, 0.0, -0.0, -1.0, 2.0]] * 2, dtype)
    mask = np.array([[True] * 7, [False] * 7])
    for cot in (
        np.ones(x.shape, dtype),
        -np.ones(x.shape, dtype),  # the signs of the blocked zeros
        np.array([[np.inf, -np.inf, np.nan, np.inf, np.inf, np.inf, 1.0]] * 2, dtype),
        np.full(x.shape, np.finfo(dtype).max, dtype),  # g / (1 - p) overflows
    ):
        with np.errstate(invalid="ignore", over="ignore"), fast_path(path):
            fused, unfused = _fused(x, mask, 0.5, cot), _unfused(x, mask, 0.5, cot)
        for a, b in zip(fused, unfused):
            _same_bits(a, b)


def test_eval_mode_and_p_zero_are_relu():
    x = np.array([[-1.0, 0.5, 2.0]])
    for out in (F.relu_dropout(x, 0.5, training=False), F.relu_dropout(x, 0.0)):
        np.testing.assert_array_equal(out.data, [[0.0, 0.5, 2.0]])


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_p_outside_range_is_an_error_as_for_dropout(p):
    with pytest.raises(ValueError, match="dropout probability"):
        F.relu_dropout(np.ones(3), p)
    with pytest.raises(ValueError, match="dropout probability"):
        F.dropout(np.ones(3), p)


def test_without_a_mask_the_generator_draws_what_dropout_draws():
    x = np.random.default_rng(0).standard_normal((7, 11))
    fused = F.relu_dropout(x, 0.3, rng=np.random.default_rng(5))
    unfused = F.dropout(F.relu(x), 0.3, rng=np.random.default_rng(5))
    _same_bits(fused.data, unfused.data)


@pytest.mark.parametrize("path", PATHS)
def test_second_derivatives_match_the_unfused_chain(path):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5))
    mask = rng.random((4, 5)) > 0.4

    def loss(fn):
        return lambda a: (fn(a) ** 3).sum()

    with fast_path(path):
        fused = dl.hessian(loss(lambda a: F.relu_dropout(a, 0.4, mask=mask)), x)
        unfused = dl.hessian(loss(lambda a: F.dropout(F.relu(a), 0.4, mask=mask)), x)
    np.testing.assert_array_equal(np.asarray(fused), np.asarray(unfused))


def _twin_models(per_epoch: bool, seed: int = 0):
    models = []
    for _ in range(2):
        nn.manual_seed(seed)
        models.append(nn.MLP([6, 9, 7, 3], dropout=0.3, per_epoch_dropout=per_epoch))
    return models


def _unfused_forward(model: nn.Module, x):
    for layer in model:
        x = layer(x)  # each layer on its own: no fusion
    return x


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("per_epoch", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_fuses_relu_and_dropout_without_changing_anything(path, per_epoch, dtype):
    fused_model, plain_model = _twin_models(per_epoch)
    rng = np.random.default_rng(2)
    with fast_path(path):
        _train_twins(fused_model, plain_model, rng, dtype)


def _train_twins(fused_model, plain_model, rng, dtype):
    for step in range(3):
        x = rng.standard_normal((5, 6)).astype(dtype)
        y = rng.integers(0, 3, 5)
        outs, grads = [], []
        for model, forward in ((fused_model, fused_model), (plain_model, None)):
            model.zero_grad()
            out = forward(x) if forward else _unfused_forward(model, x)
            F.cross_entropy(out, y).backward()
            outs.append(out.data)
            grads.append([p.grad for p in model.parameters()])
        np.testing.assert_array_equal(outs[0], outs[1])
        for a, b in zip(*grads):
            np.testing.assert_array_equal(a, b)
        for i in (2, 5):
            np.testing.assert_array_equal(fused_model[i].last_mask, plain_model[i].last_mask)
            assert fused_model[i].rng.bit_generator.state == plain_model[i].rng.bit_generator.state
        if step == 1:
            fused_model.new_epoch()
            plain_model.new_epoch()


def test_fusion_is_only_for_the_built_in_layers_in_training():
    calls = []

    class LoudDropout(nn.Dropout):
        def forward(self, x):
            calls.append(1)
            return super().forward(x)

    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), LoudDropout(0.5, seed=0))
    model(np.ones((2, 3), np.float32))
    assert calls == [1]
    plain = nn.Sequential(nn.ReLU(), nn.Dropout(0.5, seed=0)).eval()
    np.testing.assert_array_equal(plain(np.array([[-1.0, 2.0]])).data, [[0.0, 2.0]])


def test_fused_node_is_one_node():
    a = dl.tensor(np.ones((2, 3)), requires_grad=True)
    out = ops.relu_dropout(a, np.ones((2, 3), bool), 2.0)
    assert out._parents == (a,)


def _quiet_nans(dtype):
    """NaNs with payloads of their own (signalling ones come out quieted either way)."""
    if dtype == np.float32:
        return np.array([0x7FC00001, 0xFFC00123], np.uint32).view(dtype)
    return np.array([0x7FF8000000000001, 0xFFF8000000000123], np.uint64).view(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_layer_sized_node_gives_numpys_bits_on_the_compiled_path(dtype):
    """A hidden layer's node (128 x 256), which "auto" compiles: the same bits as NumPy,
    forward and backward, with signed zeros, NaN payloads and gradients that are
    finite, infinite somewhere (relu's routing by where) or NaN somewhere."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((128, 256)).astype(dtype)
    x[rng.random(x.shape) < 0.1] = 0.0
    x[rng.random(x.shape) < 0.05] = -0.0
    x[0, :5] = [np.nan, np.inf, -np.inf, -0.0, 0.0]
    x[1, :2] = _quiet_nans(dtype)
    keep = rng.random(x.shape) >= 0.2
    finite = rng.standard_normal(x.shape).astype(dtype)
    cotangents = [
        finite,
        np.where(rng.random(x.shape) < 0.01, np.inf, finite).astype(dtype),
        np.where(rng.random(x.shape) < 0.01, np.nan, -finite).astype(dtype),
    ]
    results = {}
    for path in ("never", "auto"):
        with fast_path(path), np.errstate(invalid="ignore", over="ignore"):
            for cot in cotangents:
                a = dl.tensor(x, requires_grad=True)
                out = ops.relu_dropout(a, keep, 1 / 0.8)
                out.backward(cot)
                results.setdefault(path, []).append((out.data, a.grad))
    for (out, grad), (out_c, grad_c) in zip(results["never"], results["auto"]):
        _same_bits(out, out_c)
        _same_bits(grad, grad_c)


def test_auto_compiles_a_large_node_only(monkeypatch):
    kernels = pytest.importorskip("descentlab.autograd._kernels")
    calls = []
    forward = kernels.relu_dropout_forward
    monkeypatch.setattr(
        kernels, "relu_dropout_forward", lambda *a: calls.append(a[0].size) or forward(*a)
    )
    with fast_path("auto"):
        for shape in ((64, 32), (128, 256)):
            F.relu_dropout(np.ones(shape, np.float32), 0.5, rng=np.random.default_rng(0))
        # a per-feature mask (broadcast) and a float64 node that is not contiguous: NumPy
        F.relu_dropout(np.ones((128, 256), np.float32), 0.5, mask=np.ones(256, bool))
        F.relu_dropout(np.ones((256, 128)).T, 0.5, rng=np.random.default_rng(0))
    with fast_path("always"):
        F.relu_dropout(np.ones((2, 3)), 0.5, rng=np.random.default_rng(0))
    with fast_path("never"):
        F.relu_dropout(np.ones((128, 256)), 0.5, rng=np.random.default_rng(0))
    assert calls == [128 * 256, 6]


def test_a_small_network_does_not_import_numba():
    """The compiled loops load with the first large node, not with the package: a toy
    network's training step in a fresh interpreter leaves Numba unimported."""
    code = (
        "import sys, numpy as np\n"
        "from descentlab import nn\n"
        "m = nn.MLP([2, 16, 3], dropout=0.5)\n"
        "loss = nn.functional.cross_entropy(m(np.ones((8, 2), np.float32)), np.zeros(8, int))\n"
        "loss.backward()\n"
        "print('numba' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
