"""Opcode-level safety scan of every pickle in a file.

Nothing is unpickled: each pickle runs on the inert machine of
:mod:`._pickle_vm`, which resolves ``STACK_GLOBAL`` names through the real
stack and memo (so names hidden behind ``PUT``/``GET``/``MEMOIZE`` are seen)
and notes structural tricks (``BUILD``/``SETITEM`` on a module global, names
computed at load time). Each global is then judged:

* ``safe`` – the short list legitimate Stable Diffusion files use
  (:data:`SAFE_GLOBALS`: what torch's own weights-only loader accepts, plus
  what A1111's and ComfyUI's loaders add, such as numpy scalars and arrays);
  the Lightning ``ModelCheckpoint`` class that SD 1.x ``.ckpt`` files use as
  a dict key (:data:`REFERENCE_ONLY_GLOBALS`) is safe only while the pickle
  never calls it; a pickle with no globals is safe;
* ``dangerous`` – anything under a module or name known to run code, touch
  files or the network (:data:`DANGEROUS_PREFIXES`, matched on whole dotted
  components, also after Python 2 → 3 renames and inside attribute paths);
* ``suspicious`` – everything else (whole ``nn.Module`` classes, argparse
  namespaces, a called Lightning callback).

Whatever cannot be read completely (corrupt or encrypted zip, bad CRC,
nested archives, truncated pickles, local headers that disagree with the
central directory) is ``unscannable``, never ``safe``. The worst verdict of
all pickles wins (:func:`~.kinds.worst`). A file that is neither safetensors
nor a torch file is ``unscannable`` too, unless ``torch.load`` would run it
and what it names is worse: a plain pickle of any protocol, a tar archive
(torch's pre-1.0 format).

In a torch zip every ``*.pkl`` member is scanned in full. Every other member
is checked for a nested archive and trial-run as a hidden pickle (a loader
other than torch may unpickle it): globals with well-formed names found
there count like any other. What that costs is kept small for the members
that make up nearly all of a checkpoint, its storages: a member named
``<prefix>/data/<digits>`` whose exact size is what ``data.pkl`` asks for
gets only its first :data:`STORAGE_HEAD` bytes read, in the same read as its
local header. The trial run starts on those bytes and reads on (512 bytes
at a time, up to 1 MiB) only while they keep parsing, which random tensor
bytes stop doing within a few opcodes; a head that could open a tar archive
is read on to 512 bytes for the tar magic. Other members get 512 bytes up
front. An SD1 ``.ckpt`` (1136 members) is classified from ~0.5 MiB.
"""

from __future__ import annotations

import _compat_pickle
import contextlib
import itertools
import os
import re
import stat
import tarfile
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from ._pickle_vm import (
    MAX_PICKLE_BYTES,
    OPCODES,
    Finding,
    Machine,
    PickleError,
    Source,
    read_opcodes,
)
from ._torch_file import LEGACY_PICKLES, PickleRun, TorchFile
from ._torch_types import STORAGE_DTYPES, TORCH_DTYPE_NAMES
from ._zip import DEFLATED, STORED, LocalHead, ZipError, ZipMember, crc_matches, read_at
from .errors import InvalidFileError
from .kinds import FileFormat, Verdict, worst
from .report import Safety
from .safetensors_index import read_safetensors_index

