"""Write real-format model files from plain Python values (stub: being built).

Used by ``sdhub demo`` and the tests to make tiny files of every kind without
torch: safetensors, torch zip (what ``torch.save`` writes) and legacy torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True)
class TensorData:
    """A tensor to write: shape, safetensors dtype name, and raw little-endian bytes.

    ``data=None`` writes zeros; otherwise ``len(data)`` must equal the byte size.
    """

    shape: tuple[int, ...]
    dtype: str = "F16"
    data: bytes | None = None


@dataclass(frozen=True, slots=True)
class Parameter:
    """A tensor saved as ``torch.nn.Parameter`` (``torch._utils._rebuild_parameter``)."""

    tensor: TensorData


@dataclass(frozen=True, slots=True)
class ParameterDict:
    """A ``torch.nn.ParameterDict`` as some A1111 embeddings store ``string_to_param``."""

    items: Mapping[str, TensorData]


def write_safetensors(
    path: Path, tensors: Mapping[str, TensorData], metadata: Mapping[str, str] | None = None
) -> None:
    raise NotImplementedError


def write_torch_zip(path: Path, obj: Any, *, archive_name: str = "archive") -> None:
    """``obj``: nested dict/list/tuple of str/int/float/bool/None/TensorData/Parameter/ParameterDict."""
    raise NotImplementedError


def write_torch_legacy(path: Path, obj: Any) -> None:
    raise NotImplementedError
