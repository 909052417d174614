"""Civitai's public REST API v1: typed answers out of every shape the service has sent.

Parsing is lenient by design: the same endpoint has answered in many shapes
since 2023 (SPEC-APIS.md A.3–A.6) — string or numeric NSFW, missing hashes,
``primary`` absent instead of false, archived models without files,
``allowCommercialUse`` as a list or as a ``"{Image,RentCivit}"`` string,
counts as strings. Every object keeps its ``raw`` JSON for the
``.civitai.info`` sidecar; the typed fields are what the rest of sdhub reads.

The client never reads the environment: the base URL and the token come in
through the constructor (:meth:`CivitaiClient.from_settings` reads
:class:`sdhub.config.Settings`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from sdhub.models.kinds import Base, Component, Kind
from sdhub.models.layouts import MODEL_SUFFIXES

from .download import DownloadJob, DownloadSource, Expected
from .errors import Archived, BadRequest, NotAModelFile, NotFound
from .http import (
    DEFAULT_TIMEOUT,
    BearerAuth,
    RetryPolicy,
    Site,
    make_session,
    request_json,
)
from .vocab import base_of, kind_of_file, kind_of_type

if TYPE_CHECKING:
    from sdhub.config import Settings

    from .refs import CivitaiRef

DEFAULT_BASE_URL = "https://civitai.com"

#: The server refuses more than 100 ids or hashes per request (and long URLs break).
BATCH = 100
#: Page mode ends here: ``page * limit > 1000`` is answered 429 "use cursors instead".
PAGE_MODE_CAP = 1000

#: Old (2023) image ``nsfw`` strings → the bit flag that replaced them.
_NSFW_STRINGS: dict[str, int] = {"none": 1, "soft": 2, "mature": 4, "x": 8}
#: Levels above PG-13 (R, X, XXX, blocked): "NSFW" for previews and filters.
_NSFW_BITS = ~0b11

_SHA256 = re.compile(r"^[0-9A-Fa-f]{64}$")

#: Civitai answers 404 to anonymous requests for versions rated above its SFW default.
_MATURE_HINT = (
    "if it is rated mature, Civitai hides it from anonymous requests and from civitai.com: "
    "set CIVITAI_TOKEN, and SDHUB_CIVITAI_URL=https://civitai.red"
)


# --- small lenient readers --------------------------------------------------------------------


def _int(value: Any) -> int | None:
    """An int from an int, a float or a numeric string (``totalItems: "123"``)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        try:
            return int(float(value.strip()))
        except ValueError:
            return None
    return None


def _float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            return None
    return None


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value != "" else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _strings(value: Any) -> tuple[str, ...]:
    """A list of strings from a list, a ``"{a,b}"`` Postgres-array string or one string."""
    if isinstance(value, list):
        out = []
        for item in value:
            if isinstance(item, str) and item:
                out.append(item)
            elif isinstance(item, dict) and isinstance(item.get("name"), str):
                out.append(item["name"])  # tags as objects in some shapes
        return tuple(out)
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
            return tuple(p.strip().strip('"') for p in text.split(",") if p.strip())
        if text in ("", "None"):
            return ()
        return (text,)
    return ()


def nsfw_level(value: Any) -> int | None:
    """Civitai's NSFW bit flags from either the 2025 int or the 2023 string."""
    if isinstance(value, bool):
        return 4 if value else 1
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        if value.strip().isdigit():
            return int(value)
        return _NSFW_STRINGS.get(value.strip().lower())
    return None


def is_nsfw_level(level: int | None) -> bool:
    """Whether content at ``level`` is rated above PG-13."""
    return bool(level) and bool(level & _NSFW_BITS)  # type: ignore[operator]


