"""Helpers for driving the terminal browser in tests: demo libraries, apps, waiting for workers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from sdhub.hub.demo import DemoLibrary, build_demo
from sdhub.tui.app import SdhubApp
from textual.pilot import Pilot

from sdhub.config import Settings

SIZE = (160, 48)


def demo_settings(demo: DemoLibrary, **changes: Any) -> Settings:
    """Settings pointing at a demo library and its own catalog (never the test's SDHUB_HOME)."""
    settings = Settings(
        home=demo.home,
        db_url=demo.db_url,
        library=demo.root,
        layout="a1111",
        civitai_url="http://127.0.0.1:9",
    )
    return replace(settings, **changes)


def make_demo(folder: Path) -> DemoLibrary:
    """A demo library without the torch part (fast: about a second)."""
    return build_demo(folder, renderable=False)


def make_app(demo: DemoLibrary, **changes: Any) -> SdhubApp:
    return SdhubApp(demo_settings(demo, **changes))


@contextlib.asynccontextmanager
async def running(demo: DemoLibrary, **changes: Any) -> AsyncIterator[tuple[SdhubApp, Pilot]]:
    """The app on ``demo`` (settings ``changes`` applied) at :data:`SIZE`, settled: its
    first screen is drawn and its first workers are done."""
    app = make_app(demo, **changes)
    async with app.run_test(size=SIZE) as pilot:
        await settle(pilot)
        yield app, pilot


async def settle(pilot: Pilot) -> None:
    """Until no worker runs and the detail timer has fired (the UI shows the final state)."""
    app = pilot.app
    idle = 0
    for _ in range(100):
        await pilot.pause(0.04)
        busy = any(w.is_running for w in app.workers)
        if busy:
            await app.workers.wait_for_complete()
            idle = 0
        else:
            idle += 1
            if idle >= 3:  # the detail timer (60 ms) had its chance
                return


async def wait_for(pilot: Pilot, condition, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    """Poll ``condition()`` while the app runs."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for the app")
        await pilot.pause(0.05)


def table_names(app: SdhubApp) -> list[str]:
    """The names of the rows of the library table, in order (rows not loaded yet: '?')."""
    from sdhub.tui.widgets.asset_table import AssetTable

    table = app.screen.query_one(AssetTable)
    return [row.name if row else "?" for row in table.loaded_rows()]


def widget_text(app: SdhubApp, selector: str) -> str:
    """The plain text a Static shows (rich renderables rendered at a wide width)."""
    from rich.console import Console
    from rich.text import Text
    from textual.content import Content
    from textual.widgets import Static

    widget = app.screen.query_one(selector, Static)
    content = widget.content if hasattr(widget, "content") else widget.renderable
    if isinstance(content, str):
        return content
    if isinstance(content, (Text, Content)):
        return content.plain
    console = Console(width=300, record=True, file=None, color_system=None)
    with console.capture() as capture:
        console.print(content)
    return capture.get()


def run_async(test):  # type: ignore[no-untyped-def]
    """Run an ``async def`` test with asyncio (the suite has no async pytest plugin)."""
    import functools

    @functools.wraps(test)
    def wrapper(*args, **kwargs):  # type: ignore[no-untyped-def]
        return asyncio.run(test(*args, **kwargs))

    return wrapper
