"""The remote browser and the downloads screen, against the fake Civitai and the fake Hub."""

from __future__ import annotations

from pathlib import Path

import pytest
from sdhub.catalog import LocalFile, open_catalog
from sdhub.hub.demo import DemoLibrary
from sdhub.hub.queue import ItemState
from sdhub.tui.screens.downloads import DownloadsScreen
from sdhub.tui.screens.remote import RemoteScreen
from sqlmodel import select
from support.fake_civitai import TOKEN, FakeCivitai
from support.fake_hub import FakeHub
from support.hub_files import checkpoint_bytes, lora_bytes
from support.tui_app import (
    make_demo,
    run_async,
    running,
    settle,
    table_names,
    wait_for,
    widget_text,
)
from textual.widgets import DataTable, Select


@pytest.fixture
def demo(tmp_path: Path) -> DemoLibrary:
    return make_demo(tmp_path / "demo")


def _on(civ: FakeCivitai) -> dict[str, str]:
    """The settings that point the app at the fake Civitai."""
    return {"civitai_url": civ.base_url, "civitai_token": TOKEN}


async def _search(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("2")  # the remote browser opens with the search field focused
    await settle(pilot)
    await pilot.press(*text, "enter")
    await settle(pilot)


async def _downloads_done(pilot) -> None:  # type: ignore[no-untyped-def]
    queue = pilot.app.services.queue()
    await wait_for(pilot, lambda: queue.items() and not queue.active, timeout=20)
    await settle(pilot)


def _catalog_row(demo: DemoLibrary, name: str) -> LocalFile | None:
    catalog = open_catalog(demo.db_url)
    with catalog.session() as session:
        row = session.exec(select(LocalFile).where(LocalFile.name == name)).first()
    catalog.close()
    return row


@run_async
async def test_search_civitai_queue_a_download_and_watch_it_finish(
    demo: DemoLibrary, fake_civitai: FakeCivitai
) -> None:
    model = fake_civitai.add_model("Pastel Dream", type="LORA", creator="painter")
    version = fake_civitai.add_version(
        model,
        name="v2.0",
        trained_words=["pastel", "soft colors"],
        description="<p>Recommended weight 0.6</p>",
    )
    fake_civitai.add_file(version, "pastel-dream.safetensors", lora_bytes(seed=5))
    other = fake_civitai.add_model("Retro Robot", type="Checkpoint")
    fake_civitai.add_file(
        fake_civitai.add_version(other), "retro-robot.safetensors", checkpoint_bytes(seed=2)
    )

    async with running(demo, **_on(fake_civitai)) as (app, pilot):
        await _search(pilot, "pastel")
        screen = app.screen
        assert isinstance(screen, RemoteScreen)
        assert [h.name for h in screen.hits] == ["Pastel Dream"]
        files = screen.query_one("#remote-files", DataTable)
        assert files.row_count == 1
        assert "pastel-dream.safetensors" in str(files.get_row_at(0))
        await pilot.press("d")
        await _downloads_done(pilot)
        # The file is placed where a LoRA belongs, catalogued with Civitai's words and weight.
        placed = demo.root / "models/Lora/pastel-dream.safetensors"
        assert placed.read_bytes() == lora_bytes(seed=5)
        row = _catalog_row(demo, "pastel-dream")
        assert row is not None and row.remote_version_id is not None
        # The hit is now marked "in library".
        await wait_for(pilot, lambda: screen.hits[0].in_library)
        # The downloads screen shows it done.
        await pilot.press("3")
        await settle(pilot)
        assert isinstance(app.screen, DownloadsScreen)
        table = app.screen.query_one("#downloads-table", DataTable)
        assert table.row_count == 1
        cells = [str(c) for c in table.get_row_at(0)]
        assert cells[0] == "done"
        assert "Pastel Dream · pastel-dream.safetensors" in cells[1]
        assert "100%" in cells[2]
        # And the library lists it with its trigger words.
        await pilot.press("1")
        await settle(pilot)
        await pilot.press("slash", *"pastel", "enter")
        await settle(pilot)
        assert table_names(app) == ["pastel-dream"]
        assert "pastel, soft colors" in widget_text(app, "#detail-facts")
        await pilot.press("c")
        assert app.clipboard == "<lora:pastel-dream:0.6>, pastel, soft colors"


@run_async
async def test_update_available_after_downloading_an_older_version(
    demo: DemoLibrary, fake_civitai: FakeCivitai
) -> None:
    model = fake_civitai.add_model("Ink Wash", type="LORA")
    old = fake_civitai.add_version(model, name="v1.0", trained_words=["ink"])
    fake_civitai.add_file(old, "ink-wash-v1.safetensors", lora_bytes(seed=1))
    new = fake_civitai.add_version(model, name="v2.0", trained_words=["ink"])
    fake_civitai.add_file(new, "ink-wash-v2.safetensors", lora_bytes(seed=2))

    async with running(demo, **_on(fake_civitai)) as (app, pilot):
        await _search(pilot, "ink")
        screen = app.screen
        files = screen.query_one("#remote-files", DataTable)
        assert files.row_count == 2  # newest version first
        files.focus()
        files.move_cursor(row=1)
        await pilot.press("d")
        await _downloads_done(pilot)
        await wait_for(pilot, lambda: screen.hits[0].in_library)
        hit = screen.hits[0]
        assert hit.update_available
        assert hit.marks == "✓↑"
        assert "update available" in widget_text(app, "#remote-info")


@run_async
async def test_results_page_in_as_you_scroll(demo: DemoLibrary, fake_civitai: FakeCivitai) -> None:
    for i in range(45):
        model = fake_civitai.add_model(f"Style {i:02d}", type="LORA")
        fake_civitai.add_file(fake_civitai.add_version(model), f"style-{i:02d}.safetensors", b"x")
    async with running(demo, **_on(fake_civitai)) as (app, pilot):
        await _search(pilot, "style")
        screen = app.screen
        assert len(screen.hits) == 20
        results = screen.query_one("#remote-results", DataTable)
        results.focus()
        for _ in range(6):  # each move to the last row asks for the next page
            results.move_cursor(row=results.row_count - 1)
            await settle(pilot)
            if screen.exhausted:
                break
        assert len(screen.hits) == 45
        assert screen.exhausted
        assert len({h.id for h in screen.hits}) == 45


@run_async
async def test_search_hugging_face_and_download_one_file(
    demo: DemoLibrary, fake_hub: FakeHub
) -> None:
    fake_hub.add_repo(
        "someone/pastel-lora",
        {"pastel.safetensors": lora_bytes(seed=9), "README.md": b"# Pastel\n"},
        tags=["lora", "base_model:runwayml/stable-diffusion-v1-5"],
        downloads=10,
    )
    async with running(demo, hf_endpoint=fake_hub.base_url) as (app, pilot):
        await pilot.press("2")
        await settle(pilot)
        app.screen.query_one("#remote-site", Select).value = "hf"
        await settle(pilot)
        await pilot.press("slash", *"pastel", "enter")  # "/" goes back to the search field
        await settle(pilot)
        screen = app.screen
        assert [h.id for h in screen.hits] == ["someone/pastel-lora"]
        files = screen.query_one("#remote-files", DataTable)
        await wait_for(pilot, lambda: files.row_count == 1)  # weights only, README left out
        await pilot.press("d")
        await _downloads_done(pilot)
        item = app.services.queue().items()[0]
        assert item.state is ItemState.DONE, item.message
    placed = demo.root / "models/Lora/pastel.safetensors"
    assert placed.read_bytes() == lora_bytes(seed=9)
    row = _catalog_row(demo, "pastel")
    assert row is not None and row.remote_version_id is not None


@run_async
async def test_search_failure_is_shown_not_raised(demo: DemoLibrary) -> None:
    nowhere = "http://127.0.0.1:9"  # nothing listens there
    async with running(demo, civitai_url=nowhere) as (app, pilot):
        await _search(pilot, "anything")
        assert "Search failed" in widget_text(app, "#remote-status")


@run_async
async def test_enrich_looks_a_local_file_up_on_civitai_by_hash(
    demo: DemoLibrary, fake_civitai: FakeCivitai
) -> None:
    local = demo.root / "models/Lora/ink-sketch-loha.safetensors"
    model = fake_civitai.add_model("Ink Sketch", type="LORA", creator="inker")
    version = fake_civitai.add_version(
        model, name="v3", trained_words=["inksketch", "crosshatch"], description="weight 0.55"
    )
    fake_civitai.add_file(version, "ink-sketch-loha.safetensors", local.read_bytes())
    async with running(demo, **_on(fake_civitai)) as (app, pilot):
        await pilot.press("slash", *"ink-sketch", "enter")
        await settle(pilot)
        assert "not linked" in widget_text(app, "#detail-facts")
        await pilot.press("e")
        await wait_for(pilot, lambda: "inksketch" in widget_text(app, "#detail-facts"))
        facts = widget_text(app, "#detail-facts")
        assert "Civitai" in facts and "0.55" in facts
        assert "Ink Sketch · v3" in widget_text(app, "#detail-title")
        await pilot.press("c")
        assert app.clipboard == "<lora:ink-sketch-loha:0.55>, inksketch, crosshatch"
    assert '"activation text": "inksketch, crosshatch"' in local.with_suffix(".json").read_text()


@run_async
async def test_link_by_hand_a_file_whose_published_hash_is_wrong(
    demo: DemoLibrary, fake_civitai: FakeCivitai
) -> None:
    local = demo.root / "models/Lora/ink-sketch-loha.safetensors"
    model = fake_civitai.add_model("Ink Sketch", type="LORA")
    version = fake_civitai.add_version(model, name="v3", trained_words=["inksketch"])
    fake_civitai.add_file(
        version, "ink-sketch-loha.safetensors", local.read_bytes(), published_sha256="CD" * 32
    )
    async with running(demo, **_on(fake_civitai)) as (app, pilot):
        await pilot.press("slash", *"ink-sketch", "enter")
        await settle(pilot)
        await pilot.press("e")  # by hash: Civitai's hash is wrong, so nothing is found
        await settle(pilot)
        assert "not linked" in widget_text(app, "#detail-facts")
        await pilot.press("L")
        await settle(pilot)
        await pilot.press(*f"{model.id}@{version.id}", "enter")
        await wait_for(pilot, lambda: "inksketch" in widget_text(app, "#detail-facts"))
        assert "Ink Sketch · v3" in widget_text(app, "#detail-title")
    info = local.with_name("ink-sketch-loha.civitai.info")
    assert f'"id": {version.id}' in info.read_text()
    row = _catalog_row(demo, "ink-sketch-loha")
    assert row is not None and row.remote_version_id is not None
