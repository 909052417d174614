"""A tiny SD1-architecture model and one tiny asset of every kind, built offline.

The tests and ``sdhub demo`` need files that are *real* in format — an LDM
single-file checkpoint, kohya LoRA/LoCon/LoHa/LoKr, A1111 embeddings and
hypernetwork, a VAE — yet small enough to write and render on a laptop CPU
in seconds. Weights are random (seeded, so every build is byte-identical).

How a tiny checkpoint finds its config at render time: next to
``<stem>.safetensors`` we write ``<stem>.diffusers/``, a diffusers config
folder (``model_index.json``, ``unet/``, ``vae/``, ``text_encoder/``,
``tokenizer/`` with its own small vocabulary, ``scheduler/``). The render
engine looks for that sidecar before falling back to the shipped configs of
the checkpoint's family — the way A1111 reads a ``<stem>.yaml`` beside a
checkpoint. Sizes: checkpoint ≈ 2 MB, every asset well under 1 MB.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..kinds import Base, Kind
from . import ldm_keys
from .tokenizers import BOS, EOS, byte_symbols, write_vocab_files

if TYPE_CHECKING:
    import torch
    from diffusers import StableDiffusionPipeline

#: The sidecar config folder of a checkpoint: ``<stem>.diffusers/``.
SIDECAR_SUFFIX = ".diffusers"

# Cross-attention width 48 differs from both block widths (32, 64), so a
# hypernetwork's 48-wide pair acts on cross-attention only, as 768 does on SD1.
TEXT_WIDTH = 48
TINY_TEXT_CONFIG: dict[str, Any] = {
    "hidden_size": TEXT_WIDTH,
    "intermediate_size": 96,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "max_position_embeddings": 77,
    "hidden_act": "quick_gelu",
    "projection_dim": TEXT_WIDTH,
}
TINY_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 16,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    "cross_attention_dim": TEXT_WIDTH,
    "attention_head_dim": 8,
    "norm_num_groups": 32,
}
TINY_VAE_CONFIG: dict[str, Any] = {
    "block_out_channels": (32, 64),
    "down_block_types": ("DownEncoderBlock2D", "DownEncoderBlock2D"),
    "up_block_types": ("UpDecoderBlock2D", "UpDecoderBlock2D"),
    "latent_channels": 4,
    "layers_per_block": 1,
    "sample_size": 32,
    "norm_num_groups": 32,
}


# A tiny SDXL: two text encoders of different widths (32 and 48, as 768 and
# 1280 differ on the real one), cross-attention over both (80), and the
# text-time embedding fed by the second encoder's pooled output.
SDXL_TEXT1_CONFIG: dict[str, Any] = {**TINY_TEXT_CONFIG, "hidden_size": 32, "projection_dim": 32}
SDXL_TEXT2_CONFIG: dict[str, Any] = {
    **TINY_TEXT_CONFIG,
    "hidden_size": TEXT_WIDTH,
    "projection_dim": TEXT_WIDTH,
    "hidden_act": "gelu",
}
SDXL_TIME_DIM = 8
TINY_SDXL_UNET_CONFIG: dict[str, Any] = {
    "sample_size": 16,
    "in_channels": 4,
    "out_channels": 4,
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "cross_attention_dim": 32 + TEXT_WIDTH,
    "attention_head_dim": (2, 4),
    "use_linear_projection": True,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": SDXL_TIME_DIM,
    "projection_class_embeddings_input_dim": 6 * SDXL_TIME_DIM + TEXT_WIDTH,
    "norm_num_groups": 32,
}
SDXL_PREFIX_TE1 = "conditioner.embedders.0.transformer.text_model."
SDXL_PREFIX_TE2 = "conditioner.embedders.1.model."


def tiny_vocab() -> dict[str, int]:
    """Byte-level CLIP vocabulary without merges: every text tokenizes, one token per character."""
    symbols = list(byte_symbols())
    tokens = symbols + [s + "</w>" for s in symbols] + [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}


def _scheduler() -> Any:
    from diffusers import DDIMScheduler

    return DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )


def _text_model(config: dict[str, Any], cls: Any) -> Any:
    from transformers import CLIPTextConfig

    vocab = tiny_vocab()
    text_config = CLIPTextConfig(
        **config,
        vocab_size=len(vocab),
        bos_token_id=vocab[BOS],
        eos_token_id=vocab[EOS],
        pad_token_id=vocab[EOS],
    )
    return cls(text_config).eval()


def _tokenizer(pad: str = EOS) -> Any:
    from transformers import CLIPTokenizer

    return CLIPTokenizer(vocab=tiny_vocab(), merges=[], pad_token=pad, model_max_length=77)


def build_tiny_pipeline(seed: int = 0, family: Base = Base.SD1) -> StableDiffusionPipeline:
    """A random-weight SD1- or SDXL-architecture pipeline (CPU, fp32), no files, no network."""
    import torch
    from diffusers import (
        AutoencoderKL,
        StableDiffusionPipeline,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    if family is Base.SDXL:
        text_encoder = _text_model(SDXL_TEXT1_CONFIG, CLIPTextModel)
        text_encoder_2 = _text_model(SDXL_TEXT2_CONFIG, CLIPTextModelWithProjection)
        unet = UNet2DConditionModel(**TINY_SDXL_UNET_CONFIG)
        vae = AutoencoderKL(**TINY_VAE_CONFIG)
        return StableDiffusionXLPipeline(
            vae=vae,
            text_encoder=text_encoder,
            text_encoder_2=text_encoder_2,
            tokenizer=_tokenizer(),
            tokenizer_2=_tokenizer("!"),
            unet=unet.eval(),
            scheduler=_scheduler(),
        )
    if family is not Base.SD1:
        raise ValueError(f"no tiny {family.label} model")
    text_encoder = _text_model(TINY_TEXT_CONFIG, CLIPTextModel)
    unet = UNet2DConditionModel(**TINY_UNET_CONFIG)
    vae = AutoencoderKL(**TINY_VAE_CONFIG)
    return StableDiffusionPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=_tokenizer(),
        unet=unet.eval(),
        scheduler=_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


# --- single-file writing ------------------------------------------------------


def ldm_state_dict(pipe: Any, *, sd2: bool = False) -> dict[str, torch.Tensor]:
    """The pipeline's weights under A1111 single-file (LDM) names, fp32, contiguous.

    SDXL is told by its second text encoder; ``sd2=True`` writes the text
    encoder in SD2's OpenCLIP layout (``cond_stage_model.model.*``).
    """
    out: dict[str, torch.Tensor] = {}
    unet_sd = pipe.unet.state_dict()
    for key, name in ldm_keys.unet_to_ldm(unet_sd, pipe.unet.config).items():
        out[name] = unet_sd[key]
    out.update(ldm_vae_state_dict(pipe.vae, prefix=ldm_keys.VAE_PREFIX))
    sdxl = getattr(pipe, "text_encoder_2", None) is not None
    if sd2:
        out.update(openclip_state_dict(pipe.text_encoder, "cond_stage_model.model."))
        return {k: v.detach().float().contiguous() for k, v in out.items()}
    for key, tensor in pipe.text_encoder.state_dict().items():
        if key.endswith("position_ids"):
            continue
        if sdxl:
            out[SDXL_PREFIX_TE1 + key.removeprefix("text_model.")] = tensor
        else:
            out[ldm_keys.clip_l_key_to_ldm(key)] = tensor
    if sdxl:
        out.update(openclip_state_dict(pipe.text_encoder_2, SDXL_PREFIX_TE2))
    return {k: v.detach().float().contiguous() for k, v in out.items()}


_OPENCLIP_RENAMES = (
    (".self_attn.out_proj.", ".attn.out_proj."),
    (".layer_norm1.", ".ln_1."),
    (".layer_norm2.", ".ln_2."),
    (".mlp.fc1.", ".mlp.c_fc."),
    (".mlp.fc2.", ".mlp.c_proj."),
)


def openclip_state_dict(model: Any, prefix: str) -> dict[str, torch.Tensor]:
    """A transformers CLIP text model in OpenCLIP's LDM layout (SD2 / SDXL's second encoder):
    q/k/v fused into ``in_proj_*``, ``text_projection`` transposed."""
    import torch

    sd = {k.removeprefix("text_model."): v for k, v in model.state_dict().items()}
    out: dict[str, torch.Tensor] = {
        prefix + "token_embedding.weight": sd.pop("embeddings.token_embedding.weight"),
        prefix + "positional_embedding": sd.pop("embeddings.position_embedding.weight"),
        prefix + "ln_final.weight": sd.pop("final_layer_norm.weight"),
        prefix + "ln_final.bias": sd.pop("final_layer_norm.bias"),
    }
    if "text_projection.weight" in sd:
        out[prefix + "text_projection"] = sd.pop("text_projection.weight").T.contiguous()
    sd.pop("embeddings.position_ids", None)
    layers = {k.split(".")[2] for k in sd if k.startswith("encoder.layers.")}
    for n in sorted(layers, key=int):
        head = f"encoder.layers.{n}.self_attn."
        for part in ("weight", "bias"):
            qkv = [sd.pop(f"{head}{x}_proj.{part}") for x in ("q", "k", "v")]
            out[f"{prefix}transformer.resblocks.{n}.attn.in_proj_{part}"] = torch.cat(qkv)
    for key, tensor in sd.items():
        name = "." + key.removeprefix("encoder.layers.").split(".", 1)[1]
        n = key.split(".")[2]
        for new, old in _OPENCLIP_RENAMES:
            name = name.replace(new, old)
        out[f"{prefix}transformer.resblocks.{n}{name}"] = tensor
    return out


def ldm_vae_state_dict(vae: Any, prefix: str = "") -> dict[str, torch.Tensor]:
    """An AutoencoderKL's weights under LDM VAE names (what ``models/VAE`` files hold)."""
    out = {}
    for key, tensor in vae.state_dict().items():
        value = tensor
        if ldm_keys.vae_needs_conv_shape(key) and value.ndim == 2:
            value = value.reshape(*value.shape, 1, 1)
        out[prefix + ldm_keys.vae_key_to_ldm(key, vae.config)] = value.detach().float().contiguous()
    return out


