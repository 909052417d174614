"""Civitai's ``baseModel`` labels translated into our base families — the one table of them.

The catalog needs it offline (recording an API answer or importing a
``.civitai.info`` sidecar); the hub's clients and search filters import it
from here. New labels appear every few months (SPEC-APIS.md C.4 #6): the
exact table knows the spellings seen 2023–2025, prefix rules catch new
variants of known families ("SD 3.5 Something New"), anything else is
``Base.UNKNOWN`` rather than an error.
"""

from __future__ import annotations

import re

from sdhub.models.kinds import Base

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
    "SDXL 1.0 Refiner": Base.SDXL_REFINER,
    "Pony": Base.SDXL,
    "Illustrious": Base.SDXL,
    "NoobAI": Base.SDXL,
    "Playground v2": Base.SDXL,
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

_BY_FOLDED = {label.casefold(): base for label, base in CIVITAI_BASES.items()}

#: Prefix rules for spellings the table does not know yet (checked in order: refiner first).
_BASE_PREFIXES: tuple[tuple[re.Pattern[str], Base], ...] = (
    # "Pony V7" is an AuraFlow model, not the SDXL-based Pony of 2024.
    (re.compile(r"^pony\s*v?\s*([7-9]|\d\d)\b", re.I), Base.UNKNOWN),
    (re.compile(r"^sdxl\b.*\brefiner\b", re.I), Base.SDXL_REFINER),
    (re.compile(r"^sd\s*1(\.|\s|$)", re.I), Base.SD1),
    (re.compile(r"^sd\s*2(\.|\s|$)", re.I), Base.SD2),
    (re.compile(r"^sdxl\b", re.I), Base.SDXL),
    (re.compile(r"^(pony|illustrious|noobai|playground\s*v2)\b", re.I), Base.SDXL),
    (re.compile(r"^(sd\s*3|stable\s+diffusion\s+3)(\.|\s|$)", re.I), Base.SD3),
    # Flux.1 only: Flux.2 is another architecture, not loadable as Flux.1.
    (re.compile(r"^flux\.?\s*1\b", re.I), Base.FLUX),
)


def civitai_base(base_model: str | None) -> Base | None:
    """Our family for a Civitai ``baseModel`` label (``SD 1.5`` → sd1).

    None when there is no label; ``Base.UNKNOWN`` for a label we cannot place.
    """
    if not base_model or not base_model.strip():
        return None
    text = base_model.strip()
    exact = _BY_FOLDED.get(text.casefold())
    if exact is not None:
        return exact
    for pattern, base in _BASE_PREFIXES:
        if pattern.search(text):
            return base
    return Base.UNKNOWN


def base_models_for(base: Base) -> tuple[str, ...]:
    """Civitai ``baseModels`` spellings of one of our families (for search filters)."""
    return tuple(name for name, b in CIVITAI_BASES.items() if b is base)