#: Exact globals legitimate SD files use (after Python 2 → 3 renames).
SAFE_GLOBALS: frozenset[str] = frozenset(
    {
        "collections.OrderedDict",
        "collections.Counter",
        "builtins.set",
        "builtins.frozenset",
        "builtins.bytearray",
        "builtins.bytes",
        "builtins.complex",
        "_codecs.encode",
        "torch.Size",
        "torch.Tensor",
        "torch.device",
        "torch.nn.parameter.Parameter",
        "torch.nn.modules.container.ParameterDict",
        "torch.serialization._get_layout",
        "torch._tensor._rebuild_from_type_v2",
        "torch.storage.TypedStorage",
        "torch.storage.UntypedStorage",
        "torch.UntypedStorage",
        "torch.TypedStorage",
        "torch.per_tensor_affine",
        "torch.per_tensor_symmetric",
        "torch.per_channel_affine",
        "torch.per_channel_symmetric",
        "torch.per_channel_affine_float_qparams",
        "numpy.core.multiarray._reconstruct",
        "numpy._core.multiarray._reconstruct",
        "numpy.core.multiarray.scalar",
        "numpy._core.multiarray.scalar",
        "numpy.dtype",
        "numpy.ndarray",
    }
    | {
        f"torch._utils.{fn}"
        for fn in (
            "_rebuild_tensor",
            "_rebuild_tensor_v2",
            "_rebuild_tensor_v3",
            "_rebuild_parameter",
            "_rebuild_parameter_with_state",
            "_rebuild_meta_tensor_no_storage",
            "_rebuild_qtensor",
            "_rebuild_sparse_tensor",
            "_rebuild_nested_tensor",
            "_rebuild_device_tensor_from_cpu_tensor",
            "_rebuild_device_tensor_from_numpy",
            "_rebuild_wrapper_subclass",
        )
    }
    | {f"torch.{name}" for name in TORCH_DTYPE_NAMES}
    | {f"torch.{name}" for name in ("qint8", "qint32", "quint8", "quint4x2", "quint2x4")}
    # the rest of the dtypes torch's own weights-only unpickler accepts
    | {f"torch.{name}" for name in ("complex32", "bits8", "bits16", "bits1x8", "bits2x4")}
    | {f"torch.{name}" for name in ("bits4x2",)}
    | {f"torch.{sign}int{bits}" for sign in ("", "u") for bits in range(1, 8)}
    | {f"{mod}.{name}" for mod in ("torch", "torch.cuda") for name in STORAGE_DTYPES}
    | {
        f"{mod}.{kind}Tensor"
        for mod in ("torch", "torch.cuda", "torch.sparse", "torch.cuda.sparse")
        for kind in (
            *("Double", "Float", "Half", "BFloat16", "Long", "Int", "Short", "Char"),
            *("Byte", "Bool"),
        )
    }
)
#: numpy's dtype classes (``numpy.dtypes.Float64DType``…): ComfyUI's loader allows them.
_NUMPY_DTYPE_CLASS = re.compile(r"^numpy\.dtypes\.[A-Za-z0-9]+DType$")

#: Classes that old Lightning ``.ckpt`` files (SD 1.x, 2022) pickle as *references*:
#: ``callbacks`` is keyed by the ``ModelCheckpoint`` class itself. A1111's safe
#: unpickler and ComfyUI's weights-only loader both allow them; they count as safe
#: only while the pickle never calls or instantiates them.
REFERENCE_ONLY_GLOBALS: frozenset[str] = frozenset(
    {
        "pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint",
        "pytorch_lightning.callbacks.model_checkpoint",
    }
)

#: Modules (every name under them) and names known to run code, spawn processes,
#: touch files or the network, or load further pickles. Matched on dotted components.
DANGEROUS_PREFIXES: frozenset[str] = frozenset(
    {
        # processes, shells, interpreters
        "os",
        "posix",
        "nt",
        "posixpath",
        "ntpath",
        "subprocess",
        "_posixsubprocess",
        "_winapi",
        "msvcrt",
        "commands",
        "popen2",
        "pty",
        "sys",
        "runpy",
        "code",
        "codeop",
        "types",
        "marshal",
        "ctypes",
        "_ctypes",
        "cffi",
        "importlib",
        "imp",
        "pkgutil",
        "zipimport",
        "site",
        "asyncio",
        "multiprocessing",
        "concurrent",
        "threading",
        "_thread",
        "thread",
        "signal",
        "platform",
        "pdb",
        "bdb",
        "pydoc",
        "timeit",
        "trace",
        "profile",
        "cProfile",
        "venv",
        "ensurepip",
        "pip",
        "setuptools",
        "distutils",
        "logging.config",
        "IPython",
        # nested deserialisers
        "pickle",
        "_pickle",
        "cPickle",
        "dill",
        "cloudpickle",
        "joblib",
        "shelve",
        "dbm",
        "yaml.load",
        "yaml.load_all",
        "yaml.unsafe_load",
        "yaml.unsafe_load_all",
        "yaml.full_load",
        "yaml.full_load_all",
        # files
        "io",
        "_io",
        "codecs.open",
        "shutil",
        "tempfile",
        "fileinput",
        "tarfile",
        "zipfile",
        # network
        "socket",
        "_socket",
        "ssl",
        "socketserver",
        "http",
        "httplib",
        "urllib",
        "urllib2",
        "urllib3",
        "requests",
        "httpx",
        "aiohttp",
        "ftplib",
        "smtplib",
        "telnetlib",
        "poplib",
        "imaplib",
        "nntplib",
        "xmlrpc",
        "webbrowser",
        # getattr-style gadgets
        "operator.attrgetter",
        "operator.methodcaller",
        "functools.partial",
        "functools.partialmethod",
        "functools.reduce",
        # numpy and torch entry points that load code or pickles
        "numpy.load",
        "numpy.lib.npyio",
        "numpy.testing",
        "numpy.f2py",
        "numpy.distutils",
        "numpy.ctypeslib",
        "torch.load",
        "torch.hub",
        "torch.serialization.load",
        "torch.storage._load_from_bytes",
        "torch.package",
        "torch.utils.cpp_extension",
        "torch._inductor",
        "torch._dynamo",
        "torch.fx",
        "torch.distributed",
        "torch.multiprocessing",
        "torch.jit.load",
        "torch.jit.unsafe",
    }
    | {
        f"{mod}.{name}"
        for mod in ("builtins", "__builtin__")
        for name in (
            "eval",
            "exec",
            "execfile",
            "compile",
            "getattr",
            "setattr",
            "delattr",
            "__import__",
            "open",
            "file",
            "globals",
            "locals",
            "vars",
            "breakpoint",
            "input",
            "raw_input",
            "apply",
            "reload",
            "exit",
            "quit",
            "help",
            "memoryview",
        )
    }
)

