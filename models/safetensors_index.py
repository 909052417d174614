"""Read a safetensors file's tensor index from its header alone (stub: being built)."""

from __future__ import annotations

from pathlib import Path

from .tensor_index import TensorIndex


def read_safetensors_index(path: Path) -> TensorIndex:
    """Names, shapes, dtypes and ``__metadata__`` of a safetensors file.

    Reads only the 8-byte length and the JSON header. Raises
    :class:`~.errors.InvalidFileError` (one-line reason) for a file that is
    not valid safetensors. ``TensorIndex.header_size`` is set to 8 + N.
    """
    raise NotImplementedError
