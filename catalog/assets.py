"""Assets: a local file with everything known about it, resolved for people and scripts.

:func:`list_assets` loads any number of assets in a handful of queries (the
TUI lists 10,000 at once); :func:`find_asset` resolves a REF (CLI.md: a path,
a name, or a hash in any of Civitai's forms). :meth:`Asset.to_json` is the
asset object of CLI.md.
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sdhub.models.kinds import Base, Component, FileFormat, Kind, Verdict
from sdhub.models.layouts import MODEL_SUFFIXES
from sdhub.models.report import Hashes, Safety
from sqlmodel import Session, select

from .enums import LinkSource, Site, Source
from .errors import AmbiguousRefError, MalformedRefError, RefNotFoundError
from .files import normpath
from .knowledge import WeightInfo, best_weight, best_words
from .tables import (
    LocalFile,
    Preview,
    RemoteFile,
    RemoteModel,
    RemoteVersion,
    RenderResult,
    TriggerWord,
    Weight,
)
from .weights import html_to_text

#: Kinds whose files are applied at a weight (``<lora:NAME:W>``, ``(NAME:W)``).
WEIGHTED_KINDS = frozenset({Kind.LORA, Kind.HYPERNETWORK, Kind.EMBEDDING})
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_NEGATIVE_NAME = re.compile(
    r"(negative|^neg[_\-\s.]|[_\-\s]neg\b|^bad|^ng_|deepneg|unaesthetic|^easyneg)", re.IGNORECASE
)
#: Above this many ids, load a whole table instead of chunked ``IN`` lists.
_BULK = 400


@dataclass(frozen=True, slots=True)
class RemoteSource:
    """Where an asset came from (CLI.md ``source``)."""

    site: Site
    model_id: str | None
    version_id: str | None
    url: str | None
    model_name: str | None = None
    version_name: str | None = None
    base_model: str | None = None
    model_type: str | None = None
    file_type: str | None = None
    link: LinkSource | None = None
    path: str | None = None  # Hugging Face: the file's path in the repo

    def to_json(self) -> dict[str, Any]:
        if self.site is Site.HF:
            repo, _, revision = (self.version_id or "").partition("@")
            return {
                "site": "hf",
                "repo": self.model_id or repo,
                "revision": revision or None,
                "path": self.path,
                "url": self.url,
                "link": self.link.value if self.link else None,
            }
        return {
            "site": self.site.value,
            "model_id": _as_int(self.model_id),
            "version_id": _as_int(self.version_id),
            "url": self.url,
            "model_name": self.model_name,
            "version_name": self.version_name,
            "base_model": self.base_model,
            "type": self.model_type,
            "link": self.link.value if self.link else None,
        }


def _as_int(value: str | None) -> int | str | None:
    if value is None:
        return None
    return int(value) if value.isdigit() else value


@dataclass(frozen=True, slots=True)
class RenderInfo:
    """The latest validation render of an asset."""

    verdict: str
    grid: str | None
    images: int
    seconds: float | None
    message: str | None
    created: datetime
    base_name: str | None = None
    base_path: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "base": {"name": self.base_name, "path": self.base_path},
            "grid": self.grid,
            "images": self.images,
            "seconds": self.seconds,
            "message": self.message,
            "created": self.created.isoformat(),
        }


def _decoded(value: Any, empty: Any) -> Any:
    """A JSON column as the driver handed it over: text (SQLite) or already decoded (psycopg)."""
    if value is None:
        return empty
    if isinstance(value, str | bytes):
        return json.loads(value) if value not in ("{}", "[]", "null") else empty
    return value


@dataclass(eq=False)
class Asset:
    """A catalogued file and what is known about it, ready to show.

    ``details``, ``warnings`` and ``safety`` are decoded from the catalog only
    when first read: a list of 10,000 assets mostly shows names and weights.
    """

    id: int
    name: str
    path: str
    kind: Kind
    base: Base
    component: Component | None
    format: FileFormat
    size: int
    hashes: Hashes | None
    _safety: Any = field(repr=False)
    _details: Any = field(repr=False)
    _warnings: Any = field(repr=False)
    error: str | None
    missing: bool
    trigger_words: list[str] = field(default_factory=list)
    words_source: Source | None = None
    #: None for kinds that are not applied at a weight (checkpoints, VAEs, others).
    weight: WeightInfo | None = None
    source: RemoteSource | None = None
    render: RenderInfo | None = None
    description: str | None = None
    notes: str | None = None
    negative_text: str | None = None
    #: An embedding meant for the negative prompt.
    negative: bool = False
    #: The model description published on Civitai/HF, as plain text.
    remote_description: str | None = None
    previews: list[dict[str, Any]] | None = None

    @property
    def details(self) -> dict[str, Any]:
        if not isinstance(self._details, dict):
            self._details = _decoded(self._details, {})
        return self._details

    @property
    def warnings(self) -> list[str]:
        if not isinstance(self._warnings, list):
            self._warnings = _decoded(self._warnings, [])
        return self._warnings

    @property
    def safety(self) -> Safety:
        if not isinstance(self._safety, Safety):
            verdict, globals_, reason = self._safety
            self._safety = Safety(_VERDICTS[verdict], tuple(_decoded(globals_, [])), reason)
        return self._safety

    @property
    def filename(self) -> str:
        return Path(self.path).name

    def matches(self, query: str) -> bool:
        """Does a free-text query match the name, path, trigger words or a hash prefix?"""
        q = query.strip().lower()
        if not q:
            return True
        if q in self.name.lower() or q in self.path.lower():
            return True
        if any(q in w.lower() for w in self.trigger_words):
            return True
        if self.source and any(
            q in (v or "").lower() for v in (self.source.model_name, self.source.version_name)
        ):
            return True
        if self.hashes and len(q) >= 6 and _HEX.match(q):
            u = q.upper()
            return any(
                h and h.startswith(u)
                for h in (
                    self.hashes.sha256,
                    self.hashes.autov3,
                    self.hashes.autov1,
                    self.hashes.crc32,
                    self.hashes.blake3,
                )
            )
        return False

    def file_json(self) -> dict[str, Any]:
        """The file object of CLI.md (as ``sdhub info`` prints it)."""
        details = dict(self.details)
        if self.component is not None:
            details.setdefault("component", self.component.value)
        return {
            "path": self.path,
            "kind": self.kind.value,
            "base": self.base.value,
            "format": self.format.value,
            "size": self.size,
            "hashes": self.hashes.to_json() if self.hashes else None,
            "safety": self.safety.to_json(),
            "details": details,
            "warnings": list(self.warnings),
            "error": self.error,
        }

    def to_json(self) -> dict[str, Any]:
        """The asset object of CLI.md, plus a few fields scripts find useful."""
        data = self.file_json()
        data.update(
            {
                "id": self.id,
                "name": self.name,
                "trigger_words": list(self.trigger_words),
                "trigger_words_source": self.words_source.value if self.words_source else None,
                "weight": self.weight.to_json() if self.weight else None,
                "source": self.source.to_json() if self.source else None,
                "render": self.render.to_json() if self.render else None,
                "missing": self.missing,
                "negative": self.negative,
                "description": self.description,
                "notes": self.notes,
                "negative_text": self.negative_text,
            }
        )
        if self.previews is not None:
            data["previews"] = self.previews
        return data


# --------------------------------------------------------------------------------------
# Loading


def _chunks(ids: Sequence[int], size: int = 500) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _rows_for(session: Session, table: type, column: Any, ids: Sequence[int]) -> list[Any]:
    """Rows of ``table`` whose ``column`` is in ``ids`` (the whole table for many ids)."""
    if not ids:
        return []
    if len(ids) > _BULK:
        wanted = set(ids)
        key = column.key
        everything = session.exec(select(table).where(column.is_not(None)))
        return [r for r in everything if getattr(r, key) in wanted]
    out: list[Any] = []
    for chunk in _chunks(list(ids)):
        out.extend(session.exec(select(table).where(column.in_(chunk))))
    return out


_KINDS = {k.value: k for k in Kind}
_BASES = {b.value: b for b in Base}
_COMPONENTS: dict[str | None, Component | None] = {c.value: c for c in Component} | {None: None}
_FORMATS = {f.value: f for f in FileFormat}
_VERDICTS = {v.value: v for v in Verdict}


def _asset_columns() -> tuple[Any, ...]:
    """The local-file columns an asset needs, as plain values (no ORM objects, no enum or
    JSON conversion: a listing of 10,000 assets is dominated by such per-value work)."""
    t = LocalFile.__table__  # type: ignore[attr-defined]
    raw = sa.String
    return (
        t.c.id,
        t.c.path,
        t.c.name,
        t.c.size,
        t.c.sha256,
        t.c.autov1,
        t.c.autov2,
        t.c.autov3,
        t.c.crc32,
        t.c.blake3,
        sa.type_coerce(t.c.kind, raw).label("kind"),
        sa.type_coerce(t.c.base, raw).label("base"),
        sa.type_coerce(t.c.component, raw).label("component"),
        sa.type_coerce(t.c.format, raw).label("format"),
        sa.type_coerce(t.c.details, sa.Text).label("details"),
        sa.type_coerce(t.c.warnings, sa.Text).label("warnings"),
        t.c.error,
        sa.type_coerce(t.c.safety, raw).label("safety"),
        sa.type_coerce(t.c.safety_globals, sa.Text).label("safety_globals"),
        t.c.safety_reason,
        t.c.description,
        t.c.notes,
        t.c.negative_text,
        t.c.negative,
        t.c.remote_version_id,
        t.c.remote_file_id,
        sa.type_coerce(t.c.link_source, raw).label("link_source"),
        t.c.missing,
    )


def _asset_rows(session: Session, *conditions: Any) -> list[Any]:
    stmt = select(*_asset_columns())
    if conditions:
        stmt = stmt.where(*conditions)
    return list(session.connection().execute(stmt))


def list_assets(
    session: Session,
    *,
    kind: Kind | str | None = None,
    base: Base | str | None = None,
    query: str | None = None,
    include_missing: bool = False,
    ids: Sequence[int] | None = None,
) -> list[Asset]:
    """Assets, filtered, sorted by kind then name (case-insensitive) then path."""
    t = LocalFile.__table__  # type: ignore[attr-defined]
    conditions = []
    if kind is not None:
        conditions.append(sa.type_coerce(t.c.kind, sa.String) == Kind(kind).value)
    if base is not None:
        conditions.append(sa.type_coerce(t.c.base, sa.String) == Base(base).value)
    if not include_missing:
        conditions.append(t.c.missing == False)  # noqa: E712
    if ids is not None:
        if not ids:
            return []
        rows: list[Any] = []
        for chunk in _chunks(list(ids)):
            rows.extend(_asset_rows(session, *conditions, t.c.id.in_(chunk)))
    else:
        rows = _asset_rows(session, *conditions)
    assets = build_assets(session, rows)
    if query:
        assets = [a for a in assets if a.matches(query)]
    assets.sort(key=lambda a: (a.kind.value, a.name.lower(), a.path))
    return assets


def load_asset(session: Session, file_id: int, *, previews: bool = False) -> Asset:
    """One asset by row id (with its previews when asked)."""
    rows = _asset_rows(session, LocalFile.__table__.c.id == file_id)  # type: ignore[attr-defined]
    if not rows:
        raise RefNotFoundError(f"#{file_id}")
    asset = build_assets(session, rows)[0]
    if previews:
        asset.previews = _previews(session, asset.id)
    return asset


#: The columns of :func:`_asset_columns`, by name (to read them off a ``LocalFile`` too).
_ASSET_FIELDS = (
    "id", "path", "name", "size", "sha256", "autov1", "autov2", "autov3", "crc32", "blake3",
    "kind", "base", "component", "format", "details", "warnings", "error", "safety",
    "safety_globals", "safety_reason", "description", "notes", "negative_text", "negative",
    "remote_version_id", "remote_file_id", "link_source", "missing",
)  # fmt: skip


def _as_tuple(row: Any) -> tuple[Any, ...]:
    if isinstance(row, LocalFile):
        return tuple(getattr(row, name) for name in _ASSET_FIELDS)
    return tuple(row)


def build_assets(session: Session, rows: Sequence[Any]) -> list[Asset]:
    """Resolve trigger words, weights, sources and renders for many rows at once.

    ``rows``: :class:`~.tables.LocalFile` objects, or (faster) rows of the
    plain columns :func:`list_assets` selects.
    """
    rows = [_as_tuple(r) for r in rows]
    file_ids = [r[0] for r in rows]
    version_ids = sorted({r[24] for r in rows if r[24]})
    words: dict[tuple[str, int], list[TriggerWord]] = defaultdict(list)
    for w in _rows_for(session, TriggerWord, TriggerWord.file_id, file_ids):
        words[("f", w.file_id)].append(w)
    for w in _rows_for(session, TriggerWord, TriggerWord.version_id, version_ids):
        words[("v", w.version_id)].append(w)
    weights: dict[tuple[str, int], list[Weight]] = defaultdict(list)
    for w in _rows_for(session, Weight, Weight.file_id, file_ids):
        weights[("f", w.file_id)].append(w)
    for w in _rows_for(session, Weight, Weight.version_id, version_ids):
        weights[("v", w.version_id)].append(w)
    versions = {v.id: v for v in _rows_for(session, RemoteVersion, RemoteVersion.id, version_ids)}
    model_ids = sorted({v.model_id for v in versions.values() if v.model_id})
    models = {m.id: m for m in _rows_for(session, RemoteModel, RemoteModel.id, model_ids)}
    rfile_ids = sorted({r[25] for r in rows if r[25]})
    rfiles = {f.id: f for f in _rows_for(session, RemoteFile, RemoteFile.id, rfile_ids)}
    renders = _latest_renders(session, file_ids)
    no_rows: list[Any] = []
    plain_descriptions: dict[int, str | None] = {}

    assets = []
    for (
        fid,
        path,
        name,
        size,
        sha256,
        autov1,
        autov2,
        autov3,
        crc32,
        blake3,
        kind_text,
        base_text,
        component_text,
        format_text,
        details,
        warnings,
        error,
        safety,
        safety_globals,
        safety_reason,
        description,
        notes,
        negative_text,
        negative,
        vid,
        rfile_id,
        link_source,
        missing,
    ) in rows:
        version = versions.get(vid) if vid else None
        model = models.get(version.model_id) if version and version.model_id else None
        rfile = rfiles.get(rfile_id) if rfile_id else None
        kind = _KINDS[kind_text]
        file_words = words.get(("f", fid), no_rows)
        version_words = words.get(("v", vid), no_rows) if vid else no_rows
        tw, tw_source = best_words([*file_words, *version_words])
        weight = None
        if kind in WEIGHTED_KINDS:
            file_weights = weights.get(("f", fid), no_rows)
            version_weights = weights.get(("v", vid), no_rows) if vid else no_rows
            weight = best_weight([*file_weights, *version_weights])
        remote_description = None
        if model is not None and model.description:
            if model.id not in plain_descriptions:
                plain_descriptions[model.id] = _plain(model.description)
            remote_description = plain_descriptions[model.id]
        hashes = None
        if sha256:
            hashes = Hashes(
                sha256=sha256,
                autov1=autov1 or "",
                autov2=autov2 or sha256[:10],
                autov3=autov3,
                crc32=crc32 or "",
                blake3=blake3 or "",
            )
        assets.append(
            Asset(
                id=fid,
                name=name,
                path=path,
                kind=kind,
                base=_BASES[base_text],
                component=_COMPONENTS.get(component_text),
                format=_FORMATS[format_text],
                size=size,
                hashes=hashes,
                _safety=(safety, safety_globals, safety_reason),
                _details=details,
                _warnings=warnings,
                error=error,
                missing=missing,
                trigger_words=tw,
                words_source=tw_source,
                weight=weight,
                source=_source(link_source, version, model, rfile),
                render=renders.get(fid),
                description=description,
                notes=notes,
                negative_text=negative_text,
                negative=_is_negative(name, negative, kind, model, rfile),
                remote_description=remote_description,
            )
        )
    return assets


def _plain(text: str) -> str:
    lines = [" ".join(line.split()) for line in html_to_text(text).splitlines()]
    return "\n".join(line for line in lines if line).strip()


def _source(
    link_source: str | None,
    version: RemoteVersion | None,
    model: RemoteModel | None,
    rfile: RemoteFile | None,
) -> RemoteSource | None:
    if version is None:
        return None
    site = Site(version.site)
    return RemoteSource(
        site=site,
        model_id=model.remote_id if model else None,
        version_id=version.remote_id,
        url=version.url or (model.url if model else None),
        model_name=model.name if model else None,
        version_name=version.name,
        base_model=version.base_model,
        model_type=model.type if model else None,
        file_type=rfile.type if rfile else None,
        link=LinkSource(link_source) if link_source else None,
        path=rfile.remote_id if rfile and site is Site.HF else None,
    )


def _is_negative(
    name: str,
    negative: bool | None,
    kind: Kind,
    model: RemoteModel | None,
    rfile: RemoteFile | None,
) -> bool:
    if kind is not Kind.EMBEDDING:
        return False
    if negative is not None:
        return negative
    if rfile is not None and (rfile.type or "").lower() == "negative":
        return True
    if model is not None and any("negative" in t.lower() for t in model.tags or []):
        return True
    return bool(_NEGATIVE_NAME.search(name))


def _latest_renders(session: Session, file_ids: Sequence[int]) -> dict[int, RenderInfo]:
    latest: dict[int, RenderResult] = {}
    for r in _rows_for(session, RenderResult, RenderResult.file_id, file_ids):
        if r.file_id is None:
            continue
        current = latest.get(r.file_id)
        if current is None or (r.created, r.id or 0) > (current.created, current.id or 0):
            latest[r.file_id] = r
    return {
        fid: RenderInfo(
            verdict=r.verdict,
            grid=r.grid_path,
            images=r.images,
            seconds=r.seconds,
            message=r.message,
            created=r.created,
            base_name=r.base_name,
            base_path=r.base_path,
        )
        for fid, r in latest.items()
    }


def _previews(session: Session, file_id: int) -> list[dict[str, Any]]:
    version_id = session.exec(
        select(LocalFile.remote_version_id).where(LocalFile.id == file_id)
    ).first()
    clauses = [Preview.file_id == file_id]
    if version_id:
        clauses.append(Preview.version_id == version_id)
    previews = session.exec(
        select(Preview)
        .where(sa.or_(*clauses))
        .order_by(Preview.file_id.is_(None), Preview.position)
    ).all()
    return [
        {
            "source": Source(p.source).value,
            "url": p.url,
            "path": p.local_path,
            "media_type": p.media_type,
            "size": p.size,
            "width": p.width,
            "height": p.height,
            "nsfw_level": p.nsfw_level,
            "params": p.params or None,
        }
        for p in previews
    ]


# --------------------------------------------------------------------------------------
# References


def _looks_like_path(ref: str) -> bool:
    return (
        os.sep in ref
        or "/" in ref
        or ref.startswith(("~", "."))
        or Path(ref).suffix.lower() in MODEL_SUFFIXES
    )


def _hash_candidates(session: Session, ref: str) -> list[LocalFile]:
    if not _HEX.match(ref):
        return []
    h = ref.upper()
    n = len(h)
    if n == 64:
        cond = LocalFile.sha256 == h
    elif n == 12:
        cond = sa.or_(LocalFile.autov3 == h, sa.func.substr(LocalFile.sha256, 1, 12) == h)
    elif n == 10:
        cond = LocalFile.autov2 == h
    elif n == 8:
        cond = sa.or_(LocalFile.autov1 == h, LocalFile.crc32 == h)
    else:
        return []
    return list(session.exec(select(LocalFile).where(cond)))


def _name_candidates(session: Session, ref: str) -> list[LocalFile]:
    rows = list(session.exec(select(LocalFile).where(LocalFile.name == ref)))
    if rows:
        return rows
    rows = list(session.exec(select(LocalFile).where(sa.func.lower(LocalFile.name) == ref.lower())))
    if rows:
        return rows
    stem = Path(ref).stem
    if stem != ref:  # "mystyle.safetensors": a file name
        return [
            r
            for r in session.exec(select(LocalFile).where(LocalFile.name == stem))
            if Path(r.path).name == ref
        ]
    return []


def _subpath_candidates(session: Session, ref: str) -> list[LocalFile]:
    """``styles/mystyle`` or ``Lora/styles/mystyle.safetensors``: the tail of a path."""
    tail = "/" + ref.strip("/").replace(os.sep, "/")
    name = Path(ref).stem
    out = []
    for row in session.exec(select(LocalFile).where(LocalFile.name == name)):
        path = row.path.replace(os.sep, "/")
        if path.endswith(tail) or str(Path(path).with_suffix("")).endswith(tail):
            out.append(row)
    return out


#: The remote REF forms of CLI.md, read far enough to find the local file they fetched.
_CIVITAI_SHORT = re.compile(r"^civitai:(\d+)(?:@(\d+))?$", re.I)
_HF_SHORT = re.compile(r"^hf:([^/@\s]+)/([^/@\s]+)(?:/([^@]+?))?/?(?:@([^@/\s]+))?$", re.I)
_CIVITAI_PAGE = re.compile(r"^/models/(\d+)(?:/[^/]*)?/?$")
_CIVITAI_DOWNLOAD = re.compile(r"^/api/download/models/(\d+)/?$")
_HF_FILE_URL = re.compile(r"^/([^/]+)/([^/]+)/(?:blob|resolve)/([^/]+)/(.+)$")


@dataclass(frozen=True, slots=True)
class _RemoteKey:
    site: Site
    model: str | None = None  # Civitai model id, or the Hugging Face repo ``owner/name``
    version: str | None = None  # Civitai version id, or a Hugging Face revision
    path: str | None = None  # the file inside a Hugging Face repo


def _remote_key(ref: str) -> _RemoteKey | None:
    """``civitai:…``, ``hf:…`` and site URLs as a key into the catalog; None for other REFs.

    URLs are matched by their path, whatever the host (mirrors, ``SDHUB_CIVITAI_URL``):
    the catalog only looks up what it already recorded, it never fetches.
    """
    if match := _CIVITAI_SHORT.match(ref):
        return _RemoteKey(Site.CIVITAI, match.group(1), match.group(2))
    if match := _HF_SHORT.match(ref):
        owner, name, path, revision = match.groups()
        return _RemoteKey(Site.HF, f"{owner}/{name}", revision, path)
    if ref.lower().startswith("civitai:"):
        raise MalformedRefError(ref, "expected civitai:MODEL_ID or civitai:MODEL_ID@VERSION_ID")
    if ref.lower().startswith("hf:"):
        raise MalformedRefError(ref, "expected hf:OWNER/REPO[/PATH][@REVISION]")
    if not re.match(r"^https?://", ref, re.I):
        return None
    from urllib.parse import parse_qs, unquote, urlsplit

    try:
        parts = urlsplit(ref)
    except ValueError:
        return None
    path = unquote(parts.path)
    if match := _CIVITAI_DOWNLOAD.match(path):
        return _RemoteKey(Site.CIVITAI, None, match.group(1))
    if match := _CIVITAI_PAGE.match(path):
        version = (parse_qs(parts.query).get("modelVersionId") or [None])[0]
        return _RemoteKey(Site.CIVITAI, match.group(1), version if version else None)
    if match := _HF_FILE_URL.match(path):
        owner, name, revision, inner = match.groups()
        return _RemoteKey(Site.HF, f"{owner}/{name}", revision, inner)
    return None


def _remote_candidates(session: Session, key: _RemoteKey) -> list[LocalFile]:
    """Local files recorded as fetched from (or linked to) what ``key`` names."""
    query = (
        select(LocalFile, RemoteVersion.remote_id)
        .join(RemoteVersion, LocalFile.remote_version_id == RemoteVersion.id)
        .where(RemoteVersion.site == key.site)
    )
    if key.site is Site.CIVITAI and key.version is not None:
        query = query.where(RemoteVersion.remote_id == key.version)
        if key.model is not None:
            query = query.join(RemoteModel, RemoteVersion.model_id == RemoteModel.id).where(
                RemoteModel.remote_id == key.model
            )
        return [row for row, _ in session.exec(query)]
    query = query.join(RemoteModel, RemoteVersion.model_id == RemoteModel.id).where(
        sa.func.lower(RemoteModel.remote_id) == (key.model or "").lower()
    )
    if key.site is Site.CIVITAI:
        return [row for row, _ in session.exec(query)]
    if key.path is not None:
        query = query.join(RemoteFile, LocalFile.remote_file_id == RemoteFile.id).where(
            RemoteFile.remote_id == key.path.strip("/")
        )
    rows = list(session.exec(query))
    if key.version:  # a commit (or its start) narrows; a branch name cannot be told offline
        wanted = key.version.lower()
        pinned = [r for r, vid in rows if vid.partition("@")[2].lower().startswith(wanted)]
        if pinned:
            return pinned
    return [row for row, _ in rows]


def resolve_ref(session: Session, ref: str) -> LocalFile:
    """The row a REF names (CLI.md: a path, a name, or a hash: AutoV2, AutoV3, SHA256; any case;
    or the Civitai / Hugging Face reference the file was fetched from or linked to).

    Present files win over missing ones. Raises :class:`RefNotFoundError`
    or :class:`AmbiguousRefError` (with the candidates' paths).
    """
    ref = ref.strip()
    if not ref:
        raise MalformedRefError(ref, "empty; give a path, a name or a hash")
    candidates: list[LocalFile] = []
    remote = _remote_key(ref)
    if remote is not None:
        candidates = _remote_candidates(session, remote)
        if not candidates:
            raise RefNotFoundError(
                ref, "no catalogued file was fetched from it or linked to it (`sdhub get` it)"
            )
    elif _looks_like_path(ref):
        row = session.exec(
            select(LocalFile).where(LocalFile.path == normpath(os.path.expanduser(ref)))
        ).first()
        if row is not None:
            return row
        if os.path.exists(os.path.expanduser(ref)):
            raise RefNotFoundError(
                ref, "the file is not catalogued yet: run `sdhub scan` on its folder"
            )
        candidates = _subpath_candidates(session, ref)
    if not candidates:
        candidates = _name_candidates(session, ref)
    if not candidates:
        candidates = _hash_candidates(session, ref)
    present = [r for r in candidates if not r.missing]
    chosen = present or candidates
    if not chosen:
        raise RefNotFoundError(ref, "try `sdhub ls --query` to search")
    if len(chosen) > 1:
        same_bytes = len({r.sha256 for r in chosen}) == 1 and chosen[0].sha256 is not None
        raise AmbiguousRefError(
            ref,
            sorted(r.path for r in chosen),
            hint="identical copies: use a path to pick one" if same_bytes else None,
        )
    return chosen[0]


def find_asset(session: Session, ref: str, *, previews: bool = False) -> Asset:
    """The asset a REF names, fully resolved."""
    row = resolve_ref(session, ref)
    assert row.id is not None
    return load_asset(session, row.id, previews=previews)


#: Kinds that share one name space in the WebUI (LoRA and LyCORIS are one list in A1111).
def _namespace(kind: Kind) -> tuple[Kind, ...]:
    return (kind,)


def name_clashes(session: Session, asset: Asset) -> list[str]:
    """Paths of other present files the WebUI would call by the same name (ambiguous to it)."""
    rows = session.exec(
        select(LocalFile.path).where(
            LocalFile.name == asset.name,
            LocalFile.kind.in_(_namespace(asset.kind)),
            LocalFile.missing == False,  # noqa: E712
            LocalFile.id != asset.id,
        )
    ).all()
    return sorted(rows)


def duplicate_groups(session: Session, paths_under: Sequence[str] | None = None) -> list[list[str]]:
    """Groups of present files with the same SHA-256 (two or more paths each)."""
    stmt = (
        select(LocalFile.sha256)
        .where(LocalFile.missing == False, LocalFile.sha256.is_not(None))  # noqa: E712
        .group_by(LocalFile.sha256)
        .having(sa.func.count() > 1)
    )
    hashes = list(session.exec(stmt))
    groups: dict[str, list[str]] = defaultdict(list)
    for chunk in _chunks_str(hashes):
        for sha, path in session.exec(
            select(LocalFile.sha256, LocalFile.path).where(
                LocalFile.sha256.in_(chunk),
                LocalFile.missing == False,  # noqa: E712
            )
        ):
            groups[sha].append(path)
    out = [sorted(paths) for paths in groups.values()]
    if paths_under is not None:
        prefixes = tuple(p.rstrip(os.sep) + os.sep for p in paths_under)
        out = [g for g in out if any(p.startswith(prefixes) for p in g)]
    return sorted(out)


def _chunks_str(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
