"""A realistic WebUI library on disk: a few hundred real model files of every kind.

Built from the :mod:`sdhub.models.samples` recipes (real key names, real
shapes where shapes decide), each written with its own seed so every file has
its own hashes. Like a real install it has files in sub-folders, files in the
wrong folder, byte-identical copies, name clashes, broken downloads, a
malicious pickle, and the sidecars other tools leave: A1111 ``<stem>.json``,
Civitai Helper ``.civitai.info`` (2023 and 2025 shapes), Stability Matrix
``.cm-info.json``, previews.

    lib = build_library(tmp_path / "webui")          # A1111 layout, 300 files
    lib.files                                         # what was written, and why
    lib.misplaced(), lib.duplicates(), lib.with_sidecar(".civitai.info")

The JSON builders (:func:`civitai_version_json`, :func:`cm_info_json`,
:func:`a1111_json`) are usable on their own.
"""

from __future__ import annotations

import json
import random
import shutil
import struct
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
from sdhub.models.hashing import hash_file
from sdhub.models.kinds import Base, Component, FileFormat, Kind
from sdhub.models.layouts import Layout, folder_for
from sdhub.models.report import Hashes
from sdhub.models.samples import SAMPLES, Sample, samples, write_sample

#: Bigger recipes used a few times each (every kind must appear).
_EXTRA_RECIPES = (
    "ckpt-sd1-novae",
    "ckpt-sdxl-refiner",
    "ckpt-sd1",
    "lora-kohya-sd1",
    "hypernetwork-nai-legacy",
    "hypernetwork-sd1",
    "upscaler-realesrgan",
    "controlnet-sd1-ldm",
)
_SUBFOLDERS = ("styles", "characters", "2024/old")
_PICKLE_SUFFIXES = {".pt", ".ckpt", ".pth", ".bin"}


@dataclass(slots=True)
class LibraryFile:
    """One model file of a generated library and what a scan should find in it."""

    path: Path
    recipe: str | None
    kind: Kind
    base: Base
    component: Component | None
    format: FileFormat
    #: The folder its kind belongs in (None: the layout has none).
    home: Path | None
    misplaced: bool = False
    duplicate_of: Path | None = None
    invalid: bool = False
    dangerous: bool = False
    #: suffix → path of the sidecars written next to it.
    sidecars: dict[str, Path] = field(default_factory=dict)
    a1111_words: list[str] = field(default_factory=list)
    a1111_weight: float | None = None
    civitai_words: list[str] = field(default_factory=list)
    civitai_version_id: int | None = None
    cm_words: list[str] = field(default_factory=list)
    hashes: Hashes | None = None

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def expected_words(self) -> list[str]:
        """Trigger words after a scan: A1111 json, else Civitai (Helper or Stability Matrix)."""
        return self.a1111_words or self.civitai_words or self.cm_words


@dataclass(slots=True)
class GeneratedLibrary:
    root: Path
    layout: Layout
    files: list[LibraryFile]

    def models(self) -> list[LibraryFile]:
        """Files a scan classifies as usable models (not invalid, not dangerous)."""
        return [f for f in self.files if not f.invalid and not f.dangerous]

    def misplaced(self) -> list[LibraryFile]:
        return [f for f in self.files if f.misplaced]

    def duplicates(self) -> list[LibraryFile]:
        return [f for f in self.files if f.duplicate_of is not None]

    def with_sidecar(self, suffix: str) -> list[LibraryFile]:
        return [f for f in self.files if suffix in f.sidecars]

    def by_path(self) -> dict[Path, LibraryFile]:
        return {f.path: f for f in self.files}

    def of_kind(self, kind: Kind) -> list[LibraryFile]:
        return [f for f in self.files if f.kind is kind and not f.invalid and not f.dangerous]

    def copy_to(self, root: Path) -> GeneratedLibrary:
        """A copy of the library (mtimes kept) at ``root``, with its manifest rebased."""
        shutil.copytree(self.root, root, symlinks=True)

        def move(path: Path | None) -> Path | None:
            return None if path is None else root / path.relative_to(self.root)

        files = []
        for f in self.files:
            files.append(
                replace(
                    f,
                    path=move(f.path),
                    home=move(f.home),
                    duplicate_of=move(f.duplicate_of),
                    sidecars={k: move(v) for k, v in f.sidecars.items()},  # type: ignore[misc]
                    a1111_words=list(f.a1111_words),
                    civitai_words=list(f.civitai_words),
                    cm_words=list(f.cm_words),
                )
            )
        return GeneratedLibrary(root, self.layout, files)


