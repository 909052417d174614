"""Local file rows: recording what a file is, following it when it moves, linking it to Civitai.

The scan, placement and the download step all go through these functions, so
a file is recorded the same way however it arrived.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sdhub.models.kinds import FileFormat, Kind, Verdict
from sdhub.models.report import FileReport
from sqlmodel import Session, select

from .coltypes import utcnow
from .enums import LinkSource
from .tables import LocalFile, RemoteFile, RemoteVersion

_INT64 = 1 << 63


def normpath(path: str | os.PathLike[str]) -> str:
    """A path as stored: absolute, normalised, symlinks kept as the user sees them."""
    return os.path.abspath(os.fspath(path))


def asset_name(path: str | os.PathLike[str]) -> str:
    """What the WebUIs call a file: its stem (``<lora:NAME>``, embedding names)."""
    return Path(path).stem


def signed_inode(inode: int) -> int:
    """An inode number that fits a signed 64-bit column (some filesystems use all 64 bits)."""
    return inode - (1 << 64) if inode >= _INT64 else inode


def stat_fields(st: os.stat_result) -> dict[str, int]:
    """The fields an unchanged file must keep: size, mtime (ns) and inode."""
    return {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "inode": signed_inode(st.st_ino)}


def report_fields(report: FileReport) -> dict[str, object]:
    """The columns a :class:`FileReport` fills (what the bytes say)."""
    c = report.classification
    h = report.hashes
    return {
        "sha256": h.sha256.upper() if h else None,
        "autov1": h.autov1.upper() if h else None,
        "autov2": h.autov2.upper() if h else None,
        "autov3": h.autov3.upper() if h and h.autov3 else None,
        "crc32": h.crc32.upper() if h else None,
        "blake3": h.blake3.upper() if h else None,
        "kind": c.kind,
        "base": c.base,
        "component": c.component,
        "format": report.format,
        "details": _jsonable(c.details),
        "warnings": list(c.warnings),
        "error": c.error,
        "safety": report.safety.verdict,
        "safety_globals": list(report.safety.globals),
        "safety_reason": report.safety.reason,
    }


def _jsonable(value: object) -> object:
    """Details may hold tuples, enums, paths: make them plain JSON."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    return str(value)


def unreadable_fields(message: str) -> dict[str, object]:
    """Columns for a file that could not be read at all (it stays listed, as invalid)."""
    return {
        "sha256": None,
        "autov1": None,
        "autov2": None,
        "autov3": None,
        "crc32": None,
        "blake3": None,
        "kind": Kind.INVALID,
        "component": None,
        "format": FileFormat.UNKNOWN,
        "details": {},
        "warnings": [],
        "error": message,
        "safety": Verdict.UNSCANNABLE,
        "safety_globals": [],
        "safety_reason": None,
    }


def file_by_path(session: Session, path: str | os.PathLike[str]) -> LocalFile | None:
    return session.exec(select(LocalFile).where(LocalFile.path == normpath(path))).first()


def record_file(
    session: Session,
    path: str | os.PathLike[str],
    report: FileReport,
    *,
    st: os.stat_result | None = None,
    now: datetime | None = None,
) -> LocalFile:
    """Insert or update the row of a file from what ``inspect_file`` found.

    The download step calls this after the atomic rename, with the report of
    the bytes it just verified; the scan calls it for every new or changed
    file. Links the file to a published Civitai/HF file of the same SHA-256.
    """
    now = now or utcnow()
    key = normpath(path)
    st = st or os.stat(key)
    row = file_by_path(session, key)
    fields = {**stat_fields(st), **report_fields(report)}
    if row is None:
        row = LocalFile(path=key, name=asset_name(key), first_seen=now, last_seen=now, **fields)
        session.add(row)
    else:
        for name, value in fields.items():
            setattr(row, name, value)
        row.last_seen = now
        row.missing = False
    session.flush()
    link_by_hash(session, row)
    return row


