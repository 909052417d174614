"""SDXL paths on a tiny SDXL-architecture model: two text encoders (the second in
OpenCLIP's LDM layout), kohya LoRAs with LDM block names and ``lora_te1_``/``lora_te2_``,
``clip_l``/``clip_g`` embeddings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("diffusers")

from sdhub.models.kinds import Base, Kind
from sdhub.models.render import RenderAsset, RenderBase, RenderEngine, RenderVerdict
from support.tiny_sd import tiny_grid

pytestmark = pytest.mark.render


class XL:
    def __init__(self, root: Path) -> None:
        from sdhub.models.render.tiny import (
            build_tiny_pipeline,
            write_tiny_checkpoint,
            write_tiny_embedding,
            write_tiny_lora,
        )

        self.pipe = build_tiny_pipeline(family=Base.SDXL)
        self.checkpoint = write_tiny_checkpoint(root / "tiny-sdxl.safetensors", pipe=self.pipe)
        self.lora = write_tiny_lora(root / "xl-lora.safetensors", self.pipe)
        self.loha = write_tiny_lora(root / "xl-loha.safetensors", self.pipe, algo="loha")
        self.embedding = write_tiny_embedding(root / "xl-emb.safetensors", form="sdxl")
        self.sd1_embedding = write_tiny_embedding(root / "sd1-emb.safetensors", form="emb_params")
        self.base = RenderBase(self.checkpoint, "tiny-sdxl", Base.SDXL)


@pytest.fixture(scope="module")
def xl(tmp_path_factory: pytest.TempPathFactory) -> XL:
    return XL(tmp_path_factory.mktemp("tiny-sdxl"))


@pytest.fixture(scope="module")
def engine() -> Iterator[RenderEngine]:
    with RenderEngine(device="cpu") as eng:
        yield eng


def test_sdxl_single_file_round_trip_is_exact(xl: XL, engine: RenderEngine) -> None:
    loaded = engine.load(xl.base)
    assert loaded.family is Base.SDXL
    for name in ("unet", "vae", "text_encoder", "text_encoder_2"):
        a = getattr(xl.pipe, name).state_dict()
        b = getattr(loaded.pipe, name).state_dict()
        assert set(a) == set(b), name
        assert all(a[k].equal(b[k]) for k in a), name


def test_sdxl_checkpoint_and_both_lora_paths(xl: XL, engine: RenderEngine, tmp_path: Path) -> None:
    checkpoint = RenderAsset(xl.checkpoint, Kind.CHECKPOINT, "tiny-sdxl", Base.SDXL)
    assert engine.render_asset(checkpoint, None, tiny_grid(), tmp_path).verdict is RenderVerdict.OK
    grid = tiny_grid(lora="weights = [0.0, 1.0]\nadd_recommended = false")
    for path in (xl.lora, xl.loha):
        result = engine.render_asset(
            RenderAsset(path, Kind.LORA, path.stem, Base.SDXL), xl.base, grid, tmp_path
        )
        assert result.verdict is RenderVerdict.OK, result.message
        # Text-encoder and UNet modules of both encoders were found by their kohya names.
        assert result.touched_modules and result.touched_modules >= 60


def test_sdxl_embedding_goes_into_both_encoders(
    xl: XL, engine: RenderEngine, tmp_path: Path
) -> None:
    result = engine.render_asset(
        RenderAsset(xl.embedding, Kind.EMBEDDING, "xl-emb", Base.SDXL),
        xl.base,
        tiny_grid(),
        tmp_path,
    )
    assert result.verdict is RenderVerdict.OK, result.message
    pipe = engine.load(xl.base).pipe
    assert "xl-emb" not in pipe.tokenizer.get_vocab()
    assert "xl-emb" not in pipe.tokenizer_2.get_vocab()

    sd1 = engine.render_asset(
        RenderAsset(xl.sd1_embedding, Kind.EMBEDDING, "sd1-emb"), xl.base, tiny_grid(), tmp_path
    )
    assert sd1.verdict is RenderVerdict.INCOMPATIBLE
    assert "clip_g" in sd1.message