# --- typed answers ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CivitaiFile:
    """One entry of a version's ``files[]``."""

    id: int | None
    name: str
    type: str
    size_bytes: int | None
    format: str | None
    fp: str | None
    size: str | None  # "full" | "pruned"
    primary: bool
    #: Lower-case kind (``sha256``, ``autov1``, ``autov2``, ``autov3``, ``crc32``, ``blake3``)
    #: → upper-case hex, only those the service published.
    hashes: dict[str, str]
    download_url: str | None
    pickle_scan: str | None
    virus_scan: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")

    @property
    def is_model(self) -> bool:
        return self.type in ("Model", "Pruned Model")

    def matches(
        self,
        *,
        type: str | None = None,
        format: str | None = None,
        size: str | None = None,
        fp: str | None = None,
        file_id: int | None = None,
    ) -> bool:
        """Whether this file fits download-URL style selectors (each optional)."""

        def same(a: str | None, b: str | None) -> bool:
            return b is None or (a or "").lower() == b.lower()

        return (
            same(self.type, type)
            and same(self.format, format)
            and same(self.size, size)
            and same(self.fp, fp)
            and (file_id is None or self.id == file_id)
        )

    @classmethod
    def parse(cls, data: dict[str, Any]) -> CivitaiFile:
        meta = _dict(data.get("metadata"))
        size_kb = _float(data.get("sizeKB"))
        hashes = {
            str(k).lower(): v.upper()
            for k, v in _dict(data.get("hashes")).items()
            if isinstance(v, str) and v
        }
        return cls(
            id=_int(data.get("id")),
            name=_str(data.get("name")) or "",
            type=_str(data.get("type")) or "Model",
            size_bytes=None if size_kb is None else round(size_kb * 1024),
            format=_str(meta.get("format")),
            fp=_str(meta.get("fp")),
            size=_str(meta.get("size")),
            primary=data.get("primary") is True,
            hashes=hashes,
            download_url=_str(data.get("downloadUrl")),
            pickle_scan=_str(data.get("pickleScanResult")),
            virus_scan=_str(data.get("virusScanResult")),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class CivitaiImage:
    """An example image and (on model-version answers) its generation parameters."""

    url: str | None
    nsfw_level: int | None
    width: int | None
    height: int | None
    type: str
    #: Generation data (``prompt``, ``resources``, ``civitaiResources``, …); None when absent.
    meta: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def nsfw(self) -> bool:
        return is_nsfw_level(self.nsfw_level)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> CivitaiImage:
        level = nsfw_level(data.get("nsfwLevel"))
        if level is None:
            level = nsfw_level(data.get("nsfw"))
        meta = data.get("meta")
        return cls(
            url=_str(data.get("url")),
            nsfw_level=level,
            width=_int(data.get("width")),
            height=_int(data.get("height")),
            type=_str(data.get("type")) or "image",
            meta=meta if isinstance(meta, dict) else None,
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class CivitaiVersion:
    """A model version, from ``/model-versions/…`` or nested in a model."""

    id: int
    model_id: int | None
    name: str
    base_model: str | None  # Civitai's spelling, e.g. "SDXL 1.0", "Pony"
    base: Base
    status: str | None
    created_at: str | None
    published_at: str | None
    updated_at: str | None
    trained_words: tuple[str, ...]
    description: str | None
    early_access_ends_at: str | None
    nsfw_level: int | None
    files: tuple[CivitaiFile, ...]
    images: tuple[CivitaiImage, ...]
    download_url: str | None
    #: From the version's ``model`` object or the parent model.
    model_name: str | None
    model_type: str | None
    air: str | None
    stats: dict[str, Any]
    #: ``{"strength", "minStrength", "maxStrength"}`` when an answer carries them (not REST v1).
    settings: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def kind(self) -> Kind:
        return kind_of_type(self.model_type)[0]

    @property
    def component(self) -> Component | None:
        return kind_of_type(self.model_type)[1]

    def primary_file(self) -> CivitaiFile | None:
        """The file Civitai serves without selectors: the primary, else the first model file."""
        for file in self.files:
            if file.primary:
                return file
        for file in self.files:
            if file.is_model:
                return file
        return self.files[0] if self.files else None

    def pick_file(
        self,
        *,
        type: str | None = None,
        format: str | None = None,
        size: str | None = None,
        fp: str | None = None,
        file_id: int | None = None,
    ) -> CivitaiFile | None:
        """The file download-URL selectors name (primary first among matches)."""
        if type is format is size is fp is file_id is None:
            return self.primary_file()
        matches = [
            f
            for f in self.files
            if f.matches(type=type, format=format, size=size, fp=fp, file_id=file_id)
        ]
        matches.sort(key=lambda f: not f.primary)
        return matches[0] if matches else None

    def expected_kind(self, file: CivitaiFile) -> tuple[Kind, Component | None] | None:
        """What the label says this file is (None for zips/configs)."""
        return kind_of_file(self.model_type, file.type)

    @classmethod
    def parse(cls, data: dict[str, Any], *, parent: dict[str, Any] | None = None) -> CivitaiVersion:
        model = _dict(data.get("model"))
        parent = parent or {}
        settings = data.get("settings")
        return cls(
            id=_int(data.get("id")) or 0,
            model_id=_int(data.get("modelId")) or _int(parent.get("id")),
            name=_str(data.get("name")) or "",
            base_model=_str(data.get("baseModel")),
            base=base_of(_str(data.get("baseModel"))),
            status=_str(data.get("status")),
            created_at=_str(data.get("createdAt")),
            published_at=_str(data.get("publishedAt")),
            updated_at=_str(data.get("updatedAt")),
            trained_words=tuple(w.strip() for w in _strings(data.get("trainedWords")) if w.strip()),
            description=_str(data.get("description")),
            early_access_ends_at=_str(data.get("earlyAccessEndsAt"))
            or _str(data.get("earlyAccessDeadline")),
            nsfw_level=nsfw_level(data.get("nsfwLevel")),
            files=tuple(
                CivitaiFile.parse(f) for f in _list(data.get("files")) if isinstance(f, dict)
            ),
            images=tuple(
                CivitaiImage.parse(i) for i in _list(data.get("images")) if isinstance(i, dict)
            ),
            download_url=_str(data.get("downloadUrl")),
            model_name=_str(model.get("name")) or _str(parent.get("name")),
            model_type=_str(model.get("type")) or _str(parent.get("type")),
            air=_str(data.get("air")),
            stats=_dict(data.get("stats")),
            settings=settings if isinstance(settings, dict) and settings else None,
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class CivitaiModel:
    """A model with its versions (newest first), from ``/models`` or ``/models/{id}``."""

    id: int
    name: str
    type: str | None
    kind: Kind
    component: Component | None
    description: str | None
    nsfw: bool
    nsfw_level: int | None
    #: "Archived" (files gone) or "TakenDown" (images gone); None when normal.
    mode: str | None
    creator: str | None
    tags: tuple[str, ...]
    allow_commercial_use: tuple[str, ...]
    allow_no_credit: bool | None
    allow_derivatives: bool | None
    allow_different_license: bool | None
    stats: dict[str, Any]
    versions: tuple[CivitaiVersion, ...]
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def archived(self) -> bool:
        return self.mode == "Archived"

    @property
    def download_count(self) -> int | None:
        return _int(self.stats.get("downloadCount"))

    @property
    def taken_down(self) -> bool:
        return self.mode == "TakenDown"

    def latest_version(self, *, base: Base | None = None) -> CivitaiVersion | None:
        """The newest published version (of one base family when given)."""
        for version in self.versions:
            if version.status not in (None, "Published"):
                continue
            if base is None or version.base is base:
                return version
        return None

    def version(self, version_id: int) -> CivitaiVersion | None:
        return next((v for v in self.versions if v.id == version_id), None)

    @classmethod
    def parse(cls, data: dict[str, Any]) -> CivitaiModel:
        kind, component = kind_of_type(_str(data.get("type")))
        nsfw = data.get("nsfw")
        level = nsfw_level(data.get("nsfwLevel"))
        creator = _dict(data.get("creator"))

        def flag(key: str) -> bool | None:
            value = data.get(key)
            return value if isinstance(value, bool) else None

        return cls(
            id=_int(data.get("id")) or 0,
            name=_str(data.get("name")) or "",
            type=_str(data.get("type")),
            kind=kind,
            component=component,
            description=_str(data.get("description")),
            nsfw=bool(nsfw) if isinstance(nsfw, bool) else is_nsfw_level(level),
            nsfw_level=level,
            mode=_str(data.get("mode")),
            creator=_str(creator.get("username")),
            tags=_strings(data.get("tags")),
            allow_commercial_use=_strings(data.get("allowCommercialUse")),
            allow_no_credit=flag("allowNoCredit"),
            allow_derivatives=flag("allowDerivatives"),
            allow_different_license=flag("allowDifferentLicense")
            if "allowDifferentLicense" in data
            else flag("allowDifferentLicence"),
            stats=_dict(data.get("stats")),
            versions=tuple(
                CivitaiVersion.parse(v, parent=data)
                for v in _list(data.get("modelVersions"))
                if isinstance(v, dict)
            ),
            raw=data,
        )


@dataclass(frozen=True, slots=True)
class CivitaiTarget:
    """What a Civitai reference resolves to: the model, the full version, the chosen file."""

    model: CivitaiModel | None
    version: CivitaiVersion
    file: CivitaiFile


# --- the client --------------------------------------------------------------------------


def _is_weight_name(name: str) -> bool:
    return PurePosixPath(name).suffix.lower() in MODEL_SUFFIXES


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class CivitaiClient:
    """Civitai's REST API over one ``requests.Session`` (connection reuse, timeouts, retries)."""

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        token: str | None = None,
        *,
        session: requests.Session | None = None,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._auth = BearerAuth(token) if token else None
        self.session = session or make_session()
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self._sleep = sleep

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> CivitaiClient:
        return cls(settings.civitai_url, settings.civitai_token, **kwargs)

    def __repr__(self) -> str:
        return f"CivitaiClient({self.base_url!r}, token={'set' if self._auth else 'none'})"

    def __enter__(self) -> CivitaiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.session.close()

    @property
    def auth(self) -> BearerAuth | None:
        """The Bearer auth to send to this Civitai host (None when anonymous)."""
        return self._auth

    @property
    def has_token(self) -> bool:
        return self._auth is not None

    def _get(
        self, path: str, what: str, params: Mapping[str, Any] | list[tuple[str, Any]] | None = None
    ) -> Any:
        return request_json(
            self.session,
            "GET",
            f"{self.base_url}{path}",
            what=what,
            site=Site.CIVITAI,
            retry=self.retry,
            timeout=self.timeout,
            params=params,
            auth=self._auth,
            sleep=self._sleep,
        )

    # --- look-ups ---

    def model(self, model_id: int) -> CivitaiModel:
        data = self._get(f"/api/v1/models/{int(model_id)}", f"civitai model {model_id}")
        return CivitaiModel.parse(_dict(data))

    def version(self, version_id: int) -> CivitaiVersion:
        try:
            data = self._get(
                f"/api/v1/model-versions/{int(version_id)}", f"civitai version {version_id}"
            )
        except NotFound as exc:
            if self._auth is None and exc.hint is None:
                exc.hint = _MATURE_HINT
            raise
        return CivitaiVersion.parse(_dict(data))

    def version_by_hash(self, file_hash: str) -> CivitaiVersion | None:
        """The version whose file has this hash (any kind); None when Civitai answers 404.

        None means the service said "unknown"; network trouble raises a
        transient error instead, so callers never record "not on Civitai" by mistake.
        """
        value = file_hash.strip()
        if not re.fullmatch(r"[0-9A-Fa-f]{8,64}", value):
            raise BadRequest(f"{file_hash!r}: not a hash (8 to 64 hex digits)")
        try:
            data = self._get(
                f"/api/v1/model-versions/by-hash/{value.upper()}", f"civitai hash {value.upper()}"
            )
        except NotFound:
            return None
        return CivitaiVersion.parse(_dict(data))

    def versions_by_sha256(self, hashes: Iterable[str]) -> dict[str, CivitaiVersion]:
        """Bulk look-up (POST, ≤100 per request): upper-case SHA256 → version, found ones only."""
        wanted: list[str] = []
        for h in hashes:
            if not _SHA256.match(h.strip()):
                raise BadRequest(f"{h!r}: the bulk look-up takes SHA256 hashes (64 hex digits)")
            if h.strip().upper() not in wanted:
                wanted.append(h.strip().upper())
        found: dict[str, CivitaiVersion] = {}
        for chunk in _chunks(wanted, BATCH):
            data = request_json(
                self.session,
                "POST",
                f"{self.base_url}/api/v1/model-versions/by-hash",
                what=f"civitai bulk hash look-up ({len(chunk)} hashes)",
                site=Site.CIVITAI,
                retry=self.retry,
                timeout=self.timeout,
                json_body=chunk,
                auth=self._auth,
                sleep=self._sleep,
            )
            asked = set(chunk)
            unmatched = 0
            for item in _list(data):
                if not isinstance(item, dict):
                    continue
                version = CivitaiVersion.parse(item)
                hits = [f.sha256 for f in version.files if f.sha256 in asked]
                for sha in hits:
                    found.setdefault(sha, version)  # type: ignore[arg-type]
                unmatched += not hits
            if unmatched:
                # A version whose files publish no SHA256 the request named (hashes left
                # out, or another hash kind matched): its file is among the rest, so ask
                # those one by one rather than report them unknown.
                for sha in (h for h in chunk if h not in found):
                    version = self.version_by_hash(sha)
                    if version is not None:
                        found[sha] = version
        return found

    def models_by_ids(self, model_ids: Iterable[int]) -> dict[int, CivitaiModel]:
        """Batched ``/models?ids=`` (≤100 per request) for update checks; missing ids absent."""
        ids = list(dict.fromkeys(int(i) for i in model_ids))
        found: dict[int, CivitaiModel] = {}
        for chunk in _chunks(ids, BATCH):
            for model in self.search(ids=chunk, nsfw=True, limit=None):
                found[model.id] = model
        return found

    # --- search ---

    def search(
        self,
        query: str | None = None,
        *,
        types: Iterable[str] = (),
        base_models: Iterable[str] = (),
        sort: str | None = None,
        period: str | None = None,
        nsfw: bool | None = None,
        username: str | None = None,
        tag: str | None = None,
        ids: Iterable[int] = (),
        primary_file_only: bool | None = None,
        limit: int | None = 20,
        page_size: int | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> Iterator[CivitaiModel]:
        """Models matching the filters, fetched page by page as the caller iterates.

        At most ``limit`` models (None: until the service runs out); a page is
        requested only when the previous one has been consumed, and never past
        ``limit``. ``page_size`` (default: ``limit``, at most 100) sets how many
        come per request. Pagination follows ``metadata.nextCursor`` (or
        ``nextPage``); ``query`` and ``page`` are never sent together (the
        server answers 400).
        """
        if limit is not None and limit <= 0:
            return
        if page_size is None:
            page_size = BATCH if limit is None else limit
        page_size = max(1, min(BATCH, page_size))
        params: list[tuple[str, Any]] = [("limit", page_size)]
        if query:
            params.append(("query", query))
        params += [("types", t) for t in types]
        params += [("baseModels", b) for b in base_models]
        for key, value in (
            ("sort", sort),
            ("period", period),
            ("username", username),
            ("tag", tag),
        ):
            if value:
                params.append((key, value))
        if nsfw is not None:
            params.append(("nsfw", "true" if nsfw else "false"))
        if primary_file_only is not None:
            params.append(("primaryFileOnly", "true" if primary_file_only else "false"))
        id_list = [int(i) for i in ids]
        if id_list:
            params.append(("ids", ",".join(map(str, id_list))))
        params += list((extra or {}).items())

        yielded = 0
        seen: set[int] = set()
        seen_cursors: set[str] = set()
        paging: list[tuple[str, Any]] = []
        while True:
            data = _dict(self._get("/api/v1/models", "civitai search", params + paging))
            items = [i for i in _list(data.get("items")) if isinstance(i, dict)]
            for item in items:
                model = CivitaiModel.parse(item)
                if model.id in seen:  # cursor pages sometimes overlap
                    continue
                seen.add(model.id)
                yield model
                yielded += 1
                if limit is not None and yielded >= limit:
                    return
            paging = self._next_page(
                _dict(data.get("metadata")), has_query=bool(query), page_size=page_size
            )
            if not items or not paging:
                return
            marker = repr(paging)
            if marker in seen_cursors:
                return
            seen_cursors.add(marker)

    @staticmethod
    def _next_page(
        metadata: dict[str, Any], *, has_query: bool, page_size: int = BATCH
    ) -> list[tuple[str, Any]]:
        """The paging parameters of the next request; [] at the end.

        Deployments in page mode (2023 answers came so without asking) refuse
        pages past :data:`PAGE_MODE_CAP` items with a 429: that is the end.
        """
        cursor = metadata.get("nextCursor")
        if cursor not in (None, ""):
            return [("cursor", str(cursor))]
        next_page = _str(metadata.get("nextPage"))
        if not next_page:
            return []
        query = dict(parse_qsl(urlsplit(next_page).query))
        if query.get("cursor"):
            return [("cursor", query["cursor"])]
        page = _int(query.get("page"))
        if page and not has_query:
            size = _int(query.get("limit")) or page_size
            return [("page", str(page))] if page * size <= PAGE_MODE_CAP else []
        return []

    # --- references ---

    def resolve(self, ref: CivitaiRef, *, with_model: bool = True) -> CivitaiTarget:
        """Model, version (with example-image ``meta``) and file a reference names.

        ``civitai:MODEL`` means the newest published version; download-URL
        selectors (``type``, ``format``, ``size``, ``fp``, ``fileId``) pick a
        non-primary file. ``with_model`` also fetches the model (description,
        tags, licence) when only the version was named.
        """
        what = str(ref)
        model = None
        version_id = ref.version_id
        if version_id is None:
            if ref.model_id is None:
                raise BadRequest(f"{what}: names neither a model nor a version")
            model = self.model(ref.model_id)
            latest = model.latest_version()
            if latest is None:
                raise NotFound(f"{what}: the model has no published version")
            version_id = latest.id
        version = self.version(version_id)
        if ref.model_id is not None and version.model_id not in (None, ref.model_id):
            raise BadRequest(
                f"{what}: version {version_id} belongs to model {version.model_id}, "
                f"not {ref.model_id}"
            )
        if model is None and with_model and version.model_id is not None:
            model = self.model(version.model_id)
        selectors = dict(ref.selectors)
        file_id = selectors.get("fileId")
        file = version.pick_file(
            type=selectors.get("type"),
            format=selectors.get("format"),
            size=selectors.get("size"),
            fp=selectors.get("fp"),
            file_id=int(file_id) if file_id and file_id.isdigit() else None,
        )
        if file is None:
            if (model is not None and model.archived) or not version.files:
                raise Archived(
                    f"{what}: the model is archived; its files are no longer served",
                    hint="look for another version or a mirror",
                )
            raise NotFound(f"{what}: no such file in version {version.id}")
        return CivitaiTarget(model, version, file)

    # --- downloads ---

    def download_url(
        self,
        version_id: int,
        *,
        type: str | None = None,
        format: str | None = None,
        size: str | None = None,
        fp: str | None = None,
        file_id: int | None = None,
    ) -> str:
        """``/api/download/models/{id}`` on this client's host, with file selectors."""
        params = [
            (k, v)
            for k, v in (
                ("type", type),
                ("format", format),
                ("size", size),
                ("fp", fp),
                ("fileId", file_id),
            )
            if v is not None
        ]
        query = f"?{urlencode(params)}" if params else ""
        return f"{self.base_url}/api/download/models/{int(version_id)}{query}"

    def file_download_url(self, version: CivitaiVersion, file: CivitaiFile) -> str:
        """The download URL of one file, always on this client's host (mirrors, tests).

        The service's ``downloadUrl`` carries the right selectors for
        non-primary files; only its path and query are kept.
        """
        if file.download_url:
            parts = urlsplit(file.download_url)
            if parts.path.startswith("/api/download/"):
                query = [(k, v) for k, v in parse_qsl(parts.query) if k != "token"]
                suffix = f"?{urlencode(query)}" if query else ""
                return f"{self.base_url}{parts.path}{suffix}"
        if file.primary:
            return self.download_url(version.id)
        return self.download_url(
            version.id, type=file.type, format=file.format, size=file.size, fp=file.fp
        )

    def download_job(
        self,
        version: CivitaiVersion,
        file: CivitaiFile | None = None,
        *,
        dest: Path | None = None,
        key: str | None = None,
        payload: Any = None,
    ) -> DownloadJob:
        """A job for the download engine: this file, its published hash/size and label.

        ``file`` defaults to the one Civitai serves without selectors. Files
        that are no model weights (training data, configs) are refused here.
        """
        file = file or version.primary_file()
        what = key or f"civitai:{version.model_id or ''}@{version.id}"
        if file is None:
            raise NotFound(f"{what}: the version has no files (archived?)")
        expected_kind = version.expected_kind(file)
        if expected_kind is None:
            raise NotAModelFile(f"{what}: {file.name} is {file.type}, not a model file")
        suffix = PurePosixPath(file.name).suffix.lower()
        if suffix and suffix not in MODEL_SUFFIXES:
            # Wildcards, poses and workflows (zip, txt, json), diffusers/ONNX zips:
            # refused before the download rather than after it.
            others = [f.name for f in version.files if _is_weight_name(f.name)]
            raise NotAModelFile(
                f"{what}: {file.name} ({file.format or file.type}) is no model file sdhub "
                "can check and place",
                hint=f"this version also has {', '.join(others[:3])}; name it with "
                "?type=…&format=… on the download URL"
                if others
                else "download it from the website",
            )
        kind, component = expected_kind
        label = f"Civitai type {version.model_type}" if version.model_type else "Civitai"
        if file.type not in ("Model", "Pruned Model"):
            label += f" ({file.type} file)"
        return DownloadJob(
            source=DownloadSource(
                url=self.file_download_url(version, file), site=Site.CIVITAI, auth=self._auth
            ),
            filename=file.name or None,
            expected=Expected(
                sha256=file.sha256,
                size=file.size_bytes,
                kind=kind,
                component=component,
                base=version.base,
                label=label,
            ),
            dest=dest,
            key=what,
            payload=payload if payload is not None else (version, file),
        )
