"""The command palette (Ctrl+P): every action of the app by name, searchable.

Commands come from the screen the palette was opened on (its actions on
the selected asset, sorting, filters) plus the app's own (go to a place,
settings, rescan).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial

from sdhub.catalog.browse import SortKey
from sdhub.models.kinds import Kind
from textual.command import DiscoveryHit, Hit, Hits, Provider

Command = tuple[str, str, Callable[[], object]]


class SdhubCommands(Provider):
    """sdhub's commands for the palette."""

    def _commands(self) -> Iterator[Command]:
        app = self.app
        screen = self.screen
        yield ("Go to the library", "local assets", partial(app.switch_mode, "library"))
        yield (
            "Go to the remote browser",
            "search Civitai and Hugging Face",
            partial(app.switch_mode, "remote"),
        )
        yield ("Go to downloads", "the download queue", partial(app.switch_mode, "downloads"))
        yield ("Settings", "library root, layout, tokens", partial(app.run_action, "settings"))

        from .screens.asset_actions import AssetActions
        from .screens.library import LibraryScreen

        if isinstance(screen, AssetActions):
            for name, action, help_text in (
                ("Copy prompt snippet", "copy_prompt", "to the clipboard (OSC 52)"),
                ("Enrich from Civitai", "enrich", "look the file up by its SHA256"),
                ("Place into its folder", "place", "move it where its kind belongs"),
                ("Open its folder", "open_folder", "with the desktop"),
                ("Open its web page", "open_page", "Civitai or Hugging Face"),
                ("Render it", "render", "validation render (sdhub render)"),
                ("Move it to the trash", "trash", "asks first"),
            ):
                yield (name, help_text, partial(screen.run_action, action))
        if isinstance(screen, LibraryScreen):
            yield ("Rescan the library", "find new, changed and moved files", screen.action_rescan)
            yield (
                "Show or hide the filter panel",
                "kinds, bases, sources",
                screen.action_toggle_filters,
            )
            yield ("Clear all filters", "show every asset", screen.action_clear_filter)
            for key in SortKey:
                yield (
                    f"Sort by {key.value}",
                    "in the library table",
                    partial(screen._sort, key, False),
                )
            for kind in (Kind.LORA, Kind.CHECKPOINT, Kind.EMBEDDING, Kind.VAE, Kind.HYPERNETWORK):
                query = screen.query_state.with_(kinds=frozenset({kind}))
                yield (f"Show only {kind.value}s", "filter", partial(screen.set_query, query))
            for flag, label in (
                ("unsafe", "unsafe pickles"),
                ("duplicates", "duplicates"),
                ("missing_metadata", "assets that need metadata"),
            ):
                query = screen.query_state.with_(**{flag: True})
                yield (f"Show only {label}", "filter", partial(screen.set_query, query))

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
