"""``enrich`` and ``updates`` as jobs: batched look-ups, real answers only, manual links,
same-base update checks. Fake Civitai on 127.0.0.1, a real catalog, real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sdhub.catalog import (
    LinkSource,
    LocalFile,
    RemoteLookup,
    Site,
    WeightSource,
    find_asset,
    recently_missed,
    scan_library,
)
from sdhub.hub.civitai import CivitaiClient
from sdhub.hub.enrich import Enricher, EnrichStatus, civitai_link_ref, select_files
from sdhub.hub.updates import check_updates
from sqlmodel import select
from support.fake_civitai import TOKEN, FakeCivitai
from support.http_fake import Failure
from support.hub_files import FAST_RETRY, embedding_bytes, lora_bytes


def client(civ: FakeCivitai) -> CivitaiClient:
    return CivitaiClient(civ.base_url, TOKEN, retry=FAST_RETRY)


def write_loras(library, names_and_seeds: dict[str, int]) -> dict[str, Path]:  # type: ignore[no-untyped-def]
    paths = {}
    for name, seed in names_and_seeds.items():
        path = library.root / "models/Lora" / f"{name}.safetensors"
        path.write_bytes(lora_bytes(seed))
        paths[name] = path
    return paths


def publish(civ: FakeCivitai, name: str, seed: int, **version_fields):  # type: ignore[no-untyped-def]
    model = civ.add_model(name.title(), type="LORA", description="<p>Strength: 0.65</p>")
    version = civ.add_version(model, trained_words=[name], **version_fields)
    civ.add_file(version, f"{name}_civitai.safetensors", lora_bytes(seed))
    return model, version


def test_enrich_all_in_one_batch_records_found_and_remembers_real_misses(  # type: ignore[no-untyped-def]
    civ, library, catalog
) -> None:
    write_loras(library, {"ink": 1, "wash": 2, "homemade": 3})
    publish(civ, "ink", 1)
    publish(civ, "wash", 2)
    scan_library(catalog, [library.root], library=library)
    enricher = Enricher(catalog, client(civ), library=library)

    results = {r.name: r for r in enricher.enrich(select_files(catalog, everything=True).files)}
    assert {n: r.status for n, r in results.items()} == {
        "ink": EnrichStatus.FOUND,
        "wash": EnrichStatus.FOUND,
        "homemade": EnrichStatus.NOT_FOUND,
    }
    assert civ.count("/api/v1/model-versions/by-hash", method="POST") == 1  # one batch
    assert civ.count("/api/v1/models", method="GET") == 1  # the models, batched by ids
    assert results["ink"].trigger_words == ["ink"]
    assert results["ink"].weight == {
        "default": 0.65,
        "min": None,
        "max": None,
        "source": "description",
    }
    ink = library.root / "models/Lora/ink.safetensors"
    assert json.loads(ink.with_name("ink.civitai.info").read_text())["modelId"] is not None
    assert json.loads(ink.with_suffix(".json").read_text())["activation text"] == "ink"
    with catalog.session() as session:
        asset = find_asset(session, "ink")
        assert asset.source.link is LinkSource.HASH
        assert asset.weight.source is WeightSource.DESCRIPTION
        homemade = find_asset(session, "homemade")
        assert recently_missed(session, Site.CIVITAI, [homemade.hashes.sha256]) == {
            homemade.hashes.sha256
        }

    # The next --all asks about nothing: two are linked, Civitai just said it lacks the third.
    assert select_files(catalog, everything=True).files == []
    assert len(select_files(catalog, everything=True, force=True).files) == 3
    # Named explicitly, a file is always asked about.
    assert [f.name for f in select_files(catalog, ["homemade"]).files] == ["homemade"]


def test_an_anonymous_miss_is_not_believed(civ, library, catalog) -> None:  # type: ignore[no-untyped-def]
    """Anonymous look-ups cannot see mature files: their "unknown" must not hide a file."""
    write_loras(library, {"homemade": 3})
    scan_library(catalog, [library.root], library=library)
    anonymous = CivitaiClient(civ.base_url, None, retry=FAST_RETRY)
    results = list(
        Enricher(catalog, anonymous, library=library).enrich(
            select_files(catalog, everything=True).files
        )
    )
    assert [r.status for r in results] == [EnrichStatus.NOT_FOUND]
    assert [f.name for f in select_files(catalog, everything=True).files] == ["homemade"]


def test_hashes_go_to_civitai_at_most_100_per_request(civ, library, catalog) -> None:  # type: ignore[no-untyped-def]
    for seed in range(130):
        (library.root / "embeddings" / f"emb{seed:03d}.safetensors").write_bytes(
            embedding_bytes(seed, vectors=1)
        )
    scan_library(catalog, [library.root], library=library)
    files = select_files(catalog, everything=True).files
    assert len(files) == 130
    results = list(Enricher(catalog, client(civ), library=library).enrich(files))
    assert {r.status for r in results} == {EnrichStatus.NOT_FOUND}
    bodies = [json.loads(r.body) for r in civ.requests_to("/api/v1/model-versions/by-hash")]
    assert sorted(len(b) for b in bodies) == [30, 100]


@pytest.mark.parametrize("failure", [Failure.SERVER_ERROR, Failure.CLOUDFLARE, Failure.RESET])
def test_a_failed_look_up_records_nothing(civ, library, catalog, failure: Failure) -> None:  # type: ignore[no-untyped-def]
    write_loras(library, {"ink": 1, "homemade": 3})
    publish(civ, "ink", 1)
    scan_library(catalog, [library.root], library=library)
    civ.fail("/api/v1/model-versions/by-hash", failure, times=FAST_RETRY.attempts)
    enricher = Enricher(catalog, client(civ), library=library)
    results = list(enricher.enrich(select_files(catalog, everything=True).files))
    assert {r.status for r in results} == {EnrichStatus.FAILED}
    assert all(r.error and r.path in r.error for r in results)
    with catalog.session() as session:
        assert session.exec(select(RemoteLookup)).all() == []
        assert all(r.remote_version_id is None for r in session.exec(select(LocalFile)))
    assert not (library.root / "models/Lora/ink.civitai.info").exists()
    # Nothing was remembered, so the next run asks again and gets the answer.
    again = {
        r.name: r.status for r in enricher.enrich(select_files(catalog, everything=True).files)
    }
    assert again == {"ink": EnrichStatus.FOUND, "homemade": EnrichStatus.NOT_FOUND}


def test_manual_link_for_a_file_whose_published_hash_is_wrong(civ, library, catalog) -> None:  # type: ignore[no-untyped-def]
    paths = write_loras(library, {"mislabelled": 5})
    model = civ.add_model("Right Model", type="LORA")
    version = civ.add_version(model, trained_words=["rightword"])
    civ.add_file(version, "mislabelled.safetensors", lora_bytes(5), published_sha256="CD" * 32)
    civ.add_image(version, data=b"\x89PNG\r\n\x1a\n" + b"\0" * 64, nsfw_level=1)
    scan_library(catalog, [library.root], library=library)
    enricher = Enricher(catalog, client(civ), library=library, previews=True)
    (miss,) = enricher.enrich(select_files(catalog, ["mislabelled"]).files)
    assert miss.status is EnrichStatus.NOT_FOUND

    ref = civitai_link_ref(f"{model.id}@{version.id}")
    result = enricher.link(select_files(catalog, [str(paths["mislabelled"])]).files[0], ref)
    assert result.status is EnrichStatus.LINKED
    assert result.trigger_words == ["rightword"]
    info = json.loads(paths["mislabelled"].with_name("mislabelled.civitai.info").read_text())
    assert info["id"] == version.id
    assert paths["mislabelled"].with_name("mislabelled.preview.png").is_file()
    with catalog.session() as session:
        asset = find_asset(session, "mislabelled", previews=True)
        assert any(p["source"] == "sidecar" and p["path"] for p in asset.previews)
        assert asset.source.link is LinkSource.USER
        assert asset.source.version_id == str(version.id)
    # A rescan keeps the person's link.
    scan_library(catalog, [library.root], library=library)
    with catalog.session() as session:
        assert find_asset(session, "mislabelled").source.link is LinkSource.USER


def test_updates_offer_the_newest_version_of_the_same_base_only(civ, library, catalog) -> None:  # type: ignore[no-untyped-def]
    write_loras(library, {"ink": 1, "wash": 2, "current": 3})
    ink_model, ink_v1 = publish(civ, "ink", 1)  # SD 1.5, local
    ink_v2 = civ.add_version(ink_model, name="v2", base_model="SD 1.5")
    civ.add_file(ink_v2, "ink_v2.safetensors", lora_bytes(11))
    ink_xl = civ.add_version(ink_model, name="XL", base_model="SDXL 1.0")  # newest, other base
    civ.add_file(ink_xl, "ink_xl.safetensors", lora_bytes(12))
    wash_model, _ = publish(civ, "wash", 2)
    wash_xl = civ.add_version(wash_model, name="XL", base_model="SDXL 1.0")
    civ.add_file(wash_xl, "wash_xl.safetensors", lora_bytes(13))
    publish(civ, "current", 3)
    scan_library(catalog, [library.root], library=library)
    list(
        Enricher(catalog, client(civ), library=library).enrich(
            select_files(catalog, everything=True).files
        )
    )
    civ.clear_requests()

    same = {u.local.name: u for u in check_updates(catalog, client(civ))}
    assert set(same) == {"ink"}
    assert same["ink"].newest.id == ink_v2.id
    assert same["ink"].ref == f"civitai:{ink_model.id}@{ink_v2.id}"
    record = same["ink"].to_json()
    assert record["local_version"]["id"] == ink_v1.id
    # CLI.md's base values beside Civitai's own label, for scripts that filter on either.
    assert record["newest_version"]["base"] == "sd1"
    assert record["newest_version"]["base_model"] == "SD 1.5"
    assert civ.count("/api/v1/models", method="GET") == 1  # every model in one batched request
    assert civ.requests_to("/api/v1/models")[0].param("ids") is not None

    anywhere = {
        u.local.name: u.newest.id for u in check_updates(catalog, client(civ), any_base=True)
    }
    assert anywhere == {"ink": ink_xl.id, "wash": wash_xl.id}


def test_html_404s_are_no_answers_but_a_missing_bulk_route_falls_back(  # type: ignore[no-untyped-def]
    civ, library, catalog
) -> None:
    """Civitai's API says 404 in JSON. The web app's HTML 404 (a route gone or restricted,
    C.4 #6) on the bulk route means "ask one by one"; on the per-hash route it is no
    verdict at all: nothing is recorded, so no false "not on Civitai" blocks later runs."""
    write_loras(library, {"ink": 1, "homemade": 3})
    publish(civ, "ink", 1)
    scan_library(catalog, [library.root], library=library)
    enricher = Enricher(catalog, client(civ), library=library)

    civ.fail("/api/v1/model-versions/by-hash", Failure.HTML_404, times=99)
    results = list(enricher.enrich(select_files(catalog, everything=True).files))
    assert {r.status for r in results} == {EnrichStatus.FAILED}
    with catalog.session() as session:
        assert session.exec(select(RemoteLookup)).all() == []

    civ.clear_failures()
    civ.clear_requests()
    civ.fail("/api/v1/model-versions/by-hash", Failure.HTML_404, method="POST", times=99)
    again = {
        r.name: r.status for r in enricher.enrich(select_files(catalog, everything=True).files)
    }
    assert again == {"ink": EnrichStatus.FOUND, "homemade": EnrichStatus.NOT_FOUND}
    assert civ.count("/api/v1/model-versions/by-hash/", method="GET") == 2


def test_updates_see_past_a_listing_that_holds_only_the_newest_version(  # type: ignore[no-untyped-def]
    civ, library, catalog
) -> None:
    """The list endpoint has answered with each model's newest version only: an SDXL port
    on top must not hide the SD 1.5 update below it."""
    write_loras(library, {"ink": 1, "wash": 2})
    ink_model, _ = publish(civ, "ink", 1)
    ink_v2 = civ.add_version(ink_model, name="v2", base_model="SD 1.5")
    civ.add_file(ink_v2, "ink_v2.safetensors", lora_bytes(11))
    ink_xl = civ.add_version(ink_model, name="XL", base_model="SDXL 1.0")
    civ.add_file(ink_xl, "ink_xl.safetensors", lora_bytes(12))
    wash_model, _ = publish(civ, "wash", 2)  # no update: its listing is complete
    scan_library(catalog, [library.root], library=library)
    list(
        Enricher(catalog, client(civ), library=library).enrich(
            select_files(catalog, everything=True).files
        )
    )
    civ.list_latest_only = True
    civ.clear_requests()

    updates = {u.local.name: u.newest.id for u in check_updates(catalog, client(civ))}
    assert updates == {"ink": ink_v2.id}
    assert civ.count("/api/v1/models", method="GET") == 2  # the batch, then ink alone
    assert civ.count(f"/api/v1/models/{ink_model.id}") == 1
    assert civ.count(f"/api/v1/models/{wash_model.id}") == 0
