"""The validation render engine (issue 6): every asset against a reference prompt grid.

Importing this package is cheap: torch, diffusers and transformers load only
when a render runs. The job side (``sdhub.hub``) needs only::

    from sdhub.models.render import RenderEngine, RenderAsset, RenderBase, load_grid

    with RenderEngine(device="auto") as engine:
        result = engine.render_asset(asset, base, grid, out_dir, on_image=progress)

Offline by construction: a checkpoint loads with ``from_single_file(config=…,
local_files_only=True)`` where the config folder is the checkpoint's own
``<stem>.diffusers/`` sidecar (tiny and odd-sized models) or the one shipped
for its family in ``configs/sd1|sd2|sdxl`` (JSON only, ~15 KB). Tokenizers
are built from ``configs/clip/merges.txt.gz`` (~200 KB; the 49,408-token
vocabulary is derived from the merges), never downloaded.

Modules: ``api`` (types), ``grid`` (the TOML grid), ``engine`` (the job),
``bases`` (loading), ``lora``/``embeddings``/``hypernetwork`` (assets),
``sheet`` (the PNG), ``tiny`` (the tiny model and assets ``sdhub demo`` ships).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .api import (
    RENDERABLE_BASES,
    ProgressCallback,
    RenderAsset,
    RenderBase,
    RenderError,
    RenderResult,
    RenderVerdict,
    Timings,
)
from .grid import Grid, GridError, GridPrompt, Settings, Sweeps, default_grid, load_grid, parse_grid
from .samplers import SAMPLERS

if TYPE_CHECKING:
    from .engine import RenderEngine
    from .tiny import write_tiny_checkpoint, write_tiny_library

__all__ = [
    "RENDERABLE_BASES",
    "SAMPLERS",
    "Grid",
    "GridError",
    "GridPrompt",
    "ProgressCallback",
    "RenderAsset",
    "RenderBase",
    "RenderEngine",
    "RenderError",
    "RenderResult",
    "RenderVerdict",
    "Settings",
    "Sweeps",
    "Timings",
    "default_grid",
    "load_grid",
    "parse_grid",
    "write_tiny_checkpoint",
    "write_tiny_library",
]

_LAZY = {
    "RenderEngine": ".engine",
    "write_tiny_checkpoint": ".tiny",
    "write_tiny_library": ".tiny",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
