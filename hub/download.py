"""The download engine: resumable, hashed while streaming, verified, classified, placed.

One download, start to end (ARCHITECTURE.md "Bulk download"):

1. Skip it when the caller already has the published SHA256 (``have``).
2. Stream into ``<name>.part`` in the staging folder (the folder of the kind
   the remote label promises, or the caller's destination), resuming an
   existing ``.part`` with ``Range``. Every attempt starts again from the
   source URL, so a Civitai download asks ``/api/download/...`` for a fresh
   signed URL before each resume (signed URLs expire; a storage host's
   refusal of one — 400/401/403/404 after the redirect — is retried, never read
   as the service's verdict). A 416 to the resume means the ``.part`` is
   already whole (verified as it is) or longer than the file (started again).
   A body compressed against ``Accept-Encoding: identity`` is stored decoded.
   Bytes go from the socket straight into
   :class:`~sdhub.models.hashing.MultiHasher`'s ring buffers, whose worker
   threads hash while the next bytes arrive; the same buffer is then written
   to the ``.part``.
3. Refuse, and delete the ``.part``: an HTML/JSON body instead of a model, a
   size or SHA256 different from the published one, bytes that are no valid
   model file, a pickle the scanner calls dangerous, or a kind that
   contradicts the remote label (see :func:`check_kind`).
4. ``os.replace`` into the folder the *classified* kind belongs in.

Transient faults (connection drops, timeouts, 429, 5xx, challenge pages,
expired signed URLs) are retried with backoff; a try that made progress
resets the count. When the tries run out the ``.part`` is kept, so the next
run resumes; after any permanent failure it is deleted.

The engine never prints: it reports through ``on_progress`` callbacks
(called from worker threads) and returns :class:`DownloadResult` objects.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import hashlib
import http.client
import json
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO, Protocol
from urllib.parse import unquote, urlsplit

import requests
import urllib3
from sdhub.models.kinds import Base, Component, FileFormat, Kind, Verdict
from sdhub.models.layouts import Layout, folder_for
from sdhub.models.report import FileReport, Hashes
from sdhub.models.sniff import sniff_bytes

from .errors import (
    HashMismatch,
    HubError,
    KindMismatch,
    LoginRequired,
    NotAModelFile,
    PlacementError,
    TransientError,
    UnsafeFile,
)
from .filenames import numbered, parse_content_disposition, sanitize_filename
from .http import (
    DEFAULT_TIMEOUT,
    RetryPolicy,
    Site,
    error_from_response,
    make_session,
    network_error,
    redact_url,
    should_retry,
)

try:  # fcntl is POSIX-only; on Windows the in-process lock alone guards a .part
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

#: Bytes per socket read / ring buffer. Big enough that per-chunk Python overhead vanishes.
CHUNK_SIZE = 4 << 20
#: Where ``.part`` files wait when neither a destination nor the remote kind names a folder.
STAGING_DIR = ".sdhub-partial"
PART_SUFFIX = ".part"
#: A published size may be rounded (Civitai's ``sizeKB`` is a float): this much is the same size.
SIZE_TOLERANCE = 1024

MAIN_KINDS = frozenset({Kind.CHECKPOINT, Kind.LORA, Kind.EMBEDDING, Kind.HYPERNETWORK, Kind.VAE})
#: Content types of error pages; anything else (also text/plain) is judged by its first bytes.
_ERROR_TYPES = ("text/html", "json", "xml")
#: At most this much of an error body is read for the message.
_ERROR_PEEK = 64 * 1024

_NETWORK_ERRORS: tuple[type[BaseException], ...] = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    ConnectionError,
    TimeoutError,
)


class Hasher(Protocol):
    """What the engine needs of :class:`~sdhub.models.hashing.MultiHasher`."""

    def feed_from(self, readinto: Callable[[memoryview], int | None]) -> memoryview: ...
    def hexdigests(self) -> Hashes: ...
    def close(self) -> None: ...


def _default_hasher() -> Hasher:
    from sdhub.models.hashing import MultiHasher

    return MultiHasher(chunk_size=CHUNK_SIZE)


def _default_inspect(path: Path) -> FileReport:
    from sdhub.models.inspect import inspect_file

    return inspect_file(path, hashes=False)


# --- what callers hand in and get back -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DownloadSource:
    """Where the bytes come from. ``url`` is requested afresh for every attempt."""

    url: str
    site: Site = Site.URL
    #: Sent to the source host only (requests drops it on a redirect to another host).
    auth: requests.auth.AuthBase | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)


@dataclass(frozen=True, slots=True)
class Expected:
    """What the remote side promises about the file; every field optional."""

    sha256: str | None = None
    size: int | None = None
    kind: Kind | None = None
    component: Component | None = None
    base: Base | None = None
    #: How the label reads in messages, e.g. "Civitai type LORA".
    label: str | None = None


@dataclass(slots=True)
class DownloadJob:
    """One file to fetch and place."""

    source: DownloadSource
    #: The name to give the file (sanitised); None: from Content-Disposition or the URL.
    filename: str | None = None
    expected: Expected = field(default_factory=Expected)
    #: A folder (relative to the library root, or absolute inside it) that overrides placement.
    dest: Path | None = None
    #: How progress and results name this job (the reference, usually).
    key: str = ""
    #: Anything the caller wants back in the result (model/version objects, a ref).
    payload: Any = None

    def __post_init__(self) -> None:
        if not self.key:
            self.key = self.filename or redact_url(self.source.url)


class DownloadStatus(StrEnum):
    DOWNLOADED = "downloaded"
    #: The caller (catalog) already has a file with this SHA256; nothing fetched.
    SKIPPED = "skipped"
    #: The same bytes already sat at the destination.
    EXISTS = "exists"
    FAILED = "failed"
    #: Stopped by the caller (Ctrl-C); the ``.part`` stays for the next run to resume.
    CANCELLED = "cancelled"


@dataclass(slots=True)
class DownloadResult:
    job: DownloadJob
    status: DownloadStatus
    path: Path | None = None
    hashes: Hashes | None = None
    report: FileReport | None = None
    warnings: list[str] = field(default_factory=list)
    error: HubError | None = None
    #: Bytes that came over the network in this run (a resume fetches less than the size).
    bytes_fetched: int = 0
    resumed_from: int = 0
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status not in (DownloadStatus.FAILED, DownloadStatus.CANCELLED)

    def to_json(self) -> dict[str, Any]:
        """One JSON Lines record for ``sdhub get/sync --json`` (CLI.md field names)."""
        report = self.report
        return {
            "ref": self.job.key,
            "status": self.status.value,
            "path": None if self.path is None else str(self.path),
            "kind": None if report is None else report.kind.value,
            "base": None if report is None else report.base.value,
            "size": None if report is None else report.size,
            "hashes": None if self.hashes is None else self.hashes.to_json(),
            "warnings": list(self.warnings),
            "error": None if self.error is None else str(self.error),
            "bytes_fetched": self.bytes_fetched,
            "resumed_from": self.resumed_from,
            "seconds": round(self.seconds, 3),
        }


class Phase(StrEnum):
    STARTING = "starting"
    DOWNLOADING = "downloading"
    RETRYING = "retrying"
    VERIFYING = "verifying"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress report: enough for a rich bar per file (bytes, total, rate)."""

    key: str
    filename: str | None
    phase: Phase
    done: int = 0
    total: int | None = None
    #: Bytes per second over the current attempt.
    rate: float = 0.0
    message: str | None = None


