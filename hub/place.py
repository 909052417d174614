"""Placement: move each file into the folder its *classified* kind belongs in, sidecars and all.

The plan comes from the catalog (a scan runs first, so it is current); every
move is made so that a kill at any moment loses nothing and leaves nothing
half-written under a final name:

- sidecars travel first, the model last, then the catalog row follows; a run
  killed in between is finished by the next run (the model is planned again
  to the same place; a scan re-links anything the catalog missed by hash);
- same filesystem: ``os.replace`` (atomic); across filesystems: copy to
  ``<target>.part``, fsync, verify the SHA-256 against the catalog, rename,
  then unlink the source;
- a different file never gets overwritten: on a name clash the moved file
  gets a ``-1`` (``-2``…) suffix, and the report says so, since its name in
  prompts changes with it (the WebUI knows files by stem);
- invalid and dangerous files are never moved, only reported; files of a
  kind the layout has no folder for stay where they are.

After the moves, the A1111 ``<stem>.json`` of every file the catalog knows
trigger words or a weight for is written (merged, never clobbering what a
person wrote) when the layout is A1111's.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from sdhub.catalog import (
    SIDECAR_SUFFIXES,
    Catalog,
    Library,
    LocalFile,
    Placement,
    Preview,
    Source,
    find_sidecars,
    judge_placement,
    list_assets,
    move_record,
    write_a1111_sidecar,
)
from sdhub.catalog.errors import SidecarError
from sdhub.models.kinds import Component, Kind, Verdict
from sdhub.models.layouts import Layout
from sqlmodel import Session, select

_COPY_CHUNK = 8 << 20


class MoveStatus(StrEnum):
    PLANNED = "planned"
    MOVED = "moved"
    KEPT = "kept"  # left where it is, on purpose (reason says why)
    FAILED = "failed"


@dataclass(slots=True)
class Move:
    """One file's placement: from where to where, with which sidecars."""

    file_id: int
    source: Path
    target: Path | None
    kind: Kind
    component: Component | None
    status: MoveStatus
    reason: str | None = None
    sidecars: list[tuple[Path, Path]] = field(default_factory=list)
    renamed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "event": "place",
            "status": self.status.value,
            "path": str(self.source),
            "target": str(self.target) if self.target else None,
            "kind": self.kind.value,
            "component": self.component.value if self.component else None,
            "renamed": self.renamed,
            "sidecars": [str(dst) for _, dst in self.sidecars],
            "reason": self.reason,
        }


@dataclass(slots=True)
class PlacementResult:
    library: Library
    moves: list[Move] = field(default_factory=list)
    #: A1111 sidecars written (or, in a dry run, that would be).
    sidecars_written: list[Path] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """Some item failed: a move failed, or an invalid/dangerous file sits in the library."""
        return any(
            m.status is MoveStatus.FAILED
            or (
                m.status is MoveStatus.KEPT
                and m.reason
                and m.reason.startswith(("invalid", "dangerous"))
            )
            for m in self.moves
        )


# --------------------------------------------------------------------------------------
# Planning


def plan_placement(session: Session, library: Library) -> list[Move]:
    """Where each catalogued file under the library root should go (nothing is touched)."""
    prefix = str(library.root).rstrip(os.sep) + os.sep
    rows = [
        r
        for r in session.exec(select(LocalFile).where(LocalFile.missing == False))  # noqa: E712
        if r.path.startswith(prefix)
    ]
    rows.sort(key=lambda r: r.path)
    moves: list[Move] = []
    claimed: set[Path] = set()
    for row in rows:
        assert row.id is not None
        kind = Kind(row.kind)
        component = Component(row.component) if row.component else None
        source = Path(row.path)
        if Verdict(row.safety) is Verdict.DANGEROUS:
            moves.append(
                _kept(row, kind, component, "dangerous: its pickle may run code; not moved")
            )
            continue
        if kind is Kind.INVALID:
            moves.append(_kept(row, kind, component, f"invalid: {row.error or 'not a model file'}"))
            continue
        verdict = judge_placement(library, source, kind, component)
        if verdict.placement is Placement.NO_SLOT:
            what = component.value if kind is Kind.OTHER and component else kind.value
            moves.append(
                _kept(
                    row,
                    kind,
                    component,
                    f"{library.layout.value} has no folder for {what}; left in place",
                )
            )
            continue
        if verdict.placement not in (Placement.MISPLACED, Placement.UNPLACED):
            continue
        assert verdict.home is not None
        folder = verdict.home / _subfolder(library, source)
        target, renamed = _free_target(folder, source, claimed)
        sidecars = [
            (path, target.with_name(target.stem + suffix))
            for suffix, path in find_sidecars(source).items()
        ]
        claimed.add(target)
        claimed.update(dst for _, dst in sidecars)
        moves.append(
            Move(
                row.id,
                source,
                target,
                kind,
                component,
                MoveStatus.PLANNED,
                reason=f"{verdict.placement.value}: {_a(kind.value)} belongs in {verdict.home}",
                sidecars=sidecars,
                renamed=renamed,
            )
        )
    return moves


