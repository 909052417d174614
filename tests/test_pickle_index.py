"""Tensor indexes of torch pickle files, built with real torch, read without unpickling."""

from __future__ import annotations

import argparse
import pickle
import pickletools
import random
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sdhub.models._pickle_vm import _HANDLERS, OPCODES, Machine, Source
from sdhub.models.errors import InvalidFileError
from sdhub.models.kinds import FileFormat
from sdhub.models.pickle_index import read_pickle_index
from sdhub.models.sniff import sniff_format
from sdhub.models.writers import TensorData, _write_torch_zip, write_torch_legacy, write_torch_zip
from support.pickles import (
    corrupt_central_crc,
    rename_local_header,
    tensor_pickle,
    torch_zip_bytes,
    torch_zip_with_pickle,
)

ZIP, LEGACY = FileFormat.TORCH_ZIP, FileFormat.TORCH_LEGACY


def _save(tmp_path: Path, obj: Any, fmt: FileFormat, name: str = "model.ckpt") -> Path:
    path = tmp_path / name
    torch.save(obj, path, _use_new_zipfile_serialization=fmt is ZIP)
    assert sniff_format(path) is fmt
    return path


def _rchar() -> int:
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("rchar:"):
            return int(line.split()[1])
    raise AssertionError("no rchar in /proc/self/io")


@pytest.fixture(params=[ZIP, LEGACY], ids=["zip", "legacy"])
def fmt(request: pytest.FixtureRequest) -> FileFormat:
    return request.param


def test_checkpoint_with_state_dict_nesting(tmp_path: Path, fmt: FileFormat) -> None:
    sd = OrderedDict(
        [
            ("model.diffusion_model.input_blocks.0.0.weight", torch.zeros(320, 4, 3, 3).half()),
            ("model.diffusion_model.input_blocks.0.0.bias", torch.zeros(320).half()),
            ("first_stage_model.decoder.conv_out.weight", torch.zeros(3, 128, 3, 3)),
            ("cond_stage_model.transformer.text_model.embeddings.position_ids", torch.arange(77)),
        ]
    )
    obj = {
        "state_dict": sd,
        "global_step": 470000,
        "epoch": 6,
        "pytorch-lightning_version": "1.4.2",
        "lr": 1e-4,
        "flag": None,
    }
    index = read_pickle_index(_save(tmp_path, obj, fmt), fmt)

    assert index.format is fmt
    assert index.shape("state_dict.model.diffusion_model.input_blocks.0.0.weight") == (320, 4, 3, 3)
    assert index.get("state_dict.model.diffusion_model.input_blocks.0.0.bias").dtype == "F16"
    assert index.get("state_dict.first_stage_model.decoder.conv_out.weight").dtype == "F32"
    pos = index.get("state_dict.cond_stage_model.transformer.text_model.embeddings.position_ids")
    assert (pos.shape, pos.dtype) == ((77,), "I64")
    assert index.values == {
        "global_step": 470000,
        "epoch": 6,
        "pytorch-lightning_version": "1.4.2",
        "lr": 1e-4,
        "flag": None,
    }
    assert index.metadata == {} and index.header_size is None and index.warnings == []


def test_every_classic_dtype_maps_to_safetensors_names(tmp_path: Path, fmt: FileFormat) -> None:
    dtypes = {
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
    }
    obj = {name: torch.zeros(2, 3, dtype=dt) for name, dt in dtypes.items()}
    index = read_pickle_index(_save(tmp_path, obj, fmt), fmt)
    assert {n: (t.dtype, t.shape) for n, t in index.tensors.items()} == {
        n: (n, (2, 3)) for n in dtypes
    }


def test_new_dtypes_use_untyped_storage_and_rebuild_v3(tmp_path: Path) -> None:
    obj = {
        "f8": torch.zeros(4, dtype=torch.float8_e4m3fn),
        "f8b": torch.zeros(4, 2, dtype=torch.float8_e5m2),
        "u16": torch.zeros(3, dtype=torch.uint16),
    }
    index = read_pickle_index(_save(tmp_path, obj, ZIP), ZIP)
    assert {n: (t.dtype, t.shape) for n, t in index.tensors.items()} == {
        "f8": ("F8_E4M3", (4,)),
        "f8b": ("F8_E5M2", (4, 2)),
        "u16": ("U16", (3,)),
    }


