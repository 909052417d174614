"""One asset on the whole screen: every hash, the preview, the description, the prompt."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from sdhub.catalog import Asset, CatalogError
from sdhub.catalog.browse import AssetDetail, Note, NoteLevel, asset_detail
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer

from ..widgets.detail_pane import DetailPane
from ..widgets.nav_bar import NavBar
from ..widgets.prompt_bar import PromptBar
from .asset_actions import ASSET_BINDINGS, AssetActions

if TYPE_CHECKING:
    from ..app import SdhubApp


class DetailScreen(AssetActions, Screen[None]):
    """Pushed over the library by Enter; Esc goes back."""

    app: SdhubApp

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Back"),
        *ASSET_BINDINGS,
    ]

    def __init__(self, asset_id: int, *, weight: float | None = None) -> None:
        super().__init__()
        self.asset_id = asset_id
        self.initial_weight = weight
        self.detail: AssetDetail | None = None

    def compose(self) -> ComposeResult:
        yield NavBar("library", id="nav")
        yield DetailPane(images=self.app.image_support, full=True, id="detail-full")
        yield PromptBar(id="prompt-bar")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(DetailPane).clear("Loading…")
        self.app.catalog_changed.subscribe(self, lambda _reason: self.load())
        self.load()

    @property
    def prompt_bar(self) -> PromptBar:
        return self.query_one(PromptBar)

    def selected_id(self) -> int | None:
        return self.asset_id

    def selected_asset(self) -> Asset | None:
        return self.detail.asset if self.detail else None

    @work(thread=True, exclusive=True, exit_on_error=False)
    def load(self) -> None:
        from sdhub.hub.actions import label_mismatch

        services = self.app.services
        try:
            with services.catalog.session() as session:
                detail = asset_detail(session, self.asset_id, services.library)
        except CatalogError:
            self.app.call_from_thread(self._gone)
            return
        source = detail.asset.source
        mismatch = label_mismatch(detail.asset.kind.value, source.model_type if source else None)
        extra = [Note(NoteLevel.WARNING, mismatch)] if mismatch else []
        self.app.call_from_thread(self._show, detail, extra)

    def _show(self, detail: AssetDetail, extra: list[Note]) -> None:
        first = self.detail is None
        self.detail = detail
        self.query_one(DetailPane).show(detail, extra)
        self.prompt_bar.set_asset(detail.asset, detail.clashes)
        if first and self.initial_weight is not None:
            self.prompt_bar.weight = self.initial_weight
            self.prompt_bar.redraw()
        self.query_one(DetailPane).focus()

    def _gone(self) -> None:
        self.detail = None
        self.query_one(DetailPane).clear(
            "This asset is no longer in the catalog (moved to the trash?)."
        )
        self.prompt_bar.set_asset(None)