def _atomic(path: Path, write: Callable[[Path], None]) -> Path:
    tmp = path.with_name(path.name + ".tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _save_safetensors(
    path: Path, tensors: dict[str, torch.Tensor], metadata: dict[str, str] | None = None
) -> Path:
    from safetensors.torch import save_file

    return _atomic(path, lambda tmp: save_file(tensors, str(tmp), metadata=metadata))


def _torch_save(path: Path, obj: Any) -> Path:
    import torch

    return _atomic(path, lambda tmp: torch.save(obj, tmp))


def write_config_folder(pipe: Any, folder: Path) -> Path:
    """Save the pipeline's diffusers config folder (configs and tokenizer, no weights)."""
    folder.mkdir(parents=True, exist_ok=True)
    pipe.save_config(str(folder))
    pipe.unet.save_config(str(folder / "unet"))
    pipe.vae.save_config(str(folder / "vae"))
    pipe.scheduler.save_config(str(folder / "scheduler"))
    pipe.text_encoder.config.save_pretrained(str(folder / "text_encoder"))
    tokenizers = [("tokenizer", EOS)]
    if getattr(pipe, "text_encoder_2", None) is not None:
        pipe.text_encoder_2.config.save_pretrained(str(folder / "text_encoder_2"))
        tokenizers.append(("tokenizer_2", "!"))
    for sub, pad in tokenizers:
        tok = folder / sub
        write_vocab_files(tok, tiny_vocab(), [])
        config = {
            "tokenizer_class": "CLIPTokenizer",
            "model_max_length": 77,
            "bos_token": BOS,
            "eos_token": EOS,
            "unk_token": EOS,
            "pad_token": pad,
        }
        (tok / "tokenizer_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return folder


def sidecar_config_dir(checkpoint: Path) -> Path:
    """Where a checkpoint's own diffusers config folder lives: ``<stem>.diffusers/``."""
    return checkpoint.with_name(checkpoint.stem + SIDECAR_SUFFIX)


def write_tiny_checkpoint(
    path: Path, *, seed: int = 0, pickle: bool = False, pipe: Any = None, family: Base = Base.SD1
) -> Path:
    """Write a tiny SD1 LDM single-file checkpoint and its ``<stem>.diffusers/`` sidecar.

    ``pickle=True`` writes a torch-zip ``.ckpt`` (``{"state_dict": …}``, as
    old checkpoints are) instead of safetensors.
    """
    pipe = pipe if pipe is not None else build_tiny_pipeline(seed, family)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = ldm_state_dict(pipe)
    if pickle:
        _torch_save(path, {"state_dict": state, "global_step": 0})
    else:
        tag = "sdxl" if getattr(pipe, "text_encoder_2", None) is not None else "sd1"
        _save_safetensors(path, state, {"format": "pt", "sdhub.tiny": tag})
    write_config_folder(pipe, sidecar_config_dir(path))
    return path


# --- assets ---------------------------------------------------------------------


def _shapes(model: Any) -> dict[str, tuple[int, ...]]:
    """Weight shapes of a model's Linear/Conv2d modules by module path."""
    import torch

    return {
        name: tuple(m.weight.shape)
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear | torch.nn.Conv2d)
    }


