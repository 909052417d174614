"""The recommended weight of a Civitai answer, from its typed objects (:mod:`.civitai`).

The extraction itself — description statements, example-image statistics,
the fallback chain — is :mod:`sdhub.catalog.weights`, the one implementation
(the catalog needs it offline, from raw JSON); import its names from there.
This module only feeds it what a :class:`~.civitai.CivitaiVersion` publishes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sdhub.catalog.knowledge import WeightInfo
from sdhub.catalog.weights import recommended_weight

if TYPE_CHECKING:
    from .civitai import CivitaiFile, CivitaiModel, CivitaiVersion


def civitai_weight(
    model: CivitaiModel | None, version: CivitaiVersion, file: CivitaiFile | None = None
) -> WeightInfo | None:
    """The recommended weight of a Civitai version's file, from everything Civitai published."""
    names: list[str] = []
    hashes: list[str] = []
    for f in [file] if file is not None else list(version.files):
        names.append(f.name)
        hashes += [h for k, h in f.hashes.items() if k in ("autov2", "autov3", "sha256")]
    if model is not None:
        names.append(model.name)
    elif version.model_name:
        names.append(version.model_name)
    names += list(version.trained_words)
    kind = model.kind if model is not None else version.kind
    return recommended_weight(
        kind,
        settings=version.settings,
        descriptions=(version.description, model.description if model else None),
        image_metas=[image.meta for image in version.images],
        names=names,
        hashes=hashes,
        version_id=version.id,
    )
