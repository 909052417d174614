"""``sdhub get`` and ``sdhub sync``: references in, verified and catalogued files out.

One item, start to end (ARCHITECTURE.md "Bulk download"):

1. **resolve** the reference (:class:`Resolver`): Civitai model/version/URL/AIR,
   a bare hash (looked up by hash on Civitai), a Hugging Face file, or a
   whole diffusers repository — into a :class:`Plan` (what, from where, how
   big, its published SHA-256, where it will go, whether the library already
   has it);
2. **download** it with the engine (:class:`~.download.Downloader`: ``.part``
   with ``Range`` resume, hashed while streaming, verified, classified,
   placed in the folder of the *classified* kind); a file whose SHA-256 the
   catalog already has is skipped, so a re-run fetches nothing;
3. **record** it (:class:`~.record.Recorder`): the file row, the Civitai
   version with its trigger words, weights, previews, licence, description
   and example-image parameters (or the Hugging Face file), the link; then
   the A1111 ``<stem>.json``, Civitai Helper's ``<stem>.civitai.info`` and a
   preview image under the NSFW setting (:mod:`.sidecars`).

:meth:`Sync.run` runs many items ``jobs`` at a time and yields one
:class:`GetResult` per item as it finishes; it never raises for one item.
The browser's download queue (:mod:`.queue`) runs the same steps per item
(:meth:`Sync.process`), each item with its own cancel event and progress.
Setting its ``cancel`` event (a Ctrl-C handler) stops every download at its
next read: ``.part`` files stay for the next run, nothing half-done reaches
the catalog (each item is recorded in its own transaction, after its file
is in place).

List files (:func:`parse_list`): one REF per line, ``#`` starts a comment
(at the start of a line, or after whitespace), blank lines are ignored, and
``REF -> FOLDER`` puts that item into FOLDER (relative to the library root)
instead of the folder its kind belongs in.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from sdhub.catalog import Catalog, Library, LocalFile
from sqlmodel import select

from .civitai import CivitaiClient, CivitaiFile, CivitaiModel, CivitaiVersion
from .download import (
    DownloadCancelled,
    Downloader,
    DownloadJob,
    DownloadResult,
    DownloadStatus,
    Phase,
    Progress,
)
from .errors import AmbiguousReference, BadReference, HubError, NotFound, PlacementError
from .huggingface import (
    HfClient,
    HfRepo,
    HfSelection,
    choose_single_file,
    diffusers_subset,
    is_diffusers,
)
from .record import Origin, Recorder
from .refs import AssetName, CivitaiRef, HashRef, HfRef, LocalPath, Ref, parse_ref

#: Where whole diffusers repositories go (ComfyUI's ``models/diffusers``; A1111 has none).
DIFFUSERS_FOLDER = PurePosixPath("models/diffusers")
_DEST_ARROW = re.compile(r"\s+->\s+")
_COMMENT = re.compile(r"(^|\s)#.*$")


# --------------------------------------------------------------------------------------
# Requests and list files


@dataclass(frozen=True, slots=True)
class GetRequest:
    """One reference to fetch: from the command line, or one line of a list file."""

    text: str
    #: A folder relative to the library root (or absolute inside it) overriding placement.
    dest: Path | None = None
    #: Where it was written: ``list.txt:3``; None on the command line.
    where: str | None = None


@dataclass(frozen=True, slots=True)
class ListProblem:
    """A line of a list file that names nothing fetchable (reported; the rest goes on)."""

    where: str
    text: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


def parse_list(
    text: str, *, name: str = "list", parse: Callable[[str], Ref] = parse_ref
) -> tuple[list[GetRequest], list[ListProblem]]:
    """The requests of a list file, and the lines that are no remote reference.

    Syntax: ``REF`` or ``REF -> FOLDER`` per line; ``#`` comments; blank
    lines ignored. ``parse`` turns a REF into a typed reference (with the
    configured hosts); local files and asset names are refused here.
    """
    requests: list[GetRequest] = []
    problems: list[ListProblem] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        where = f"{name}:{number}"
        line = _COMMENT.sub("", raw).strip()
        if not line:
            continue
        ref_text, dest_text = line, None
        parts = _DEST_ARROW.split(line)
        if len(parts) == 2:
            ref_text, dest_text = parts[0].strip(), parts[1].strip()
        elif len(parts) > 2 or line.endswith("->"):
            problems.append(ListProblem(where, line, f"{line!r}: expected REF or REF -> FOLDER"))
            continue
        try:
            remote_ref(ref_text, parse)
            dest = checked_dest(dest_text) if dest_text else None
        except (BadReference, PlacementError) as exc:
            problems.append(ListProblem(where, line, str(exc)))
            continue
        requests.append(GetRequest(ref_text, dest, where))
    return requests, problems


def read_list(
    path: Path, *, parse: Callable[[str], Ref] = parse_ref
) -> tuple[list[GetRequest], list[ListProblem]]:
    """:func:`parse_list` of a file (UTF-8, a BOM allowed)."""
    return parse_list(path.read_text(encoding="utf-8-sig"), name=path.name, parse=parse)


def remote_ref(text: str, parse: Callable[[str], Ref] = parse_ref) -> Ref:
    """A reference ``get`` can fetch, or :class:`BadReference` saying why not."""
    ref = parse(text)
    if isinstance(ref, LocalPath | AssetName):
        raise BadReference(
            f"{text!r}: a local file or asset name; `get` and `sync` take civitai:, hf:, "
            "Civitai/Hugging Face URLs or a hash"
        )
    return ref


def checked_dest(text: str | os.PathLike[str]) -> Path:
    """A destination folder as given; ``..`` parts are refused (it must stay in the library)."""
    path = Path(text).expanduser()
    if ".." in path.parts:
        raise PlacementError(f"{text}: a destination folder may not contain '..'")
    return path


def ref_parser(civitai: CivitaiClient | None, hf: HfClient | None) -> Callable[[str], Ref]:
    """``parse_ref`` that also knows the configured hosts (mirrors, test servers)."""
    civitai_hosts = {_netloc(civitai.base_url)} if civitai is not None else set()
    hf_hosts = {_netloc(hf.endpoint)} if hf is not None else set()
    civitai_hosts.discard("")
    hf_hosts.discard("")

    def parse(text: str) -> Ref:
        return parse_ref(text, civitai_hosts=civitai_hosts, hf_hosts=hf_hosts)

    return parse


def _netloc(url: str) -> str:
    try:
        return urlsplit(url).netloc.lower()
    except ValueError:
        return ""


# --------------------------------------------------------------------------------------
# Plans


class Action(StrEnum):
    DOWNLOAD = "download"
    #: The library already has these bytes (by SHA-256).
    SKIP = "skip"
    #: A diffusers folder (many files), fetched with huggingface_hub.
    SNAPSHOT = "snapshot"


@dataclass(slots=True)
class Plan:
    """What one reference resolved to; enough for ``--dry-run`` and for the download."""

    request: GetRequest
    action: Action
    name: str
    size: int | None
    sha256: str | None
    #: Where the file goes (the label's folder, the destination, or "by kind").
    folder: Path | None
    have: Path | None = None
    job: DownloadJob | None = None
    selection: HfSelection | None = None
    #: Civitai: the model and the full version; Hugging Face: the repo.
    model: CivitaiModel | None = None
    version: CivitaiVersion | None = None
    repo: HfRepo | None = None

    @property
    def origin(self) -> Origin:
        """What the catalog is told the file came from."""
        files = self.selection.files if self.selection is not None else ()
        return Origin(version=self.version, model=self.model, hf_files=files, hf_repo=self.repo)

    @property
    def source(self) -> dict[str, Any]:
        civitai = self.origin.civitai_json()
        if civitai is not None:
            return {**civitai, "type": self.version.model_type if self.version else None}
        if self.selection is not None:
            single = not self.selection.snapshot and len(self.selection.files) == 1
            return {
                "site": "hf",
                "repo": self.selection.repo,
                "revision": self.selection.revision,
                "path": self.selection.files[0].path if single else None,
            }
        return {}

    def to_json(self) -> dict[str, Any]:
        return {
            "ref": self.request.text,
            "where": self.request.where,
            "action": self.action.value,
            "name": self.name,
            "size": self.size,
            "sha256": self.sha256,
            "folder": None if self.folder is None else str(self.folder),
            "have": None if self.have is None else str(self.have),
            "source": self.source,
        }


class Resolver:
    """References → plans: the metadata requests, no download."""

    def __init__(
        self,
        library: Library,
        *,
        civitai: CivitaiClient | None,
        hf: HfClient | None,
        have: Callable[[str], Path | None] | None = None,
        downloader: Downloader | None = None,
    ) -> None:
        self.library = library
        self.civitai = civitai
        self.hf = hf
        self.have = have or (lambda _sha: None)
        self.parse = ref_parser(civitai, hf)
        self._downloader = downloader or Downloader(library.root, library.layout)

    def plan(self, request: GetRequest) -> Plan:
        """Resolve one request; raises :class:`HubError` (naming the reference) when it cannot."""
        try:
            ref = remote_ref(request.text, self.parse)
            if isinstance(ref, CivitaiRef):
                return self._civitai(request, ref)
            if isinstance(ref, HashRef):
                return self._hash(request, ref)
            if isinstance(ref, HfRef):
                return self._hf(request, ref)
            raise BadReference(f"{request.text!r}: not a remote reference")
        except AmbiguousReference as exc:
            listed = ", ".join(exc.candidates[:20])
            more = f" (+{len(exc.candidates) - 20} more)" if len(exc.candidates) > 20 else ""
            raise AmbiguousReference(
                f"{_named(request.text, exc.message)}: {listed}{more}",
                candidates=exc.candidates,
                hint=exc.hint,
            ) from None
        except HubError as exc:
            if request.text not in str(exc):
                exc.message = f"{request.text}: {exc.message}"
            raise

    # --- Civitai ---

    def _client(self) -> CivitaiClient:
        if self.civitai is None:
            raise HubError("no Civitai client configured")
        return self.civitai

    def _civitai(self, request: GetRequest, ref: CivitaiRef) -> Plan:
        target = self._client().resolve(ref)
        return self._civitai_plan(request, target.model, target.version, target.file)

    def _hash(self, request: GetRequest, ref: HashRef) -> Plan:
        client = self._client()
        version = client.version_by_hash(ref.value)
        if version is None:
            raise NotFound(f"{request.text}: no file on Civitai has this {ref.kind.value} hash")
        file = next(
            (f for f in version.files if f.hashes.get(ref.kind.value) == ref.value),
            version.primary_file(),
        )
        if file is None:
            raise NotFound(f"{request.text}: the version has no files (archived?)")
        model = None
        if version.model_id is not None:
            with contextlib.suppress(HubError):  # the version alone still has words and files
                model = client.model(version.model_id)
        return self._civitai_plan(request, model, version, file)

    def _civitai_plan(
        self,
        request: GetRequest,
        model: CivitaiModel | None,
        version: CivitaiVersion,
        file: CivitaiFile,
    ) -> Plan:
        job = self._client().download_job(version, file, dest=request.dest, key=request.text)
        return self._download_plan(
            request, job, name=job.filename or file.name, model=model, version=version
        )

    # --- Hugging Face ---

    def _hf_client(self) -> HfClient:
        if self.hf is None:
            raise HubError("no Hugging Face client configured")
        return self.hf

    def _hf(self, request: GetRequest, ref: HfRef) -> Plan:
        hf = self._hf_client()
        repo = hf.repo(ref.repo, ref.revision)
        if ref.path is None:
            selection = self._whole_repo(hf, ref, repo)
        else:
            selection = hf.select(ref.repo, ref.path, repo.sha or ref.revision)
        if not selection.snapshot:
            file = selection.file
            job = hf.download_job(file, dest=request.dest, key=request.text)
            return self._download_plan(request, job, name=file.name, selection=selection, repo=repo)
        folder_name = PurePosixPath(ref.path).name if ref.path else ref.repo.split("/")[-1]
        base = request.dest if request.dest is not None else Path(DIFFUSERS_FOLDER)
        folder = self._inside(base) / folder_name
        return Plan(
            request=request,
            action=Action.SKIP if folder.exists() else Action.SNAPSHOT,
            name=folder_name,
            size=sum(f.size or 0 for f in selection.files),
            sha256=None,
            folder=folder,
            have=folder if folder.exists() else None,
            selection=selection,
            repo=repo,
        )

    def _download_plan(
        self,
        request: GetRequest,
        job: DownloadJob,
        *,
        name: str,
        model: CivitaiModel | None = None,
        version: CivitaiVersion | None = None,
        selection: HfSelection | None = None,
        repo: HfRepo | None = None,
    ) -> Plan:
        """A one-file plan: skipped when the catalog has its published SHA-256."""
        sha256 = job.expected.sha256
        have = self.have(sha256) if sha256 else None
        return Plan(
            request=request,
            action=Action.SKIP if have else Action.DOWNLOAD,
            name=name,
            size=job.expected.size,
            sha256=sha256,
            folder=self._folder(job),
            have=have,
            job=job,
            selection=selection,
            model=model,
            version=version,
            repo=repo,
        )

    @staticmethod
    def _whole_repo(hf: HfClient, ref: HfRef, repo: HfRepo) -> HfSelection:
        """``hf:owner/repo``: the diffusers pipeline if it is one, else its one weight file."""
        commit = repo.sha or ref.revision or "main"
        files = hf.list_files(ref.repo, commit)
        if is_diffusers(files):
            subset = diffusers_subset(files)
            if subset:
                return HfSelection(ref.repo, commit, tuple(subset), snapshot=True)
        file = choose_single_file(files, str(ref))
        return HfSelection(ref.repo, commit, (file,), snapshot=False)

    # --- helpers ---

    def _folder(self, job: DownloadJob) -> Path | None:
        """Where the label (or the destination) says the file goes; None: decided by its bytes."""
        folder = self._downloader.staging_folder(job)
        return None if folder.name == ".sdhub-partial" else folder

    def _inside(self, folder: Path) -> Path:
        return self._downloader.inside(folder)


def _named(text: str, message: str) -> str:
    return message if text in message else f"{text}: {message}"


# --------------------------------------------------------------------------------------
# Results


class GetStatus(StrEnum):
    PLANNED = "planned"  # --dry-run
    DOWNLOADED = "downloaded"
    SKIPPED = "skipped"  # the library already had the bytes
    EXISTS = "exists"  # the same bytes already sat at the target
    FAILED = "failed"
    CANCELLED = "cancelled"  # Ctrl-C: the .part is kept for a resume


@dataclass(slots=True)
class GetResult:
    """What became of one request (one JSON Lines record of ``get``/``sync --json``)."""

    request: GetRequest
    status: GetStatus
    plan: Plan | None = None
    download: DownloadResult | None = None
    path: Path | None = None
    file_id: int | None = None
    sidecars: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status not in (GetStatus.FAILED, GetStatus.CANCELLED)

    @property
    def ref(self) -> str:
        return self.request.text

    def to_json(self) -> dict[str, Any]:
        report = self.download.report if self.download else None
        hashes = self.download.hashes if self.download else None
        data: dict[str, Any] = {
            "ref": self.ref,
            "where": self.request.where,
            "status": self.status.value,
            "path": None if self.path is None else str(self.path),
            "kind": report.kind.value if report else None,
            "base": report.base.value if report else None,
            "size": report.size if report else (self.plan.size if self.plan else None),
            "hashes": hashes.to_json() if hashes else None,
            "source": self.plan.source if self.plan else None,
            "sidecars": [str(p) for p in self.sidecars],
            "warnings": list(self.warnings),
            "error": self.error,
        }
        if self.download is not None:
            data["bytes_fetched"] = self.download.bytes_fetched
            data["resumed_from"] = self.download.resumed_from
            data["seconds"] = round(self.download.seconds, 3)
        if self.status is GetStatus.PLANNED and self.plan is not None:
            data["plan"] = self.plan.to_json()
        return data


# --------------------------------------------------------------------------------------
# The job


class Sync:
    """Fetch, verify, place and catalogue references, ``jobs`` at a time.

    The one per-item pipeline behind ``sdhub get``/``sync`` (:meth:`run`,
    with one progress display) and the browser's download queue
    (:class:`~.queue.DownloadQueue`, which calls :meth:`process`, or
    :meth:`execute` to retry a resolved item, with the item's own cancel
    event and progress callback). ``on_progress`` gets the engine's
    :class:`~.download.Progress` reports (from worker threads). ``previews``:
    save a preview image next to each Civitai download (only PG/PG-13 ones
    unless ``nsfw``).
    """

    def __init__(
        self,
        catalog: Catalog,
        library: Library,
        *,
        civitai: CivitaiClient | None = None,
        hf: HfClient | None = None,
        jobs: int = 3,
        nsfw: bool = False,
        previews: bool = True,
        on_progress: Callable[[Progress], None] | None = None,
        cancel: threading.Event | None = None,
        downloader_options: dict[str, Any] | None = None,
    ) -> None:
        self.catalog = catalog
        self.library = library
        self.jobs = max(1, jobs)
        self.on_progress = on_progress
        self.cancel = cancel or threading.Event()
        self.downloader = Downloader(
            library.root,
            library.layout,
            jobs=self.jobs,
            have=self.have,
            on_progress=on_progress,
            cancel=self.cancel,
            **(downloader_options or {}),
        )
        self.recorder = Recorder(catalog, library, previews=previews, nsfw=nsfw)
        self.use_clients(civitai, hf)

    def use_clients(self, civitai: CivitaiClient | None, hf: HfClient | None) -> None:
        """Resolve and record with these clients from now on (new settings: host, token)."""
        self.civitai = self.recorder.civitai = civitai
        self.hf = self.recorder.hf = hf
        self.resolver = Resolver(
            self.library, civitai=civitai, hf=hf, have=self.have, downloader=self.downloader
        )

    def close(self) -> None:
        """Close the download engine's connections."""
        self.downloader.session.close()

    def __enter__(self) -> Sync:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the catalog's side ---

    def have(self, sha256: str) -> Path | None:
        """A present file of the catalog with this SHA-256 (what makes a re-run a no-op)."""
        with self.catalog.session() as session:
            paths = session.exec(
                select(LocalFile.path).where(
                    LocalFile.sha256 == sha256.upper(),
                    LocalFile.missing == False,  # noqa: E712
                )
            ).all()
        for path in paths:
            if os.path.isfile(path):
                return Path(path)
        return None

    # --- running ---

    def run(self, requests: Iterable[GetRequest], *, dry_run: bool = False) -> Iterator[GetResult]:
        """One result per request, as each finishes. Never raises for one item."""
        queue = iter(list(requests))
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="sdhub-get") as pool:
            running: dict[Future[GetResult], GetRequest] = {}

            def submit() -> bool:
                if self.cancel.is_set():
                    return False
                request = next(queue, None)
                if request is None:
                    return False
                running[pool.submit(self.process, request, dry_run=dry_run)] = request
                return True

            while len(running) < self.jobs and submit():
                pass
            while running:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    request = running.pop(future)
                    try:
                        yield future.result()
                    except Exception as exc:  # process() catches everything; belt and braces
                        yield _failed(request, None, f"{request.text}: unexpected failure: {exc}")
                    submit()
        for request in queue:  # never started: Ctrl-C came first
            yield GetResult(request, GetStatus.CANCELLED, error=f"{request.text}: not started")

    def process(
        self,
        request: GetRequest,
        *,
        dry_run: bool = False,
        cancel: threading.Event | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> GetResult:
        """Resolve, download and record one request. Never raises.

        ``cancel`` and ``on_progress`` replace the job's own for this item only.
        """
        try:
            plan = self.resolver.plan(request)
        except HubError as exc:
            return _failed(request, None, _named(request.text, str(exc)))
        except Exception as exc:
            return _failed(request, None, f"{request.text}: unexpected failure: {exc!r}")
        if dry_run:
            return GetResult(request, GetStatus.PLANNED, plan=plan, path=plan.have)
        return self.execute(plan, cancel=cancel, on_progress=on_progress)

    def execute(
        self,
        plan: Plan,
        *,
        cancel: threading.Event | None = None,
        on_progress: Callable[[Progress], None] | None = None,
    ) -> GetResult:
        """Download, verify, place and record a resolved plan. Never raises."""
        request = plan.request
        progress = on_progress or self.on_progress
        try:
            if plan.action is Action.SNAPSHOT or (plan.selection and plan.selection.snapshot):
                return self._snapshot(plan, progress)
            assert plan.job is not None
            result = self._downloader(cancel, on_progress).fetch(plan.job)
        except DownloadCancelled:
            return GetResult(
                request,
                GetStatus.CANCELLED,
                plan=plan,
                error=f"{request.text}: interrupted; the partial file is kept for a resume",
            )
        except HubError as exc:
            return _failed(request, plan, _named(request.text, str(exc)))
        except Exception as exc:
            return _failed(request, plan, f"{request.text}: unexpected failure: {exc!r}")
        try:
            return self._record(plan, result)
        except Exception as exc:  # the file is in place; say where, so nothing is lost
            where = f" to {result.path}" if result.path else ""
            return _failed(
                request, plan, f"{request.text}: downloaded{where}, not catalogued: {exc}"
            )

    def _downloader(
        self, cancel: threading.Event | None, on_progress: Callable[[Progress], None] | None
    ) -> Downloader:
        if cancel is None and on_progress is None:
            return self.downloader
        return self.downloader.derive(
            cancel=cancel or self.cancel, on_progress=on_progress or self.on_progress
        )

    # --- recording ---

    def _record(self, plan: Plan, result: DownloadResult) -> GetResult:
        status = {
            DownloadStatus.DOWNLOADED: GetStatus.DOWNLOADED,
            DownloadStatus.EXISTS: GetStatus.EXISTS,
            DownloadStatus.SKIPPED: GetStatus.SKIPPED,
        }[result.status]
        out = GetResult(
            plan.request,
            status,
            plan=plan,
            download=result,
            path=result.path,
            warnings=list(result.warnings),
        )
        out.file_id = self.recorder.download(plan.origin, result)
        if out.file_id is not None and result.path is not None:
            out.sidecars = self.recorder.sidecars(out.file_id, result.path, plan.version)
        return out

    # --- whole repositories ---

    def _snapshot(self, plan: Plan, on_progress: Callable[[Progress], None] | None) -> GetResult:
        assert plan.selection is not None and plan.folder is not None and self.hf is not None
        request = plan.request
        if plan.folder.exists():
            self._record_remote(plan)
            return GetResult(request, GetStatus.SKIPPED, plan=plan, path=plan.folder)

        def emit(phase: Phase, done: int = 0, message: str | None = None) -> None:
            if on_progress is not None:
                with contextlib.suppress(Exception):  # a broken display must not fail it
                    on_progress(
                        Progress(request.text, plan.name, phase, done, plan.size, message=message)
                    )

        emit(Phase.STARTING)
        with contextlib.suppress(Exception):
            from huggingface_hub.utils import disable_progress_bars

            disable_progress_bars()  # ours is the one progress display
        try:
            folder = self.hf.snapshot(plan.selection, plan.folder)
        except HubError as exc:
            emit(Phase.FAILED, message=str(exc))
            return _failed(request, plan, _named(request.text, str(exc)))
        emit(Phase.DONE, done=plan.size or 0)
        self._record_remote(plan)
        return GetResult(request, GetStatus.DOWNLOADED, plan=plan, path=folder)

    def _record_remote(self, plan: Plan) -> None:
        with self.catalog.transaction() as session:
            self.recorder.remote(session, plan.origin)


def _failed(request: GetRequest, plan: Plan | None, message: str) -> GetResult:
    return GetResult(request, GetStatus.FAILED, plan=plan, error=message)
