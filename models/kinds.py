"""The vocabulary of model files: kinds, base families, formats, safety verdicts.

Every other package speaks these enums; their string values are the contract
of the command line's JSON output (see CLI.md), so never rename a value.
"""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    """What a file does for a Stable Diffusion user, decided from its tensors."""

    CHECKPOINT = "checkpoint"
    LORA = "lora"
    EMBEDDING = "embedding"
    HYPERNETWORK = "hypernetwork"
    VAE = "vae"
    OTHER = "other"
    INVALID = "invalid"


class Component(StrEnum):
    """A finer role for files of kind ``other`` (and a few of the main kinds).

    Placement needs it: a ControlNet and an upscaler are both ``other`` but
    live in different WebUI folders.
    """

    CONTROLNET = "controlnet"
    T2I_ADAPTER = "t2i-adapter"
    IP_ADAPTER = "ip-adapter"
    UPSCALER = "upscaler"
    VAE_APPROX = "vae-approx"
    DIFFUSION_MODEL = "diffusion-model"
    TEXT_ENCODER = "text-encoder"
    MOTION_MODULE = "motion-module"
    UNKNOWN = "unknown"


class Base(StrEnum):
    """The base model family a file was made for (or belongs to)."""

    SD1 = "sd1"
    SD2 = "sd2"
    SDXL = "sdxl"
    SDXL_REFINER = "sdxl-refiner"
    SD3 = "sd3"
    FLUX = "flux"
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        """The name people use for the family (and A1111's ``sd version`` spelling)."""
        return _BASE_LABELS[self]


_BASE_LABELS: dict[Base, str] = {
    Base.SD1: "SD1",
    Base.SD2: "SD2",
    Base.SDXL: "SDXL",
    Base.SDXL_REFINER: "SDXL Refiner",
    Base.SD3: "SD3",
    Base.FLUX: "Flux",
    Base.UNKNOWN: "Unknown",
}


class FileFormat(StrEnum):
    """The container a model file uses."""

    SAFETENSORS = "safetensors"
    TORCH_ZIP = "torch-zip"
    TORCH_LEGACY = "torch-legacy"
    GGUF = "gguf"  # llama.cpp's container: ComfyUI-GGUF / Forge quantized UNets, T5
    UNKNOWN = "unknown"


class Verdict(StrEnum):
    """Pickle safety of a file: may loading it run somebody else's code?"""

    SAFE = "safe"
    SUSPICIOUS = "suspicious"
    DANGEROUS = "dangerous"
    UNSCANNABLE = "unscannable"

    @property
    def severity(self) -> int:
        """Order for combining verdicts of several pickles: the worst wins."""
        return _SEVERITY[self]


_SEVERITY: dict[Verdict, int] = {
    Verdict.SAFE: 0,
    Verdict.SUSPICIOUS: 1,
    Verdict.UNSCANNABLE: 2,
    Verdict.DANGEROUS: 3,
}


def worst(verdicts: list[Verdict] | tuple[Verdict, ...]) -> Verdict:
    """The most severe of several verdicts (``safe`` for none)."""
    return max(verdicts, key=lambda v: v.severity, default=Verdict.SAFE)
