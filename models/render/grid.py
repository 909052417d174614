"""The reference prompt grid: what every asset is rendered with.

A TOML file (``default_grid.toml`` ships with sdhub) parsed into frozen
dataclasses. Bad input fails with one line naming the file and the key, e.g.
``my-grid.toml: render.steps must be an integer ≥ 1, got 'twenty'``. No torch
here: samplers are names; :mod:`.samplers` maps them to diffusers classes
when a render runs.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from ..kinds import Base
from .samplers import SAMPLERS


class GridError(ValueError):
    """A grid file that cannot be used; the message names the file and the key."""


@dataclass(frozen=True, slots=True)
class GridPrompt:
    """One row prompt: a short name for the label, positive and negative text."""

    name: str
    positive: str
    negative: str = ""


@dataclass(frozen=True, slots=True)
class Settings:
    """Sampling settings shared by every image of a grid (per-family overrides apply)."""

    width: int = 512
    height: int = 512
    steps: int = 20
    sampler: str = "DPM++ 2M Karras"
    cfg: float = 7.0


@dataclass(frozen=True, slots=True)
class Sweeps:
    """The per-kind columns of an asset's grid."""

    #: LoRA/LyCORIS weights; the asset's recommended weight is added when set.
    lora_weights: tuple[float, ...] = (0.6, 0.8, 1.0)
    lora_add_recommended: bool = True
    hypernetwork_strengths: tuple[float, ...] = (0.5, 0.75, 1.0)
    #: Put an embedding in the positive prompt; negative embeddings always go negative.
    embedding_positive: bool = True
    #: Draw the baseline (asset not applied) as the first column.
    baseline_column: bool = True


