"""VAEs and the ``other`` components: ControlNets, adapters, upscalers, encoders, motion modules."""

from __future__ import annotations

import math
import re
from typing import Any

from ._classify_ckpt import VAE_PREFIXES, encoder_width, latent_channels, vae_channels
from ._classify_common import ENCODER_BY_WIDTH, View, most_common, parameters, precision, result
from ._lazy_re import LazyPattern
from .kinds import Base, Component, Kind
from .report import Classification
from .tensor_index import TensorInfo

_Z4 = [Base.SD1, Base.SD2, Base.SDXL, Base.SDXL_REFINER]
#: Every SD-family VAE (SD1/2, SDXL, SD3, Flux) starts with 128 channels.
_SD_VAE_CHANNELS = 128
_Z16 = [Base.SD3, Base.FLUX]
_BY_CONTEXT: dict[int, Base] = {
    768: Base.SD1,
    1024: Base.SD2,
    2048: Base.SDXL,
    1280: Base.SDXL_REFINER,
}


def _common(tensors: dict[str, TensorInfo] | list[TensorInfo]) -> dict[str, Any]:
    infos = list(tensors.values()) if isinstance(tensors, dict) else tensors
    return {"precision": precision(infos), "params": parameters(infos)}


# --------------------------------------------------------------------------- VAE


def classify_vae(view: View) -> Classification | None:
    tensors = {n: t for n, t in view.tensors.items() if not n.startswith("loss.")}
    prefix: str | None = None
    for candidate in VAE_PREFIXES:
        sub = {n[len(candidate) :]: t for n, t in tensors.items() if n.startswith(candidate)}
        if sub and len(sub) * 2 >= len(tensors):
            tensors, prefix = sub, candidate
            break
    names = list(tensors)
    has_encoder = any(n.startswith("encoder.") for n in names)
    has_decoder = any(n.startswith("decoder.") for n in names)
    if not has_decoder and not has_encoder:
        return None
    if not ("decoder.conv_in.weight" in tensors or "encoder.conv_in.weight" in tensors):
        return None
    conv_in = tensors.get("encoder.conv_in.weight") or tensors.get("decoder.conv_out.weight")
    if conv_in is not None and len(conv_in.shape) != 4:
        return None  # 3-D (video) autoencoders are not SD VAEs
    if any(n.startswith(("decoder.up_blocks.", "encoder.down_blocks.")) for n in names):
        layout = "diffusers"
    elif any(
        n.startswith(("decoder.up.", "encoder.down.", "decoder.mid.", "encoder.mid."))
        for n in names
    ):
        layout = "ldm"
    else:
        return None
    z = latent_channels(tensors)
    channels = vae_channels(tensors)
    has_quant = "quant_conv.weight" in tensors or "post_quant_conv.weight" in tensors
    details: dict[str, Any] = {
        "latent_channels": z,
        "channels": channels,
        "layout": layout,
        "baked_in_checkpoint_prefix": prefix,
        "encoder": has_encoder,
        "decoder": has_decoder,
        "quant_conv": has_quant,
        "training_state": any(n.startswith("loss.") for n in view.tensors),
        **_common(tensors),
    }
    warnings: list[str] = []
    if not has_decoder:
        warnings.append("VAE has no decoder: it cannot turn latents into images")
    candidates = _Z4 if z == 4 else _Z16 if z == 16 else []
    if channels is not None and channels != _SD_VAE_CHANNELS:
        candidates = []  # an architecture no family has (tiny test models)
    return result(Kind.VAE, details=details, warnings=warnings, candidates=candidates)


_TAESD_BLOCK = LazyPattern(
    r"^(?:\d+|(?:encoder|decoder)\.layers\.\d+|taesd_(?:encoder|decoder)\.\d+)\.conv\.\d+\.weight$"
)
_TAESD_CONV = LazyPattern(
    r"^(?:(?:encoder|decoder)\.layers\.|taesd_(?:encoder|decoder)\.)?(\d+)\.weight$"
)


