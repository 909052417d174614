"""The render job (``sdhub.hub.render``): selection, base choice, one load per base, recording.

A real A1111 library per test: the tiny renderable checkpoint and one tiny
asset of every kind (copied from a template written once), plus sample
recipes of real families where a test needs them, scanned into a real
SQLite catalog. Renders use the 32×32, 2-step grid on the CPU.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

from click.testing import CliRunner
from sdhub.catalog import Catalog, find_asset, record_render_result, render_history
from sdhub.hub.render import (
    Chosen,
    RenderJob,
    RenderJobError,
    Selection,
    counts_as_failure,
    native_size,
    plan_renders,
    select_assets,
)
from sdhub.models.kinds import Base, Kind
from sdhub.models.render import RenderVerdict
from sdhub.tui.cli import cli
from support.render_lib import (
    CHECKPOINTS,
    TINY_ASSETS,
    TINY_CHECKPOINT,
    add_sample,
    copy_library,
    scan,
    tiny_template,
)
from support.tiny_sd import tiny_grid

pytestmark = pytest.mark.render


@pytest.fixture
def webui(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_library(tiny_template(tmp_path_factory), tmp_path / "webui")


@pytest.fixture
def load_count(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How often the engine really loaded each checkpoint (the real loader, counted)."""
    from sdhub.models.render import bases

    counts: dict[str, int] = {}
    real = bases.load_base

    def counting(base, device, dtype):  # type: ignore[no-untyped-def]
        counts[base.path.stem] = counts.get(base.path.stem, 0) + 1
        return real(base, device, dtype)

    monkeypatch.setattr(bases, "load_base", counting)
    return counts


def _select(catalog: Catalog, **kw: object) -> list[str]:
    with catalog.session() as session:
        selected = select_assets(session, Selection(**kw))  # type: ignore[arg-type]
    return sorted(c.asset.name for c in selected.chosen)


def _plan(catalog: Catalog, *names: str, base_ref: str | None = None):  # type: ignore[no-untyped-def]
    with catalog.session() as session:
        chosen = [Chosen(find_asset(session, n), named=True) for n in names]
        return plan_renders(session, chosen, base_ref=base_ref)


def _bases_of(plan) -> dict[str, list[str]]:  # type: ignore[no-untyped-def]
    return {t.asset.name: [c.name for c in t.candidates] for t in plan.tasks}


def _run(catalog: Catalog, plan, out: Path, **kw: object) -> dict[str, object]:  # type: ignore[no-untyped-def]
    with RenderJob(catalog, plan, out, grid=tiny_grid(), device="cpu", **kw) as job:  # type: ignore[arg-type]
        return {r.result.asset.name: r for r in job.run()}


# --------------------------------------------------------------------------------------
# Selection


def test_all_kind_family_and_only_new_select_what_they_say(webui: Path, tmp_path: Path) -> None:
    add_sample(webui, "lora-kohya-sdxl", "models/Lora/neon-xl.safetensors")
    add_sample(webui, "controlnet-sd1-ldm", "models/ControlNet/canny.pth")
    catalog = scan(webui)

    with catalog.session() as session:
        everything = select_assets(session, Selection(all_=True))
    names = sorted(c.asset.name for c in everything.chosen)
    assert names == sorted([*TINY_ASSETS, "neon-xl"])  # the ControlNet is not rendered…
    assert everything.skipped == {"other files are not rendered": 1}  # …and says so
    assert not any(c.named for c in everything.chosen)

    assert _select(catalog, all_=True, kind=Kind.LORA) == [
        "neon-xl",
        "tiny-locon",
        "tiny-loha",
        "tiny-lokr",
        "tiny-lora",
    ]
    assert _select(catalog, all_=True, family=Base.SDXL) == ["neon-xl"]
    assert _select(catalog, refs=("tiny-vae", "neon-xl", "tiny-vae")) == ["neon-xl", "tiny-vae"]

    with catalog.session() as session:
        missing = select_assets(session, Selection(refs=("no-such-asset",)))
    assert missing.chosen == [] and missing.unresolved[0][0] == "no-such-asset"

    # --only-new: a render on record leaves an asset out until its file changes.
    plan = _plan(catalog, "tiny-vae", "neon-xl")
    _run(catalog, plan, tmp_path / "renders")
    fresh = _select(catalog, all_=True, only_new=True)
    assert "tiny-vae" not in fresh
    assert "neon-xl" in fresh  # it found no SDXL base: nothing was rendered, so retried
    assert "tiny-lora" in fresh  # never rendered

    vae = webui / "models/VAE/tiny-vae.safetensors"
    os.utime(vae, ns=(vae.stat().st_atime_ns, vae.stat().st_mtime_ns + 10**9))
    assert "tiny-vae" in _select(catalog, all_=True, only_new=True)


