"""A1111 hypernetworks, which diffusers has no loader for.

Semantics (A1111 ``modules/hypernetworks/hypernetwork.py``): in *every*
attention layer, ``ctx = context or x``; the pair of MLPs is looked up by
``ctx.shape[-1]`` (so SD1's 320/640/1280 pairs act on self-attention and 768
on cross-attention); ``k = to_k(mlp_k(ctx))``, ``v = to_v(mlp_v(ctx))`` where
``mlp(x) = x + linear(x)·strength``. We install a copy of diffusers'
``AttnProcessor2_0`` with that one change on every attention module: it calls
the (possibly PEFT-wrapped) ``to_k``/``to_v``, so it combines with a LoRA;
strength is a plain attribute, so a sweep needs no reinstall; at strength 0
the processor does exactly what the stock one does (bit-identical output).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .adapters import Applied, Column, fmt_number
from .api import RenderError, RenderVerdict

if TYPE_CHECKING:
    import torch


def _activations() -> dict[str, Any]:
    import torch

    table: dict[str, Any] = {
        "linear": torch.nn.Identity,
        "relu": torch.nn.ReLU,
        "leakyrelu": torch.nn.LeakyReLU,
        "elu": torch.nn.ELU,
        "swish": torch.nn.Hardswish,
        "tanh": torch.nn.Tanh,
        "sigmoid": torch.nn.Sigmoid,
    }
    for cls_name, cls in inspect.getmembers(torch.nn.modules.activation, inspect.isclass):
        if cls.__module__ == "torch.nn.modules.activation":
            table.setdefault(cls_name.lower(), cls)
    return table


def dropout_structure(
    layers: list[float], use_dropout: bool, last_layer_dropout: bool
) -> list[float]:
    """A1111's ``parse_dropout_structure`` for files without an explicit one."""
    if not use_dropout:
        return [0.0] * len(layers)
    values = [0.0] + [0.3] * (len(layers) - 3)
    values.append(0.3 if last_layer_dropout else 0.0)
    values.append(0.0)
    return values


@dataclass(frozen=True, slots=True)
class HypernetworkSpec:
    """How the MLPs of a hypernetwork file are built (A1111's saved options)."""

    layer_structure: tuple[float, ...]
    activation: str | None
    layer_norm: bool
    dropout: tuple[float, ...]
    activate_output: bool

    @classmethod
    def from_file(cls, data: dict[Any, Any]) -> HypernetworkSpec:
        layers = list(data.get("layer_structure") or [1, 2, 1])
        structure = data.get("dropout_structure")
        use_dropout = (
            True
            if structure is not None and any(structure)
            else bool(data.get("use_dropout", False))
        )
        if structure is None:
            structure = dropout_structure(
                layers, use_dropout, bool(data.get("last_layer_dropout", False))
            )
        return cls(
            layer_structure=tuple(float(x) for x in layers),
            activation=data.get("activation_func"),
            layer_norm=bool(data.get("is_layer_norm", False)),
            dropout=tuple(float(x) for x in structure),
            activate_output=bool(data.get("activate_output", True)),
        )


def build_mlp(width: int, spec: HypernetworkSpec) -> torch.nn.Sequential:
    """The ``linear`` Sequential of A1111's ``HypernetworkModule``, index for index."""
    import torch

    acts = _activations()
    layers: list[torch.nn.Module] = []
    structure = spec.layer_structure
    for i in range(len(structure) - 1):
        a, b = int(width * structure[i]), int(width * structure[i + 1])
        layers.append(torch.nn.Linear(a, b))
        last = i >= len(structure) - 2
        if spec.activation in (None, "linear") or (last and not spec.activate_output):
            pass
        elif spec.activation in acts:
            layers.append(acts[spec.activation]())
        else:
            raise RenderError(
                RenderVerdict.ERROR, f"unsupported hypernetwork activation {spec.activation!r}"
            )
        if spec.layer_norm:
            layers.append(torch.nn.LayerNorm(b))
        if i + 1 < len(spec.dropout) and spec.dropout[i + 1] > 0:
            layers.append(torch.nn.Dropout(p=spec.dropout[i + 1]))
    return torch.nn.Sequential(*layers)