def _unet_targets(unet_shapes: dict[str, tuple[int, ...]], convs: bool) -> list[str]:
    attn = [
        n
        for n in unet_shapes
        if ".attn1." in n or ".attn2." in n or n.endswith(("proj_in", "proj_out"))
    ]
    if convs:
        attn += [n for n in unet_shapes if ".resnets." in n and n.endswith(("conv1", "conv2"))]
    return attn


def _te_targets(te_shapes: dict[str, tuple[int, ...]]) -> list[str]:
    return [n for n in te_shapes if ".self_attn." in n or ".mlp." in n]


def kohya_name(prefix: str, module: str) -> str:
    return prefix + module.replace(".", "_")


def _te_kohya(module: str, prefix: str = "lora_te_") -> str:
    # Real files name text-encoder modules with ``text_model_`` (transformers 4 paths).
    return kohya_name(prefix, "text_model." + module.removeprefix("text_model."))


def _randn(gen: torch.Generator, *shape: int, scale: float = 0.1) -> torch.Tensor:
    import torch

    return (torch.randn(*shape, generator=gen) * scale).contiguous()


def _lora_tensors(
    gen: torch.Generator, name: str, shape: tuple[int, ...], rank: int, *, conv: bool
) -> dict[str, torch.Tensor]:
    import torch

    out_dim, in_dim = shape[0], shape[1]
    if len(shape) == 4 and conv:
        kh, kw = shape[2], shape[3]
        down = _randn(gen, rank, in_dim, kh, kw, scale=0.2)
        up = _randn(gen, out_dim, rank, 1, 1, scale=0.2)
    elif len(shape) == 4:
        down = _randn(gen, rank, in_dim, 1, 1, scale=0.2)
        up = _randn(gen, out_dim, rank, 1, 1, scale=0.2)
    else:
        down = _randn(gen, rank, in_dim, scale=0.2)
        up = _randn(gen, out_dim, rank, scale=0.2)
    return {
        f"{name}.lora_down.weight": down,
        f"{name}.lora_up.weight": up,
        f"{name}.alpha": torch.tensor(float(rank)),
    }


