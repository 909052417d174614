"""Civitai's words for kinds and base models, translated into ours — one table each.

Civitai labels are hints (the bytes decide, see :mod:`.download`), but they
choose the folder a download is staged in, the search filters, and whether a
classification contradicts the label. New base-model strings appear every few
months (SPEC-APIS.md C.4 #6): unknown ones map to ``Base.UNKNOWN`` by prefix
rules rather than failing.
"""

from __future__ import annotations

import re

from sdhub.models.kinds import Base, Component, Kind

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

#: Civitai ``baseModel`` → our base family, exact spellings seen 2023–2025.
CIVITAI_BASES: dict[str, Base] = {
    "SD 1.4": Base.SD1,
    "SD 1.5": Base.SD1,
    "SD 1.5 LCM": Base.SD1,
    "SD 1.5 Hyper": Base.SD1,
    "SD 2.0": Base.SD2,
    "SD 2.0 768": Base.SD2,
    "SD 2.1": Base.SD2,
    "SD 2.1 768": Base.SD2,
    "SD 2.1 Unclip": Base.SD2,
    "SDXL 0.9": Base.SDXL,
    "SDXL 1.0": Base.SDXL,
    "SDXL 1.0 LCM": Base.SDXL,
    "SDXL Turbo": Base.SDXL,
    "SDXL Lightning": Base.SDXL,
    "SDXL Hyper": Base.SDXL,
    "SDXL Distilled": Base.SDXL,
    "Pony": Base.SDXL,
    "Illustrious": Base.SDXL,
    "NoobAI": Base.SDXL,
    "SD 3": Base.SD3,
    "SD 3.5": Base.SD3,
    "SD 3.5 Medium": Base.SD3,
    "SD 3.5 Large": Base.SD3,
    "SD 3.5 Large Turbo": Base.SD3,
    "Flux.1 D": Base.FLUX,
    "Flux.1 S": Base.FLUX,
    "Flux.1 Krea": Base.FLUX,
    "Flux.1 Kontext": Base.FLUX,
}

#: Prefix rules for spellings the table does not know yet (checked in order).
_BASE_PREFIXES: tuple[tuple[re.Pattern[str], Base], ...] = (
    (re.compile(r"^sd\s*1(\.|\s|$)", re.I), Base.SD1),
    (re.compile(r"^sd\s*2(\.|\s|$)", re.I), Base.SD2),
    (re.compile(r"^sdxl\b", re.I), Base.SDXL),
    (re.compile(r"^(pony|illustrious|noobai)\b", re.I), Base.SDXL),
    (re.compile(r"^sd\s*3(\.|\s|$)", re.I), Base.SD3),
    (re.compile(r"^flux\.?1\b", re.I), Base.FLUX),
)


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
    """Our base family for a Civitai ``baseModel`` string."""
    if not base_model:
        return Base.UNKNOWN
    text = base_model.strip()
    if text in CIVITAI_BASES:
        return CIVITAI_BASES[text]
    for pattern, base in _BASE_PREFIXES:
        if pattern.search(text):
            return base
    return Base.UNKNOWN


def types_for_kind(kind: Kind) -> tuple[str, ...]:
    """Civitai ``types`` that mean one of our kinds (for search filters)."""
    return tuple(t for t, (k, _) in CIVITAI_TYPES.items() if k is kind)


def base_models_for(base: Base) -> tuple[str, ...]:
    """Civitai ``baseModels`` spellings of one of our families (for search filters)."""
    return tuple(name for name, b in CIVITAI_BASES.items() if b is base)