_OLD_NAMES = {
    "linear1.weight": "linear.0.weight",
    "linear1.bias": "linear.0.bias",
    "linear2.weight": "linear.1.weight",
    "linear2.bias": "linear.1.bias",
}


def load_pairs(data: Any, path: Path) -> dict[int, tuple[Any, Any]]:
    """Width → (key MLP, value MLP), eval mode, fp32, on the CPU."""
    if not isinstance(data, dict):
        raise RenderError(RenderVerdict.ERROR, f"{path.name} is not an A1111 hypernetwork")
    spec = HypernetworkSpec.from_file(data)
    pairs: dict[int, tuple[Any, Any]] = {}
    for width, sds in data.items():
        if not isinstance(width, int) or isinstance(width, bool):
            continue
        if not isinstance(sds, list | tuple) or len(sds) != 2:
            raise RenderError(
                RenderVerdict.ERROR, f"{path.name}: width {width} does not hold a (key, value) pair"
            )
        mlps = []
        for sd in sds:
            state = {_OLD_NAMES.get(k, k): v for k, v in dict(sd).items()}
            state = {k.removeprefix("linear."): v for k, v in state.items()}
            old = any(k in _OLD_NAMES for k in dict(sd))
            mlp = build_mlp(width, spec) if not old else _old_mlp(width, state)
            try:
                mlp.load_state_dict({k: v.float() for k, v in state.items()})
            except RuntimeError as exc:
                first = str(exc).strip().splitlines()[0]
                raise RenderError(
                    RenderVerdict.ERROR,
                    f"{path.name}: width {width} does not match its layer structure: {first[:200]}",
                ) from None
            mlps.append(mlp.eval().requires_grad_(False))
        pairs[width] = (mlps[0], mlps[1])
    if not pairs:
        raise RenderError(RenderVerdict.ERROR, f"{path.name} holds no hypernetwork layers")
    return pairs


def _old_mlp(width: int, state: dict[str, torch.Tensor]) -> torch.nn.Sequential:
    import torch

    hidden = state["0.weight"].shape[0]
    return torch.nn.Sequential(torch.nn.Linear(width, hidden), torch.nn.Linear(hidden, width))


class HypernetworkAttnProcessor:
    """diffusers' ``AttnProcessor2_0`` (Apache-2.0, diffusers 0.42.1) with A1111's k/v transform."""

    def __init__(self, pairs: dict[int, tuple[Any, Any]], state: _Strength) -> None:
        self.pairs = pairs
        self.state = state

    def _mlp(self, mlp: Any, ctx: torch.Tensor) -> torch.Tensor:
        x = ctx.float()
        return (x + mlp(x) * self.state.strength).to(ctx.dtype)

    def __call__(
        self,
        attn: Any,
        hidden_states: torch.Tensor,
        encoder_hidden_states: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        temb: torch.Tensor | None = None,
        *args: Any,
        **kwargs: Any,
    ) -> torch.Tensor:
        import torch.nn.functional as F

        residual = hidden_states
        if attn.spatial_norm is not None:
            hidden_states = attn.spatial_norm(hidden_states, temb)
        input_ndim = hidden_states.ndim
        if input_ndim == 4:
            batch_size, channel, height, width = hidden_states.shape
            hidden_states = hidden_states.view(batch_size, channel, height * width).transpose(1, 2)
        batch_size, sequence_length, _ = (
            hidden_states.shape if encoder_hidden_states is None else encoder_hidden_states.shape
        )
        if attention_mask is not None:
            attention_mask = attn.prepare_attention_mask(
                attention_mask, sequence_length, batch_size
            )
            attention_mask = attention_mask.view(
                batch_size, attn.heads, -1, attention_mask.shape[-1]
            )
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        query = attn.to_q(hidden_states)
        if encoder_hidden_states is None:
            encoder_hidden_states = hidden_states
        elif attn.norm_cross:
            encoder_hidden_states = attn.norm_encoder_hidden_states(encoder_hidden_states)

        ctx_k = ctx_v = encoder_hidden_states
        pair = self.pairs.get(encoder_hidden_states.shape[-1])
        if pair is not None and self.state.strength != 0.0:
            ctx_k = self._mlp(pair[0], encoder_hidden_states)
            ctx_v = self._mlp(pair[1], encoder_hidden_states)
        key = attn.to_k(ctx_k)
        value = attn.to_v(ctx_v)

        inner_dim = key.shape[-1]
        head_dim = inner_dim // attn.heads
        query = query.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        key = key.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        value = value.view(batch_size, -1, attn.heads, head_dim).transpose(1, 2)
        if attn.norm_q is not None:
            query = attn.norm_q(query)
        if attn.norm_k is not None:
            key = attn.norm_k(key)
        hidden_states = F.scaled_dot_product_attention(
            query, key, value, attn_mask=attention_mask, dropout_p=0.0, is_causal=False
        )
        hidden_states = hidden_states.transpose(1, 2).reshape(batch_size, -1, attn.heads * head_dim)
        hidden_states = hidden_states.to(query.dtype)
        hidden_states = attn.to_out[0](hidden_states)
        hidden_states = attn.to_out[1](hidden_states)
        if input_ndim == 4:
            hidden_states = hidden_states.transpose(-1, -2).reshape(
                batch_size, channel, height, width
            )
        if attn.residual_connection:
            hidden_states = hidden_states + residual
        hidden_states = hidden_states / attn.rescale_output_factor
        return hidden_states


