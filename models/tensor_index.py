"""The tensor index: what a model file holds, without its tensor data.

Every reader (safetensors header, torch zip pickle, legacy pickle) produces a
:class:`TensorIndex`; classification only ever looks at one of these, so it
works the same for every container.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from math import prod
from typing import Any

from .kinds import FileFormat

#: Byte width of each safetensors dtype name; torch storages map onto these.
DTYPE_WIDTHS: dict[str, int] = {
    "F64": 8,
    "F32": 4,
    "F16": 2,
    "BF16": 2,
    "I64": 8,
    "I32": 4,
    "I16": 2,
    "I8": 1,
    "U64": 8,
    "U32": 4,
    "U16": 2,
    "U8": 1,
    "BOOL": 1,
    "F8_E4M3": 1,
    "F8_E5M2": 1,
    "C64": 8,
}


@dataclass(frozen=True, slots=True)
class TensorInfo:
    """One tensor's name, shape and dtype (safetensors spelling: F16, BF16, F32…)."""

    name: str
    shape: tuple[int, ...]
    dtype: str

    @property
    def numel(self) -> int:
        return prod(self.shape)

    @property
    def nbytes(self) -> int | None:
        """Size of the data, or None for a dtype we do not know the width of."""
        width = DTYPE_WIDTHS.get(self.dtype)
        return None if width is None else width * self.numel


@dataclass(slots=True)
class TensorIndex:
    """Names → tensors of one file, plus its text metadata and non-tensor values.

    ``values`` keeps the scalars, strings and short lists found beside the
    tensors in pickle files (A1111 hypernetworks' ``layer_structure``,
    embeddings' ``name`` and ``step``), under the same dotted names as tensors.
    """

    format: FileFormat
    tensors: dict[str, TensorInfo] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    #: Byte length of the safetensors header (8 + N); AutoV3 hashes what follows.
    header_size: int | None = None
    warnings: list[str] = field(default_factory=list)

    def __contains__(self, name: object) -> bool:
        return name in self.tensors

    def __len__(self) -> int:
        return len(self.tensors)

    def get(self, name: str) -> TensorInfo | None:
        return self.tensors.get(name)

    def shape(self, name: str) -> tuple[int, ...] | None:
        info = self.tensors.get(name)
        return None if info is None else info.shape

    def names(self) -> list[str]:
        return list(self.tensors)

    def with_prefix(self, prefix: str) -> list[str]:
        return [n for n in self.tensors if n.startswith(prefix)]

    def any_prefix(self, prefix: str) -> bool:
        return any(n.startswith(prefix) for n in self.tensors)
