"""The top line: where you are, where you can go, what is downloading, which library."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

#: (mode, key, label) in the order they are shown.
PLACES = (("library", "1", "Library"), ("remote", "2", "Remote"), ("downloads", "3", "Downloads"))


class NavBar(Static):
    """``sdhub  1 Library  2 Remote  3 Downloads (2)  , Settings   ~/webui (a1111)``."""

    def __init__(self, current: str, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.current = current
        self.downloads = ""
        self.library = ""

    def on_mount(self) -> None:
        library = getattr(self.app, "services", None) and self.app.services.library
        if library is not None and not self.library:
            self.library = f"{library.root}  ({library.layout.value})"
        self.redraw()

    def set_status(self, *, downloads: str | None = None, library: str | None = None) -> None:
        if downloads is not None:
            self.downloads = downloads
        if library is not None:
            self.library = library
        self.redraw()

    def redraw(self) -> None:
        text = Text()
        text.append(" sdhub ", style="bold reverse")
        text.append("  ")
        for mode, key, label in PLACES:
            style = "bold underline" if mode == self.current else "dim"
            text.append(f"{key} ", style="dim")
            text.append(label, style=style)
            if mode == "downloads" and self.downloads:
                text.append(f" ({self.downloads})", style="bold")
            text.append("   ")
        text.append(", ", style="dim")
        text.append("Settings", style="dim")
        if self.library:
            used = text.cell_len
            room = max(0, self.size.width - used - 2) if self.size.width else 0
            library = self.library
            if room and len(library) > room:
                library = "…" + library[-(room - 1) :]
            text.append(" " * max(2, room - len(library) + 1))
            text.append(library, style="dim")
        self.update(text, layout=False)

    def on_resize(self) -> None:
        self.redraw()
