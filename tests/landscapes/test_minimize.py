"""minimize / Runner / race: the lecture's experiments, batching, statuses, readout."""

from collections import OrderedDict

import numpy as np
import pytest

from descentlab import landscapes
from descentlab.landscapes import Result, Runner, Trajectory, eight_points, minimize, race
from descentlab.optim import REGISTRY as OPTIMIZERS

# --------------------------------------------------------------------------------------
# the lecture's experiments
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("f,x0", [("parabola", 1.0), ("quadratic", [1.0, 1.0])])
def test_gd_on_the_bowl_for_each_learning_rate(f, x0):
    res = minimize(f, x0, "gd", lr=0.1, steps=100)
    assert res.status == "converged" and res.success and np.abs(res.x).max() < 1e-6
    assert res.nit < 100 and res.grad_norm < 1e-6

    slow = minimize(f, x0, "gd", lr=0.01, steps=100)
    assert slow.status == "max_steps" and np.abs(slow.x).min() > 0.1 and not slow.success

    osc = minimize(f, x0, "gd", lr=1.0, steps=100)
    assert osc.status == "max_steps" and "oscillate" in osc.message
    assert np.allclose(np.abs(osc.trajectory.positions), 1.0)

    for eta in (100.0, 1000.0):
        div = minimize(f, x0, "gd", lr=eta, steps=100)
        assert div.status == "diverged" and div.nit <= 10
        assert f"diverged at step {div.nit}" in div.message
        assert div.trajectory.steps == div.nit


def test_non_oscillating_stop_does_not_claim_oscillation():
    res = minimize("parabola", 1.0, lr=0.01, steps=50)
    assert "oscillate" not in res.message and "maximum of 50 steps" in res.message


def test_saddle_gd_converges_to_it_but_noise_or_perturbation_escapes():
    gd = minimize("saddle", [1.0, 0.0], lr=0.1, steps=500)
    assert gd.status == "converged" and np.abs(gd.x).max() < 1e-6

    noisy = minimize("saddle", [1.0, 0.0], lr=0.1, steps=200, grad_noise=0.01, seed=0)
    assert noisy.trajectory.values.min() < -1

    pgd = minimize(
        "saddle",
        [1.0, 0.0],
        lr=0.1,
        steps=200,
        seed=0,
        perturb={"radius": 0.01, "threshold": 1e-3, "interval": 10},
    )
    assert pgd.trajectory.values.min() < -1 and pgd.status != "converged"
    # the kick happened only once the gradient was small
    first_escape = np.argmax(np.abs(pgd.trajectory.positions[:, 1]) > 0)
    assert pgd.trajectory.grad_norms[first_escape - 1] <= 1e-3


def test_perturbed_gd_still_converges_at_a_true_minimum():
    res = minimize("quadratic", [1.0, -0.5], lr=0.1, steps=1000, seed=1, perturb=True)
    assert res.status == "converged" and np.abs(res.x).max() < 1e-6


def test_himmelblau_grid_of_starts_reaches_all_four_minima():
    f = landscapes.get("himmelblau")
    g = np.linspace(-4.5, 4.5, 7)
    X0 = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    res = minimize(f, X0, "gd", lr=0.01, steps=2000)
    assert np.all(res.status == "converged")
    dist = np.linalg.norm(res.x[:, None] - f.minima[None], axis=-1)
    assert dist.min(axis=1).max() < 1e-6
    assert set(dist.argmin(axis=1)) == {0, 1, 2, 3}


def test_adagrad_norm_converges_where_gd_with_the_same_first_step_diverges():
    f = landscapes.get("ill_conditioned")
    x0 = np.array([-5.0, -2.0])
    eta = 20.0
    ada = minimize(f, x0, "adagrad_norm", lr=eta, steps=2000)
    assert ada.status == "converged"
    first_step = eta / np.sqrt(1e-10 + np.sum(f.grad(x0) ** 2))
    assert first_step > 2 / 4.0  # far above 2 / L (L = 4)
    gd = minimize(f, x0, "gd", lr=first_step, steps=2000)
    assert gd.status == "diverged"
    # both took the same first step
    np.testing.assert_allclose(ada.trajectory.positions[1], gd.trajectory.positions[1])


