"""Property tests: random stacks of nn layers against torch.nn with copied weights.

Hypothesis draws a Sequential of Linear (with and without bias), ReLU, LeakyReLU,
Sigmoid, Tanh, Identity, Softmax, Flatten and Dropout (in eval mode), or an MLP,
in float64 or float32, and an input batch; the outputs and the gradients of the
input and of every parameter (for a random cotangent) must equal PyTorch's.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import descentlab as dl
from descentlab import nn

# the budgets of tests/autograd/conftest.py: fast (default, derandomized), slow, debug
_CHECKS = [HealthCheck.too_slow, HealthCheck.data_too_large]
_BUDGETS = {
    "fast": settings(
        max_examples=150, deadline=None, suppress_health_check=_CHECKS, derandomize=True
    ),
    "slow": settings(max_examples=3000, deadline=None, suppress_health_check=_CHECKS),
    "debug": settings(
        max_examples=300,
        deadline=None,
        suppress_health_check=_CHECKS,
        phases=[Phase.explicit, Phase.reuse, Phase.generate],
    ),
}
PROFILE = _BUDGETS[os.environ.get("DESCENTLAB_HYPOTHESIS_PROFILE", "fast")]
RTOL = {np.float64: 1e-10, np.float32: 1e-4}
FLOOR = {np.float64: 1e-7, np.float32: 1e-3}


def _twin_layer(draw, width: int, dtype, first: bool):
    """One layer drawn with its torch twin and its output width."""
    kind = draw(
        st.sampled_from(
            [
                "linear",
                "linear",
                "relu",
                "leaky_relu",
                "sigmoid",
                "tanh",
                "identity",
                "softmax",
                "dropout",
                "flatten" if first else "linear",
            ]
        )
    )
    if kind == "linear":
        out = draw(st.integers(1, 6))
        bias = draw(st.booleans())
        ours = nn.Linear(width, out, bias=bias, dtype=dtype, seed=draw(st.integers(0, 1000)))
        theirs = torch.nn.Linear(width, out, bias=bias, dtype=torch.float64)
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(ours.weight.data.astype(np.float64)))
            if bias:
                theirs.bias.copy_(torch.from_numpy(ours.bias.data.astype(np.float64)))
        return ours, theirs.to(torch.float32 if dtype == np.float32 else torch.float64), out
    if kind == "leaky_relu":
        slope = draw(st.sampled_from([0.01, 0.2, 1.5]))
        return nn.LeakyReLU(slope), torch.nn.LeakyReLU(slope), width
    if kind == "softmax":
        dim = draw(st.sampled_from([-1, 1]))
        return nn.Softmax(dim), torch.nn.Softmax(dim), width
    if kind == "dropout":
        p = draw(st.sampled_from([0.0, 0.3, 0.9]))
        return nn.Dropout(p, seed=0), torch.nn.Dropout(p), width
    if kind == "flatten":
        return nn.Flatten(), torch.nn.Flatten(), width
    simple = {
        "relu": (nn.ReLU, torch.nn.ReLU),
        "sigmoid": (nn.Sigmoid, torch.nn.Sigmoid),
        "tanh": (nn.Tanh, torch.nn.Tanh),
        "identity": (nn.Identity, torch.nn.Identity),
    }
    ours_cls, theirs_cls = simple[kind]
    return ours_cls(), theirs_cls(), width


@st.composite
def models(draw):
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    torch_dtype = torch.float64 if dtype == np.float64 else torch.float32
    if draw(st.booleans()):  # an MLP
        sizes = draw(st.lists(st.integers(1, 6), min_size=2, max_size=5))
        activation = draw(st.sampled_from(["relu", "leaky_relu", "sigmoid", "tanh", "identity"]))
        dropout = draw(st.sampled_from([0.0, 0.5]))
        ours = nn.MLP(sizes, activation=activation, dropout=dropout, dtype=dtype)
        acts = {
            "relu": torch.nn.ReLU,
            "leaky_relu": torch.nn.LeakyReLU,
            "sigmoid": torch.nn.Sigmoid,
            "tanh": torch.nn.Tanh,
            "identity": torch.nn.Identity,
        }
        layers = []
        for layer in ours:
            if isinstance(layer, nn.Linear):
                t = torch.nn.Linear(layer.in_features, layer.out_features, dtype=torch_dtype)
                with torch.no_grad():
                    t.weight.copy_(torch.from_numpy(layer.weight.data))
                    t.bias.copy_(torch.from_numpy(layer.bias.data))
                layers.append(t)
            elif isinstance(layer, nn.Dropout):
                layers.append(torch.nn.Dropout(layer.p))
            else:
                layers.append(acts[activation]())
        width, theirs_layers, ours_layers = sizes[0], layers, None
    else:
        width = draw(st.integers(1, 6))
        ours_layers, theirs_layers = [], []
        w = width
        for k in range(draw(st.integers(1, 6))):
            o, t, w = _twin_layer(draw, w, dtype, first=k == 0)
            ours_layers.append(o)
            theirs_layers.append(t)
        ours = nn.Sequential(*ours_layers)
    theirs = torch.nn.Sequential(*theirs_layers)
    ours.eval()
    theirs.eval()
    batch = draw(st.integers(1, 5))
    flatten_first = ours_layers is not None and isinstance(ours_layers[0], nn.Flatten)
    shape = (batch, 1, width) if flatten_first else (batch, width)
    seed = draw(st.integers(0, 2**32 - 1))
    x = np.random.default_rng(seed).standard_normal(shape).astype(dtype)
    return ours, theirs, x, dtype


def _relative_error(a, b, floor):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.shape == b.shape
    scale = max(np.abs(b).max(initial=0.0), 1.0)
    return float((np.abs(a - b) / np.maximum(np.abs(b), floor * scale)).max(initial=0.0))


STATS = {"models": 0, "worst_relative_error": 0.0}


@PROFILE
@given(models())
def test_layers_match_torch_nn_with_copied_weights(model):
    ours, theirs, x, dtype = model
    xt = dl.tensor(x, requires_grad=True)
    tt = torch.tensor(x, requires_grad=True)
    out = ours(xt)
    ref = theirs(tt)
    assert out.shape == tuple(ref.shape) and out.dtype == dtype
    cot = np.random.default_rng(1).standard_normal(out.shape).astype(dtype)
    out.backward(cot)
    ref.backward(torch.from_numpy(cot))
    pairs = [(out.data, ref.detach().numpy()), (xt.grad, tt.grad.numpy())]
    ours_params = list(ours.parameters())
    theirs_params = list(theirs.parameters())
    assert len(ours_params) == len(theirs_params)
    for p, t in zip(ours_params, theirs_params):
        assert p.grad is not None and p.grad.dtype == dtype
        pairs.append((p.grad, t.grad.numpy()))
    worst = max(_relative_error(a, b, FLOOR[dtype]) for a, b in pairs)
    assert worst <= RTOL[dtype], f"relative error {worst:.3g} for {ours}"
    STATS["models"] += 1
    STATS["worst_relative_error"] = max(STATS["worst_relative_error"], worst)


@PROFILE
@given(st.integers(1, 4), st.integers(1, 5), st.sampled_from([0.1, 0.5]))
def test_dropout_in_eval_mode_is_the_identity_with_its_gradient(batch, width, p):
    layer = nn.Dropout(p, seed=0).eval()
    x = dl.tensor(np.random.default_rng(batch).standard_normal((batch, width)), requires_grad=True)
    y = layer(x)
    np.testing.assert_array_equal(y.data, x.data)
    y.backward(np.full((batch, width), 3.0))
    np.testing.assert_array_equal(x.grad, np.full((batch, width), 3.0))
