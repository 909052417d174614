"""Where each kind of file lives in an A1111/Forge or ComfyUI install.

The folder table is data (FORMATS.md "Folders", SPEC-APIS.md C.6): scanning,
placement and downloads all ask this module, never spell a folder themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path, PurePosixPath

from .kinds import Component, Kind

#: Suffixes that can hold model weights, lower case.
MODEL_SUFFIXES: frozenset[str] = frozenset(
    {".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".sft", ".gguf"}
)


class Layout(StrEnum):
    """A WebUI's folder convention."""

    A1111 = "a1111"  # also Forge and SD.Next
    COMFYUI = "comfyui"


@dataclass(frozen=True, slots=True)
class Slot:
    """One kind of asset's home in a layout: its folders and accepted suffixes.

    ``folder`` is where sdhub puts new files; ``also`` lists other folders the
    WebUI reads the same kind from (older installs), which a scan must cover.
    """

    folder: PurePosixPath
    suffixes: frozenset[str]
    also: tuple[PurePosixPath, ...] = ()

    @property
    def folders(self) -> tuple[PurePosixPath, ...]:
        return (self.folder, *self.also)


def _slot(folder: str, suffixes: str, *also: str) -> Slot:
    return Slot(
        PurePosixPath(folder),
        frozenset(suffixes.split()),
        tuple(PurePosixPath(a) for a in also),
    )


_WEIGHTS = ".safetensors .ckpt .pt .pth .bin .sft"
#: ComfyUI-GGUF adds ``.gguf`` to the UNet and text-encoder folders only; Forge lists
#: ``.gguf`` in ``models/Stable-diffusion``.
_WEIGHTS_GGUF = _WEIGHTS + " .gguf"

#: A key of the table: a main kind, or ``other`` refined by its component.
SlotKey = tuple[Kind, Component | None]

_A1111: dict[SlotKey, Slot] = {
    (Kind.CHECKPOINT, None): _slot("models/Stable-diffusion", ".safetensors .ckpt .gguf"),
    (Kind.LORA, None): _slot("models/Lora", ".safetensors .ckpt .pt", "models/LyCORIS"),
    (Kind.EMBEDDING, None): _slot("embeddings", ".pt .safetensors .bin .png .webp"),
    (Kind.HYPERNETWORK, None): _slot("models/hypernetworks", ".pt"),
    (Kind.VAE, None): _slot("models/VAE", ".pt .ckpt .safetensors"),
    (Kind.OTHER, Component.VAE_APPROX): _slot("models/VAE-approx", ".pt .safetensors"),
    (Kind.OTHER, Component.CONTROLNET): _slot("models/ControlNet", _WEIGHTS),
    (Kind.OTHER, Component.T2I_ADAPTER): _slot("models/ControlNet", _WEIGHTS),
    (Kind.OTHER, Component.UPSCALER): _slot("models/ESRGAN", ".pth .pt .safetensors"),
}

_COMFYUI: dict[SlotKey, Slot] = {
    (Kind.CHECKPOINT, None): _slot("models/checkpoints", _WEIGHTS),
    (Kind.LORA, None): _slot("models/loras", _WEIGHTS),
    (Kind.EMBEDDING, None): _slot("models/embeddings", ".pt .safetensors .bin"),
    (Kind.HYPERNETWORK, None): _slot("models/hypernetworks", _WEIGHTS),
    (Kind.VAE, None): _slot("models/vae", _WEIGHTS),
    (Kind.OTHER, Component.VAE_APPROX): _slot("models/vae_approx", _WEIGHTS),
    (Kind.OTHER, Component.CONTROLNET): _slot("models/controlnet", _WEIGHTS),
    (Kind.OTHER, Component.T2I_ADAPTER): _slot("models/controlnet", _WEIGHTS),
    (Kind.OTHER, Component.UPSCALER): _slot("models/upscale_models", _WEIGHTS),
    (Kind.OTHER, Component.DIFFUSION_MODEL): _slot(
        "models/diffusion_models", _WEIGHTS_GGUF, "models/unet"
    ),
    (Kind.OTHER, Component.TEXT_ENCODER): _slot(
        "models/text_encoders", _WEIGHTS_GGUF, "models/clip"
    ),
    (Kind.OTHER, Component.IP_ADAPTER): _slot("models/ipadapter", _WEIGHTS),
    (Kind.OTHER, Component.MOTION_MODULE): _slot("models/animatediff_models", _WEIGHTS),
}

_TABLES: dict[Layout, dict[SlotKey, Slot]] = {Layout.A1111: _A1111, Layout.COMFYUI: _COMFYUI}


def slot_key(kind: Kind, component: Component | None = None) -> SlotKey:
    """Normalise (kind, component): only ``other`` files are told apart by component."""
    return (kind, component if kind is Kind.OTHER else None)


def slot_for(layout: Layout, kind: Kind, component: Component | None = None) -> Slot | None:
    """The home of a kind in a layout, or None where the WebUI has none (ask the user)."""
    return _TABLES[layout].get(slot_key(kind, component))


def folder_for(
    layout: Layout, kind: Kind, component: Component | None = None
) -> PurePosixPath | None:
    """The folder, relative to the WebUI root, that new files of this kind go to."""
    slot = slot_for(layout, kind, component)
    return None if slot is None else slot.folder


def slots(layout: Layout) -> dict[SlotKey, Slot]:
    """Every known home in a layout (a copy: callers may not edit the table)."""
    return dict(_TABLES[layout])


def model_folders(layout: Layout) -> list[PurePosixPath]:
    """Every folder of a layout that holds models, each once, in table order."""
    seen: dict[PurePosixPath, None] = {}
    for slot in _TABLES[layout].values():
        for folder in slot.folders:
            seen.setdefault(folder, None)
    return list(seen)


def kind_of_folder(layout: Layout, relative: PurePosixPath) -> list[SlotKey]:
    """Which kinds a path (relative to the root) sits in the home of.

    Sub-folders inside a kind's folder count (WebUIs allow them). Several
    keys come back where two kinds share a folder (ControlNet/T2I adapters).
    """
    found: list[SlotKey] = []
    parts = relative.parts
    for key, slot in _TABLES[layout].items():
        for folder in slot.folders:
            fparts = folder.parts
            if tuple(p.lower() for p in parts[: len(fparts)]) == tuple(p.lower() for p in fparts):
                found.append(key)
                break
    return found


def detect_layout(root: Path) -> Layout | None:
    """Guess a WebUI root's layout from its folders; None when nothing tells."""
    if (root / "models" / "checkpoints").is_dir() or (root / "models" / "loras").is_dir():
        return Layout.COMFYUI
    if (root / "comfy").is_dir() or (root / "custom_nodes").is_dir():
        return Layout.COMFYUI
    if (root / "models" / "Stable-diffusion").is_dir() or (root / "models" / "Lora").is_dir():
        return Layout.A1111
    if (root / "webui.py").is_file() or (root / "embeddings").is_dir():
        return Layout.A1111
    return None