#: Module names that betray an attribute walk into dangerous territory anywhere in a path
#: (``torch._utils.os.system``, a protocol-4 dotted name).
_DANGEROUS_COMPONENTS = frozenset(
    {
        "os",
        "posix",
        "nt",
        "subprocess",
        "sys",
        "builtins",
        "__builtin__",
        "pty",
        "runpy",
        "ctypes",
        "socket",
        "shutil",
        "importlib",
        "pickle",
        "_pickle",
        "cPickle",
        "marshal",
        "webbrowser",
        "commands",
    }
)
_DANGEROUS_DUNDERS = frozenset(
    {
        "__globals__",
        "__builtins__",
        "__import__",
        "__subclasses__",
        "__code__",
        "__closure__",
        "__getattribute__",
        "__getattr__",
        "__setattr__",
        "__delattr__",
        "__reduce__",
        "__reduce_ex__",
        "__class__",
        "__base__",
        "__bases__",
        "__mro__",
        "__dict__",
        "__func__",
        "__self__",
        "__loader__",
        "__spec__",
        "__call__",
        "__init__",
    }
)
_IDENTIFIER_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*$")
_PY2_RENAMES = {"__builtin__": "builtins", "copy_reg": "copyreg"}

#: A torch zip with more members than this is not scanned (SD checkpoints hold ~1-5 thousand).
MAX_ZIP_MEMBERS = 100_000
#: Trial runs of members not named ``*.pkl`` stop after this many bytes.
HIDDEN_PICKLE_LIMIT = 1 << 20
#: First bytes read of a member that is not a pickle: enough for every archive magic.
_PEEK = 512
#: First bytes read of a storage ``data.pkl`` refers to: every archive magic but tar's
#: (at byte 257; a head that looks like a tar member name is read on to 512 bytes), and
#: enough opcodes that random tensor bytes almost always break the trial run already.
STORAGE_HEAD = 32
#: A trial run that outlives the bytes in hand reads on in steps this small.
_TRIAL_CHUNK = 512


def judge_global(name: str) -> Verdict:
    """``safe``, ``suspicious`` or ``dangerous`` for one ``module.name`` a pickle references."""
    candidates = {name, _resolved(name)}
    if any(_is_dangerous(c) for c in candidates):
        return Verdict.DANGEROUS
    if any(c in SAFE_GLOBALS or c in REFERENCE_ONLY_GLOBALS for c in candidates):
        return Verdict.SAFE
    if _NUMPY_DTYPE_CLASS.match(name):
        return Verdict.SAFE
    return Verdict.SUSPICIOUS


def _resolved(name: str) -> str:
    head, _, rest = name.partition(".")
    if head in _PY2_RENAMES:
        return f"{_PY2_RENAMES[head]}.{rest}"
    module, _, attr = name.rpartition(".")
    if (module, attr) in _compat_pickle.NAME_MAPPING:
        return ".".join(_compat_pickle.NAME_MAPPING[(module, attr)])
    if module in _compat_pickle.IMPORT_MAPPING:
        return f"{_compat_pickle.IMPORT_MAPPING[module]}.{attr}"
    return name


