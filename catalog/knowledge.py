"""Trigger words, recommended weights and previews: setting them, and choosing which one wins.

Each fact is stored once per owner (a local file or a remote version) and
source, so nothing is lost when a better source arrives: a person's words
beat a sidecar's, which beat Civitai's, which beat a hint in the file's
metadata (:data:`~.enums.WORDS_PRIORITY`, :data:`~.enums.WEIGHT_PRIORITY`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from .coltypes import utcnow
from .enums import WEIGHT_PRIORITY, WORDS_PRIORITY, Source, WeightSource
from .tables import Preview, TriggerWord, Weight

#: What a weight is when nobody says (A1111's default LoRA multiplier).
DEFAULT_WEIGHT = 1.0


@dataclass(frozen=True, slots=True)
class WeightInfo:
    """A recommended weight as CLI.md prints it."""

    default: float
    min: float | None = None
    max: float | None = None
    source: WeightSource = WeightSource.DEFAULT

    def to_json(self) -> dict[str, Any]:
        return {
            "default": self.default,
            "min": self.min,
            "max": self.max,
            "source": self.source.value,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> WeightInfo:
        return cls(
            default=float(data["default"]),
            min=None if data.get("min") is None else float(data["min"]),
            max=None if data.get("max") is None else float(data["max"]),
            source=WeightSource(data.get("source") or WeightSource.DEFAULT),
        )


DEFAULT_WEIGHT_INFO = WeightInfo(DEFAULT_WEIGHT)


@dataclass(slots=True)
class PreviewInfo:
    """A preview to record (from a sidecar image, or a Civitai image object)."""

    url: str | None = None
    local_path: str | None = None
    media_type: str | None = "image"
    size: int | None = None
    width: int | None = None
    height: int | None = None
    nsfw_level: int | None = None
    params: dict[str, Any] = field(default_factory=dict)


def _owner_clause(model: type, file_id: int | None, version_id: int | None) -> sa.ColumnElement:
    if (file_id is None) == (version_id is None):
        raise ValueError("give exactly one of file_id and version_id")
    if file_id is not None:
        return model.file_id == file_id  # type: ignore[attr-defined]
    return model.version_id == version_id  # type: ignore[attr-defined]


def clean_words(words: Iterable[str]) -> list[str]:
    """Trimmed, non-empty, first occurrence kept, order kept."""
    seen: set[str] = set()
    out: list[str] = []
    for word in words:
        word = " ".join(str(word).split())
        if word and word not in seen:
            seen.add(word)
            out.append(word)
    return out


def split_activation_text(text: str) -> list[str]:
    """A1111 ``activation text`` (``"mystyle, red hair"``) as a list of words."""
    return clean_words(text.split(","))


def set_trigger_words(
    session: Session,
    words: Sequence[str],
    *,
    source: Source,
    file_id: int | None = None,
    version_id: int | None = None,
    origin: str | None = None,
    fresh: bool = False,
) -> list[str]:
    """Replace the trigger words one source gives a file or version (empty: forget them).

    ``fresh``: the owner was just created, so there is nothing to replace.
    """
    owner = _owner_clause(TriggerWord, file_id, version_id)
    if not fresh:
        session.execute(sa.delete(TriggerWord).where(owner, TriggerWord.source == source))
    cleaned = clean_words(words)
    for position, word in enumerate(cleaned):
        session.add(
            TriggerWord(
                file_id=file_id,
                version_id=version_id,
                source=source,
                origin=origin,
                position=position,
                word=word,
            )
        )
    return cleaned


def valid_weight(value: Any) -> float | None:
    """A usable weight from a loosely typed value, or None (0 means "use the default" in A1111)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    if not math.isfinite(number) or number == 0 or abs(number) > 10:
        return None
    return number


def set_weight(
    session: Session,
    default: float | None,
    *,
    source: WeightSource,
    min: float | None = None,
    max: float | None = None,
    file_id: int | None = None,
    version_id: int | None = None,
    origin: str | None = None,
    fresh: bool = False,
) -> None:
    """Replace the weight one source recommends for a file or version (None: forget it)."""
    owner = _owner_clause(Weight, file_id, version_id)
    if not fresh:
        session.execute(sa.delete(Weight).where(owner, Weight.source == source))
    if default is None:
        return
    session.add(
        Weight(
            file_id=file_id,
            version_id=version_id,
            source=source,
            origin=origin,
            default=float(default),
            min=None if min is None else float(min),
            max=None if max is None else float(max),
            updated_at=utcnow(),
        )
    )


def set_previews(
    session: Session,
    previews: Sequence[PreviewInfo],
    *,
    source: Source,
    file_id: int | None = None,
    version_id: int | None = None,
    fresh: bool = False,
) -> None:
    """Replace the previews one source gives a file or version."""
    owner = _owner_clause(Preview, file_id, version_id)
    if not fresh:
        session.execute(sa.delete(Preview).where(owner, Preview.source == source))
    for position, p in enumerate(previews):
        session.add(
            Preview(
                file_id=file_id,
                version_id=version_id,
                source=source,
                position=position,
                url=p.url,
                local_path=p.local_path,
                media_type=p.media_type,
                size=p.size,
                width=p.width,
                height=p.height,
                nsfw_level=p.nsfw_level,
                params=p.params,
            )
        )


# --------------------------------------------------------------------------------------
# Choosing what wins


def best_words(rows: Sequence[TriggerWord]) -> tuple[list[str], Source | None]:
    """The trigger words of the most trusted source among ``rows`` (a file's and its version's)."""
    if not rows:
        return [], None
    by_source: dict[Source, list[TriggerWord]] = {}
    for row in rows:
        by_source.setdefault(Source(row.source), []).append(row)
    for source in WORDS_PRIORITY:
        if source in by_source:
            ordered = sorted(by_source[source], key=lambda r: r.position)
            return [r.word for r in ordered], source
    return [], None


def best_weight(rows: Sequence[Weight]) -> WeightInfo:
    """The recommended weight of the most trusted source, else 1.0 (source ``default``)."""
    if not rows:
        return DEFAULT_WEIGHT_INFO
    by_source = {WeightSource(row.source): row for row in rows}
    for source in WEIGHT_PRIORITY:
        row = by_source.get(source)
        if row is not None:
            return WeightInfo(row.default, row.min, row.max, source)
    return DEFAULT_WEIGHT_INFO
