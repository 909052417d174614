"""The prompt snippet of the selected asset, its weight, and the copy key."""

from __future__ import annotations

from rich.text import Text
from sdhub.catalog import Asset, PromptSnippet, format_weight, prompt_snippet
from textual.widgets import Static

#: One press of + or - moves the weight by this much.
STEP = 0.05
LIMITS = (-2.0, 3.0)


def clipboard_text(snippet: PromptSnippet) -> str:
    """What one key copies: the prompt text, else the negative prompt text, else the setting."""
    if snippet.positive:
        return snippet.positive
    if snippet.negative:
        return snippet.negative
    if snippet.setting:
        return snippet.setting[1]
    return ""


class PromptBar(Static):
    """``<lora:mystyle:0.7>, mystyle`` at the chosen weight; ``c`` copies it."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self.asset: Asset | None = None
        self.clashes: list[str] = []
        self.weight: float | None = None

    def set_asset(self, asset: Asset | None, clashes: list[str] | None = None) -> None:
        keep = self.asset is not None and asset is not None and self.asset.id == asset.id
        self.asset = asset
        self.clashes = clashes or []
        if not keep:
            self.weight = None
        self.redraw()

    @property
    def snippet(self) -> PromptSnippet | None:
        if self.asset is None:
            return None
        return prompt_snippet(self.asset, weight=self.weight, clashes=self.clashes)

    def nudge(self, steps: int) -> bool:
        """Move the weight; False for kinds that have none."""
        snippet = self.snippet
        if snippet is None or snippet.weight is None:
            return False
        value = round(snippet.weight + steps * STEP, 2)
        self.weight = max(LIMITS[0], min(LIMITS[1], value))
        self.redraw()
        return True

    def reset(self) -> None:
        self.weight = None
        self.redraw()

    def redraw(self) -> None:
        snippet = self.snippet
        text = Text()
        text.append(" Prompt ", style="bold reverse")
        text.append(" ")
        if snippet is None:
            text.append("select an asset", style="dim")
            self.update(text, layout=False)
            return
        if snippet.setting:
            text.append(f"{snippet.setting[0]}: ", style="dim")
            text.append(snippet.setting[1], style="bold")
            if snippet.positive:
                text.append("   prompt: ", style="dim")
                text.append(snippet.positive)
        elif snippet.positive:
            text.append(snippet.positive, style="bold")
            if snippet.negative:
                text.append("   negative: ", style="dim")
                text.append(snippet.negative)
        elif snippet.negative:
            text.append("negative prompt: ", style="dim")
            text.append(snippet.negative, style="bold")
        else:
            text.append("nothing to put in a prompt", style="dim")
        text.append("\n")
        if snippet.weight is not None:
            recommended = self.asset.weight if self.asset else None
            text.append(f" weight {format_weight(snippet.weight)}", style="bold")
            if self.weight is not None and recommended is not None:
                text.append(f" (recommended {format_weight(recommended.default)})", style="dim")
            elif recommended is not None:
                text.append(f" ({recommended.source.value})", style="dim")
            text.append("   + / - nudge   0 reset", style="dim")
        text.append("   c copy", style="dim")
        if self.asset is not None and self.asset.safety.verdict.value == "dangerous":
            text.append("   ✗ unsafe pickle: do not load this file", style="bold red")
        for warning in snippet.warnings[:1]:
            text.append(f"   ⚠ {warning}", style="yellow")
        self.update(text, layout=False)
