import itertools
import json

import numpy as np
import pytest

from descentlab.data import DataLoader


def _data(n=23, d=3):
    X = np.arange(n * d, dtype=np.float32).reshape(n, d)
    y = np.arange(n, dtype=np.int64)
    return X, y


def _epoch_ids(loader):
    ids = []
    for xb, yb in loader:
        np.testing.assert_array_equal(xb[:, 0] // 3, yb)  # rows stay with their labels
        ids.append(yb.copy())
    return ids


@pytest.mark.parametrize("shuffle", [True, False])
def test_every_sample_once_per_epoch(shuffle):
    X, y = _data()
    loader = DataLoader(X, y, batch_size=5, shuffle=shuffle, seed=0)
    assert len(loader) == 5
    for _ in range(3):
        batches = _epoch_ids(loader)
        assert [len(b) for b in batches] == [5, 5, 5, 5, 3]
        np.testing.assert_array_equal(np.sort(np.concatenate(batches)), y)
    assert loader.epoch == 3


def test_drop_last_visits_each_sample_at_most_once():
    X, y = _data()
    loader = DataLoader(X, y, batch_size=5, drop_last=True, seed=0)
    assert len(loader) == 4
    seen_over_epochs = set()
    for _ in range(4):
        batches = _epoch_ids(loader)
        assert [len(b) for b in batches] == [5, 5, 5, 5]
        ids = np.concatenate(batches)
        assert len(np.unique(ids)) == 20
        seen_over_epochs.update(ids.tolist())
    assert len(seen_over_epochs) > 20  # a different 3 samples are dropped each epoch
    exact = DataLoader(*_data(20), batch_size=5, drop_last=True, seed=0)
    np.testing.assert_array_equal(np.sort(np.concatenate(_epoch_ids(exact))), np.arange(20))


def test_batch_larger_than_dataset():
    X, y = _data(7)
    assert [len(b[1]) for b in DataLoader(X, y, batch_size=100)] == [7]
    assert len(DataLoader(X, y, batch_size=100, drop_last=True)) == 0
    assert list(DataLoader(X, y, batch_size=100, drop_last=True)) == []


def test_reshuffles_every_epoch_and_seed_fixes_order():
    X, y = _data(50)
    a = DataLoader(X, y, batch_size=8, seed=123)
    b = DataLoader(X, y, batch_size=8, seed=123)
    first = np.concatenate(_epoch_ids(a))
    second = np.concatenate(_epoch_ids(a))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, np.concatenate(_epoch_ids(b)))
    np.testing.assert_array_equal(second, np.concatenate(_epoch_ids(b)))
    other = np.concatenate(_epoch_ids(DataLoader(X, y, batch_size=8, seed=124)))
    assert not np.array_equal(first, other)


def test_without_shuffle_batches_are_in_order_and_views():
    X, y = _data()
    xb, yb = next(iter(DataLoader(X, y, batch_size=4, shuffle=False)))
    np.testing.assert_array_equal(yb, [0, 1, 2, 3])
    assert np.shares_memory(xb, X)


def test_shuffled_batches_are_arrays_of_their_own_that_stay_valid():
    X, y = _data()
    loader = DataLoader(X, y, batch_size=4, seed=0)
    batches = list(loader)
    kept = [(xb.copy(), yb.copy()) for xb, yb in batches]
    list(loader)  # the next epoch overwrites nothing that was handed out
    for (xb, yb), (x0, y0) in zip(batches, kept):
        assert xb.flags.c_contiguous and yb.flags.c_contiguous
        assert not np.shares_memory(xb, X) and not np.shares_memory(yb, y)
        np.testing.assert_array_equal(xb, x0)
        np.testing.assert_array_equal(yb, y0)
    for a, b in itertools.combinations(batches, 2):
        assert not np.shares_memory(a[0], b[0])
    # every sample once, each with its own label
    Xall = np.concatenate([xb for xb, _ in batches])
    yall = np.concatenate([yb for _, yb in batches])
    np.testing.assert_array_equal(Xall[np.argsort(yall)], X[np.argsort(y)])