ProgressCallback = Callable[[Progress], None]
HaveCallback = Callable[[str], Path | None]


class DownloadCancelled(Exception):
    """The caller's cancel event was set. Not a :class:`HubError`: nothing failed, and the
    ``.part`` is kept so the next run resumes it with ``Range``."""


# --- the kind rules --------------------------------------------------------------------------


def check_kind(expected: Expected, report: FileReport) -> list[str]:
    """Compare the classified bytes with the remote label; warnings, or raise.

    Fatal (:class:`KindMismatch`): the label and the bytes are two different
    *main* kinds (checkpoint, lora, embedding, hypernetwork, vae) — a "LoRA"
    that is a checkpoint is mislabelled or a wrong upload, and placing it
    would break the WebUI's list. Warnings only: the bytes are ``other``
    (a UNet-only "checkpoint", a component the classifier cannot name), the
    label is ``other``/unknown, or the base family differs (Civitai base
    labels are often wrong; the bytes decide).
    """
    warnings: list[str] = []
    label = expected.label or (expected.kind.value if expected.kind else "the label")
    got, want = report.kind, expected.kind
    if want is not None and got is not Kind.INVALID:
        if want in MAIN_KINDS and got in MAIN_KINDS and got is not want:
            raise KindMismatch(
                f"{label} says {want.value}, but the file is a {got.value}",
                hint="not placed; the upload is probably wrong — tell the creator",
            )
        component = report.classification.component
        vague_label = want is Kind.OTHER and expected.component in (None, Component.UNKNOWN)
        same = got is want and (got is not Kind.OTHER or component == expected.component)
        if not same and not vague_label:
            what = f"{got.value}/{component.value}" if component else got.value
            warnings.append(f"{label} says {want.value}, the file looks like {what}")
    if (
        expected.base not in (None, Base.UNKNOWN)
        and report.base is not Base.UNKNOWN
        and report.base is not expected.base
    ):
        warnings.append(
            f"{label} says base {expected.base.value}, the file's shapes say {report.base.value}"
        )
    return warnings


