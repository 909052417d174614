"""Emit the protocol-2 pickles ``torch.save`` writes, opcode by opcode, without torch.

The writer's value types (:class:`~.writers.TensorData` and friends) are
passed in through small hooks so this module stays about opcodes only.
"""

from __future__ import annotations

import pickle
import struct
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

#: Writes one value of a caller's type (a tensor, a Parameter…) by emitting opcodes.
TensorHook = Callable[["Pickler", Any], None]


class Pickler:
    """A tiny protocol-2 pickler: plain containers plus caller-supplied tensor hooks."""

    def __init__(self, hooks: dict[type, TensorHook]) -> None:
        self.out = bytearray(b"\x80\x02")
        self._hooks = hooks
        self._globals: dict[tuple[str, str], int] = {}

    def dumps(self, obj: Any) -> bytes:
        self.save(obj)
        self.out += b"."
        return bytes(self.out)

    # --- opcodes ---

    def memo_put(self) -> int:
        index = len(self._globals)
        self.out += b"q" + bytes([index]) if index < 256 else b"r" + struct.pack("<I", index)
        return index

    def global_(self, module: str, name: str) -> None:
        """GLOBAL, memoised like the real pickler so repeats are a BINGET."""
        key = (module, name)
        if key in self._globals:
            index = self._globals[key]
            self.out += b"h" + bytes([index]) if index < 256 else b"j" + struct.pack("<I", index)
            return
        self.out += b"c" + f"{module}\n{name}\n".encode()
        self._globals[key] = self.memo_put()

    def mark(self) -> None:
        self.out += b"("

    def op(self, code: bytes) -> None:
        self.out += code

    def ordered_dict(self, items: dict[Any, Any] | None = None) -> None:
        self.global_("collections", "OrderedDict")
        self.out += b")R"
        if items:
            self._setitems(items)

    # --- values ---

    def save(self, obj: Any) -> None:
        hook = self._hooks.get(type(obj))
        if hook is not None:
            hook(self, obj)
        elif obj is None:
            self.out += b"N"
        elif obj is True:
            self.out += b"\x88"
        elif obj is False:
            self.out += b"\x89"
        elif isinstance(obj, int):
            self._int(obj)
        elif isinstance(obj, float):
            self.out += b"G" + struct.pack(">d", obj)
        elif isinstance(obj, str):
            data = obj.encode("utf-8", "surrogatepass")
            self.out += b"X" + struct.pack("<I", len(data)) + data
        elif isinstance(obj, bytes):
            self.global_("_codecs", "encode")
            self.save(obj.decode("latin-1"))
            self.save("latin1")
            self.out += b"\x86R"
        elif isinstance(obj, tuple):
            self._tuple(obj)
        elif isinstance(obj, list):
            self.out += b"]"
            for start in range(0, len(obj), 1000):
                self.out += b"("
                for item in obj[start : start + 1000]:
                    self.save(item)
                self.out += b"e"
        elif isinstance(obj, OrderedDict):
            self.ordered_dict(obj)
        elif isinstance(obj, dict):
            self.out += b"}"
            self._setitems(obj)
        elif isinstance(obj, (set, frozenset)):
            self.global_("__builtin__", "set" if isinstance(obj, set) else "frozenset")
            self.save(sorted(obj, key=repr))
            self.out += b"\x85R"
        else:
            raise TypeError(f"cannot write a {type(obj).__name__} into a torch pickle")

    def _int(self, value: int) -> None:
        if 0 <= value < 256:
            self.out += b"K" + bytes([value])
        elif 0 <= value < 65536:
            self.out += b"M" + struct.pack("<H", value)
        elif -(2**31) <= value < 2**31:
            self.out += b"J" + struct.pack("<i", value)
        else:
            encoded = pickle.encode_long(value)
            self.out += b"\x8a" + bytes([len(encoded)]) + encoded

    def _tuple(self, items: tuple[Any, ...]) -> None:
        if not items:
            self.out += b")"
            return
        if len(items) > 3:
            self.out += b"("
        for item in items:
            self.save(item)
        self.out += {1: b"\x85", 2: b"\x86", 3: b"\x87"}.get(len(items), b"t")

    def _setitems(self, items: dict[Any, Any]) -> None:
        pairs = list(items.items())
        for start in range(0, len(pairs), 1000):
            self.out += b"("
            for key, value in pairs[start : start + 1000]:
                self.save(key)
                self.save(value)
            self.out += b"u"
