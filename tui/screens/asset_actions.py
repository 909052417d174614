"""The actions on one selected asset, shared by the library screen and the detail screen.

Each action runs its work in a thread worker (:mod:`sdhub.hub.actions`),
then notifies and tells the app the catalog changed so every screen
refreshes. The screens provide :meth:`selected_id`, :meth:`selected_asset`
and a :class:`~..widgets.prompt_bar.PromptBar`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from sdhub.catalog import Asset, Library
from textual import work
from textual.binding import Binding

from ..messages import CatalogChanged
from ..widgets.prompt_bar import PromptBar, clipboard_text
from .confirm import AskScreen, ConfirmScreen

if TYPE_CHECKING:
    from ..app import SdhubApp

ASSET_BINDINGS = [
    Binding("c", "copy_prompt", "Copy prompt"),
    Binding("plus,equals_sign", "weight(1)", "Weight", key_display="+/-"),
    Binding("minus", "weight(-1)", "Weight -", show=False),
    Binding("0", "weight_reset", "Reset weight", show=False),
    Binding("e", "enrich", "Enrich"),
    Binding("L", "link", "Link to Civitai", show=False),
    Binding("p", "place", "Place"),
    Binding("o", "open_folder", "Open"),
    Binding("O", "open_page", "Open page", show=False),
    Binding("R", "render", "Render", show=False),
    Binding("delete,D", "trash", "Trash", key_display="del"),
]


class AssetActions:
    """Mixed into a Screen."""

    app: SdhubApp

    # --- what the screen provides ---

    def selected_id(self) -> int | None:  # pragma: no cover - overridden
        raise NotImplementedError

    def selected_asset(self) -> Asset | None:  # pragma: no cover - overridden
        raise NotImplementedError

    @property
    def prompt_bar(self) -> PromptBar:  # pragma: no cover - overridden
        raise NotImplementedError

    # --- prompt ---

    def action_copy_prompt(self) -> None:
        snippet = self.prompt_bar.snippet
        if snippet is None:
            self.notify("Select an asset first.", severity="warning")
            return
        text = clipboard_text(snippet)
        if not text:
            self.notify(f"{snippet.name}: nothing to put in a prompt.", severity="warning")
            return
        self.app.copy_to_clipboard(text)
        self.notify(text, title="Copied to the clipboard")

    def action_weight(self, steps: int) -> None:
        if not self.prompt_bar.nudge(steps):
            self.notify("This kind is not applied at a weight.", severity="information")

    def action_weight_reset(self) -> None:
        self.prompt_bar.reset()

    # --- actions with work behind them ---

    def action_enrich(self) -> None:
        asset_id = self.selected_id()
        if asset_id is not None:
            self._enrich(asset_id)

    def action_link(self) -> None:
        asset = self.selected_asset()
        if asset is None:
            return
        question = (
            f"Link [b]{asset.name}[/b] to which Civitai version?\n\n"
            "MODEL@VERSION, a model or version page URL, or MODEL for its newest version. "
            "For files whose published hash is wrong, so e finds nothing."
        )

        def answered(ref: str | None) -> None:
            if ref:
                self._enrich(asset.id, ref)

        self.app.push_screen(
            AskScreen(question, placeholder="e.g. 4201@130072", ok="Link"), answered
        )

    @work(thread=True, group="asset-action", exit_on_error=False)
    def _enrich(self, asset_id: int, link_to: str | None = None) -> None:
        from sdhub.hub.actions import enrich_asset
        from sdhub.hub.errors import HubError

        services = self.app.services
        title = "Link" if link_to else "Enrich"
        asking = f"Asking Civitai for {link_to}…" if link_to else "Looking it up on Civitai…"
        self.app.call_from_thread(self.notify, asking, timeout=2)
        try:
            result = enrich_asset(
                services.catalog,
                services.civitai(),
                asset_id,
                link_to=link_to,
                library=services.library,
                nsfw=services.settings.nsfw,
            )
        except (HubError, LookupError) as exc:
            self.app.call_from_thread(self.notify, str(exc), title=title, severity="error")
            return
        self._done(result.ok, result.message, title, changed=result.ok)

    def action_place(self) -> None:
        asset_id = self.selected_id()
        if asset_id is None:
            return
        library = self.app.services.library
        if library is None:
            self.notify("Set a library root in Settings (,) first.", severity="warning")
            return
        self._plan_place(asset_id, library)

    @work(thread=True, group="asset-action", exit_on_error=False)
    def _plan_place(self, asset_id: int, library: Library) -> None:
        from sdhub.hub.actions import placement_of

        move = placement_of(self.app.services.catalog, library, asset_id)
        self.app.call_from_thread(self._confirm_place, asset_id, library, move)

    def _confirm_place(self, asset_id: int, library: Library, move: object) -> None:
        from sdhub.hub.place import Move, MoveStatus

        if not isinstance(move, Move):
            self.notify("Already where it belongs.", title="Place")
            return
        if move.status is not MoveStatus.PLANNED or move.target is None:
            self.notify(f"Left where it is: {move.reason}", title="Place", severity="warning")
            return
        question = (
            f"Move this {move.kind.value} where it belongs?\n\n{move.source}\n→ {move.target}"
            + (f"\n\nand {len(move.sidecars)} sidecar file(s)" if move.sidecars else "")
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._place(asset_id, library)

        self.app.push_screen(ConfirmScreen(question, yes="Move"), answered)

    @work(thread=True, group="asset-action", exit_on_error=False)
    def _place(self, asset_id: int, library: Library) -> None:
        from sdhub.hub.actions import place_asset

        result = place_asset(self.app.services.catalog, library, asset_id)
        self._done(result.ok, result.message, "Place", changed=result.path is not None)

    def action_open_folder(self) -> None:
        asset = self.selected_asset()
        if asset is not None:
            self._open(os.path.dirname(asset.path), "folder")

    def action_open_page(self) -> None:
        asset = self.selected_asset()
        if asset is None:
            return
        if asset.source is None or not asset.source.url:
            self.notify("Not linked to a page: e looks it up on Civitai.", severity="warning")
            return
        self._open(asset.source.url, "page")

    def _open(self, target: str, what: str) -> None:
        from sdhub.hub.actions import open_target

        if open_target(target):
            self.notify(target, title=f"Opening the {what}")
        else:
            self.notify(target, title=f"No desktop to open the {what} with", timeout=12)

    def action_render(self) -> None:
        asset = self.selected_asset()
        if asset is not None:
            self.notify(f"Rendering {asset.name}… (runs in the background)", timeout=3)
            self._render_asset(asset.path)

    @work(thread=True, group="asset-render", exit_on_error=False)
    def _render_asset(self, path: str) -> None:
        from ..render_child import render_in_child

        result = render_in_child(path)
        self._done(result.ok, result.message, "Render", changed=True)

    def action_trash(self) -> None:
        asset = self.selected_asset()
        if asset is None:
            return
        trash = self.app.services.settings.trash_dir
        question = (
            f"Move [b]{asset.name}[/b] and its sidecar files to the trash?\n\n"
            f"{asset.path}\n→ {trash}\n\n"
            "Nothing is deleted: empty that folder yourself when sure."
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self._trash(asset.id)

        self.app.push_screen(ConfirmScreen(question, yes="Move to trash"), answered)

    @work(thread=True, group="asset-action", exit_on_error=False)
    def _trash(self, asset_id: int) -> None:
        from sdhub.hub.actions import trash_asset

        services = self.app.services
        try:
            result = trash_asset(services.catalog, asset_id, services.settings.trash_dir)
        except OSError as exc:
            self._done(False, f"cannot move it: {exc}", "Trash", changed=False)
            return
        self._done(result.ok, result.message, "Trash", changed=True)

    def _done(self, ok: bool, message: str, title: str, *, changed: bool) -> None:
        """Called from a worker thread: notify, and refresh every screen when needed."""
        severity = "information" if ok else "warning"
        self.app.call_from_thread(self.notify, message, title=title, severity=severity)
        if changed:
            self.app.post_message(CatalogChanged(title.lower()))
