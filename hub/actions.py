"""Things a person does to one asset from the browser: enrich, place, open, render, trash.

Each is one function the TUI calls from a worker thread; each returns a
small result with a message fit for a notification (a failed look-up
included); a manual link (:func:`enrich_asset` ``link_to``) raises
:class:`~.errors.HubError` subclasses, whose text says what to do, when the
named version cannot be had.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sdhub.catalog import Catalog, Library, LocalFile, find_sidecars, mark_missing

from .civitai import CivitaiClient
from .enrich import Enricher, EnrichResult, EnrichStatus, civitai_link_ref
from .place import Move, MoveStatus, execute_moves, move_file, plan_placement
from .vocab import kind_of_type


@dataclass(frozen=True, slots=True)
class ActionResult:
    ok: bool
    message: str
    path: Path | None = None


def _row(catalog: Catalog, file_id: int) -> LocalFile:
    with catalog.session() as session:
        row = session.get(LocalFile, file_id)
    if row is None:
        raise LookupError(f"asset #{file_id} is no longer in the catalog")
    return row


# --------------------------------------------------------------------------------------
# Enrich


def enrich_asset(
    catalog: Catalog,
    client: CivitaiClient,
    file_id: int,
    *,
    link_to: str | None = None,
    library: Library | None = None,
    nsfw: bool = False,
) -> ActionResult:
    """Look the file up on Civitai by its SHA-256, as ``sdhub enrich`` does.

    Records words, weight, previews and the link; writes ``.civitai.info``, a
    preview (under the NSFW setting) and the A1111 ``.json`` next to the file;
    remembers a real "not found" (never a failed look-up). With ``link_to``
    (``MODEL@VERSION``, a Civitai URL, …) the file is linked to that version
    instead, whatever the hashes say (``sdhub enrich PATH --civitai``: for
    files whose published hash is wrong); then a bad reference or a version
    Civitai cannot give raises :class:`~.errors.HubError`.
    """
    row = _row(catalog, file_id)
    enricher = Enricher(catalog, client, library=library, previews=True, nsfw=nsfw)
    if link_to is not None:
        return _enriched(enricher.link(row, civitai_link_ref(link_to, client)))
    (result,) = enricher.enrich([row])
    return _enriched(result)


def _enriched(result: EnrichResult) -> ActionResult:
    if result.status is EnrichStatus.SKIPPED:
        return ActionResult(False, f"{result.name}: not hashed yet (run a scan)")
    if result.status is EnrichStatus.NOT_FOUND:
        return ActionResult(False, f"{result.name}: Civitai does not know this file (by SHA256)")
    if result.version is None:
        return ActionResult(False, result.error or f"{result.name}: nothing found")
    version = result.version
    words = ", ".join(result.trigger_words or version.trained_words) or "no trigger words"
    title = version.model_name or (result.model.name if result.model else None)
    title = title or f"model {version.model_id}"
    return ActionResult(True, f"{result.name}: {title} · {version.name} ({words})")


def label_mismatch(kind_value: str, civitai_type: str | None) -> str | None:
    """A warning when Civitai's label and the file's bytes name different kinds."""
    if not civitai_type:
        return None
    labelled, _ = kind_of_type(civitai_type)
    if labelled.value == kind_value or labelled.value == "other":
        return None
    return f"kind mismatch: Civitai calls it {civitai_type}, the file is a {kind_value}"


# --------------------------------------------------------------------------------------
# Place


def placement_of(catalog: Catalog, library: Library, file_id: int) -> Move | None:
    """Where placement would move one file (None: it stays, it is at home or outside)."""
    with catalog.session() as session:
        moves = [m for m in plan_placement(session, library) if m.file_id == file_id]
    return moves[0] if moves else None


def place_asset(catalog: Catalog, library: Library, file_id: int) -> ActionResult:
    """Move one file (and its sidecars) into the folder its kind belongs in."""
    move = placement_of(catalog, library, file_id)
    if move is None:
        return ActionResult(True, "already where it belongs (or outside the library)")
    if move.status is not MoveStatus.PLANNED:
        return ActionResult(False, f"left where it is: {move.reason}")
    execute_moves(catalog, [move])
    if move.status is MoveStatus.MOVED and move.target is not None:
        note = " (renamed: the name was taken)" if move.renamed else ""
        return ActionResult(True, f"moved to {move.target}{note}", move.target)
    return ActionResult(False, f"not moved: {move.reason}")


# --------------------------------------------------------------------------------------
# Open


def opener() -> list[str] | None:
    """The desktop's "open this" command, None on a machine without one (a server)."""
    if sys.platform == "darwin":
        return ["open"]
    if os.name == "nt":  # pragma: no cover
        return ["explorer"]
    found = shutil.which("xdg-open")
    return [found] if found else None


def open_target(target: str) -> bool:
    """Open a folder or URL with the desktop; False when there is no desktop to ask."""
    command = opener()
    if command is None:
        return False
    headless = not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if sys.platform.startswith("linux") and headless:
        # xdg-open would fall back to a text browser inside our own terminal.
        return False
    try:
        subprocess.Popen(
            [*command, target],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    except OSError:
        return False
    return True


# --------------------------------------------------------------------------------------
# Trash


def trash_asset(catalog: Catalog, file_id: int, trash_dir: Path) -> ActionResult:
    """Move a file and its sidecars into ``trash_dir/<timestamp>/``; the catalog forgets it.

    Nothing is deleted: the person empties the trash folder. Putting the file
    back and scanning restores its catalog row with everything known (a scan
    recognises moved files by hash).
    """
    row = _row(catalog, file_id)
    source = Path(row.path)
    if not source.exists():
        with catalog.transaction() as session:
            mark_missing(session, [file_id])
        return ActionResult(True, f"{source} was already gone; removed from the list")
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    folder = trash_dir / stamp
    n = 1
    while (folder / source.name).exists():
        n += 1
        folder = trash_dir / f"{stamp}-{n}"
    folder.mkdir(parents=True, exist_ok=True)
    for path in find_sidecars(source).values():
        if path.exists():
            move_file(path, folder / path.name)
    move_file(source, folder / source.name, sha256=row.sha256)
    with catalog.transaction() as session:
        mark_missing(session, [file_id])
    (folder / "ORIGIN.txt").write_text(f"{source}\n", encoding="utf-8")
    return ActionResult(True, f"moved to the trash: {folder / source.name}", folder / source.name)
