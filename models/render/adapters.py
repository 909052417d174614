"""Assets applied to a loaded base: the common shape every kind fits.

An :class:`Applied` asset says which columns its grid has (weights,
strengths, placements), switches between them without reloading anything
(:meth:`Applied.activate`), rewrites prompts where the asset lives in the
prompt (embeddings), supplies A1111-style infotext, and takes itself off the
pipeline in :meth:`Applied.remove`, leaving the base bit-identical to before.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Column:
    """One column of an asset's grid."""

    label: str
    #: The weight/strength this column sets (None for on/off kinds).
    value: float | None = None


def fmt_number(value: float) -> str:
    """``0.8`` not ``0.8000000001``; ``1`` not ``1.0`` (A1111's prompt style)."""
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass(slots=True)
class Applied:
    """An asset on the pipeline. Subclasses override what their kind changes."""

    columns: list[Column]
    #: Modules/layers the asset changed (None where the idea does not apply).
    touched: int | None = None
    #: A note for the result's message (e.g. "touched 12 of 16 modules").
    note: str | None = None
    #: Extra infotext fields (``Lora hashes``, ``TI hashes``, ``VAE hash``…).
    params: dict[str, str] = field(default_factory=dict)

    def activate(self, column: Column) -> None:
        """Make the pipeline render ``column`` (cheap: no reload)."""

    def prompts(self, positive: str, negative: str, column: Column) -> tuple[str, str]:
        """The prompts the pipeline gets for one row in this column."""
        return positive, negative

    def infotext_prompts(self, positive: str, negative: str, column: Column) -> tuple[str, str]:
        """The prompts as a WebUI user would write them (``<lora:name:0.8>``…)."""
        return self.prompts(positive, negative, column)

    def decoder(self, column: Column) -> Any:
        """A VAE to decode this column with instead of the base's own (VAE assets)."""
        return None

    def remove(self) -> None:
        """Take the asset off the pipeline; the base must render exactly as before."""
