"""Checkpoints: atomic saves that survive kill -9, and a loader that checks every field
and array before it touches the trainer, with ModelFileError naming the file."""

from __future__ import annotations

import io
import itertools
import json
import multiprocessing
import os
import random
import signal
import time
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from descentlab import nn
from descentlab.nn.modelfile import ModelFileError
from descentlab.train import Trainer, load_checkpoint, save_checkpoint


def make_trainer(seed: int = 0, sizes=(4, 8, 3), **kwargs) -> Trainer:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((48, sizes[0])).astype(np.float32)
    y = rng.integers(0, sizes[-1], 48)
    nn.manual_seed(seed)
    options = {
        "optimizer": "adam",
        "lr": 0.01,
        "epochs": 4,
        "batch_size": 16,
        "lr_scheduler": ("step", {"step_size": 2}),
        "early_stopping": 3,
        "progress": False,
        **kwargs,
    }
    bias = options["optimizer"] != "muon"  # Muon takes weight matrices only, as torch's does
    return Trainer(nn.MLP(list(sizes), dropout=0.2, bias=bias), (X, y), (X, y), **options)


def trained_checkpoint(tmp_path, name: str = "ck.npz"):
    trainer = make_trainer()
    trainer.run_epoch()
    return save_checkpoint(trainer, tmp_path / name)


