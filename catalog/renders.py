"""Validation-render results: one row per render of an asset (written by ``sdhub render``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlmodel import Session, select

from .coltypes import utcnow
from .tables import RenderResult


def record_render_result(
    session: Session,
    *,
    file_id: int,
    verdict: str,
    base_file_id: int | None = None,
    base_name: str | None = None,
    base_path: str | None = None,
    grid_path: str | None = None,
    images: int = 0,
    seconds: float | None = None,
    message: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> RenderResult:
    """Store a render's outcome; the newest one per asset is its ``render`` in listings."""
    row = RenderResult(
        file_id=file_id,
        verdict=str(verdict),
        base_file_id=base_file_id,
        base_name=base_name,
        base_path=base_path,
        grid_path=grid_path,
        images=images,
        seconds=seconds,
        message=message,
        params=dict(params or {}),
        created=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def render_history(session: Session, file_id: int) -> list[RenderResult]:
    """Every render of an asset, newest first."""
    return list(
        session.exec(
            select(RenderResult)
            .where(RenderResult.file_id == file_id)
            .order_by(RenderResult.created.desc(), RenderResult.id.desc())
        )
    )