# --------------------------------------------------------------------------------------
# JSON the tools leave next to files


def civitai_version_json(
    *,
    shape: str,
    model_id: int,
    version_id: int,
    model_name: str,
    model_type: str,
    file_name: str,
    hashes: Hashes | None,
    size: int,
    base_model: str = "SD 1.5",
    trained_words: Iterable[str] = (),
    description: str | None = None,
    image_weight: float | None = None,
) -> dict[str, Any]:
    """A ``/api/v1/model-versions/{id}`` answer as Civitai Helper stores it in ``.civitai.info``.

    ``shape="2023"``: string NSFW levels, ``earlyAccessTimeFrame``, no AutoV3;
    ``"2025"``: numeric ``nsfwLevel``, ``air``, ``availability``, ``publishedAt``.
    """
    file_hashes: dict[str, str] = {}
    if hashes is not None:
        file_hashes = {
            "AutoV1": hashes.autov1,
            "AutoV2": hashes.autov2,
            "SHA256": hashes.sha256,
            "CRC32": hashes.crc32,
            "BLAKE3": hashes.blake3,
        }
        if shape != "2023" and hashes.autov3:
            file_hashes["AutoV3"] = hashes.autov3
    stem = Path(file_name).stem
    meta = {
        "prompt": f"masterpiece, <lora:{stem}:{image_weight}>" if image_weight else "masterpiece",
        "negativePrompt": "lowres",
        "seed": 42,
        "steps": 20,
        "cfgScale": 7,
        "sampler": "Euler a",
        "Size": "512x768",
    }
    if image_weight is not None and shape != "2023":
        meta["civitaiResources"] = [
            {"type": "lora", "modelVersionId": version_id, "weight": image_weight}
        ]
    image: dict[str, Any] = {
        "url": f"https://image.civitai.com/xG1nkqKTMzGDvpLrqFT7WA/{version_id}/width=450/1.jpeg",
        "width": 512,
        "height": 768,
        "hash": "U8Fi~|xu00%M~qt7IUM{?b9F%MNG",
        "type": "image",
        "meta": meta,
    }
    data: dict[str, Any] = {
        "id": version_id,
        "modelId": model_id,
        "name": "v1.0",
        "createdAt": "2023-05-02T10:11:12.000Z",
        "updatedAt": "2023-05-02T10:20:00.000Z",
        "trainedWords": list(trained_words),
        "baseModel": base_model,
        "description": description,
        "stats": {"downloadCount": 1234, "ratingCount": 3, "rating": 5, "thumbsUpCount": 3},
        "model": {"name": model_name, "type": model_type, "nsfw": False, "poi": False},
        "files": [
            {
                "id": version_id * 10 + 1,
                "name": file_name,
                "type": "Model",
                "sizeKB": size / 1024,
                "metadata": {"fp": "fp16", "size": "pruned", "format": "SafeTensor"},
                "pickleScanResult": "Success",
                "pickleScanMessage": "No Pickle imports",
                "virusScanResult": "Success",
                "virusScanMessage": None,
                "scannedAt": "2023-05-02T10:15:00.000Z",
                "hashes": file_hashes,
                "primary": True,
                "downloadUrl": f"https://civitai.com/api/download/models/{version_id}",
            }
        ],
        "images": [image],
        "downloadUrl": f"https://civitai.com/api/download/models/{version_id}",
    }
    if shape == "2023":
        data["earlyAccessTimeFrame"] = 0
        data["vaeId"] = None
        image["nsfw"] = "None"
    else:
        data.update(
            {
                "status": "Published",
                "publishedAt": "2025-02-03T04:05:06.000Z",
                "availability": "Public",
                "nsfwLevel": 1,
                "baseModelType": "Standard",
                "earlyAccessEndsAt": None,
                "trainingStatus": None,
                "trainingDetails": None,
                "earlyAccessConfig": None,
                "uploadType": "Created",
                "usageControl": "Download",
                "air": f"urn:air:sd1:lora:civitai:{model_id}@{version_id}",
            }
        )
        image.update({"nsfwLevel": 1, "availability": "Public", "hasMeta": True})
    return data


