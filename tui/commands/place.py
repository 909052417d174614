"""``sdhub place``: move misplaced files into the folder their kind belongs in."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from sdhub.hub.place import Move


@click.command("place")
@click.argument("root", required=False, type=click.Path(path_type=Path, file_okay=False))
@click.option(
    "--layout",
    type=click.Choice(["a1111", "comfyui"]),
    help="Folder convention of the library (default: detected from ROOT, else a1111).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan; move and write nothing.")
@click.option("--no-sidecars", is_flag=True, help="Do not write A1111 <name>.json sidecars.")
@click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout: one object per file.")
def place(
    root: Path | None, layout: str | None, dry_run: bool, no_sidecars: bool, as_json: bool
) -> None:
    """Move each file of the library at ROOT (default: SDHUB_LIBRARY) into the folder its
    classified kind belongs in, with its sidecars; the catalog follows every move.

    A file never overwrites another: on a name clash it gets a -1 suffix
    (its prompt name changes with it; the report says so). Invalid and
    dangerous files stay where they are and are reported (exit status 1).
    Then writes A1111 <name>.json sidecars (trigger words, weight) without
    touching fields a person filled.
    """
    from sdhub.catalog import CatalogError, open_catalog, open_library, scan_library
    from sdhub.hub.place import place_library

    from sdhub.config import ConfigError, load_settings

    from ..output import EXIT_ITEM_FAILED, EXIT_OK, die, emit_json, warn

    try:
        settings = load_settings()
        root = root or settings.library
        if root is None:
            die("no library to place into: pass ROOT or set SDHUB_LIBRARY")
        if not root.is_dir():
            die(f"{root}: no such folder")
        library = open_library(root, layout or settings.layout)
        catalog = open_catalog(settings.db_url)
    except (ConfigError, CatalogError) as exc:
        die(str(exc))

    def report(move: Move) -> None:
        if as_json:
            emit_json(move.to_json())
        else:
            _print_move(move, dry_run)

    with catalog:
        scanned = scan_library(catalog, [library.root], library=library)
        for message in scanned.warnings:
            warn(message)
        if scanned.interrupted:
            die("interrupted while scanning; nothing was moved", 130)
        try:
            result = place_library(
                catalog, library, dry_run=dry_run, sidecars=not no_sidecars, on_move=report
            )
        except KeyboardInterrupt:
            die("interrupted: every move made so far is complete and catalogued", 130)
    for message in result.warnings:
        warn(message)
    for path in result.sidecars_written:
        if as_json:
            emit_json(
                {
                    "event": "sidecar",
                    "status": "planned" if dry_run else "written",
                    "path": str(path),
                }
            )
        else:
            verb = "would write" if dry_run else "wrote"
            click.echo(f"{verb} sidecar {path}")
    if not as_json:
        moved = sum(1 for m in result.moves if m.status.value in ("moved", "planned"))
        verb = "would move" if dry_run else "moved"
        click.echo(
            f"{library.layout.value} library {library.root}: {verb} {moved} file(s), "
            f"{sum(1 for m in result.moves if m.status.value == 'kept')} left in place, "
            f"{sum(1 for m in result.moves if m.status.value == 'failed')} failed"
        )
    raise SystemExit(EXIT_ITEM_FAILED if result.failed else EXIT_OK)


def _print_move(move: Move, dry_run: bool) -> None:
    status = move.status.value
    if status == "planned":
        line = f"would move {move.source} → {move.target}"
    elif status == "moved":
        line = f"moved {move.source} → {move.target}"
    elif status == "kept":
        line = f"left {move.source}: {move.reason}"
    else:
        line = f"FAILED {move.source}: {move.reason}"
    if move.renamed and status in ("planned", "moved"):
        line += "  (renamed: a different file has that name; its prompt name changes)"
    click.echo(line)
    for src, dst in move.sidecars:
        if status in ("planned", "moved"):
            click.echo(f"    with {src.name} → {dst.name}")
