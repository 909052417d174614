"""Placement: misplaced files go home with their sidecars, the catalog follows, nothing is lost."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sdhub.catalog import (
    LocalFile,
    Source,
    WeightSource,
    find_asset,
    open_catalog,
    open_library,
    scan_library,
    set_trigger_words,
    write_a1111_sidecar,
)
from sdhub.hub.place import MoveStatus, move_file, place_library
from sdhub.models.kinds import Kind
from sdhub.models.layouts import Layout
from sqlmodel import select
from support import library as libsupport
from support.library import GeneratedLibrary, a1111_json, build_library, write_json

library_template = libsupport.library_template
webui = libsupport.webui
small_library_template = libsupport.small_library_template
small_webui = libsupport.small_webui


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest().upper()


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _place(url: str, lib: GeneratedLibrary, **kwargs):
    library = open_library(lib.root, lib.layout)
    with open_catalog(url) as catalog:
        scan_library(catalog, library=library)
        return place_library(catalog, library, **kwargs)


def test_place_moves_every_misplaced_file_home_with_its_sidecars(
    catalog_url: str, webui: GeneratedLibrary
) -> None:
    with open_catalog(catalog_url) as catalog:
        scan_library(catalog, library=open_library(webui.root))
        with catalog.session() as session:
            ids = {r.path: r.id for r in session.exec(select(LocalFile))}
    result = _place(catalog_url, webui)

    moves = {str(m.source): m for m in result.moves}
    assert not [m for m in result.moves if m.status is MoveStatus.FAILED]
    for f in webui.misplaced():
        move = moves[str(f.path)]
        assert move.status is MoveStatus.MOVED, move
        assert not f.path.exists()
        assert move.target is not None and move.target.is_file()
        assert f.home is not None and f.home in move.target.parents
        assert _sha(move.target) == f.hashes.sha256
        for suffix, sidecar in f.sidecars.items():
            assert not sidecar.exists()
            assert move.target.with_name(move.target.stem + suffix).is_file()
    # Files at home, invalid and dangerous ones are not touched.
    for f in webui.files:
        if not f.misplaced:
            assert f.path.is_file(), f.path
    kept = {str(m.source): m.reason for m in result.moves if m.status is MoveStatus.KEPT}
    for f in webui.files:
        if f.invalid:
            assert kept[str(f.path)].startswith("invalid")
        if f.dangerous:
            assert kept[str(f.path)].startswith("dangerous")
    assert result.failed  # invalid and dangerous files are reported as failures

    # A different file already had the name at home: the newcomer got a suffix.
    clash = moves[str(webui.root / "models/Stable-diffusion/clash0.safetensors")]
    assert clash.renamed and clash.target.name == "clash0-1.safetensors"

    # The catalog followed: same rows (same ids), new paths, nothing missing or new.
    with open_catalog(catalog_url) as catalog:
        with catalog.session() as session:
            rows = {r.path: r for r in session.exec(select(LocalFile))}
        for f in webui.misplaced():
            target = str(moves[str(f.path)].target)
            assert rows[target].id == ids[str(f.path)]
            assert str(f.path) not in rows
        again = scan_library(catalog, library=open_library(webui.root))
    assert again.stats.new == again.stats.moved == again.stats.missing == 0
    assert again.stats.inspected == 0
    assert not again.misplaced


def test_trigger_words_survive_placement_and_land_in_the_a1111_sidecar(
    catalog_url: str, small_webui: GeneratedLibrary
) -> None:
    webui = small_webui
    lora = next(f for f in webui.misplaced() if f.kind is Kind.LORA and ".json" not in f.sidecars)
    with open_catalog(catalog_url) as catalog:
        scan_library(catalog, library=open_library(webui.root))
        with catalog.transaction() as session:
            row = session.exec(select(LocalFile).where(LocalFile.path == str(lora.path))).one()
            set_trigger_words(session, ["placed style"], source=Source.USER, file_id=row.id)
        result = place_library(catalog, open_library(webui.root))
        target = next(m.target for m in result.moves if m.source == lora.path)
        with catalog.session() as session:
            assert find_asset(session, str(target)).trigger_words == ["placed style"]
    sidecar = target.with_name(target.stem + ".json")
    assert sidecar in result.sidecars_written
    data = json.loads(sidecar.read_text())
    assert data["activation text"] == "placed style"
    assert data["sd version"] == {"sd1": "SD1", "sd2": "SD2", "sdxl": "SDXL"}.get(
        lora.base.value, "Unknown"
    )
    assert set(data) >= {"description", "preferred weight", "negative text", "notes"}


def test_dry_run_moves_and_writes_nothing(catalog_url: str, small_webui: GeneratedLibrary) -> None:
    before = _tree(small_webui.root)
    result = _place(catalog_url, small_webui, dry_run=True)
    assert _tree(small_webui.root) == before
    planned = [m for m in result.moves if m.status is MoveStatus.PLANNED]
    assert {str(m.source) for m in planned} == {str(f.path) for f in small_webui.misplaced()}
    assert result.sidecars_written  # would write, did not
    assert all(not p.exists() or str(p.relative_to(small_webui.root)) in before
               for p in result.sidecars_written)  # fmt: skip
    with open_catalog(catalog_url) as catalog, catalog.session() as session:
        paths = set(session.exec(select(LocalFile.path)))
    assert {str(f.path) for f in small_webui.misplaced()} <= paths


def test_a1111_sidecar_merge_never_clobbers_what_a_person_wrote(
    catalog_url: str, small_webui: GeneratedLibrary
) -> None:
    webui = small_webui
    f = next(f for f in webui.models() if f.civitai_words and f.kind is Kind.LORA)
    person = a1111_json(description="mine, hands off", notes="")
    person["my own key"] = [1, 2, 3]
    write_json(f.path.with_name(f.path.stem + ".json"), person)
    with open_catalog(catalog_url) as catalog:
        scan_library(catalog, library=open_library(webui.root))
        with catalog.transaction() as session:
            asset = find_asset(session, str(f.path))
            assert asset.weight.source is WeightSource.DESCRIPTION
            path = write_a1111_sidecar(session, asset.id)
        with catalog.transaction() as session:
            assert write_a1111_sidecar(session, asset.id) is None  # nothing left to add
    data = json.loads(path.read_text())
    assert data["description"] == "mine, hands off"
    assert data["my own key"] == [1, 2, 3]
    assert data["activation text"] == ", ".join(f.civitai_words)
    assert data["preferred weight"] == 0.8
    assert not list(path.parent.glob(".*.tmp"))


def _second_filesystem(near: Path) -> Path | None:
    """A writable folder on another filesystem than ``near`` (tmpfs), if this machine has one."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK) and shm.stat().st_dev != near.stat().st_dev:
        return shm
    return None


