"""Sample recipes for whole models and components: checkpoints, UNets/DiTs, VAEs, others.

Key names follow the real files (LDM/SGM single-file checkpoints, BFL and SAI
originals, diffusers layouts, ComfyUI's all-in-one files). Each recipe keeps
the tensors that decide kind and base at their real shapes and a handful of
cheap ones (norms, biases) beside them; the big matrices that decide nothing
are left out.
"""

from __future__ import annotations

from ._sample_types import Nest, Sample, TensorSpec
from .kinds import Base, Component, FileFormat, Kind

SAFE = FileFormat.SAFETENSORS
ZIP = FileFormat.TORCH_ZIP
LEGACY = FileFormat.TORCH_LEGACY
Tensors = dict[str, TensorSpec]


def t(*shape: int, dtype: str = "F16", fill: float | None = None) -> TensorSpec:
    return TensorSpec(tuple(shape), dtype, fill)


def _prefixed(prefix: str, tensors: Tensors) -> Tensors:
    return {prefix + name: spec for name, spec in tensors.items()}


def _dtype(tensors: Tensors, dtype: str) -> Tensors:
    """The same tensors in another float dtype (integer buffers keep theirs)."""
    return {
        n: TensorSpec(s.shape, dtype if s.dtype in ("F16", "BF16", "F32") else s.dtype, s.fill)
        for n, s in tensors.items()
    }


# --------------------------------------------------------------------------- building blocks


def ldm_unet(
    *,
    in_channels: int = 4,
    context: int | None = 768,
    sdxl: bool = False,
    refiner: bool = False,
    label_emb: bool = False,
    proj_in_conv: bool = False,
) -> Tensors:
    """An LDM/SGM UNet's telling keys (names without ``model.diffusion_model.``)."""
    ch = 384 if refiner else 320
    out: Tensors = {
        "input_blocks.0.0.weight": t(ch, in_channels, 3, 3),
        "input_blocks.0.0.bias": t(ch),
        "time_embed.0.bias": t(ch * 4),
        "time_embed.2.bias": t(ch * 4),
        "input_blocks.1.0.in_layers.0.weight": t(ch),
        "input_blocks.1.0.out_layers.3.bias": t(ch),
        "middle_block.0.in_layers.0.weight": t(1280 if not refiner else 1536),
        "out.0.weight": t(ch),
        "out.2.weight": t(4, ch, 3, 3),
        "out.2.bias": t(4),
    }
    if sdxl or refiner:
        first_attn = "input_blocks.4.1"
        width = 640 if sdxl else 768
        out[f"{first_attn}.norm.weight"] = t(width)
        out[f"{first_attn}.transformer_blocks.0.norm1.weight"] = t(width)
        out[f"{first_attn}.transformer_blocks.1.norm1.weight"] = t(width)
        if sdxl:
            out["input_blocks.7.1.transformer_blocks.9.norm3.weight"] = t(1280)
        else:
            out["input_blocks.7.1.transformer_blocks.3.norm3.weight"] = t(1536)
        out["label_emb.0.0.bias"] = t(1280 if sdxl else 1536)
        out["label_emb.0.2.bias"] = t(1280 if sdxl else 1536)
        if label_emb:
            out["label_emb.0.0.weight"] = t(1280, 2816) if sdxl else t(1536, 2560)
        if context:
            out[f"{first_attn}.transformer_blocks.0.attn2.to_k.weight"] = t(width, context)
    else:
        out["input_blocks.1.1.norm.weight"] = t(320)
        out["input_blocks.1.1.transformer_blocks.0.norm1.weight"] = t(320)
        out["output_blocks.11.1.norm.weight"] = t(320)
        out["output_blocks.11.0.skip_connection.bias"] = t(320)
        if proj_in_conv:
            out["input_blocks.1.1.proj_in.weight"] = t(320, 320, 1, 1)
        if context:
            out["input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"] = t(320, context)
    return out


def clip_hf(width: int = 768, layers: int = 12, *, position_ids: bool = False) -> Tensors:
    """A Hugging Face ``CLIPTextModel`` (names from ``text_model.`` down)."""
    out: Tensors = {
        "text_model.embeddings.position_embedding.weight": t(77, width),
        "text_model.encoder.layers.0.layer_norm1.weight": t(width),
        "text_model.encoder.layers.0.self_attn.q_proj.bias": t(width),
        "text_model.encoder.layers.0.mlp.fc1.bias": t(width * 4),
        f"text_model.encoder.layers.{layers - 1}.layer_norm2.weight": t(width),
        "text_model.final_layer_norm.weight": t(width),
        "text_model.final_layer_norm.bias": t(width),
    }
    if position_ids:
        out["text_model.embeddings.position_ids"] = t(1, 77, dtype="I64")
    return out


def open_clip(width: int, layers: int) -> Tensors:
    """An OpenCLIP text tower as SD2/SDXL checkpoints store it."""
    return {
        "positional_embedding": t(77, width),
        "transformer.resblocks.0.ln_1.weight": t(width),
        "transformer.resblocks.0.attn.in_proj_bias": t(3 * width),
        "transformer.resblocks.0.mlp.c_fc.bias": t(4 * width),
        f"transformer.resblocks.{layers - 1}.ln_2.weight": t(width),
        "ln_final.weight": t(width),
        "ln_final.bias": t(width),
        "logit_scale": t(dtype="F32", fill=4.6052),
    }


def t5xxl() -> Tensors:
    return {
        "encoder.block.0.layer.0.layer_norm.weight": t(4096),
        "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight": t(32, 64),
        "encoder.block.23.layer.1.layer_norm.weight": t(4096),
        "encoder.final_layer_norm.weight": t(4096),
    }


def ldm_vae(z: int = 4, *, quant: bool = True) -> Tensors:
    out: Tensors = {
        "encoder.conv_in.weight": t(128, 3, 3, 3),
        "encoder.conv_in.bias": t(128),
        "encoder.down.0.block.0.norm1.weight": t(128),
        "encoder.mid.attn_1.norm.weight": t(512),
        "encoder.norm_out.weight": t(512),
        "encoder.conv_out.weight": t(2 * z, 512, 3, 3),
        "encoder.conv_out.bias": t(2 * z),
        "decoder.conv_in.weight": t(512, z, 3, 3),
        "decoder.conv_in.bias": t(512),
        "decoder.mid.attn_1.norm.weight": t(512),
        "decoder.up.0.block.0.norm1.weight": t(256),
        "decoder.up.3.block.2.norm2.weight": t(512),
        "decoder.norm_out.weight": t(128),
        "decoder.conv_out.weight": t(3, 128, 3, 3),
        "decoder.conv_out.bias": t(3),
    }
    if quant:
        out.update(
            {
                "quant_conv.weight": t(2 * z, 2 * z, 1, 1),
                "quant_conv.bias": t(2 * z),
                "post_quant_conv.weight": t(z, z, 1, 1),
                "post_quant_conv.bias": t(z),
            }
        )
    return out


