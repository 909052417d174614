"""Read a GGUF file's tensor index from its header alone.

GGUF (llama.cpp's container) is what ComfyUI-GGUF and Forge load quantized
Flux/SD3.5/SDXL UNets and T5 encoders from. Layout, little-endian: magic
``GGUF``, version u32 (2 or 3), tensor count u64, key/value count u64, the
typed key/value pairs, the tensor infos (name, dims fastest-first, ggml type,
offset into the data area), then the data area at the next multiple of
``general.alignment`` (32 by default).

The header is streamed, never the file: big arrays (tokenizer vocabularies
of T5 or LLM files) are skipped and only summarised in the metadata, and
every count and length is checked against the bytes left in the file before
anything is allocated, so a hostile header cannot make us allocate gigabytes
or loop for long. The checks are the ones that make llama.cpp's loader
refuse a file (version, power-of-two alignment, known ggml types, rows that
fill whole blocks, aligned offsets, data inside the file, unique names).
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from math import prod
from pathlib import Path
from typing import Any, BinaryIO

from .errors import InvalidFileError
from .kinds import FileFormat
from .tensor_index import TensorIndex, TensorInfo

MAGIC = b"GGUF"
DEFAULT_ALIGNMENT = 32
#: GGML_MAX_DIMS: llama.cpp refuses tensors of more dimensions.
MAX_DIMS = 4
#: Far above any real model (LLMs: a few thousand tensors), far below what hurts.
MAX_TENSORS = 1_000_000
MAX_KV = 1_000_000
#: Real headers (LLM tokenizer vocabularies included) stay below ~10 MiB; this also bounds
#: the time a hostile header of millions of empty strings can cost.
MAX_HEADER_BYTES = 64 << 20
#: Strings in one array: vocabularies and BPE merges hold a few hundred thousand.
MAX_STRINGS = 1 << 22
#: Strings longer than this are skipped and summarised, not kept.
MAX_KEPT_STRING = 1 << 20
#: Arrays with more elements are summarised (``<32128 STRING values>``), not kept.
MAX_KEPT_ARRAY = 64
#: Arrays inside arrays: the format allows them, no real file nests deeply.
MAX_NESTING = 3
_ORIG_SHAPE = "comfy.gguf.orig_shape."
_U64 = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class GGMLType:
    """A ggml tensor type: its name (the index's dtype) and how many bytes a block takes."""

    name: str
    block_size: int  # elements per block
    type_size: int  # bytes per block


#: ggml_type ids (ggml.h) → layout; ids 4, 5, 31-33 and 36-38 were removed from ggml.
GGML_TYPES: dict[int, GGMLType] = {
    i: GGMLType(n, b, s)
    for i, n, b, s in (
        (0, "F32", 1, 4),
        (1, "F16", 1, 2),
        (2, "Q4_0", 32, 18),
        (3, "Q4_1", 32, 20),
        (6, "Q5_0", 32, 22),
        (7, "Q5_1", 32, 24),
        (8, "Q8_0", 32, 34),
        (9, "Q8_1", 32, 36),
        (10, "Q2_K", 256, 84),
        (11, "Q3_K", 256, 110),
        (12, "Q4_K", 256, 144),
        (13, "Q5_K", 256, 176),
        (14, "Q6_K", 256, 210),
        (15, "Q8_K", 256, 292),
        (16, "IQ2_XXS", 256, 66),
        (17, "IQ2_XS", 256, 74),
        (18, "IQ3_XXS", 256, 98),
        (19, "IQ1_S", 256, 50),
        (20, "IQ4_NL", 32, 18),
        (21, "IQ3_S", 256, 110),
        (22, "IQ2_S", 256, 82),
        (23, "IQ4_XS", 256, 136),
        (24, "I8", 1, 1),
        (25, "I16", 1, 2),
        (26, "I32", 1, 4),
        (27, "I64", 1, 8),
        (28, "F64", 1, 8),
        (29, "IQ1_M", 256, 56),
        (30, "BF16", 1, 2),
        (34, "TQ1_0", 256, 54),
        (35, "TQ2_0", 256, 66),
        (39, "MXFP4", 32, 17),
    )
}
#: ggml type names that are block quantizations (not plain floats or ints).
QUANT_TYPES: frozenset[str] = frozenset(t.name for t in GGML_TYPES.values() if t.block_size > 1)

# Key/value types (gguf_type): id → (name, struct format or None for string/array).
_STRING, _ARRAY = 8, 9
_VALUE_TYPES: dict[int, tuple[str, str | None]] = {
    0: ("UINT8", "<B"),
    1: ("INT8", "<b"),
    2: ("UINT16", "<H"),
    3: ("INT16", "<h"),
    4: ("UINT32", "<I"),
    5: ("INT32", "<i"),
    6: ("FLOAT32", "<f"),
    7: ("BOOL", "<?"),
    _STRING: ("STRING", None),
    _ARRAY: ("ARRAY", None),
    10: ("UINT64", "<Q"),
    11: ("INT64", "<q"),
    12: ("FLOAT64", "<d"),
}
#: Fewest bytes one value of a type takes: what a claimed count is checked against.
_MIN_VALUE_BYTES: dict[int, int] = {
    t: struct.calcsize(f) if f else (8 if t == _STRING else 12)
    for t, (_, f) in _VALUE_TYPES.items()
}
#: key length + value type + the smallest value; name length + n_dims + type + offset.
_MIN_KV_BYTES = 8 + 4 + 1
_MIN_TENSOR_INFO_BYTES = 8 + 4 + 4 + 8


@dataclass(frozen=True, slots=True)
class _Summary:
    """A value too big to keep, described instead (``<32128 STRING values>``)."""

    text: str


def read_gguf_index(path: Path) -> TensorIndex:
    """Names, torch-order shapes, ggml types and key/values of a GGUF file.

    Reads only the header. ``dtype`` is the ggml type name (``Q8_0``,
    ``Q4_K``, ``F16``, ``BF16``, ``F32``…); metadata values are text (scalars
    stringified, short arrays as JSON, big arrays summarised). Shapes that
    ComfyUI-GGUF's converter flattened are restored from its
    ``comfy.gguf.orig_shape.<name>`` keys. Raises
    :class:`~.errors.InvalidFileError` (one-line reason) for a file that is
    not valid GGUF.
    """
    with open(path, "rb", buffering=0) as fh:
        return read_gguf_header(fh)


def read_gguf_header(fh: BinaryIO) -> TensorIndex:
    """:func:`read_gguf_index` for a file open for reading (binary, seekable)."""
    size = fh.seek(0, 2)
    stream = _Stream(fh, size)
    return _Parser(stream, size).parse()


class _Stream:
    """Forward reads of the header through a small buffer; skips cost no reads.

    Every read states what it is for, so a short file says where it ended.
    """

    _CHUNK = 64 << 10

    def __init__(self, fh: BinaryIO, size: int) -> None:
        self._fh = fh
        self._size = size
        self._buf = b""
        self._buf_start = 0
        self.pos = 0
        self.bytes_read = 0

    def left(self) -> int:
        return self._size - self.pos

    def take(self, n: int, what: str) -> bytes:
        if n > self.left():
            raise InvalidFileError(f"GGUF file ends inside {what} (truncated)")
        start = self.pos - self._buf_start
        if start < 0 or start + n > len(self._buf):
            self._fill(n)
            start = 0
        self.pos += n
        return self._buf[start : start + n]

    def skip(self, n: int, what: str) -> None:
        if n > self.left():
            raise InvalidFileError(f"GGUF file ends inside {what} (truncated)")
        self.pos += n

    def skip_strings(self, count: int, what: str) -> None:
        """Step over ``count`` length-prefixed strings: vocabularies, in one tight loop."""
        unpack_from = _U64.unpack_from
        while count:
            if self.pos + 8 > self._size:
                raise InvalidFileError(f"GGUF file ends inside {what} (truncated)")
            i = self.pos - self._buf_start
            if i < 0 or i + 8 > len(self._buf):
                self._fill(8)
                i = 0
            buf, end = self._buf, len(self._buf)
            while count and i + 8 <= end:
                i += 8 + unpack_from(buf, i)[0]
                count -= 1
            self.pos = self._buf_start + i
            if self.pos > self._size:
                raise InvalidFileError(f"GGUF file ends inside {what} (truncated)")

    def unpack(self, fmt: str, what: str) -> Any:
        return struct.unpack(fmt, self.take(struct.calcsize(fmt), what))[0]

    def _fill(self, n: int) -> None:
        if self.pos + n > MAX_HEADER_BYTES:
            raise InvalidFileError(
                f"GGUF header runs past {MAX_HEADER_BYTES >> 20} MiB (corrupt header?)"
            )
        want = max(n, self._CHUNK)
        self._fh.seek(self.pos)
        chunks: list[bytes] = []
        got = 0
        while got < want:
            chunk = self._fh.read(want - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        self._buf = b"".join(chunks)
        self._buf_start = self.pos
        self.bytes_read += got
        if got < n:  # the file shrank under us
            raise InvalidFileError("GGUF file ends inside its header (truncated)")


class _Parser:
    def __init__(self, stream: _Stream, size: int) -> None:
        self.s = stream
        self.size = size
        self.index = TensorIndex(format=FileFormat.GGUF)

    def parse(self) -> TensorIndex:
        s = self.s
        if s.take(4, "the magic") != MAGIC:
            raise InvalidFileError("not a GGUF file (no GGUF magic)")
        version = s.unpack("<I", "the version")
        if version == 1:
            raise InvalidFileError("GGUF version 1 (2023 llama.cpp) is not supported; re-convert")
        if version not in (2, 3):
            if struct.unpack(">I", struct.pack("<I", version))[0] in (2, 3):
                raise InvalidFileError("big-endian GGUF is not supported")
            raise InvalidFileError(f"GGUF version {version} is unknown to sdhub (2 and 3 are)")
        n_tensors = s.unpack("<Q", "the tensor count")
        n_kv = s.unpack("<Q", "the key/value count")
        self._check_count(n_kv, MAX_KV, _MIN_KV_BYTES, "key/value pairs")
        self._check_count(n_tensors, MAX_TENSORS, _MIN_TENSOR_INFO_BYTES, "tensors")
        values = self._read_kv(n_kv)
        alignment = self._alignment(values)
        infos = [self._read_tensor_info(i) for i in range(n_tensors)]
        data_start = -(-s.pos // alignment) * alignment
        if infos and data_start > self.size:
            raise InvalidFileError("GGUF file ends before its tensor data starts (truncated)")
        self._add_tensors(infos, alignment, self.size - min(data_start, self.size))
        self._apply_orig_shapes(values)
        self.index.metadata = {k: _text(v) for k, v in values.items()}
        if not self.index.tensors:
            raise InvalidFileError("GGUF file holds no tensors (a vocabulary-only file?)")
        return self.index

    def _check_count(self, count: int, limit: int, min_bytes: int, what: str) -> None:
        if count > limit:
            raise InvalidFileError(f"GGUF header claims {count} {what} (corrupt header)")
        if count * min_bytes > self.s.left():
            raise InvalidFileError(
                f"GGUF header claims {count} {what}, more than the file's"
                f" {self.size} bytes can hold (truncated or corrupt)"
            )

    # -- key/value pairs -----------------------------------------------------------------

    def _read_kv(self, n_kv: int) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for i in range(n_kv):
            key = self._string(f"key {i}", strict=True)
            if key in values:
                raise InvalidFileError(f"GGUF header has key {key!r} twice")
            vtype = self.s.unpack("<I", f"the type of {key!r}")
            values[key] = self._value(vtype, key, depth=0)
        return values

    def _value(self, vtype: int, key: str, depth: int) -> Any:
        if vtype not in _VALUE_TYPES:
            raise InvalidFileError(f"GGUF key {key!r} has value type {vtype}, unknown")
        _, fmt = _VALUE_TYPES[vtype]
        if fmt is not None:
            return self.s.unpack(fmt, f"the value of {key!r}")
        if vtype == _STRING:
            return self._string(f"the value of {key!r}", strict=False)
        return self._array(key, depth)

    def _array(self, key: str, depth: int) -> Any:
        s = self.s
        if depth >= MAX_NESTING:
            raise InvalidFileError(f"GGUF key {key!r} nests arrays deeper than {MAX_NESTING}")
        etype = s.unpack("<I", f"the array type of {key!r}")
        count = s.unpack("<Q", f"the array length of {key!r}")
        if etype not in _VALUE_TYPES:
            raise InvalidFileError(f"GGUF key {key!r} is an array of type {etype}, unknown")
        ename, efmt = _VALUE_TYPES[etype]
        if count * _MIN_VALUE_BYTES[etype] > s.left():
            raise InvalidFileError(
                f"GGUF key {key!r} claims {count} {ename} values, more than the file holds"
                " (truncated or corrupt)"
            )
        if count > MAX_KEPT_ARRAY:
            if efmt is not None:
                s.skip(count * struct.calcsize(efmt), f"the array {key!r}")
            elif etype == _STRING:
                self._skip_strings(count, key)
            else:
                for _ in range(count):
                    self._array(key, depth + 1)
            return _Summary(f"<{count} {ename} values>")
        return [self._value(etype, key, depth + 1) for _ in range(count)]

    def _skip_strings(self, count: int, key: str) -> None:
        if count > MAX_STRINGS:
            raise InvalidFileError(
                f"GGUF key {key!r} claims {count} strings (corrupt header: no vocabulary has"
                f" more than {MAX_STRINGS})"
            )
        self.s.skip_strings(count, f"the array {key!r}")

    def _string(self, what: str, *, strict: bool) -> Any:
        n = self.s.unpack("<Q", f"the length of {what}")
        if n > self.s.left():
            raise InvalidFileError(
                f"GGUF string ({what}) of {n} bytes is longer than the rest of the file"
                " (truncated or corrupt)"
            )
        if not strict and n > MAX_KEPT_STRING:
            self.s.skip(n, what)
            return _Summary(f"<string of {n} bytes>")
        if strict and n > MAX_KEPT_STRING:
            raise InvalidFileError(f"GGUF name ({what}) of {n} bytes (corrupt header)")
        raw = self.s.take(n, what)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            if strict:
                raise InvalidFileError(f"GGUF {what} is not UTF-8 text") from None
            return raw.decode("utf-8", errors="replace")

    def _alignment(self, values: dict[str, Any]) -> int:
        value = values.get("general.alignment", DEFAULT_ALIGNMENT)
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidFileError("GGUF general.alignment is not a number")
        if value <= 0 or value & (value - 1):
            raise InvalidFileError(f"GGUF general.alignment {value} is not a power of two")
        return value

    # -- tensor infos --------------------------------------------------------------------

    def _read_tensor_info(self, i: int) -> tuple[str, tuple[int, ...], GGMLType, int]:
        s = self.s
        name = self._string(f"the name of tensor {i}", strict=True)
        n_dims = s.unpack("<I", f"tensor {name!r}")
        if n_dims > MAX_DIMS:
            raise InvalidFileError(
                f"tensor {name!r} has {n_dims} dimensions; GGUF allows at most {MAX_DIMS}"
            )
        dims = struct.unpack(f"<{n_dims}Q", s.take(8 * n_dims, f"tensor {name!r}"))
        type_id = s.unpack("<I", f"tensor {name!r}")
        offset = s.unpack("<Q", f"tensor {name!r}")
        ggml = GGML_TYPES.get(type_id)
        if ggml is None:
            raise InvalidFileError(
                f"tensor {name!r} has ggml type {type_id}, unknown to sdhub (a newer GGUF?)"
            )
        return name, tuple(reversed(dims)), ggml, offset  # GGUF lists dims fastest-first

    def _add_tensors(
        self,
        infos: list[tuple[str, tuple[int, ...], GGMLType, int]],
        alignment: int,
        data_size: int,
    ) -> None:
        ranges: list[tuple[int, int, str]] = []
        tensors = self.index.tensors
        for name, shape, ggml, offset in infos:
            if name in tensors:
                raise InvalidFileError(f"GGUF header names tensor {name!r} twice")
            row = shape[-1] if shape else 1
            if row % ggml.block_size:
                raise InvalidFileError(
                    f"tensor {name!r}: rows of {row} elements do not fill whole"
                    f" {ggml.name} blocks of {ggml.block_size}"
                )
            nbytes = prod(shape) // ggml.block_size * ggml.type_size
            if offset % alignment:
                raise InvalidFileError(
                    f"tensor {name!r} starts at data byte {offset}, not a multiple of the"
                    f" alignment {alignment}"
                )
            if offset + nbytes > data_size:
                raise InvalidFileError(
                    f"tensor {name!r} ends at data byte {offset + nbytes} but the data area"
                    f" holds {data_size} (truncated?)"
                )
            tensors[name] = TensorInfo(name=name, shape=shape, dtype=ggml.name)
            ranges.append((offset, offset + nbytes, name))
        ranges.sort()
        cursor = 0
        for begin, end, name in ranges:
            if begin < cursor:
                raise InvalidFileError(f"tensor {name!r} overlaps the tensor before it")
            cursor = end

    def _apply_orig_shapes(self, values: dict[str, Any]) -> None:
        """ComfyUI-GGUF flattens tensors of > 4 dims and records the real shape in a key."""
        tensors = self.index.tensors
        for key, value in values.items():
            if not key.startswith(_ORIG_SHAPE):
                continue
            name = key[len(_ORIG_SHAPE) :]
            info = tensors.get(name)
            if info is None:
                continue
            if (
                isinstance(value, list)
                and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in value)
                and prod(value) == info.numel
            ):
                tensors[name] = TensorInfo(name=name, shape=tuple(value), dtype=info.dtype)
            else:
                self.index.warnings.append(
                    f"{key} does not fit tensor {name!r} of shape {list(info.shape)}; ignored"
                )


def _text(value: Any) -> str:
    """Metadata are text (as safetensors' are): scalars stringified, arrays as JSON."""
    if isinstance(value, _Summary):
        return value.text
    if isinstance(value, str):
        return value
    return json.dumps(_plain(value), ensure_ascii=False)


def _plain(value: Any) -> Any:
    if isinstance(value, _Summary):
        return value.text
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, float):
        return float(f"{value:.7g}") if value == value and abs(value) != float("inf") else None
    return value