def test_a_move_across_filesystems_copies_verifies_then_removes(tmp_path: Path) -> None:
    lib = build_library(tmp_path / "webui", count=30, broken=False)
    other = _second_filesystem(tmp_path)
    elsewhere = None
    if other is not None:  # a real second filesystem: models/Lora lives on tmpfs
        lora = lib.root / "models" / "Lora"
        elsewhere = other / f"sdhub-test-{os.getpid()}-{tmp_path.name}"
        shutil.copytree(lora, elsewhere)
        shutil.rmtree(lora)
        lora.symlink_to(elsewhere)
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    try:
        result = _place(url, lib, force_copy=other is None)
        moved = [m for m in result.moves if m.status is MoveStatus.MOVED]
        assert moved
        for m in moved:
            assert m.target.is_file() and not m.source.exists()
        assert not list(lib.root.rglob("*.part"))
        with open_catalog(url) as catalog:
            again = scan_library(catalog, library=open_library(lib.root))
        assert again.stats.inspected == 0 and again.stats.missing == 0
    finally:
        if elsewhere is not None:
            shutil.rmtree(elsewhere, ignore_errors=True)


def test_a_copy_that_does_not_verify_changes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "a" / "model.safetensors"
    source.parent.mkdir()
    source.write_bytes(b"x" * 100_000)
    target = tmp_path / "b" / "model.safetensors"
    with pytest.raises(OSError, match="does not match"):
        move_file(source, target, sha256="0" * 64, force_copy=True)
    assert source.read_bytes() == b"x" * 100_000
    assert not target.exists()
    assert not list(target.parent.iterdir())  # no .part left behind


