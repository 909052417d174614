"""LoRA and LyCORIS on a loaded base, swept over weights without reloading.

Two paths:

* plain LoRA/LoCon (kohya, diffusers, PEFT naming): diffusers'
  ``load_lora_weights`` + ``set_adapters`` per weight;
* LoHa (``hada_*``) and LoKr (``lokr_*``), which diffusers rejects: our own
  ΔW, computed as A1111's ``network_hada``/``network_lokr`` do (Tucker forms
  included), added to each module's output by a forward hook:
  ``y = f(x; W) + w·scale·f(x; ΔW)``. The base weights are never written, so
  removing the hooks restores the base exactly, and weight 0 skips the hook
  (bit-identical to the baseline).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..kinds import Base
from . import ldm_keys
from .adapters import Applied, Column, fmt_number
from .api import RenderError, RenderVerdict

if TYPE_CHECKING:
    import torch

_LYCORIS_OWN = (".hada_", ".lokr_")
_UNSUPPORTED = {
    ".oft_blocks": "OFT",
    ".oft_diag": "BOFT",
    ".on_input": "(IA)³",
    ".a1.weight": "GLoRA",
    ".diff": "full fine-tune diff",
    ".w_norm": "norm",
}
_LORA_DOWN = re.compile(
    r"(?:\.lora_down\.weight|\.lora_A\.weight|\.lora\.down\.weight|"
    r"\.lora_linear_layer\.down\.weight|_lora\.down\.weight|\.lora_A\.[^.]+\.weight)$"
)


def module_names(keys: list[str]) -> set[str]:
    """The distinct module names a LoRA-family file addresses."""
    names = set()
    for key in keys:
        if "." not in key:
            continue
        if _LORA_DOWN.search(key):
            names.add(_LORA_DOWN.sub("", key))
        elif any(s in key for s in _LYCORIS_OWN):
            names.add(key.split(".", 1)[0])
    return names


@dataclass(slots=True)
class LoraApplied(Applied):
    """A LoRA-family asset on the pipeline, one column per weight."""

    pipe: Any = None
    adapter: str = ""
    name: str = ""
    hooks: list[Any] = field(default_factory=list)
    deltas: list[_Delta] = field(default_factory=list)
    own: bool = False

    def activate(self, column: Column) -> None:
        weight = float(column.value or 0.0)
        if self.own:
            for delta in self.deltas:
                delta.multiplier = weight
        else:
            self.pipe.set_adapters([self.adapter], adapter_weights=[weight])

    def infotext_prompts(self, positive: str, negative: str, column: Column) -> tuple[str, str]:
        tag = f"<lora:{self.name}:{fmt_number(float(column.value or 0.0))}>"
        return f"{positive}, {tag}", negative

    def remove(self) -> None:
        for handle in self.hooks:
            handle.remove()
        self.hooks.clear()
        self.deltas.clear()
        if not self.own and self.adapter:
            # Unloading (not just deleting the adapter) takes the PEFT wrappers
            # off again, so the base modules are exactly the ones loaded.
            self.pipe.unload_lora_weights()
            self.adapter = ""


def weight_columns(weights: list[float]) -> list[Column]:
    seen: list[float] = []
    for w in sorted(weights):
        if all(abs(w - s) > 1e-9 for s in seen):
            seen.append(w)
    return [Column(fmt_number(w), w) for w in seen]


def apply_lora(
    pipe: Any,
    family: Base,
    state: dict[str, torch.Tensor],
    *,
    name: str,
    weights: list[float],
) -> LoraApplied:
    """Put a LoRA-family file (already read into ``state``) on ``pipe``."""
    keys = list(state)
    for marker, algo in _UNSUPPORTED.items():
        if any(marker in k for k in keys) and not any(s in k for k in keys for s in _LYCORIS_OWN):
            raise RenderError(
                RenderVerdict.ERROR,
                f"LyCORIS {algo} networks are not supported by the render engine",
            )
    total = len(module_names(keys))
    if total == 0:
        raise RenderError(
            RenderVerdict.INCOMPATIBLE, "the file holds no LoRA/LyCORIS module weights"
        )
    columns = weight_columns(weights)
    if any(s in k for k in keys for s in _LYCORIS_OWN):
        applied = _apply_own(pipe, family, state, total, columns)
    else:
        applied = _apply_diffusers(pipe, state, total, columns)
    applied.name = name
    return applied


# --- diffusers / PEFT path ----------------------------------------------------------


def _peft_layers(pipe: Any, adapter: str) -> int:
    from peft.tuners.lora import LoraLayer

    count = 0
    for model in _models(pipe):
        for module in model.modules():
            if isinstance(module, LoraLayer) and (
                adapter in getattr(module, "lora_A", {})
                or adapter in getattr(module, "lora_embedding_A", {})
            ):
                count += 1
    return count


def _models(pipe: Any) -> Iterator[Any]:
    for attr in ("unet", "text_encoder", "text_encoder_2"):
        model = getattr(pipe, attr, None)
        if model is not None:
            yield model


_ADAPTER = "sdhub_asset"


def _apply_diffusers(
    pipe: Any, state: dict[str, torch.Tensor], total: int, columns: list[Column]
) -> LoraApplied:
    import logging

    from diffusers.utils import logging as dlogging

    # A LoRA matching nothing is only a warning to diffusers; we count instead.
    level = dlogging.get_verbosity()
    dlogging.set_verbosity(logging.ERROR)
    # kohya files with LDM block names (input_blocks_…) need the UNet config to
    # be mapped; the SDXL loader passes it itself and refuses a second one.
    sdxl = getattr(pipe, "text_encoder_2", None) is not None
    extra = {} if sdxl else {"unet_config": pipe.unet.config}
    try:
        pipe.load_lora_weights(dict(state), adapter_name=_ADAPTER, **extra)
    except (ValueError, RuntimeError, KeyError) as exc:
        _cleanup_adapter(pipe)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RenderError(
            RenderVerdict.INCOMPATIBLE, f"the LoRA does not fit this base: {first[:300]}"
        ) from None
    except Exception:
        _cleanup_adapter(pipe)
        raise
    finally:
        dlogging.set_verbosity(level)
    touched = _peft_layers(pipe, _ADAPTER)
    applied = LoraApplied(columns=columns, touched=touched, pipe=pipe, adapter=_ADAPTER)
    if touched == 0:
        applied.remove()
        raise RenderError(
            RenderVerdict.INCOMPATIBLE,
            f"the LoRA touched none of the base's modules ({total} module(s) in the file)",
        )
    applied.note = f"touched {touched} layer(s); the file names {total} module(s)"
    return applied


def _cleanup_adapter(pipe: Any) -> None:
    with contextlib.suppress(Exception):  # nothing was loaded
        pipe.unload_lora_weights()


# --- our own LoHa / LoKr path ---------------------------------------------------------


def kohya_module_index(pipe: Any, family: Base) -> dict[str, Any]:
    """kohya/LyCORIS module name → the diffusers module it means (Linear or Conv2d).

    UNet modules answer to both spellings: diffusers paths (SD1/SD2 kohya
    files) and LDM paths (``input_blocks_4_1_…``, SDXL files).
    """
    import torch

    index: dict[str, Any] = {}
    pairs = ldm_keys.unet_prefix_map(pipe.unet.config)
    for path, module in pipe.unet.named_modules():
        if not isinstance(module, torch.nn.Linear | torch.nn.Conv2d):
            continue
        index["lora_unet_" + path.replace(".", "_")] = module
        with contextlib.suppress(KeyError):  # modules LDM has no name for
            index["lora_unet_" + ldm_keys.unet_key_to_ldm(path, pairs).replace(".", "_")] = module
    encoders = [("text_encoder", "lora_te_")]
    if family is Base.SDXL:
        encoders = [("text_encoder", "lora_te1_"), ("text_encoder_2", "lora_te2_")]
    for attr, prefix in encoders:
        model = getattr(pipe, attr, None)
        if model is None:
            continue
        for path, module in model.named_modules():
            if isinstance(module, torch.nn.Linear):
                bare = path.removeprefix("text_model.").replace(".", "_")
                index[prefix + "text_model_" + bare] = module
                index[prefix + bare] = module
    return index


@dataclass(slots=True)
class _Delta:
    """One module's ΔW from LyCORIS factors, added to its output by a forward hook."""

    module: Any
    factors: dict[str, torch.Tensor]
    scale: float
    multiplier: float = 0.0
    cached: Any = None

    def weight(self) -> torch.Tensor:
        if self.cached is None:
            w = self.module.weight
            delta = compute_delta(self.factors, tuple(w.shape))
            self.cached = delta.to(device=w.device, dtype=w.dtype)
        return self.cached

    def hook(self, module: Any, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor | None:
        import torch.nn.functional as F

        if self.multiplier == 0.0:
            return None
        x = args[0]
        dw = self.weight()
        if dw.ndim == 4:
            extra = F.conv2d(
                x, dw, None, module.stride, module.padding, module.dilation, module.groups
            )
        else:
            extra = F.linear(x, dw)
        return output + extra * (self.multiplier * self.scale)


def _make_cp(t: torch.Tensor, wa: torch.Tensor, wb: torch.Tensor) -> torch.Tensor:
    """LyCORIS's Tucker rebuild (A1111 ``lyco_helpers.make_weight_cp``)."""
    import torch

    temp = torch.einsum("i j k l, j r -> i r k l", t, wb)
    return torch.einsum("i j k l, i r -> r j k l", temp, wa)


def _rebuild(up: torch.Tensor, down: torch.Tensor) -> torch.Tensor:
    return up.reshape(up.size(0), -1) @ down.reshape(down.size(0), -1)


def compute_delta(f: dict[str, torch.Tensor], shape: tuple[int, ...]) -> torch.Tensor:
    """ΔW (unscaled) of one module from its LoHa / LoKr / LoRA factors, in ``shape``."""
    import torch

    f = {k: v.float() for k, v in f.items()}
    numel = 1
    for s in shape:
        numel *= s
    if "hada_w1_a" in f:
        if "hada_t1" in f:
            w1 = _make_cp(f["hada_t1"], f["hada_w1_a"], f["hada_w1_b"])
        else:
            w1 = _rebuild(f["hada_w1_a"], f["hada_w1_b"])
        if "hada_t2" in f:
            w2 = _make_cp(f["hada_t2"], f["hada_w2_a"], f["hada_w2_b"])
        else:
            w2 = _rebuild(f["hada_w2_a"], f["hada_w2_b"])
        delta = w1 * w2
    elif "lokr_w1" in f or "lokr_w1_a" in f:
        w1 = f["lokr_w1"] if "lokr_w1" in f else f["lokr_w1_a"] @ f["lokr_w1_b"]
        if "lokr_w2" in f:
            w2 = f["lokr_w2"]
        elif "lokr_t2" in f:
            w2 = _make_cp(f["lokr_t2"], f["lokr_w2_a"], f["lokr_w2_b"])
        else:
            w2 = f["lokr_w2_a"] @ f["lokr_w2_b"]
        if w2.ndim == 4:
            w1 = w1.unsqueeze(2).unsqueeze(2)
        delta = torch.kron(w1, w2.contiguous())
    elif "lora_down.weight" in f:
        delta = _rebuild(f["lora_up.weight"], f["lora_down.weight"])
    else:
        raise ValueError(f"no known factors among {sorted(f)}")
    if delta.numel() != numel:
        raise ValueError(f"ΔW has {delta.numel()} values, the module weight {numel}")
    return delta.reshape(shape)


def _scale(f: dict[str, torch.Tensor]) -> float:
    """alpha / dim as A1111 computes it (1.0 without alpha or a low-rank factor)."""
    if "scale" in f:
        return float(f["scale"].item())
    dim = None
    if "hada_w1_b" in f:
        dim = f["hada_w1_b"].shape[0]
    elif "lokr_w2_b" in f:
        dim = f["lokr_w2_b"].shape[0]
    elif "lokr_w1_b" in f:
        dim = f["lokr_w1_b"].shape[0]
    elif "lora_down.weight" in f:
        dim = f["lora_down.weight"].shape[0]
    if dim is None or "alpha" not in f:
        return 1.0
    return float(f["alpha"].item()) / dim


_SUFFIXES = (
    "hada_w1_a", "hada_w1_b", "hada_w2_a", "hada_w2_b", "hada_t1", "hada_t2",
    "lokr_w1", "lokr_w1_a", "lokr_w1_b", "lokr_w2", "lokr_w2_a", "lokr_w2_b", "lokr_t2",
    "lora_up.weight", "lora_down.weight", "alpha", "scale",
)  # fmt: skip


def _group(state: dict[str, torch.Tensor]) -> tuple[dict[str, dict[str, torch.Tensor]], set[str]]:
    groups: dict[str, dict[str, torch.Tensor]] = {}
    unknown: set[str] = set()
    for key, tensor in state.items():
        if "." not in key:
            continue
        module, suffix = key.split(".", 1)
        if suffix in _SUFFIXES:
            groups.setdefault(module, {})[suffix] = tensor
        else:
            unknown.add(suffix)
    return groups, unknown


def _apply_own(
    pipe: Any, family: Base, state: dict[str, torch.Tensor], total: int, columns: list[Column]
) -> LoraApplied:
    groups, unknown = _group(state)
    if any(s.startswith(("lora_mid", "dora_scale")) for s in unknown):
        raise RenderError(
            RenderVerdict.ERROR,
            "LyCORIS files with Tucker LoRA (lora_mid) or DoRA parts are not supported yet",
        )
    index = kohya_module_index(pipe, family)
    applied = LoraApplied(columns=columns, pipe=pipe, own=True)
    unmatched: list[str] = []
    misfit: list[str] = []
    for module_name, factors in groups.items():
        module = index.get(module_name)
        if module is None:
            unmatched.append(module_name)
            continue
        need = module.weight.numel()
        got = _delta_numel(factors)
        if got != need:
            misfit.append(f"{module_name}: ΔW has {got} values, the module weight {need}")
            continue
        delta = _Delta(module=module, factors=factors, scale=_scale(factors))
        applied.deltas.append(delta)
        applied.hooks.append(module.register_forward_hook(delta.hook))
    applied.touched = len(applied.deltas)
    if not applied.deltas:
        applied.remove()
        why = f"; e.g. {misfit[0]}" if misfit else ""
        raise RenderError(
            RenderVerdict.INCOMPATIBLE,
            f"the LyCORIS file touched none of the base's modules ({total} in the file){why}",
        )
    parts = [f"touched {applied.touched} of {len(groups)} module(s)"]
    if unmatched:
        parts.append(f"{len(unmatched)} not found in the base (e.g. {unmatched[0]})")
    if misfit:
        parts.append(f"{len(misfit)} of another shape")
    if unknown:
        parts.append(f"ignored {', '.join(sorted(unknown)[:3])}")
    applied.note = "; ".join(parts)
    return applied


def _delta_numel(f: dict[str, torch.Tensor]) -> int:
    """How many values ΔW will have, from the factor shapes alone (nothing multiplied)."""
    from math import prod

    def low_rank(a: str, b: str, t: str) -> tuple[int, int, int]:
        if t in f:  # Tucker: a is [rank, out], b is [rank, in], t is [rank, rank, k, k]
            return f[a].shape[1], f[b].shape[1], prod(f[t].shape[2:])
        return f[a].shape[0], prod(f[b].shape[1:]), 1

    if "hada_w1_a" in f:
        out, inp, kernel = low_rank("hada_w1_a", "hada_w1_b", "hada_t1")
        return out * inp * kernel
    if "lokr_w1" in f or "lokr_w1_a" in f:
        w1 = (
            f["lokr_w1"].shape
            if "lokr_w1" in f
            else (f["lokr_w1_a"].shape[0], f["lokr_w1_b"].shape[1])
        )
        if "lokr_w2" in f:
            w2 = f["lokr_w2"].shape
            o2, i2, k2 = w2[0], w2[1], prod(w2[2:])
        else:
            o2, i2, k2 = low_rank("lokr_w2_a", "lokr_w2_b", "lokr_t2")
        return w1[0] * o2 * w1[1] * i2 * k2
    if "lora_down.weight" in f:
        up, down = f["lora_up.weight"], f["lora_down.weight"]
        return up.shape[0] * prod(down.shape[1:])
    return -1
