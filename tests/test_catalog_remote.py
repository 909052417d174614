"""Recording Civitai and Hugging Face answers: 2023 and 2025 shapes, origins, links, weights."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
from sdhub.catalog import (
    LinkSource,
    Origin,
    RemoteFile,
    RemoteModel,
    RemoteVersion,
    Site,
    Source,
    WeightSource,
    civitai_base,
    find_asset,
    link_file,
    open_catalog,
    record_civitai_model,
    record_civitai_version,
    record_cm_info,
    record_file,
    record_hf_file,
    version_by_remote_id,
)
from sdhub.models.inspect import inspect_file
from sdhub.models.kinds import Base
from sdhub.models.samples import SAMPLES, write_sample
from sqlmodel import select
from support.library import civitai_version_json, cm_info_json


@pytest.fixture
def lora(tmp_path: Path):
    path = write_sample(SAMPLES["lora-kohya-sd1"], tmp_path / "mystyle.safetensors", seed=3)
    return path, inspect_file(path)


#: The Civitai model and version the ``lora`` fixture's file is published as.
MYSTYLE = {
    "model_id": 4201,
    "version_id": 130072,
    "model_type": "LORA",
    "file_name": "mystyle.safetensors",
}


def _version(report, shape: str, **kwargs) -> dict:
    return civitai_version_json(
        shape=shape,
        **MYSTYLE,
        model_name="My Style",
        hashes=report.hashes,
        size=report.size,
        trained_words=["mystyle", "watercolor"],
        **kwargs,
    )


@pytest.mark.parametrize("shape", ["2023", "2025"])
def test_a_version_answer_is_recorded_and_linked_by_hash(
    catalog_url: str, lora, shape: str
) -> None:
    path, report = lora
    with open_catalog(catalog_url) as catalog:
        with catalog.transaction() as s:
            record_file(s, path, report)
            version = record_civitai_version(
                s, _version(report, shape, description="<p>Strength 0.6-0.8</p>", image_weight=0.7)
            )
            assert version.base is Base.SD1 and version.base_model == "SD 1.5"
        with catalog.session() as s:
            asset = find_asset(s, str(path), previews=True)
            assert asset.source.site is Site.CIVITAI
            assert (asset.source.model_id, asset.source.version_id) == ("4201", "130072")
            assert asset.source.link is LinkSource.HASH
            assert asset.source.to_json()["model_id"] == 4201
            assert asset.trigger_words == ["mystyle", "watercolor"]
            assert asset.words_source is Source.CIVITAI
            w = asset.weight
            assert (w.default, w.min, w.max, w.source) == (0.7, 0.6, 0.8, WeightSource.DESCRIPTION)
            (rfile,) = s.exec(select(RemoteFile)).all()
            assert rfile.sha256 == report.hashes.sha256
            assert rfile.size == report.size
            assert rfile.primary is True
            civitai_previews = [p for p in asset.previews if p["source"] == "civitai"]
            assert civitai_previews[0]["params"]["seed"] == 42
            assert civitai_previews[0]["nsfw_level"] == 1  # "None" (2023) or 1 (2025)


def test_example_images_decide_when_the_description_is_silent(catalog_url: str, lora) -> None:
    path, report = lora
    with open_catalog(catalog_url) as catalog:
        with catalog.transaction() as s:
            record_file(s, path, report)
            record_civitai_version(s, _version(report, "2025", image_weight=0.65))
        with catalog.session() as s:
            w = find_asset(s, str(path)).weight
            assert (w.default, w.source) == (0.65, WeightSource.EXAMPLE_IMAGES)
        # A weight from Civitai's own settings (tRPC) beats both.
        with catalog.transaction() as s:
            data = _version(report, "2025", description="weight: 0.5", image_weight=0.65)
            data["settings"] = {"strength": 0.9, "minStrength": 0.6, "maxStrength": 1.1}
            record_civitai_version(s, data)
        with catalog.session() as s:
            w = find_asset(s, str(path)).weight
            assert (w.default, w.min, w.max, w.source) == (0.9, 0.6, 1.1, WeightSource.CIVITAI)


def test_a_file_recorded_after_its_version_links_too(catalog_url: str, lora) -> None:
    path, report = lora
    with open_catalog(catalog_url) as catalog:
        with catalog.transaction() as s:
            record_civitai_version(s, _version(report, "2025"))
        with catalog.transaction() as s:
            row = record_file(s, path, report)  # what the download step does
            assert row.remote_version_id is not None and row.link_source is LinkSource.HASH


def test_poorer_records_never_overwrite_richer_ones(catalog_url: str, lora) -> None:
    path, report = lora
    with open_catalog(catalog_url) as catalog:
        with catalog.transaction() as s:
            record_civitai_version(s, _version(report, "2025"), origin=Origin.API)
            record_cm_info(
                s,
                cm_info_json(
                    **MYSTYLE,
                    model_name="Stale name",
                    hashes=report.hashes,
                    trained_words=["stale"],
                ),
            )
        with catalog.session() as s:
            version = version_by_remote_id(s, Site.CIVITAI, 130072)
            assert version.origin is Origin.API
            model = s.get(RemoteModel, version.model_id)
            assert model.name == "My Style"
            assert model.tags == ["style", "anime"]  # a blank the poorer record could fill
        with catalog.transaction() as s:
            record_file(s, path, report)
        with catalog.session() as s:
            assert find_asset(s, str(path)).trigger_words == ["mystyle", "watercolor"]


def test_a_model_answer_records_every_version_with_licence_flags(catalog_url: str, lora) -> None:
    _, report = lora
    v1 = _version(report, "2025")
    v2 = copy.deepcopy(v1)
    v2.update(id=130073, name="v2.0", baseModel="SDXL 1.0", trainedWords=["mystyle xl"])
    v2["files"][0].update(id=999, hashes={"SHA256": "AB" * 32})
    for v in (v1, v2):
        v.pop("modelId")
        v.pop("model")
    model = {
        "id": 4201,
        "name": "My Style",
        "type": "LORA",
        "description": "<p>Use <b>LoRA weight: 0.75</b></p>",
        "nsfw": False,
        "nsfwLevel": 3,
        "allowCommercialUse": "{Image,RentCivit}",  # the 2023 string form
        "allowDerivatives": True,
        "allowNoCredit": True,
        "allowDifferentLicense": False,
        "creator": {"username": "artist", "image": None},
        "tags": ["style", "watercolor"],
        "modelVersions": [v2, v1],
    }
    with open_catalog(catalog_url) as catalog:
        with catalog.transaction() as s:
            versions = record_civitai_model(s, model)
            assert [v.remote_id for v in versions] == ["130073", "130072"]
            assert [v.position for v in versions] == [0, 1]
            assert versions[0].base is Base.SDXL
        with catalog.session() as s:
            m = s.exec(select(RemoteModel)).one()
            assert m.allow_commercial_use == ["Image", "RentCivit"]
            assert (m.creator, m.nsfw_level, m.allow_no_credit) == ("artist", 3, True)
            assert m.url.endswith("/models/4201")
            assert len(s.exec(select(RemoteVersion)).all()) == 2


def test_hugging_face_files_link_by_lfs_hash(catalog_url: str, lora) -> None:
    path, report = lora
    with open_catalog(catalog_url) as catalog:
        with catalog.transaction() as s:
            record_file(s, path, report)
            record_hf_file(
                s,
                repo="someone/my-style",
                path="loras/mystyle.safetensors",
                revision="0123abcd",
                sha256=report.hashes.sha256.lower(),
                size=report.size,
                info={"author": "someone", "tags": ["lora"], "cardData": {"license": "mit"}},
                trigger_words=["mystyle"],
                base=Base.SD1,
            )
        with catalog.session() as s:
            asset = find_asset(s, str(path))
            src = asset.source.to_json()
            assert src["site"] == "hf"
            assert (src["repo"], src["revision"], src["path"]) == (
                "someone/my-style",
                "0123abcd",
                "loras/mystyle.safetensors",
            )
            assert asset.trigger_words == ["mystyle"]
            assert s.exec(select(RemoteModel)).one().license == "mit"


def test_a_person_can_link_a_file_civitai_hashed_wrongly(catalog_url: str, lora) -> None:
    path, report = lora
    data = _version(report, "2025")
    data["files"][0]["hashes"] = {"SHA256": "E3B0C442" + "0" * 56}  # Civitai's hash is wrong
    with open_catalog(catalog_url) as catalog:
        with catalog.transaction() as s:
            row = record_file(s, path, report)
            version = record_civitai_version(s, data)
            assert row.remote_version_id is None
            link_file(s, row, version)
        with catalog.transaction() as s:
            row = record_file(s, path, report)  # a re-scan keeps the person's link
            assert row.link_source is LinkSource.USER
        with catalog.session() as s:
            assert find_asset(s, str(path)).trigger_words == ["mystyle", "watercolor"]


@pytest.mark.parametrize(
    ("label", "base"),
    [
        ("SD 1.5", Base.SD1),
        ("SD 1.5 Hyper", Base.SD1),
        ("SD 2.1 768", Base.SD2),
        ("SDXL 1.0", Base.SDXL),
        ("Pony", Base.SDXL),
        ("Illustrious", Base.SDXL),
        ("SDXL 1.0 Refiner", Base.SDXL_REFINER),
        ("SD 3.5 Large", Base.SD3),
        ("Flux.1 D", Base.FLUX),
        ("Hunyuan Video", Base.UNKNOWN),
        ("Flux.2 D", Base.UNKNOWN),
        ("sdxl 1.0", Base.SDXL),
        ("Playground v2.5", Base.SDXL),
        ("", None),
        (None, None),
    ],
)
def test_civitai_base_labels(label: str | None, base: Base | None) -> None:
    assert civitai_base(label) is base
