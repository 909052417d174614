"""Decide kind, base and details from tensor keys and shapes (stub: being built)."""

from __future__ import annotations

from .report import Classification
from .tensor_index import TensorIndex


def classify(index: TensorIndex, *, filename: str | None = None) -> Classification:
    """Kind, base family, component, details and warnings of a file's index.

    Shapes decide; metadata (``ss_base_model_version``, ``modelspec.*``) and the
    file name are hints, and a disagreement becomes a warning.
    """
    raise NotImplementedError
