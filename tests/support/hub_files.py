"""Small real model files as bytes, for the fake services to serve.

Written with the real ``safetensors`` library (numpy), named and shaped as
real files are, so the classifier sees what users download: a kohya SD1
LoRA (~70 KB), an SD1 checkpoint skeleton (~0.5 MB), an SD1 embedding (3 KB).
``seed`` changes the values and with them every hash. And a tiny PNG, for
example images that become previews.
"""

from __future__ import annotations

import io
import pickle
import zipfile

import numpy as np
from safetensors.numpy import save
from sdhub.hub.http import RetryPolicy

#: Retries that cost milliseconds: the backoff logic runs, the tests stay fast.
FAST_RETRY = RetryPolicy(attempts=4, base_delay=0.001, max_delay=0.004)


def png(color: str) -> bytes:
    """An 8×12 PNG of one colour (a preview's first pixel tells which image it was)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 12), color).save(buffer, "PNG")
    return buffer.getvalue()


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def lora_bytes(seed: int = 0, rank: int = 4) -> bytes:
    """A kohya-style SD1 LoRA: text-encoder and UNet cross-attention pairs with alphas."""
    rng = _rng(seed)
    tensors: dict[str, np.ndarray] = {}

    def pair(module: str, out: int, inp: int) -> None:
        tensors[f"{module}.lora_down.weight"] = rng.standard_normal((rank, inp)).astype(np.float16)
        tensors[f"{module}.lora_up.weight"] = rng.standard_normal((out, rank)).astype(np.float16)
        tensors[f"{module}.alpha"] = np.array(rank / 2, dtype=np.float16)

    for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
        pair(f"lora_te_text_model_encoder_layers_0_self_attn_{proj}", 768, 768)
    block = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0"
    pair(f"{block}_attn2_to_k", 320, 768)
    pair(f"{block}_attn2_to_v", 320, 768)
    pair(f"{block}_attn1_to_q", 320, 320)
    return save(tensors, metadata={"ss_network_module": "networks.lora"})


def checkpoint_bytes(seed: int = 0, *, extra_kib: int = 0) -> bytes:
    """An SD1 single-file checkpoint skeleton: LDM UNet, CLIP-L text encoder, VAE keys.

    ``extra_kib`` adds a UNet tensor of that size (a bigger file, same classification).
    """
    rng = _rng(seed)

    def t(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.01).astype(np.float16)

    extra = {"model.diffusion_model.time_embed.0.weight": t(extra_kib * 512)} if extra_kib else {}
    return save(
        {
            **extra,
            "model.diffusion_model.input_blocks.0.0.weight": t(320, 4, 3, 3),
            "model.diffusion_model.input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight": t(
                320, 768
            ),
            "model.diffusion_model.out.2.weight": t(4, 320, 3, 3),
            "cond_stage_model.transformer.text_model.final_layer_norm.weight": t(768),
            "first_stage_model.decoder.conv_out.weight": t(3, 128, 3, 3),
            "first_stage_model.encoder.conv_in.weight": t(128, 3, 3, 3),
        }
    )


def embedding_bytes(seed: int = 0, vectors: int = 2) -> bytes:
    """An SD1 textual-inversion embedding in safetensors (``emb_params``, 768 wide)."""
    return save({"emb_params": _rng(seed).standard_normal((vectors, 768)).astype(np.float16)})


def malicious_ckpt_bytes() -> bytes:
    """A torch-zip ``.ckpt`` whose pickle calls ``os.system`` (never unpickled here)."""
    payload = pickle.dumps(_System(), protocol=2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", "3\n")
    return buffer.getvalue()


class _System:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo pwned",))
