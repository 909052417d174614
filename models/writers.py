"""Write real-format model files from plain Python values.

Used by ``sdhub demo`` and the tests to make tiny files of every kind without
torch or numpy: safetensors (as the ``safetensors`` library lays them out),
torch zip (what ``torch.save`` writes) and legacy torch (``torch.save(...,
_use_new_zipfile_serialization=False)``). The files load with the real
``safetensors.safe_open`` and ``torch.load(..., weights_only=True)``.

Example::

    write_safetensors(path, {"emb_params": TensorData.random((2, 768), seed=1)})
    write_torch_zip(path, {"state_dict": {"w": TensorData.zeros((320, 4, 3, 3))}})

Every writer writes ``<name>.tmp`` beside the target and renames it into
place, so a reader never sees half a file. Tensors whose ``data`` is None
are written as holes (sparse files where the filesystem allows), which
makes multi-hundred-megabyte test files cheap.
"""

from __future__ import annotations

import json
import os
import random
import struct
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from math import prod
from pathlib import Path
from typing import Any, BinaryIO

from ._pickle_writer import Pickler
from ._torch_types import LEGACY_MAGIC, LEGACY_PROTOCOL_VERSION, TORCH_DTYPES
from ._zip import ZipWriter
from .tensor_index import DTYPE_WIDTHS

_STRUCT_CODES = {
    "F64": "d",
    "F32": "f",
    "F16": "e",
    "I64": "q",
    "I32": "i",
    "I16": "h",
    "I8": "b",
    "U64": "Q",
    "U32": "I",
    "U16": "H",
    "U8": "B",
    "BOOL": "?",
}
_INT_RANGES = {
    "I64": (-1000, 1000),
    "I32": (-1000, 1000),
    "I16": (-1000, 1000),
    "I8": (-100, 100),
    "U64": (0, 1000),
    "U32": (0, 1000),
    "U16": (0, 1000),
    "U8": (0, 255),
    "BOOL": (0, 1),
}
_F16_MAX = 65504.0
#: Position of each dtype in the safetensors library's data order (checked against 0.8).
_SAFETENSORS_ORDER = {
    dtype: i
    for i, dtype in enumerate(
        [
            "U64",
            "I64",
            "F64",
            "C64",
            "F32",
            "U32",
            "I32",
            "BF16",
            "F16",
            "U16",
            "I16",
            "F8_E4M3",
            "F8_E5M2",
            "I8",
            "U8",
            "BOOL",
        ]
    )
}


