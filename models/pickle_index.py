"""Read the tensor index of a torch pickle file without executing it.

The pickle runs on :mod:`._pickle_vm`'s inert machine: globals are markers,
calls are opaque, tensors come out as shape + dtype. From a torch zip only
the central directory and ``data.pkl`` are read; from a legacy file only the
leading pickles plus one 8-byte size per storage (to catch truncation).

Naming: nested containers become dotted names, exactly as stored
(``state_dict.model.diffusion_model.…``; stripping known prefixes is the
classifier's job). Dict keys that are not strings are written with ``str()``
(hypernetworks: ``320.0.linear.0.weight``), list and tuple positions by
index, ``torch.nn.Module`` objects (``ParameterDict`` included) by their
parameters, buffers and sub-modules. A tensor saved alone is named ``""``.
Scalars, strings and short lists of scalars land in ``TensorIndex.values``
under the same kind of name; other objects are skipped.
"""

from __future__ import annotations

import struct
from collections import Counter
from pathlib import Path
from typing import Any

from ._pickle_vm import Opaque, PickleError, TensorRef, TruncatedPickle
from ._torch_file import TorchFile, dtype_width
from ._torch_types import LEGACY_PROTOCOL_VERSION
from ._zip import ZipError, crc_matches
from .errors import InvalidFileError
from .kinds import FileFormat
from .tensor_index import TensorIndex, TensorInfo

#: Lists and tuples of scalars up to this length are values; longer ones are skipped.
MAX_VALUE_LIST = 64
#: Strings longer than this are not kept as values.
MAX_VALUE_STR = 65536
#: A pickle whose object graph unfolds into more names than this is refused.
MAX_ENTRIES = 500_000
_MAX_DEPTH = 200
_MAX_SHARED = 16

_MALFORMED = (
    PickleError,
    ZipError,
    ValueError,
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    struct.error,
    RecursionError,
    OverflowError,
)


def read_pickle_index(path: Path, fmt: FileFormat) -> TensorIndex:
    """Names, shapes, dtypes and plain values of a torch zip or legacy pickle file.

    ``fmt`` is TORCH_ZIP or TORCH_LEGACY (from :func:`~.sniff.sniff_format`).
    Never imports or calls anything named in the pickle, never reads storages.
    Nested containers become dotted names. Raises
    :class:`~.errors.InvalidFileError` for a file that cannot be read.
    """
    if fmt not in (FileFormat.TORCH_ZIP, FileFormat.TORCH_LEGACY):
        raise InvalidFileError(f"not a torch pickle file (format {fmt.value})")
    with TorchFile.open(path, fmt) as torch_file:
        return index_torch_file(torch_file)


def index_torch_file(torch_file: TorchFile) -> TensorIndex:
    """:func:`read_pickle_index` of a file already open (shares reads with the scanner)."""
    try:
        if torch_file.format is FileFormat.TORCH_ZIP:
            return _read_zip(torch_file)
        return _read_legacy(torch_file)
    except InvalidFileError:
        raise
    except TruncatedPickle as exc:
        raise InvalidFileError(f"truncated file: {exc}") from None
    except ZipError as exc:
        raise InvalidFileError(f"corrupt torch zip: {exc}") from None
    except _MALFORMED as exc:
        raise InvalidFileError(f"unreadable pickle: {_one_line(exc)}") from None


def _one_line(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


# --- torch zip ---------------------------------------------------------------------------------


def _read_zip(torch_file: TorchFile) -> TensorIndex:
    directory = torch_file.directory()
    prefix = torch_file.prefix()
    pkl = torch_file.main_member()
    if pkl is None:
        raise InvalidFileError(f"zip has no {prefix}/data.pkl: not a torch checkpoint")
    if not crc_matches(pkl, torch_file.main_bytes()):
        raise InvalidFileError("data.pkl fails its CRC check (corrupt or tampered file)")
    run = torch_file.main_run()
    if run.error is not None:
        raise run.error
    index = TensorIndex(format=FileFormat.TORCH_ZIP)
    refs = _Flattener(index).run(run.value)
    tops = {m.name.split("/", 1)[0] for m in directory.members}
    if len(tops) > 1:
        index.warnings.append(f"zip has {len(tops)} top folders; torch reads {prefix}/ only")
    for name, ref in refs:
        if ref.storage is None:
            continue
        member = torch_file.member(f"{prefix}/data/{ref.storage.key}")
        if member is None:
            raise InvalidFileError(
                f"tensor {name!r} refers to storage {ref.storage.key!r}, missing from the archive"
            )
        _check_extent(name, ref, member.size)
    order = torch_file.member(f"{prefix}/byteorder")
    if order is not None and order.size <= 16:
        text = torch_file.member_bytes(order, 16).strip()
        if text not in (b"", b"little"):
            index.warnings.append(f"storages are stored {text.decode('latin-1')}-endian")
    return index


def _check_extent(name: str, ref: TensorRef, available_bytes: int) -> None:
    width = dtype_width(ref.dtype)
    if width is None:
        return
    need = ref.extent * width
    if need > available_bytes:
        raise InvalidFileError(
            f"tensor {name!r} needs {need} bytes of storage {ref.storage.key!r}"  # type: ignore[union-attr]
            f" but it holds {available_bytes}"
        )


# --- legacy ------------------------------------------------------------------------------------


def _read_legacy(torch_file: TorchFile) -> TensorIndex:
    run = torch_file.legacy_run()
    index = TensorIndex(format=FileFormat.TORCH_LEGACY)

    def value(number: int) -> Any:
        """The value of pickle ``number`` (from 1), or the error that stopped it."""
        if len(run.values) >= number:
            return run.values[number - 1]
        assert run.failure is not None
        raise run.failure[2]

    magic = value(1)
    if run.plain:
        index.warnings.append("a plain pickle, not written by torch.save")
        _Flattener(index).run(magic)
        return index
    version = value(2)
    if version != LEGACY_PROTOCOL_VERSION:
        raise InvalidFileError(f"unsupported legacy torch protocol version {version!r}")
    sys_info = value(3)
    if isinstance(sys_info, dict) and sys_info.get("little_endian") is False:
        index.warnings.append("storages are stored big-endian")
    refs = _Flattener(index).run(value(4))
    value(5)
    if run.storage_keys is None:
        raise InvalidFileError("legacy storage key list is missing or malformed")
    if run.walk_error is not None:
        raise run.walk_error
    index.warnings.extend(run.walk_warnings)
    counts = run.counts or {}
    for name, ref in refs:
        if ref.storage is None or ref.storage.is_view or ref.storage.key not in counts:
            continue
        width = dtype_width(ref.storage.dtype or "")
        if width is not None:
            _check_extent(name, ref, counts[ref.storage.key] * width)
    return index


# --- object graph → dotted names -------------------------------------------------------------


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (bool, int, float, str))


