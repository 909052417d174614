"""The render engine's vocabulary: what goes in, what comes out. No torch here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ..kinds import Base, Kind
from ..report import Hashes


class RenderVerdict(StrEnum):
    """What a validation render says about an asset (CLI.md: ``render --json``)."""

    OK = "ok"
    #: Every image with the asset is bit-identical to the baseline without it.
    NO_EFFECT = "no-effect"
    NAN = "nan"
    BLACK = "black"
    #: Made for another base family, or an adapter that touched no module of the base.
    INCOMPATIBLE = "incompatible"
    ERROR = "error"


#: Families the engine can load a pipeline for.
RENDERABLE_BASES: frozenset[Base] = frozenset({Base.SD1, Base.SD2, Base.SDXL})


@dataclass(frozen=True, slots=True)
class RenderBase:
    """A checkpoint to render with.

    ``config``: a diffusers config folder to use instead of the automatic
    choice (the checkpoint's ``<stem>.diffusers/`` sidecar, else the shipped
    config of ``family``).
    """

    path: Path
    name: str
    family: Base
    hashes: Hashes | None = None
    config: Path | None = None


@dataclass(frozen=True, slots=True)
class RenderAsset:
    """One asset to validate, with what the catalog knows about it.

    ``base`` is the family the asset was made for (``unknown`` skips the
    family check). ``negative`` marks a negative embedding. ``hashes`` feed
    the PNG parameters (``Lora hashes``, ``Model hash``); missing ones are
    computed from the file.
    """

    path: Path
    kind: Kind
    name: str
    base: Base = Base.UNKNOWN
    trigger_words: tuple[str, ...] = ()
    recommended_weight: float | None = None
    negative: bool = False
    hashes: Hashes | None = None

    def as_base(self) -> RenderBase:
        """A checkpoint asset is its own base."""
        return RenderBase(path=self.path, name=self.name, family=self.base, hashes=self.hashes)


@dataclass(slots=True)
class Timings:
    """Seconds spent, for the catalog and the benchmark."""

    load_base: float = 0.0
    load_asset: float = 0.0
    baseline: float = 0.0
    render: float = 0.0
    write: float = 0.0
    #: Mean seconds per image rendered with the asset (baseline excluded).
    per_image: float = 0.0

    def to_json(self) -> dict[str, float]:
        return {k: round(getattr(self, k), 4) for k in self.__slots__}  # type: ignore[attr-defined]


@dataclass(slots=True)
class RenderResult:
    """The outcome of rendering one asset's grid."""

    asset: RenderAsset
    base: RenderBase | None
    verdict: RenderVerdict
    grid_path: Path | None = None
    #: Images rendered with the asset applied (baseline images not counted).
    images: int = 0
    seconds: float = 0.0
    message: str | None = None
    timings: Timings = field(default_factory=Timings)
    #: Modules an adapter touched (LoRA family, hypernetwork attention layers).
    touched_modules: int | None = None

    def to_json(self) -> dict[str, Any]:
        """The ``sdhub render --json`` line (CLI.md)."""
        return {
            "asset": {
                "name": self.asset.name,
                "kind": self.asset.kind.value,
                "path": str(self.asset.path),
            },
            "base": None
            if self.base is None
            else {"name": self.base.name, "path": str(self.base.path)},
            "verdict": self.verdict.value,
            "grid": None if self.grid_path is None else str(self.grid_path),
            "images": self.images,
            "seconds": round(self.seconds, 3),
            "message": self.message,
        }


#: Progress: called after every batch with (images done, images planned) for one asset.
ProgressCallback = Callable[[int, int], None]


class RenderError(Exception):
    """A render that cannot go on; ``verdict`` says how it counts, the message why (one line)."""

    def __init__(self, verdict: RenderVerdict, message: str) -> None:
        super().__init__(message)
        self.verdict = verdict
        self.message = message
