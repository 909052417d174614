"""Checkpoints and bare diffusion models: the UNet or DiT, its text encoders, its VAE."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._classify_common import (
    ENCODER_BY_WIDTH,
    TRAINING_STATE,
    View,
    parameters,
    precision,
    result,
)
from ._lazy_re import LazyPattern
from .kinds import Base, Component, Kind
from .report import Classification
from .tensor_index import TensorInfo

LDM_PREFIX = "model.diffusion_model."
_UNET_VARIANTS: dict[int, str] = {
    4: "normal",
    9: "inpainting",
    8: "instruct-pix2pix",
    5: "depth",
    7: "upscaler",
}
_FLUX_VARIANTS: dict[int, str] = {64: "normal", 384: "inpainting", 128: "control"}
_BY_CONTEXT: dict[int, Base] = {
    768: Base.SD1,
    1024: Base.SD2,
    2048: Base.SDXL,
    1280: Base.SDXL_REFINER,
}
_BY_ADM: dict[int, Base] = {2816: Base.SDXL, 2560: Base.SDXL_REFINER}
_SDXL_STRUCTURE = LazyPattern(
    r"^(?:input_blocks\.[4578]\.1|output_blocks\.[0-5]\.1|middle_block\.1)\.transformer_blocks\.[1-9]\."
    r"|^(?:down_blocks\.[12]|up_blocks\.[01])\.attentions\.\d\.transformer_blocks\.[1-9]\."
)

#: (prefix, layout of the encoder inside) of text encoders in single-file checkpoints.
TE_PREFIXES: tuple[tuple[str, str], ...] = (
    ("cond_stage_model.transformer.", "hf"),
    ("cond_stage_model.model.", "openclip"),
    ("conditioner.embedders.0.transformer.", "hf"),
    ("conditioner.embedders.0.model.", "openclip"),
    ("conditioner.embedders.1.model.", "openclip"),
    ("conditioner.embedders.1.transformer.", "hf"),
    ("text_encoders.clip_l.", "hf"),
    ("text_encoders.clip_g.", "hf"),
    ("text_encoders.t5xxl.", "t5"),
)
VAE_PREFIXES: tuple[str, ...] = ("first_stage_model.", "vae.")
_WIDTH_KEYS = LazyPattern(
    r"(?:final_layer_norm\.weight|ln_final\.weight|positional_embedding|position_embedding\.weight"
    r"|token_embedding\.weight|shared\.weight)$"
)


@dataclass(slots=True)
class Denoiser:
    """The UNet or transformer of a file, wherever its keys sit."""

    arch: str  # "unet" | "mmdit" | "flux"
    layout: str  # "ldm" | "original" | "diffusers"
    tensors: dict[str, TensorInfo]
    base: Base = Base.UNKNOWN
    candidates: list[Base] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def find_denoiser(view: View) -> Denoiser | None:
    ldm = view.sub(LDM_PREFIX)
    if ldm:
        return _analyse(ldm, "ldm")
    t = view.tensors
    if "input_blocks.0.0.weight" in t or view.any_prefix("double_blocks.", "joint_blocks."):
        return _analyse(t, "original")
    if (
        "conv_in.weight" in t
        and view.any_prefix("down_blocks.")
        and view.any_prefix("time_embedding.")
    ):
        return _analyse(t, "diffusers")
    if "x_embedder.weight" in t and view.any_prefix("single_transformer_blocks."):
        return _analyse(t, "diffusers")
    if "pos_embed.proj.weight" in t and view.any_prefix("transformer_blocks."):
        return _analyse(t, "diffusers")
    return None


def _analyse(t: dict[str, TensorInfo], layout: str) -> Denoiser | None:
    names = t.keys()
    if any(n.startswith("double_blocks.") for n in names) or (
        "x_embedder.weight" in t and any(n.startswith("single_transformer_blocks.") for n in names)
    ):
        return _flux(t, layout)
    if any(n.startswith("joint_blocks.") for n in names) or "pos_embed.proj.weight" in t:
        return _mmdit(t, layout)
    if (
        "input_blocks.0.0.weight" in t
        or "conv_in.weight" in t
        or any(n.startswith(("input_blocks.", "middle_block.", "down_blocks.")) for n in names)
    ):
        return _unet(t, layout)
    return None


def _first(t: dict[str, TensorInfo], suffix: str) -> TensorInfo | None:
    for name, info in t.items():
        if name.endswith(suffix):
            return info
    return None


def _unet(t: dict[str, TensorInfo], layout: str) -> Denoiser:
    den = Denoiser("unet", layout, t)
    conv_in = t.get("input_blocks.0.0.weight") or t.get("conv_in.weight")
    in_channels = conv_in.shape[1] if conv_in and len(conv_in.shape) == 4 else None
    model_channels = conv_in.shape[0] if conv_in and conv_in.shape else None
    to_k = _first(t, ".attn2.to_k.weight")
    context = to_k.shape[1] if to_k and len(to_k.shape) == 2 else None
    adm_info = (
        t.get("label_emb.0.0.weight")
        or t.get("add_embedding.linear_1.weight")
        or t.get("class_embedding.linear_1.weight")
    )
    adm = adm_info.shape[1] if adm_info and len(adm_info.shape) == 2 else None
    proj_in = _first(t, ".proj_in.weight")
    den.details = {
        "variant": _UNET_VARIANTS.get(in_channels or 4, "other"),
        "in_channels": in_channels,
        "context_dim": context,
    }
    if context in _BY_CONTEXT:
        den.base = _BY_CONTEXT[context]
        if den.base is Base.SD2 and adm:
            den.details["variant"] = "unclip"
    elif adm in _BY_ADM:
        den.base = _BY_ADM[adm]
    elif context is not None:
        pass  # a cross-attention width no family has (tiny test models): unknown, no candidates
    elif model_channels == 384:
        den.base = Base.SDXL_REFINER
    elif any(_SDXL_STRUCTURE.search(n) for n in t):
        den.base = Base.SDXL
    elif proj_in is not None:
        den.base = Base.SD1 if len(proj_in.shape) == 4 else Base.UNKNOWN
        den.candidates = [] if den.base is Base.SD1 else [Base.SD2, Base.SDXL]
    else:
        den.candidates = [Base.SD1, Base.SD2, Base.SDXL, Base.SDXL_REFINER]
    return den


def _mmdit(t: dict[str, TensorInfo], layout: str) -> Denoiser:
    den = Denoiser("mmdit", layout, t)
    embed = t.get("x_embedder.proj.weight") or t.get("pos_embed.proj.weight")
    hidden = embed.shape[0] if embed and embed.shape else None
    in_channels = embed.shape[1] if embed and len(embed.shape) == 4 else None
    dual = any(".x_block.attn2." in n or ".attn2." in n for n in t)
    if hidden == 2432:
        sd3_variant = "3.5-large"
    elif hidden == 1536:
        sd3_variant = "3.5-medium" if dual else "3-medium"
    else:
        sd3_variant = None
    den.base = Base.SD3
    den.details = {
        "variant": "normal" if in_channels in (16, None) else "other",
        "in_channels": in_channels,
        "hidden_size": hidden,
        "sd3_variant": sd3_variant,
    }
    return den


def _flux(t: dict[str, TensorInfo], layout: str) -> Denoiser:
    den = Denoiser("flux", layout, t)
    prefix = "img_in." if "img_in.weight" in t else "x_embedder."
    img_in = t.get(prefix + "weight")
    hidden = img_in.shape[0] if img_in and img_in.shape else None
    in_features = img_in.shape[1] if img_in and len(img_in.shape) == 2 else None
    if img_in is not None and _bnb_packed(t, prefix + "weight"):
        # bitsandbytes 4-bit (Forge's NF4 Flux): the weight is packed bytes [out·in/2, 1];
        # the bias keeps the real width.
        bias = t.get(prefix + "bias")
        hidden = bias.shape[0] if bias is not None and len(bias.shape) == 1 else None
        in_features = 2 * img_in.numel // hidden if hidden else None
    guidance = any(n.startswith(("guidance_in.", "time_text_embed.guidance_embedder.")) for n in t)
    if any(n.startswith("distilled_guidance_layer.") for n in t):
        flux_variant = "chroma"
    else:
        flux_variant = "dev" if guidance else "schnell"
    den.details = {
        "variant": _FLUX_VARIANTS.get(in_features or 64, "other"),
        "in_channels": (in_features // 4) if in_features else None,
        "hidden_size": hidden,
        "flux_variant": flux_variant,
    }
    if hidden in (3072, None):
        den.base = Base.FLUX
    else:
        den.details["architecture"] = f"flux-like transformer (width {hidden})"
    return den


_BNB_STATE = ".quant_state.bitsandbytes__"


def _bnb_packed(t: dict[str, TensorInfo], name: str) -> bool:
    """Is ``name`` a bitsandbytes 4-bit weight (its shape is the packing's, not the layer's)?"""
    return any(f"{name}{_BNB_STATE}{kind}" in t for kind in ("nf4", "fp4"))


def quantization(t: dict[str, TensorInfo]) -> str | None:
    """``nf4``/``fp4`` when the weights are bitsandbytes-quantized (their dtype says U8)."""
    for name in t:
        cut = name.rfind(_BNB_STATE)
        if cut >= 0:
            kind = name[cut + len(_BNB_STATE) :]
            if kind in ("nf4", "fp4"):
                return kind
    return None


# --------------------------------------------------------------------------- encoders, VAE


def encoder_width(tensors: dict[str, TensorInfo]) -> int | None:
    """The hidden width of a text encoder from its final norm or embeddings."""
    for name, info in tensors.items():
        if _WIDTH_KEYS.search(name) and info.shape:
            return info.shape[-1]
    for info in tensors.values():
        if len(info.shape) == 2:
            return info.shape[-1]
    return None


def text_encoders(view: View) -> list[tuple[str, int | None]]:
    """(name, hidden width) of each text encoder in a single-file checkpoint.

    The name is the family's (``clip-l``…) or ``<layout>-<width>`` for a width
    no family has (``hf-48`` in a tiny test model).
    """
    found: dict[str, int | None] = {}
    for prefix, layout in TE_PREFIXES:
        sub = view.sub(prefix)
        if not sub:
            continue
        width = encoder_width(sub)
        name = "t5xxl" if layout == "t5" else ENCODER_BY_WIDTH.get(width or 0)
        if name is None:
            name = f"{layout}-{width}"
        found.setdefault(name, width)
    return list(found.items())


def baked_vae(view: View) -> tuple[str | None, int | None, int | None]:
    """(prefix, latent channels, base channels) of a VAE inside a checkpoint."""
    for prefix in VAE_PREFIXES:
        sub = view.sub(prefix)
        if any(n.startswith(("decoder.", "encoder.")) for n in sub):
            return prefix, latent_channels(sub), vae_channels(sub)
    return None, None, None


def vae_channels(t: dict[str, TensorInfo]) -> int | None:
    """A VAE's first block width: 128 in every SD-family VAE, less in tiny test models."""
    conv_in = t.get("encoder.conv_in.weight")
    if conv_in is not None and len(conv_in.shape) == 4:
        return conv_in.shape[0]
    conv_out = t.get("decoder.conv_out.weight")
    if conv_out is not None and len(conv_out.shape) == 4:
        return conv_out.shape[1]
    return None