def _kept(row: LocalFile, kind: Kind, component: Component | None, reason: str) -> Move:
    assert row.id is not None
    return Move(row.id, Path(row.path), None, kind, component, MoveStatus.KEPT, reason)


def _subfolder(library: Library, source: Path) -> Path:
    """The sub-folder a file sits in inside its current model folder (kept on the move)."""
    rel = library.relative(source.parent)
    if rel is None:
        return Path()
    from sdhub.models.layouts import model_folders

    for folder in sorted(model_folders(library.layout), key=lambda f: -len(f.parts)):
        parts = [p.lower() for p in folder.parts]
        if [p.lower() for p in rel.parts[: len(parts)]] == parts:
            return Path(*rel.parts[len(parts) :])
    return Path()


def _free_target(folder: Path, source: Path, claimed: set[Path]) -> tuple[Path, bool]:
    """The first ``stem[-N].suffix`` in ``folder`` where neither model nor sidecars clash."""
    stem, suffix = source.stem, source.suffix
    own_sidecars = find_sidecars(source)
    for n in range(0, 10_000):
        name = f"{stem}{suffix}" if n == 0 else f"{stem}-{n}{suffix}"
        target = folder / name
        if _clashes(target, source, own_sidecars, claimed):
            continue
        return target, n > 0
    raise RuntimeError(f"{folder}: no free name for {source.name}")


def _clashes(target: Path, source: Path, own_sidecars: dict[str, Path], claimed: set[Path]) -> bool:
    if target in claimed or target.exists():
        return True
    for suffix, path in own_sidecars.items():
        dst = target.with_name(target.stem + suffix)
        if dst in claimed:
            return True
        if dst.exists() and not _same_bytes(path, dst):
            return True
    return False


def _same_bytes(a: Path, b: Path) -> bool:
    try:
        if a.stat().st_size != b.stat().st_size:
            return False
        return a.read_bytes() == b.read_bytes()
    except OSError:
        return False


