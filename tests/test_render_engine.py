"""The render engine on a tiny random-weight SD1 model: every kind, every verdict.

One engine and one tiny library per module (the base loads once); the grid is
1 prompt × 2 seeds at 32×32 with 2 DDIM steps. ``HF_HUB_OFFLINE=1`` and the
loopback-only socket guard come from conftest: an ``ok`` verdict proves no
download was attempted.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

from PIL import Image
from sdhub.models.kinds import Base, Kind
from sdhub.models.render import (
    RenderAsset,
    RenderBase,
    RenderEngine,
    RenderVerdict,
    write_tiny_library,
)
from support.tiny_sd import (
    TinyFiles,
    foreign_lora,
    malicious_pickle,
    nan_lora,
    tiny_grid,
    truncated,
)

pytestmark = pytest.mark.render


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyFiles:
    root = tmp_path_factory.mktemp("tiny-lib")
    return TinyFiles(root, write_tiny_library(root))


@pytest.fixture(scope="module")
def engine() -> Iterator[RenderEngine]:
    with RenderEngine(device="cpu") as eng:
        yield eng


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "renders"


def _params(path: Path) -> str:
    with Image.open(path) as im:
        return im.text["parameters"]


def _layout(path: Path) -> dict:
    with Image.open(path) as im:
        return json.loads(im.text["sdhub"])


def test_importing_the_package_does_not_import_torch() -> None:
    code = (
        "import sys, sdhub.models.render as r; from sdhub.models.render import RenderEngine;"
        "r.default_grid();"
        "print(any(m in sys.modules for m in ('torch', 'diffusers', 'transformers')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_checkpoint_renders_its_grid_with_a1111_parameters(
    tiny: TinyFiles, engine: RenderEngine, out: Path
) -> None:
    asset = RenderAsset(tiny.checkpoint, Kind.CHECKPOINT, "tiny-sd1", Base.SD1)
    result = engine.render_asset(asset, None, tiny_grid(), out)
    assert result.verdict is RenderVerdict.OK, result.message
    assert result.images == 2
    assert result.grid_path is not None and result.grid_path.parent == out
    assert result.grid_path.name.startswith("tiny-sd1-")
    params = _params(result.grid_path)
    lines = params.splitlines()
    assert lines[0] == "a photo of a cat"
    assert lines[1] == "Negative prompt: blurry"
    assert "Steps: 2, Sampler: DDIM, CFG scale: 7, Seed: 11, Size: 32x32" in lines[2]
    assert "Model: tiny-sd1" in lines[2]
    assert "Model hash: " in lines[2]
    assert list(out.iterdir()) == [result.grid_path]  # no .tmp left behind
    assert result.to_json()["verdict"] == "ok"


def test_single_file_round_trip_is_exact(tiny: TinyFiles, engine: RenderEngine) -> None:
    from sdhub.models.render.tiny import build_tiny_pipeline

    original = build_tiny_pipeline()  # the library was written from seed 0 as well
    loaded = engine.load(tiny.base()).pipe
    for name in ("unet", "vae", "text_encoder"):
        a = getattr(original, name).state_dict()
        b = getattr(loaded, name).state_dict()
        assert set(a) == set(b)
        assert all(a[k].equal(b[k]) for k in a), name


def test_lora_weight_sweep_changes_the_image_and_weight_zero_is_the_baseline(
    tiny: TinyFiles, engine: RenderEngine, out: Path
) -> None:
    lora = tiny.asset("tiny-lora.safetensors", Kind.LORA, trigger_words=("tinystyle",))
    swept = engine.render_asset(lora, tiny.base(), tiny_grid(lora="weights = [0.5, 1.0]"), out)
    assert swept.verdict is RenderVerdict.OK, swept.message
    assert swept.images == 4 and swept.touched_modules and swept.touched_modules > 0
    layout = _layout(swept.grid_path)
    assert layout["columns"] == ["without lora", "weight 0.5", "weight 1"]
    params = _params(swept.grid_path)
    assert params.startswith("tinystyle, a photo of a cat, <lora:tiny-lora:0.5>")
    assert 'Lora hashes: "tiny-lora: ' in params

    zero = engine.render_asset(
        lora, tiny.base(), tiny_grid(lora="weights = [0.0]\nadd_recommended = false"), out
    )
    assert zero.verdict is RenderVerdict.NO_EFFECT, zero.message


def test_recommended_weight_joins_the_sweep(
    tiny: TinyFiles, engine: RenderEngine, out: Path
) -> None:
    lora = tiny.asset("tiny-lora.safetensors", Kind.LORA, recommended_weight=0.7)
    result = engine.render_asset(lora, tiny.base(), tiny_grid(lora="weights = [1.0]"), out)
    assert result.verdict is RenderVerdict.OK, result.message
    assert _layout(result.grid_path)["columns"] == ["without lora", "weight 0.7", "weight 1"]


def test_removing_an_asset_restores_the_base_exactly(
    tiny: TinyFiles, engine: RenderEngine, out: Path
) -> None:
    pipe = engine.load(tiny.base()).pipe
    before = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    names = {n for n, _ in pipe.unet.named_modules()}
    for name in ("tiny-lora.safetensors", "tiny-loha.safetensors"):
        engine.render_asset(tiny.asset(name, Kind.LORA), tiny.base(), tiny_grid(), out)
    engine.render_asset(
        tiny.asset("tiny-hypernetwork.pt", Kind.HYPERNETWORK), tiny.base(), tiny_grid(), out
    )
    after = pipe.unet.state_dict()
    assert {n for n, _ in pipe.unet.named_modules()} == names
    assert set(after) == set(before) and all(after[k].equal(before[k]) for k in before)
    assert not any(m._forward_hooks for m in pipe.unet.modules())


@pytest.mark.parametrize(
    "name", ["tiny-locon.safetensors", "tiny-loha.safetensors", "tiny-lokr.safetensors"]
)
def test_lycoris_renders_and_weight_zero_is_the_baseline(
    name: str, tiny: TinyFiles, engine: RenderEngine, out: Path
) -> None:
    asset = tiny.asset(name, Kind.LORA)
    result = engine.render_asset(asset, tiny.base(), tiny_grid(lora="weights = [1.0]"), out)
    assert result.verdict is RenderVerdict.OK, result.message
    assert result.touched_modules and result.touched_modules >= 60
    zero = engine.render_asset(
        asset, tiny.base(), tiny_grid(lora="weights = [0.0]\nadd_recommended = false"), out
    )
    assert zero.verdict is RenderVerdict.NO_EFFECT, zero.message


def test_loha_and_lokr_deltas_follow_a1111() -> None:
    import torch
    from sdhub.models.render.lora import compute_delta

    g = torch.Generator().manual_seed(0)
    w1a, w1b, w2a, w2b = (torch.randn(s, generator=g) for s in [(6, 2), (2, 4), (6, 2), (2, 4)])
    loha = compute_delta(
        {"hada_w1_a": w1a, "hada_w1_b": w1b, "hada_w2_a": w2a, "hada_w2_b": w2b}, (6, 4)
    )
    assert torch.allclose(loha, (w1a @ w1b) * (w2a @ w2b))
    w1, w2a, w2b = (
        torch.randn(2, 2, generator=g),
        torch.randn(3, 1, generator=g),
        torch.randn(1, 2, generator=g),
    )
    lokr = compute_delta({"lokr_w1": w1, "lokr_w2_a": w2a, "lokr_w2_b": w2b}, (6, 4))
    assert torch.allclose(lokr, torch.kron(w1, w2a @ w2b))
    # Tucker (CP) LoHa on a 3×3 conv: [rank, out] / [rank, in] factors around t.
    t, a, b = (
        torch.randn(2, 2, 3, 3, generator=g),
        torch.randn(2, 5, generator=g),
        torch.randn(2, 4, generator=g),
    )
    cp = compute_delta(
        {
            "hada_t1": t,
            "hada_w1_a": a,
            "hada_w1_b": b,
            "hada_t2": t,
            "hada_w2_a": a,
            "hada_w2_b": b,
        },
        (5, 4, 3, 3),
    )
    one = torch.einsum("ijkl,ip,jr->prkl", t, a, b)
    assert torch.allclose(cp, one * one, atol=1e-5)


def test_embeddings_in_positive_and_negative_prompt(
    tiny: TinyFiles, engine: RenderEngine, out: Path
) -> None:
    positive = engine.render_asset(
        tiny.asset("tiny-embedding.pt", Kind.EMBEDDING), tiny.base(), tiny_grid(), out
    )
    assert positive.verdict is RenderVerdict.OK, positive.message
    assert _params(positive.grid_path).splitlines()[0] == "a photo of a cat, tiny-embedding"

    negative = engine.render_asset(
        tiny.asset("tiny-negative.safetensors", Kind.EMBEDDING, negative=True),
        tiny.base(),
        tiny_grid(),
        out,
    )
    assert negative.verdict is RenderVerdict.OK, negative.message
    lines = _params(negative.grid_path).splitlines()
    assert lines[0] == "a photo of a cat"
    assert lines[1] == "Negative prompt: blurry, tiny-negative"
    assert 'TI hashes: "tiny-negative: ' in lines[2]
    assert _layout(negative.grid_path)["columns"] == ["without embedding", "in negative prompt"]


def test_embedding_forms_parameterdict_and_uppercase_name(
    tiny: TinyFiles, engine: RenderEngine, out: Path, tmp_path: Path
) -> None:
    from sdhub.models.render.tiny import write_tiny_embedding

    path = write_tiny_embedding(tmp_path / "EasyTiny.pt", form="paramdict", seed=9)
    result = engine.render_asset(
        tiny.asset(str(path), Kind.EMBEDDING), tiny.base(), tiny_grid(), out
    )
    assert result.verdict is RenderVerdict.OK, result.message
    # The tokenizer is back as it was: the name is no token of the base any more.
    assert "easytiny" not in engine.load(tiny.base()).pipe.tokenizer.get_vocab()


def test_embedding_of_another_width_is_incompatible(
    tiny: TinyFiles, engine: RenderEngine, out: Path, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "wide.safetensors"
    save_file({"emb_params": torch.randn(2, 768)}, str(path))
    result = engine.render_asset(
        tiny.asset(str(path), Kind.EMBEDDING), tiny.base(), tiny_grid(), out
    )
    assert result.verdict is RenderVerdict.INCOMPATIBLE
    assert "768" in result.message and "48" in result.message


def test_hypernetwork_strength_sweep(tiny: TinyFiles, engine: RenderEngine, out: Path) -> None:
    hyper = tiny.asset("tiny-hypernetwork.pt", Kind.HYPERNETWORK)
    swept = engine.render_asset(
        hyper, tiny.base(), tiny_grid(hypernetwork="strengths = [0.5, 1.0]"), out
    )
    assert swept.verdict is RenderVerdict.OK, swept.message
    assert _layout(swept.grid_path)["columns"] == [
        "without hypernetwork",
        "strength 0.5",
        "strength 1",
    ]
    assert "<hypernet:tiny-hypernetwork:0.5>" in _params(swept.grid_path)
    zero = engine.render_asset(hyper, tiny.base(), tiny_grid(hypernetwork="strengths = [0]"), out)
    assert zero.verdict is RenderVerdict.NO_EFFECT, zero.message


def test_hypernetwork_old_format_and_cross_attention_only(
    tiny: TinyFiles, engine: RenderEngine, out: Path, tmp_path: Path
) -> None:
    from sdhub.models.render.tiny import write_tiny_hypernetwork

    old = write_tiny_hypernetwork(tmp_path / "old.pt", old_names=True, widths=(48,))
    result = engine.render_asset(
        tiny.asset(str(old), Kind.HYPERNETWORK), tiny.base(), tiny_grid(), out
    )
    assert result.verdict is RenderVerdict.OK, result.message
    # Only the cross-attention width: acts on the cross-attention layers alone.
    unet = engine.load(tiny.base()).pipe.unet
    assert result.touched_modules == sum(1 for n, _ in unet.named_modules() if n.endswith(".attn2"))

    wrong = write_tiny_hypernetwork(tmp_path / "sd2ish.pt", widths=(32, 64))
    result = engine.render_asset(
        tiny.asset(str(wrong), Kind.HYPERNETWORK), tiny.base(), tiny_grid(), out
    )
    assert result.verdict is RenderVerdict.INCOMPATIBLE
    assert "cross-attention width 48" in result.message


def test_vae_swap_and_the_checkpoints_own_vae(
    tiny: TinyFiles, engine: RenderEngine, out: Path, tmp_path: Path
) -> None:
    from safetensors.torch import save_file
    from sdhub.models.render.tiny import ldm_vae_state_dict

    other = engine.render_asset(
        tiny.asset("tiny-vae.safetensors", Kind.VAE), tiny.base(), tiny_grid(), out
    )
    assert other.verdict is RenderVerdict.OK, other.message
    assert _layout(other.grid_path)["columns"] == ["own VAE", "tiny-vae"]
    assert "VAE: tiny-vae.safetensors" in _params(other.grid_path)

    own = tmp_path / "own-vae.safetensors"
    save_file(ldm_vae_state_dict(engine.load(tiny.base()).own_vae), str(own))
    same = engine.render_asset(tiny.asset(str(own), Kind.VAE), tiny.base(), tiny_grid(), out)
    assert same.verdict is RenderVerdict.NO_EFFECT, same.message


def test_nan_weights_give_the_nan_verdict(
    tiny: TinyFiles, engine: RenderEngine, out: Path, tmp_path: Path
) -> None:
    broken = nan_lora(tiny.path("tiny-lora.safetensors"), tmp_path / "nan-lora.safetensors")
    result = engine.render_asset(tiny.asset(str(broken), Kind.LORA), tiny.base(), tiny_grid(), out)
    assert result.verdict is RenderVerdict.NAN
    assert result.grid_path is not None and result.grid_path.exists()
    # The NaN LoRA is gone again: the next asset renders normally.
    after = engine.render_asset(
        tiny.asset("tiny-lora.safetensors", Kind.LORA), tiny.base(), tiny_grid(), out
    )
    assert after.verdict is RenderVerdict.OK


def test_lora_for_another_family_or_matching_nothing_is_incompatible(
    tiny: TinyFiles, engine: RenderEngine, out: Path, tmp_path: Path
) -> None:
    sdxl = RenderAsset(tiny.path("tiny-lora.safetensors"), Kind.LORA, "tiny-lora", Base.SDXL)
    result = engine.render_asset(sdxl, tiny.base(), tiny_grid(), out)
    assert result.verdict is RenderVerdict.INCOMPATIBLE
    assert "SDXL" in result.message and result.grid_path is None

    flux = foreign_lora(tmp_path / "flux-ish.safetensors")
    result = engine.render_asset(
        RenderAsset(flux, Kind.LORA, "flux-ish", Base.UNKNOWN), tiny.base(), tiny_grid(), out
    )
    assert result.verdict is RenderVerdict.INCOMPATIBLE
    assert "double" in result.message or "touched none" in result.message


def test_truncated_and_unsafe_files_are_errors_with_a_reason(
    tiny: TinyFiles, engine: RenderEngine, out: Path, tmp_path: Path
) -> None:
    cut = truncated(tiny.path("tiny-lora.safetensors"), tmp_path / "cut.safetensors")
    result = engine.render_asset(tiny.asset(str(cut), Kind.LORA), tiny.base(), tiny_grid(), out)
    assert result.verdict is RenderVerdict.ERROR
    assert "cut.safetensors" in result.message

    evil = malicious_pickle(tmp_path / "evil.pt")
    result = engine.render_asset(
        tiny.asset(str(evil), Kind.EMBEDDING), tiny.base(), tiny_grid(), out
    )
    assert result.verdict is RenderVerdict.ERROR
    assert "refused" in result.message and "pickle scan" in result.message


def test_checkpoint_missing_a_tensor_names_it(tiny: TinyFiles, tmp_path: Path, out: Path) -> None:
    import shutil

    from safetensors.torch import load_file, save_file
    from sdhub.models.render.tiny import sidecar_config_dir

    state = load_file(str(tiny.checkpoint))
    del state["model.diffusion_model.out.2.weight"]
    path = tmp_path / "holey.safetensors"
    save_file(state, str(path))
    shutil.copytree(sidecar_config_dir(tiny.checkpoint), sidecar_config_dir(path))
    with RenderEngine("cpu") as eng:
        result = eng.render_asset(
            RenderAsset(path, Kind.CHECKPOINT, "holey", Base.SD1), None, tiny_grid(), out
        )
    assert result.verdict is RenderVerdict.ERROR
    assert "conv_out.weight" in result.message and "missing" in result.message


def test_tiny_checkpoint_without_its_config_says_where_to_put_one(
    tiny: TinyFiles, tmp_path: Path, out: Path
) -> None:
    import shutil

    path = tmp_path / "lonely.safetensors"
    shutil.copy(tiny.checkpoint, path)
    with RenderEngine("cpu") as eng:
        result = eng.render_asset(
            RenderAsset(path, Kind.CHECKPOINT, "lonely", Base.SD1), None, tiny_grid(), out
        )
    assert result.verdict is RenderVerdict.ERROR
    assert "lonely.diffusers/" in result.message


def test_pickle_checkpoint_loads_after_the_scan(tmp_path: Path, out: Path) -> None:
    import numpy as np
    import torch
    from sdhub.models.render.tiny import write_tiny_checkpoint

    ckpt = write_tiny_checkpoint(tmp_path / "tiny-old.ckpt", pickle=True)
    # Lightning-era checkpoints carry numpy scalars next to the weights.
    data = torch.load(ckpt, weights_only=True)
    data["callbacks"] = {"ModelCheckpoint": {"best_model_score": np.float64(0.25)}}
    torch.save(data, ckpt)
    with RenderEngine("cpu") as eng:
        result = eng.render_asset(
            RenderAsset(ckpt, Kind.CHECKPOINT, "tiny-old", Base.SD1), None, tiny_grid(), out
        )
    assert result.verdict is RenderVerdict.OK, result.message


def test_ctrl_c_leaves_no_file_and_restores_the_base(
    tiny: TinyFiles, engine: RenderEngine, tmp_path: Path
) -> None:
    out = tmp_path / "interrupted"
    calls: list[tuple[int, int]] = []

    def interrupt(done: int, total: int) -> None:
        calls.append((done, total))
        if len(calls) == 2:
            raise KeyboardInterrupt

    lora = tiny.asset("tiny-lora.safetensors", Kind.LORA)
    with pytest.raises(KeyboardInterrupt):
        engine.render_asset(
            lora, tiny.base(), tiny_grid(lora="weights = [0.3, 0.9]"), out, on_image=interrupt
        )
    assert not out.exists() or not any(out.iterdir())
    zero = engine.render_asset(
        lora,
        tiny.base(),
        tiny_grid(lora="weights = [0.0]\nadd_recommended = false"),
        tmp_path / "after",
    )
    assert zero.verdict is RenderVerdict.NO_EFFECT, zero.message


def test_progress_reports_every_batch(tiny: TinyFiles, engine: RenderEngine, out: Path) -> None:
    seen: list[tuple[int, int]] = []
    lora = tiny.asset("tiny-locon.safetensors", Kind.LORA, trigger_words=("progress",))
    result = engine.render_asset(
        lora,
        tiny.base(),
        tiny_grid(lora="weights = [1.0]"),
        out,
        on_image=lambda d, t: seen.append((d, t)),
    )
    assert result.verdict is RenderVerdict.OK
    assert seen[-1] == (4, 4)  # baseline (new trigger words) + one column, 2 rows each
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_unrenderable_kind_and_missing_base(
    tiny: TinyFiles, engine: RenderEngine, out: Path
) -> None:
    other = RenderAsset(tiny.path("tiny-lora.safetensors"), Kind.OTHER, "x")
    assert engine.render_asset(other, tiny.base(), tiny_grid(), out).verdict is RenderVerdict.ERROR
    lora = tiny.asset("tiny-lora.safetensors", Kind.LORA)
    result = engine.render_asset(lora, None, tiny_grid(), out)
    assert result.verdict is RenderVerdict.INCOMPATIBLE and "no base" in result.message


def test_base_recorded_as_another_family_is_refused(tiny: TinyFiles, out: Path) -> None:
    base = RenderBase(tiny.checkpoint, "tiny-sd1", Base.SDXL)
    with RenderEngine("cpu") as eng:
        result = eng.render_asset(
            tiny.asset("tiny-lora.safetensors", Kind.LORA), base, tiny_grid(), out
        )
    assert result.verdict is RenderVerdict.ERROR
    assert "SD1 keys" in result.message


def test_a_vae_that_decodes_black_gets_the_black_verdict(
    tiny: TinyFiles, engine: RenderEngine, out: Path, tmp_path: Path
) -> None:
    import torch
    from safetensors.torch import load_file, save_file

    state = load_file(str(tiny.path("tiny-vae.safetensors")))
    state["decoder.conv_out.weight"] = torch.zeros_like(state["decoder.conv_out.weight"])
    state["decoder.conv_out.bias"] = torch.full_like(state["decoder.conv_out.bias"], -5.0)
    dark = tmp_path / "dark-vae.safetensors"
    save_file(state, str(dark))
    result = engine.render_asset(tiny.asset(str(dark), Kind.VAE), tiny.base(), tiny_grid(), out)
    assert result.verdict is RenderVerdict.BLACK, result.message
    assert result.grid_path is not None
