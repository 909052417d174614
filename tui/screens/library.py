"""The library screen: every local asset, filtered as you type, with its detail and prompt."""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, ClassVar

from sdhub.catalog import Asset
from sdhub.catalog.browse import (
    AssetDetail,
    AssetQuery,
    BrowseRow,
    Facets,
    Note,
    NoteLevel,
    SortKey,
    asset_detail,
    first_page,
)
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, SelectionList
from textual.worker import get_current_worker

from ..messages import AssetChosen, AssetHighlighted, SortRequested
from ..widgets.asset_table import COLUMNS, PAGE, AssetTable
from ..widgets.detail_pane import DetailPane
from ..widgets.filter_bar import FilterBar
from ..widgets.filter_panel import FilterPanel
from ..widgets.nav_bar import NavBar
from ..widgets.prompt_bar import PromptBar
from .asset_actions import ASSET_BINDINGS, AssetActions

if TYPE_CHECKING:
    from ..app import SdhubApp

_SORTABLE = [c.key for c in COLUMNS if c.sortable]
#: Rows fetched with a new result: a tall terminal's screenful (a page is PAGE rows).
FIRST_ROWS = 64
#: How long the cursor must rest on a row before its detail loads (key repeat skips rows).
DETAIL_DELAY = 0.06


class LibraryScreen(AssetActions, Screen[None]):
    """Table, filters, detail pane and prompt bar (see the module docstring)."""

    app: SdhubApp

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "focus_filter", "Filter", key_display="/"),
        Binding("escape", "clear_filter", "Clear", show=False),
        Binding("f", "toggle_filters", "Filters"),
        Binding("i", "toggle_detail", "Info pane", show=False),
        *ASSET_BINDINGS,
        Binding("s", "next_sort", "Sort"),
        Binding("S", "reverse_sort", "Reverse sort", show=False),
        Binding("f5,ctrl+r", "rescan", "Rescan", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.query_state = AssetQuery()
        self.facets = Facets()
        self._detail_timer = None
        self._detail_id: int | None = None

    # --- layout ---

    def compose(self) -> ComposeResult:
        yield NavBar("library", id="nav")
        with Horizontal(id="library-body"):
            with Vertical(id="library-main"):
                yield FilterBar(id="filter-bar")
                yield AssetTable(id="asset-table")
                yield PromptBar(id="prompt-bar")
            yield DetailPane(images=self.app.image_support, id="detail-pane")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DetailPane).clear("Loading…")
        self.table.focus()
        self.app.catalog_changed.subscribe(self, self._catalog_changed)
        self.app.downloads_changed.subscribe(self, self._downloads_changed)
        self._show_library()
        self.show_first_page()
        self.run_query()

    @property
    def table(self) -> AssetTable:
        return self.query_one(AssetTable)

    @property
    def prompt_bar(self) -> PromptBar:
        return self.query_one(PromptBar)

    @property
    def filter_text(self) -> str:
        return self.query_state.text

    def _show_library(self) -> None:
        library = self.app.services.library
        text = f"{library.root}  ({library.layout.value})" if library else "no library set"
        self.query_one(NavBar).set_status(library=text)

    def _downloads_changed(self, summary: str) -> None:
        self.query_one(NavBar).set_status(downloads=summary)

    # --- queries (worker threads; the database does the work) ---

    @work(thread=True, group="library-first", exit_on_error=False)
    def show_first_page(self) -> None:
        """A usable table at once, from the catalog itself, while the index builds."""
        try:
            with self.app.services.catalog.session() as session:
                total, rows = first_page(session, PAGE)
        except Exception as exc:
            self.app.call_from_thread(self._query_failed, exc)
            return
        self.app.call_from_thread(self._show_first_page, total, rows)

    def _show_first_page(self, total: int, rows: list[BrowseRow]) -> None:
        if self.table.loaded:
            return  # the index was quicker
        if not total:
            self.table.empty_message = self._empty_message()
        # Pages beyond the first come from the index once it is built.
        index = self.app.services.browse_index
        self.table.show_result(total, {0: rows}, partial(index.page, AssetQuery()))
        self._show_count(total)

    @work(thread=True, exclusive=True, group="library-query", exit_on_error=False)
    def run_query(self, keep: int | None = None) -> None:
        """Count and first page of the current query (keeping the cursor on ``keep``)."""
        query = self.query_state
        index = self.app.services.browse_index
        try:
            count = index.count(query)
            position = index.position(query, keep) if keep is not None else None
            cursor = position or 0
            start = cursor // PAGE
            # The first screenful now, the rest of its page when it scrolls into view.
            limit = PAGE if position else FIRST_ROWS
            rows = index.page(query, start * PAGE, limit)
        except Exception as exc:
            self.app.call_from_thread(self._query_failed, exc)
            return
        if get_current_worker().is_cancelled:
            return
        self.app.call_from_thread(self._show_result, query, count, start, rows, cursor)
        if not self.facets.total or keep is not None:
            self.app.call_from_thread(self.load_facets)

    def _show_result(
        self, query: AssetQuery, count: int, start: int, rows: list[BrowseRow], cursor: int
    ) -> None:
        if query != self.query_state:
            return  # a newer query is on its way
        table = self.table
        if not count:
            table.empty_message = self._empty_message()
        index = self.app.services.browse_index
        table.show_result(count, {start: rows}, partial(index.page, query), cursor=cursor)
        self._show_count()
        if not count:
            self._clear_detail()

    def _query_failed(self, exc: Exception) -> None:
        self.table.empty_message = f"Cannot read the catalog: {exc}"
        self.table.show_result(0, {}, None)
        self.notify(str(exc), title="Catalog", severity="error", timeout=15)

    def _empty_message(self) -> str:
        if self.query_state.filtered:
            return "No assets match the filter (Esc clears it)."
        library = self.app.services.library
        if library is None:
            return (
                "The catalog is empty. Set a library in Settings (,), or run "
                "`sdhub scan DIR`; `sdhub demo` shows a sample library."
            )
        return f"The catalog is empty. F5 scans {library.root}."

    def _show_count(self, total: int | None = None) -> None:
        q = self.query_state
        active = [k.value for k in sorted(q.kinds)] + [b.value for b in sorted(q.bases)]
        active += [s.value for s in sorted(q.sources)]
        active += [
            label
            for flag, label in (
                ("missing_metadata", "needs metadata"),
                ("duplicates", "duplicates"),
                ("unsafe", "unsafe"),
            )
            if getattr(q, flag)
        ]
        total = total or self.facets.total or self.table.row_count
        self.query_one(FilterBar).show_count(self.table.row_count, total, active)

    @work(thread=True, exclusive=True, group="library-facets", exit_on_error=False)
    def load_facets(self) -> None:
        try:
            result = self.app.services.browse_index.facets()
        except Exception:
            return  # run_query reports catalog trouble
        self.app.call_from_thread(self._show_facets, result)

    def _show_facets(self, result: Facets) -> None:
        self.facets = result
        panel = self._filter_panel()
        if panel is not None:
            panel.show_facets(result)
        if self.table.loaded:
            self._show_count()

    def _filter_panel(self) -> FilterPanel | None:
        """The filter panel, once it was opened (mounted on first use: a faster start)."""
        panels = self.query(FilterPanel)
        return panels.first() if panels else None

    # --- detail ---

    @on(AssetHighlighted)
    def _highlighted(self, message: AssetHighlighted) -> None:
        if message.asset_id is None:
            self._clear_detail()
            return
        self._detail_id = message.asset_id
        if self._detail_timer is not None:
            self._detail_timer.stop()
        self._detail_timer = self.set_timer(DETAIL_DELAY, self._load_detail_now)

    def _load_detail_now(self) -> None:
        if self._detail_id is not None:
            self.load_detail(self._detail_id)

    @work(thread=True, exclusive=True, group="library-detail", exit_on_error=False)
    def load_detail(self, asset_id: int) -> None:
        from sdhub.catalog import CatalogError
        from sdhub.hub.actions import label_mismatch

        services = self.app.services
        try:
            with services.catalog.session() as session:
                detail = asset_detail(session, asset_id, services.library)
        except CatalogError:
            return  # gone meanwhile; the next query shows the truth
        extra = []
        source = detail.asset.source
        mismatch = label_mismatch(detail.asset.kind.value, source.model_type if source else None)
        if mismatch:
            extra.append(Note(NoteLevel.WARNING, mismatch))
        if get_current_worker().is_cancelled:
            return
        self.app.call_from_thread(self._show_detail, detail, extra)

    def _show_detail(self, detail: AssetDetail, extra: list[Note]) -> None:
        if detail.asset.id != self.table.current_id:
            return
        self.query_one(DetailPane).show(detail, extra)
        self.prompt_bar.set_asset(detail.asset, detail.clashes)

    def _clear_detail(self) -> None:
        self.query_one(DetailPane).clear()
        self.prompt_bar.set_asset(None)

    @on(AssetChosen)
    def _chosen(self, message: AssetChosen) -> None:
        from .detail import DetailScreen

        self.app.push_screen(DetailScreen(message.asset_id, weight=self.prompt_bar.weight))

    # --- what the asset actions need ---

    def selected_id(self) -> int | None:
        return self.table.current_id

    def selected_asset(self) -> Asset | None:
        detail = self.query_one(DetailPane).detail
        if detail is not None and detail.asset.id == self.table.current_id:
            return detail.asset
        return None

    # --- filtering and sorting ---

    @on(Input.Changed, "#filter-input")
    def _filter_typed(self, event: Input.Changed) -> None:
        self.set_query(self.query_state.with_(text=event.value))

    @on(Input.Submitted, "#filter-input")
    def _filter_done(self) -> None:
        self.table.focus()

    @on(SelectionList.SelectedChanged)
    def _panel_changed(self) -> None:
        panel = self._filter_panel()
        if panel is None:
            return
        choice = panel.choice()
        self.set_query(
            self.query_state.with_(
                kinds=choice.kinds,
                bases=choice.bases,
                sources=choice.sources,
                missing_metadata="missing_metadata" in choice.flags,
                duplicates="duplicates" in choice.flags,
                unsafe="unsafe" in choice.flags,
            )
        )

    def set_query(self, query: AssetQuery) -> None:
        if query == self.query_state:
            return
        self.query_state = query
        self.run_query()

    @on(SortRequested)
    def _sort_clicked(self, message: SortRequested) -> None:
        key = SortKey(message.column)
        if key == self.query_state.sort:
            self._sort(key, not self.query_state.descending)
        else:
            self._sort(key, key in (SortKey.SIZE, SortKey.ADDED))

    def action_next_sort(self) -> None:
        index = _SORTABLE.index(self.query_state.sort) if self.query_state.sort in _SORTABLE else -1
        key = SortKey(_SORTABLE[(index + 1) % len(_SORTABLE)])
        self._sort(key, False)
        self.notify(f"Sorted by {key.value}", timeout=1.5)

    def action_reverse_sort(self) -> None:
        self._sort(self.query_state.sort, not self.query_state.descending)

    def _sort(self, key: SortKey, descending: bool) -> None:
        table = self.table
        table.sort, table.descending = key, descending
        self.set_query(self.query_state.with_(sort=key, descending=descending))

    def action_focus_filter(self) -> None:
        # set_focus, not focus(): the keys typed right after "/" must land in the input.
        self.set_focus(self.query_one(FilterBar).input)

    def action_clear_filter(self) -> None:
        bar = self.query_one(FilterBar)
        if bar.input.value:
            bar.input.value = ""
        elif self.query_state.filtered:
            panel = self._filter_panel()
            if panel is not None:
                panel.clear()
            self.set_query(
                AssetQuery(sort=self.query_state.sort, descending=self.query_state.descending)
            )
        self.table.focus()

    async def action_toggle_filters(self) -> None:
        panel = self._filter_panel()
        if panel is None:
            panel = FilterPanel(id="filter-panel")
            await self.query_one("#library-body").mount(panel, before=0)
            panel.show_facets(self.facets)
        else:
            panel.display = not panel.display
        self.set_class(bool(panel.display), "-filters")
        if panel.display:
            panel.query(SelectionList).first().focus()
        else:
            self.table.focus()

    def action_toggle_detail(self) -> None:
        pane = self.query_one(DetailPane)
        pane.display = not pane.display

    # --- refreshing ---

    def _catalog_changed(self, reason: str) -> None:
        self.app.services.browse_index.invalidate()
        self._show_library()
        self.run_query(keep=self.table.current_id)
        if self.table.current_id is not None:
            self.load_detail(self.table.current_id)

    def action_rescan(self) -> None:
        library = self.app.services.library
        if library is None:
            self.notify("Set a library root in Settings (,) first.", severity="warning")
            return
        self.notify(f"Scanning {library.root}…", timeout=3)
        self._rescan()

    @work(thread=True, exclusive=True, group="library-scan", exit_on_error=False)
    def _rescan(self) -> None:
        from sdhub.catalog import scan_library

        from ..messages import CatalogChanged

        services = self.app.services
        library = services.library
        assert library is not None
        report = scan_library(services.catalog, [], library=library)
        s = report.stats
        message = (
            f"{s.files} files: {s.new} new, {s.changed} changed, {s.moved} moved, "
            f"{s.missing} missing ({s.seconds:.1f} s)"
        )
        self.app.call_from_thread(self.notify, message, title="Scan")
        self.app.post_message(CatalogChanged("scan"))
