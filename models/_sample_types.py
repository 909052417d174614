"""The data types of sample recipes (kept apart so recipe modules can import them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from math import prod
from types import MappingProxyType
from typing import Any

from .kinds import Base, Component, FileFormat, Kind
from .tensor_index import DTYPE_WIDTHS

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """One tensor of a recipe: shape, safetensors dtype, and an optional constant value.

    ``fill`` writes that value everywhere (LoRA ``alpha`` scalars, IA³'s
    ``on_input`` flag); without it the data is small pseudo-random numbers.
    """

    shape: tuple[int, ...]
    dtype: str = "F16"
    fill: float | None = None

    @property
    def numel(self) -> int:
        return prod(self.shape)

    @property
    def nbytes(self) -> int:
        return DTYPE_WIDTHS.get(self.dtype, 4) * self.numel


class Nest(StrEnum):
    """How a torch pickle nests the dotted names, level by level from the top.

    ``dict``: the first dotted segment becomes a dict key; ``int-dict``: the same
    with digit keys as ints (A1111 hypernetworks: ``{768: (...)}``); ``list`` and
    ``tuple``: digit segments become positions. Below the last level the remaining
    names stay dotted keys of one flat dict (a state dict).
    """

    DICT = "dict"
    INT_DICT = "int-dict"
    LIST = "list"
    TUPLE = "tuple"


@dataclass(frozen=True, slots=True)
class Sample:
    """A recipe for a tiny, realistic model file of one kind and base.

    ``tensors`` are named as a safetensors file (or the flattened torch pickle,
    without ``torch_prefix``) holds them. Shapes that decide classification are
    real; other tensors are few and small. ``details``, ``warnings`` hold
    what :func:`~sdhub.models.classify.classify` must report for every format;
    ``metadata_details``/``metadata_warnings`` only where the metadata survives
    (safetensors).
    """

    name: str
    kind: Kind
    base: Base
    filename: str
    tensors: Mapping[str, TensorSpec]
    component: Component | None = None
    description: str = ""
    metadata: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    #: Non-tensor leaves of the torch pickle, by dotted name (``layer_structure``, ``name``…).
    values: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    #: Containers this recipe is realistic in; the first is its natural one.
    formats: tuple[FileFormat, ...] = (FileFormat.SAFETENSORS,)
    #: What torch files wrap the tensors in, e.g. ``"state_dict."`` for LDM ``.ckpt``.
    torch_prefix: str = ""
    nesting: tuple[Nest, ...] = ()
    #: Tensors only torch files hold, outside ``torch_prefix`` (``optimizer_states.*``).
    torch_only: Mapping[str, TensorSpec] = field(default_factory=lambda: _EMPTY)
    #: Dotted group paths a torch file stores as ``torch.nn.ParameterDict``.
    parameter_dicts: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    warnings: tuple[str, ...] = ()
    metadata_details: Mapping[str, Any] = field(default_factory=lambda: _EMPTY)
    metadata_warnings: tuple[str, ...] = ()

    @property
    def format(self) -> FileFormat:
        return self.formats[0]

    @property
    def nbytes(self) -> int:
        """Bytes of tensor data (the file adds a header of a few KiB)."""
        return sum(spec.nbytes for spec in self.tensors.values())  # torch_only aside

    def filename_for(self, fmt: FileFormat) -> str:
        """The recipe's file name with the extension that container is written with."""
        stem, dot, ext = self.filename.rpartition(".")
        if not dot:
            stem, ext = self.filename, ""
        ext = "." + ext.lower() if ext else ""
        if fmt is FileFormat.SAFETENSORS:
            return stem + (ext if ext in (".safetensors", ".sft") else ".safetensors")
        if ext in (".ckpt", ".pt", ".pth", ".bin"):
            return stem + ext
        if self.kind in (Kind.CHECKPOINT, Kind.VAE):
            return stem + ".ckpt"
        if self.component is Component.UPSCALER:
            return stem + ".pth"
        return stem + ".pt"
