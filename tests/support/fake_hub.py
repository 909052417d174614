"""A fake Hugging Face Hub on 127.0.0.1 for the real ``huggingface_hub`` (SPEC-APIS.md B.5).

Point the library at it with ``endpoint=hub.base_url`` (and ``HF_HUB_DISABLE_XET=1``)::

    with FakeHub(tokens={"hf_secret"}) as hub:
        hub.add_repo("acme/vae", {"vae.safetensors": data, "README.md": b"# vae"})
        HfApi(endpoint=hub.base_url).list_repo_tree("acme/vae")

Routes: ``HEAD|GET /{ns}/{name}/resolve/{rev}/{path}`` (``X-Repo-Commit``,
quoted ``ETag``, ``X-Linked-Etag``/``X-Linked-Size`` for LFS files, the true
``Content-Length`` on HEAD, ``Range``/206), ``GET /api/models/{repo}``,
``…/revision/{rev}``, ``…/tree/{rev}[/{path}]`` (``recursive`` as ``True`` or
``true``), ``GET /api/models`` (search, author, filter, sort, limit; ``Link:
<…>; rel="next"`` pagination). Errors carry ``X-Error-Code``
(RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo: 401 without a
valid token, 403 for a token whose account is not in ``granted``). With
``cdn_redirect=True`` LFS files answer 302 to another host name
(``localhost``) that serves the bytes, like the real CDN. Never any
``X-Xet-*`` header or ``xetHash``.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlencode

import pytest

from .http_fake import Body, Failure, FakeServer, Handler

__all__ = ["HF_TOKEN", "LFS_SUFFIXES", "Failure", "FakeHub", "FakeRepo", "fake_hub", "hf_online"]

#: The token the ``fake_hub`` fixture accepts for gated and private repos.
HF_TOKEN = "hf_test_token_abcdef"

#: Suffixes stored in LFS (as the Hub's default .gitattributes does).
LFS_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".onnx", ".msgpack", ".h5", ".gguf")
LFS_THRESHOLD = 10 * 1024 * 1024


def _git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass
class RepoFile:
    path: str
    data: bytes

    @property
    def lfs(self) -> bool:
        return self.path.endswith(LFS_SUFFIXES) or len(self.data) >= LFS_THRESHOLD

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def blob_id(self) -> str:
        return _git_blob_sha1(self.data)


@dataclass
class FakeRepo:
    id: str
    #: revision name or commit → (commit sha, files)
    revisions: dict[str, tuple[str, dict[str, RepoFile]]] = field(default_factory=dict)
    gated: str | bool = False  # False | "auto" | "manual"
    #: Tokens whose accounts were granted access to a gated repo (None: every valid token).
    granted: set[str] | None = None
    private: bool = False
    downloads: int = 0
    likes: int = 0
    tags: list[str] = field(default_factory=list)
    pipeline_tag: str | None = None
    library_name: str | None = None
    last_modified: str = "2024-05-01T10:00:00.000Z"

    @property
    def author(self) -> str:
        return self.id.split("/", 1)[0]

    def resolve(self, revision: str) -> tuple[str, dict[str, RepoFile]] | None:
        if revision in self.revisions:
            return self.revisions[revision]
        for sha, files in self.revisions.values():
            if sha == revision:
                return sha, files
        return None


class FakeHub(FakeServer):
    """The fake Hub; see the module docstring."""

    def __init__(self, *, tokens: set[str] | None = None, cdn_redirect: bool = False) -> None:
        super().__init__()
        self.tokens: set[str] = set(tokens or ())
        self.cdn_redirect = cdn_redirect
        #: Results per page of ``/api/models`` (small, so tests see pagination).
        self.page_size = 2
        self.repos: dict[str, FakeRepo] = {}
        self._cdn: dict[str, RepoFile] = {}

    @property
    def cdn_url(self) -> str:
        """The same server under another host name: a redirect "leaves the Hub"."""
        return f"http://localhost:{self.port}"

    def add_repo(
        self,
        repo_id: str,
        files: dict[str, bytes],
        *,
        revision: str = "main",
        commit: str | None = None,
        **fields: Any,
    ) -> FakeRepo:
        repo = self.repos.get(repo_id) or FakeRepo(id=repo_id, **fields)
        sha = commit or secrets.token_hex(20)
        repo.revisions[revision] = (sha, {p: RepoFile(p, d) for p, d in files.items()})
        self.repos[repo_id] = repo
        return repo

    # --- routing ---

    def route(self, h: Handler) -> None:
        path = h.path_only
        if path.startswith("/cdn/"):
            return self._cdn_file(h, path.rsplit("/", 1)[1])
        if path == "/api/models":
            return self._list(h)
        if path.startswith("/api/models/"):
            rest = path[len("/api/models/") :]
            for marker, handler in (("/tree/", self._tree), ("/revision/", self._info)):
                if marker in rest:
                    repo_id, _, tail = rest.partition(marker)
                    return handler(h, repo_id, tail)
            return self._info(h, rest, "main")
        if "/resolve/" in path:
            repo_id, _, tail = path.lstrip("/").partition("/resolve/")
            return self._resolve(h, repo_id, tail)
        self._error(h, 404, "RepoNotFound", "Not found")

    def _error(self, h: Handler, status: int, code: str, message: str, **headers: str) -> None:
        h.send_json(
            status,
            {"error": message},
            {"X-Error-Code": code, "X-Error-Message": message, **headers},
        )

    def _repo(self, h: Handler, repo_id: str) -> FakeRepo | None:
        repo = self.repos.get(unquote(repo_id))
        if repo is None or (repo.private and h.bearer() not in self.tokens):
            # The real Hub hides private repos: 401 without a code reads as "not found".
            status = 401 if repo is not None or h.bearer() is None else 404
            h.send_json(
                status,
                {"error": "Repository not found"},
                {"X-Error-Code": "RepoNotFound", "X-Error-Message": "Repository not found"},
            )
            return None
        return repo

    def _revision(self, h: Handler, repo: FakeRepo, revision: str) -> tuple[str, dict] | None:
        found = repo.resolve(revision)
        if found is None:
            self._error(h, 404, "RevisionNotFound", f"Invalid rev id: {revision}")
        return found

    # --- /api/models/{repo} ---

    def _info(self, h: Handler, repo_id: str, revision: str) -> None:
        repo = self._repo(h, repo_id)
        if repo is None:
            return
        found = self._revision(h, repo, unquote(revision or "main"))
        if found is None:
            return
        sha, files = found
        blobs = (h.param("blobs") or "").lower() == "true"
        siblings = []
        for f in files.values():
            sibling: dict[str, Any] = {"rfilename": f.path}
            if blobs:
                sibling.update({"size": len(f.data), "blobId": f.blob_id})
                if f.lfs:
                    sibling["lfs"] = {"size": len(f.data), "sha256": f.sha256, "pointerSize": 134}
            siblings.append(sibling)
        h.send_json(200, {**self._card(repo), "sha": sha, "siblings": siblings})

    def _card(self, repo: FakeRepo) -> dict[str, Any]:
        return {
            "_id": hashlib.md5(repo.id.encode()).hexdigest()[:24],
            "id": repo.id,
            "modelId": repo.id,
            "author": repo.author,
            "private": repo.private,
            "gated": repo.gated,
            "disabled": False,
            "downloads": repo.downloads,
            "likes": repo.likes,
            "tags": list(repo.tags),
            "pipeline_tag": repo.pipeline_tag,
            "library_name": repo.library_name,
            "lastModified": repo.last_modified,
            "createdAt": "2023-01-01T00:00:00.000Z",
        }

    def _at_revision(
        self, h: Handler, repo_id: str, tail: str
    ) -> tuple[FakeRepo, str, dict, str] | None:
        """``REV/PATH`` of a repo: the repo, the commit, its files and the path (None: answered
        with an error already)."""
        repo = self._repo(h, repo_id)
        if repo is None:
            return None
        raw_rev, _, raw_path = tail.partition("/")
        found = self._revision(h, repo, unquote(raw_rev))
        if found is None:
            return None
        return repo, *found, unquote(raw_path)

    def _tree(self, h: Handler, repo_id: str, tail: str) -> None:
        at = self._at_revision(h, repo_id, tail)
        if at is None:
            return
        _, sha, files, path = at
        base = path.strip("/")
        recursive = (h.param("recursive") or "").lower() == "true"
        prefix = f"{base}/" if base else ""
        inside = [f for f in files.values() if f.path.startswith(prefix)]
        if base and not inside:
            return self._error(
                h, 404, "EntryNotFound", f"{base} does not exist", **{"X-Repo-Commit": sha}
            )
        entries: list[dict[str, Any]] = []
        dirs: set[str] = set()
        for f in sorted(inside, key=lambda f: f.path):
            rel = f.path[len(prefix) :]
            parts = rel.split("/")
            for depth in range(1, len(parts)):
                directory = prefix + "/".join(parts[:depth])
                if (recursive or depth == 1) and directory not in dirs:
                    dirs.add(directory)
                    entries.append(
                        {
                            "type": "directory",
                            "oid": _git_blob_sha1(directory.encode()),
                            "size": 0,
                            "path": directory,
                        }
                    )
            if not recursive and len(parts) > 1:
                continue
            entry: dict[str, Any] = {
                "type": "file",
                "oid": f.blob_id,
                "size": len(f.data),
                "path": f.path,
            }
            if f.lfs:
                entry["lfs"] = {"oid": f.sha256, "size": len(f.data), "pointerSize": 134}
            entries.append(entry)
        h.send_json(200, entries)

    # --- /api/models (search) ---

    def _list(self, h: Handler) -> None:
        repos = [r for r in self.repos.values() if not r.private]
        searches = [s.lower() for s in h.query.get("search", [])]
        if searches:
            repos = [r for r in repos if all(s in r.id.lower() for s in searches)]
        author = h.param("author")
        if author:
            repos = [r for r in repos if r.author.lower() == author.lower()]
        for tag in h.query.get("filter", []):
            repos = [r for r in repos if tag in r.tags or tag == r.library_name]
        sort = h.param("sort") or ""
        if sort in ("downloads", "likes"):
            repos.sort(key=lambda r: -getattr(r, sort))
        else:
            repos.sort(key=lambda r: r.id)
        limit = int(h.param("limit") or 1000)
        size = min(limit, self.page_size)
        offset = int(h.param("cursor") or 0)
        page = repos[offset : offset + size]
        headers = {}
        if offset + size < len(repos):
            keep = [(k, v) for k, vs in h.query.items() if k != "cursor" for v in vs]
            nxt = f"{self.base_url}/api/models?{urlencode([*keep, ('cursor', offset + size)])}"
            headers["Link"] = f'<{nxt}>; rel="next"'
        h.send_json(200, [{**self._card(r), "sha": r.resolve("main")[0]} for r in page], headers)

    # --- files ---

    def _resolve(self, h: Handler, repo_id: str, tail: str) -> None:
        at = self._at_revision(h, repo_id, tail)
        if at is None:
            return
        repo, sha, files, path = at
        file = files.get(path)
        token = h.bearer()
        if repo.gated and token not in self.tokens:
            message = (
                f"Access to model {repo.id} is restricted. You must have access to it "
                "and be authenticated to access it. Please log in."
            )
            return self._error(h, 401, "GatedRepo", message, **{"X-Repo-Commit": sha})
        if repo.gated and repo.granted is not None and token not in repo.granted:
            # A known account without access: 403, as the real Hub answers it.
            message = (
                f"Access to model {repo.id} is restricted and you are not in the authorized "
                f"list. Visit https://huggingface.co/{repo.id} to ask for access."
            )
            return self._error(h, 403, "GatedRepo", message, **{"X-Repo-Commit": sha})
        if file is None:
            return self._error(h, 404, "EntryNotFound", "Entry not found", **{"X-Repo-Commit": sha})
        headers = {"X-Repo-Commit": sha, "ETag": f'"{file.blob_id}"'}
        if file.lfs:
            headers.update(
                {
                    "ETag": f'"{file.sha256}"',
                    "X-Linked-Etag": f'"{file.sha256}"',
                    "X-Linked-Size": str(len(file.data)),
                }
            )
            if self.cdn_redirect:
                opaque = secrets.token_urlsafe(12)
                self._cdn[opaque] = file
                return h.redirect(302, f"{self.cdn_url}/cdn/{opaque}?sig=x", headers)
        name = file.path.rsplit("/", 1)[-1]
        headers["Content-Disposition"] = f'inline; filename="{name}"'
        h.send_bytes(Body(data=file.data), headers=headers)

    def _cdn_file(self, h: Handler, opaque: str) -> None:
        file = self._cdn.get(opaque)
        if file is None:
            return h.send_body(403, b"<Error>expired</Error>", "application/xml")
        name = file.path.rsplit("/", 1)[-1]
        h.send_bytes(
            Body(data=file.data),
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "ETag": f'"{file.sha256}"',
            },
        )


@pytest.fixture
def hf_online(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let huggingface_hub make requests (the suite sets HF_HUB_OFFLINE=1 for safety).

    huggingface_hub reads these flags at import time, so the module constants
    are patched too; the endpoint is always passed explicitly.
    """
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)


@pytest.fixture
def fake_hub(hf_online: None) -> Iterator[FakeHub]:
    """A running fake Hub accepting :data:`HF_TOKEN`, with huggingface_hub allowed online."""
    with FakeHub(tokens={HF_TOKEN}) as hub:
        yield hub