@pytest.mark.parametrize("b", [1, 4])
def test_gd_and_sgd_on_the_eight_points(b):
    f = eight_points()
    gd = minimize(f, [0.0, 0.0], "gd", lr=0.05, steps=2000)
    assert gd.status == "converged" and np.allclose(gd.x, f.solution, atol=1e-6)
    assert list(gd.trajectory.epochs[:3]) == [1, 2, 3]  # GD: one step per epoch
    sgd = minimize(f, [0.0, 0.0], "sgd", lr=0.02, steps=50 * 8 // b, batch_size=b, seed=0)
    assert np.linalg.norm(sgd.x - f.solution) < 0.1
    assert sgd.fun - f.value(f.solution) < 1e-2
    epochs = sgd.trajectory.epochs
    assert np.array_equal(np.bincount(epochs)[1:], np.full(50, 8 // b))  # n / b steps per epoch
    again = minimize(f, [0.0, 0.0], "sgd", lr=0.02, steps=50 * 8 // b, batch_size=b, seed=0)
    assert np.array_equal(again.x, sgd.x)  # seeded


def test_sgd_batches_cover_each_sample_once_per_epoch():
    f = eight_points()
    r = Runner(f, [0.0, 0.0], "sgd", lr=0.0, steps=6, batch_size=3, seed=2)  # 3 + 3 + 2
    seen = []
    orig = f.grad

    def spy(X, idx=None):
        if idx is not None:
            seen.append(np.asarray(idx).tolist())
        return orig(X, idx)

    f.grad = spy
    r.run()
    assert [len(s) for s in seen] == [3, 3, 2, 3, 3, 2]
    assert sorted(i for s in seen[:3] for i in s) == list(range(8))
    assert r.trajectory().epochs.tolist() == [1, 1, 1, 2, 2, 2]


# --------------------------------------------------------------------------------------
# many runs at once
# --------------------------------------------------------------------------------------
START = np.array([[-1.2, 1.0], [0.5, -0.5], [1.5, 1.5], [-2.0, 2.5]])


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
def test_batched_run_equals_the_single_runs_exactly(opt):
    f = landscapes.get("rosenbrock")
    lr = 1e-3 if opt in ("sgd", "momentum", "nesterov") else 0.05
    # (L-BFGS steps each run through its own closure, ~3,500 small vector operations a step:
    # two starts of it show the same as four, in half the time)
    starts = START[:2] if opt == "lbfgs" else START
    batched = minimize(f, starts, opt, lr=lr, steps=150, tol=1e-3)
    for i, x0 in enumerate(starts):
        single = minimize(f, x0, opt, lr=lr, steps=150, tol=1e-3)
        assert np.array_equal(batched.x[i], single.x)
        assert batched.nit[i] == single.nit and batched.status[i] == single.status
        assert np.array_equal(
            batched.trajectory.positions[: single.nit + 1, i], single.trajectory.positions
        )
        one = batched.run(i)
        assert one.status == single.status and np.array_equal(one.x, single.x)
        assert np.array_equal(one.trajectory.values, single.trajectory.values)


def test_lr_array_equals_the_per_lr_runs():
    lrs = np.array([0.001, 0.01, 0.1, 1.0, 100.0])
    x0 = np.tile([1.0, 1.0], (5, 1))
    f = landscapes.get("ill_conditioned")
    batched = minimize(f, x0, "momentum", lr=lrs, steps=300)
    assert batched.status.tolist()[-1] == "diverged"
    for i, lr in enumerate(lrs):
        single = minimize(f, x0[i], "momentum", lr=lr, steps=300)
        assert np.array_equal(batched.x[i], single.x) and batched.nit[i] == single.nit
        assert batched.status[i] == single.status
    np.testing.assert_array_equal(batched.trajectory.lrs[0], lrs)
    assert batched.run(2).lr == 0.1


def test_finished_runs_stop_changing():
    res = minimize(
        "parabola", np.array([[1.0], [1.0], [1.0]]), lr=np.array([0.4, 0.01, 100]), steps=200
    )
    assert res.status.tolist() == ["converged", "max_steps", "diverged"]
    pos = res.trajectory.positions
    n0, n2 = res.nit[0], res.nit[2]
    assert np.all(pos[n0:, 0] == pos[n0, 0]) and np.all(pos[n2:, 2] == pos[n2, 2])
    assert pos.shape == (201, 3, 1)


def test_divergence_detected_without_warnings_for_overflowing_functions():
    # exp overflows quickly: caught as non-finite or huge, never as a RuntimeWarning
    res = minimize("exp(x**2)", 2.0, lr=1.0, steps=100)
    assert res.status == "diverged"
    unbounded = minimize(lambda x: -(x**4), 1.0, lr=0.5, steps=100)
    assert unbounded.status == "diverged" and unbounded.nit < 20
    nan_start = minimize("log(x)", -1.0, steps=10)
    assert nan_start.status == "diverged" and nan_start.nit == 0


def test_race_runs_each_optimizer_from_the_same_start():
    out = race(
        "beale",
        [1.0, 1.5],
        {"sgd": {"lr": 0.01}, "adam": {"lr": 0.05}, "slow adam": {"optimizer": "adam", "lr": 1e-4}},
        steps=300,
    )
    assert isinstance(out, OrderedDict) and list(out) == ["sgd", "adam", "slow adam"]
    for res in out.values():
        assert np.array_equal(res.trajectory.positions[0], [1.0, 1.5])
    assert out["slow adam"].optimizer == "adam"
    assert out["adam"].fun < out["slow adam"].fun
    with pytest.raises(ValueError, match="unknown optimizer"):
        race("beale", None, {"nope": {}})


# --------------------------------------------------------------------------------------
# the runner, step by step
# --------------------------------------------------------------------------------------


def test_runner_step_by_step_equals_minimize():
    full = minimize("rosenbrock", None, "nesterov", lr=1e-3, steps=400)
    r = Runner("rosenbrock", None, "nesterov", lr=1e-3, steps=400)
    assert not r.done and r.status == "running"
    for _ in range(40):
        r.step(10)
    assert r.done and r.nit == 400
    res = r.result()
    assert np.array_equal(res.x, full.x) and res.status == full.status == "max_steps"
    assert np.array_equal(res.trajectory.positions, full.trajectory.positions)
    assert isinstance(res.trajectory, Trajectory) and res.trajectory.positions.shape == (401, 2)
    assert res.trajectory.lrs.shape == (400,) and res.trajectory.values.shape == (401,)


def test_runner_without_step_limit_streams_and_reports_running():
    r = Runner("himmelblau", [0.0, 0.0], "adam", lr=0.1, steps=None, record=False)
    r.step(5)
    res = r.result()
    assert res.status == "running" and res.nit == 5 and res.trajectory is None
    assert r.trajectory() is None and "runs=1" in repr(r)
    with pytest.raises(ValueError, match="finite number of steps"):
        r.run()


def test_readout_per_optimizer():
    gd = Runner("quadratic", [1.0, 2.0], "gd", lr=0.1)
    gd.step()
    out = gd.readout()
    np.testing.assert_allclose(out["delta"], [-0.2, -0.4])
    assert out["effective_lr"] == pytest.approx(0.1)
    assert out["velocity"] is None and out["second_moment"] is None

    mom = Runner("quadratic", np.array([[1.0, 2.0], [0.5, 0.5]]), "momentum", lr=0.1)
    mom.step(2)
    out = mom.readout()
    assert out["velocity"].shape == (2, 2) and out["state"]["momentum_buffer"].shape == (2, 2)
    np.testing.assert_allclose(
        out["effective_lr"],
        np.linalg.norm(out["delta"], axis=1) / np.linalg.norm(out["step_grad"], axis=1),
    )

    adam = Runner("quadratic", [1.0, 2.0], "adam", lr=0.1)
    adam.step(3)
    out = adam.readout()
    assert out["velocity"].shape == (2,) and out["second_moment"].shape == (2,)
    assert np.all(out["second_moment"] > 0)

    an = Runner("quadratic", np.array([[1.0, 2.0], [3.0, 0.0]]), "adagrad_norm", lr=1.0)
    an.step()
    b2 = an.readout()["second_moment"]  # one accumulator per run
    np.testing.assert_allclose(b2[:, 0], 1e-10 + np.array([20.0, 36.0]))


def test_result_looks_like_scipy():
    res = minimize("booth", None, steps=500)
    assert isinstance(res, Result) and isinstance(res, dict)
    assert res["x"] is res.x and set(res) >= {
        "x",
        "fun",
        "jac",
        "grad_norm",
        "nit",
        "status",
        "message",
        "success",
        "trajectory",
    }
    text = repr(res)
    assert "status: 'converged'" in text and "trajectory:" in text
    assert res.fun == pytest.approx(0.0, abs=1e-10)
    assert res.lr == landscapes.get("booth").lr
    with pytest.raises(AttributeError):
        res.nope  # noqa: B018


def test_inputs_are_resolved_and_validated():
    import descentlab.autograd as ag

    res = minimize(lambda x, y: (x - 1) ** 2 + ag.cos(y), [0.0, 0.5], lr=0.1, steps=2000)
    assert res.status == "converged" and np.allclose(res.x, [1.0, np.pi], atol=1e-5)
    assert minimize("x**2 + y**2", [1.0, 1.0], lr=0.1).status == "converged"
    with pytest.raises(ValueError, match=r"x0 must have shape \(2,\)"):
        minimize("booth", [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="batch_size=4 needs a finite-sum problem"):
        minimize("booth", None, batch_size=4)
    with pytest.raises(ValueError, match=r"lr must be a number or an array of shape \(2,\)"):
        minimize("booth", np.zeros((2, 2)), lr=[0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="lr must be a non-negative"):
        minimize("booth", None, lr=-0.1)
    with pytest.raises(ValueError, match="steps must be"):
        minimize("booth", None, steps=-1)
    with pytest.raises(ValueError, match="unknown perturb option"):
        minimize("booth", None, perturb={"size": 1})
    with pytest.raises(ValueError, match="unknown hyperparameter"):
        minimize("booth", None, "adam", gamma=0.3)
    with pytest.raises(TypeError, match="f must be a Landscape"):
        minimize(42, [1.0])


def test_adaptive_optimizers_default_to_their_own_lr_and_take_hyperparameters():
    r = Runner("rosenbrock", None, "adam")
    assert r.lr == OPTIMIZERS["adam"].hyperparameters["lr"].default
    r2 = Runner("rosenbrock", None, "adam", lr=0.01, beta1=0.5)
    assert r2.optimizer.param_groups[0]["betas"][0] == 0.5
    assert Runner("rosenbrock", None, "gd").lr == landscapes.get("rosenbrock").lr


def test_many_runs_in_blocks_equal_one_big_run(monkeypatch):
    import importlib

    module = importlib.import_module("descentlab.landscapes.minimize")

    x0 = np.random.default_rng(5).uniform(-2, 2, size=(50, 2))
    lrs = np.linspace(1e-3, 5e-2, 50)
    whole = module.minimize("rosenbrock", x0, optimizer="adam", lr=lrs, steps=60, record=False)
    monkeypatch.setattr(module, "CHUNK_ROWS", 16)
    blocks = module.minimize("rosenbrock", x0, optimizer="adam", lr=lrs, steps=60, record=False)
    for key in ("x", "fun", "jac", "grad_norm", "nit", "status", "success", "lr"):
        np.testing.assert_array_equal(blocks[key], whole[key])
    assert list(blocks.message) == list(whole.message)
    diverging = module.minimize(
        "parabola", np.array([[1.0]] * 40), lr=np.full(40, 100.0), steps=10, record=False
    )
    assert all("diverged at step" in m for m in diverging.message)


def test_run_of_a_batched_result_with_one_learning_rate():
    res = minimize("parabola", np.ones((1, 1)), lr=np.array([0.5]), steps=5)
    assert res.run(0).lr == 0.5 and res.run(0).nit == res.nit[0]


@pytest.mark.parametrize(
    "x0,lr,name",
    [
        (np.array([1.0 + 2.0j]), 0.1, "x0"),
        ([[1.0 + 0j], [2.0]], 0.1, "x0"),
        ([1.0], 0.1 + 0j, "lr"),
        (np.array([[1.0], [2.0]]), np.array([0.1, 0.2j]), "lr"),
    ],
)
def test_complex_inputs_are_refused_not_truncated(x0, lr, name):
    with pytest.raises(
        TypeError,
        match=rf"{name} must be real numbers, got an array of dtype "
        r"complex128",
    ):
        minimize("parabola", x0, lr=lr, steps=3)
    with pytest.raises(TypeError, match=f"{name} must be real"):
        minimize(lambda x: (x**2).sum(axis=-1), x0, lr=lr, steps=3)


def test_non_numeric_x0_is_refused_with_its_dtype():
    with pytest.raises(TypeError, match="x0 must be an array of numbers, got an array of dtype <U"):
        minimize("parabola", ["a"], lr=0.1, steps=3)


# --------------------------------------------------------------------------------------
# scipy-style functions: f(x) of one point of shape (D,) returning a scalar, and jac=
# --------------------------------------------------------------------------------------
STARTS = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5], [-2.0, 0.1]])


def _same_runs(a, b):
    for key in ("x", "fun", "jac", "grad_norm", "nit", "status", "success"):
        assert np.array_equal(np.asarray(a[key]), np.asarray(b[key])), key
    assert np.array_equal(a.trajectory.positions, b.trajectory.positions)


def test_scipy_style_function_of_one_point_minimizes():
    res = minimize(lambda x: (x**2).sum(), [1.0], lr=0.1)  # used to fail: "shape ()"
    assert res.success and res.status == "converged" and abs(float(res.x[0])) < 1e-6
    assert res.x.shape == (1,) and res.jac.shape == (1,) and isinstance(res.fun, float)


def test_scipy_style_and_vectorized_forms_give_the_same_runs():
    # x[0] is the first coordinate in scipy's convention; on a batch it would be the first
    # point, so the convention must be detected, not guessed from the output's shape alone
    scipy_style = minimize(lambda x: x[0] ** 2 + 10 * x[1] ** 2, STARTS, lr=0.04, steps=300)
    vectorized = minimize(
        lambda X: X[..., 0] ** 2 + 10 * X[..., 1] ** 2, STARTS, lr=0.04, steps=300
    )
    _same_runs(scipy_style, vectorized)
    assert scipy_style.success.all()
    one = minimize(lambda x: x[0] ** 2 + 10 * x[1] ** 2, STARTS[1], lr=0.04, steps=300)
    assert np.array_equal(one.x, scipy_style.x[1]) and one.nit == scipy_style.nit[1]


def test_scipy_style_function_written_with_numpy_is_differentiated():
    f = lambda x: np.sum(np.sin(x) ** 2) + 0.1 * np.dot(x, x)
    res = minimize(f, STARTS, lr=0.1, steps=500)
    assert res.success.all()
    np.testing.assert_allclose(res.jac, 2 * np.sin(res.x) * np.cos(res.x) + 0.2 * res.x, atol=1e-12)


@pytest.mark.parametrize("style", ["scipy", "vectorized"])
def test_jac_gives_the_gradient_of_a_plain_numpy_function(style):
    calls = []
    if style == "scipy":

        def f(x):
            calls.append(type(x))
            return float(x[0] ** 2 + 10 * x[1] ** 2)

        def df(x):
            return np.array([2 * x[0], 20 * x[1]])
    else:

        def f(X):
            calls.append(type(X))
            return X[..., 0] ** 2 + 10 * X[..., 1] ** 2

        def df(X):
            return np.stack([2 * X[..., 0], 20 * X[..., 1]], axis=-1)

    res = minimize(f, STARTS, lr=0.04, steps=300, jac=df)
    auto = minimize(lambda x: x[0] ** 2 + 10 * x[1] ** 2, STARTS, lr=0.04, steps=300)
    _same_runs(res, auto)
    assert set(calls) == {np.ndarray}  # plain NumPy arrays in, never Tensors


def test_jac_true_means_f_returns_value_and_gradient():
    def f(x):
        return float(x @ x), 2 * x

    res = minimize(f, STARTS, lr=0.1, jac=True)
    auto = minimize(lambda x: (x * x).sum(), STARTS, lr=0.1)
    _same_runs(res, auto)
    vectorized = minimize(lambda X: ((X * X).sum(-1), 2 * X), STARTS, lr=0.1, jac=True)
    _same_runs(vectorized, auto)


def test_result_keeps_scipys_field_names_and_documents_the_differences():
    res = minimize(lambda x: (x**2).sum(), [1.0, -1.0], lr=0.1)
    for name in ("x", "fun", "jac", "nit", "status", "success", "message"):
        assert name in res and getattr(res, name) is res[name]
    assert isinstance(res.status, str) and isinstance(res.success, bool)
    assert "status`` is a word" in Result.__doc__


def test_scipy_style_errors_are_clear():
    with pytest.raises(ValueError, match=r"a scalar for one point of shape \(D,\)"):
        minimize(lambda x: x * 2.0, STARTS, steps=3)
    with pytest.raises(ValueError, match="must return a scalar for a point"):
        minimize(lambda x: x * 2.0, STARTS, steps=3, jac=lambda x: 2.0 * np.ones_like(x))
    with pytest.raises(ValueError, match="jac= goes with a Python function"):
        minimize("rosenbrock", jac=lambda x: x)
    with pytest.raises(ValueError, match=r"gradient at a point must have shape \(2,\)"):
        minimize(lambda x: float(x @ x), STARTS, jac=lambda x: np.ones(3), steps=3)


def test_runner_and_race_accept_scipy_style_functions_and_jac():
    runner = Runner(lambda x: (x**2).sum(), [[1.0], [2.0]], lr=0.1, steps=50)
    runner.step(5)
    assert runner.t == 5 and runner.x.shape == (2, 1)
    results = race(
        lambda x: float(x @ x),
        [1.0, 1.0],
        {"sgd": {"lr": 0.1}, "adam": {"lr": 0.1}},
        steps=200,
        jac=lambda x: 2 * x,
    )
    assert list(results) == ["sgd", "adam"] and results["sgd"].success


@pytest.mark.parametrize("name", ["schedulefree_sgd", "schedulefree_adamw"])
def test_schedule_free_takes_gradients_at_y_and_reports_x(name):
    from descentlab import landscapes, optim

    f = landscapes.get("rosenbrock")
    x0 = np.array([[-1.5, 2.0], [0.5, -0.5]])
    res = minimize(f, x0, optimizer=name, lr=2e-3, steps=300, tol=0.0)
    p = optim.ArrayParam(x0.copy())
    opt = optim.get(name).build([p], lr=2e-3)
    for _ in range(300):
        opt.train()
        p.grad = np.asarray(f.grad(p.data), dtype=np.float64)
        opt.step()
    opt.eval()
    np.testing.assert_allclose(res.x, p.data, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(res.fun, f.value(p.data), rtol=1e-12)
    opt.train()
    assert not np.allclose(res.x, p.data)  # y, where the gradients were taken, is elsewhere