def test_a1111_embedding_plain_dict(tmp_path: Path, fmt: FileFormat) -> None:
    obj = {
        "string_to_token": {"*": 265},
        "string_to_param": {"*": torch.zeros(2, 768)},
        "name": "my-style",
        "step": 3000,
        "sd_checkpoint": "7460a6fa",
        "sd_checkpoint_name": "v1-5-pruned-emaonly",
    }
    index = read_pickle_index(_save(tmp_path, obj, fmt, "emb.pt"), fmt)
    assert index.names() == ["string_to_param.*"]
    assert index.shape("string_to_param.*") == (2, 768)
    assert index.values == {
        "string_to_token.*": 265,
        "name": "my-style",
        "step": 3000,
        "sd_checkpoint": "7460a6fa",
        "sd_checkpoint_name": "v1-5-pruned-emaonly",
    }


def test_a1111_embedding_with_parameter_dict(tmp_path: Path, fmt: FileFormat) -> None:
    params = torch.nn.ParameterDict({"*": torch.nn.Parameter(torch.zeros(8, 1024).half())})
    obj = {"string_to_token": {"*": 265}, "string_to_param": params, "name": "x", "step": 1}
    index = read_pickle_index(_save(tmp_path, obj, fmt, "emb.pt"), fmt)
    assert index.names() == ["string_to_param.*"]
    assert (index.get("string_to_param.*").shape, index.get("string_to_param.*").dtype) == (
        (8, 1024),
        "F16",
    )
    assert index.values["string_to_token.*"] == 265


def test_hypernetwork_keyed_by_int_widths(tmp_path: Path, fmt: FileFormat) -> None:
    def module(width: int) -> OrderedDict[str, torch.Tensor]:
        seq = torch.nn.Sequential(
            torch.nn.Linear(width, width * 2), torch.nn.Linear(width * 2, width)
        )
        return OrderedDict(("linear." + k, v) for k, v in seq.state_dict().items())

    obj: dict[Any, Any] = {width: (module(width), module(width)) for width in (320, 768)}
    obj |= {
        "step": 2000,
        "name": "hn",
        "layer_structure": [1, 2, 1],
        "activation_func": "linear",
        "is_layer_norm": False,
        "weight_initialization": "Normal",
        "use_dropout": False,
        "dropout_structure": [0, 0, 0],
        "activate_output": False,
        "last_layer_dropout": False,
        "sd_checkpoint": None,
        "sd_checkpoint_name": None,
    }
    index = read_pickle_index(_save(tmp_path, obj, fmt, "hn.pt"), fmt)
    assert index.shape("768.0.linear.0.weight") == (1536, 768)
    assert index.shape("768.1.linear.1.weight") == (768, 1536)
    assert index.shape("320.1.linear.0.bias") == (640,)
    assert len(index) == 16
    assert index.values["layer_structure"] == [1, 2, 1]
    assert index.values["dropout_structure"] == [0, 0, 0]
    assert index.values["activation_func"] == "linear"
    assert index.values["is_layer_norm"] is False


def test_bare_list_of_tensors(tmp_path: Path, fmt: FileFormat) -> None:
    obj = [torch.zeros(4, 768), torch.zeros(320, 4), torch.zeros(4, 320)]
    index = read_pickle_index(_save(tmp_path, obj, fmt, "lora.pt"), fmt)
    assert index.names() == ["0", "1", "2"]
    assert index.shape("1") == (320, 4)


def test_views_of_one_storage(tmp_path: Path, fmt: FileFormat) -> None:
    base = torch.zeros(10, 4)
    obj = {"all": base, "rows": base[2:5], "col": base[:, 1]}
    index = read_pickle_index(_save(tmp_path, obj, fmt), fmt)
    assert (index.shape("all"), index.shape("rows"), index.shape("col")) == ((10, 4), (3, 4), (10,))


def test_whole_module_pickled(tmp_path: Path, fmt: FileFormat) -> None:
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3),
        torch.nn.BatchNorm2d(8),
        torch.nn.Sequential(torch.nn.Linear(8, 2)),
    )
    index = read_pickle_index(_save(tmp_path, {"model": model}, fmt), fmt)
    assert index.shape("model.0.weight") == (8, 3, 3, 3)
    assert index.shape("model.1.running_mean") == (8,)
    assert index.shape("model.2.0.bias") == (2,)


def test_odd_objects_are_skipped_numpy_scalars_kept(tmp_path: Path, fmt: FileFormat) -> None:
    obj = {
        "args": argparse.Namespace(lr=0.1, name="run"),
        "rng": np.zeros(3, dtype=np.float32),
        "step": np.int64(1234),
        "loss": np.float32(0.5),
        "w": torch.zeros(2),
        "tags": {"a", "b"},
        "shape": torch.Size([2, 3]),
        "blob": b"\x00\x01",
    }
    index = read_pickle_index(_save(tmp_path, obj, fmt), fmt)
    assert index.names() == ["w"]
    assert index.values == {"step": 1234, "loss": 0.5, "tags": ["a", "b"], "shape": [2, 3]}


