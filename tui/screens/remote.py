"""The remote browser: search Civitai or Hugging Face, see versions and files, queue downloads."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import islice
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from sdhub.hub.browse import (
    RemoteFileInfo,
    RemoteHit,
    RemoteSite,
    RemoteSort,
    RemoteVersionInfo,
    SearchFilters,
    download_request,
    load_versions,
    mark_hits,
    search,
)
from sdhub.models.kinds import Base, Kind
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Select, Static
from textual.worker import get_current_worker

from ..format import human_size
from ..widgets.nav_bar import NavBar

if TYPE_CHECKING:
    from ..app import SdhubApp

#: Hits fetched per page (and how close to the end scrolling asks for the next page).
PAGE = 20
_NEAR_END = 3
#: (label, key, width) of the results table and of the highlighted hit's files.
RESULT_COLUMNS = (
    ("", "mark", 2),
    ("Name", "name", 30),
    ("Type", "type", 12),
    ("Base", "base", 10),
    ("Creator", "creator", 12),
    ("Downloads", "downloads", 9),
)
FILE_COLUMNS = (
    ("", "mark", 2),
    ("Version", "version", 14),
    ("File", "file", 30),
    ("Size", "size", 8),
    ("SHA256", "sha", 12),
)


def _select(
    select_id: str, options: list[tuple[str, str]], *, blank: str | None = None
) -> Select[str]:
    """A compact filter choice showing its first option (``blank``: "any", the value "")."""
    if blank is not None:
        options = [(blank, ""), *options]
    return Select(options, value=options[0][1], allow_blank=False, compact=True, id=select_id)


class RemoteScreen(Screen[None]):
    """Search bar, results, and the highlighted model's versions and files."""

    app: SdhubApp

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_search", "Search", key_display="/"),
        Binding("d", "download", "Download"),
        Binding("o", "open_page", "Open page"),
        Binding("escape", "focus_results", "Results", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.hits: list[RemoteHit] = []
        self.filters = SearchFilters()
        self._iterator: Iterator[RemoteHit] | None = None
        self.exhausted = True
        self.loading = False
        self.generation = 0
        self._files: list[tuple[RemoteHit, RemoteVersionInfo, RemoteFileInfo]] = []

    def compose(self) -> ComposeResult:
        yield NavBar("remote", id="nav")
        with Horizontal(id="remote-search"):
            yield Input(
                placeholder="search models — Enter to search", id="remote-query", compact=True
            )
            yield _select(
                "remote-site",
                [("Civitai", RemoteSite.CIVITAI.value), ("Hugging Face", RemoteSite.HF.value)],
            )
            yield _select(
                "remote-kind",
                [(k.value, k.value) for k in Kind if k is not Kind.INVALID],
                blank="any kind",
            )
            yield _select(
                "remote-base",
                [(b.value, b.value) for b in Base if b is not Base.UNKNOWN],
                blank="any base",
            )
            yield _select("remote-sort", [(s.value, s.value) for s in RemoteSort])
        with Horizontal(id="remote-body"):
            yield DataTable(id="remote-results", cursor_type="row", zebra_stripes=True)
            with Vertical(id="remote-side"):
                with VerticalScroll(id="remote-info-scroll"):
                    yield Static("", id="remote-info", markup=False)
                yield DataTable(id="remote-files", cursor_type="row")
        yield Static("Type a search and press Enter.", id="remote-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        for selector, columns in (
            ("#remote-results", RESULT_COLUMNS),
            ("#remote-files", FILE_COLUMNS),
        ):
            table = self.query_one(selector, DataTable)
            for label, key, width in columns:
                table.add_column(label, key=key, width=width)
        self.app.downloads_changed.subscribe(
            self, lambda summary: self.query_one(NavBar).set_status(downloads=summary)
        )
        self.app.catalog_changed.subscribe(self, self._catalog_changed)
        self.query_one("#remote-query", Input).focus()

    # --- searching ---

    def _current_filters(self) -> SearchFilters:
        def value(selector: str) -> str:
            v = self.query_one(selector, Select).value
            return v if isinstance(v, str) else ""

        kind, base = value("#remote-kind"), value("#remote-base")
        return SearchFilters(
            query=self.query_one("#remote-query", Input).value.strip(),
            site=RemoteSite(value("#remote-site") or RemoteSite.CIVITAI.value),
            kind=Kind(kind) if kind else None,
            base=Base(base) if base else None,
            sort=RemoteSort(value("#remote-sort") or RemoteSort.RELEVANCE.value),
            nsfw=self.app.services.settings.nsfw,
        )

    @on(Input.Submitted, "#remote-query")
    def _submitted(self) -> None:
        self.start_search()

    @on(Select.Changed)
    def _select_changed(self) -> None:
        if self.hits or self.query_one("#remote-query", Input).value.strip():
            self.start_search()

    def start_search(self) -> None:
        self.filters = self._current_filters()
        self.generation += 1
        self.hits = []
        self.exhausted = False
        self.query_one("#remote-results", DataTable).clear()
        self.query_one("#remote-files", DataTable).clear()
        self.query_one("#remote-info", Static).update("")
        site = "Civitai" if self.filters.site is RemoteSite.CIVITAI else "Hugging Face"
        self._status(f"Searching {site}…")
        self.loading = True
        self._search(self.generation, self.filters)

    @work(thread=True, exclusive=True, group="remote-search", exit_on_error=False)
    def _search(self, generation: int, filters: SearchFilters) -> None:
        services = self.app.services
        try:
            if filters.site is RemoteSite.CIVITAI:
                iterator = search(filters, civitai=services.civitai())
            else:
                iterator = search(filters, hf=services.hf())
            page = list(islice(iterator, PAGE))
            mark_hits(services.catalog, page)
        except Exception as exc:
            self.app.call_from_thread(self._failed, generation, exc)
            return
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._page, generation, page, iterator)

    @work(thread=True, exclusive=True, group="remote-more", exit_on_error=False)
    def _more(self, generation: int, iterator: Iterator[RemoteHit]) -> None:
        try:
            page = list(islice(iterator, PAGE))
            mark_hits(self.app.services.catalog, page)
        except Exception as exc:
            self.app.call_from_thread(self._failed, generation, exc)
            return
        self.app.call_from_thread(self._page, generation, page, iterator)

    def _page(self, generation: int, page: list[RemoteHit], iterator: Iterator[RemoteHit]) -> None:
        if generation != self.generation:
            return
        self.loading = False
        self._iterator = iterator
        self.exhausted = len(page) < PAGE
        table = self.query_one("#remote-results", DataTable)
        first = not self.hits
        for hit in page:
            index = len(self.hits)
            self.hits.append(hit)
            table.add_row(
                Text(hit.marks, style="green"),
                hit.name,
                hit.type_label,
                hit.base_label,
                hit.creator or "",
                f"{hit.downloads:,}" if hit.downloads is not None else "",
                key=str(index),
            )
        more = "" if self.exhausted else " · more load as you scroll"
        self._status(f"{len(self.hits)} results{more}  ·  ✓ in library  ↑ update available")
        if first and self.hits:
            table.focus()
            self._show_hit(self.hits[0])
        elif not self.hits:
            self._status("Nothing found.")

    def _failed(self, generation: int, exc: Exception) -> None:
        if generation != self.generation:
            return
        self.loading = False
        self.exhausted = True
        self._status(f"Search failed: {exc}")
        self.notify(str(exc), title="Search", severity="error", timeout=10)

    def _status(self, text: str) -> None:
        self.query_one("#remote-status", Static).update(text)

    # --- the highlighted hit ---

    @on(DataTable.RowHighlighted, "#remote-results")
    def _hit_highlighted(self, event: DataTable.RowHighlighted) -> None:
        index = event.cursor_row
        if not 0 <= index < len(self.hits):
            return
        self._show_hit(self.hits[index])
        near_end = index >= len(self.hits) - _NEAR_END
        if near_end and not self.exhausted and not self.loading and self._iterator is not None:
            self.loading = True
            self._status(f"{len(self.hits)} results · loading more…")
            self._more(self.generation, self._iterator)

    def _show_hit(self, hit: RemoteHit) -> None:
        self._show_info(hit)
        if hit.versions is None:
            self.query_one("#remote-files", DataTable).clear()
            self._load_files(hit)
        else:
            self._fill_files(hit)

    def _show_info(self, hit: RemoteHit) -> None:
        info = Text()
        info.append(hit.name, style="bold")
        info.append(f"  {hit.type_label}", style="cyan")
        if hit.creator:
            info.append(f"  by {hit.creator}", style="dim")
        if hit.in_library:
            info.append("  ✓ in library", style="green")
        if hit.update_available:
            info.append("  ↑ update available", style="bold yellow")
        info.append(f"\n{hit.url}", style="dim")
        if hit.description:
            info.append("\n\n" + hit.description[:1500])
        self.query_one("#remote-info", Static).update(info)

    @work(thread=True, exclusive=True, group="remote-files", exit_on_error=False)
    def _load_files(self, hit: RemoteHit) -> None:
        services = self.app.services
        try:
            load_versions(hit, services.hf())
            mark_hits(services.catalog, [hit])
        except Exception as exc:
            self.app.call_from_thread(self.notify, str(exc), title="Files", severity="error")
            return
        self.app.call_from_thread(self._files_loaded, hit)

    def _files_loaded(self, hit: RemoteHit) -> None:
        if self._current_hit() is hit:
            self._show_info(hit)
            self._fill_files(hit)
            self._refresh_mark(hit)

    def _fill_files(self, hit: RemoteHit) -> None:
        table = self.query_one("#remote-files", DataTable)
        table.clear()
        self._files = []
        for version in hit.versions or []:
            for file in version.files:
                mark = Text("✓", style="green") if file.in_library else Text("")
                label = version.name + (f" ({version.base_label})" if version.base_label else "")
                table.add_row(
                    mark,
                    label,
                    file.name
                    + ("" if file.primary or len(version.files) == 1 else f"  {file.type}"),
                    human_size(file.size),
                    (file.sha256 or "—")[:10],
                    key=str(len(self._files)),
                )
                self._files.append((hit, version, file))

    def _current_hit(self) -> RemoteHit | None:
        table = self.query_one("#remote-results", DataTable)
        index = table.cursor_row
        return self.hits[index] if 0 <= index < len(self.hits) else None

    def _refresh_mark(self, hit: RemoteHit) -> None:
        table = self.query_one("#remote-results", DataTable)
        index = self.hits.index(hit)
        table.update_cell(str(index), "mark", Text(hit.marks, style="green"))

    # --- downloading ---

    def action_download(self) -> None:
        chosen = self._chosen_file()
        if chosen is None:
            self.notify("Choose a model (and a file on the right).", severity="warning")
            return
        hit, version, file = chosen
        if file.in_library:
            self.notify(f"{file.name} is already in the library.", severity="information")
            return
        services = self.app.services
        try:
            civitai = services.civitai() if hit.site is RemoteSite.CIVITAI else None
            request = download_request(hit, version, file, civitai)
            queue = services.queue()
        except Exception as exc:
            self.notify(str(exc), title="Download", severity="error", timeout=10)
            return
        item = queue.add(request, label=f"{hit.name} · {file.name}", size=file.size)
        self.notify(f"{item.label}  (3 shows downloads)", title="Queued")

    def _chosen_file(self) -> tuple[RemoteHit, RemoteVersionInfo, RemoteFileInfo] | None:
        files = self.query_one("#remote-files", DataTable)
        if files.has_focus and self._files and 0 <= files.cursor_row < len(self._files):
            return self._files[files.cursor_row]
        hit = self._current_hit()
        if hit is None or not hit.versions:
            return None
        version = hit.versions[0]
        primary = next((f for f in version.files if f.primary), None)
        if primary is None and version.files:
            primary = version.files[0]
        return (hit, version, primary) if primary else None

    def action_open_page(self) -> None:
        from sdhub.hub.actions import open_target

        hit = self._current_hit()
        if hit is None:
            return
        if open_target(hit.url):
            self.notify(hit.url, title="Opening the page")
        else:
            self.notify(hit.url, title="No desktop to open the page with", timeout=12)

    def action_focus_search(self) -> None:
        self.query_one("#remote-query", Input).focus()

    def action_focus_results(self) -> None:
        self.query_one("#remote-results", DataTable).focus()

    def _catalog_changed(self, _reason: str) -> None:
        if self.hits:
            self._remark()

    @work(thread=True, exclusive=True, group="remote-marks", exit_on_error=False)
    def _remark(self) -> None:
        hits = list(self.hits)
        mark_hits(self.app.services.catalog, hits)
        self.app.call_from_thread(self._marks_refreshed, hits)

    def _marks_refreshed(self, hits: list[RemoteHit]) -> None:
        for hit in hits:
            if hit in self.hits:
                self._refresh_mark(hit)
        current = self._current_hit()
        if current is not None:
            self._show_info(current)
        if current is not None and current.versions is not None:
            cursor = self.query_one("#remote-files", DataTable).cursor_row
            self._fill_files(current)
            self.query_one("#remote-files", DataTable).move_cursor(row=cursor)
