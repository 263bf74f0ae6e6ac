"""Reading model and checkpoint files without trusting them.

A model file (``Module.save``) and a checkpoint (``train.save_checkpoint``) are
``.npz`` archives: a zip of ``.npy`` arrays, read with ``allow_pickle=False``,
plus JSON metadata (the architecture, the training state). A file may come from
anywhere, so :func:`read_npz` checks it *before* allocating anything:

* it is a regular, non-empty file that starts like a zip archive (an ``.npy``
  renamed ``.npz``, a directory, junk or a truncated download get a plain error);
* every member is an ``.npy`` array whose header (shape, dtype) and zip entry size
  are read first; no member, and not all of them together, may ask for more than
  ``max_bytes`` (default :data:`DEFAULT_MAX_BYTES`, 2 GiB), so a tiny zip bomb
  cannot allocate gigabytes;
* object arrays (pickles) are refused.

:func:`check_architecture` does the same for the JSON that rebuilds a built-in
network: the parameters it implies must fit in ``max_bytes`` before a single
layer is built, so a 2 KB file cannot ask for ``MLP([2, 100000, 100000, 3])``.

Every problem raises :class:`ModelFileError` (a ``ValueError``) whose message
names the file and the problem. A user who really means to load something larger
raises the limit with ``max_bytes=`` (``nn.load``, ``train.load_checkpoint``) or
with the environment variable ``DESCENTLAB_MAX_FILE_BYTES`` (a number of bytes).
"""

from __future__ import annotations

import itertools
import json
import math
import os
import struct
import tokenize
import zipfile
import zlib
from collections.abc import Callable, Mapping
from typing import Any, NoReturn

import numpy as np

__all__ = [
    "DEFAULT_MAX_BYTES",
    "ENV_MAX_BYTES",
    "ModelFileError",
    "check_architecture",
    "parse_json_member",
    "read_npz",
    "resolve_max_bytes",
]

#: Largest total size of the arrays in one file, and of the weights an architecture asks for.
DEFAULT_MAX_BYTES = 2 * 1024**3
#: Environment variable that raises (or lowers) :data:`DEFAULT_MAX_BYTES`, in bytes.
ENV_MAX_BYTES = "DESCENTLAB_MAX_FILE_BYTES"
#: Most arrays one archive may hold.
MAX_MEMBERS = 100_000
#: Most modules, and deepest nesting of Sequentials, an architecture may describe.
MAX_MODULES = 10_000
MAX_DEPTH = 64

_FLOAT_DTYPES = ("float16", "float32", "float64")

# Everything the zip and .npy readers may raise on a damaged file.
_READ_ERRORS: tuple[type[BaseException], ...] = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    OSError,
    EOFError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    RuntimeError,  # also NotImplementedError (compression) and RecursionError
    OverflowError,
    struct.error,
    zlib.error,
    SyntaxError,
    tokenize.TokenError,  # numpy tokenizes the .npy header
)


class ModelFileError(ValueError):
    """A model or checkpoint file that cannot be read safely; ``path`` names it."""

    def __init__(self, path: str, what: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path!r} is not a readable {what}: {problem}")


def _gib(n: int) -> str:
    return f"{n / 1024**3:.3g} GiB" if n >= 1024**2 else f"{n} bytes"


def resolve_max_bytes(max_bytes: int | None = None) -> int:
    """The limit in force: ``max_bytes`` if given, else ``$DESCENTLAB_MAX_FILE_BYTES``,
    else :data:`DEFAULT_MAX_BYTES`."""
    source = "max_bytes"
    value: Any = max_bytes
    if value is None:
        env = os.environ.get(ENV_MAX_BYTES, "").strip()
        if not env:
            return DEFAULT_MAX_BYTES
        source = f"${ENV_MAX_BYTES}"
        try:
            value = int(float(env)) if any(c in env for c in ".eE") else int(env)
        except (ValueError, OverflowError):
            raise ValueError(f"{source} must be a number of bytes, got {env!r}") from None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{source} must be a positive number of bytes, got {value!r}")
    return int(value)


def _limit_hint(limit: int) -> str:
    return (
        f"more than the limit of {_gib(limit)}; if you trust this file, raise the limit "
        f"with max_bytes= or the environment variable {ENV_MAX_BYTES}"
    )