def latent_channels(t: dict[str, TensorInfo]) -> int | None:
    for name, index in (
        ("decoder.conv_in.weight", 1),
        ("post_quant_conv.weight", 0),
        ("encoder.conv_out.weight", 0),
        ("quant_conv.weight", 0),
    ):
        info = t.get(name)
        if info is not None and len(info.shape) > index:
            size = info.shape[index]
            return size // 2 if name in ("encoder.conv_out.weight", "quant_conv.weight") else size
    return None


# --------------------------------------------------------------------------- classification

_TE_BASES: dict[frozenset[str], Base] = {
    frozenset({"clip-l"}): Base.SD1,
    frozenset({"clip-h"}): Base.SD2,
    frozenset({"clip-l", "clip-g"}): Base.SDXL,
    frozenset({"clip-g"}): Base.SDXL_REFINER,
}


def classify_checkpoint(view: View) -> Classification | None:
    den = find_denoiser(view)
    if den is None:
        return None
    found_encoders = text_encoders(view)
    encoders = [name for name, _ in found_encoders]
    vae_prefix, z, vae_width = baked_vae(view)
    warnings = list(den.warnings)
    base, candidates = den.base, list(den.candidates)
    if den.arch == "unet":
        te_base = _TE_BASES.get(frozenset(encoders))
        # A UNet whose cross-attention width no family has is not settled by its encoders.
        context_known = den.details.get("context_dim") is not None
        if base is Base.UNKNOWN and te_base is not None and not context_known:
            base, candidates = te_base, []
        elif te_base is not None and base not in (te_base, Base.UNKNOWN):
            warnings.append(
                f"text encoders ({'+'.join(encoders)}) do not match the {base.value} UNet"
            )
        elif te_base is not None and base is Base.UNKNOWN:
            warnings.append(
                f"text encoders ({'+'.join(encoders)}) do not match the UNet's"
                f" cross-attention width {den.details['context_dim']}"
            )
    ema = view.any_prefix("model_ema.")
    training = view.training_tensors > 0 or any(k.startswith(TRAINING_STATE) for k in view.values)
    details: dict[str, Any] = dict(den.details)
    details.update(
        {
            "layout": den.layout,
            "text_encoders": encoders,
            "text_widths": [width for _, width in found_encoders if width],
            "baked_vae": vae_prefix is not None,
            "vae_latent_channels": z,
            "vae_channels": vae_width,
            "ema": ema,
            "pruned": not ema and not training,
            "precision": quantization(den.tensors) or precision(den.tensors.values()),
            "params": parameters(view.tensors.values()),
        }
    )
    if encoders or vae_prefix:
        if not encoders and den.arch == "unet":
            warnings.append("checkpoint has no text encoder")
        return result(
            Kind.CHECKPOINT, base, details=details, warnings=warnings, candidates=candidates
        )
    return result(
        Kind.OTHER,
        base,
        Component.DIFFUSION_MODEL,
        details=details,
        warnings=warnings,
        candidates=candidates,
    )
