"""The six hashes match what Civitai and A1111 compute, however the bytes arrive."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import struct
from pathlib import Path

import pytest
from sdhub.models import hashing
from sdhub.models.hashing import (
    CHUNK_SIZE,
    RING_SIZE,
    MultiHasher,
    hash_file,
    safetensors_payload_offset,
)
from support.inspect_samples import reference_hashes, write_sd1_lora, write_torch_embedding

MIB = 1 << 20
EMPTY_SHA256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"


@pytest.fixture(autouse=True, params=["sha-ni-pair", "hashlib"])
def sha_engine(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test runs with the C SHA-NI pair (where this CPU and build have it) and hashlib."""
    if request.param == "hashlib":
        monkeypatch.setattr(hashing, "_ACCEL", None)
    elif not hashing.sha_ni_accelerated():
        pytest.skip("the _sha256x2 module is not built or this CPU has no SHA-NI")
    return request.param


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def fake_safetensors(payload: bytes, header_pad: int = 0) -> bytes:
    """Bytes laid out like safetensors: length, JSON header (maybe padded), payload."""
    header = json.dumps(
        {"x": {"dtype": "U8", "shape": [len(payload)], "data_offsets": [0, len(payload)]}}
    )
    raw = header.encode() + b" " * header_pad
    return struct.pack("<Q", len(raw)) + raw + payload


@pytest.mark.parametrize(
    "size",
    [
        pytest.param(0, id="empty"),
        pytest.param(1000, id="under-1MiB"),
        pytest.param(MIB + 100, id="window-cut-short"),
        pytest.param(MIB + 0x10000, id="exactly-1MiB+64KiB"),
        pytest.param(3 * MIB + 5, id="window-inside"),
    ],
)
def test_plain_files_match_reference(tmp_path: Path, size: int) -> None:
    path = write(tmp_path / "blob.bin", os.urandom(size))
    hashes = hash_file(path)
    assert hashes.to_json() == reference_hashes(path)
    assert hashes.autov3 is None


def test_empty_and_short_files_have_the_empty_autov1(tmp_path: Path) -> None:
    # A1111 seeks to 1 MiB and reads nothing: the SHA-256 of no bytes.
    assert hash_file(write(tmp_path / "e", b"")).sha256 == EMPTY_SHA256
    assert hash_file(write(tmp_path / "s", os.urandom(MIB))).autov1 == EMPTY_SHA256[:8]


def test_shapes_are_civitai_style(tmp_path: Path) -> None:
    hashes = hash_file(write_sd1_lora(tmp_path / "style.safetensors"))
    for value, length in [
        (hashes.sha256, 64),
        (hashes.autov1, 8),
        (hashes.autov2, 10),
        (hashes.autov3, 12),
        (hashes.crc32, 8),
        (hashes.blake3, 64),
    ]:
        assert value is not None and len(value) == length
        assert value == value.upper() and int(value, 16) >= 0
    assert hashes.autov2 == hashes.sha256[:10]


def test_real_safetensors_autov3_is_the_payload_hash(tmp_path: Path) -> None:
    path = write_sd1_lora(tmp_path / "style.safetensors", padding_mib=1.5)
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    manual = hashlib.sha256(data[8 + n :]).hexdigest().upper()[:12]
    hashes = hash_file(path)
    assert hashes.autov3 == manual
    assert hashes.to_json() == reference_hashes(path)
    # The inspector passes the reader's header size; it must agree with detection.
    assert hash_file(path, payload_offset=8 + n) == hashes


def test_torch_zip_has_no_autov3(tmp_path: Path) -> None:
    path = write_torch_embedding(tmp_path / "emb.pt")
    hashes = hash_file(path)
    assert hashes.autov3 is None
    assert hashes.to_json() == reference_hashes(path)


def test_big_file_through_the_thread_ring(tmp_path: Path) -> None:
    # More buffers than the ring holds: workers start and buffers get reused.
    payload = os.urandom(CHUNK_SIZE * (RING_SIZE + 2) + 12345)
    path = write(tmp_path / "big.safetensors", fake_safetensors(payload, header_pad=3))
    assert hash_file(path).to_json() == reference_hashes(path)


def test_incremental_pieces_of_any_size_equal_hash_file(tmp_path: Path) -> None:
    payload = os.urandom(3 * MIB + 777)
    data = fake_safetensors(payload, header_pad=5)
    path = write(tmp_path / "model.safetensors", data)
    expected = hash_file(path)
    rng = random.Random(7)
    # Small buffers and a short ring so the pieces cross buffer edges and reuse slots.
    for chunk_size, ring_size in [(64 * 1024, 2), (1000, 3), (CHUNK_SIZE, RING_SIZE)]:
        hasher = MultiHasher(chunk_size=chunk_size, ring_size=ring_size)
        pos = 0
        # The header arrives split (1 then 7 then 3 bytes) as a network stream might.
        for size in [1, 7, 3]:
            hasher.update(data[pos : pos + size])
            pos += size
        while pos < len(data):
            size = rng.choice([1, 13, 4095, 65536, 65537, 300_000, 2 * MIB])
            piece = bytearray(data[pos : pos + size])
            hasher.update(piece)
            piece[:] = b"\0" * len(piece)  # the caller reuses its buffer at once
            pos += size
        assert hasher.hexdigests() == expected, (chunk_size, ring_size)


