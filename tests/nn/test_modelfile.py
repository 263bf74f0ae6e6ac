"""Model files from anywhere: hostile, damaged or oversized files give ModelFileError
naming the file, before anything big is allocated; a fuzzer finds no other exception."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from descentlab import nn
from descentlab.nn.modelfile import (
    DEFAULT_MAX_BYTES,
    ENV_MAX_BYTES,
    ModelFileError,
    read_npz,
    resolve_max_bytes,
)

SPEC = "__descentlab_spec__"


def npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    arr = np.asarray(arr)
    np.lib.format.write_array(buf, arr, allow_pickle=arr.dtype.hasobject)
    return buf.getvalue()


def npy_header(shape: tuple[int, ...], descr: str = "<f8") -> bytes:
    """Only the header of an .npy: it promises ``shape`` but carries no data."""
    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buf, {"descr": descr, "fortran_order": False, "shape": shape}
    )
    return buf.getvalue()


def npz(members: dict[str, bytes], compression: int = zipfile.ZIP_STORED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name + ".npy", data)
    return buf.getvalue()


def saved_members(model: nn.Module, tmp_path) -> dict[str, bytes]:
    path = model.save(tmp_path / "valid.npz")
    with zipfile.ZipFile(path) as zf:
        return {info.filename[:-4]: zf.read(info) for info in zf.infolist()}


def with_spec(members: dict[str, bytes], spec_text: str) -> dict[str, bytes]:
    return {**members, SPEC: npy(np.array(spec_text))}


def small_model() -> nn.MLP:
    nn.manual_seed(0)
    return nn.MLP([3, 4, 2])


def assert_model_file_error(path, *fragments: str) -> ModelFileError:
    with pytest.raises(ModelFileError) as info:
        nn.load(path)
    message = str(info.value)
    assert repr(str(path)) in message
    for fragment in fragments:
        assert fragment in message, message
    return info.value


def test_architecture_bomb_is_refused_before_building(tmp_path):
    members = with_spec(
        saved_members(small_model(), tmp_path),
        json.dumps({"type": "MLP", "config": {"sizes": [2, 100000, 100000, 3]}}),
    )
    path = tmp_path / "bomb.npz"
    path.write_bytes(npz(members))
    assert path.stat().st_size < 4096
    tracemalloc.start()
    try:
        assert_model_file_error(path, "bad architecture", "GiB", "max_bytes", ENV_MAX_BYTES)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_npy_header_claiming_a_huge_shape_is_refused_before_reading(tmp_path):
    path = tmp_path / "claims.npz"
    path.write_bytes(npz({"hidden.weight": npy_header((100_000, 100_000))}))
    tracemalloc.start()
    try:
        assert_model_file_error(
            path, "'hidden.weight.npy' asks for shape (100000, 100000)", "max_bytes"
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 5_000_000


def test_header_promising_more_data_than_the_member_holds_is_truncated(tmp_path):
    path = tmp_path / "short.npz"
    path.write_bytes(npz({"w": npy_header((1000, 1000))}))
    assert_model_file_error(path, "'w.npy' is truncated")


def test_highly_compressible_member_is_measured_before_it_is_unpacked(tmp_path, monkeypatch):
    path = tmp_path / "zeros.npz"
    path.write_bytes(npz({"w": npy(np.zeros(2_000_000))}, zipfile.ZIP_DEFLATED))  # 16 MB
    assert path.stat().st_size < 100_000
    tracemalloc.start()
    try:
        with pytest.raises(ModelFileError, match=r"unpack to 15.3 MiB|unpack to 0.0149 GiB"):
            read_npz(path, max_bytes=1_000_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2_000_000
    monkeypatch.setenv(ENV_MAX_BYTES, "1e6")
    with pytest.raises(ModelFileError, match="zeros.npz"):
        read_npz(path)
    monkeypatch.setenv(ENV_MAX_BYTES, "50000000")  # the user who really means it
    assert read_npz(path)["w"].shape == (2_000_000,)
    assert read_npz(path, max_bytes=10**8)["w"].shape == (2_000_000,)


def test_limit_defaults_and_bad_settings(monkeypatch):
    monkeypatch.delenv(ENV_MAX_BYTES, raising=False)
    assert resolve_max_bytes() == DEFAULT_MAX_BYTES == 2 * 1024**3
    assert resolve_max_bytes(123) == 123
    monkeypatch.setenv(ENV_MAX_BYTES, "lots")
    with pytest.raises(ValueError, match=ENV_MAX_BYTES):
        resolve_max_bytes()
    with pytest.raises(ValueError, match="max_bytes"):
        resolve_max_bytes(-1)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"", "the file is empty"),
        (b"hello, I am not a zip", "not an .npz (zip) archive"),
        (npy(np.arange(5)), "a single .npy array, not an .npz"),
        (b"PK\x03\x04" + b"\x00" * 40, "damaged or truncated"),
        (npz({"w": b"this is no npy"}), "damaged or truncated"),
        (npz({"w": npy(np.array([{"a": 1}], dtype=object))}), "Python objects"),
    ],
    ids=["empty", "junk", "npy-renamed", "zip-magic-then-zeros", "member-not-npy", "pickle"],
)
def test_junk_files_give_one_clear_error(tmp_path, content, fragment):
    path = tmp_path / "m.npz"
    path.write_bytes(content)
    assert_model_file_error(path, fragment)


def test_truncated_files_at_every_length_give_one_clear_error(tmp_path):
    whole = small_model().save(tmp_path / "whole.npz").read_bytes()
    path = tmp_path / "cut.npz"
    for n in range(1, len(whole), max(1, len(whole) // 60)):
        path.write_bytes(whole[:n])
        assert_model_file_error(path)


def test_a_directory_and_a_non_npy_member_are_named(tmp_path):
    folder = tmp_path / "folder.npz"
    folder.mkdir()
    assert_model_file_error(folder, "is a directory")
    path = tmp_path / "extra.npz"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("readme.txt", "hi")
    path.write_bytes(buf.getvalue())
    assert_model_file_error(path, "'readme.txt' is not an .npy array")


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("[1, 2, 3]", "must be an object with a 'type' string"),
        ('"MLP"', "must be an object"),
        ("{not json", "not valid JSON"),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"type": "MLP", "config": {"sizes": "abc"}}', "'sizes' is invalid"),
        ('{"type": "MLP", "config": {"sizes": [3, true, 2]}}', "'sizes' is invalid"),
        (
            '{"type": "MLP", "config": {"sizes": [3, 4, 2], "dtype": "object"}}',
            "'dtype' is invalid",
        ),
        ('{"type": "MLP", "config": {"sizes": [3, 4, 2], "evil": 1}}', "unknown setting"),
        ('{"type": "MLP", "config": [3, 4, 2]}', "config must be an object"),
        ('{"type": "Linear", "config": {}}', "lacks ['in_features', 'out_features']"),
        ('{"type": "MLP"}', "lacks ['sizes']"),
        ('{"type": "Popen", "config": {"args": "rm -rf /"}}', "not a built-in layer"),
        (
            '{"type": "Sequential", "config": {"modules": [{"type": "ReLU"}, 7]}}',
            "model.1 must be an object",
        ),
        (
            '{"type": "Sequential", "config": {"modules": ['
            + '{"type": "ReLU"},' * 20_000
            + '{"type": "ReLU"}]}}',
            "more than 10000 modules",
        ),
        (
            '{"type": "MLP", "config": {"sizes": [3, 4, 2], "activation": "gelu"}}',
            "cannot rebuild the architecture",
        ),
        ('{"type": "MLP", "config": {"sizes": [3, 5, 2]}}', "has shape (5, 3) in the model"),
    ],
    ids=[
        "list",
        "string",
        "bad-json",
        "deep",
        "sizes-str",
        "sizes-bool",
        "dtype",
        "unknown-key",
        "config-list",
        "missing-fields",
        "missing-config",
        "foreign-type",
        "bad-child",
        "many-modules",
        "bad-activation",
        "shape-mismatch",
    ],
)
def test_malformed_architecture_metadata_is_named(tmp_path, spec, fragment):
    path = tmp_path / "meta.npz"
    path.write_bytes(npz(with_spec(saved_members(small_model(), tmp_path), spec)))
    assert_model_file_error(path, fragment)


def test_architecture_stored_as_a_number_array_is_named(tmp_path):
    members = {**saved_members(small_model(), tmp_path), SPEC: npy(np.arange(3))}
    path = tmp_path / "meta.npz"
    path.write_bytes(npz(members))
    assert_model_file_error(path, "is not a JSON string")


def test_weights_that_do_not_fit_leave_the_given_model_untouched(tmp_path):
    path = small_model().save(tmp_path / "small.npz")
    nn.manual_seed(1)
    other = nn.MLP([3, 5, 2])
    before = other.state_dict()
    with pytest.raises(ModelFileError, match=r"'0.weight' has shape \(5, 3\) in the model"):
        nn.load(path, model=other)
    for name, value in other.state_dict().items():
        np.testing.assert_array_equal(value, before[name])
    members = saved_members(small_model(), tmp_path)
    members["0.weight"] = npy(np.full((4, 3), "text"))
    bad = tmp_path / "strings.npz"
    bad.write_bytes(npz(members))
    assert_model_file_error(bad, "'0.weight' holds <U4, not real numbers")


# ------------------------------------------------------------------ fuzzing
def _mutations() -> st.SearchStrategy:
    flips = st.lists(
        st.tuples(st.integers(0, 10**6), st.integers(0, 255)), min_size=1, max_size=8
    ).map(lambda f: ("flip", f))
    truncate = st.integers(0, 10**6).map(lambda n: ("truncate", n))
    splice = st.tuples(
        st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 200)
    ).map(lambda s: ("splice", s))
    return st.one_of(flips, truncate, splice)


def mutate(data: bytes, mutation: tuple[str, object]) -> bytes:
    """Flip bytes, cut the tail, or copy a stretch of the data to another place."""
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


FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def rezip(members: dict[str, bytes], target: str | None, mutation) -> bytes:
    """Mutate one member (and zip it again, so the CRC is right), or the whole file."""
    if target is None:
        return mutate(npz(members), mutation)
    return npz({**members, target: mutate(members[target], mutation)})


@FUZZ
@given(target=st.sampled_from([None, SPEC, "0.weight", "3.bias"]), mutation=_mutations())
def test_fuzzed_model_files_load_or_raise_model_file_error(tmp_path, target, mutation):
    nn.manual_seed(0)
    members = saved_members(nn.MLP([3, 4, 2], dropout=0.1), tmp_path)
    path = tmp_path / "fuzzed.npz"
    path.write_bytes(rezip(members, target, mutation))
    try:
        model = nn.load(path)
    except ModelFileError as exc:
        assert str(path) in str(exc)
    else:
        assert isinstance(model, nn.Module)