def test_never_overwrites(tmp_path: Path) -> None:
    source = tmp_path / "a.safetensors"
    target = tmp_path / "b.safetensors"
    source.write_bytes(b"new")
    target.write_bytes(b"old")
    with pytest.raises(FileExistsError):
        move_file(source, target)
    assert target.read_bytes() == b"old" and source.read_bytes() == b"new"


def test_comfyui_layout(catalog_url: str, tmp_path: Path) -> None:
    lib = build_library(tmp_path / "ComfyUI", layout=Layout.COMFYUI, count=40, seed=3)
    assert open_library(lib.root).layout is Layout.COMFYUI  # detected
    result = _place(catalog_url, lib)
    moved = {str(m.source): m for m in result.moves if m.status is MoveStatus.MOVED}
    assert set(moved) == {str(f.path) for f in lib.misplaced()}
    for f in lib.misplaced():
        assert f.home in moved[str(f.path)].target.parents
    assert not result.sidecars_written  # ComfyUI does not read A1111 sidecars


def _library_state(root: Path) -> tuple[set[str], list[Path]]:
    """(SHA-256 of every model file under root, files that are not whole)."""
    from sdhub.models.layouts import MODEL_SUFFIXES

    hashes: set[str] = set()
    partial: list[Path] = []
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        if path.name.endswith((".part", ".tmp")):
            partial.append(path)
        elif path.suffix.lower() in MODEL_SUFFIXES:
            hashes.add(_sha(path))
        elif path.suffix == ".json" or path.name.endswith(".civitai.info"):
            json.loads(path.read_text(encoding="utf-8"))  # never half-written
    return hashes, partial


def test_a_killed_placement_loses_nothing_and_the_next_run_finishes(
    small_webui: GeneratedLibrary, sdhub_home: Path
) -> None:
    webui = small_webui
    originals = {f.hashes.sha256 for f in webui.models()}
    sources = [f.path for f in webui.misplaced()]
    env = {**os.environ, "SDHUB_HOME": str(sdhub_home)}
    url = f"sqlite:///{sdhub_home / 'catalog.db'}"
    subprocess.run(
        [sys.executable, "-m", "sdhub.tui.cli", "scan", str(webui.root), "--no-progress"],
        env=env, capture_output=True, check=False, timeout=300,
    )  # fmt: skip
    for pause in (0.0, 0.02, 0.05):
        remaining = sum(p.exists() for p in sources)
        proc = subprocess.Popen(
            [sys.executable, "-m", "sdhub.tui.cli", "place", str(webui.root)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        while proc.poll() is None and sum(p.exists() for p in sources) >= remaining:
            time.sleep(0.005)
        time.sleep(pause)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        hashes, partial = _library_state(webui.root)
        assert originals <= hashes, "a file was lost"
        assert not partial
        with open_catalog(url) as catalog, catalog.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"

    library = open_library(webui.root)
    with open_catalog(url) as catalog:
        scan_library(catalog, library=library)
        result = place_library(catalog, library)
        assert not [m for m in result.moves if m.status is MoveStatus.FAILED]
        again = scan_library(catalog, library=library)
    assert not again.misplaced
    assert again.stats.missing == 0
    hashes, partial = _library_state(webui.root)
    assert originals <= hashes and not partial
    for f in webui.misplaced():
        assert not f.path.exists()
        for sidecar in f.sidecars.values():
            assert not sidecar.exists(), "a sidecar was left behind"
