"""``sdhub demo``: a small, realistic WebUI library with everything the browser can show.

Layout of ``DIR`` (every path is inside it; nothing outside is read or written)::

    DIR/
      sdhub-home/          SDHUB_HOME of the demo: catalog.db, config.toml, trash/, renders/
      webui/               SDHUB_LIBRARY: an A1111/Forge install's model folders
        models/Stable-diffusion/   checkpoints (+ the tiny renderable one and its config folder)
        models/Lora/               LoRA, LoCon, LoHa, DoRA… (one duplicate in old/)
        models/VAE/  models/hypernetworks/  models/ControlNet/  models/ESRGAN/  models/VAE-approx/
        embeddings/                textual inversions (one negative)

The files are tiny but real: sample recipes from :mod:`sdhub.models.samples`
written by :mod:`sdhub.models.writers` (classification, hashes and safety
scans work on them as on real downloads). What a real library has is there
too: A1111 ``<name>.json`` sidecars with trigger words and weights, Civitai
Helper ``<name>.civitai.info`` files, preview images, two files in the wrong
folder, a duplicate, a LoRA whose metadata lies about its base, and a
``.ckpt`` whose pickle would call ``os.system`` if anyone unpickled it (the
scanner flags it; nothing ever runs it). With torch installed, the tiny
SD1-architecture checkpoint and one asset of every kind from
:mod:`sdhub.models.render.tiny` are added, so ``sdhub render --all`` works
offline on the demo. Then everything is scanned into the demo's own catalog.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import struct
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sdhub.catalog import ScanReport, open_catalog, open_library, scan_library
from sdhub.models._zip import ZipWriter
from sdhub.models.kinds import FileFormat, Kind
from sdhub.models.layouts import Layout, model_folders
from sdhub.models.samples import SAMPLES, write_sample

HOME_DIR = "sdhub-home"
LIBRARY_DIR = "webui"
#: Civitai ids in the demo's ``.civitai.info`` files: well above real ones, so never confused.
_DEMO_MODEL_ID = 9_900_000
_DEMO_VERSION_ID = 99_900_000


@dataclass(frozen=True, slots=True)
class DemoFile:
    """One sample file of the demo: a recipe, where it goes, and what is said about it."""

    recipe: str
    path: str  # relative to the library root
    fmt: FileFormat | None = None
    words: tuple[str, ...] = ()
    weight: float | None = None
    description: str = ""
    #: Write a Civitai Helper ``.civitai.info`` instead of an A1111 ``.json``.
    civitai: dict[str, Any] | None = None
    preview: bool = False
    seed: int = 0


#: The sample library. Words and descriptions are made up for the demo.
DEMO_FILES: tuple[DemoFile, ...] = (
    DemoFile(
        "ckpt-sd1",
        "models/Stable-diffusion/classic-sd15-pruned.safetensors",
        description="A general SD 1.5 checkpoint (demo sample: random weights).",
        preview=True,
        seed=1,
    ),
    DemoFile(
        "ckpt-sdxl",
        "models/Stable-diffusion/xl-base-1.0.safetensors",
        civitai={
            "model": "XL Base Demo",
            "type": "Checkpoint",
            "base": "SDXL 1.0",
            "version": "v1.0",
            "description": "<p>An <b>SDXL</b> base checkpoint.</p><p>Use 1024×1024.</p>",
        },
        seed=2,
    ),
    DemoFile("ckpt-flux-schnell", "models/Stable-diffusion/flux-schnell-fp8.safetensors", seed=3),
    DemoFile("ckpt-sd1-inpainting", "models/Stable-diffusion/sd15-inpainting.ckpt", seed=4),
    DemoFile(
        "lora-kohya-sd1",
        "models/Lora/watercolor-style.safetensors",
        words=("wtrclr", "watercolor painting"),
        weight=0.7,
        description="Soft watercolor washes; works best between 0.6 and 0.8.",
        preview=True,
        seed=10,
    ),
    DemoFile(
        "lora-kohya-sdxl",
        "models/Lora/neon-cyberpunk-xl.safetensors",
        civitai={
            "model": "Neon Cyberpunk XL",
            "type": "LORA",
            "base": "SDXL 1.0",
            "version": "v2.1",
            "words": ["neon city", "cyberpunk"],
            "description": (
                "<p>Rain-soaked <em>neon</em> streets.</p>"
                "<ul><li>Recommended weight: 0.6-0.8</li><li>Works with any SDXL model</li></ul>"
            ),
        },
        preview=True,
        seed=11,
    ),
    DemoFile(
        "locon-kohya-sd1",
        "models/Lora/paper-cutout-locon.safetensors",
        civitai={
            "model": "Paper Cutout",
            "type": "LoCon",
            "base": "SD 1.5",
            "version": "v1.0",
            "words": ["papercut", "layered paper"],
            "description": "<p>Layered paper craft look. Strength: 0.8</p>",
        },
        seed=12,
    ),
    DemoFile("loha-sd1", "models/Lora/ink-sketch-loha.safetensors", seed=13),
    DemoFile(
        "lora-kohya-flux",
        "models/Lora/flux-film-grain.safetensors",
        words=("film grain", "35mm photo"),
        weight=0.9,
        description="Analog film grain for Flux.",
        seed=14,
    ),
    DemoFile("dora-sdxl", "models/Lora/soft-light-dora.safetensors", seed=15),
    DemoFile("lora-sd1-metadata-says-sdxl", "models/Lora/detail-tweaker.safetensors", seed=16),
    DemoFile("lora-peft-sdxl", "models/Lora/portraits/peft-portrait-xl.safetensors", seed=17),
    DemoFile(
        "embedding-easynegative",
        "embeddings/easynegative.safetensors",
        description="Negative embedding: put it in the negative prompt.",
        seed=20,
    ),
    DemoFile(
        "embedding-a1111-sd1",
        "embeddings/cozy-cabin.pt",
        words=("cozy cabin",),
        weight=1.0,
        description="A snowy wooden cabin (textual inversion).",
        seed=21,
    ),
    DemoFile("embedding-sdxl", "embeddings/xl-sunset.safetensors", seed=22),
    DemoFile("embedding-a1111-negative-sd1", "embeddings/bad-hands-neg.pt", seed=23),
    DemoFile(
        "hypernetwork-sd1",
        "models/hypernetworks/anime-lineart.pt",
        words=("lineart",),
        weight=0.6,
        seed=30,
    ),
    DemoFile("vae-sd1-ft-mse", "models/VAE/vae-ft-mse-840000.safetensors", seed=40),
    DemoFile("vae-sdxl", "models/VAE/sdxl-vae-fp16-fix.safetensors", seed=41),
    DemoFile("controlnet-sd1-ldm", "models/ControlNet/control-canny-sd15.pth", seed=50),
    DemoFile("upscaler-realesrgan", "models/ESRGAN/4x-upscaler.pth", seed=51),
    DemoFile("vae-approx-taesd-decoder", "models/VAE-approx/taesd-decoder.pth", seed=52),
    # In the wrong folders: a LoRA among the embeddings, an embedding among the LoRAs.
    DemoFile(
        "lora-kohya-sd2",
        "embeddings/misplaced-sd21-style.safetensors",
        words=("sd21style",),
        weight=0.8,
        seed=60,
    ),
    DemoFile("embedding-diffusers-sd2", "models/Lora/stray-embedding.safetensors", seed=61),
)
#: A second copy of a file (same bytes, another name): the duplicate.
DUPLICATE = (
    "models/Lora/watercolor-style.safetensors",
    "models/Lora/old/watercolor-v1.safetensors",
)
#: The file whose pickle would run a command if loaded with plain ``torch.load``.
UNSAFE_PATH = "models/Stable-diffusion/free-realistic-UNSAFE.ckpt"


@dataclass(slots=True)
class DemoLibrary:
    """What :func:`build_demo` made."""

    root: Path
    home: Path
    db_url: str
    files: list[Path] = field(default_factory=list)
    renderable: bool = False
    notes: list[str] = field(default_factory=list)
    report: ScanReport | None = None
    seconds: float = 0.0

    def env(self) -> dict[str, str]:
        """The environment that points sdhub at the demo (and nowhere else)."""
        return {
            "SDHUB_HOME": str(self.home),
            "SDHUB_LIBRARY": str(self.root),
            "SDHUB_DB_URL": self.db_url,
        }


def renderable_available() -> bool:
    """Whether torch and diffusers are installed (the render extra)."""
    return all(importlib.util.find_spec(m) is not None for m in ("torch", "diffusers"))


def build_demo(
    dest: Path,
    *,
    renderable: bool | None = None,
    on_step: Callable[[str], None] | None = None,
) -> DemoLibrary:
    """Write the demo library into ``dest`` and scan it into its own catalog.

    ``renderable``: add the tiny renderable checkpoint and assets (needs
    torch; None = when installed). Refuses a ``dest`` that already holds
    something other than an earlier demo.
    """
    started = time.perf_counter()
    step = on_step or (lambda _message: None)
    dest = Path(os.path.abspath(dest))
    _check_destination(dest)
    root = dest / LIBRARY_DIR
    home = dest / HOME_DIR
    demo = DemoLibrary(root=root, home=home, db_url=f"sqlite:///{home / 'catalog.db'}")
    for folder in model_folders(Layout.A1111):
        (root / folder).mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)

    step(f"writing sample models into {root}")
    for index, spec in enumerate(DEMO_FILES):
        demo.files.append(_write_file(root, spec, index))
    source, copy = (root / p for p in DUPLICATE)
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_bytes(source.read_bytes())
    demo.files.append(copy)
    demo.files.append(write_unsafe_pickle(root / UNSAFE_PATH))

    if renderable is None:
        renderable = renderable_available()
        if not renderable:
            demo.notes.append(
                "torch/diffusers are not installed: the tiny renderable checkpoint was left out "
                "(pip install 'sdhub[render]' to add it)"
            )
    if renderable:
        step("building the tiny renderable checkpoint and assets (torch, a few seconds)")
        demo.files.extend(_write_renderable(root))
        demo.renderable = True

    step("scanning it into the demo catalog")
    _write_config(home, root)
    catalog = open_catalog(demo.db_url)
    try:
        demo.report = scan_library(catalog, [], library=open_library(root, Layout.A1111))
    finally:
        catalog.close()
    demo.seconds = time.perf_counter() - started
    return demo


def _check_destination(dest: Path) -> None:
    if not dest.exists():
        dest.mkdir(parents=True)
        return
    if not dest.is_dir():
        raise FileExistsError(f"{dest}: exists and is not a folder")
    extra = {p.name for p in dest.iterdir()} - {HOME_DIR, LIBRARY_DIR}
    if extra:
        raise FileExistsError(
            f"{dest}: not empty ({', '.join(sorted(extra)[:3])}…); "
            "give an empty or new folder, or an earlier demo's"
        )


def _write_file(root: Path, spec: DemoFile, index: int) -> Path:
    sample = SAMPLES[spec.recipe]
    path = root / spec.path
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = spec.fmt or (FileFormat.TORCH_ZIP if path.suffix in (".ckpt", ".pt", ".pth") else None)
    write_sample(sample, path, fmt, seed=spec.seed)
    if spec.civitai is not None:
        info = civitai_info(path, spec.civitai, index)
        _write_json(path.with_name(path.stem + ".civitai.info"), info)
    elif spec.words or spec.weight is not None or spec.description:
        _write_json(
            path.with_name(path.stem + ".json"),
            {
                "description": spec.description,
                "sd version": sample.base.label if sample.base.value != "unknown" else "Unknown",
                "activation text": ", ".join(spec.words),
                "preferred weight": spec.weight or 0,
                "negative text": "",
                "notes": "",
            },
        )
    if spec.preview:
        path.with_name(path.stem + ".preview.png").write_bytes(preview_png(spec.seed))
    return path


def civitai_info(path: Path, about: dict[str, Any], index: int) -> dict[str, Any]:
    """A Civitai model-version answer for a local file, as Civitai Helper saves it."""
    data = path.read_bytes()
    sha = hashlib.sha256(data).hexdigest().upper()
    model_id, version_id = _DEMO_MODEL_ID + index, _DEMO_VERSION_ID + index
    return {
        "id": version_id,
        "modelId": model_id,
        "name": about.get("version", "v1.0"),
        "createdAt": "2025-03-01T10:00:00.000Z",
        "publishedAt": "2025-03-01T10:00:00.000Z",
        "status": "Published",
        "trainedWords": list(about.get("words", [])),
        "baseModel": about.get("base", "SD 1.5"),
        "description": about.get("description"),
        "nsfwLevel": 1,
        "model": {"name": about["model"], "type": about["type"], "nsfw": False, "poi": False},
        "files": [
            {
                "id": version_id * 10 + 1,
                "name": path.name,
                "type": "Model",
                "sizeKB": len(data) / 1024,
                "metadata": {"fp": "fp16", "size": "pruned", "format": "SafeTensor"},
                "pickleScanResult": "Success",
                "virusScanResult": "Success",
                "hashes": {"SHA256": sha, "AutoV2": sha[:10], "CRC32": f"{zlib.crc32(data):08X}"},
                "primary": True,
            }
        ],
        "images": [],
    }


def write_unsafe_pickle(
    path: Path, recipe: str = "ckpt-sd1", command: str = "echo sdhub-demo: this would have run"
) -> Path:
    """A real ``.ckpt`` (torch zip) whose pickle also calls ``os.system(command)`` when loaded.

    The checkpoint is a sample recipe written by our own writer; one more
    entry is added to its top-level dict, opcode by opcode: ``GLOBAL
    posix.system``, the command, ``REDUCE``. Nothing of ours ever unpickles
    it (the safety scanner reads the opcodes and says "dangerous"); the
    command is harmless anyway, in case someone loads it with plain
    ``torch.load``.
    """
    import zipfile

    path.parent.mkdir(parents=True, exist_ok=True)
    clean = path.with_name(path.name + ".clean.tmp")
    write_sample(SAMPLES[recipe], clean, FileFormat.TORCH_ZIP, seed=7)
    with zipfile.ZipFile(clean) as zf:
        members = [(info.filename, zf.read(info)) for info in zf.infolist()]
    clean.unlink()
    encoded, key = command.encode(), b"sdhub_demo_payload"
    payload = (
        b"X"
        + struct.pack("<I", len(key))
        + key  # the dict key
        + b"cposix\nsystem\n"  # GLOBAL posix.system
        + b"X"
        + struct.pack("<I", len(encoded))
        + encoded
        + b"\x85R"  # TUPLE1, REDUCE: system(command)
        + b"s"  # SETITEM into the checkpoint's top-level dict
    )
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        zw = ZipWriter(fh)
        for name, data in members:
            if name.endswith("/data.pkl"):
                assert data.endswith(b".")
                data = data[:-1] + payload + b"."
            zw.add(name, data)
        zw.close()
    os.replace(tmp, path)
    return path


def _write_renderable(root: Path) -> list[Path]:
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from sdhub.models.layouts import folder_for
    from sdhub.models.render.tiny import write_tiny_library

    def folder(kind: Kind) -> Path:
        relative = folder_for(Layout.A1111, kind)
        return root / (relative if relative is not None else "models/Stable-diffusion")

    written = write_tiny_library(root, folder)
    paths = [p for group in written.values() for p in group]
    for path in written.get(Kind.LORA, []):
        algo = path.stem.removeprefix("tiny-")
        _write_json(
            path.with_name(path.stem + ".json"),
            {
                "description": f"A tiny {algo} for the tiny checkpoint (renders in seconds).",
                "sd version": "SD1",
                "activation text": f"tiny {algo} style",
                "preferred weight": 0.8,
                "negative text": "",
                "notes": "",
            },
        )
    return paths


def _write_config(home: Path, root: Path) -> None:
    from sdhub.config import save_config

    save_config(home, {"library": str(root), "layout": Layout.A1111.value})


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")


def preview_png(seed: int, width: int = 96, height: int = 128) -> bytes:
    """A small colourful PNG (gradient bands), the kind of preview a WebUI saves."""
    r0, g0, b0 = (seed * 71) % 256, (seed * 137 + 60) % 256, (seed * 29 + 120) % 256
    rows = bytearray()
    for y in range(height):
        rows.append(0)
        for x in range(width):
            band = ((x // 12) + (y // 16)) % 2
            rows += bytes(
                (
                    (r0 + x * 2 + band * 40) % 256,
                    (g0 + y * 2) % 256,
                    (b0 + (x + y) + band * 30) % 256,
                )
            )

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(rows), 9))
        + chunk(b"IEND", b"")
    )