def classify_vae_approx(view: View) -> Classification | None:
    """TAESD-style tiny autoencoders and A1111's ``VAE-approx/model.pt``."""
    t = view.tensors
    names = list(t)
    blocks = [n for n in names if _TAESD_BLOCK.match(n)]
    if blocks and len(blocks) * 3 >= len(names):
        z: int | None = None
        decoder = not any(n.startswith(("0.", "encoder.", "taesd_encoder.")) for n in names) or any(
            n.startswith(("taesd_decoder.", "decoder.")) for n in names
        )
        encoder = any(n.startswith(("0.", "encoder.", "taesd_encoder.")) for n in names)
        convs = sorted(
            ((int(m.group(1)), n) for n in names if (m := _TAESD_CONV.match(n))), key=lambda x: x[0]
        )
        for _, name in convs:
            shape = t[name].shape
            if len(shape) == 4 and shape[1] in (4, 16) and not name.startswith(("0.",)):
                z = shape[1]
                break
        if z is None and convs:
            last = t[convs[-1][1]].shape
            if len(last) == 4 and last[0] in (4, 16):
                z = last[0]
        details = {
            "architecture": "taesd",
            "latent_channels": z,
            "encoder": encoder,
            "decoder": decoder,
            **_common(t),
        }
        cands = _Z4 if z == 4 else _Z16 if z == 16 else []
        return result(Kind.OTHER, component=Component.VAE_APPROX, details=details, candidates=cands)
    convs_a1111 = [n for n in names if re.match(r"^conv[1-8]\.(weight|bias)$", n)]
    if convs_a1111 and len(convs_a1111) == len(names) and "conv1.weight" in t:
        first = t["conv1.weight"].shape
        z = first[1] if len(first) == 4 else None
        details = {"architecture": "a1111-vae-approx", "latent_channels": z, **_common(t)}
        cands = _Z4 if z == 4 else _Z16 if z == 16 else []
        return result(Kind.OTHER, component=Component.VAE_APPROX, details=details, candidates=cands)
    return None


# --------------------------------------------------------------------------- ControlNet & co


def _context(t: dict[str, TensorInfo]) -> int | None:
    widths = [
        info.shape[1]
        for name, info in t.items()
        if name.endswith(("attn2.to_k.weight", "attn2.to_v.weight")) and len(info.shape) == 2
    ]
    return most_common(widths)


def classify_controlnet(view: View) -> Classification | None:
    t = view.tensors
    names = list(t)
    layout: str | None = None
    if any(n.startswith("lllite_") for n in names):
        layout = "lllite"
    elif "lora_controlnet" in t:
        layout = "control-lora"
    elif (
        view.any_prefix("control_model.")
        and any(".input_hint_block." in n or ".zero_convs." in n for n in names)
    ) or (view.any_prefix("input_hint_block.") and view.any_prefix("zero_convs.")):
        layout = "ldm"
    elif view.any_prefix("controlnet_cond_embedding.") and view.any_prefix(
        "controlnet_down_blocks."
    ):
        layout = "diffusers"
    elif view.any_prefix("controlnet_blocks.", "controlnet_single_blocks."):
        layout = "diffusers-dit"
    elif view.any_prefix("input_hint_block.") and view.any_prefix("double_blocks."):
        layout = "xlabs"
    if layout is None:
        return None
    base = Base.UNKNOWN
    candidates: list[Base] = []
    context = _context(t)
    adm_info = (
        t.get("control_model.label_emb.0.0.weight")
        or t.get("label_emb.0.0.weight")
        or t.get("add_embedding.linear_1.weight")
    )
    adm = adm_info.shape[1] if adm_info and len(adm_info.shape) == 2 else None
    hidden = None
    for key in (
        "controlnet_x_embedder.weight",
        "x_embedder.weight",
        "img_in.weight",
        "pos_embed_input.proj.weight",
    ):
        if key in t and t[key].shape:
            hidden = t[key].shape[0]
            break
    if layout == "lllite":
        base = Base.SDXL
    elif layout in ("xlabs",) or (hidden == 3072):
        base = Base.FLUX
    elif layout == "diffusers-dit" and hidden in (1536, 2432):
        base = Base.SD3
    elif context in _BY_CONTEXT:
        base = _BY_CONTEXT[context]
    elif adm == 2816:
        base = Base.SDXL
    else:
        candidates = [Base.SD1, Base.SD2, Base.SDXL]
    details = {"layout": layout, "context_dim": context, **_common(t)}
    return result(Kind.OTHER, base, Component.CONTROLNET, details=details, candidates=candidates)


_T2I_BODY = LazyPattern(
    r"^(?:adapter\.)?body\.\d+\.(?:block1|resnets\.\d+\.block1|in_conv|body\.\d+\.block1)\.(?:weight|bias)$"
)


