"""Tiny architectures keep their kind: structure decides the kind, widths only the base.

The render engine's tiny test models (``models/render/tiny.py``: an SD1-shaped
model with text width 48 and UNet blocks (32, 64)) and their LoRAs,
embeddings, hypernetworks and VAE have widths no Stable Diffusion family has.
Each must still be what its structure says, with base ``unknown`` (no
candidates a name or metadata could pick from) and the widths that let a
render job pair it with the tiny checkpoint (``classify.WIDTH_DETAILS``).
The indexes are built by hand, as a reader would produce them: no torch.
"""

from __future__ import annotations

from typing import Any

import pytest
from sdhub.models.classify import classify
from sdhub.models.kinds import Base, FileFormat, Kind
from sdhub.models.report import Classification
from sdhub.models.samples import SAMPLES, sample_index
from sdhub.models.tensor_index import TensorIndex, TensorInfo

SAFE, ZIP = FileFormat.SAFETENSORS, FileFormat.TORCH_ZIP
TEXT = 48  # the tiny model's text width = its cross-attention context
BLOCKS = (32, 64)
KOHYA_SD1 = {"ss_base_model_version": "sd_v1", "ss_network_module": "networks.lora"}


def _index(
    shapes: dict[str, tuple[int, ...]],
    fmt: FileFormat = SAFE,
    *,
    metadata: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
) -> TensorIndex:
    return TensorIndex(
        format=fmt,
        tensors={n: TensorInfo(n, s, "F32") for n, s in shapes.items()},
        metadata=dict(metadata or {}),
        values=dict(values or {}),
    )


def _unknown_base(found: Classification, kind: Kind) -> None:
    assert found.kind is kind, (found.kind, found.warnings)
    assert found.base is Base.UNKNOWN
    assert "candidates" not in found.details
    assert not any("no known model layout" in w for w in found.warnings), found.warnings


# --- the tiny model and its assets ------------------------------------------------------------


def tiny_checkpoint(context: int = TEXT) -> TensorIndex:
    unet = "model.diffusion_model."
    attn = f"{unet}input_blocks.1.1.transformer_blocks.0."
    clip = "cond_stage_model.transformer.text_model."
    vae = "first_stage_model."
    c0, c1 = BLOCKS
    return _index(
        {
            f"{unet}input_blocks.0.0.weight": (c0, 4, 3, 3),
            f"{unet}input_blocks.1.1.proj_in.weight": (c0, c0, 1, 1),
            f"{attn}attn1.to_k.weight": (c0, c0),
            f"{attn}attn2.to_q.weight": (c0, c0),
            f"{attn}attn2.to_k.weight": (c0, context),
            f"{attn}attn2.to_v.weight": (c0, context),
            f"{unet}out.2.weight": (4, c0, 3, 3),
            f"{clip}embeddings.token_embedding.weight": (1000, TEXT),
            f"{clip}encoder.layers.0.self_attn.q_proj.weight": (TEXT, TEXT),
            f"{clip}final_layer_norm.weight": (TEXT,),
            f"{vae}encoder.conv_in.weight": (c0, 3, 3, 3),
            f"{vae}encoder.down.0.block.0.norm1.weight": (c0,),
            f"{vae}encoder.conv_out.weight": (8, c1, 3, 3),
            f"{vae}decoder.conv_in.weight": (c1, 4, 3, 3),
            f"{vae}decoder.up.0.block.0.norm1.weight": (c0,),
            f"{vae}decoder.conv_out.weight": (3, c0, 3, 3),
            f"{vae}quant_conv.weight": (8, 8, 1, 1),
            f"{vae}post_quant_conv.weight": (4, 4, 1, 1),
        }
    )


