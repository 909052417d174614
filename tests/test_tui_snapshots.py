"""Snapshots of the main screens (pytest-textual-snapshot): visual regressions show as diffs.

Deterministic data: the demo library (seeded sample files) built at a fixed
path, so the paths on screen are the same on every run; the remote results
and the download queue are filled from fixed answers. One process at a
time builds and uses the fixed folder (a lock file, and one xdist group).
Update after an intended change: ``pytest tests/test_tui_snapshots.py --snapshot-update``.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sdhub.hub.browse import civitai_hit
from sdhub.hub.civitai import CivitaiModel
from sdhub.hub.demo import DemoLibrary, build_demo
from sdhub.tui.widgets.asset_table import AssetTable
from support.fake_civitai import TOKEN, FakeCivitai
from support.hub_files import lora_bytes
from support.tui_app import SIZE, make_app, settle, wait_for
from textual.widgets import Input

pytestmark = pytest.mark.xdist_group("tui-snapshots")

#: Not tempfile.gettempdir(): the path is on screen, so it must not follow $TMPDIR.
SNAP_ROOT = Path("/tmp/sdhub-tui-snapshots")


@pytest.fixture(scope="module")
def demo() -> Iterator[DemoLibrary]:
    SNAP_ROOT.parent.mkdir(parents=True, exist_ok=True)
    with open(SNAP_ROOT.parent / "sdhub-tui-snapshots.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(SNAP_ROOT, ignore_errors=True)
        yield build_demo(SNAP_ROOT / "demo", renderable=False)
        shutil.rmtree(SNAP_ROOT, ignore_errors=True)


async def _cursor_to(pilot, name: str) -> None:  # type: ignore[no-untyped-def]
    await settle(pilot)
    table = pilot.app.screen.query_one(AssetTable)
    names = [row.name for row in table.loaded_rows()]
    table.move_cursor(names.index(name))
    await settle(pilot)


def test_library_screen(snap_compare, demo: DemoLibrary) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _cursor_to(pilot, "neon-cyberpunk-xl")

    assert snap_compare(make_app(demo), terminal_size=SIZE, run_before=run_before)


def test_library_unsafe_and_filter_panel(snap_compare, demo: DemoLibrary) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("f")
        await _cursor_to(pilot, "free-realistic-UNSAFE")

    assert snap_compare(make_app(demo), terminal_size=SIZE, run_before=run_before)


def test_detail_screen(snap_compare, demo: DemoLibrary) -> None:  # type: ignore[no-untyped-def]
    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await _cursor_to(pilot, "watercolor-style")
        await pilot.press("plus", "plus", "enter")
        await settle(pilot)

    assert snap_compare(make_app(demo), terminal_size=SIZE, run_before=run_before)


def _model_json(model_id: int, name: str, kind: str, versions: list[dict[str, Any]]) -> dict:
    return {
        "id": model_id,
        "name": name,
        "type": kind,
        "description": f"<p>{name}: a <b>fixed</b> answer for the snapshot.</p>",
        "nsfw": False,
        "creator": {"username": "snapshot"},
        "tags": ["style"],
        "stats": {"downloadCount": 1000 + model_id},
        "modelVersions": versions,
    }


def _version_json(version_id: int, name: str, base: str, files: list[tuple[str, int]]) -> dict:
    return {
        "id": version_id,
        "name": name,
        "baseModel": base,
        "trainedWords": ["snap"],
        "status": "Published",
        "publishedAt": "2025-01-02T03:04:05.000Z",
        "files": [
            {
                "id": version_id * 10 + i,
                "name": file_name,
                "type": "Model",
                "sizeKB": size / 1024,
                "primary": i == 0,
                "metadata": {"format": "SafeTensor", "fp": "fp16", "size": "pruned"},
                "hashes": {"SHA256": f"{version_id:08X}" * 8},
            }
            for i, (file_name, size) in enumerate(files)
        ],
    }


def test_remote_search_results(snap_compare, demo: DemoLibrary) -> None:  # type: ignore[no-untyped-def]
    models = [
        _model_json(
            11,
            "Watercolor Washes",
            "LORA",
            [
                _version_json(111, "v2.0", "SD 1.5", [("watercolor-v2.safetensors", 151_000_000)]),
                _version_json(110, "v1.0", "SD 1.5", [("watercolor-v1.safetensors", 144_000_000)]),
            ],
        ),
        _model_json(
            12,
            "XL Base Demo",
            "Checkpoint",
            [_version_json(121, "v1.0", "SDXL 1.0", [("xl-base.safetensors", 6_938_000_000)])],
        ),
        _model_json(
            13,
            "Bad Hands Negative",
            "TextualInversion",
            [_version_json(131, "v1", "SD 1.5", [("bad-hands.pt", 25_000)])],
        ),
    ]
    hits = [civitai_hit(CivitaiModel.parse(m), "https://civitai.com") for m in models]
    hits[0].in_library = hits[0].update_available = True
    hits[0].versions[1].in_library = True
    hits[0].versions[1].files[0].in_library = True

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await pilot.press("2")
        await settle(pilot)
        await pilot.press(*"water")
        screen = pilot.app.screen
        screen._page(screen.generation, hits, iter(()))
        await settle(pilot)

    assert snap_compare(make_app(demo), terminal_size=SIZE, run_before=run_before)


def test_settings_screen(snap_compare, demo: DemoLibrary) -> None:  # type: ignore[no-untyped-def]
    app = make_app(demo, civitai_token="civitai-secret-token-1234", hf_token=None)

    async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
        await settle(pilot)
        await pilot.press("comma")
        await settle(pilot)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False  # a blinking cursor would make the snapshot flaky
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZE, run_before=run_before)


def test_downloads_screen(snap_compare, demo: DemoLibrary) -> None:  # type: ignore[no-untyped-def]
    civ = FakeCivitai(tokens={TOKEN}).start()
    try:
        good = civ.add_model("Snapshot Style", type="LORA", id=501)
        good_version = civ.add_version(good, id=5001, trained_words=["snapstyle"])
        civ.add_file(good_version, "snapshot-style.safetensors", lora_bytes(seed=11))
        bad = civ.add_model("Wrong Hash", type="LORA", id=502)
        bad_version = civ.add_version(bad, id=5002)
        civ.add_file(
            bad_version, "wrong-hash.safetensors", lora_bytes(seed=12), published_sha256="CD" * 32
        )
        refs = [
            (f"civitai:{m.id}@{v.id}", m.name)
            for m, v in ((good, good_version), (bad, bad_version))
        ]

        async def run_before(pilot) -> None:  # type: ignore[no-untyped-def]
            queue = pilot.app.services.queue()
            for ref, label in refs:
                queue.add(ref, label=label)
            await wait_for(pilot, lambda: not queue.active, timeout=20)
            await pilot.press("3")
            await settle(pilot)

        app = make_app(demo, civitai_url=civ.base_url, civitai_token=TOKEN)
        assert snap_compare(app, terminal_size=SIZE, run_before=run_before)
    finally:
        civ.stop()
        for path in demo.root.rglob("snapshot-style*"):
            path.unlink()
