"""A WebUI library with the tiny renderable model and assets, catalogued, for render-job tests.

The tiny files (``sdhub.models.render.tiny``) are written once per test
process into a template folder and copied for each test (copying 10 MB is
far cheaper than building them again); sample recipes of real families
(``sdhub.models.samples``: decisive tensors only, they never load) are added
per test where a test needs an SD1/SDXL/Flux asset or checkpoint.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sdhub.catalog import Catalog, open_catalog, open_library, scan_library
from sdhub.models.kinds import FileFormat, Kind
from sdhub.models.layouts import Layout, folder_for
from sdhub.models.samples import SAMPLES, write_sample

from sdhub.config import load_settings

from .tiny_sd import TINY_GRID_TOML

#: Where each tiny file lands in an A1111 library.
CHECKPOINTS = "models/Stable-diffusion"
TINY_CHECKPOINT = f"{CHECKPOINTS}/tiny-sd1.safetensors"
#: The tiny assets by name, as the job reports them.
TINY_ASSETS = {
    "tiny-sd1": Kind.CHECKPOINT,
    "tiny-lora": Kind.LORA,
    "tiny-locon": Kind.LORA,
    "tiny-loha": Kind.LORA,
    "tiny-lokr": Kind.LORA,
    "tiny-embedding": Kind.EMBEDDING,
    "tiny-negative": Kind.EMBEDDING,
    "tiny-hypernetwork": Kind.HYPERNETWORK,
    "tiny-vae": Kind.VAE,
}
#: The grid the tests render: 1 prompt × 2 seeds, 32×32, 2 DDIM steps, one sweep value.
GRID_TOML = (
    TINY_GRID_TOML + "\n[sweep.lora]\nweights = [1.0]\n[sweep.hypernetwork]\nstrengths = [1.0]\n"
)

_template: Path | None = None


def tiny_template(factory: pytest.TempPathFactory) -> Path:
    """The tiny library, written once per test process (needs torch: a few seconds)."""
    global _template
    if _template is None:
        from sdhub.models.render import write_tiny_library

        root = factory.mktemp("tiny-webui-template")

        def folder(kind: Kind) -> Path:
            relative = folder_for(Layout.A1111, kind)
            return root / (relative if relative is not None else CHECKPOINTS)

        written = write_tiny_library(root, folder)
        for path in written[Kind.LORA]:
            algo = path.stem.removeprefix("tiny-")
            sidecar = {"activation text": f"tiny {algo} style", "preferred weight": 0.8}
            path.with_suffix(".json").write_text(json.dumps(sidecar), encoding="utf-8")
        _template = root
    return _template


def copy_library(template: Path, dest: Path) -> Path:
    shutil.copytree(template, dest)
    return dest


def add_sample(root: Path, recipe: str, relative: str, *, seed: int = 0) -> Path:
    """A sample recipe (real keys and shapes of a family, decisive tensors only)."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = FileFormat.TORCH_ZIP if path.suffix in (".ckpt", ".pt", ".pth") else None
    return write_sample(SAMPLES[recipe], path, fmt, seed=seed)


def scan(root: Path) -> Catalog:
    """Scan ``root`` into the catalog of the test's SDHUB_HOME and return it (open)."""
    catalog = open_catalog(load_settings().db_url)
    scan_library(catalog, [], library=open_library(root, Layout.A1111))
    return catalog


def write_grid(folder: Path) -> Path:
    path = folder / "tiny-grid.toml"
    path.write_text(GRID_TOML, encoding="utf-8")
    return path
