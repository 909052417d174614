"""Pickle safety verdicts: live attacks are caught and never run, real files stay safe."""

from __future__ import annotations

import io
import os
import struct
import tarfile
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from sdhub.models._zip import ZipWriter
from sdhub.models.errors import InvalidFileError
from sdhub.models.kinds import FileFormat, Verdict
from sdhub.models.pickle_index import read_pickle_index
from sdhub.models.pickle_scan import judge_global, scan_pickles
from sdhub.models.sniff import sniff_format
from sdhub.models.writers import TensorData, write_safetensors, write_torch_legacy
from support.pickles import (
    PAYLOADS,
    build_on_safe_global,
    corrupt_central_crc,
    rename_local_header,
    set_encrypted,
    tensor_pickle,
    torch_zip_bytes,
    torch_zip_with_pickle,
    unpickle_in_subprocess,
)

ZIP, LEGACY = FileFormat.TORCH_ZIP, FileFormat.TORCH_LEGACY
DANGEROUS, UNSCANNABLE, SAFE, SUSPICIOUS = (
    Verdict.DANGEROUS,
    Verdict.UNSCANNABLE,
    Verdict.SAFE,
    Verdict.SUSPICIOUS,
)
_LEGACY_HEAD = (
    b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.\x80\x02}q\x00(X\x10\x00\x00\x00"
    b"protocol_versionq\x01M\xe9\x03X\r\x00\x00\x00little_endianq\x02\x88X\n\x00\x00\x00"
    b"type_sizesq\x03}q\x04(X\x05\x00\x00\x00shortq\x05K\x02X\x03\x00\x00\x00intq\x06K\x04X"
    b"\x04\x00\x00\x00longq\x07K\x04uu."
)


def _both_readers(path: Path, fmt: FileFormat):  # type: ignore[no-untyped-def]
    """Run the index reader (which may refuse the file, one line) and the scanner."""
    try:
        read_pickle_index(path, fmt)
    except InvalidFileError as exc:
        assert "\n" not in str(exc)
    return scan_pickles(path, fmt)


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    return tmp_path / "CANARY"


# --- attacks ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_payloads_are_live(name: str, tmp_path: Path, canary: Path) -> None:
    """Positive control: really unpickling each payload does run its command."""
    unpickle_in_subprocess(PAYLOADS[name](f"touch {canary}"), tmp_path)
    assert canary.exists()


@pytest.mark.parametrize("container", ["zip", "legacy-object", "bare"])
@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_attacks_are_dangerous_and_never_run(
    name: str, container: str, tmp_path: Path, canary: Path
) -> None:
    payload = PAYLOADS[name](f"touch {canary}")
    path = tmp_path / "evil.ckpt"
    if container == "zip":
        path.write_bytes(torch_zip_with_pickle(payload))
        fmt = ZIP
    elif container == "legacy-object":
        path.write_bytes(_LEGACY_HEAD + payload + b"\x80\x02]q\x00.")
        fmt = LEGACY
    else:
        path.write_bytes(payload)
        fmt = sniff_format(path)
        if fmt is FileFormat.UNKNOWN:  # protocol 0/1 pickles have no PROTO opcode
            fmt = LEGACY

    safety = _both_readers(path, fmt)

    assert safety.verdict is DANGEROUS, safety
    assert safety.reason and "\n" not in safety.reason
    assert not canary.exists()


def test_globals_hidden_in_memo_are_resolved(tmp_path: Path) -> None:
    path = tmp_path / "evil.ckpt"
    path.write_bytes(torch_zip_with_pickle(PAYLOADS["stack-global-memo"]("true")))
    safety = scan_pickles(path, ZIP)
    assert "posix.system" in safety.globals
    assert "po.posix" not in safety.globals


