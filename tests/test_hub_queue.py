"""The download queue behind the browser's downloads screen: run, cancel, resume, fail, record."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sdhub.catalog import Library, LocalFile, open_catalog, open_library
from sdhub.hub.civitai import CivitaiClient
from sdhub.hub.http import RetryPolicy
from sdhub.hub.queue import DownloadQueue, ItemState, QueueItem
from sdhub.models.layouts import Layout
from sqlmodel import select
from support.fake_civitai import TOKEN, FakeCivitai
from support.hub_files import checkpoint_bytes, lora_bytes

FAST = RetryPolicy(attempts=3, base_delay=0.001, max_delay=0.004)


@pytest.fixture
def fake_civitai() -> Iterator[FakeCivitai]:
    with FakeCivitai(tokens={TOKEN}) as civ:
        yield civ


@pytest.fixture
def library(tmp_path: Path) -> Library:
    root = tmp_path / "webui"
    for folder in ("models/Stable-diffusion", "models/Lora"):
        (root / folder).mkdir(parents=True)
    return open_library(root, Layout.A1111)


@pytest.fixture
def catalog(tmp_path: Path):  # type: ignore[no-untyped-def]
    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield catalog
    catalog.close()


def _job(civ: FakeCivitai, client: CivitaiClient, name: str, data: bytes, **file_args):  # type: ignore[no-untyped-def]
    model = civ.add_model(name.title(), type="Checkpoint" if "ckpt" in name else "LORA")
    version = civ.add_version(model, trained_words=[name])
    civ.add_file(version, f"{name}.safetensors", data, **file_args)
    parsed = client.version(version.id)
    return client.download_job(parsed), client.model(model.id).raw


def _wait(queue: DownloadQueue, item: QueueItem, *states: ItemState, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while item.state not in states:
        assert time.monotonic() < deadline, f"stuck in {item.state}: {item.message}"
        time.sleep(0.01)


def test_a_download_is_placed_and_catalogued_with_its_civitai_knowledge(
    fake_civitai: FakeCivitai, library: Library, catalog
) -> None:  # type: ignore[no-untyped-def]
    client = CivitaiClient(fake_civitai.base_url, TOKEN, retry=FAST)
    job, model_json = _job(fake_civitai, client, "mystyle", lora_bytes(seed=3))
    events: list[tuple[int, ItemState]] = []
    queue = DownloadQueue(
        catalog,
        library,
        on_change=lambda item: events.append((item.id, item.state)),
        civitai_url=fake_civitai.base_url,
    )
    try:
        item = queue.add(job, label="My Style", context={"civitai_model": model_json})
        assert queue.wait(timeout=20)
    finally:
        queue.close()
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
    client = CivitaiClient(fake_civitai.base_url, TOKEN, retry=FAST)
    job, _ = _job(fake_civitai, client, "bigckpt", data)
    fake_civitai.chunk_delay = 0.01  # a slow link: 64 KiB every 10 ms
    queue = DownloadQueue(catalog, library, downloader_options={"flush_interval": 0.02})
    try:
        item = queue.add(job)
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
    finally:
        queue.close()
    assert item.state is ItemState.DONE, item.message
    assert (library.root / "models/Stable-diffusion/bigckpt.safetensors").read_bytes() == data
    ranges = [r.header("Range") for r in fake_civitai.requests_to("/files/")]
    assert any(r and r.startswith("bytes=") and r != "bytes=0-" for r in ranges)  # resumed


def test_a_wrong_published_hash_fails_with_a_message_and_places_nothing(
    fake_civitai: FakeCivitai, library: Library, catalog
) -> None:  # type: ignore[no-untyped-def]
    client = CivitaiClient(fake_civitai.base_url, TOKEN, retry=FAST)
    job, _ = _job(fake_civitai, client, "liar", lora_bytes(seed=4), published_sha256="AB" * 32)
    queue = DownloadQueue(catalog, library)
    try:
        item = queue.add(job)
        assert queue.wait(timeout=20)
    finally:
        queue.close()
    assert item.state is ItemState.FAILED
    assert "SHA256" in (item.message or "")
    assert not list((library.root / "models/Lora").iterdir())
    assert not queue.retry(999)  # unknown items are refused, not raised


def test_already_in_library_is_skipped(
    fake_civitai: FakeCivitai, library: Library, catalog
) -> None:  # type: ignore[no-untyped-def]
    client = CivitaiClient(fake_civitai.base_url, TOKEN, retry=FAST)
    job, _ = _job(fake_civitai, client, "twice", lora_bytes(seed=6))
    queue = DownloadQueue(catalog, library)
    try:
        first = queue.add(job)
        assert queue.wait(timeout=20)
        second = queue.add(job)
        assert queue.wait(timeout=20)
    finally:
        queue.close()
    assert first.state is ItemState.DONE
    assert second.state is ItemState.SKIPPED
    assert "already in the library" in (second.message or "")
