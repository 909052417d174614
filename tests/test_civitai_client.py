"""The Civitai client against a fake Civitai over real HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import requests
from sdhub.hub.civitai import CivitaiClient, CivitaiModel, CivitaiVersion, nsfw_level
from sdhub.hub.errors import (
    BadRequest,
    NotAModelFile,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    TransientError,
)
from sdhub.hub.http import RetryPolicy, Site, redact_url, request_json
from sdhub.hub.refs import parse_ref
from sdhub.hub.vocab import base_models_for, base_of, kind_of_file, kind_of_type, types_for_kind
from sdhub.models.kinds import Base, Component, Kind
from support.fake_civitai import TOKEN, FakeCivitai, civitai_hashes
from support.http_fake import Failure
from support.hub_files import FAST_RETRY, lora_bytes

from sdhub.config import load_settings


def client_for(civ: FakeCivitai, token: str | None = None, **kwargs: Any) -> CivitaiClient:
    return CivitaiClient(civ.base_url, token, retry=FAST_RETRY, **kwargs)


def add_lora(civ: FakeCivitai, name: str, *, shape: str = "2025", **fields: Any) -> CivitaiModel:
    model = civ.add_model(name, type="LORA", shape=shape, **fields)
    version = civ.add_version(model, base_model="SD 1.5", trained_words=[name.lower()])
    civ.add_file(version, f"{name.lower()}.safetensors", lora_bytes(hash(name) % 1000))
    return model  # type: ignore[return-value]


# --- search and pagination --------------------------------------------------------------


def test_search_pages_lazily_and_stops_at_limit(fake_civitai: FakeCivitai) -> None:
    for i in range(7):
        add_lora(fake_civitai, f"Style {i}")
    client = client_for(fake_civitai)

    results = client.search(limit=5, page_size=2)
    first = next(results)
    assert first.name.startswith("Style")
    assert fake_civitai.count("/api/v1/models") == 1  # one page, nothing more yet
    rest = list(results)
    assert len(rest) == 4
    # 2 + 2 + 1 consumed: three pages, never the fourth.
    assert fake_civitai.count("/api/v1/models") == 3
    pages = fake_civitai.requests_to("/api/v1/models")
    assert [r.param("cursor") is None for r in pages] == [True, False, False]
    assert all(r.param("limit") == "2" for r in pages)

    fake_civitai.clear_requests()
    assert len(list(client.search(limit=None, page_size=3))) == 7
    assert fake_civitai.count("/api/v1/models") == 3


def test_search_sends_filters_and_never_page_with_query(fake_civitai: FakeCivitai) -> None:
    for i in range(5):
        add_lora(fake_civitai, f"Ink {i}", tags=["ink"], creator="alice")
    other = fake_civitai.add_model("Ink checkpoint", type="Checkpoint")
    fake_civitai.add_version(other, base_model="SDXL 1.0")
    client = client_for(fake_civitai)

    found = list(
        client.search(
            "ink",
            types=["LORA", "LoCon"],
            base_models=["SD 1.5"],
            sort="Newest",
            period="Month",
            nsfw=False,
            username="alice",
            tag="ink",
            limit=4,
            page_size=2,
        )
    )
    assert len(found) == 4
    assert all(m.kind is Kind.LORA for m in found)
    for request in fake_civitai.requests_to("/api/v1/models"):
        assert request.param("query") == "ink"
        assert request.param("page") is None
        assert request.query["types"] == ["LORA", "LoCon"]
        assert request.param("baseModels") == "SD 1.5"
        assert request.param("sort") == "Newest"
        assert request.param("nsfw") == "false"
        assert request.param("username") == "alice"


def test_next_page_is_followed_when_there_is_no_cursor() -> None:
    assert CivitaiClient._next_page({"nextCursor": "1|2|3"}, has_query=True) == [
        ("cursor", "1|2|3")
    ]
    url = "https://civitai.com/api/v1/models?limit=2&page=3"
    assert CivitaiClient._next_page({"nextPage": url}, has_query=False) == [("page", "3")]
    # With a query, a page-mode link is never followed (the server would answer 400).
    assert CivitaiClient._next_page({"nextPage": url}, has_query=True) == []
    assert CivitaiClient._next_page({"totalItems": "40", "currentPage": "1"}, has_query=False) == []


def test_fake_refuses_query_with_page_and_deep_pages(fake_civitai: FakeCivitai) -> None:
    base = f"{fake_civitai.base_url}/api/v1/models"
    response = requests.get(base, params={"query": "x", "page": 2}, timeout=5)
    assert response.status_code == 400
    response = requests.get(base, params={"limit": 100, "page": 11}, timeout=5)
    assert response.status_code == 429
    assert "too many pages" in response.json()["error"]
    # The client reads that 429 as a permanent error, not a reason to retry.
    session = requests.Session()
    with pytest.raises(BadRequest):
        request_json(
            session,
            "GET",
            base,
            what="deep page",
            site=Site.CIVITAI,
            retry=FAST_RETRY,
            params={"limit": 100, "page": 11},
        )
    assert fake_civitai.count("/api/v1/models") == 3


def test_fake_download_route_accepts_bearer_or_query_token(fake_civitai: FakeCivitai) -> None:
    model = fake_civitai.add_model("Locked", type="LORA")
    version = fake_civitai.add_version(model, login_required=True)
    fake_civitai.add_file(version, "locked.safetensors", lora_bytes(3))
    url = f"{fake_civitai.base_url}/api/download/models/{version.id}"
    assert requests.get(url, allow_redirects=False, timeout=5).status_code == 401
    by_query = requests.get(url, params={"token": TOKEN}, allow_redirects=False, timeout=5)
    assert by_query.status_code == 307 and "/files/" in by_query.headers["Location"]
    by_header = requests.get(
        url, headers={"Authorization": f"Bearer {TOKEN}"}, allow_redirects=True, timeout=5
    )
    assert by_header.content == lora_bytes(3)
    assert by_header.headers["Content-Disposition"] == 'attachment; filename="locked.safetensors"'
    # A browser gets the old HTML login redirect: never send a browser User-Agent.
    browser = requests.get(
        url, headers={"User-Agent": "Mozilla/5.0"}, allow_redirects=False, timeout=5
    )
    assert "reason=download-auth" in browser.headers["Location"]


# --- parsing every shape -------------------------------------------------------------------


def build_shapes(civ: FakeCivitai) -> tuple[int, int]:
    ids = []
    for shape in ("2023", "2025"):
        model = civ.add_model(f"Shape {shape}", type="LORA", shape=shape, tags=["style"])
        version = civ.add_version(model, base_model="SDXL 1.0", trained_words=["a", " b "])
        civ.add_file(version, "shape.safetensors", lora_bytes(1))
        civ.add_file(version, "shape-fp32.safetensors", lora_bytes(2), fp="fp32", size="full")
        civ.add_file(
            version,
            "train.zip",
            b"PK\x05\x06" + bytes(18),
            type="Training Data",
            format="Other",
            fp=None,
            size=None,
        )
        civ.add_image(version, nsfw_level=4, meta={"prompt": "<lora:shape:0.7>"})
        ids.append(model.id)
    return ids[0], ids[1]


@pytest.mark.parametrize("shape", ["2023", "2025"])
def test_old_and_new_shapes_parse(fake_civitai: FakeCivitai, shape: str) -> None:
    old_id, new_id = build_shapes(fake_civitai)
    client = client_for(fake_civitai)
    model = client.model(old_id if shape == "2023" else new_id)

    assert model.kind is Kind.LORA and model.tags == ("style",)
    assert model.allow_commercial_use == ("Image", "RentCivit")
    assert model.creator == "someone"
    version = model.versions[0]
    assert version.model_id == model.id  # filled from the parent
    assert version.model_type == "LORA" and version.base is Base.SDXL
    assert version.trained_words == ("a", "b")
    primary, fp32, zip_file = version.files
    assert primary.primary and not fp32.primary and not zip_file.primary
    assert primary.size_bytes == len(lora_bytes(1))
    assert primary.sha256 == civitai_hashes(lora_bytes(1))["SHA256"]
    assert primary.hashes["autov3"] == civitai_hashes(lora_bytes(1))["AutoV3"]
    assert zip_file.fp is None and zip_file.size is None
    assert version.images[0].nsfw_level == 4 and version.images[0].nsfw
    assert version.images[0].meta is None  # /models answers carry no meta
    assert version.primary_file() is primary
    assert version.pick_file(fp="FP32") is fp32
    assert version.pick_file(type="Training Data") is zip_file
    assert version.pick_file(format="GGUF") is None
    assert version.expected_kind(zip_file) is None

    full = client.version(version.id)
    assert full.model_id == model.id and full.model_name == model.name
    assert full.images[0].meta == {"prompt": "<lora:shape:0.7>"}
    assert full.raw["id"] == version.id  # kept verbatim for the .civitai.info sidecar


def test_lenient_parsing_of_odd_answers() -> None:
    version = CivitaiVersion.parse(
        {
            "id": "12",
            "files": [
                {"name": "a.pt", "sizeKB": "3.5", "metadata": None, "hashes": None},
                {
                    "name": "b.safetensors",
                    "type": "Model",
                    "primary": False,
                    "hashes": {"SHA256": ""},
                },
            ],
            "images": [{"url": "x", "nsfw": "Mature"}, {"url": "y", "nsfw": "None"}, "junk"],
            "trainedWords": "solo",
        }
    )
    assert version.id == 12
    assert version.files[0].size_bytes == 3584 and version.files[0].hashes == {}
    assert version.files[1].hashes == {}
    assert version.primary_file() is version.files[0]  # first Model-type file
    assert [i.nsfw_level for i in version.images] == [4, 1]
    assert version.trained_words == ("solo",)
    assert nsfw_level("X") == 8 and nsfw_level(True) == 4 and nsfw_level(None) is None
    model = CivitaiModel.parse(
        {
            "id": 3,
            "name": "m",
            "type": "NewType",
            "allowCommercialUse": "Sell",
            "tags": [{"name": "t"}],
        }
    )
    assert model.kind is Kind.OTHER and model.component is Component.UNKNOWN
    assert model.allow_commercial_use == ("Sell",) and model.tags == ("t",)
    assert CivitaiVersion.parse({"id": 1, "settings": {"strength": 0.8}}).settings == {
        "strength": 0.8
    }


def test_archived_and_taken_down(fake_civitai: FakeCivitai) -> None:
    archived = add_lora(fake_civitai, "Gone", mode="Archived")
    taken = add_lora(fake_civitai, "Down", mode="TakenDown")
    fake_civitai.add_image(taken.versions[0])  # type: ignore[attr-defined]
    client = client_for(fake_civitai)

    model = client.model(archived.id)
    assert model.archived and model.versions[0].files == ()
    assert model.versions[0].download_url is None
    assert model.versions[0].primary_file() is None
    with pytest.raises(NotFound):
        client.download_job(model.versions[0])
    down = client.model(taken.id)
    assert down.taken_down and down.versions[0].images == ()


def test_unpublished_versions_are_hidden(fake_civitai: FakeCivitai) -> None:
    model = fake_civitai.add_model("Drafts", type="LORA")
    published = fake_civitai.add_version(model, name="v1")
    draft = fake_civitai.add_version(model, name="v2", status="Draft")
    client = client_for(fake_civitai)
    assert [v.id for v in client.model(model.id).versions] == [published.id]
    with pytest.raises(NotFound, match="Model not found"):
        client.version(draft.id)
    with pytest.raises(NotFound, match="No model with id 424242"):
        client.model(424242)


def test_resolve_references_to_model_version_and_file(fake_civitai: FakeCivitai) -> None:
    model = fake_civitai.add_model("Resolve", type="LORA")
    old = fake_civitai.add_version(model, name="v1")
    fake_civitai.add_file(old, "r_v1.safetensors", lora_bytes(1))
    new = fake_civitai.add_version(model, name="v2")
    fake_civitai.add_file(new, "r_v2.safetensors", lora_bytes(2))
    fake_civitai.add_file(new, "r_v2_fp32.safetensors", lora_bytes(3), fp="fp32", size="full")
    client = client_for(fake_civitai)

    latest = client.resolve(parse_ref(f"civitai:{model.id}"))
    assert latest.version.id == new.id and latest.file.name == "r_v2.safetensors"
    assert latest.model is not None and latest.model.id == model.id
    pinned = client.resolve(
        parse_ref(f"https://civitai.com/models/{model.id}?modelVersionId={old.id}")
    )
    assert pinned.version.id == old.id and pinned.file.name == "r_v1.safetensors"
    url = f"https://civitai.com/api/download/models/{new.id}?type=Model&format=SafeTensor&fp=fp32"
    chosen = client.resolve(parse_ref(url))
    assert chosen.file.name == "r_v2_fp32.safetensors" and chosen.model is not None
    with pytest.raises(NotFound, match="no such file"):
        client.resolve(parse_ref(f"https://civitai.com/api/download/models/{new.id}?format=GGUF"))
    with pytest.raises(BadRequest, match="belongs to model"):
        client.resolve(parse_ref(f"civitai:1@{new.id}"))


# --- hash look-ups and batches --------------------------------------------------------------


def test_by_hash_any_kind_any_case(fake_civitai: FakeCivitai) -> None:
    model = add_lora(fake_civitai, "Hashy")
    hashes = civitai_hashes(lora_bytes(hash("Hashy") % 1000))
    client = client_for(fake_civitai)
    for kind in ("SHA256", "AutoV2", "AutoV3", "AutoV1", "CRC32", "BLAKE3"):
        found = client.version_by_hash(hashes[kind].lower())
        assert found is not None and found.model_id == model.id, kind
    assert client.version_by_hash("0" * 64) is None  # a clear "unknown", not an error
    with pytest.raises(BadRequest):
        client.version_by_hash("not-a-hash")


def test_bulk_by_hash_chunks_per_hundred(fake_civitai: FakeCivitai) -> None:
    models = [add_lora(fake_civitai, f"Bulk {i}") for i in range(3)]
    known = [civitai_hashes(lora_bytes(hash(f"Bulk {i}") % 1000))["SHA256"] for i in range(3)]
    unknown = [f"{i:064x}" for i in range(147)]
    client = client_for(fake_civitai)

    found = client.versions_by_sha256([*unknown, *[h.lower() for h in known]])
    assert fake_civitai.count("/api/v1/model-versions/by-hash", method="POST") == 2
    bodies = [len(r.body) for r in fake_civitai.requests_to("/api/v1/model-versions/by-hash")]
    assert all(b < 100 * 70 for b in bodies)
    assert set(found) == set(known)
    assert {v.model_id for v in found.values()} == {m.id for m in models}
    with pytest.raises(BadRequest):
        client.versions_by_sha256(["ABCDEF0123"])


def test_models_by_ids_in_batches(fake_civitai: FakeCivitai) -> None:
    models = [add_lora(fake_civitai, f"Upd {i}") for i in range(5)]
    nsfw = add_lora(fake_civitai, "Spicy", nsfw=True)
    wanted = [m.id for m in models] + [nsfw.id] + list(range(900000, 900195))
    client = client_for(fake_civitai)

    found = client.models_by_ids(wanted)
    assert set(found) == {m.id for m in models} | {nsfw.id}
    requests_made = fake_civitai.requests_to("/api/v1/models")
    assert len(requests_made) == 3  # 201 ids → 100 + 100 + 1
    assert all(len(r.param("ids").split(",")) <= 100 for r in requests_made)  # type: ignore[union-attr]


# --- auth, user agent, secrets ---------------------------------------------------------------


def test_token_as_bearer_and_sdhub_user_agent(
    fake_civitai: FakeCivitai, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    add_lora(fake_civitai, "Auth")
    client = client_for(fake_civitai, TOKEN)
    list(client.search(limit=1))
    request = fake_civitai.requests[-1]
    assert request.header("Authorization") == f"Bearer {TOKEN}"
    assert request.header(
        "User-Agent",
    ).startswith("sdhub/")  # type: ignore[union-attr]
    assert "token" not in request.query
    assert TOKEN not in repr(client) and TOKEN not in repr(client.auth)
    fake_civitai.fail("/api/v1/models", Failure.SERVER_ERROR, times=10)
    with pytest.raises(ServiceUnavailable) as info:
        list(client.search(limit=1))
    assert TOKEN not in str(info.value) and TOKEN not in repr(info.value.__dict__)
    assert TOKEN not in caplog.text


def test_anonymous_client_sends_no_authorization(fake_civitai: FakeCivitai) -> None:
    add_lora(fake_civitai, "Anon")
    list(client_for(fake_civitai).search(limit=1))
    assert fake_civitai.requests[-1].header("Authorization") is None


def test_settings_feed_the_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDHUB_CIVITAI_URL", "http://127.0.0.1:1234/")
    monkeypatch.setenv("CIVITAI_TOKEN", "tok-from-env")
    client = CivitaiClient.from_settings(load_settings())
    assert client.base_url == "http://127.0.0.1:1234" and client.has_token
    assert "tok-from-env" not in repr(client)


def test_redacted_urls_drop_tokens_and_signatures() -> None:
    url = "https://x.r2.dev/f?X-Amz-Signature=abc&token=SECRET&type=Model&fp=fp16"
    assert redact_url(url) == "https://x.r2.dev/f?type=Model&fp=fp16"


# --- transient faults -------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        Failure.RATE_LIMIT,
        Failure.SERVER_ERROR,
        Failure.UNAVAILABLE,
        Failure.CLOUDFLARE,
        Failure.HTML_OK,
        Failure.DROP,
        Failure.RESET,
    ],
)
def test_transient_faults_are_retried(fake_civitai: FakeCivitai, failure: Failure) -> None:
    model = add_lora(fake_civitai, "Flaky")
    fake_civitai.fail(f"/api/v1/models/{model.id}", failure, times=2)
    sleeps: list[float] = []
    client = client_for(fake_civitai, sleep=sleeps.append)
    assert client.model(model.id).name == "Flaky"
    assert fake_civitai.count(f"/api/v1/models/{model.id}") == 3
    assert len(sleeps) == 2 and sleeps[0] <= sleeps[1] * 4


def test_retries_are_bounded_and_backoff_grows(fake_civitai: FakeCivitai) -> None:
    model = add_lora(fake_civitai, "Down")
    fake_civitai.fail(f"/api/v1/models/{model.id}", Failure.RATE_LIMIT, times=99)
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=5, base_delay=1.0, max_delay=30.0)
    client = CivitaiClient(fake_civitai.base_url, retry=policy, sleep=sleeps.append)
    with pytest.raises(RateLimited) as info:
        client.model(model.id)
    assert info.value.transient
    assert fake_civitai.count(f"/api/v1/models/{model.id}") == 5
    assert len(sleeps) == 4
    for attempt, slept in enumerate(sleeps):
        cap = min(30.0, 2**attempt)
        assert cap / 2 <= slept <= cap


def test_retry_after_is_honoured_up_to_the_cap(fake_civitai: FakeCivitai) -> None:
    model = add_lora(fake_civitai, "Patient")
    fake_civitai.fail(f"/api/v1/models/{model.id}", Failure.RATE_LIMIT_RETRY_AFTER, times=2)
    sleeps: list[float] = []
    policy = RetryPolicy(attempts=5, base_delay=0.001, max_delay=10.0)
    client = CivitaiClient(fake_civitai.base_url, retry=policy, sleep=sleeps.append)
    assert client.model(model.id).name == "Patient"
    assert sleeps == [7.0, 7.0]  # what the server asked, not our millisecond backoff
    capped = RetryPolicy(attempts=5, base_delay=0.001, max_delay=3.0)
    assert capped.delay(0, 3600.0) == 3.0


def test_permanent_answers_are_not_retried(fake_civitai: FakeCivitai) -> None:
    client = client_for(fake_civitai)
    with pytest.raises(NotFound) as info:
        client.model(31337)
    assert not info.value.transient
    assert fake_civitai.count("/api/v1/models/31337") == 1


def test_network_failure_is_transient() -> None:
    client = CivitaiClient("http://127.0.0.1:9", retry=FAST_RETRY)
    with pytest.raises(TransientError) as info:
        client.model(1)
    assert info.value.transient and "127.0.0.1:9" in str(info.value.url)


# --- the vocabulary --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("civitai_type", "kind", "component"),
    [
        ("Checkpoint", Kind.CHECKPOINT, None),
        ("LORA", Kind.LORA, None),
        ("LoCon", Kind.LORA, None),
        ("DoRA", Kind.LORA, None),
        ("TextualInversion", Kind.EMBEDDING, None),
        ("Hypernetwork", Kind.HYPERNETWORK, None),
        ("VAE", Kind.VAE, None),
        ("Controlnet", Kind.OTHER, Component.CONTROLNET),
        ("Upscaler", Kind.OTHER, Component.UPSCALER),
        ("MotionModule", Kind.OTHER, Component.MOTION_MODULE),
        ("Poses", Kind.OTHER, Component.UNKNOWN),
        ("SomethingNew", Kind.OTHER, Component.UNKNOWN),
    ],
)
def test_types_map_to_kinds(civitai_type: str, kind: Kind, component: Component | None) -> None:
    assert kind_of_type(civitai_type) == (kind, component)


@pytest.mark.parametrize(
    ("label", "base"),
    [
        ("SD 1.4", Base.SD1),
        ("SD 1.5", Base.SD1),
        ("SD 1.5 LCM", Base.SD1),
        ("SD 1.5 Hyper", Base.SD1),
        ("SD 2.0", Base.SD2),
        ("SD 2.1 768", Base.SD2),
        ("SDXL 0.9", Base.SDXL),
        ("SDXL 1.0", Base.SDXL),
        ("SDXL Turbo", Base.SDXL),
        ("SDXL Lightning", Base.SDXL),
        ("SDXL Hyper", Base.SDXL),
        ("Pony", Base.SDXL),
        ("Illustrious", Base.SDXL),
        ("NoobAI", Base.SDXL),
        ("SD 3", Base.SD3),
        ("SD 3.5 Large", Base.SD3),
        ("SD 3.5 Something New", Base.SD3),
        ("Flux.1 D", Base.FLUX),
        ("Flux.1 S", Base.FLUX),
        ("Flux.1 Kontext", Base.FLUX),
        ("Flux.1 Krea", Base.FLUX),
        ("Flux.2 D", Base.UNKNOWN),  # another architecture
        ("Pony V7", Base.UNKNOWN),  # AuraFlow, not the SDXL-based Pony
        ("SDXL 1.0 LCM", Base.SDXL),
        ("SD 3.5 Medium", Base.SD3),
        ("Stable Cascade", Base.UNKNOWN),
        ("Hunyuan 1", Base.UNKNOWN),
        ("Other", Base.UNKNOWN),
        (None, Base.UNKNOWN),
    ],
)
def test_base_models_map_to_families(label: str | None, base: Base) -> None:
    assert base_of(label) is base


def test_vocab_for_search_filters_and_files() -> None:
    assert set(types_for_kind(Kind.LORA)) == {"LORA", "LoCon", "DoRA"}
    assert "Pony" in base_models_for(Base.SDXL) and "SD 1.5" in base_models_for(Base.SD1)
    assert kind_of_file("Checkpoint", "VAE") == (Kind.VAE, None)
    assert kind_of_file("Checkpoint", "Text Encoder") == (Kind.OTHER, Component.TEXT_ENCODER)
    assert kind_of_file("LORA", "Training Data") is None
    assert kind_of_file("LORA", "Model") == (Kind.LORA, None)


# --- what the real service does that a kind fake would not ---------------------------------


def test_an_html_404_is_no_verdict_on_a_hash(fake_civitai: FakeCivitai) -> None:
    """Civitai's API answers 404 in JSON; the web app's HTML 404 (a route gone or restricted)
    must not read as "no file has this hash", or enrich would remember a false miss."""
    model = add_lora(fake_civitai, "Hashed")
    sha = civitai_hashes(lora_bytes(hash("Hashed") % 1000))["SHA256"]
    client = client_for(fake_civitai)
    fake_civitai.fail("/api/v1/model-versions/by-hash/", Failure.HTML_404)
    with pytest.raises(TransientError) as info:
        client.version_by_hash(sha)
    assert info.value.status == 404 and "This page could not be found" not in str(info.value)
    found = client.version_by_hash(sha)
    assert found is not None and found.model_id == model.id
    assert client.version_by_hash("0" * 64) is None  # the JSON 404 is a real "unknown"


def test_a_limit_of_zero_asks_nothing(fake_civitai: FakeCivitai) -> None:
    add_lora(fake_civitai, "Any")
    assert list(client_for(fake_civitai).search(limit=0)) == []
    assert fake_civitai.count("/api/v1/models") == 0


def test_api_answers_arrive_gzipped_and_chunked(fake_civitai: FakeCivitai) -> None:
    """Like Cloudflare in front of Civitai: compressed, no Content-Length."""
    add_lora(fake_civitai, "Packed")
    response = requests.get(f"{fake_civitai.base_url}/api/v1/models", timeout=5)
    assert response.headers["Content-Encoding"] == "gzip"
    assert "Content-Length" not in response.headers
    assert [m.name for m in client_for(fake_civitai).search(limit=5)] == ["Packed"]


def test_the_2023_shape_without_metadata_or_hashes(fake_civitai: FakeCivitai) -> None:
    model = fake_civitai.add_model("Old", type="Checkpoint", shape="2023")
    version = fake_civitai.add_version(model, base_model="SD 1.5")
    fake_civitai.add_file(
        version, "old.ckpt", b"x" * 2048, format=None, fp=None, size=None, publish_hashes=False
    )
    raw = requests.get(f"{fake_civitai.base_url}/api/v1/models/{model.id}", timeout=5).json()
    assert "metadata" not in raw["modelVersions"][0]["files"][0]
    assert "hashes" not in raw["modelVersions"][0]["files"][0]
    parsed = client_for(fake_civitai).model(model.id).versions[0].files[0]
    assert parsed.hashes == {} and parsed.format is None and parsed.primary
    assert parsed.size_bytes == 2048


@pytest.mark.parametrize(
    ("name", "file_format"),
    [
        ("wildcards.zip", "Other"),
        ("workflow.json", "Other"),
        ("model_diffusers.zip", "Diffusers"),
    ],
)
def test_files_that_are_no_model_weights_are_refused_before_downloading(
    fake_civitai: FakeCivitai, name: str, file_format: str
) -> None:
    model = fake_civitai.add_model("Extras", type="Wildcards" if "wild" in name else "Checkpoint")
    version = fake_civitai.add_version(model)
    fake_civitai.add_file(version, name, b"PK\x03\x04" + bytes(64), format=file_format)
    fake_civitai.add_file(version, "extras.safetensors", lora_bytes(4), format="SafeTensor")
    client = client_for(fake_civitai)
    target = client.resolve(parse_ref(f"civitai:{model.id}"))
    assert target.file.name == name
    with pytest.raises(NotAModelFile) as info:
        client.download_job(target.version, target.file)
    assert name in str(info.value) and "extras.safetensors" in str(info.value)
    assert fake_civitai.count("/api/download/") == 0


def test_page_mode_deployments_end_at_the_page_cap_not_in_an_error(
    fake_civitai: FakeCivitai,
) -> None:
    """2023 answers came in page mode unasked; pages past 1000 items get 429 "use cursors"."""
    fake_civitai.page_mode_default = True
    for i in range(1005):
        fake_civitai.add_version(fake_civitai.add_model(f"M{i}", type="LORA"))
    client = client_for(fake_civitai)
    found = list(client.search(limit=None, page_size=100))
    assert len(found) == 1000 and len({m.id for m in found}) == 1000
    pages = [r.param("page") for r in fake_civitai.requests_to("/api/v1/models")]
    assert pages == [None] + [str(p) for p in range(2, 11)]
    assert (
        CivitaiClient._next_page(
            {"nextPage": "https://civitai.com/api/v1/models?limit=100&page=11"}, has_query=False
        )
        == []
    )


def test_a_bulk_answer_that_hides_file_hashes_is_asked_again_by_hash(
    fake_civitai: FakeCivitai,
) -> None:
    models = [add_lora(fake_civitai, f"Hidden {i}") for i in range(2)]
    known = [civitai_hashes(lora_bytes(hash(f"Hidden {i}") % 1000))["SHA256"] for i in range(2)]
    fake_civitai.bulk_hides_hashes = True
    found = client_for(fake_civitai).versions_by_sha256([*known, "0" * 64])
    assert {sha: v.model_id for sha, v in found.items()} == {
        known[0]: models[0].id,
        known[1]: models[1].id,
    }
    assert fake_civitai.count("/api/v1/model-versions/by-hash/", method="GET") == 3


def test_an_anonymous_404_for_a_mature_version_names_the_token(fake_civitai: FakeCivitai) -> None:
    """Civitai filters model-version answers by browsing level; anonymous means SFW only."""
    model = add_lora(fake_civitai, "Spicy", nsfw=True, nsfw_level=28)
    version_id = model.versions[0].id  # type: ignore[attr-defined]
    fake_civitai.hide_mature_from_anonymous = True
    with pytest.raises(NotFound) as info:
        client_for(fake_civitai).version(version_id)
    assert "CIVITAI_TOKEN" in str(info.value)
    assert client_for(fake_civitai, TOKEN).version(version_id).model_id == model.id


def test_the_key_stays_within_civitai_but_never_reaches_storage() -> None:
    """requests drops Authorization on any host change; civitai.red → civitai.com is one
    service with one key (a download there would otherwise 401 with a valid key)."""
    from sdhub.hub.http import make_session

    session = make_session()
    assert not session.should_strip_auth(
        "https://civitai.red/api/download/models/1", "https://civitai.com/api/download/models/1"
    )
    assert session.should_strip_auth(
        "https://civitai.com/api/download/models/1", "https://f005.backblazeb2.com/file/b/x"
    )
    assert session.should_strip_auth("https://huggingface.co/a/b", "https://cdn-lfs.hf.co/x")
    assert session.should_strip_auth("https://civitai.red/a", "http://civitai.com/a")
