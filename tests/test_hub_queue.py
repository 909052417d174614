"""The download queue behind the browser's downloads screen: run, cancel, resume, fail, record."""

from __future__ import annotations

import time

from PIL import Image
from sdhub.catalog import Library, LocalFile, find_asset, open_catalog, open_library
from sdhub.hub.browse import civitai_hit, download_request
from sdhub.hub.civitai import CivitaiClient
from sdhub.hub.queue import DownloadQueue, ItemState, QueueItem
from sdhub.hub.sync import GetRequest, GetStatus, Sync
from sdhub.models.layouts import Layout
from sqlmodel import select
from support.fake_civitai import TOKEN, FakeCivitai
from support.hub_files import FAST_RETRY, checkpoint_bytes, lora_bytes, png


def _ref(civ: FakeCivitai, name: str, data: bytes, **file_args) -> GetRequest:  # type: ignore[no-untyped-def]
    """Publish one model with one file; the reference ``sdhub get`` would take for it."""
    model = civ.add_model(name.title(), type="Checkpoint" if "ckpt" in name else "LORA")
    version = civ.add_version(model, trained_words=[name])
    civ.add_file(version, f"{name}.safetensors", data, **file_args)
    return GetRequest(f"civitai:{model.id}@{version.id}")


def _queue(civ: FakeCivitai, library: Library, catalog, on_change=None, **kwargs) -> DownloadQueue:  # type: ignore[no-untyped-def]
    client = CivitaiClient(civ.base_url, TOKEN, retry=FAST_RETRY)
    return DownloadQueue(Sync(catalog, library, civitai=client, **kwargs), on_change=on_change)


def _fetch(queue: DownloadQueue, ref: GetRequest, label: str | None = None) -> QueueItem:
    """Queue one reference and wait until the queue is idle again."""
    item = queue.add(ref, label=label)
    assert queue.wait(timeout=20)
    return item


