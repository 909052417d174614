"""What a model file *is*: tensor index, kind and base, hashes, pickle safety, layouts.

Imports nothing else of sdhub's; never opens a database, touches the network
or prints. Heavy libraries (torch, diffusers) only inside :mod:`.render`.

The names below are loaded on first use (PEP 562), so importing one small
module such as :mod:`.kinds` does not pay for all of them: command-line
start-up counts in the hash benchmark.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .kinds import Base, Component, FileFormat, Kind, Verdict
    from .layouts import Layout
    from .report import Classification, FileReport, Hashes, Safety
    from .tensor_index import TensorIndex, TensorInfo

_HOMES: dict[str, str] = {
    "Base": "kinds",
    "Component": "kinds",
    "FileFormat": "kinds",
    "Kind": "kinds",
    "Verdict": "kinds",
    "Layout": "layouts",
    "Classification": "report",
    "FileReport": "report",
    "Hashes": "report",
    "Safety": "report",
    "TensorIndex": "tensor_index",
    "TensorInfo": "tensor_index",
}

__all__ = [
    "Base",
    "Classification",
    "Component",
    "FileFormat",
    "FileReport",
    "Hashes",
    "Kind",
    "Layout",
    "Safety",
    "TensorIndex",
    "TensorInfo",
    "Verdict",
]


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
