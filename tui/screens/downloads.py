"""The downloads screen: every queued file with live progress, and the total; cancel, retry."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from sdhub.hub.queue import ItemState, QueueItem
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, ProgressBar, Static

from ..format import human_size
from ..widgets.nav_bar import NavBar

if TYPE_CHECKING:
    from ..app import SdhubApp

BAR_WIDTH = 20
_STATE_STYLES = {
    ItemState.QUEUED: "dim",
    ItemState.RUNNING: "bold cyan",
    ItemState.VERIFYING: "cyan",
    ItemState.DONE: "green",
    ItemState.SKIPPED: "green",
    ItemState.FAILED: "bold red",
    ItemState.CANCELLED: "yellow",
}


def progress_cells(item: QueueItem) -> Text:
    """``██████░░░░  63%`` (or a dim bar when the size is unknown)."""
    fraction = item.fraction
    if fraction is None:
        return Text("░" * BAR_WIDTH + "   ?", style="dim")
    filled = round(fraction * BAR_WIDTH)
    text = Text("█" * filled, style=_STATE_STYLES.get(item.state, ""))
    text.append("░" * (BAR_WIDTH - filled), style="dim")
    text.append(f" {fraction * 100:3.0f}%")
    return text


def bytes_cell(item: QueueItem) -> str:
    if item.total:
        return f"{human_size(item.done)} / {human_size(item.total)}"
    return human_size(item.done) if item.done else ""


def rate_cell(item: QueueItem) -> str:
    if item.state is not ItemState.RUNNING or item.rate <= 0:
        return ""
    text = f"{human_size(int(item.rate))}/s"
    if item.total and item.total > item.done:
        seconds = (item.total - item.done) / item.rate
        text += f"  {int(seconds // 60)}:{int(seconds % 60):02d}"
    return text


class DownloadsScreen(Screen[None]):
    """The queue as a table; downloads keep running whichever screen is shown."""

    app: SdhubApp

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("x", "cancel", "Cancel"),
        Binding("r", "retry", "Retry"),
        Binding("o", "open_folder", "Open folder"),
    ]

    def compose(self) -> ComposeResult:
        yield NavBar("downloads", id="nav")
        yield Static("", id="downloads-summary", markup=False)
        yield ProgressBar(id="downloads-total", show_eta=False)
        yield DataTable(id="downloads-table", cursor_type="row")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("State", key="state", width=10)
        table.add_column("File", key="label", width=44)
        table.add_column("Progress", key="progress", width=BAR_WIDTH + 5)
        table.add_column("Bytes", key="bytes", width=19)
        table.add_column("Rate", key="rate", width=14)
        table.add_column("Message", key="message")
        self.app.download_item.subscribe(self, self._item_changed)
        self.app.downloads_changed.subscribe(
            self, lambda summary: self.query_one(NavBar).set_status(downloads=summary)
        )
        services = self.app.services
        if services.has_queue:
            for item in services.queue().items():
                self._item_changed(item.id)
        self._summary()
        table.focus()

    def _item_changed(self, item_id: int) -> None:
        services = self.app.services
        item = services.queue().get(item_id)
        if item is None:
            return
        table = self.query_one(DataTable)
        key = str(item.id)
        cells = {
            "state": Text(item.state.value, style=_STATE_STYLES.get(item.state, "")),
            "label": item.label,
            "progress": progress_cells(item),
            "bytes": bytes_cell(item),
            "rate": rate_cell(item),
            "message": Text(
                item.message or "", style="red" if item.state is ItemState.FAILED else "dim"
            ),
        }
        if key in table.rows:
            for column, value in cells.items():
                table.update_cell(key, column, value)
        else:
            table.add_row(*cells.values(), key=key)
        self._summary()

    def _summary(self) -> None:
        services = self.app.services
        items = services.queue().items() if services.has_queue else []
        counts: dict[ItemState, int] = {}
        for item in items:
            counts[item.state] = counts.get(item.state, 0) + 1
        if not items:
            text = "No downloads yet: find a model in the remote browser (2) and press d."
        else:
            parts = [f"{n} {state.value}" for state, n in counts.items()]
            rate = sum(i.rate for i in items if i.state is ItemState.RUNNING)
            text = " · ".join(parts)
            if rate:
                text += f"   {human_size(int(rate))}/s"
        self.query_one("#downloads-summary", Static).update(text)
        bar = self.query_one("#downloads-total", ProgressBar)
        bar.display = bool(items)
        if items:
            done, total = services.queue().totals()
            bar.update(total=total if total else None, progress=done)

    def _selected(self) -> QueueItem | None:
        services = self.app.services
        if not services.has_queue:
            return None
        table = self.query_one(DataTable)
        if table.row_count == 0:
            return None
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return services.queue().get(int(row_key.value or 0))

    def action_cancel(self) -> None:
        item = self._selected()
        if item is None:
            return
        if not self.app.services.queue().cancel(item.id):
            self.notify("Already finished.", severity="information")

    def action_retry(self) -> None:
        item = self._selected()
        if item is None:
            return
        if not self.app.services.queue().retry(item.id):
            self.notify(
                "Only failed or cancelled downloads can be retried.", severity="information"
            )

    def action_open_folder(self) -> None:
        from sdhub.hub.actions import open_target

        item = self._selected()
        if item is None or item.path is None:
            return
        folder = os.path.dirname(item.path)
        if not open_target(folder):
            self.notify(folder, title="No desktop to open the folder with", timeout=12)
