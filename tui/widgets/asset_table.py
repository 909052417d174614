"""The library table: a virtual list of every matching asset, drawn one line at a time.

Textual's ``DataTable`` measures every cell of every row it is given, so
filling it with 10,000 rows, once per keystroke, is far too slow for
BENCHMARKS.md (< 50 ms per keystroke). This table knows only how many rows
match and holds pages of :class:`~sdhub.catalog.browse.BrowseRow` (from
:class:`~sdhub.catalog.browse.BrowseIndex`); it draws the lines on screen
(Textual's Line API: :meth:`render_line`) and loads a missing page in a
worker thread when it scrolls into view. Its columns share the width: name
and trigger words stretch, the rest are fixed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import ClassVar

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from sdhub.catalog.browse import BrowseRow, SortKey
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from ..format import KIND_LABELS, base_text, human_size, row_mark, weight_number
from ..messages import AssetChosen, AssetHighlighted, SortRequested

#: Rows resolved per page load (a few screens' worth).
PAGE = 100

#: Rows ``offset`` to ``offset + limit`` of the current result (called in a worker thread).
PageLoader = Callable[[int, int], list[BrowseRow]]


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: str
    width: int
    flex: int = 0
    right: bool = False

    @property
    def sortable(self) -> bool:
        return self.key in SortKey.__members__.values()


COLUMNS: tuple[Column, ...] = (
    Column("flag", "", 1),
    Column(SortKey.NAME, "Name", 14, flex=5),
    Column(SortKey.KIND, "Kind", 10),
    Column(SortKey.BASE, "Base", 8),
    Column(SortKey.SIZE, "Size", 7, right=True),
    Column(SortKey.WEIGHT, "Wt", 4, right=True),
    Column(SortKey.WORDS, "Trigger words", 10, flex=4),
    Column(SortKey.SOURCE, "Source", 7),
    Column(SortKey.RENDER, "Render", 9),
)
_GAP = 1


#: Columns given up first when the table is narrow (the name and the words stay).
DROP_ORDER = (SortKey.RENDER, SortKey.SOURCE, SortKey.BASE, SortKey.SIZE, SortKey.WEIGHT)
#: The narrowest the stretching columns get before another column is dropped.
_FLEX_MIN = 34


def layout_columns(width: int, columns: Sequence[Column] = COLUMNS) -> list[int]:
    """Column widths that fill ``width``: fixed ones first, the rest shared by ``flex``.

    When the fixed columns leave the name and trigger words too little room,
    the least important columns get width 0 (not drawn), in :data:`DROP_ORDER`.
    """
    shown = [True] * len(columns)
    keys = [c.key for c in columns]

    def spare() -> int:
        fixed = sum(c.width for c, on in zip(columns, shown, strict=True) if on and not c.flex)
        gaps = _GAP * (sum(shown) - 1)
        return width - fixed - gaps

    for key in DROP_ORDER:
        if spare() >= _FLEX_MIN or key not in keys:
            continue
        shown[keys.index(key)] = False
    widths = [c.width if on and not c.flex else 0 for c, on in zip(columns, shown, strict=True)]
    room = max(0, spare())
    flex_indexes = [i for i, c in enumerate(columns) if c.flex]
    total_flex = sum(columns[i].flex for i in flex_indexes)
    given = 0
    for i in flex_indexes:
        widths[i] = room * columns[i].flex // total_flex
        given += widths[i]
    if flex_indexes:
        widths[flex_indexes[0]] += room - given
    return widths


def fit(text: str, width: int, right: bool = False) -> str:
    """``text`` cut (with an ellipsis) or padded to exactly ``width`` cells."""
    if width <= 0:
        return ""
    if cell_len(text) > width:
        return set_cell_size(text, width - 1) + "…"
    pad = " " * (width - cell_len(text))
    return pad + text if right else text + pad


class AssetTable(ScrollView, can_focus=True):
    """The virtual table of assets (see the module docstring)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "asset-table--header",
        "asset-table--sorted",
        "asset-table--cursor",
        "asset-table--cursor-blurred",
        "asset-table--muted",
        "asset-table--danger",
        "asset-table--warning",
        "asset-table--ok",
        "asset-table--kind",
        "asset-table--empty",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("k", "cursor(-1)", show=False),
        Binding("j", "cursor(1)", show=False),
        Binding("pageup", "page(-1)", show=False),
        Binding("pagedown", "page(1)", show=False),
        Binding("home", "jump(0)", show=False),
        Binding("end", "jump(-1)", show=False),
        Binding("enter", "choose", "Detail", show=False),
    ]

    def __init__(
        self, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._count = 0
        self._pages: dict[int, list[BrowseRow]] = {}
        self._pending: set[tuple[int, int]] = set()
        self._loader: PageLoader | None = None
        self._widths: tuple[int, list[int]] = (-1, [])
        self.cursor = 0
        #: Bumped on every new result: pages loaded for an older result are dropped.
        self.generation = 0
        #: False until the first result arrived.
        self.loaded = False
        self.sort = SortKey.NAME
        self.descending = False
        self.empty_message = "No assets match the filter."
        self._style_cache: dict[str, Style] = {}

    def _style(self, name: str) -> Style:
        """A component style, looked up once (per theme)."""
        style = self._style_cache.get(name)
        if style is None:
            if name == "base":
                style = self.rich_style
            else:
                style = self.get_component_rich_style(f"asset-table--{name}")
            self._style_cache[name] = style
        return style

    def notify_style_update(self) -> None:
        self._style_cache.clear()
        super().notify_style_update()

    def on_focus(self) -> None:
        self.refresh()

    def on_blur(self) -> None:
        self.refresh()

    # --- data in ---

    def show_result(
        self,
        count: int,
        pages: dict[int, list[BrowseRow]],
        loader: PageLoader | None,
        *,
        cursor: int = 0,
    ) -> None:
        """A new result: ``count`` matches, some pages of them, and how to load the others."""
        previous = self.current_id
        self._count = count
        self._pages = dict(pages)
        self._loader = loader
        self._pending.clear()
        self.generation += 1
        self.loaded = True
        self.cursor = max(0, min(cursor, count - 1))
        self._set_virtual_height(count + 1)
        self._scroll_to_cursor(center=True)
        self.refresh()
        if self.current_id != previous or previous is None:
            self.post_message(AssetHighlighted(self.current_id, self.cursor))

    # --- data out ---

    @property
    def row_count(self) -> int:
        return self._count

    def row_at(self, index: int) -> BrowseRow | None:
        page = self._pages.get(index // PAGE)
        if page is None:
            return None
        offset = index % PAGE
        return page[offset] if offset < len(page) else None

    def loaded_rows(self) -> list[BrowseRow | None]:
        """Every row of the result, None where its page is not loaded (tests, benchmarks)."""
        return [self.row_at(i) for i in range(self._count)]

    @property
    def current_row(self) -> BrowseRow | None:
        return self.row_at(self.cursor) if self._count else None

    @property
    def current_id(self) -> int | None:
        row = self.current_row
        return None if row is None else row.id

    @property
    def ready_rows(self) -> bool:
        """The result arrived and the rows on screen are loaded (what the benchmark waits for)."""
        if not self.loaded:
            return False
        top = int(self.scroll_y)
        bottom = min(self._count, top + max(1, self.size.height - 1))
        return all(self.row_at(i) is not None for i in range(top, bottom))

    # --- moving ---

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor + direction * max(1, self.size.height - 2))

    def action_jump(self, where: int) -> None:
        self.move_cursor(self._count - 1 if where < 0 else 0)

    def action_choose(self) -> None:
        if self.current_id is not None:
            self.post_message(AssetChosen(self.current_id))

    def move_cursor(self, index: int) -> None:
        if not self._count:
            return
        index = max(0, min(index, self._count - 1))
        if index == self.cursor:
            return
        self.cursor = index
        self._scroll_to_cursor()
        self.refresh()
        self.post_message(AssetHighlighted(self.current_id, self.cursor))

    def _scroll_to_cursor(self, center: bool = False) -> None:
        rows = max(1, self.size.height - 1)
        top = int(self.scroll_y)
        if center and not (top <= self.cursor < top + rows):
            self.scroll_to(y=max(0, self.cursor - rows // 2), animate=False, immediate=True)
        elif self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + rows:
            self.scroll_to(y=self.cursor - rows + 1, animate=False, immediate=True)

    async def _on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x)
            if column is not None and column.sortable:
                self.post_message(SortRequested(column.key))
            return
        index = int(self.scroll_y) + offset.y - 1
        if 0 <= index < self._count:
            self.focus()
            self.move_cursor(index)
            if event.chain >= 2:
                self.action_choose()

    def _column_at(self, x: int) -> Column | None:
        left = 0
        for column, width in zip(COLUMNS, self._column_widths(), strict=True):
            if not width:
                continue
            if left <= x < left + width + _GAP:
                return column
            left += width + _GAP
        return None

    # --- drawing ---

    def _content_width(self) -> int:
        return max(1, self.scrollable_content_region.width)

    def _column_widths(self) -> list[int]:
        width = self._content_width()
        if self._widths[0] != width:
            self._widths = (width, layout_columns(width))
        return self._widths[1]

    def on_resize(self, event: events.Resize) -> None:
        self._set_virtual_height(self._count + 1)
        self.refresh()

    def _set_virtual_height(self, height: int) -> None:
        # virtual_size is a layout reactive: only touch it when it really changes.
        size = Size(self._content_width(), height)
        if size != self.virtual_size:
            self.virtual_size = size

    def render_line(self, y: int) -> Strip:
        width = self._content_width()
        if y == 0:
            return self._header(width)
        index = int(self.scroll_y) + y - 1
        if not self.loaded or not self._count:
            if y == 2:
                style = self._style("empty")
                message = "Loading…" if not self.loaded else self.empty_message
                return Strip([Segment(fit("  " + message, width), style)], width)
            return Strip.blank(width, self.rich_style)
        if index >= self._count:
            return Strip.blank(width, self.rich_style)
        row = self.row_at(index)
        if row is None:
            self._request_page(index // PAGE)
        return self._row(index, row, width)

    def _complete(self, page: int) -> bool:
        rows = self._pages.get(page)
        return rows is not None and (len(rows) == PAGE or page * PAGE + len(rows) >= self._count)

    def _header(self, width: int) -> Strip:
        base = self._style("header")
        sorted_style = base + self._style("sorted")
        segments: list[Segment] = []
        for column, cw in zip(COLUMNS, self._column_widths(), strict=True):
            if not cw:
                continue
            label = column.label
            style = base
            if column.key == self.sort:
                label = f"{label}{'▼' if self.descending else '▲'}"
                style = sorted_style
            if segments:
                segments.append(Segment(" " * _GAP, base))
            segments.append(Segment(fit(label, cw, column.right), style))
        return Strip(segments).adjust_cell_length(width, base)

    def _row(self, index: int, row: BrowseRow | None, width: int) -> Strip:
        row_style = self._style("base")
        if index == self.cursor:
            row_style = row_style + self._style("cursor" if self.has_focus else "cursor-blurred")
        widths = self._column_widths()
        if row is None:
            muted = row_style + self._style("muted")
            return Strip([Segment(fit("  …", width), muted)], width)
        cells = _cells(row)
        segments: list[Segment] = []
        for i, (column, cw) in enumerate(zip(COLUMNS, widths, strict=True)):
            if not cw:
                continue
            text, cls = cells[i]
            style = row_style
            if cls:
                style = row_style + self._style(cls)
                if index == self.cursor:
                    style = style + Style(bgcolor=row_style.bgcolor)
            if segments:
                segments.append(Segment(" " * _GAP, row_style))
            segments.append(Segment(fit(text, cw, column.right), style))
        return Strip(segments).adjust_cell_length(width, row_style)

    # --- loading pages ---

    def _request_page(self, page: int) -> None:
        key = (self.generation, page)
        if key in self._pending or self._loader is None or self._complete(page):
            return
        self._pending.add(key)
        self.run_worker(
            partial(self._load_page, self.generation, page, self._loader),
            thread=True,
            group="asset-pages",
            exit_on_error=False,
        )

    def _load_page(self, generation: int, page: int, loader: PageLoader) -> None:
        rows = loader(page * PAGE, PAGE)
        self.app.call_from_thread(self._page_loaded, generation, page, rows)

    def _page_loaded(self, generation: int, page: int, rows: list[BrowseRow]) -> None:
        self._pending.discard((generation, page))
        if generation == self.generation:
            self._pages[page] = rows
            self.refresh()
            if self.cursor // PAGE == page:
                self.post_message(AssetHighlighted(self.current_id, self.cursor))


def _cells(row: BrowseRow) -> list[tuple[str, str]]:
    mark, mark_cls = row_mark(row)
    render = row.verdict or ""
    render_cls = {"ok": "ok", "no-effect": "warning", "incompatible": "warning"}.get(
        render, "danger" if render else ""
    )
    words = ", ".join(row.words)
    return [
        (mark, mark_cls),
        (row.name, ""),
        (KIND_LABELS.get(row.kind, row.kind.value), "kind"),
        (base_text(row.base), ""),
        (human_size(row.size), "muted"),
        (weight_number(row.weight), "muted" if row.weight_default else ""),
        (words, ""),
        (row.site.value if row.site else "local", "" if row.site else "muted"),
        (render, render_cls),
    ]
