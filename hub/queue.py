"""A download queue that keeps running while a person does other things: add, cancel, retry.

The terminal browser queues downloads from the remote browser and shows
them on its downloads screen; the work happens here, on a small pool of
threads, through the download engine (:class:`~.download.Downloader`:
resumable, hashed while streaming, verified, classified, placed). After a
file is placed it is recorded in the catalog (:func:`record_download`: the
file row, the Civitai version or Hugging Face file it came from, the A1111
sidecar), so it shows up in the library at once.

Every change of an item is reported through ``on_change(item)``, called
from worker threads (the TUI turns it into a message for its own thread).

Cancelling stops a running download at its next read (within a quarter of a
second while bytes flow) and keeps the ``.part``: a retry resumes it with
``Range`` instead of starting over.
"""

from __future__ import annotations

import contextlib
import itertools
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import requests
from sdhub.catalog import (
    Catalog,
    Library,
    LocalFile,
    record_civitai_version,
    record_file,
    record_hf_file,
    write_a1111_sidecar,
)
from sdhub.catalog.errors import SidecarError
from sdhub.models.layouts import Layout
from sqlmodel import select

from .download import CHUNK_SIZE, Downloader, DownloadJob, DownloadResult, DownloadStatus, Progress
from .errors import HubError
from .http import make_session


class ItemState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    VERIFYING = "verifying"
    DONE = "done"
    SKIPPED = "skipped"  # the library already has these bytes
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (ItemState.DONE, ItemState.SKIPPED, ItemState.FAILED, ItemState.CANCELLED)


@dataclass(slots=True)
class QueueItem:
    """One queued download as the downloads screen shows it."""

    id: int
    job: DownloadJob
    label: str
    state: ItemState = ItemState.QUEUED
    done: int = 0
    total: int | None = None
    rate: float = 0.0
    message: str | None = None
    path: Path | None = None
    file_id: int | None = None
    warnings: list[str] = field(default_factory=list)
    started: float | None = None
    finished_at: float | None = None
    #: Extra data the caller needs to record the download (Civitai model JSON, HF repo info).
    context: dict[str, Any] = field(default_factory=dict)
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def fraction(self) -> float | None:
        if self.state in (ItemState.DONE, ItemState.SKIPPED):
            return 1.0
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


class Cancelled(Exception):
    """Raised inside a download's read loop when the person cancelled it (not a HubError:
    the engine lets it through and keeps the ``.part`` for a later resume)."""


class _CancellableHasher:
    """The engine's hasher, checking a cancel flag before every read."""

    def __init__(self, inner: Any, cancel: threading.Event) -> None:
        self._inner = inner
        self._cancel = cancel

    def feed_from(self, readinto: Callable[[memoryview], int | None]) -> memoryview:
        if self._cancel.is_set():
            raise Cancelled
        return self._inner.feed_from(readinto)

    def hexdigests(self) -> Any:
        return self._inner.hexdigests()

    def close(self) -> None:
        self._inner.close()


def _hasher_for(cancel: threading.Event) -> Callable[[], _CancellableHasher]:
    from sdhub.models.hashing import MultiHasher

    return lambda: _CancellableHasher(MultiHasher(chunk_size=CHUNK_SIZE), cancel)


