"""Listing assets, resolving references, and the prompt snippet each kind needs."""

from __future__ import annotations

from pathlib import Path

import pytest
from sdhub.catalog import (
    AmbiguousRefError,
    RefNotFoundError,
    Source,
    WeightSource,
    find_asset,
    format_weight,
    list_assets,
    name_clashes,
    open_catalog,
    prompt_snippet,
    record_file,
    record_render_result,
    set_trigger_words,
    set_weight,
)
from sdhub.models.inspect import inspect_file
from sdhub.models.samples import SAMPLES, write_sample

#: recipe → where an A1111 install keeps it
_FILES = {
    "lora": ("lora-kohya-sd1", "models/Lora/styles/mystyle.safetensors"),
    "lora2": ("lora-kohya-sdxl-unet-only", "models/Lora/pixel-xl.safetensors"),
    "twin": ("ia3-sd1", "models/Lora/other/mystyle.safetensors"),
    "hyper": ("hypernetwork-nai-legacy", "models/hypernetworks/aini.pt"),
    "emb": ("embedding-a1111-sd1", "embeddings/mychar.pt"),
    "neg": ("embedding-easynegative", "embeddings/EasyNegative.safetensors"),
    "ckpt": ("ckpt-sd1-novae", "models/Stable-diffusion/photo/real-v1.safetensors"),
    "vae": ("vae-sd1-ft-mse", "models/VAE/vae-ft-mse.safetensors"),
    "cn": ("controlnet-sd1-ldm", "models/ControlNet/canny.pth"),
}


@pytest.fixture
def catalog(catalog_url: str, tmp_path: Path):
    root = tmp_path / "webui"
    paths = {}
    with open_catalog(catalog_url) as cat:
        with cat.transaction() as s:
            for key, (recipe, rel) in _FILES.items():
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                sample = SAMPLES[recipe]
                write_sample(sample, path, sample.formats[0], seed=len(paths))
                paths[key] = path
                row = record_file(s, path, inspect_file(path))
                if key == "lora":
                    set_trigger_words(
                        s, ["mystyle", "red hair"], source=Source.SIDECAR, file_id=row.id
                    )
                    set_trigger_words(s, ["ignored hint"], source=Source.METADATA, file_id=row.id)
                    set_weight(
                        s, 0.7, min=0.5, max=0.9, source=WeightSource.SIDECAR, file_id=row.id
                    )
                    set_weight(s, 0.3, source=WeightSource.DESCRIPTION, file_id=row.id)
                if key == "ckpt":
                    record_render_result(s, file_id=row.id, verdict="nan", images=4, seconds=1.5)
                    record_render_result(s, file_id=row.id, verdict="ok", images=12, seconds=3.0)
        cat.paths = paths  # type: ignore[attr-defined]
        yield cat


def test_list_filters_by_kind_base_and_query(catalog) -> None:
    with catalog.session() as s:
        assert len(list_assets(s)) == len(_FILES)
        assert {a.name for a in list_assets(s, kind="lora")} == {"mystyle", "pixel-xl"}
        assert [a.name for a in list_assets(s, kind="lora", base="sdxl")] == ["pixel-xl"]
        assert [a.name for a in list_assets(s, query="red HAIR")] == ["mystyle"]
        sha = find_asset(s, str(catalog.paths["vae"])).hashes.sha256
        assert [a.name for a in list_assets(s, query=sha[:8].lower())] == ["vae-ft-mse"]
        assert [a.name for a in list_assets(s, query="photo/")] == ["real-v1"]


def test_refs_by_path_name_and_every_hash_form(catalog) -> None:
    path = catalog.paths["ckpt"]
    with catalog.session() as s:
        asset = find_asset(s, str(path))
        h = asset.hashes
        for ref in (
            "real-v1",
            "REAL-V1",
            "real-v1.safetensors",
            "photo/real-v1",
            h.sha256,
            h.sha256.lower(),
            h.autov2.lower(),
            h.autov3.lower(),
            h.sha256[:12],  # A1111's hash for non-safetensors LoRAs/TIs
        ):
            assert find_asset(s, ref).id == asset.id, ref
        with pytest.raises(AmbiguousRefError) as err:
            find_asset(s, "mystyle")
        assert sorted(err.value.candidates) == sorted(
            [str(catalog.paths["lora"]), str(catalog.paths["twin"])]
        )
        assert find_asset(s, "styles/mystyle").path == str(catalog.paths["lora"])
        with pytest.raises(RefNotFoundError):
            find_asset(s, "nothing-like-it")
        with pytest.raises(RefNotFoundError, match="sdhub scan"):
            uncatalogued = path.with_name("new.safetensors")
            uncatalogued.write_bytes(b"x")
            find_asset(s, str(uncatalogued))


def test_the_most_trusted_source_wins(catalog) -> None:
    with catalog.session() as s:
        a = find_asset(s, str(catalog.paths["lora"]))
        assert (a.trigger_words, a.words_source) == (["mystyle", "red hair"], Source.SIDECAR)
        w = a.weight
        assert (w.default, w.min, w.max, w.source) == (0.7, 0.5, 0.9, WeightSource.SIDECAR)
        assert a.to_json()["weight"] == {
            "default": 0.7,
            "min": 0.5,
            "max": 0.9,
            "source": "sidecar",
        }
        ckpt = find_asset(s, str(catalog.paths["ckpt"]))
        assert ckpt.weight is None  # a checkpoint is not applied at a weight
        assert ckpt.render.verdict == "ok" and ckpt.to_json()["render"]["images"] == 12


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("lora", "<lora:mystyle:0.7>, mystyle, red hair"),
        ("lora2", "<lora:pixel-xl:1>"),
        ("hyper", "<hypernet:aini:1>"),
        ("emb", "mychar"),
        ("neg", "negative: EasyNegative"),
        ("vae", "SD VAE: vae-ft-mse.safetensors"),
        ("cn", "ControlNet model: canny.pth"),
    ],
)
def test_prompt_snippets(catalog, key: str, expected: str) -> None:
    with catalog.session() as s:
        asset = find_asset(s, str(catalog.paths[key]))
        assert prompt_snippet(asset).text() == expected


def test_checkpoint_snippet_is_the_setting_a1111_lists(catalog) -> None:
    with catalog.session() as s:
        asset = find_asset(s, str(catalog.paths["ckpt"]))
    snippet = prompt_snippet(asset)
    assert snippet.setting == (
        "Checkpoint",
        f"photo/real-v1.safetensors [{asset.hashes.autov2.lower()}]",
    )
    assert snippet.to_json()["setting"]["name"] == "Checkpoint"


def test_weights_and_clashes_in_snippets(catalog) -> None:
    with catalog.session() as s:
        lora = find_asset(s, str(catalog.paths["lora"]))
        clashes = name_clashes(s, lora)
        assert clashes == [str(catalog.paths["twin"])]
        snippet = prompt_snippet(lora, weight=0.55, clashes=clashes)
        assert snippet.positive.startswith("<lora:mystyle:0.55>")
        assert "also called 'mystyle'" in snippet.warnings[0]
        emb = find_asset(s, str(catalog.paths["emb"]))
        assert prompt_snippet(emb, weight=1.25).text() == "(mychar:1.25)"


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.7, "0.7"), (1.0, "1"), (0.75, "0.75"), (1.2345, "1.234"), (-0.5, "-0.5"), (0.0, "0")],
)
def test_format_weight(value: float, text: str) -> None:
    assert format_weight(value) == text