def test_getattr_chain_lists_every_global(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    path.write_bytes(PAYLOADS["getattr-chain"]("true"))
    safety = scan_pickles(path, LEGACY)
    assert safety.globals == ("builtins.getattr", "builtins.__import__")
    assert "builtins.getattr" in (safety.reason or "")


def test_build_on_a_trusted_global_is_dangerous(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    path.write_bytes(build_on_safe_global())
    safety = scan_pickles(path, LEGACY)
    assert safety.globals == ("collections.OrderedDict",)
    assert safety.verdict is DANGEROUS
    assert "modifies the global collections.OrderedDict" in (safety.reason or "")


def test_real_torch_save_of_a_malicious_object(tmp_path: Path, canary: Path) -> None:
    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return os.system, (f"touch {canary}",)

    for new_zip in (True, False):
        path = tmp_path / f"evil-{new_zip}.ckpt"
        state = OrderedDict(w=torch.zeros(4, 4).half())
        torch.save({"state_dict": state, "x": Evil()}, path, _use_new_zipfile_serialization=new_zip)
        fmt = sniff_format(path)
        safety = _both_readers(path, fmt)
        assert safety.verdict is DANGEROUS
        assert f"{os.system.__module__}.system" in safety.globals
        assert read_pickle_index(path, fmt).shape("state_dict.w") == (4, 4)
    assert not canary.exists()


@pytest.mark.parametrize("member", ["data/1", "extra.bin", "version"])
def test_pickle_hidden_under_another_member_name(member: str, tmp_path: Path, canary: Path) -> None:
    members = {"data.pkl": _legit_zip_pickle(), "data/0": bytes(8), "version": b"3\n"}
    # A protocol-0 payload needs no PROTO and may open with harmless opcodes before GLOBAL.
    members[member] = b"N0cposix\nsystem\n(" + f"S'touch {canary}'\n".encode() + b"tR."
    path = tmp_path / "hidden.ckpt"
    path.write_bytes(torch_zip_bytes(members))

    safety = _both_readers(path, ZIP)

    assert safety.verdict is DANGEROUS, safety
    assert "posix.system" in safety.globals
    assert "pickle under another name" in (safety.reason or "")
    assert not canary.exists()


def test_bad_crc_on_data_pkl(tmp_path: Path, canary: Path) -> None:
    path = tmp_path / "m.ckpt"
    torch.save({"w": torch.zeros(2)}, path)
    path.write_bytes(corrupt_central_crc(path.read_bytes(), "m/data.pkl"))
    safety = scan_pickles(path, ZIP)
    assert safety.verdict is UNSCANNABLE
    assert "CRC" in (safety.reason or "")

    # A malicious data.pkl behind a bad CRC is still read, and found out.
    evil = torch_zip_with_pickle(PAYLOADS["eval"](f"touch {canary}"))
    path.write_bytes(corrupt_central_crc(evil, "archive/data.pkl"))
    assert _both_readers(path, ZIP).verdict is DANGEROUS
    assert not canary.exists()


def test_zip_inside_zip(tmp_path: Path) -> None:
    inner = torch_zip_with_pickle(_legit_zip_pickle(), {"data/0": bytes(8)})
    path = tmp_path / "nested.ckpt"
    path.write_bytes(torch_zip_with_pickle(_legit_zip_pickle(), {"data/0": inner}))
    safety = _both_readers(path, ZIP)
    assert safety.verdict is UNSCANNABLE
    assert "zip archive inside the archive" in (safety.reason or "")


def test_tar_inside_zip(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("data.pkl")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    path = tmp_path / "nested.ckpt"
    extra = {"data/0": bytes(8), "payload": buf.getvalue()}
    path.write_bytes(torch_zip_with_pickle(_legit_zip_pickle(), extra))
    assert "tar archive" in (scan_pickles(path, ZIP).reason or "")


def test_local_header_mismatch_and_encryption(tmp_path: Path) -> None:
    legit = torch_zip_with_pickle(_legit_zip_pickle(), {"data/0": bytes(8)})
    path = tmp_path / "m.ckpt"
    path.write_bytes(legit)
    assert scan_pickles(path, ZIP).verdict is SAFE

    path.write_bytes(rename_local_header(legit, "archive/data.pkl", "archive/data.pkX"))
    safety = _both_readers(path, ZIP)
    assert safety.verdict is UNSCANNABLE
    assert "local header names a different file" in (safety.reason or "")

    path.write_bytes(set_encrypted(legit, "archive/data.pkl"))
    safety = _both_readers(path, ZIP)
    assert safety.verdict is UNSCANNABLE
    assert "encrypted" in (safety.reason or "")


def test_duplicate_member_names(tmp_path: Path, canary: Path) -> None:
    path = tmp_path / "m.ckpt"
    path.write_bytes(_zip_with_duplicate(_legit_zip_pickle(), _legit_zip_pickle()))
    safety = _both_readers(path, ZIP)
    assert safety.verdict is UNSCANNABLE
    assert "2 times" in (safety.reason or "")

    path.write_bytes(_zip_with_duplicate(_legit_zip_pickle(), PAYLOADS["eval"](f"touch {canary}")))
    assert _both_readers(path, ZIP).verdict is DANGEROUS
    assert not canary.exists()


def _zip_with_duplicate(first: bytes, second: bytes) -> bytes:
    buf = io.BytesIO()
    zw = ZipWriter(buf)
    zw.add("archive/data.pkl", first)
    zw.add("archive/data/0", bytes(8))
    zw.add("archive/data.pkl", second)
    zw.close()
    return buf.getvalue()


@pytest.mark.parametrize("fmt", [ZIP, LEGACY])
def test_truncated_files_are_unscannable(tmp_path: Path, fmt: FileFormat) -> None:
    path = tmp_path / "m.ckpt"
    torch.save({"w": torch.zeros(64, 64)}, path, _use_new_zipfile_serialization=fmt is ZIP)
    data = path.read_bytes()
    for size in (1, 30, 120, len(data) // 2):
        path.write_bytes(data[:size])
        safety = _both_readers(path, fmt)
        assert safety.verdict is UNSCANNABLE, (size, safety)
        assert safety.reason


def test_truncated_attack_still_dangerous(tmp_path: Path, canary: Path) -> None:
    payload = PAYLOADS["reduce-os-system"](f"touch {canary}")
    path = tmp_path / "cut.pt"
    path.write_bytes(_LEGACY_HEAD + payload[:-1])  # no STOP: pickle still runs the REDUCE
    assert _both_readers(path, LEGACY).verdict is DANGEROUS
    assert not canary.exists()


@pytest.mark.parametrize("fmt", [ZIP, LEGACY])
def test_pickle_broken_before_its_payload_is_still_dangerous(
    tmp_path: Path, fmt: FileFormat
) -> None:
    # BINGET of a memo slot never written stops the machine at byte 2; the names after it
    # are still listed (our machine may be stricter than the real one somewhere).
    broken = b"\x80\x02h\x05" + PAYLOADS["stack-global-memo"]("true")[2:]
    path = tmp_path / "broken.ckpt"
    path.write_bytes(torch_zip_with_pickle(broken) if fmt is ZIP else _LEGACY_HEAD + broken)
    safety = _both_readers(path, fmt)
    assert safety.verdict is DANGEROUS
    assert "posix.system" in safety.globals


def test_garbage_and_unknown_formats_are_unscannable(tmp_path: Path) -> None:
    path = tmp_path / "g.ckpt"
    path.write_bytes(b"not a model at all")
    for fmt in FileFormat:
        safety = scan_pickles(path, fmt)
        assert safety.verdict is UNSCANNABLE
        assert safety.reason
    assert scan_pickles(tmp_path / "missing.ckpt", ZIP).verdict is UNSCANNABLE


# --- legitimate oddities ---------------------------------------------------------------


def _legit_zip_pickle() -> bytes:
    return tensor_pickle("w", "HalfStorage", 4)


@pytest.mark.parametrize("new_zip", [True, False], ids=["zip", "legacy"])
def test_legit_oddities_are_safe(tmp_path: Path, new_zip: bool) -> None:
    obj = {
        "string_to_param": torch.nn.ParameterDict({"*": torch.nn.Parameter(torch.zeros(2, 768))}),
        "string_to_token": {"*": 265},
        "param": torch.nn.Parameter(torch.zeros(3)),
        "od": OrderedDict(a=torch.zeros(1).bfloat16()),
        "set": {1, 2},
        "arr": np.zeros(3, dtype=np.float32),
        "step": np.int64(3),
        "size": torch.Size([1, 2]),
        "bytes": b"\x00\x01",
        "every": [torch.zeros(1, dtype=dt) for dt in (torch.int8, torch.uint8, torch.bool)],
    }
    path = tmp_path / "emb.pt"
    torch.save(obj, path, _use_new_zipfile_serialization=new_zip)
    safety = scan_pickles(path, sniff_format(path))
    assert safety.verdict is SAFE, safety
    assert safety.reason is None
    assert "torch.nn.modules.container.ParameterDict" in safety.globals
    assert "__builtin__.set" in safety.globals
    assert "torch._utils._rebuild_parameter" in safety.globals


def test_new_dtype_storages_are_safe(tmp_path: Path) -> None:
    path = tmp_path / "f8.pt"
    torch.save({"w": torch.zeros(2, dtype=torch.float8_e4m3fn)}, path)
    safety = scan_pickles(path, ZIP)
    assert safety.verdict is SAFE
    assert "torch.float8_e4m3fn" in safety.globals


def test_pickled_modules_and_callbacks_are_suspicious(tmp_path: Path) -> None:
    path = tmp_path / "m.ckpt"
    torch.save({"model": torch.nn.Linear(2, 2)}, path)
    safety = scan_pickles(path, ZIP)
    assert safety.verdict is SUSPICIOUS
    assert "torch.nn.modules.linear.Linear" in (safety.reason or "")


def test_writers_output_is_safe(tmp_path: Path) -> None:
    st = tmp_path / "x.safetensors"
    write_safetensors(st, {"w": TensorData.zeros((2,))})
    assert scan_pickles(st, FileFormat.SAFETENSORS).verdict is SAFE
    assert scan_pickles(st, FileFormat.SAFETENSORS).globals == ()
    legacy = tmp_path / "x.pt"
    write_torch_legacy(legacy, {"w": TensorData.zeros((2,))})
    assert scan_pickles(legacy, LEGACY).verdict is SAFE


def test_invalid_safetensors_is_unscannable(tmp_path: Path) -> None:
    path = tmp_path / "bad.safetensors"
    path.write_bytes(struct.pack("<Q", 2) + b"[]")
    safety = scan_pickles(path, FileFormat.SAFETENSORS)
    assert safety.verdict is UNSCANNABLE
    assert "not a JSON object" in (safety.reason or "")


def test_tensor_bytes_that_look_like_opcodes_stay_safe(tmp_path: Path) -> None:
    # Storages whose first bytes are pickle opcodes (PROTO, GLOBAL, MARK…) must not be
    # mistaken for hidden pickles.
    starts = [b"\x80\x02\x2e", b"\x80\x02c\n\n", b"(\x00", b"cab\xff\n", b"K\x01", b"\x8c\xff"]
    extra = {f"data/{i}": s + bytes(64) for i, s in enumerate(starts)}
    path = tmp_path / "m.ckpt"
    path.write_bytes(torch_zip_with_pickle(_legit_zip_pickle(), extra))
    assert scan_pickles(path, ZIP).verdict is SAFE


# --- the global policy --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "verdict"),
    [
        ("collections.OrderedDict", SAFE),
        ("__builtin__.set", SAFE),
        ("torch.cuda.HalfStorage", SAFE),
        ("torch.storage.UntypedStorage", SAFE),
        ("torch.bfloat16", SAFE),
        ("numpy.core.multiarray._reconstruct", SAFE),
        ("numpy._core.multiarray.scalar", SAFE),
        ("_codecs.encode", SAFE),
        ("torch.nn.modules.linear.Linear", SUSPICIOUS),
        # referenced (never called) in SD 1.x .ckpt files; A1111 and ComfyUI allow it
        ("pytorch_lightning.callbacks.model_checkpoint.ModelCheckpoint", SAFE),
        ("pytorch_lightning.callbacks.ModelCheckpoint", SUSPICIOUS),
        ("argparse.Namespace", SUSPICIOUS),
        ("builtins.dict", SUSPICIOUS),
        ("__main__.Hypernetwork", SUSPICIOUS),
        ("os.system", DANGEROUS),
        ("os.path.join", DANGEROUS),
        ("posix.system", DANGEROUS),
        ("nt.system", DANGEROUS),
        ("subprocess.Popen", DANGEROUS),
        ("builtins.eval", DANGEROUS),
        ("__builtin__.exec", DANGEROUS),
        ("__builtin__.getattr", DANGEROUS),
        ("builtins.__import__", DANGEROUS),
        ("commands.getoutput", DANGEROUS),
        ("_pickle.loads", DANGEROUS),
        ("cPickle.loads", DANGEROUS),
        ("marshal.loads", DANGEROUS),
        ("types.CodeType", DANGEROUS),
        ("runpy._run_code", DANGEROUS),
        ("webbrowser.open", DANGEROUS),
        ("socket.create_connection", DANGEROUS),
        ("asyncio.subprocess.create_subprocess_shell", DANGEROUS),
        ("operator.attrgetter", DANGEROUS),
        ("functools.partial", DANGEROUS),
        ("torch.hub.load", DANGEROUS),
        ("torch.load", DANGEROUS),
        ("torch.storage._load_from_bytes", DANGEROUS),
        ("numpy.testing._private.utils.runstring", DANGEROUS),
        ("torch._utils.os.system", DANGEROUS),
        ("collections.OrderedDict.__init__.__globals__", DANGEROUS),
        ("platform.popen", DANGEROUS),
    ],
)
def test_global_policy(name: str, verdict: Verdict) -> None:
    assert judge_global(name) is verdict


def test_unknown_globals_are_named_in_the_reason(tmp_path: Path) -> None:
    body = b"".join(f"cpkg{i}\nThing\n".encode() + b"0" for i in range(5))
    path = tmp_path / "m.pt"
    path.write_bytes(b"\x80\x02" + body + b"N.")
    safety = scan_pickles(path, LEGACY)
    assert safety.verdict is SUSPICIOUS
    assert safety.reason == "unknown global(s) pkg0.Thing, pkg1.Thing, pkg2.Thing and 2 more"
