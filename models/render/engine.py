"""The render engine: load each base once, apply one asset at a time, render its grid.

Rows of a grid are prompts × seeds; columns are the asset's sweep (LoRA
weights, hypernetwork strengths, embedding placement, VAE). Every image is
rendered to latents with one ``torch.Generator`` per image and decoded by
:func:`decode`, so a VAE asset re-decodes the baseline's latents instead of
sampling again. The baseline (same rows, asset not applied) is rendered in
the same process with the same batch partition, which makes "no effect" a
plain ``np.array_equal``; it is cached per base and prompt set, so assets
with the same trigger words share it.
"""

from __future__ import annotations

import gc
import hashlib
import json
import re
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..kinds import Base, Kind
from .adapters import Applied, Column
from .api import (
    ProgressCallback,
    RenderAsset,
    RenderBase,
    RenderError,
    RenderResult,
    RenderVerdict,
    Timings,
)
from .grid import Grid, GridPrompt, Settings, default_grid
from .sheet import Infotext, draw_sheet, quote, save_png, to_uint8

if TYPE_CHECKING:
    import numpy as np
    import torch

    from .bases import LoadedBase

#: An image whose every channel stays at or below this (0..1 scale) counts as black.
BLACK_LEVEL = 2.0 / 255.0
_RENDERED_KINDS = frozenset(
    {Kind.CHECKPOINT, Kind.LORA, Kind.EMBEDDING, Kind.HYPERNETWORK, Kind.VAE}
)


@dataclass(frozen=True, slots=True)
class Row:
    """One grid row: a prompt (trigger words already in) and a seed."""

    prompt: GridPrompt
    seed: int
    positive: str
    negative: str

    @property
    def label(self) -> str:
        return f"{self.prompt.name} · {self.seed}"


@dataclass(slots=True)
class Frame:
    """The images of all rows for one column, float32 HxWx3 in [0, 1] (NaN kept)."""

    images: list[np.ndarray] = field(default_factory=list)
    latents: list[torch.Tensor] = field(default_factory=list)
    nan: list[bool] = field(default_factory=list)
    seconds: float = 0.0

    def black(self) -> list[bool]:
        return [bool((img <= BLACK_LEVEL).all()) for img in self.images]


@dataclass(slots=True)
class _BaseState:
    loaded: LoadedBase
    scheduler_config: Any
    baselines: OrderedDict[tuple[Any, ...], Frame] = field(default_factory=OrderedDict)
    batch_cap: int | None = None
    last_batch: int = 1
    model_hash: str | None = None
    hashed: bool = False


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _safe_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned[:80] or "asset"


def decode(vae: Any, latents: torch.Tensor) -> np.ndarray:
    """Latents → float images [B, H, W, 3] in [0, 1], as the pipelines decode them."""
    import torch

    with torch.inference_mode():
        lat = latents.to(device=vae.device, dtype=vae.dtype)
        lat = lat / vae.config.scaling_factor
        shift = getattr(vae.config, "shift_factor", None)
        if shift:
            lat = lat + shift
        image = vae.decode(lat, return_dict=False)[0]
        image = (image / 2 + 0.5).clamp(0, 1)
        return image.permute(0, 2, 3, 1).float().cpu().numpy()