def test_any_archive_folder_name(tmp_path: Path) -> None:
    path = tmp_path / "x.ckpt"
    write_torch_zip(path, {"w": TensorData.zeros((3, 3))}, archive_name="not_archive")
    assert read_pickle_index(path, ZIP).shape("w") == (3, 3)


def test_zip64_entries(tmp_path: Path) -> None:
    path = tmp_path / "z64.ckpt"
    _write_torch_zip(path, {"w": TensorData.zeros((3, 3), "F32")}, force_zip64=True)
    assert read_pickle_index(path, ZIP).shape("w") == (3, 3)
    assert torch.load(path, weights_only=True)["w"].shape == (3, 3)


def test_zip_with_a_long_comment(tmp_path: Path) -> None:
    path = _save(tmp_path, {"w": torch.zeros(3)}, ZIP)
    data = path.read_bytes()
    assert data[-2:] == b"\x00\x00"  # torch writes no comment
    path.write_bytes(data[:-2] + (5000).to_bytes(2, "little") + b"c" * 5000)
    assert read_pickle_index(path, ZIP).shape("w") == (3,)


@pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor")
def test_tensors_of_unsupported_kinds_are_warned_about(tmp_path: Path) -> None:
    q = torch.quantize_per_tensor(torch.zeros(4), 0.1, 0, torch.quint8)
    index = read_pickle_index(_save(tmp_path, {"q": q, "w": torch.zeros(2)}, ZIP), ZIP)
    assert index.names() == ["w"]
    assert any("'q'" in w and "_rebuild_qtensor" in w for w in index.warnings)


def test_plain_pickle_is_indexed_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    path.write_bytes(pickle.dumps({"layer_structure": [1, 2, 1], "name": "x"}, protocol=2))
    index = read_pickle_index(path, LEGACY)
    assert index.values == {"layer_structure": [1, 2, 1], "name": "x"}
    assert any("plain pickle" in w for w in index.warnings)


# --- the machine against the real unpickler -------------------------------------------------


def test_every_pickle_opcode_is_known() -> None:
    known = {code: name for code, (name, _) in OPCODES.items()}
    assert known == {ord(op.code): op.name for op in pickletools.opcodes}
    assert set(_HANDLERS) | {"STOP"} == set(known.values())