def _loha_tensors(
    gen: torch.Generator, name: str, shape: tuple[int, ...], rank: int, *, tucker: bool
) -> dict[str, torch.Tensor]:
    import torch

    out_dim, in_dim = shape[0], shape[1]
    kernel = shape[2:]
    t: dict[str, torch.Tensor] = {f"{name}.alpha": torch.tensor(float(rank))}
    if tucker and kernel:
        for i in (1, 2):
            t[f"{name}.hada_t{i}"] = _randn(gen, rank, rank, *kernel, scale=0.5)
            t[f"{name}.hada_w{i}_a"] = _randn(gen, rank, out_dim, scale=0.5)
            t[f"{name}.hada_w{i}_b"] = _randn(gen, rank, in_dim, scale=0.5)
        return t
    flat_in = in_dim * (kernel[0] * kernel[1] if kernel else 1)
    for i in (1, 2):
        t[f"{name}.hada_w{i}_a"] = _randn(gen, out_dim, rank, scale=0.5)
        t[f"{name}.hada_w{i}_b"] = _randn(gen, rank, flat_in, scale=0.5)
    return t


def _factor(n: int) -> tuple[int, int]:
    """Split ``n`` into (a, b), a ≤ b, a as large as possible (LyCORIS's factorization)."""
    a = int(n**0.5)
    while n % a:
        a -= 1
    return a, n // a


