"""The tensor names and shapes of a real SD1 single-file checkpoint (LDM layout).

Benchmarks need files shaped like the ones users have: a ~2 GiB fp16 SD1.5
checkpoint with ~1100 keys (UNet, CLIP-L text encoder, VAE), so that header
sizes, pickle sizes and classification paths are realistic. Generated from
the architecture instead of stored: pure Python, no torch.
"""

from __future__ import annotations

Shape = tuple[int, ...]

_UNET = "model.diffusion_model."
_CLIP = "cond_stage_model.transformer.text_model."
_VAE = "first_stage_model."


def _norm(prefix: str, ch: int) -> list[tuple[str, Shape]]:
    return [(prefix + "weight", (ch,)), (prefix + "bias", (ch,))]


def _linear(prefix: str, out: int, inp: int, bias: bool = True) -> list[tuple[str, Shape]]:
    keys = [(prefix + "weight", (out, inp))]
    return [*keys, (prefix + "bias", (out,))] if bias else keys


def _conv(prefix: str, out: int, inp: int, k: int) -> list[tuple[str, Shape]]:
    return [(prefix + "weight", (out, inp, k, k)), (prefix + "bias", (out,))]


def _resblock(p: str, cin: int, cout: int) -> list[tuple[str, Shape]]:
    keys = _norm(p + "in_layers.0.", cin) + _conv(p + "in_layers.2.", cout, cin, 3)
    keys += _linear(p + "emb_layers.1.", cout, 1280)
    keys += _norm(p + "out_layers.0.", cout) + _conv(p + "out_layers.3.", cout, cout, 3)
    if cin != cout:
        keys += _conv(p + "skip_connection.", cout, cin, 1)
    return keys


def _transformer(p: str, ch: int, context: int = 768) -> list[tuple[str, Shape]]:
    b = p + "transformer_blocks.0."
    keys = _norm(p + "norm.", ch) + _conv(p + "proj_in.", ch, ch, 1)
    for attn, kv in (("attn1", ch), ("attn2", context)):
        keys += _linear(f"{b}{attn}.to_q.", ch, ch, bias=False)
        keys += _linear(f"{b}{attn}.to_k.", ch, kv, bias=False)
        keys += _linear(f"{b}{attn}.to_v.", ch, kv, bias=False)
        keys += _linear(f"{b}{attn}.to_out.0.", ch, ch)
    keys += _linear(b + "ff.net.0.proj.", ch * 8, ch) + _linear(b + "ff.net.2.", ch, ch * 4)
    for n in (1, 2, 3):
        keys += _norm(f"{b}norm{n}.", ch)
    return keys + _conv(p + "proj_out.", ch, ch, 1)


def _unet() -> list[tuple[str, Shape]]:
    mult, attention_levels = (1, 2, 4, 4), (0, 1, 2)
    keys = _linear("time_embed.0.", 1280, 320) + _linear("time_embed.2.", 1280, 1280)
    keys += _conv("input_blocks.0.0.", 320, 4, 3)
    skips, ch, index = [320], 320, 1
    for level, m in enumerate(mult):
        for _ in range(2):
            out = 320 * m
            keys += _resblock(f"input_blocks.{index}.0.", ch, out)
            ch = out
            if level in attention_levels:
                keys += _transformer(f"input_blocks.{index}.1.", ch)
            skips.append(ch)
            index += 1
        if level < len(mult) - 1:
            keys += _conv(f"input_blocks.{index}.0.op.", ch, ch, 3)
            skips.append(ch)
            index += 1
    keys += _resblock("middle_block.0.", ch, ch) + _transformer("middle_block.1.", ch)
    keys += _resblock("middle_block.2.", ch, ch)
    index = 0
    for level in reversed(range(len(mult))):
        for j in range(3):
            out = 320 * mult[level]
            keys += _resblock(f"output_blocks.{index}.0.", ch + skips.pop(), out)
            ch, slot = out, 1
            if level in attention_levels:
                keys += _transformer(f"output_blocks.{index}.1.", ch)
                slot = 2
            if level > 0 and j == 2:
                keys += _conv(f"output_blocks.{index}.{slot}.conv.", ch, ch, 3)
            index += 1
    keys += _norm("out.0.", 320) + _conv("out.2.", 4, 320, 3)
    return [(_UNET + name, shape) for name, shape in keys]


