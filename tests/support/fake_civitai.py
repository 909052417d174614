"""A fake Civitai on 127.0.0.1 that behaves like the real one (SPEC-APIS.md A, checklist A.11).

Use it through the ``fake_civitai`` fixture (see :func:`fake_civitai_server`)
or as a context manager::

    with FakeCivitai(tokens={"secret"}) as civ:
        model = civ.add_model("My Style", type="LORA")
        version = civ.add_version(model, base_model="SD 1.5", trained_words=["mystyle"])
        civ.add_file(version, "mystyle.safetensors", data)
        client = CivitaiClient(civ.base_url, "secret")

Routes: ``/api/v1/models`` (limit, cursor, page, query, types, baseModels,
sort, period, nsfw, username, tag, ids; ``nextCursor`` and ``nextPage``; 400
for query+page; 429 when page*limit > 1000), ``/api/v1/models/{id}``,
``/api/v1/model-versions/{id}``, ``/api/v1/model-versions/by-hash/{hash}``
(any hash kind, any case), ``POST /api/v1/model-versions/by-hash``,
``/api/download/models/{id}`` (Bearer or ``?token=``; 401/403/410 JSON as the
real handler; 307 to ``/files/<opaque>?exp=…``) and ``/files/<opaque>``
(Content-Disposition, Content-Length, Accept-Ranges, 206 on Range; signed
paths expire after ``signed_ttl`` seconds or ``signed_uses`` uses).
Every answer's ``downloadUrl`` points at this server. Models come in the
2025 shape or, with ``shape="2023"``, in the old one (string NSFW,
``"{Image,RentCivit}"`` licences, no ``metadata``/``hashes`` keys when empty,
string counts). As rough as the real service: JSON gzipped and chunked,
signed URLs in Backblaze B2 style that refuse a request carrying an
``Authorization`` header and expire in the dialect of ``expired_status``;
knobs for 2023 page mode, the browsing-level filter of anonymous requests,
listings with only the newest version, bulk answers without hashes and raw
UTF-8 file names. Faults: :meth:`FakeServer.fail` with a
:class:`~support.http_fake.Failure`.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import struct
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import blake3
import pytest

from .http_fake import Body, Counter, Failure, FakeServer, Handler

__all__ = [
    "TOKEN",
    "Failure",
    "FakeCivitai",
    "FakeFile",
    "FakeModel",
    "FakeVersion",
    "civitai_hashes",
    "fake_civitai",
]

#: The API key the ``fake_civitai`` fixture accepts.
TOKEN = "civitai-test-key-0123456789"

_NSFW_STRINGS = {1: "None", 2: "Soft", 4: "Mature", 8: "X", 16: "X"}
BROWSER_MARKERS = ("mozilla", "chrome", "safari", "firefox", "opera", "edge")


def civitai_hashes(data: bytes) -> dict[str, str]:
    """The six hashes Civitai publishes for a file, computed independently of sdhub."""
    sha = hashlib.sha256(data).hexdigest().upper()
    autov1 = hashlib.sha256(data[0x100000 : 0x100000 + 0x10000]).hexdigest().upper()[:8]
    hashes = {
        "AutoV1": autov1,
        "AutoV2": sha[:10],
        "SHA256": sha,
        "CRC32": f"{zlib.crc32(data) & 0xFFFFFFFF:08X}",
        "BLAKE3": blake3.blake3(data).hexdigest().upper(),
    }
    if len(data) >= 9 and data[8:9] == b"{":
        (n,) = struct.unpack("<Q", data[:8])
        if 2 <= n <= len(data) - 8:
            hashes["AutoV3"] = hashlib.sha256(data[8 + n :]).hexdigest().upper()[:12]
    return hashes


@dataclass
class FakeFile:
    id: int
    name: str
    body: Body
    version: FakeVersion = field(repr=False)
    type: str = "Model"
    format: str | None = "SafeTensor"
    fp: str | None = "fp16"
    size: str | None = "pruned"
    primary: bool = False
    hashes: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/octet-stream"
    pickle_scan: str = "Success"
    published_size: int | None = None

    @property
    def size_kb(self) -> float:
        return (self.published_size or self.body.size) / 1024

    def query_params(self) -> dict[str, str]:
        params = {"type": self.type}
        if self.format:
            params["format"] = self.format
        if self.size:
            params["size"] = self.size
        if self.fp:
            params["fp"] = self.fp
        return params


@dataclass
class FakeVersion:
    id: int
    model: FakeModel = field(repr=False)
    name: str = "v1.0"
    base_model: str = "SD 1.5"
    trained_words: list[str] = field(default_factory=list)
    description: str | None = None
    files: list[FakeFile] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    status: str = "Published"
    login_required: bool = False
    downloads_disabled: bool = False
    early_access_deadline: str | None = None
    settings: dict[str, Any] | None = None
    created_at: str = "2024-05-01T10:00:00.000Z"
    downloads: int = 0


@dataclass
class FakeModel:
    id: int
    name: str
    type: str = "LORA"
    description: str | None = "<p>A model.</p>"
    nsfw: bool = False
    nsfw_level: int = 1
    mode: str | None = None
    creator: str = "someone"
    tags: list[str] = field(default_factory=list)
    shape: str = "2025"
    versions: list[FakeVersion] = field(default_factory=list)  # newest first
    downloads: int = 0
    rating: float = 4.5
    allow_commercial_use: list[str] = field(default_factory=lambda: ["Image", "RentCivit"])


class FakeCivitai(FakeServer):
    """The fake service; see the module docstring."""

    def __init__(
        self,
        *,
        tokens: set[str] | None = None,
        signed_ttl: float = 300.0,
        signed_uses: int | None = None,
        string_counts: bool = False,
    ) -> None:
        super().__init__()
        #: API keys the server accepts.
        self.tokens: set[str] = set(tokens or ())
        self.signed_ttl = signed_ttl
        #: How many GETs one signed URL serves before it "expires" (None: unlimited).
        self.signed_uses = signed_uses
        #: Page-mode metadata counts as strings (old deployments).
        self.string_counts = string_counts
        #: How the storage host refuses an expired signed URL: 403 (S3/R2 XML
        #: AccessDenied), 400 (GCS XML ExpiredToken) or 401 (B2 JSON, no "error" key).
        self.expired_status = 403
        #: Content-Disposition of signed file URLs as raw UTF-8 bytes (what storage hosts
        #: copy from ``response-content-disposition``), not ASCII + ``filename*``.
        self.raw_utf8_names = False
        #: Answer ``/models`` without ``page``/``cursor`` in page mode (2023 deployments).
        self.page_mode_default = False
        #: ``/model-versions/…`` and by-hash answer 404 to anonymous requests for versions
        #: rated R and above (the browsing-level filter of SPEC-APIS.md A.4).
        self.hide_mature_from_anonymous = False
        #: The bulk by-hash answer's files carry no ``hashes`` (non-public files left out).
        self.bulk_hides_hashes = False
        #: ``/models`` lists only each model's newest version (civitai/civitai#1100).
        self.list_latest_only = False
        #: Signed file URLs point at this host name: "localhost" is another host than
        #: 127.0.0.1 to a client (like Civitai → its storage CDN), so tokens stay behind.
        self.files_host = "localhost"
        self.models: dict[int, FakeModel] = {}
        #: Example-image bytes served at ``/images/<key>/…`` (see :meth:`add_image`).
        self.image_bodies: dict[str, bytes] = {}
        self._signed: dict[str, list[Any]] = {}  # opaque → [file, expires_at, uses]
        self._ids = Counter(1000)
        self._vids = Counter(10000)
        self._fids = Counter(100000)
        self._state = threading.Lock()

    # --- building the catalogue ---

    def add_model(
        self,
        name: str,
        *,
        type: str = "LORA",
        id: int | None = None,
        shape: str = "2025",
        **fields: Any,
    ) -> FakeModel:
        model = FakeModel(id=id or self._ids.next(), name=name, type=type, shape=shape, **fields)
        self.models[model.id] = model
        return model

    def add_version(
        self, model: FakeModel, *, id: int | None = None, name: str = "v1.0", **fields: Any
    ) -> FakeVersion:
        version = FakeVersion(id=id or self._vids.next(), model=model, name=name, **fields)
        model.versions.insert(0, version)
        return version

    def add_file(
        self,
        version: FakeVersion,
        name: str,
        content: bytes | Path,
        *,
        type: str = "Model",
        format: str | None = "SafeTensor",
        fp: str | None = "fp16",
        size: str | None = "pruned",
        primary: bool | None = None,
        published_sha256: str | None = None,
        publish_hashes: bool = True,
        published_size: int | None = None,
        content_type: str = "application/octet-stream",
    ) -> FakeFile:
        """A file of a version; ``published_sha256`` overrides the real hash (a wrong one)."""
        body = Body(path=content) if isinstance(content, Path) else Body(data=content)
        if primary is None:
            primary = not any(f.primary for f in version.files) and type == "Model"
        hashes: dict[str, str] = {}
        if publish_hashes:
            if body.data is not None:
                hashes = civitai_hashes(body.data)
            else:  # a big file on disk: SHA256 only, streamed
                h = hashlib.sha256()
                with open(content, "rb") as fh:  # type: ignore[arg-type]
                    while chunk := fh.read(1 << 22):
                        h.update(chunk)
                hashes = {"SHA256": h.hexdigest().upper(), "AutoV2": h.hexdigest().upper()[:10]}
            if published_sha256 is not None:
                hashes["SHA256"] = published_sha256.upper()
                hashes["AutoV2"] = published_sha256.upper()[:10]
        file = FakeFile(
            id=self._fids.next(),
            name=name,
            body=body,
            version=version,
            type=type,
            format=format,
            fp=fp,
            size=size,
            primary=primary,
            hashes=hashes,
            content_type=content_type,
            published_size=published_size,
        )
        version.files.append(file)
        return file

    def add_image(
        self,
        version: FakeVersion,
        *,
        meta: dict[str, Any] | None = None,
        nsfw_level: int = 1,
        url: str | None = None,
        width: int = 512,
        height: int = 768,
        data: bytes | None = None,
        type: str = "image",
    ) -> dict[str, Any]:
        """An example image; with ``data`` this server serves its bytes (``/images/…``)."""
        if data is not None and url is None:
            key = secrets.token_hex(8)
            self.image_bodies[key] = data
            url = f"{self.base_url}/images/{key}/width=450/{key}.jpeg"
        image = {
            "url": url or f"https://image.civitai.com/x/{secrets.token_hex(8)}/width=450/1.jpeg",
            "nsfwLevel": nsfw_level,
            "width": width,
            "height": height,
            "hash": "U5Q]+x~q00IU00xu%MM{00Rj%Mt7",
            "type": type,
            "meta": meta,
        }
        version.images.append(image)
        return image

    def version(self, version_id: int) -> FakeVersion | None:
        for model in self.models.values():
            for version in model.versions:
                if version.id == version_id:
                    return version
        return None

    @property
    def files_base_url(self) -> str:
        return f"http://{self.files_host}:{self.port}"

    def expire_signed_urls(self) -> None:
        """Every signed URL handed out so far stops working now."""
        with self._state:
            self._signed.clear()

    # --- JSON shapes ---

    def _download_url(self, version: FakeVersion, file: FakeFile | None = None) -> str:
        url = f"{self.base_url}/api/download/models/{version.id}"
        if file is not None and not file.primary:
            url += "?" + urlencode(file.query_params())
        return url

    def file_json(self, file: FakeFile, *, nested: bool) -> dict[str, Any]:
        old = file.version.model.shape == "2023"
        meta = {"fp": file.fp, "size": file.size, "format": file.format}
        if old:
            meta = {k: v for k, v in meta.items() if v is not None}
        data: dict[str, Any] = {
            "id": file.id,
            "name": file.name,
            "sizeKB": file.size_kb,
            "type": file.type,
            "metadata": meta,
            "pickleScanResult": file.pickle_scan,
            "pickleScanMessage": "No Pickle imports",
            "virusScanResult": "Success",
            "virusScanMessage": None,
            "scannedAt": "2024-05-01T10:05:00.000Z",
            "hashes": dict(file.hashes),
            "downloadUrl": self._download_url(file.version, file),
        }
        if old:
            # Old answers leave out what is empty: no metadata, no hashes (scan pending).
            for key in ("metadata", "hashes"):
                if not data[key]:
                    del data[key]
        if file.primary:
            data["primary"] = True
        elif not nested and not old:
            data["primary"] = False
        return data

    def image_json(self, image: dict[str, Any], model: FakeModel, *, with_meta: bool) -> dict:
        data = {k: v for k, v in image.items() if k != "meta"}
        if model.shape == "2023":
            level = data.pop("nsfwLevel", 1)
            data["nsfw"] = _NSFW_STRINGS.get(level, "X")
        else:
            data.update({"availability": "Public", "minor": False, "poi": False, "onSite": False})
            data["hasMeta"] = image.get("meta") is not None
        if with_meta:
            data["meta"] = image.get("meta")
        return data

    def version_json(self, version: FakeVersion, *, nested: bool) -> dict[str, Any]:
        model = version.model
        old = model.shape == "2023"
        files = [] if model.mode == "Archived" else version.files
        images = [] if model.mode == "TakenDown" else version.images
        data: dict[str, Any] = {
            "id": version.id,
            "name": version.name,
            "createdAt": version.created_at,
            "updatedAt": version.created_at,
            "trainedWords": list(version.trained_words),
            "baseModel": version.base_model,
            "description": version.description,
            "stats": {
                "downloadCount": version.downloads,
                "ratingCount": 3,
                "rating": 5,
                "thumbsUpCount": 3,
            },
            "files": [self.file_json(f, nested=nested) for f in files],
            "images": [self.image_json(i, model, with_meta=not nested) for i in images],
        }
        if model.mode != "Archived":
            data["downloadUrl"] = self._download_url(version)
        if old:
            data["earlyAccessTimeFrame"] = 0
            if not nested:
                data["vaeId"] = None
        else:
            data.update(
                {
                    "status": version.status,
                    "publishedAt": version.created_at,
                    "availability": "EarlyAccess" if version.early_access_deadline else "Public",
                    "nsfwLevel": model.nsfw_level,
                    "baseModelType": "Standard",
                    "earlyAccessEndsAt": version.early_access_deadline,
                }
            )
        if version.settings is not None:
            data["settings"] = version.settings
        if nested:
            data["index"] = model.versions.index(version)
            return data
        data["modelId"] = model.id
        data["model"] = {"name": model.name, "type": model.type, "nsfw": model.nsfw, "poi": False}
        if model.mode:
            data["model"]["mode"] = model.mode
        if not old:
            data.update(
                {
                    "trainingStatus": None,
                    "trainingDetails": None,
                    "earlyAccessConfig": None,
                    "uploadType": "Created",
                    "usageControl": "Download",
                    "air": f"urn:air:sd1:{model.type.lower()}:civitai:{model.id}@{version.id}",
                }
            )
        return data

    def model_json(self, model: FakeModel) -> dict[str, Any]:
        old = model.shape == "2023"
        data: dict[str, Any] = {
            "id": model.id,
            "name": model.name,
            "description": model.description,
            "type": model.type,
            "poi": False,
            "nsfw": model.nsfw,
            "allowNoCredit": True,
            "allowDerivatives": True,
            "allowDifferentLicense": False,
            "stats": {
                "downloadCount": model.downloads,
                "favoriteCount": 1,
                "commentCount": 0,
                "ratingCount": 3,
                "rating": model.rating,
            },
            "creator": {"username": model.creator, "image": None},
            "tags": list(model.tags),
            "modelVersions": [self.version_json(v, nested=True) for v in model.versions],
        }
        if old:
            data["allowCommercialUse"] = "{" + ",".join(model.allow_commercial_use) + "}"
        else:
            data.update(
                {
                    "allowCommercialUse": list(model.allow_commercial_use),
                    "nsfwLevel": model.nsfw_level,
                    "minor": False,
                    "sfwOnly": False,
                    "availability": "Public",
                    "cosmetic": None,
                    "supportsGeneration": True,
                }
            )
            data["stats"].update({"thumbsUpCount": 3, "thumbsDownCount": 0, "tippedAmountCount": 0})
        if model.mode:
            data["mode"] = model.mode
        return data

    # --- routing ---

    def route(self, h: Handler) -> None:
        path = h.path_only
        if h.command == "POST" and path == "/api/v1/model-versions/by-hash":
            return self._bulk_by_hash(h)
        if path == "/api/v1/models":
            return self._list_models(h)
        if path.startswith("/api/v1/models/"):
            return self._model(h, path.rsplit("/", 1)[1])
        if path.startswith("/api/v1/model-versions/by-hash/"):
            return self._by_hash(h, path.rsplit("/", 1)[1])
        if path.startswith("/api/v1/model-versions/"):
            return self._version(h, path.rsplit("/", 1)[1])
        if path.startswith("/api/download/models/"):
            return self._download(h, path.rsplit("/", 1)[1])
        if path.startswith("/files/"):
            return self._files(h, path.rsplit("/", 1)[1])
        if path.startswith("/images/"):
            body = self.image_bodies.get(path.split("/")[2])
            if body is None:
                return h.send_json(404, {"error": "Not found"})
            return h.send_body(200, body, "image/jpeg")
        if path == "/api/v1/me":
            if h.bearer() in self.tokens:
                return h.send_json(200, {"id": 1, "username": "me"})
            return h.send_json(401, {"error": "Unauthorized"})
        h.send_json(404, {"error": "Not found"})

    def _visible(self, version: FakeVersion) -> bool:
        return version.status == "Published"

    def _model(self, h: Handler, raw_id: str) -> None:
        model = self.models.get(int(raw_id)) if raw_id.isdigit() else None
        if model is None:
            return h.send_json(404, {"error": f"No model with id {raw_id}"})
        h.send_json(200, self._published_copy(model))

    def _published_copy(self, model: FakeModel) -> dict[str, Any]:
        data = self.model_json(model)
        data["modelVersions"] = [
            v
            for v, fv in zip(data["modelVersions"], model.versions, strict=True)
            if self._visible(fv)
        ]
        return data

    def _hidden_from(self, h: Handler, version: FakeVersion) -> bool:
        mature = bool(version.model.nsfw_level & ~0b11) or version.model.nsfw
        return self.hide_mature_from_anonymous and mature and h.bearer() not in self.tokens

    def _version(self, h: Handler, raw_id: str) -> None:
        version = self.version(int(raw_id)) if raw_id.isdigit() else None
        if version is None or not self._visible(version) or self._hidden_from(h, version):
            return h.send_json(404, {"error": "Model not found"})
        h.send_json(200, self.version_json(version, nested=False))

    def _find_hash(self, value: str) -> FakeVersion | None:
        wanted = value.upper()
        for model in self.models.values():
            for version in model.versions:
                if not self._visible(version):
                    continue
                for file in version.files:
                    if wanted in file.hashes.values():
                        return version
        return None

    def _by_hash(self, h: Handler, value: str) -> None:
        version = self._find_hash(value)
        if version is None or self._hidden_from(h, version):
            return h.send_json(404, {"error": "Model not found"})
        h.send_json(200, self.version_json(version, nested=False))

    def _bulk_by_hash(self, h: Handler) -> None:
        try:
            hashes = json.loads(h.body or b"null")
        except ValueError:
            return h.send_json(400, {"error": "Invalid JSON"})
        if (
            not isinstance(hashes, list)
            or len(hashes) > 100
            or any(not isinstance(x, str) or len(x) != 64 for x in hashes)
        ):
            return h.send_json(
                400, {"error": "Invalid request", "message": "Expected ≤100 SHA256 hashes"}
            )
        found: list[dict[str, Any]] = []
        seen: set[int] = set()
        for value in hashes:
            version = self._find_hash(value)
            if version is None or version.id in seen or self._hidden_from(h, version):
                continue
            seen.add(version.id)
            data = self.version_json(version, nested=False)
            if self.bulk_hides_hashes:
                for file in data["files"]:
                    file.pop("hashes", None)
            found.append(data)
        h.send_json(200, found)

    def _list_models(self, h: Handler) -> None:
        if h.param("favorites") == "true" and h.bearer() not in self.tokens:
            return h.send_json(401, {"error": "Unauthorized"})
        raw_limit = h.param("limit") or "100"
        if not raw_limit.isdigit() or int(raw_limit) > 100:
            return h.send_json(
                400,
                {
                    "error": "Invalid request",
                    "issues": [{"path": ["limit"], "message": "Number must be ≤ 100"}],
                },
            )
        limit = int(raw_limit)
        query = h.param("query")
        page = h.param("page")
        cursor = h.param("cursor")
        if self.page_mode_default and not (page or cursor or query):
            page = "1"
        if query and page:
            return h.send_json(
                400,
                {"error": "Cannot use page param with query search. Use cursor-based pagination."},
            )
        if page and not page.isdigit():
            return h.send_json(400, {"error": "Invalid page"})
        if page and int(page) * limit > 1000:
            return h.send_json(
                429, {"error": "You've requested too many pages, please use cursors instead"}
            )
        models = self._filtered(h)
        if page:
            offset = (int(page) - 1) * limit
        elif cursor:
            try:
                offset = int(cursor.split("|", 1)[0])
            except ValueError:
                return h.send_json(400, {"error": "Invalid cursor"})
        else:
            offset = 0
        chunk = models[offset : offset + limit] if limit else []
        metadata: dict[str, Any] = {}
        end = offset + len(chunk)
        base = f"{self.base_url}/api/v1/models"
        keep = [(k, v) for k, vs in h.query.items() if k not in ("page", "cursor") for v in vs]
        if page:
            total = len(models)
            pages = max(1, -(-total // limit)) if limit else 1
            count = str if self.string_counts else int
            metadata = {
                "totalItems": count(total),
                "currentPage": count(int(page)),
                "pageSize": count(limit),
                "totalPages": count(pages),
            }
            if end < total:
                metadata["nextPage"] = f"{base}?{urlencode([*keep, ('page', int(page) + 1)])}"
            if int(page) > 1:
                metadata["prevPage"] = f"{base}?{urlencode([*keep, ('page', int(page) - 1)])}"
        elif end < len(models):
            last = chunk[-1].id if chunk else 0
            next_cursor = f"{end}|{last}|{len(models)}"
            metadata = {
                "nextCursor": next_cursor,
                "nextPage": f"{base}?{urlencode([*keep, ('cursor', next_cursor)])}",
            }
        items = [self._published_copy(m) for m in chunk]
        if self.list_latest_only:
            for item in items:
                item["modelVersions"] = item["modelVersions"][:1]
        h.send_json(200, {"items": items, "metadata": metadata})

    def _filtered(self, h: Handler) -> list[FakeModel]:
        models = list(self.models.values())
        query = (h.param("query") or "").lower()
        types = set(h.params("types"))
        bases = set(h.params("baseModels"))
        username = (h.param("username") or "").lower()
        tag = (h.param("tag") or "").lower()
        ids = {int(i) for i in h.params("ids") if i.isdigit()}
        nsfw = (h.param("nsfw") or "false").lower() == "true"
        if query:
            models = [
                m for m in models if query in m.name.lower() or query in [t.lower() for t in m.tags]
            ]
        elif ids:
            models = [m for m in models if m.id in ids]
        if types:
            models = [m for m in models if m.type in types]
        if bases:
            models = [m for m in models if any(v.base_model in bases for v in m.versions)]
        if username:
            models = [m for m in models if m.creator.lower() == username]
        if tag:
            models = [m for m in models if tag in [t.lower() for t in m.tags]]
        if not nsfw:
            models = [m for m in models if not m.nsfw]
        sort = h.param("sort") or "Highest Rated"
        if sort == "Newest":
            models.sort(key=lambda m: -m.id)
        elif sort == "Most Downloaded":
            models.sort(key=lambda m: (-m.downloads, m.id))
        else:
            models.sort(key=lambda m: (-m.rating, m.id))
        return models

    # --- downloads ---

    def _download(self, h: Handler, raw_id: str) -> None:
        version = self.version(int(raw_id)) if raw_id.isdigit() else None
        if version is None:
            return h.send_json(404, {"error": "File not found"})
        token = h.bearer() or h.param("token")
        authed = token in self.tokens
        browser = any(m in (h.headers.get("User-Agent") or "").lower() for m in BROWSER_MARKERS)
        model = version.model
        if model.mode == "Archived":
            return h.send_json(410, {"error": "Model archived, not available for download"})
        if version.early_access_deadline:
            return h.send_json(
                403,
                {
                    "error": "Early Access",
                    "deadline": version.early_access_deadline,
                    "message": "This asset is in Early Access. You can purchase access to it.",
                },
            )
        if version.downloads_disabled:
            return h.send_json(
                401,
                {
                    "error": "Unauthorized",
                    "message": "The creator of this asset has disabled downloads on this file",
                },
            )
        if version.login_required and not authed:
            if browser:
                return h.redirect(
                    307, f"/login?returnUrl=/model-versions/{version.id}&reason=download-auth"
                )
            return h.send_json(
                401,
                {
                    "error": "Unauthorized",
                    "message": (
                        "The creator of this asset requires you to be logged in to download it"
                    ),
                },
            )
        file = self._select_file(h, version)
        if file is None:
            return h.send_json(404, {"error": "File not found"})
        opaque = secrets.token_urlsafe(16)
        expires = time.time() + self.signed_ttl
        with self._state:
            self._signed[opaque] = [file, expires, 0]
        disposition = f'attachment; filename="{file.name}"'
        # Backblaze B2 style (Civitai's storage since 2026): the signature travels as an
        # ``Authorization`` *query* parameter; ``b2ContentDisposition`` becomes the header.
        query = urlencode(
            {
                "Authorization": f"4_{secrets.token_hex(12)}",
                "exp": int(expires),
                "b2ContentDisposition": disposition,
            }
        )
        h.redirect(307, f"{self.files_base_url}/files/{opaque}?{query}")

    def _select_file(self, h: Handler, version: FakeVersion) -> FakeFile | None:
        wanted = {k: h.param(k) for k in ("type", "format", "size", "fp", "fileId")}
        if not any(wanted.values()):
            primary = [f for f in version.files if f.primary]
            models = [f for f in version.files if f.type == "Model"]
            return (primary or models or version.files or [None])[0]
        for file in version.files:
            if wanted["fileId"] and str(file.id) != wanted["fileId"]:
                continue
            checks = (
                (wanted["type"], file.type),
                (wanted["format"], file.format),
                (wanted["size"], file.size),
                (wanted["fp"], file.fp),
            )
            if all(w is None or (v or "").lower() == w.lower() for w, v in checks):
                return file
        return None

    def expired(self, h: Handler) -> None:
        if self.expired_status == 401:
            return h.send_json(
                401,
                {
                    "code": "expired_auth_token",
                    "message": "Authorization token has expired",
                    "status": 401,
                },
            )
        code, message = (
            ("ExpiredToken", "The provided token has expired.")
            if self.expired_status == 400
            else ("AccessDenied", "Request has expired")
        )
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>'
            f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
        ).encode()
        return h.send_body(self.expired_status, body, "application/xml")

    def _files(self, h: Handler, opaque: str) -> None:
        if h.headers.get("Authorization"):
            # Storage refuses a signed URL that comes with a header credential as well
            # (R2: "400 InvalidRequest"; B2 answers 401): the API key must stay behind.
            body = (
                b'<?xml version="1.0" encoding="UTF-8"?><Error><Code>InvalidRequest</Code>'
                b"<Message>Missing x-amz-content-sha256</Message></Error>"
            )
            return h.send_body(400, body, "application/xml")
        with self._state:
            entry = self._signed.get(opaque)
            if entry is not None:
                file, expires, uses = entry
                if time.time() > expires or (
                    self.signed_uses is not None and uses >= self.signed_uses
                ):
                    entry = None
                else:
                    entry[2] += 1
        if entry is None:
            return self.expired(h)
        file = entry[0]
        ascii_name = file.name.encode("ascii", "replace").decode().replace('"', "_")
        disposition = f'attachment; filename="{ascii_name}"'
        if self.raw_utf8_names:
            # http.server writes headers as Latin-1: these code points are the UTF-8 bytes.
            disposition = 'attachment; filename="{}"'.format(file.name.encode().decode("latin-1"))
        elif ascii_name != file.name:
            disposition += f"; filename*=UTF-8''{quote(file.name, safe='')}"
        h.send_bytes(
            file.body,
            headers={
                "Content-Disposition": disposition,
                "ETag": f'"{file.hashes.get("SHA256", "x")[:32]}"',
            },
            content_type=file.content_type,
        )


@pytest.fixture
def fake_civitai() -> Iterator[FakeCivitai]:
    """A running fake Civitai that accepts :data:`TOKEN` (import it into a test module)."""
    with FakeCivitai(tokens={TOKEN}) as civ:
        yield civ
