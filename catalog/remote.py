"""Recording Civitai and Hugging Face answers: models, versions, files, and what follows from them.

The hub's clients fetch; these functions only store (the catalog never
touches the network). They accept the JSON shapes seen from 2023 to 2025
(SPEC-APIS.md A.3–A.7) and the digests other tools leave next to files
(Civitai Helper's ``.civitai.info`` is a stored API answer; Stability
Matrix's ``.cm-info.json`` a flattened one). A poorer record never
overwrites a richer one (:class:`~.enums.Origin`), and every local file whose
SHA-256 matches a published file is linked to its version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any

from sdhub.models.kinds import Base
from sqlmodel import Session, select

from .coltypes import utcnow
from .enums import Origin, Site, Source, WeightSource
from .files import link_files_to_version
from .knowledge import PreviewInfo, WeightInfo, set_previews, set_trigger_words, set_weight
from .tables import RemoteFile, RemoteModel, RemoteVersion
from .vocab import civitai_base
from .weights import weight_from_description, weight_from_images, weight_from_settings

DEFAULT_CIVITAI_URL = "https://civitai.com"
DEFAULT_HF_URL = "https://huggingface.co"

#: Older image objects say ``nsfw: None|Soft|Mature|X``; newer ones ``nsfwLevel`` bit flags.
_NSFW_WORDS = {"none": 1, "soft": 2, "mature": 4, "x": 8}


def civitai_version_url(model_id: object, version_id: object, site_url: str) -> str:
    return f"{site_url.rstrip('/')}/models/{model_id}?modelVersionId={version_id}"


# --------------------------------------------------------------------------------------
# Loose JSON readers


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _str(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = str(value).strip()
    return text or None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _upper(value: Any) -> str | None:
    text = _str(value)
    return text.upper() if text else None


def _commercial_use(value: Any) -> list[str]:
    """``["Image","Rent"]``, ``"{Image,RentCivit}"`` (2023) or ``"Sell"`` (older) → a list."""
    if isinstance(value, list):
        return [str(v) for v in value if v]
    if isinstance(value, str):
        text = value.strip().strip("{}")
        return [part.strip() for part in text.split(",") if part.strip() and part != "None"]
    return []


def _image_nsfw(image: Mapping[str, Any]) -> int | None:
    level = _int(image.get("nsfwLevel"))
    if level is not None:
        return level
    nsfw = image.get("nsfw")
    if isinstance(nsfw, str):
        return _NSFW_WORDS.get(nsfw.lower())
    if isinstance(nsfw, bool):
        return 4 if nsfw else 1
    return None


# --------------------------------------------------------------------------------------
# Upserts that respect origins


def _merge(row: Any, fields: Mapping[str, Any], origin: Origin) -> None:
    """Write fields into a row: all of them if ``origin`` is at least as rich, else only blanks."""
    richer = origin.rank >= Origin(row.origin).rank
    for name, value in fields.items():
        if value is None or value == [] or value == {}:
            continue
        current = getattr(row, name)
        if richer or current in (None, [], {}, ""):
            setattr(row, name, value)
    if richer:
        row.origin = origin
        row.fetched_at = utcnow()


def _upsert(
    session: Session,
    table: type,
    site: Site,
    remote_id: str,
    fields: Mapping[str, Any],
    origin: Origin,
) -> tuple[Any, bool, bool]:
    """Insert or merge a remote row; returns (row, created, written by a richer-or-equal origin)."""
    row = session.exec(
        select(table).where(table.site == site, table.remote_id == remote_id)  # type: ignore[attr-defined]
    ).first()
    if row is None:
        clean = {k: v for k, v in fields.items() if v is not None}
        row = table(site=site, remote_id=remote_id, origin=origin, **clean)
        created = richer = True
    else:
        created = False
        richer = origin.rank >= Origin(row.origin).rank
        _merge(row, fields, origin)
    session.add(row)
    session.flush()
    return row, created, richer


def _sync_files(
    session: Session,
    version: RemoteVersion,
    files: Sequence[Mapping[str, Any]],
    *,
    replace: bool,
    fresh: bool,
) -> list[RemoteFile]:
    existing = (
        []
        if fresh
        else list(session.exec(select(RemoteFile).where(RemoteFile.version_id == version.id)))
    )
    kept: list[RemoteFile] = []
    for data in files:
        fields = _civitai_file_fields(data)
        row = _match_file(existing, fields)
        if row is None:
            row = RemoteFile(version_id=version.id, **fields)
        else:
            for name, value in fields.items():
                if value is not None and (replace or getattr(row, name) in (None, {})):
                    setattr(row, name, value)
        session.add(row)
        kept.append(row)
    if replace:
        for row in existing:
            if row not in kept:
                session.delete(row)
    if not replace:
        kept.extend(row for row in existing if row not in kept)
    return kept


def _match_file(existing: Sequence[RemoteFile], fields: Mapping[str, Any]) -> RemoteFile | None:
    for key in ("remote_id", "sha256", "name"):
        value = fields.get(key)
        if value is None:
            continue
        for row in existing:
            if getattr(row, key) == value:
                return row
    return None


def _civitai_file_fields(data: Mapping[str, Any]) -> dict[str, Any]:
    hashes = data.get("hashes") if isinstance(data.get("hashes"), Mapping) else {}
    meta = data.get("metadata") if isinstance(data.get("metadata"), Mapping) else {}
    size_kb = data.get("sizeKB")
    size = _int(data.get("size"))
    if size is None and isinstance(size_kb, int | float):
        size = round(size_kb * 1024)
    sha256 = _upper(hashes.get("SHA256"))
    return {
        "remote_id": _str(data.get("id")),
        "name": _str(data.get("name")),
        "type": _str(data.get("type")),
        "size": size,
        "fp": _str(meta.get("fp")),
        "size_type": _str(meta.get("size")),
        "format": _str(meta.get("format")),
        "primary": _bool(data.get("primary")),
        "sha256": sha256,
        "autov1": _upper(hashes.get("AutoV1")),
        "autov2": _upper(hashes.get("AutoV2")) or (sha256[:10] if sha256 else None),
        "autov3": _upper(hashes.get("AutoV3")),
        "crc32": _upper(hashes.get("CRC32")),
        "blake3": _upper(hashes.get("BLAKE3")),
        "pickle_scan": _str(data.get("pickleScanResult")),
        "virus_scan": _str(data.get("virusScanResult")),
        "download_url": _str(data.get("downloadUrl")),
        "raw": dict(data),
    }


# --------------------------------------------------------------------------------------
# Civitai


def _civitai_model_fields(data: Mapping[str, Any], site_url: str, *, full: bool) -> dict[str, Any]:
    creator = data.get("creator")
    model_id = data.get("id")
    fields: dict[str, Any] = {
        "name": _str(data.get("name")),
        "type": _str(data.get("type")),
        "creator": _str(creator.get("username")) if isinstance(creator, Mapping) else None,
        "tags": [str(t) for t in data.get("tags") or [] if t] or None,
        "nsfw": _bool(data.get("nsfw")),
        "nsfw_level": _int(data.get("nsfwLevel")),
        "poi": _bool(data.get("poi")),
        "minor": _bool(data.get("minor")),
        "availability": _str(data.get("availability")),
        "mode": _str(data.get("mode")),
        "allow_no_credit": _bool(data.get("allowNoCredit")),
        "allow_commercial_use": _commercial_use(data.get("allowCommercialUse")) or None,
        "allow_derivatives": _bool(data.get("allowDerivatives")),
        "allow_different_license": _bool(data.get("allowDifferentLicense")),
        "description": _str(data.get("description")),
        "url": f"{site_url.rstrip('/')}/models/{model_id}" if model_id is not None else None,
    }
    if full:
        raw = {k: v for k, v in data.items() if k != "modelVersions"}
        fields["raw"] = raw
    return fields


def record_civitai_model(
    session: Session,
    model: Mapping[str, Any],
    *,
    origin: Origin = Origin.API,
    site_url: str = DEFAULT_CIVITAI_URL,
) -> list[RemoteVersion]:
    """Record a ``GET /api/v1/models/{id}`` answer (or a search item): the model, every version."""
    versions = [v for v in model.get("modelVersions") or [] if isinstance(v, Mapping)]
    if not versions:
        _record_civitai_model_row(session, model, origin, site_url, full=True)
        return []
    return [
        record_civitai_version(
            session, version, model=model, origin=origin, site_url=site_url, position=index
        )
        for index, version in enumerate(versions)
    ]


def _record_civitai_model_row(
    session: Session, model: Mapping[str, Any], origin: Origin, site_url: str, *, full: bool
) -> RemoteModel:
    model_id = _str(model.get("id"))
    if model_id is None:
        raise ValueError("a Civitai model object without an id")
    fields = _civitai_model_fields(model, site_url, full=full)
    return _upsert(session, RemoteModel, Site.CIVITAI, model_id, fields, origin)[0]


def record_civitai_version(
    session: Session,
    version: Mapping[str, Any],
    *,
    model: Mapping[str, Any] | None = None,
    origin: Origin = Origin.API,
    site_url: str = DEFAULT_CIVITAI_URL,
    position: int | None = None,
) -> RemoteVersion:
    """Record a Civitai model version (``/model-versions/{id}``, ``by-hash``, or one of a model's).

    ``model`` is the full model object when the version came inside one (it
    carries description, creator, tags, licence flags that a version answer
    lacks). Records files with their published hashes, trigger words
    (``trainedWords``), previews (``images`` with generation ``meta``) and the
    recommended weight (tRPC ``settings`` if present, else the description,
    else the example images), then links every local file whose SHA-256
    matches one of the files.
    """
    version_id = _str(version.get("id"))
    if version_id is None:
        raise ValueError("a Civitai model version without an id")
    summary = version.get("model") if isinstance(version.get("model"), Mapping) else {}
    model_id = _str(version.get("modelId")) or (_str(model.get("id")) if model else None)
    model_row = None
    if model is not None:
        model_row = _record_civitai_model_row(session, model, origin, site_url, full=True)
    elif model_id is not None:
        model_row = _record_civitai_model_row(
            session, {**summary, "id": model_id}, origin, site_url, full=False
        )

    fields = {
        "model_id": model_row.id if model_row else None,
        "name": _str(version.get("name")),
        "base_model": _str(version.get("baseModel")),
        "base_model_type": _str(version.get("baseModelType")),
        "base": civitai_base(_str(version.get("baseModel"))),
        "status": _str(version.get("status")),
        "availability": _str(version.get("availability")),
        "nsfw_level": _int(version.get("nsfwLevel")),
        "description": _str(version.get("description")),
        "position": position if position is not None else _int(version.get("index")),
        "air": _str(version.get("air")),
        "url": civitai_version_url(model_id, version_id, site_url) if model_id else None,
        "download_url": _str(version.get("downloadUrl")),
        "published_at": _time(version.get("publishedAt")) or _time(version.get("createdAt")),
        "updated_at": _time(version.get("updatedAt")),
        "early_access_ends_at": _time(version.get("earlyAccessEndsAt")),
        "raw": dict(version),
    }
    row, fresh, richer = _upsert(session, RemoteVersion, Site.CIVITAI, version_id, fields, origin)
    files_json = [f for f in version.get("files") or [] if isinstance(f, Mapping)]
    # Everything below only adds rows: let them go to the database in one flush.
    with session.no_autoflush:
        if files_json:
            files = _sync_files(session, row, files_json, replace=richer, fresh=fresh)
        elif fresh:
            files = []
        else:
            files = list(session.exec(select(RemoteFile).where(RemoteFile.version_id == row.id)))
        if richer:
            _record_civitai_knowledge(session, row, version, model_row, files, fresh=fresh)
    session.flush()
    link_files_to_version(session, row, hashes=[f.sha256 for f in files if f.sha256])
    return row


def _record_civitai_knowledge(
    session: Session,
    row: RemoteVersion,
    version: Mapping[str, Any],
    model_row: RemoteModel | None,
    files: Sequence[RemoteFile],
    *,
    fresh: bool,
) -> None:
    assert row.id is not None
    words = version.get("trainedWords")
    if isinstance(words, list):
        set_trigger_words(
            session,
            [str(w) for w in words if w],
            source=Source.CIVITAI,
            version_id=row.id,
            origin="trainedWords",
            fresh=fresh,
        )

    images = [i for i in version.get("images") or [] if isinstance(i, Mapping)]
    if images:
        set_previews(
            session,
            [_preview_of(i) for i in images],
            source=Source.CIVITAI,
            version_id=row.id,
            fresh=fresh,
        )

    names = _weight_names(version, model_row, files)
    stated = weight_from_settings(
        version.get("settings") if isinstance(version.get("settings"), Mapping) else None
    )
    if stated is not None:  # REST answers never carry it: their silence erases nothing
        _store_weight(session, row, WeightSource.CIVITAI, stated, "settings", fresh=fresh)

    described = None
    for text in (row.description, model_row.description if model_row else None):
        described = described or weight_from_description(text, names=names)
    _store_weight(session, row, WeightSource.DESCRIPTION, described, "description", fresh=fresh)

    if any(isinstance(i.get("meta"), Mapping) for i in images):
        hashes = [h for f in files for h in (f.autov3, f.autov2) if h]
        used = weight_from_images(
            [i.get("meta") for i in images],
            version_id=row.remote_id,
            names=names,
            hashes=hashes,
        )
        _store_weight(session, row, WeightSource.EXAMPLE_IMAGES, used, "images", fresh=fresh)


def _weight_names(
    version: Mapping[str, Any], model_row: RemoteModel | None, files: Sequence[RemoteFile]
) -> list[str]:
    """What prompts call this asset: file stems, the model's name, its trigger words."""
    names = [PurePosixPath(f.name).stem for f in files if f.name]
    if model_row is not None and model_row.name:
        names.append(model_row.name)
    words = version.get("trainedWords")
    if isinstance(words, list):
        names += [str(w) for w in words if isinstance(w, str) and w.strip()]
    return names


def _store_weight(
    session: Session,
    row: RemoteVersion,
    source: WeightSource,
    weight: WeightInfo | None,
    origin: str,
    *,
    fresh: bool,
) -> None:
    """One source's weight for a version (a re-recorded version forgets what it no longer says)."""
    if weight is None and fresh:
        return
    set_weight(
        session,
        weight.default if weight else None,
        min=weight.min if weight else None,
        max=weight.max if weight else None,
        source=source,
        version_id=row.id,
        origin=origin,
        fresh=fresh,
    )


def _preview_of(image: Mapping[str, Any]) -> PreviewInfo:
    metadata = image.get("metadata") if isinstance(image.get("metadata"), Mapping) else {}
    meta = image.get("meta")
    return PreviewInfo(
        url=_str(image.get("url")),
        media_type=_str(image.get("type")) or "image",
        size=_int(metadata.get("size")),
        width=_int(image.get("width")) or _int(metadata.get("width")),
        height=_int(image.get("height")) or _int(metadata.get("height")),
        nsfw_level=_image_nsfw(image),
        params=dict(meta) if isinstance(meta, Mapping) else {},
    )


def record_cm_info(
    session: Session, info: Mapping[str, Any], *, site_url: str = DEFAULT_CIVITAI_URL
) -> RemoteVersion | None:
    """Record a Stability Matrix ``.cm-info.json`` (a digest of Civitai's answer for one file).

    Shape (Stability Matrix ``ConnectedModelInfo``): ``ModelId``, ``ModelName``,
    ``ModelDescription``, ``Nsfw``, ``Tags``, ``ModelType``, ``VersionId``,
    ``VersionName``, ``VersionDescription``, ``AuthorUsername``, ``BaseModel``,
    ``RemoteFileName``, ``RemoteFileId``, ``FileMetadata`` {fp, size, format},
    ``Hashes`` {SHA256, CRC32, BLAKE3}, ``TrainedWords``, ``Stats``,
    ``ThumbnailImageUrl``, ``ImportedAt``, ``Source``. Files from other
    sources (OpenModelDB) carry no version id: nothing is recorded for them.
    """
    version_id = _str(info.get("VersionId"))
    model_id = _str(info.get("ModelId"))
    source = _str(info.get("Source"))
    if version_id is None or model_id is None or (source and source.lower() != "civitai"):
        return None
    hashes = info.get("Hashes") if isinstance(info.get("Hashes"), Mapping) else {}
    file_json: dict[str, Any] = {
        "id": info.get("RemoteFileId"),
        "name": info.get("RemoteFileName"),
        "hashes": hashes,
        "metadata": info.get("FileMetadata") or {},
        "primary": None,
    }
    thumb = _str(info.get("ThumbnailImageUrl"))
    version = {
        "id": version_id,
        "modelId": model_id,
        "name": info.get("VersionName"),
        "description": info.get("VersionDescription"),
        "baseModel": info.get("BaseModel"),
        "trainedWords": info.get("TrainedWords"),
        "files": [file_json] if (file_json["name"] or hashes) else [],
        "images": [{"url": thumb}] if thumb else [],
    }
    model = {
        "id": model_id,
        "name": info.get("ModelName"),
        "description": info.get("ModelDescription"),
        "nsfw": info.get("Nsfw"),
        "tags": info.get("Tags"),
        "type": info.get("ModelType") if isinstance(info.get("ModelType"), str) else None,
        "creator": {"username": info.get("AuthorUsername")},
    }
    return record_civitai_version(
        session, version, model=model, origin=Origin.STABILITY_MATRIX, site_url=site_url
    )


# --------------------------------------------------------------------------------------
# Hugging Face


def record_hf_file(
    session: Session,
    *,
    repo: str,
    path: str,
    revision: str = "main",
    sha256: str | None = None,
    size: int | None = None,
    url: str | None = None,
    info: Mapping[str, Any] | None = None,
    trigger_words: Sequence[str] = (),
    base: Base | None = None,
    endpoint: str = DEFAULT_HF_URL,
    origin: Origin = Origin.API,
) -> RemoteFile:
    """Record one file of a Hugging Face repo at a revision (the model is the repo).

    ``info`` is the repo's JSON (``/api/models/{repo}``: ``author``, ``tags``,
    ``cardData.license``, ``pipeline_tag``, ``sha``…) where the hub fetched it.
    """
    info = info or {}
    card = info.get("cardData") if isinstance(info.get("cardData"), Mapping) else {}
    model_fields = {
        "name": repo.split("/")[-1],
        "type": _str(info.get("pipeline_tag")),
        "creator": _str(info.get("author")) or (repo.split("/")[0] if "/" in repo else None),
        "tags": [str(t) for t in info.get("tags") or []] or None,
        "license": _str(card.get("license")),
        "url": f"{endpoint.rstrip('/')}/{repo}",
        "raw": dict(info) or None,
    }
    model = _upsert(session, RemoteModel, Site.HF, repo, model_fields, origin)[0]
    version_fields = {
        "model_id": model.id,
        "name": revision,
        "base": base,
        "url": f"{endpoint.rstrip('/')}/{repo}/tree/{revision}",
        "published_at": _time(info.get("lastModified")),
    }
    version = _upsert(
        session, RemoteVersion, Site.HF, f"{repo}@{revision}", version_fields, origin
    )[0]
    fields = {
        "remote_id": path,
        "name": PurePosixPath(path).name,
        "size": size,
        "sha256": _upper(sha256),
        "autov2": _upper(sha256)[:10] if sha256 else None,
        "download_url": url or f"{endpoint.rstrip('/')}/{repo}/resolve/{revision}/{path}",
    }
    existing = list(session.exec(select(RemoteFile).where(RemoteFile.version_id == version.id)))
    row = _match_file(existing, {"remote_id": path})
    if row is None:
        row = RemoteFile(
            version_id=version.id, **{k: v for k, v in fields.items() if v is not None}
        )
    else:
        for name, value in fields.items():
            if value is not None:
                setattr(row, name, value)
    session.add(row)
    session.flush()
    if trigger_words:
        set_trigger_words(session, trigger_words, source=Source.HF, version_id=version.id)
    link_files_to_version(session, version)
    return row


def version_by_remote_id(
    session: Session, site: Site, remote_id: str | int
) -> RemoteVersion | None:
    return session.exec(
        select(RemoteVersion).where(
            RemoteVersion.site == site, RemoteVersion.remote_id == str(remote_id)
        )
    ).first()