@dataclass(frozen=True, slots=True)
class TensorData:
    """A tensor to write: shape, safetensors dtype name, and raw little-endian bytes.

    ``data=None`` writes zeros; otherwise ``len(data)`` must equal the byte size.
    ``head`` (with ``data=None``) are the first bytes, zeros after them: big
    sparse test files whose tensors still start like real ones.
    """

    shape: tuple[int, ...]
    dtype: str = "F16"
    data: bytes | None = None
    head: bytes = b""

    def __post_init__(self) -> None:
        shape = tuple(self.shape)
        if not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
            raise ValueError(f"shape must be non-negative ints, got {self.shape!r}")
        object.__setattr__(self, "shape", shape)
        if self.dtype not in DTYPE_WIDTHS:
            raise ValueError(f"unknown dtype {self.dtype!r}; use one of {sorted(DTYPE_WIDTHS)}")
        if self.data is not None and len(self.data) != self.nbytes:
            raise ValueError(
                f"{len(self.data)} bytes given for shape {shape} of {self.dtype}"
                f" ({self.nbytes} needed)"
            )
        if self.head and (self.data is not None or len(self.head) > self.nbytes):
            raise ValueError("head needs data=None and at most the tensor's byte size")

    @property
    def numel(self) -> int:
        return prod(self.shape)

    @property
    def nbytes(self) -> int:
        return self.numel * DTYPE_WIDTHS[self.dtype]

    @classmethod
    def zeros(cls, shape: Sequence[int], dtype: str = "F16") -> TensorData:
        return cls(tuple(shape), dtype, None)

    @classmethod
    def from_values(
        cls, shape: Sequence[int], values: Sequence[float | int | bool], dtype: str = "F16"
    ) -> TensorData:
        """A tensor holding ``values`` (flat, row-major), packed as ``dtype``."""
        shape = tuple(shape)
        if len(values) != prod(shape):
            raise ValueError(f"{len(values)} values given for shape {shape}")
        return cls(shape, dtype, _pack(list(values), dtype))

    @classmethod
    def random(
        cls, shape: Sequence[int], dtype: str = "F16", *, seed: int = 0, scale: float = 0.02
    ) -> TensorData:
        """Deterministic pseudo-random values: normal(0, ``scale``) floats, small ints.

        Same (shape, dtype, seed) → same bytes, on every machine. F8 dtypes get
        arbitrary finite bytes (``scale`` is not honoured there).
        """
        shape = tuple(shape)
        n = prod(shape)
        rng = random.Random(seed)
        if dtype in ("F8_E4M3", "F8_E5M2"):
            limit = 0x77 if dtype == "F8_E4M3" else 0x7B
            return cls(
                shape, dtype, bytes(rng.randint(0, limit) | rng.choice((0, 0x80)) for _ in range(n))
            )
        if dtype in _INT_RANGES:
            low, high = _INT_RANGES[dtype]
            return cls(shape, dtype, _pack([rng.randint(low, high) for _ in range(n)], dtype))
        count = 2 * n if dtype == "C64" else n
        return cls(shape, dtype, _pack([rng.gauss(0.0, scale) for _ in range(count)], dtype))

    def values(self) -> list[float | int | bool]:
        """The values as Python numbers (flat, row-major); zeros for ``data=None``."""
        if self.dtype in ("F8_E4M3", "F8_E5M2"):
            raise ValueError(f"values() does not decode {self.dtype}")
        data = self.data if self.data is not None else self.head.ljust(self.nbytes, b"\0")
        if self.dtype == "BF16":
            halves = struct.unpack(f"<{self.numel}H", data)
            return list(
                struct.unpack(
                    f"<{self.numel}f", struct.pack(f"<{self.numel}I", *(h << 16 for h in halves))
                )
            )
        if self.dtype == "C64":
            return list(struct.unpack(f"<{2 * self.numel}f", data))
        return list(struct.unpack(f"<{self.numel}{_STRUCT_CODES[self.dtype]}", data))


def _pack(values: list[Any], dtype: str) -> bytes:
    n = len(values)
    if dtype == "BF16":
        words = struct.unpack(f"<{n}I", struct.pack(f"<{n}f", *values))
        # round to nearest even, as torch does when casting float32 → bfloat16
        return struct.pack(
            f"<{n}H", *(((w + 0x7FFF + ((w >> 16) & 1)) >> 16) & 0xFFFF for w in words)
        )
    if dtype == "C64":
        return struct.pack(f"<{n}f", *values)
    if dtype == "F16":
        values = [max(-_F16_MAX, min(_F16_MAX, float(v))) for v in values]
    code = _STRUCT_CODES.get(dtype)
    if code is None:
        raise ValueError(f"cannot pack values as {dtype}")
    return struct.pack(f"<{n}{code}", *values)


@dataclass(frozen=True, slots=True)
class Parameter:
    """A tensor saved as ``torch.nn.Parameter`` (``torch._utils._rebuild_parameter``)."""

    tensor: TensorData
    requires_grad: bool = True


@dataclass(frozen=True, slots=True)
class ParameterDict:
    """A ``torch.nn.ParameterDict`` as some A1111 embeddings store ``string_to_param``."""

    items: Mapping[str, TensorData | Parameter] = field(default_factory=dict)


# --- safetensors ---------------------------------------------------------------------------------


