"""``sdhub info``: what each file is, no catalog needed.

The hash benchmark times this whole process (BENCHMARKS.md), so the module
imports only click at load time, and ``--json`` never imports rich: the
inspector and the output helpers come in when the command runs.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sdhub.models.report import FileReport


@click.command("info")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="JSON Lines on stdout, one object per file.")
@click.option("--no-hash", is_flag=True, help="Skip the hashes (the only full read of a file).")
def info(paths: tuple[Path, ...], as_json: bool, no_hash: bool) -> None:
    """What each FILE is: kind, base, details, hashes, pickle safety.

    Directories are searched recursively for model files. Exit status 1 when
    any file is invalid or its pickles are dangerous; each is still reported.
    """
    from sdhub.models.inspect import inspect_file

    from ..output import EXIT_ITEM_FAILED, EXIT_OK, emit_json, warn

    # The inspector classifies in this thread while hash workers run; they need
    # the GIL for a moment per buffer, so hand it over sooner than every 5 ms.
    sys.setswitchinterval(0.001)

    failed = False
    show_human = None if as_json else _human_printer()
    try:
        for path in _expand(paths, warn):
            with _Progress(path) as progress:
                report = inspect_file(path, hashes=not no_hash, progress=progress.update)
            failed |= report.failed
            if show_human is None:
                emit_json(report.to_json())
            else:
                show_human(report)
    except BrokenPipeError:  # `sdhub info … | head`: the reader has all it wants
        _silence_stdout()
    raise SystemExit(EXIT_ITEM_FAILED if failed else EXIT_OK)


def _expand(paths: tuple[Path, ...], warn: Any) -> Iterator[Path]:
    """Each explicit path as given; directories walked for model files, sorted."""
    for path in paths:
        if not path.is_dir():
            yield path  # a file, or something missing that the inspector reports
            continue
        from sdhub.models.layouts import MODEL_SUFFIXES  # only for folders: start-up counts

        found = False
        for root, dirs, files in os.walk(path):
            dirs.sort()
            for name in sorted(files):
                if os.path.splitext(name)[1].lower() in MODEL_SUFFIXES:
                    found = True
                    yield Path(root) / name
        if not found:
            warn(f"no model files under {path}")


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


class _Progress:
    """A one-line ``hashing NAME 42%`` on stderr, only for people and big files."""

    _MIN_SIZE = 256 << 20

    def __init__(self, path: Path) -> None:
        self._name = path.name
        self._size = 0
        self._shown = False
        self._last = 0.0
        if sys.stderr.isatty():
            try:
                self._size = path.stat().st_size
            except OSError:
                self._size = 0

    def update(self, done: int) -> None:
        if self._size < self._MIN_SIZE:
            return
        now = time.monotonic()
        if now - self._last < 0.1:
            return
        self._last = now
        self._shown = True
        percent = min(100, done * 100 // self._size)
        sys.stderr.write(f"\rhashing {self._name} {percent:3d}% of {_human_size(self._size)}")
        sys.stderr.flush()

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._shown:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


# -- human output ------------------------------------------------------------


def _human_printer() -> Any:
    """Prints a report as a block: rich on a terminal, plain text in a pipe."""
    if sys.stdout.isatty():
        from ..output import stdout_console

        console = stdout_console()

        def show_rich(report: FileReport) -> None:
            from rich.padding import Padding
            from rich.table import Table
            from rich.text import Text

            grid = Table.grid(padding=(0, 1))
            grid.add_column(style="dim", no_wrap=True)
            grid.add_column(overflow="fold")
            for label, value, style in _rows(report):
                grid.add_row(label, Text(value, style=style))
            title = Text.assemble((report.path.name, "bold"), "  ", (str(report.path), "dim"))
            console.print(title)
            console.print(Padding(grid, (0, 0, 1, 2)))

        return show_rich

    def show_plain(report: FileReport) -> None:
        lines = [f"{report.path.name}  ({report.path})"]
        lines += [f"  {label:<8} {value}" for label, value, _ in _rows(report)]
        sys.stdout.write("\n".join(lines) + "\n\n")
        sys.stdout.flush()

    return show_plain


_VERDICT_STYLES = {"safe": "green", "suspicious": "yellow", "unscannable": "yellow"}


def _rows(report: FileReport) -> list[tuple[str, str, str]]:
    """(label, value, rich style) lines describing one file."""
    from sdhub.models.kinds import Kind

    rows: list[tuple[str, str, str]] = []
    kind = report.kind.value
    if report.kind is not Kind.INVALID and report.base.value != "unknown":
        kind += f" ({report.base.label})"
    if report.classification.component is not None:
        kind += f", {report.classification.component.value}"
    rows.append(("kind", kind, "bold red" if report.kind is Kind.INVALID else "bold"))
    rows.append(("format", f"{report.format.value}, {_human_size(report.size)}", ""))
    details = _condense(report.classification.details)
    if details:
        rows.append(("details", details, ""))
    if report.hashes is not None:
        h = report.hashes
        rows.append(("sha256", h.sha256, ""))
        short = f"autov2 {h.autov2}  autov1 {h.autov1}"
        if h.autov3:
            short += f"  autov3 {h.autov3}"
        rows.append(("hashes", f"{short}  crc32 {h.crc32}", ""))
        rows.append(("blake3", h.blake3, ""))
    safety = report.safety
    verdict = safety.verdict.value
    if verdict != "safe":
        extra = list(safety.globals)
        if safety.reason:
            extra.insert(0, safety.reason)
        if extra:
            verdict += ": " + ", ".join(extra)
    rows.append(("safety", verdict, _VERDICT_STYLES.get(safety.verdict.value, "bold red")))
    for warning in report.classification.warnings:
        rows.append(("warning", warning, "yellow"))
    if report.error:
        rows.append(("error", report.error, "red"))
    return rows


def _condense(details: dict[str, Any], width: int = 60) -> str:
    parts = []
    for key, value in details.items():
        if value is None or value == [] or value == {}:
            continue
        parts.append(f"{key} {_short(value, width)}")
    return ", ".join(parts)


def _short(value: Any, width: int) -> str:
    if isinstance(value, dict):
        return f"{{{len(value)} entries}}"
    if isinstance(value, list | tuple):
        items = [_short(v, 20) for v in value[:5]]
        return "[" + ", ".join(items) + (", …" if len(value) > 5 else "") + "]"
    text = str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def _human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"