def _is_dangerous(name: str) -> bool:
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        if ".".join(parts[:i]) in DANGEROUS_PREFIXES:
            return True
    return any(p in _DANGEROUS_COMPONENTS or p in _DANGEROUS_DUNDERS for p in parts[1:])


@dataclass(slots=True)
class _Scan:
    """Accumulates globals and problems over every pickle of one file."""

    #: Every global named, in first-seen order, with where it was first seen.
    where: dict[str, str] = field(default_factory=dict)
    problems: list[tuple[Verdict, str]] = field(default_factory=list)

    def problem(self, verdict: Verdict, message: str) -> None:
        self.problems.append((verdict, message))

    def absorb(
        self,
        names: Iterable[str],
        findings: Iterable[Finding],
        where: str,
        called: Iterable[str] = (),
    ) -> None:
        """Globals and structural findings of one pickle found at ``where``.

        ``called`` are the globals that pickle calls or instantiates: a
        reference-only global among them is not the inert reference it may be.
        """
        for name in names:
            self.where.setdefault(name, where)
        for finding in findings:
            verdict = Verdict.DANGEROUS if finding.dangerous else Verdict.SUSPICIOUS
            self.problem(verdict, f"{finding.message} in {where}")
        for name in called:
            if {name, _resolved(name)} & REFERENCE_ONLY_GLOBALS:
                self.problem(
                    Verdict.SUSPICIOUS, f"{name} is called, not only referenced, in {where}"
                )

    def result(self) -> Safety:
        names = tuple(self.where)
        judged: list[tuple[Verdict, str]] = []
        unknown: list[str] = []
        for name in names:
            verdict = judge_global(name)
            if verdict is Verdict.DANGEROUS:
                judged.append((verdict, f"dangerous global {name} in {self.where[name]}"))
            elif verdict is Verdict.SUSPICIOUS:
                unknown.append(name)
        if unknown:
            more = f" and {len(unknown) - 3} more" if len(unknown) > 3 else ""
            judged.append((Verdict.SUSPICIOUS, f"unknown global(s) {', '.join(unknown[:3])}{more}"))
        everything = self.problems + judged
        verdict = worst([v for v, _ in everything])
        reason = next((m for v, m in everything if v is verdict), None)
        return Safety(verdict=verdict, globals=names, reason=reason)


def scan_pickles(path: Path, fmt: FileFormat) -> Safety:
    """The pickle-safety verdict of a file and the globals its pickles reference.

    Never raises for a bad file: what cannot be read is ``unscannable``.
    safetensors files are ``safe`` with no globals (they hold no code), as
    long as their header is valid.
    """
    if fmt is FileFormat.SAFETENSORS:
        try:
            read_safetensors_index(path)
        except InvalidFileError as exc:
            return Safety(Verdict.UNSCANNABLE, reason=f"invalid safetensors header: {exc}")
        except OSError as exc:
            return Safety(Verdict.UNSCANNABLE, reason=f"cannot read the file: {exc.strerror}")
        return Safety(Verdict.SAFE)
    try:
        if fmt not in (FileFormat.TORCH_ZIP, FileFormat.TORCH_LEGACY):
            return _scan_other(path)
        with TorchFile.open(path, fmt) as torch_file:
            return scan_torch_file(torch_file)
    except OSError as exc:
        return Safety(Verdict.UNSCANNABLE, reason=f"cannot read the file: {exc.strerror or exc}")


def scan_torch_file(torch_file: TorchFile) -> Safety:
    """:func:`scan_pickles` of a torch file already open (shares reads with the index)."""
    scan = _Scan()
    try:
        if torch_file.format is FileFormat.TORCH_ZIP:
            _scan_zip(torch_file, scan)
        else:
            _scan_legacy(torch_file, scan)
    except OSError as exc:
        scan.problem(Verdict.UNSCANNABLE, f"cannot read the file: {exc.strerror or exc}")
    except Exception as exc:  # a safety gate must answer, and never "safe" after a surprise
        scan.problem(Verdict.UNSCANNABLE, f"scanner failed: {type(exc).__name__}")
    return scan.result()


# --- one pickle ----------------------------------------------------------------------------------


def _absorb_run(scan: _Scan, run: PickleRun, where: str, rescue: bytes | None) -> None:
    """What one pickle run named; on failure, also what the rest of its bytes name."""
    scan.absorb(run.machine.globals, run.machine.findings, where, run.machine.called)
    if run.error is not None:
        scan.problem(Verdict.UNSCANNABLE, f"{where}: {run.error}")
        if rescue is not None:
            scan.absorb(_linear_globals(rescue), (), where)


def _run_pickle(data: bytes) -> PickleRun:
    run = PickleRun(Machine())
    try:
        run.value = run.machine.run(Source.from_bytes(data))
    except PickleError as exc:
        run.error = exc
    return run


_STRING_OPS = frozenset(
    {"STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE"}
    | {"SHORT_BINUNICODE", "BINUNICODE8"}
)


def _linear_globals(data: bytes) -> list[str]:
    """Globals named in ``data`` without a stack: the fallback after a pickle breaks.

    ``STACK_GLOBAL`` operands are guessed from the two most recent pushes,
    following strings through the memo.
    """
    names: list[str] = []
    recent: list[str | None] = [None, None]
    memo: dict[int, str | None] = {}
    memo_next = 0
    try:
        for op, arg, _ in read_opcodes(Source.from_bytes(data)):
            if op in ("GLOBAL", "INST"):
                names.append(f"{arg[0]}.{arg[1]}")
                recent.append(None)
            elif op in _STRING_OPS:
                recent.append(arg)
            elif op in ("PUT", "BINPUT", "LONG_BINPUT"):
                memo[arg] = recent[-1]
            elif op == "MEMOIZE":
                memo[memo_next] = recent[-1]
                memo_next += 1
            elif op in ("GET", "BINGET", "LONG_BINGET"):
                recent.append(memo.get(arg))
            elif op == "STACK_GLOBAL":
                module, name = recent[-2], recent[-1]
                names.append(f"{module}.{name}" if module and name else "<computed global>")
                recent.append(None)
            elif op not in ("FRAME", "PROTO"):
                recent.append(None)
    except PickleError:
        pass
    return names


def _trial_run(source: Source, scan: _Scan, where: str) -> None:
    """Run bytes that may be a pickle; the well-formed names they reach count.

    Random bytes may parse for a few opcodes; structural findings count only
    from a run that reached its STOP.
    """
    trial = Machine()
    finished = True
    try:
        trial.run(source)
    except PickleError:
        finished = False
    names = [n for n in trial.globals if _IDENTIFIER_PATH.match(n)]
    if names or finished:
        scan.absorb(names, trial.findings if finished else (), where, trial.called)


# --- neither safetensors nor torch ---------------------------------------------------------

#: Members of a tar archive (torch's pre-1.0 format) trial-run as pickles, at most.
_TAR_MEMBERS = 64


def _scan_other(path: Path) -> Safety:
    """A file that is neither safetensors nor a torch file, which ``torch.load`` may still run.

    ``torch.load`` unpickles a plain pickle (protocol 0 and 1 ones too, which
    do not start like torch's) before it notices the missing magic number, and
    reads a tar archive as its pre-1.0 format, unpickling the members. Such a
    file stays ``unscannable``, unless what it names is worse.
    """
    scan = _Scan()
    scan.problem(
        Verdict.UNSCANNABLE, "not a safetensors or torch file; what loading it runs cannot be told"
    )
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a directory, or a FIFO that would block
        os.close(fd)
        return scan.result()
    with os.fdopen(fd, "rb") as fh:
        size = fh.seek(0, 2)
        head = read_at(fh, 0, min(size, _PEEK))
        if _archive_kind(head) == "tar":
            _scan_tar(fh, scan)
        elif head and head[0] in OPCODES:
            # read on only while the bytes parse: random ones stop within a few opcodes
            source = Source(fh, 0, size, limit=MAX_PICKLE_BYTES, chunk=_TRIAL_CHUNK)
            _trial_run(source, scan, "the file (a plain pickle)")
    return scan.result()


def _scan_tar(fh: BinaryIO, scan: _Scan) -> None:
    scan.problem(
        Verdict.UNSCANNABLE, "a tar archive (torch's pre-1.0 format) is not scanned in full"
    )
    fh.seek(0)
    try:
        with tarfile.open(fileobj=fh, mode="r:") as tar:
            for number, member in enumerate(tar):
                if number >= _TAR_MEMBERS:
                    break
                if not member.isfile() or member.size == 0:
                    continue
                data = tar.extractfile(member)
                if data is not None:
                    body = data.read(HIDDEN_PICKLE_LIMIT)
                    _trial_run(Source.from_bytes(body), scan, f"tar member {member.name!r}")
    except (tarfile.TarError, EOFError, ValueError):
        pass  # what was read so far still counts; the file is unscannable anyway