def cm_info_json(
    *,
    model_id: int | None,
    version_id: int | None,
    model_name: str,
    model_type: str,
    file_name: str,
    hashes: Hashes | None,
    trained_words: Iterable[str] = (),
    base_model: str = "SD 1.5",
) -> dict[str, Any]:
    """A Stability Matrix ``<stem>.cm-info.json`` (``ConnectedModelInfo``)."""
    return {
        "ModelId": model_id,
        "ModelName": model_name,
        "ModelDescription": "<p>A model.</p>",
        "Nsfw": False,
        "Tags": ["style", "anime"],
        "ModelType": model_type,
        "VersionId": version_id,
        "VersionName": "v2.0",
        "VersionDescription": None,
        "AuthorUsername": "someone",
        "BaseModel": base_model,
        "RemoteFileName": file_name,
        "RemoteFileId": version_id * 10 + 1 if version_id else None,
        "FileMetadata": {"fp": "fp16", "size": "pruned", "format": "SafeTensor"},
        "ImportedAt": "2024-03-04T05:06:07.1234567+00:00",
        "Hashes": {
            "SHA256": hashes.sha256 if hashes else None,
            "CRC32": hashes.crc32 if hashes else None,
            "BLAKE3": hashes.blake3 if hashes else None,
        },
        "TrainedWords": list(trained_words),
        "Stats": {"downloadCount": 10, "ratingCount": 1, "rating": 5.0},
        "UserTitle": None,
        "ThumbnailImageUrl": f"https://image.civitai.com/x/{version_id}/width=450/1.jpeg",
        "InferenceDefaults": None,
        "Source": "Civitai",
    }


def a1111_json(
    *,
    words: Iterable[str] = (),
    weight: float = 0,
    description: str = "",
    sd_version: str = "Unknown",
    negative: str = "",
    notes: str = "",
) -> dict[str, Any]:
    """An A1111 extra-networks user-metadata file, as the WebUI's editor writes it."""
    return {
        "description": description,
        "sd version": sd_version,
        "activation text": ", ".join(words),
        "preferred weight": weight,
        "negative text": negative,
        "notes": notes,
    }


def tiny_png(seed: int = 0) -> bytes:
    """A valid 2×2 RGB PNG (a preview image)."""
    rows = b"".join(b"\x00" + bytes((seed * 37 + i) % 256 for i in range(6)) for _ in range(2))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def write_json(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4), encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------
# The library


def _suffix(sample: Sample, fmt: FileFormat) -> str:
    if fmt is FileFormat.SAFETENSORS:
        return ".safetensors"
    suffix = Path(sample.filename).suffix.lower()
    if suffix in _PICKLE_SUFFIXES:
        return suffix
    return ".ckpt" if sample.kind is Kind.CHECKPOINT else ".pt"


def _recipes() -> list[Sample]:
    small = samples(max_bytes=300_000)
    extra = [SAMPLES[name] for name in _EXTRA_RECIPES]
    return extra + small + small  # every kind early on; small ones twice as often


def _civitai_type(kind: Kind) -> str:
    return {
        Kind.LORA: "LORA",
        Kind.EMBEDDING: "TextualInversion",
        Kind.HYPERNETWORK: "Hypernetwork",
        Kind.CHECKPOINT: "Checkpoint",
        Kind.VAE: "VAE",
    }.get(kind, "Other")


def _fallback_folder(root: Path, layout: Layout) -> Path:
    """Where people drop files of kinds the layout has no folder for."""
    return root / ("models/Stable-diffusion" if layout is Layout.A1111 else "models/checkpoints")