def safetensors_header(
    tensors: Mapping[str, TensorData], metadata: Mapping[str, str] | None = None
) -> tuple[bytes, list[tuple[str, TensorData]]]:
    """Header bytes (space-padded to 8) and the tensors in data order, as the library writes."""
    if metadata is not None:
        bad = [k for k, v in metadata.items() if not isinstance(k, str) or not isinstance(v, str)]
        if bad:
            raise ValueError(f"safetensors metadata must map str to str; bad keys: {bad[:3]}")
    if "__metadata__" in tensors:
        raise ValueError("'__metadata__' cannot be a tensor name")
    # The real library's order (its Dtype enum, reversed, then name): wider dtypes first,
    # which keeps every tensor's data aligned to its element size.
    ordered = sorted(tensors.items(), key=lambda kv: (_SAFETENSORS_ORDER[kv[1].dtype], kv[0]))
    header: dict[str, Any] = {}
    if metadata:
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, tensor in ordered:
        header[name] = {
            "dtype": tensor.dtype,
            "shape": list(tensor.shape),
            "data_offsets": [offset, offset + tensor.nbytes],
        }
        offset += tensor.nbytes
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return raw + b" " * (-len(raw) % 8), ordered


def write_safetensors(
    path: Path, tensors: Mapping[str, TensorData], metadata: Mapping[str, str] | None = None
) -> None:
    """A safetensors file of ``tensors`` with ``__metadata__`` ``metadata`` (str → str)."""
    header, ordered = safetensors_header(tensors, metadata)
    with _atomic(Path(path)) as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
        for _, tensor in ordered:
            _write_data(fh, tensor)
        fh.truncate(fh.tell())


# --- torch pickles --------------------------------------------------------------------------------


class _TorchPickler:
    """Turns a value tree into torch.save's pickle, assigning storage keys '0', '1', …"""

    def __init__(self, *, legacy: bool) -> None:
        self.legacy = legacy
        self.storages: list[tuple[str, TensorData]] = []
        self._keys: dict[int, str] = {}
        self.pickler = Pickler(
            {
                TensorData: lambda p, t: self._tensor(p, t, requires_grad=False),
                Parameter: self._parameter,
                ParameterDict: self._parameter_dict,
            }
        )

    def dumps(self, obj: Any) -> bytes:
        return self.pickler.dumps(obj)

    def _key(self, tensor: TensorData) -> str:
        key = self._keys.get(id(tensor))
        if key is None:
            key = self._keys[id(tensor)] = str(len(self.storages))
            self.storages.append((key, tensor))
        return key

    def _tensor(self, p: Pickler, tensor: TensorData, *, requires_grad: bool) -> None:
        torch_dtype, storage_class = TORCH_DTYPES.get(tensor.dtype, (None, None))
        if torch_dtype is None:
            raise ValueError(f"torch has no dtype for {tensor.dtype}")
        v3 = storage_class is None
        if v3 and self.legacy:
            raise ValueError(f"legacy torch files cannot hold {tensor.dtype} tensors")
        p.global_("torch._utils", "_rebuild_tensor_v3" if v3 else "_rebuild_tensor_v2")
        p.mark()
        p.mark()
        p.save("storage")
        if v3:
            p.global_("torch.storage", "UntypedStorage")
        else:
            p.global_("torch", storage_class)  # type: ignore[arg-type]
        p.save(self._key(tensor))
        p.save("cpu")
        p.save(tensor.nbytes if v3 else tensor.numel)
        if self.legacy:
            p.save(None)
        p.op(b"tQ")  # TUPLE, BINPERSID
        p.save(0)
        p.save(tensor.shape)
        p.save(_contiguous_stride(tensor.shape))
        p.save(requires_grad)
        p.ordered_dict()
        if v3:
            p.global_("torch", torch_dtype)
        p.op(b"tR")

    def _parameter(self, p: Pickler, param: Parameter) -> None:
        p.global_("torch._utils", "_rebuild_parameter")
        self._tensor(p, param.tensor, requires_grad=False)
        p.save(param.requires_grad)
        p.ordered_dict()
        p.op(b"\x87R")  # TUPLE3, REDUCE

    def _parameter_dict(self, p: Pickler, pdict: ParameterDict) -> None:
        # The shape torch 2.x pickles nn.ParameterDict in: NEWOBJ, then BUILD with __dict__.
        p.global_("torch.nn.modules.container", "ParameterDict")
        p.op(b")\x81")  # EMPTY_TUPLE, NEWOBJ
        params = {
            k: v if isinstance(v, Parameter) else Parameter(v) for k, v in pdict.items.items()
        }
        hooks = (
            "_backward_pre_hooks",
            "_backward_hooks",
            "_is_full_backward_hook",
            "_forward_hooks",
            "_forward_hooks_with_kwargs",
            "_forward_hooks_always_called",
            "_forward_pre_hooks",
            "_forward_pre_hooks_with_kwargs",
            "_state_dict_hooks",
            "_state_dict_pre_hooks",
            "_load_state_dict_pre_hooks",
            "_load_state_dict_post_hooks",
        )
        state: dict[str, Any] = {
            "training": True,
            "_parameters": params,
            "_buffers": {},
            "_non_persistent_buffers_set": set(),
        }
        state |= {h: None if h == "_is_full_backward_hook" else OrderedDict() for h in hooks}
        state |= {"_modules": {}, "_keys": dict.fromkeys(params)}
        p.save(state)
        p.op(b"b")  # BUILD


