"""The filter side panel: kinds, bases, sources and flags, each with how many assets it shows."""

from __future__ import annotations

from dataclasses import dataclass

from sdhub.catalog.browse import Facets, SourceFilter
from sdhub.models.kinds import Base, Kind
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import SelectionList
from textual.widgets.selection_list import Selection

FLAGS = (
    ("missing_metadata", "needs metadata"),
    ("duplicates", "duplicates"),
    ("unsafe", "unsafe pickles"),
)
_SOURCE_LABELS = {
    SourceFilter.CIVITAI: "Civitai",
    SourceFilter.HF: "Hugging Face",
    SourceFilter.LOCAL: "local only",
}


@dataclass(frozen=True, slots=True)
class PanelChoice:
    kinds: frozenset[Kind]
    bases: frozenset[Base]
    sources: frozenset[SourceFilter]
    flags: frozenset[str]


class FilterPanel(VerticalScroll):
    """Four multi-select lists; the screen reads :meth:`choice` when one changes."""

    def compose(self) -> ComposeResult:
        for list_id, title in (
            ("filter-kinds", "Kind"),
            ("filter-bases", "Base"),
            ("filter-sources", "Source"),
            ("filter-flags", "Show only"),
        ):
            selection: SelectionList[str] = SelectionList(id=list_id)
            selection.border_title = title
            yield selection

    def show_facets(self, facets: Facets) -> None:
        """Fill the lists (keeping what is ticked) with the catalog's counts."""
        self._fill(
            "#filter-kinds",
            [(k.value, f"{k.value}  {n:,}") for k, n in _sorted(facets.kinds)],
        )
        self._fill(
            "#filter-bases",
            [(b.value, f"{b.value}  {n:,}") for b, n in _sorted(facets.bases)],
        )
        self._fill(
            "#filter-sources",
            [
                (s.value, f"{_SOURCE_LABELS[s]}  {facets.sources.get(s, 0):,}")
                for s in SourceFilter
                if facets.sources.get(s)
            ],
        )
        counts = {
            "missing_metadata": facets.missing_metadata,
            "duplicates": facets.duplicates,
            "unsafe": facets.unsafe,
        }
        self._fill("#filter-flags", [(key, f"{label}  {counts[key]:,}") for key, label in FLAGS])

    def _fill(self, selector: str, items: list[tuple[str, str]]) -> None:
        widget: SelectionList[str] = self.query_one(selector, SelectionList)
        ticked = set(widget.selected)
        with widget.prevent(SelectionList.SelectedChanged):
            widget.clear_options()
            widget.add_options([Selection(label, value, value in ticked) for value, label in items])

    def choice(self) -> PanelChoice:
        def ticked(selector: str) -> set[str]:
            return set(self.query_one(selector, SelectionList).selected)

        return PanelChoice(
            kinds=frozenset(Kind(v) for v in ticked("#filter-kinds")),
            bases=frozenset(Base(v) for v in ticked("#filter-bases")),
            sources=frozenset(SourceFilter(v) for v in ticked("#filter-sources")),
            flags=frozenset(ticked("#filter-flags")),
        )

    def clear(self) -> None:
        for widget in self.query(SelectionList):
            with widget.prevent(SelectionList.SelectedChanged):
                widget.deselect_all()


def _sorted(counts: dict) -> list:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0].value))
