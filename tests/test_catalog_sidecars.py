"""Sidecars: what the scan imports from them, and the A1111 ``<stem>.json`` the catalog writes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sdhub.catalog import (
    LinkSource,
    SidecarError,
    Source,
    WeightSource,
    find_asset,
    find_sidecars,
    import_sidecars,
    merge_a1111,
    open_catalog,
    record_file,
    set_trigger_words,
    set_weight,
    write_a1111_sidecar,
)
from sdhub.models.inspect import inspect_file
from sdhub.models.samples import SAMPLES, write_sample
from support.library import a1111_json, civitai_version_json, cm_info_json, tiny_png, write_json


@pytest.fixture
def lora(tmp_path: Path) -> Path:
    path = tmp_path / "models" / "Lora" / "mystyle.safetensors"
    path.parent.mkdir(parents=True)
    return write_sample(SAMPLES["lora-kohya-sd1"], path, seed=5)


def _import(catalog, path: Path):
    with catalog.transaction() as s:
        row = record_file(s, path, inspect_file(path))
        result = import_sidecars(s, row, find_sidecars(path))
    with catalog.session() as s:
        return find_asset(s, str(path), previews=True), result


def test_a1111_user_metadata(catalog_url: str, lora: Path) -> None:
    write_json(
        lora.with_name("mystyle.json"),
        a1111_json(words=["mystyle", " red hair "], weight=0.65, description="Soft colours",
                   negative="lowres", notes="from the forum"),
    )  # fmt: skip
    with open_catalog(catalog_url) as catalog:
        asset, result = _import(catalog, lora)
    assert result.imported == ["mystyle.json"]
    assert asset.trigger_words == ["mystyle", "red hair"]
    assert (asset.weight.default, asset.weight.source) == (0.65, WeightSource.SIDECAR)
    assert (asset.description, asset.negative_text, asset.notes) == (
        "Soft colours",
        "lowres",
        "from the forum",
    )


def test_preferred_weight_zero_means_the_default(catalog_url: str, lora: Path) -> None:
    write_json(lora.with_name("mystyle.json"), a1111_json(words=["x"], weight=0))
    with open_catalog(catalog_url) as catalog:
        asset, _ = _import(catalog, lora)
    assert (asset.weight.default, asset.weight.source) == (1.0, WeightSource.DEFAULT)


def test_civitai_helper_and_stability_matrix_files(catalog_url: str, lora: Path) -> None:
    report = inspect_file(lora)
    write_json(
        lora.with_name("mystyle.civitai.info"),
        civitai_version_json(
            shape="2023", model_id=1, version_id=11, model_name="Style", model_type="LORA",
            file_name=lora.name, hashes=report.hashes, size=report.size,
            trained_words=["civitai words"],
        ),
    )  # fmt: skip
    lora.with_name("mystyle.preview.png").write_bytes(tiny_png(1))
    lora.with_name("mystyle.png").write_bytes(tiny_png(2))
    with open_catalog(catalog_url) as catalog:
        asset, result = _import(catalog, lora)
    assert "mystyle.civitai.info" in result.imported
    assert asset.trigger_words == ["civitai words"]
    assert asset.source.version_id == "11" and asset.source.link is LinkSource.HASH
    local = [p["path"] for p in asset.previews if p["source"] == "sidecar"]
    assert local == [str(lora.with_name("mystyle.preview.png")), str(lora.with_name("mystyle.png"))]


def test_a_sidecar_names_the_version_even_when_civitai_hashed_it_wrongly(
    catalog_url: str, lora: Path
) -> None:
    write_json(
        lora.with_name("mystyle.cm-info.json"),
        cm_info_json(
            model_id=2, version_id=22, model_name="SM", model_type="LORA",
            file_name=lora.name, hashes=None, trained_words=["sm words"],
        ),
    )  # fmt: skip
    with open_catalog(catalog_url) as catalog:
        asset, _ = _import(catalog, lora)
    assert asset.source.version_id == "22" and asset.source.link is LinkSource.SIDECAR
    assert asset.trigger_words == ["sm words"]


def test_empty_and_foreign_sidecars_record_nothing(catalog_url: str, lora: Path) -> None:
    write_json(lora.with_name("mystyle.civitai.info"), {})  # Civitai Helper: "not on Civitai"
    foreign = cm_info_json(
        model_id=None, version_id=None, model_name="4x-UltraSharp", model_type="Upscaler",
        file_name=lora.name, hashes=None,
    )  # fmt: skip
    foreign["Source"] = "OpenModelDb"
    write_json(lora.with_name("mystyle.cm-info.json"), foreign)
    with open_catalog(catalog_url) as catalog:
        asset, result = _import(catalog, lora)
    assert result.imported == [] and result.warnings == []
    assert asset.source is None


def test_merge_keeps_every_field_a_person_filled() -> None:
    theirs = {
        "description": "mine",
        "sd version": "Unknown",
        "activation text": "",
        "preferred weight": 0,
        "notes": "keep",
        "extra": 1,
    }
    ours = {
        "description": "from civitai",
        "sd version": "SD1",
        "activation text": "mystyle",
        "preferred weight": 0.8,
        "negative text": "",
        "notes": "",
    }
    assert merge_a1111(theirs, ours) == {
        "description": "mine",
        "sd version": "SD1",
        "activation text": "mystyle",
        "preferred weight": 0.8,
        "notes": "keep",
        "extra": 1,
        "negative text": "",
    }


def test_written_sidecar_has_a1111s_shape_and_is_not_reimported(
    catalog_url: str, lora: Path
) -> None:
    from sdhub.catalog import open_library, scan_library

    with open_catalog(catalog_url) as catalog:
        with catalog.transaction() as s:
            row = record_file(s, lora, inspect_file(lora))
            set_trigger_words(s, ["mystyle"], source=Source.USER, file_id=row.id)
            set_weight(s, 0.75, source=WeightSource.USER, file_id=row.id)
            path = write_a1111_sidecar(s, row)
        data = json.loads(path.read_text())
        assert data == {
            "description": "",
            "sd version": "SD1",
            "activation text": "mystyle",
            "preferred weight": 0.75,
            "negative text": "",
            "notes": "",
        }
        scan_library(catalog, [lora.parent.parent.parent], library=open_library(lora.parents[2]))
        with catalog.session() as s:
            asset = find_asset(s, str(lora))
        assert asset.words_source is Source.USER  # our own sidecar did not shadow the user's words


def test_an_unreadable_sidecar_is_left_alone(catalog_url: str, lora: Path) -> None:
    target = lora.with_name("mystyle.json")
    target.write_text("{broken", encoding="utf-8")
    with open_catalog(catalog_url) as catalog, catalog.transaction() as s:
        row = record_file(s, lora, inspect_file(lora))
        set_trigger_words(s, ["mystyle"], source=Source.USER, file_id=row.id)
        with pytest.raises(SidecarError, match="cannot read"):
            write_a1111_sidecar(s, row)
    assert target.read_text(encoding="utf-8") == "{broken"
