"""Names from servers made safe to put on disk, and the guard that keeps files in the library.

A filename from ``Content-Disposition`` or an API answer is untrusted input:
it may carry ``../``, an absolute path, control characters, a Windows device
name (``CON``, ``NUL``, ``COM1``) or be longer than any filesystem allows.
:func:`sanitize_filename` turns any of these into one plain name;
:func:`ensure_inside` is the last check before a file is written.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path
from urllib.parse import unquote

from .errors import PlacementError

#: Most filesystems allow 255 bytes; leave room for ``.part`` and a ``-12`` suffix.
MAX_NAME_BYTES = 200

_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"}
    | {f"COM{i}" for i in "123456789¹²³"}
    | {f"LPT{i}" for i in "123456789¹²³"}
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
#: Characters Windows refuses in names (and ``/`` everywhere).
_FORBIDDEN = re.compile(r'[<>:"|?*]')
_SPACES = re.compile(r"\s+")


def sanitize_filename(name: str, *, fallback: str = "download") -> str:
    """One safe file name (no directories) from whatever a server sent.

    Only the last path component survives (``../../etc/passwd`` → ``passwd``);
    control and Windows-forbidden characters become ``_``; leading dots and
    trailing dots/spaces go; device names get a ``_`` prefix; the result is
    at most :data:`MAX_NAME_BYTES` UTF-8 bytes with its extension kept.
    """
    text = unicodedata.normalize("NFC", name or "")
    text = _CONTROL.sub("", text)
    text = re.split(r"[/\\]", text)[-1]
    text = _FORBIDDEN.sub("_", text)
    text = _SPACES.sub(" ", text).strip()
    text = text.lstrip(".").rstrip(". ")
    if not text:
        return fallback
    stem, _dot, _ext = text.partition(".")
    if stem.upper().rstrip() in _RESERVED:
        text = "_" + text
    return _truncate(text)


def _truncate(name: str) -> str:
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    path = Path(name)
    suffix = "".join(path.suffixes[-2:]) if len("".join(path.suffixes[-2:])) <= 24 else path.suffix
    if len(suffix.encode()) > 24:
        suffix = ""
    stem = name[: len(name) - len(suffix)] if suffix else name
    budget = MAX_NAME_BYTES - len(suffix.encode())
    cut = stem.encode()[:budget].decode("utf-8", errors="ignore").rstrip(". ")
    return (cut or "download") + suffix


_DISPOSITION_EXT = re.compile(r"filename\*\s*=\s*([^']*)'[^']*'([^;]+)", re.I)
_DISPOSITION_QUOTED = re.compile(r'filename\s*=\s*"((?:[^"\\]|\\.)*)"', re.I)
_DISPOSITION_TOKEN = re.compile(r"filename\s*=\s*([^;\s]+)", re.I)


def parse_content_disposition(value: str | None) -> str | None:
    """The file name of a ``Content-Disposition`` header (unsanitised; ``filename*`` wins)."""
    if not value:
        return None
    match = _DISPOSITION_EXT.search(value)
    if match:
        charset = match.group(1).strip() or "utf-8"
        try:
            return unquote(match.group(2).strip().strip('"'), encoding=charset, errors="replace")
        except LookupError:
            return unquote(match.group(2).strip().strip('"'))
    match = _DISPOSITION_QUOTED.search(value)
    if match:
        return _utf8_from_latin1(re.sub(r"\\(.)", r"\1", match.group(1)))
    match = _DISPOSITION_TOKEN.search(value)
    if match:
        return _utf8_from_latin1(match.group(1))
    return None


def _utf8_from_latin1(name: str) -> str:
    """A name whose raw UTF-8 bytes were read as Latin-1 (``Ã¼ber``), read again as UTF-8.

    Storage hosts copy ``response-content-disposition`` from the signed URL
    into the header as raw UTF-8, and HTTP libraries decode header bytes as
    Latin-1. Names that are not such bytes come back unchanged.
    """
    try:
        raw = name.encode("latin-1")
    except UnicodeEncodeError:
        return name
    if raw.isascii():
        return name
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return name


def ensure_inside(root: Path, path: Path) -> Path:
    """``path`` resolved, or :class:`PlacementError` if it would leave ``root``."""
    resolved_root = root.resolve()
    resolved = path.resolve()
    if not resolved.is_relative_to(resolved_root):
        raise PlacementError(
            f"{path}: outside the library root {resolved_root}; refusing to write there"
        )
    return resolved


def numbered(path: Path, n: int) -> Path:
    """``name-2.safetensors`` for ``name.safetensors``: the n-th alternative name."""
    suffix = "".join(path.suffixes[-1:])
    stem = path.name[: len(path.name) - len(suffix)] if suffix else path.name
    return path.with_name(f"{stem}-{n}{suffix}")
