"""Recommended weights of Civitai answers (the typed objects of :mod:`.civitai`).

The extraction itself — description statements, example-image statistics,
the fallback chain — is :mod:`sdhub.catalog.weights`, the one implementation
(the catalog needs it offline). This module only feeds it what a
:class:`~.civitai.CivitaiVersion` publishes, and re-exports its names for
the hub's callers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sdhub.catalog.enums import WeightSource
from sdhub.catalog.knowledge import WeightInfo
from sdhub.catalog.weights import (
    DEFAULT_WEIGHT,
    MAX_ABS_WEIGHT,
    default_weight,
    html_to_text,
    image_weights,
    recommended_weight,
    summarize,
    weight_from_description,
    weight_from_images,
    weight_from_settings,
)

if TYPE_CHECKING:
    from .civitai import CivitaiFile, CivitaiModel, CivitaiVersion

__all__ = [
    "DEFAULT_WEIGHT",
    "MAX_ABS_WEIGHT",
    "WeightInfo",
    "WeightSource",
    "civitai_weight",
    "default_weight",
    "html_to_text",
    "image_weights",
    "recommended_weight",
    "summarize",
    "weight_from_description",
    "weight_from_images",
    "weight_from_settings",
]


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
