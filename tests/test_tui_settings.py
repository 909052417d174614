"""The settings screen: library root, layout and tokens saved to the config file, user-only."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest
from sdhub.hub.demo import DemoLibrary
from sdhub.tui.screens.settings import SettingsScreen
from support.tui_app import make_demo, run_async, running, settle
from textual.widgets import Input, Static, Switch

from sdhub.config import load_settings


@pytest.fixture
def demo(tmp_path: Path) -> DemoLibrary:
    return make_demo(tmp_path / "demo")


def _all_text(app) -> str:  # type: ignore[no-untyped-def]
    """Everything the screen shows in its labels and statics (tokens must not be there)."""
    parts = []
    for widget in app.screen.query(Static):
        content = getattr(widget, "content", "")
        parts.append(str(getattr(content, "plain", content)))
    return "\n".join(parts)


@run_async
async def test_settings_save_to_a_user_only_config_and_never_show_tokens(
    demo: DemoLibrary, sdhub_home: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other-webui"
    (other / "models" / "Lora").mkdir(parents=True)
    old_token = "old-civitai-key-0000000042"
    async with running(demo, home=sdhub_home, civitai_token=old_token) as (app, pilot):
        await pilot.press("comma")
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)
        text = _all_text(app)
        assert "old-civitai-key" not in text and "••••••••42" in text
        screen = app.screen
        screen.query_one("#set-library", Input).value = str(other)
        token_field = screen.query_one("#set-civitai-token", Input)
        assert token_field.password  # typed characters show as bullets
        token_field.value = "new-civitai-key-1234567890"
        screen.query_one("#set-hf-token", Input).value = "hf_new_token_abcdef"
        screen.query_one("#set-nsfw", Switch).value = True
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, SettingsScreen)
        assert app.services.settings.library == other
        assert app.services.settings.civitai_token == "new-civitai-key-1234567890"
    config = sdhub_home / "config.toml"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    data = tomllib.loads(config.read_text())
    assert data["library"] == str(other)
    assert data["civitai_token"] == "new-civitai-key-1234567890"
    assert data["hf_token"] == "hf_new_token_abcdef"
    assert data["nsfw"] is True
    settings = load_settings()  # SDHUB_HOME is the test's home: the file is what counts
    assert settings.library == other and settings.nsfw


@run_async
async def test_forget_removes_a_token_and_a_missing_folder_is_refused(
    demo: DemoLibrary, sdhub_home: Path
) -> None:
    from sdhub.config import save_config

    save_config(sdhub_home, {"hf_token": "hf_old_token_0000"})
    async with running(demo, home=sdhub_home, hf_token="hf_old_token_0000") as (app, pilot):
        await pilot.press("comma")
        await settle(pilot)
        screen = app.screen
        screen.query_one("#set-library", Input).value = "/no/such/folder"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, SettingsScreen)  # refused, still open
        screen.query_one("#set-library", Input).value = str(demo.root)
        await pilot.click("#forget-hf-token")
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not isinstance(app.screen, SettingsScreen)
    data = tomllib.loads((sdhub_home / "config.toml").read_text())
    assert "hf_token" not in data


def test_a_new_library_in_settings_takes_the_download_queue_with_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saving another library folder must not leave downloads going into the old one."""
    from dataclasses import replace

    from sdhub.tui.services import Services

    first, second = tmp_path / "webui-a", tmp_path / "webui-b"
    first.mkdir()
    second.mkdir()
    monkeypatch.setenv("SDHUB_LIBRARY", str(first))
    services = Services(load_settings())
    try:
        queue = services.queue()
        assert queue.sync.library.root == first
        services.reload(replace(services.settings, nsfw=services.settings.nsfw))
        assert services.queue() is queue  # nothing the queue depends on changed

        services.reload(replace(services.settings, library=second))
        moved = services.queue()
        assert moved is not queue and moved.sync.library.root == second
        assert moved.sync.catalog is services.catalog

        services.reload(replace(services.settings, jobs=services.settings.jobs + 1))
        assert services.queue() is not moved
    finally:
        services.close()
