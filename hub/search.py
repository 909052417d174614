"""``sdhub search``: the remote browser's search (:mod:`.browse`), bounded, as records.

Every hit carries a ``ref`` that ``sdhub get`` accepts: ``civitai:MODEL@VERSION``
for the newest published version of a Civitai model, ``hf:OWNER/REPO`` for a
Hugging Face repository (``get`` then takes its one weight file, or the whole
diffusers pipeline).
"""

from __future__ import annotations

import re
from itertools import islice
from typing import Any

from sdhub.catalog.vocab import civitai_base
from sdhub.models.kinds import Base

from .browse import RemoteHit, RemoteSite, SearchFilters, search
from .civitai import CivitaiClient, CivitaiModel
from .huggingface import HfClient

__all__ = [
    "RemoteHit",
    "RemoteSite",
    "SearchFilters",
    "hit_base",
    "hit_json",
    "hit_ref",
    "search_hits",
]


def search_hits(
    filters: SearchFilters,
    *,
    limit: int = 20,
    civitai: CivitaiClient | None = None,
    hf: HfClient | None = None,
) -> list[RemoteHit]:
    """At most ``limit`` hits; pages are fetched only as far as needed."""
    return list(islice(search(filters, civitai=civitai, hf=hf), max(0, limit)))


def hit_ref(hit: RemoteHit) -> str:
    """The reference ``sdhub get`` takes for a hit (the newest published version)."""
    if hit.site is RemoteSite.CIVITAI:
        model = hit.source
        if isinstance(model, CivitaiModel):
            latest = model.latest_version()
            if latest is not None:
                return f"civitai:{model.id}@{latest.id}"
        return f"civitai:{hit.id}"
    return f"hf:{hit.id}"


#: A Hugging Face ``base_model:`` repo name → our family (first match wins: refiner first).
_HF_BASES: tuple[tuple[re.Pattern[str], Base], ...] = (
    (re.compile(r"xl.*refiner|refiner.*xl"), Base.SDXL_REFINER),
    (re.compile(r"stable-diffusion-xl|sdxl|sd_xl|playground-v2|pony|illustrious"), Base.SDXL),
    (re.compile(r"stable-diffusion-3|\bsd-?3"), Base.SD3),
    (re.compile(r"flux\.?-?1"), Base.FLUX),
    (re.compile(r"stable-diffusion-2|\bsd-?2|v2-1|v2-0"), Base.SD2),
    (re.compile(r"stable-diffusion-v1|stable-diffusion-1|\bsd-?1|v1-5|v1-4"), Base.SD1),
)


def hit_base(hit: RemoteHit) -> Base | None:
    """Our base family for a hit (CLI.md's ``base`` values), from the version its REF
    names on Civitai or the ``base_model:`` tag on Hugging Face; None when the site says
    nothing, ``unknown`` for a label that fits no family."""
    if hit.site is RemoteSite.CIVITAI:
        model = hit.source
        latest = model.latest_version() if isinstance(model, CivitaiModel) else None
        if latest is not None:
            return civitai_base(latest.base_model)
        return civitai_base(hit.base_label.split(",")[0]) if hit.base_label else None
    if not hit.base_label:
        return None
    label = hit.base_label.lower()
    return next((base for pattern, base in _HF_BASES if pattern.search(label)), Base.UNKNOWN)


def _base_model(hit: RemoteHit) -> str | None:
    """The site's own label for the base of the version the hit's REF names."""
    model = hit.source
    if hit.site is RemoteSite.CIVITAI and isinstance(model, CivitaiModel):
        latest = model.latest_version()
        if latest is not None:
            return latest.base_model
    return hit.base_label or None


def hit_json(hit: RemoteHit) -> dict[str, Any]:
    """One search hit as a JSON Lines record: ``kind`` and ``base`` in CLI.md's words,
    ``base_model`` as the site spells it."""
    base = hit_base(hit)
    data: dict[str, Any] = {
        "site": hit.site.value,
        "id": int(hit.id) if hit.id.isdigit() else hit.id,
        "ref": hit_ref(hit),
        "name": hit.name,
        "type": hit.type_label,
        "kind": hit.kind.value if hit.kind else None,
        "base": base.value if base is not None else None,
        "base_model": _base_model(hit),
        "creator": hit.creator,
        "downloads": hit.downloads,
        "nsfw": hit.nsfw,
        "url": hit.url,
    }
    if hit.site is RemoteSite.CIVITAI and hit.versions is not None:
        data["versions"] = [
            {
                "id": int(v.id),
                "name": v.name,
                "base": _version_base(v.base_label),
                "base_model": v.base_label,
                "published": v.published,
                "trigger_words": list(v.trigger_words),
                "ref": f"civitai:{hit.id}@{v.id}",
            }
            for v in hit.versions
        ]
    return data


def _version_base(label: str | None) -> str | None:
    base = civitai_base(label)
    return base.value if base is not None else None
