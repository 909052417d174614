"""Tiny SD1 files for the render tests: the library from ``sdhub.models.render.tiny``
plus deliberately broken assets (NaN weights, wrong family, truncated, unsafe pickle)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sdhub.models.kinds import Base, Kind
from sdhub.models.render import RenderAsset, RenderBase, parse_grid

TINY_GRID_TOML = """
[render]
width = 32
height = 32
steps = 2
sampler = "DDIM"
cfg = 7.0
seeds = [11, 22]

[[prompts]]
name = "cat"
positive = "a photo of a cat"
negative = "blurry"
"""


#: One sweep value per kind unless a test asks for more: the suite stays fast.
_SWEEP_DEFAULTS = {"lora": "weights = [1.0]", "hypernetwork": "strengths = [1.0]"}


def tiny_grid(**sweep: str) -> object:
    """The 1 prompt × 2 seeds, 32×32, 2-step grid; ``sweep`` sets ``[sweep.*]`` tables."""
    extra = ""
    for table, body in {**_SWEEP_DEFAULTS, **sweep}.items():
        extra += f"\n[sweep.{table}]\n{body}\n"
    return parse_grid(TINY_GRID_TOML + extra, source="tiny-grid.toml")


@dataclass(frozen=True)
class TinyFiles:
    root: Path
    files: dict[Kind, list[Path]]

    def path(self, name: str) -> Path:
        for paths in self.files.values():
            for p in paths:
                if p.name == name:
                    return p
        raise KeyError(name)

    @property
    def checkpoint(self) -> Path:
        return self.files[Kind.CHECKPOINT][0]

    def base(self) -> RenderBase:
        return RenderBase(path=self.checkpoint, name="tiny-sd1", family=Base.SD1)

    def asset(self, name: str, kind: Kind, **kw: object) -> RenderAsset:
        path = self.path(name) if not Path(name).is_absolute() else Path(name)
        return RenderAsset(path=path, kind=kind, name=path.stem, base=Base.SD1, **kw)  # type: ignore[arg-type]


def nan_lora(src: Path, dest: Path) -> Path:
    """A copy of a kohya LoRA whose ``lora_up`` weights are all NaN."""
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(str(src))
    for key in state:
        if key.endswith("lora_up.weight"):
            state[key] = torch.full_like(state[key], float("nan"))
    save_file(state, str(dest))
    return dest


def foreign_lora(dest: Path) -> Path:
    """A Flux-style kohya LoRA: its module names exist in no SD1 UNet."""
    import torch
    from safetensors.torch import save_file

    save_file(
        {
            "lora_unet_double_blocks_0_img_attn_qkv.lora_down.weight": torch.randn(4, 32),
            "lora_unet_double_blocks_0_img_attn_qkv.lora_up.weight": torch.randn(96, 4),
            "lora_unet_double_blocks_0_img_attn_qkv.alpha": torch.tensor(4.0),
        },
        str(dest),
    )
    return dest


def truncated(src: Path, dest: Path, keep: float = 0.6) -> Path:
    data = src.read_bytes()
    dest.write_bytes(data[: int(len(data) * keep)])
    return dest


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("echo pwned",))


def malicious_pickle(dest: Path) -> Path:
    """A ``.pt`` whose unpickling would run a shell command (it is never unpickled)."""
    import torch

    torch.save({"string_to_param": {"*": torch.zeros(1, 48)}, "payload": _Boom()}, dest)
    return dest
