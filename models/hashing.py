"""All six Civitai hashes in one read pass (stub: being built)."""

from __future__ import annotations

from pathlib import Path

from .report import Hashes


class MultiHasher:
    """Feed bytes in file order; get every hash at the end.

    Used both for files on disk and for downloads as they stream, so a
    download is hashed once. Detects a safetensors header from the first
    bytes to compute AutoV3 over the payload.
    """

    def update(self, data: bytes | bytearray | memoryview) -> None:
        raise NotImplementedError

    def hexdigests(self) -> Hashes:
        raise NotImplementedError


def hash_file(path: Path) -> Hashes:
    """Every hash of a file on disk, reading it once."""
    raise NotImplementedError