def _clip_l() -> list[tuple[str, Shape]]:
    keys = [
        ("embeddings.token_embedding.weight", (49408, 768)),
        ("embeddings.position_embedding.weight", (77, 768)),
    ]
    for i in range(12):
        p = f"encoder.layers.{i}."
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            keys += _linear(f"{p}self_attn.{proj}.", 768, 768)
        keys += _norm(p + "layer_norm1.", 768) + _norm(p + "layer_norm2.", 768)
        keys += _linear(p + "mlp.fc1.", 3072, 768) + _linear(p + "mlp.fc2.", 768, 3072)
    keys += _norm("final_layer_norm.", 768)
    return [(_CLIP + name, shape) for name, shape in keys]


def _vae_block(p: str, cin: int, cout: int) -> list[tuple[str, Shape]]:
    keys = _norm(p + "norm1.", cin) + _conv(p + "conv1.", cout, cin, 3)
    keys += _norm(p + "norm2.", cout) + _conv(p + "conv2.", cout, cout, 3)
    if cin != cout:
        keys += _conv(p + "nin_shortcut.", cout, cin, 1)
    return keys


def _vae_mid(p: str) -> list[tuple[str, Shape]]:
    keys = _vae_block(p + "block_1.", 512, 512)
    keys += _norm(p + "attn_1.norm.", 512)
    for name in ("q", "k", "v", "proj_out"):
        keys += _conv(f"{p}attn_1.{name}.", 512, 512, 1)
    return keys + _vae_block(p + "block_2.", 512, 512)


def _vae() -> list[tuple[str, Shape]]:
    mult = (1, 2, 4, 4)
    keys = _conv("encoder.conv_in.", 128, 3, 3)
    ch = 128
    for level, m in enumerate(mult):
        for b in range(2):
            keys += _vae_block(f"encoder.down.{level}.block.{b}.", ch, 128 * m)
            ch = 128 * m
        if level < len(mult) - 1:
            keys += _conv(f"encoder.down.{level}.downsample.conv.", ch, ch, 3)
    keys += _vae_mid("encoder.mid.") + _norm("encoder.norm_out.", 512)
    keys += _conv("encoder.conv_out.", 8, 512, 3)
    keys += _conv("decoder.conv_in.", 512, 4, 3) + _vae_mid("decoder.mid.")
    ch = 512
    for level in reversed(range(len(mult))):
        for b in range(3):
            keys += _vae_block(f"decoder.up.{level}.block.{b}.", ch, 128 * mult[level])
            ch = 128 * mult[level]
        if level > 0:
            keys += _conv(f"decoder.up.{level}.upsample.conv.", ch, ch, 3)
    keys += _norm("decoder.norm_out.", 128) + _conv("decoder.conv_out.", 3, 128, 3)
    keys += _conv("quant_conv.", 8, 8, 1) + _conv("post_quant_conv.", 4, 4, 1)
    return [(_VAE + name, shape) for name, shape in keys]


def sd1_checkpoint_keys() -> list[tuple[str, Shape]]:
    """Every tensor of an SD1.x pruned checkpoint (no EMA): ~1.07 G parameters."""
    return _unet() + _clip_l() + _vae()


if __name__ == "__main__":
    from math import prod

    keys = sd1_checkpoint_keys()
    params = sum(prod(shape) for _, shape in keys)
    print(
        f"{len(keys)} tensors, {params / 1e9:.3f} G parameters, fp16 {params * 2 / 2**30:.2f} GiB"
    )
