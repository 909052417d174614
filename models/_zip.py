"""Just enough ZIP for torch checkpoints: a bounded reader and a torch-like writer.

Python's :mod:`zipfile` is fine for trusted archives, but a scanner must see
what it glosses over (local headers that disagree with the central directory,
overlapping members, encryption) and must never read more than it asked for.
The writer lays members out like ``torch.save`` does: stored, no
compression, data aligned to 64 bytes through an ``FB`` padding extra field,
and a ZIP64 end record.
"""

from __future__ import annotations

import functools
import struct
import zlib
from dataclasses import dataclass
from typing import BinaryIO

_EOCD = b"PK\x05\x06"
_EOCD64 = b"PK\x06\x06"
_LOCATOR64 = b"PK\x06\x07"
_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"
_U16 = 0xFFFF
_U32 = 0xFFFFFFFF
_EOCD_SIZE = 22
_MAX_COMMENT = 0xFFFF
#: A central directory of a million tensors is ~80 MB; anything beyond is not a checkpoint.
MAX_CENTRAL_DIRECTORY = 128 << 20

STORED = 0
DEFLATED = 8
_FLAG_ENCRYPTED = 0x1
_FLAG_DATA_DESCRIPTOR = 0x8
_FLAG_STRONG_ENCRYPTION = 0x40
_FLAG_UTF8 = 0x800
_CHUNK = 1 << 20


class ZipError(Exception):
    """The archive is not a readable ZIP; the message is one line."""


@dataclass(frozen=True, slots=True)
class ZipMember:
    """One central-directory entry."""

    name: str
    raw_name: bytes
    flags: int
    method: int
    crc: int
    compressed_size: int
    size: int
    header_offset: int

    @property
    def encrypted(self) -> bool:
        return bool(self.flags & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION))


@dataclass(frozen=True, slots=True)
class ZipDirectory:
    """The central directory of an archive and where it sits."""

    members: tuple[ZipMember, ...]
    directory_offset: int
    file_size: int

    def find(self, name: str) -> ZipMember | None:
        for member in self.members:
            if member.name == name:
                return member
        return None


def read_at(fh: BinaryIO, offset: int, size: int) -> bytes:
    """Exactly ``size`` bytes at ``offset``, or :class:`ZipError` if the file ends first."""
    fh.seek(offset)
    parts: list[bytes] = []
    remaining = size
    while remaining > 0:
        chunk = fh.read(min(remaining, _CHUNK))
        if not chunk:
            raise ZipError(f"file ends at byte {offset + size - remaining}, expected {size} bytes")
        parts.append(chunk)
        remaining -= len(chunk)
    return b"".join(parts)


def read_directory(fh: BinaryIO, file_size: int) -> ZipDirectory:
    """Parse the end records and central directory (reads only the tail of the file).

    Two reads for a torch checkpoint: the last 4 KiB (end records, often the
    ZIP64 ones too, and the end of the directory), then whatever of the
    directory lies before them.
    """
    # Archives rarely carry a comment: look in the last 4 KiB before the full 64 KiB.
    for tail_size in (min(file_size, 4096), min(file_size, _EOCD_SIZE + _MAX_COMMENT)):
        tail_start = file_size - tail_size
        tail = read_at(fh, tail_start, tail_size)
        pos = _find_end_record(tail)
        if pos >= 0 or tail_size == file_size:
            break
    if pos < 0:
        raise ZipError("no ZIP end-of-central-directory record (truncated or not a zip)")
    tail_view = _Tail(fh, tail_start, tail)
    eocd_offset = tail_start + pos
    (_, disk, cd_disk, _, count, cd_size, cd_offset, _) = struct.unpack_from(
        "<4sHHHHIIH", tail, pos
    )
    end_of_directory = eocd_offset
    locator = eocd_offset - 20
    if locator >= 0:
        loc = tail_view.read(locator, 20)
        if loc[:4] == _LOCATOR64:
            (_, _, eocd64_offset, _) = struct.unpack("<4sIQI", loc)
            if eocd64_offset + 56 > locator:
                raise ZipError("ZIP64 end record points past its locator")
            rec = tail_view.read(eocd64_offset, 56)
            if rec[:4] != _EOCD64:
                raise ZipError("ZIP64 end record is missing where its locator points")
            (_, _, _, _, disk, cd_disk, _, count, cd_size, cd_offset) = struct.unpack(
                "<4sQHHIIQQQQ", rec
            )
            end_of_directory = eocd64_offset
    if disk != 0 or cd_disk != 0:
        raise ZipError("multi-disk ZIP archives are not supported")
    if cd_offset + cd_size > end_of_directory:
        raise ZipError("central directory runs past the end records")
    if cd_size > MAX_CENTRAL_DIRECTORY:
        raise ZipError(f"central directory of {cd_size} bytes is implausibly large")
    if count * 46 > cd_size:
        raise ZipError(f"central directory too small for {count} entries")
    members = _parse_directory(tail_view.read(cd_offset, cd_size), count)
    return ZipDirectory(members=members, directory_offset=cd_offset, file_size=file_size)


