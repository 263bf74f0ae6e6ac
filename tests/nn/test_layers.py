"""Layers, the MLP and dropout against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import descentlab as dl
from descentlab import nn
from descentlab.nn import functional as F

RNG = np.random.default_rng(0)


def test_linear_shapes_init_and_dtype():
    nn.manual_seed(0)
    layer = nn.Linear(20, 5)
    assert layer.weight.shape == (5, 20) and layer.bias.shape == (5,)
    assert layer.weight.dtype == np.float32
    bound = 1 / np.sqrt(20)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    # U(-b, b) has std b / sqrt(3)
    big = nn.Linear(400, 300)
    assert big.weight.data.std() == pytest.approx(1 / np.sqrt(400) / np.sqrt(3), rel=0.02)
    assert nn.Linear(3, 2, bias=False).bias is None


def test_linear_shape_mismatch_names_both_shapes():
    layer = nn.Linear(4, 2)
    with pytest.raises(ValueError, match=r"4 features.*\(3, 5\).*\(2, 4\)"):
        layer(np.ones((3, 5), np.float32))
    with pytest.raises(ValueError, match="positive integer"):
        nn.Linear(0, 3)


def _to_torch_mlp(model: nn.MLP) -> torch.nn.Sequential:
    layers = []
    for m in model:
        if isinstance(m, nn.Linear):
            t = torch.nn.Linear(m.in_features, m.out_features).double()
            with torch.no_grad():
                t.weight.copy_(torch.tensor(m.weight.data))
                t.bias.copy_(torch.tensor(m.bias.data))
            layers.append(t)
        elif isinstance(m, nn.ReLU):
            layers.append(torch.nn.ReLU())
        elif isinstance(m, nn.Tanh):
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_mlp_cross_entropy_l1_l2_loss_and_gradients_equal_torch(activation):
    nn.manual_seed(1)
    model = nn.MLP([6, 16, 12, 4], activation=activation, dtype=np.float64)
    ref = _to_torch_mlp(model)
    x, y = RNG.standard_normal((32, 6)), RNG.integers(0, 4, 32)
    l1, l2 = 1e-3, 5e-3
    loss = F.cross_entropy(model(x), y) + nn.L1(l1)(model) + nn.L2(l2)(model)
    loss.backward()
    weights = [p for name, p in ref.named_parameters() if name.endswith("weight")]
    ref_loss = (
        torch.nn.functional.cross_entropy(ref(torch.tensor(x)), torch.tensor(y))
        + l1 * sum(w.abs().sum() for w in weights)
        + l2 * sum((w * w).sum() for w in weights)
    )
    ref_loss.backward()
    assert loss.item() == pytest.approx(ref_loss.item(), rel=1e-12)
    ours = dict(model.named_parameters())
    for name, p in ref.named_parameters():
        np.testing.assert_allclose(ours[name].grad, p.grad.numpy(), rtol=1e-10, atol=1e-14)


def test_regularizers_skip_biases_unless_asked_and_validate_lambda():
    model = nn.Linear(3, 2, dtype=np.float64)
    w, b = model.weight.data, model.bias.data
    assert nn.L2(0.5)(model).item() == pytest.approx(0.5 * np.sum(w**2))
    assert nn.L1(0.5, include_bias=True)(model).item() == pytest.approx(
        0.5 * (np.abs(w).sum() + np.abs(b).sum())
    )
    assert nn.ElasticNet(0.1, 0.2)(model.parameters()).item() == pytest.approx(
        0.1 * np.abs(w).sum() + 0.2 * np.sum(w**2)
    )
    with pytest.raises(ValueError, match="L2 lambda must be a finite number >= 0, got -1"):
        nn.L2(-1)


def test_l2_with_lambda_half_w_equals_torch_weight_decay_w():
    """PyTorch's weight_decay=w adds w*theta to the gradient: an L2 penalty of w/2."""
    w = 0.1
    model = nn.Linear(3, 1, bias=False, dtype=np.float64)
    nn.L2(w / 2)(model).backward()
    np.testing.assert_allclose(model.weight.grad, w * model.weight.data)


def test_dropout_keeps_fraction_scales_and_is_identity_in_eval():
    drop = nn.Dropout(0.3, seed=0)
    x = np.ones((200, 500), np.float32)
    y = drop(x).data
    kept = y != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.01)
    np.testing.assert_allclose(y[kept], 1 / 0.7, rtol=1e-6)
    assert y.mean() == pytest.approx(1.0, abs=0.01)
    drop.eval()
    np.testing.assert_array_equal(drop(x).data, x)


def test_dropout_gradient_with_the_same_mask_equals_torch():
    p = 0.4
    drop = nn.Dropout(p, seed=3)
    x = RNG.standard_normal((8, 5))
    xt = dl.tensor(x, requires_grad=True)
    out = drop(xt)
    cot = RNG.standard_normal((8, 5))
    out.backward(cot)
    mask = torch.tensor(drop.last_mask, dtype=torch.float64)
    ref_x = torch.tensor(x, requires_grad=True)
    ref = ref_x * mask / (1 - p)  # what torch's dropout computes for this mask
    ref.backward(torch.tensor(cot))
    np.testing.assert_allclose(out.data, ref.detach().numpy(), rtol=1e-14)
    np.testing.assert_allclose(xt.grad, ref_x.grad.numpy(), rtol=1e-14)
    # torch's own dropout keeps exactly the entries it scales by 1/(1-p)
    torch.manual_seed(0)
    t = torch.nn.functional.dropout(torch.ones(1000, dtype=torch.float64), p)
    assert set(np.unique(t.numpy())) <= {0.0, 1 / (1 - p)}


