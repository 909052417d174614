"""The pure-Python writers make files the real libraries load, with the bytes given."""

from __future__ import annotations

import statistics
import struct
import zipfile
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file
from sdhub.models._zip import crc32_of_zeros
from sdhub.models.writers import (
    Parameter,
    ParameterDict,
    TensorData,
    write_safetensors,
    write_torch_legacy,
    write_torch_zip,
)

TORCH = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U8": torch.uint8,
    "BOOL": torch.bool,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
    "U16": torch.uint16,
    "U32": torch.uint32,
    "U64": torch.uint64,
    "C64": torch.complex64,
}
CLASSIC = ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "C64"]


def _bytes(t: torch.Tensor) -> bytes:
    return bytes(t.contiguous().untyped_storage())[: t.numel() * t.element_size()]


def _tensors(dtypes: list[str]) -> dict[str, TensorData]:
    tensors = {f"t_{d}": TensorData.random((3, 5), d, seed=i) for i, d in enumerate(dtypes)}
    tensors["zeros"] = TensorData.zeros((2, 2), "F32")
    tensors["scalar"] = TensorData.from_values((), [1.5], "F32")
    tensors["empty"] = TensorData.zeros((0, 4), "F16")
    return tensors


def _check(loaded: torch.Tensor, expected: TensorData) -> None:
    assert loaded.dtype == TORCH[expected.dtype]
    assert tuple(loaded.shape) == expected.shape
    assert _bytes(loaded) == (expected.data or bytes(expected.nbytes))