def diffusers_vae(z: int = 4, *, quant: bool = True) -> Tensors:
    out: Tensors = {
        "encoder.conv_in.weight": t(128, 3, 3, 3),
        "encoder.conv_in.bias": t(128),
        "encoder.down_blocks.0.resnets.0.norm1.weight": t(128),
        "encoder.mid_block.attentions.0.group_norm.weight": t(512),
        "encoder.mid_block.attentions.0.to_q.bias": t(512),
        "encoder.conv_norm_out.weight": t(512),
        "encoder.conv_out.weight": t(2 * z, 512, 3, 3),
        "encoder.conv_out.bias": t(2 * z),
        "decoder.conv_in.weight": t(512, z, 3, 3),
        "decoder.conv_in.bias": t(512),
        "decoder.mid_block.attentions.0.group_norm.weight": t(512),
        "decoder.up_blocks.0.resnets.0.norm1.weight": t(512),
        "decoder.up_blocks.3.resnets.2.norm2.weight": t(128),
        "decoder.conv_norm_out.weight": t(128),
        "decoder.conv_out.weight": t(3, 128, 3, 3),
        "decoder.conv_out.bias": t(3),
    }
    if quant:
        out.update(
            {
                "quant_conv.weight": t(2 * z, 2 * z, 1, 1),
                "quant_conv.bias": t(2 * z),
                "post_quant_conv.weight": t(z, z, 1, 1),
                "post_quant_conv.bias": t(z),
            }
        )
    return out


def flux_transformer(*, guidance: bool = True, in_features: int = 64) -> Tensors:
    """FLUX.1 in BFL's own names (``flux1-dev.safetensors``)."""
    out: Tensors = {
        "img_in.weight": t(3072, in_features, dtype="BF16"),
        "img_in.bias": t(3072, dtype="BF16"),
        "txt_in.bias": t(3072, dtype="BF16"),
        "time_in.in_layer.bias": t(3072, dtype="BF16"),
        "vector_in.in_layer.bias": t(3072, dtype="BF16"),
        "double_blocks.0.img_attn.norm.key_norm.scale": t(128, dtype="BF16"),
        "double_blocks.0.img_attn.norm.query_norm.scale": t(128, dtype="BF16"),
        "double_blocks.0.img_attn.qkv.bias": t(9216, dtype="BF16"),
        "double_blocks.0.img_mod.lin.bias": t(18432, dtype="BF16"),
        "double_blocks.0.txt_attn.proj.bias": t(3072, dtype="BF16"),
        "double_blocks.18.txt_mlp.2.bias": t(3072, dtype="BF16"),
        "single_blocks.0.linear1.bias": t(21504, dtype="BF16"),
        "single_blocks.0.modulation.lin.bias": t(9216, dtype="BF16"),
        "single_blocks.37.norm.key_norm.scale": t(128, dtype="BF16"),
        "final_layer.linear.weight": t(64, 3072, dtype="BF16"),
        "final_layer.adaLN_modulation.1.bias": t(6144, dtype="BF16"),
    }
    if guidance:
        out["guidance_in.in_layer.bias"] = t(3072, dtype="BF16")
        out["guidance_in.out_layer.bias"] = t(3072, dtype="BF16")
    return out


def mmdit(hidden: int = 1536, depth: int = 24, *, dual: bool = False) -> Tensors:
    """SD3's MMDiT in SAI's own names (``sd3_medium.safetensors``)."""
    out: Tensors = {
        "x_embedder.proj.weight": t(hidden, 16, 2, 2),
        "x_embedder.proj.bias": t(hidden),
        "context_embedder.bias": t(hidden),
        "t_embedder.mlp.0.bias": t(hidden),
        "y_embedder.mlp.0.bias": t(hidden),
        "joint_blocks.0.context_block.adaLN_modulation.1.bias": t(6 * hidden),
        "joint_blocks.0.context_block.attn.qkv.bias": t(3 * hidden),
        "joint_blocks.0.x_block.attn.qkv.bias": t(3 * hidden),
        f"joint_blocks.{depth - 1}.x_block.mlp.fc2.bias": t(hidden),
        "final_layer.linear.weight": t(64, hidden),
        "final_layer.adaLN_modulation.1.bias": t(2 * hidden),
    }
    if dual:
        out["joint_blocks.0.x_block.attn2.qkv.bias"] = t(3 * hidden)
    return out


def _ldm_extras() -> Tensors:
    """Buffers every LDM checkpoint carries beside the networks."""
    return {
        "alphas_cumprod": t(1000, dtype="F32"),
        "betas": t(1000, dtype="F32"),
        "log_one_minus_alphas_cumprod": t(1000, dtype="F32"),
    }


_LDM_META_VALUES = {"global_step": 840000, "epoch": 6}


def _ckpt(
    name: str,
    base: Base,
    filename: str,
    tensors: Tensors,
    *,
    details: dict[str, object],
    description: str,
    metadata: dict[str, str] | None = None,
    formats: tuple[FileFormat, ...] = (SAFE, ZIP),
    kind: Kind = Kind.CHECKPOINT,
    component: Component | None = None,
    warnings: tuple[str, ...] = (),
    metadata_details: dict[str, object] | None = None,
    metadata_warnings: tuple[str, ...] = (),
    values: dict[str, object] | None = None,
    torch_prefix: str = "state_dict.",
    nesting: tuple[Nest, ...] | None = None,
    torch_only: Tensors | None = None,
) -> Sample:
    return Sample(
        name=name,
        kind=kind,
        base=base,
        component=component,
        filename=filename,
        description=description,
        tensors=tensors,
        metadata=metadata or {},
        values=_LDM_META_VALUES if values is None else values,
        formats=formats,
        torch_prefix=torch_prefix,
        nesting=((Nest.DICT,) if torch_prefix else ()) if nesting is None else nesting,
        torch_only=torch_only or {},
        details=details,
        warnings=warnings,
        metadata_details=metadata_details or {},
        metadata_warnings=metadata_warnings,
    )


