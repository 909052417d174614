"""The library screen driven like a person would: filter, sort, select, copy, trash, place."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sdhub.catalog import LocalFile, open_catalog
from sdhub.hub.demo import DemoLibrary
from sdhub.tui.screens.detail import DetailScreen
from sdhub.tui.widgets.asset_table import AssetTable
from sdhub.tui.widgets.detail_pane import DetailPane
from sqlmodel import select
from support.tui_app import (
    make_demo,
    run_async,
    running,
    settle,
    table_names,
    wait_for,
    widget_text,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoLibrary:
    """One demo library for the tests that only look (module-scoped: built once)."""
    return make_demo(tmp_path_factory.mktemp("tui-demo") / "demo")


@pytest.fixture
def own_demo(tmp_path: Path) -> DemoLibrary:
    """A demo library a test may change (trash, place)."""
    return make_demo(tmp_path / "demo")


def _catalog_names(demo: DemoLibrary) -> set[str]:
    catalog = open_catalog(demo.db_url)
    with catalog.session() as session:
        names = set(
            session.exec(select(LocalFile.name).where(LocalFile.missing == False))  # noqa: E712
        )
    catalog.close()
    return names


async def _type_filter(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    await pilot.press("slash", *text)
    await settle(pilot)


async def _select(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    """Filter down to one asset and put the cursor on it."""
    await _type_filter(pilot, text)
    await pilot.press("enter")  # back to the table
    await settle(pilot)


@run_async
async def test_opens_on_every_asset_of_the_catalog(demo: DemoLibrary) -> None:
    async with running(demo) as (app, _):
        table = app.screen.query_one(AssetTable)
        assert table.ready_rows
        names = table_names(app)
        assert set(names) == _catalog_names(demo)
        assert names == sorted(names, key=str.lower)  # sorted by name
        assert "26 assets" in widget_text(app, "#filter-count")


@run_async
async def test_filter_as_you_type_matches_names_and_trigger_words(demo: DemoLibrary) -> None:
    async with running(demo) as (app, pilot):
        await _type_filter(pilot, "water")
        assert set(table_names(app)) == {"watercolor-style", "watercolor-v1"}
        assert "2 of 26" in widget_text(app, "#filter-count")
        # A trigger word that is in no file name.
        await pilot.press(*["backspace"] * 5, *"neon city")
        await settle(pilot)
        assert table_names(app) == ["neon-cyberpunk-xl"]
        # Esc clears the filter.
        await pilot.press("escape")
        await settle(pilot)
        assert len(table_names(app)) == 26


@run_async
async def test_filter_by_hash_prefix(demo: DemoLibrary) -> None:
    catalog = open_catalog(demo.db_url)
    with catalog.session() as session:
        sha = session.exec(select(LocalFile.sha256).where(LocalFile.name == "xl-sunset")).one()
    catalog.close()
    async with running(demo) as (app, pilot):
        await _type_filter(pilot, sha[:8].lower())
        assert table_names(app) == ["xl-sunset"]


@run_async
async def test_filter_panel_unsafe_duplicates_and_kinds(demo: DemoLibrary) -> None:
    from textual.widgets import SelectionList

    async with running(demo) as (app, pilot):
        await pilot.press("f")
        await settle(pilot)
        flags = app.screen.query_one("#filter-flags", SelectionList)
        flags.select("unsafe")
        await settle(pilot)
        assert table_names(app) == ["free-realistic-UNSAFE"]
        flags.deselect("unsafe")
        flags.select("duplicates")
        await settle(pilot)
        assert table_names(app) == ["watercolor-style", "watercolor-v1"]
        flags.deselect("duplicates")
        kinds = app.screen.query_one("#filter-kinds", SelectionList)
        kinds.select("hypernetwork")
        await settle(pilot)
        assert table_names(app) == ["anime-lineart"]


@run_async
async def test_sort_by_clicking_a_header_and_reversing(demo: DemoLibrary) -> None:
    async with running(demo) as (app, pilot):
        table = app.screen.query_one(AssetTable)
        await _type_filter(pilot, "xl")
        await pilot.press("enter")
        # Click the "Size" header: biggest first.
        await pilot.click(AssetTable, offset=(_header_x(table, "size"), 0))
        await settle(pilot)
        sizes = [row.size for row in table.loaded_rows()]
        assert len(sizes) > 3
        assert sizes == sorted(sizes, reverse=True)
        await pilot.press("S")  # reverse
        await settle(pilot)
        sizes = [row.size for row in table.loaded_rows()]
        assert sizes == sorted(sizes)


def _header_x(table: AssetTable, key: str) -> int:
    from sdhub.tui.widgets.asset_table import COLUMNS

    x = 0
    for column, width in zip(COLUMNS, table._column_widths(), strict=True):
        if not width:
            continue
        if column.key == key:
            return x + 1
        x += width + 1
    raise AssertionError(key)


@run_async
async def test_copy_snippet_with_trigger_words_and_nudged_weight(demo: DemoLibrary) -> None:
    async with running(demo) as (app, pilot):
        await _select(pilot, "wtrclr")
        await pilot.press("c")
        assert app.clipboard == "<lora:watercolor-style:0.7>, wtrclr, watercolor painting"
        await pilot.press("plus", "plus", "c")
        assert app.clipboard == "<lora:watercolor-style:0.8>, wtrclr, watercolor painting"
        await pilot.press("minus", "minus", "minus", "minus", "c")
        assert app.clipboard == "<lora:watercolor-style:0.6>, wtrclr, watercolor painting"
        await pilot.press("0", "c")
        assert app.clipboard.startswith("<lora:watercolor-style:0.7>")


@run_async
async def test_copy_negative_embedding_and_hypernetwork(demo: DemoLibrary) -> None:
    async with running(demo) as (app, pilot):
        await _select(pilot, "easynegative")
        await pilot.press("c")
        assert app.clipboard == "easynegative"  # the negative prompt's text
        await pilot.press("escape")
        await _select(pilot, "lineart")
        await pilot.press("c")
        assert app.clipboard == "<hypernet:anime-lineart:0.6>, lineart"


@run_async
async def test_detail_pane_shows_warnings_words_and_source(demo: DemoLibrary) -> None:
    async with running(demo) as (app, pilot):
        await _select(pilot, "UNSAFE")
        notes = widget_text(app, "#detail-notes")
        assert "unsafe pickle" in notes and "posix.system" in notes
        await pilot.press("escape")
        await _select(pilot, "misplaced")
        assert "misplaced: a lora belongs in models/Lora" in widget_text(app, "#detail-notes")
        await pilot.press("escape")
        await _select(pilot, "neon-cyberpunk")
        facts = widget_text(app, "#detail-facts")
        assert "neon city, cyberpunk" in facts
        assert "0.7  (range 0.6–0.8)" in facts and "description" in facts
        assert "Civitai" in facts
        description = widget_text(app, "#detail-description")
        assert "Rain-soaked neon streets." in description and "<p>" not in description


@run_async
async def test_enter_opens_the_full_detail_with_every_hash(demo: DemoLibrary) -> None:
    async with running(demo) as (app, pilot):
        await _select(pilot, "cozy-cabin")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, DetailScreen)
        facts = widget_text(app, "#detail-facts")
        for label in ("SHA256", "AutoV2", "AutoV1", "CRC32", "BLAKE3"):
            assert label in facts
        await pilot.press("c")
        assert app.clipboard == "cozy-cabin"
        await pilot.press("escape")
        assert not isinstance(app.screen, DetailScreen)


@run_async
async def test_trash_asks_then_moves_the_file_and_its_sidecars(own_demo: DemoLibrary) -> None:
    model = own_demo.root / "models/Lora/watercolor-style.safetensors"
    async with running(own_demo) as (app, pilot):
        await _select(pilot, "wtrclr")
        await pilot.press("delete")
        await settle(pilot)
        await pilot.press("n")  # changed my mind
        await settle(pilot)
        assert model.exists()
        await pilot.press("delete")
        await settle(pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: not model.exists())
        await settle(pilot)
        assert table_names(app) == []  # gone from the list
    trashed = list((own_demo.home / "trash").rglob("watercolor-style.*"))
    assert {p.name for p in trashed} == {
        "watercolor-style.safetensors",
        "watercolor-style.json",
        "watercolor-style.preview.png",
    }
    assert "watercolor-style" not in _catalog_names(own_demo)


@run_async
async def test_place_moves_a_misplaced_lora_home(own_demo: DemoLibrary) -> None:
    old = own_demo.root / "embeddings/misplaced-sd21-style.safetensors"
    new = own_demo.root / "models/Lora/misplaced-sd21-style.safetensors"
    async with running(own_demo) as (app, pilot):
        await _select(pilot, "misplaced")
        await pilot.press("p")
        await settle(pilot)
        await pilot.press("y")
        await wait_for(pilot, new.exists)
        await settle(pilot)
        assert "misplaced" not in widget_text(app, "#detail-notes")
        assert "models/Lora/misplaced-sd21-style.safetensors" in widget_text(app, "#detail-facts")
    assert not old.exists()
    sidecar = json.loads(new.with_suffix(".json").read_text())
    assert sidecar["activation text"] == "sd21style"


@run_async
async def test_detail_follows_the_cursor(demo: DemoLibrary) -> None:
    async with running(demo) as (app, pilot):
        table = app.screen.query_one(AssetTable)
        await pilot.press("down", "down")
        await settle(pilot)
        pane = app.screen.query_one(DetailPane)
        assert pane.detail is not None
        assert pane.detail.asset.id == table.current_id
        assert widget_text(app, "#detail-title").startswith(table.current_row.name)