# --------------------------------------------------------------------------------------
# Moving files


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_COPY_CHUNK):
            digest.update(chunk)
    return digest.hexdigest().upper()


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def move_file(
    source: Path, target: Path, *, sha256: str | None = None, force_copy: bool = False
) -> None:
    """Move one file without ever overwriting or leaving a partial file under ``target``.

    Same filesystem: ``os.replace``. Otherwise (or ``force_copy``): copy to
    ``target.part``, fsync, compare its SHA-256 with ``sha256`` (when given),
    rename to ``target``, fsync the folder, then unlink ``source``.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        raise FileExistsError(errno.EEXIST, "target exists", str(target))
    if not force_copy:
        try:
            os.replace(source, target)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
    part = target.with_name(target.name + ".part")
    try:
        with source.open("rb") as src, part.open("wb") as dst:
            shutil.copyfileobj(src, dst, _COPY_CHUNK)
            dst.flush()
            os.fsync(dst.fileno())
        shutil.copystat(source, part)
        if sha256 is not None and sha256_of(part) != sha256.upper():
            raise OSError(errno.EIO, f"copy of {source} does not match its SHA-256; nothing moved")
        if target.exists():
            raise FileExistsError(errno.EEXIST, "target appeared while copying", str(target))
        os.replace(part, target)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    source.unlink()


def _move_sidecar(source: Path, target: Path, force_copy: bool) -> None:
    if target.exists():
        # Left there by an interrupted earlier run (same bytes, checked when planning).
        if _same_bytes(source, target):
            source.unlink()
            return
        raise FileExistsError(errno.EEXIST, "sidecar target exists", str(target))
    move_file(source, target, force_copy=force_copy)


def execute_moves(
    catalog: Catalog,
    moves: Sequence[Move],
    *,
    force_copy: bool = False,
    on_move: Callable[[Move], None] | None = None,
) -> None:
    """Carry out planned moves, updating the catalog after each one."""
    for move in moves:
        if move.status is MoveStatus.PLANNED:
            _execute(catalog, move, force_copy)
        if on_move is not None:
            on_move(move)


def _execute(catalog: Catalog, move: Move, force_copy: bool) -> None:
    assert move.target is not None
    with catalog.session() as session:
        row = session.get(LocalFile, move.file_id)
        sha = row.sha256 if row is not None else None
    if not move.source.exists():
        move.status, move.reason = MoveStatus.FAILED, "the file is gone (run `sdhub scan`)"
        return
    try:
        for src, dst in move.sidecars:
            if src.exists():
                _move_sidecar(src, dst, force_copy)
        move_file(move.source, move.target, sha256=sha, force_copy=force_copy)
    except OSError as exc:
        move.status = MoveStatus.FAILED
        move.reason = f"{exc.strerror or exc}: {exc.filename or move.target}"
        return
    with catalog.transaction() as session:
        row = session.get(LocalFile, move.file_id)
        if row is not None:
            move_record(session, row, move.target, st=move.target.stat())
            _follow_previews(session, row.id, dict(move.sidecars))
    move.status = MoveStatus.MOVED


def _follow_previews(session: Session, file_id: int | None, moved: dict[Path, Path]) -> None:
    for preview in session.exec(
        select(Preview).where(Preview.file_id == file_id, Preview.source == Source.SIDECAR)
    ):
        if preview.local_path and Path(preview.local_path) in moved:
            preview.local_path = str(moved[Path(preview.local_path)])
            session.add(preview)


# --------------------------------------------------------------------------------------
# Sidecars


def write_sidecars(
    catalog: Catalog, library: Library, *, dry_run: bool = False
) -> tuple[list[Path], list[str]]:
    """Write the A1111 ``<stem>.json`` for every asset under the library the catalog knows
    trigger words, a recommended weight or a description for. Returns (written, warnings)."""
    written: list[Path] = []
    warnings: list[str] = []
    if library.layout is not Layout.A1111:
        return written, warnings
    prefix = str(library.root).rstrip(os.sep) + os.sep
    with catalog.session() as session:
        assets = [
            a
            for a in list_assets(session)
            if a.path.startswith(prefix)
            and a.kind in (Kind.LORA, Kind.HYPERNETWORK, Kind.EMBEDDING, Kind.CHECKPOINT)
            and (
                a.trigger_words
                or (a.weight is not None and a.weight.source.value != "default")
                or a.description
                or a.remote_description
            )
        ]
    for asset in assets:
        try:
            with catalog.transaction() as session:
                path = write_a1111_sidecar(session, asset.id, dry_run=dry_run)
        except (SidecarError, OSError) as exc:
            warnings.append(str(exc))
            continue
        if path is not None:
            written.append(path)
    return written, warnings


# --------------------------------------------------------------------------------------
# The whole job


def place_library(
    catalog: Catalog,
    library: Library,
    *,
    dry_run: bool = False,
    sidecars: bool = True,
    force_copy: bool = False,
    on_move: Callable[[Move], None] | None = None,
) -> PlacementResult:
    """Plan and (unless ``dry_run``) carry out the placement of a library's files.

    The caller scans the library first so the catalog is current.
    """
    result = PlacementResult(library)
    with catalog.session() as session:
        result.moves = plan_placement(session, library)
    if dry_run:
        for move in result.moves:
            if on_move is not None:
                on_move(move)
    else:
        execute_moves(catalog, result.moves, force_copy=force_copy, on_move=on_move)
    if sidecars:
        written, warnings = write_sidecars(catalog, library, dry_run=dry_run)
        result.sidecars_written = written
        result.warnings.extend(warnings)
    return result


__all__ = [
    "SIDECAR_SUFFIXES",
    "Move",
    "MoveStatus",
    "PlacementResult",
    "execute_moves",
    "move_file",
    "place_library",
    "plan_placement",
    "write_sidecars",
]


def _a(noun: str) -> str:
    """``a lora``, ``an embedding``."""
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun
