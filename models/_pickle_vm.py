"""A pickle machine that never imports or calls anything.

It walks a pickle opcode by opcode with the stack, memo and marks of the real
unpickler, but every global becomes an inert :class:`Global` marker and every
call an inert :class:`Opaque` object, except for the handful of constructors
a state dict is made of (``OrderedDict``, ``set``, ``torch.Size``, torch's
tensor rebuild functions), which are *modelled* here in a few lines each.
The result is a plain tree of dicts, lists, scalars and :class:`TensorRef`
leaves: enough for a tensor index, and a faithful list of every global the
pickle would have imported, for the safety scan.
"""

from __future__ import annotations

import _compat_pickle
import codecs
import io
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ._torch_types import STORAGE_DTYPES, TORCH_DTYPE_NAMES

#: No legitimate model pickle comes near this; the largest SD checkpoints' are ~2 MB.
MAX_PICKLE_BYTES = 64 << 20
_MAX_LINE = 1 << 20


class PickleError(Exception):
    """The bytes are not a pickle this machine can follow; one-line message."""


class TruncatedPickle(PickleError):
    """The pickle ended before its STOP opcode."""


# --- inert values --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Global:
    """A global the pickle names, never imported. ``resolved`` applies py2→py3 renames."""

    module: str
    name: str

    @property
    def fullname(self) -> str:
        return f"{self.module}.{self.name}"

    @property
    def resolved(self) -> str:
        key = (self.module, self.name)
        if key in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[key]
        else:
            module, name = _compat_pickle.IMPORT_MAPPING.get(self.module, self.module), self.name
        return f"{module}.{name}"


@dataclass(eq=False, slots=True)
class Opaque:
    """The never-computed result of calling or instantiating ``callee``."""

    callee: str
    args: tuple[Any, ...] = ()
    state: Any = None
    #: For objects whose BUILD state looks like ``torch.nn.Module`` (``_parameters``…).
    children: dict[Any, Any] | None = None


@dataclass(frozen=True, slots=True)
class StorageRef:
    """A ``('storage', type, key, location, numel)`` persistent id, never loaded."""

    key: str
    dtype: str | None
    numel: int | None
    untyped: bool = False
    #: Legacy files may name a view into a larger root storage (very old torch).
    is_view: bool = False


@dataclass(frozen=True, slots=True)
class TensorRef:
    """What ``torch._utils._rebuild_tensor*`` would have built: shape and dtype only."""

    dtype: str
    shape: tuple[int, ...]
    storage: StorageRef | None = None
    offset: int = 0
    stride: tuple[int, ...] | None = None

    @property
    def extent(self) -> int:
        """Elements of the storage the view reaches (offset + last index + 1)."""
        if self.stride is None or any(s == 0 for s in self.shape):
            return 0
        return (
            self.offset
            + 1
            + sum((s - 1) * st for s, st in zip(self.shape, self.stride, strict=False))
        )


# --- reading opcodes --------------------------------------------------------------------------


class Source:
    """Bounded byte source for the opcode reader: never allocates more than is there."""

    def __init__(
        self,
        fh: BinaryIO,
        start: int,
        end: int,
        *,
        limit: int = MAX_PICKLE_BYTES,
        chunk: int = 65536,
    ) -> None:
        self._fh = fh
        self._pos = start
        self._end = end
        self._limit = limit
        self._limit_end = min(end, start + limit)
        self._chunk = chunk
        self._buf = b""
        self._buf_start = start

    @classmethod
    def from_bytes(cls, data: bytes, *, limit: int = MAX_PICKLE_BYTES) -> Source:
        return cls(io.BytesIO(data), 0, len(data), limit=limit)

    def tell(self) -> int:
        return self._pos

    def _fill(self, upto: int) -> None:
        """Make the buffer cover [pos, upto)."""
        if upto > self._limit_end:
            if upto > self._end:
                raise TruncatedPickle("pickle data ends before its STOP opcode")
            raise PickleError(f"pickle is larger than the {self._limit}-byte limit")
        buf_end = self._buf_start + len(self._buf)
        if self._pos >= self._buf_start and upto <= buf_end:
            return
        want = max(upto, min(self._pos + self._chunk, self._limit_end)) - self._pos
        self._fh.seek(self._pos)
        data = self._fh.read(want)
        while len(data) < upto - self._pos:
            more = self._fh.read(want - len(data))
            if not more:
                raise TruncatedPickle("pickle data ends before its STOP opcode")
            data += more
        self._buf, self._buf_start = data, self._pos

    def read(self, n: int) -> bytes:
        at = self._pos - self._buf_start
        if at < 0 or at + n > len(self._buf):
            self._fill(self._pos + n)
            at = 0
        self._pos += n
        return self._buf[at : at + n]

    def readline(self) -> bytes:
        """A line including its ``\\n`` (lines longer than 1 MiB are refused)."""
        while True:
            at = self._pos - self._buf_start
            nl = self._buf.find(b"\n", max(at, 0))
            if at >= 0 and nl >= 0:
                line = self._buf[at : nl + 1]
                self._pos += len(line)
                return line
            have = self._buf_start + len(self._buf) - self._pos
            if have > _MAX_LINE:
                raise PickleError("text opcode argument longer than 1 MiB")
            if self._buf_start + len(self._buf) >= self._limit_end:
                if self._limit_end < self._end:
                    raise PickleError("pickle text line runs past the size limit")
                raise TruncatedPickle("pickle data ends inside a text line")
            self._fill(min(self._pos + max(have, 0) + self._chunk, self._limit_end))


def _line(src: Source) -> bytes:
    return src.readline()[:-1]


def _text_int(src: Source) -> int | bool:
    data = _line(src)
    if data == b"00":
        return False
    if data == b"01":
        return True
    return int(data.decode("ascii"), 0)


def _text_long(src: Source) -> int:
    data = _line(src)
    if data.endswith(b"L"):
        data = data[:-1]
    return int(data.decode("ascii"), 0)


def _text_string(src: Source) -> str:
    data = _line(src)
    if len(data) < 2 or data[0] != data[-1] or data[:1] not in (b'"', b"'"):
        raise PickleError("STRING opcode argument is not quoted")
    return _py2_str(codecs.escape_decode(data[1:-1])[0])


def _py2_str(data: bytes) -> str:
    # torch.load decodes Python 2 strings as UTF-8; latin-1 keeps odd bytes readable.
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def _two_lines(src: Source, encoding: str) -> tuple[str, str]:
    module = _line(src).decode(encoding)
    name = _line(src).decode(encoding)
    return module, name


def _sized(fmt: str) -> Callable[[Source], bytes]:
    size = struct.calcsize(fmt)

    def read(src: Source) -> bytes:
        (n,) = struct.unpack(fmt, src.read(size))
        if n < 0:
            raise PickleError("negative length in pickle")
        return src.read(n)

    return read


def _unpack(fmt: str) -> Callable[[Source], Any]:
    size = struct.calcsize(fmt)
    return lambda src: struct.unpack(fmt, src.read(size))[0]


_bytes1, _bytes4, _bytes8, _sbytes4 = _sized("<B"), _sized("<I"), _sized("<Q"), _sized("<i")

#: opcode byte → (name, argument reader or None). Mirrors pickle.py's dispatch table.
OPCODES: dict[int, tuple[str, Callable[[Source], Any] | None]] = {
    ord(code): entry
    for code, entry in {
        "(": ("MARK", None),
        ".": ("STOP", None),
        "0": ("POP", None),
        "1": ("POP_MARK", None),
        "2": ("DUP", None),
        "F": ("FLOAT", lambda s: float(_line(s))),
        "I": ("INT", _text_int),
        "J": ("BININT", _unpack("<i")),
        "K": ("BININT1", _unpack("<B")),
        "L": ("LONG", _text_long),
        "M": ("BININT2", _unpack("<H")),
        "N": ("NONE", None),
        "P": ("PERSID", lambda s: _line(s).decode("ascii")),
        "Q": ("BINPERSID", None),
        "R": ("REDUCE", None),
        "S": ("STRING", _text_string),
        "T": ("BINSTRING", lambda s: _py2_str(_sbytes4(s))),
        "U": ("SHORT_BINSTRING", lambda s: _py2_str(_bytes1(s))),
        "V": ("UNICODE", lambda s: str(_line(s), "raw-unicode-escape")),
        "X": ("BINUNICODE", lambda s: _bytes4(s).decode("utf-8", "surrogatepass")),
        "a": ("APPEND", None),
        "b": ("BUILD", None),
        "c": ("GLOBAL", lambda s: _two_lines(s, "utf-8")),
        "d": ("DICT", None),
        "}": ("EMPTY_DICT", None),
        "e": ("APPENDS", None),
        "g": ("GET", lambda s: int(_line(s))),
        "h": ("BINGET", _unpack("<B")),
        "i": ("INST", lambda s: _two_lines(s, "ascii")),
        "j": ("LONG_BINGET", _unpack("<I")),
        "l": ("LIST", None),
        "]": ("EMPTY_LIST", None),
        "o": ("OBJ", None),
        "p": ("PUT", lambda s: int(_line(s))),
        "q": ("BINPUT", _unpack("<B")),
        "r": ("LONG_BINPUT", _unpack("<I")),
        "s": ("SETITEM", None),
        "t": ("TUPLE", None),
        ")": ("EMPTY_TUPLE", None),
        "u": ("SETITEMS", None),
        "G": ("BINFLOAT", _unpack(">d")),
        "\x80": ("PROTO", _unpack("<B")),
        "\x81": ("NEWOBJ", None),
        "\x82": ("EXT1", _unpack("<B")),
        "\x83": ("EXT2", _unpack("<H")),
        "\x84": ("EXT4", _unpack("<i")),
        "\x85": ("TUPLE1", None),
        "\x86": ("TUPLE2", None),
        "\x87": ("TUPLE3", None),
        "\x88": ("NEWTRUE", None),
        "\x89": ("NEWFALSE", None),
        "\x8a": ("LONG1", lambda s: int.from_bytes(_bytes1(s), "little", signed=True)),
        "\x8b": ("LONG4", lambda s: int.from_bytes(_sbytes4(s), "little", signed=True)),
        "B": ("BINBYTES", _bytes4),
        "C": ("SHORT_BINBYTES", _bytes1),
        "\x8c": ("SHORT_BINUNICODE", lambda s: _bytes1(s).decode("utf-8", "surrogatepass")),
        "\x8d": ("BINUNICODE8", lambda s: _bytes8(s).decode("utf-8", "surrogatepass")),
        "\x8e": ("BINBYTES8", _bytes8),
        "\x8f": ("EMPTY_SET", None),
        "\x90": ("ADDITEMS", None),
        "\x91": ("FROZENSET", None),
        "\x92": ("NEWOBJ_EX", None),
        "\x93": ("STACK_GLOBAL", None),
        "\x94": ("MEMOIZE", None),
        "\x95": ("FRAME", _unpack("<Q")),
        "\x96": ("BYTEARRAY8", _bytes8),
        "\x97": ("NEXT_BUFFER", None),
        "\x98": ("READONLY_BUFFER", None),
    }.items()
}


def read_opcodes(src: Source) -> Iterator[tuple[str, Any, int]]:
    """(name, argument, position) for each opcode up to and including STOP."""
    while True:
        pos = src.tell()
        code = src.read(1)[0]
        entry = OPCODES.get(code)
        if entry is None:
            raise PickleError(f"unknown pickle opcode 0x{code:02x} at byte {pos}")
        name, reader = entry
        try:
            arg = None if reader is None else reader(src)
        except (ValueError, UnicodeDecodeError, struct.error) as exc:
            if isinstance(exc, PickleError):
                raise
            raise PickleError(f"bad {name} argument at byte {pos}") from None
        yield name, arg, pos
        if name == "STOP":
            return


# --- the machine -------------------------------------------------------------------------------

_REBUILD_TENSOR = {
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
}
_REBUILD_PARAMETER = {
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch.nn.parameter.Parameter",
}
_SETS = {"builtins.set", "builtins.frozenset"}
_RECONSTRUCTORS = {"copyreg._reconstructor", "copyreg.__newobj__", "copyreg.__newobj_ex__"}
_NUMPY_SCALARS = {"numpy.core.multiarray.scalar", "numpy._core.multiarray.scalar"}
_NUMPY_SCALAR_FORMATS = {
    "f2": "e",
    "f4": "f",
    "f8": "d",
    "i1": "b",
    "i2": "h",
    "i4": "i",
    "i8": "q",
    "u1": "B",
    "u2": "H",
    "u4": "I",
    "u8": "Q",
    "b1": "?",
}


@dataclass(slots=True)
class Finding:
    """Something the pickle does that no plain object graph needs (for the scanner)."""

    dangerous: bool
    message: str


@dataclass(slots=True)
class Machine:
    """Runs one pickle at a time; globals and findings accumulate across runs."""

    #: Every global named, as written in the file, in first-seen order.
    globals: list[str] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    #: Storage key → StorageRef, from the persistent ids seen.
    storages: dict[str, StorageRef] = field(default_factory=dict)
    #: Globals the pickle calls or instantiates (REDUCE, INST, OBJ, NEWOBJ, a
    #: ``copyreg._reconstructor`` class…), as written; the others are only referenced.
    called: set[str] = field(default_factory=set)
    _seen: set[str] = field(default_factory=set)

    def run(self, src: Source) -> Any:
        """The object the pickle would build, made of inert values. Raises PickleError."""
        frame = _Frame(self)
        for name, arg, pos in read_opcodes(src):
            try:
                if name == "STOP":
                    return frame.pop()
                _HANDLERS[name](frame, arg)
            except PickleError as exc:
                raise type(exc)(f"{exc} (opcode {name} at byte {pos})") from None
            except (TypeError, ValueError, AttributeError, RecursionError, OverflowError):
                raise PickleError(f"malformed pickle: {name} at byte {pos}") from None
        raise PickleError("pickle ended without STOP")  # pragma: no cover

    # --- effects ---

    def _note(self, name: str) -> None:
        if name not in self._seen:
            self._seen.add(name)
            self.globals.append(name)

    def _global(self, module: str, name: str) -> Global:
        g = Global(module, name)
        self._note(g.fullname)
        return g

    def _mutates(self, target: Any, how: str) -> None:
        if isinstance(target, Global):
            self.findings.append(Finding(True, f"{how} modifies the global {target.fullname}"))

    def _extend(self, target: Any, items: list[Any]) -> None:
        if isinstance(target, list):
            target.extend(items)
        elif isinstance(target, Opaque):
            target.args = (*target.args, *items)
        else:
            self._mutates(target, "APPEND")
            if not isinstance(target, Global):
                raise PickleError(f"APPEND to a {type(target).__name__}")

    def _setitems(self, target: Any, items: list[Any]) -> Any:
        if len(items) % 2:
            raise PickleError("odd number of items for SETITEMS")
        if isinstance(target, dict):
            for i in range(0, len(items), 2):
                target[_hashable(items[i])] = items[i + 1]
        elif isinstance(target, Opaque):
            target.args = (*target.args, *items)
        else:
            self._mutates(target, "SETITEM")
            if not isinstance(target, Global):
                raise PickleError(f"SETITEM on a {type(target).__name__}")
        return target

    def _build(self, target: Any, state: Any) -> None:
        if isinstance(target, Global):
            self._mutates(target, "BUILD")
            return
        if not isinstance(target, Opaque):
            return
        target.state = state
        attrs = state[0] if isinstance(state, tuple) and len(state) == 2 else state
        if isinstance(attrs, dict) and isinstance(attrs.get("_parameters"), dict):
            children: dict[Any, Any] = {}
            for part in ("_parameters", "_buffers", "_modules"):
                value = attrs.get(part)
                if isinstance(value, dict):
                    children.update((k, v) for k, v in value.items() if v is not None)
            target.children = children

    def _persistent(self, pid: Any) -> Any:
        if not (isinstance(pid, tuple) and len(pid) >= 5 and pid[0] in ("storage", b"storage")):
            return Opaque("<persistent id>", (pid,))
        storage_type, key, numel = pid[1], pid[2], pid[4]
        dtype: str | None = None
        untyped = False
        if isinstance(storage_type, Global):
            if storage_type.name == "UntypedStorage":
                dtype, untyped = "U8", True
            elif storage_type.name in STORAGE_DTYPES:
                dtype = STORAGE_DTYPES[storage_type.name]
            elif storage_type.module == "torch":
                dtype = TORCH_DTYPE_NAMES.get(storage_type.name)
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        ref = StorageRef(
            key=str(key),
            dtype=dtype,
            numel=numel if isinstance(numel, int) and not isinstance(numel, bool) else None,
            untyped=untyped,
            is_view=len(pid) > 5 and pid[5] is not None,
        )
        self.storages.setdefault(ref.key, ref)
        return ref

    def _new(self, cls: Any, args: Any) -> Any:
        if isinstance(cls, Global):
            self.called.add(cls.fullname)
            if cls.resolved in ("collections.OrderedDict", "builtins.dict"):
                return {}
            if cls.resolved in _SETS:
                return set()
            return Opaque(cls.fullname, tuple(args) if isinstance(args, tuple) else (args,))
        return Opaque("<instance>")

    def _call(self, func: Any, args: Any) -> Any:
        if not isinstance(func, Global):
            return Opaque("<call>")
        if not isinstance(args, tuple):
            args = (args,) if not isinstance(args, list) else tuple(args)
        self.called.add(func.fullname)
        name = func.resolved
        if name in _REBUILD_TENSOR:
            return _rebuild_tensor(name, args) or Opaque(func.fullname, args)
        if name in _REBUILD_PARAMETER:
            return args[0] if args else Opaque(func.fullname)
        if name == "torch._utils._rebuild_meta_tensor_no_storage" and len(args) >= 2:
            return _tensor(_dtype_of(args[0]), args[1]) or Opaque(func.fullname, args)
        if name == "torch._tensor._rebuild_from_type_v2" and len(args) >= 3:
            if isinstance(args[1], Global):  # the class the result is turned into
                self.called.add(args[1].fullname)
            return self._call(args[0], args[2])
        if name == "collections.OrderedDict":
            result: dict[Any, Any] = {}
            if args and isinstance(args[0], (list, tuple)):
                for pair in args[0]:
                    if isinstance(pair, (list, tuple)) and len(pair) == 2:
                        result[_hashable(pair[0])] = pair[1]
            return result
        if name in _SETS:
            items = args[0] if args and isinstance(args[0], (list, tuple, set)) else ()
            return {_hashable(x) for x in items}
        if name == "torch.Size" and args and isinstance(args[0], (list, tuple)):
            return tuple(args[0])
        if name == "_codecs.encode" and len(args) == 2 and isinstance(args[0], str):
            # protocol 2 spells bytes as _codecs.encode(text, "latin1")
            encoding = args[1] if isinstance(args[1], str) else ""
            encoding = encoding.replace("-", "").replace("_", "").lower()
            return args[0].encode("latin-1", "replace") if encoding == "latin1" else Opaque(name)
        if name == "builtins.bytes" and not args:
            return b""  # protocol < 3 spells b"" as bytes()
        if name in _RECONSTRUCTORS and args and isinstance(args[0], Global):
            self.called.add(args[0].fullname)
            return Opaque(args[0].fullname)
        if name in _NUMPY_SCALARS and len(args) == 2:
            value = _numpy_scalar(args[0], args[1])
            if value is not None:
                return value
        return Opaque(func.fullname, args)


_PUSH_ARG = {
    "INT",
    "BININT",
    "BININT1",
    "BININT2",
    "LONG",
    "LONG1",
    "LONG4",
    "FLOAT",
    "BINFLOAT",
    "STRING",
    "BINSTRING",
    "SHORT_BINSTRING",
    "UNICODE",
    "BINUNICODE",
    "SHORT_BINUNICODE",
    "BINUNICODE8",
    "BINBYTES",
    "SHORT_BINBYTES",
    "BINBYTES8",
    "BYTEARRAY8",
}


class _Frame:
    """The stack, marks and memo of one pickle run; one small method per opcode."""

    __slots__ = ("machine", "marks", "memo", "stack")

    def __init__(self, machine: Machine) -> None:
        self.machine = machine
        self.stack: list[Any] = []
        self.marks: list[int] = []
        self.memo: dict[int, Any] = {}

    def floor(self) -> int:
        return self.marks[-1] if self.marks else 0

    def pop(self) -> Any:
        if len(self.stack) <= self.floor():
            raise PickleError("pickle stack underflow")
        return self.stack.pop()

    def top(self) -> Any:
        if len(self.stack) <= self.floor():
            raise PickleError("pickle stack underflow")
        return self.stack[-1]

    def pop_mark(self) -> list[Any]:
        if not self.marks:
            raise PickleError("pickle has no MARK to pop to")
        at = self.marks.pop()
        items = self.stack[at:]
        del self.stack[at:]
        return items

    # --- opcodes (argument already decoded) ---

    def push(self, arg: Any) -> None:
        self.stack.append(arg)

    def ignore(self, arg: Any) -> None:
        """PROTO and FRAME: versions and framing hints change nothing here."""

    def mark(self, arg: Any) -> None:
        self.marks.append(len(self.stack))

    def pop_op(self, arg: Any) -> None:
        if len(self.stack) > self.floor():
            self.stack.pop()
        else:
            self.pop_mark()

    def pop_mark_op(self, arg: Any) -> None:
        self.pop_mark()

    def dup(self, arg: Any) -> None:
        self.stack.append(self.top())

    def put(self, arg: int) -> None:
        self.memo[arg] = self.top()

    def memoize(self, arg: Any) -> None:
        self.memo[len(self.memo)] = self.top()

    def get(self, arg: int) -> None:
        if arg not in self.memo:
            raise PickleError(f"memo key {arg} read before it was written")
        self.stack.append(self.memo[arg])

    def list_op(self, arg: Any) -> None:
        self.stack.append(self.pop_mark())

    def tuple_op(self, arg: Any) -> None:
        self.stack.append(tuple(self.pop_mark()))

    def tuple_n(self, n: int) -> None:
        items = [self.pop() for _ in range(n)]
        self.stack.append(tuple(reversed(items)))

    def dict_op(self, arg: Any) -> None:
        self.stack.append(self.machine._setitems({}, self.pop_mark()))

    def frozenset_op(self, arg: Any) -> None:
        self.stack.append(frozenset(_hashable(x) for x in self.pop_mark()))

    def append(self, arg: Any) -> None:
        value = self.pop()
        self.machine._extend(self.top(), [value])

    def appends(self, arg: Any) -> None:
        items = self.pop_mark()
        self.machine._extend(self.top(), items)

    def setitem(self, arg: Any) -> None:
        value = self.pop()
        key = self.pop()
        self.machine._setitems(self.top(), [key, value])

    def setitems(self, arg: Any) -> None:
        items = self.pop_mark()
        self.machine._setitems(self.top(), items)

    def additems(self, arg: Any) -> None:
        items = self.pop_mark()
        target = self.top()
        if isinstance(target, set):
            target.update(_hashable(x) for x in items)
        else:
            self.machine._mutates(target, "ADDITEMS")

    def global_op(self, arg: tuple[str, str]) -> None:
        self.stack.append(self.machine._global(*arg))

    def stack_global(self, arg: Any) -> None:
        name = self.pop()
        module = self.pop()
        if type(name) is str and type(module) is str:
            self.stack.append(self.machine._global(module, name))
            return
        self.machine.findings.append(
            Finding(True, "STACK_GLOBAL takes a name computed at load time")
        )
        self.machine._note("<computed global>")
        self.stack.append(Opaque("<computed global>"))

    def inst(self, arg: tuple[str, str]) -> None:
        args = tuple(self.pop_mark())
        self.stack.append(self.machine._call(self.machine._global(*arg), args))

    def obj(self, arg: Any) -> None:
        items = self.pop_mark()
        if not items:
            raise PickleError("OBJ without a class")
        self.stack.append(self.machine._call(items[0], tuple(items[1:])))

    def reduce(self, arg: Any) -> None:
        args = self.pop()
        func = self.pop()
        self.stack.append(self.machine._call(func, args))

    def newobj(self, arg: Any) -> None:
        args = self.pop()
        cls = self.pop()
        self.stack.append(self.machine._new(cls, args))

    def newobj_ex(self, arg: Any) -> None:
        self.pop()  # kwargs
        self.newobj(arg)

    def build(self, arg: Any) -> None:
        state = self.pop()
        self.machine._build(self.top(), state)

    def binpersid(self, arg: Any) -> None:
        self.stack.append(self.machine._persistent(self.pop()))

    def persid(self, arg: str) -> None:
        self.stack.append(self.machine._persistent(arg))

    def ext(self, arg: int) -> None:
        label = f"<copyreg extension {arg}>"
        self.machine._note(label)
        self.stack.append(Opaque(label))

    def buffer(self, arg: Any) -> None:
        raise PickleError("pickle uses out-of-band buffers")


_HANDLERS: dict[str, Callable[[_Frame, Any], None]] = {
    **dict.fromkeys(_PUSH_ARG, _Frame.push),
    "NONE": lambda f, _: f.stack.append(None),
    "NEWTRUE": lambda f, _: f.stack.append(True),
    "NEWFALSE": lambda f, _: f.stack.append(False),
    "EMPTY_LIST": lambda f, _: f.stack.append([]),
    "EMPTY_DICT": lambda f, _: f.stack.append({}),
    "EMPTY_TUPLE": lambda f, _: f.stack.append(()),
    "EMPTY_SET": lambda f, _: f.stack.append(set()),
    "TUPLE1": lambda f, _: f.tuple_n(1),
    "TUPLE2": lambda f, _: f.tuple_n(2),
    "TUPLE3": lambda f, _: f.tuple_n(3),
    "PROTO": _Frame.ignore,
    "FRAME": _Frame.ignore,
    "MARK": _Frame.mark,
    "POP": _Frame.pop_op,
    "POP_MARK": _Frame.pop_mark_op,
    "DUP": _Frame.dup,
    "PUT": _Frame.put,
    "BINPUT": _Frame.put,
    "LONG_BINPUT": _Frame.put,
    "MEMOIZE": _Frame.memoize,
    "GET": _Frame.get,
    "BINGET": _Frame.get,
    "LONG_BINGET": _Frame.get,
    "LIST": _Frame.list_op,
    "TUPLE": _Frame.tuple_op,
    "DICT": _Frame.dict_op,
    "FROZENSET": _Frame.frozenset_op,
    "APPEND": _Frame.append,
    "APPENDS": _Frame.appends,
    "SETITEM": _Frame.setitem,
    "SETITEMS": _Frame.setitems,
    "ADDITEMS": _Frame.additems,
    "GLOBAL": _Frame.global_op,
    "STACK_GLOBAL": _Frame.stack_global,
    "INST": _Frame.inst,
    "OBJ": _Frame.obj,
    "REDUCE": _Frame.reduce,
    "NEWOBJ": _Frame.newobj,
    "NEWOBJ_EX": _Frame.newobj_ex,
    "BUILD": _Frame.build,
    "BINPERSID": _Frame.binpersid,
    "PERSID": _Frame.persid,
    "EXT1": _Frame.ext,
    "EXT2": _Frame.ext,
    "EXT4": _Frame.ext,
    "NEXT_BUFFER": _Frame.buffer,
    "READONLY_BUFFER": _Frame.buffer,
}


class _Unhashable:
    """Stands in for a list or dict used as a dict key (real pickle would fail later)."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<unhashable>"


#: Tuples nested deeper than this are never hashed: CPython's tuple hash recurses in C
#: without a depth guard, so a pickle of 10⁶ nested tuples used as a key would crash us.
_MAX_KEY_DEPTH = 100


def _hashable(value: Any) -> Any:
    """``value`` if it can safely be a dict key or set member, else a stand-in."""
    if isinstance(value, (tuple, frozenset)) and not _shallow(value):
        return _Unhashable(value)
    try:
        hash(value)
    except TypeError:
        return _Unhashable(value)
    return value


def _shallow(value: tuple[Any, ...] | frozenset[Any]) -> bool:
    seen: set[int] = set()
    level: list[Any] = [value]
    for _ in range(_MAX_KEY_DEPTH):
        nested = []
        for item in level:
            if id(item) not in seen:
                seen.add(id(item))
                nested.extend(x for x in item if isinstance(x, (tuple, frozenset)))
        if not nested:
            return True
        level = nested
    return False


def _dtype_of(value: Any) -> str | None:
    if isinstance(value, Global) and value.module == "torch":
        return TORCH_DTYPE_NAMES.get(value.name)
    return None


def _as_shape(value: Any) -> tuple[int, ...] | None:
    if not isinstance(value, (tuple, list)):
        return None
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
        return None
    return tuple(value)


def _tensor(dtype: str | None, size: Any) -> TensorRef | None:
    shape = _as_shape(size)
    if dtype is None or shape is None:
        return None
    return TensorRef(dtype=dtype, shape=shape)


def _rebuild_tensor(name: str, args: tuple[Any, ...]) -> TensorRef | None:
    # _rebuild_tensor(storage, offset, size, stride); v2 adds requires_grad, hooks(, metadata);
    # v3 adds dtype after the hooks, for dtypes whose storage is untyped.
    if len(args) < 4 or not isinstance(args[0], StorageRef):
        return None
    storage: StorageRef = args[0]
    dtype = storage.dtype
    if name.endswith("_v3") and len(args) >= 7:
        dtype = _dtype_of(args[6]) or dtype
    shape, stride = _as_shape(args[2]), _as_shape(args[3])
    offset = args[1] if isinstance(args[1], int) and not isinstance(args[1], bool) else 0
    if dtype is None or shape is None:
        return None
    return TensorRef(dtype=dtype, shape=shape, storage=storage, offset=offset, stride=stride)


def _numpy_scalar(dtype: Any, data: Any) -> int | float | bool | None:
    if not (isinstance(dtype, Opaque) and dtype.callee.endswith(".dtype") and dtype.args):
        return None
    if not isinstance(data, (bytes, str)):
        return None
    raw = data.encode("latin-1") if isinstance(data, str) else data
    code = dtype.args[0]
    fmt = _NUMPY_SCALAR_FORMATS.get(code) if isinstance(code, str) else None
    if fmt is None:
        return None
    order = ">" if isinstance(dtype.state, tuple) and ">" in dtype.state[1:2] else "<"
    try:
        return struct.unpack(order + fmt, raw)[0]
    except struct.error:
        return None
