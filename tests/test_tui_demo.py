"""``sdhub demo``: a sample library of every kind, catalogued in its own SDHUB_HOME, offline."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sdhub.catalog import LocalFile, open_catalog
from sdhub.catalog.browse import AssetQuery, BrowseIndex
from sdhub.hub.demo import build_demo, renderable_available
from sdhub.models.kinds import Kind, Verdict
from sdhub.tui.cli import cli
from sqlmodel import select

from sdhub.config import load_settings


def test_demo_no_open_builds_scans_and_prints_where(tmp_path: Path, sdhub_home: Path) -> None:
    dest = tmp_path / "demo"
    result = CliRunner().invoke(
        cli, ["demo", "--path", str(dest), "--no-open", "--no-render-assets"]
    )
    assert result.exit_code == 0, result.output
    root, home = dest / "webui", dest / "sdhub-home"
    assert str(root) in result.stdout
    assert f"SDHUB_HOME={home}" in result.stderr and f"SDHUB_LIBRARY={root}" in result.stderr
    # Its own home: the user's (here the test's) SDHUB_HOME is untouched.
    assert (home / "catalog.db").is_file()
    assert not (sdhub_home / "catalog.db").exists()
    assert 'library = "' in (home / "config.toml").read_text()

    catalog = open_catalog(f"sqlite:///{home / 'catalog.db'}")
    with catalog.session() as session:
        rows = list(session.exec(select(LocalFile)))
    index = BrowseIndex(catalog)
    try:
        facets = index.facets()
        neon = index.page(AssetQuery(text="neon"), 0, 10)
        water = index.page(AssetQuery(text="wtrclr"), 0, 10)
    finally:
        index.close()
        catalog.close()
    kinds = {Kind(r.kind) for r in rows}
    assert kinds >= {
        Kind.CHECKPOINT,
        Kind.LORA,
        Kind.EMBEDDING,
        Kind.HYPERNETWORK,
        Kind.VAE,
        Kind.OTHER,
    }
    assert all(r.path.startswith(str(root)) for r in rows)
    unsafe = [r for r in rows if Verdict(r.safety) is Verdict.DANGEROUS]
    assert [Path(r.path).name for r in unsafe] == ["free-realistic-UNSAFE.ckpt"]
    assert facets.duplicates == 2 and facets.unsafe == 1
    # Knowledge imported from the sidecars written before the scan.
    assert neon[0].words == ("neon city", "cyberpunk") and neon[0].site is not None
    assert water[0].words == ("wtrclr", "watercolor painting") and water[0].weight == 0.7


def test_demo_env_points_sdhub_at_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    demo = build_demo(tmp_path / "demo", renderable=False)
    for name, value in demo.env().items():
        monkeypatch.setenv(name, value)
    settings = load_settings()
    assert settings.home == demo.home and settings.library == demo.root
    assert settings.db_url == demo.db_url
    assert demo.report is not None and len(demo.report.misplaced) == 2


def test_demo_rebuilds_in_place_and_refuses_a_foreign_folder(tmp_path: Path) -> None:
    dest = tmp_path / "demo"
    first = build_demo(dest, renderable=False)
    again = build_demo(dest, renderable=False)
    assert again.report is not None and first.report is not None
    assert again.report.stats.files == first.report.stats.files
    assert again.report.stats.new == 0  # same files, same catalog
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not empty"):
        build_demo(foreign, renderable=False)


@pytest.mark.slow
@pytest.mark.render
@pytest.mark.skipif(not renderable_available(), reason="needs torch and diffusers")
def test_demo_includes_the_tiny_renderable_checkpoint(tmp_path: Path) -> None:
    demo = build_demo(tmp_path / "demo", renderable=True)
    assert demo.renderable
    checkpoint = demo.root / "models/Stable-diffusion/tiny-sd1.safetensors"
    assert checkpoint.is_file()
    assert (demo.root / "models/Stable-diffusion/tiny-sd1.diffusers").is_dir()
    catalog = open_catalog(demo.db_url)
    with catalog.session() as session:
        names = set(session.exec(select(LocalFile.name)))
    catalog.close()
    assert {"tiny-sd1", "tiny-lora", "tiny-embedding", "tiny-hypernetwork", "tiny-vae"} <= names
