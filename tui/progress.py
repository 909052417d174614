"""The download progress display of ``sdhub get`` and ``sdhub sync``: one rich display on stderr.

A row per file being fetched (name, bar, bytes, rate, time left) and a total
row (all bytes of the files seen so far). Finished files leave the display;
their result line is printed above it. When stderr is no terminal (a pipe, a
log file, CI) nothing is drawn: only the result lines appear.

The engine reports from its worker threads; rich's ``Progress`` is
thread-safe, and the bookkeeping here takes a lock.
"""

from __future__ import annotations

import sys
import threading
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID
    from sdhub.hub.download import Progress

_FINISHED = frozenset({"done", "skipped", "failed"})


class DownloadDisplay:
    """Context manager; pass :meth:`update` to the engine as ``on_progress``."""

    def __init__(self, console: Console | None = None, *, enabled: bool | None = None) -> None:
        from rich.console import Console

        self.console = console or Console(stderr=True, highlight=False)
        self.enabled = self.console.is_terminal if enabled is None else enabled
        self._progress: RichProgress | None = None
        self._rows: dict[str, TaskID] = {}
        #: key → (bytes done, bytes expected) of every file counted in the total.
        self._sizes: dict[str, tuple[int, int | None]] = {}
        self._total: TaskID | None = None
        self._lock = threading.Lock()

    # --- lifecycle ---

    def __enter__(self) -> DownloadDisplay:
        if not self.enabled:
            return self
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description}", style="bold"),
            BarColumn(bar_width=None),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
            expand=True,
        )
        self._progress.__enter__()
        self._total = self._progress.add_task("total", total=None)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.__exit__(exc_type, exc, tb)
            self._progress = None

    # --- from the engine ---

    def update(self, event: Progress) -> None:
        """One report of the engine (any thread)."""
        progress = self._progress
        if progress is None:
            return
        phase = event.phase.value
        with self._lock:
            if phase in _FINISHED:
                self._finish(progress, event.key, phase, event.total)
            else:
                row = self._rows.get(event.key)
                name = _short(event.filename or event.key)
                if row is None:
                    row = progress.add_task(name, total=event.total)
                    self._rows[event.key] = row
                progress.update(
                    row,
                    completed=event.done,
                    total=event.total,
                    description=name if phase != "retrying" else f"{name} (retrying)",
                )
                self._sizes[event.key] = (event.done, event.total)
            self._update_total(progress)

    def _finish(self, progress: RichProgress, key: str, phase: str, total: int | None) -> None:
        row = self._rows.pop(key, None)
        if row is not None:
            progress.remove_task(row)
        if phase == "done":
            done, expected = self._sizes.get(key, (0, total))
            size = expected if expected is not None else done
            self._sizes[key] = (size, size)
        else:  # skipped or failed: its bytes are no part of this run's work
            self._sizes.pop(key, None)

    def _update_total(self, progress: RichProgress) -> None:
        assert self._total is not None
        done = sum(d for d, _ in self._sizes.values())
        totals = [t for _, t in self._sizes.values()]
        total = None if not totals or any(t is None for t in totals) else sum(totals)  # type: ignore[misc]
        active = len(self._rows)
        label = f"total ({active} active)" if active else "total"
        progress.update(self._total, completed=done, total=total, description=label)

    # --- lines above the display ---

    def print(self, line: str, *, stdout: bool = True) -> None:
        """A result line: on stdout (above the bars when both are the same terminal)."""
        progress = self._progress
        if progress is not None and (not stdout or sys.stdout.isatty()):
            progress.console.print(line, markup=False, highlight=False, soft_wrap=True)
            return
        stream = sys.stdout if stdout else sys.stderr
        stream.write(line + "\n")
        stream.flush()


def _short(name: str, width: int = 40) -> str:
    return name if len(name) <= width else name[: width - 1] + "…"
