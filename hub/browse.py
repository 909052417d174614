"""What the remote browser shows: search hits from Civitai and Hugging Face in one shape.

A hit carries its versions and their files (sizes, published hashes), and
the marks that matter to someone with a library: "already in library" (a
local file has the published SHA-256) and "update available" (a local file
came from an older version of the same model). Searching is lazy, page by
page as the person scrolls (:func:`search`); marks come from the catalog in
a few queries per page (:func:`mark_hits`); :func:`download_request` turns
a chosen file into the reference :class:`~.queue.DownloadQueue` fetches, as
``sdhub get`` would.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sdhub.catalog import Catalog, LocalFile
from sdhub.catalog.weights import html_to_text
from sdhub.models.kinds import Base, Kind
from sqlmodel import select

from .civitai import CivitaiClient, CivitaiFile, CivitaiModel, CivitaiVersion
from .huggingface import HfClient, HfFile, HfRepo
from .sync import GetRequest
from .updates import LocalCivitaiFile, local_civitai_files, newest_update
from .vocab import base_models_for, types_for_kind


class RemoteSite(StrEnum):
    CIVITAI = "civitai"
    HF = "hf"


class RemoteSort(StrEnum):
    """One sort vocabulary for both sites (each translated to the site's own words)."""

    RELEVANCE = "relevance"
    DOWNLOADS = "downloads"
    NEWEST = "newest"
    RATED = "rated"


_CIVITAI_SORT = {
    RemoteSort.DOWNLOADS: "Most Downloaded",
    RemoteSort.NEWEST: "Newest",
    RemoteSort.RATED: "Highest Rated",
}
_HF_SORT = {
    RemoteSort.DOWNLOADS: "downloads",
    RemoteSort.NEWEST: "last_modified",
    RemoteSort.RATED: "likes",
}
#: Hugging Face has no kind field; these repo tags come closest.
_HF_KIND_TAGS = {Kind.LORA: "lora"}


@dataclass(frozen=True, slots=True)
class SearchFilters:
    """The remote browser's filters (the same as ``sdhub search``'s flags)."""

    query: str = ""
    site: RemoteSite = RemoteSite.CIVITAI
    kind: Kind | None = None
    base: Base | None = None
    sort: RemoteSort = RemoteSort.RELEVANCE
    nsfw: bool = False


@dataclass(slots=True)
class RemoteFileInfo:
    """A published file of a version."""

    name: str
    size: int | None
    sha256: str | None
    type: str
    detail: str = ""  # "SafeTensor fp16 pruned"
    primary: bool = False
    in_library: bool = False
    #: What :func:`download_request` needs: a CivitaiFile or an HfFile.
    source: Any = field(default=None, repr=False)


@dataclass(slots=True)
class RemoteVersionInfo:
    id: str
    name: str
    base_label: str | None
    published: str | None
    files: list[RemoteFileInfo]
    trigger_words: tuple[str, ...] = ()
    #: Some file of this version is in the library.
    in_library: bool = False
    source: Any = field(default=None, repr=False)  # CivitaiVersion


@dataclass(slots=True)
class RemoteHit:
    """One model (Civitai) or repository (Hugging Face) in the results."""

    site: RemoteSite
    id: str
    name: str
    type_label: str
    kind: Kind | None
    base_label: str
    creator: str | None
    downloads: int | None
    url: str
    nsfw: bool = False
    description: str = ""
    #: None until loaded (Hugging Face lists files on demand).
    versions: list[RemoteVersionInfo] | None = None
    in_library: bool = False
    update_available: bool = False
    source: Any = field(default=None, repr=False)  # CivitaiModel | HfRepo

    @property
    def marks(self) -> str:
        return ("✓" if self.in_library else "") + ("↑" if self.update_available else "")


# --------------------------------------------------------------------------------------
# Searching


def search(
    filters: SearchFilters, *, civitai: CivitaiClient | None = None, hf: HfClient | None = None
) -> Iterator[RemoteHit]:
    """Hits for ``filters``, pages fetched as the caller consumes them (no upper limit)."""
    if filters.site is RemoteSite.CIVITAI:
        if civitai is None:
            raise ValueError("a Civitai search needs a CivitaiClient")
        models = civitai.search(
            filters.query or None,
            types=types_for_kind(filters.kind) if filters.kind else (),
            base_models=base_models_for(filters.base) if filters.base else (),
            sort=_CIVITAI_SORT.get(filters.sort),
            nsfw=filters.nsfw,
            limit=None,
            page_size=20,
        )
        for model in models:
            yield civitai_hit(model, civitai.base_url)
        return
    if hf is None:
        raise ValueError("a Hugging Face search needs an HfClient")
    tags = (_HF_KIND_TAGS[filters.kind],) if filters.kind in _HF_KIND_TAGS else ()
    for repo in hf.search(
        filters.query or None, filters=tags, sort=_HF_SORT.get(filters.sort), limit=None
    ):
        yield hf_hit(repo, hf.endpoint)


def civitai_hit(model: CivitaiModel, site_url: str) -> RemoteHit:
    versions = [_civitai_version(v) for v in model.versions]
    bases = sorted({v.base_label for v in versions if v.base_label})
    return RemoteHit(
        site=RemoteSite.CIVITAI,
        id=str(model.id),
        name=model.name,
        type_label=model.type or "?",
        kind=model.kind,
        base_label=", ".join(bases[:2]) + ("…" if len(bases) > 2 else ""),
        creator=model.creator,
        downloads=model.download_count,
        url=f"{site_url.rstrip('/')}/models/{model.id}",
        nsfw=model.nsfw,
        description=_text(model.description),
        versions=versions,
        source=model,
    )


def _civitai_version(version: CivitaiVersion) -> RemoteVersionInfo:
    files = [
        RemoteFileInfo(
            name=f.name,
            size=f.size_bytes,
            sha256=f.sha256,
            type=f.type,
            detail=" ".join(x for x in (f.format, f.fp, f.size) if x),
            primary=f.primary,
            source=f,
        )
        for f in version.files
    ]
    return RemoteVersionInfo(
        id=str(version.id),
        name=version.name,
        base_label=version.base_model,
        published=(version.published_at or version.created_at or "")[:10] or None,
        files=files,
        trigger_words=version.trained_words,
        source=version,
    )


def hf_hit(repo: HfRepo, endpoint: str) -> RemoteHit:
    return RemoteHit(
        site=RemoteSite.HF,
        id=repo.id,
        name=repo.id,
        type_label=repo.pipeline_tag or repo.library_name or "repo",
        kind=Kind.LORA if "lora" in repo.tags else None,
        base_label=_hf_base(repo.tags),
        creator=repo.author,
        downloads=repo.downloads,
        url=f"{endpoint.rstrip('/')}/{repo.id}",
        source=repo,
    )


def _hf_base(tags: tuple[str, ...]) -> str:
    for tag in tags:
        if tag.startswith("base_model:") and tag.count(":") == 1:
            return tag.split(":", 1)[1].split("/")[-1]
    return ""


def load_versions(hit: RemoteHit, hf: HfClient) -> list[RemoteVersionInfo]:
    """A Hugging Face repo's weight files (the main revision) as one version."""
    if hit.versions is not None:
        return hit.versions
    repo: HfRepo = hit.source
    files = [f for f in hf.list_files(repo.id, repo.sha or None) if f.is_weight]
    hit.versions = [
        RemoteVersionInfo(
            id=repo.sha or "main",
            name=(repo.sha or "main")[:12],
            base_label=hit.base_label or None,
            published=(repo.last_modified or "")[:10] or None,
            files=[
                RemoteFileInfo(
                    name=f.path, size=f.size, sha256=f.sha256, type="file", source=_pinned(f, repo)
                )
                for f in files
            ],
        )
    ]
    return hit.versions


def _pinned(file: HfFile, repo: HfRepo) -> HfFile:
    if repo.sha and file.revision != repo.sha:
        return HfFile(file.repo, file.path, repo.sha, file.size, file.sha256, file.blob_id)
    return file


# --------------------------------------------------------------------------------------
# Marks from the catalog


def mark_hits(catalog: Catalog, hits: list[RemoteHit]) -> None:
    """Set "in library" on files, versions and hits, and "update available" on hits.

    A file is in the library when a present local file has its published
    SHA-256; a version when one of its files is, or a local file is linked to
    it. A hit has an update when ``sdhub updates`` would offer one for a local
    file linked to one of its versions (:func:`~.updates.newest_update`: a
    newer published version of the same base model that the library lacks).
    """
    hashes = {f.sha256.upper() for h in hits for v in h.versions or () for f in v.files if f.sha256}
    present = _present(catalog, hashes)
    civitai_ids = [h.id for h in hits if h.site is RemoteSite.CIVITAI]
    local = local_civitai_files(catalog, civitai_ids) if civitai_ids else []
    owned = {f.version_id for f in local}
    by_model: dict[str, list[LocalCivitaiFile]] = {}
    for file in local:
        by_model.setdefault(str(file.model_id), []).append(file)
    for hit in hits:
        held = by_model.get(hit.id, [])
        linked = {str(f.version_id) for f in held}
        for version in hit.versions or ():
            for f in version.files:
                f.in_library = bool(f.sha256 and f.sha256.upper() in present)
            version.in_library = version.id in linked or any(f.in_library for f in version.files)
        hit.in_library = any(v.in_library for v in hit.versions or ())
        model = hit.source if isinstance(hit.source, CivitaiModel) else None
        hit.update_available = model is not None and any(
            newest_update(model, f, owned=owned) is not None for f in held
        )


def _present(catalog: Catalog, hashes: set[str]) -> set[str]:
    """Which of these SHA-256s a present local file has (500 per query)."""
    present: set[str] = set()
    wanted = sorted(hashes)
    with catalog.session() as session:
        for start in range(0, len(wanted), 500):
            present.update(
                session.exec(
                    select(LocalFile.sha256).where(
                        LocalFile.sha256.in_(wanted[start : start + 500]),
                        LocalFile.missing == False,  # noqa: E712
                    )
                )
            )
    return present


# --------------------------------------------------------------------------------------
# Downloads


def download_request(
    hit: RemoteHit,
    version: RemoteVersionInfo,
    file: RemoteFileInfo,
    civitai: CivitaiClient | None = None,
) -> GetRequest:
    """The reference ``sdhub get`` takes for exactly this file of a hit.

    ``civitai:MODEL@VERSION`` for the file Civitai serves by default, the
    file's download URL (with its selectors, on ``civitai``'s host) for any
    other; ``hf:REPO/PATH@COMMIT`` for a Hugging Face file. Queued, it runs
    the same steps as ``sdhub get`` (:class:`~.sync.Sync`), so a download
    from the browser is recorded, linked and given its sidecars the same way.
    """
    if hit.site is RemoteSite.HF:
        hf_file: HfFile = file.source
        return GetRequest(f"hf:{hf_file.repo}/{hf_file.path}@{hf_file.revision}")
    cv: CivitaiVersion = version.source
    cf: CivitaiFile = file.source
    if cf == cv.primary_file():
        return GetRequest(f"civitai:{hit.id}@{cv.id}")
    if civitai is None:
        raise ValueError("a Civitai file other than the default one needs a CivitaiClient")
    return GetRequest(civitai.file_download_url(cv, cf))


def _text(html: str | None) -> str:
    if not html:
        return ""
    lines = [" ".join(line.split()) for line in html_to_text(html).splitlines()]
    return "\n".join(line for line in lines if line)