# --------------------------------------------------------------------------- checkpoints


def _sd1(
    in_channels: int = 4, *, vae: bool = True, ema: bool = False, dtype: str = "F16"
) -> Tensors:
    out = _prefixed("model.diffusion_model.", ldm_unet(in_channels=in_channels, context=768))
    out.update(_prefixed("cond_stage_model.transformer.", clip_hf(768, position_ids=True)))
    if vae:
        out.update(_prefixed("first_stage_model.", ldm_vae(4)))
    out.update(_ldm_extras())
    if ema:
        out.update(
            {
                "model_ema.decay": t(dtype="F32", fill=0.9999),
                "model_ema.num_updates": t(dtype="I32", fill=0),
                "model_ema.diffusion_modelinput_blocks00weight": t(320, in_channels, 3, 3),
                "model_ema.diffusion_modelout2weight": t(4, 320, 3, 3),
            }
        )
    return _dtype(out, dtype)


def _sd2() -> Tensors:
    out = _prefixed("model.diffusion_model.", ldm_unet(context=1024))
    out["model.diffusion_model.input_blocks.1.1.proj_in.weight"] = t(320, 320)
    out.update(_prefixed("cond_stage_model.model.", open_clip(1024, 24)))
    out.update(_prefixed("first_stage_model.", ldm_vae(4)))
    out.update(_ldm_extras())
    return out


def _sdxl(*, in_channels: int = 4, label_emb: bool = True, context: int | None = None) -> Tensors:
    unet = ldm_unet(in_channels=in_channels, sdxl=True, label_emb=label_emb, context=context)
    out = _prefixed("model.diffusion_model.", unet)
    out.update(_prefixed("conditioner.embedders.0.transformer.", clip_hf(768)))
    out.update(_prefixed("conditioner.embedders.1.model.", open_clip(1280, 32)))
    out.update(_prefixed("first_stage_model.", ldm_vae(4)))
    return out


def _sdxl_refiner() -> Tensors:
    out = _prefixed("model.diffusion_model.", ldm_unet(refiner=True, context=None))
    out.update(_prefixed("conditioner.embedders.0.model.", open_clip(1280, 32)))
    out.update(_prefixed("first_stage_model.", ldm_vae(4)))
    return out


def _sd3() -> Tensors:
    out = _prefixed("model.diffusion_model.", mmdit())
    out.update(_prefixed("text_encoders.clip_l.transformer.", clip_hf(768)))
    out.update(_prefixed("text_encoders.clip_g.transformer.", clip_hf(1280, 32)))
    out.update(_prefixed("text_encoders.t5xxl.transformer.", t5xxl()))
    out.update(_prefixed("first_stage_model.", ldm_vae(16, quant=False)))
    return out


def _flux(*, guidance: bool, dtype: str = "BF16") -> Tensors:
    out = _prefixed("model.diffusion_model.", flux_transformer(guidance=guidance))
    out.update(_prefixed("text_encoders.clip_l.transformer.", clip_hf(768)))
    out.update(_prefixed("text_encoders.t5xxl.transformer.", t5xxl()))
    out.update(_prefixed("vae.", ldm_vae(16, quant=False)))
    if dtype == "F8_E4M3":
        return {
            n: TensorSpec(s.shape, "F8_E4M3", s.fill)
            if n.startswith("model.diffusion_model.") and len(s.shape) >= 2
            else s
            for n, s in out.items()
        }
    return _dtype(out, dtype)


_MODELSPEC_SDXL = {
    "modelspec.sai_model_spec": "1.0.0",
    "modelspec.architecture": "stable-diffusion-xl-v1-base",
    "modelspec.implementation": "https://github.com/Stability-AI/generative-models",
    "modelspec.title": "Example XL",
    "modelspec.resolution": "1024x1024",
}


