"""``sdhub scan [ROOT…]``: index library roots into the catalog, incrementally."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sdhub.catalog import Catalog, ScanReport


@click.command("scan")
@click.argument("roots", nargs=-1, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout: one object per file.")
@click.option(
    "--all", "show_all", is_flag=True, help="Also report unchanged files (one line each)."
)
@click.option(
    "--layout",
    type=click.Choice(["a1111", "comfyui"]),
    help="Folder convention of the library (default: detected).",
)
@click.option(
    "--workers", type=click.IntRange(1, 64), help="Files hashed at once (default: cores)."
)
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal).",
)
def scan(
    roots: tuple[Path, ...],
    as_json: bool,
    show_all: bool,
    layout: str | None,
    workers: int | None,
    progress: bool | None,
) -> None:
    """Index library ROOTs into the catalog; only new or changed files are read.

    Without ROOT: the configured WebUI library (SDHUB_LIBRARY), every model
    folder of its layout. A ROOT that is a WebUI install is scanned the same
    way; any other folder is walked entirely. Sidecars next to the files
    (A1111 .json, .civitai.info, .cm-info.json, previews) are imported.
    Reports duplicates, misplaced files and invalid or dangerous ones; exit
    status 1 when there are unreadable, invalid or dangerous files.
    """
    from sdhub.catalog import CatalogError, configured_library, open_catalog, scan_library
    from sdhub.models.layouts import Layout

    from sdhub.config import ConfigError, load_settings

    from ..output import EXIT_ITEM_FAILED, EXIT_OK, die, warn

    try:
        settings = load_settings()
        library = configured_library(settings.library, layout or settings.layout)
        catalog = open_catalog(settings.db_url)
    except (ConfigError, CatalogError) as exc:
        die(str(exc))
    events: list[Any] = []
    bar = _progress_bar() if (progress or (progress is None and sys.stderr.isatty())) else None
    options: dict[str, Any] = {
        "library": library,
        "workers": workers,
        "progress": bar,
        "on_event": events.append if show_all else None,
        "layout": Layout(layout) if layout else None,
    }
    try:
        with catalog:
            try:
                if bar is not None:
                    with bar:
                        report = scan_library(catalog, roots, **options)
                else:
                    report = scan_library(catalog, roots, **options)
            except CatalogError as exc:
                die(str(exc))
            except KeyboardInterrupt:  # while walking the folders: nothing written yet
                die("interrupted before anything was scanned", 130)
            for message in report.warnings:
                warn(message)
            if as_json:
                _print_json(catalog, report, events if show_all else report.events)
            else:
                _print_human(report, events if show_all else [])
    except BrokenPipeError:
        pass
    if report.interrupted:
        warn("interrupted: what was scanned is saved; run `sdhub scan` again to finish")
        raise SystemExit(130)
    raise SystemExit(EXIT_ITEM_FAILED if report.failed else EXIT_OK)


def _print_json(catalog: Catalog, report: ScanReport, events: list[Any]) -> None:
    from sdhub.catalog import list_assets

    from ..output import emit_json

    ids = [e.file_id for e in events if e.file_id is not None]
    with catalog.session() as session:
        assets = {a.id: a for a in list_assets(session, ids=ids, include_missing=True)}
    for event in events:
        asset = assets.get(event.file_id) if event.file_id is not None else None
        record: dict[str, Any] = {"event": event.event.value}
        record.update(asset.to_json() if asset is not None else {"path": event.path})
        if event.old_path:
            record["old_path"] = event.old_path
        if event.message:
            record["message"] = event.message
        emit_json(record)
    emit_json(report.summary_json())


def _print_human(report: ScanReport, events: list[Any]) -> None:
    from ..output import stdout_console

    console = stdout_console()
    console.soft_wrap = True  # paths stay on one line, whatever the width
    s = report.stats
    console.print(
        f"Scanned {s.files} file(s) in {len(report.roots)} folder(s) ({s.seconds:.1f} s): "
        f"{s.new} new, {s.changed} changed, {s.moved} moved, {s.missing} missing, "
        f"{s.unchanged} unchanged" + (f", {s.errors} unreadable" if s.errors else "")
    )
    console.print(
        f"  read {s.inspected} file(s), {_size(s.inspected_bytes)}; "
        f"{s.sidecar_imports} sidecar(s) imported",
        style="dim",
    )
    for event in events:
        console.print(f"  {event.event.value:9} {event.path}", markup=False)
    moved = [e for e in report.events if e.event.value == "moved"]
    missing = [e for e in report.events if e.event.value == "missing"]
    if moved:
        console.print(f"Moved ({len(moved)}): metadata kept", style="bold")
        for e in moved:
            console.print(f"  {e.old_path} → {e.path}", markup=False)
    if missing:
        console.print(
            f"Missing ({len(missing)}): gone from disk, kept in the catalog", style="bold"
        )
        for e in missing:
            console.print(f"  {e.path}", markup=False)
    if report.duplicates:
        console.print(
            f"Duplicates ({len(report.duplicates)} group(s) of identical files)", style="bold"
        )
        for group in report.duplicates:
            console.print("  " + "\n    = ".join(group), markup=False)
    if report.misplaced:
        console.print(
            f"Misplaced ({len(report.misplaced)}): `sdhub place` moves them", style="bold"
        )
        for m in report.misplaced:
            what = m.component.value if m.component else m.kind.value
            console.print(f"  {m.path}  ({what} → {m.home})", markup=False)
    if report.problems:
        console.print(f"Problems ({len(report.problems)})", style="bold red")
        for p in report.problems:
            console.print(f"  {p.problem:10} {p.path}: {p.message or ''}", markup=False)


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} TB"


def _progress_bar() -> Any:
    """A rich progress bar (files, bytes, rate, ETA) on stderr, fed by the scan's threads."""
    import threading

    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from ..output import stderr_console

    class _Bar:
        def __init__(self) -> None:
            self.progress = Progress(
                TextColumn("[bold]scanning"),
                BarColumn(),
                TextColumn("{task.fields[files]}/{task.fields[total_files]} files"),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=stderr_console(),
                transient=True,
            )
            self.task = self.progress.add_task("scan", total=None, files=0, total_files=0)
            self.files = 0
            self.lock = threading.Lock()

        def planned(self, files: int, total_bytes: int) -> None:
            self.progress.update(self.task, total=total_bytes, total_files=files)

        def advance(self, files: int, nbytes: int) -> None:
            with self.lock:
                self.files += files
                self.progress.update(self.task, advance=nbytes, files=self.files)

        def __enter__(self) -> _Bar:
            self.progress.start()
            return self

        def __exit__(self, *exc: object) -> None:
            self.progress.stop()

    return _Bar()
