"""The terminal browser: the App, its key bindings, modes and command palette. Composition only.

Three modes, each a screen stack: the library (local assets), the remote
browser (Civitai and Hugging Face), the downloads queue. Settings and
dialogs are pushed on top. What happens lives in :mod:`sdhub.hub` and
:mod:`sdhub.catalog`; screens call it from workers and format the result.
"""

from __future__ import annotations

from typing import ClassVar

from textual.app import App
from textual.binding import Binding, BindingType
from textual.signal import Signal

from sdhub.config import Settings

from .messages import CatalogChanged, DownloadUpdate
from .palette import SdhubCommands
from .screens.downloads import DownloadsScreen
from .screens.library import LibraryScreen
from .screens.remote import RemoteScreen
from .screens.settings import SettingsScreen
from .services import Services
from .widgets.preview import ImageSupport


class SdhubApp(App[None]):
    """``sdhub`` with no command."""

    TITLE = "sdhub"
    CSS_PATH = "app.tcss"
    ENABLE_COMMAND_PALETTE = True
    COMMANDS: ClassVar = App.COMMANDS | {SdhubCommands}
    MODES: ClassVar = {
        "library": LibraryScreen,
        "remote": RemoteScreen,
        "downloads": DownloadsScreen,
    }
    DEFAULT_MODE = "library"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "switch_mode('library')", "Library", show=False),
        Binding("2", "switch_mode('remote')", "Remote", show=False),
        Binding("3", "switch_mode('downloads')", "Downloads", show=False),
        Binding("comma", "settings", "Settings", show=False, key_display=","),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        services: Services | None = None,
        image_support: ImageSupport = ImageSupport.NONE,
    ) -> None:
        super().__init__()
        self.services = services or Services(settings)
        self.image_support = image_support
        #: Published when catalog rows changed (download, placement, trash, scan, enrich).
        self.catalog_changed: Signal[str] = Signal(self, "catalog-changed")
        #: Published with a short summary ("2 running") when the download queue changes.
        self.downloads_changed: Signal[str] = Signal(self, "downloads-changed")
        #: Published with the item id for every download queue change.
        self.download_item: Signal[int] = Signal(self, "download-item")

    def on_mount(self) -> None:
        self.services.on_download_change = lambda item: self.post_message(DownloadUpdate(item.id))
        if self.size.width < 110:
            self.notify("Narrow terminal: i hides the detail pane.", timeout=4)

    def on_catalog_changed(self, message: CatalogChanged) -> None:
        self.catalog_changed.publish(message.reason)

    def on_download_update(self, message: DownloadUpdate) -> None:
        queue = self.services.queue()
        item = queue.get(message.item_id)
        if item is not None and item.state.value == "done":
            self.catalog_changed.publish("download")
        self.download_item.publish(message.item_id)
        active = queue.active
        self.downloads_changed.publish(f"{active} running" if active else "")

    def action_settings(self) -> None:
        self.push_screen(SettingsScreen())

    def on_unmount(self) -> None:
        self.services.close()