def _kohya_module(name: str, algo: str, out: int, inp: int, rank: int = 4) -> dict[str, Any]:
    if algo == "lora":
        return {f"{name}.lora_down.weight": (rank, inp), f"{name}.lora_up.weight": (out, rank)}
    if algo == "loha":
        return {
            f"{name}.hada_w1_a": (out, rank),
            f"{name}.hada_w1_b": (rank, inp),
            f"{name}.hada_w2_a": (out, rank),
            f"{name}.hada_w2_b": (rank, inp),
        }
    assert algo == "lokr"  # w1 [a, b] ⊗ (w2_a [c, r] @ w2_b [r, d]): out a·c, in b·d
    return {
        f"{name}.lokr_w1": (4, 6),
        f"{name}.lokr_w2_a": (out // 4, rank),
        f"{name}.lokr_w2_b": (rank, inp // 6),
    }


def tiny_lora(algo: str = "lora") -> TensorIndex:
    shapes: dict[str, Any] = {}
    block = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_"
    for layer, inp in (("attn1_to_k", 32), ("attn2_to_q", 32), ("attn2_to_k", TEXT)):
        shapes |= _kohya_module(block + layer, algo, 32, inp)
        shapes |= _kohya_module(
            block.replace("down_blocks_0", "up_blocks_1") + layer, algo, 32, inp
        )
    te = "lora_te_text_model_encoder_layers_0_"
    for layer in ("self_attn_q_proj", "self_attn_k_proj", "mlp_fc1"):
        shapes |= _kohya_module(te + layer, algo, TEXT * (2 if "fc1" in layer else 1), TEXT)
    for module in {n.rsplit(".", 1)[0] for n in shapes}:
        shapes[f"{module}.alpha"] = ()
    meta = KOHYA_SD1 | ({"ss_network_module": "lycoris.kohya"} if algo != "lora" else {})
    return _index(shapes, metadata=meta)


def tiny_embedding(form: str) -> TensorIndex:
    if form == "a1111":
        return _index(
            {"string_to_param.*": (2, TEXT)},
            ZIP,
            values={
                "string_to_token.*": 265,
                "name": "tiny-embedding",
                "step": 1000,
                "sd_checkpoint_name": "tiny-sd1",
            },
        )
    if form == "emb_params":
        return _index({"emb_params": (2, TEXT)})
    assert form == "sdxl"
    return _index({"clip_l": (2, 32), "clip_g": (2, TEXT)})


def tiny_hypernetwork(*, legacy: bool = False) -> TensorIndex:
    shapes: dict[str, tuple[int, ...]] = {}
    for width in (32, TEXT, 64):
        for slot in (0, 1):
            p = f"{width}.{slot}."
            if legacy:  # NAI-era linear1/linear2, no settings saved
                shapes |= {
                    f"{p}linear1.weight": (2 * width, width),
                    f"{p}linear1.bias": (2 * width,),
                }
                shapes |= {f"{p}linear2.weight": (width, 2 * width), f"{p}linear2.bias": (width,)}
                continue
            shapes |= {f"{p}linear.0.weight": (2 * width, width), f"{p}linear.0.bias": (2 * width,)}
            shapes |= {f"{p}linear.1.weight": (2 * width,), f"{p}linear.1.bias": (2 * width,)}
            shapes |= {f"{p}linear.3.weight": (width, 2 * width), f"{p}linear.3.bias": (width,)}
    values: dict[str, Any] = {"name": "tiny-hypernetwork", "step": 500}
    if not legacy:
        values |= {
            "layer_structure": [1, 2, 1],
            "activation_func": "relu",
            "is_layer_norm": True,
            "weight_initialization": "Normal",
            "use_dropout": False,
        }
    return _index(shapes, ZIP, values=values)


def tiny_vae() -> TensorIndex:
    c0, c1 = BLOCKS
    return _index(
        {
            "encoder.conv_in.weight": (c0, 3, 3, 3),
            "encoder.down.0.block.0.norm1.weight": (c0,),
            "encoder.mid.attn_1.norm.weight": (c1,),
            "encoder.conv_out.weight": (8, c1, 3, 3),
            "decoder.conv_in.weight": (c1, 4, 3, 3),
            "decoder.mid.attn_1.norm.weight": (c1,),
            "decoder.up.0.block.0.norm1.weight": (c0,),
            "decoder.conv_out.weight": (3, c0, 3, 3),
            "quant_conv.weight": (8, 8, 1, 1),
            "post_quant_conv.weight": (4, 4, 1, 1),
        }
    )


# --- kinds and widths ---------------------------------------------------------------------------


def test_tiny_checkpoint_is_a_checkpoint_of_unknown_base() -> None:
    found = classify(tiny_checkpoint(), filename="tiny-sd1.safetensors")
    _unknown_base(found, Kind.CHECKPOINT)
    assert found.details["context_dim"] == TEXT
    assert found.details["text_widths"] == [TEXT]
    assert found.details["text_encoders"] == [f"hf-{TEXT}"]
    assert (found.details["vae_channels"], found.details["vae_latent_channels"]) == (32, 4)
    assert found.details["base_from"] is None  # the name says sd1; widths say otherwise


@pytest.mark.parametrize("algo", ["lora", "loha", "lokr"])
def test_tiny_lora_family_keeps_its_kind_and_context_width(algo: str) -> None:
    found = classify(tiny_lora(algo), filename=f"tiny-{algo}.safetensors")
    _unknown_base(found, Kind.LORA)
    assert found.details["network"] == algo
    assert found.details["context_dim"] == TEXT
    assert found.details["text_widths"] == [TEXT]
    # Shapes beat metadata: the kohya label "sd_v1" does not make it SD1, and says so.
    assert found.warnings == [
        "metadata says sd1 (ss_base_model_version=sd_v1) but its widths match no known family"
    ]


@pytest.mark.parametrize("form", ["a1111", "emb_params", "sdxl"])
def test_tiny_embeddings_are_embeddings_whatever_their_width(form: str) -> None:
    index = tiny_embedding(form)
    suffix = ".pt" if index.format is ZIP else ".safetensors"
    found = classify(index, filename=f"tiny-embedding{suffix}")
    _unknown_base(found, Kind.EMBEDDING)
    assert found.details["format"] == form
    assert found.details["vectors"] == 2
    assert found.details["widths"] == ([32, TEXT] if form == "sdxl" else [TEXT])
    assert found.details["width"] == found.details["widths"][0]
    assert found.warnings == []


def test_a_bare_tensor_dict_of_no_encoder_width_is_no_embedding() -> None:
    # Only structure that says "embedding" admits any width; {name: tensor} does not.
    found = classify(_index({"<tiny>": (TEXT,)}), filename="tiny.safetensors")
    assert found.kind is Kind.OTHER


@pytest.mark.parametrize("legacy", [False, True])
def test_tiny_hypernetwork_is_a_hypernetwork_whatever_its_widths(legacy: bool) -> None:
    found = classify(tiny_hypernetwork(legacy=legacy), filename="tiny-hypernetwork.pt")
    _unknown_base(found, Kind.HYPERNETWORK)
    assert found.details["widths"] == [32, TEXT, 64]
    assert found.details["layer_structure"] == [1, 2, 1]
    assert found.details["legacy_layers"] is legacy


def test_int_keyed_modules_that_do_not_take_their_key_width_stay_other() -> None:
    shapes = {"7.0.linear.0.weight": (16, 5), "7.0.linear.0.bias": (16,)}
    assert classify(_index(shapes, ZIP)).kind is Kind.OTHER


def test_tiny_vae_is_a_vae_no_hint_can_call_sd1() -> None:
    found = classify(tiny_vae(), filename="sd15-tiny-vae.safetensors")
    _unknown_base(found, Kind.VAE)
    assert (found.details["channels"], found.details["latent_channels"]) == (32, 4)


def test_tiny_assets_match_the_tiny_checkpoint_by_the_documented_widths() -> None:
    ckpt = classify(tiny_checkpoint()).details
    for algo in ("lora", "loha", "lokr"):
        lora = classify(tiny_lora(algo)).details
        assert lora["context_dim"] == ckpt["context_dim"]
        assert lora["text_widths"] == ckpt["text_widths"]
    emb = classify(tiny_embedding("a1111")).details
    assert set(emb["widths"]) <= set(ckpt["text_widths"])
    hn = classify(tiny_hypernetwork()).details
    assert ckpt["context_dim"] in hn["widths"]
    vae = classify(tiny_vae()).details
    assert (vae["channels"], vae["latent_channels"]) == (
        ckpt["vae_channels"],
        ckpt["vae_latent_channels"],
    )
    # …and not to a tiny model of another width.
    other = classify(tiny_checkpoint(context=80)).details
    assert lora["context_dim"] != other["context_dim"]
    assert other["context_dim"] not in hn["widths"]


# --- real families keep their bases and gain the same keys -------------------------------------


def test_real_sd1_files_carry_the_same_width_keys() -> None:
    ckpt = classify(sample_index(SAMPLES["ckpt-sd1"], SAFE))
    assert (ckpt.base, ckpt.details["context_dim"], ckpt.details["text_widths"]) == (
        Base.SD1,
        768,
        [768],
    )
    assert ckpt.details["vae_channels"] == 128
    lora = classify(sample_index(SAMPLES["lora-kohya-sd1"], SAFE))
    assert (lora.base, lora.details["context_dim"]) == (Base.SD1, 768)
    vae = classify(sample_index(SAMPLES["vae-sd1-ft-mse"], SAFE))
    assert vae.details["channels"] == 128
    assert "sd1" in vae.details["candidates"]


def test_a_real_width_unet_with_unfamiliar_encoders_keeps_its_base() -> None:
    # CLIP-L (768) beside a 48-wide cross-attention cannot drive it: unknown, with a warning.
    index = tiny_checkpoint()
    for name in list(index.tensors):
        if name.startswith("cond_stage_model."):
            shape = index.tensors[name].shape
            index.tensors[name] = TensorInfo(name, (*shape[:-1], 768), "F32")
    found = classify(index)
    assert found.base is Base.UNKNOWN
    assert any("do not match the UNet's cross-attention width 48" in w for w in found.warnings)