def build_library(
    root: Path,
    *,
    layout: Layout = Layout.A1111,
    count: int = 300,
    seed: int = 7,
    broken: bool = True,
) -> GeneratedLibrary:
    """Write a library of about ``count`` model files under ``root`` (see the module docstring).

    Deterministic for a given seed. ``broken=False`` leaves out the invalid
    and malicious files.
    """
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    recipes = _recipes()
    homes = {
        key: root / folder
        for key in {(s.kind, s.component) for s in SAMPLES.values()}
        if (folder := folder_for(layout, *key)) is not None
    }
    all_homes = sorted(set(homes.values()))
    files: list[LibraryFile] = []
    for i in range(count):
        sample = recipes[i % len(recipes)] if i < len(recipes) else rng.choice(recipes)
        fmt = sample.formats[0] if rng.random() < 0.75 else rng.choice(sample.formats)
        home = homes.get((sample.kind, sample.component if sample.kind is Kind.OTHER else None))
        misplaced = home is not None and i % 7 == 3
        if home is None:
            folder = _fallback_folder(root, layout)
        elif misplaced:
            folder = rng.choice([h for h in all_homes if h != home])
        else:
            folder = home
        if i % 5 == 1:
            folder = folder / _SUBFOLDERS[i % len(_SUBFOLDERS)]
        path = folder / f"{Path(sample.filename).stem}-{i:03d}{_suffix(sample, fmt)}"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_sample(sample, path, fmt, seed=seed * 100_000 + i)
        entry = LibraryFile(
            path=path,
            recipe=sample.name,
            kind=sample.kind,
            base=sample.base,
            component=sample.component,
            format=fmt,
            home=home,
            misplaced=misplaced,
            hashes=hash_file(path),
        )
        _add_sidecars(entry, i, layout)
        files.append(entry)

    files.extend(_duplicates(files, rng))
    files.extend(_clashes(root, layout, homes, seed))
    if broken:
        files.extend(_broken_files(root, layout, seed))
    return GeneratedLibrary(root, layout, files)


def _add_sidecars(entry: LibraryFile, i: int, layout: Layout) -> None:
    if entry.kind not in (Kind.LORA, Kind.EMBEDDING, Kind.HYPERNETWORK, Kind.CHECKPOINT):
        return
    stem = entry.path.stem
    folder = entry.path.parent
    if i % 3 == 0:
        entry.a1111_words = [f"trig{i}", f"style {i}"]
        entry.a1111_weight = 0.6 if i % 2 == 0 else None
        entry.sidecars[".json"] = write_json(
            folder / f"{stem}.json",
            a1111_json(
                words=entry.a1111_words,
                weight=entry.a1111_weight or 0,
                description=f"written by a person for {stem}",
                notes=f"note {i}",
            ),
        )
    if i % 5 == 0:
        version_id = 100_000 + i
        entry.civitai_words = [f"civ{i}"]
        entry.civitai_version_id = version_id
        entry.sidecars[".civitai.info"] = write_json(
            folder / f"{stem}.civitai.info",
            civitai_version_json(
                shape="2023" if i % 10 == 0 else "2025",
                model_id=50_000 + i,
                version_id=version_id,
                model_name=f"Model {i}",
                model_type=_civitai_type(entry.kind),
                file_name=entry.path.name,
                hashes=entry.hashes,
                size=entry.path.stat().st_size,
                trained_words=entry.civitai_words,
                description="<p>Recommended weight: 0.8</p>",
                image_weight=0.7,
            ),
        )
    elif i % 7 == 0:
        entry.cm_words = [f"sm{i}"]
        entry.civitai_version_id = 200_000 + i
        entry.sidecars[".cm-info.json"] = write_json(
            folder / f"{stem}.cm-info.json",
            cm_info_json(
                model_id=60_000 + i,
                version_id=200_000 + i,
                model_name=f"SM model {i}",
                model_type=_civitai_type(entry.kind),
                file_name=entry.path.name,
                hashes=entry.hashes,
                trained_words=entry.cm_words,
            ),
        )
    if i % 4 == 0:
        suffix = ".preview.png" if i % 8 == 0 else ".png"
        preview = folder / f"{stem}{suffix}"
        preview.write_bytes(tiny_png(i))
        entry.sidecars[suffix] = preview


def _duplicates(files: list[LibraryFile], rng: random.Random) -> list[LibraryFile]:
    """Byte-identical copies of some files elsewhere in their home (or beside them)."""
    out = []
    candidates = [f for f in files if not f.misplaced][::17][:12]
    for n, original in enumerate(candidates):
        folder = (original.home or original.path.parent) / "copies"
        folder.mkdir(parents=True, exist_ok=True)
        copy = folder / f"copy{n}-{original.path.name}"
        shutil.copy2(original.path, copy)
        out.append(
            LibraryFile(
                path=copy,
                recipe=original.recipe,
                kind=original.kind,
                base=original.base,
                component=original.component,
                format=original.format,
                home=original.home,
                duplicate_of=original.path,
                hashes=original.hashes,
                # What Civitai says about the bytes holds for every copy of them.
                civitai_words=list(original.civitai_words),
                cm_words=list(original.cm_words),
                civitai_version_id=original.civitai_version_id,
            )
        )
    return out