def _lokr_tensors(
    gen: torch.Generator, name: str, shape: tuple[int, ...], rank: int, *, tucker: bool
) -> dict[str, torch.Tensor]:
    import torch

    out_dim, in_dim = shape[0], shape[1]
    kernel = shape[2:]
    o1, o2 = _factor(out_dim)
    i1, i2 = _factor(in_dim)
    t: dict[str, torch.Tensor] = {
        f"{name}.lokr_w1": _randn(gen, o1, i1, scale=0.5),
        f"{name}.alpha": torch.tensor(float(rank)),
    }
    if tucker and kernel:
        t[f"{name}.lokr_t2"] = _randn(gen, rank, rank, *kernel, scale=0.5)
        t[f"{name}.lokr_w2_a"] = _randn(gen, rank, o2, scale=0.5)
        t[f"{name}.lokr_w2_b"] = _randn(gen, rank, i2, scale=0.5)
    elif kernel:
        t[f"{name}.lokr_w2"] = _randn(gen, o2, i2, *kernel, scale=0.5)
    else:
        t[f"{name}.lokr_w2_a"] = _randn(gen, o2, rank, scale=0.5)
        t[f"{name}.lokr_w2_b"] = _randn(gen, rank, i2, scale=0.5)
    return t


def _kohya_metadata(module: str, args: dict[str, Any] | None, rank: int) -> dict[str, str]:
    # No ``ss_base_model_version``: a tiny test architecture is no SD1 or SDXL,
    # and a label saying so would (rightly) earn a warning from the classifier.
    meta = {
        "ss_network_module": module,
        "ss_network_dim": str(rank),
        "ss_network_alpha": str(rank),
        "ss_output_name": "tiny",
    }
    if args:
        meta["ss_network_args"] = json.dumps(args)
    return meta


