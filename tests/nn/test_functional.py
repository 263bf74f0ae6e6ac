"""Losses: PyTorch parity (values and gradients, float64), stability, clear errors."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import descentlab as dl
from descentlab.autograd.transforms import hessian
from descentlab.nn import functional as F

RNG = np.random.default_rng(2)
SETTINGS = settings(max_examples=60, deadline=None, derandomize=True)
REDUCTIONS = st.sampled_from(["mean", "sum", "none"])
WORST: dict[str, float] = {}  # worst relative error seen per loss (printed with -s)


def _grad_pair(ours_fn, torch_fn, x):
    a = dl.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    la, lb = ours_fn(a), torch_fn(b)
    la.backward()
    lb.backward()
    return la.item(), lb.item(), a.grad, b.grad.numpy()


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_losses_match_torch(reduction):
    z = RNG.standard_normal((9, 4))
    y = RNG.integers(0, 4, 9)
    t = torch.tensor(y)
    cases = [
        (
            lambda a: F.cross_entropy(a, y, reduction=reduction),
            lambda b: torch.nn.functional.cross_entropy(b, t, reduction=reduction),
        ),
        (
            lambda a: F.nll_loss(F.log_softmax(a, 1), y, reduction=reduction),
            lambda b: torch.nn.functional.nll_loss(torch.log_softmax(b, 1), t, reduction=reduction),
        ),
        (
            lambda a: F.mse_loss(a, np.ones((9, 4)), reduction=reduction),
            lambda b: torch.nn.functional.mse_loss(
                b, torch.ones(9, 4, dtype=torch.float64), reduction=reduction
            ),
        ),
    ]
    target = (RNG.random((9, 4)) > 0.5).astype(np.float64)
    cases.append(
        (
            lambda a: F.binary_cross_entropy_with_logits(a, target, reduction=reduction),
            lambda b: torch.nn.functional.binary_cross_entropy_with_logits(
                b, torch.tensor(target), reduction=reduction
            ),
        )
    )
    for ours, theirs in cases:
        va, vb, ga, gb = _grad_pair(ours, theirs, z)
        assert va == pytest.approx(vb, rel=1e-12)
        np.testing.assert_allclose(ga, gb, rtol=1e-10, atol=1e-15)


def test_one_hot_targets_equal_integer_labels():
    z = RNG.standard_normal((5, 3))
    y = np.array([0, 2, 1, 1, 0])
    assert F.cross_entropy(z, np.eye(3)[y]).item() == pytest.approx(F.cross_entropy(z, y).item())


def test_losses_are_finite_for_logits_of_1e4():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5e3]], dtype=np.float32)
    for loss_fn in (
        lambda a: F.cross_entropy(a, np.array([1, 0])),
        lambda a: F.binary_cross_entropy_with_logits(a, np.ones((2, 3), np.float32)),
        lambda a: F.nll_loss(F.log_softmax(a, 1), np.array([1, 0])),
    ):
        a = dl.tensor(z, requires_grad=True)
        loss = loss_fn(a)
        loss.backward()
        assert np.isfinite(loss.item()) and np.all(np.isfinite(a.grad))
    assert F.cross_entropy(z, np.array([1, 0])).item() == pytest.approx(2e4)


def test_labels_out_of_range_name_the_label_and_range():
    z = np.zeros((3, 10))
    with pytest.raises(ValueError, match=r"label 10 is out of range for 10 classes .*\[0, 9\]"):
        F.cross_entropy(z, np.array([1, 10, 2]))
    with pytest.raises(ValueError, match=r"label -1"):
        F.nll_loss(z, np.array([1, -1, 2]))
    with pytest.raises(ValueError, match="2 labels for 3 rows"):
        F.cross_entropy(z, np.array([1, 2]))
    with pytest.raises(TypeError, match="integers"):
        F.cross_entropy(z, np.array([1.0, 2.0, 0.0]))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(z, np.array([1, 2, 0]), reduction="avg")


def test_accuracy():
    scores = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]])
    assert F.accuracy(scores, np.array([1, 0, 0])) == pytest.approx(2 / 3)
    assert F.accuracy(np.array([2.0, -1.0]), np.array([1, 0])) == 1.0


def _rel_error(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    ok = np.isfinite(b) & (b != 0)
    return float(np.max(np.abs(a[ok] - b[ok]) / np.abs(b[ok]), initial=0.0))


def _check(name, ours_fn, torch_fn, x, *, rtol=1e-12, atol=1e-15, seed=0, extra=()):
    """Value and gradient (for a random cotangent) of ours vs torch at ``x``."""
    a = dl.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    out_a, out_b = ours_fn(a), torch_fn(b)
    assert out_a.shape == tuple(out_b.shape)
    assert out_a.dtype == x.dtype
    cot = np.random.default_rng(seed).uniform(0.5, 1.5, out_a.shape).astype(x.dtype)
    (out_a * cot).sum().backward()
    (out_b * torch.tensor(cot)).sum().backward()
    va, vb = out_a.data, out_b.detach().numpy()
    ga, gb = a.grad, b.grad.numpy()
    np.testing.assert_allclose(va, vb, rtol=rtol, atol=atol, equal_nan=True)
    np.testing.assert_allclose(ga, gb, rtol=rtol, atol=atol, equal_nan=True)
    WORST[name] = max(WORST.get(name, 0.0), _rel_error(va, vb), _rel_error(ga, gb))
    return va, ga


@st.composite
def class_problems(draw, probabilities=False):
    """Scores (N, C, d...) or (C,), labels or probabilities, weight, ignore_index."""
    unbatched = draw(st.booleans()) and not probabilities
    classes = draw(st.integers(1, 5))
    spatial = draw(st.lists(st.integers(1, 3), max_size=2))
    shape = (classes,) if unbatched else (draw(st.integers(1, 6)), classes, *spatial)
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    scores = rng.normal(0, draw(st.sampled_from([0.5, 3.0, 30.0])), shape)
    label_shape = () if unbatched else (shape[0], *shape[2:])
    labels = rng.integers(0, classes, label_shape)
    ignore = None
    if not probabilities and draw(st.booleans()):
        ignore = draw(st.sampled_from([-1, -100, 0, classes - 1]))
        mask = rng.random(label_shape) < draw(st.sampled_from([0.3, 1.0]))
        labels = np.where(mask, ignore, labels)
    weight = rng.uniform(0.1, 2.0, classes) if draw(st.booleans()) else None
    if probabilities:
        target = rng.dirichlet(np.ones(classes), label_shape)
        target = np.moveaxis(target, -1, 1) if target.ndim > 2 else target
    else:
        target = labels
    return scores, target, weight, ignore


def _kwargs(weight, ignore, **more):
    ours = dict(more)
    theirs = dict(more)
    if weight is not None:
        ours["weight"], theirs["weight"] = weight, torch.tensor(weight)
    if ignore is not None:
        ours["ignore_index"] = theirs["ignore_index"] = ignore
    return ours, theirs


@SETTINGS
@given(
    problem=class_problems(), reduction=REDUCTIONS, smoothing=st.sampled_from([0.0, 0.1, 0.7, 1.0])
)
def test_cross_entropy_labels_match_torch(problem, reduction, smoothing) -> None:
    z, y, weight, ignore = problem
    ours, theirs = _kwargs(weight, ignore, reduction=reduction, label_smoothing=smoothing)
    _check(
        "cross_entropy",
        lambda a: F.cross_entropy(a, y, **ours),
        lambda b: TF.cross_entropy(b, torch.tensor(y), **theirs),
        z,
    )


@SETTINGS
@given(
    problem=class_problems(probabilities=True),
    reduction=REDUCTIONS,
    smoothing=st.sampled_from([0.0, 0.2]),
)
def test_cross_entropy_probabilities_match_torch(problem, reduction, smoothing) -> None:
    z, q, weight, _ = problem
    ours, theirs = _kwargs(weight, None, reduction=reduction, label_smoothing=smoothing)
    _check(
        "cross_entropy",
        lambda a: F.cross_entropy(a, q, **ours),
        lambda b: TF.cross_entropy(b, torch.tensor(q), **theirs),
        z,
    )


@SETTINGS
@given(problem=class_problems(), reduction=REDUCTIONS)
def test_nll_loss_matches_torch(problem, reduction) -> None:
    z, y, weight, ignore = problem
    ours, theirs = _kwargs(weight, ignore, reduction=reduction)
    _check(
        "nll_loss",
        lambda a: F.nll_loss(a, y, **ours),
        lambda b: TF.nll_loss(b, torch.tensor(y), **theirs),
        z,
    )


@SETTINGS
@given(problem=class_problems(), smoothing=st.sampled_from([0.0, 0.3]), reduction=REDUCTIONS)
def test_fused_cross_entropy_equals_the_composed_path(problem, smoothing, reduction) -> None:
    """Unit weights take the composed (log_softmax + gather) path; none, the fused node."""
    z, y, _, ignore = problem
    assume(ignore is None or not np.any(y == ignore))
    classes = z.shape[0] if z.ndim == 1 else z.shape[1]
    fused = _check(
        "cross_entropy",
        lambda a: F.cross_entropy(a, y, reduction=reduction, label_smoothing=smoothing),
        lambda b: TF.cross_entropy(
            b, torch.tensor(y), reduction=reduction, label_smoothing=smoothing
        ),
        z,
    )
    a = dl.tensor(z, requires_grad=True)
    out = F.cross_entropy(a, y, np.ones(classes), reduction=reduction, label_smoothing=smoothing)
    (out * np.random.default_rng(0).uniform(0.5, 1.5, out.shape)).sum().backward()
    np.testing.assert_allclose(out.data, fused[0], rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(a.grad, fused[1], rtol=1e-13, atol=1e-15)


def test_fused_node_serves_the_plain_call(monkeypatch) -> None:
    calls = []
    real = F.ops.softmax_cross_entropy
    monkeypatch.setattr(
        F.ops, "softmax_cross_entropy", lambda *args: calls.append(1) or real(*args)
    )
    z, y = RNG.standard_normal((8, 4, 3)), RNG.integers(0, 4, (8, 3))
    F.cross_entropy(z, y)
    F.cross_entropy(z[:, :, 0], y[:, 0], label_smoothing=0.1)
    assert len(calls) == 2
    F.cross_entropy(z, y, np.ones(4))
    F.cross_entropy(z, np.where(y == 0, -100, y))
    assert len(calls) == 2


def test_all_rows_ignored_give_nan_without_warnings() -> None:
    z = RNG.standard_normal((3, 4))
    y = np.full(3, -100)
    a = dl.tensor(z, requires_grad=True)
    loss = F.cross_entropy(a, y)
    loss.backward()
    ref = TF.cross_entropy(torch.tensor(z), torch.tensor(y))
    assert np.isnan(loss.item()) and torch.isnan(ref)
    assert F.cross_entropy(a, y, reduction="sum").item() == 0.0
    assert np.isnan(F.mse_loss(np.zeros(0), np.zeros(0)).item())


def test_float32_cross_entropy_with_weights_and_smoothing() -> None:
    z = RNG.normal(0, 4, (16, 5, 3)).astype(np.float32)
    y = RNG.integers(0, 5, (16, 3))
    y[0, 0] = 2
    w = RNG.uniform(0.5, 2, 5).astype(np.float32)
    va, ga = _check(
        "cross_entropy float32",
        lambda a: F.cross_entropy(a, y, w, ignore_index=2, label_smoothing=0.1),
        lambda b: TF.cross_entropy(
            b, torch.tensor(y), torch.tensor(w), ignore_index=2, label_smoothing=0.1
        ),
        z,
        rtol=2e-5,
        atol=1e-6,
    )
    assert va.dtype == np.float32 and ga.dtype == np.float32


@st.composite
def binary_problems(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    z = rng.normal(0, draw(st.sampled_from([1.0, 5.0, 15.0])), shape)
    if draw(st.booleans()):
        z.flat[0] = 0.0  # the kink of the old formula
    hard = draw(st.booleans())
    y = (rng.random(shape) < 0.5).astype(np.float64) if hard else rng.random(shape)
    weight = draw(st.sampled_from([None, "full", "last"]))
    pos = draw(st.sampled_from([None, "last"]))
    w = {None: None, "full": rng.uniform(0.1, 2, shape), "last": rng.uniform(0.1, 2, shape[-1:])}
    return z, y, w[weight], w[pos]


@SETTINGS
@given(problem=binary_problems(), reduction=REDUCTIONS)
def test_bce_with_logits_matches_torch(problem, reduction) -> None:
    z, y, w, pw = problem
    ours = {"reduction": reduction, "weight": w, "pos_weight": pw}
    theirs = {
        "reduction": reduction,
        "weight": None if w is None else torch.tensor(w),
        "pos_weight": None if pw is None else torch.tensor(pw),
    }
    # torch's own value loses relative precision where z << 0 and y = 0 (1 - y) z -
    # log sigmoid(z) cancels): compare with an absolute floor of a few ulps of |z|
    _check(
        "bce_with_logits",
        lambda a: F.binary_cross_entropy_with_logits(a, y, **ours),
        lambda b: TF.binary_cross_entropy_with_logits(b, torch.tensor(y), **theirs),
        z,
        atol=1e-14,
    )


def test_bce_with_logits_target_gradient_and_hessian_match_torch() -> None:
    z, y = RNG.normal(0, 3, (4, 3)), RNG.random((4, 3))
    pw = RNG.uniform(0.5, 2, 3)
    ty = torch.tensor(y, requires_grad=True)
    TF.binary_cross_entropy_with_logits(torch.tensor(z), ty, pos_weight=torch.tensor(pw)).backward()
    oy = dl.tensor(y, requires_grad=True)
    F.binary_cross_entropy_with_logits(z, oy, pos_weight=pw).backward()
    np.testing.assert_allclose(oy.grad, ty.grad.numpy(), rtol=1e-12, atol=1e-15)
    ours = hessian(lambda a: F.binary_cross_entropy_with_logits(a, y, pos_weight=pw), z)
    theirs = torch.autograd.functional.hessian(
        lambda b: TF.binary_cross_entropy_with_logits(
            b, torch.tensor(y), pos_weight=torch.tensor(pw)
        ),
        torch.tensor(z),
    )
    np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("z", [-700.0, -100.0, -35.0, -20.0, -1e-8, 0.0, 1e-8, 20.0, 35.0, 100.0])
@pytest.mark.parametrize("y", [0.0, 1.0])
def test_bce_with_logits_is_exact_for_confident_predictions(z, y) -> None:
    """Against 400-digit arithmetic: full relative precision of the loss and gradient."""
    with mpmath.workdps(400):  # enough digits for 1 - sigmoid(700)
        zz = mpmath.mpf(z)
        softplus = lambda u: mpmath.log1p(mpmath.exp(u))
        loss = float(y * softplus(-zz) + (1 - y) * softplus(zz))
        grad = float(1 / (1 + mpmath.exp(-zz)) - y)
    a = dl.tensor(np.array([z]), requires_grad=True)
    out = F.binary_cross_entropy_with_logits(a, np.array([y]))
    out.backward()
    assert out.item() == pytest.approx(loss, rel=4e-16, abs=0)
    assert a.grad[0] == pytest.approx(grad, rel=4e-16, abs=0)
    if z == 0.0 and y == 1.0:
        assert a.grad[0] == -0.5


@SETTINGS
@given(
    shape=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    seed=st.integers(0, 2**16),
    reduction=REDUCTIONS,
    weighted=st.booleans(),
    hard=st.booleans(),
)
def test_binary_cross_entropy_matches_torch(shape, seed, reduction, weighted, hard) -> None:
    rng = np.random.default_rng(seed)
    p = rng.random(shape)
    p.flat[0] = rng.choice([0.0, 1.0, p.flat[0]])  # the floors at log 0
    y = (rng.random(shape) < 0.5).astype(float) if hard else rng.random(shape)
    w = rng.uniform(0.1, 2, shape[-1:]) if weighted else None
    _check(
        "binary_cross_entropy",
        lambda a: F.binary_cross_entropy(a, y, w, reduction=reduction),
        lambda b: TF.binary_cross_entropy(
            b, torch.tensor(y), None if w is None else torch.tensor(w), reduction=reduction
        ),
        p,
        rtol=1e-12,
        atol=1e-15,
    )


REGRESSION = {
    "mse_loss": (
        lambda a, y, r, k: F.mse_loss(a, y, reduction=r),
        lambda b, y, r, k: TF.mse_loss(b, y, reduction=r),
    ),
    "l1_loss": (
        lambda a, y, r, k: F.l1_loss(a, y, reduction=r),
        lambda b, y, r, k: TF.l1_loss(b, y, reduction=r),
    ),
    "smooth_l1_loss": (
        lambda a, y, r, k: F.smooth_l1_loss(a, y, reduction=r, beta=k),
        lambda b, y, r, k: TF.smooth_l1_loss(b, y, reduction=r, beta=k),
    ),
    "huber_loss": (
        lambda a, y, r, k: F.huber_loss(a, y, reduction=r, delta=k),
        lambda b, y, r, k: TF.huber_loss(b, y, reduction=r, delta=k),
    ),
}


@SETTINGS
@given(
    name=st.sampled_from(sorted(REGRESSION)),
    shape=st.lists(st.integers(1, 5), min_size=0, max_size=3),
    seed=st.integers(0, 2**16),
    reduction=REDUCTIONS,
    k=st.sampled_from([0.0, 0.5, 1.0, 2.5]),
)
def test_regression_losses_match_torch(name, shape, seed, reduction, k) -> None:
    if name == "huber_loss" and k == 0.0:
        k = 1.0
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 2, shape)
    # ties: equal entries (d = 0) and d = +-k exactly (the joints of the pieces)
    d = np.where(rng.random(shape) < 0.3, 0.0, rng.normal(0, 2, shape))
    d = np.where(rng.random(shape) < 0.2, k * rng.choice([-1.0, 1.0], shape), d)
    y = x - d
    ours, theirs = REGRESSION[name]
    _check(
        name,
        lambda a: ours(a, y, reduction, k),
        lambda b: theirs(b, torch.tensor(y), reduction, k),
        x,
    )


def test_losses_registry_names_every_loss() -> None:
    assert {
        "cross_entropy",
        "nll",
        "mse",
        "l1",
        "smooth_l1",
        "huber",
        "bce",
        "bce_with_logits",
    } <= set(F.LOSSES)
    x, t = RNG.standard_normal(5), RNG.random(5)
    for name, fn in F.LOSSES.items():
        if name in ("cross_entropy", "nll"):
            value = fn(RNG.standard_normal((5, 3)), RNG.integers(0, 3, 5))
        else:
            value = fn(t if name == "bce" else x, t)
        assert value.shape == () and np.isfinite(value.item()), name


@pytest.mark.parametrize(
    ("call", "error", "pattern"),
    [
        (
            lambda: F.cross_entropy(np.zeros((3, 4, 2)), np.zeros((3, 2, 2), int)),
            ValueError,
            r"target of shape \(3, 2, 2\) does not fit input of shape \(3, 4, 2\).*\(3, 2\)",
        ),
        (
            lambda: F.cross_entropy(np.zeros((3, 4)), np.array([0, 4, -100])),
            ValueError,
            r"label 4 is out of range for 4 classes",
        ),
        (
            lambda: F.nll_loss(np.zeros((3, 4)), np.array([0, 1, -100]), ignore_index=1),
            ValueError,
            r"label -100 is out of range .*\[0, 3\] or ignore_index=1",
        ),
        (
            lambda: F.cross_entropy(np.zeros((3, 4)), np.array([0, 1, 2]), np.ones(3)),
            ValueError,
            r"one value per class: expected shape \(4,\), got \(3,\)",
        ),
        (
            lambda: F.cross_entropy(np.zeros((3, 4)), np.full((3, 4), 0.25), ignore_index=0),
            ValueError,
            "ignore_index needs class labels",
        ),
        (
            lambda: F.cross_entropy(np.zeros((3, 4)), np.array([0, 1, 2]), label_smoothing=1.5),
            ValueError,
            "label_smoothing must be in",
        ),
        (
            lambda: F.cross_entropy(np.zeros((3, 4)), np.array([0, 1, 2]), "sum"),
            TypeError,
            "reduction= by keyword",
        ),
        (lambda: F.cross_entropy(np.float64(1.0), np.array(0)), ValueError, "class axis"),
        (
            lambda: F.binary_cross_entropy_with_logits(np.zeros(3), np.zeros(4)),
            ValueError,
            r"same shape, got \(3,\) and \(4,\)",
        ),
        (
            lambda: F.binary_cross_entropy_with_logits(
                np.zeros((2, 3)), np.zeros((2, 3)), pos_weight=np.ones(2)
            ),
            ValueError,
            r"pos_weight of shape \(2,\) does not broadcast to the input's shape \(2, 3\)",
        ),
        (
            lambda: F.binary_cross_entropy(np.array([0.5, 1.5]), np.zeros(2)),
            ValueError,
            r"probabilities in \[0, 1\], got 1.5",
        ),
        (lambda: F.smooth_l1_loss(np.zeros(2), np.zeros(2), beta=-1.0), ValueError, "beta >= 0"),
        (lambda: F.huber_loss(np.zeros(2), np.zeros(2), delta=0.0), ValueError, "delta > 0"),
        (
            lambda: F.l1_loss(np.zeros(2), np.zeros((2, 1))),
            ValueError,
            r"l1_loss needs input and target of the same shape, got \(2,\) and \(2, 1\)",
        ),
        (
            lambda: F.huber_loss(np.zeros(2), np.zeros(2), reduction="avg"),
            ValueError,
            "reduction must be one of",
        ),
    ],
)
def test_loss_errors_name_the_values(call, error, pattern) -> None:
    with pytest.raises(error, match=pattern):
        call()


@settings(max_examples=40, deadline=None)
@given(
    rows=st.integers(1, 40),
    classes=st.integers(1, 12),
    dtype=st.sampled_from([np.float32, np.float64]),
    seed=st.integers(0, 2**16),
)
def test_a_batchs_cross_entropy_takes_a_short_path_to_the_same_bits(
    rows, classes, dtype, seed
) -> None:
    """A Tensor of (n, C) scores and an array of n labels in range: the training step's
    case goes straight to the fused node, with the numbers of the general path."""
    rng = np.random.default_rng(seed)
    z = (rng.standard_normal((rows, classes)) * 5).astype(dtype)
    y = rng.integers(0, classes, rows)
    calls = []
    real = F.ops.softmax_cross_entropy
    short, general = dl.tensor(z, requires_grad=True), dl.tensor(z, requires_grad=True)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(F.ops, "softmax_cross_entropy", lambda *a: calls.append(1) or real(*a))
        a = F.cross_entropy(short, y)
        b = F.cross_entropy(general, list(y))  # (a list of labels: the general path)
    assert calls == [1]  # only the general path went through the checks of the op
    a.backward()
    b.backward()
    assert a.dtype == b.dtype == dtype
    np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(short.grad, general.grad)


def test_the_short_path_leaves_ignored_and_bad_labels_to_the_general_one() -> None:
    z = RNG.standard_normal((4, 3))
    y = np.array([0, -100, 2, 1])  # -100: ignored, as torch does by default
    a = F.cross_entropy(dl.tensor(z), y)
    ref = TF.cross_entropy(torch.tensor(z), torch.tensor(y))
    assert a.item() == pytest.approx(ref.item(), rel=1e-12)
    with pytest.raises(ValueError, match="label 3 is out of range for 3 classes"):
        F.cross_entropy(dl.tensor(z), np.array([0, 3, 1, 2]))
    with pytest.raises(ValueError, match="3 labels for 4 rows"):
        F.cross_entropy(dl.tensor(z), np.array([0, 1, 2]))