# --------------------------------------------------------------------------------------
# Base choice (planning only: nothing loads)


def test_assets_of_unknown_family_find_the_checkpoint_with_their_dimensions(webui: Path) -> None:
    add_sample(webui, "ckpt-sd1", f"{CHECKPOINTS}/real-sd1.safetensors")
    add_sample(webui, "ckpt-sdxl", f"{CHECKPOINTS}/real-xl.safetensors")
    catalog = scan(webui)
    plan = _plan(catalog, *TINY_ASSETS)
    bases = _bases_of(plan)
    # The tiny files have no known family; their widths (48) match the tiny checkpoint's only.
    assert {name: b for name, b in bases.items() if name != "tiny-sd1"} == {
        name: ["tiny-sd1"] for name in TINY_ASSETS if name != "tiny-sd1"
    }
    assert bases["tiny-sd1"] == ["tiny-sd1"]  # a checkpoint renders itself
    assert not plan.decided


def test_assets_of_a_known_family_get_that_family_or_a_clear_message(webui: Path) -> None:
    add_sample(webui, "ckpt-sd1", f"{CHECKPOINTS}/real-sd1.safetensors")
    add_sample(webui, "ckpt-sdxl", f"{CHECKPOINTS}/real-xl.safetensors")
    add_sample(webui, "ckpt-flux-schnell", f"{CHECKPOINTS}/flux.safetensors")
    add_sample(webui, "lora-kohya-sd1", "models/Lora/sd1-style.safetensors")
    add_sample(webui, "lora-kohya-sdxl", "models/Lora/xl-style.safetensors")
    add_sample(webui, "lora-kohya-sd2", "models/Lora/sd2-style.safetensors")
    add_sample(webui, "lora-kohya-flux", "models/Lora/flux-style.safetensors")
    add_sample(webui, "embedding-sdxl", "embeddings/xl-emb.safetensors")
    catalog = scan(webui)
    names = ("sd1-style", "xl-style", "sd2-style", "flux-style", "xl-emb", "flux")
    plan = _plan(catalog, *names)
    bases = _bases_of(plan)
    assert bases["sd1-style"] == ["real-sd1"]
    assert bases["xl-style"] == ["real-xl"] and bases["xl-emb"] == ["real-xl"]
    decided = {t.asset.name: (t.verdict, t.message) for t in plan.decided}
    assert decided["sd2-style"] == (
        RenderVerdict.INCOMPATIBLE,
        "no SD2 checkpoint in the catalog; add one or pass --base",
    )
    assert decided["flux-style"][0] is RenderVerdict.INCOMPATIBLE
    assert "cannot render Flux LoRAs" in decided["flux-style"][1]
    assert "cannot render Flux checkpoints" in decided["flux"][1]


def test_an_unsafe_pickle_is_never_a_base_and_gets_an_error_without_loading(
    webui: Path, tmp_path: Path, load_count: dict[str, int]
) -> None:
    from sdhub.hub.demo import write_unsafe_pickle

    marker = tmp_path / "it-ran"
    write_unsafe_pickle(
        webui / CHECKPOINTS / "unsafe.ckpt", recipe="ckpt-sd1", command=f"touch {marker}"
    )
    add_sample(webui, "lora-kohya-sd1", "models/Lora/sd1-style.safetensors")
    catalog = scan(webui)
    plan = _plan(catalog, "unsafe", "sd1-style")
    results = _run(catalog, plan, tmp_path / "renders")
    unsafe, lora = results["unsafe"].result, results["sd1-style"].result  # type: ignore[attr-defined]
    assert unsafe.verdict is RenderVerdict.ERROR
    assert unsafe.message.startswith("refused to load unsafe.ckpt: the pickle scan says dangerous")
    assert lora.verdict is RenderVerdict.INCOMPATIBLE
    assert lora.message == (
        "no usable SD1 checkpoint in the catalog (unsafe: dangerous pickle); add one or pass --base"
    )
    assert load_count == {} and not marker.exists()