def classify_t2i_adapter(view: View) -> Classification | None:
    t = view.tensors
    style = view.any_prefix("style_embedding") or "style_embedding" in t
    if not style and not any(_T2I_BODY.match(n) for n in t):
        return None
    conv_in = t.get("conv_in.weight") or t.get("adapter.conv_in.weight")
    if conv_in is None:
        conv_in = next((i for n, i in t.items() if n.endswith("body.0.in_conv.weight")), None)
    cin = conv_in.shape[1] if conv_in is not None and len(conv_in.shape) == 4 else None
    base = Base.UNKNOWN
    candidates: list[Base] = []
    if style or cin in (64, 192):
        base = Base.SD1
    elif cin in (256, 768):
        base = Base.SDXL
    else:
        candidates = [Base.SD1, Base.SDXL]
    details = {"input_channels": cin, "style": style, **_common(t)}
    return result(Kind.OTHER, base, Component.T2I_ADAPTER, details=details, candidates=candidates)


def classify_ip_adapter(view: View) -> Classification | None:
    t = view.tensors
    xlabs = any("ip_adapter_double_stream" in n for n in t) or view.any_prefix(
        "ip_adapter_proj_model."
    )
    if not (view.any_prefix("image_proj.", "ip_adapter.") or xlabs):
        return None
    widths = [
        info.shape[1]
        for name, info in t.items()
        if name.startswith("ip_adapter.")
        and name.endswith(("to_k_ip.weight", "to_v_ip.weight"))
        and len(info.shape) == 2
    ]
    context = most_common(widths)
    base = Base.UNKNOWN
    candidates: list[Base] = []
    if xlabs:
        base = Base.FLUX
    elif context in _BY_CONTEXT:
        base = _BY_CONTEXT[context]
    else:
        candidates = [Base.SD1, Base.SD2, Base.SDXL]
    names = list(t)
    if any("lora" in n for n in names):
        variant = "faceid"
    elif "image_proj.latents" in t or any(n.startswith("image_proj.layers.") for n in names):
        variant = "plus"
    elif any(n.startswith("image_proj.proj.0.") for n in names):
        variant = "full"
    else:
        variant = "base"
    details = {"variant": variant, "context_dim": context, **_common(t)}
    return result(Kind.OTHER, base, Component.IP_ADAPTER, details=details, candidates=candidates)


_MOTION = LazyPattern(r"(?:^|\.)motion_modules\.\d+\.")


def classify_motion_module(view: View) -> Classification | None:
    t = view.tensors
    hits = [n for n in t if _MOTION.search(n)]
    if not hits or len(hits) * 2 < len(t):
        return None
    base = Base.UNKNOWN
    candidates: list[Base] = []
    if any(n.startswith("down_blocks.3.motion_modules.") for n in hits):
        base = Base.SD1
    elif any(n.startswith("down_blocks.2.motion_modules.") for n in hits):
        base = Base.SDXL
    else:
        candidates = [Base.SD1, Base.SDXL]
    pe = next((i for n, i in t.items() if n.endswith("pos_encoder.pe") and len(i.shape) == 3), None)
    details = {
        "mid_block": any(n.startswith("mid_block.motion_modules.") for n in hits),
        "max_frames": pe.shape[1] if pe is not None else None,
        **_common(t),
    }
    return result(Kind.OTHER, base, Component.MOTION_MODULE, details=details, candidates=candidates)


# --------------------------------------------------------------------------- upscalers

_RRDB = LazyPattern(r"^(?:RRDB_trunk|body)\.\d+\.(?:RDB|rdb)\d\.conv\d\.")
_OLD_ESRGAN = LazyPattern(r"^model\.\d+\.sub\.\d+\.RDB\d\.conv\d\.0\.weight$")
_COMPACT = LazyPattern(r"^body\.(\d+)\.(?:weight|bias)$")
_SWIN = LazyPattern(r"^layers\.\d+\.residual_group\.blocks\.\d+\.")


