"""Read a safetensors file's tensor index from its header alone.

The checks are the ones that make the real library refuse a file (length
prefix, JSON object, byte counts, ranges), so a file we call valid is one
``safetensors.safe_open`` opens. Two things the library is strict about are
only warnings here, because they do not make the tensors unreadable:
``__metadata__`` values that are not strings (coerced to JSON text), and
gaps or trailing bytes in the data area. Unknown (newer) dtypes are warnings
too, so a file from a newer tool still gets an index.
"""

from __future__ import annotations

import json
import re
import struct
from math import prod
from pathlib import Path
from typing import Any

from .errors import InvalidFileError
from .kinds import FileFormat
from .tensor_index import DTYPE_WIDTHS, TensorIndex, TensorInfo

#: The real library refuses headers above 100 MB; so do we.
MAX_HEADER_SIZE = 100_000_000


def read_safetensors_index(path: Path) -> TensorIndex:
    """Names, shapes, dtypes and ``__metadata__`` of a safetensors file.

    Reads only the 8-byte length and the JSON header. Raises
    :class:`~.errors.InvalidFileError` (one-line reason) for a file that is
    not valid safetensors. ``TensorIndex.header_size`` is set to 8 + N.
    """
    with open(path, "rb", buffering=0) as fh:
        size = fh.seek(0, 2)
        fh.seek(0)
        prefix = _read_exact(fh, 8, "the 8-byte header length")
        (n,) = struct.unpack("<Q", prefix)
        if n > size - 8:
            raise InvalidFileError(
                f"safetensors header length {n} exceeds the file size {size} (truncated?)"
            )
        if n > MAX_HEADER_SIZE:
            raise InvalidFileError(f"safetensors header of {n} bytes is over the 100 MB limit")
        raw = _read_exact(fh, n, "the header")
    return parse_header(raw, data_size=size - 8 - n)


def parse_header(raw: bytes, *, data_size: int) -> TensorIndex:
    """The index described by header bytes ``raw`` for a data area of ``data_size`` bytes."""
    index = TensorIndex(format=FileFormat.SAFETENSORS, header_size=8 + len(raw))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidFileError("safetensors header is not UTF-8 text") from None
    duplicates: list[str] = []
    try:
        header = json.loads(text, object_pairs_hook=_pairs_hook(duplicates))
    except (json.JSONDecodeError, RecursionError):
        raise InvalidFileError("safetensors header is not valid JSON") from None
    if not isinstance(header, dict):
        raise InvalidFileError("safetensors header is not a JSON object")
    if _SURROGATE_ESCAPE.search(text):
        _refuse_lone_surrogates(header)
    for name in duplicates[:3]:
        index.warnings.append(f"header names {name!r} twice; the last entry wins")
    if "__metadata__" in header:
        index.metadata = _metadata(header.pop("__metadata__"), index.warnings)
    ranges: list[tuple[int, int, str]] = []
    for name, entry in header.items():
        info, begin, end = _tensor(name, entry, index.warnings)
        index.tensors[name] = info
        ranges.append((begin, end, name))
    _check_ranges(ranges, data_size, index.warnings)
    return index


#: A ``\\uD800``-``\\uDFFF`` escape: half of a surrogate pair, or a lone one.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89abcdefABCDEF]")


def _refuse_lone_surrogates(header: dict[str, Any]) -> None:
    """A lone surrogate escape is no character: the library refuses the header, so the
    WebUIs cannot load the file."""
    try:
        json.dumps(header, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidFileError(
            "safetensors header holds a \\u escape that is no character (a lone surrogate)"
        ) from None


def _read_exact(fh: Any, n: int, what: str) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = fh.read(min(n - len(data), 1 << 24))
        if not chunk:
            raise InvalidFileError(f"file ends inside {what} (truncated)")
        data += chunk
    return bytes(data)


def _pairs_hook(duplicates: list[str]) -> Any:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key, value in pairs:
            if key in result:
                duplicates.append(key)
            result[key] = value
        return result

    return hook


def _metadata(value: Any, warnings: list[str]) -> dict[str, str]:
    if not isinstance(value, dict):
        warnings.append("__metadata__ is not a JSON object; ignored")
        return {}
    metadata: dict[str, str] = {}
    odd: list[str] = []
    for key, item in value.items():
        if isinstance(item, str):
            metadata[key] = item
        else:
            metadata[key] = json.dumps(item, ensure_ascii=False)
            odd.append(key)
    if odd:
        shown = ", ".join(odd[:3]) + (f" and {len(odd) - 3} more" if len(odd) > 3 else "")
        warnings.append(
            f"__metadata__ values that are not strings were kept as JSON text: {shown}"
            " (the safetensors library refuses such files)"
        )
    return metadata


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tensor(name: str, entry: Any, warnings: list[str]) -> tuple[TensorInfo, int, int]:
    if not isinstance(entry, dict):
        raise InvalidFileError(f"header entry {name!r} is not an object")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if not isinstance(dtype, str):
        raise InvalidFileError(f"tensor {name!r} has no dtype")
    if not isinstance(shape, list) or not all(_is_count(d) for d in shape):
        raise InvalidFileError(f"tensor {name!r} has no valid shape")
    if (
        not isinstance(offsets, list)
        or len(offsets) != 2
        or not all(_is_count(o) for o in offsets)
        or offsets[0] > offsets[1]
    ):
        raise InvalidFileError(f"tensor {name!r} has no valid data_offsets")
    begin, end = offsets
    width = DTYPE_WIDTHS.get(dtype)
    if width is None:
        warnings.append(f"tensor {name!r} has dtype {dtype!r}, unknown to sdhub")
    elif prod(shape) * width != end - begin:
        raise InvalidFileError(
            f"tensor {name!r}: shape {shape} of {dtype} needs {prod(shape) * width} bytes"
            f" but its data_offsets span {end - begin}"
        )
    return TensorInfo(name=name, shape=tuple(shape), dtype=dtype), begin, end


def _check_ranges(ranges: list[tuple[int, int, str]], data_size: int, warnings: list[str]) -> None:
    ranges.sort()
    cursor = 0
    gaps = 0
    for begin, end, name in ranges:
        if end > data_size:
            raise InvalidFileError(
                f"tensor {name!r} ends at data byte {end} but the data area holds {data_size}"
                " (truncated?)"
            )
        if begin < cursor:
            raise InvalidFileError(f"tensor {name!r} overlaps the tensor before it")
        gaps += begin > cursor
        cursor = max(cursor, end)
    refused = " (the safetensors library refuses such files)"
    if gaps:
        warnings.append(f"{gaps} gap(s) between tensors in the data area{refused}")
    if cursor < data_size:
        warnings.append(f"{data_size - cursor} byte(s) after the last tensor{refused}")
