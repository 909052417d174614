"""All six Civitai hashes in one read pass.

Why the shape of this module: on two cores the six hashes are about two
SHA-256 streams (whole file for SHA256/AutoV2, safetensors payload for AutoV3),
one BLAKE3 and one CRC-32 over the same bytes — nearly three cores' worth of
work per byte if done one after another. So the bytes are read once into a
small ring of preallocated buffers and every buffer is handed, without a copy,
to worker threads that each own some of the hashes (hashlib, blake3 and isal
all release the GIL on large buffers). The caller's thread only reads and
does the tiny AutoV1 window. Files that fit in one buffer are hashed inline:
no threads for the thousands of small embeddings a library scan meets.

mmap was measured too (bench/hash_bench.py --variants): ~5 % faster and ~8 %
less CPU on a warm cache (no copy out of the page cache), but a file truncated
by another process while it is mapped kills the whole process with SIGBUS,
which a library scanner cannot risk.

The two SHA-256 streams run through ``_sha256x2`` (a small C module built at
install when a compiler is there) on CPUs with SHA-NI: one SHA-NI stream is
bound by instruction latency, so two interleaved on one core cost ~1.1× one
stream instead of 2× — on the 2-core benchmark machine that is the difference
between missing and meeting "six hashes ≈ one SHA-256". Without it, hashlib
runs each stream in a thread of its own, with the same results.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import threading
from collections.abc import Callable
from pathlib import Path
from queue import SimpleQueue
from typing import BinaryIO, Final, Protocol

import blake3

from .report import Hashes

try:  # SHA-NI, two streams interleaved: optional, built at install when a compiler exists.
    from . import _sha256x2 as _accel_module

    _ACCEL: object | None = _accel_module if _accel_module.available() else None
except ImportError:
    _ACCEL = None

try:  # isal's CRC-32 is 4x the stdlib's; same values.
    from isal.isal_zlib import crc32 as _crc32
except ImportError:  # pragma: no cover - isal is a dependency; keep working without it
    from zlib import crc32 as _crc32

#: Bytes per buffer handed to the workers; big enough that per-buffer Python
#: overhead vanishes, small enough that the ring stays near the CPU caches.
CHUNK_SIZE: Final = 4 << 20
#: Buffers in the ring: how far the fastest worker may run ahead of the slowest.
RING_SIZE: Final = 4

#: AutoV1 (A1111's old ``model_hash``): SHA-256 of 64 KiB at offset 1 MiB.
AUTOV1_OFFSET: Final = 0x100000
AUTOV1_LENGTH: Final = 0x10000
#: safetensors refuses headers above 100 MB; a larger length is not a header.
_MAX_HEADER: Final = 100_000_000

Buffer = bytes | bytearray | memoryview


class _Detect:
    """Marker type for "find the safetensors payload offset from the first bytes"."""


#: Default of ``payload_offset``: detect a safetensors header from the first bytes.
DETECT: Final = _Detect()


def safetensors_payload_offset(head: bytes, size: int | None = None) -> int | None:
    """Where a safetensors payload starts (8 + N), judged from the first 9 bytes.

    None when the bytes do not start like safetensors: an 8-byte little-endian
    length N that is plausible (2 ≤ N ≤ 100 MB, and ≤ size − 8 when the size is
    known) followed by ``{``.
    """
    if len(head) < 9 or head[8:9] != b"{":
        return None
    (n,) = struct.unpack("<Q", head[:8])
    if n < 2 or n > _MAX_HEADER or (size is not None and n > size - 8):
        return None
    return 8 + n


class _Sink(Protocol):
    def feed(self, view: memoryview, offset: int) -> None: ...


class _Whole:
    """A hash of every byte (SHA256, BLAKE3)."""

    __slots__ = ("h",)

    def __init__(self, h: hashlib._Hash | blake3.blake3) -> None:
        self.h = h

    def feed(self, view: memoryview, offset: int) -> None:
        self.h.update(view)


class _Crc:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0

    def feed(self, view: memoryview, offset: int) -> None:
        self.value = _crc32(view, self.value)


class _Tail:
    """SHA-256 of the bytes from ``start`` on (AutoV3: the safetensors payload).

    ``start`` may be set after construction, but always before any byte at or
    past it is fed (the header length is read from bytes 0-8 and is ≥ 10).
    """

    __slots__ = ("h", "start")

    def __init__(self, start: int | None) -> None:
        self.h = hashlib.sha256()
        self.start = start

    def feed(self, view: memoryview, offset: int) -> None:
        start = self.start
        if start is None:
            return
        end = offset + len(view)
        if end <= start:
            return
        self.h.update(view if offset >= start else view[start - offset :])


class _HashlibShas:
    """AutoV2's and AutoV3's SHA-256 streams through hashlib: a worker each."""

    def __init__(self, start: int | None) -> None:
        self.whole = _Whole(hashlib.sha256())
        self.tail = _Tail(start)

    def groups(self, with_tail: bool) -> list[tuple[_Sink, ...]]:
        return [(self.whole,), (self.tail,)] if with_tail else [(self.whole,)]

    def set_start(self, start: int | None) -> None:
        self.tail.start = start

    def hexdigests(self) -> tuple[str, str]:
        return self.whole.h.hexdigest(), self.tail.h.hexdigest()


_IV: Final = struct.pack(
    "=8I",
    0x6A09E667, 0xBB67AE85, 0x3C6EF372, 0xA54FF53A,
    0x510E527F, 0x9B05688C, 0x1F83D9AB, 0x5BE0CD19,
)  # fmt: skip
_NO_BLOCKS: Final = memoryview(b"")


class _BlockStream:
    """One SHA-256 stream for the C compression function: lengths, the partial
    block between buffers, and the padding — everything but the rounds.
    """

    __slots__ = ("carry", "length", "start", "state")

    def __init__(self, start: int | None) -> None:
        self.state = bytearray(_IV)
        self.carry = bytearray()  # < 64 bytes waiting for the rest of their block
        self.length = 0
        self.start = start

    def take(self, view: memoryview, offset: int) -> memoryview:
        """Account for this buffer; the whole blocks in it the caller must compress now."""
        start = self.start
        if start is None or offset + len(view) <= start:
            return _NO_BLOCKS
        if offset < start:
            view = view[start - offset :]
        self.length += len(view)
        if self.carry:
            need = 64 - len(self.carry)
            self.carry += view[:need]
            view = view[need:]
            if len(self.carry) < 64:
                return _NO_BLOCKS
            _ACCEL.compress(self.state, self.carry)  # type: ignore[attr-defined]
            self.carry.clear()
        whole = len(view) & ~63
        self.carry += view[whole:]
        return view[:whole]

    def hexdigest(self) -> str:
        tail = bytes(self.carry) + b"\x80" + bytes((55 - len(self.carry)) % 64)
        state = bytearray(self.state)
        _ACCEL.compress(state, tail + struct.pack(">Q", self.length * 8))  # type: ignore[attr-defined]
        return struct.pack(">8I", *struct.unpack("=8I", state)).hex()


class _PairedShas:
    """AutoV2's and AutoV3's SHA-256 streams interleaved on one core (SHA-NI)."""

    __slots__ = ("tail", "whole")

    def __init__(self, start: int | None) -> None:
        self.whole = _BlockStream(0)
        self.tail = _BlockStream(start)

    def feed(self, view: memoryview, offset: int) -> None:
        whole = self.whole.take(view, offset)
        tail = self.tail.take(view, offset)
        _ACCEL.compress2(self.whole.state, whole, self.tail.state, tail)  # type: ignore[attr-defined]

    def groups(self, with_tail: bool) -> list[tuple[_Sink, ...]]:
        return [(self,)]

    def set_start(self, start: int | None) -> None:
        self.tail.start = start

    def hexdigests(self) -> tuple[str, str]:
        return self.whole.hexdigest(), self.tail.hexdigest()


def sha_ni_accelerated() -> bool:
    """Whether the two SHA-256 streams run interleaved in C (else: hashlib, a thread each)."""
    return _ACCEL is not None


def _work(sinks: tuple[_Sink, ...], jobs: SimpleQueue, done: SimpleQueue) -> None:
    """A worker: feed each buffer to its hashes in order, then say so.

    Never dies early: an error is kept (and re-raised by ``hexdigests``) while
    the worker goes on acknowledging buffers, so the reader never waits forever.
    """
    error: BaseException | None = None
    while True:
        job = jobs.get()
        if job is None:
            done.put(error)
            return
        if error is None:
            view, offset = job
            try:
                for sink in sinks:
                    sink.feed(view, offset)
            except BaseException as exc:  # handed to the caller in hexdigests()
                error = exc
        done.put(None)


class MultiHasher:
    """Feed bytes in file order; get every hash at the end.

    Used both for files on disk and for downloads as they stream, so a
    download is hashed once. Detects a safetensors header from the first
    bytes to compute AutoV3 over the payload (or takes ``payload_offset``:
    an int, or None for "not safetensors").

    Two ways in: :meth:`update` copies bytes of any size (a network piece)
    into the ring; :meth:`feed_from` lets a ``readinto`` fill a ring buffer
    directly, with no copy. Workers start only once more than one buffer's
    worth of bytes has come, and stop in :meth:`hexdigests` or :meth:`close`
    (also a context manager).
    """

    def __init__(
        self,
        *,
        payload_offset: int | _Detect | None = DETECT,
        chunk_size: int = CHUNK_SIZE,
        ring_size: int = RING_SIZE,
    ) -> None:
        if chunk_size < 16 or ring_size < 2:
            raise ValueError("chunk_size must be ≥ 16 and ring_size ≥ 2")
        self._chunk_size = chunk_size
        self._ring_size = ring_size
        self._detect = isinstance(payload_offset, _Detect)
        self._head = b""
        start = None if self._detect else payload_offset
        self._start: int | None = start  # type: ignore[assignment]
        self._shas = _PairedShas(start) if _ACCEL is not None else _HashlibShas(start)  # type: ignore[arg-type]
        self._blake = _Whole(blake3.blake3())
        self._crc = _Crc()
        self._v1 = hashlib.sha256()
        self._position = 0  # bytes observed (AutoV1, header, offsets)
        self._views: list[memoryview] = []
        self._submitted = 0  # buffers handed to the workers (or about to be)
        self._current: memoryview | None = None  # the ring buffer being filled
        self._filled = 0
        self._pending: tuple[memoryview, int] | None = None  # filled, not yet dispatched
        self._workers: list[tuple[threading.Thread, SimpleQueue, SimpleQueue]] = []
        self._result: Hashes | None = None
        self._closed = False

    # -- feeding ---------------------------------------------------------

    def update(self, data: Buffer) -> None:
        """Add the next bytes of the file (any size; copied, so ``data`` may be reused)."""
        view = memoryview(data).cast("B")
        while view:
            buf = self._buffer()
            take = min(len(view), len(buf) - self._filled)
            buf[self._filled : self._filled + take] = view[:take]
            self._filled += take
            view = view[take:]
            if self._filled == len(buf):
                self._commit(self._filled)

    def feed_from(self, readinto: Callable[[memoryview], int | None]) -> memoryview:
        """Let ``readinto`` fill the next ring buffer directly; hash what it wrote.

        Returns the bytes read (empty at end of file: ``readinto`` gave 0 or
        None). The view stays valid
        until the next ``update``/``feed_from`` call, so a download can still
        write it to disk.
        """
        if self._filled:  # finish a buffer begun by update() first
            self._commit(self._filled)
        buf = self._buffer()
        n = readinto(buf) or 0
        if n:
            self._filled = n
            self._commit(n)
        return buf[:n]

    def _buffer(self) -> memoryview:
        """The ring buffer being filled; waits until every worker is done with it."""
        if self._result is not None or self._closed:
            raise ValueError("MultiHasher already finished")
        if self._current is not None:
            return self._current
        slot = self._submitted % self._ring_size
        if slot == len(self._views):
            self._views.append(memoryview(bytearray(self._chunk_size)))
        if self._submitted >= self._ring_size:
            # Workers acknowledge buffers in order: this is buffer (submitted - ring)'s.
            self._collect_acks()
        self._current = self._views[slot]
        return self._current

    def _commit(self, n: int) -> None:
        """The current buffer holds ``n`` new bytes: observe them and queue them."""
        assert self._current is not None
        view = self._current[:n]
        offset = self._position
        self._observe(view)
        if self._workers:
            self._dispatch((view, offset))
        elif self._pending is None:
            # Hold the first buffer back: if it is also the last, hash it inline.
            self._pending = (view, offset)
        else:
            self._start_workers()
            self._dispatch(self._pending)
            self._pending = None
            self._dispatch((view, offset))
        self._submitted += 1
        self._current = None
        self._filled = 0

    def _observe(self, view: memoryview) -> None:
        """The caller-thread work: header detection and the 64 KiB AutoV1 window."""
        start = self._position
        end = start + len(view)
        if self._detect and len(self._head) < 9:
            self._head += bytes(view[: 9 - len(self._head)])
            if len(self._head) >= 9:
                self._start = safetensors_payload_offset(self._head)
                self._shas.set_start(self._start)
                self._detect = False
        lo = max(start, AUTOV1_OFFSET)
        hi = min(end, AUTOV1_OFFSET + AUTOV1_LENGTH)
        if lo < hi:
            self._v1.update(view[lo - start : hi - start])
        self._position = end

    def _sinks(self) -> tuple[_Sink, ...]:
        sha_groups = self._shas.groups(self._start is not None or self._detect)
        return (*(sink for group in sha_groups for sink in group), self._blake, self._crc)

    def _dispatch(self, job: tuple[memoryview, int]) -> None:
        for _, jobs, _ in self._workers:
            jobs.put(job)

    def _start_workers(self) -> None:
        """The SHA-256 streams (one thread for the SHA-NI pair, else one each); BLAKE3
        and CRC-32 share the last.

        Measured on 2 cores (bench/hash_bench.py --variants): this grouping
        and one-thread-per-hash are within noise; fewer threads means fewer
        wake-ups per buffer.
        """
        with_tail = self._start is not None or self._detect
        groups = [*self._shas.groups(with_tail), (self._blake, self._crc)]
        for sinks in groups:
            jobs: SimpleQueue = SimpleQueue()
            done: SimpleQueue = SimpleQueue()
            thread = threading.Thread(
                target=_work, args=(sinks, jobs, done), name="sdhub-hash", daemon=True
            )
            thread.start()
            self._workers.append((thread, jobs, done))

    def _collect_acks(self) -> None:
        for _, _, done in self._workers:
            done.get()

    # -- results ---------------------------------------------------------

    def hexdigests(self) -> Hashes:
        """Every hash of the bytes fed so far; the hasher is finished afterwards."""
        if self._result is not None:
            return self._result
        if self._closed:
            raise ValueError("MultiHasher was closed")
        if self._filled:
            self._commit(self._filled)
        if self._pending is not None:
            view, offset = self._pending  # everything fit in one buffer: no threads
            self._pending = None
            for sink in self._sinks():
                sink.feed(view, offset)
        error = self._stop_workers()
        if error is not None:
            raise error
        size = self._position
        start = self._start
        whole, tail = self._shas.hexdigests()
        digest = whole.upper()
        autov3 = None
        if start is not None and start <= size:
            autov3 = tail.upper()[:12]
        self._result = Hashes(
            sha256=digest,
            autov1=self._v1.hexdigest().upper()[:8],
            autov2=digest[:10],
            autov3=autov3,
            crc32=f"{self._crc.value:08X}",
            blake3=self._blake.h.hexdigest().upper(),
        )
        self._views.clear()
        self._current = None
        return self._result

    def _stop_workers(self) -> BaseException | None:
        """Send every worker home and wait; the first error any of them kept."""
        for _, jobs, _ in self._workers:
            jobs.put(None)
        first: BaseException | None = None
        for thread, _, done in self._workers:
            thread.join()
            while not done.empty():  # unread acknowledgements, then the worker's error
                item = done.get()
                if item is not None and first is None:
                    first = item
        self._workers.clear()
        return first

    def close(self) -> None:
        """Stop the workers without a result (an abandoned download)."""
        if self._closed or self._result is not None:
            return
        self._closed = True
        self._pending = None
        self._stop_workers()
        self._views.clear()
        self._current = None

    def __del__(self) -> None:
        # Forgotten without hexdigests()/close(): let the workers go home (no join here).
        for _, jobs, _ in getattr(self, "_workers", ()):
            jobs.put(None)

    def __enter__(self) -> MultiHasher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def bytes_hashed(self) -> int:
        """Bytes fed so far (what a progress bar shows)."""
        return self._position + self._filled


def hash_file(
    path: Path,
    *,
    payload_offset: int | _Detect | None = DETECT,
    progress: Callable[[int], None] | None = None,
) -> Hashes:
    """Every hash of a file on disk, reading it once.

    ``payload_offset`` is where AutoV3 starts (the safetensors reader's
    ``header_size``), None for a file that is not safetensors, or detected from
    the first bytes by default. ``progress`` gets the byte count after each
    buffer. Raises ``OSError`` when the file cannot be read.
    """
    with open(path, "rb", buffering=0) as fh:
        return hash_open_file(fh, payload_offset=payload_offset, progress=progress)


def hash_open_file(
    fh: BinaryIO,
    *,
    payload_offset: int | _Detect | None = DETECT,
    progress: Callable[[int], None] | None = None,
) -> Hashes:
    """:func:`hash_file` for a file already open (read from its start; unbuffered is best).

    Lets the inspector sniff, read and hash through one open file.
    """
    fd = fh.fileno()
    size = os.fstat(fd).st_size
    fh.seek(0)
    if isinstance(payload_offset, _Detect):
        payload_offset = safetensors_payload_offset(fh.read(9), size)
        fh.seek(0)
    if hasattr(os, "posix_fadvise"):
        with contextlib.suppress(OSError):  # a hint: pipes and odd filesystems refuse it
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
    # A small file gets one buffer of its own size and is hashed inline.
    chunk = CHUNK_SIZE if size >= CHUNK_SIZE else max(size, 16)
    hasher = MultiHasher(payload_offset=payload_offset, chunk_size=chunk)
    try:
        readinto = fh.readinto
        while hasher.feed_from(readinto):
            if progress is not None:
                progress(hasher.bytes_hashed)
        return hasher.hexdigests()
    finally:
        hasher.close()
