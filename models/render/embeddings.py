"""Textual-inversion embeddings, loaded under their WebUI name and used in a prompt.

Every form in the wild is read here into plain vectors first (A1111 ``.pt``
with ``string_to_param`` as a dict or a ``ParameterDict``, ``emb_params``,
diffusers ``{token: vector}``, SDXL ``clip_l``/``clip_g``) and handed to
diffusers as tensors, so diffusers never unpickles anything itself.

The prompt token is the WebUI name in lower case: CLIP lower-cases prompts
before matching added tokens, so ``EasyNegative`` would never match itself.
Removal restores the tokenizer object and the embedding matrix that were
there before, which is exact by construction.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..kinds import Base
from .adapters import Applied, Column
from .api import RenderError, RenderVerdict

if TYPE_CHECKING:
    import torch


def read_vectors(obj: Any, path: Path) -> dict[str, torch.Tensor]:
    """``{"clip_l": [n, w]}`` (plus ``"clip_g"`` for SDXL) from any embedding format.

    Keys: ``clip_l`` is the first text encoder's vectors, ``clip_g`` the
    second's; single-encoder files give only ``clip_l``.
    """
    import torch

    def as_2d(t: torch.Tensor) -> torch.Tensor:
        t = t.detach().float()
        return t.unsqueeze(0) if t.ndim == 1 else t

    if not isinstance(obj, dict):
        raise RenderError(RenderVerdict.ERROR, f"{path.name} holds no embedding dictionary")
    for first, second in (
        ("clip_l", "clip_g"),
        ("text_encoders_0", "text_encoders_1"),
        ("emb", "emb2"),
    ):
        if first in obj and second in obj:
            return {"clip_l": as_2d(obj[first]), "clip_g": as_2d(obj[second])}
    if "string_to_param" in obj:
        params = obj["string_to_param"]
        values = list(params.values()) if hasattr(params, "values") else []
        tensors = [v for v in values if isinstance(v, torch.Tensor)]
        if len(tensors) != 1:
            raise RenderError(
                RenderVerdict.ERROR,
                f"{path.name}: string_to_param holds {len(tensors)} vectors sets, expected 1",
            )
        return {"clip_l": as_2d(tensors[0])}
    if isinstance(obj.get("emb_params"), torch.Tensor):
        return {"clip_l": as_2d(obj["emb_params"])}
    tensors = [v for v in obj.values() if isinstance(v, torch.Tensor)]
    if len(tensors) == 1:
        return {"clip_l": as_2d(tensors[0])}
    raise RenderError(RenderVerdict.ERROR, f"{path.name} is not a textual-inversion embedding")


def prompt_token(name: str) -> str:
    """The text that stands for the embedding in a prompt (see the module docstring)."""
    return name.strip().lower()


@dataclass(slots=True)
class EmbeddingApplied(Applied):
    """An embedding loaded into the tokenizer(s); one column, in the positive or negative prompt."""

    name: str = ""
    token: str = ""
    negative: bool = False
    restore: list[tuple[str, Any, Any, Any]] = field(default_factory=list)
    pipe: Any = None

    def _add(self, prompt: str, token: str) -> str:
        return f"{prompt}, {token}" if prompt else token

    def prompts(self, positive: str, negative: str, column: Column) -> tuple[str, str]:
        if self.negative:
            return positive, self._add(negative, self.token)
        return self._add(positive, self.token), negative

    def infotext_prompts(self, positive: str, negative: str, column: Column) -> tuple[str, str]:
        if self.negative:
            return positive, self._add(negative, self.name)
        return self._add(positive, self.name), negative

    def remove(self) -> None:
        for tok_attr, tokenizer, encoder, embedding in self.restore:
            setattr(self.pipe, tok_attr, tokenizer)
            encoder.set_input_embeddings(embedding)
            encoder.config.vocab_size = embedding.num_embeddings
        self.restore.clear()


def apply_embedding(
    pipe: Any,
    family: Base,
    obj: Any,
    path: Path,
    *,
    name: str,
    negative: bool,
    positive_ok: bool = True,
) -> EmbeddingApplied:
    """Load the embedding into ``pipe`` under ``name`` and describe its single column."""
    vectors = read_vectors(obj, path)
    token = prompt_token(name)
    if not token:
        raise RenderError(RenderVerdict.ERROR, "an embedding needs a name to be used in a prompt")
    targets = [("tokenizer", "text_encoder", "clip_l")]
    if family is Base.SDXL:
        if "clip_g" not in vectors:
            raise RenderError(
                RenderVerdict.INCOMPATIBLE,
                f"{path.name} has no clip_g vectors: not an SDXL embedding",
            )
        targets.append(("tokenizer_2", "text_encoder_2", "clip_g"))
    elif "clip_g" in vectors:
        raise RenderError(
            RenderVerdict.INCOMPATIBLE, f"{path.name} is an SDXL embedding (clip_l + clip_g)"
        )
    for _tok, enc, key in targets:
        width = getattr(pipe, enc).get_input_embeddings().weight.shape[1]
        got = vectors[key].shape[1]
        if got != width:
            raise RenderError(
                RenderVerdict.INCOMPATIBLE,
                f"{path.name} has {got}-wide vectors; this base's text encoder takes {width}",
            )
    place_negative = negative or not positive_ok
    label = "in negative prompt" if place_negative else "in prompt"
    applied = EmbeddingApplied(
        columns=[Column(label)], name=name, token=token, negative=place_negative, pipe=pipe
    )
    try:
        for tok_attr, enc_attr, key in targets:
            tokenizer = getattr(pipe, tok_attr)
            encoder = getattr(pipe, enc_attr)
            if token in tokenizer.get_vocab():
                raise RenderError(
                    RenderVerdict.ERROR, f"the name {name!r} is already a token of the tokenizer"
                )
            applied.restore.append(
                (tok_attr, copy.deepcopy(tokenizer), encoder, encoder.get_input_embeddings())
            )
            vec = vectors[key].to(encoder.dtype)
            pipe.load_textual_inversion(
                {token: vec if vec.shape[0] > 1 else vec[0]},
                token=token,
                tokenizer=tokenizer,
                text_encoder=encoder,
            )
    except RenderError:
        applied.remove()
        raise
    except Exception as exc:
        applied.remove()
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RenderError(RenderVerdict.ERROR, f"{path.name} cannot load: {first[:300]}") from None
    applied.note = f"{int(vectors['clip_l'].shape[0])} vector(s), {label}"
    return applied