def move_record(
    session: Session,
    row: LocalFile,
    new_path: str | os.PathLike[str],
    *,
    st: os.stat_result | None = None,
    now: datetime | None = None,
) -> LocalFile:
    """Point a row at the file's new place; everything known about it stays with it.

    A stale row already at ``new_path`` (a file that used to live there) is
    dropped first: the path is unique.
    """
    key = normpath(new_path)
    if row.path == key:
        return row
    other = file_by_path(session, key)
    if other is not None and other.id != row.id:
        session.delete(other)
        session.flush()
    row.path = key
    row.name = asset_name(key)
    if st is not None:
        for name, value in stat_fields(st).items():
            setattr(row, name, value)
    row.missing = False
    row.last_seen = now or utcnow()
    session.add(row)
    session.flush()
    return row


def link_by_hash(session: Session, row: LocalFile) -> None:
    """Link a file to the newest published file with its SHA-256 (a person's link wins)."""
    if row.link_source is LinkSource.USER or not row.sha256:
        return
    match = session.exec(
        select(RemoteFile, RemoteVersion)
        .join(RemoteVersion, RemoteFile.version_id == RemoteVersion.id)
        .where(RemoteFile.sha256 == row.sha256)
        .order_by(sa.desc(RemoteVersion.published_at), sa.desc(RemoteVersion.id))
    ).first()
    if match is None:
        if row.link_source is LinkSource.HASH:
            row.remote_file_id = row.remote_version_id = row.link_source = None
        return
    rfile, version = match
    # Where a sidecar named another version, the bytes win.
    row.remote_file_id = rfile.id
    row.remote_version_id = version.id
    row.link_source = LinkSource.HASH
    session.add(row)


def link_files_to_version(
    session: Session, version: RemoteVersion, *, hashes: Sequence[str] | None = None
) -> list[LocalFile]:
    """Link every local file whose SHA-256 matches one of this version's files.

    ``hashes``: the version's published SHA-256s when the caller has them at hand.
    """
    if hashes is None:
        hashes = [
            h
            for h in session.exec(
                select(RemoteFile.sha256).where(RemoteFile.version_id == version.id)
            ).all()
            if h
        ]
    if not hashes:
        return []
    rows = list(session.exec(select(LocalFile).where(LocalFile.sha256.in_(list(hashes)))).all())
    for row in rows:
        link_by_hash(session, row)
    return rows


def link_file(
    session: Session,
    row: LocalFile,
    version: RemoteVersion,
    *,
    source: LinkSource = LinkSource.USER,
    remote_file: RemoteFile | None = None,
) -> None:
    """Link a file to a version by a person's word (or a sidecar's), whatever the hashes say.

    Civitai publishes wrong hashes for some files (SPEC-APIS.md A.4): this is the
    escape hatch.
    """
    if remote_file is None and row.sha256:
        remote_file = session.exec(
            select(RemoteFile).where(
                RemoteFile.version_id == version.id, RemoteFile.sha256 == row.sha256
            )
        ).first()
    row.remote_version_id = version.id
    row.remote_file_id = remote_file.id if remote_file is not None else None
    row.link_source = source
    session.add(row)


def mark_missing(session: Session, ids: Iterable[int], *, now: datetime | None = None) -> int:
    """Flag rows whose files are gone (kept: a later scan may find them moved)."""
    ids = list(ids)
    _update_files(session, ids, missing=True)
    return len(ids)


def touch_seen(session: Session, ids: Iterable[int], now: datetime) -> None:
    """Record that unchanged files were still there."""
    _update_files(session, list(ids), last_seen=now)


def _update_files(session: Session, ids: list[int], **values: Any) -> None:
    """Set columns of many file rows, one UPDATE per 500 ids (bound-parameter limits)."""
    for chunk in _chunks(ids, 500):
        session.execute(
            sa.update(LocalFile)
            .where(LocalFile.id.in_(chunk))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


def _chunks(items: list[int], size: int) -> Iterable[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
