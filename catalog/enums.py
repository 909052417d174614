"""The catalog's own vocabulary: where a fact came from, which site a record is of.

File kinds, bases, formats and verdicts are :mod:`sdhub.models.kinds`; these
enums describe *knowledge about* files. Their string values are stored in the
database and printed in JSON, so never rename a value.
"""

from __future__ import annotations

from enum import StrEnum


class Site(StrEnum):
    """A remote source of models."""

    CIVITAI = "civitai"
    HF = "hf"


class WeightSource(StrEnum):
    """Where a recommended weight came from (CLI.md ``weight.source``).

    Listed from the most to the least trusted: :data:`WEIGHT_PRIORITY`.
    """

    USER = "user"
    SIDECAR = "sidecar"
    CIVITAI = "civitai"
    DESCRIPTION = "description"
    EXAMPLE_IMAGES = "example-images"
    DEFAULT = "default"


#: The order in which weights of several sources win (first wins).
WEIGHT_PRIORITY: tuple[WeightSource, ...] = tuple(WeightSource)


class Source(StrEnum):
    """Where trigger words or previews came from.

    ``sidecar`` is a file next to the model that a person or a WebUI extension
    wrote (A1111 ``<stem>.json``, ``<stem>.preview.png``); ``metadata`` is the
    model file's own safetensors metadata (a hint at best).
    """

    USER = "user"
    SIDECAR = "sidecar"
    CIVITAI = "civitai"
    HF = "hf"
    METADATA = "metadata"


#: The order in which trigger-word sets of several sources win (first wins).
WORDS_PRIORITY: tuple[Source, ...] = (
    Source.USER,
    Source.SIDECAR,
    Source.CIVITAI,
    Source.HF,
    Source.METADATA,
)


class Origin(StrEnum):
    """How a remote record reached the catalog; a poorer origin never overwrites a richer one."""

    API = "api"  # fetched from the site's API by sdhub
    CIVITAI_HELPER = "civitai-helper"  # a `.civitai.info` next to the file (a stored API answer)
    STABILITY_MATRIX = "stability-matrix"  # a `.cm-info.json` (a digest of the API answer)
    USER = "user"  # typed in by a person (manual link)

    @property
    def rank(self) -> int:
        return _ORIGIN_RANK[self]


_ORIGIN_RANK = {Origin.USER: 0, Origin.STABILITY_MATRIX: 1, Origin.CIVITAI_HELPER: 2, Origin.API: 3}


class LinkSource(StrEnum):
    """Why a local file is linked to a remote version."""

    HASH = "hash"  # its SHA-256 equals a published file's
    SIDECAR = "sidecar"  # a `.civitai.info` / `.cm-info.json` next to it says so
    USER = "user"  # a person linked it (Civitai's hash was wrong)
    DOWNLOAD = "download"  # sdhub downloaded it from that version (no published hash to match)


class ScanEvent(StrEnum):
    """What a scan did with one file."""

    NEW = "new"
    CHANGED = "changed"
    MOVED = "moved"
    MISSING = "missing"
    UNCHANGED = "unchanged"
    ERROR = "error"