class _Tail:
    """The bytes already read from the end of a file; reads elsewhere go to the file."""

    __slots__ = ("data", "fh", "start")

    def __init__(self, fh: BinaryIO, start: int, data: bytes) -> None:
        self.fh, self.start, self.data = fh, start, data

    def read(self, offset: int, size: int) -> bytes:
        """``size`` bytes at ``offset``, reading only the part the tail does not hold."""
        end = offset + size
        if offset >= self.start:
            return self.data[offset - self.start : end - self.start]
        if end <= self.start:
            return read_at(self.fh, offset, size)
        return read_at(self.fh, offset, self.start - offset) + self.data[: end - self.start]


def _find_end_record(tail: bytes) -> int:
    pos = tail.rfind(_EOCD)
    while pos >= 0:
        if len(tail) - pos >= _EOCD_SIZE:
            comment_len = struct.unpack_from("<H", tail, pos + 20)[0]
            if pos + _EOCD_SIZE + comment_len <= len(tail):
                return pos
        pos = tail.rfind(_EOCD, 0, pos)
    return -1


def _parse_directory(data: bytes, count: int) -> tuple[ZipMember, ...]:
    members: list[ZipMember] = []
    pos = 0
    for _ in range(count):
        if data[pos : pos + 4] != _CENTRAL:
            raise ZipError("corrupt central directory entry")
        (flags, method, _, _, crc, csize, size, nlen, elen, clen, disk, _, _, offset) = (
            struct.unpack_from("<HHHHIIIHHHHHII", data, pos + 8)
        )
        end = pos + 46 + nlen + elen + clen
        if end > len(data):
            raise ZipError("central directory entry runs past the directory")
        raw_name = data[pos + 46 : pos + 46 + nlen]
        extra = data[pos + 46 + nlen : pos + 46 + nlen + elen]
        if _U32 in (size, csize, offset) or disk == _U16:
            size, csize, offset = _zip64_fields(extra, size, csize, offset, disk)
        name = raw_name.decode("utf-8" if flags & _FLAG_UTF8 else "cp437", errors="replace")
        members.append(ZipMember(name, raw_name, flags, method, crc, csize, size, offset))
        pos = end
    return tuple(members)


def _zip64_fields(
    extra: bytes, size: int, csize: int, offset: int, disk: int
) -> tuple[int, int, int]:
    pos = 0
    while pos + 4 <= len(extra):
        tag, length = struct.unpack_from("<HH", extra, pos)
        body = extra[pos + 4 : pos + 4 + length]
        if tag == 1:
            values = iter(struct.unpack_from(f"<{len(body) // 8}Q", body))
            try:
                if size == _U32:
                    size = next(values)
                if csize == _U32:
                    csize = next(values)
                if offset == _U32:
                    offset = next(values)
            except StopIteration:
                raise ZipError("ZIP64 extra field is too short") from None
            return size, csize, offset
        pos += 4 + length
    raise ZipError("entry needs a ZIP64 extra field but has none")


@dataclass(frozen=True, slots=True)
class LocalHead:
    """A member's checked local header: where its data starts, and its first bytes."""

    start: int
    #: The first bytes of the (compressed) data, as many as were asked for.
    data: bytes


#: Room for the local extra field when a local header is read in one go: torch's
#: ``FB`` alignment padding (4 + up to 63 bytes) and a ZIP64 field (20).
LOCAL_EXTRA_ROOM = 96


