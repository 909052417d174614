"""The inspector reports every file, good or broken, and never raises."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest
from sdhub.models.inspect import inspect_file
from sdhub.models.kinds import FileFormat, Kind, Verdict
from support.inspect_samples import (
    reference_hashes,
    write_malicious_ckpt,
    write_sd1_lora,
    write_torch_embedding,
)

MIB = 1 << 20


def assert_invalid(report, *words: str) -> None:  # type: ignore[no-untyped-def]
    assert report.kind is Kind.INVALID
    assert report.failed
    error = report.error
    assert error and "\n" not in error and "Traceback" not in error
    for word in words:
        assert word in error.lower(), error


@pytest.mark.parametrize("padding_mib", [0, 6], ids=["small-inline", "big-threaded"])
def test_good_safetensors_lora(tmp_path: Path, padding_mib: int) -> None:
    path = write_sd1_lora(tmp_path / "mystyle.safetensors", padding_mib=padding_mib)
    report = inspect_file(path)
    assert report.format is FileFormat.SAFETENSORS
    assert report.size == path.stat().st_size
    assert report.safety.verdict is Verdict.SAFE
    assert report.hashes is not None
    assert report.hashes.to_json() == reference_hashes(path)
    assert report.kind is Kind.LORA, report.error
    assert not report.failed
    assert report.to_json()["path"] == str(path)


def test_good_torch_zip_embedding(tmp_path: Path) -> None:
    path = write_torch_embedding(tmp_path / "sample.pt")
    report = inspect_file(path)
    assert report.format is FileFormat.TORCH_ZIP
    assert report.safety.verdict is Verdict.SAFE
    assert report.hashes is not None and report.hashes.autov3 is None
    assert report.hashes.to_json() == reference_hashes(path)
    assert report.kind is Kind.EMBEDDING, report.error


def test_no_hash_skips_hashing(tmp_path: Path) -> None:
    report = inspect_file(write_sd1_lora(tmp_path / "a.safetensors"), hashes=False)
    assert report.hashes is None
    assert report.to_json()["hashes"] is None


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_classification_reads_under_one_mib(tmp_path: Path) -> None:
    big = write_sd1_lora(tmp_path / "big.safetensors", padding_mib=24)
    inspect_file(write_sd1_lora(tmp_path / "warm.safetensors"), hashes=False)  # imports done

    def rchar() -> int:
        for line in Path("/proc/self/io").read_text().splitlines():
            if line.startswith("rchar:"):
                return int(line.split()[1])
        raise AssertionError("no rchar")

    before = rchar()
    report = inspect_file(big, hashes=False)
    read = rchar() - before
    assert report.format is FileFormat.SAFETENSORS
    assert read < MIB, read


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.safetensors"
    path.write_bytes(b"")
    report = inspect_file(path)
    assert_invalid(report, "empty")
    assert report.size == 0
    assert report.hashes is not None  # the bytes (none) still have hashes


def test_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.ckpt"
    path.write_bytes(os.urandom(5000))
    report = inspect_file(path)
    assert_invalid(report, "not a model file")
    assert report.format is FileFormat.UNKNOWN
    assert report.hashes is not None and report.hashes.to_json() == reference_hashes(path)


def test_html_error_page_saved_as_model(tmp_path: Path) -> None:
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"<!DOCTYPE html><html><body>Please log in</body></html>\n" * 20)
    assert_invalid(inspect_file(path), "html")


@pytest.mark.parametrize("padding_mib", [0, 6], ids=["small-inline", "big-threaded"])
def test_truncated_safetensors_in_the_data(tmp_path: Path, padding_mib: int) -> None:
    good = write_sd1_lora(tmp_path / "good.safetensors", padding_mib=padding_mib)
    data = good.read_bytes()
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[: len(data) - 1000])
    report = inspect_file(path)
    assert_invalid(report)
    assert report.format is FileFormat.SAFETENSORS
    assert report.hashes is not None and report.hashes.autov3 is None


def test_truncated_safetensors_in_the_header(tmp_path: Path) -> None:
    data = write_sd1_lora(tmp_path / "good.safetensors").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    path = tmp_path / "cut.safetensors"
    path.write_bytes(data[: 8 + n // 2])
    assert_invalid(inspect_file(path), "truncated")


def test_truncated_torch_zip(tmp_path: Path) -> None:
    data = write_torch_embedding(tmp_path / "good.pt").read_bytes()
    path = tmp_path / "cut.pt"
    path.write_bytes(data[: len(data) // 2])
    report = inspect_file(path)
    assert_invalid(report)
    assert report.format is FileFormat.TORCH_ZIP


def test_pickle_named_safetensors_gets_a_warning(tmp_path: Path) -> None:
    path = write_torch_embedding(tmp_path / "liar.safetensors")
    report = inspect_file(path)
    assert report.format is FileFormat.TORCH_ZIP
    assert any(".safetensors" in w and "pickle" in w for w in report.classification.warnings)


def test_safetensors_named_ckpt_gets_a_warning(tmp_path: Path) -> None:
    path = write_sd1_lora(tmp_path / "liar.ckpt")
    report = inspect_file(path)
    assert report.format is FileFormat.SAFETENSORS
    assert report.hashes is not None and report.hashes.autov3 is not None
    assert any(".ckpt" in w and "safetensors" in w for w in report.classification.warnings)


def test_directory(tmp_path: Path) -> None:
    report = inspect_file(tmp_path)
    assert_invalid(report, "directory")
    assert report.hashes is None


def test_missing_file(tmp_path: Path) -> None:
    report = inspect_file(tmp_path / "nope.safetensors")
    assert_invalid(report, "no such file")
    assert report.hashes is None


def test_fifo_does_not_block(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    assert_invalid(inspect_file(fifo), "not a regular file")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_unreadable_file(tmp_path: Path) -> None:
    path = write_sd1_lora(tmp_path / "locked.safetensors")
    path.chmod(0)
    try:
        report = inspect_file(path)
    finally:
        path.chmod(0o644)
    assert_invalid(report, "permission denied")


def test_dangerous_pickle_is_reported_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = write_malicious_ckpt(tmp_path / "evil.ckpt", marker)
    report = inspect_file(path)
    assert not marker.exists()
    assert report.safety.verdict is Verdict.DANGEROUS
    assert any("system" in g for g in report.safety.globals), report.safety
    assert report.failed
    assert report.hashes is not None


def test_report_json_matches_the_cli_contract(tmp_path: Path) -> None:
    data = inspect_file(write_sd1_lora(tmp_path / "a.safetensors")).to_json()
    assert list(data) == [
        "path",
        "kind",
        "base",
        "format",
        "size",
        "hashes",
        "safety",
        "details",
        "warnings",
        "error",
    ]
    assert set(data["hashes"]) == {"sha256", "autov1", "autov2", "autov3", "crc32", "blake3"}