@pytest.mark.parametrize("protocol", range(pickle.HIGHEST_PROTOCOL + 1))
def test_machine_builds_what_pickle_builds(protocol: int) -> None:
    shared = ["shared"]
    obj = {
        "ints": [0, 1, -1, 255, 256, 65535, 65536, 2**31, -(2**31) - 1, 2**100, -(2**70)],
        "floats": [0.5, -1e300, float("inf")],
        "text": ["", "ascii", "ünïcödé", "line\nbreak", "quote'\"", "x" * 300],
        "bytes": [b"", b"\x00\xff" * 10, b"x" * 300],
        "consts": [None, True, False],
        "tuples": [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
        "nested": {"a": {"b": [1, {"c": (2, 3)}]}, 5: "int key", (1, 2): "tuple key"},
        "sets": [{1, 2, 3}, frozenset({"x"}), set()],
        "memo": [shared, shared],
        "big": list(range(2500)),
        "od": OrderedDict(a=1, b=2),
    }
    data = pickle.dumps(obj, protocol=protocol)
    assert Machine().run(Source.from_bytes(data)) == pickle.loads(data)


def test_machine_never_imports(tmp_path: Path) -> None:
    data = b"cnot_a_module_at_all\nthing\n(tR."
    machine = Machine()
    result = machine.run(Source.from_bytes(data))
    assert machine.globals == ["not_a_module_at_all.thing"]
    assert type(result).__name__ == "Opaque"


# --- broken files ------------------------------------------------------------------------


def test_truncated_files_are_invalid(tmp_path: Path, fmt: FileFormat) -> None:
    obj = {"w": torch.zeros(64, 64), "b": torch.zeros(64)}
    data = _save(tmp_path, obj, fmt).read_bytes()
    cut = tmp_path / "cut.ckpt"
    for size in (0, 1, 10, 40, 200, len(data) // 2, len(data) - 30, len(data) - 1):
        cut.write_bytes(data[:size])
        with pytest.raises(InvalidFileError) as info:
            read_pickle_index(cut, fmt)
        assert "\n" not in str(info.value)


def test_legacy_truncated_in_storage_data(tmp_path: Path) -> None:
    data = _save(tmp_path, {"w": torch.zeros(256)}, LEGACY).read_bytes()
    cut = tmp_path / "cut.pt"
    cut.write_bytes(data[: len(data) - 100])
    with pytest.raises(InvalidFileError, match="truncated"):
        read_pickle_index(cut, LEGACY)


def test_bad_crc_on_data_pkl_is_invalid(tmp_path: Path) -> None:
    data = _save(tmp_path, {"w": torch.zeros(2)}, ZIP, "m.ckpt").read_bytes()
    path = tmp_path / "bad.ckpt"
    path.write_bytes(corrupt_central_crc(data, "m/data.pkl"))
    with pytest.raises(InvalidFileError, match="CRC"):
        read_pickle_index(path, ZIP)


def test_local_header_disagreeing_with_directory_is_invalid(tmp_path: Path) -> None:
    data = _save(tmp_path, {"w": torch.zeros(2)}, ZIP, "m.ckpt").read_bytes()
    path = tmp_path / "bad.ckpt"
    path.write_bytes(rename_local_header(data, "m/data.pkl", "m/data.pkX"))
    with pytest.raises(InvalidFileError, match="local header"):
        read_pickle_index(path, ZIP)


def test_missing_or_short_storage_is_invalid(tmp_path: Path) -> None:
    tensor = tensor_pickle(None, "FloatStorage", 4)
    path = tmp_path / "m.ckpt"
    path.write_bytes(torch_zip_with_pickle(tensor))
    with pytest.raises(InvalidFileError, match="missing from the archive"):
        read_pickle_index(path, ZIP)
    path.write_bytes(torch_zip_with_pickle(tensor, {"data/0": bytes(8)}))
    with pytest.raises(InvalidFileError, match="needs 16 bytes"):
        read_pickle_index(path, ZIP)
    path.write_bytes(torch_zip_with_pickle(tensor, {"data/0": bytes(16)}))
    assert read_pickle_index(path, ZIP).shape("") == (4,)


@pytest.mark.parametrize(
    "content",
    [
        b"PK\x05\x06" + bytes(18),  # empty zip
        torch_zip_bytes({"x": b"1"}, archive="a")[:-22] + b"garbage",
        b"\x80\x02garbage",
        b"\x80\x02\x8a\x0a" + bytes(10) + b".",  # plain pickle of a number
    ],
)
def test_garbage_never_crashes(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "g.ckpt"
    path.write_bytes(content)
    for fmt in (ZIP, LEGACY):
        try:
            read_pickle_index(path, fmt)
        except InvalidFileError as exc:
            assert "\n" not in str(exc)


def test_random_corruption_never_crashes(tmp_path: Path, fmt: FileFormat) -> None:
    obj = {
        "state_dict": {"a.weight": torch.zeros(4, 4), "a.bias": torch.zeros(4).half()},
        "p": torch.nn.ParameterDict({"*": torch.nn.Parameter(torch.zeros(2, 3))}),
        "names": ["x", "y"],
    }
    data = _save(tmp_path, obj, fmt).read_bytes()
    rng = random.Random(1234)
    path = tmp_path / "mutant.ckpt"
    for _ in range(150):
        mutant = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            mutant[rng.randrange(len(mutant))] = rng.randrange(256)
        path.write_bytes(bytes(mutant))
        try:
            read_pickle_index(path, fmt)
        except InvalidFileError as exc:
            assert "\n" not in str(exc)


def test_hostile_shapes_neither_crash_nor_hang(tmp_path: Path) -> None:
    path = tmp_path / "hostile.pt"
    # A dict key of 300,000 nested tuples: CPython's tuple hash would overflow the C stack.
    path.write_bytes(b"\x80\x02})" + b"\x85" * 300_000 + b"K\x01s.")
    assert read_pickle_index(path, LEGACY).values == {"<unhashable>": 1}
    # "Billion laughs": 2**40 leaves from 40 doublings of one shared tuple.
    path.write_bytes(b"\x80\x02K\x01" + b"2\x86" * 40 + b".")
    index = read_pickle_index(path, LEGACY)
    assert any("shared more than" in w for w in index.warnings)
    assert len(index.values) < 10_000


# --- bounded reads --------------------------------------------------------------------------------


@pytest.mark.parametrize("writer", [write_torch_zip, write_torch_legacy], ids=["zip", "legacy"])
def test_large_file_index_reads_little(tmp_path: Path, writer: Any) -> None:
    path = tmp_path / "big.ckpt"
    tensors = {f"model.diffusion_model.t{i}": TensorData.zeros((1024, 1024)) for i in range(100)}
    writer(path, {"state_dict": tensors, "global_step": 1})
    size = path.stat().st_size
    assert size > 200 * 2**20

    before = _rchar()
    index = read_pickle_index(path, sniff_format(path))
    read = _rchar() - before

    assert len(index) == 100
    assert read < 2**20, f"read {read} bytes to index a {size}-byte file"
