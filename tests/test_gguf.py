"""GGUF files (ComfyUI-GGUF and Forge quantized UNets, T5 encoders): header, kind, base, safety.

Files are written by tests/support/gguf_writer.py, from the format spec, with
the tensor names real converters write (city96's ComfyUI-GGUF ``convert.py``
keeps the model's own names; llama.cpp names T5 ``enc.blk.N.…``). Tensor data
is a hole, so real widths cost no disk.
"""

from __future__ import annotations

import struct
from math import prod
from pathlib import Path

import pytest
from sdhub.models.gguf_index import read_gguf_index
from sdhub.models.inspect import inspect_file
from sdhub.models.kinds import Base, Component, FileFormat, Kind, Verdict
from sdhub.models.layouts import MODEL_SUFFIXES, Layout, kind_of_folder, slot_for
from sdhub.models.sniff import sniff_format
from support.cli import json_lines, run_sdhub
from support.gguf_writer import Typed, gstr, header, write_gguf
from support.inspect_samples import reference_hashes

COMFY_FLUX_KV = {
    "general.architecture": "flux",
    "general.quantization_version": 2,
    "general.file_type": 7,
}


def flux_tensors(quant: str = "Q8_0", *, guidance: bool = True) -> list:
    """A Flux transformer as city96's converter writes it: real names, real entry width."""
    tensors = [
        ("img_in.weight", (3072, 64), quant),
        ("img_in.bias", (3072,), "F32"),
        ("time_in.in_layer.weight", (3072, 256), quant),
        ("double_blocks.0.img_attn.qkv.weight", (9216, 3072), quant),
        ("double_blocks.0.img_attn.norm.key_norm.scale", (128,), "F32"),
        ("double_blocks.0.txt_mlp.0.weight", (12288, 3072), quant),
        ("single_blocks.0.linear1.weight", (21504, 3072), quant),
        ("single_blocks.0.norm.query_norm.scale", (128,), "F32"),
        ("final_layer.linear.weight", (64, 3072), quant),
    ]
    if guidance:
        tensors.append(("guidance_in.in_layer.weight", (3072, 256), quant))
    return tensors


def sd35_large_tensors() -> list:
    # Hidden width 2432 fills no K-quant block of 256: city96's SD3.5 files use Q4_0…Q8_0.
    tensors = [
        ("x_embedder.proj.weight", (2432, 16, 2, 2), "F16"),  # rows of 2: never quantized
        ("x_embedder.proj.bias", (2432,), "F32"),
        ("pos_embed", (1, 36864, 2432), "F16"),
        ("final_layer.linear.weight", (64, 2432), "F16"),
    ]
    for i in range(4):  # of 38
        block = f"joint_blocks.{i}."
        tensors += [
            (block + "x_block.attn.qkv.weight", (7296, 2432), "Q4_0"),
            (block + "context_block.attn.qkv.weight", (7296, 2432), "Q4_0"),
            (block + "x_block.mlp.fc1.weight", (9728, 2432), "Q4_0"),
            (block + "x_block.mlp.fc2.weight", (2432, 9728), "Q8_0"),
        ]
    return tensors


SDXL_UNET = [
    ("input_blocks.0.0.weight", (320, 4, 3, 3)),
    ("input_blocks.0.0.bias", (320,)),
    ("time_embed.0.weight", (1280, 320)),
    ("label_emb.0.0.weight", (1280, 2816)),
    ("input_blocks.4.1.proj_in.weight", (640, 640)),
    ("input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight", (640, 2048)),
    ("input_blocks.4.1.transformer_blocks.1.attn2.to_k.weight", (640, 2048)),
    ("middle_block.1.transformer_blocks.0.attn1.to_q.weight", (1280, 1280)),
    ("output_blocks.0.0.in_layers.2.weight", (1280, 2560, 3, 3)),
    ("out.2.weight", (4, 320, 3, 3)),
]


