"""Malicious and odd pickles, and torch zips built around them, for the safety tests.

Every payload runs ``touch <canary>`` when really unpickled, so a test can
prove both that the payload is live (:func:`unpickle_in_subprocess` creates
the canary) and that our readers never run it (the canary never appears).
"""

from __future__ import annotations

import io
import os
import pickle
import struct
import subprocess
import sys
import zlib
from pathlib import Path

from sdhub.models._zip import ZipWriter


def _unicode(text: str) -> bytes:
    data = text.encode()
    return b"X" + struct.pack("<I", len(data)) + data


def _short_unicode(text: str) -> bytes:
    data = text.encode()
    return b"\x8c" + bytes([len(data)]) + data


def _string0(text: str) -> bytes:
    return b"S" + repr(text).encode() + b"\n"


class _Reduce:
    def __init__(self, func: object, args: tuple[object, ...]) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        return self.func, self.args


def reduce_system(cmd: str, protocol: int = 2) -> bytes:
    """What ``pickle.dumps`` writes for an object whose ``__reduce__`` is ``os.system``."""
    return pickle.dumps({"weights": [1, 2], "x": _Reduce(os.system, (cmd,))}, protocol=protocol)


def eval_reduce(cmd: str) -> bytes:
    """``builtins.eval("__import__('os').system(cmd)")`` via GLOBAL + REDUCE, protocol 0."""
    expr = f"__import__('os').system({cmd!r})"
    return b"cbuiltins\neval\n(" + _string0(expr) + b"tR."


def inst_exec(cmd: str) -> bytes:
    """``exec`` through the INST opcode with a Python 2 module name (``__builtin__``)."""
    code = f"import os; os.system({cmd!r})"
    return b"(" + _string0(code) + b"i__builtin__\nexec\n."


def getattr_chain(cmd: str) -> bytes:
    """``getattr(__import__('os'), 'system')(cmd)``: no ``os`` global at all."""
    return (
        b"\x80\x02cbuiltins\ngetattr\n(cbuiltins\n__import__\n"
        + _unicode("os")
        + b"\x85R"
        + _unicode("system")
        + b"tR"
        + _unicode(cmd)
        + b"\x85R."
    )


def stack_global_memo(cmd: str) -> bytes:
    """STACK_GLOBAL whose module and name come back from the memo after being popped."""
    return (
        b"\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00"  # FRAME with a bogus length
        + _short_unicode("po")  # a decoy, memo 0
        + b"\x940"
        + _short_unicode("posix")  # memo 1
        + b"\x940"
        + _short_unicode("system")  # memo 2
        + b"\x940"
        + b"h\x01h\x02\x93"  # BINGET 1, BINGET 2, STACK_GLOBAL
        + _short_unicode(cmd)
        + b"\x85R."
    )


def nested_loads(cmd: str) -> bytes:
    """``_pickle.loads`` of an inner pickle carried as bytes."""
    inner = reduce_system(cmd, protocol=3)
    return b"\x80\x03c_pickle\nloads\nB" + struct.pack("<I", len(inner)) + inner + b"\x85R."


def module_overwrite(cmd: str) -> bytes:
    """BUILD sets ``json.decoder.JSONDecoder = posix.system``, then calls the 'safe' name."""
    return (
        b"\x80\x02cjson\ndecoder\nN}"
        + _unicode("JSONDecoder")
        + b"cposix\nsystem\ns\x86b0"  # (None, {...}) TUPLE2, BUILD, POP
        + b"cjson.decoder\nJSONDecoder\n"
        + _unicode(cmd)
        + b"\x85R."
    )


def build_on_safe_global() -> bytes:
    """BUILD aimed at ``collections.OrderedDict`` itself: rewrites a class torch trusts."""
    return b"\x80\x02ccollections\nOrderedDict\nN}" + _unicode("fromkeys") + b"K\x01s\x86b."