@dataclass(frozen=True, slots=True)
class Grid:
    """A whole reference grid: rows are prompts × seeds, columns the sweep of a kind."""

    prompts: tuple[GridPrompt, ...]
    seeds: tuple[int, ...]
    settings: Settings = field(default_factory=Settings)
    sweeps: Sweeps = field(default_factory=Sweeps)
    #: Per-family overrides of :class:`Settings` (SDXL renders at 1024², …).
    family_settings: dict[Base, Settings] = field(default_factory=dict)
    #: Images per batch; 0 = choose from the device.
    batch_size: int = 0
    source: str = "<grid>"

    def settings_for(self, family: Base) -> Settings:
        return self.family_settings.get(family, self.settings)

    def fingerprint(self) -> str:
        """A short digest of everything that changes the pixels (not the source name)."""
        data = asdict(self)
        data.pop("source")
        data["family_settings"] = {k.value: v for k, v in data["family_settings"].items()}
        blob = json.dumps(data, sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def with_size(self, width: int, height: int, steps: int | None = None) -> Grid:
        """The same grid at another size (and step count) for every family; handy for tests."""

        def resize(s: Settings) -> Settings:
            return replace(s, width=width, height=height, steps=steps or s.steps)

        return replace(
            self,
            settings=resize(self.settings),
            family_settings={k: resize(v) for k, v in self.family_settings.items()},
        )


DEFAULT_GRID_NAME = "default_grid.toml"


def default_grid() -> Grid:
    """The grid that ships with sdhub."""
    ref = resources.files("sdhub.models.render") / DEFAULT_GRID_NAME
    return parse_grid(ref.read_text(encoding="utf-8"), source=DEFAULT_GRID_NAME)


def load_grid(path: Path) -> Grid:
    """Read and validate a grid file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise GridError(f"{path}: cannot read grid file: {exc.strerror or exc}") from None
    return parse_grid(text, source=str(path))


def parse_grid(text: str, *, source: str = "<grid>") -> Grid:
    """Parse TOML text into a :class:`Grid`; ``source`` names the file in errors."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise GridError(f"{source}: not valid TOML: {exc}") from None
    return _Parser(source).grid(data)


_SETTINGS_KEYS = {"width", "height", "steps", "sampler", "cfg"}


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, message: str) -> GridError:
        return GridError(f"{self.source}: {key} {message}")

    def table(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value

    def no_extra(self, data: dict[str, Any], allowed: set[str], where: str) -> None:
        for key in data:
            if key not in allowed:
                name = f"{where}.{key}" if where else key
                raise self.fail(name, f"is not a known key (known: {', '.join(sorted(allowed))})")

    def integer(self, value: Any, key: str, low: int = 0) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise self.fail(key, f"must be an integer ≥ {low}, got {value!r}")
        return value

    def number(self, value: Any, key: str, low: float | None = None) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, got {value!r}")
        if low is not None and value < low:
            raise self.fail(key, f"must be ≥ {low}, got {value!r}")
        return float(value)

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def numbers(self, value: Any, key: str) -> tuple[float, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(key, "must be a non-empty list of numbers")
        return tuple(self.number(v, f"{key}[{i}]") for i, v in enumerate(value))

    def settings(self, data: dict[str, Any], where: str, base: Settings) -> Settings:
        self.no_extra(data, _SETTINGS_KEYS, where)
        values: dict[str, Any] = {}
        for side in ("width", "height"):
            if side in data:
                size = self.integer(data[side], f"{where}.{side}", 8)
                if size % 8:
                    raise self.fail(f"{where}.{side}", f"must be a multiple of 8, got {size}")
                values[side] = size
        if "steps" in data:
            values["steps"] = self.integer(data["steps"], f"{where}.steps", 1)
        if "cfg" in data:
            values["cfg"] = self.number(data["cfg"], f"{where}.cfg", 0.0)
        if "sampler" in data:
            name = data["sampler"]
            if not isinstance(name, str) or name not in SAMPLERS:
                known = ", ".join(SAMPLERS)
                raise self.fail(
                    f"{where}.sampler", f"is not a known sampler: {name!r} (known: {known})"
                )
            values["sampler"] = name
        return replace(base, **values)

    def prompts(self, value: Any) -> tuple[GridPrompt, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail("prompts", "must be a non-empty array of tables ([[prompts]])")
        out = []
        for i, item in enumerate(value):
            key = f"prompts[{i}]"
            item = self.table(item, key)
            self.no_extra(item, {"name", "positive", "negative"}, key)
            positive = item.get("positive")
            if not isinstance(positive, str) or not positive.strip():
                raise self.fail(f"{key}.positive", "must be a non-empty string")
            negative = item.get("negative", "")
            if not isinstance(negative, str):
                raise self.fail(f"{key}.negative", "must be a string")
            name = item.get("name", f"prompt {i + 1}")
            if not isinstance(name, str) or not name:
                raise self.fail(f"{key}.name", "must be a non-empty string")
            out.append(GridPrompt(name=name, positive=positive.strip(), negative=negative.strip()))
        return tuple(out)

    def sweeps(self, data: dict[str, Any]) -> Sweeps:
        self.no_extra(data, {"lora", "hypernetwork", "embedding", "baseline_column"}, "sweep")
        values: dict[str, Any] = {}
        if "baseline_column" in data:
            values["baseline_column"] = self.boolean(
                data["baseline_column"], "sweep.baseline_column"
            )
        lora = self.table(data.get("lora", {}), "sweep.lora")
        self.no_extra(lora, {"weights", "add_recommended"}, "sweep.lora")
        if "weights" in lora:
            values["lora_weights"] = self.numbers(lora["weights"], "sweep.lora.weights")
        if "add_recommended" in lora:
            values["lora_add_recommended"] = self.boolean(
                lora["add_recommended"], "sweep.lora.add_recommended"
            )
        hyper = self.table(data.get("hypernetwork", {}), "sweep.hypernetwork")
        self.no_extra(hyper, {"strengths"}, "sweep.hypernetwork")
        if "strengths" in hyper:
            values["hypernetwork_strengths"] = self.numbers(
                hyper["strengths"], "sweep.hypernetwork.strengths"
            )
        emb = self.table(data.get("embedding", {}), "sweep.embedding")
        self.no_extra(emb, {"positive"}, "sweep.embedding")
        if "positive" in emb:
            values["embedding_positive"] = self.boolean(emb["positive"], "sweep.embedding.positive")
        return replace(Sweeps(), **values)

    def grid(self, data: dict[str, Any]) -> Grid:
        self.no_extra(data, {"render", "prompts", "sweep", "family"}, "")
        render = self.table(data.get("render", {}), "render")
        render_settings = {k: v for k, v in render.items() if k in _SETTINGS_KEYS}
        self.no_extra(render, _SETTINGS_KEYS | {"seeds", "batch_size"}, "render")
        settings = self.settings(render_settings, "render", Settings())
        seeds_raw = render.get("seeds", [1234])
        if not isinstance(seeds_raw, list) or not seeds_raw:
            raise self.fail("render.seeds", "must be a non-empty list of integers")
        seeds = tuple(self.integer(s, f"render.seeds[{i}]") for i, s in enumerate(seeds_raw))
        if any(s >= 2**63 for s in seeds):
            raise self.fail("render.seeds", "must be below 2**63")
        batch = self.integer(render.get("batch_size", 0), "render.batch_size")
        families: dict[Base, Settings] = {}
        for name, table in self.table(data.get("family", {}), "family").items():
            try:
                family = Base(name)
            except ValueError:
                known = ", ".join(b.value for b in (Base.SD1, Base.SD2, Base.SDXL))
                raise self.fail(
                    f"family.{name}", f"is not a base family (known: {known})"
                ) from None
            families[family] = self.settings(
                self.table(table, f"family.{name}"), f"family.{name}", settings
            )
        return Grid(
            prompts=self.prompts(data.get("prompts")),
            seeds=seeds,
            settings=settings,
            sweeps=self.sweeps(self.table(data.get("sweep", {}), "sweep")),
            family_settings=families,
            batch_size=batch,
            source=self.source,
        )
