"""Opcode-level safety scan of every pickle in a file (stub: being built)."""

from __future__ import annotations

from pathlib import Path

from .kinds import FileFormat
from .report import Safety


def scan_pickles(path: Path, fmt: FileFormat) -> Safety:
    """The pickle-safety verdict of a file and the globals its pickles reference.

    Never raises for a bad file: what cannot be read is ``unscannable``.
    safetensors files are ``safe`` with no globals (they hold no code).
    """
    raise NotImplementedError