def checkpoint_samples() -> list[Sample]:
    normal_sd1 = {
        "variant": "normal",
        "in_channels": 4,
        "text_encoders": ["clip-l"],
        "context_dim": 768,
        "layout": "ldm",
    }
    return [
        _ckpt(
            "ckpt-sd1",
            Base.SD1,
            "dreamy-mix-v1.safetensors",
            _sd1(),
            description="SD 1.5 single-file checkpoint: UNet, CLIP-L, baked VAE, fp16, pruned",
            details={
                **normal_sd1,
                "baked_vae": True,
                "ema": False,
                "pruned": True,
                "precision": "fp16",
                "prediction": None,
                "vae_latent_channels": 4,
            },
        ),
        _ckpt(
            "ckpt-sd1-ema-full",
            Base.SD1,
            "sd-v1-4-full-ema.ckpt",
            _sd1(ema=True, dtype="F32"),
            torch_only={"optimizer_states.0.state.0.exp_avg": t(320, 4, 3, 3, dtype="F32")},
            formats=(ZIP, LEGACY),
            description="SD 1.4 training checkpoint: fp32, EMA weights and optimizer state",
            details={
                **normal_sd1,
                "baked_vae": True,
                "ema": True,
                "pruned": False,
                "precision": "fp32",
            },
        ),
        _ckpt(
            "ckpt-sd1-novae",
            Base.SD1,
            "photoreal-noVAE.safetensors",
            _sd1(vae=False),
            description="SD 1.5 checkpoint without a baked VAE",
            details={**normal_sd1, "baked_vae": False, "vae_latent_channels": None},
        ),
        _ckpt(
            "ckpt-sd1-inpainting",
            Base.SD1,
            "sd-v1-5-inpainting.ckpt",
            _sd1(in_channels=9),
            formats=(ZIP, SAFE),
            description="SD 1.5 inpainting checkpoint: 9 input channels",
            details={"variant": "inpainting", "in_channels": 9, "text_encoders": ["clip-l"]},
        ),
        _ckpt(
            "ckpt-sd1-ip2p",
            Base.SD1,
            "instruct-pix2pix-00-22000.safetensors",
            _sd1(in_channels=8),
            description="InstructPix2Pix checkpoint: 8 input channels",
            details={"variant": "instruct-pix2pix", "in_channels": 8},
        ),
        _ckpt(
            "ckpt-sd2",
            Base.SD2,
            "v2-1_512-ema-pruned.safetensors",
            _sd2(),
            description="SD 2.1 base checkpoint: OpenCLIP-H text encoder, linear proj_in",
            details={
                "variant": "normal",
                "text_encoders": ["clip-h"],
                "context_dim": 1024,
                "baked_vae": True,
                "prediction": None,
            },
        ),
        _ckpt(
            "ckpt-sd2-768-v",
            Base.SD2,
            "v2-1_768-ema-pruned-768-v.safetensors",
            _sd2(),
            metadata={
                "modelspec.architecture": "stable-diffusion-v2-768-v",
                "modelspec.prediction_type": "v",
                "modelspec.resolution": "768x768",
            },
            description="SD 2.1 768-v: v-prediction, told only by metadata and name",
            details={"text_encoders": ["clip-h"], "prediction": "v"},
            metadata_details={"prediction": "v", "prediction_from": "metadata"},
        ),
        _ckpt(
            "ckpt-sdxl",
            Base.SDXL,
            "juggernautXL_v9.safetensors",
            _sdxl(),
            metadata=_MODELSPEC_SDXL,
            description="SDXL base checkpoint: CLIP-L + OpenCLIP-bigG, label_emb [1280, 2816]",
            details={
                "variant": "normal",
                "text_encoders": ["clip-l", "clip-g"],
                "baked_vae": True,
                "layout": "ldm",
                "precision": "fp16",
            },
            metadata_details={
                "hints": {
                    "architecture": "stable-diffusion-xl-v1-base",
                    "title": "Example XL",
                    "resolution": "1024x1024",
                }
            },
        ),
        _ckpt(
            "ckpt-sdxl-vpred",
            Base.SDXL,
            "noob-vpred-1.0.safetensors",
            {**_sdxl(label_emb=False, context=2048), "v_pred": t(0), "ztsnr": t(0)},
            description="SDXL v-prediction checkpoint with ComfyUI's v_pred/ztsnr marker keys",
            details={"prediction": "v", "prediction_from": "key", "context_dim": 2048},
        ),
        _ckpt(
            "ckpt-sdxl-inpainting",
            Base.SDXL,
            "sd_xl_inpainting_0.1.safetensors",
            _sdxl(in_channels=9, label_emb=False),
            description="SDXL inpainting checkpoint (9 channels), told by SGM structure",
            details={"variant": "inpainting", "in_channels": 9},
        ),
        _ckpt(
            "ckpt-sdxl-refiner",
            Base.SDXL_REFINER,
            "sd_xl_refiner_1.0.safetensors",
            _sdxl_refiner(),
            description="SDXL refiner: OpenCLIP-bigG only, model_channels 384",
            details={"text_encoders": ["clip-g"], "variant": "normal"},
        ),
        _ckpt(
            "ckpt-sd3-medium",
            Base.SD3,
            "sd3_medium_incl_clips_t5xxlfp16.safetensors",
            _sd3(),
            formats=(SAFE,),
            description="SD3 medium all-in-one: MMDiT, CLIP-L, CLIP-G, T5-XXL, 16-channel VAE",
            details={
                "text_encoders": ["clip-l", "clip-g", "t5xxl"],
                "sd3_variant": "3-medium",
                "vae_latent_channels": 16,
                "baked_vae": True,
                "hidden_size": 1536,
            },
        ),
        _ckpt(
            "ckpt-flux-dev",
            Base.FLUX,
            "flux1-dev-fp8-allinone.safetensors",
            _flux(guidance=True, dtype="F8_E4M3"),
            formats=(SAFE,),
            description="FLUX.1 dev all-in-one (ComfyUI layout): fp8 transformer, CLIP-L, T5, VAE",
            details={
                "flux_variant": "dev",
                "text_encoders": ["clip-l", "t5xxl"],
                "precision": "fp8",
                "variant": "normal",
                "baked_vae": True,
            },
        ),
        _ckpt(
            "ckpt-flux-schnell",
            Base.FLUX,
            "flux1-schnell-allinone.safetensors",
            _flux(guidance=False),
            formats=(SAFE,),
            description="FLUX.1 schnell all-in-one: no guidance_in",
            details={"flux_variant": "schnell", "precision": "bf16"},
        ),
    ]


# --------------------------------------------------------------------------- diffusion models


def _diffusers_unet(context: int, *, sdxl: bool = False) -> Tensors:
    out: Tensors = {
        "conv_in.weight": t(320, 4, 3, 3),
        "conv_in.bias": t(320),
        "time_embedding.linear_1.bias": t(1280),
        "down_blocks.0.resnets.0.norm1.weight": t(320),
        "mid_block.resnets.0.norm1.weight": t(1280),
        "up_blocks.0.resnets.0.norm1.weight": t(2560),
        "conv_norm_out.weight": t(320),
        "conv_out.weight": t(4, 320, 3, 3),
    }
    if sdxl:
        out["down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight"] = t(640, context)
        out["down_blocks.1.attentions.0.transformer_blocks.1.norm1.weight"] = t(640)
        out["add_embedding.linear_1.bias"] = t(1280)
    else:
        out["down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight"] = t(320, context)
        out["down_blocks.0.attentions.0.proj_in.weight"] = t(320, 320, 1, 1)
    return out


def _diffusers_flux() -> Tensors:
    return {
        "x_embedder.weight": t(3072, 64, dtype="BF16"),
        "x_embedder.bias": t(3072, dtype="BF16"),
        "context_embedder.bias": t(3072, dtype="BF16"),
        "time_text_embed.timestep_embedder.linear_1.bias": t(3072, dtype="BF16"),
        "time_text_embed.guidance_embedder.linear_1.bias": t(3072, dtype="BF16"),
        "transformer_blocks.0.attn.norm_added_k.weight": t(128, dtype="BF16"),
        "transformer_blocks.0.attn.add_q_proj.bias": t(3072, dtype="BF16"),
        "single_transformer_blocks.0.proj_mlp.bias": t(12288, dtype="BF16"),
        "single_transformer_blocks.37.attn.norm_k.weight": t(128, dtype="BF16"),
        "proj_out.weight": t(64, 3072, dtype="BF16"),
    }


def _diffusers_sd3(hidden: int, depth: int) -> Tensors:
    return {
        "pos_embed.proj.weight": t(hidden, 16, 2, 2),
        "pos_embed.proj.bias": t(hidden),
        "context_embedder.bias": t(hidden),
        "time_text_embed.timestep_embedder.linear_1.bias": t(hidden),
        "transformer_blocks.0.attn.add_q_proj.bias": t(hidden),
        "transformer_blocks.0.norm1_context.linear.bias": t(6 * hidden),
        f"transformer_blocks.{depth - 1}.ff.net.2.bias": t(hidden),
        "norm_out.linear.bias": t(2 * hidden),
        "proj_out.weight": t(64, hidden),
    }


def diffusion_model_samples() -> list[Sample]:
    dm = {"kind": Kind.OTHER, "component": Component.DIFFUSION_MODEL}
    return [
        _ckpt(
            "unet-sd1-ldm",
            Base.SD1,
            "sd15-unet-only.safetensors",
            _prefixed("model.diffusion_model.", ldm_unet(context=768, proj_in_conv=True)),
            description="An SD 1.5 UNet alone, still under model.diffusion_model.",
            details={"layout": "ldm", "text_encoders": [], "baked_vae": False, "context_dim": 768},
            **dm,
        ),
        _ckpt(
            "unet-sdxl-diffusers",
            Base.SDXL,
            "diffusion_pytorch_model.safetensors",
            _diffusers_unet(2048, sdxl=True),
            formats=(SAFE, ZIP),
            torch_prefix="",
            values={},
            description="An SDXL UNet in diffusers layout (unet/diffusion_pytorch_model)",
            details={"layout": "diffusers", "context_dim": 2048},
            **dm,
        ),
        _ckpt(
            "unet-sd1-diffusers",
            Base.SD1,
            "sd15-unet.bin",
            _diffusers_unet(768),
            formats=(ZIP, SAFE),
            torch_prefix="",
            values={},
            description="An SD 1.5 UNet in diffusers layout, saved by torch",
            details={"layout": "diffusers", "context_dim": 768},
            **dm,
        ),
        _ckpt(
            "flux-dev-transformer",
            Base.FLUX,
            "flux1-dev.safetensors",
            flux_transformer(guidance=True),
            formats=(SAFE,),
            values={},
            torch_prefix="",
            description="FLUX.1 dev transformer as BFL ships it (models/diffusion_models)",
            details={
                "layout": "original",
                "flux_variant": "dev",
                "precision": "bf16",
                "variant": "normal",
                "in_channels": 16,
            },
            **dm,
        ),
        _ckpt(
            "flux-schnell-transformer-fp8",
            Base.FLUX,
            "flux1-schnell-fp8-e4m3fn.safetensors",
            {
                n: TensorSpec(s.shape, "F8_E4M3" if len(s.shape) >= 2 else "BF16")
                for n, s in flux_transformer(guidance=False).items()
            },
            formats=(SAFE,),
            values={},
            torch_prefix="",
            description="FLUX.1 schnell transformer in fp8 (biases and norms in bf16)",
            details={"flux_variant": "schnell", "precision": "fp8"},
            **dm,
        ),
        _ckpt(
            "flux-fill-transformer",
            Base.FLUX,
            "flux1-fill-dev.safetensors",
            flux_transformer(guidance=True, in_features=384),
            formats=(SAFE,),
            values={},
            torch_prefix="",
            description="FLUX.1 Fill dev: img_in takes 384 features (inpainting)",
            details={"variant": "inpainting", "flux_variant": "dev", "in_channels": 96},
            **dm,
        ),
        _ckpt(
            "flux-transformer-diffusers",
            Base.FLUX,
            "diffusion_pytorch_model.safetensors",
            _diffusers_flux(),
            formats=(SAFE,),
            values={},
            torch_prefix="",
            description="FLUX.1 dev transformer in diffusers layout",
            details={"layout": "diffusers", "flux_variant": "dev"},
            **dm,
        ),
        _ckpt(
            "sd3-transformer",
            Base.SD3,
            "sd3_medium.safetensors",
            mmdit(),
            formats=(SAFE,),
            values={},
            torch_prefix="",
            description="SD3 medium MMDiT alone in SAI's names",
            details={"layout": "original", "sd3_variant": "3-medium", "hidden_size": 1536},
            **dm,
        ),
        _ckpt(
            "sd35-medium-transformer",
            Base.SD3,
            "sd3.5_medium.safetensors",
            _prefixed("model.diffusion_model.", mmdit(dual=True)),
            formats=(SAFE,),
            values={},
            torch_prefix="",
            description="SD3.5 medium (MMDiT-X: x_block.attn2) under model.diffusion_model.",
            details={"sd3_variant": "3.5-medium"},
            **dm,
        ),
        _ckpt(
            "sd35-large-transformer-diffusers",
            Base.SD3,
            "sd3.5_large_transformer.safetensors",
            _dtype(_diffusers_sd3(2432, 38), "BF16"),
            formats=(SAFE,),
            values={},
            torch_prefix="",
            description="SD3.5 large transformer in diffusers layout (width 2432)",
            details={"layout": "diffusers", "sd3_variant": "3.5-large", "hidden_size": 2432},
            **dm,
        ),
    ]


# --------------------------------------------------------------------------- VAEs


def vae_samples() -> list[Sample]:
    def vae(name: str, base: Base, filename: str, tensors: Tensors, **kw: object) -> Sample:
        fields: dict[str, object] = {"formats": (SAFE, ZIP), "values": {}, "torch_prefix": ""}
        fields.update(kw)
        return _ckpt(name, base, filename, tensors, kind=Kind.VAE, **fields)  # type: ignore[arg-type]

    loss = {
        "loss.logvar": t(dtype="F32"),
        "loss.discriminator.main.0.weight": t(64, 3, 4, 4, dtype="F32"),
        "loss.perceptual_loss.lin0.model.1.weight": t(1, 64, 1, 1, dtype="F32"),
    }
    return [
        vae(
            "vae-sd1-ft-mse",
            Base.SD1,
            "vae-ft-mse-840000-ema-pruned.safetensors",
            ldm_vae(4),
            description="The SD1 fine-tuned VAE (LDM layout): base told by its well-known name",
            details={
                "latent_channels": 4,
                "layout": "ldm",
                "base_from": "name",
                "baked_in_checkpoint_prefix": None,
            },
        ),
        vae(
            "vae-sd1-ckpt-with-loss",
            Base.SD1,
            "vae-ft-ema-560000-ema-pruned.ckpt",
            {**_dtype(ldm_vae(4), "F32"), **loss},
            formats=(ZIP,),
            torch_prefix="state_dict.",
            nesting=(Nest.DICT,),
            values={"global_step": 560001},
            description="An LDM VAE .ckpt with discriminator loss.* keys under state_dict",
            details={"latent_channels": 4, "training_state": True, "precision": "fp32"},
        ),
        vae(
            "vae-sdxl",
            Base.SDXL,
            "sdxl_vae.safetensors",
            ldm_vae(4),
            description="The SDXL VAE: same shapes as SD1's, base from the name",
            details={"latent_channels": 4, "base_from": "name"},
        ),
        vae(
            "vae-unknown-z4",
            Base.UNKNOWN,
            "kl-f8-anime2.ckpt",
            ldm_vae(4),
            formats=(ZIP, SAFE),
            description="A 4-channel VAE whose name tells nothing: base stays unknown",
            details={
                "latent_channels": 4,
                "base_from": None,
                "candidates": ["sd1", "sd2", "sdxl", "sdxl-refiner"],
            },
        ),
        vae(
            "vae-diffusers",
            Base.SDXL,
            "sdxl-vae-fp16-fix.safetensors",
            diffusers_vae(4),
            description="An SDXL VAE in diffusers layout (vae/diffusion_pytorch_model)",
            details={"layout": "diffusers", "latent_channels": 4, "base_from": "name"},
        ),
        vae(
            "vae-flux",
            Base.FLUX,
            "flux-ae.safetensors",
            _dtype(ldm_vae(16, quant=False), "BF16"),
            formats=(SAFE,),
            description="FLUX.1's 16-channel autoencoder (ae.safetensors): no quant_conv",
            details={"latent_channels": 16, "quant_conv": False, "base_from": "name"},
        ),
        vae(
            "vae-sd3-diffusers",
            Base.SD3,
            "sd3_vae.safetensors",
            diffusers_vae(16, quant=False),
            formats=(SAFE,),
            description="SD3's 16-channel VAE in diffusers layout",
            details={"latent_channels": 16, "layout": "diffusers", "base_from": "name"},
        ),
        vae(
            "vae-extracted-prefix",
            Base.UNKNOWN,
            "extracted-vae.safetensors",
            _prefixed("first_stage_model.", ldm_vae(4)),
            description="A VAE cut out of a checkpoint that kept first_stage_model.",
            details={"baked_in_checkpoint_prefix": "first_stage_model.", "latent_channels": 4},
        ),
    ]


# --------------------------------------------------------------------------- other components


def _taesd_decoder(z: int) -> Tensors:
    out: Tensors = {"1.weight": t(64, z, 3, 3), "1.bias": t(64)}
    for block in (3, 4, 5, 8, 9, 10, 13, 14, 15, 18):
        for conv in (0, 2, 4):
            out[f"{block}.conv.{conv}.weight"] = t(64, 64, 3, 3)
            out[f"{block}.conv.{conv}.bias"] = t(64)
    for up in (7, 12, 17):
        out[f"{up}.weight"] = t(64, 64, 3, 3)
    out["19.weight"] = t(3, 64, 3, 3)
    out["19.bias"] = t(3)
    return out


def _controlnet_ldm(context: int) -> Tensors:
    out = {
        "control_model.input_hint_block.0.weight": t(16, 3, 3, 3),
        "control_model.input_hint_block.14.bias": t(320),
        "control_model.zero_convs.0.0.weight": t(320, 320, 1, 1),
        "control_model.middle_block_out.0.bias": t(1280),
        "control_model.time_embed.0.bias": t(1280),
    }
    unet = ldm_unet(context=context)
    out.update(
        {
            f"control_model.{k}": v
            for k, v in unet.items()
            if not k.startswith(("out.", "output_blocks"))
        }
    )
    return out


def _controlnet_diffusers_sdxl() -> Tensors:
    return {
        "conv_in.weight": t(320, 4, 3, 3),
        "controlnet_cond_embedding.conv_in.weight": t(16, 3, 3, 3),
        "controlnet_cond_embedding.conv_out.bias": t(320),
        "controlnet_down_blocks.0.weight": t(320, 320, 1, 1),
        "controlnet_mid_block.bias": t(1280),
        "time_embedding.linear_1.bias": t(1280),
        "add_embedding.linear_1.bias": t(1280),
        "down_blocks.1.attentions.0.transformer_blocks.0.norm1.weight": t(640),
        "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight": t(640, 2048),
    }


def _rrdb(prefix: str = "") -> Tensors:
    out: Tensors = {
        f"{prefix}conv_first.weight": t(64, 3, 3, 3, dtype="F32"),
        f"{prefix}conv_first.bias": t(64, dtype="F32"),
    }
    for block in (0, 22):
        for rdb in (1, 2, 3):
            out[f"{prefix}body.{block}.rdb{rdb}.conv1.weight"] = t(32, 64, 3, 3, dtype="F32")
            out[f"{prefix}body.{block}.rdb{rdb}.conv5.bias"] = t(64, dtype="F32")
    for layer in ("conv_body", "conv_up1", "conv_up2", "conv_hr"):
        out[f"{prefix}{layer}.weight"] = t(64, 64, 3, 3, dtype="F32")
    out[f"{prefix}conv_last.weight"] = t(3, 64, 3, 3, dtype="F32")
    return out


def _esrgan_old() -> Tensors:
    out: Tensors = {
        "model.0.weight": t(64, 3, 3, 3, dtype="F32"),
        "model.0.bias": t(64, dtype="F32"),
    }
    for block in (0, 22):
        for rdb in (1, 2, 3):
            out[f"model.1.sub.{block}.RDB{rdb}.conv1.0.weight"] = t(32, 64, 3, 3, dtype="F32")
            out[f"model.1.sub.{block}.RDB{rdb}.conv5.0.bias"] = t(64, dtype="F32")
    out["model.1.sub.23.weight"] = t(64, 64, 3, 3, dtype="F32")
    out["model.3.weight"] = t(64, 64, 3, 3, dtype="F32")
    out["model.6.weight"] = t(64, 64, 3, 3, dtype="F32")
    out["model.8.weight"] = t(64, 64, 3, 3, dtype="F32")
    out["model.10.weight"] = t(3, 64, 3, 3, dtype="F32")
    return out


