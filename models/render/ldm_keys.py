"""Diffusers → LDM (A1111 single-file) names for UNet, VAE and CLIP-L weights.

diffusers 0.42 ships only the LDM → diffusers direction. We need the other
one twice: to write real single-file checkpoints of the tiny test/demo model,
and to find the diffusers module behind a kohya/LyCORIS name written in LDM
spelling (``lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q``, as
SDXL LoRAs are named). The layout is generic in the number of levels and in
``layers_per_block``, so a tiny UNet maps the same way as SD1's.

Pure string work: no torch here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

UNET_PREFIX = "model.diffusion_model."
VAE_PREFIX = "first_stage_model."
CLIP_L_PREFIX = "cond_stage_model.transformer.text_model."

_RESNET_RENAMES = (
    ("norm1", "in_layers.0"),
    ("conv1", "in_layers.2"),
    ("norm2", "out_layers.0"),
    ("conv2", "out_layers.3"),
    ("time_emb_proj", "emb_layers.1"),
    ("conv_shortcut", "skip_connection"),
)

_UNET_TOP = {
    "time_embedding.linear_1.": "time_embed.0.",
    "time_embedding.linear_2.": "time_embed.2.",
    "add_embedding.linear_1.": "label_emb.0.0.",
    "add_embedding.linear_2.": "label_emb.0.2.",
    "conv_in.": "input_blocks.0.0.",
    "conv_norm_out.": "out.0.",
    "conv_out.": "out.2.",
}


def unet_prefix_map(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(diffusers prefix, LDM prefix) pairs for every block of a UNet2DConditionModel config."""
    layers = int(config["layers_per_block"])
    down_types = list(config["down_block_types"])
    up_types = list(config["up_block_types"])
    levels = len(down_types)
    pairs: list[tuple[str, str]] = list(_UNET_TOP.items())
    for i, block in enumerate(down_types):
        for j in range(layers):
            ldm = (layers + 1) * i + j + 1
            pairs.append((f"down_blocks.{i}.resnets.{j}.", f"input_blocks.{ldm}.0."))
            if "CrossAttn" in block:
                pairs.append((f"down_blocks.{i}.attentions.{j}.", f"input_blocks.{ldm}.1."))
        if i < levels - 1:
            pairs.append(
                (
                    f"down_blocks.{i}.downsamplers.0.conv.",
                    f"input_blocks.{(layers + 1) * (i + 1)}.0.op.",
                )
            )
    for i, block in enumerate(up_types):
        has_attention = "CrossAttn" in block
        for j in range(layers + 1):
            ldm = (layers + 1) * i + j
            pairs.append((f"up_blocks.{i}.resnets.{j}.", f"output_blocks.{ldm}.0."))
            if has_attention:
                pairs.append((f"up_blocks.{i}.attentions.{j}.", f"output_blocks.{ldm}.1."))
        if i < levels - 1:
            slot = 2 if has_attention else 1
            pairs.append(
                (
                    f"up_blocks.{i}.upsamplers.0.",
                    f"output_blocks.{(layers + 1) * i + layers}.{slot}.",
                )
            )
    pairs.append(("mid_block.attentions.0.", "middle_block.1."))
    pairs.extend((f"mid_block.resnets.{j}.", f"middle_block.{2 * j}.") for j in range(2))
    return pairs


def _rename_resnet(rest: str) -> str:
    for new, old in _RESNET_RENAMES:
        if rest == new or rest.startswith(new + "."):
            return old + rest[len(new) :]
    return rest


def unet_key_to_ldm(key: str, pairs: list[tuple[str, str]]) -> str:
    """The LDM name (no ``model.diffusion_model.``) of a diffusers UNet key or module path."""
    probe = key if key.endswith(".") else key + "."
    for hf, ldm in pairs:
        if probe.startswith(hf):
            rest = key[len(hf) :]
            if ".resnets." in hf:
                rest = _rename_resnet(rest)
            return ldm + rest if rest else ldm.rstrip(".")
    raise KeyError(f"no LDM name for UNet key {key!r}")


def unet_to_ldm(keys: Iterable[str], config: Mapping[str, Any]) -> dict[str, str]:
    """diffusers UNet key → full LDM checkpoint key (``model.diffusion_model.…``)."""
    pairs = unet_prefix_map(config)
    return {k: UNET_PREFIX + unet_key_to_ldm(k, pairs) for k in keys}


_VAE_ATTENTION = (
    ("group_norm.", "norm."),
    ("to_q.", "q."),
    ("to_k.", "k."),
    ("to_v.", "v."),
    ("to_out.0.", "proj_out."),
)


def vae_key_to_ldm(key: str, config: Mapping[str, Any]) -> str:
    """The LDM name (without ``first_stage_model.``) of one diffusers AutoencoderKL key."""
    levels = len(config["block_out_channels"])
    parts = key.split(".")
    coder = parts[0]
    if coder in ("quant_conv", "post_quant_conv"):
        return key
    rest = ".".join(parts[1:])
    if rest.startswith("conv_norm_out."):
        return f"{coder}.norm_out.{rest[len('conv_norm_out.') :]}"
    if rest.startswith(("conv_in.", "conv_out.")):
        return key
    if rest.startswith("mid_block.attentions.0."):
        tail = rest[len("mid_block.attentions.0.") :]
        for new, old in _VAE_ATTENTION:
            if tail.startswith(new):
                return f"{coder}.mid.attn_1.{old}{tail[len(new) :]}"
        raise KeyError(f"no LDM name for VAE key {key!r}")
    if rest.startswith("mid_block.resnets."):
        j, tail = rest[len("mid_block.resnets.") :].split(".", 1)
        return f"{coder}.mid.block_{int(j) + 1}.{tail.replace('conv_shortcut', 'nin_shortcut')}"
    if rest.startswith("down_blocks."):
        i, kind, *tail = rest[len("down_blocks.") :].split(".")
        if kind == "resnets":
            j, *inner = tail
            inner_s = ".".join(inner).replace("conv_shortcut", "nin_shortcut")
            return f"{coder}.down.{i}.block.{j}.{inner_s}"
        if kind == "downsamplers":
            return f"{coder}.down.{i}.downsample.{'.'.join(tail[1:])}"
    if rest.startswith("up_blocks."):
        i, kind, *tail = rest[len("up_blocks.") :].split(".")
        ldm_i = levels - 1 - int(i)
        if kind == "resnets":
            j, *inner = tail
            inner_s = ".".join(inner).replace("conv_shortcut", "nin_shortcut")
            return f"{coder}.up.{ldm_i}.block.{j}.{inner_s}"
        if kind == "upsamplers":
            return f"{coder}.up.{ldm_i}.upsample.{'.'.join(tail[1:])}"
    raise KeyError(f"no LDM name for VAE key {key!r}")


def vae_needs_conv_shape(key: str) -> bool:
    """LDM stores the VAE mid-attention projections as 1×1 convolutions."""
    return ".mid_block.attentions.0." in key and key.endswith(".weight") and "group_norm" not in key


def clip_l_key_to_ldm(key: str) -> str:
    """A transformers CLIPTextModel key (with or without ``text_model.``) in SD1's LDM spelling."""
    return CLIP_L_PREFIX + key.removeprefix("text_model.")
