"""Settings: library root, layout, tokens, NSFW, parallel downloads — saved to the config file.

Tokens are never shown: the form shows them masked (``sdhub.config.mask``)
and an empty token field means "keep the one I have". The file is written
by :func:`sdhub.config.save_config` (user-only permissions). Environment
variables still win over the file; the form says which ones are set.
"""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, Switch

from sdhub.config import ConfigError, load_settings, mask, save_config
from sdhub.config import home as config_home

if TYPE_CHECKING:
    from ..app import SdhubApp

#: Environment variables that override a setting of the form.
_ENV = {
    "library": "SDHUB_LIBRARY",
    "layout": "SDHUB_LAYOUT",
    "civitai_token": "CIVITAI_TOKEN",
    "hf_token": "HF_TOKEN",
}


class _Token(NamedTuple):
    """A secret the form can replace (typed anew) or forget, never show."""

    key: str  # in Settings and the config file
    label: str
    noun: str
    name: str  # of its widgets: set-NAME, forget-NAME


_TOKENS = (
    _Token("civitai_token", "Civitai API key", "key", "civitai-token"),
    _Token("hf_token", "Hugging Face token", "token", "hf-token"),
)


class SettingsScreen(ModalScreen[bool]):
    """Dismissed with True when saved."""

    app: SdhubApp

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "save", "Save"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._forget: set[str] = set()

    def compose(self) -> ComposeResult:
        s = self.app.services.settings
        with Vertical(id="settings-dialog"):
            yield Static("Settings", id="settings-title")
            with VerticalScroll(id="settings-form"):
                yield Label("Library root (the WebUI folder)")
                yield Input(
                    str(s.library or ""),
                    placeholder="/path/to/stable-diffusion-webui",
                    id="set-library",
                )
                yield Label("Folder layout")
                yield Select(
                    [
                        ("detect from the folders", ""),
                        ("A1111 / Forge", "a1111"),
                        ("ComfyUI", "comfyui"),
                    ],
                    value=s.layout or "",
                    allow_blank=False,
                    id="set-layout",
                )
                for token in _TOKENS:
                    yield Label(f"{token.label} — now {mask(getattr(s, token.key))}")
                    with Horizontal(classes="token-row"):
                        yield Input(
                            password=True,
                            placeholder=f"type a new {token.noun} to replace it",
                            id=f"set-{token.name}",
                        )
                        yield Button("Forget", id=f"forget-{token.name}", classes="forget")
                with Horizontal(classes="switch-row"):
                    yield Switch(value=s.nsfw, id="set-nsfw")
                    yield Label("Show NSFW results and previews")
                yield Label("Parallel downloads")
                yield Input(str(s.jobs), type="integer", id="set-jobs")
                yield Static(self._note(), id="settings-note", markup=False)
            with Horizontal(id="settings-buttons"):
                yield Button("Save (ctrl+s)", variant="primary", id="settings-save")
                yield Button("Cancel (esc)", id="settings-cancel")

    def _note(self) -> str:
        path = self.app.services.settings.config_path
        lines = [f"Saved in {path} (readable by you only)."]
        overridden = [env for env in _ENV.values() if os.environ.get(env)]
        if overridden:
            lines.append(
                f"Set in the environment, and winning over this file: {', '.join(overridden)}."
            )
        return "\n".join(lines)

    def on_mount(self) -> None:
        self.query_one("#set-library", Input).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        button = event.button.id or ""
        if button == "settings-save":
            self.action_save()
        elif button == "settings-cancel":
            self.action_cancel()
        elif button.startswith("forget-"):
            self._forget.add(next(t.key for t in _TOKENS if button == f"forget-{t.name}"))
            event.button.label = "Forgotten"
            event.button.disabled = True

    def updates(self) -> dict[str, Any]:
        """What the form changes, as config keys (None removes a key)."""
        library = self.query_one("#set-library", Input).value.strip()
        layout = self.query_one("#set-layout", Select).value
        jobs_text = self.query_one("#set-jobs", Input).value.strip()
        changes: dict[str, Any] = {
            "library": str(Path(library).expanduser()) if library else None,
            "layout": layout if isinstance(layout, str) and layout else None,
            "nsfw": self.query_one("#set-nsfw", Switch).value,
            "jobs": max(1, min(16, int(jobs_text))) if jobs_text.isdigit() else 3,
        }
        for token in _TOKENS:
            typed = self.query_one(f"#set-{token.name}", Input).value.strip()
            if typed:
                changes[token.key] = typed
            elif token.key in self._forget:
                changes[token.key] = None
        return changes

    def action_save(self) -> None:
        services = self.app.services
        changes = self.updates()
        library = changes.get("library")
        if library and not Path(library).is_dir():
            self.notify(f"{library}: no such folder", title="Settings", severity="error")
            return
        current = services.settings
        try:
            path = save_config(current.home, changes)
            if current.home == config_home():
                settings = load_settings()  # the environment still wins over the file
            else:  # an app started on explicit settings (tests, benchmarks)
                settings = replace(
                    current,
                    library=Path(library) if library else None,
                    layout=changes["layout"],
                    nsfw=changes["nsfw"],
                    jobs=changes["jobs"],
                    **{
                        t.key: changes[t.key] if t.key in changes else getattr(current, t.key)
                        for t in _TOKENS
                    },
                )
        except (ConfigError, OSError) as exc:
            self.notify(str(exc), title="Settings", severity="error", timeout=10)
            return
        services.reload(settings)
        self.app.catalog_changed.publish("settings")
        self.notify(f"Saved to {path}", title="Settings")
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)
