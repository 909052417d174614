"""Sample recipes for add-ons: the LoRA family, embeddings and hypernetworks.

Module names, suffixes, metadata and pickle layouts follow what kohya
sd-scripts, LyCORIS, diffusers/PEFT, XLabs, cloneofsimo and A1111 write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from ._sample_types import Nest, Sample, TensorSpec
from .kinds import Base, FileFormat, Kind

SAFE = FileFormat.SAFETENSORS
ZIP = FileFormat.TORCH_ZIP
LEGACY = FileFormat.TORCH_LEGACY
Tensors = dict[str, TensorSpec]
#: (module name, input width, output width, kind: "linear" | "1x1" | "3x3")
Layer = tuple[str, int, int, str]


def t(*shape: int, dtype: str = "F16", fill: float | None = None) -> TensorSpec:
    return TensorSpec(tuple(shape), dtype, fill)


# --------------------------------------------------------------------------- patched layers

_SD1_UNET: list[Layer] = [
    ("down_blocks_0_attentions_0_proj_in", 320, 320, "1x1"),
    ("down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q", 320, 320, "linear"),
    ("down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_k", 320, 320, "linear"),
    ("down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 768, 320, "linear"),
    ("down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v", 768, 320, "linear"),
    ("down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_out_0", 320, 320, "linear"),
    ("down_blocks_0_attentions_0_transformer_blocks_0_ff_net_0_proj", 320, 2560, "linear"),
    ("down_blocks_0_attentions_0_transformer_blocks_0_ff_net_2", 1280, 320, "linear"),
    ("down_blocks_0_attentions_0_proj_out", 320, 320, "1x1"),
    ("mid_block_attentions_0_transformer_blocks_0_attn2_to_k", 768, 1280, "linear"),
    ("up_blocks_3_attentions_2_transformer_blocks_0_attn2_to_v", 768, 320, "linear"),
]
_SD1_CONV: list[Layer] = [
    ("down_blocks_0_resnets_0_conv1", 320, 320, "3x3"),
    ("down_blocks_1_downsamplers_0_conv", 640, 640, "3x3"),
    ("up_blocks_3_resnets_2_conv2", 320, 320, "3x3"),
]


def _te(prefix: str, width: int, layers: Iterable[int]) -> list[Layer]:
    out: list[Layer] = []
    for i in layers:
        base = f"{prefix}text_model_encoder_layers_{i}_"
        out += [
            (base + "self_attn_q_proj", width, width, "linear"),
            (base + "self_attn_k_proj", width, width, "linear"),
            (base + "self_attn_v_proj", width, width, "linear"),
            (base + "self_attn_out_proj", width, width, "linear"),
            (base + "mlp_fc1", width, width * 4, "linear"),
            (base + "mlp_fc2", width * 4, width, "linear"),
        ]
    return out


_SD2_UNET: list[Layer] = [
    ("down_blocks_0_attentions_0_proj_in", 320, 320, "linear"),
    ("down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k", 1024, 320, "linear"),
    ("down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_v", 1024, 320, "linear"),
    ("up_blocks_3_attentions_2_transformer_blocks_0_attn1_to_q", 320, 320, "linear"),
]
#: SDXL as kohya names it: the SGM UNet's own names.
_SDXL_UNET: list[Layer] = [
    ("input_blocks_4_1_proj_in", 640, 640, "linear"),
    ("input_blocks_4_1_transformer_blocks_0_attn1_to_q", 640, 640, "linear"),
    ("input_blocks_4_1_transformer_blocks_0_attn2_to_k", 2048, 640, "linear"),
    ("input_blocks_4_1_transformer_blocks_1_attn2_to_v", 2048, 640, "linear"),
    ("input_blocks_7_1_transformer_blocks_9_ff_net_2", 5120, 1280, "linear"),
    ("middle_block_1_transformer_blocks_0_attn2_to_k", 2048, 1280, "linear"),
    ("output_blocks_5_1_transformer_blocks_1_attn1_to_out_0", 640, 640, "linear"),
]
_FLUX_UNET: list[Layer] = [
    ("double_blocks_0_img_attn_proj", 3072, 3072, "linear"),
    ("double_blocks_0_img_attn_qkv", 3072, 9216, "linear"),
    ("double_blocks_0_img_mlp_0", 3072, 12288, "linear"),
    ("double_blocks_0_img_mlp_2", 12288, 3072, "linear"),
    ("double_blocks_0_txt_attn_qkv", 3072, 9216, "linear"),
    ("double_blocks_18_img_mod_lin", 3072, 18432, "linear"),
    ("single_blocks_0_linear1", 3072, 21504, "linear"),
    ("single_blocks_0_linear2", 15360, 3072, "linear"),
    ("single_blocks_37_modulation_lin", 3072, 9216, "linear"),
]
_SD3_UNET: list[Layer] = [
    ("joint_blocks_0_context_block_attn_qkv", 1536, 4608, "linear"),
    ("joint_blocks_0_x_block_attn_qkv", 1536, 4608, "linear"),
    ("joint_blocks_0_x_block_attn_proj", 1536, 1536, "linear"),
    ("joint_blocks_23_x_block_mlp_fc1", 1536, 6144, "linear"),
]


def _shape_down(rank: int, width: int, layer: str) -> tuple[int, ...]:
    if layer == "1x1":
        return (rank, width, 1, 1)
    if layer == "3x3":
        return (rank, width, 3, 3)
    return (rank, width)


def _shape_up(width: int, rank: int, layer: str) -> tuple[int, ...]:
    return (width, rank, 1, 1) if layer in ("1x1", "3x3") else (width, rank)


def kohya(
    layers: Iterable[Layer],
    prefix: str,
    rank: int,
    alpha: float,
    *,
    conv_rank: int | None = None,
    conv_alpha: float | None = None,
    dtype: str = "F16",
    dora: bool = False,
) -> Tensors:
    out: Tensors = {}
    for name, fan_in, fan_out, layer in layers:
        r, a = (conv_rank or rank, conv_alpha or alpha) if layer == "3x3" else (rank, alpha)
        module = prefix + name
        out[f"{module}.lora_down.weight"] = TensorSpec(_shape_down(r, fan_in, layer), dtype)
        out[f"{module}.lora_up.weight"] = TensorSpec(_shape_up(fan_out, r, layer), dtype)
        out[f"{module}.alpha"] = TensorSpec((), dtype, a)
        if dora:
            out[f"{module}.dora_scale"] = TensorSpec(
                (1, fan_in) if layer == "linear" else (1, fan_in, 1, 1), dtype
            )
    return out


def peft(layers: Iterable[tuple[str, int, int]], rank: int, *, dtype: str = "F16") -> Tensors:
    out: Tensors = {}
    for module, fan_in, fan_out in layers:
        out[f"{module}.lora_A.weight"] = t(rank, fan_in, dtype=dtype)
        out[f"{module}.lora_B.weight"] = t(fan_out, rank, dtype=dtype)
    return out


def factorization(dim: int) -> tuple[int, int]:
    """LyCORIS' balanced split of a width (factor -1): m * n = dim, m <= n, m largest."""
    m = int(dim**0.5)
    while dim % m:
        m -= 1
    return m, dim // m