def test_multidimensional_samples_and_targets():
    X = np.random.default_rng(0).normal(size=(10, 2, 4, 4)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(10, 1)).astype(np.float32)
    loader = DataLoader(X, y, batch_size=3, seed=0)
    xs, ys = zip(*[(xb.copy(), yb.copy()) for xb, yb in loader])
    assert xs[0].shape == (3, 2, 4, 4) and ys[-1].shape == (1, 1)
    Xall, yall = np.concatenate(xs), np.concatenate(ys)
    order = np.argsort(yall[:, 0])
    np.testing.assert_array_equal(Xall[order], X[np.argsort(y[:, 0])])


def test_state_resumes_between_epochs():
    X, y = _data(40)
    a = DataLoader(X, y, batch_size=6, seed=7)
    _epoch_ids(a)
    state = json.loads(json.dumps(a.get_state()))  # JSON round trip
    assert state["epoch"] == 1 and state["batch"] == 0
    expected = [np.concatenate(_epoch_ids(a)) for _ in range(2)]
    b = DataLoader(X, y, batch_size=6, seed=999)
    b.set_state(state)
    assert b.epoch == 1
    got = [np.concatenate(_epoch_ids(b)) for _ in range(2)]
    for e, g in zip(expected, got):
        np.testing.assert_array_equal(e, g)
    assert b.epoch == a.epoch == 3


def test_state_resumes_in_the_middle_of_an_epoch():
    X, y = _data(40)
    a = DataLoader(X, y, batch_size=6, seed=3)
    _epoch_ids(a)
    iterator = iter(a)
    head = [next(iterator)[1].copy() for _ in range(3)]
    state = json.loads(json.dumps(a.get_state()))
    assert state["epoch"] == 1 and state["batch"] == 3
    tail = [yb.copy() for _, yb in iterator]
    following = np.concatenate(_epoch_ids(a))

    b = DataLoader(X, y, batch_size=6, seed=0)
    b.set_state(state)
    resumed = _epoch_ids(b)
    assert len(resumed) == len(tail) == 4
    for t, r in zip(tail, resumed):
        np.testing.assert_array_equal(t, r)
    assert b.epoch == 2
    np.testing.assert_array_equal(np.concatenate(_epoch_ids(b)), following)
    np.testing.assert_array_equal(np.sort(np.concatenate(head + tail)), y)


def test_state_after_last_batch_counts_the_epoch_as_done():
    X, y = _data(12)
    a = DataLoader(X, y, batch_size=4, seed=1)
    iterator = iter(a)
    for _ in range(3):
        next(iterator)
    state = a.get_state()  # last batch handed out, loop not yet finished
    assert state["epoch"] == 1 and state["batch"] == 0
    b = DataLoader(X, y, batch_size=4, seed=5)
    b.set_state(state)
    np.testing.assert_array_equal(np.concatenate(_epoch_ids(b)), np.concatenate(_epoch_ids(a)))


@pytest.mark.parametrize(
    ("batch_size", "error", "match"),
    [
        (0, ValueError, "batch_size must be a positive int, got 0"),
        (-2, ValueError, "got -2"),
        (2.0, TypeError, "got 2.0"),
        (True, TypeError, "got True"),
        ("8", TypeError, "got '8'"),
    ],
)
def test_bad_batch_size(batch_size, error, match):
    with pytest.raises(error, match=match):
        DataLoader(*_data(), batch_size=batch_size)


def test_numpy_integer_batch_size_is_fine():
    assert len(DataLoader(*_data(10), batch_size=np.int64(4))) == 3


def test_length_mismatch_names_both():
    with pytest.raises(ValueError, match=r"len\(X\)=5 and len\(y\)=4"):
        DataLoader(np.zeros((5, 2)), np.zeros(4), batch_size=2)


def test_bad_state():
    loader = DataLoader(*_data(10), batch_size=4)
    with pytest.raises(ValueError, match="keys 'epoch', 'batch' and 'bit_generator'"):
        loader.set_state({"epoch": 1})
    with pytest.raises(ValueError, match=r"state\['batch'\] must be < 3"):
        loader.set_state({**loader.get_state(), "batch": 3})
    with pytest.raises(ValueError, match="bit_generator"):
        loader.set_state({"epoch": 0, "batch": 0, "bit_generator": {"bit_generator": "MT19937"}})


def test_attributes_and_repr():
    loader = DataLoader(*_data(10), batch_size=4, seed=0)
    assert loader.num_samples == 10 and loader.epoch == 0
    assert "num_samples=10" in repr(loader)