class RenderEngine:
    """Renders assets against bases; keeps loaded pipelines between calls.

    Use as a context manager. Group work by base: at most ``max_loaded``
    pipelines stay in memory (least recently used go first).
    """

    def __init__(self, device: str = "auto", *, batch_size: int = 0, max_loaded: int = 1) -> None:
        self._device_request = device
        self._device: str | None = None
        self._dtype: Any = None
        self.batch_size = batch_size
        self.max_loaded = max(1, max_loaded)
        self._bases: OrderedDict[Path, _BaseState] = OrderedDict()
        self._hashes: dict[Path, Any] = {}

    # --- lifecycle --------------------------------------------------------------------

    def __enter__(self) -> RenderEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop every loaded pipeline and give the memory back."""
        self._bases.clear()
        gc.collect()
        if self._device and self._device.startswith("cuda"):
            import torch

            torch.cuda.empty_cache()

    @property
    def device(self) -> str:
        """The resolved device (``cuda``/``cpu``); resolving imports torch."""
        self._resolve()
        assert self._device is not None
        return self._device

    def _resolve(self) -> None:
        if self._device is None:
            from .bases import resolve_device

            self._device, self._dtype = resolve_device(self._device_request)

    def load(self, base: RenderBase) -> LoadedBase:
        """Load ``base`` now (or return it if loaded); raises :class:`RenderError`."""
        return self._state(base)[0].loaded

    def _state(self, base: RenderBase) -> tuple[_BaseState, float]:
        key = base.path.resolve()
        state = self._bases.get(key)
        if state is not None:
            self._bases.move_to_end(key)
            return state, 0.0
        self._resolve()
        from .bases import load_base

        while len(self._bases) >= self.max_loaded:
            self._bases.popitem(last=False)
            gc.collect()
        _quiet_libraries()
        loaded = load_base(base, self._device or "cpu", self._dtype)
        state = _BaseState(loaded=loaded, scheduler_config=loaded.pipe.scheduler.config)
        self._bases[key] = state
        return state, loaded.seconds

    # --- the public job -----------------------------------------------------------------

    def render_asset(
        self,
        asset: RenderAsset,
        base: RenderBase | None,
        grid: Grid | None,
        out_dir: Path,
        *,
        on_image: ProgressCallback | None = None,
    ) -> RenderResult:
        """Render one asset's grid on ``base`` (ignored for a checkpoint: it is its own base).

        Never raises for a bad asset or base: the result carries the verdict
        and a one-line message. ``KeyboardInterrupt`` propagates after the
        pipeline is restored; no grid file is ever left half-written.
        """
        start = time.perf_counter()
        if asset.kind is Kind.CHECKPOINT and (base is None or base.path != asset.path):
            base = asset.as_base()
        timings = Timings()
        result = RenderResult(asset=asset, base=base, verdict=RenderVerdict.ERROR, timings=timings)
        try:
            if base is None:
                raise RenderError(RenderVerdict.INCOMPATIBLE, "no base checkpoint to render on")
            if asset.kind not in _RENDERED_KINDS:
                raise RenderError(
                    RenderVerdict.ERROR, f"assets of kind {asset.kind.value} are not rendered"
                )
            self._render_with_retry(asset, base, grid or default_grid(), out_dir, on_image, result)
        except RenderError as exc:
            result.verdict, result.message = exc.verdict, exc.message
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one broken asset must not end a batch job
            result.verdict = RenderVerdict.ERROR
            result.message = f"{type(exc).__name__}: {_first_line(exc)}"
        result.seconds = time.perf_counter() - start
        return result

    def _render_with_retry(
        self,
        asset: RenderAsset,
        base: RenderBase,
        grid: Grid,
        out_dir: Path,
        on_image: ProgressCallback | None,
        result: RenderResult,
    ) -> None:
        import torch

        while True:
            try:
                self._render(asset, base, grid, out_dir, on_image, result)
                return
            except torch.OutOfMemoryError:
                state = self._bases.get(base.path.resolve())
                current = state.batch_cap if state and state.batch_cap else 0
                if state is None or current == 1:
                    raise RenderError(
                        RenderVerdict.ERROR, "out of GPU memory even one image at a time"
                    ) from None
                # A new batch shape needs a new baseline: bit-equality depends on it.
                state.batch_cap = max(1, (current or state.last_batch) // 2)
                state.baselines.clear()
                gc.collect()
                torch.cuda.empty_cache()

    def _render(
        self,
        asset: RenderAsset,
        base: RenderBase,
        grid: Grid,
        out_dir: Path,
        on_image: ProgressCallback | None,
        result: RenderResult,
    ) -> None:
        from .files import checked_format, load_object

        timings = result.timings
        asset_data: Any = None
        if asset.kind is not Kind.CHECKPOINT:
            started = time.perf_counter()
            fmt = checked_format(asset.path)
            if asset.kind is not Kind.VAE:
                asset_data = load_object(asset.path, fmt)
            timings.load_asset += time.perf_counter() - started
        state, load_seconds = self._state(base)
        timings.load_base = load_seconds
        loaded = state.loaded
        result.base = loaded.base
        family = loaded.family
        if asset.kind is not Kind.CHECKPOINT and asset.base not in (Base.UNKNOWN, family):
            raise RenderError(
                RenderVerdict.INCOMPATIBLE,
                f"{asset.name} is made for {asset.base.label}; "
                f"the base {loaded.base.name} is {family.label}",
            )
        settings = grid.settings_for(family)
        from .samplers import make_scheduler

        loaded.pipe.scheduler = make_scheduler(settings.sampler, state.scheduler_config)
        rows = _rows(grid, asset.trigger_words)
        batch = self._batch_size(grid, settings, state, len(rows))
        state.last_batch = batch
        progress = _Progress(on_image)

        if asset.kind is Kind.CHECKPOINT:
            progress.plan(len(rows))
            frame = self._baseline(state, rows, settings, batch, progress)
            timings.render = frame.seconds
            timings.per_image = frame.seconds / max(1, len(rows))
            result.images = len(rows)
            verdict, message = _judge(None, [frame], [Column("")])
            self._write_checkpoint_sheet(
                asset, state, grid, settings, rows, frame, verdict, out_dir, result
            )
            result.verdict, result.message = verdict, message
            return

        baseline_key = _baseline_key(settings, rows, batch)
        columns_estimate = self._column_count(asset, grid)
        progress.plan(
            len(rows) * columns_estimate + (0 if baseline_key in state.baselines else len(rows))
        )
        vae = None
        if asset.kind is Kind.VAE:
            from .bases import load_vae

            started = time.perf_counter()
            vae = load_vae(asset.path, loaded)
            timings.load_asset += time.perf_counter() - started
        started = time.perf_counter()
        baseline = self._baseline(state, rows, settings, batch, progress)
        timings.baseline = time.perf_counter() - started

        started = time.perf_counter()
        applied = self._apply(asset, state, grid, asset_data, vae)
        timings.load_asset += time.perf_counter() - started
        frames: list[Frame] = []
        try:
            for column in applied.columns:
                applied.activate(column)
                decoder = applied.decoder(column)
                if decoder is not None:
                    frames.append(self._redecode(decoder, baseline, batch, progress))
                else:
                    frames.append(
                        self._render_rows(state, rows, settings, batch, progress, applied, column)
                    )
        finally:
            applied.remove()
        timings.render = sum(f.seconds for f in frames)
        result.images = len(rows) * len(frames)
        timings.per_image = timings.render / max(1, result.images)
        result.touched_modules = applied.touched
        verdict, message = _judge(baseline, frames, applied.columns)
        if applied.note and verdict in (RenderVerdict.OK, RenderVerdict.NO_EFFECT):
            message = applied.note if message is None else f"{message} ({applied.note})"
        started = time.perf_counter()
        self._write_sheet(
            asset, state, grid, settings, rows, baseline, frames, applied, verdict, out_dir, result
        )
        timings.write = time.perf_counter() - started
        result.verdict, result.message = verdict, message

    # --- applying assets ------------------------------------------------------------------

    @staticmethod
    def _column_count(asset: RenderAsset, grid: Grid) -> int:
        if asset.kind is Kind.LORA:
            weights = list(grid.sweeps.lora_weights)
            if grid.sweeps.lora_add_recommended and asset.recommended_weight:
                weights.append(asset.recommended_weight)
            return len(set(weights))
        if asset.kind is Kind.HYPERNETWORK:
            return len(set(grid.sweeps.hypernetwork_strengths))
        return 1

    def _apply(
        self, asset: RenderAsset, state: _BaseState, grid: Grid, data: Any, vae: Any
    ) -> Applied:
        loaded = state.loaded
        pipe = loaded.pipe
        if asset.kind is Kind.LORA:
            from .files import tensor_dict
            from .lora import apply_lora

            weights = list(grid.sweeps.lora_weights)
            if grid.sweeps.lora_add_recommended and asset.recommended_weight:
                weights.append(float(asset.recommended_weight))
            applied: Applied = apply_lora(
                pipe, loaded.family, tensor_dict(data, asset.path), name=asset.name, weights=weights
            )
            applied.params["Lora hashes"] = quote(
                f"{asset.name}: {self._short_hash(asset, lora=True)}"
            )
            return applied
        if asset.kind is Kind.EMBEDDING:
            from .embeddings import apply_embedding

            applied = apply_embedding(
                pipe,
                loaded.family,
                data,
                asset.path,
                name=asset.name,
                negative=asset.negative,
                positive_ok=grid.sweeps.embedding_positive,
            )
            applied.params["TI hashes"] = quote(f"{asset.name}: {self._short_hash(asset)}")
            return applied
        if asset.kind is Kind.HYPERNETWORK:
            from .hypernetwork import apply_hypernetwork

            return apply_hypernetwork(
                pipe,
                data,
                asset.path,
                name=asset.name,
                strengths=list(grid.sweeps.hypernetwork_strengths),
            )
        if asset.kind is Kind.VAE:
            applied = _VaeApplied(columns=[Column(asset.name)], vae=vae)
            sha = self._hashes_of(asset.path, asset.hashes)
            if sha is not None:
                applied.params["VAE hash"] = sha.autov2.lower()
            applied.params["VAE"] = quote(asset.path.name)
            return applied
        raise RenderError(
            RenderVerdict.ERROR, f"assets of kind {asset.kind.value} are not rendered"
        )

    # --- rendering ------------------------------------------------------------------------

    def _batch_size(self, grid: Grid, settings: Settings, state: _BaseState, rows: int) -> int:
        size = self.batch_size or grid.batch_size
        if not size:
            size = 4
            if state.loaded.device.startswith("cuda"):
                import torch

                free, _total = torch.cuda.mem_get_info()
                per_image = 0.6e9 * settings.width * settings.height / (512 * 512)
                if state.loaded.family is Base.SDXL:
                    per_image *= 1.5
                size = max(1, min(16, int(free * 0.6 // per_image)))
        if state.batch_cap:
            size = min(size, state.batch_cap)
        return max(1, min(size, rows))

    def _baseline(
        self,
        state: _BaseState,
        rows: list[Row],
        settings: Settings,
        batch: int,
        progress: _Progress,
    ) -> Frame:
        key = _baseline_key(settings, rows, batch)
        frame = state.baselines.get(key)
        if frame is not None:
            state.baselines.move_to_end(key)
            return frame
        frame = self._render_rows(state, rows, settings, batch, progress, None, None)
        state.baselines[key] = frame
        while len(state.baselines) > 4:
            state.baselines.popitem(last=False)
        return frame

    def _render_rows(
        self,
        state: _BaseState,
        rows: list[Row],
        settings: Settings,
        batch: int,
        progress: _Progress,
        applied: Applied | None,
        column: Column | None,
    ) -> Frame:
        import torch

        loaded = state.loaded
        pipe = loaded.pipe
        gen_device = "cuda" if loaded.device.startswith("cuda") else "cpu"
        frame = Frame()
        started = time.perf_counter()
        for chunk in _chunks(rows, batch):
            pairs = [
                (r.positive, r.negative)
                if applied is None or column is None
                else applied.prompts(r.positive, r.negative, column)
                for r in chunk
            ]
            generators = [torch.Generator(gen_device).manual_seed(r.seed) for r in chunk]
            with torch.inference_mode():
                out = pipe(
                    prompt=[p for p, _ in pairs],
                    negative_prompt=[n for _, n in pairs],
                    num_inference_steps=settings.steps,
                    guidance_scale=settings.cfg,
                    width=settings.width,
                    height=settings.height,
                    generator=generators,
                    output_type="latent",
                )
            latents = out.images
            images = decode(loaded.own_vae, latents)
            for i in range(len(chunk)):
                lat = latents[i : i + 1].detach()
                frame.latents.append(lat)
                frame.images.append(images[i])
                frame.nan.append(not bool(torch.isfinite(lat).all()) or bool(_np_isnan(images[i])))
            progress.advance(len(chunk))
        frame.seconds = time.perf_counter() - started
        return frame

    def _redecode(self, vae: Any, baseline: Frame, batch: int, progress: _Progress) -> Frame:
        """Decode the baseline's latents with another VAE, in the baseline's batch shape."""
        import torch

        frame = Frame()
        started = time.perf_counter()
        for i in range(0, len(baseline.latents), batch):
            chunk = baseline.latents[i : i + batch]
            images = decode(vae, torch.cat(chunk))
            for lat, image in zip(chunk, images, strict=True):
                frame.latents.append(lat)
                frame.images.append(image)
                frame.nan.append(not bool(torch.isfinite(lat).all()) or bool(_np_isnan(image)))
            progress.advance(len(chunk))
        frame.seconds = time.perf_counter() - started
        return frame

    # --- output ---------------------------------------------------------------------------

    def _hashes_of(self, path: Path, given: Any) -> Any:
        if given is not None:
            return given
        key = path.resolve()
        if key not in self._hashes:
            try:
                from ..hashing import hash_file

                self._hashes[key] = hash_file(path)
            except Exception:  # hashes decorate the PNG; never fail a render over them
                self._hashes[key] = None
        return self._hashes[key]

    def _short_hash(self, asset: RenderAsset, *, lora: bool = False) -> str:
        """A1111's short hash: AutoV3 for safetensors LoRAs, else SHA256[:12] (lower case)."""
        hashes = self._hashes_of(asset.path, asset.hashes)
        if hashes is None:
            return "unknown"
        if lora and hashes.autov3:
            return hashes.autov3.lower()
        return hashes.sha256[:12].lower()

    def _model_hash(self, state: _BaseState) -> str | None:
        if not state.hashed:
            hashes = self._hashes_of(state.loaded.base.path, state.loaded.base.hashes)
            state.model_hash = None if hashes is None else hashes.autov2.lower()
            state.hashed = True
        return state.model_hash

    def _grid_path(self, asset: RenderAsset, state: _BaseState, grid: Grid, out_dir: Path) -> Path:
        asset_h = self._hashes_of(asset.path, asset.hashes)
        base_h = self._hashes_of(state.loaded.base.path, state.loaded.base.hashes)
        ident = "|".join(
            [
                asset_h.sha256 if asset_h else str(asset.path.resolve()),
                base_h.sha256 if base_h else str(state.loaded.base.path.resolve()),
                grid.fingerprint(),
            ]
        )
        short = hashlib.sha256(ident.encode()).hexdigest()[:8]
        return out_dir / f"{_safe_name(asset.name)}-{short}.png"

    def _infotext(
        self,
        state: _BaseState,
        settings: Settings,
        row: Row,
        prompts: tuple[str, str],
        extra: dict[str, str],
    ) -> str:
        return Infotext(
            positive=prompts[0],
            negative=prompts[1],
            steps=settings.steps,
            sampler=settings.sampler,
            cfg=settings.cfg,
            seed=row.seed,
            width=settings.width,
            height=settings.height,
            model_hash=self._model_hash(state),
            model=state.loaded.base.path.stem,
            extra=extra,
        ).render()

    def _write_sheet(
        self,
        asset: RenderAsset,
        state: _BaseState,
        grid: Grid,
        settings: Settings,
        rows: list[Row],
        baseline: Frame,
        frames: list[Frame],
        applied: Applied,
        verdict: RenderVerdict,
        out_dir: Path,
        result: RenderResult,
    ) -> None:
        labels = [_column_label(asset.kind, c) for c in applied.columns]
        all_frames = list(frames)
        if grid.sweeps.baseline_column:
            labels.insert(0, "own VAE" if asset.kind is Kind.VAE else f"without {asset.kind.value}")
            all_frames.insert(0, baseline)
        cells = [[to_uint8(f.images[r]) for f in all_frames] for r in range(len(rows))]
        title = f"{asset.name} ({asset.kind.value}) on {state.loaded.base.name}"
        subtitle = (
            f"{verdict.value} · {settings.sampler}, {settings.steps} steps, CFG {settings.cfg:g}, "
            f"{settings.width}x{settings.height}"
        )
        image = draw_sheet(title, subtitle, [r.label for r in rows], labels, cells)
        first = applied.columns[0]
        prompts = applied.infotext_prompts(rows[0].positive, rows[0].negative, first)
        params = self._infotext(state, settings, rows[0], prompts, applied.params)
        layout = {
            "asset": {"name": asset.name, "kind": asset.kind.value, "path": str(asset.path)},
            "base": {"name": state.loaded.base.name, "path": str(state.loaded.base.path)},
            "verdict": verdict.value,
            "grid": grid.fingerprint(),
            "columns": labels,
            "rows": [
                {
                    "prompt": r.prompt.name,
                    "positive": r.positive,
                    "negative": r.negative,
                    "seed": r.seed,
                }
                for r in rows
            ],
        }
        path = self._grid_path(asset, state, grid, out_dir)
        save_png(image, path, {"parameters": params, "sdhub": json.dumps(layout)})
        result.grid_path = path

    def _write_checkpoint_sheet(
        self,
        asset: RenderAsset,
        state: _BaseState,
        grid: Grid,
        settings: Settings,
        rows: list[Row],
        frame: Frame,
        verdict: RenderVerdict,
        out_dir: Path,
        result: RenderResult,
    ) -> None:
        seeds = list(grid.seeds)
        prompts = list(grid.prompts)
        cells = [
            [to_uint8(frame.images[p * len(seeds) + s]) for s in range(len(seeds))]
            for p in range(len(prompts))
        ]
        title = f"{asset.name} (checkpoint, {state.loaded.family.label})"
        subtitle = (
            f"{verdict.value} · {settings.sampler}, {settings.steps} steps, CFG {settings.cfg:g}, "
            f"{settings.width}x{settings.height}"
        )
        image = draw_sheet(
            title, subtitle, [p.name for p in prompts], [f"seed {s}" for s in seeds], cells
        )
        params = self._infotext(state, settings, rows[0], (rows[0].positive, rows[0].negative), {})
        layout = {
            "asset": {"name": asset.name, "kind": asset.kind.value, "path": str(asset.path)},
            "verdict": verdict.value,
            "grid": grid.fingerprint(),
            "columns": [f"seed {s}" for s in seeds],
            "rows": [
                {"prompt": p.name, "positive": p.positive, "negative": p.negative} for p in prompts
            ],
        }
        path = self._grid_path(asset, state, grid, out_dir)
        save_png(image, path, {"parameters": params, "sdhub": json.dumps(layout)})
        result.grid_path = path