def lokr(layers: Iterable[Layer], prefix: str, rank: int, alpha: float) -> Tensors:
    out: Tensors = {}
    for name, fan_in, fan_out, _ in layers:
        (out_l, out_k), (in_m, in_n) = factorization(fan_out), factorization(fan_in)
        module = prefix + name
        out[f"{module}.lokr_w1"] = t(out_l, in_m)
        out[f"{module}.lokr_w2_a"] = t(out_k, rank)
        out[f"{module}.lokr_w2_b"] = t(rank, in_n)
        out[f"{module}.alpha"] = t(fill=alpha)
    return out


def loha(layers: Iterable[Layer], prefix: str, rank: int, alpha: float) -> Tensors:
    out: Tensors = {}
    for name, fan_in, fan_out, layer in layers:
        module = prefix + name
        if layer == "3x3":  # Tucker-decomposed conv
            out[f"{module}.hada_t1"] = t(rank, rank, 3, 3)
            out[f"{module}.hada_w1_a"] = t(rank, fan_out)
            out[f"{module}.hada_w1_b"] = t(rank, fan_in)
            out[f"{module}.hada_t2"] = t(rank, rank, 3, 3)
            out[f"{module}.hada_w2_a"] = t(rank, fan_out)
            out[f"{module}.hada_w2_b"] = t(rank, fan_in)
        else:
            out[f"{module}.hada_w1_a"] = t(fan_out, rank)
            out[f"{module}.hada_w1_b"] = t(rank, fan_in)
            out[f"{module}.hada_w2_a"] = t(fan_out, rank)
            out[f"{module}.hada_w2_b"] = t(rank, fan_in)
        out[f"{module}.alpha"] = t(fill=alpha)
    return out