def members(path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {info.filename[:-4]: zf.read(info) for info in zf.infolist()}


def npy(arr) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def write(path, parts: dict[str, bytes]) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in parts.items():
            zf.writestr(name + ".npy", data)
    path.write_bytes(buf.getvalue())


def meta_of(parts: dict[str, bytes]) -> dict:
    return json.loads(str(np.lib.format.read_array(io.BytesIO(parts["meta"]))))


def with_meta(parts: dict[str, bytes], meta) -> dict[str, bytes]:
    text = meta if isinstance(meta, str) else json.dumps(meta)
    return {**parts, "meta": npy(np.array(text))}


def state_of(trainer: Trainer) -> tuple:
    return (
        trainer.model.state_dict(),
        trainer.epoch,
        trainer.global_step,
        trainer.loader.get_state(),
        trainer.optimizer.param_groups[0]["lr"],
    )


def assert_same_state(a: tuple, b: tuple) -> None:
    for name, value in a[0].items():
        np.testing.assert_array_equal(value, b[0][name])
    assert a[1:] == b[1:]


def test_save_writes_exactly_the_given_path_and_returns_it(tmp_path):
    trainer = make_trainer()
    trainer.run_epoch()
    written = save_checkpoint(trainer, tmp_path / "run.ckpt")
    assert written == tmp_path / "run.ckpt"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.ckpt"]
    again = make_trainer(seed=5)
    load_checkpoint(again, written)
    assert_same_state(state_of(again), state_of(trainer))


def kill_during_saves(save_loop, path, check, rounds: int = 30, seed: int = 0) -> None:
    """Fork a child running ``save_loop(path, ready)`` (saving to ``path`` again and again),
    SIGKILL it at a random moment after its first save, and ``check(path)`` the file left
    behind; ``rounds`` times."""
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
def test_kill_during_save_always_leaves_a_whole_checkpoint(tmp_path):
    trainer = make_trainer(sizes=(32, 256, 256, 3), lr_scheduler=None)
    trainer.run_epoch()

    def save_loop(path, ready):
        for k in itertools.count():
            for p in trainer.params:
                p.data[...] = k  # every weight of save k equals k: a torn file would mix
            save_checkpoint(trainer, path)
            ready.set()

    def check(path):
        fresh = make_trainer(seed=1, sizes=(32, 256, 256, 3), lr_scheduler=None)
        load_checkpoint(fresh, path)  # never empty, truncated or torn
        values = np.unique(np.concatenate([p.data.ravel() for p in fresh.params]))
        assert len(values) == 1, f"a torn checkpoint mixes saves {values[:5]}"
        assert fresh.epoch == 1 and fresh.optimizer.state

    kill_during_saves(save_loop, tmp_path / "run.ckpt.npz", check)


def test_missing_metadata_fields_are_named(tmp_path):
    path = trained_checkpoint(tmp_path)
    parts = members(path)
    meta = meta_of(parts)
    del meta["optim_scalars"]
    write(path, with_meta(parts, meta))
    with pytest.raises(
        ModelFileError,
        match=r"'.*ck.npz' is not a readable descentlab "
        r"checkpoint: the metadata lacks \['optim_scalars'\]",
    ):
        load_checkpoint(make_trainer(), path)
    del parts["meta"]
    write(path, parts)
    with pytest.raises(ModelFileError, match="the metadata 'meta' is missing"):
        load_checkpoint(make_trainer(), path)


def _edit(key, value):
    def change(meta):
        meta[key] = value
        return meta

    return change


def _edit_scheduler(key, value):
    def change(meta):
        meta["scheduler"][key] = value
        return meta

    return change


def _edit_group(key, value):
    def change(meta):
        meta["param_groups"][0][key] = value
        return meta

    return change


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda m: [m], "the metadata is list, not an object"),
        (lambda m: "[" * 100_000 + "]" * 100_000, "nested too deeply"),
        (lambda m: "{" + '"a": {' * 200 + "}" * 200 + "}", "checkpoint format None"),
        (lambda m: {**m, "x": json.loads("[" * 150 + "1" + "]" * 150)}, "nested more than"),
        (lambda m: "{not json", "not valid JSON"),
        (_edit("format", "descentlab-checkpoint-99"), "checkpoint format"),
        (_edit("epoch", "3"), "'epoch' must be int, got str"),
        (_edit("epoch", True), "'epoch' must be int, got bool"),
        (_edit("global_step", -4), "'global_step' is negative"),
        (_edit("optim_scalars", [1, 2]), "'optim_scalars' must be dict"),
        (_edit("optim_scalars", {"x": {}}), "'optim_scalars' has a bad entry"),
        (_edit("optim_scalars", {"0": {"step": "many"}}), "optimizer state 0/step is not a number"),
        (_edit("param_groups", {"lr": 1}), "'param_groups' must be list"),
        (_edit("param_groups", [{"params": "all"}]), "'params' id lists"),
        (_edit("param_groups", []), "it has 0 optimizer parameter groups, this run 1"),
        (_edit_group("lr", "fast"), "optimizer setting 'lr' of group 0 is 'fast'"),
        (_edit_group("lr", -1.0), "optimizer parameter group 0: "),
        (_edit_group("__class__", {"x": 1}), "unknown setting '__class__'"),
        # (this run has 1 flat parameter without the compiled fast path, else the model's)
        (_edit_group("params", list(range(9))), "group 0 has 9 parameters, this run "),
        (_edit_scheduler("optimizer", {"param_groups": []}), "scheduler setting 'optimizer'"),
        (_edit_scheduler("step", 3), "scheduler setting 'step'"),
        (_edit_scheduler("gamma", [1, 2]), "scheduler setting 'gamma'"),
        (_edit("early_stopping", {"best": 1.0}), "early-stopping state"),
        (_edit("dropout_rngs", []), "it has 0 dropout layers, the model 1"),
        (_edit("dropout_rngs", [7]), "'dropout_rngs' must be a list of generator states"),
        (_edit("dropout_rngs", [{"bit_generator": "Nope"}]), "dropout_rngs"),
        (
            _edit("loader", {"epoch": -1}),
            "cannot restore the data loader state ('loader') (ValueError: state must be a dict",
        ),
        (_edit("history", {"epochs": 3}), "'history' is malformed"),
        (_edit("history", {"step_loss": ["a"]}), "'history' is malformed"),
        (_edit("x", {"__ndarray__": [1, 2], "dtype": "object"}), "must be real numbers"),
        (_edit("x", {"__ndarray__": [1, 2]}), "no valid numeric dtype"),
        (
            _edit("x", {"__ndarray__": [[0] * 1001] * 1000, "dtype": "f8"}),
            "more than 1000000 elements",
        ),
        (_edit("x", {"__ndarray__": ["a", "b"], "dtype": "f8"}), "other than numbers"),
    ],
)
def test_malformed_metadata_is_named_and_leaves_the_trainer_as_it_was(tmp_path, change, fragment):
    path = trained_checkpoint(tmp_path)
    parts = members(path)
    write(path, with_meta(parts, change(meta_of(parts))))
    trainer = make_trainer(seed=7)
    trainer.run_epoch()
    before = state_of(trainer)
    with pytest.raises(ModelFileError) as info:
        load_checkpoint(trainer, path)
    assert str(path) in str(info.value) and fragment in str(info.value), str(info.value)
    assert_same_state(state_of(trainer), before)


def test_dropout_state_that_fails_late_is_rolled_back(tmp_path):
    path = trained_checkpoint(tmp_path)
    parts = members(path)
    meta = meta_of(parts)
    meta["dropout_rngs"][0]["state"] = "garbage"
    write(path, with_meta(parts, meta))
    trainer = make_trainer(seed=7)
    before = state_of(trainer)
    dropout_state = trainer.model[2].rng.bit_generator.state
    with pytest.raises(ModelFileError, match="ck.npz"):
        load_checkpoint(trainer, path)
    assert_same_state(state_of(trainer), before)
    assert trainer.model[2].rng.bit_generator.state == dropout_state
    assert not trainer.optimizer.state