def classify_upscaler(view: View) -> Classification | None:
    t = view.tensors
    names = list(t)
    arch: str | None = None
    scale: int | None = None
    if "conv_first.weight" in t and any(_RRDB.match(n) for n in names):
        arch = "esrgan"
        ups = sum(1 for n in names if re.match(r"^(?:conv_up|upconv)\d\.weight$", n))
        first = t["conv_first.weight"].shape
        unshuffle = first[1] // 3 if len(first) == 4 and first[1] % 3 == 0 else 1
        scale = 2**ups // max(math.isqrt(unshuffle), 1) if ups else None
    elif "model.0.weight" in t and any(_OLD_ESRGAN.match(n) for n in names):
        arch = "esrgan-old"
        scale = _old_esrgan_scale(names)
    elif "conv_first.weight" in t and any(_SWIN.match(n) for n in names):
        arch = "swinir"
    else:
        compact = [(int(m.group(1)), n) for n in names if (m := _COMPACT.match(n))]
        if compact and len(compact) == len(names) and "body.0.weight" in t:
            first = t["body.0.weight"].shape
            if len(first) == 4 and first[1] in (1, 3):
                arch = "compact"
                last = max(i for i, _ in compact)
                out = t.get(f"body.{last}.weight")
                if out is not None and len(out.shape) == 4 and out.shape[0] % first[1] == 0:
                    root = math.isqrt(out.shape[0] // first[1])
                    scale = root if root * root * first[1] == out.shape[0] else None
    if arch is None:
        return None
    details = {"architecture": arch, "scale": scale, **_common(t)}
    return result(Kind.OTHER, component=Component.UPSCALER, details=details)


_OLD_ESRGAN_LAYER = LazyPattern(r"^model\.(\d+)\.weight$")


def _old_esrgan_scale(names: list[str]) -> int | None:
    """The scale of an old-architecture ESRGAN from its last layer's index.

    Its flat ``model`` sequence is: first conv (0), the RRDB trunk (1), three
    modules per ×2 upsampling step (upsample, conv, activation), then two HR
    convs, the last at 4 + 3·steps (4× → ``model.10``, 2× → ``model.7``).
    """
    indices = [int(m.group(1)) for n in names if (m := _OLD_ESRGAN_LAYER.match(n))]
    last = max(indices, default=0)
    if last < 4 or (last - 4) % 3:
        return None
    return 2 ** ((last - 4) // 3)


# --------------------------------------------------------------------------- text encoders

_ENCODER_BASES: dict[str, list[Base]] = {
    "clip-l": [Base.SD1, Base.SDXL, Base.SD3, Base.FLUX],
    "clip-g": [Base.SDXL, Base.SDXL_REFINER, Base.SD3],
    "t5xxl": [Base.SD3, Base.FLUX],
}


def classify_text_encoder(view: View) -> Classification | None:
    t = view.tensors
    names = list(t)
    encoder: str | None = None
    layers = 0
    if any(n.startswith("encoder.block.") for n in names) and (
        "shared.weight" in t or "encoder.final_layer_norm.weight" in t
    ):
        width = encoder_width(
            {n: i for n, i in t.items() if n.endswith(("final_layer_norm.weight", "shared.weight"))}
        )
        encoder = "t5xxl" if width == 4096 else f"t5-{width}"
        layers = _count(names, r"^encoder\.block\.(\d+)\.")
        layout = "hf"
    elif any(n.startswith("enc.blk.") for n in names) and (
        "token_embd.weight" in t or "enc.output_norm.weight" in t
    ):
        # llama.cpp's T5 naming (GGUF encoders for ComfyUI-GGUF: enc.blk.N.attn_q.weight…).
        norm = t.get("enc.output_norm.weight") or t.get("token_embd.weight")
        width = norm.shape[-1] if norm is not None and norm.shape else None
        encoder = "t5xxl" if width == 4096 else f"t5-{width}"
        layers = _count(names, r"^enc\.blk\.(\d+)\.")
        layout = "llama.cpp"
    elif any(n.startswith(("text_model.encoder.layers.", "encoder.layers.")) for n in names) and (
        any(n.endswith("final_layer_norm.weight") for n in names)
    ):
        # transformers 5 saves CLIPTextModel without the ``text_model.`` level.
        width = encoder_width(t)
        encoder = ENCODER_BY_WIDTH.get(width or 0) or f"clip-{width}"
        layers = _count(names, r"^(?:text_model\.)?encoder\.layers\.(\d+)\.")
        layout = "hf"
    elif any(n.startswith("transformer.resblocks.") for n in names) and (
        "ln_final.weight" in t or "token_embedding.weight" in t
    ):
        width = encoder_width(t)
        encoder = ENCODER_BY_WIDTH.get(width or 0) or f"openclip-{width}"
        layers = _count(names, r"^transformer\.resblocks\.(\d+)\.")
        layout = "openclip"
    if encoder is None:
        return None
    base = Base.SD2 if encoder == "clip-h" else Base.UNKNOWN
    details = {"encoder": encoder, "width": width, "layers": layers, "layout": layout, **_common(t)}
    return result(
        Kind.OTHER,
        base,
        Component.TEXT_ENCODER,
        details=details,
        candidates=_ENCODER_BASES.get(encoder, []),
    )


def _count(names: list[str], pattern: str) -> int:
    regex = re.compile(pattern)
    found = {int(m.group(1)) for n in names if (m := regex.match(n))}
    return max(found) + 1 if found else 0
