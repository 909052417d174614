"""CLIP tokenizers built offline from the BPE merges shipped with sdhub.

Every SD family (SD1's CLIP-L, SD2's OpenCLIP-H, SDXL's two encoders) uses
the same byte-level BPE: the vocabulary is *derived* from the merges (the 256
byte symbols, the same with ``</w>``, one entry per merge, then the two
special tokens), so only ``configs/clip/merges.txt.gz`` ships (~200 KB, from
open_clip's ``bpe_simple_vocab_16e6``, MIT licence; see
``configs/clip/NOTICE``). The families differ only in the padding token:
``<|endoftext|>`` for CLIP-L, ``!`` for OpenCLIP encoders.
"""

from __future__ import annotations

import gzip
import json
from functools import cache
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from transformers import CLIPTokenizer

BOS = "<|startoftext|>"
EOS = "<|endoftext|>"
#: CLIP's merges file holds more lines than the tokenizer uses; this many count.
CLIP_MERGE_COUNT = 49152 - 256 - 2
MAX_LENGTH = 77


@cache
def byte_symbols() -> tuple[str, ...]:
    """GPT-2/CLIP's printable stand-ins for the 256 byte values, in vocabulary order."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = list(printable)
    extra = 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return tuple(chr(c) for c in codes)


def vocab_from_merges(merges: list[str]) -> dict[str, int]:
    """The token → id table CLIP builds from its merges (ids as in ``vocab.json``)."""
    symbols = list(byte_symbols())
    tokens = symbols + [s + "</w>" for s in symbols]
    tokens += ["".join(m.split(" ")) for m in merges]
    tokens += [BOS, EOS]
    return {t: i for i, t in enumerate(tokens)}


@cache
def clip_merges() -> tuple[str, ...]:
    """The shipped CLIP merges (without the ``#version`` line)."""
    ref = resources.files("sdhub.models.render") / "configs" / "clip" / "merges.txt.gz"
    text = gzip.decompress(ref.read_bytes()).decode("utf-8")
    lines = [line for line in text.split("\n") if line and not line.startswith("#version")]
    return tuple(lines[:CLIP_MERGE_COUNT])


def clip_tokenizer(pad_token: str = EOS) -> CLIPTokenizer:
    """The real CLIP tokenizer (49408 tokens) with the given padding token."""
    from transformers import CLIPTokenizer

    merges = list(clip_merges())
    return CLIPTokenizer(
        vocab=vocab_from_merges(merges),
        merges=[tuple(m.split(" ")) for m in merges],
        pad_token=pad_token,
        model_max_length=MAX_LENGTH,
    )


def tokenizer_from_folder(folder: Path) -> CLIPTokenizer:
    """The tokenizer a diffusers ``tokenizer*/`` folder describes.

    A folder with ``vocab.json`` is loaded as it is (the tiny model's own
    vocabulary); one with only ``tokenizer_config.json`` gets the shipped
    CLIP vocabulary with that config's padding token.
    """
    from transformers import CLIPTokenizer

    if (folder / "vocab.json").is_file():
        return CLIPTokenizer.from_pretrained(str(folder), local_files_only=True)
    pad = EOS
    config_file = folder / "tokenizer_config.json"
    if config_file.is_file():
        config: dict[str, Any] = json.loads(config_file.read_text(encoding="utf-8"))
        raw = config.get("pad_token", EOS)
        pad = raw.get("content", EOS) if isinstance(raw, dict) else str(raw)
    return clip_tokenizer(pad)


def write_vocab_files(folder: Path, vocab: dict[str, int], merges: list[str]) -> None:
    """Write ``vocab.json`` + ``merges.txt`` the way transformers reads them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    body = "#version: 0.2\n" + "".join(m + "\n" for m in merges)
    (folder / "merges.txt").write_text(body, encoding="utf-8")