def tensor_pickle(name: str | None = "w", storage: str = "HalfStorage", numel: int = 4) -> bytes:
    """``{name: tensor}`` (or the bare tensor) as torch pickles it, storage key ``"0"``."""
    tensor = (
        b"ctorch._utils\n_rebuild_tensor_v2\n(("
        + _unicode("storage")
        + f"ctorch\n{storage}\n".encode()
        + _unicode("0")
        + _unicode("cpu")
        + b"M"
        + struct.pack("<H", numel)
        + b"tQK\x00M"
        + struct.pack("<H", numel)
        + b"\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR"
    )
    if name is None:
        return b"\x80\x02" + tensor + b"."
    return b"\x80\x02}" + _unicode(name) + tensor + b"s."


PAYLOADS = {
    "reduce-os-system": reduce_system,
    "reduce-os-system-proto0": lambda cmd: reduce_system(cmd, protocol=0),
    "reduce-os-system-proto5": lambda cmd: reduce_system(cmd, protocol=5),
    "eval": eval_reduce,
    "inst-exec": inst_exec,
    "getattr-chain": getattr_chain,
    "stack-global-memo": stack_global_memo,
    "nested-loads": nested_loads,
    "module-overwrite": module_overwrite,
}


def unpickle_in_subprocess(data: bytes, cwd: Path) -> None:
    """Really unpickle ``data`` in a throwaway interpreter (the positive control)."""
    script = "import pickle, sys; pickle.loads(sys.stdin.buffer.read())"
    subprocess.run([sys.executable, "-c", script], input=data, cwd=cwd, capture_output=True)


def torch_zip_bytes(
    members: dict[str, bytes], *, archive: str = "archive", align: int = 64
) -> bytes:
    """A stored zip like torch writes, with exactly ``members`` (names under ``archive/``)."""
    buf = io.BytesIO()
    zw = ZipWriter(buf, align=align)
    for name, data in members.items():
        zw.add(f"{archive}/{name}", data)
    zw.close()
    return buf.getvalue()


def torch_zip_with_pickle(data_pkl: bytes, extra: dict[str, bytes] | None = None) -> bytes:
    return torch_zip_bytes(
        {"data.pkl": data_pkl, "byteorder": b"little", **(extra or {}), "version": b"3\n"}
    )


# --- byte surgery on zips ---------------------------------------------------------------------


def central_entries(data: bytes) -> list[tuple[int, str]]:
    """(offset of each central-directory entry, its name)."""
    out: list[tuple[int, str]] = []
    pos = data.find(b"PK\x01\x02")
    while pos >= 0:
        nlen = struct.unpack_from("<H", data, pos + 28)[0]
        out.append((pos, data[pos + 46 : pos + 46 + nlen].decode()))
        pos = data.find(b"PK\x01\x02", pos + 46 + nlen)
    return out


def local_header_offset(data: bytes, name: str) -> int:
    for pos, entry in central_entries(data):
        if entry == name:
            return struct.unpack_from("<I", data, pos + 42)[0]
    raise KeyError(name)


def corrupt_central_crc(data: bytes, name: str) -> bytes:
    """Flip the CRC recorded for ``name`` (central directory, and local header if it has one)."""
    out = bytearray(data)
    for pos, entry in central_entries(data):
        if entry == name:
            crc = struct.unpack_from("<I", out, pos + 16)[0]
            struct.pack_into("<I", out, pos + 16, crc ^ 0xDEADBEEF)
            local = struct.unpack_from("<I", out, pos + 42)[0]
            if not struct.unpack_from("<H", out, local + 6)[0] & 0x8:
                struct.pack_into("<I", out, local + 14, crc ^ 0xDEADBEEF)
    return bytes(out)


def rename_local_header(data: bytes, name: str, new_name: str) -> bytes:
    """Give ``name``'s local header a different (same-length) name than the central directory."""
    assert len(new_name) == len(name)
    out = bytearray(data)
    local = local_header_offset(data, name)
    out[local + 30 : local + 30 + len(name)] = new_name.encode()
    return bytes(out)


def set_encrypted(data: bytes, name: str) -> bytes:
    out = bytearray(data)
    for pos, entry in central_entries(data):
        if entry == name:
            out[pos + 8] |= 1
            local = struct.unpack_from("<I", out, pos + 42)[0]
            out[local + 6] |= 1
    return bytes(out)


def crc32(data: bytes) -> int:
    return zlib.crc32(data)
