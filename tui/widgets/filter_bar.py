"""The line above the table: filter-as-you-type, and what the filters show."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Static


class FilterBar(Horizontal):
    """A one-line input plus "42 of 10,000" and the active filters."""

    def compose(self) -> ComposeResult:
        yield Static("Filter", id="filter-label")
        yield Input(
            placeholder="name, trigger word, hash…",
            id="filter-input",
            compact=True,
        )
        yield Static("", id="filter-count")

    @property
    def input(self) -> Input:
        return self.query_one("#filter-input", Input)

    def show_count(self, shown: int, total: int, active: list[str]) -> None:
        text = f"{shown:,}" if shown == total else f"{shown:,} of {total:,}"
        text += " assets"
        if active:
            text += "  ·  " + ", ".join(active)
        # A fixed-width cell: no layout pass of the whole screen per keystroke.
        self.query_one("#filter-count", Static).update(text, layout=False)
