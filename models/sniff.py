"""Tell a file's container from its first bytes, never from its name."""

from __future__ import annotations

import struct
from pathlib import Path

from .kinds import FileFormat

#: Magic number that starts a legacy (pre-1.6) torch pickle file, as a pickled int.
LEGACY_TORCH_MAGIC = 0x1950A86A20F9469CFC6C
GGUF_MAGIC = b"GGUF"
_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
#: The magic number as protocols 0 and 1 pickle it (a LONG opcode, then STOP).
_LEGACY_TEXT_MAGIC = b"L%dL\n." % LEGACY_TORCH_MAGIC
#: Bytes :func:`sniff_format` reads: enough for every signature above.
SNIFF_BYTES = 32
#: safetensors refuses headers above 100 MB; so do we.
MAX_SAFETENSORS_HEADER = 100_000_000


def sniff_bytes(head: bytes, size: int) -> FileFormat:
    """The container of a file whose first bytes are ``head`` and length ``size``."""
    if head[:4] == GGUF_MAGIC:
        return FileFormat.GGUF
    if head[:4] in _ZIP_MAGICS:
        return FileFormat.TORCH_ZIP
    if len(head) >= 9:
        (n,) = struct.unpack("<Q", head[:8])
        if 2 <= n <= min(MAX_SAFETENSORS_HEADER, size - 8) and head[8:9] == b"{":
            return FileFormat.SAFETENSORS
    # Legacy torch files start with a pickle (PROTO opcode) of the magic number, or,
    # written with pickle_protocol 0 or 1, with its text form.
    if head[:1] == b"\x80" and len(head) >= 2 and head[1] in (2, 3, 4, 5):
        return FileFormat.TORCH_LEGACY
    if head.startswith(_LEGACY_TEXT_MAGIC):
        return FileFormat.TORCH_LEGACY
    return FileFormat.UNKNOWN


def sniff_format(path: Path) -> FileFormat:
    """The container of the file at ``path`` (reads at most :data:`SNIFF_BYTES` bytes)."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
        size = fh.seek(0, 2)
    return sniff_bytes(head, size)
