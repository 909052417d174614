"""A download queue that keeps running while a person does other things: add, cancel, retry.

The terminal browser queues downloads from its remote browser and shows
them on its downloads screen. It is a threaded front over the same
per-item pipeline as ``sdhub get`` (:class:`~.sync.Sync`): resolve, download
(resumable, hashed while streaming, verified, classified, placed), record
in the catalog, write the sidecars (A1111 ``.json``, ``.civitai.info``, a
preview under the NSFW setting). A file downloaded here is exactly what
``sdhub get`` would have made of it, and shows up in the library at once.

An item is a reference (:class:`~.sync.GetRequest`: anything ``sdhub get``
takes; the remote browser names the exact file it shows, see
:func:`~.browse.download_request`), resolved when its turn comes. Every
change of an item is reported through ``on_change(item)``, called from
worker threads (the TUI turns it into a message for its own thread).

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

from .download import Phase, Progress
from .sync import GetRequest, GetResult, GetStatus, Plan, Sync


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


#: What became of an item, by what became of its request.
_FINAL_STATE = {
    GetStatus.DOWNLOADED: ItemState.DONE,
    GetStatus.EXISTS: ItemState.DONE,
    GetStatus.SKIPPED: ItemState.SKIPPED,
    GetStatus.FAILED: ItemState.FAILED,
    GetStatus.CANCELLED: ItemState.CANCELLED,
}


@dataclass(slots=True)
class QueueItem:
    """One queued download as the downloads screen shows it."""

    id: int
    request: GetRequest
    label: str
    #: None until the reference is resolved (a retry does not resolve it again).
    plan: Plan | None = None
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
    #: The pipeline's last word on this item (what ``sdhub get --json`` would print).
    result: GetResult | None = None
    _cancel: threading.Event = field(default_factory=threading.Event, repr=False)

    @property
    def fraction(self) -> float | None:
        if self.state in (ItemState.DONE, ItemState.SKIPPED):
            return 1.0
        if not self.total:
            return None
        return min(1.0, self.done / self.total)


class DownloadQueue:
    """Runs ``sync``'s per-item pipeline for queued references, ``sync.jobs`` at a time.

    ``sync`` decides everything but the threading: the library, the catalog,
    the clients references are resolved with, previews and the NSFW rule.
    """

    def __init__(self, sync: Sync, *, on_change: Callable[[QueueItem], None] | None = None) -> None:
        self.sync = sync
        self.library = sync.library
        self.on_change = on_change
        self._pool = ThreadPoolExecutor(max_workers=sync.jobs, thread_name_prefix="sdhub-q")
        self._items: dict[int, QueueItem] = {}
        self._futures: dict[int, Future[None]] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # --- what callers do ---

    def add(
        self, request: GetRequest | str, *, label: str | None = None, size: int | None = None
    ) -> QueueItem:
        """Queue a reference (anything ``sdhub get`` takes); it starts when a worker is free.

        ``label`` is how the downloads screen names it; ``size`` what the
        caller already knows of its size (the bar shows it before it starts).
        """
        if not isinstance(request, GetRequest):
            request = GetRequest(request)
        item = QueueItem(id=next(self._ids), request=request, label=label or request.text)
        item.total = size
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

    def __enter__(self) -> DownloadQueue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the work ---

    def _submit(self, item: QueueItem) -> None:
        self._futures[item.id] = self._pool.submit(self._run, item)

    def _run(self, item: QueueItem) -> None:
        if item._cancel.is_set():
            self._finish(item, ItemState.CANCELLED, "cancelled")
            return
        item.state, item.started = ItemState.RUNNING, time.monotonic()
        self._changed(item)

        def progress(p: Progress) -> None:
            self._progress(item, p)

        if item.plan is None:
            result = self.sync.process(item.request, cancel=item._cancel, on_progress=progress)
        else:
            result = self.sync.execute(item.plan, cancel=item._cancel, on_progress=progress)
        self._done(item, result)

    def _done(self, item: QueueItem, result: GetResult) -> None:
        item.result = result
        item.plan = result.plan or item.plan  # a retry resumes without resolving again
        item.path, item.file_id, item.warnings = result.path, result.file_id, list(result.warnings)
        state = _FINAL_STATE.get(result.status, ItemState.FAILED)
        if state is ItemState.DONE:
            message = self._shown(result.path)
        elif state is ItemState.SKIPPED:
            message = f"already in the library: {self._shown(result.path)}"
        elif state is ItemState.CANCELLED:
            message = "cancelled (the partial file is kept)"
        else:
            message = result.error
        self._finish(item, state, message)

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
        if p.phase is Phase.VERIFYING:
            item.state = ItemState.VERIFYING
        elif p.phase is Phase.RETRYING:
            item.message = f"retrying: {p.message}"
        self._changed(item)

    def _finish(self, item: QueueItem, state: ItemState, message: str | None) -> None:
        item.state, item.message, item.finished_at = state, message, time.monotonic()
        item.rate = 0.0
        if state is ItemState.DONE and item.total:
            item.done = item.total
        self._changed(item)

    def _changed(self, item: QueueItem) -> None:
        if self.on_change is not None:
            with contextlib.suppress(Exception):  # a closed UI must not fail a download
                self.on_change(item)
