"""Render engine throughput against plain diffusers, in the same run, on the same pipeline.

Prints two ratios (BENCHMARKS.md: grid ≥ 0.95× a plain loop; a LoRA sweep far
faster than reloading the LoRA per weight):

1. grid: ``RenderEngine.render_asset`` on a checkpoint (latents + our decode,
   NaN/black checks, labelled PNG) vs. a plain ``pipe(..., output_type="np")``
   loop over the same prompts, seeds, steps, sampler and batch size.
2. sweep: one LoRA render over W weights (load once, ``set_adapters`` per
   weight) vs. load → render → unload per weight.

Models: ``--model tiny`` (the test model, 64×64) or ``--model sd1`` (SD1's real
architecture with random weights, written as an LDM single file and loaded
through the *shipped* sd1 config and CLIP vocabulary — also a check of those).
Runs are interleaved and the best of ``--repeat`` is kept, so load from other
processes skews both sides alike.

    python bench/render_bench.py --model tiny
    python bench/render_bench.py --model sd1 --size 256 --steps 4 --repeat 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def _grid(size: int, steps: int, seeds: list[int], prompts: int, batch: int, weights: str):
    from sdhub.models.render import parse_grid

    body = "".join(
        f'[[prompts]]\nname = "p{i}"\npositive = "a photo of a red teapot number {i}"\n'
        f'negative = "blurry"\n'
        for i in range(prompts)
    )
    return parse_grid(
        f'[render]\nwidth = {size}\nheight = {size}\nsteps = {steps}\nsampler = "DPM++ 2M Karras"\n'
        f"seeds = {seeds}\nbatch_size = {batch}\n{body}\n[sweep.lora]\nweights = {weights}\n"
        "add_recommended = false\n",
        source="bench-grid.toml",
    )


def _write_sd1(path: Path) -> Path:
    """SD1's real architecture, random weights, as an fp16 LDM single file (no sidecar)."""
    import json

    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from safetensors.torch import save_file
    from sdhub.models.kinds import Base
    from sdhub.models.render.bases import shipped_config_dir
    from sdhub.models.render.tiny import ldm_state_dict
    from transformers import CLIPTextConfig, CLIPTextModel

    cfg = shipped_config_dir(Base.SD1)
    torch.manual_seed(0)

    class _Pipe:
        unet = UNet2DConditionModel.from_config(json.loads((cfg / "unet/config.json").read_text()))
        vae = AutoencoderKL.from_config(json.loads((cfg / "vae/config.json").read_text()))
        text_encoder = CLIPTextModel(
            CLIPTextConfig.from_pretrained(str(cfg / "text_encoder"), local_files_only=True)
        )

    state = {k: v.half() for k, v in ldm_state_dict(_Pipe).items()}
    save_file(state, str(path))
    return path


def _sd1_lora(path: Path, pipe) -> Path:
    from sdhub.models.render.tiny import write_tiny_lora

    return write_tiny_lora(path, pipe, algo="lora", rank=8)


def _plain_loop(pipe, grid, family, seeds_offset: int) -> tuple[int, float]:
    """The reference: what a script calling diffusers directly would do."""
    import torch
    from sdhub.models.render.samplers import make_scheduler

    settings = grid.settings_for(family)
    rows = [(p, s + seeds_offset) for p in grid.prompts for s in grid.seeds]
    started = time.perf_counter()
    pipe.scheduler = make_scheduler(settings.sampler, pipe.scheduler.config)
    for i in range(0, len(rows), grid.batch_size):
        chunk = rows[i : i + grid.batch_size]
        pipe(
            prompt=[p.positive for p, _ in chunk],
            negative_prompt=[p.negative for p, _ in chunk],
            num_inference_steps=settings.steps,
            guidance_scale=settings.cfg,
            width=settings.width,
            height=settings.height,
            generator=[torch.Generator("cpu").manual_seed(s) for _, s in chunk],
            output_type="np",
        )
    return len(rows), time.perf_counter() - started


