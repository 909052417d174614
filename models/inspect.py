"""One file in, one :class:`~.report.FileReport` out.

The inspector is the one place that strings the models package together:
sniff the container, scan the pickles, read the tensor index, classify, hash.
Its promise is that a bad file never raises: whatever goes wrong becomes a
report of kind ``invalid`` with a one-line ``error``, because ``sdhub info``
and library scans walk thousands of files and one broken download must not
stop them. Classification reads only headers (well under 1 MiB: a 2 GiB SD1
``.ckpt`` takes ~0.5 MiB, its pickle scan and tensor index sharing one
:class:`~._torch_file.TorchFile`); hashing is the only full read, and it
goes through the same open file as the sniff.

Hashing starts first, in the background, and the pickle scan, index and
classification run meanwhile: their Python work (and the first-call imports
of the readers) hides behind the hash instead of adding to it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import os
import stat
import struct
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .errors import ModelFileError
from .hashing import CHUNK_SIZE, hash_open_file, safetensors_payload_offset
from .kinds import FileFormat, Kind, Verdict
from .report import Classification, FileReport, Hashes, Safety
from .sniff import MAX_SAFETENSORS_HEADER, sniff_bytes

if TYPE_CHECKING:
    from ._torch_file import TorchFile
    from .tensor_index import TensorIndex

#: What a file's suffix promises, for the "name disagrees with bytes" warning.
_SUFFIX_FORMATS: dict[str, frozenset[FileFormat]] = {
    ".safetensors": frozenset({FileFormat.SAFETENSORS}),
    ".sft": frozenset({FileFormat.SAFETENSORS}),
    ".ckpt": frozenset({FileFormat.TORCH_ZIP, FileFormat.TORCH_LEGACY}),
    ".pt": frozenset({FileFormat.TORCH_ZIP, FileFormat.TORCH_LEGACY}),
    ".pth": frozenset({FileFormat.TORCH_ZIP, FileFormat.TORCH_LEGACY}),
    ".bin": frozenset({FileFormat.TORCH_ZIP, FileFormat.TORCH_LEGACY}),
    ".gguf": frozenset({FileFormat.GGUF}),
}

_FORMAT_WORDS: dict[FileFormat, str] = {
    FileFormat.SAFETENSORS: "safetensors",
    FileFormat.TORCH_ZIP: "a torch zip pickle",
    FileFormat.TORCH_LEGACY: "a legacy torch pickle",
    FileFormat.GGUF: "GGUF",
    FileFormat.UNKNOWN: "no model format",
}

_SAFETENSORS_SAFETY = Safety(Verdict.SAFE)
#: Containers that hold no pickle: nothing in them can run code when loaded.
_NO_PICKLE = frozenset({FileFormat.SAFETENSORS, FileFormat.GGUF})

Progress = Callable[[int], None]


def inspect_file(
    path: Path, *, hashes: bool = True, progress: Progress | None = None
) -> FileReport:
    """What a file is: format, index-based classification, safety, hashes.

    Never raises for a bad file (truncated, empty, garbage, lying): it comes
    back as kind ``invalid`` with a one-line ``error``. ``hashes=False`` skips
    the full read (classification reads well under 1 MiB). ``progress`` is
    called with the bytes hashed so far while hashing.
    """
    path = Path(path)
    try:
        fh = _open_regular(path)
    except OSError as exc:
        return _invalid(path, 0, FileFormat.UNKNOWN, _os_reason(exc))
    with fh:
        return _inspect_open(path, fh, hashes=hashes, progress=progress)


def _inspect_open(
    path: Path, fh: BinaryIO, *, hashes: bool, progress: Progress | None
) -> FileReport:
    try:
        size = os.fstat(fh.fileno()).st_size
        head = fh.read(64)
    except OSError as exc:
        return _invalid(path, 0, FileFormat.UNKNOWN, _os_reason(exc))
    fmt = sniff_bytes(head, size)
    job = _HashJob(fh, fmt, head, size, progress) if hashes else None
    try:
        safety, index, classification = _understand(path, fh, fmt, head, size)
    except BaseException:  # Ctrl-C: stop hashing now rather than after the whole file
        if job:
            job.cancel()
        raise
    file_hashes, hash_error = job.result() if job else (None, None)
    if hash_error is not None:
        classification = Classification(
            Kind.INVALID,
            warnings=classification.warnings,
            error=f"read failed while hashing: {hash_error}",
        )
    if file_hashes is not None and file_hashes.autov3 and index is None:
        # Bytes that only look like safetensors have no AutoV3 (the reader said no).
        file_hashes = dataclasses.replace(file_hashes, autov3=None)
    return FileReport(path, size, fmt, classification, safety, file_hashes)


def _understand(
    path: Path, fh: BinaryIO, fmt: FileFormat, head: bytes, size: int
) -> tuple[Safety, TensorIndex | None, Classification]:
    """Safety, tensor index and classification: everything but the hashes.

    A torch file is opened once for the scan and the index (they share the
    zip directory, ``data.pkl`` and its run); reads go by ``pread``, so the
    hash thread reading ``fh`` meanwhile is undisturbed.
    """
    warnings = _suffix_warnings(path, fmt)
    with _torch_file(path, fh, size, fmt) as torch_file:
        safety = _scan(path, fmt, torch_file)
        index: TensorIndex | None = None
        if size == 0:
            classification = Classification(Kind.INVALID, error="empty file")
        elif fmt is FileFormat.UNKNOWN:
            classification = Classification(Kind.INVALID, error=_unknown_reason(head, size))
        else:
            index, error = _read_index(path, fmt, torch_file)
            if index is None:
                classification = Classification(Kind.INVALID, error=error)
                if fmt in _NO_PICKLE:  # as scan_pickles says of a broken safetensors file
                    safety = Safety(
                        Verdict.UNSCANNABLE, reason=f"invalid {fmt.value} header: {error}"
                    )
            else:
                classification = _classify(index, path.name)
    later = classification.warnings
    if warnings:  # the classifier says the same of the name, in its own words: keep ours
        later = [w for w in later if not w.startswith(f"named {path.suffix.lower()} but the file")]
    classification.warnings = _merge(warnings, index.warnings if index else [], later)
    return safety, index, classification


class _Cancelled(Exception):
    """Raised inside the hash thread to stop it between two buffers."""


class _HashJob:
    """Hash the open file in a thread of its own (inline for small files).

    The payload offset for AutoV3 comes from the first bytes; when the reader
    later rejects the file, the inspector drops AutoV3 again. The thread never
    outlives the call: the file it reads is closed right after.
    """

    def __init__(
        self, fh: BinaryIO, fmt: FileFormat, head: bytes, size: int, progress: Progress | None
    ) -> None:
        offset = safetensors_payload_offset(head, size) if fmt is FileFormat.SAFETENSORS else None
        self._args = (fh, offset, progress)
        self._hashes: Hashes | None = None
        self._error: str | None = None
        self._cancelled = False
        self._thread: threading.Thread | None = None
        if size < CHUNK_SIZE:
            self._run()  # a thread costs more than hashing a few MiB
        else:
            self._thread = threading.Thread(target=self._run, name="sdhub-inspect", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        fh, offset, progress = self._args

        def tick(done: int) -> None:
            if self._cancelled:
                raise _Cancelled
            if progress is not None:
                progress(done)

        try:
            self._hashes = hash_open_file(fh, payload_offset=offset, progress=tick)
        except _Cancelled:
            pass
        except OSError as exc:
            self._error = _os_reason(exc)
        except Exception as exc:  # never raise for a file; report it
            self._error = _internal(exc, "hashing")

    def result(self) -> tuple[Hashes | None, str | None]:
        if self._thread is not None:
            try:
                self._thread.join()
            except BaseException:
                self.cancel()
                raise
        return self._hashes, self._error

    def cancel(self) -> None:
        """Stop at the next buffer and wait for that (milliseconds, not the whole file)."""
        self._cancelled = True
        if self._thread is not None:
            self._thread.join()


def _open_regular(path: Path) -> BinaryIO:
    """Open for reading only if it is a regular file (never block on a FIFO)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a directory", str(path))
        if not stat.S_ISREG(mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


@contextlib.contextmanager
def _torch_file(path: Path, fh: BinaryIO, size: int, fmt: FileFormat) -> Iterator[TorchFile | None]:
    """The torch file the scan and the index share (None for other formats)."""
    if fmt not in (FileFormat.TORCH_ZIP, FileFormat.TORCH_LEGACY):
        yield None
        return
    from ._torch_file import PositionalReader, TorchFile  # first use: see the module doc

    if not PositionalReader.shares_offset:
        yield TorchFile(PositionalReader(fh.fileno(), size), size, fmt)
        return
    try:  # no pread: a descriptor of its own, so the hash thread's offset stays put
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    except OSError:
        yield None  # the scan and the index open the path themselves and say what failed
        return
    try:
        yield TorchFile(PositionalReader(fd, size), size, fmt)
    finally:
        os.close(fd)


def _scan(path: Path, fmt: FileFormat, torch_file: TorchFile | None) -> Safety:
    """The scanner's verdict; safetensors and GGUF hold no code, so they skip it."""
    if fmt in _NO_PICKLE:
        return _SAFETENSORS_SAFETY
    try:
        from .pickle_scan import scan_pickles, scan_torch_file  # first use: see the module doc

        return scan_torch_file(torch_file) if torch_file else scan_pickles(path, fmt)
    except Exception as exc:  # the scanner promises not to raise; a bug must not stop us
        return Safety(Verdict.UNSCANNABLE, reason=_internal(exc, "scanning the pickles"))


def _read_index(
    path: Path, fmt: FileFormat, torch_file: TorchFile | None
) -> tuple[TensorIndex | None, str | None]:
    try:  # readers imported on first use: see the module doc
        if fmt is FileFormat.SAFETENSORS:
            from .safetensors_index import read_safetensors_index

            return read_safetensors_index(path), None
        if fmt is FileFormat.GGUF:
            from .gguf_index import read_gguf_index

            return read_gguf_index(path), None
        from .pickle_index import index_torch_file, read_pickle_index

        if torch_file is not None:
            return index_torch_file(torch_file), None
        return read_pickle_index(path, fmt), None
    except ModelFileError as exc:
        return None, _one_line(str(exc)) or type(exc).__name__
    except OSError as exc:
        return None, _os_reason(exc)
    except Exception as exc:  # a reader bug is reported, not raised
        return None, _internal(exc, "reading the tensor index")


def _classify(index: TensorIndex, filename: str) -> Classification:
    try:
        from .classify import classify

        return classify(index, filename=filename)
    except Exception as exc:
        return Classification(Kind.INVALID, error=_internal(exc, "classifying"))


def _invalid(path: Path, size: int, fmt: FileFormat, error: str) -> FileReport:
    return FileReport(
        path,
        size,
        fmt,
        Classification(Kind.INVALID, error=error),
        Safety(Verdict.UNSCANNABLE, reason=error),
    )


def _suffix_warnings(path: Path, fmt: FileFormat) -> list[str]:
    suffix = path.suffix.lower()
    expected = _SUFFIX_FORMATS.get(suffix)
    if expected is None or fmt in expected or fmt is FileFormat.UNKNOWN:
        return []
    return [f"named {suffix} but the bytes are {_FORMAT_WORDS[fmt]}"]


def _unknown_reason(head: bytes, size: int) -> str:
    """Why the first bytes match no container, in words that suggest a cause."""
    if len(head) >= 9 and head[8:9] == b"{":
        (n,) = struct.unpack("<Q", head[:8])
        if n <= MAX_SAFETENSORS_HEADER:
            return (
                "truncated safetensors file: "
                f"the header alone needs {8 + n} bytes, the file has {size}"
            )
        return (
            f"corrupt safetensors file: its header length {n} is over the 100 MB limit"
            f" (the file has {size} bytes)"
        )
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the model itself (run `git lfs pull`)"
    if head.lstrip()[:1] in (b"<", b"{"):
        return "not a model file (looks like HTML or JSON text: an error page saved as a model?)"
    return "not a model file: neither safetensors, GGUF nor a torch pickle"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, IsADirectoryError):
        return "is a directory"
    if isinstance(exc, PermissionError):
        return "permission denied"
    return _one_line(exc.strerror or str(exc)).lower() or type(exc).__name__


def _internal(exc: Exception, doing: str) -> str:
    detail = _one_line(str(exc))
    name = type(exc).__name__
    return f"internal error while {doing} ({name}{': ' + detail if detail else ''})"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _merge(*groups: list[str]) -> list[str]:
    """Warnings from every stage, each once, in order."""
    seen: dict[str, None] = {}
    for group in groups:
        for item in group:
            seen.setdefault(item, None)
    return list(seen)
