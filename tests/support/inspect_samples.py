"""Small real model files for the hashing, inspector and ``sdhub info`` tests.

Written with the real libraries (``safetensors``, ``torch.save``) so the
tests see the bytes users have, and reference hashes computed the way A1111
and Civitai do, independently of :mod:`sdhub.models.hashing`.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import blake3
import numpy as np


def reference_hashes(path: Path) -> dict[str, str | None]:
    """The six hashes by the book: hashlib, zlib, blake3 and A1111's own formulas."""
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest().upper()
    return {
        "sha256": sha,
        "autov1": a1111_model_hash(path).upper(),
        "autov2": sha[:10],
        "autov3": a1111_addnet_hash(path).upper()[:12] if _looks_safetensors(data) else None,
        "crc32": f"{zlib.crc32(data) & 0xFFFFFFFF:08X}",
        "blake3": blake3.blake3(data).hexdigest().upper(),
    }


def a1111_model_hash(path: Path) -> str:
    """A1111's ``modules.sd_models.model_hash`` (the old short hash, AutoV1), verbatim."""
    with open(path, "rb") as file:
        m = hashlib.sha256()
        file.seek(0x100000)
        m.update(file.read(0x10000))
        return m.hexdigest()[0:8]


def a1111_addnet_hash(path: Path) -> str:
    """A1111's ``addnet_hash_safetensors`` (AutoV3, full length), verbatim."""
    hash_sha256 = hashlib.sha256()
    blksize = 1024 * 1024
    with open(path, "rb") as b:
        b.seek(0)
        header = b.read(8)
        n = int.from_bytes(header, "little")
        offset = n + 8
        b.seek(offset)
        for chunk in iter(lambda: b.read(blksize), b""):
            hash_sha256.update(chunk)
    return hash_sha256.hexdigest()


def _looks_safetensors(data: bytes) -> bool:
    if len(data) < 10 or data[8:9] != b"{":
        return False
    (n,) = struct.unpack("<Q", data[:8])
    return 2 <= n <= len(data) - 8


def sd1_lora_tensors(rank: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """A kohya-style SD1 LoRA: text-encoder (768) and UNet cross-attention (to_k from 768)."""
    rng = np.random.default_rng(seed)
    tensors: dict[str, np.ndarray] = {}

    def pair(module: str, out: int, inp: int) -> None:
        tensors[f"{module}.lora_down.weight"] = rng.standard_normal((rank, inp)).astype(np.float16)
        tensors[f"{module}.lora_up.weight"] = rng.standard_normal((out, rank)).astype(np.float16)
        tensors[f"{module}.alpha"] = np.array(rank / 2, dtype=np.float16)

    for layer in range(2):
        for proj in ("q_proj", "k_proj", "v_proj", "out_proj"):
            pair(f"lora_te_text_model_encoder_layers_{layer}_self_attn_{proj}", 768, 768)
    block = "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0"
    pair(f"{block}_attn1_to_q", 320, 320)
    pair(f"{block}_attn2_to_q", 320, 320)
    pair(f"{block}_attn2_to_k", 320, 768)
    pair(f"{block}_attn2_to_v", 320, 768)
    return tensors


def write_sd1_lora(path: Path, *, padding_mib: float = 0) -> Path:
    """A real safetensors LoRA; ``padding_mib`` adds an extra tensor to make it bigger."""
    from safetensors.numpy import save_file

    tensors = sd1_lora_tensors()
    if padding_mib:
        n = int(padding_mib * (1 << 20))
        tensors["lora_unet_extra.diff"] = np.frombuffer(os.urandom(n), dtype=np.uint8)
    save_file(
        tensors,
        str(path),
        metadata={"ss_network_module": "networks.lora", "ss_base_model_version": "sd_v1"},
    )
    return path


def write_torch_embedding(path: Path) -> Path:
    """An A1111 textual-inversion ``.pt`` written by real ``torch.save`` (a torch zip)."""
    import torch

    torch.save(
        {
            "string_to_token": {"*": 265},
            "string_to_param": {"*": torch.randn(2, 768)},
            "name": "sample",
            "step": 1000,
            "sd_checkpoint": "7460a6fa",
            "sd_checkpoint_name": "v1-5-pruned-emaonly",
        },
        path,
    )
    return path


class _RunsCode:
    """Unpickling this calls ``os.system`` — what a malicious checkpoint does."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (self.command,))


def write_malicious_ckpt(path: Path, marker: Path) -> Path:
    """A torch-zip-shaped ``.ckpt`` whose data.pkl would run ``touch MARKER`` if loaded."""
    payload = pickle.dumps({"state_dict": {}, "evil": _RunsCode(f"touch {marker}")}, protocol=2)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", payload)
        zf.writestr("archive/version", "3\n")
    path.write_bytes(buffer.getvalue())
    return path