def test_payload_starts_anywhere_relative_to_blocks_and_buffers() -> None:
    # AutoV3's stream starts at 8 + N: any residue mod 64, before, at or across a
    # buffer edge; buffers of odd sizes leave partial blocks in both streams.
    rng = random.Random(11)
    data = os.urandom(70_000)
    for start in [*range(10, 140), 999, 1000, 1001, 4095, 4096, 4097, 65_535, 69_999, 70_000]:
        chunk = rng.choice([64, 100, 1000, 4096, 7777])
        hasher = MultiHasher(payload_offset=start, chunk_size=chunk, ring_size=2)
        pos = 0
        while pos < len(data):
            step = rng.choice([1, 63, 64, 65, 500, 5000])
            hasher.update(data[pos : pos + step])
            pos += step
        got = hasher.hexdigests()
        assert got.sha256 == hashlib.sha256(data).hexdigest().upper()
        assert got.autov3 == hashlib.sha256(data[start:]).hexdigest().upper()[:12], start


def test_feed_from_a_reader_with_short_reads(tmp_path: Path) -> None:
    data = os.urandom(2 * MIB + 3)
    path = write(tmp_path / "x.bin", data)
    stream = io.BytesIO(data)

    def stingy_readinto(buf: memoryview) -> int:
        return stream.readinto(buf[: random.randint(1, 200_000)])

    hasher = MultiHasher(chunk_size=256 * 1024, ring_size=2)
    seen = bytearray()
    while view := hasher.feed_from(stingy_readinto):
        seen += view  # a download writes these same bytes to disk
    assert bytes(seen) == data
    assert hasher.hexdigests() == hash_file(path)
    assert hasher.bytes_hashed == len(data)


def test_update_and_feed_from_mix(tmp_path: Path) -> None:
    data = os.urandom(MIB + 99)
    path = write(tmp_path / "x.bin", data)
    stream = io.BytesIO(data[5000:])
    hasher = MultiHasher(chunk_size=128 * 1024, ring_size=2)
    hasher.update(data[:5000])
    while hasher.feed_from(stream.readinto):
        pass
    assert hasher.hexdigests() == hash_file(path)


def test_explicit_payload_offset_overrides_detection(tmp_path: Path) -> None:
    data = fake_safetensors(os.urandom(5000))
    hasher = MultiHasher(payload_offset=None)
    hasher.update(data)
    assert hasher.hexdigests().autov3 is None
    hasher = MultiHasher(payload_offset=100)
    hasher.update(data)
    assert hasher.hexdigests().autov3 == hashlib.sha256(data[100:]).hexdigest().upper()[:12]


@pytest.mark.parametrize(
    ("head", "size", "expected"),
    [
        (struct.pack("<Q", 10) + b"{", 100, 18),
        (struct.pack("<Q", 10) + b"[", 100, None),  # not a JSON object
        (struct.pack("<Q", 1) + b"{", 100, None),  # too short to be a header
        (struct.pack("<Q", 200_000_000) + b"{", None, None),  # over safetensors' 100 MB limit
        (struct.pack("<Q", 500) + b"{", 100, None),  # longer than the file
        (b"PK\x03\x04" + b"\0" * 5, 100, None),
        (b"\x00" * 3, None, None),
    ],
)
def test_safetensors_detection_from_first_bytes(
    head: bytes, size: int | None, expected: int | None
) -> None:
    assert safetensors_payload_offset(head, size) == expected


def test_header_longer_than_the_stream_gives_no_autov3() -> None:
    hasher = MultiHasher()
    hasher.update(struct.pack("<Q", 5000) + b"{" + b" " * 100)  # truncated download
    assert hasher.hexdigests().autov3 is None


def test_finished_and_closed_hashers_refuse_more_bytes() -> None:
    hasher = MultiHasher(chunk_size=1024, ring_size=2)
    hasher.update(os.urandom(10_000))
    first = hasher.hexdigests()
    assert hasher.hexdigests() == first  # asking twice is fine
    with pytest.raises(ValueError):
        hasher.update(b"more")
    abandoned = MultiHasher(chunk_size=1024, ring_size=2)
    abandoned.update(os.urandom(10_000))  # workers running
    abandoned.close()  # an aborted download: returns, no thread left waiting
    with pytest.raises(ValueError):
        abandoned.hexdigests()


def test_context_manager_stops_workers() -> None:
    import threading

    before = {t for t in threading.enumerate() if t.name == "sdhub-hash"}
    with MultiHasher(chunk_size=1024, ring_size=2) as hasher:
        hasher.update(os.urandom(50_000))
    after = {t for t in threading.enumerate() if t.name == "sdhub-hash"}
    assert after <= before


def test_unreadable_path_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        hash_file(tmp_path / "missing.safetensors")
    with pytest.raises(IsADirectoryError):
        hash_file(tmp_path)