@dataclass(slots=True)
class _VaeApplied(Applied):
    vae: Any = None

    def decoder(self, column: Column) -> Any:
        return self.vae


class _Progress:
    def __init__(self, callback: ProgressCallback | None) -> None:
        self.callback = callback
        self.done = 0
        self.total = 0

    def plan(self, total: int) -> None:
        self.total = total

    def advance(self, n: int) -> None:
        self.done += n
        if self.callback is not None:
            self.callback(self.done, max(self.total, self.done))


def _np_isnan(image: np.ndarray) -> bool:
    import numpy as np

    return bool(np.isnan(image).any())


def _rows(grid: Grid, trigger_words: tuple[str, ...]) -> list[Row]:
    trigger = ", ".join(w.strip() for w in trigger_words if w.strip())
    rows = []
    for prompt in grid.prompts:
        positive = f"{trigger}, {prompt.positive}" if trigger else prompt.positive
        rows.extend(Row(prompt, seed, positive, prompt.negative) for seed in grid.seeds)
    return rows


def _baseline_key(settings: Settings, rows: list[Row], batch: int) -> tuple[Any, ...]:
    return (settings, tuple((r.positive, r.negative, r.seed) for r in rows), batch)


def _chunks(rows: list[Row], size: int) -> Iterator[list[Row]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


def _column_label(kind: Kind, column: Column) -> str:
    if kind is Kind.LORA:
        return f"weight {column.label}"
    if kind is Kind.HYPERNETWORK:
        return f"strength {column.label}"
    return column.label


def _judge(
    baseline: Frame | None, frames: list[Frame], columns: list[Column]
) -> tuple[RenderVerdict, str | None]:
    """The verdict from the rendered frames (see :class:`RenderVerdict`)."""
    import numpy as np

    if baseline is not None and any(baseline.nan):
        raise RenderError(
            RenderVerdict.ERROR, "the base itself renders NaN: cannot judge the asset"
        )
    nan_cols = [c.label or "all" for c, f in zip(columns, frames, strict=True) if any(f.nan)]
    if nan_cols:
        return RenderVerdict.NAN, f"NaN in the output ({', '.join(nan_cols)})"
    base_black = baseline.black() if baseline is not None else None
    black_cols = []
    for column, frame in zip(columns, frames, strict=True):
        for i, is_black in enumerate(frame.black()):
            if is_black and (base_black is None or not base_black[i]):
                black_cols.append(column.label or "all")
                break
    if black_cols:
        return RenderVerdict.BLACK, f"black image(s) ({', '.join(black_cols)})"
    if baseline is not None and all(
        np.array_equal(a, b) for f in frames for a, b in zip(baseline.images, f.images, strict=True)
    ):
        return RenderVerdict.NO_EFFECT, "every image is identical to the baseline"
    return RenderVerdict.OK, None


def _quiet_libraries() -> None:
    """Silence transformers/diffusers' import warnings and progress bars during renders."""
    from transformers.utils import logging as tlogging

    tlogging.set_verbosity_error()
    tlogging.disable_progress_bar()
    from diffusers.utils import logging as dlogging

    dlogging.set_verbosity_error()
    dlogging.disable_progress_bar()
