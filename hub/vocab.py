"""Civitai's words for kinds translated into ours; base-model labels come from the catalog.

Civitai labels are hints (the bytes decide, see :mod:`.download`), but they
choose the folder a download is staged in, the search filters, and whether a
classification contradicts the label. The ``baseModel`` table lives in
:mod:`sdhub.catalog.vocab` (the catalog needs it offline to import
``.civitai.info`` sidecars); it is re-exported here for the hub's callers.
"""

from __future__ import annotations

from sdhub.catalog.vocab import CIVITAI_BASES, base_models_for, civitai_base
from sdhub.models.kinds import Base, Component, Kind

__all__ = [
    "CIVITAI_BASES",
    "CIVITAI_TYPES",
    "NON_MODEL_FILE_TYPES",
    "base_models_for",
    "base_of",
    "kind_of_file",
    "kind_of_type",
    "types_for_kind",
]

#: Civitai model ``type`` → (our kind, the component for kind ``other``).
CIVITAI_TYPES: dict[str, tuple[Kind, Component | None]] = {
    "Checkpoint": (Kind.CHECKPOINT, None),
    "LORA": (Kind.LORA, None),
    "LoCon": (Kind.LORA, None),
    "DoRA": (Kind.LORA, None),
    "TextualInversion": (Kind.EMBEDDING, None),
    "Hypernetwork": (Kind.HYPERNETWORK, None),
    "VAE": (Kind.VAE, None),
    "Controlnet": (Kind.OTHER, Component.CONTROLNET),
    "Upscaler": (Kind.OTHER, Component.UPSCALER),
    "MotionModule": (Kind.OTHER, Component.MOTION_MODULE),
    "AestheticGradient": (Kind.OTHER, Component.UNKNOWN),
    "Poses": (Kind.OTHER, Component.UNKNOWN),
    "Wildcards": (Kind.OTHER, Component.UNKNOWN),
    "Workflows": (Kind.OTHER, Component.UNKNOWN),
    "Detection": (Kind.OTHER, Component.UNKNOWN),
    "Other": (Kind.OTHER, Component.UNKNOWN),
}

#: Civitai file ``type`` values that override the model type for that one file.
_FILE_TYPES: dict[str, tuple[Kind, Component | None]] = {
    "VAE": (Kind.VAE, None),
    "Text Encoder": (Kind.OTHER, Component.TEXT_ENCODER),
}

#: File types that are no model weights at all (zip, yaml): never run through the engine.
NON_MODEL_FILE_TYPES = frozenset({"Training Data", "Config", "Archive"})


def kind_of_type(civitai_type: str | None) -> tuple[Kind, Component | None]:
    """Our kind for a Civitai model type; unknown types are ``other``."""
    if civitai_type is None:
        return (Kind.OTHER, Component.UNKNOWN)
    return CIVITAI_TYPES.get(civitai_type, (Kind.OTHER, Component.UNKNOWN))


def kind_of_file(
    civitai_type: str | None, file_type: str | None
) -> tuple[Kind, Component | None] | None:
    """The kind one file of a model should be; None for non-model files (zips, configs)."""
    if file_type in NON_MODEL_FILE_TYPES:
        return None
    if file_type in _FILE_TYPES:
        return _FILE_TYPES[file_type]
    return kind_of_type(civitai_type)


def base_of(base_model: str | None) -> Base:
    """Our base family for a Civitai ``baseModel`` string (the catalog's table)."""
    return civitai_base(base_model) or Base.UNKNOWN


def types_for_kind(kind: Kind) -> tuple[str, ...]:
    """Civitai ``types`` that mean one of our kinds (for search filters)."""
    return tuple(t for t, (k, _) in CIVITAI_TYPES.items() if k is kind)
