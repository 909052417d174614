"""Fixtures for the hub's jobs (get/sync, enrich, the download queue, the browser's downloads).

An empty WebUI install with the folders downloads land in, a catalog in a
real SQLite file, and the fake Civitai by its short name. ``tests/conftest.py``
registers this module (and the fake servers' modules) for every test module,
so a test just names the fixture. Imports of sdhub happen inside the fixtures:
registering the module costs nothing to tests that do not use them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from .fake_civitai import FakeCivitai

if TYPE_CHECKING:
    from sdhub.catalog import Catalog, Library

#: The folders of an A1111 install that the hub tests download into.
WEBUI_FOLDERS = ("models/Stable-diffusion", "models/Lora", "embeddings")


@pytest.fixture
def civ(fake_civitai: FakeCivitai) -> FakeCivitai:
    """The running fake Civitai (:func:`support.fake_civitai.fake_civitai`), short name."""
    return fake_civitai


@pytest.fixture
def webui_root(tmp_path: Path) -> Path:
    """An empty A1111 install: checkpoint, LoRA and embedding folders, nothing in them."""
    root = tmp_path / "webui"
    for folder in WEBUI_FOLDERS:
        (root / folder).mkdir(parents=True)
    return root


@pytest.fixture
def library(webui_root: Path) -> Library:
    """:func:`webui_root` as the library sdhub downloads into (A1111 layout)."""
    from sdhub.catalog import open_library
    from sdhub.models.layouts import Layout

    return open_library(webui_root, Layout.A1111)


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Catalog]:
    """A new catalog in a SQLite file of the test's own."""
    from sdhub.catalog import open_catalog

    catalog = open_catalog(f"sqlite:///{tmp_path / 'catalog.db'}")
    yield catalog
    catalog.close()
