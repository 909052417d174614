"""A small GGUF writer for tests, written from the format spec (not from sdhub's reader).

Tensor data is left as a hole (``truncate``), so real shapes cost no disk. The
``header`` function takes overrides that let a test write a lying header.
"""

from __future__ import annotations

import struct
from math import prod
from pathlib import Path
from typing import Any

#: ggml type name → (type id, elements per block, bytes per block), from ggml.h.
GGML: dict[str, tuple[int, int, int]] = {
    "F32": (0, 1, 4),
    "F16": (1, 1, 2),
    "Q4_0": (2, 32, 18),
    "Q8_0": (8, 32, 34),
    "Q4_K": (12, 256, 144),
    "Q5_K": (13, 256, 176),
    "Q6_K": (14, 256, 210),
    "BF16": (30, 1, 2),
}
#: gguf value type ids.
VT = {"U8": 0, "I8": 1, "U16": 2, "I16": 3, "U32": 4, "I32": 5, "F32": 6, "BOOL": 7}
VT |= {"STR": 8, "ARR": 9, "U64": 10, "I64": 11, "F64": 12}
_FMT = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?"}
_FMT |= {10: "<Q", 11: "<q", 12: "<d"}

Tensor = tuple[str, tuple[int, ...], str]  # name, torch shape (slowest first), ggml type


class Typed:
    """A value with an explicit gguf type: ``Typed("U64", 5)``, ``Typed("ARR", [...], "I32")``."""

    def __init__(self, vtype: str, value: Any, element: str | None = None) -> None:
        self.vtype, self.value, self.element = VT[vtype], value, element


def gstr(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _typed(value: Any) -> Typed:
    if isinstance(value, Typed):
        return value
    if isinstance(value, bool):
        return Typed("BOOL", value)
    if isinstance(value, int):
        return Typed("U32", value)
    if isinstance(value, float):
        return Typed("F32", value)
    if isinstance(value, str):
        return Typed("STR", value)
    first = _typed(value[0]) if value else Typed("I32", 0)
    names = {v: k for k, v in VT.items()}
    return Typed("ARR", list(value), names[first.vtype])


def encode_value(value: Any) -> tuple[int, bytes]:
    """(type id, payload) of one key/value's value."""
    t = _typed(value)
    if t.vtype == VT["STR"]:
        return t.vtype, gstr(t.value)
    if t.vtype == VT["ARR"]:
        element = t.element or "I32"
        nested = element == "ARR"  # each element then carries its own (type, count)
        body = b"".join(encode_value(v if nested else Typed(element, v))[1] for v in t.value)
        return t.vtype, struct.pack("<IQ", VT[element], len(t.value)) + body
    return t.vtype, struct.pack(_FMT[t.vtype], t.value)


def nbytes(shape: tuple[int, ...], dtype: str) -> int:
    _, block, size = GGML[dtype]
    return prod(shape) // block * size


def header(
    kv: dict[str, Any],
    tensors: list[Tensor],
    *,
    version: int = 3,
    alignment: int = 32,
    n_tensors: int | None = None,
    n_kv: int | None = None,
    offsets: list[int] | None = None,
    type_ids: dict[str, int] | None = None,
) -> tuple[bytes, int]:
    """(header bytes padded to the alignment, data bytes the tensors need)."""
    out = bytearray(b"GGUF")
    out += struct.pack("<IQQ", version, len(tensors) if n_tensors is None else n_tensors,
                       len(kv) if n_kv is None else n_kv)  # fmt: skip
    for key, value in kv.items():
        vtype, payload = encode_value(value)
        out += gstr(key) + struct.pack("<I", vtype) + payload
    cursor = 0
    for i, (name, shape, dtype) in enumerate(tensors):
        offset = cursor if offsets is None else offsets[i]
        type_id = (type_ids or {}).get(name, GGML[dtype][0])
        out += gstr(name) + struct.pack("<I", len(shape))
        out += struct.pack(f"<{len(shape)}Q", *reversed(shape))  # GGUF: fastest dim first
        out += struct.pack("<IQ", type_id, offset)
        cursor = -(-(offset + nbytes(shape, dtype)) // alignment) * alignment
    out += bytes(-len(out) % alignment)
    return bytes(out), cursor


def write_gguf(
    path: Path, kv: dict[str, Any], tensors: list[Tensor], *, data: bool = True, **over: Any
) -> Path:
    """A GGUF file; ``data=False`` stops after the header (a truncated file)."""
    head, data_size = header(kv, tensors, **over)
    with open(path, "wb") as fh:
        fh.write(head)
        if data:
            fh.truncate(len(head) + data_size)
    return path
