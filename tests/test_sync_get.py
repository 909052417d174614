"""``get``/``sync`` as a job (hub.sync): every REF form, failures, sidecars, resume, idempotence.

Real HTTP on 127.0.0.1 (fake Civitai and Hub), a real SQLite catalog, a real
library folder, real model files.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

from PIL import Image
from sdhub.catalog import (
    LinkSource,
    LocalFile,
    Preview,
    RemoteModel,
    Site,
    WeightSource,
    find_asset,
)
from sdhub.hub.civitai import CivitaiClient
from sdhub.hub.huggingface import HfClient
from sdhub.hub.sync import GetRequest, GetStatus, Sync, parse_list, ref_parser
from sqlmodel import select
from support.fake_civitai import TOKEN, FakeCivitai, civitai_hashes
from support.fake_hub import HF_TOKEN, FakeHub
from support.http_fake import Failure
from support.hub_files import (
    FAST_RETRY,
    checkpoint_bytes,
    embedding_bytes,
    lora_bytes,
    malicious_ckpt_bytes,
    png,
)


def make_sync(catalog, library, civ: FakeCivitai | None, *, token: str | None = TOKEN, **kw):  # type: ignore[no-untyped-def]
    client = CivitaiClient(civ.base_url, token, retry=FAST_RETRY) if civ is not None else None
    options = {"retry": FAST_RETRY, "flush_interval": 0.02}
    return Sync(catalog, library, civitai=client, downloader_options=options, **kw)


def run(sync: Sync, *refs: str | GetRequest, dry_run: bool = False) -> dict[str, object]:
    requests = [r if isinstance(r, GetRequest) else GetRequest(r) for r in refs]
    return {r.ref: r for r in sync.run(requests, dry_run=dry_run)}


def lora_model(civ: FakeCivitai, name: str, seed: int, **fields):  # type: ignore[no-untyped-def]
    model = civ.add_model(name, type="LORA", **fields)
    version = civ.add_version(model, trained_words=[name.lower().replace(" ", "")])
    file = civ.add_file(version, f"{name.lower().replace(' ', '_')}.safetensors", lora_bytes(seed))
    return model, version, file


# --- every reference form --------------------------------------------------------------------


def test_every_civitai_reference_form_resolves_to_its_file(civ, library, catalog) -> None:  # type: ignore[no-untyped-def]
    ink = civ.add_model("Ink", type="LORA")
    v1 = civ.add_version(ink, name="v1")
    civ.add_file(v1, "ink_v1.safetensors", lora_bytes(1))
    v2 = civ.add_version(ink, name="v2")  # newest first
    civ.add_file(v2, "ink_v2.safetensors", lora_bytes(2))
    civ.add_file(v2, "ink_v2_fp32.safetensors", lora_bytes(3), fp="fp32", size="full")
    ckpt = civ.add_model("Base Mix", type="Checkpoint")
    civ.add_file(civ.add_version(ckpt), "basemix.safetensors", checkpoint_bytes(4))
    emb = civ.add_model("Bad Hands", type="TextualInversion")
    emb_v = civ.add_version(emb, trained_words=["badhands"])
    emb_data = embedding_bytes(5)
    civ.add_file(emb_v, "badhands.safetensors", emb_data)
    air, air_v, _ = lora_model(civ, "Air Style", 6)
    _, by_v2_v, by_v2_file = lora_model(civ, "Short Hash", 7)
    _, by_v3_v, by_v3_file = lora_model(civ, "Payload Hash", 8)
    _, only_v_v, _ = lora_model(civ, "Version Only", 9)

    base = civ.base_url
    refs = {
        f"civitai:{ink.id}": ("models/Lora/ink_v2.safetensors", v2.id),
        f"{base}/models/{ink.id}/ink-style?modelVersionId={v1.id}": (
            "models/Lora/ink_v1.safetensors",
            v1.id,
        ),
        f"{base}/api/download/models/{v2.id}?type=Model&format=SafeTensor&size=full&fp=fp32": (
            "models/Lora/ink_v2_fp32.safetensors",
            v2.id,
        ),
        f"{base}/models/{ckpt.id}": ("models/Stable-diffusion/basemix.safetensors", None),
        civitai_hashes(emb_data)["SHA256"].lower(): ("embeddings/badhands.safetensors", emb_v.id),
        by_v2_file.hashes["AutoV2"]: ("models/Lora/short_hash.safetensors", by_v2_v.id),
        by_v3_file.hashes["AutoV3"]: ("models/Lora/payload_hash.safetensors", by_v3_v.id),
        f"urn:air:sd1:lora:civitai:{air.id}@{air_v.id}": (
            "models/Lora/air_style.safetensors",
            air_v.id,
        ),
        f"civitai:@{only_v_v.id}": ("models/Lora/version_only.safetensors", only_v_v.id),
    }
    results = run(make_sync(catalog, library, civ, jobs=3), *refs)
    for ref, (relative, version_id) in refs.items():
        result = results[ref]
        assert result.status is GetStatus.DOWNLOADED, (ref, result.error)
        assert result.path == library.root / relative, ref
        if version_id is not None:
            assert result.to_json()["source"]["version_id"] == version_id
    assert (library.root / "models/Lora/ink_v2_fp32.safetensors").read_bytes() == lora_bytes(3)
    with catalog.session() as session:
        assert len(session.exec(select(LocalFile)).all()) == len(refs)
        assert find_asset(session, "badhands").source.link is LinkSource.HASH


def test_hugging_face_file_url_and_whole_diffusers_repo(  # type: ignore[no-untyped-def]
    library, catalog, hf_online, tmp_path
) -> None:
    diffusers = {
        "model_index.json": b'{"_class_name": "StableDiffusionPipeline"}',
        "unet/config.json": b"{}",
        "unet/diffusion_pytorch_model.safetensors": b"U" * 2048,
        "vae/config.json": b"{}",
        "vae/diffusion_pytorch_model.safetensors": b"V" * 1024,
        "README.md": b"# tiny",
    }
    with FakeHub(tokens={HF_TOKEN}) as hub:
        hub.add_repo("acme/ink", {"ink.safetensors": lora_bytes(11), "README.md": b"# ink"})
        hub.add_repo("acme/tiny-sd", diffusers)
        hub.add_repo("acme/two", {"a.safetensors": lora_bytes(12), "b.safetensors": lora_bytes(13)})
        hub.add_repo("acme/gated", {"g.safetensors": lora_bytes(14)}, gated="manual")
        hub.add_repo("acme/url", {"sub/u.safetensors": checkpoint_bytes(15)})
        hf = HfClient(hub.base_url, None, cache_dir=tmp_path / "hfcache")
        sync = Sync(catalog, library, hf=hf, downloader_options={"retry": FAST_RETRY})
        url = f"{hub.base_url}/acme/url/blob/main/sub/u.safetensors"
        results = run(
            sync,
            "hf:acme/ink/ink.safetensors",
            "hf:acme/tiny-sd",
            "hf:acme/two",
            "hf:acme/gated",
            url,
        )
    ink = results["hf:acme/ink/ink.safetensors"]
    assert ink.status is GetStatus.DOWNLOADED, ink.error
    assert ink.path == library.root / "models/Lora/ink.safetensors"  # placed by what it is
    assert ink.to_json()["source"]["repo"] == "acme/ink"
    assert results[url].path == library.root / "models/Stable-diffusion/u.safetensors"
    snapshot = results["hf:acme/tiny-sd"]
    assert snapshot.status is GetStatus.DOWNLOADED, snapshot.error
    folder = library.root / "models/diffusers/tiny-sd"
    assert snapshot.path == folder
    assert (folder / "unet/diffusion_pytorch_model.safetensors").read_bytes() == b"U" * 2048
    assert (folder / "model_index.json").is_file() and not (folder / "README.md").exists()
    two = results["hf:acme/two"]
    assert two.status is GetStatus.FAILED
    assert "a.safetensors" in two.error and "b.safetensors" in two.error  # the choices, listed
    gated = results["hf:acme/gated"]
    assert gated.status is GetStatus.FAILED
    assert "hf:acme/gated" in gated.error and "HF_TOKEN" in gated.error
    with catalog.session() as session:
        asset = find_asset(session, "ink")
        assert asset.source.site is Site.HF and asset.source.path == "ink.safetensors"


# --- what is written and recorded ------------------------------------------------------------


def test_sidecars_preview_and_catalog_rows(civ, library, catalog) -> None:  # type: ignore[no-untyped-def]
    model = civ.add_model(
        "Ink Style",
        type="LORA",
        description="<p>Use a <b>weight</b> of 0.6-0.8.</p>",
        nsfw_level=3,
        allow_commercial_use=["Image", "Sell"],
        tags=["style"],
    )
    version = civ.add_version(model, trained_words=["inkstyle", "lineart"])
    civ.add_file(version, "inkstyle.safetensors", lora_bytes(21))
    civ.add_image(version, data=png("red"), nsfw_level=4, meta={"prompt": "x", "seed": 1})
    civ.add_image(version, data=b"not a picture", type="video", nsfw_level=1)
    civ.add_image(version, data=png("blue"), nsfw_level=2, meta={"prompt": "y", "seed": 2})

    result = run(make_sync(catalog, library, civ), f"civitai:{model.id}")[f"civitai:{model.id}"]
    assert result.status is GetStatus.DOWNLOADED, result.error
    lora = library.root / "models/Lora/inkstyle.safetensors"
    info = json.loads(lora.with_name("inkstyle.civitai.info").read_text())
    assert info["id"] == version.id and info["modelId"] == model.id
    a1111 = json.loads(lora.with_suffix(".json").read_text())
    assert a1111["activation text"] == "inkstyle, lineart"
    assert a1111["preferred weight"] == 0.7 and a1111["sd version"] == "SD1"
    # NSFW off: the first image is rated R, the video is skipped: the PG-13 one is the preview.
    preview = lora.with_name("inkstyle.preview.png")
    assert Image.open(preview).getpixel((0, 0)) == (0, 0, 255)
    assert {p.name for p in result.sidecars} >= {
        "inkstyle.civitai.info",
        "inkstyle.json",
        "inkstyle.preview.png",
    }
    with catalog.session() as session:
        asset = find_asset(session, "inkstyle", previews=True)
        assert asset.trigger_words == ["inkstyle", "lineart"]
        assert (asset.weight.default, asset.weight.min, asset.weight.max) == (0.7, 0.6, 0.8)
        assert asset.weight.source is WeightSource.DESCRIPTION
        assert asset.source.link is LinkSource.HASH
        params = [p["params"] for p in asset.previews if p["source"] == "civitai"]
        assert {"prompt": "y", "seed": 2} in params  # example images' generation data
        local = [p for p in asset.previews if p["source"] == "sidecar"]
        assert local and local[0]["path"] == str(preview)
        remote = session.exec(select(RemoteModel).where(RemoteModel.site == Site.CIVITAI)).one()
        assert remote.allow_commercial_use == ["Image", "Sell"] and remote.nsfw_level == 3
        assert "weight" in (remote.description or "")
        row = session.exec(select(LocalFile)).one()
        assert set(row.sidecars) >= {".civitai.info", ".preview.png", ".json"}

    # With NSFW on, the cover image (rated R) is taken.
    other, other_v, _ = lora_model(civ, "Second", 22)
    civ.add_image(other_v, data=png("red"), nsfw_level=4)
    run(make_sync(catalog, library, civ, nsfw=True), f"civitai:{other.id}")
    red = library.root / "models/Lora/second.preview.png"
    assert Image.open(red).getpixel((0, 0)) == (255, 0, 0)


def test_rerun_downloads_nothing_and_dry_run_touches_nothing(civ, library, catalog) -> None:  # type: ignore[no-untyped-def]
    model, version, _ = lora_model(civ, "Once", 31)
    ref = f"civitai:{model.id}@{version.id}"
    planned = run(make_sync(catalog, library, civ), ref, dry_run=True)[ref]
    assert planned.status is GetStatus.PLANNED
    assert planned.plan.folder == library.root / "models/Lora"
    assert planned.plan.size == len(lora_bytes(31))
    assert not any((library.root / "models/Lora").iterdir())
    assert civ.count("/api/download/") == 0

    assert run(make_sync(catalog, library, civ), ref)[ref].status is GetStatus.DOWNLOADED
    before = (civ.count("/api/download/"), civ.count("/files/"))
    again = run(make_sync(catalog, library, civ), ref)[ref]
    assert again.status is GetStatus.SKIPPED
    assert again.path == library.root / "models/Lora/once.safetensors"
    assert (civ.count("/api/download/"), civ.count("/files/")) == before
    assert run(make_sync(catalog, library, civ), ref, dry_run=True)[ref].plan.have == again.path


def test_destination_override_stays_inside_the_library(civ, library, catalog) -> None:  # type: ignore[no-untyped-def]
    model, _, _ = lora_model(civ, "Placed", 41)
    other, _, _ = lora_model(civ, "Escaper", 42)
    results = run(
        make_sync(catalog, library, civ),
        GetRequest(f"civitai:{model.id}", Path("models/Lora/styles")),
        GetRequest(f"civitai:{other.id}", library.root.parent / "elsewhere"),
    )
    assert results[f"civitai:{model.id}"].path == (
        library.root / "models/Lora/styles/placed.safetensors"
    )
    escaped = results[f"civitai:{other.id}"]
    assert escaped.status is GetStatus.FAILED and "outside the library root" in escaped.error
    assert not (library.root.parent / "elsewhere").exists()


# --- failures ------------------------------------------------------------------------------


def test_failures_are_reported_by_reference_while_the_rest_succeed(  # type: ignore[no-untyped-def]
    civ, library, catalog
) -> None:
    good, _, _ = lora_model(civ, "Good", 51)
    login, login_v, _ = lora_model(civ, "Members", 52)
    login_v.login_required = True
    early, early_v, _ = lora_model(civ, "Soon", 53)
    early_v.early_access_deadline = "2031-01-01T00:00:00.000Z"
    disabled, disabled_v, _ = lora_model(civ, "Locked", 54)
    disabled_v.downloads_disabled = True
    archived, _, _ = lora_model(civ, "Gone", 55, mode="Archived")
    wrong = civ.add_model("Wrong Hash", type="LORA")
    civ.add_file(
        civ.add_version(wrong), "wrong.safetensors", lora_bytes(56), published_sha256="AB" * 32
    )
    html = civ.add_model("Html", type="LORA")
    civ.add_file(
        civ.add_version(html),
        "html.safetensors",
        b"<!DOCTYPE html><html><body>Log in to download</body></html>" + b" " * 2000,
        publish_hashes=False,
    )
    mislabelled = civ.add_model("Not A Lora", type="LORA")
    civ.add_file(civ.add_version(mislabelled), "notalora.safetensors", checkpoint_bytes(57))
    evil = civ.add_model("Evil", type="Checkpoint")
    civ.add_file(civ.add_version(evil), "evil.ckpt", malicious_ckpt_bytes(), format="PickleTensor")

    sync = make_sync(catalog, library, civ, token=None, jobs=3)
    results = run(
        sync,
        *(f"civitai:{m.id}" for m in (good, login, early, disabled, archived)),
        *(f"civitai:{m.id}" for m in (wrong, html, mislabelled, evil)),
        "civitai:999999",
    )
    expect = [
        (login, ("login required", "CIVITAI_TOKEN")),
        (early, ("early access until 2031-01-01",)),
        (disabled, ("disabled downloads",)),
        (archived, ("archived",)),
        (wrong, ("SHA256",)),
        (html, ("instead of a model file",)),
        (mislabelled, ("says lora, but the file is a checkpoint",)),
        (evil, ("would run code",)),
    ]
    assert results[f"civitai:{good.id}"].status is GetStatus.DOWNLOADED
    for model, words in expect:
        result = results[f"civitai:{model.id}"]
        assert result.status is GetStatus.FAILED, model.name
        assert f"civitai:{model.id}" in result.error and "\n" not in result.error
        for word in words:
            assert word in result.error, (model.name, result.error)
    assert "not found" in results["civitai:999999"].error
    placed = sorted(p.name for p in library.root.rglob("*") if p.is_file())
    assert placed == ["good.civitai.info", "good.json", "good.safetensors"]  # no .part left
    with catalog.session() as session:
        assert [r.name for r in session.exec(select(LocalFile))] == ["good"]


def test_a_dropped_connection_resumes_with_range(civ, library, catalog) -> None:  # type: ignore[no-untyped-def]
    data = checkpoint_bytes(61, extra_kib=2048)
    model = civ.add_model("Big", type="Checkpoint")
    civ.add_file(civ.add_version(model), "big.safetensors", data)
    civ.fail("/files/", Failure.DROP, after_bytes=700_000)
    result = run(make_sync(catalog, library, civ), f"civitai:{model.id}")[f"civitai:{model.id}"]
    assert result.status is GetStatus.DOWNLOADED, result.error
    assert (library.root / "models/Stable-diffusion/big.safetensors").read_bytes() == data
    ranges = [r.header("Range") for r in civ.requests_to("/files/")]
    assert any(r and r.startswith("bytes=") and r != "bytes=0-" for r in ranges)
    assert civ.count("/api/download/") == 2  # a fresh signed URL for the resume
    assert result.download.bytes_fetched < 2 * len(data)


def test_cancel_keeps_the_part_and_the_next_run_resumes_it(civ, library, catalog) -> None:  # type: ignore[no-untyped-def]
    data = checkpoint_bytes(71, extra_kib=3072)
    model = civ.add_model("Slow", type="Checkpoint")
    civ.add_file(civ.add_version(model), "slow.safetensors", data)
    civ.chunk_delay = 0.005
    cancel = threading.Event()

    def on_progress(event) -> None:  # type: ignore[no-untyped-def]
        if event.done > 300_000:
            cancel.set()

    ref = f"civitai:{model.id}"
    first = run(make_sync(catalog, library, civ, cancel=cancel, on_progress=on_progress), ref)[ref]
    assert first.status is GetStatus.CANCELLED
    folder = library.root / "models/Stable-diffusion"
    (part,) = folder.glob("*.part")
    assert 0 < part.stat().st_size < len(data)
    assert not (folder / "slow.safetensors").exists()
    with catalog.session() as session:
        assert session.exec(select(LocalFile)).all() == []

    civ.chunk_delay = 0.0
    second = run(make_sync(catalog, library, civ), ref)[ref]
    assert second.status is GetStatus.DOWNLOADED, second.error
    assert second.download.resumed_from > 0
    assert (folder / "slow.safetensors").read_bytes() == data
    assert not list(folder.glob("*.part"))


# --- list files ------------------------------------------------------------------------------


def test_list_syntax_comments_destinations_and_bad_lines(civ) -> None:  # type: ignore[no-untyped-def]
    parse = ref_parser(CivitaiClient(civ.base_url), None)
    text = "\n".join(
        [
            "# my LoRAs",
            "civitai:1@2",
            "",
            "   civitai:3   # trailing comment",
            f"{civ.base_url}/models/5?modelVersionId=6 -> models/Lora/styles",
            "hf:acme/ink/ink.safetensors -> ../outside",
            "not a reference at all",
            "models/Lora/local.safetensors",
            "civitai:abc",
            "ABCDEF0123",
        ]
    )
    requests, problems = parse_list(text, name="list.txt", parse=parse)
    assert [(r.text, r.dest, r.where) for r in requests] == [
        ("civitai:1@2", None, "list.txt:2"),
        ("civitai:3", None, "list.txt:4"),
        (f"{civ.base_url}/models/5?modelVersionId=6", Path("models/Lora/styles"), "list.txt:5"),
        ("ABCDEF0123", None, "list.txt:10"),
    ]
    assert [p.where for p in problems] == ["list.txt:6", "list.txt:7", "list.txt:8", "list.txt:9"]
    assert "'..'" in problems[0].message and "local file" in problems[2].message


def test_preview_is_not_fetched_twice_and_nothing_written_for_unknown_images(  # type: ignore[no-untyped-def]
    civ, library, catalog
) -> None:
    model, version, _ = lora_model(civ, "Mature Only", 81)
    civ.add_image(version, data=png("red"), nsfw_level=8)
    ref = f"civitai:{model.id}"
    run(make_sync(catalog, library, civ), ref)
    folder = library.root / "models/Lora"
    assert not list(folder.glob("*.preview.*"))
    with catalog.session() as session:
        assert not session.exec(select(Preview).where(Preview.file_id.is_not(None))).all()
