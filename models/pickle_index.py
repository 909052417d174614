"""Read the tensor index of a torch pickle file without executing it (stub: being built)."""

from __future__ import annotations

from pathlib import Path

from .kinds import FileFormat
from .tensor_index import TensorIndex


def read_pickle_index(path: Path, fmt: FileFormat) -> TensorIndex:
    """Names, shapes, dtypes and plain values of a torch zip or legacy pickle file.

    ``fmt`` is TORCH_ZIP or TORCH_LEGACY (from :func:`~.sniff.sniff_format`).
    Never imports or calls anything named in the pickle, never reads storages.
    Nested containers become dotted names. Raises
    :class:`~.errors.InvalidFileError` for a file that cannot be read.
    """
    raise NotImplementedError