def _reload_sweep(pipe, lora: Path, grid, family, weights: list[float]) -> tuple[int, float]:
    import torch
    from safetensors.torch import load_file

    settings = grid.settings_for(family)
    rows = [(p, s) for p in grid.prompts for s in grid.seeds]
    started = time.perf_counter()
    for w in weights:
        pipe.load_lora_weights(load_file(str(lora)), adapter_name="bench")
        pipe.set_adapters(["bench"], adapter_weights=[w])
        for i in range(0, len(rows), grid.batch_size):
            chunk = rows[i : i + grid.batch_size]
            pipe(
                prompt=[p.positive for p, _ in chunk],
                negative_prompt=[p.negative for p, _ in chunk],
                num_inference_steps=settings.steps,
                guidance_scale=settings.cfg,
                width=settings.width,
                height=settings.height,
                generator=[torch.Generator("cpu").manual_seed(s) for _, s in chunk],
                output_type="np",
            )
        pipe.unload_lora_weights()
    return len(rows) * len(weights), time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", choices=["tiny", "sd1"], default="tiny")
    parser.add_argument("--size", type=int, default=0, help="image side (default 64 tiny, 256 sd1)")
    parser.add_argument("--steps", type=int, default=0, help="default 8 tiny, 4 sd1")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--weights", type=int, default=4, help="LoRA weights in the sweep")
    args = parser.parse_args()

    import torch
    from sdhub.models.kinds import Base, Kind
    from sdhub.models.render import RenderAsset, RenderBase, RenderEngine
    from sdhub.models.render.tiny import write_tiny_library

    size = args.size or (64 if args.model == "tiny" else 256)
    steps = args.steps or (8 if args.model == "tiny" else 4)
    weights = [round((i + 1) / args.weights, 3) for i in range(args.weights)]
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, model {args.model}, "
        f"{size}x{size}, {steps} steps, batch {args.batch}"
    )
    with tempfile.TemporaryDirectory(prefix="sdhub-render-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        if args.model == "tiny":
            lib = write_tiny_library(root / "lib")
            ckpt = lib[Kind.CHECKPOINT][0]
            lora = lib[Kind.LORA][0]
        else:
            ckpt = _write_sd1(root / "sd1-random.safetensors")
            lora = None
        print(
            f"wrote the model files in {time.perf_counter() - started:.1f} s "
            f"({ckpt.stat().st_size / 2**20:.0f} MiB checkpoint)"
        )
        base = RenderBase(ckpt, ckpt.stem, Base.SD1)
        out = root / "renders"
        with RenderEngine("cpu") as engine:
            loaded = engine.load(base)
            print(
                f"base load (from_single_file, config {loaded.config_dir.name}): "
                f"{loaded.seconds:.2f} s"
            )
            pipe = loaded.pipe
            if lora is None:
                lora = _sd1_lora(root / "sd1-lora.safetensors", pipe)
            family = loaded.family
            seeds = [1, 2]
            warm = _grid(size, steps, seeds, args.prompts, args.batch, "[1.0]")
            _plain_loop(pipe, warm, family, 10_000)  # warm-up: kernels for every shape
            engine.render_asset(
                RenderAsset(ckpt, Kind.CHECKPOINT, ckpt.stem, Base.SD1), base, warm, out
            )

            checkpoint = RenderAsset(ckpt, Kind.CHECKPOINT, ckpt.stem, Base.SD1)
            engine_runs: list[tuple[float, float]] = []
            plain_runs: list[tuple[float, float]] = []
            for r in range(args.repeat):
                offset = 100 * (r + 1)
                grid = _grid(
                    size, steps, [s + offset for s in seeds], args.prompts, args.batch, "[1.0]"
                )
                # Alternate who goes first: load from other processes drifts.
                for side in ("plain", "engine") if r % 2 else ("engine", "plain"):
                    if side == "engine":
                        res, wall, cpu = _measure(
                            lambda g=grid: engine.render_asset(checkpoint, base, g, out)
                        )
                        assert res.verdict.value == "ok", res.message
                        engine_runs.append((res.images / wall, res.images / cpu))
                    else:
                        n, wall, cpu = _measure(lambda g=grid: _plain_loop(pipe, g, family, 0))
                        plain_runs.append((n / wall, n / cpu))
                print(
                    f"  run {r + 1}: engine {engine_runs[-1][0]:.3f} img/s "
                    f"({engine_runs[-1][1]:.3f} per CPU-s), plain {plain_runs[-1][0]:.3f} img/s "
                    f"({plain_runs[-1][1]:.3f} per CPU-s)"
                )
            _report("grid", engine_runs, plain_runs, "target >= 0.95")

            grid = _grid(size, steps, seeds, args.prompts, args.batch, str(weights))
            asset = RenderAsset(lora, Kind.LORA, lora.stem, Base.SD1)
            sweep_runs: list[tuple[float, float]] = []
            reload_runs: list[tuple[float, float]] = []
            for r in range(args.repeat):
                # The baseline (same rows as the checkpoint grid) is work the reload
                # loop does not do: render it first so the sweep is timed alone.
                engine.render_asset(checkpoint, base, grid, out)
                for side in ("reload", "sweep") if r % 2 else ("sweep", "reload"):
                    if side == "sweep":
                        res, wall, cpu = _measure(
                            lambda: engine.render_asset(asset, base, grid, out)
                        )
                        assert res.verdict.value == "ok", res.message
                        sweep_runs.append((res.images / wall, res.images / cpu))
                    else:
                        n, wall, cpu = _measure(
                            lambda: _reload_sweep(pipe, lora, grid, family, weights)
                        )
                        reload_runs.append((n / wall, n / cpu))
                print(
                    f"  run {r + 1}: sweep {sweep_runs[-1][0]:.3f} img/s "
                    f"({sweep_runs[-1][1]:.3f} per CPU-s), reload per weight "
                    f"{reload_runs[-1][0]:.3f} img/s ({reload_runs[-1][1]:.3f} per CPU-s)"
                )
            _report(f"LoRA sweep over {len(weights)} weights", sweep_runs, reload_runs, "vs reload")


def _measure(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    if isinstance(out, tuple):
        return out[0], wall, cpu
    return out, wall, cpu


def _report(what: str, ours: list[tuple[float, float]], ref: list[tuple[float, float]], note: str):
    best = lambda runs, i: max(r[i] for r in runs)  # noqa: E731
    print(
        f"{what}: engine {best(ours, 0):.3f} img/s vs {best(ref, 0):.3f} "
        f"-> ratio {best(ours, 0) / best(ref, 0):.3f} wall-clock, "
        f"{best(ours, 1) / best(ref, 1):.3f} by CPU time (best of {len(ours)}; {note})"
    )


if __name__ == "__main__":
    main()
