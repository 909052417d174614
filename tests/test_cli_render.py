"""``sdhub render`` as people and scripts use it: flags, JSON Lines, exit codes, demo → render.

In-process (click's runner) where a test only reads the output; real child
processes for the start-up cost and for the end-to-end demo flow.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

from click.testing import CliRunner, Result
from sdhub.hub.demo import DemoLibrary
from sdhub.tui.cli import cli
from support.cli import json_lines, run_sdhub
from support.render_lib import TINY_ASSETS, add_sample, copy_library, scan, tiny_template
from support.render_lib import write_grid as write_tiny_grid
from support.tiny_sd import nan_lora
from support.tui_app import run_async, running, settle

pytestmark = pytest.mark.render

#: The render object of CLI.md.
RENDER_KEYS = {"asset", "base", "verdict", "grid", "images", "seconds", "message"}


@pytest.fixture
def webui(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = copy_library(tiny_template(tmp_path_factory), tmp_path / "webui")
    add_sample(root, "embedding-flux", "embeddings/flux-emb.safetensors")
    nan_lora(root / "models/Lora/tiny-lora.safetensors", root / "models/Lora/nan-lora.safetensors")
    scan(root).close()
    return root


@pytest.fixture
def grid(tmp_path: Path) -> Path:
    return write_tiny_grid(tmp_path)


def sdhub(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def verdicts(result: Result) -> dict[str, str]:
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(line) == RENDER_KEYS for line in lines), lines
    return {line["asset"]["name"]: line["verdict"] for line in lines}


def test_help_is_fast_to_load_and_imports_no_torch() -> None:
    code = (
        "import sys\n"
        "from sdhub.tui.cli import cli\n"
        "try:\n"
        "    cli(['render', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print([m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "--only-new" in done.stdout and "--family" in done.stdout and "--base REF" in done.stdout
    assert done.stdout.strip().endswith("[]")


def test_usage_errors_exit_2(webui: Path, tmp_path: Path) -> None:
    bad_grid = tmp_path / "bad.toml"
    bad_grid.write_text("[render]\nsteps = 'twenty'\n")
    twin = webui / "models/Lora/more/tiny-vae.safetensors"
    twin.parent.mkdir()
    shutil.copy(webui / "models/Lora/tiny-lora.safetensors", twin)
    scan(webui).close()
    cases = {
        (): "nothing to render: give REF… or --all",
        ("tiny-lora", "--all"): "give REF… or --all (not both)",
        ("tiny-lora", "--grid", str(bad_grid)): "render.steps must be an integer",
        ("tiny-lora", "--base", "tiny-embedding"): "is not a checkpoint (kind embedding)",
        ("tiny-lora", "--base", "no-such"): "--base no-such",
    }
    for args, message in cases.items():
        result = sdhub("render", *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.stderr and result.stdout == ""
    # A name two files share: the candidates are listed, nothing renders.
    result = sdhub("render", "tiny-vae")
    assert result.exit_code == 2
    assert "candidate:" in result.stderr and str(twin) in result.stderr


def test_json_lines_and_the_exit_policy(webui: Path, grid: Path) -> None:
    common = ("--json", "--grid", grid, "--device", "cpu")
    # --all: incompatible assets are reported but do not fail the run.
    result = sdhub("render", "--all", "--kind", "embedding", *common)
    assert result.exit_code == 0, result.output
    assert verdicts(result) == {
        "flux-emb": "incompatible",
        "tiny-embedding": "ok",
        "tiny-negative": "ok",
    }
    # Named explicitly, the same incompatible asset fails…
    result = sdhub("render", "flux-emb", *common)
    assert result.exit_code == 1 and verdicts(result) == {"flux-emb": "incompatible"}
    # …and so does --all --strict.
    assert sdhub("render", "--all", "--family", "flux", "--strict", *common).exit_code == 1
    # NaN always fails; its line says why; the other asset still renders.
    result = sdhub("render", "nan-lora", "tiny-lora", *common)
    assert result.exit_code == 1
    lines = {line["asset"]["name"]: line for line in map(json.loads, result.stdout.splitlines())}
    assert lines["nan-lora"]["verdict"] == "nan" and "NaN" in lines["nan-lora"]["message"]
    assert lines["tiny-lora"]["verdict"] == "ok"
    assert lines["tiny-lora"]["base"]["name"] == "tiny-sd1"
    assert Path(lines["tiny-lora"]["grid"]).parent == Path(os.environ["SDHUB_HOME"]) / "renders"
    # A REF the catalog does not know fails the run, on its own line; the others are still
    # rendered.
    result = sdhub("render", "no-such-asset", "tiny-vae", *common)
    assert result.exit_code == 1
    assert verdicts(result) == {"no-such-asset": "error", "tiny-vae": "ok"}
    assert "no-such-asset" in result.stderr
    # --only-new: nothing left to do is not a failure.
    result = sdhub("render", "--all", "--kind", "vae", "--only-new", *common)
    assert result.exit_code == 0 and result.stdout == ""
    assert "rendered already (--only-new)" in result.stderr


def test_people_get_a_line_per_asset_and_a_summary_table(webui: Path, grid: Path) -> None:
    result = sdhub("render", "tiny-sd1", "flux-emb", "--grid", grid, "--device", "cpu")
    assert result.exit_code == 1  # flux-emb was asked for and cannot be rendered
    assert re.search(r"ok\s+tiny-sd1 \(checkpoint\) · 2 images", result.stderr)
    assert "incompatible flux-emb (embedding) · cannot render Flux embeddings" in result.stderr
    table = result.stdout
    assert re.search(r"ok\s+tiny-sd1\s+checkpoint", table)
    assert re.search(r"incompatible\s+flux-emb\s+embedding", table)
    assert "1 ok, 1 incompatible · 2 of 2 asset(s) · grids in " in table


# --------------------------------------------------------------------------------------
# End to end: the demo library, rendered, shown in the browser


def test_demo_then_render_all_gives_every_asset_a_truthful_verdict(
    tmp_path: Path, grid: Path
) -> None:
    dest = tmp_path / "demo"
    built = run_sdhub("demo", "--path", dest, "--no-open", timeout=300)
    assert built.returncode == 0, built.stderr
    line = next(ln for ln in built.stderr.splitlines() if "sdhub render --all" in ln)
    env = dict(os.environ)
    env.update(re.findall(r"(SDHUB_\w+)=(\S+)", line))

    rendered = run_sdhub(
        "render", "--all", "--device", "cpu", "--grid", grid, "--json", env=env, timeout=600
    )
    results = {r["asset"]["name"]: r for r in json_lines(rendered)}
    # The demo's tiny files render; its samples of real families (decisive tensors only)
    # and its unsafe pickle cannot, and say why. Those are failures: exit 1.
    assert rendered.returncode == 1, rendered.stderr
    assert {n: results[n]["verdict"] for n in TINY_ASSETS} == dict.fromkeys(TINY_ASSETS, "ok")
    expected = {
        "free-realistic-UNSAFE": ("error", "the pickle scan says dangerous"),
        "classic-sd15-pruned": ("error", "cannot load"),
        "sd15-inpainting": ("incompatible", "9 input channels"),
        "flux-schnell-fp8": ("incompatible", "cannot render Flux checkpoints"),
        "flux-film-grain": ("incompatible", "cannot render Flux LoRAs"),
        "watercolor-style": ("incompatible", "no loadable SD1 checkpoint"),
        "neon-cyberpunk-xl": ("incompatible", "no loadable SDXL checkpoint"),
        "stray-embedding": ("incompatible", "no SD2 checkpoint in the catalog"),
    }
    for name, (verdict, words) in expected.items():
        assert results[name]["verdict"] == verdict and words in results[name]["message"], name
    assert {r["asset"]["kind"] for r in results.values()} == {
        "checkpoint",
        "lora",
        "embedding",
        "hypernetwork",
        "vae",
    }
    assert "left out 3 asset(s): other files are not rendered" in rendered.stderr
    home = Path(env["SDHUB_HOME"])
    assert all(Path(r["grid"]).parent == home / "renders" for r in results.values() if r["grid"])

    # The browser's library shows the verdicts.
    demo = DemoLibrary(root=dest / "webui", home=home, db_url=env["SDHUB_DB_URL"])
    shown = _library_verdicts(demo)
    assert {n: shown[n] for n in results} == {n: r["verdict"] for n, r in results.items()}


@run_async
async def _library_verdicts(demo: DemoLibrary) -> dict[str, str | None]:
    from sdhub.tui.widgets.asset_table import AssetTable

    async with running(demo) as (app, pilot):
        await settle(pilot)
        rows = app.screen.query_one(AssetTable).loaded_rows()
        return {row.name: row.verdict for row in rows if row is not None}