def test_arrays_of_the_wrong_shape_are_refused_before_loading(tmp_path):
    path = trained_checkpoint(tmp_path)
    other = make_trainer(sizes=(4, 9, 3))
    with pytest.raises(
        ModelFileError,
        match=r"'0.weight' has shape \(9, 4\) in the model but "
        r"\(8, 4\) in the file",
    ):
        load_checkpoint(other, path)
    parts = members(path)
    key = next(k for k in parts if k.startswith("optim/") and k.endswith("exp_avg"))
    for bad, fragment in (
        ({**parts, key: npy(np.zeros(7, np.float32))}, "has shape (7,), its parameter"),
        ({**parts, key: npy(np.array(["x"] * 3))}, "is not a real array"),
        ({**parts, "optim/99/exp_avg": npy(np.zeros(3))}, "parameter 99, which no parameter"),
        ({**parts, "optim/x/exp_avg": npy(np.zeros(3))}, "'optim/x/exp_avg' is not a real"),
        ({**parts, "stray": npy(np.zeros(3))}, "unexpected array 'stray'"),
    ):
        write(path, bad)
        trainer = make_trainer(seed=3)
        before = state_of(trainer)
        with pytest.raises(ModelFileError) as info:
            load_checkpoint(trainer, path)
        assert fragment in str(info.value) and str(path) in str(info.value)
        assert_same_state(state_of(trainer), before)


def test_schedule_mismatch_and_size_limit(tmp_path):
    path = trained_checkpoint(tmp_path)
    with pytest.raises(ModelFileError, match="has a learning-rate schedule but this run has none"):
        load_checkpoint(make_trainer(lr_scheduler=None), path)
    with pytest.raises(ModelFileError, match="max_bytes"):
        load_checkpoint(make_trainer(), path, max_bytes=100)
    load_checkpoint(make_trainer(), path, max_bytes=10**6)


def test_junk_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        load_checkpoint(make_trainer(), tmp_path / "nope.npz")
    for content, fragment in (
        (b"", "empty"),
        (b"junk", "not an .npz"),
        (npy(np.zeros(3)), "single .npy"),
    ):
        path = tmp_path / "bad.npz"
        path.write_bytes(content)
        with pytest.raises(ModelFileError, match=fragment):
            load_checkpoint(make_trainer(), path)


# ------------------------------------------------------------------ fuzzing
def mutate(data: bytes, mutation) -> bytes:
    kind, arg = mutation
    if not data:
        return data
    if kind == "flip":
        out = bytearray(data)
        for pos, value in arg:
            out[pos % len(out)] = value
        return bytes(out)
    if kind == "truncate":
        return data[: arg % len(data)]
    src, dst, cut, length = arg
    src, dst = src % len(data), dst % len(data)
    return data[:dst] + data[src : src + length] + data[dst + cut % 64 :]


MUTATIONS = st.one_of(
    st.lists(st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8).map(
        lambda f: ("flip", f)
    ),
    st.integers(0, 10**6).map(lambda n: ("truncate", n)),
    st.tuples(*[st.integers(0, 10**6)] * 3, st.integers(0, 300)).map(lambda s: ("splice", s)),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    target=st.sampled_from([None, "meta", "model/0.weight", "optim/0/exp_avg"]), mutation=MUTATIONS
)
# a flipped bit that makes a metadata character's UCS-4 code > U+10FFFF (NumPy raised
# SystemError turning it into a str)
@example(target="meta", mutation=("flip", [(1439, 1)]))
def test_fuzzed_checkpoints_load_or_raise_model_file_error(tmp_path, target, mutation):
    path = tmp_path / "fuzzed.npz"
    source = tmp_path / "source.npz"
    if not source.exists():
        trained_checkpoint(tmp_path, "source.npz")
    parts = members(source)
    if target is None:
        path.write_bytes(mutate(source.read_bytes(), mutation))
    else:
        write(path, {**parts, target: mutate(parts[target], mutation)})
    trainer = make_trainer(seed=2)
    try:
        load_checkpoint(trainer, path)
    except ModelFileError as exc:
        assert str(path) in str(exc)


def _registered_runs() -> list[tuple[str, str]]:
    from descentlab import optim
    from descentlab.optim.lr_scheduler import SCHEDULES

    return [(name, "adam") for name in SCHEDULES] + [
        ("step", name) for name in optim.REGISTRY if name != "adam"
    ]


@pytest.mark.parametrize(("schedule", "optimizer"), _registered_runs())
def test_every_registered_schedule_and_optimizer_passes_the_checks(tmp_path, schedule, optimizer):
    trainer = make_trainer(lr_scheduler=schedule, optimizer=optimizer)
    trainer.run_epoch()
    trainer.run_epoch()
    path = save_checkpoint(trainer, tmp_path / "ck.npz")
    again = make_trainer(seed=9, lr_scheduler=schedule, optimizer=optimizer)
    load_checkpoint(again, path)
    assert_same_state(state_of(again), state_of(trainer))
    assert again.scheduler.state_dict().keys() == trainer.scheduler.state_dict().keys()