def read_npz(
    path: str | os.PathLike[str], what: str = "descentlab model", *, max_bytes: int | None = None
) -> dict[str, np.ndarray]:
    """Every array of an ``.npz`` archive, checked against ``max_bytes`` before it is read.

    One reader for model files and checkpoints: ``what`` names the kind of file in
    messages. Raises :class:`ModelFileError` for anything that is not a sound archive
    of plain arrays within the limit, and ``FileNotFoundError`` if nothing is there.
    """
    path = os.fspath(path)
    limit = resolve_max_bytes(max_bytes)

    def fail(problem: str) -> NoReturn:
        raise ModelFileError(path, what, problem)

    if os.path.isdir(path):
        fail("it is a directory, not a file")
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        raise
    except OSError as exc:
        fail(f"cannot open it ({exc.strerror or exc})")
    with fh:
        size = os.fstat(fh.fileno()).st_size
        if size == 0:
            fail("the file is empty")
        if size > limit:
            fail(f"the file is {_gib(size)}, {_limit_hint(limit)}")
        head = fh.read(6)
        if head.startswith(b"\x93NUMPY"):
            fail("it is a single .npy array, not an .npz archive")
        if not head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
            fail("not an .npz (zip) archive")
        fh.seek(0)
        try:
            return _read_members(fh, limit, fail)
        except ModelFileError:
            raise
        except _READ_ERRORS as exc:
            fail(f"the archive is damaged or truncated ({type(exc).__name__}: {exc})")


def _read_members(fh: Any, limit: int, fail: Callable[[str], NoReturn]) -> dict[str, np.ndarray]:
    with zipfile.ZipFile(fh) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_MEMBERS:
            fail(f"it holds {len(infos)} members, more than {MAX_MEMBERS}")
        stored = 0
        for info in infos:
            if not info.filename.endswith(".npy"):
                fail(f"member {info.filename!r} is not an .npy array")
            stored += info.file_size
            if stored > limit:
                fail(f"its members unpack to {_gib(stored)}, {_limit_hint(limit)}")
        # Headers first: nothing is allocated until every member is known to fit.
        total = 0
        for info in infos:
            with zf.open(info) as member:
                shape, dtype, header_end = _read_header(member, info.filename, fail)
            nbytes = math.prod(shape) * dtype.itemsize
            total += nbytes
            if total > limit:
                fail(
                    f"member {info.filename!r} asks for shape {shape} of {dtype} "
                    f"({_gib(nbytes)}), {_limit_hint(limit)}"
                )
            if header_end + nbytes > info.file_size:
                fail(
                    f"member {info.filename!r} is truncated: its header promises {nbytes} "
                    f"bytes of {dtype}, the archive holds {info.file_size - header_end}"
                )
        arrays: dict[str, np.ndarray] = {}
        for info in infos:
            with zf.open(info) as member:
                arrays[info.filename[:-4]] = np.lib.format.read_array(member, allow_pickle=False)
        return arrays


def _read_header(
    member: Any, name: str, fail: Callable[[str], NoReturn]
) -> tuple[tuple[int, ...], np.dtype, int]:
    fmt = np.lib.format
    version = fmt.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = fmt.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = fmt.read_array_header_2_0(member)
    else:
        fail(f"member {name!r} has unsupported .npy format version {version}")
    if dtype.hasobject:
        fail(f"member {name!r} holds Python objects, which are never loaded (no pickle)")
    if any(d < 0 for d in shape):
        fail(f"member {name!r} has a negative dimension in shape {shape}")
    return tuple(int(d) for d in shape), dtype, member.tell()


def parse_json_member(arrays: Mapping[str, np.ndarray], key: str, path: str, what: str) -> Any:
    """The JSON text stored as the 0-d string array ``arrays[key]``, decoded."""
    if key not in arrays:
        raise ModelFileError(path, what, f"the metadata {key!r} is missing")
    value = arrays[key]
    if value.ndim != 0 or value.dtype.kind != "U":
        raise ModelFileError(
            path,
            what,
            f"the metadata {key!r} is not a JSON string "
            f"(it is {value.dtype} of shape {value.shape})",
        )
    # a UCS-4 code above U+10FFFF (a corrupt file) cannot become a str: NumPy would raise
    # SystemError, so the codes are checked first
    codes = np.frombuffer(value.tobytes(), dtype=value.dtype.byteorder.replace("|", "=") + "u4")
    if codes.size and int(codes.max()) > 0x10FFFF:
        bad = int(codes.max())
        raise ModelFileError(
            path, what, f"the metadata {key!r} has a character code {bad:#x} above U+10FFFF"
        )
    try:
        return json.loads(str(value))
    except RecursionError:
        raise ModelFileError(path, what, f"the metadata {key!r} is nested too deeply") from None
    except ValueError as exc:
        raise ModelFileError(
            path, what, f"the metadata {key!r} is not valid JSON ({exc})"
        ) from None


# ------------------------------------------------------------------ architectures
def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_pos_int(v: Any) -> bool:
    return _is_int(v) and v > 0


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _is_float_dtype(v: Any) -> bool:
    return v in _FLOAT_DTYPES


def _is_sizes(v: Any) -> bool:
    return isinstance(v, list) and 2 <= len(v) <= MAX_MODULES and all(_is_pos_int(s) for s in v)


def _is_str(v: Any) -> bool:
    return isinstance(v, str) and len(v) < 100