@dataclass(slots=True)
class _Strength:
    strength: float = 0.0


@dataclass(slots=True)
class HypernetworkApplied(Applied):
    """Processors installed on every attention layer; one column per strength."""

    unet: Any = None
    saved: dict[str, Any] = field(default_factory=dict)
    state: _Strength = field(default_factory=_Strength)
    name: str = ""

    def activate(self, column: Column) -> None:
        self.state.strength = float(column.value or 0.0)

    def infotext_prompts(self, positive: str, negative: str, column: Column) -> tuple[str, str]:
        return (
            f"{positive}, <hypernet:{self.name}:{fmt_number(float(column.value or 0.0))}>",
            negative,
        )

    def remove(self) -> None:
        if self.saved:
            self.unet.set_attn_processor(self.saved)
            self.saved = {}


def _attention_widths(unet: Any) -> tuple[int, list[int]]:
    """(cross-attention context width, the self-attention width of every attention layer)."""
    from diffusers.models.attention_processor import Attention

    cross = int(
        unet.config.cross_attention_dim if isinstance(unet.config.cross_attention_dim, int) else 0
    )
    selfs = []
    for module in unet.modules():
        if isinstance(module, Attention) and not module.is_cross_attention:
            selfs.append(int(module.to_q.in_features))
    return cross, selfs


def apply_hypernetwork(
    pipe: Any, data: Any, path: Path, *, name: str, strengths: list[float]
) -> HypernetworkApplied:
    """Install the hypernetwork on every attention layer of ``pipe.unet``."""
    pairs = load_pairs(data, path)
    unet = pipe.unet
    cross, selfs = _attention_widths(unet)
    if cross not in pairs:
        widths = ", ".join(str(w) for w in sorted(pairs))
        raise RenderError(
            RenderVerdict.INCOMPATIBLE,
            f"the hypernetwork has layers for widths {widths}, none for this base's "
            f"cross-attention width {cross}",
        )
    # The MLPs stay fp32 on the UNet's device (A1111 casts the context to float too).
    moved = {w: (k.to(unet.device), v.to(unet.device)) for w, (k, v) in pairs.items()}
    cross_count = len(unet.attn_processors) - len(selfs)
    touched = cross_count + sum(1 for w in selfs if w in moved)
    state = _Strength()
    applied = HypernetworkApplied(
        columns=[Column(fmt_number(s), s) for s in sorted(set(strengths))],
        unet=unet,
        saved=dict(unet.attn_processors),
        state=state,
        name=name,
    )
    unet.set_attn_processor(HypernetworkAttnProcessor(moved, state))
    applied.touched = touched
    applied.note = (
        f"acts on {touched} attention layer(s) (widths {', '.join(str(w) for w in sorted(pairs))})"
    )
    return applied