def read_local_head(
    fh: BinaryIO, member: ZipMember, directory: ZipDirectory, want: int = 0
) -> LocalHead:
    """``member``'s local header, checked against the central directory, and the first
    ``want`` bytes of its data (fewer if it is shorter).

    One read when the extra field is no larger than torch writes it; a second
    one only for a larger extra field.
    """
    want = max(0, min(want, member.compressed_size))
    fixed = 30 + len(member.raw_name)
    room = max(0, directory.file_size - member.header_offset)
    if room < fixed:
        raise ZipError(
            f"member {member.name!r}: file ends at byte {directory.file_size},"
            " inside its local header"
        )
    buf = read_at(fh, member.header_offset, min(fixed + LOCAL_EXTRA_ROOM + want, room))
    (sig, _, flags, method, _, _, crc, csize, size, nlen, elen) = struct.unpack_from(
        "<4sHHHHHIIIHH", buf
    )
    what = f"member {member.name!r}"
    if sig != _LOCAL:
        raise ZipError(f"{what}: no local header where the central directory points")
    if buf[30 : 30 + nlen] != member.raw_name or nlen != len(member.raw_name):
        raise ZipError(f"{what}: local header names a different file")
    if method != member.method:
        raise ZipError(f"{what}: local header and central directory disagree on compression")
    if (flags ^ member.flags) & (_FLAG_ENCRYPTED | _FLAG_STRONG_ENCRYPTION):
        raise ZipError(f"{what}: local header and central directory disagree on encryption")
    if not flags & _FLAG_DATA_DESCRIPTOR and (
        crc != member.crc
        or (csize != _U32 and csize != member.compressed_size)
        or (size != _U32 and size != member.size)
    ):
        raise ZipError(f"{what}: local header and central directory disagree on CRC or size")
    start = member.header_offset + 30 + nlen + elen
    if start + member.compressed_size > directory.directory_offset:
        raise ZipError(f"{what}: data runs into the central directory (truncated?)")
    data = buf[30 + nlen + elen : 30 + nlen + elen + want]
    if len(data) < want:
        data += read_at(fh, start + len(data), want - len(data))
    return LocalHead(start, data)


def member_data_offset(fh: BinaryIO, member: ZipMember, directory: ZipDirectory) -> int:
    """Where ``member``'s data starts, after checking its local header agrees."""
    return read_local_head(fh, member, directory).start


def read_member(fh: BinaryIO, member: ZipMember, directory: ZipDirectory, limit: int) -> bytes:
    """The uncompressed bytes of ``member`` (at most ``limit``); CRC is the caller's check.

    The local header and the data come in one read.
    """
    if member.encrypted:
        raise ZipError(f"member {member.name!r} is encrypted")
    if member.size > limit:
        raise ZipError(f"member {member.name!r} is {member.size} bytes, over the {limit} limit")
    if member.method == STORED:
        if member.compressed_size != member.size:
            raise ZipError(f"member {member.name!r}: stored but sizes differ")
        return read_local_head(fh, member, directory, member.size).data
    if member.method == DEFLATED:
        if member.compressed_size > limit:
            raise ZipError(f"member {member.name!r} is too large to read")
        raw = read_local_head(fh, member, directory, member.compressed_size).data
        inflater = zlib.decompressobj(-15)
        try:
            data = inflater.decompress(raw, limit + 1)
        except zlib.error as exc:
            raise ZipError(f"member {member.name!r}: corrupt deflate data ({exc})") from None
        if len(data) != member.size:
            raise ZipError(f"member {member.name!r}: inflates to a different size than recorded")
        return data
    read_local_head(fh, member, directory)  # a broken header is the better message
    raise ZipError(f"member {member.name!r} uses unsupported compression method {member.method}")


def crc_matches(member: ZipMember, data: bytes) -> bool:
    return zlib.crc32(data) == member.crc


# --- writing ---------------------------------------------------------------------------------

_DOS_DATE_1980 = (0 << 9) | (1 << 5) | 1


def crc32_of_zeros(size: int, crc: int = 0) -> int:
    """``zlib.crc32(bytes(size), crc)`` without a pass over gigabytes of zeros.

    Zero bytes act linearly on the CRC register, so ``size`` of them is one
    GF(2) matrix power (the trick of zlib's ``crc32_combine``): O(log size).
    """
    if size <= _CHUNK:
        return zlib.crc32(_ZEROS[:size], crc)
    register = crc ^ 0xFFFFFFFF
    for power in _zero_powers():
        if not size:
            break
        if size & 1:
            register = _gf2_apply(power, register)
        size >>= 1
    return register ^ 0xFFFFFFFF


def _gf2_apply(matrix: list[int], vector: int) -> int:
    result = 0
    row = 0
    while vector:
        if vector & 1:
            result ^= matrix[row]
        vector >>= 1
        row += 1
    return result


def _gf2_square(matrix: list[int]) -> list[int]:
    return [_gf2_apply(matrix, column) for column in matrix]


