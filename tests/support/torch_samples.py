"""Write sample recipes with the real libraries (``torch.save``, ``safetensors.torch``).

The classifier tests read these back through sdhub's readers, so a recipe's
index is checked against files made by the tools users' files come from,
independently of :mod:`sdhub.models.writers`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from sdhub.models.kinds import FileFormat
from sdhub.models.samples import Sample, torch_object
from sdhub.models.writers import Parameter, ParameterDict, TensorData

_DTYPES = {
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F32": torch.float32,
    "F64": torch.float64,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
}


def _tensor(data: TensorData) -> torch.Tensor:
    return torch.zeros(data.shape, dtype=_DTYPES[data.dtype])


def _to_torch(obj: Any) -> Any:
    if isinstance(obj, TensorData):
        return _tensor(obj)
    if isinstance(obj, Parameter):
        return torch.nn.Parameter(_tensor(obj.tensor), requires_grad=obj.requires_grad)
    if isinstance(obj, ParameterDict):
        return torch.nn.ParameterDict(
            {k: torch.nn.Parameter(_to_torch(v)) for k, v in obj.items.items()}
        )
    if isinstance(obj, dict):
        return {k: _to_torch(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_to_torch(v) for v in obj]
    if isinstance(obj, tuple):
        return tuple(_to_torch(v) for v in obj)
    return obj


def save_with_torch(sample: Sample, path: Path, fmt: FileFormat) -> Path:
    """``sample`` written by torch/safetensors themselves (zeros for data)."""
    if fmt is FileFormat.SAFETENSORS:
        tensors = {
            name: torch.zeros(spec.shape, dtype=_DTYPES[spec.dtype])
            for name, spec in sample.tensors.items()
        }
        save_file(tensors, str(path), metadata=dict(sample.metadata) or None)
    else:
        legacy = fmt is FileFormat.TORCH_LEGACY
        torch.save(
            _to_torch(torch_object(sample, seed=None)),
            path,
            _use_new_zipfile_serialization=not legacy,
        )
    return path
