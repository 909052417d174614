"""safetensors header reading: real files, every way a header can lie, bounded reads."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from sdhub.models.errors import InvalidFileError
from sdhub.models.kinds import FileFormat
from sdhub.models.safetensors_index import read_safetensors_index
from sdhub.models.writers import TensorData, write_safetensors


def _raw(path: Path, header: object, data: bytes = b"", *, pad: int = 0) -> Path:
    text = json.dumps(header).encode() + b" " * pad
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return path


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


def test_real_file_from_the_safetensors_library(tmp_path: Path) -> None:
    path = tmp_path / "lora.safetensors"
    tensors = {
        "lora_unet_down.lora_down.weight": torch.zeros(4, 320, dtype=torch.float16),
        "lora_unet_down.alpha": torch.tensor(4.0),
        "emb": torch.zeros(2, 768, dtype=torch.bfloat16),
        "ids": torch.zeros(3, dtype=torch.int64),
        "mask": torch.zeros(5, dtype=torch.bool),
        "f8": torch.zeros(7, dtype=torch.float8_e4m3fn),
    }
    save_file(tensors, path, metadata={"ss_network_dim": "4", "ss_base_model_version": "sd_v1"})

    index = read_safetensors_index(path)

    assert index.format is FileFormat.SAFETENSORS
    assert index.metadata == {"ss_network_dim": "4", "ss_base_model_version": "sd_v1"}
    assert index.shape("lora_unet_down.lora_down.weight") == (4, 320)
    assert index.shape("lora_unet_down.alpha") == ()
    assert {n: index.tensors[n].dtype for n in index.names()} == {
        "lora_unet_down.lora_down.weight": "F16",
        "lora_unet_down.alpha": "F32",
        "emb": "BF16",
        "ids": "I64",
        "mask": "BOOL",
        "f8": "F8_E4M3",
    }
    (n,) = struct.unpack("<Q", path.read_bytes()[:8])
    assert index.header_size == 8 + n
    assert index.warnings == []


def test_file_without_metadata_and_with_empty_tensor(tmp_path: Path) -> None:
    path = tmp_path / "e.safetensors"
    save_file({"empty": torch.zeros(0, 4), "w": torch.ones(2)}, path)
    index = read_safetensors_index(path)
    assert index.metadata == {}
    assert index.shape("empty") == (0, 4)


def test_space_padded_header_and_unknown_dtype(tmp_path: Path) -> None:
    header = {
        "a": {"dtype": "F16", "shape": [2], "data_offsets": [0, 4]},
        "b": {"dtype": "F6_E3M2", "shape": [3], "data_offsets": [4, 7]},
    }
    index = read_safetensors_index(_raw(tmp_path / "x.safetensors", header, bytes(7), pad=13))
    assert index.shape("b") == (3,)
    assert index.tensors["b"].dtype == "F6_E3M2"
    assert any("F6_E3M2" in w for w in index.warnings)
    assert index.header_size == 8 + len(json.dumps(header)) + 13


def test_metadata_values_that_are_not_strings_are_kept_as_json(tmp_path: Path) -> None:
    header = {
        "__metadata__": {"ss_network_dim": 16, "ss_v2": False, "name": "x", "args": {"a": 1}},
        "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
    }
    index = read_safetensors_index(_raw(tmp_path / "m.safetensors", header, bytes(4)))
    assert index.metadata == {
        "ss_network_dim": "16",
        "ss_v2": "false",
        "name": "x",
        "args": '{"a": 1}',
    }
    assert any("not strings" in w for w in index.warnings)


def test_gaps_and_trailing_bytes_are_warnings(tmp_path: Path) -> None:
    header = {"w": {"dtype": "U8", "shape": [2], "data_offsets": [2, 4]}}
    index = read_safetensors_index(_raw(tmp_path / "g.safetensors", header, bytes(10)))
    assert index.shape("w") == (2,)
    assert any("gap" in w for w in index.warnings)
    assert any("after the last tensor" in w for w in index.warnings)


@pytest.mark.parametrize(
    ("header", "data", "message"),
    [
        ([1, 2], b"", "not a JSON object"),
        ({"w": [1]}, b"", "not an object"),
        ({"w": {"shape": [1], "data_offsets": [0, 4]}}, bytes(4), "no dtype"),
        ({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, bytes(4), "shape"),
        ({"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}}, bytes(4), "data_offsets"),
        ({"w": {"dtype": "F32", "shape": [1]}}, bytes(4), "data_offsets"),
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, bytes(8), "needs 8 bytes"),
        ({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, bytes(4), "truncated"),
        (
            {
                "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]},
            },
            bytes(8),
            "overlaps",
        ),
    ],
)
def test_lying_headers_are_invalid(
    tmp_path: Path, header: object, data: bytes, message: str
) -> None:
    with pytest.raises(InvalidFileError, match=message):
        read_safetensors_index(_raw(tmp_path / "bad.safetensors", header, data))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "truncated"),
        (b"\x05\x00\x00", "truncated"),
        (struct.pack("<Q", 1000) + b"{}", "exceeds the file size"),
        (struct.pack("<Q", 4) + b"\xff\xfe{}", "not UTF-8"),
        (struct.pack("<Q", 4) + b"{{}}", "not valid JSON"),
        (struct.pack("<Q", 2**40) + b"{}", "exceeds the file size"),
    ],
)
def test_garbage_is_invalid(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "garbage.safetensors"
    path.write_bytes(content)
    with pytest.raises(InvalidFileError, match=message) as info:
        read_safetensors_index(path)
    assert "\n" not in str(info.value)


def test_header_over_100_mb_is_refused_without_reading_it(tmp_path: Path) -> None:
    path = tmp_path / "huge.safetensors"
    with path.open("wb") as fh:
        fh.write(struct.pack("<Q", 100_000_001) + b"{")
        fh.truncate(100_000_100)  # sparse
    before = _rchar()
    with pytest.raises(InvalidFileError, match="100 MB"):
        read_safetensors_index(path)
    assert _rchar() - before < 64 * 1024


def test_large_file_reads_only_the_header(tmp_path: Path) -> None:
    path = tmp_path / "big.safetensors"
    tensors = {f"t{i}": TensorData.zeros((1024, 1024), "F16") for i in range(100)}  # 200 MiB
    write_safetensors(path, tensors, {"k": "v"})
    assert path.stat().st_size > 200 * 2**20

    before = _rchar()
    index = read_safetensors_index(path)
    read = _rchar() - before

    assert len(index) == 100
    assert read < 2**20, f"read {read} bytes to index a {path.stat().st_size}-byte file"