@functools.cache
def _zero_powers() -> tuple[list[int], ...]:
    """The register operators for 1, 2, 4, … 2⁶³ zero bytes."""
    operator = [0xEDB88320] + [1 << n for n in range(31)]  # one zero bit
    for _ in range(3):
        operator = _gf2_square(operator)  # → one zero byte
    powers = [operator]
    for _ in range(63):
        powers.append(_gf2_square(powers[-1]))
    return tuple(powers)


_ZEROS = memoryview(bytes(_CHUNK))


@dataclass(slots=True)
class _Written:
    raw_name: bytes
    crc: int
    size: int
    offset: int


class ZipWriter:
    """Write a stored ZIP laid out like ``torch.save``'s (deterministic bytes).

    ``force_zip64`` writes ZIP64 extra fields for every entry, as torch does
    for files past 4 GiB, so small test files exercise that path too.
    """

    def __init__(self, fh: BinaryIO, *, align: int = 64, force_zip64: bool = False) -> None:
        self._fh = fh
        self._align = align
        self._force_zip64 = force_zip64
        self._entries: list[_Written] = []
        self._pos = fh.tell()

    def add(self, name: str, data: bytes) -> None:
        self._add(name, len(data), zlib.crc32(data), data)

    def add_zeros(self, name: str, size: int, *, head: bytes = b"") -> None:
        """A member of ``size`` bytes: ``head``, then zeros left as a hole in the file
        (sparse where possible). Big test files whose data starts like real data."""
        if len(head) > size:
            raise ValueError(f"head of {len(head)} bytes for a {size}-byte member")
        crc = crc32_of_zeros(size - len(head), zlib.crc32(head))
        self._add(name, size, crc, None, head)

    def _add(self, name: str, size: int, crc: int, data: bytes | None, head: bytes = b"") -> None:
        raw_name = name.encode("utf-8")
        offset = self._pos
        zip64 = self._force_zip64 or size >= _U32
        extra = struct.pack("<HHQQ", 1, 16, size, size) if zip64 else b""
        # torch always adds the "FB" field, padding the data start to the alignment.
        start = offset + 30 + len(raw_name) + len(extra) + 4
        pad = -start % self._align
        extra += struct.pack("<HH", 0x4246, pad) + b"Z" * pad
        field = _U32 if zip64 else size
        flags = _FLAG_UTF8 if not name.isascii() else 0
        header = struct.pack(
            "<4sHHHHHIIIHH",
            _LOCAL,
            45 if zip64 else 20,
            flags,
            STORED,
            0,
            _DOS_DATE_1980,
            crc,
            field,
            field,
            len(raw_name),
            len(extra),
        )
        self._fh.write(header + raw_name + extra)
        if data is None:
            self._fh.write(head)
            self._fh.seek(size - len(head), 1)
        else:
            self._fh.write(data)
        self._pos = start + pad + size
        self._entries.append(_Written(raw_name, crc, size, offset))

    def close(self) -> None:
        """Write the central directory and the (ZIP64 and classic) end records."""
        cd_offset = self._pos
        self._fh.seek(cd_offset)
        directory = bytearray()
        for entry in self._entries:
            zip64 = self._force_zip64 or entry.size >= _U32 or entry.offset >= _U32
            extra = struct.pack("<HHQQQ", 1, 24, entry.size, entry.size, entry.offset)
            flags = 0 if entry.raw_name.isascii() else _FLAG_UTF8
            directory += struct.pack(
                "<4sHHHHHHIIIHHHHHII",
                _CENTRAL,
                45 if zip64 else 20,
                45 if zip64 else 20,
                flags,
                STORED,
                0,
                _DOS_DATE_1980,
                entry.crc,
                _U32 if zip64 else entry.size,
                _U32 if zip64 else entry.size,
                len(entry.raw_name),
                len(extra) if zip64 else 0,
                0,
                0,
                0,
                0,
                _U32 if zip64 else entry.offset,
            )
            directory += entry.raw_name + (extra if zip64 else b"")
        count = len(self._entries)
        eocd64_offset = cd_offset + len(directory)
        directory += struct.pack(
            "<4sQHHIIQQQQ", _EOCD64, 44, 45, 45, 0, 0, count, count, len(directory), cd_offset
        )
        directory += struct.pack("<4sIQI", _LOCATOR64, 0, eocd64_offset, 1)
        directory += struct.pack(
            "<4sHHHHIIH",
            _EOCD,
            0,
            0,
            min(count, _U16),
            min(count, _U16),
            min(eocd64_offset - cd_offset, _U32),
            min(cd_offset, _U32),
            0,
        )
        self._fh.write(directory)