def _linear_bytes(c: Mapping[str, Any]) -> int:
    n = c["in_features"] * c["out_features"] + (c["out_features"] if c.get("bias", True) else 0)
    return n * np.dtype(c.get("dtype", "float32")).itemsize


def _mlp_bytes(c: Mapping[str, Any]) -> int:
    sizes = c["sizes"]
    bias = c.get("bias", True)
    n = sum(a * b + (b if bias else 0) for a, b in itertools.pairwise(sizes))
    return n * np.dtype(c.get("dtype", "float32")).itemsize


# type -> (required keys, {key: check}, bytes of parameters). The built-in layers only:
# a file names one of these, never an arbitrary class.
_ARCHITECTURES: dict[
    str, tuple[frozenset[str], dict[str, Callable[[Any], bool]], Callable[[Mapping[str, Any]], int]]
] = {
    "Linear": (
        frozenset({"in_features", "out_features"}),
        {
            "in_features": _is_pos_int,
            "out_features": _is_pos_int,
            "bias": _is_bool,
            "dtype": _is_float_dtype,
        },
        _linear_bytes,
    ),
    "MLP": (
        frozenset({"sizes"}),
        {
            "sizes": _is_sizes,
            "activation": _is_str,
            "dropout": _is_number,
            "bias": _is_bool,
            "dtype": _is_float_dtype,
            "per_epoch_dropout": _is_bool,
        },
        _mlp_bytes,
    ),
    "ReLU": (frozenset(), {}, lambda c: 0),
    "Sigmoid": (frozenset(), {}, lambda c: 0),
    "Tanh": (frozenset(), {}, lambda c: 0),
    "Identity": (frozenset(), {}, lambda c: 0),
    "LeakyReLU": (frozenset(), {"negative_slope": _is_number}, lambda c: 0),
    "Softmax": (frozenset(), {"dim": _is_int}, lambda c: 0),
    "Flatten": (frozenset(), {"start_dim": _is_int}, lambda c: 0),
    "Dropout": (frozenset(), {"p": _is_number, "per_epoch": _is_bool}, lambda c: 0),
    "Sequential": (frozenset({"modules"}), {"modules": lambda v: isinstance(v, list)}, lambda c: 0),
}
#: The module types a model file may ask to rebuild.
ARCHITECTURE_TYPES = frozenset(_ARCHITECTURES)


def check_architecture(
    spec: Any, path: str, what: str = "descentlab model", *, max_bytes: int | None = None
) -> int:
    """Check a ``Module.spec()`` read from a file; return the bytes its weights need.

    Only built-in layer types with well-typed settings pass, at most
    :data:`MAX_MODULES` modules nested at most :data:`MAX_DEPTH` deep, and the
    parameters must fit in ``max_bytes`` -- all decided before anything is built.
    """
    limit = resolve_max_bytes(max_bytes)

    def fail(problem: str) -> NoReturn:
        raise ModelFileError(path, what, f"bad architecture: {problem}")

    count = 0
    total = 0
    stack: list[tuple[Any, str, int]] = [(spec, "model", 0)]
    while stack:  # iterative, so no nesting can exhaust the recursion limit
        node, where, depth = stack.pop()
        count += 1
        if count > MAX_MODULES:
            fail(f"more than {MAX_MODULES} modules")
        if depth > MAX_DEPTH:
            fail(f"modules nested more than {MAX_DEPTH} deep")
        if not isinstance(node, dict) or not isinstance(node.get("type"), str):
            fail(f"{where} must be an object with a 'type' string, got {_short(node)}")
        unknown_keys = set(node) - {"type", "config"}
        if unknown_keys:
            fail(f"{where} has unexpected keys {sorted(unknown_keys)}")
        kind, config = node["type"], node.get("config", {})
        if kind not in _ARCHITECTURES:
            fail(
                f"{where} has type {_short(kind)}, which is not a built-in layer "
                f"({', '.join(sorted(_ARCHITECTURES))}); load custom modules with model="
            )
        if not isinstance(config, dict):
            fail(f"{where} ({kind}) config must be an object, got {_short(config)}")
        required, checks, weight_bytes = _ARCHITECTURES[kind]
        missing = sorted(required - set(config))
        if missing:
            fail(f"{where} ({kind}) lacks {missing}")
        for key, value in config.items():
            if key not in checks:
                fail(f"{where} ({kind}) has an unknown setting {_short(key)}")
            if not checks[key](value):
                fail(f"{where} ({kind}) setting {key!r} is invalid: {_short(value)}")
        total += weight_bytes(config)
        if total > limit:
            fail(f"its weights need at least {_gib(total)}, {_limit_hint(limit)}")
        if kind == "Sequential":
            if count + len(stack) + len(config["modules"]) > MAX_MODULES:
                fail(f"more than {MAX_MODULES} modules")
            for i, child in enumerate(config["modules"]):
                stack.append((child, f"{where}.{i}", depth + 1))
    return total


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
