"""The fused ReLU + dropout node against its unfused twin and against torch.

``ops.relu_dropout`` (and ``F.relu_dropout``, and the ReLU -> Dropout pairs that
``nn.Sequential`` and ``nn.MLP`` fuse in training) must give the values and
gradients of ``dropout(relu(x))`` to the bit, NaN and infinities included, and
draw the same masks from the same generators.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import descentlab as dl
from descentlab import nn
from descentlab.autograd import ops
from descentlab.nn import functional as F

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
def test_matches_the_unfused_chain_to_the_bit_and_torch(rows, cols, p, dtype, per_feature, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((rows, cols)).astype(dtype)
    x[rng.random(x.shape) < 0.2] = 0  # exact zeros: relu blocks them
    mask = rng.random((cols,) if per_feature else (rows, cols)) >= p
    cot = rng.standard_normal((rows, cols)).astype(dtype)
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


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_nan_and_infinities_follow_the_unfused_chain(dtype):
    x = np.array([[np.nan, np.inf, -np.inf, 0.0, -1.0, 2.0]] * 2, dtype)
    mask = np.array([[True] * 6, [False] * 6])
    for cot in (
        np.ones(x.shape, dtype),
        np.array([[np.inf, -np.inf, np.nan, np.inf, np.inf, 1.0]] * 2, dtype),
        np.full(x.shape, np.finfo(dtype).max, dtype),  # g / (1 - p) overflows
    ):
        with np.errstate(invalid="ignore", over="ignore"):
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


def test_second_derivatives_match_the_unfused_chain():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 5))
    mask = rng.random((4, 5)) > 0.4

    def loss(fn):
        return lambda a: (fn(a) ** 3).sum()

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


@pytest.mark.parametrize("per_epoch", [False, True])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_mlp_fuses_relu_and_dropout_without_changing_anything(per_epoch, dtype):
    fused_model, plain_model = _twin_models(per_epoch)
    rng = np.random.default_rng(2)
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
