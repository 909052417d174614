"""What the app's screens share: settings, the catalog, the library, clients, the download queue.

Wiring only: everything here is opened lazily and thread-safely (screens
call it from workers), and closed when the app exits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from sdhub.config import Settings, load_settings

if TYPE_CHECKING:
    from sdhub.catalog import Catalog, Library
    from sdhub.catalog.browse import BrowseIndex
    from sdhub.hub.civitai import CivitaiClient
    from sdhub.hub.huggingface import HfClient
    from sdhub.hub.queue import DownloadQueue, QueueItem


class Services:
    """One per app. ``settings`` may be replaced after the settings screen saves."""

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = settings or load_settings()
        self._lock = threading.RLock()
        self._catalog: Catalog | None = None
        self._index: BrowseIndex | None = None
        self._queue: DownloadQueue | None = None
        #: The queue was made with settings that have changed since (see ``reload``).
        self._queue_stale = False
        #: Catalogs replaced while downloads still wrote to them; closed with their queue.
        self._retired_catalogs: list[Catalog] = []
        self._civitai: CivitaiClient | None = None
        self._hf: HfClient | None = None
        #: Set by the app: called (from worker threads) when a queued download changes.
        self.on_download_change: Callable[[QueueItem], None] | None = None

    @property
    def catalog(self) -> Catalog:
        with self._lock:
            if self._catalog is None:
                from sdhub.catalog import open_catalog

                self._catalog = open_catalog(self.settings.db_url)
            return self._catalog

    @property
    def browse_index(self) -> BrowseIndex:
        """The library table's index of the catalog (built on first use)."""
        with self._lock:
            if self._index is None:
                from sdhub.catalog.browse import BrowseIndex

                self._index = BrowseIndex(self.catalog)
            return self._index

    @property
    def library(self) -> Library | None:
        from sdhub.catalog import configured_library

        return configured_library(self.settings.library, self.settings.layout)

    def civitai(self) -> CivitaiClient:
        with self._lock:
            if self._civitai is None:
                from sdhub.hub.civitai import CivitaiClient
                from sdhub.hub.http import RetryPolicy

                # A person is waiting: retry a transient fault once or twice, not for a minute.
                self._civitai = CivitaiClient.from_settings(
                    self.settings, retry=RetryPolicy(attempts=3, base_delay=0.5, max_delay=2.0)
                )
            return self._civitai

    def hf(self) -> HfClient:
        with self._lock:
            if self._hf is None:
                from sdhub.hub.huggingface import HfClient

                self._hf = HfClient.from_settings(self.settings)
            return self._hf

    def queue(self) -> DownloadQueue:
        """The download queue (needs a library to download into)."""
        with self._lock:
            self._drop_stale_queue()
            if self._queue is None:
                from sdhub.hub.queue import DownloadQueue
                from sdhub.hub.sync import Sync

                library = self.library
                if library is None:
                    raise LookupError(
                        "no library is set: choose its folder in Settings (,) or set SDHUB_LIBRARY"
                    )
                sync = Sync(
                    self.catalog,
                    library,
                    civitai=self.civitai(),
                    hf=self.hf(),
                    jobs=self.settings.jobs,
                    nsfw=self.settings.nsfw,
                )
                self._queue = DownloadQueue(sync, on_change=self._download_changed)
            return self._queue

    @property
    def has_queue(self) -> bool:
        return self._queue is not None

    def _download_changed(self, item: QueueItem) -> None:
        if self.on_download_change is not None:
            self.on_download_change(item)

    def reload(self, settings: Settings | None = None) -> None:
        """New settings: clients are made again, and what downloads run with follows.

        A queue whose library, catalog, job count or NSFW rule changed is
        replaced: at once when idle, else as soon as its running downloads
        finish (they complete where they started; a download never switches
        folders half way).
        """
        new = settings or load_settings()
        with self._lock:
            if self._civitai is not None:
                self._civitai.close()
            self._civitai = None
            self._hf = None
            moved = new.db_url != self.settings.db_url
            if self._queue is not None and _queue_settings(new) != _queue_settings(self.settings):
                self._queue_stale = True
            old_catalog = self._catalog if moved else None
            if moved and self._index is not None:
                self._index.close()
                self._index = None
            if moved:
                self._catalog = None
            self.settings = new
            if self._queue is not None:
                self._queue.sync.use_clients(self.civitai(), self.hf())
            if old_catalog is not None:
                if self._queue is not None and self._queue.active:
                    self._retired_catalogs.append(old_catalog)  # the running downloads use it
                else:
                    old_catalog.close()
            self._drop_stale_queue()

    def _drop_stale_queue(self) -> None:
        """Close a queue made with old settings once nothing runs in it (lock held)."""
        if self._queue is None or not self._queue_stale or self._queue.active:
            return
        self._queue.close()
        self._queue = None
        self._queue_stale = False
        for catalog in self._retired_catalogs:
            catalog.close()
        self._retired_catalogs.clear()

    def close(self) -> None:
        with self._lock:
            if self._queue is not None:
                self._queue.close()
            if self._civitai is not None:
                self._civitai.close()
            if self._index is not None:
                self._index.close()
            if self._catalog is not None:
                self._catalog.close()
            for catalog in self._retired_catalogs:
                catalog.close()
            self._retired_catalogs.clear()


def _queue_settings(settings: Settings) -> tuple[object, ...]:
    """What a download queue is built from: a change to any of these needs a new queue."""
    return (settings.db_url, settings.library, settings.layout, settings.jobs, settings.nsfw)
