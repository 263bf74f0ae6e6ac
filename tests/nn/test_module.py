from __future__ import annotations

import itertools
import os

import numpy as np
import pytest

from descentlab import nn


class TwoLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.hidden = nn.Linear(3, 4)
        self.out = nn.Linear(4, 2)
        self.scale = nn.Parameter(np.ones(1, np.float32))

    def forward(self, x):
        return self.out(self.hidden(x).relu()) * self.scale


def test_registration_and_names():
    m = TwoLayer()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["scale", "hidden.weight", "hidden.bias", "out.weight", "out.bias"]
    assert len(list(m.children())) == 2
    m(np.ones((2, 3), np.float32)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_state_dict_round_trip_and_shape_errors():
    a, b = TwoLayer(), TwoLayer()
    b.load_state_dict(a.state_dict())
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    bad = a.state_dict()
    bad["out.weight"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"'out.weight' has shape \(2, 4\).*\(3, 3\)"):
        b.load_state_dict(bad)
    with pytest.raises(KeyError, match="missing"):
        b.load_state_dict({})


def test_save_and_load_round_trip_exactly(tmp_path):
    nn.manual_seed(4)
    model = nn.MLP([5, 7, 3], activation="tanh", dropout=0.1)
    path = tmp_path / "model.npz"
    model.save(path)
    again = nn.load(path)
    assert isinstance(again, nn.MLP) and again.sizes == [5, 7, 3] and again.activation == "tanh"
    for (n1, p), (n2, q) in zip(model.named_parameters(), again.named_parameters()):
        assert n1 == n2 and p.dtype == q.dtype
        np.testing.assert_array_equal(p.data, q.data)
        assert q.data.flags.f_contiguous  # (a loaded Linear keeps its layout: RESULTS.md)
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    model.eval(), again.eval()
    np.testing.assert_array_equal(model(x).data, again(x).data)


def test_flat_parameters_view_each_parameter_in_its_own_layout():
    nn.manual_seed(1)
    model = nn.MLP([6, 5, 3])
    before = [p.data.copy(order="K") for p in model.parameters()]
    flat = nn.FlatParameters(model.parameters())
    params = list(model.parameters())
    for p, old in zip(params, before, strict=True):
        assert np.shares_memory(p.data, flat.data) and np.shares_memory(p.grad, flat.grad)
        assert p.data.flags.f_contiguous == old.flags.f_contiguous  # (W Fortran, b 1-D)
        np.testing.assert_array_equal(p.data, old)
    assert params[0].data.flags.f_contiguous and not params[0].data.flags.c_contiguous
    flat.data -= 1.0  # one whole-buffer step moves every parameter
    for p, old in zip(params, before, strict=True):
        np.testing.assert_array_equal(p.data, old - 1.0)
    # a parameter rebound to a C-ordered array is copied back into its view by sync
    params[0].data = np.ascontiguousarray(before[0])
    params[0].grad = np.ones((5, 6), np.float32)
    flat.sync()
    assert np.shares_memory(params[0].data, flat.data) and params[0].data.flags.f_contiguous
    np.testing.assert_array_equal(params[0].data, before[0])
    np.testing.assert_array_equal(flat.grad[:30], 1.0)


def test_custom_module_saves_weights_and_loads_into_instance(tmp_path):
    m = TwoLayer()
    path = tmp_path / "custom.npz"
    m.save(path)
    with pytest.raises(ValueError, match="no architecture; pass model="):
        nn.load(path)
    other = nn.load(path, model=TwoLayer())
    np.testing.assert_array_equal(other.out.weight.data, m.out.weight.data)


def test_load_reports_missing_and_corrupt_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file"):
        nn.load(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip file")
    with pytest.raises(ValueError, match="not a readable descentlab model"):
        nn.load(bad)


def test_forgetting_super_init_is_explained():
    class Broken(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(RuntimeError, match="super"):
        Broken()


def test_save_writes_exactly_the_given_path_and_returns_it(tmp_path):
    nn.manual_seed(0)
    model = nn.MLP([2, 3, 2])
    written = model.save(tmp_path / "model")  # no ".npz" is appended
    assert written == tmp_path / "model" and written.is_file()
    assert not (tmp_path / "model.npz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no temporary left
    np.testing.assert_array_equal(nn.load(written)[0].weight.data, model[0].weight.data)


def kill_during_saves(save_loop, path, check, rounds: int = 30, seed: int = 0) -> None:
    """Fork a child running ``save_loop(path, ready)`` (saving to ``path`` again and again),
    SIGKILL it at a random moment after its first save, and ``check(path)`` the file left
    behind; ``rounds`` times."""
    import multiprocessing
    import random
    import signal
    import time

    ctx = multiprocessing.get_context("fork")
    rng = random.Random(seed)
    for _ in range(rounds):
        ready = ctx.Event()
        child = ctx.Process(target=save_loop, args=(str(path), ready), daemon=True)
        child.start()
        try:
            assert ready.wait(timeout=60), "the saving child never finished a first save"
            time.sleep(rng.uniform(0, 0.03))
        finally:
            child.kill()
            child.join(timeout=30)
        assert child.exitcode == -signal.SIGKILL  # killed while saving, not ended by an error
        check(path)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="kills a forked child with SIGKILL")
def test_kill_during_save_always_leaves_a_whole_model(tmp_path):
    nn.manual_seed(0)
    model = nn.MLP([64, 256, 256, 10])

    def save_loop(path, ready):
        for k in itertools.count():
            for p in model.parameters():
                p.data[...] = k  # every weight of save k equals k: a torn file would mix
            model.save(path)
            ready.set()

    def check(path):
        loaded = nn.load(path)  # never empty, truncated or torn
        values = np.unique(np.concatenate([q.data.ravel() for q in loaded.parameters()]))
        assert len(values) == 1, f"a torn file mixes saves {values[:5]}"

    kill_during_saves(save_loop, tmp_path / "model.npz", check)