def _clashes(root: Path, layout: Layout, homes: dict[Any, Path], seed: int) -> list[LibraryFile]:
    """A LoRA at home and another, different one with the same name in the wrong folder."""
    sample = SAMPLES["ia3-sd1"]
    home = homes[(Kind.LORA, None)]
    wrong = homes[(Kind.CHECKPOINT, None)]
    out = []
    for n in range(2):
        for folder, misplaced, salt in ((home, False, 1), (wrong, True, 2)):
            path = folder / f"clash{n}.safetensors"
            path.parent.mkdir(parents=True, exist_ok=True)
            write_sample(sample, path, seed=seed * 1_000_000 + n * 10 + salt)
            out.append(
                LibraryFile(
                    path=path,
                    recipe=sample.name,
                    kind=sample.kind,
                    base=sample.base,
                    component=None,
                    format=FileFormat.SAFETENSORS,
                    home=home,
                    misplaced=misplaced,
                    hashes=hash_file(path),
                )
            )
    return out


def malicious_ckpt() -> bytes:
    """A torch zip whose pickle runs ``os.system`` when loaded (never by us)."""
    from support.pickles import reduce_system, torch_zip_with_pickle

    return torch_zip_with_pickle(reduce_system("touch /nonexistent/sdhub-canary"))


def _broken_files(root: Path, layout: Layout, seed: int) -> list[LibraryFile]:
    """What real libraries hold too: cut downloads, error pages saved as models, a trojan."""
    ckpt_home = root / folder_for(layout, Kind.CHECKPOINT)  # type: ignore[operator]
    lora_home = root / folder_for(layout, Kind.LORA)  # type: ignore[operator]
    emb_home = root / folder_for(layout, Kind.EMBEDDING)  # type: ignore[operator]
    whole = write_sample(
        SAMPLES["lora-kohya-sd1"], lora_home / "cut-download.safetensors", seed=seed
    )
    data = whole.read_bytes()
    whole.write_bytes(data[: len(data) // 2])
    specs: list[tuple[Path, bytes | None, bool]] = [
        (whole, None, False),
        (
            ckpt_home / "model-from-civitai.safetensors",
            b'{"error":"Unauthorized","message":"The creator of this asset requires you to be'
            b' logged in to download it"}',
            False,
        ),
        (ckpt_home / "empty.ckpt", b"", False),
        (emb_home / "garbage.pt", random.Random(seed).randbytes(3000), False),
        (ckpt_home / "evil-merge.ckpt", malicious_ckpt(), True),
    ]
    out = []
    for path, content, dangerous in specs:
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            path.write_bytes(content)
        out.append(
            LibraryFile(
                path=path,
                recipe=None,
                kind=Kind.INVALID,
                base=Base.UNKNOWN,
                component=None,
                format=FileFormat.UNKNOWN,
                home=None,
                invalid=not dangerous,
                dangerous=dangerous,
            )
        )
    return out


# --------------------------------------------------------------------------------------
# Fixtures (import them into a test module: ``from support.library import webui``)


@pytest.fixture(scope="session")
def library_template(tmp_path_factory: pytest.TempPathFactory) -> GeneratedLibrary:
    """One generated A1111 library per test session (copied before any test changes it)."""
    return build_library(tmp_path_factory.mktemp("template") / "webui")


@pytest.fixture
def webui(library_template: GeneratedLibrary, tmp_path: Path) -> GeneratedLibrary:
    """A fresh copy of the generated A1111 library (~320 files) for one test."""
    return library_template.copy_to(tmp_path / "webui")


@pytest.fixture(scope="session")
def small_library_template(tmp_path_factory: pytest.TempPathFactory) -> GeneratedLibrary:
    return build_library(tmp_path_factory.mktemp("small-template") / "webui", count=70, seed=11)


@pytest.fixture
def small_webui(small_library_template: GeneratedLibrary, tmp_path: Path) -> GeneratedLibrary:
    """A fresh copy of a smaller generated A1111 library (~90 files, every kind) for one test."""
    return small_library_template.copy_to(tmp_path / "webui")