def test_a_checkpoint_that_rendered_ok_is_preferred_then_the_newest(webui: Path) -> None:
    ckpt = webui / TINY_CHECKPOINT
    for name in ("tiny-b", "tiny-c"):
        shutil.copy(ckpt, ckpt.with_name(f"{name}.safetensors"))
        shutil.copytree(ckpt.with_suffix(".diffusers"), ckpt.with_name(f"{name}.diffusers"))
    stamps = {"tiny-sd1": 1, "tiny-b": 3, "tiny-c": 2}
    for name, hour in stamps.items():
        path = ckpt.with_name(f"{name}.safetensors")
        os.utime(path, (1_700_000_000 + hour * 3600,) * 2)
    catalog = scan(webui)
    assert _bases_of(_plan(catalog, "tiny-lora"))["tiny-lora"] == ["tiny-b", "tiny-c", "tiny-sd1"]

    with catalog.transaction() as session:
        oldest = find_asset(session, "tiny-sd1")
        record_render_result(session, file_id=oldest.id, verdict="ok")
        newest = find_asset(session, "tiny-b")
        record_render_result(session, file_id=newest.id, verdict="error", message="broken")
    assert _bases_of(_plan(catalog, "tiny-lora"))["tiny-lora"] == ["tiny-sd1", "tiny-c", "tiny-b"]


def test_base_override_and_its_usage_errors(webui: Path) -> None:
    add_sample(webui, "ckpt-sd1", f"{CHECKPOINTS}/real-sd1.safetensors")
    add_sample(webui, "lora-kohya-sd1", "models/Lora/sd1-style.safetensors")
    catalog = scan(webui)
    plan = _plan(catalog, "sd1-style", "tiny-lora", "tiny-sd1", base_ref="tiny-sd1")
    assert _bases_of(plan) == {
        "sd1-style": ["tiny-sd1"],  # overridden: the engine will say it does not fit
        "tiny-lora": ["tiny-sd1"],
        "tiny-sd1": ["tiny-sd1"],
    }
    with pytest.raises(
        RenderJobError, match=r"tiny-lora\.safetensors is not a checkpoint \(kind lora\)"
    ):
        _plan(catalog, "sd1-style", base_ref="tiny-lora")
    with pytest.raises(RenderJobError, match="--base nothing-here"):
        _plan(catalog, "sd1-style", base_ref="nothing-here")


# --------------------------------------------------------------------------------------
# Running


def test_every_tiny_kind_renders_ok_with_one_load_and_is_recorded(
    webui: Path, tmp_path: Path, load_count: dict[str, int]
) -> None:
    catalog = scan(webui)
    with catalog.session() as session:
        selected = select_assets(session, Selection(all_=True))
        plan = plan_renders(session, selected.chosen)
    out = tmp_path / "renders"
    started: list[str] = []
    images: list[tuple[int, int]] = []
    with RenderJob(catalog, plan, out, grid=tiny_grid(), device="cpu") as job:
        results = list(
            job.run(on_start=lambda t, i, n: started.append(t.asset.name), on_image=_append(images))
        )
    assert {r.result.asset.name: r.verdict for r in results} == dict.fromkeys(
        TINY_ASSETS, RenderVerdict.OK
    )
    assert started[0] == "tiny-sd1"  # the checkpoint first, then its assets
    assert load_count == {"tiny-sd1": 1} and job.loaded == ["tiny-sd1"]
    assert images and images[-1][0] == images[-1][1]
    assert not any(r.failed() for r in results)
    for r in results:
        assert r.result.grid_path is not None and r.result.grid_path.parent == out
        assert r.result.grid_path.is_file()

    # Recorded: `sdhub show --json` has the verdict, the base and the grid.
    with catalog.session() as session:
        lora = find_asset(session, "tiny-lora")
        history = render_history(session, lora.id)
    assert len(history) == 1 and history[0].params["sha256"] == lora.hashes.sha256
    shown = CliRunner().invoke(cli, ["show", "tiny-lora", "--json"])
    assert shown.exit_code == 0, shown.output
    render = json.loads(shown.stdout)["render"]
    done = next(r.result for r in results if r.result.asset.name == "tiny-lora")
    assert render["verdict"] == "ok" and render["base"]["name"] == "tiny-sd1"
    assert render["grid"] == str(done.grid_path)
    assert render["images"] == done.images == 4  # weights 1.0 and the recorded 0.8, two seeds


def _append(sink: list[tuple[int, int]]):  # type: ignore[no-untyped-def]
    return lambda done, planned: sink.append((done, planned))


