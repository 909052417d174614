"""Custom messages: how widgets and screens tell each other what happened.

Widgets never reach into each other; they post one of these and the screen
that composes them decides what follows (posting's ``messages.py`` idea).
"""

from __future__ import annotations

from dataclasses import dataclass

from sdhub.catalog.browse import AssetQuery
from textual.message import Message


@dataclass
class QueryChanged(Message):
    """The filter bar or the filter panel changed what the library shows."""

    query: AssetQuery


@dataclass
class AssetHighlighted(Message):
    """The table's cursor moved onto an asset (None: empty table, or its row still loading)."""

    asset_id: int | None
    index: int = 0


@dataclass
class AssetChosen(Message):
    """Enter (or a double click) on an asset: open its full detail."""

    asset_id: int


@dataclass
class SortRequested(Message):
    """A column header was clicked."""

    column: str


@dataclass
class CatalogChanged(Message):
    """Rows were added, moved or removed (a download, a placement, a delete, a scan).

    Posted to the app; every screen that shows catalog data refreshes.
    """

    reason: str = ""


@dataclass
class DownloadUpdate(Message):
    """The download queue changed: an item was added, progressed, finished or failed."""

    item_id: int