def _kohya_meta(
    *,
    base_version: str,
    arch: str,
    module: str = "networks.lora",
    dim: int,
    alpha: float,
    output_name: str,
    tags: dict[str, int] | None = None,
    folder: str | None = None,
    args: dict[str, str] | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    folder = folder or f"10_{output_name}"
    meta = {
        "ss_network_module": module,
        "ss_network_dim": str(dim),
        "ss_network_alpha": str(float(alpha)),
        "ss_base_model_version": base_version,
        "ss_output_name": output_name,
        "ss_sd_model_name": "v1-5-pruned-emaonly.safetensors",
        "ss_training_started_at": "1700000000.0",
        "ss_num_epochs": "10",
        "ss_learning_rate": "0.0001",
        "ss_clip_skip": "2",
        "ss_resolution": "(512, 512)",
        "ss_v2": "False",
        "ss_tag_frequency": json.dumps(
            {folder: tags or {output_name: 40, "1girl": 31, "solo": 28}}
        ),
        "ss_dataset_dirs": json.dumps({folder: {"n_repeats": 10, "img_count": 40}}),
        "sshs_model_hash": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "sshs_legacy_hash": "e3b0c442",
        "modelspec.sai_model_spec": "1.0.0",
        "modelspec.architecture": arch,
        "modelspec.implementation": "https://github.com/Stability-AI/generative-models",
        "modelspec.title": output_name,
        "modelspec.prediction_type": "epsilon",
    }
    if args:
        meta["ss_network_args"] = json.dumps(args)
    meta.update(extra or {})
    return meta


def _lora(
    name: str,
    base: Base,
    filename: str,
    tensors: Tensors,
    *,
    description: str,
    details: dict[str, object],
    metadata: dict[str, str] | None = None,
    formats: tuple[FileFormat, ...] = (SAFE, ZIP),
    warnings: tuple[str, ...] = (),
    metadata_details: dict[str, object] | None = None,
    metadata_warnings: tuple[str, ...] = (),
    nesting: tuple[Nest, ...] = (),
) -> Sample:
    return Sample(
        name=name,
        kind=Kind.LORA,
        base=base,
        filename=filename,
        tensors=tensors,
        description=description,
        metadata=metadata or {},
        formats=formats,
        nesting=nesting,
        details=details,
        warnings=warnings,
        metadata_details=metadata_details or {},
        metadata_warnings=metadata_warnings,
    )


# --------------------------------------------------------------------------- LoRA family


def _sd1_meta(output_name: str, **kw: object) -> dict[str, str]:
    return _kohya_meta(
        base_version="sd_v1",
        arch="stable-diffusion-v1/lora",
        output_name=output_name,
        **kw,  # type: ignore[arg-type]
    )


def _sdxl_meta(output_name: str, **kw: object) -> dict[str, str]:
    extra = {"ss_sd_model_name": "sd_xl_base_1.0.safetensors", "ss_resolution": "(1024, 1024)"}
    return _kohya_meta(
        base_version="sdxl_base_v1-0",
        arch="stable-diffusion-xl-v1-base/lora",
        output_name=output_name,
        extra=extra,
        **kw,  # type: ignore[arg-type]
    )


def kohya_lora_samples() -> list[Sample]:
    sd1_te = _te("", 768, (0, 11))
    sd1_full = kohya(_SD1_UNET, "lora_unet_", 8, 4) | kohya(sd1_te, "lora_te_", 8, 4)
    lora_details = {"network": "lora", "format": "kohya", "unet": True}
    return [
        _lora(
            "lora-kohya-sd1",
            Base.SD1,
            "mystyle.safetensors",
            sd1_full,
            metadata=_sd1_meta("mystyle", dim=8, alpha=4),
            description="kohya sd-scripts LoRA for SD 1.5: UNet and text encoder, rank 8",
            details={
                **lora_details,
                "rank": 8,
                "text_encoder": "te",
                "conv_rank": None,
                "modules": len(_SD1_UNET) + len(sd1_te),
                "bundled_tokens": [],
            },
            metadata_details={
                "alpha": 4,
                "base_from": "shapes",
                "hints": {
                    "output_name": "mystyle",
                    "top_tags": ["mystyle", "1girl", "solo"],
                    "dataset_dirs": ["mystyle"],
                    "title": "mystyle",
                },
            },
        ),
        _lora(
            "lora-kohya-sd1-unet-only",
            Base.SD1,
            "detail-tweaker.safetensors",
            kohya(_SD1_UNET, "lora_unet_", 16, 16),
            metadata=_sd1_meta(
                "detail-tweaker", dim=16, alpha=16, extra={"ss_network_train_unet_only": "True"}
            ),
            description="SD 1.5 LoRA trained on the UNet only",
            details={**lora_details, "rank": 16, "text_encoder": "none"},
        ),
        _lora(
            "lora-kohya-sd1-te-only",
            Base.SD1,
            "te-only.safetensors",
            kohya(sd1_te, "lora_te_", 4, 1),
            description="SD 1.5 LoRA of the text encoder alone: base from the CLIP-L width",
            details={"network": "lora", "text_encoder": "te", "unet": False, "rank": 4},
        ),
        _lora(
            "locon-kohya-sd1",
            Base.SD1,
            "mychar-locon.safetensors",
            kohya([*_SD1_UNET, *_SD1_CONV], "lora_unet_", 16, 8, conv_rank=4, conv_alpha=1)
            | kohya(sd1_te, "lora_te_", 16, 8),
            metadata=_sd1_meta(
                "mychar-locon",
                module="lycoris.kohya",
                dim=16,
                alpha=8,
                args={"algo": "locon", "conv_dim": "4", "conv_alpha": "1"},
            ),
            description="LyCORIS LoCon for SD 1.5: 3x3 conv layers patched with rank 4",
            details={"network": "locon", "rank": 16, "conv_rank": 4},
            metadata_details={"conv_alpha": 1, "alpha": 8},
        ),
        _lora(
            "lora-kohya-sd2",
            Base.SD2,
            "sd21-style.safetensors",
            kohya(_SD2_UNET, "lora_unet_", 8, 8) | kohya(_te("", 1024, (0, 22)), "lora_te_", 8, 8),
            metadata=_kohya_meta(
                base_version="sd_v2",
                arch="stable-diffusion-v2-512/lora",
                dim=8,
                alpha=8,
                output_name="sd21-style",
                extra={"ss_v2": "True"},
            ),
            description="kohya LoRA for SD 2.1: context and OpenCLIP widths 1024",
            details={"network": "lora", "text_encoder": "te", "rank": 8},
        ),
        _lora(
            "lora-kohya-sdxl",
            Base.SDXL,
            "pixel-art-xl.safetensors",
            kohya(_SDXL_UNET, "lora_unet_", 32, 16)
            | kohya(_te("", 768, (0,)), "lora_te1_", 32, 16)
            | kohya(_te("", 1280, (31,)), "lora_te2_", 32, 16),
            metadata=_sdxl_meta("pixel-art-xl", dim=32, alpha=16),
            description="kohya SDXL LoRA: SGM UNet names, both text encoders, rank 32",
            details={"network": "lora", "text_encoder": "te1+te2", "rank": 32},
            metadata_details={"alpha": 16},
        ),
        _lora(
            "lora-kohya-sdxl-unet-only",
            Base.SDXL,
            "xl-unet-only.safetensors",
            kohya(_SDXL_UNET, "lora_unet_", 32, 32, dtype="BF16"),
            formats=(SAFE,),
            description="SDXL UNet-only LoRA in bf16",
            details={"network": "lora", "text_encoder": "none", "rank": 32, "precision": "bf16"},
        ),
        _lora(
            "lora-kohya-flux",
            Base.FLUX,
            "flux-realism.safetensors",
            kohya([_FLUX_UNET[i] for i in (0, 1, 4, 6, 7)], "lora_unet_", 16, 16, dtype="BF16")
            | kohya(_te("", 768, (0,)), "lora_te1_", 16, 16, dtype="BF16"),
            formats=(SAFE,),
            metadata=_kohya_meta(
                base_version="flux1",
                arch="flux-1-dev/lora",
                module="networks.lora_flux",
                dim=16,
                alpha=16,
                output_name="flux-realism",
            ),
            description="kohya FLUX.1 LoRA: double/single blocks at width 3072 plus CLIP-L",
            details={"network": "lora", "text_encoder": "te1", "rank": 16, "precision": "bf16"},
        ),
        _lora(
            "lora-kohya-sd3",
            Base.SD3,
            "sd3-anime.safetensors",
            kohya(_SD3_UNET, "lora_unet_", 8, 4),
            formats=(SAFE,),
            metadata=_kohya_meta(
                base_version="sd3m",
                arch="stable-diffusion-3-medium/lora",
                module="networks.lora_sd3",
                dim=8,
                alpha=4,
                output_name="sd3-anime",
            ),
            description="kohya SD3 LoRA: MMDiT joint blocks",
            details={"network": "lora", "rank": 8, "text_encoder": "none"},
        ),
        _lora(
            "lora-comfyui-flux",
            Base.FLUX,
            "flux-comfy-extracted.safetensors",
            {
                **kohya(
                    [
                        (
                            n.replace("double_blocks_0_", "double_blocks.0.").replace(
                                "single_blocks_0_", "single_blocks.0."
                            ),
                            i,
                            o,
                            k,
                        )
                        for n, i, o, k in _FLUX_UNET[:2] + _FLUX_UNET[6:8]
                    ],
                    "diffusion_model.",
                    16,
                    16,
                    dtype="BF16",
                ),
            },
            formats=(SAFE,),
            description="A LoRA extracted by ComfyUI: diffusion_model.<BFL names>.lora_up",
            details={"format": "comfyui", "rank": 16},
        ),
        _lora(
            "lora-kohya-sd1-bundle-emb",
            Base.SD1,
            "mychar-pivotal.safetensors",
            sd1_full | {"bundle_emb.mychar.string_to_param.*": t(2, 768, dtype="F32")},
            metadata=_sd1_meta("mychar-pivotal", dim=8, alpha=4),
            description="kohya LoRA bundling a textual-inversion token (pivotal tuning)",
            details={"bundled_tokens": ["mychar"], "network": "lora"},
        ),
        _lora(
            "dylora-sd1",
            Base.SD1,
            "dylora-style.safetensors",
            kohya(_SD1_UNET, "lora_unet_", 16, 1),
            metadata=_sd1_meta(
                "dylora-style", module="networks.dylora", dim=16, alpha=1, args={"unit": "4"}
            ),
            formats=(SAFE,),
            description="DyLoRA: plain LoRA keys, told only by ss_network_module",
            details={"network": "dylora", "rank": 16},
        ),
    ]


def lycoris_samples() -> list[Sample]:
    sd1_te = _te("", 768, (0,))
    sdxl_te1, sdxl_te2 = _te("", 768, (0,)), _te("", 1280, (0,))
    lyco = "lycoris.kohya"
    return [
        _lora(
            "loha-sd1",
            Base.SD1,
            "mychar-loha.safetensors",
            loha([*_SD1_UNET, _SD1_CONV[0]], "lora_unet_", 4, 2) | loha(sd1_te, "lora_te_", 4, 2),
            metadata=_sd1_meta(
                "mychar-loha",
                module=lyco,
                dim=4,
                alpha=2,
                args={"algo": "loha", "conv_dim": "4", "use_tucker": "True"},
            ),
            description="LyCORIS LoHa for SD 1.5 with a Tucker-decomposed conv layer",
            details={"network": "loha", "rank": 4, "text_encoder": "te"},
        ),
        _lora(
            "lokr-sdxl",
            Base.SDXL,
            "style-lokr-xl.safetensors",
            lokr(_SDXL_UNET, "lora_unet_", 8, 4)
            | lokr(sdxl_te1, "lora_te1_", 8, 4)
            | lokr(sdxl_te2, "lora_te2_", 8, 4),
            metadata=_sdxl_meta(
                "style-lokr-xl", module=lyco, dim=8, alpha=4, args={"algo": "lokr", "factor": "-1"}
            ),
            description="LyCORIS LoKr for SDXL: Kronecker factors lokr_w1 ⊗ (w2_a·w2_b)",
            details={"network": "lokr", "rank": 8, "text_encoder": "te1+te2"},
        ),
        _lora(
            "ia3-sd1",
            Base.SD1,
            "ia3-style.safetensors",
            {
                f"{prefix}{name}.{leaf}": spec
                for prefix, layers in (("lora_unet_", _SD1_UNET[3:6]), ("lora_te_", sd1_te[:4]))
                for name, _fan_in, fan_out, _ in layers
                for leaf, spec in (("weight", t(fan_out)), ("on_input", t(dtype="I64", fill=0)))
            },
            metadata=_sd1_meta("ia3-style", module=lyco, dim=1, alpha=1, args={"algo": "ia3"}),
            description="LyCORIS (IA)³: one scaling vector per layer plus the on_input flag",
            details={"network": "ia3", "rank": None, "text_encoder": "te"},
        ),
        _lora(
            "oft-sdxl",
            Base.SDXL,
            "oft-xl.safetensors",
            {
                f"{prefix}{name}.{leaf}": spec
                for prefix, layers in (
                    ("lora_unet_", _SDXL_UNET[1:4]),
                    ("lora_te1_", sdxl_te1[:2]),
                    ("lora_te2_", sdxl_te2[:2]),
                )
                for name, _fan_in, fan_out, _ in layers
                for leaf, spec in (("oft_blocks", t(fan_out // 32, 32, 32)), ("alpha", t(fill=0)))
            },
            metadata=_sdxl_meta("oft-xl", module=lyco, dim=32, alpha=0, args={"algo": "diag-oft"}),
            formats=(SAFE,),
            description="LyCORIS diag-OFT for SDXL: block-diagonal rotations oft_blocks [n, b, b]",
            details={"network": "oft", "block_size": 32, "text_encoder": "te1+te2"},
        ),
        _lora(
            "boft-sd1",
            Base.SD1,
            "boft-style.safetensors",
            {
                f"{prefix}{name}.{leaf}": spec
                for prefix, layers in (("lora_unet_", _SD1_UNET[1:4]), ("lora_te_", sd1_te[:2]))
                for name, _fan_in, fan_out, _ in layers
                for leaf, spec in (
                    ("oft_blocks", t(3, fan_out // 16, 16, 16)),
                    ("alpha", t(fill=0)),
                )
            },
            metadata=_sd1_meta("boft-style", module=lyco, dim=16, alpha=0, args={"algo": "boft"}),
            formats=(SAFE,),
            description="LyCORIS BOFT: butterfly oft_blocks [m, n, b, b]",
            details={"network": "boft", "block_size": 16},
        ),
        _lora(
            "glora-sd1",
            Base.SD1,
            "glora-style.safetensors",
            {
                f"lora_unet_{name}.{leaf}": spec
                for name, fan_in, fan_out, _ in _SD1_UNET[1:6]
                for leaf, spec in (
                    ("a1.weight", t(fan_in, 4)),
                    ("a2.weight", t(4, fan_in)),
                    ("b1.weight", t(fan_out, 4)),
                    ("b2.weight", t(4, fan_in)),
                    ("alpha", t(fill=4)),
                )
            },
            metadata=_sd1_meta("glora-style", module=lyco, dim=4, alpha=4, args={"algo": "glora"}),
            formats=(SAFE,),
            description="LyCORIS GLoRA: a1/a2/b1/b2 per layer",
            details={"network": "glora", "rank": 4},
        ),
        _lora(
            "full-sd1",
            Base.SD1,
            "full-finetune-diff.safetensors",
            {
                "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k.diff": t(
                    320, 768
                ),
                "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_norm1.w_norm": t(320),
                "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_norm1.b_norm": t(320),
                "lora_unet_down_blocks_0_resnets_0_conv1.diff_b": t(320),
            },
            metadata=_sd1_meta("full-diff", module=lyco, dim=1, alpha=1, args={"algo": "full"}),
            formats=(SAFE,),
            description="LyCORIS full: whole weight differences (.diff) and trained norms",
            details={"network": "full", "rank": None},
        ),
        _lora(
            "dora-sdxl",
            Base.SDXL,
            "dora-xl.safetensors",
            kohya(_SDXL_UNET, "lora_unet_", 16, 16, dora=True),
            metadata=_sdxl_meta(
                "dora-xl", module=lyco, dim=16, alpha=16, args={"algo": "lora", "dora_wd": "True"}
            ),
            formats=(SAFE,),
            description="LyCORIS LoRA with weight decomposition (DoRA: dora_scale)",
            details={"network": "dora", "dora": True, "rank": 16},
        ),
    ]


_SD1_DIFFUSERS_ATTN = [
    ("down_blocks.0.attentions.0.transformer_blocks.0.attn1", 320, 320),
    ("down_blocks.0.attentions.0.transformer_blocks.0.attn2", 768, 320),
    ("mid_block.attentions.0.transformer_blocks.0.attn2", 768, 1280),
    ("up_blocks.3.attentions.2.transformer_blocks.0.attn2", 768, 320),
]


def diffusers_lora_samples() -> list[Sample]:
    old: Tensors = {}
    for attn, ctx, dim in _SD1_DIFFUSERS_ATTN:
        for proj, fan_in in (("to_q", dim), ("to_k", ctx), ("to_v", ctx), ("to_out", dim)):
            old[f"{attn}.processor.{proj}_lora.down.weight"] = t(4, fan_in, dtype="F32")
            old[f"{attn}.processor.{proj}_lora.up.weight"] = t(dim, 4, dtype="F32")
    new: Tensors = {}
    for attn, ctx, dim in _SD1_DIFFUSERS_ATTN:
        for proj, fan_in in (("to_q", dim), ("to_k", ctx), ("to_v", ctx), ("to_out.0", dim)):
            new[f"unet.{attn}.{proj}.lora.down.weight"] = t(4, fan_in)
            new[f"unet.{attn}.{proj}.lora.up.weight"] = t(dim, 4)
    for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
        module = f"text_encoder.text_model.encoder.layers.0.self_attn.{proj}.lora_linear_layer"
        new[f"{module}.down.weight"] = t(4, 768)
        new[f"{module}.up.weight"] = t(768, 4)
    sdxl_unet = [
        (f"unet.down_blocks.1.attentions.0.transformer_blocks.{b}.attn2.{p}", 2048, 640)
        for b in (0, 1)
        for p in ("to_k", "to_v")
    ] + [("unet.mid_block.attentions.0.transformer_blocks.9.attn1.to_q", 1280, 1280)]
    sdxl_te = [
        (f"text_encoder.text_model.encoder.layers.0.self_attn.{p}", 768, 768)
        for p in ("q_proj", "v_proj")
    ] + [
        (f"text_encoder_2.text_model.encoder.layers.31.self_attn.{p}", 1280, 1280)
        for p in ("q_proj", "v_proj")
    ]
    flux = [
        ("transformer.transformer_blocks.0.attn.to_k", 3072, 3072),
        ("transformer.transformer_blocks.0.attn.add_k_proj", 3072, 3072),
        ("transformer.transformer_blocks.18.ff.net.2", 12288, 3072),
        ("transformer.single_transformer_blocks.0.attn.to_q", 3072, 3072),
        ("transformer.single_transformer_blocks.0.proj_mlp", 3072, 12288),
        ("transformer.single_transformer_blocks.37.proj_out", 15360, 3072),
    ]
    sd3 = [
        (f"transformer.transformer_blocks.{b}.attn.{p}", 1536, 1536)
        for b in (0, 23)
        for p in ("to_q", "to_k", "to_v", "to_out.0")
    ]
    xlabs: Tensors = {}
    for block in (0,):
        for proj, fan_out in (
            ("proj_lora1", 3072),
            ("proj_lora2", 3072),
            ("qkv_lora1", 9216),
            ("qkv_lora2", 9216),
        ):
            xlabs[f"double_blocks.{block}.processor.{proj}.down.weight"] = t(16, 3072, dtype="BF16")
            xlabs[f"double_blocks.{block}.processor.{proj}.up.weight"] = t(
                fan_out, 16, dtype="BF16"
            )
    peft_sd1 = peft(
        [
            (f"base_model.model.{a}.{p}", c if p in ("to_k", "to_v") else d, d)
            for a, c, d in _SD1_DIFFUSERS_ATTN
            for p in ("to_q", "to_k", "to_v")
        ],
        8,
    )
    return [
        _lora(
            "lora-diffusers-old-sd1",
            Base.SD1,
            "pytorch_lora_weights.bin",
            old,
            formats=(ZIP,),
            description="diffusers 0.1x attention-processor LoRA (…attn2.processor.to_k_lora.down)",
            details={
                "format": "diffusers",
                "network": "lora",
                "rank": 4,
                "text_encoder": "none",
                "precision": "fp32",
            },
            warnings=("A1111 loads lora files only as",),
        ),
        _lora(
            "lora-diffusers-sd1",
            Base.SD1,
            "pytorch_lora_weights.safetensors",
            new,
            description="diffusers LoRA: unet.….lora.down and text_encoder …lora_linear_layer keys",
            details={"format": "diffusers", "text_encoder": "te", "rank": 4},
        ),
        _lora(
            "lora-peft-sdxl",
            Base.SDXL,
            "pytorch_lora_weights_sdxl.safetensors",
            peft(sdxl_unet + sdxl_te, 16),
            description="diffusers/PEFT SDXL LoRA: lora_A/lora_B, text_encoder and text_encoder_2",
            details={"format": "peft", "text_encoder": "te1+te2", "rank": 16},
        ),
        _lora(
            "lora-peft-unet-sd1",
            Base.SD1,
            "adapter_model.safetensors",
            peft_sd1,
            formats=(SAFE,),
            description="A PEFT adapter of an SD1 UNet (base_model.model.…lora_A)",
            details={"format": "peft", "rank": 8, "text_encoder": "none"},
        ),
        _lora(
            "lora-peft-flux",
            Base.FLUX,
            "flux-lora-aitoolkit.safetensors",
            peft(flux, 16, dtype="BF16"),
            formats=(SAFE,),
            metadata={
                "format": "pt",
                "name": "flux-lora-aitoolkit",
                "version": "1.0",
                "software": json.dumps(
                    {"name": "ai-toolkit", "repo": "https://github.com/ostris/ai-toolkit"}
                ),
            },
            description="ai-toolkit/diffusers Flux LoRA: transformer.(single_)transformer_blocks",
            details={"format": "peft", "rank": 16, "precision": "bf16"},
        ),
        _lora(
            "lora-peft-sd3",
            Base.SD3,
            "sd3-dreambooth-lora.safetensors",
            peft(sd3, 4),
            formats=(SAFE,),
            description="diffusers SD3 DreamBooth LoRA: joint transformer blocks at width 1536",
            details={"format": "peft", "rank": 4},
        ),
        _lora(
            "lora-xlabs-flux",
            Base.FLUX,
            "xlabs-realism-lora.safetensors",
            xlabs,
            formats=(SAFE,),
            description="XLabs Flux LoRA: double_blocks.N.processor.qkv_lora1.down",
            details={"format": "xlabs", "rank": 16},
        ),
    ]


def cloneofsimo_samples() -> list[Sample]:
    unet_layers = [
        (320, 320),
        (320, 320),
        (768, 320),
        (768, 320),
        (320, 320),
        (640, 640),
        (768, 640),
    ]
    te_layers = [(768, 768)] * 4
    tensors: Tensors = {}
    meta = {
        "unet": json.dumps(["CrossAttention", "Attention", "GEGLU"]),
        "text_encoder": json.dumps(["CLIPAttention"]),
    }
    for part, layers in (("unet", unet_layers), ("text_encoder", te_layers)):
        for i, (fan_in, fan_out) in enumerate(layers):
            tensors[f"{part}:{i}:up"] = t(fan_out, 4, dtype="F32")
            tensors[f"{part}:{i}:down"] = t(4, fan_in, dtype="F32")
            meta[f"{part}:{i}:rank"] = "4"
    tensors["<s1>"] = t(768, dtype="F32")
    tensors["<s2>"] = t(768, dtype="F32")
    meta["<s1>"] = "<embed>"
    meta["<s2>"] = "<embed>"
    listed: Tensors = {}
    for i, (fan_in, fan_out) in enumerate(unet_layers):
        listed[str(2 * i)] = t(fan_out, 4, dtype="F32")
        listed[str(2 * i + 1)] = t(4, fan_in, dtype="F32")
    return [
        _lora(
            "lora-cloneofsimo-pti-sd1",
            Base.SD1,
            "lora_pti_final.safetensors",
            tensors,
            metadata=meta,
            formats=(SAFE,),
            description="cloneofsimo LoRA (unet:N:up) bundling pivotal-tuning tokens <s1> <s2>",
            details={
                "format": "cloneofsimo",
                "bundled_tokens": ["<s1>", "<s2>"],
                "rank": 4,
                "text_encoder": "te",
            },
        ),
        _lora(
            "lora-cloneofsimo-list",
            Base.SD1,
            "lora_weight.pt",
            listed,
            formats=(ZIP,),
            nesting=(Nest.LIST,),
            description="The oldest cloneofsimo .pt: a bare list [up, down, up, down, …]",
            details={"format": "cloneofsimo-list", "rank": 4, "modules": len(unet_layers)},
            warnings=("tensors have no names",),
        ),
    ]


def warning_samples() -> list[Sample]:
    """Files whose labels lie: the shapes win and the result says so."""
    return [
        _lora(
            "lora-sd1-metadata-says-sdxl",
            Base.SD1,
            "detailer.safetensors",
            kohya(_SD1_UNET, "lora_unet_", 8, 8),
            metadata=_sdxl_meta("detailer", dim=8, alpha=8),
            formats=(SAFE,),
            description="SD1 shapes under SDXL metadata (a re-saved file with stale labels)",
            details={"base_from": "shapes"},
            metadata_warnings=("metadata says sdxl", "but shapes are sd1"),
        ),
        _lora(
            "lora-flux-named-sd15",
            Base.FLUX,
            "add-detail-sd15.safetensors",
            kohya(_FLUX_UNET[:4], "lora_unet_", 8, 8, dtype="BF16"),
            formats=(SAFE,),
            description="A Flux LoRA whose file name claims SD 1.5",
            details={"base_from": "shapes"},
            warnings=("name says sd1 but shapes are flux",),
        ),
        _lora(
            "lora-named-hypernetwork",
            Base.SD1,
            "hypernet-anime.pt",
            kohya(_SD1_UNET[:4], "lora_unet_", 4, 4),
            formats=(ZIP,),
            description="A LoRA saved as .pt with a hypernetwork's name",
            details={"network": "lora"},
            warnings=("name says hypernetwork but shapes are lora",),
        ),
    ]


# --------------------------------------------------------------------------- embeddings


def _emb(
    name: str,
    base: Base,
    filename: str,
    tensors: Tensors,
    *,
    description: str,
    details: dict[str, object],
    formats: tuple[FileFormat, ...] = (SAFE,),
    values: dict[str, object] | None = None,
    nesting: tuple[Nest, ...] = (),
    parameter_dicts: tuple[str, ...] = (),
    metadata: dict[str, str] | None = None,
    warnings: tuple[str, ...] = (),
) -> Sample:
    return Sample(
        name=name,
        kind=Kind.EMBEDDING,
        base=base,
        filename=filename,
        tensors=tensors,
        description=description,
        details=details,
        formats=formats,
        values=values or {},
        nesting=nesting,
        parameter_dicts=parameter_dicts,
        metadata=metadata or {},
        warnings=warnings,
    )


def _a1111_values(name: str, step: int, checkpoint: str) -> dict[str, object]:
    return {
        "string_to_token.*": 265,
        "name": name,
        "step": step,
        "sd_checkpoint": "e1441589a6",
        "sd_checkpoint_name": checkpoint,
    }


def embedding_samples() -> list[Sample]:
    a1111 = {"nesting": (Nest.DICT,), "formats": (ZIP,)}
    return [
        _emb(
            "embedding-a1111-sd1",
            Base.SD1,
            "mychar.pt",
            {"string_to_param.*": t(8, 768, dtype="F32")},
            values=_a1111_values("mychar", 3000, "v1-5-pruned-emaonly"),
            description="A1111 textual inversion for SD 1.5: 8 vectors of 768",
            details={
                "vectors": 8,
                "width": 768,
                "tokens": ["mychar"],
                "encoders": ["clip-l"],
                "format": "a1111",
                "negative": False,
                "hints": {
                    "name": "mychar",
                    "step": 3000,
                    "sd_checkpoint_name": "v1-5-pruned-emaonly",
                    "sd_checkpoint": "e1441589a6",
                },
            },
            **a1111,  # type: ignore[arg-type]
        ),
        _emb(
            "embedding-a1111-sd2",
            Base.SD2,
            "midjourney-sd21.pt",
            {"string_to_param.*": t(4, 1024, dtype="F32")},
            values=_a1111_values("midjourney-sd21", 1500, "v2-1_768-ema-pruned"),
            description="A1111 textual inversion for SD 2.x: width 1024",
            details={"vectors": 4, "width": 1024, "encoders": ["clip-h"], "format": "a1111"},
            **a1111,  # type: ignore[arg-type]
        ),
        _emb(
            "embedding-a1111-legacy-paramdict",
            Base.SD1,
            "old-ti-2022.pt",
            {
                "string_to_param.*": t(1, 768, dtype="F32"),
                "string_to_token.*": t(dtype="I64", fill=265),
            },
            formats=(ZIP, LEGACY),
            nesting=(Nest.DICT,),
            parameter_dicts=("string_to_param",),
            description="2022 textual inversion: a ParameterDict string_to_param, a tensor token",
            details={"vectors": 1, "width": 768, "format": "a1111"},
        ),
        _emb(
            "embedding-a1111-negative-sd1",
            Base.SD1,
            "bad-hands-5.pt",
            {"string_to_param.*": t(6, 768, dtype="F32")},
            values=_a1111_values("bad-hands-5", 1200, "animefull-final-pruned"),
            description="A negative embedding (told by its name only)",
            details={"negative": True, "vectors": 6},
            **a1111,  # type: ignore[arg-type]
        ),
        _emb(
            "embedding-emb-params-sd1",
            Base.SD1,
            "kohya-ti-mychar.safetensors",
            {"emb_params": t(6, 768, dtype="F32")},
            description="kohya sd-scripts textual inversion (emb_params)",
            details={"vectors": 6, "width": 768, "format": "emb_params", "tokens": []},
        ),
        _emb(
            "embedding-easynegative",
            Base.SD1,
            "EasyNegative.safetensors",
            {"emb_params": t(8, 768, dtype="F32")},
            description="EasyNegative: emb_params, negative by name",
            details={"negative": True, "vectors": 8, "format": "emb_params"},
        ),
        _emb(
            "embedding-diffusers-sd1",
            Base.SD1,
            "learned_embeds.bin",
            {"<cat-toy>": t(768, dtype="F32")},
            formats=(ZIP, SAFE),
            description="diffusers textual inversion: {'<cat-toy>': [768]}",
            details={"vectors": 1, "width": 768, "tokens": ["<cat-toy>"], "format": "diffusers"},
        ),
        _emb(
            "embedding-diffusers-sd2",
            Base.SD2,
            "learned_embeds.safetensors",
            {"<my-style>": t(4, 1024, dtype="F32")},
            description="diffusers textual inversion for SD2: 4 vectors of 1024",
            details={"vectors": 4, "width": 1024, "tokens": ["<my-style>"]},
        ),
        _emb(
            "embedding-sdxl",
            Base.SDXL,
            "mychar-xl.safetensors",
            {"clip_l": t(4, 768), "clip_g": t(4, 1280)},
            description="SDXL textual inversion: clip_l [n, 768] + clip_g [n, 1280]",
            details={
                "vectors": 4,
                "width": 768,
                "widths": [768, 1280],
                "encoders": ["clip-l", "clip-g"],
                "format": "sdxl",
                "negative": False,
            },
        ),
        _emb(
            "embedding-sdxl-negative",
            Base.SDXL,
            "negativeXL_D.safetensors",
            {"clip_g": t(8, 1280, dtype="F32"), "clip_l": t(8, 768, dtype="F32")},
            description="An SDXL negative embedding (negative by name)",
            details={"negative": True, "vectors": 8, "encoders": ["clip-l", "clip-g"]},
        ),
        _emb(
            "embedding-sdxl-text-encoders",
            Base.SDXL,
            "sdnext-style.safetensors",
            {"text_encoders_0": t(2, 768), "text_encoders_1": t(2, 1280)},
            description="SDXL embedding as some tools key it: text_encoders_0/1",
            details={"vectors": 2, "encoders": ["clip-l", "clip-g"]},
        ),
        _emb(
            "embedding-flux",
            Base.FLUX,
            "flux-token.safetensors",
            {"clip_l": t(2, 768, dtype="BF16"), "t5xxl": t(2, 4096, dtype="BF16")},
            description="A Flux textual inversion: CLIP-L and T5-XXL vectors",
            details={"encoders": ["clip-l", "t5xxl"], "vectors": 2},
        ),
        _emb(
            "embedding-t5-only",
            Base.UNKNOWN,
            "mytoken-t5.safetensors",
            {"t5xxl": t(4, 4096, dtype="BF16")},
            description="T5-only vectors: Flux or SD3, the shapes cannot say which",
            details={"encoders": ["t5xxl"], "candidates": ["flux", "sd3"], "base_from": None},
        ),
    ]


# --------------------------------------------------------------------------- hypernetworks


def _hn_layers(
    width: int,
    structure: list[int],
    *,
    activation: bool,
    layer_norm: bool,
    legacy: bool = False,
    dtype: str = "F16",
) -> Tensors:
    """The state dict of one A1111 HypernetworkModule (``linear.N`` Sequential indices)."""
    out: Tensors = {}
    index = 0
    for i in range(len(structure) - 1):
        fan_in, fan_out = width * structure[i], width * structure[i + 1]
        name = f"linear{i + 1}" if legacy else f"linear.{index}"
        out[f"{name}.weight"] = t(fan_out, fan_in, dtype=dtype)
        out[f"{name}.bias"] = t(fan_out, dtype=dtype)
        index += 1
        last = i == len(structure) - 2
        if activation and not last:
            index += 1
        if layer_norm:
            out[f"linear.{index}.weight"] = t(fan_out, dtype=dtype)
            out[f"linear.{index}.bias"] = t(fan_out, dtype=dtype)
            index += 1
    return out


def _hn(widths: list[int], structure: list[int], **kw: object) -> Tensors:
    out: Tensors = {}
    for width in widths:
        module = _hn_layers(width, structure, **kw)  # type: ignore[arg-type]
        for slot in (0, 1):
            out.update({f"{width}.{slot}.{k}": v for k, v in module.items()})
    return out


def _hn_values(
    structure: list[int],
    activation: str,
    *,
    layer_norm: bool,
    dropout: bool,
    name: str,
    checkpoint: str,
) -> dict[str, object]:
    return {
        "layer_structure": structure,
        "activation_func": activation,
        "is_layer_norm": layer_norm,
        "weight_initialization": "Normal",
        "use_dropout": dropout,
        "dropout_structure": [0.0] * len(structure),
        "activate_output": False,
        "last_layer_dropout": False,
        "optional_info": None,
        "name": name,
        "step": 4000,
        "sd_checkpoint": "e1441589a6",
        "sd_checkpoint_name": checkpoint,
    }


def hypernetwork_samples() -> list[Sample]:
    common = {"kind": Kind.HYPERNETWORK, "formats": (ZIP,), "nesting": (Nest.INT_DICT, Nest.TUPLE)}
    return [
        Sample(
            name="hypernetwork-sd1",
            base=Base.SD1,
            filename="anime-style-hn.pt",
            tensors=_hn([768, 320], [1, 1], activation=False, layer_norm=False),
            values=_hn_values(
                [1, 1],
                "linear",
                layer_norm=False,
                dropout=False,
                name="anime-style-hn",
                checkpoint="animefull-final-pruned",
            ),
            description="A1111 hypernetwork for SD1 (context 768 and the 320 self-attention pair)",
            details={
                "widths": [320, 768],
                "layer_structure": [1, 1],
                "activation": "linear",
                "layer_norm": False,
                "dropout": False,
                "legacy_layers": False,
            },
            **common,  # type: ignore[arg-type]
        ),
        Sample(
            name="hypernetwork-sd2-layernorm",
            base=Base.SD2,
            filename="sd2-hn-ln.pt",
            tensors=_hn([1024], [1, 1], activation=True, layer_norm=True),
            values={
                **_hn_values(
                    [1, 1],
                    "swish",
                    layer_norm=True,
                    dropout=False,
                    name="sd2-hn-ln",
                    checkpoint="v2-1_512-ema-pruned",
                ),
                "activate_output": True,
            },
            description="A1111 hypernetwork for SD2 with layer norm and swish",
            details={"widths": [1024], "layer_norm": True, "activation": "swish"},
            **common,  # type: ignore[arg-type]
        ),
        Sample(
            name="hypernetwork-320-only",
            base=Base.SD1,
            filename="selfattn-only.pt",
            tensors=_hn([320], [1, 2, 1], activation=True, layer_norm=False, dtype="F32"),
            values=_hn_values(
                [1, 2, 1],
                "relu",
                layer_norm=False,
                dropout=True,
                name="selfattn-only",
                checkpoint="v1-5-pruned-emaonly",
            ),
            description="Only the 320 pair: SD1 or SD2 by shape, SD1 by its sd_checkpoint_name",
            details={
                "widths": [320],
                "layer_structure": [1, 2, 1],
                "dropout": True,
                "base_from": "metadata",
                "precision": "fp32",
            },
            **common,  # type: ignore[arg-type]
        ),
        Sample(
            name="hypernetwork-nai-legacy",
            base=Base.UNKNOWN,
            filename="aini.pt",
            tensors=_hn([320], [1, 2, 1], activation=False, layer_norm=False, legacy=True),
            description="NAI-era hypernetwork: linear1/linear2 names, no stored settings",
            details={
                "widths": [320],
                "legacy_layers": True,
                "layer_structure": [1, 2, 1],
                "activation": None,
                "candidates": ["sd1", "sd2"],
            },
            kind=Kind.HYPERNETWORK,
            formats=(ZIP, LEGACY),
            nesting=(Nest.INT_DICT, Nest.TUPLE),
        ),
    ]


def addon_samples() -> list[Sample]:
    return [
        *kohya_lora_samples(),
        *lycoris_samples(),
        *diffusers_lora_samples(),
        *cloneofsimo_samples(),
        *warning_samples(),
        *embedding_samples(),
        *hypernetwork_samples(),
    ]
