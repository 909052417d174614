"""What a model file *is*: tensor index, kind and base, hashes, pickle safety, layouts.

Imports nothing else of sdhub's; never opens a database, touches the network
or prints. Heavy libraries (torch, diffusers) only inside :mod:`.render`.
"""

from .kinds import Base, Component, FileFormat, Kind, Verdict
from .layouts import Layout
from .report import Classification, FileReport, Hashes, Safety
from .tensor_index import TensorIndex, TensorInfo

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