def _misconfigured_copy(ckpt: Path, name: str) -> Path:
    """The tiny checkpoint with a config folder that does not fit it: the catalog (which reads
    keys and shapes) sees a fine checkpoint; the engine refuses to load it."""
    copy = ckpt.with_name(f"{name}.safetensors")
    shutil.copy(ckpt, copy)
    config = shutil.copytree(ckpt.with_suffix(".diffusers"), copy.with_suffix(".diffusers"))
    unet = config / "unet" / "config.json"
    data = json.loads(unet.read_text())
    data["cross_attention_dim"] = 64
    unet.write_text(json.dumps(data))
    return copy


def test_a_first_choice_that_cannot_load_falls_back_and_loads_nothing_twice(
    webui: Path, tmp_path: Path, load_count: dict[str, int]
) -> None:
    ckpt = webui / TINY_CHECKPOINT
    broken = _misconfigured_copy(ckpt, "tiny-broken")
    os.utime(broken, (ckpt.stat().st_mtime + 3600,) * 2)  # newest: ranked first
    catalog = scan(webui)
    plan = _plan(catalog, "tiny-lora", "tiny-vae", "tiny-broken")
    assert _bases_of(plan)["tiny-lora"] == ["tiny-broken", "tiny-sd1"]
    results = _run(catalog, plan, tmp_path / "renders")
    assert results["tiny-broken"].verdict is RenderVerdict.ERROR  # type: ignore[attr-defined]
    assert results["tiny-lora"].verdict is RenderVerdict.OK  # type: ignore[attr-defined]
    assert results["tiny-vae"].verdict is RenderVerdict.OK  # type: ignore[attr-defined]
    assert load_count == {"tiny-broken": 1, "tiny-sd1": 1}


def test_no_loadable_base_is_incompatible_with_what_was_tried_and_retried_by_only_new(
    webui: Path, tmp_path: Path
) -> None:
    ckpt = webui / TINY_CHECKPOINT
    _misconfigured_copy(ckpt, "tiny-cut")
    ckpt.unlink()
    shutil.rmtree(ckpt.with_suffix(".diffusers"))
    catalog = scan(webui)
    results = _run(catalog, _plan(catalog, "tiny-embedding"), tmp_path / "renders")
    result = results["tiny-embedding"].result  # type: ignore[attr-defined]
    assert result.verdict is RenderVerdict.INCOMPATIBLE and result.base is None
    assert result.message.startswith("no loadable fitting checkpoint (tiny-cut: ")
    assert result.message.endswith("); add one or pass --base")
    assert "tiny-embedding" in _select(catalog, all_=True, only_new=True)


def test_ctrl_c_stops_and_keeps_what_finished(webui: Path, tmp_path: Path) -> None:
    catalog = scan(webui)
    plan = _plan(catalog, "tiny-sd1", "tiny-lora", "tiny-vae")
    seen: list[str] = []

    def interrupt_on_the_lora(done: int, planned: int) -> None:
        if seen[-1] == "tiny-lora":
            raise KeyboardInterrupt

    finished = []
    with (
        RenderJob(catalog, plan, tmp_path / "renders", grid=tiny_grid(), device="cpu") as job,
        pytest.raises(KeyboardInterrupt),
    ):
        for item in job.run(
            on_start=lambda t, i, n: seen.append(t.asset.name), on_image=interrupt_on_the_lora
        ):
            finished.append(item.result.asset.name)
    assert finished == ["tiny-sd1"]
    with catalog.session() as session:
        recorded = {
            name: len(render_history(session, find_asset(session, name).id))
            for name in ("tiny-sd1", "tiny-lora", "tiny-vae")
        }
    assert recorded == {"tiny-sd1": 1, "tiny-lora": 0, "tiny-vae": 0}
    assert not list((tmp_path / "renders").glob("*.part*"))


def test_exit_policy() -> None:
    for verdict in (RenderVerdict.ERROR, RenderVerdict.NAN, RenderVerdict.BLACK):
        assert counts_as_failure(verdict, named=False)
    for verdict in (RenderVerdict.NO_EFFECT, RenderVerdict.INCOMPATIBLE):
        assert counts_as_failure(verdict, named=True)
        assert not counts_as_failure(verdict, named=False)
        assert counts_as_failure(verdict, named=False, strict=True)
    assert not counts_as_failure(RenderVerdict.OK, named=True, strict=True)


def test_a_checkpoint_with_its_own_config_renders_at_its_native_size(webui: Path) -> None:
    assert native_size(webui / TINY_CHECKPOINT) == 32  # sample_size 16 × VAE scale 2
    assert native_size(webui / CHECKPOINTS / "elsewhere.safetensors") is None