# --- torch zip -----------------------------------------------------------------------------

_ARCHIVE_MAGICS = (
    (b"PK\x03\x04", "zip"),
    (b"PK\x05\x06", "zip"),
    (b"7z\xbc\xaf\x27\x1c", "7z"),
    (b"Rar!\x1a\x07", "rar"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def _archive_kind(head: bytes) -> str | None:
    for magic, kind in _ARCHIVE_MAGICS:
        if head.startswith(magic):
            return kind
    if head[:3] == b"\x1f\x8b\x08" and len(head) > 3 and head[3] & 0xE0 == 0:
        return "gzip"
    if head[:3] == b"BZh" and head[3:4].isdigit() and head[4:10] == b"1AY&SY":
        return "bzip2"
    if head[257:262] == b"ustar":
        return "tar"
    return None


#: A tar archive opens with a member name: printable text, then NUL padding.
_TAR_NAME = re.compile(rb"[\x20-\x7e]+(?:\x00|\Z)")


def _may_be_tar(head: bytes) -> bool:
    """Could ``head`` open a tar archive? (its magic sits at byte 257, past a short head)"""
    return _TAR_NAME.match(head) is not None


def _scan_zip(torch_file: TorchFile, scan: _Scan) -> None:
    try:
        directory = torch_file.directory()
    except ZipError as exc:
        scan.problem(Verdict.UNSCANNABLE, f"corrupt zip: {exc}")
        return
    if len(directory.members) > MAX_ZIP_MEMBERS:
        # Each member costs a read; an SD checkpoint has a few thousand.
        scan.problem(
            Verdict.UNSCANNABLE,
            f"zip holds {len(directory.members)} members, more than any model checkpoint;"
            " not scanned",
        )
        return
    counts = Counter(m.name for m in directory.members)
    for name, count in counts.items():
        if count > 1:
            scan.problem(Verdict.UNSCANNABLE, f"zip names member {name!r} {count} times")
    pickles = {id(m) for m in directory.members if m.name.lower().endswith(".pkl")}
    if not pickles:
        scan.problem(Verdict.UNSCANNABLE, "zip holds no .pkl member: not a torch checkpoint")
    main = torch_file.main_member()
    storages = torch_file.storage_members()
    spans: list[tuple[int, int, str]] = []
    for member in directory.members:
        what = f"member {member.name!r}"
        if member.encrypted:
            scan.problem(Verdict.UNSCANNABLE, f"{what} is encrypted")
            continue
        storage = member is not main and member.name in storages
        if id(member) in pickles:
            want = 0
        elif storage:
            want = STORAGE_HEAD
        else:
            want = _PEEK
        try:
            local = torch_file.local_head(member, want)
        except ZipError as exc:
            scan.problem(Verdict.UNSCANNABLE, f"corrupt zip: {exc}")
            continue
        spans.append((member.header_offset, local.start + member.compressed_size, member.name))
        if id(member) in pickles:
            _scan_pickle_member(torch_file, member, member is main, scan)
        else:
            _peek_member(torch_file, member, local, scan, storage=storage)
    spans.sort()
    for (_, end, name), (begin, _, other) in itertools.pairwise(spans):
        if end > begin:
            scan.problem(Verdict.UNSCANNABLE, f"zip members {name!r} and {other!r} overlap")


def _scan_pickle_member(torch_file: TorchFile, member: ZipMember, main: bool, scan: _Scan) -> None:
    where = member.name
    try:
        data = (
            torch_file.main_bytes() if main else torch_file.member_bytes(member, MAX_PICKLE_BYTES)
        )
    except ZipError as exc:
        scan.problem(Verdict.UNSCANNABLE, f"cannot read {where}: {exc}")
        return
    if not crc_matches(member, data):
        scan.problem(Verdict.UNSCANNABLE, f"{where} fails its CRC check (corrupt or tampered)")
    kind = _archive_kind(data[:_PEEK])
    if kind is not None:
        scan.problem(Verdict.UNSCANNABLE, f"{where} is a {kind} archive inside the archive")
        return
    run = torch_file.main_run() if main else _run_pickle(data)
    _absorb_run(scan, run, where, rescue=data)


def _peek_member(
    torch_file: TorchFile, member: ZipMember, local: LocalHead, scan: _Scan, *, storage: bool
) -> None:
    """Nested archives and hidden pickles in a member that is not a ``.pkl``.

    ``local.data`` holds the member's first bytes: :data:`_PEEK` of them, or
    only :data:`STORAGE_HEAD` for a storage ``data.pkl`` refers to. The
    pickle trial runs on those bytes first and reads on only while they
    parse (random tensor bytes break within a few opcodes).
    """
    if member.size == 0:
        return
    what = f"member {member.name!r}"
    start = local.start
    if member.method == STORED:
        head = local.data[:_PEEK]
        source = Source(
            _Prefetched(torch_file.fh, start, local.data),
            start,
            start + member.size,
            limit=HIDDEN_PICKLE_LIMIT,
            chunk=_TRIAL_CHUNK,
        )
    elif member.method == DEFLATED:
        raw = read_at(torch_file.fh, start, min(member.compressed_size, HIDDEN_PICKLE_LIMIT))
        try:
            data = zlib.decompressobj(-15).decompress(raw, HIDDEN_PICKLE_LIMIT)
        except zlib.error:
            scan.problem(Verdict.UNSCANNABLE, f"{what} holds corrupt deflate data")
            return
        head = data[:_PEEK]
        source = Source.from_bytes(data, limit=HIDDEN_PICKLE_LIMIT)
    else:
        scan.problem(
            Verdict.UNSCANNABLE, f"{what} uses compression method {member.method}, not scanned"
        )
        return
    if storage and member.method == STORED and _may_be_tar(head) and len(head) < _PEEK:
        head = torch_file.local_head(member, _PEEK).data
    kind = _archive_kind(head)
    if kind is not None:
        scan.problem(Verdict.UNSCANNABLE, f"{what} is a {kind} archive inside the archive")
        return
    if not head or head[0] not in OPCODES:
        return
    trial = Machine()
    with contextlib.suppress(PickleError):
        trial.run(source)
    # Random tensor bytes may parse for a few opcodes; only well-formed names count.
    names = [n for n in trial.globals if _IDENTIFIER_PATH.match(n)]
    if names:
        where = f"{member.name} (a pickle under another name)"
        scan.absorb(names, trial.findings, where, trial.called)


class _Prefetched:
    """A file whose bytes at ``start`` are already in hand: reads there cost nothing."""

    __slots__ = ("_data", "_fh", "_pos", "_start")

    def __init__(self, fh: BinaryIO, start: int, data: bytes) -> None:
        self._fh, self._start, self._data, self._pos = fh, start, data, start

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = offset
        return offset

    def read(self, n: int) -> bytes:
        at = self._pos - self._start
        if 0 <= at < len(self._data):
            data = self._data[at : at + n]
        else:
            self._fh.seek(self._pos)
            data = self._fh.read(n)
        self._pos += len(data)
        return data


# --- legacy ------------------------------------------------------------------------------------


def _scan_legacy(torch_file: TorchFile, scan: _Scan) -> None:
    run = torch_file.legacy_run()
    globals_, findings = run.machine.globals, run.machine.findings
    seen = (0, 0)
    scan.absorb((), (), "the legacy pickles", run.machine.called)
    for number, mark in enumerate(run.marks, start=1):
        where = f"pickle {number} ({LEGACY_PICKLES[number - 1]})"
        scan.absorb(globals_[seen[0] : mark[0]], findings[seen[1] : mark[1]], where)
        seen = mark
    if run.failure is not None:
        number, start, exc = run.failure
        where = f"pickle {number} ({LEGACY_PICKLES[number - 1]})"
        scan.absorb(globals_[seen[0] :], findings[seen[1] :], where)
        scan.problem(Verdict.UNSCANNABLE, f"{where}: {exc}")
        end = min(torch_file.size, start + MAX_PICKLE_BYTES)
        scan.absorb(_linear_globals(read_at(torch_file.fh, start, end - start)), (), where)
        return
    if run.plain:
        return  # torch.load stops after this pickle; it is a plain pickle, judged by its globals.
    # The raw storages hold no code, but a file that ends early was not read completely.
    if run.storage_keys is None:
        scan.problem(Verdict.UNSCANNABLE, "legacy storage key list is malformed")
    elif run.walk_error is not None:
        scan.problem(Verdict.UNSCANNABLE, str(run.walk_error))
