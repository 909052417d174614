"""Dialogs: a yes/no question for anything that moves or removes a person's files, and
one line of text to ask for (a Civitai version to link a file to)."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static


class ConfirmScreen(ModalScreen[bool]):
    """Dismissed with True (y / the yes button) or False (n / Esc / the no button)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, question: str, *, yes: str = "Yes", no: str = "Cancel") -> None:
        super().__init__()
        self.question = question
        self.yes = yes
        self.no = no

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Static(self.question, id="confirm-question")
            with Horizontal(id="confirm-buttons"):
                yield Button(f"{self.yes} (y)", variant="error", id="confirm-yes")
                yield Button(f"{self.no} (n)", id="confirm-no")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


class AskScreen(ModalScreen[str | None]):
    """One line of text in a dialog: dismissed with it (Enter) or None (Esc / cancel)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, *, placeholder: str = "", ok: str = "OK") -> None:
        super().__init__()
        self.question = question
        self.placeholder = placeholder
        self.ok = ok

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-dialog"):
            yield Static(self.question, id="ask-question")
            yield Input(placeholder=self.placeholder, id="ask-answer")
            with Horizontal(id="ask-buttons"):
                yield Button(f"{self.ok} (enter)", variant="primary", id="ask-ok")
                yield Button("Cancel (esc)", id="ask-cancel")

    def on_mount(self) -> None:
        self.query_one("#ask-answer", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._answer()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "ask-ok":
            self._answer()
        else:
            self.dismiss(None)

    def _answer(self) -> None:
        self.dismiss(self.query_one("#ask-answer", Input).value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
