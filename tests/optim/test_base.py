"""The Optimizer machinery: groups, state, step/closure, zero_grad, state dicts, batching,
validation. Registry-driven where a property holds for every optimizer."""

from __future__ import annotations

import numpy as np
import pytest

from descentlab.optim import (
    ASGD,
    REGISTRY,
    SGD,
    Adadelta,
    Adagrad,
    AdagradNorm,
    Adam,
    Adamax,
    AdamW,
    ArrayParam,
    NAdam,
    RAdam,
    RMSprop,
    Rprop,
)

from .conftest import variant_id, variants


def _valid(name: str, opts: dict) -> bool:
    try:
        REGISTRY[name].validate(**opts)
    except ValueError:  # e.g. nesterov without momentum; test_parity checks torch agrees
        return False
    return True


def _step(opt) -> None:
    """One step; an optimizer that re-evaluates the loss gets a closure keeping the grads."""
    if getattr(opt, "needs_closure", False):
        opt.step(lambda: 0.0)
    else:
        opt.step()


ALL_VARIANTS = [
    pytest.param(name, opts, id=variant_id(name, opts))
    for name in REGISTRY
    for opts in variants(name)
    if _valid(name, opts)
]
#: The optimizers whose entries evolve independently (AdagradNorm: with batched=True, one
#: accumulator per row); the others (Adafactor, Muon, Prodigy, L-BFGS) couple a parameter's
#: entries by design and are checked against their references in their own modules.
ELEMENTWISE_VARIANTS = [
    case
    for case in ALL_VARIANTS
    if case.values[0] == "adagrad_norm"
    or (
        getattr(REGISTRY[case.values[0]].cls, "elementwise", True)
        and not getattr(REGISTRY[case.values[0]].cls, "needs_closure", False)
    )
]


def _grad(x: np.ndarray) -> np.ndarray:
    return 2.0 * x + np.sin(3.0 * x) + 0.5


def _steps(opt, params, n):
    for _ in range(n):
        for p in params:
            p.grad = _grad(p.data)
        opt.step()


# -- groups ---------------------------------------------------------------------------------
def test_param_groups_fill_defaults_and_keep_overrides() -> None:
    a, b = ArrayParam([1.0]), ArrayParam([2.0, 3.0])
    opt = Adam([{"params": [a]}, {"params": [b], "lr": 0.5, "betas": (0.8, 0.9)}], lr=0.1)
    assert opt.param_groups[0]["lr"] == 0.1
    assert opt.param_groups[0]["betas"] == (0.9, 0.999)
    assert opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["betas"] == (0.8, 0.9)
    assert opt.param_groups[1]["eps"] == 1e-8
    assert opt.param_groups[1]["params"] == [b]


def test_add_param_group_rejects_a_parameter_twice() -> None:
    a, b = ArrayParam([1.0]), ArrayParam([2.0])
    opt = SGD([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.01})
    assert len(opt.param_groups) == 2
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="twice"):
        SGD([b, b], lr=0.1)


