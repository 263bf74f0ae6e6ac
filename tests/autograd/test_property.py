"""Property tests: random expression graphs (depth 3-8) from every public op, values and
gradients compared with PyTorch in float64 and float32, and with finite differences.

Each graph mixes elementwise ops, broadcasting across mismatched shapes, reductions
with negative/tuple axes and keepdims, batched matmul, reshape/transpose with negative
axes, basic and fancy indexing with repeated indices, the softmax family, pow with
negative bases, where/maximum/minimum/clip with ties, abs at 0 and sqrt, called as
Tensor methods, operators and NumPy functions alike (see ``graphs.py``).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import descentlab as dl

from .graphs import build, record, relative_error

PROFILE = settings(
    settings.get_profile("descentlab-" + os.environ.get("DESCENTLAB_HYPOTHESIS_PROFILE", "fast"))
)
#: tolerances: relative, where an entry far below the magnitudes in its graph (FLOOR times
#: the largest finite value, gradient or cotangent) is measured against FLOOR times that
RTOL = {np.float64: 1e-10, np.float32: 5e-3}
FLOOR = {np.float64: 1e-5, np.float32: 1e-2}


def _magnitude(a):
    finite = np.abs(a[np.isfinite(a)])
    return float(finite.max(initial=0))


def _compare_graph(data, dtype, depth, stats):
    b = build(data, dtype, depth)
    out, ref = b.ours[-1], b.theirs[-1]
    cot = b.rng.standard_normal(out.shape).astype(dtype)
    with np.errstate(all="ignore"):
        out.backward(cot)
        ref.backward(torch.from_numpy(cot))
    pairs = [("value", out.data, ref.detach().numpy())]
    for k, (ours, theirs) in enumerate(zip(b.ours, b.theirs)):
        if not ours.requires_grad or not ours.is_leaf:
            continue
        g_ours = ours.grad if ours.grad is not None else np.zeros(ours.shape, dtype)
        g_theirs = theirs.grad.numpy() if theirs.grad is not None else np.zeros(ours.shape)
        assert g_ours.dtype == dtype
        pairs.append((f"gradient of leaf {k}", g_ours, g_theirs))
    scale = max([np.abs(cot).max(initial=0)] + [_magnitude(t) for _, _, t in pairs])
    try:
        errors = [
            relative_error(a, t, FLOOR[dtype] * max(_magnitude(t), scale)) for _, a, t in pairs
        ]
    except AssertionError as err:
        raise AssertionError(f"NaN or inf differ on the graph {b.program.describe()}") from err
    worst = max(errors)
    label, a, t = pairs[int(np.argmax(errors))]
    steps = b.program.describe()
    assert worst <= RTOL[dtype], (
        f"relative error {worst:.3g} in the {label} on the graph {steps}:\n{a}\nvs torch\n{t}"
    )
    record(stats, np.dtype(dtype).name, worst)


@PROFILE
@given(data=st.data(), depth=st.integers(3, 8))
def test_random_graphs_match_torch_in_float64(data, depth, graph_stats):
    _compare_graph(data, np.float64, depth, graph_stats)


@PROFILE
@given(data=st.data(), depth=st.integers(3, 8))
def test_random_graphs_match_torch_in_float32(data, depth, graph_stats):
    _compare_graph(data, np.float32, depth, graph_stats)


@PROFILE
@given(data=st.data(), depth=st.integers(3, 8))
def test_random_smooth_graphs_match_finite_differences(data, depth, graph_stats):
    """An oracle independent of torch: central differences on graphs of smooth ops."""
    b = build(data, np.float64, depth, n_inputs=1, new_leaves_are_inputs=False, smooth=True)
    program = b.program
    weights = b.rng.standard_normal(b.ours[-1].shape)

    def f(x):
        return (program.run("ours", [x])[-1] * weights).sum()

    x0 = program.leaves[0][0]
    with np.errstate(all="ignore"):
        result = dl.gradcheck(f, x0, h=1e-6, atol=1e-6, rtol=1e-5, directions=2)
    assert result.passed, f"{result} on {program.describe()}"
    record(graph_stats, "float64 vs finite differences (absolute error)", result.max_abs_error)