def _compact(scale: int = 4) -> Tensors:
    out: Tensors = {"body.0.weight": t(64, 3, 3, 3, dtype="F32"), "body.0.bias": t(64, dtype="F32")}
    for i in range(1, 9, 2):  # realesr-general-x4v3 has 32 convs; 4 tell the same
        out[f"body.{i}.weight"] = t(64, dtype="F32")  # PReLU
        out[f"body.{i + 1}.weight"] = t(64, 64, 3, 3, dtype="F32")
        out[f"body.{i + 1}.bias"] = t(64, dtype="F32")
    out["body.9.weight"] = t(64, dtype="F32")
    out["body.10.weight"] = t(3 * scale * scale, 64, 3, 3, dtype="F32")
    out["body.10.bias"] = t(3 * scale * scale, dtype="F32")
    return out


def _swinir() -> Tensors:
    return {
        "conv_first.weight": t(180, 3, 3, 3, dtype="F32"),
        "patch_embed.norm.weight": t(180, dtype="F32"),
        "layers.0.residual_group.blocks.0.norm1.weight": t(180, dtype="F32"),
        "layers.0.residual_group.blocks.0.attn.relative_position_bias_table": t(
            225, 6, dtype="F32"
        ),
        "layers.0.conv.weight": t(180, 180, 3, 3, dtype="F32"),
        "norm.weight": t(180, dtype="F32"),
        "conv_after_body.bias": t(180, dtype="F32"),
        "conv_last.weight": t(3, 64, 3, 3, dtype="F32"),
    }


def _other(
    name: str, base: Base, component: Component, filename: str, tensors: Tensors, **kw: object
) -> Sample:
    fields: dict[str, object] = {
        "formats": (SAFE, ZIP),
        "values": {},
        "torch_prefix": "",
        "kind": Kind.OTHER,
        "component": component,
    }
    fields.update(kw)
    return _ckpt(name, base, filename, tensors, **fields)  # type: ignore[arg-type]


