"""Classifying a multi-GB torch checkpoint reads < 1 MiB of it, and stays a safety gate.

BENCHMARKS.md: "bytes read to classify any file, incl. a multi-GB torch-zip
.ckpt: < 1 MiB". The checkpoint here is SD1-shaped (1130 tensors, ~2 GiB)
and sparse on disk, but every storage starts with random bytes the way real
weights do, so a scanner that trial-parses storages for hidden pickles meets
opcode-like bytes everywhere. Bytes are counted by the kernel
(``/proc/self/io``), not by our own bookkeeping.

The cheaper storage check must not open a hole: a pickle or an archive sitting
in a member that really is a storage (the name and exact size ``data.pkl``
asks for) is still found.
"""

from __future__ import annotations

import importlib.util
import io
import random
import struct
import tarfile
from pathlib import Path

import pytest
from sdhub.models._torch_file import TorchFile
from sdhub.models.inspect import inspect_file
from sdhub.models.kinds import Base, FileFormat, Kind, Verdict
from sdhub.models.pickle_index import read_pickle_index
from sdhub.models.pickle_scan import scan_pickles
from sdhub.models.writers import TensorData, write_torch_legacy, write_torch_zip
from support.pickles import PAYLOADS, tensor_pickle, torch_zip_with_pickle

ZIP = FileFormat.TORCH_ZIP
MIB = 1 << 20
_HEAD = 4096  # random bytes at the start of every storage


def _sd1_keys() -> list[tuple[str, tuple[int, ...]]]:
    """The full SD1 key list the benchmarks use (one source of truth: bench/_sd1.py)."""
    path = Path(__file__).resolve().parent.parent / "bench" / "_sd1.py"
    spec = importlib.util.spec_from_file_location("_sd1_for_tests", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.sd1_checkpoint_keys()


def _sd1_state(seed: int = 0) -> dict[str, object]:
    rng = random.Random(seed)
    state = {}
    for name, shape in _sd1_keys():
        nbytes = 2
        for dim in shape:
            nbytes *= dim
        state[name] = TensorData(shape, "F16", head=rng.randbytes(min(_HEAD, nbytes)))
    return {"state_dict": state, "global_step": 840000, "epoch": 6}


@pytest.fixture(scope="module")
def sd1_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("sd1-sparse")
    obj = _sd1_state()
    files = {"zip": folder / "sd1-fp16.ckpt", "legacy": folder / "sd1-fp16-legacy.ckpt"}
    write_torch_zip(files["zip"], obj, archive_name="sd1-fp16")
    write_torch_legacy(files["legacy"], obj)
    return files


def _io_counters() -> tuple[int, int]:
    fields = dict(line.split(":") for line in Path("/proc/self/io").read_text().splitlines())
    return int(fields["rchar"]), int(fields["syscr"])


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
@pytest.mark.parametrize("which", ["zip", "legacy"])
def test_classifying_a_2gib_checkpoint_reads_under_a_mebibyte(
    sd1_files: dict[str, Path], which: str
) -> None:
    path = sd1_files[which]
    assert path.stat().st_size > 2_000_000_000
    inspect_file(path, hashes=False)  # first-call imports out of the measurement

    rchar, calls = _io_counters()
    report = inspect_file(path, hashes=False)
    rchar, calls = _io_counters()[0] - rchar, _io_counters()[1] - calls

    assert (report.kind, report.base) == (Kind.CHECKPOINT, Base.SD1), report.error
    assert report.safety.verdict is Verdict.SAFE, report.safety.reason
    assert rchar < MIB, f"read {rchar / 1024:.0f} KiB to classify a {which} checkpoint"
    # About one read per member or storage (header and first bytes together), not several.
    assert calls < 1130 + 200, f"{calls} read calls"


def test_storages_are_recognised_by_name_and_exact_size(sd1_files: dict[str, Path]) -> None:
    with TorchFile.open(sd1_files["zip"], ZIP) as torch_file:
        storages = torch_file.storage_members()
    assert len(storages) == 1130
    assert all(name.startswith("sd1-fp16/data/") for name in storages)


# --- what the cheaper check must still find -----------------------------------------------------

_NUMEL = 4096  # the storage data.pkl asks for: 4096 halves = 8192 bytes


def _with_storage(data: bytes) -> bytes:
    """A torch zip whose data.pkl names storage 0 (HalfStorage, _NUMEL) holding ``data``."""
    assert len(data) <= 2 * _NUMEL
    return torch_zip_with_pickle(
        tensor_pickle(numel=_NUMEL), {"data/0": data.ljust(2 * _NUMEL, b"\0")}
    )


def _proto1_long_preamble(cmd: str) -> bytes:
    """Protocol 1, no PROTO opcode, the global only after a 200-byte binary string."""
    arg = cmd.encode().ljust(200)
    return b"(X" + struct.pack("<I", len(arg)) + arg + b"iposix\nsystem\n."


_HIDDEN = {
    **{name: PAYLOADS[name] for name in ("reduce-os-system", "reduce-os-system-proto0")},
    "reduce-os-system-proto5": PAYLOADS["reduce-os-system-proto5"],
    "stack-global-memo": PAYLOADS["stack-global-memo"],
    "proto1-long-preamble": _proto1_long_preamble,
}


@pytest.mark.parametrize("name", sorted(_HIDDEN))
def test_pickle_inside_a_real_storage_is_found(name: str, tmp_path: Path) -> None:
    canary = tmp_path / "CANARY"
    path = tmp_path / "m.ckpt"
    path.write_bytes(_with_storage(_HIDDEN[name](f"touch {canary}")))
    with TorchFile.open(path, ZIP) as torch_file:
        assert "archive/data/0" in torch_file.storage_members()  # the cheap path is taken

    safety = scan_pickles(path, ZIP)

    assert safety.verdict is Verdict.DANGEROUS, safety
    assert "pickle under another name" in (safety.reason or "")
    assert read_pickle_index(path, ZIP).shape("w") == (_NUMEL,)
    assert not canary.exists()


def _tar_bytes() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo("data.pkl")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"abc"))
    return buf.getvalue()[: 2 * _NUMEL]


@pytest.mark.parametrize(
    ("inner", "kind"),
    [
        (lambda: torch_zip_with_pickle(tensor_pickle(), {"data/0": bytes(8)}), "zip"),
        (_tar_bytes, "tar"),
        (lambda: b"\x1f\x8b\x08\x00" + bytes(12), "gzip"),
        (lambda: b"\x28\xb5\x2f\xfd" + bytes(12), "zstd"),
    ],
)
def test_archive_inside_a_real_storage_is_unscannable(inner, kind: str, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "m.ckpt"
    path.write_bytes(_with_storage(inner()))
    safety = scan_pickles(path, ZIP)
    assert safety.verdict is Verdict.UNSCANNABLE
    assert f"{kind} archive inside the archive" in (safety.reason or "")


def test_random_storages_stay_safe(tmp_path: Path) -> None:
    # Thousands of random storage heads, many opening with pickle opcodes: none is a pickle.
    rng = random.Random(7)
    obj = {f"w{i}": TensorData((64,), "F16", data=rng.randbytes(128)) for i in range(2000)}
    path = tmp_path / "random.ckpt"
    write_torch_zip(path, obj)
    safety = scan_pickles(path, ZIP)
    assert safety.verdict is Verdict.SAFE, safety.reason