def test_safetensors_load_with_the_real_library(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    tensors = _tensors(list(TORCH))
    write_safetensors(path, tensors, {"ss_network_dim": "8", "modelspec.title": "ünï"})
    with safe_open(path, "pt") as fh:
        assert fh.metadata() == {"ss_network_dim": "8", "modelspec.title": "ünï"}
        assert set(fh.keys()) == set(tensors)
        for name, expected in tensors.items():
            _check(fh.get_tensor(name), expected)
    assert not list(tmp_path.glob("*.tmp"))


def test_safetensors_bytes_match_the_real_library(tmp_path: Path) -> None:
    tensors = _tensors(["F32", "F16", "BF16", "I64", "U8", "BOOL", "F8_E5M2"])
    ours, theirs = tmp_path / "ours.safetensors", tmp_path / "theirs.safetensors"
    write_safetensors(ours, tensors, {"format": "pt"})
    real = {
        n: torch.frombuffer(bytearray(t.data or bytes(t.nbytes)), dtype=TORCH[t.dtype])
        .reshape(t.shape)
        .clone()
        if t.nbytes
        else torch.zeros(t.shape, dtype=TORCH[t.dtype])
        for n, t in tensors.items()
    }
    save_file(real, theirs, {"format": "pt"})
    assert ours.read_bytes() == theirs.read_bytes()
    header_len = int.from_bytes(ours.read_bytes()[:8], "little")
    assert header_len % 8 == 0


@pytest.mark.parametrize("writer", [write_torch_zip, write_torch_legacy], ids=["zip", "legacy"])
def test_torch_files_load_with_weights_only(tmp_path: Path, writer: Any) -> None:
    dtypes = list(TORCH) if writer is write_torch_zip else CLASSIC
    tensors = _tensors(dtypes)
    obj = {
        "state_dict": OrderedDict(tensors),
        320: (OrderedDict({"linear.0.weight": tensors["t_F32"]}), {}),
        "layer_structure": [1, 2, 1],
        "name": "ünïcode",
        "step": 2**40,
        "neg": -5,
        "lr": 0.5,
        "flags": (True, False, None),
        "tags": {"a", "b"},
        "blob": b"\x00\xff",
        "param": Parameter(TensorData.random((4,), "F32", seed=9)),
        "frozen": Parameter(TensorData.zeros((2,), "F16"), requires_grad=False),
    }
    path = tmp_path / "x.ckpt"
    writer(path, obj)

    loaded = torch.load(path, weights_only=True)

    assert isinstance(loaded["state_dict"], OrderedDict)
    for name, expected in tensors.items():
        _check(loaded["state_dict"][name], expected)
    assert loaded[320][0]["linear.0.weight"].shape == (3, 5)
    assert {k: loaded[k] for k in ("layer_structure", "name", "step", "neg", "lr")} == {
        "layer_structure": [1, 2, 1],
        "name": "ünïcode",
        "step": 2**40,
        "neg": -5,
        "lr": 0.5,
    }
    assert loaded["flags"] == (True, False, None)
    assert loaded["tags"] == {"a", "b"}
    assert loaded["blob"] == b"\x00\xff"
    assert isinstance(loaded["param"], torch.nn.Parameter) and loaded["param"].requires_grad
    _check(loaded["param"].data, obj["param"].tensor)
    assert loaded["frozen"].requires_grad is False


@pytest.mark.parametrize("writer", [write_torch_zip, write_torch_legacy], ids=["zip", "legacy"])
def test_parameter_dict_embedding(tmp_path: Path, writer: Any) -> None:
    vec = TensorData.random((2, 768), "F32", seed=3)
    obj = {
        "string_to_token": {"*": 265},
        "string_to_param": ParameterDict({"*": vec}),
        "name": "emb",
        "step": 10,
    }
    path = tmp_path / "emb.pt"
    writer(path, obj)
    with pytest.raises(Exception, match="ParameterDict"):
        torch.load(path, weights_only=True)
    with torch.serialization.safe_globals([torch.nn.ParameterDict]):
        loaded = torch.load(path, weights_only=True)
    params = loaded["string_to_param"]
    assert isinstance(params, torch.nn.ParameterDict)
    assert list(params.keys()) == ["*"]
    _check(params["*"].data, vec)


def test_same_tensor_twice_shares_one_storage(tmp_path: Path) -> None:
    shared = TensorData.random((4,), "F16", seed=1)
    path = tmp_path / "x.pt"
    write_torch_zip(path, {"a": shared, "b": shared})
    names = zipfile.ZipFile(path).namelist()
    assert [n for n in names if "/data/" in n] == ["archive/data/0"]
    loaded = torch.load(path, weights_only=True)
    assert loaded["a"].untyped_storage().data_ptr() == loaded["b"].untyped_storage().data_ptr()


def test_zip_layout_is_torch_like(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    write_torch_zip(path, {"a": TensorData.random((3,), "F16"), "b": TensorData.zeros((100,))})
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as zf:
        assert zf.testzip() is None  # every CRC right
        assert zf.namelist() == [
            "archive/data.pkl",
            "archive/byteorder",
            "archive/data/0",
            "archive/data/1",
            "archive/version",
        ]
        assert zf.read("archive/version") == b"3\n"
        assert zf.read("archive/byteorder") == b"little"
        for info in zf.infolist():
            assert info.compress_type == zipfile.ZIP_STORED
            at = info.header_offset
            name_len, extra_len = struct.unpack_from("<HH", raw, at + 26)
            assert (at + 30 + name_len + extra_len) % 64 == 0, info.filename


def test_writes_are_deterministic_and_atomic(tmp_path: Path) -> None:
    obj = {"w": TensorData.random((8, 8), "BF16", seed=5), "n": 1}
    a, b = tmp_path / "a.pt", tmp_path / "b.pt"
    write_torch_zip(a, obj)
    write_torch_zip(b, obj)
    assert a.read_bytes() == b.read_bytes()

    a.write_bytes(b"old")
    write_torch_legacy(a, obj)
    assert torch.load(a, weights_only=True)["n"] == 1

    with pytest.raises(TypeError, match="object"):
        write_torch_zip(b, {"bad": object()})
    assert torch.load(b, weights_only=True)["n"] == 1  # untouched
    target = tmp_path / "dir.pt"
    target.mkdir()
    with pytest.raises(OSError):
        write_safetensors(target, {"w": TensorData.zeros((1,))})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pt", "b.pt", "dir.pt"]


def test_tensor_data_helpers() -> None:
    a = TensorData.random((64, 64), "F32", seed=7, scale=0.5)
    assert a == TensorData.random((64, 64), "F32", seed=7, scale=0.5)
    assert a.data != TensorData.random((64, 64), "F32", seed=8, scale=0.5).data
    values = a.values()
    assert abs(statistics.pstdev(values) - 0.5) < 0.05
    assert abs(statistics.fmean(values)) < 0.05
    bf = TensorData.from_values((3,), [1.0, -2.5, 0.15625], "BF16")
    assert bf.values() == [1.0, -2.5, 0.15625]
    assert TensorData.zeros((2, 3), "I32").values() == [0] * 6
    assert TensorData([2, 3]).shape == (2, 3)  # lists become tuples
    ints = TensorData.random((100,), "U8", seed=1).values()
    assert all(0 <= v <= 255 for v in ints)
    with pytest.raises(ValueError, match="unknown dtype"):
        TensorData((2,), "F12")
    with pytest.raises(ValueError, match="8 needed"):
        TensorData((2,), "F32", b"\x00")
    with pytest.raises(ValueError, match="non-negative"):
        TensorData((-1,))


@pytest.mark.parametrize("size", [0, 1, 7, 64, 1000, 2**20 + 3])
def test_crc_of_zeros_matches_zlib(size: int) -> None:
    assert crc32_of_zeros(size) == zlib.crc32(bytes(size))


def test_legacy_refuses_new_dtypes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="legacy"):
        write_torch_legacy(tmp_path / "x.pt", {"w": TensorData.zeros((2,), "F8_E4M3")})
    assert not list(tmp_path.iterdir())


def test_safetensors_refuses_bad_metadata(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="str to str"):
        write_safetensors(tmp_path / "x.safetensors", {}, {"dim": 8})  # type: ignore[dict-item]