def other_samples() -> list[Sample]:
    return [
        _other(
            "vae-approx-taesd-decoder",
            Base.SD1,
            Component.VAE_APPROX,
            "taesd_decoder.pth",
            _taesd_decoder(4),
            formats=(ZIP, SAFE),
            description="TAESD tiny decoder (4 latent channels); SD1 from its name (taesd = SD1)",
            details={
                "architecture": "taesd",
                "latent_channels": 4,
                "decoder": True,
                "encoder": False,
                "base_from": "name",
            },
        ),
        _other(
            "vae-approx-taef1-decoder",
            Base.FLUX,
            Component.VAE_APPROX,
            "taef1_decoder.safetensors",
            _taesd_decoder(16),
            description="TAEF1 tiny decoder for Flux (16 latent channels), base from the name",
            details={"latent_channels": 16, "base_from": "name"},
        ),
        _other(
            "vae-approx-a1111",
            Base.UNKNOWN,
            Component.VAE_APPROX,
            "model.pt",
            {
                name: t(*shape, dtype="F32")
                for i, (cout, cin, k) in enumerate(
                    [
                        (8, 4, 7),
                        (16, 8, 5),
                        (32, 16, 3),
                        (64, 32, 3),
                        (32, 64, 3),
                        (16, 32, 3),
                        (8, 16, 3),
                        (3, 8, 3),
                    ],
                    start=1,
                )
                for name, shape in (
                    (f"conv{i}.weight", (cout, cin, k, k)),
                    (f"conv{i}.bias", (cout,)),
                )
            },
            formats=(ZIP,),
            description="A1111's VAE-approx/model.pt (cheap latent preview)",
            details={"architecture": "a1111-vae-approx", "latent_channels": 4},
        ),
        _other(
            "controlnet-sd1-ldm",
            Base.SD1,
            Component.CONTROLNET,
            "control_v11p_sd15_canny.pth",
            _controlnet_ldm(768),
            formats=(ZIP, SAFE),
            description="ControlNet 1.1 for SD1 (control_model.* in LDM names)",
            details={"layout": "ldm", "context_dim": 768},
        ),
        _other(
            "controlnet-sd2-ldm",
            Base.SD2,
            Component.CONTROLNET,
            "controlnet-sd21-depth.safetensors",
            _controlnet_ldm(1024),
            description="ControlNet for SD 2.1 (context width 1024)",
            details={"layout": "ldm", "context_dim": 1024},
        ),
        _other(
            "controlnet-sdxl-diffusers",
            Base.SDXL,
            Component.CONTROLNET,
            "controlnet-canny-sdxl-1.0.safetensors",
            _controlnet_diffusers_sdxl(),
            description="An SDXL ControlNet in diffusers layout (context width 2048)",
            details={"layout": "diffusers", "context_dim": 2048},
        ),
        _other(
            "controlnet-flux-diffusers",
            Base.FLUX,
            Component.CONTROLNET,
            "flux-controlnet-union.safetensors",
            {
                "controlnet_x_embedder.weight": t(3072, 64, dtype="BF16"),
                "controlnet_blocks.0.bias": t(3072, dtype="BF16"),
                "controlnet_single_blocks.0.bias": t(3072, dtype="BF16"),
                "x_embedder.bias": t(3072, dtype="BF16"),
                "transformer_blocks.0.attn.add_q_proj.bias": t(3072, dtype="BF16"),
            },
            formats=(SAFE,),
            description="A Flux ControlNet in diffusers layout",
            details={"layout": "diffusers-dit"},
        ),
        _other(
            "t2i-adapter-sd1",
            Base.SD1,
            Component.T2I_ADAPTER,
            "t2iadapter_canny_sd15v2.pth",
            {
                "conv_in.weight": t(320, 64, 3, 3),
                "conv_in.bias": t(320),
                "body.0.block1.bias": t(320),
                "body.0.block2.bias": t(320),
                "body.2.in_conv.weight": t(640, 320, 1, 1),
                "body.7.block1.bias": t(1280),
            },
            formats=(ZIP, SAFE),
            description="TencentARC T2I-Adapter for SD1 (1-channel input, pixel-unshuffle 8)",
            details={"input_channels": 64},
        ),
        _other(
            "t2i-adapter-sdxl-diffusers",
            Base.SDXL,
            Component.T2I_ADAPTER,
            "t2i-adapter-lineart-sdxl-1.0.safetensors",
            {
                "adapter.conv_in.weight": t(320, 768, 3, 3),
                "adapter.body.0.resnets.0.block1.bias": t(320),
                "adapter.body.2.resnets.1.block2.bias": t(1280),
            },
            description="An SDXL T2I-Adapter in diffusers layout (pixel-unshuffle 16)",
            details={"input_channels": 768},
        ),
        _other(
            "ip-adapter-sd15",
            Base.SD1,
            Component.IP_ADAPTER,
            "ip-adapter_sd15.bin",
            {
                "image_proj.proj.bias": t(3072),
                "image_proj.norm.weight": t(768),
                "image_proj.norm.bias": t(768),
                "ip_adapter.1.to_k_ip.weight": t(320, 768),
            },
            formats=(ZIP, SAFE),
            nesting=(Nest.DICT,),
            description="IP-Adapter for SD 1.5: {image_proj: …, ip_adapter: …}",
            details={"variant": "base", "context_dim": 768},
        ),
        _other(
            "ip-adapter-plus-sdxl",
            Base.SDXL,
            Component.IP_ADAPTER,
            "ip-adapter-plus_sdxl_vit-h.safetensors",
            {
                "image_proj.latents": t(1, 16, 1280),
                "image_proj.proj_in.bias": t(1280),
                "image_proj.proj_out.bias": t(2048),
                "image_proj.norm_out.weight": t(2048),
                "image_proj.layers.0.0.norm1.weight": t(1280),
                "ip_adapter.1.to_k_ip.weight": t(640, 2048),
            },
            nesting=(Nest.DICT,),
            description="IP-Adapter Plus for SDXL (resampler image projection)",
            details={"variant": "plus", "context_dim": 2048},
        ),
        _other(
            "upscaler-realesrgan",
            Base.UNKNOWN,
            Component.UPSCALER,
            "RealESRGAN_x4plus.pth",
            _rrdb(),
            formats=(ZIP,),
            torch_prefix="params_ema.",
            nesting=(Nest.DICT,),
            description="Real-ESRGAN x4plus: BasicSR RRDBNet under params_ema",
            details={"architecture": "esrgan", "scale": 4},
        ),
        _other(
            "upscaler-esrgan-old",
            Base.UNKNOWN,
            Component.UPSCALER,
            "4x-UltraSharp.pth",
            _esrgan_old(),
            formats=(ZIP, SAFE),
            description="An ESRGAN model in the old architecture names (model.N.sub…)",
            details={"architecture": "esrgan-old"},
        ),
        _other(
            "upscaler-compact",
            Base.UNKNOWN,
            Component.UPSCALER,
            "realesr-general-x4v3.pth",
            _compact(4),
            formats=(ZIP,),
            torch_prefix="params.",
            nesting=(Nest.DICT,),
            description="SRVGGNetCompact (realesr-general-x4v3) under params",
            details={"architecture": "compact", "scale": 4},
        ),
        _other(
            "upscaler-swinir",
            Base.UNKNOWN,
            Component.UPSCALER,
            "003_realSR_BSRGAN_DFO_s64w8_SwinIR-M_x4_GAN.pth",
            _swinir(),
            formats=(ZIP,),
            torch_prefix="params_ema.",
            nesting=(Nest.DICT,),
            description="SwinIR-M x4 under params_ema",
            details={"architecture": "swinir"},
        ),
        _other(
            "text-encoder-clip-l",
            Base.UNKNOWN,
            Component.TEXT_ENCODER,
            "clip_l.safetensors",
            {**clip_hf(768), "text_projection.weight": t(768, 768)},
            formats=(SAFE,),
            description="CLIP-L text encoder alone (ComfyUI models/text_encoders)",
            details={"encoder": "clip-l", "width": 768, "layers": 12, "base_from": None},
        ),
        _other(
            "text-encoder-clip-g",
            Base.UNKNOWN,
            Component.TEXT_ENCODER,
            "clip_g.safetensors",
            clip_hf(1280, 32),
            formats=(SAFE,),
            description="OpenCLIP bigG text encoder in Hugging Face names",
            details={"encoder": "clip-g", "width": 1280, "layers": 32},
        ),
        _other(
            "text-encoder-t5xxl",
            Base.UNKNOWN,
            Component.TEXT_ENCODER,
            "t5xxl_fp8_e4m3fn.safetensors",
            {**t5xxl(), "shared.weight": t(64, 4096, dtype="F8_E4M3")},
            formats=(SAFE,),
            description="T5-XXL encoder (Flux/SD3)",
            details={
                "encoder": "t5xxl",
                "width": 4096,
                "layers": 24,
                "candidates": ["sd3", "flux"],
            },
        ),
        _other(
            "motion-module-sd15",
            Base.SD1,
            Component.MOTION_MODULE,
            "mm_sd_v15_v2.ckpt",
            {
                f"{blk}.motion_modules.{i}.temporal_transformer.{leaf}": spec
                for blk, width in (
                    ("down_blocks.0", 320),
                    ("down_blocks.3", 1280),
                    ("mid_block", 1280),
                    ("up_blocks.3", 320),
                )
                for i in ((0,) if blk == "mid_block" else (0, 1))
                for leaf, spec in (
                    ("norm.weight", t(width)),
                    ("proj_in.bias", t(width)),
                    ("transformer_blocks.0.attention_blocks.0.pos_encoder.pe", t(1, 32, width)),
                )
            },
            formats=(ZIP, SAFE),
            description="AnimateDiff v2 motion module for SD 1.5",
            details={"mid_block": True, "max_frames": 32},
        ),
        _other(
            "other-unknown",
            Base.UNKNOWN,
            Component.UNKNOWN,
            "mystery.safetensors",
            {
                "encoder.layer.0.attention.self.query.weight": t(8, 8, dtype="F32"),
                "pooler.dense.bias": t(8, dtype="F32"),
                "embeddings.word_embeddings.weight": t(16, 8, dtype="F32"),
            },
            description="A readable file of no known model layout (a tiny BERT)",
            details={"tensors": 3},
            warnings=("no known model layout",),
        ),
    ]


def model_samples() -> list[Sample]:
    return [*checkpoint_samples(), *diffusion_model_samples(), *vae_samples(), *other_samples()]