def write_tiny_lora(
    path: Path, pipe: Any, *, algo: str = "lora", rank: int = 4, seed: int = 1
) -> Path:
    """A kohya-named LoRA-family file for the tiny model.

    ``algo``: ``lora`` (attention + text encoder), ``locon`` (also 3×3 convs),
    ``loha`` / ``lokr`` (LyCORIS; one conv layer in Tucker form each). For an
    SDXL pipeline the names are what kohya writes for SDXL: LDM UNet paths
    (``lora_unet_input_blocks_…``) and ``lora_te1_``/``lora_te2_``.
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    sdxl = getattr(pipe, "text_encoder_2", None) is not None
    unet_shapes = _shapes(pipe.unet)
    pairs = ldm_keys.unet_prefix_map(pipe.unet.config)
    tensors: dict[str, torch.Tensor] = {}
    convs = algo != "lora"
    targets: list[tuple[str, tuple[int, ...]]] = []
    for m in _unet_targets(unet_shapes, convs):
        spelled = ldm_keys.unet_key_to_ldm(m, pairs) if sdxl else m
        targets.append((kohya_name("lora_unet_", spelled), unet_shapes[m]))
    encoders = [(pipe.text_encoder, "lora_te1_" if sdxl else "lora_te_")]
    if sdxl:
        encoders.append((pipe.text_encoder_2, "lora_te2_"))
    for encoder, prefix in encoders:
        te_shapes = _shapes(encoder)
        targets += [(_te_kohya(m, prefix), te_shapes[m]) for m in _te_targets(te_shapes)]
    tucker_done = False
    for name, shape in targets:
        tucker = len(shape) == 4 and shape[2] == 3 and not tucker_done
        if algo in ("lora", "locon"):
            tensors.update(_lora_tensors(gen, name, shape, rank, conv=convs))
        elif algo == "loha":
            tensors.update(_loha_tensors(gen, name, shape, rank, tucker=tucker))
        elif algo == "lokr":
            tensors.update(_lokr_tensors(gen, name, shape, rank, tucker=tucker))
        else:
            raise ValueError(f"unknown LoRA algorithm {algo!r}")
        tucker_done = tucker_done or tucker
    module = "networks.lora" if algo == "lora" else "lycoris.kohya"
    args = None if algo == "lora" else {"algo": algo, "conv_dim": rank, "conv_alpha": rank}
    meta = _kohya_metadata(module, args, rank)
    return _save_safetensors(path, tensors, meta)


def write_tiny_embedding(
    path: Path, *, vectors: int = 2, seed: int = 2, form: str = "a1111", scale: float = 1.0
) -> Path:
    """A textual-inversion embedding of width 48.

    ``form``: ``a1111`` (``.pt`` dict with ``string_to_param``), ``paramdict``
    (the same with a ``torch.nn.ParameterDict``, as some real files are),
    ``emb_params`` (safetensors), ``sdxl`` (``clip_l`` + ``clip_g``, for the tiny SDXL).
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    if form == "sdxl":
        return _save_safetensors(
            path,
            {
                "clip_l": _randn(gen, vectors, SDXL_TEXT1_CONFIG["hidden_size"], scale=scale),
                "clip_g": _randn(gen, vectors, SDXL_TEXT2_CONFIG["hidden_size"], scale=scale),
            },
        )
    vec = _randn(gen, vectors, TEXT_WIDTH, scale=scale)
    if form == "emb_params":
        return _save_safetensors(path, {"emb_params": vec})
    if form == "paramdict":
        params: Any = torch.nn.ParameterDict({"*": torch.nn.Parameter(vec)})
    elif form == "a1111":
        params = {"*": vec}
    else:
        raise ValueError(f"unknown embedding form {form!r}")
    data = {
        "string_to_token": {"*": 265},
        "string_to_param": params,
        "name": path.stem,
        "step": 1000,
        "sd_checkpoint": "0123456789",
        "sd_checkpoint_name": "tiny-sd1",
    }
    return _torch_save(path, data)


def write_tiny_hypernetwork(
    path: Path,
    *,
    widths: tuple[int, ...] = (32, TEXT_WIDTH, 64),
    layer_structure: tuple[float, ...] = (1, 2, 1),
    activation: str = "relu",
    layer_norm: bool = True,
    dropout: tuple[float, ...] | None = (0, 0.3, 0),
    old_names: bool = False,
    seed: int = 3,
) -> Path:
    """An A1111 hypernetwork ``.pt`` for the tiny model.

    The default structure (ReLU + LayerNorm + dropout) makes the MLP's
    ``nn.Sequential`` indices non-contiguous, as real files' are.
    ``old_names=True`` writes the oldest form (``linear1``/``linear2``).
    """
    import torch

    gen = torch.Generator().manual_seed(seed)
    data: dict[Any, Any] = {}
    for width in widths:
        pair = []
        for _ in range(2):
            if old_names:
                hidden = int(width * 2)
                pair.append(
                    {
                        "linear1.weight": _randn(gen, hidden, width, scale=0.3),
                        "linear1.bias": _randn(gen, hidden, scale=0.3),
                        "linear2.weight": _randn(gen, width, hidden, scale=0.3),
                        "linear2.bias": _randn(gen, width, scale=0.3),
                    }
                )
                continue
            sd: dict[str, torch.Tensor] = {}
            index = 0
            for i in range(len(layer_structure) - 1):
                a, b = int(width * layer_structure[i]), int(width * layer_structure[i + 1])
                sd[f"linear.{index}.weight"] = _randn(gen, b, a, scale=0.3)
                sd[f"linear.{index}.bias"] = _randn(gen, b, scale=0.3)
                index += 1
                last = i >= len(layer_structure) - 2
                if activation != "linear" and not last:
                    index += 1
                if layer_norm:
                    sd[f"linear.{index}.weight"] = 1 + _randn(gen, b, scale=0.1)
                    sd[f"linear.{index}.bias"] = _randn(gen, b, scale=0.1)
                    index += 1
                if dropout is not None and dropout[i + 1] > 0:
                    index += 1
            pair.append(sd)
        data[width] = tuple(pair)
    if not old_names:
        data.update(
            {
                "layer_structure": list(layer_structure),
                "activation_func": activation,
                "is_layer_norm": layer_norm,
                "weight_initialization": "Normal",
                "use_dropout": dropout is not None and any(dropout),
                "dropout_structure": list(dropout) if dropout is not None else None,
                "activate_output": False,
                "last_layer_dropout": False,
                "optional_info": None,
            }
        )
    data.update(
        {
            "name": path.stem,
            "step": 500,
            "sd_checkpoint": "0123456789",
            "sd_checkpoint_name": "tiny",
        }
    )
    return _torch_save(path, data)