def test_dropout_per_epoch_mask_is_shared_and_redrawn_each_epoch():
    drop = nn.Dropout(0.5, per_epoch=True, seed=0)
    x = np.ones((4, 50), np.float32)
    a, b = drop(x).data, drop(x).data
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[0], a[3])  # one mask over units, every sample
    drop.new_epoch()
    assert not np.array_equal(drop(x).data, a)


@pytest.mark.parametrize("p", [-0.1, 1.0, 1.5, "0.5"])
def test_dropout_p_outside_range_is_an_error(p):
    with pytest.raises(ValueError, match=r"p must be in \[0, 1\)"):
        nn.Dropout(p)


def test_activations_and_containers():
    x = np.array([[-2.0, 0.5]])
    np.testing.assert_allclose(nn.LeakyReLU(0.1)(x).data, [[-0.2, 0.5]])
    np.testing.assert_allclose(nn.Sigmoid()(x).data, 1 / (1 + np.exp(-x)))
    np.testing.assert_allclose(nn.Softmax()(x).data.sum(), 1.0)
    np.testing.assert_array_equal(nn.Identity()(x).data, x)
    assert nn.Flatten()(np.ones((2, 3, 4))).shape == (2, 12)
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert len(seq) == 3 and isinstance(seq[1], nn.ReLU)
    assert seq(np.ones((5, 2), np.float32)).shape == (5, 1)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        nn.MLP([2, 3, 1], activation="swish")


def test_mlp_layout_and_train_eval_modes():
    model = nn.MLP([784, 256, 128, 10], dropout=0.2)
    kinds = [type(m).__name__ for m in model]
    assert kinds == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert model.num_parameters() == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10
    model.eval()
    assert all(not m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_linear_keeps_w_in_fortran_order_and_its_gradient_in_the_same_layout():
    # x W^T and x^T g are the products OpenBLAS runs fastest for an MLP (RESULTS.md): W has
    # PyTorch's shape, its transpose is contiguous, and dL/dW arrives in that layout, kept
    # as the leaf's gradient without a copy
    layer = nn.Linear(30, 20, dtype=np.float64, seed=0)
    w = layer.weight
    assert w.shape == (20, 30) and w.data.flags.f_contiguous and not w.data.flags.c_contiguous
    x = RNG.standard_normal((8, 30))
    g = RNG.standard_normal((8, 20))
    (layer(x) * g).sum().backward()
    assert w.grad.shape == (20, 30) and w.grad.flags.f_contiguous
    np.testing.assert_allclose(w.grad, g.T @ x, rtol=1e-13)
    owner = w.grad.base
    assert owner is not None and not np.shares_memory(w.grad, w.data)
    (layer(x) * g).sum().backward()  # accumulates in place
    assert w.grad.base is owner
    np.testing.assert_allclose(w.grad, 2 * g.T @ x, rtol=1e-13)
    # a C-ordered W (assigned by a user) gets its gradient in C order
    w.data = np.ascontiguousarray(w.data)
    w.grad = None
    (layer(x) * g).sum().backward()
    assert w.grad.flags.c_contiguous
    np.testing.assert_allclose(w.grad, g.T @ x, rtol=1e-13)


@pytest.mark.parametrize("fast", ["always", "never"])
@pytest.mark.parametrize(
    "make",
    [
        ("Adam", {"lr": 1e-2}),
        ("AdamW", {"lr": 1e-2, "weight_decay": 0.1}),
        ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
        ("RMSprop", {"lr": 1e-2, "centered": True}),
    ],
    ids=lambda m: m[0],
)
def test_the_readme_loop_trains_an_mlp_as_torch_does(make, fast):
    """The hand loop (model, optimizer, backward, step) beside torch's, in float64: the
    weights, kept in Fortran order, are updated in place by the compiled loops and by
    NumPy's alike and stay torch's."""
    from descentlab import optim
    from descentlab.optim import fused

    name, opts = make
    old = fused.get_fast_path()
    fused.set_fast_path(fast)
    try:
        nn.manual_seed(0)
        model = nn.MLP([40, 300, 64, 10], dtype=np.float64)
        ref = _to_torch_mlp(model).double()
        start = [p.data.copy() for p in model.parameters()]
        opt = getattr(optim, name)(model.parameters(), **opts)
        ref_opt = getattr(torch.optim, name)(ref.parameters(), **opts)
        rng = np.random.default_rng(5)
        for _ in range(6):
            x = rng.standard_normal((32, 40))
            y = rng.integers(0, 10, 32)
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            opt.step()
            ref_opt.zero_grad()
            torch.nn.functional.cross_entropy(
                ref(torch.from_numpy(x)), torch.from_numpy(y)
            ).backward()
            ref_opt.step()
    finally:
        fused.set_fast_path(old)
    ours = [p.data for p in model.parameters()]
    assert ours[0].flags.f_contiguous and not ours[0].flags.c_contiguous
    for a, b in zip(ours, ref.parameters(), strict=True):
        np.testing.assert_allclose(a, b.detach().numpy(), rtol=1e-10, atol=1e-12)
    assert all(np.abs(a - b).max() > 1e-4 for a, b in zip(ours, start))  # (it trained)