def _key(key: Any) -> str:
    if isinstance(key, str):
        return key
    if isinstance(key, bytes):
        return key.decode("latin-1")
    return str(key)


class _TooLarge(Exception):
    pass


class _Flattener:
    """Walks the inert object tree, filling an index with tensors and plain values."""

    def __init__(self, index: TensorIndex) -> None:
        self.index = index
        self.refs: list[tuple[str, TensorRef]] = []
        self.nodes = 0
        self._path: set[int] = set()
        self._expanded: Counter[int] = Counter()
        self._warned: set[str] = set()

    def run(self, root: Any) -> list[tuple[str, TensorRef]]:
        try:
            self._walk(root, "", 0)
        except _TooLarge:
            self._warn(f"more than {MAX_ENTRIES} entries; the index is incomplete")
        return self.refs

    def _warn(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.index.warnings.append(message)

    def _walk(self, obj: Any, name: str, depth: int) -> None:
        self.nodes += 1
        if self.nodes > MAX_ENTRIES:
            raise _TooLarge
        if isinstance(obj, TensorRef):
            self._tensor(name, obj)
        elif isinstance(obj, dict):
            self._container(obj, obj.items(), name, depth)
        elif isinstance(obj, Opaque) and obj.children is not None:
            self._container(obj, obj.children.items(), name, depth)
        elif isinstance(obj, (list, tuple)):
            if len(obj) <= MAX_VALUE_LIST and all(_is_scalar(v) for v in obj):
                self._value(name, list(obj))
            else:
                self._container(obj, ((i, v) for i, v in enumerate(obj)), name, depth)
        elif isinstance(obj, (set, frozenset)):
            if len(obj) <= MAX_VALUE_LIST and all(_is_scalar(v) for v in obj):
                self._value(name, sorted(obj, key=repr))
        elif isinstance(obj, Opaque) and obj.callee.startswith("torch._utils._rebuild"):
            self._warn(f"{name!r} is a tensor sdhub cannot index ({obj.callee})")
        elif _is_scalar(obj):
            if isinstance(obj, str) and len(obj) > MAX_VALUE_STR:
                self._warn(f"value {name!r} is a {len(obj)}-character string; not kept")
            else:
                self._value(name, obj)

    def _container(self, obj: Any, items: Any, name: str, depth: int) -> None:
        if id(obj) in self._path:
            self._warn(f"{name!r} contains itself; the cycle is not followed")
            return
        # One object reachable by many paths ("billion laughs") is named a few times only.
        self._expanded[id(obj)] += 1
        if self._expanded[id(obj)] > _MAX_SHARED:
            self._warn(f"an object shared more than {_MAX_SHARED} times is named only that often")
            return
        if depth >= _MAX_DEPTH:
            self._warn(f"nesting deeper than {_MAX_DEPTH} levels is not followed")
            return
        self._path.add(id(obj))
        try:
            for key, value in items:
                part = _key(key)
                self._walk(value, f"{name}.{part}" if name else part, depth + 1)
        finally:
            self._path.discard(id(obj))

    def _tensor(self, name: str, ref: TensorRef) -> None:
        if name in self.index.tensors or name in self.index.values:
            self._warn(f"name {name!r} appears more than once; the last one is kept")
        self.index.tensors[name] = TensorInfo(name=name, shape=ref.shape, dtype=ref.dtype)
        self.refs.append((name, ref))

    def _value(self, name: str, value: Any) -> None:
        if name in self.index.tensors or name in self.index.values:
            self._warn(f"name {name!r} appears more than once; the last one is kept")
        self.index.values[name] = value
