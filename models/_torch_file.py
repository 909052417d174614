"""One torch pickle file, opened once for both the safety scan and the tensor index.

Classifying a ``.ckpt`` runs the pickle-safety scan and then the index reader.
Each used to open the file, find the zip directory and read and run
``data.pkl`` on its own, which doubled both the bytes read (BENCHMARKS.md
wants < 1 MiB per file) and the Python time of the pickle machine. Both now
go through one :class:`TorchFile`, which does each of those things once and
remembers the outcome, failures included, so that each consumer reports a
failure its own way (the scanner as a verdict, the index reader as an error).

All reads go through :class:`PositionalReader` (``os.pread``): one system call
per read and no shared file offset, so the inspector's hash thread can read
the same descriptor meanwhile (where there is no ``pread``, the inspector
opens the file a second time instead).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from ._pickle_vm import MAX_PICKLE_BYTES, Machine, PickleError, Source, StorageRef
from ._torch_types import EXTRA_WIDTHS, LEGACY_MAGIC
from ._zip import (
    STORED,
    LocalHead,
    ZipDirectory,
    ZipError,
    ZipMember,
    read_at,
    read_directory,
    read_local_head,
    read_member,
)
from .errors import InvalidFileError
from .kinds import FileFormat
from .tensor_index import DTYPE_WIDTHS


class PositionalReader:
    """A read-only binary file over ``os.pread``: its own offset, one system call per read.

    Never moves the descriptor's offset, so another thread may read the same
    descriptor sequentially at the same time.
    """

    def __init__(self, fd: int, size: int | None = None) -> None:
        self._fd = fd
        self._pos = 0
        self._size = os.fstat(fd).st_size if size is None else size

    def fileno(self) -> int:
        return self._fd

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_CUR:
            offset += self._pos
        elif whence == os.SEEK_END:
            offset += self._size
        if offset < 0:
            raise ValueError("negative seek position")
        self._pos = offset
        return offset

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = max(0, self._size - self._pos)
        if not n:
            return b""
        if _HAVE_PREAD:
            data = os.pread(self._fd, n, self._pos)
        else:  # Windows: only safe on a descriptor nobody else reads (see shares_offset)
            os.lseek(self._fd, self._pos, os.SEEK_SET)
            data = os.read(self._fd, n)
        self._pos += len(data)
        return data

    #: Whether reads move the descriptor's offset (no ``os.pread`` on this system).
    shares_offset = not hasattr(os, "pread")


_HAVE_PREAD = hasattr(os, "pread")


@dataclass(slots=True)
class PickleRun:
    """The outcome of running one pickle on the inert machine."""

    machine: Machine
    value: Any = None
    error: PickleError | None = None


@dataclass(slots=True)
class LegacyRun:
    """The leading pickles of a legacy torch file, run once on one machine.

    ``values`` holds the value of each pickle that ran; ``failure`` the first
    that did not (number from 1, offset it started at, error); ``marks`` the
    machine's (globals, findings) counts after each pickle, so the scanner can
    say which pickle named what.
    """

    machine: Machine
    values: list[Any] = field(default_factory=list)
    marks: list[tuple[int, int]] = field(default_factory=list)
    failure: tuple[int, int, PickleError] | None = None
    #: Offset right after the last pickle that ran.
    end: int = 0
    #: Element count per storage key, once the storage walk succeeded.
    counts: dict[str, int] | None = None
    walk_error: InvalidFileError | None = None
    walk_warnings: list[str] = field(default_factory=list)

    @property
    def plain(self) -> bool:
        """The first pickle is not torch's magic number: a plain pickle, not torch.save's."""
        return bool(self.values) and not _is_legacy_magic(self.values[0])

    @property
    def storage_keys(self) -> list[str] | None:
        """The storage key list (fifth pickle), if it ran and is a list of strings."""
        if len(self.values) < 5:
            return None
        keys = self.values[4]
        if isinstance(keys, list) and all(isinstance(k, str) for k in keys):
            return keys
        return None


#: The five pickles of a legacy file, in order.
LEGACY_PICKLES = ("magic number", "protocol version", "system info", "object", "storage keys")


def _is_legacy_magic(value: Any) -> bool:
    return value == LEGACY_MAGIC and not isinstance(value, bool)


def dtype_width(dtype: str) -> int | None:
    return DTYPE_WIDTHS.get(dtype) or EXTRA_WIDTHS.get(dtype)


class TorchFile:
    """A torch zip or legacy file whose parts are read (and pickles run) at most once."""

    def __init__(self, fh: BinaryIO, size: int, fmt: FileFormat) -> None:
        if fmt not in (FileFormat.TORCH_ZIP, FileFormat.TORCH_LEGACY):
            raise InvalidFileError(f"not a torch pickle file (format {fmt.value})")
        self.fh = fh
        self.size = size
        self.format = fmt
        self._directory: ZipDirectory | ZipError | None = None
        self._names: dict[str, ZipMember] | None = None
        self._heads: dict[tuple[int, bytes], LocalHead | ZipError] = {}
        self._main_run: PickleRun | None = None
        self._main_bytes: bytes | ZipError | None = None
        self._legacy: LegacyRun | None = None

    @classmethod
    @contextmanager
    def open(cls, path: Path, fmt: FileFormat) -> Iterator[TorchFile]:
        """The file at ``path`` (raises OSError when it cannot be opened)."""
        with open(path, "rb", buffering=0) as raw:
            size = os.fstat(raw.fileno()).st_size
            yield cls(PositionalReader(raw.fileno(), size), size, fmt)

    # --- zip -------------------------------------------------------------------------------

    def directory(self) -> ZipDirectory:
        """The central directory (raises ZipError, every time, for a broken one)."""
        if self._directory is None:
            try:
                self._directory = read_directory(self.fh, self.size)
            except ZipError as exc:
                self._directory = exc
        if isinstance(self._directory, ZipError):
            raise self._directory
        return self._directory

    def prefix(self) -> str:
        """The archive folder torch reads: the top folder of the first member (as torch does)."""
        members = self.directory().members
        if not members:
            raise InvalidFileError("empty zip archive: not a torch checkpoint")
        first = members[0].name
        if "/" not in first:
            raise InvalidFileError("zip members are not inside a folder: not a torch checkpoint")
        return first.split("/", 1)[0]

    def member(self, name: str) -> ZipMember | None:
        """The first member called ``name`` (the one a reader that looks names up finds)."""
        if self._names is None:
            self._names = {m.name: m for m in reversed(self.directory().members)}
        return self._names.get(name)

    def main_member(self) -> ZipMember | None:
        """``<prefix>/data.pkl``, the pickle ``torch.load`` runs; None if there is none."""
        try:
            return self.member(f"{self.prefix()}/data.pkl")
        except InvalidFileError:
            return None

    def local_head(self, member: ZipMember, want: int = 0) -> LocalHead:
        """The member's checked local header and first ``want`` data bytes (remembered)."""
        key = (member.header_offset, member.raw_name)
        known = self._heads.get(key)
        if isinstance(known, ZipError):
            raise known
        if known is None or len(known.data) < min(want, member.compressed_size):
            try:
                known = read_local_head(self.fh, member, self.directory(), want)
            except ZipError as exc:
                self._heads[key] = exc
                raise
            self._heads[key] = known
        return known

    def member_bytes(self, member: ZipMember, limit: int) -> bytes:
        """The member's uncompressed bytes, at most ``limit`` (raises ZipError)."""
        if member.method == STORED and not member.encrypted and member.size <= limit:
            if member.compressed_size != member.size:
                raise ZipError(f"member {member.name!r}: stored but sizes differ")
            return self.local_head(member, member.size).data[: member.size]
        return read_member(self.fh, member, self.directory(), limit)

    def main_bytes(self) -> bytes:
        """``data.pkl``'s bytes (raises ZipError; InvalidFileError if there is none)."""
        if self._main_bytes is None:
            member = self.main_member()
            if member is None:
                raise InvalidFileError(
                    f"zip has no {self.prefix()}/data.pkl: not a torch checkpoint"
                )
            try:
                self._main_bytes = self.member_bytes(member, MAX_PICKLE_BYTES)
            except ZipError as exc:
                self._main_bytes = exc
        if isinstance(self._main_bytes, ZipError):
            raise self._main_bytes
        return self._main_bytes

    def main_run(self) -> PickleRun:
        """``data.pkl`` run on the inert machine, once."""
        if self._main_run is None:
            run = PickleRun(Machine())
            try:
                run.value = run.machine.run(Source.from_bytes(self.main_bytes()))
            except PickleError as exc:
                run.error = exc
            self._main_run = run
        return self._main_run

    def storage_members(self) -> dict[str, StorageRef]:
        """Members that hold exactly a storage ``data.pkl`` refers to, by member name.

        ``<prefix>/data/<digits>``, stored uncompressed, whose size is the
        storage's element count times its dtype's width: the raw tensor bytes
        ``torch.load`` reads and never unpickles.
        """
        try:
            prefix = self.prefix()
            run = self.main_run()
        except (InvalidFileError, ZipError):
            return {}
        found: dict[str, StorageRef] = {}
        for key, ref in run.machine.storages.items():
            if not key.isdigit() or ref.numel is None or ref.dtype is None or ref.is_view:
                continue
            width = dtype_width(ref.dtype)  # untyped storages count bytes: U8
            member = self.member(f"{prefix}/data/{key}")
            if (
                width is not None
                and member is not None
                and member.method == STORED
                and member.size == member.compressed_size == ref.numel * width
            ):
                found[member.name] = ref
        return found

    # --- legacy ----------------------------------------------------------------------------

    def legacy_run(self) -> LegacyRun:
        """The five leading pickles and the storage walk of a legacy file, once.

        Stops after the first pickle when it is not torch's magic number (a
        plain pickle: ``torch.load`` reads nothing more), and at the first
        pickle that fails.
        """
        if self._legacy is not None:
            return self._legacy
        run = LegacyRun(Machine())
        src = Source(self.fh, 0, self.size)
        for number in range(1, len(LEGACY_PICKLES) + 1):
            start = src.tell()
            try:
                value = run.machine.run(src)
            except PickleError as exc:
                run.failure = (number, start, exc)
                break
            run.values.append(value)
            run.marks.append((len(run.machine.globals), len(run.machine.findings)))
            run.end = src.tell()
            if number == 1 and not _is_legacy_magic(value):
                break
        keys = run.storage_keys
        if keys is not None:
            try:
                run.counts = walk_legacy_storages(
                    self.fh, run.end, self.size, keys, run.machine, run.walk_warnings
                )
            except InvalidFileError as exc:
                run.walk_error = exc
        self._legacy = run
        return run


def walk_legacy_storages(
    fh: BinaryIO, pos: int, size: int, keys: list[str], machine: Machine, warnings: list[str]
) -> dict[str, int]:
    """Element count of each raw storage, following the 8-byte size before each one.

    Reads 8 bytes per storage; raises InvalidFileError when the file ends early.
    """
    counts: dict[str, int] = {}
    for key in keys:
        ref = machine.storages.get(key)
        width = None if ref is None or ref.dtype is None else dtype_width(ref.dtype)
        if width is None:
            warnings.append(f"cannot size storage {key!r}; storage data not checked")
            break
        try:
            (count,) = struct.unpack("<q", read_at(fh, pos, 8))
        except ZipError:
            count = -1
        end = pos + 8 + count * width
        if count < 0 or end > size:
            raise InvalidFileError(
                f"truncated file: storage {key!r} ends past the end of the file ({size} bytes)"
            )
        counts[key] = count
        pos = end
    return counts