def _wait(queue: DownloadQueue, item: QueueItem, *states: ItemState, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while item.state not in states:
        assert time.monotonic() < deadline, f"stuck in {item.state}: {item.message}"
        time.sleep(0.01)


def test_a_download_is_placed_and_catalogued_with_its_civitai_knowledge(
    fake_civitai: FakeCivitai, library: Library, catalog
) -> None:  # type: ignore[no-untyped-def]
    ref = _ref(fake_civitai, "mystyle", lora_bytes(seed=3))
    events: list[tuple[int, ItemState]] = []
    with _queue(
        fake_civitai, library, catalog, on_change=lambda item: events.append((item.id, item.state))
    ) as queue:
        item = _fetch(queue, ref, "My Style")
    assert item.state is ItemState.DONE, item.message
    path = library.root / "models/Lora/mystyle.safetensors"
    assert item.path == path and path.read_bytes() == lora_bytes(seed=3)
    assert events[0][1] is ItemState.QUEUED
    assert events[-1][1] is ItemState.DONE
    with catalog.session() as session:
        row = session.exec(select(LocalFile).where(LocalFile.name == "mystyle")).one()
    assert row.id == item.file_id and row.remote_version_id is not None
    # The A1111 sidecar carries Civitai's trigger words.
    assert '"activation text": "mystyle"' in path.with_suffix(".json").read_text()
    assert queue.totals() == (len(lora_bytes(seed=3)), len(lora_bytes(seed=3)))


def test_cancel_keeps_the_part_and_retry_resumes_it(
    fake_civitai: FakeCivitai, library: Library, catalog
) -> None:  # type: ignore[no-untyped-def]
    data = checkpoint_bytes(seed=1, extra_kib=3072)
    ref = _ref(fake_civitai, "bigckpt", data)
    fake_civitai.chunk_delay = 0.01  # a slow link: 64 KiB every 10 ms
    with _queue(
        fake_civitai, library, catalog, downloader_options={"flush_interval": 0.02}
    ) as queue:
        item = queue.add(ref)
        deadline = time.monotonic() + 20
        while item.done < 256 * 1024:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert queue.cancel(item.id)
        _wait(queue, item, ItemState.CANCELLED)
        parts = list((library.root / "models/Stable-diffusion").glob("*.part"))
        assert len(parts) == 1 and 0 < parts[0].stat().st_size < len(data)
        assert not (library.root / "models/Stable-diffusion/bigckpt.safetensors").exists()

        fake_civitai.chunk_delay = 0.0
        fake_civitai.clear_requests()
        assert queue.retry(item.id)
        _wait(queue, item, ItemState.DONE, ItemState.FAILED)
    assert item.state is ItemState.DONE, item.message
    assert (library.root / "models/Stable-diffusion/bigckpt.safetensors").read_bytes() == data
    ranges = [r.header("Range") for r in fake_civitai.requests_to("/files/")]
    assert any(r and r.startswith("bytes=") and r != "bytes=0-" for r in ranges)  # resumed


def test_a_wrong_published_hash_fails_with_a_message_and_places_nothing(
    fake_civitai: FakeCivitai, library: Library, catalog
) -> None:  # type: ignore[no-untyped-def]
    ref = _ref(fake_civitai, "liar", lora_bytes(seed=4), published_sha256="AB" * 32)
    with _queue(fake_civitai, library, catalog) as queue:
        item = _fetch(queue, ref)
    assert item.state is ItemState.FAILED
    assert "SHA256" in (item.message or "")
    assert not list((library.root / "models/Lora").iterdir())
    assert not queue.retry(999)  # unknown items are refused, not raised


def test_already_in_library_is_skipped(
    fake_civitai: FakeCivitai, library: Library, catalog
) -> None:  # type: ignore[no-untyped-def]
    ref = _ref(fake_civitai, "twice", lora_bytes(seed=6))
    with _queue(fake_civitai, library, catalog) as queue:
        first = _fetch(queue, ref)
        second = _fetch(queue, ref)
    assert first.state is ItemState.DONE
    assert second.state is ItemState.SKIPPED
    assert "already in the library" in (second.message or "")


def test_a_file_the_browser_queues_gets_what_sdhub_get_makes_of_it(  # type: ignore[no-untyped-def]
    fake_civitai: FakeCivitai, library: Library, catalog, tmp_path
) -> None:
    model = fake_civitai.add_model("Ink Wash", type="LORA", description="<p>weight 0.6</p>")
    version = fake_civitai.add_version(model, trained_words=["inkwash"])
    fake_civitai.add_file(version, "inkwash.safetensors", lora_bytes(seed=8))
    fake_civitai.add_image(version, data=png("red"), nsfw_level=4)  # rated R: not with NSFW off
    fake_civitai.add_image(version, data=png("blue"), nsfw_level=1)
    client = CivitaiClient(fake_civitai.base_url, TOKEN, retry=FAST_RETRY)
    hit = civitai_hit(client.model(model.id), client.base_url)  # as the remote browser shows it
    request = download_request(hit, hit.versions[0], hit.versions[0].files[0], client)
    assert request.text == f"civitai:{model.id}@{version.id}"
    with DownloadQueue(Sync(catalog, library, civitai=client)) as queue:
        item = _fetch(queue, request, "Ink Wash")
    assert item.state is ItemState.DONE, item.message

    # The same reference through `sdhub get`'s job, into another library and catalog.
    other_root = tmp_path / "other"
    (other_root / "models/Lora").mkdir(parents=True)
    other = open_library(other_root, Layout.A1111)
    with (
        open_catalog(f"sqlite:///{tmp_path / 'other.db'}") as other_catalog,
        Sync(other_catalog, other, civitai=client) as sync,
    ):
        (got,) = sync.run([GetRequest(f"civitai:{model.id}@{version.id}")])
    assert got.status is GetStatus.DOWNLOADED, got.error

    queued = library.root / "models/Lora"
    fetched = other_root / "models/Lora"
    assert sorted(p.name for p in queued.iterdir()) == sorted(p.name for p in fetched.iterdir())
    assert {p.name for p in queued.iterdir()} >= {
        "inkwash.safetensors",
        "inkwash.json",
        "inkwash.civitai.info",
        "inkwash.preview.png",
    }
    for name in ("inkwash.json", "inkwash.civitai.info", "inkwash.preview.png"):
        assert (queued / name).read_bytes() == (fetched / name).read_bytes(), name
    # NSFW off: the PG image is the preview, and the catalog knows the file it became.
    assert Image.open(queued / "inkwash.preview.png").getpixel((0, 0)) == (0, 0, 255)
    with catalog.session() as session:
        asset = find_asset(session, "inkwash", previews=True)
    assert asset.trigger_words == ["inkwash"] and asset.weight.default == 0.6
    assert any(p["source"] == "sidecar" for p in asset.previews)


def test_a_catalogued_file_gone_from_disk_is_fetched_again(  # type: ignore[no-untyped-def]
    fake_civitai: FakeCivitai, library: Library, catalog
) -> None:
    ref = _ref(fake_civitai, "vanished", lora_bytes(seed=9))
    with _queue(fake_civitai, library, catalog) as queue:
        first = _fetch(queue, ref)
        assert first.state is ItemState.DONE and first.path is not None
        first.path.unlink()  # deleted behind the catalog's back: no scan since
        again = _fetch(queue, ref)
    assert again.state is ItemState.DONE, again.message
    assert again.path is not None and again.path.read_bytes() == lora_bytes(seed=9)


def test_the_browser_queues_exactly_the_file_it_shows(  # type: ignore[no-untyped-def]
    fake_civitai: FakeCivitai, library: Library, catalog
) -> None:
    model = fake_civitai.add_model("Two Files", type="LORA")
    version = fake_civitai.add_version(model)
    fake_civitai.add_file(version, "two.safetensors", lora_bytes(seed=10))
    fake_civitai.add_file(version, "two_fp32.safetensors", lora_bytes(seed=11), fp="fp32")
    client = CivitaiClient(fake_civitai.base_url, TOKEN, retry=FAST_RETRY)
    hit = civitai_hit(client.model(model.id), client.base_url)
    shown = hit.versions[0]
    requests = [download_request(hit, shown, file, client) for file in shown.files]
    with Sync(catalog, library, civitai=client) as sync:
        plans = {r.ref: r.plan for r in sync.run(requests, dry_run=True)}
    assert [plans[r.text].name for r in requests] == [f.name for f in shown.files]
    assert requests[0].text == f"civitai:{model.id}@{version.id}"