def test_bad_params_raise_clear_errors() -> None:
    with pytest.raises(TypeError, match="ArrayParam"):
        SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        SGD([], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        SGD([{"params": [ArrayParam([1.0])], "lr": -1.0}])


def test_hyperparameters_are_read_at_every_step() -> None:
    p = ArrayParam([1.0])
    opt = SGD([p], lr=0.1)
    p.grad = np.array([1.0])
    opt.step()
    opt.param_groups[0]["lr"] = 0.5
    opt.step()
    np.testing.assert_allclose(p.data, [1.0 - 0.1 - 0.5])


def test_descentlab_parameter_is_accepted() -> None:
    import descentlab

    w = descentlab.Parameter(np.array([1.0, -2.0]))
    data = w.data
    opt = SGD([w], lr=0.25)
    w.grad = 2 * w.data
    opt.step()
    np.testing.assert_allclose(w.data, [0.5, -1.0])
    assert w.data is data  # updated in place, never rebound


# -- step / closure / zero_grad ---------------------------------------------------------------
def test_step_returns_the_closure_loss() -> None:
    p = ArrayParam([3.0])
    opt = SGD([p], lr=0.1)
    calls = []

    def closure():
        calls.append(1)
        p.grad = 2 * p.data
        return float(p.data[0] ** 2)

    assert opt.step(closure) == 9.0
    assert calls == [1]
    np.testing.assert_allclose(p.data, [3.0 - 0.6])
    assert opt.step() is None


def test_zero_grad() -> None:
    p = ArrayParam([1.0, 2.0])
    opt = SGD([p], lr=0.1)
    p.grad = np.array([1.0, 1.0])
    g = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is g and np.all(g == 0)
    opt.zero_grad()
    assert p.grad is None


@pytest.mark.parametrize("name", list(REGISTRY))
def test_param_without_grad_is_skipped(name: str) -> None:
    # matrices, which every optimizer takes (Muon takes nothing else)
    a, b = ArrayParam([[1.0, 2.0], [0.5, -1.0]]), ArrayParam([[3.0]])
    opt = REGISTRY[name].build([a, b], lr=0.1)
    a.grad = np.array([[0.5, -0.5], [0.25, 1.0]])
    _step(opt)
    assert not np.array_equal(a.data, [[1.0, 2.0], [0.5, -1.0]])
    assert np.array_equal(b.data, [[3.0]])


# -- state dict -------------------------------------------------------------------------------
def test_state_dict_layout() -> None:
    a, b, c = ArrayParam([1.0]), ArrayParam([2.0, 3.0]), ArrayParam([4.0])
    opt = Adam([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1, amsgrad=True)
    _steps(opt, [a, b, c], 2)
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"}
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][1]["lr"] == 0.5
    assert set(sd["state"]) == {0, 1, 2}
    assert set(sd["state"][1]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert sd["state"][1]["step"] == 2
    assert sd["state"][1]["exp_avg"] is not opt.state[b]["exp_avg"]  # a copy
    np.testing.assert_array_equal(sd["state"][1]["exp_avg"], opt.state[b]["exp_avg"])


@pytest.mark.parametrize(
    ("name", "opts"),
    [c for c in ALL_VARIANTS if not getattr(REGISTRY[c.values[0]].cls, "needs_closure", False)],
)
def test_state_dict_resume_equals_uninterrupted_run(name: str, opts: dict) -> None:
    spec = REGISTRY[name]
    x0 = [np.array([[1.0, -2.0, 0.5]]), np.array([[0.3, -0.7], [1.1, 2.0]])]
    # Prodigy refuses groups with different learning rates (one d for all of them)
    second = 1.0 if name == "prodigy" else 0.5

    def make(xs):
        params = [ArrayParam(x.copy()) for x in xs]
        lr = spec.hyperparameters["lr"].default
        groups = [{"params": params[:1]}, {"params": params[1:], "lr": lr * second}]
        return params, spec.build(groups, **opts)

    ref_params, ref_opt = make(x0)
    _steps(ref_opt, ref_params, 40)

    params, opt = make(x0)
    _steps(opt, params, 20)
    saved = opt.state_dict()
    resumed_params, fresh = make([p.data for p in params])
    fresh.load_state_dict(saved)
    for entry in saved["state"].values():  # loading copied the arrays
        for v in entry.values():
            if isinstance(v, np.ndarray):
                v += 1.0
    _steps(opt, params, 20)
    _steps(fresh, resumed_params, 20)
    for p, q, r in zip(params, resumed_params, ref_params):
        assert np.array_equal(p.data, r.data)
        assert np.array_equal(q.data, r.data)
    for p, q in zip(ref_params, resumed_params):
        s, t = ref_opt.state[p], fresh.state[q]
        assert set(s) == set(t)
        for key in s:
            assert np.array_equal(s[key], t[key]), key


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_loaded_state_takes_its_parameters_layout_and_dtype(dtype) -> None:
    """nn.Linear keeps W in Fortran order, and the compiled updates need W, its gradient
    and its state in one layout: a state saved (C-ordered copies), or saved in another
    dtype, is loaded in the parameter's layout and dtype, with the same values."""
    from descentlab.optim import Adam, fused

    rng = np.random.default_rng(0)
    w = ArrayParam(np.asfortranarray(rng.standard_normal((300, 40)).astype(dtype)))
    opt = Adam([w], lr=1e-2)
    w.grad = np.asfortranarray(rng.standard_normal((300, 40)).astype(dtype))
    opt.step()
    saved = opt.state_dict()
    assert not saved["state"][0]["exp_avg"].flags.f_contiguous  # (copies in C order)
    saved["state"][0]["exp_avg_sq"] = saved["state"][0]["exp_avg_sq"].astype(np.float64)
    fresh = Adam([w], lr=1e-2)
    fresh.load_state_dict(saved)
    for key in ("exp_avg", "exp_avg_sq"):
        loaded = fresh.state[w][key]
        assert loaded.flags.f_contiguous and loaded.dtype == dtype, key
        np.testing.assert_array_equal(loaded, opt.state[w][key])
    keys = ("exp_avg", "exp_avg_sq", None)
    mode = fused.get_fast_path()
    fused.set_fast_path("always")
    try:
        assert fused.split([w.data], [w.grad], [fresh.state[w]], keys, 1e-2) == ([0], [])
    finally:
        fused.set_fast_path(mode)


def test_load_state_dict_rejects_mismatched_groups() -> None:
    a, b = ArrayParam([1.0]), ArrayParam([2.0])
    sd = SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="parameter groups"):
        SGD([{"params": [a]}, {"params": [b]}], lr=0.1).load_state_dict(sd)
    with pytest.raises(ValueError, match="parameters"):
        SGD([a], lr=0.1).load_state_dict(sd)


# -- batched problems -------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "opts"), ELEMENTWISE_VARIANTS)
def test_batched_rows_equal_separate_runs(name: str, opts: dict) -> None:
    """An (N, D) run with an (N, 1) lr array equals N runs of (D,) with scalar lrs, exactly."""
    spec = REGISTRY[name]
    rng = np.random.default_rng(5)
    n, d = 4, 7
    x0 = rng.normal(size=(n, d))
    lrs = spec.hyperparameters["lr"].default * np.array([1.0, 0.5, 0.25, 2.0])
    batched_opts = dict(opts)
    if "batched" in spec.hyperparameters:
        batched_opts["batched"] = True

    big = ArrayParam(x0.copy())
    data = big.data
    opt = spec.build([big], **batched_opts, lr=lrs[:, None])
    rows = [ArrayParam(x0[i].copy()) for i in range(n)]
    singles = [spec.build([rows[i]], **opts, lr=float(lrs[i])) for i in range(n)]
    for _ in range(30):
        big.grad = np.stack([_grad(big.data[i]) for i in range(n)])
        opt.step()
        for p, o in zip(rows, singles):
            p.grad = _grad(p.data)
            o.step()
    assert big.data is data
    for i in range(n):
        assert np.array_equal(big.data[i], rows[i].data), f"row {i}"
    assert not np.array_equal(big.data, x0)


def test_adagrad_norm_batched_accumulator_per_row() -> None:
    p = ArrayParam(np.ones((3, 2)))
    opt = AdagradNorm([p], lr=0.1, batched=True)
    p.grad = np.array([[1.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    opt.step()
    acc = opt.state[p]["sum_sq_norm"]
    assert acc.shape == (3, 1)
    np.testing.assert_array_equal(acc[:, 0], [1.0, 25.0, 0.0])


# -- validation -------------------------------------------------------------------------------
INVALID = [
    (SGD, {"lr": -0.1}, "lr"),
    (SGD, {"lr": float("nan")}, "lr"),
    (SGD, {"lr": np.array([[0.1], [-0.1]])}, "lr"),
    (SGD, {"lr": 0.1, "momentum": -0.5}, "momentum"),
    (SGD, {"lr": 0.1, "dampening": 1.5}, "dampening"),
    (SGD, {"lr": 0.1, "weight_decay": -1e-3}, "weight_decay"),
    (SGD, {"lr": 0.1, "nesterov": True}, "Nesterov.*momentum"),
    (SGD, {"lr": 0.1, "nesterov": True, "momentum": 0.9, "dampening": 0.1}, "dampening"),
    (Adagrad, {"lr": -1.0}, "lr"),
    (Adagrad, {"lr_decay": -0.1}, "lr_decay"),
    (Adagrad, {"weight_decay": -0.1}, "weight_decay"),
    (Adagrad, {"initial_accumulator_value": -0.1}, "initial_accumulator_value"),
    (Adagrad, {"eps": -1e-10}, "eps"),
    (AdagradNorm, {"lr": -1.0}, "lr"),
    (AdagradNorm, {"eps": 0.0}, "eps"),
    (AdagradNorm, {"weight_decay": -1.0}, "weight_decay"),
    (Adadelta, {"lr": -1.0}, "lr"),
    (Adadelta, {"rho": 1.5}, "rho"),
    (Adadelta, {"rho": -0.1}, "rho"),
    (Adadelta, {"eps": -1.0}, "eps"),
    (Adadelta, {"weight_decay": -1.0}, "weight_decay"),
    (RMSprop, {"lr": -1.0}, "lr"),
    (RMSprop, {"alpha": 1.01}, "alpha"),
    (RMSprop, {"alpha": -0.1}, "alpha"),
    (RMSprop, {"eps": -1.0}, "eps"),
    (RMSprop, {"momentum": -0.1}, "momentum"),
    (RMSprop, {"weight_decay": -0.1}, "weight_decay"),
    (Adam, {"lr": -1.0}, "lr"),
    (Adam, {"betas": (1.0, 0.999)}, "beta1"),
    (Adam, {"betas": (-0.1, 0.999)}, "beta1"),
    (Adam, {"betas": (0.9, 1.0)}, "beta2"),
    (Adam, {"betas": (0.9,)}, "betas"),
    (Adam, {"eps": -1.0}, "eps"),
    (Adam, {"weight_decay": -1.0}, "weight_decay"),
    (AdamW, {"weight_decay": -0.01}, "weight_decay"),
    (AdamW, {"betas": (0.9, 1.5)}, "beta2"),
    (NAdam, {"momentum_decay": -1e-3}, "momentum_decay"),
    (NAdam, {"betas": (1.2, 0.999)}, "beta1"),
    (NAdam, {"eps": -1.0}, "eps"),
    (NAdam, {"lr": -2e-3}, "lr"),
    (Adamax, {"lr": -1.0}, "lr"),
    (Adamax, {"betas": (1.0, 0.999)}, "beta1"),
    (Adamax, {"betas": (0.9, -0.1)}, "beta2"),
    (Adamax, {"eps": -1.0}, "eps"),
    (Adamax, {"weight_decay": -1.0}, "weight_decay"),
    (RAdam, {"lr": -1.0}, "lr"),
    (RAdam, {"betas": (-0.1, 0.999)}, "beta1"),
    (RAdam, {"betas": (0.9, 1.0)}, "beta2"),
    (RAdam, {"eps": -1.0}, "eps"),
    (RAdam, {"weight_decay": -1.0}, "weight_decay"),
    (Rprop, {"lr": -1.0}, "lr"),
    (Rprop, {"etas": (0.0, 1.2)}, "etaminus"),
    (Rprop, {"etas": (1.0, 1.2)}, "etaminus"),
    (Rprop, {"etas": (0.5, 1.0)}, "etaplus"),
    (Rprop, {"etas": (0.5,)}, "etas"),
    (Rprop, {"step_sizes": (-1.0, 50.0)}, "step_size_min"),
    (Rprop, {"step_sizes": (1.0, 0.5)}, "step_sizes"),
    (ASGD, {"lr": -1.0}, "lr"),
    (ASGD, {"weight_decay": -1.0}, "weight_decay"),
    (ASGD, {"lambd": -1.0}, "lambd"),
    (ASGD, {"alpha": float("nan")}, "alpha"),
    (ASGD, {"t0": -1.0}, "t0"),
    (REGISTRY["lion"].cls, {"lr": -1e-4}, "lr"),
    (REGISTRY["lion"].cls, {"betas": (1.5, 0.99)}, "beta1"),
    (REGISTRY["lion"].cls, {"weight_decay": -0.1}, "weight_decay"),
    (REGISTRY["schedulefree_sgd"].cls, {"momentum": 0.0}, "momentum"),
    (REGISTRY["schedulefree_sgd"].cls, {"warmup_steps": -1}, "warmup_steps"),
    (REGISTRY["schedulefree_adamw"].cls, {"betas": (0.0, 0.999)}, "beta1"),
    (REGISTRY["schedulefree_adamw"].cls, {"weight_lr_power": -1.0}, "weight_lr_power"),
    (REGISTRY["prodigy"].cls, {"lr": 0.0}, "lr"),
    (REGISTRY["prodigy"].cls, {"d0": 0.0}, "d0"),
    (REGISTRY["prodigy"].cls, {"beta3": 1.5}, "beta3"),
    (REGISTRY["adafactor"].cls, {"lr": -1.0}, "lr"),
    (REGISTRY["adafactor"].cls, {"beta2_decay": 0.1}, "beta2_decay"),
    (REGISTRY["adafactor"].cls, {"eps": (-1.0, 1e-3)}, "eps1"),
    (REGISTRY["adafactor"].cls, {"eps": (None, -1.0)}, "eps2"),
    (REGISTRY["adafactor"].cls, {"d": 0.5}, "d"),
    (REGISTRY["adafactor"].cls, {"weight_decay": -1.0}, "weight_decay"),
    (REGISTRY["muon"].cls, {"lr": -1.0}, "lr"),
    (REGISTRY["muon"].cls, {"weight_decay": -1.0}, "weight_decay"),
    (REGISTRY["muon"].cls, {"momentum": -1.0}, "momentum"),
    (REGISTRY["muon"].cls, {"ns_steps": 100}, "ns_steps"),
    (REGISTRY["muon"].cls, {"ns_coefficients": (1.0, 2.0)}, "ns_coefficients"),
    (REGISTRY["muon"].cls, {"adjust_lr_fn": "foo"}, "adjust_lr_fn"),
    (REGISTRY["lbfgs"].cls, {"lr": -1.0}, "lr"),
    (REGISTRY["lbfgs"].cls, {"max_iter": 0}, "max_iter"),
    (REGISTRY["lbfgs"].cls, {"history_size": 0}, "history_size"),
    (REGISTRY["lbfgs"].cls, {"line_search_fn": "backtracking"}, "line_search_fn"),
]


@pytest.mark.parametrize(
    ("cls", "kwargs", "pattern"),
    INVALID,
    ids=[f"{c.__name__}-{'-'.join(k)}-{i}" for i, (c, k, _) in enumerate(INVALID)],
)
def test_invalid_hyperparameter_raises_naming_it(cls, kwargs, pattern) -> None:
    with pytest.raises(ValueError, match=pattern):
        cls([ArrayParam([1.0])], **kwargs)


def test_every_optimizer_has_an_invalid_case() -> None:
    assert {spec.cls for spec in REGISTRY.values()} <= {cls for cls, _, _ in INVALID}


def test_float32_params_stay_float32() -> None:
    for spec in REGISTRY.values():
        p = ArrayParam(np.array([[1.0, -1.0]], dtype=np.float32))
        opt = spec.build([p])
        p.grad = np.array([[0.5, 0.25]], dtype=np.float32)
        _step(opt)
        assert p.data.dtype == np.float32, spec.name
        for v in opt.state[p].values():
            if isinstance(v, np.ndarray):
                assert v.dtype == np.float32, spec.name


@pytest.mark.parametrize(("name", "opts"), ELEMENTWISE_VARIANTS)
def test_large_arrays_use_reused_work_buffers_correctly(name: str, opts: dict) -> None:
    """Big parameters (cached scratch buffers) step exactly like small pieces of them."""
    spec = REGISTRY[name]
    rng = np.random.default_rng(11)
    x0 = rng.normal(size=(2, 40_000))
    big = ArrayParam(x0.copy())
    pieces = [ArrayParam(x0[i].reshape(4, 10_000).copy()) for i in range(2)]
    opt_big = spec.build([big], **opts)
    opt_pieces = spec.build(pieces, **opts)
    for _ in range(3):
        big.grad = _grad(big.data)
        opt_big.step()
        for p in pieces:
            p.grad = _grad(p.data)
        opt_pieces.step()
    together = np.stack([p.data.reshape(-1) for p in pieces])
    if name == "adagrad_norm":  # one sum over the group: summation order differs
        np.testing.assert_allclose(big.data, together, rtol=1e-12)
    else:
        assert np.array_equal(big.data, together)
    assert not np.array_equal(big.data, x0)


def _shared_memory_cases() -> list[tuple[str, list]]:
    from descentlab.autograd import Parameter

    a = np.zeros(4)
    w = Parameter(np.zeros((2, 3)))
    return [
        ("the same array twice", [ArrayParam(a), ArrayParam(a)]),
        ("an array and a view of it", [ArrayParam(a), ArrayParam(a[1:3])]),
        ("a Parameter and a row of it", [w, ArrayParam(w.data[0])]),
        ("overlapping views", [ArrayParam(a[:3]), ArrayParam(a[2:])]),
    ]


@pytest.mark.parametrize("case", range(4))
def test_parameters_sharing_memory_are_refused(case: int) -> None:
    _, params = _shared_memory_cases()[case]
    with pytest.raises(ValueError, match="share memory"):
        SGD(params, lr=0.1)
    with pytest.raises(ValueError, match="parameters 0 and 1 share memory"):
        SGD([{"params": params[:1]}, {"params": params[1:]}], lr=0.1)


def test_disjoint_views_of_one_buffer_are_fine_and_stepped_once() -> None:
    buf = np.ones(4)
    left, right = ArrayParam(buf[:2]), ArrayParam(buf[2:])
    opt = SGD([left, right], lr=0.5)
    left.grad, right.grad = np.ones(2), np.full(2, 2.0)
    opt.step()
    np.testing.assert_array_equal(buf, [0.5, 0.5, 0.0, 0.0])


@pytest.mark.parametrize("data", [np.array([1 + 2j, 3.0]), np.array(["a", "b"])])
def test_array_param_refuses_complex_and_non_numeric_data(data: np.ndarray) -> None:
    with pytest.raises(TypeError, match=f"dtype {data.dtype}"):
        ArrayParam(data)


def test_array_param_keeps_floats_in_place_and_converts_integers() -> None:
    a = np.zeros(3, dtype=np.float32)
    assert ArrayParam(a).data is a
    converted = ArrayParam(np.arange(3)).data
    assert converted.dtype == np.float64 and converted.tolist() == [0.0, 1.0, 2.0]


def test_a_parameter_with_integer_or_complex_data_is_refused() -> None:
    class Holder:
        def __init__(self, data: np.ndarray) -> None:
            self.data, self.grad = data, None

    for data in (np.arange(3), np.zeros(3, dtype=complex)):
        with pytest.raises(TypeError, match=f"dtype {data.dtype}"):
            SGD([Holder(data)], lr=0.1)
