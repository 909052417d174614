"""One file in, one :class:`~.report.FileReport` out (stub: being built)."""

from __future__ import annotations

from pathlib import Path

from .report import FileReport


def inspect_file(path: Path, *, hashes: bool = True) -> FileReport:
    """What a file is: format, index-based classification, safety, hashes.

    Never raises for a bad file (truncated, empty, garbage, lying): it comes
    back as kind ``invalid`` with a one-line ``error``. ``hashes=False`` skips
    the full read (classification reads well under 1 MiB).
    """
    raise NotImplementedError