def comfy_gguf_unet(unet: list, quant: str) -> tuple[dict, list]:
    """(key/values, tensors) as ComfyUI-GGUF's convert.py + llama-quantize store an SD UNet.

    UNets get ``shape_fix``: a tensor whose last dim fills no 256-block is stored
    flattened to rows of 256 (so K-quants apply), its real shape kept in a key.
    """
    kv: dict = {"general.architecture": "sdxl", "general.quantization_version": 2}
    tensors = []
    for name, shape in unet:
        n = prod(shape)
        if len(shape) == 1:
            tensors.append((name, shape, "F32"))
            continue
        if n >= 512 and n % 256 == 0 and shape[-1] % 256:
            kv[f"comfy.gguf.orig_shape.{name}"] = Typed("ARR", list(shape), "I32")
            shape = (n // 256, 256)
        tensors.append((name, shape, quant if shape[-1] % 256 == 0 else "F16"))
    return kv, tensors


def t5_llama_cpp_tensors(vocab: int = 32128) -> list:
    tensors = [("token_embd.weight", (vocab, 4096), "Q8_0")]
    for i in range(2):
        blk = f"enc.blk.{i}."
        tensors += [
            (blk + "attn_q.weight", (4096, 4096), "Q8_0"),
            (blk + "attn_k.weight", (4096, 4096), "Q8_0"),
            (blk + "attn_v.weight", (4096, 4096), "Q8_0"),
            (blk + "attn_o.weight", (4096, 4096), "Q8_0"),
            (blk + "attn_norm.weight", (4096,), "F32"),
            (blk + "ffn_gate.weight", (10240, 4096), "Q8_0"),
            (blk + "ffn_up.weight", (10240, 4096), "Q8_0"),
            (blk + "ffn_down.weight", (4096, 10240), "Q8_0"),
            (blk + "ffn_norm.weight", (4096,), "F32"),
        ]
    tensors.insert(5, ("enc.blk.0.attn_rel_b.weight", (64, 32), "F16"))
    tensors.append(("enc.output_norm.weight", (4096,), "F32"))
    return tensors


def t5_hf_tensors() -> list:
    return [
        ("shared.weight", (32128, 4096), "Q8_0"),
        ("encoder.block.0.layer.0.SelfAttention.q.weight", (4096, 4096), "Q8_0"),
        ("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight", (32, 64), "F16"),
        ("encoder.block.1.layer.1.DenseReluDense.wi_0.weight", (10240, 4096), "Q8_0"),
        ("encoder.final_layer_norm.weight", (4096,), "F32"),
    ]


def t5_vocab_kv(vocab: int = 32128) -> dict:
    """llama.cpp-converted T5 encoders carry the whole sentencepiece vocabulary."""
    return {
        "general.architecture": "t5encoder",
        "general.name": "T5 v1.1 XXL encoder",
        "t5encoder.context_length": 512,
        "t5encoder.embedding_length": 4096,
        "tokenizer.ggml.model": "t5",
        "tokenizer.ggml.tokens": Typed("ARR", [f"▁tok{i}" for i in range(vocab)], "STR"),
        "tokenizer.ggml.scores": Typed("ARR", [-float(i) for i in range(vocab)], "F32"),
        "tokenizer.ggml.token_type": Typed("ARR", [1] * vocab, "I32"),
        "tokenizer.ggml.add_eos_token": True,
    }


# --- kind, base and details through inspect_file ----------------------------------------


def test_flux_unet_gguf_is_a_flux_diffusion_model_with_its_quant_type(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "flux1-dev-Q8_0.gguf", COMFY_FLUX_KV, flux_tensors())
    report = inspect_file(path, hashes=False)
    assert report.format is FileFormat.GGUF
    assert (report.kind, report.base) == (Kind.OTHER, Base.FLUX), report.classification
    assert report.classification.component is Component.DIFFUSION_MODEL
    details = report.classification.details
    assert details["precision"] == "Q8_0"
    assert (details["hidden_size"], details["flux_variant"], details["variant"]) == (
        3072,
        "dev",
        "normal",
    )
    assert details["hints"]["architecture"] == "flux"
    assert report.safety.verdict is Verdict.SAFE
    assert report.classification.warnings == []


def test_schnell_q4_k_is_told_from_dev_and_the_dominant_quant_type_named(tmp_path: Path) -> None:
    tensors = flux_tensors("Q4_K", guidance=False)
    tensors[0] = ("img_in.weight", (3072, 64), "F16")  # rows of 64: no whole Q4_K block
    tensors[3] = ("double_blocks.0.img_attn.qkv.weight", (9216, 3072), "Q6_K")  # Q4_K_M-style mix
    path = write_gguf(tmp_path / "flux1-schnell-Q4_K_M.gguf", COMFY_FLUX_KV, tensors)
    details = inspect_file(path, hashes=False).classification.details
    assert (details["flux_variant"], details["precision"]) == ("schnell", "Q4_K")


def test_sd35_large_gguf_is_sd3(tmp_path: Path) -> None:
    kv = {"general.architecture": "sd3", "general.file_type": 15}
    path = write_gguf(tmp_path / "sd3.5_large-Q4_0.gguf", kv, sd35_large_tensors())
    report = inspect_file(path, hashes=False)
    assert (report.kind, report.base) == (Kind.OTHER, Base.SD3), report.classification
    details = report.classification.details
    assert details["sd3_variant"] == "3.5-large"
    # the 4-D patch embedding keeps its torch shape (GGUF stores dims fastest-first)
    assert details["in_channels"] == 16
    assert details["precision"] == "Q4_0"


def test_sdxl_unet_gguf_is_sdxl_with_its_flattened_shapes_restored(tmp_path: Path) -> None:
    kv, tensors = comfy_gguf_unet(SDXL_UNET, "Q4_K")
    kv["general.name"] = "juggernautXL v9"
    path = write_gguf(tmp_path / "juggernautXL-Q4_K_S.gguf", kv, tensors)
    report = inspect_file(path, hashes=False)
    assert (report.kind, report.base) == (Kind.OTHER, Base.SDXL), report.classification
    assert report.classification.component is Component.DIFFUSION_MODEL
    details = report.classification.details
    # input_blocks.0.0.weight is stored as [45, 256]: only its orig_shape key tells C = 4
    assert (details["context_dim"], details["in_channels"], details["variant"]) == (
        2048,
        4,
        "normal",
    )
    assert details["precision"] == "Q4_K"
    assert details["hints"]["title"] == "juggernautXL v9"
    assert report.classification.warnings == []


@pytest.mark.parametrize(
    ("tensors", "layout"), [(t5_llama_cpp_tensors(), "llama.cpp"), (t5_hf_tensors(), "hf")]
)
def test_t5_encoder_gguf_is_a_text_encoder(tmp_path: Path, tensors: list, layout: str) -> None:
    path = write_gguf(tmp_path / "t5-v1_1-xxl-encoder-Q8_0.gguf", t5_vocab_kv(), tensors)
    report = inspect_file(path, hashes=False)
    assert report.kind is Kind.OTHER, report.classification
    assert report.classification.component is Component.TEXT_ENCODER
    assert report.base is Base.UNKNOWN
    details = report.classification.details
    assert (details["encoder"], details["width"], details["layout"]) == ("t5xxl", 4096, layout)
    assert details["candidates"] == ["sd3", "flux"]
    assert details["precision"] == "Q8_0"
    if layout == "llama.cpp":
        assert details["layers"] == 2


def test_metadata_that_contradicts_the_shapes_is_a_warning(tmp_path: Path) -> None:
    kv = {"general.architecture": "sdxl"}
    path = write_gguf(tmp_path / "mystery.gguf", kv, flux_tensors())
    report = inspect_file(path, hashes=False)
    assert report.base is Base.FLUX
    assert report.classification.warnings == [
        "metadata says sdxl (general.architecture=sdxl) but shapes are flux"
    ]


# --- the header reader ------------------------------------------------------------------


def test_header_values_are_text_and_vocabularies_are_summarised(tmp_path: Path) -> None:
    kv = t5_vocab_kv() | {
        "general.alignment": 64,
        "t5encoder.attention.layer_norm_epsilon": 1e-6,
        "general.tags": ["t5", "text-encoder"],
        "long.count": Typed("U64", 1 << 40),
    }
    path = write_gguf(tmp_path / "t5.gguf", kv, t5_llama_cpp_tensors(), alignment=64)
    index = read_gguf_index(path)
    meta = index.metadata
    assert meta["tokenizer.ggml.tokens"] == "<32128 STRING values>"
    assert meta["tokenizer.ggml.scores"] == "<32128 FLOAT32 values>"
    assert meta["general.name"] == "T5 v1.1 XXL encoder"
    assert meta["t5encoder.context_length"] == "512"
    assert meta["tokenizer.ggml.add_eos_token"] == "true"
    assert meta["t5encoder.attention.layer_norm_epsilon"] == "1e-06"
    assert meta["general.tags"] == '["t5", "text-encoder"]'
    assert meta["long.count"] == str(1 << 40)
    assert meta["general.alignment"] == "64"
    assert index.shape("token_embd.weight") == (32128, 4096)
    assert index.get("enc.blk.0.attn_rel_b.weight").dtype == "F16"
    assert index.get("enc.output_norm.weight").dtype == "F32"


def test_version_2_files_are_read(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "v2.gguf", COMFY_FLUX_KV, flux_tensors(), version=2)
    assert read_gguf_index(path).shape("img_in.weight") == (3072, 64)


def test_flattened_tensors_get_back_their_shape_from_comfyui_gguf_keys(tmp_path: Path) -> None:
    # convert.py flattens tensors of > 4 dims and records the real shape in a key.
    kv = {"comfy.gguf.orig_shape.patch_embedding.weight": Typed("ARR", [8, 16, 1, 2, 2], "I32")}
    path = write_gguf(tmp_path / "wan.gguf", kv, [("patch_embedding.weight", (8, 64), "F16")])
    assert read_gguf_index(path).shape("patch_embedding.weight") == (8, 16, 1, 2, 2)


@pytest.mark.skipif(not Path("/proc/self/io").exists(), reason="needs Linux /proc/self/io")
def test_classifying_a_big_t5_gguf_reads_only_its_header(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "t5xxl-Q8_0.gguf", t5_vocab_kv(), t5_llama_cpp_tensors())
    assert path.stat().st_size > 300_000_000  # sparse: the data is a hole

    def rchar() -> int:
        fields = dict(line.split(":") for line in Path("/proc/self/io").read_text().splitlines())
        return int(fields["rchar"])

    warm = write_gguf(tmp_path / "warm.gguf", {}, t5_hf_tensors())
    inspect_file(warm, hashes=False)  # first-use imports are no reads of the model
    before = rchar()
    report = inspect_file(path, hashes=False)
    read = rchar() - before
    assert report.classification.component is Component.TEXT_ENCODER
    assert read < 1 << 20, f"read {read} bytes to classify"


def test_sniffed_from_the_magic_not_the_name(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "flux-q8.safetensors", COMFY_FLUX_KV, flux_tensors())
    assert sniff_format(path) is FileFormat.GGUF
    report = inspect_file(path, hashes=False)
    assert (report.format, report.base) == (FileFormat.GGUF, Base.FLUX)
    assert "named .safetensors but the bytes are GGUF" in report.classification.warnings


# --- broken and hostile headers ---------------------------------------------------------

_FLUX = flux_tensors()
_HEAD, _DATA = header(COMFY_FLUX_KV, _FLUX)
_PREFIX = b"GGUF" + struct.pack("<I", 3)


def _raw(n_tensors: int, n_kv: int, body: bytes, pad: int = 4096) -> bytes:
    return _PREFIX + struct.pack("<QQ", n_tensors, n_kv) + body + bytes(pad)


def _kv(key: str, vtype: int, payload: bytes) -> bytes:
    return gstr(key) + struct.pack("<I", vtype) + payload


BROKEN: dict[str, tuple[bytes, str]] = {
    "cut in the key/values": (_HEAD[:40], "truncated"),
    "cut in the tensor infos": (_HEAD[: len(_HEAD) - 60], "truncated"),
    "cut in the data": (_HEAD + bytes(_DATA // 2), "truncated"),
    "2^62 tensors": (_raw(1 << 62, 0, b""), "claims 4611686018427387904 tensors"),
    "kv count beyond the file": (_raw(0, 10**6, b"", pad=64), "more than the file's"),
    "string longer than the file": (
        _raw(0, 1, struct.pack("<Q", 1 << 60)),
        "longer than the rest of the file",
    ),
    "array longer than the file": (
        _raw(0, 1, _kv("a", 9, struct.pack("<IQ", 8, 1 << 40))),
        "more than the file holds",
    ),
    "unknown value type": (_raw(1, 1, _kv("a", 77, b"")), "value type 77"),
    "arrays nested too deep": (
        _raw(1, 1, _kv("a", 9, struct.pack("<IQ", 9, 1) * 5)),
        "nests arrays deeper",
    ),
    "unknown ggml type": (
        header({}, [("img_in.weight", (3072, 64), "F16")], type_ids={"img_in.weight": 99})[0]
        + bytes(1 << 20),
        "ggml type 99, unknown to sdhub",
    ),
    "misaligned offset": (
        header({}, _FLUX[:2], offsets=[0, 3])[0] + bytes(_DATA),
        "not a multiple of the alignment",
    ),
    "offset past the end": (
        header({}, _FLUX[:1], offsets=[1 << 40])[0] + bytes(_DATA),
        "ends at data byte",
    ),
    "overlapping tensors": (
        header({}, [("a", (64,), "F32"), ("b", (64,), "F32")], offsets=[0, 128])[0] + bytes(4096),
        "overlaps",
    ),
    "duplicate tensor": (
        header({}, [("a", (64,), "F32"), ("a", (64,), "F32")])[0] + bytes(4096),
        "names tensor 'a' twice",
    ),
    "duplicate key": (
        _raw(0, 2, _kv("k", 4, struct.pack("<I", 1)) * 2),
        "has key 'k' twice",
    ),
    "rows that are no whole blocks": (
        header({}, [("a", (2, 48), "Q8_0")])[0] + bytes(4096),
        "whole Q8_0 blocks",
    ),
    "five dimensions": (
        _raw(1, 0, gstr("a") + struct.pack("<I5QIQ", 5, 1, 1, 1, 1, 1, 0, 0)),
        "at most 4",
    ),
    "alignment of 3": (
        header({"general.alignment": 3}, _FLUX[:1])[0] + bytes(_DATA),
        "not a power of two",
    ),
    "version 1": (b"GGUF" + struct.pack("<I", 1) + bytes(64), "version 1"),
    "version 7": (b"GGUF" + struct.pack("<I", 7) + bytes(64), "version 7 is unknown"),
    "big-endian": (b"GGUF" + struct.pack(">I", 3) + bytes(64), "big-endian"),
    "no tensors": (b"GGUF" + struct.pack("<IQQ", 3, 0, 0) + bytes(64), "no tensors"),
    "only the magic": (b"GGUF", "truncated"),
}


def test_a_header_of_millions_of_empty_strings_is_refused_not_walked(tmp_path: Path) -> None:
    n = 5_000_000  # more strings than any vocabulary; the file is big enough to hold them
    path = tmp_path / "hostile.gguf"
    with open(path, "wb") as fh:
        fh.write(_PREFIX + struct.pack("<QQ", 0, 1) + gstr("v") + struct.pack("<IIQ", 9, 8, n))
        fh.truncate(64 + 8 * n)
    report = inspect_file(path, hashes=False)
    assert report.kind is Kind.INVALID
    assert "claims 5000000 strings" in (report.error or "")


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_headers_are_invalid_with_one_clear_line(tmp_path: Path, case: str) -> None:
    blob, reason = BROKEN[case]
    path = tmp_path / "broken.gguf"
    path.write_bytes(blob)
    report = inspect_file(path, hashes=False)
    assert report.format is FileFormat.GGUF
    assert report.kind is Kind.INVALID
    error = report.error or ""
    assert reason in error, error
    assert "\n" not in error and "internal error" not in error
    assert "GGUF" in error or "tensor" in error
    assert report.safety.verdict is Verdict.UNSCANNABLE


# --- the command line and the WebUI folders ---------------------------------------------


def test_sdhub_info_json_reports_gguf_files(tmp_path: Path) -> None:
    unet = tmp_path / "ComfyUI" / "models" / "unet"
    unet.mkdir(parents=True)
    small = [(n, (64, s[-1]) if len(s) == 2 and s != (3072, 64) else s, d) for n, s, d in _FLUX]
    flux = write_gguf(unet / "flux1-dev-Q8_0.gguf", COMFY_FLUX_KV, small)
    broken = unet / "broken.gguf"
    broken.write_bytes(_HEAD[:50])
    (unet / "notes.txt").write_text("not a model")

    out = run_sdhub("info", "--json", tmp_path / "ComfyUI", timeout=120)
    records = {Path(r["path"]).name: r for r in json_lines(out)}
    assert set(records) == {"flux1-dev-Q8_0.gguf", "broken.gguf"}  # the walk finds .gguf
    good = records["flux1-dev-Q8_0.gguf"]
    assert (good["format"], good["kind"], good["base"]) == ("gguf", "other", "flux")
    assert good["details"]["component"] == "diffusion-model"
    assert good["details"]["precision"] == "Q8_0"
    assert good["safety"]["verdict"] == "safe"
    assert good["hashes"] == reference_hashes(flux)
    assert good["hashes"]["autov3"] is None
    bad = records["broken.gguf"]
    assert bad["kind"] == "invalid" and "truncated" in bad["error"]
    assert out.returncode == 1
    assert "Traceback" not in out.stderr


def test_gguf_is_a_model_suffix_where_the_webuis_load_it() -> None:
    assert ".gguf" in MODEL_SUFFIXES
    for component in (Component.DIFFUSION_MODEL, Component.TEXT_ENCODER):
        slot = slot_for(Layout.COMFYUI, Kind.OTHER, component)
        assert slot is not None and ".gguf" in slot.suffixes
    assert ".gguf" in slot_for(Layout.A1111, Kind.CHECKPOINT).suffixes  # Forge
    assert ".gguf" not in slot_for(Layout.COMFYUI, Kind.LORA).suffixes
    from pathlib import PurePosixPath

    found = kind_of_folder(Layout.COMFYUI, PurePosixPath("models/unet/flux1-dev-Q8_0.gguf"))
    assert found == [(Kind.OTHER, Component.DIFFUSION_MODEL)]