def _contiguous_stride(shape: tuple[int, ...]) -> tuple[int, ...]:
    stride: list[int] = []
    step = 1
    for dim in reversed(shape):
        stride.append(step)
        step *= max(dim, 1)
    return tuple(reversed(stride))


def write_torch_zip(path: Path, obj: Any, *, archive_name: str = "archive") -> None:
    """Write ``obj`` as ``torch.save`` does (zip format, torch ≥ 1.6).

    ``obj``: nested dict/list/tuple of str/int/float/bool/None, TensorData,
    Parameter and ParameterDict.

    ``OrderedDict``, ``set`` and ``bytes`` are written the way torch pickles them too.
    """
    _write_torch_zip(Path(path), obj, archive_name=archive_name)


def _write_torch_zip(
    path: Path, obj: Any, *, archive_name: str = "archive", force_zip64: bool = False
) -> None:
    if not archive_name or "/" in archive_name:
        raise ValueError(f"archive_name must be a plain folder name, got {archive_name!r}")
    pickler = _TorchPickler(legacy=False)
    data_pkl = pickler.dumps(obj)
    with _atomic(path) as fh:
        zw = ZipWriter(fh, force_zip64=force_zip64)
        zw.add(f"{archive_name}/data.pkl", data_pkl)
        zw.add(f"{archive_name}/byteorder", b"little")
        for key, tensor in pickler.storages:
            name = f"{archive_name}/data/{key}"
            if tensor.data is None:
                zw.add_zeros(name, tensor.nbytes, head=tensor.head)
            else:
                zw.add(name, tensor.data)
        zw.add(f"{archive_name}/version", b"3\n")
        zw.close()
        fh.truncate(fh.tell())


def write_torch_legacy(path: Path, obj: Any) -> None:
    """The pre-1.6 ``torch.save`` format: five pickles, then each storage's raw bytes."""
    pickler = _TorchPickler(legacy=True)
    data = pickler.dumps(obj)
    preamble = b"".join(
        Pickler({}).dumps(value)
        for value in (
            LEGACY_MAGIC,
            LEGACY_PROTOCOL_VERSION,
            {
                "protocol_version": LEGACY_PROTOCOL_VERSION,
                "little_endian": True,
                "type_sizes": {"short": 2, "int": 4, "long": 4},
            },
        )
    )
    keys = Pickler({}).dumps([key for key, _ in pickler.storages])
    with _atomic(Path(path)) as fh:
        fh.write(preamble + data + keys)
        for _, tensor in pickler.storages:
            fh.write(struct.pack("<q", tensor.numel))
            _write_data(fh, tensor)
        fh.truncate(fh.tell())


# --- files -----------------------------------------------------------------------------------


def _write_data(fh: BinaryIO, tensor: TensorData) -> None:
    if tensor.data is None:
        fh.write(tensor.head)
        fh.seek(tensor.nbytes - len(tensor.head), os.SEEK_CUR)
    else:
        fh.write(tensor.data)


@contextmanager
def _atomic(path: Path) -> Iterator[BinaryIO]:
    tmp = path.with_name(f"{path.name}.tmp")
    try:
        with open(tmp, "wb") as fh:
            yield fh
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