# --- the engine --------------------------------------------------------------------------


@dataclass(slots=True)
class _State:
    """One download in flight: the ``.part``, its hasher and counters."""

    part: Path
    fh: BinaryIO
    hasher: Hasher
    done: int = 0
    fetched: int = 0
    resumed_from: int = 0
    name: str = ""


class Downloader:
    """Downloads jobs into a WebUI library (one root, one layout), ``jobs`` at a time.

    ``have(sha256)`` returns the path of a file the caller already has with
    that hash (the catalog), or None; ``on_progress`` is called from worker
    threads and must be thread-safe. ``inspect`` and ``hasher`` default to
    :func:`sdhub.models.inspect.inspect_file` and
    :class:`~sdhub.models.hashing.MultiHasher`.
    """

    def __init__(
        self,
        root: Path,
        layout: Layout = Layout.A1111,
        *,
        session: requests.Session | None = None,
        jobs: int = 3,
        retry: RetryPolicy | None = None,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
        have: HaveCallback | None = None,
        on_progress: ProgressCallback | None = None,
        inspect: Callable[[Path], FileReport] | None = None,
        hasher: Callable[[], Hasher] | None = None,
        fsync: bool = False,
        flush_interval: float = 0.25,
        sleep: Callable[[float], None] = time.sleep,
        cancel: threading.Event | None = None,
    ) -> None:
        self.root = Path(os.path.abspath(root))
        self.layout = layout
        self.jobs = max(1, jobs)
        self.session = session or make_session(pool=self.jobs + 2)
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.have = have
        self.on_progress = on_progress
        self._inspect = inspect or _default_inspect
        self._new_hasher = hasher or _default_hasher
        #: fsync the ``.part`` before the rename: survives power loss, costs a disk flush.
        self.fsync = fsync
        #: Longest wait before received bytes reach the ``.part`` and the progress callback.
        self.flush_interval = flush_interval
        self._sleep = sleep
        #: Set from any thread (a Ctrl-C handler): every download stops at its next read
        #: (within ``flush_interval``), keeps its ``.part`` and raises DownloadCancelled.
        self.cancel = cancel
        self._locks: dict[Path, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._fetched_sha: dict[str, Path] = {}

    # --- public ---

    def derive(
        self,
        *,
        cancel: threading.Event | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Downloader:
        """The same engine (connections, ``.part`` locks, settings) with its own cancel
        event and progress callback: one download among many that is stopped and
        watched on its own (an item of the browser's download queue)."""
        twin = copy.copy(self)
        twin.cancel = cancel
        twin.on_progress = on_progress
        return twin

    def run(self, jobs: Iterable[DownloadJob]) -> Iterator[DownloadResult]:
        """Every job, ``self.jobs`` at a time; results as they finish. Never raises per item."""
        pending = list(jobs)
        if not pending:
            return
        with ThreadPoolExecutor(max_workers=self.jobs, thread_name_prefix="sdhub-dl") as pool:
            running: set[Future[DownloadResult]] = set()
            queue = iter(pending)
            for job in queue:
                running.add(pool.submit(self._fetch_quietly, job))
                if len(running) >= self.jobs:
                    break
            while running:
                finished, running = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        running.add(pool.submit(self._fetch_quietly, nxt))

    def fetch(self, job: DownloadJob) -> DownloadResult:
        """One job; raises :class:`HubError` when it fails, :class:`DownloadCancelled` when
        the cancel event is set."""
        self._check_cancel()
        started = time.monotonic()
        skipped = self._already_have(job.expected.sha256)
        if skipped is not None:
            self._emit(job, Phase.SKIPPED, message=f"already have {skipped}")
            return DownloadResult(job, DownloadStatus.SKIPPED, path=skipped, seconds=0.0)
        self._emit(job, Phase.STARTING)
        try:
            result = self._fetch(job)
        except HubError as exc:
            self._emit(job, Phase.FAILED, message=str(exc))
            raise
        result.seconds = time.monotonic() - started
        self._emit(job, Phase.DONE if result.ok else Phase.FAILED, done=result.bytes_fetched)
        return result

    def inside(self, path: Path) -> Path:
        """``path`` (relative to the root, or absolute) made absolute; PlacementError when it
        would leave the library root. Lexical: symlinked WebUI folders are allowed."""
        return self._inside(self.root / path)

    def staging_folder(self, job: DownloadJob) -> Path:
        """Where the job's ``.part`` lives: the destination, the label's folder, or staging."""
        if job.dest is not None:
            return self._inside(self.root / job.dest)
        if job.expected.kind is not None:
            folder = folder_for(self.layout, job.expected.kind, job.expected.component)
            if folder is not None:
                return self._inside(self.root / folder)
        return self._inside(self.root / STAGING_DIR)

    # --- the steps ---

    def _fetch_quietly(self, job: DownloadJob) -> DownloadResult:
        try:
            return self.fetch(job)
        except DownloadCancelled:
            error = HubError(f"{job.key}: interrupted; the partial file is kept for a resume")
            return DownloadResult(job, DownloadStatus.CANCELLED, error=error)
        except HubError as exc:
            return DownloadResult(job, DownloadStatus.FAILED, error=exc)
        except Exception as exc:  # a bug must not take the whole batch down
            error = HubError(f"{job.key}: unexpected failure: {type(exc).__name__}: {exc}")
            return DownloadResult(job, DownloadStatus.FAILED, error=error)

    def _already_have(self, sha256: str | None) -> Path | None:
        if not sha256:
            return None
        sha = sha256.upper()
        if sha in self._fetched_sha and self._fetched_sha[sha].exists():
            return self._fetched_sha[sha]
        return self.have(sha) if self.have is not None else None

    def _fetch(self, job: DownloadJob) -> DownloadResult:
        folder = self.staging_folder(job)
        first: requests.Response | None = None
        if job.filename:
            name = sanitize_filename(job.filename)
        else:
            # The name comes with the answer: open it now and keep it for the first read.
            first = self._open_with_retries(job)
            name = self._name_from_response(job, first)
        try:
            part = self._inside(folder / (name + PART_SUFFIX))
            with self._lock_for(part):
                # Another job of this batch may just have fetched the same bytes.
                done = self._already_have(job.expected.sha256)
                if done is not None:
                    return DownloadResult(job, DownloadStatus.SKIPPED, path=done)
                folder.mkdir(parents=True, exist_ok=True)
                with self._open_part(part) as fh:
                    state = _State(part=part, fh=fh, hasher=self._new_hasher(), name=name)
                    try:
                        self._load_part(state)
                        if first is not None and state.done > 0:
                            first.close()  # a .part exists: ask again, with Range
                            first = None
                        return self._complete(job, state, first)
                    finally:
                        state.hasher.close()
        finally:
            if first is not None:
                first.close()

    def _open_with_retries(self, job: DownloadJob) -> requests.Response:
        failures = 0
        while True:
            try:
                return self._open(job, 0)
            except HubError as exc:
                failures += 1
                if not exc.transient or failures >= self.retry.attempts:
                    raise
                self._emit(job, Phase.RETRYING, message=str(exc))
                self._pause(self.retry.delay(failures - 1, exc.retry_after))

    def _open_part(self, part: Path) -> contextlib.AbstractContextManager[BinaryIO]:
        fh = open(part, "a+b", buffering=0)  # noqa: SIM115 - closed by the context manager
        if fcntl is not None:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                fh.close()
                raise PlacementError(
                    f"{part.name}: being downloaded by another sdhub process",
                    hint="wait for it to finish",
                ) from None
        return contextlib.closing(fh)  # type: ignore[return-value]

    def _complete(
        self, job: DownloadJob, state: _State, first: requests.Response | None
    ) -> DownloadResult:
        clean_retry = True
        try:
            while True:
                self._stream_with_retries(job, state, first)
                first = None
                hashes = state.hasher.hexdigests()
                try:
                    self._verify(job, state, hashes)
                except HashMismatch:
                    if state.resumed_from and clean_retry:
                        # The old .part may belong to an earlier upload: once more from zero.
                        clean_retry = False
                        self._restart(state)
                        continue
                    raise
                break
            duplicate = self._already_have(hashes.sha256)
            if duplicate is not None:
                self._discard(state)
                return DownloadResult(
                    job,
                    DownloadStatus.SKIPPED,
                    path=duplicate,
                    hashes=hashes,
                    bytes_fetched=state.fetched,
                    resumed_from=state.resumed_from,
                )
            self._emit(job, Phase.VERIFYING, done=state.done, total=state.done)
            report = self._inspect(state.part)
            warnings = self._judge(job, report)
            return self._place(job, state, hashes, report, warnings)
        except HubError as exc:
            if not exc.transient:
                self._discard(state)
            raise

    def _load_part(self, state: _State) -> None:
        """Feed an existing ``.part`` to the hasher: the resume point."""
        state.fh.seek(0)
        readinto = state.fh.readinto
        while state.hasher.feed_from(readinto):
            pass
        state.done = state.resumed_from = state.fh.tell()

    def _restart(self, state: _State) -> None:
        state.hasher.close()
        state.hasher = self._new_hasher()
        state.fh.seek(0)
        state.fh.truncate(0)
        state.done = 0
        state.resumed_from = 0

    def _stream_with_retries(
        self, job: DownloadJob, state: _State, first: requests.Response | None
    ) -> None:
        """Stream until complete; a try that made progress does not count against the limit.

        Tries without progress are bounded by ``retry.attempts``; all tries
        together by ten times that, so a server that drops every few bytes
        cannot keep us busy forever.
        """
        failures = 0
        tries = 0
        while True:
            before = state.done
            tries += 1
            try:
                self._stream(job, state, first)
                return
            except HubError as exc:
                if not exc.transient:
                    raise
                failures = 0 if state.done > before else failures + 1
                if failures >= self.retry.attempts or tries >= 10 * max(self.retry.attempts, 1):
                    raise
                self._emit(
                    job, Phase.RETRYING, done=state.done, total=job.expected.size, message=str(exc)
                )
                self._pause(self.retry.delay(max(failures - 1, 0), exc.retry_after))
            finally:
                first = None

    def _open(self, job: DownloadJob, offset: int) -> requests.Response:
        """GET the source (following redirects), with ``Range`` from ``offset``."""
        headers = {"Accept-Encoding": "identity", "Accept": "*/*", **job.source.headers}
        if offset:
            headers["Range"] = f"bytes={offset}-"
        url = job.source.url
        try:
            response = self.session.get(
                url,
                headers=headers,
                auth=job.source.auth,
                stream=True,
                timeout=self.timeout,
                allow_redirects=True,
            )
        except _NETWORK_ERRORS as exc:
            raise network_error(exc, f"download {job.key}", url) from None
        if response.status_code == 416 and offset:
            # The .part reaches (or passes) the end of the file: every CDN says so with 416.
            total = _range_total(response.headers.get("Content-Range"))
            response.close()
            raise _RangeNotSatisfiable(total)
        if not response.ok:
            try:
                error = error_from_response(response, f"download {job.key}", job.source.site)
                retry = should_retry(response)
            finally:
                response.close()
            if retry and not error.transient:
                error = TransientError(
                    str(error.message), status=error.status, url=error.url, hint=error.hint
                )
            raise error
        if "reason=download-auth" in response.url or urlsplit(response.url).path == "/login":
            response.close()
            hint = "set CIVITAI_TOKEN" if job.source.site is Site.CIVITAI else None
            raise LoginRequired(f"download {job.key}: login required", hint=hint)
        return response

    def _name_from_response(self, job: DownloadJob, response: requests.Response) -> str:
        disposition = parse_content_disposition(response.headers.get("Content-Disposition"))
        if disposition:
            return sanitize_filename(disposition)
        path = urlsplit(response.url).path or urlsplit(job.source.url).path
        return sanitize_filename(unquote(PurePosixPath(path).name))

    def _stream(self, job: DownloadJob, state: _State, first: requests.Response | None) -> None:
        try:
            response = first if first is not None else self._open(job, state.done)
        except _RangeNotSatisfiable as exc:
            total = exc.total if exc.total is not None else job.expected.size
            if total == state.done:
                return  # a complete .part (killed before the rename): verification decides
            self._restart(state)
            raise TransientError(
                f"download {job.key}: the partial file is longer than the file; starting again",
                url=redact_url(job.source.url),
            ) from None
        with response:
            self._accept_range(job, state, response)
            self._refuse_error_body(job, response)
            encoded = _content_encoded(response)
            if encoded:
                # Sent compressed although we asked for identity: store the decoded bytes.
                # Content-Length then counts compressed bytes, so it says nothing here.
                response.raw.decode_content = True
            length = None if encoded else response.headers.get("Content-Length")
            remaining = int(length) if length and length.isdigit() else None
            total = state.done + remaining if remaining is not None else job.expected.size
            readinto = self._readinto(response, remaining)
            started = time.monotonic()
            start_done = state.done
            last_emit = 0.0
            try:
                while True:
                    self._check_cancel()
                    view = state.hasher.feed_from(readinto)
                    n = len(view)
                    if not n:
                        break
                    if state.done == 0:
                        self._refuse_text_bytes(job, bytes(view[:512]), total)
                    self._write(state.fh, view)
                    state.done += n
                    state.fetched += n
                    now = time.monotonic()
                    if now - last_emit >= 0.1:
                        last_emit = now
                        rate = (state.done - start_done) / max(now - started, 1e-6)
                        self._emit(job, Phase.DOWNLOADING, state.done, total, rate, name=state.name)
            except (*_NETWORK_ERRORS, OSError) as exc:
                if isinstance(exc, OSError) and not _is_network_oserror(exc):
                    raise HubError(f"{state.part}: cannot write ({exc.strerror})") from None
                raise network_error(exc, f"download {job.key}", job.source.url) from None
            if remaining is not None and state.done - start_done < remaining:
                raise TransientError(
                    f"download {job.key}: connection closed after {state.done} of {total} bytes",
                    url=redact_url(job.source.url),
                )

    def _accept_range(self, job: DownloadJob, state: _State, response: requests.Response) -> None:
        """Make the ``.part`` agree with what the server is about to send."""
        if not state.done:
            return
        if response.status_code == 206 and not _content_encoded(response):
            content_range = response.headers.get("Content-Range", "")
            start = content_range.removeprefix("bytes ").split("-", 1)[0].strip()
            if start.isdigit() and int(start) == state.done:
                return
        # A 200 (Range ignored) or a range we did not ask for: start again from zero.
        self._restart(state)
        if response.status_code == 206:
            response.close()
            raise TransientError(f"download {job.key}: server sent the wrong range; restarting")

    def _refuse_error_body(self, job: DownloadJob, response: requests.Response) -> None:
        """A 200 whose Content-Type is an HTML page or a JSON/XML error: never a model.

        Only the first 64 KiB are read for the message, whatever the body's size.
        """
        ctype = response.headers.get("Content-Type", "").lower()
        if not any(t in ctype for t in _ERROR_TYPES):
            return
        try:
            head = response.raw.read(_ERROR_PEEK, decode_content=True) or b""
        except _NETWORK_ERRORS:
            head = b""
        text = head.decode("utf-8", "replace")
        message = None
        with contextlib.suppress(ValueError):
            data = json.loads(text)
            if isinstance(data, dict):
                parts = [str(data[k]) for k in ("error", "message") if isinstance(data.get(k), str)]
                message = ": ".join(parts) or None
        preview = message or " ".join(text.split())[:120]
        login = "login" in preview.lower() or "unauthorized" in preview.lower()
        raise NotAModelFile(
            f"download {job.key}: the server sent {ctype.split(';')[0]} instead of a model file",
            server_message=preview or None,
            hint="set CIVITAI_TOKEN" if login and job.source.site is Site.CIVITAI else None,
        )

    @staticmethod
    def _refuse_text_bytes(job: DownloadJob, head: bytes, total: int | None) -> None:
        """An HTML page or JSON error served as octet-stream: recognise it by its first bytes."""
        if sniff_bytes(head[:16], total or (1 << 62)) is not FileFormat.UNKNOWN:
            return
        text = head.lstrip()
        if text[:1] not in (b"<", b"{", b"["):
            return
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # not just a character cut at the end
                return
        raise NotAModelFile(
            f"download {job.key}: the server sent text (HTML/JSON) instead of a model file",
            server_message=" ".join(head.decode("utf-8", "replace").split())[:120],
        )

    def _readinto(
        self, response: requests.Response, remaining: int | None
    ) -> Callable[[memoryview], int | None]:
        """A ``readinto`` that fills the hasher's buffer from the socket, without copies.

        It returns when the buffer is full, the body ends, or
        ``flush_interval`` has passed: a fast link fills whole buffers (little
        per-chunk overhead), a slow one still reaches the ``.part`` and the
        progress callback several times a second (a killed download loses at
        most that much). Plain ``Content-Length`` bodies are read from the
        socket's buffered reader directly; anything else (chunked, encoded)
        goes through urllib3.
        """
        raw = response.raw
        fp = getattr(raw, "_fp", None)
        encoding = response.headers.get("Content-Encoding", "identity").lower()
        plain = (
            isinstance(fp, http.client.HTTPResponse)
            and encoding in ("", "identity")
            and not fp.chunked
            and remaining is not None
            and hasattr(fp.fp, "readinto1")
        )
        interval = self.flush_interval
        if not plain:
            step = 1 << 20
            read = raw.readinto

            def readinto_slices(buf: memoryview) -> int:
                deadline = time.monotonic() + interval
                filled = 0
                while filled < len(buf):
                    n = read(buf[filled : filled + step])
                    if not n:
                        break
                    filled += n
                    if time.monotonic() >= deadline:
                        break
                return filled

            return readinto_slices

        sock = fp.fp  # type: ignore[union-attr]
        left = [remaining]

        def readinto(buf: memoryview) -> int:
            deadline = time.monotonic() + interval
            filled = 0
            want = min(len(buf), left[0])  # type: ignore[type-var]
            while filled < want:
                n = sock.readinto1(buf[filled:want])
                if not n:
                    break
                filled += n
                if time.monotonic() >= deadline:
                    break
            left[0] -= filled  # type: ignore[operator]
            return filled

        return readinto

    @staticmethod
    def _write(fh: BinaryIO, view: memoryview) -> None:
        while view:
            n = fh.write(view)
            if n is None or n <= 0:
                raise OSError(errno.EIO, "short write")
            view = view[n:]

    def _verify(self, job: DownloadJob, state: _State, hashes: Hashes) -> None:
        expected = job.expected
        if expected.sha256:
            if hashes.sha256 != expected.sha256.upper():
                raise HashMismatch(
                    f"download {job.key}: SHA256 is {hashes.sha256[:12]}…, "
                    f"the published one is {expected.sha256.upper()[:12]}…",
                    hint="discarded; retry later, or report the wrong hash to the creator",
                )
            return
        if expected.size is not None and abs(state.done - expected.size) > SIZE_TOLERANCE:
            raise HashMismatch(
                f"download {job.key}: got {state.done} bytes, the published size is "
                f"{expected.size}",
                hint="discarded; retry later",
            )

    def _judge(self, job: DownloadJob, report: FileReport) -> list[str]:
        if report.safety.verdict is Verdict.DANGEROUS:
            reason = report.safety.reason or ", ".join(report.safety.globals[:3])
            raise UnsafeFile(
                f"download {job.key}: the pickle would run code ({reason})",
                hint="discarded; prefer a .safetensors file",
            )
        if report.kind is Kind.INVALID:
            raise NotAModelFile(
                f"download {job.key}: not a valid model file ({report.error or 'unreadable'})",
                hint="discarded",
            )
        warnings: list[str] = []
        if report.safety.verdict in (Verdict.SUSPICIOUS, Verdict.UNSCANNABLE):
            warnings.append(f"pickle safety: {report.safety.verdict.value}")
        try:
            warnings += check_kind(job.expected, report)
        except KindMismatch as exc:
            exc.message = f"download {job.key}: {exc.message}"
            raise
        return warnings

    def _final_folder(self, job: DownloadJob, report: FileReport) -> Path:
        if job.dest is not None:
            return self._inside(self.root / job.dest)
        component = report.classification.component
        folder = None
        if report.kind is not Kind.OTHER or component not in (None, Component.UNKNOWN):
            folder = folder_for(self.layout, report.kind, component)
        if folder is None and job.expected.kind is not None:
            folder = folder_for(self.layout, job.expected.kind, job.expected.component)
        if folder is None:
            what = report.kind.value + (f"/{component.value}" if component else "")
            raise PlacementError(
                f"download {job.key}: no {self.layout.value} folder for a {what} file",
                hint="give a destination folder for it",
            )
        return self._inside(self.root / folder)

    def _place(
        self,
        job: DownloadJob,
        state: _State,
        hashes: Hashes,
        report: FileReport,
        warnings: list[str],
    ) -> DownloadResult:
        folder = self._final_folder(job, report)
        folder.mkdir(parents=True, exist_ok=True)
        target = self._inside(folder / state.name)
        n = 1
        status = DownloadStatus.DOWNLOADED
        while target.exists():
            if _same_file(target, state.done, hashes.sha256):
                status = DownloadStatus.EXISTS  # the same bytes already sit there
                break
            n += 1
            target = self._inside(numbered(folder / state.name, n))
        if status is DownloadStatus.EXISTS:
            self._discard(state)
        else:
            if self.fsync:
                os.fsync(state.fh.fileno())
            _move(state.part, target)
            self._fetched_sha[hashes.sha256] = target
        report = self._named(target, report)
        return DownloadResult(
            job,
            status,
            path=target,
            hashes=hashes,
            report=report,
            warnings=[*report.classification.warnings, *warnings],
            bytes_fetched=state.fetched,
            resumed_from=state.resumed_from,
        )

    def _named(self, target: Path, report: FileReport) -> FileReport:
        """The report of the file under its final name.

        The bytes were judged as ``<name>.part``; name-based hints (an
        extension the WebUI does not load, a name that suggests another
        kind) must speak of the real name, so the placed file is looked at
        once more (well under 1 MiB read). The first report stands if that fails.
        """
        try:
            named = self._inspect(target)
        except Exception:
            named = None
        if named is None or named.kind is not report.kind:
            report.path = target
            return report
        return named

    def _discard(self, state: _State) -> None:
        with contextlib.suppress(OSError):
            state.part.unlink()

    # --- helpers ---

    def _check_cancel(self) -> None:
        if self.cancel is not None and self.cancel.is_set():
            raise DownloadCancelled

    def _pause(self, seconds: float) -> None:
        """A retry's backoff; a cancel ends it at once."""
        if self.cancel is None:
            self._sleep(seconds)
        elif self.cancel.wait(seconds):
            raise DownloadCancelled

    def _inside(self, path: Path) -> Path:
        """``path`` made absolute (lexically: symlinked WebUI folders are allowed), inside root."""
        absolute = Path(os.path.normpath(os.path.abspath(path)))
        if absolute != self.root and not absolute.is_relative_to(self.root):
            raise PlacementError(
                f"{path}: outside the library root {self.root}; refusing to write there"
            )
        return absolute

    def _lock_for(self, part: Path) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(part, threading.Lock())

    def _emit(
        self,
        job: DownloadJob,
        phase: Phase,
        done: int = 0,
        total: int | None = None,
        rate: float = 0.0,
        *,
        name: str | None = None,
        message: str | None = None,
    ) -> None:
        if self.on_progress is None:
            return
        with contextlib.suppress(Exception):  # a broken progress bar must not fail a download
            self.on_progress(
                Progress(
                    key=job.key,
                    filename=name or job.filename,
                    phase=phase,
                    done=done,
                    total=total if total is not None else job.expected.size,
                    rate=rate,
                    message=message,
                )
            )


class _RangeNotSatisfiable(Exception):
    """416 to a resume: ``total`` is the file's size from ``Content-Range: bytes */N``."""

    def __init__(self, total: int | None) -> None:
        super().__init__(total)
        self.total = total


def _range_total(content_range: str | None) -> int | None:
    """N of ``bytes */N`` or ``bytes a-b/N``; None when absent or ``*``."""
    _, sep, total = (content_range or "").rpartition("/")
    total = total.strip()
    return int(total) if sep and total.isdigit() else None


def _content_encoded(response: requests.Response) -> bool:
    """Whether the body is compressed (gzip, br, …) in spite of ``Accept-Encoding: identity``."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    return encoding not in ("", "identity")


def _is_network_oserror(exc: OSError) -> bool:
    return isinstance(exc, ConnectionError | TimeoutError) or exc.errno in (
        errno.ECONNRESET,
        errno.ECONNABORTED,
        errno.EPIPE,
        errno.ETIMEDOUT,
        None,
    )


def _same_file(path: Path, size: int, sha256: str) -> bool:
    """Whether ``path`` holds exactly these bytes (size first, then SHA256)."""
    try:
        if path.stat().st_size != size:
            return False
        with open(path, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest().upper() == sha256
    except OSError:
        return False


def _move(src: Path, dst: Path) -> None:
    """``os.replace``, or copy-then-replace when ``dst`` is on another filesystem."""
    try:
        os.replace(src, dst)
    except OSError as exc:
        if exc.errno != errno.EXDEV:
            raise
        tmp = dst.with_name(dst.name + PART_SUFFIX)
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
        src.unlink()
