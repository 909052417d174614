"""The Hugging Face Hub through ``huggingface_hub``: search, repo trees, file choice, snapshots.

Metadata (search, repo info, tree listings with LFS SHA256, per-file HEAD)
goes through the real ``huggingface_hub`` code paths. A single weight file is
then fetched by our own engine (:mod:`.download`) from its ``/resolve/`` URL
pinned to the commit: that gives ``Range`` resume, hashing while streaming,
verification against the LFS SHA256 and placement by kind, the same as for
Civitai. A whole diffusers-format repo (a folder of components) is fetched
with ``snapshot_download`` into a staging folder, its LFS files verified,
then renamed into place.

``HF_ENDPOINT`` is read by huggingface_hub at *import* time, so the endpoint
and token are always passed explicitly (``endpoint=``, ``token=``); the
client itself never reads the environment.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from .download import DownloadJob, DownloadSource, Expected
from .errors import (
    AmbiguousReference,
    BadRequest,
    GatedRepo,
    HashMismatch,
    HubError,
    LoginRequired,
    NotFound,
    PlacementError,
    RateLimited,
    ServiceUnavailable,
    TransientError,
)
from .http import BearerAuth, Site

if TYPE_CHECKING:
    from huggingface_hub import HfApi

    from sdhub.config import Settings

DEFAULT_ENDPOINT = "https://huggingface.co"

#: Suffixes of single-file weights a WebUI can load.
WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft", ".gguf")
#: Weight files of diffusers/transformers folders, not single-file checkpoints.
_COMPONENT_STEMS = re.compile(
    r"^(diffusion_pytorch_model|model|pytorch_model|flax_model|tf_model|adapter_model)"
    r"(\.[a-z0-9_]+)?(-\d{5}-of-\d{5})?$"
)
_VARIANT = re.compile(r"\.(fp16|bf16|fp32|fp8|non_ema|ema)\.", re.I)
#: What a diffusers folder needs besides weights: configs, tokenizers, schedulers.
_DIFFUSERS_SMALL = (".json", ".txt", ".model", ".yaml")
#: Weights of other frameworks that a PyTorch user never needs.
_FOREIGN = (".msgpack", ".h5", ".onnx", ".onnx_data", ".pb", ".ot", ".mlmodel")


@dataclass(frozen=True, slots=True)
class HfFile:
    """One file of a repo at a revision: size and (LFS files) SHA256."""

    repo: str
    path: str
    revision: str
    size: int | None
    #: Upper-case hex SHA256 for LFS files (``lfs.oid`` / ``X-Linked-Etag``), else None.
    sha256: str | None = None
    blob_id: str | None = None

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def is_weight(self) -> bool:
        return self.path.lower().endswith(WEIGHT_SUFFIXES)


@dataclass(frozen=True, slots=True)
class HfRepo:
    """A model repo as search and ``model_info`` describe it."""

    id: str
    sha: str | None
    author: str | None
    downloads: int | None
    likes: int | None
    tags: tuple[str, ...]
    pipeline_tag: str | None
    library_name: str | None
    gated: str | bool | None
    private: bool | None
    last_modified: str | None

    @classmethod
    def from_info(cls, info: Any) -> HfRepo:
        last = getattr(info, "last_modified", None) or getattr(info, "lastModified", None)
        return cls(
            id=info.id,
            sha=getattr(info, "sha", None),
            author=getattr(info, "author", None),
            downloads=getattr(info, "downloads", None),
            likes=getattr(info, "likes", None),
            tags=tuple(getattr(info, "tags", None) or ()),
            pipeline_tag=getattr(info, "pipeline_tag", None),
            library_name=getattr(info, "library_name", None),
            gated=getattr(info, "gated", None),
            private=getattr(info, "private", None),
            last_modified=last.isoformat() if hasattr(last, "isoformat") else last,
        )


@dataclass(frozen=True, slots=True)
class HfSelection:
    """What a Hugging Face reference means: one file, or a folder snapshot."""

    repo: str
    #: The commit every file is pinned to.
    revision: str
    files: tuple[HfFile, ...]
    snapshot: bool

    @property
    def file(self) -> HfFile:
        if self.snapshot or len(self.files) != 1:
            raise ValueError("not a single-file selection")
        return self.files[0]


# --- choosing files ---------------------------------------------------------------------------


def is_diffusers(files: list[HfFile]) -> bool:
    """A diffusers pipeline folder: ``model_index.json`` at the top."""
    return any(f.path == "model_index.json" for f in files)


def single_file_candidates(files: list[HfFile]) -> list[HfFile]:
    """Weight files that stand alone (a checkpoint, a LoRA, a VAE), not folder components."""
    out = []
    for f in files:
        if not f.is_weight:
            continue
        stem = PurePosixPath(f.path).name.rsplit(".", 1)[0]
        if _COMPONENT_STEMS.match(stem):
            continue
        out.append(f)
    return out


def choose_single_file(files: list[HfFile], what: str) -> HfFile:
    """The one weight file a bare ``hf:owner/repo`` means, or an error listing the choices.

    Preference: top-level files, then ``.safetensors``, then the plain
    variant over ``.fp16.``/``.ema.`` ones; anything still tied is ambiguous.
    """
    candidates = single_file_candidates(files)
    if not candidates:
        raise NotFound(f"{what}: no single weight file in the repository")
    for narrow in (
        lambda f: "/" not in f.path,
        lambda f: f.path.lower().endswith(".safetensors"),
        lambda f: not _VARIANT.search(f.name),
    ):
        kept = [f for f in candidates if narrow(f)]
        if kept:
            candidates = kept
        if len(candidates) == 1:
            return candidates[0]
    names = [f.path for f in candidates]
    raise AmbiguousReference(
        f"{what}: {len(names)} weight files; name one",
        candidates=names,
        hint="e.g. hf:" + f"{files[0].repo}/{names[0]}",
    )


def diffusers_subset(
    files: list[HfFile], *, folder: str = "", variant: str | None = None
) -> list[HfFile]:
    """The files a diffusers pipeline (or one component folder) needs, once each.

    Configs, tokenizers and scheduler files, plus per folder one set of
    PyTorch weights: ``.safetensors`` over ``.bin``, the requested
    ``variant`` (e.g. ``fp16``) over the plain one when both exist. Other
    frameworks' weights (Flax, TF, ONNX) and top-level single-file
    checkpoints are left out.
    """
    prefix = f"{folder.strip('/')}/" if folder.strip("/") else ""
    scoped = [f for f in files if f.path.startswith(prefix)]
    chosen: list[HfFile] = []
    by_dir: dict[str, list[HfFile]] = {}
    for f in scoped:
        lower = f.path.lower()
        if lower.endswith(_FOREIGN) or PurePosixPath(f.path).name.startswith("."):
            continue
        if f.is_weight:
            directory = str(PurePosixPath(f.path).parent)
            if directory == "." and not prefix:
                continue  # top-level single-file checkpoints are another way to get it
            by_dir.setdefault(directory, []).append(f)
        elif lower.endswith(_DIFFUSERS_SMALL) and not lower.endswith(("readme.md",)):
            chosen.append(f)
    for weights in by_dir.values():
        chosen += _one_weight_set(weights, variant)
    return sorted(chosen, key=lambda f: f.path)


def _one_weight_set(weights: list[HfFile], variant: str | None) -> list[HfFile]:
    safetensors = [w for w in weights if w.path.endswith(".safetensors")]
    pool = safetensors or [w for w in weights if w.path.endswith(".bin")] or weights
    wanted = [w for w in pool if variant and f".{variant}." in w.name]
    plain = [w for w in pool if not _VARIANT.search(w.name)]
    return wanted or plain or pool


# --- the client ---------------------------------------------------------------------------


def _hf_exceptions() -> dict[str, type[BaseException]]:
    from huggingface_hub import errors

    return {
        name: getattr(errors, name)
        for name in (
            "GatedRepoError",
            "RepositoryNotFoundError",
            "RevisionNotFoundError",
            "EntryNotFoundError",
            "HfHubHTTPError",
            "OfflineModeIsEnabled",
            "FileMetadataError",
        )
        if hasattr(errors, name)
    }


def _network_exceptions() -> tuple[type[BaseException], ...]:
    found: list[type[BaseException]] = [ConnectionError, TimeoutError]
    for module in ("httpx2", "httpx"):
        with contextlib.suppress(ImportError):
            found.append(__import__(module).TransportError)
    with contextlib.suppress(ImportError):
        import requests

        found.append(requests.RequestException)
    return tuple(found)


def _saved_token() -> str | None:
    """The token ``hf auth login`` saved (``$HF_HOME/token``), as huggingface_hub itself uses it.

    CLI.md promises HF_TOKEN "as huggingface_hub defines it", and a user who
    logged in with the ``hf`` tool expects gated repos to open without
    exporting anything.
    """
    from huggingface_hub import get_token

    return get_token() or None


class HfClient:
    """Hugging Face Hub access with an explicit endpoint and token."""

    def __init__(
        self,
        endpoint: str | None = None,
        token: str | None = None,
        *,
        cache_dir: Path | None = None,
    ) -> None:
        self.endpoint = (endpoint or DEFAULT_ENDPOINT).rstrip("/")
        self._token = token
        self.cache_dir = cache_dir
        self._api: HfApi | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> HfClient:
        kwargs.setdefault("cache_dir", settings.cache_dir / "hf")
        return cls(settings.hf_endpoint, settings.hf_token or _saved_token(), **kwargs)

    def __repr__(self) -> str:
        return f"HfClient({self.endpoint!r}, token={'set' if self._token else 'none'})"

    @property
    def api(self) -> HfApi:
        if self._api is None:
            from huggingface_hub import HfApi

            # token=False: the token is resolved once, in from_settings, so the
            # API calls and our own download engine always use the same one.
            self._api = HfApi(endpoint=self.endpoint, token=self._token or False)
        return self._api

    @property
    def _token_arg(self) -> str | bool:
        return self._token or False

    @contextlib.contextmanager
    def _translate(self, what: str, repo: str | None = None) -> Iterator[None]:
        """huggingface_hub's exceptions as ours, with what the user can do."""
        exc_types = _hf_exceptions()
        page = f"{self.endpoint}/{repo}" if repo else self.endpoint
        try:
            yield
        except HubError:
            raise
        except BaseException as exc:
            name = next((n for n, t in exc_types.items() if isinstance(exc, t)), None)
            server = getattr(exc, "server_message", None) or None
            response = getattr(exc, "response", None)
            status = getattr(response, "status_code", None)
            common: dict[str, Any] = {"status": status, "server_message": server}
            if name == "GatedRepoError":
                hint = GatedRepo.hint_for(
                    denied_account=bool(self._token) and status == 403, page=f"at {page}"
                )
                raise GatedRepo(f"{what}: gated repository", hint=hint, **common) from None
            if name == "RevisionNotFoundError":
                raise NotFound(
                    f"{what}: no such revision", hint="check the @revision", **common
                ) from None
            if name == "RepositoryNotFoundError":
                raise NotFound(
                    f"{what}: repository not found",
                    hint="check the name"
                    + ("" if self._token else "; a private repo needs HF_TOKEN"),
                    **common,
                ) from None
            if name == "EntryNotFoundError":
                raise NotFound(
                    f"{what}: no such file in the repository",
                    hint=f"check the path against the repository's files at {page}",
                    **common,
                ) from None
            if name == "OfflineModeIsEnabled":
                raise TransientError(
                    f"{what}: Hugging Face offline mode is on", hint="unset HF_HUB_OFFLINE"
                ) from None
            if name == "HfHubHTTPError" and status is not None:
                if status == 429:
                    hint = "wait a few minutes" + (
                        "" if self._token else "; set HF_TOKEN (logged-in users get higher limits)"
                    )
                    raise RateLimited(f"{what}: rate limited", hint=hint, **common) from None
                if status >= 500:
                    raise ServiceUnavailable(f"{what}: server error {status}", **common) from None
                if status in (401, 403):
                    hint = (
                        "HF_TOKEN was refused or lacks this permission: check the token"
                        if self._token
                        else "set HF_TOKEN"
                    )
                    raise LoginRequired(f"{what}: not allowed", hint=hint, **common) from None
                raise BadRequest(f"{what}: rejected ({status})", **common) from None
            if name == "FileMetadataError":
                # No X-Repo-Commit/ETag on the answer: not a Hub (a proxy, a wrong endpoint).
                raise HubError(
                    f"{what}: {self.endpoint} does not answer like a Hugging Face Hub ({exc})",
                    hint="check HF_ENDPOINT",
                ) from None
            if isinstance(exc, _network_exceptions()):
                raise TransientError(
                    f"{what}: cannot reach {self.endpoint} ({type(exc).__name__})",
                    hint="check the network or HF_ENDPOINT",
                ) from None
            raise

    # --- metadata ---

    def search(
        self,
        query: str | None = None,
        *,
        author: str | None = None,
        filters: tuple[str, ...] = (),
        sort: str | None = "downloads",
        limit: int | None = 20,
    ) -> Iterator[HfRepo]:
        """Model repos matching ``query``; pages (``Link: rel=next``) fetched as consumed."""
        with self._translate("hf search"):
            results = self.api.list_models(
                search=query or None,
                author=author,
                filter=list(filters) or None,
                sort=sort,
                limit=limit,
                token=self._token_arg,
            )
            iterator = iter(results)
        while True:
            with self._translate("hf search"):
                info = next(iterator, None)
            if info is None:
                return
            yield HfRepo.from_info(info)

    def repo(self, repo_id: str, revision: str | None = None) -> HfRepo:
        with self._translate(f"hf:{repo_id}", repo_id):
            return HfRepo.from_info(
                self.api.model_info(repo_id, revision=revision, token=self._token_arg)
            )

    def list_files(
        self, repo_id: str, revision: str | None = None, path: str | None = None
    ) -> list[HfFile]:
        """Every file under ``path`` (recursive), with sizes and LFS SHA256s."""
        rev = revision or "main"
        with self._translate(f"hf:{repo_id}" + (f"/{path}" if path else ""), repo_id):
            entries = list(
                self.api.list_repo_tree(
                    repo_id,
                    path_in_repo=path or None,
                    recursive=True,
                    revision=rev,
                    token=self._token_arg,
                )
            )
        files = []
        for entry in entries:
            if getattr(entry, "size", None) is None or not hasattr(entry, "blob_id"):
                continue  # a folder
            lfs = getattr(entry, "lfs", None)
            sha = getattr(lfs, "sha256", None) if lfs is not None else None
            files.append(
                HfFile(
                    repo=repo_id,
                    path=entry.path,
                    revision=rev,
                    size=entry.size,
                    sha256=sha.upper() if sha else None,
                    blob_id=entry.blob_id,
                )
            )
        return files

    def file_info(self, repo_id: str, path: str, revision: str | None = None) -> HfFile:
        """One file's size, SHA256 (LFS) and commit from a HEAD on its resolve URL."""
        from huggingface_hub import get_hf_file_metadata

        url = self.resolve_url(repo_id, path, revision or "main")
        with self._translate(f"hf:{repo_id}/{path}", repo_id):
            meta = get_hf_file_metadata(url, token=self._token_arg, endpoint=self.endpoint)
        if not meta.commit_hash or not meta.etag:
            # Every Hub answer to a resolve URL names the commit and the blob; this one did
            # not (a proxy's page, a wrong endpoint): its size would be a web page's.
            raise HubError(
                f"hf:{repo_id}/{path}: {self.endpoint} does not answer like a Hugging Face Hub "
                "(no X-Repo-Commit or ETag header)",
                hint="check HF_ENDPOINT",
            )
        etag = (meta.etag or "").strip('"')
        sha = etag.upper() if re.fullmatch(r"[0-9a-fA-F]{64}", etag) else None
        return HfFile(
            repo=repo_id,
            path=path,
            revision=meta.commit_hash or revision or "main",
            size=meta.size,
            sha256=sha,
            blob_id=None if sha else etag or None,
        )

    def resolve_url(self, repo_id: str, path: str, revision: str) -> str:
        from huggingface_hub import hf_hub_url

        return hf_hub_url(repo_id, path, revision=revision, endpoint=self.endpoint)

    # --- what a reference means ---

    def select(
        self,
        repo_id: str,
        path: str | None = None,
        revision: str | None = None,
        *,
        whole: bool = False,
        variant: str | None = None,
    ) -> HfSelection:
        """One file, or the subset of a diffusers folder, pinned to a commit.

        ``path`` naming a file selects it; naming a folder selects that
        folder's diffusers subset; no path selects the repo's one single-file
        weight, or (``whole``, or when there is none) the diffusers subset.
        """
        what = f"hf:{repo_id}" + (f"/{path}" if path else "")
        info = self.repo(repo_id, revision)
        commit = info.sha or revision or "main"
        if path and PurePosixPath(path).suffix:
            with contextlib.suppress(NotFound):
                file = self.file_info(repo_id, path, commit)
                return HfSelection(repo_id, commit, (file,), snapshot=False)
        files = self.list_files(repo_id, commit, path)
        if path:
            exact = [f for f in files if f.path == path]
            if exact:
                return HfSelection(repo_id, commit, (exact[0],), snapshot=False)
            if not files:
                raise NotFound(f"{what}: no such file or folder in the repository")
            return HfSelection(
                repo_id, commit, tuple(diffusers_subset(files, folder=path, variant=variant)), True
            )
        if not whole and single_file_candidates(files):
            return HfSelection(repo_id, commit, (choose_single_file(files, what),), False)
        if is_diffusers(files) or whole:
            subset = diffusers_subset(files, variant=variant)
            if not subset:
                raise NotFound(f"{what}: nothing to download")
            return HfSelection(repo_id, commit, tuple(subset), snapshot=True)
        raise NotFound(f"{what}: no weight files in the repository")

    # --- downloads ---

    def download_source(self, file: HfFile) -> DownloadSource:
        """The resolve URL of a file pinned to its commit; the token only for the Hub host."""
        return DownloadSource(
            url=self.resolve_url(file.repo, file.path, file.revision),
            site=Site.HF,
            auth=BearerAuth(self._token) if self._token else None,
        )

    def download_job(
        self, file: HfFile, *, dest: Path | None = None, key: str | None = None
    ) -> DownloadJob:
        """A job for the engine: the LFS SHA256 and size are what the bytes must match."""
        return DownloadJob(
            source=self.download_source(file),
            filename=file.name,
            expected=Expected(sha256=file.sha256, size=file.size, label="the Hub"),
            dest=dest,
            key=key or f"hf:{file.repo}/{file.path}",
            payload=file,
        )

    def snapshot(self, selection: HfSelection, dest: Path) -> Path:
        """Download a folder selection into ``dest`` (which must not exist yet), verified.

        The files land in ``<dest>.part/`` first (huggingface_hub resumes its
        own ``.incomplete`` files there); every LFS file is checked against
        its SHA256; then the folder is renamed to ``dest`` in one step.
        """
        from huggingface_hub import snapshot_download

        if dest.exists():
            raise PlacementError(f"{dest}: already exists", hint="remove it or choose another name")
        staging = dest.with_name(dest.name + ".part")
        staging.mkdir(parents=True, exist_ok=True)
        with self._translate(f"hf:{selection.repo}", selection.repo):
            snapshot_download(
                selection.repo,
                revision=selection.revision,
                local_dir=staging,
                cache_dir=self.cache_dir,
                allow_patterns=[f.path for f in selection.files],
                token=self._token_arg,
                endpoint=self.endpoint,
            )
        for file in selection.files:
            target = staging / file.path
            if not target.is_file():
                raise TransientError(f"hf:{selection.repo}/{file.path}: missing after download")
            if file.sha256 and _sha256(target) != file.sha256:
                target.unlink()
                raise HashMismatch(
                    f"hf:{selection.repo}/{file.path}: SHA256 differs from the published one",
                    hint="removed; run again to fetch it anew",
                )
        shutil.rmtree(staging / ".cache", ignore_errors=True)
        os.replace(staging, dest)
        return dest


def _sha256(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest().upper()