class DownloadQueue:
    """Downloads into one library, ``jobs`` at a time, recorded in the catalog as they finish."""

    def __init__(
        self,
        catalog: Catalog,
        library: Library,
        *,
        jobs: int = 3,
        on_change: Callable[[QueueItem], None] | None = None,
        civitai_url: str | None = None,
        hf_endpoint: str | None = None,
        session: requests.Session | None = None,
        downloader_options: dict[str, Any] | None = None,
    ) -> None:
        self.catalog = catalog
        self.library = library
        self.on_change = on_change
        self.civitai_url = civitai_url
        self.hf_endpoint = hf_endpoint
        self._session = session or make_session(pool=jobs + 2)
        self._pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="sdhub-q")
        self._items: dict[int, QueueItem] = {}
        self._futures: dict[int, Future[None]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._options = downloader_options or {}

    # --- what callers do ---

    def add(
        self, job: DownloadJob, *, label: str | None = None, context: dict[str, Any] | None = None
    ) -> QueueItem:
        """Queue a job; it starts as soon as a worker is free."""
        item = QueueItem(
            id=next(self._ids),
            job=job,
            label=label or job.key,
            total=job.expected.size,
            context=dict(context or {}),
        )
        with self._lock:
            self._items[item.id] = item
        self._changed(item)
        self._submit(item)
        return item

    def cancel(self, item_id: int) -> bool:
        """Stop a queued or running download (the ``.part`` stays for a retry)."""
        item = self._items.get(item_id)
        if item is None or item.state.finished:
            return False
        item._cancel.set()
        future = self._futures.get(item_id)
        if future is not None and future.cancel():  # never started
            self._finish(item, ItemState.CANCELLED, "cancelled")
        return True

    def retry(self, item_id: int) -> bool:
        """Start a failed or cancelled download again (resuming its ``.part``)."""
        item = self._items.get(item_id)
        if item is None or item.state not in (ItemState.FAILED, ItemState.CANCELLED):
            return False
        item._cancel = threading.Event()
        item.state, item.message, item.rate, item.finished_at = ItemState.QUEUED, None, 0.0, None
        self._changed(item)
        self._submit(item)
        return True

    def items(self) -> list[QueueItem]:
        with self._lock:
            return list(self._items.values())

    def get(self, item_id: int) -> QueueItem | None:
        return self._items.get(item_id)

    def totals(self) -> tuple[int, int | None]:
        """Bytes done and expected over the unfinished and finished items (None: unknown)."""
        done = 0
        total: int | None = 0
        for item in self.items():
            if item.state is ItemState.CANCELLED:
                continue
            size = item.total
            done += (
                size if item.state in (ItemState.DONE, ItemState.SKIPPED) and size else item.done
            )
            if size is None or total is None:
                total = None
            else:
                total += size
        return done, total

    @property
    def active(self) -> int:
        return sum(1 for i in self.items() if not i.state.finished)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every item has finished (tests, and a clean exit); False on timeout."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.active:
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def close(self) -> None:
        """Cancel what runs and stop the workers (``.part`` files stay for next time)."""
        for item in self.items():
            if not item.state.finished:
                item._cancel.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- the work ---

    def _submit(self, item: QueueItem) -> None:
        self._futures[item.id] = self._pool.submit(self._run, item)

    def _run(self, item: QueueItem) -> None:
        if item._cancel.is_set():
            self._finish(item, ItemState.CANCELLED, "cancelled")
            return
        item.state, item.started = ItemState.RUNNING, time.monotonic()
        self._changed(item)
        downloader = Downloader(
            self.library.root,
            self.library.layout,
            session=self._session,
            jobs=1,
            have=self._have,
            on_progress=lambda p: self._progress(item, p),
            hasher=_hasher_for(item._cancel),
            **self._options,
        )
        try:
            result = downloader.fetch(item.job)
        except Cancelled:
            self._finish(item, ItemState.CANCELLED, "cancelled (the partial file is kept)")
            return
        except HubError as exc:
            self._finish(item, ItemState.FAILED, str(exc))
            return
        except Exception as exc:  # a bug must not kill the worker silently
            self._finish(item, ItemState.FAILED, f"unexpected failure: {type(exc).__name__}: {exc}")
            return
        self._done(item, result)

    def _done(self, item: QueueItem, result: DownloadResult) -> None:
        item.path = result.path
        item.warnings = list(result.warnings)
        if result.status is DownloadStatus.SKIPPED:
            self._finish(
                item, ItemState.SKIPPED, f"already in the library: {self._shown(result.path)}"
            )
            return
        try:
            item.file_id = record_download(
                self.catalog,
                result,
                layout=self.library.layout,
                context=item.context,
                civitai_url=self.civitai_url,
                hf_endpoint=self.hf_endpoint,
            )
        except Exception as exc:
            self._finish(
                item, ItemState.FAILED, f"downloaded to {result.path}, not catalogued: {exc}"
            )
            return
        self._finish(item, ItemState.DONE, self._shown(result.path))

    def _shown(self, path: Path | None) -> str:
        """A path as the person reads it: relative to the library root when inside it."""
        if path is None:
            return ""
        relative = self.library.relative(path)
        return str(path) if relative is None else str(relative)

    def _progress(self, item: QueueItem, p: Progress) -> None:
        if item.state.finished:
            return
        if p.total is not None:
            item.total = p.total
        if p.done:
            item.done = p.done
        item.rate = p.rate
        if p.phase.value == "verifying":
            item.state = ItemState.VERIFYING
        elif p.phase.value == "retrying":
            item.message = f"retrying: {p.message}"
        self._changed(item)

    def _finish(self, item: QueueItem, state: ItemState, message: str | None) -> None:
        item.state, item.message, item.finished_at = state, message, time.monotonic()
        item.rate = 0.0
        if state is ItemState.DONE and item.total:
            item.done = item.total
        self._changed(item)

    def _have(self, sha256: str) -> Path | None:
        with self.catalog.session() as session:
            path = session.exec(
                select(LocalFile.path).where(
                    LocalFile.sha256 == sha256.upper(),
                    LocalFile.missing == False,  # noqa: E712
                )
            ).first()
        return Path(path) if path else None

    def _changed(self, item: QueueItem) -> None:
        if self.on_change is not None:
            with contextlib.suppress(Exception):  # a closed UI must not fail a download
                self.on_change(item)


def record_download(
    catalog: Catalog,
    result: DownloadResult,
    *,
    layout: Layout = Layout.A1111,
    context: dict[str, Any] | None = None,
    civitai_url: str | None = None,
    hf_endpoint: str | None = None,
) -> int:
    """Record a placed download: the file, what it came from, and its A1111 sidecar.

    The job's ``payload`` says where it came from: ``(CivitaiVersion,
    CivitaiFile)`` from :meth:`~.civitai.CivitaiClient.download_job`, or an
    :class:`~.huggingface.HfFile`. ``context["civitai_model"]`` may hold the
    full model JSON (description, tags, licence) when the caller has it.
    Returns the catalog id of the file.
    """
    from .civitai import CivitaiVersion
    from .huggingface import HfFile

    assert result.path is not None and result.report is not None
    context = context or {}
    report = result.report
    if report.hashes is None and result.hashes is not None:
        report.hashes = result.hashes
    payload = result.job.payload
    with catalog.transaction() as session:
        if isinstance(payload, tuple) and payload and isinstance(payload[0], CivitaiVersion):
            version: CivitaiVersion = payload[0]
            kwargs: dict[str, Any] = {}
            if civitai_url:
                kwargs["site_url"] = civitai_url
            record_civitai_version(
                session, version.raw, model=context.get("civitai_model"), **kwargs
            )
        elif isinstance(payload, HfFile):
            kwargs = {"endpoint": hf_endpoint} if hf_endpoint else {}
            record_hf_file(
                session,
                repo=payload.repo,
                path=payload.path,
                revision=payload.revision,
                sha256=payload.sha256,
                size=payload.size,
                info=context.get("hf_info"),
                **kwargs,
            )
        row = record_file(session, result.path, report)
        assert row.id is not None
        file_id = row.id
    if layout is Layout.A1111:
        # In its own transaction, after the version's knowledge is committed.
        with contextlib.suppress(SidecarError, OSError), catalog.transaction() as session:
            write_a1111_sidecar(session, file_id)
    return file_id
