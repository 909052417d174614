"""``sdhub search``: the remote browser's search (:mod:`.browse`), bounded, as records.

Every hit carries a ``ref`` that ``sdhub get`` accepts: ``civitai:MODEL@VERSION``
for the newest published version of a Civitai model, ``hf:OWNER/REPO`` for a
Hugging Face repository (``get`` then takes its one weight file, or the whole
diffusers pipeline).
"""

from __future__ import annotations

from itertools import islice
from typing import Any

from .browse import RemoteHit, RemoteSite, SearchFilters, search
from .civitai import CivitaiClient, CivitaiModel
from .huggingface import HfClient

__all__ = ["RemoteHit", "RemoteSite", "SearchFilters", "hit_json", "hit_ref", "search_hits"]


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


def hit_json(hit: RemoteHit) -> dict[str, Any]:
    """One search hit as a JSON Lines record."""
    data: dict[str, Any] = {
        "site": hit.site.value,
        "id": int(hit.id) if hit.id.isdigit() else hit.id,
        "ref": hit_ref(hit),
        "name": hit.name,
        "type": hit.type_label,
        "kind": hit.kind.value if hit.kind else None,
        "base": hit.base_label or None,
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
                "base_model": v.base_label,
                "published": v.published,
                "trigger_words": list(v.trigger_words),
                "ref": f"civitai:{hit.id}@{v.id}",
            }
            for v in hit.versions
        ]
    return data
