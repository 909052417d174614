"""The snippet a WebUI expects for an asset (FORMATS.md "Prompt syntax").

LoRA/LyCORIS ``<lora:NAME:W>, trigger words``; hypernetwork
``<hypernet:NAME:W>``; embedding ``NAME`` (``(NAME:W)`` at another weight),
in the negative prompt for a negative embedding; checkpoints and VAEs are a
setting to choose, not prompt text. NAME is the file's stem, which is how
A1111 names extra networks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdhub.models.kinds import Component, Kind
from sdhub.models.layouts import Layout, slot_for

from .assets import Asset


def format_weight(weight: float) -> str:
    """``0.7``, ``1``, ``0.75``, ``-0.5``: as short as it can be, never exponent notation."""
    text = f"{weight:.3f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


@dataclass(slots=True)
class PromptSnippet:
    """What to put where: prompt text, negative-prompt text, or a setting."""

    name: str
    kind: Kind
    positive: str = ""
    negative: str = ""
    #: ("Checkpoint", "sub/x.safetensors [abcdef0123]") for assets chosen in a setting.
    setting: tuple[str, str] | None = None
    weight: float | None = None
    warnings: list[str] = field(default_factory=list)

    def text(self) -> str:
        """The human form: one line per place it goes."""
        lines = []
        if self.setting:
            lines.append(f"{self.setting[0]}: {self.setting[1]}")
        if self.positive:
            lines.append(self.positive)
        if self.negative:
            lines.append(f"negative: {self.negative}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind.value,
            "prompt": self.positive or None,
            "negative_prompt": self.negative or None,
            "setting": {"name": self.setting[0], "value": self.setting[1]}
            if self.setting
            else None,
            "weight": self.weight,
            "warnings": list(self.warnings),
        }


_SETTING_LABELS: dict[Component, str] = {
    Component.CONTROLNET: "ControlNet model",
    Component.T2I_ADAPTER: "ControlNet model",
    Component.UPSCALER: "Upscaler",
    Component.VAE_APPROX: "Live preview method",
    Component.DIFFUSION_MODEL: "Diffusion model",
    Component.TEXT_ENCODER: "Text encoder",
    Component.IP_ADAPTER: "IP-Adapter model",
    Component.MOTION_MODULE: "Motion module",
}


def folder_relative_name(path: str, kind: Kind, component: Component | None) -> str:
    """A file's path inside its kind's folder (``sub/x.safetensors``), as dropdowns list it."""
    parts = Path(path).parts
    lowered = [p.lower() for p in parts]
    for layout in Layout:
        slot = slot_for(layout, kind, component)
        if slot is None:
            continue
        for folder in slot.folders:
            fparts = [p.lower() for p in folder.parts]
            for i in range(len(lowered) - len(fparts), -1, -1):
                if lowered[i : i + len(fparts)] == fparts:
                    rest = parts[i + len(fparts) :]
                    if rest:
                        return "/".join(rest)
    return os.path.basename(path)


def prompt_snippet(
    asset: Asset, *, weight: float | None = None, clashes: list[str] | None = None
) -> PromptSnippet:
    """The snippet for an asset at ``weight`` (default: its recommended weight, else 1)."""
    if weight is None:
        weight = asset.weight.default if asset.weight is not None else 1.0
    snippet = PromptSnippet(name=asset.name, kind=asset.kind)
    words = ", ".join(asset.trigger_words)
    w = format_weight(weight)
    if asset.kind is Kind.LORA:
        snippet.weight = weight
        snippet.positive = f"<lora:{asset.name}:{w}>" + (f", {words}" if words else "")
        snippet.negative = asset.negative_text or ""
    elif asset.kind is Kind.HYPERNETWORK:
        snippet.weight = weight
        snippet.positive = f"<hypernet:{asset.name}:{w}>" + (f", {words}" if words else "")
        snippet.negative = asset.negative_text or ""
    elif asset.kind is Kind.EMBEDDING:
        snippet.weight = weight
        token = asset.name if w == "1" else f"({asset.name}:{w})"
        if asset.negative:
            snippet.negative = token
        else:
            snippet.positive = token
            snippet.negative = asset.negative_text or ""
    elif asset.kind is Kind.CHECKPOINT:
        title = folder_relative_name(asset.path, asset.kind, None)
        if asset.hashes:
            title += f" [{asset.hashes.autov2.lower()}]"
        snippet.setting = ("Checkpoint", title)
        snippet.positive = words
    elif asset.kind is Kind.VAE:
        snippet.setting = ("SD VAE", os.path.basename(asset.path))
    elif asset.kind is Kind.OTHER:
        label = _SETTING_LABELS.get(asset.component or Component.UNKNOWN, "Model")
        snippet.setting = (label, folder_relative_name(asset.path, asset.kind, asset.component))
    else:
        snippet.warnings.append(
            f"{asset.path}: not a usable model file ({asset.error or 'invalid'})"
        )
    if clashes and asset.kind in (Kind.LORA, Kind.HYPERNETWORK, Kind.EMBEDDING):
        snippet.warnings.append(
            f"{len(clashes)} other file(s) are also called {asset.name!r}; the WebUI may pick "
            f"any of them: {', '.join(clashes)}"
        )
    if asset.missing:
        snippet.warnings.append(f"{asset.path} is missing from disk (last scan)")
    return snippet