def write_tiny_vae(path: Path, *, seed: int = 4) -> Path:
    """A VAE single file (LDM keys, no ``first_stage_model.`` prefix) with other random weights."""
    import torch
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    vae = AutoencoderKL(**TINY_VAE_CONFIG)
    return _save_safetensors(path, ldm_vae_state_dict(vae))


@dataclass(slots=True)
class TinyLibrary:
    """What :func:`write_tiny_library` wrote, by kind (the checkpoint's sidecar folder aside)."""

    files: dict[Kind, list[Path]] = field(default_factory=dict)

    def add(self, kind: Kind, path: Path) -> Path:
        self.files.setdefault(kind, []).append(path)
        return path


def write_tiny_library(
    dest: Path, folder_for: Callable[[Kind], Path] | None = None
) -> dict[Kind, list[Path]]:
    """A tiny checkpoint and one asset of every kind, ready to render against it.

    ``folder_for(kind)`` says where each kind goes (e.g. the WebUI folders of a
    layout under ``dest``); by default everything lands in ``dest`` itself.
    Names: ``tiny-sd1.safetensors`` (+ ``tiny-sd1.diffusers/``), ``tiny-lora``,
    ``tiny-locon``, ``tiny-loha``, ``tiny-lokr``, ``tiny-embedding.pt``,
    ``tiny-negative.safetensors``, ``tiny-hypernetwork.pt``, ``tiny-vae``.
    """
    where = folder_for or (lambda _kind: dest)
    lib = TinyLibrary()

    def target(kind: Kind, name: str) -> Path:
        folder = where(kind)
        folder.mkdir(parents=True, exist_ok=True)
        return folder / name

    pipe = build_tiny_pipeline()
    lib.add(
        Kind.CHECKPOINT,
        write_tiny_checkpoint(target(Kind.CHECKPOINT, "tiny-sd1.safetensors"), pipe=pipe),
    )
    for algo in ("lora", "locon", "loha", "lokr"):
        lib.add(
            Kind.LORA,
            write_tiny_lora(target(Kind.LORA, f"tiny-{algo}.safetensors"), pipe, algo=algo),
        )
    lib.add(Kind.EMBEDDING, write_tiny_embedding(target(Kind.EMBEDDING, "tiny-embedding.pt")))
    lib.add(
        Kind.EMBEDDING,
        write_tiny_embedding(
            target(Kind.EMBEDDING, "tiny-negative.safetensors"), form="emb_params", seed=5
        ),
    )
    lib.add(
        Kind.HYPERNETWORK,
        write_tiny_hypernetwork(target(Kind.HYPERNETWORK, "tiny-hypernetwork.pt")),
    )
    lib.add(Kind.VAE, write_tiny_vae(target(Kind.VAE, "tiny-vae.safetensors")))
    return lib.files
