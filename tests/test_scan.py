"""Library scans on a generated WebUI install: what is found, what is read, what moves."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sdhub.catalog import (
    LinkSource,
    LocalFile,
    ScanEvent,
    Source,
    WeightSource,
    find_asset,
    list_assets,
    open_catalog,
    open_library,
    scan_library,
    set_trigger_words,
    set_weight,
)
from sdhub.models.kinds import Kind, Verdict
from sqlmodel import select
from support import library as libsupport
from support.library import GeneratedLibrary, a1111_json, write_json

library_template = libsupport.library_template
webui = libsupport.webui
small_library_template = libsupport.small_library_template
small_webui = libsupport.small_webui


def _scan(url: str, lib: GeneratedLibrary, **kwargs):
    with open_catalog(url) as catalog:
        return scan_library(catalog, library=open_library(lib.root), **kwargs)


def _rows(url: str) -> dict[str, LocalFile]:
    with open_catalog(url) as catalog, catalog.session() as session:
        return {r.path: r for r in session.exec(select(LocalFile))}


def test_scan_finds_every_file_as_what_it_is(catalog_url: str, webui: GeneratedLibrary) -> None:
    report = _scan(catalog_url, webui)
    assert report.stats.files == len(webui.files)
    assert report.stats.new == report.stats.inspected == len(webui.files)
    assert not report.interrupted

    rows = _rows(catalog_url)
    for f in webui.files:
        row = rows[str(f.path)]
        if f.invalid:
            assert row.kind is Kind.INVALID and row.error, f.path
        elif f.dangerous:
            assert row.safety is Verdict.DANGEROUS, f.path
        else:
            assert (row.kind, row.base) == (f.kind, f.base), f.path
            assert row.sha256 == f.hashes.sha256
            if f.kind is Kind.OTHER:
                assert row.component is f.component

    problems = {(p.path, p.problem) for p in report.problems}
    for f in webui.files:
        if f.invalid:
            assert (str(f.path), "invalid") in problems
        if f.dangerous:
            assert (str(f.path), "dangerous") in problems

    groups = [set(g) for g in report.duplicates]
    for copy in webui.duplicates():
        assert any({str(copy.path), str(copy.duplicate_of)} <= g for g in groups)

    assert {m.path for m in report.misplaced} == {str(f.path) for f in webui.misplaced()}


def test_scan_imports_sidecars_and_links_civitai_versions(
    catalog_url: str, small_webui: GeneratedLibrary
) -> None:
    webui = small_webui
    _scan(catalog_url, webui)
    with open_catalog(catalog_url) as catalog, catalog.session() as session:
        assets = {a.path: a for a in list_assets(session)}
        for f in webui.models():
            asset = assets[str(f.path)]
            if f.expected_words:
                assert asset.trigger_words == f.expected_words, f.path
            if f.a1111_words:
                assert asset.words_source is Source.SIDECAR
            elif f.civitai_words or f.cm_words:
                assert asset.words_source is Source.CIVITAI
            if asset.weight is None:
                continue
            if f.a1111_weight is not None:
                assert (asset.weight.default, asset.weight.source) == (0.6, WeightSource.SIDECAR)
            elif f.civitai_words:  # description "Recommended weight: 0.8"
                assert (asset.weight.default, asset.weight.source) == (
                    0.8,
                    WeightSource.DESCRIPTION,
                )
            elif not f.cm_words:
                assert asset.weight.source is WeightSource.DEFAULT
            if f.civitai_version_id is not None:
                assert asset.source is not None
                assert asset.source.version_id == str(f.civitai_version_id)
                assert asset.source.link is LinkSource.HASH  # published SHA-256 matches
        with_preview = next(f for f in webui.models() if ".preview.png" in f.sidecars)
        shown = find_asset(session, str(with_preview.path), previews=True)
        assert str(with_preview.sidecars[".preview.png"]) in [p["path"] for p in shown.previews]


def test_rescan_of_an_unchanged_library_reads_nothing(
    catalog_url: str, small_webui: GeneratedLibrary
) -> None:
    webui = small_webui
    first = _scan(catalog_url, webui)
    again = _scan(catalog_url, webui)
    assert again.stats.inspected == again.stats.inspected_bytes == 0
    assert again.stats.unchanged == first.stats.files
    assert again.stats.new == again.stats.changed == again.stats.missing == 0
    assert again.stats.sidecar_imports == 0

    # Proof that nothing is read: new bytes under the same size, mtime and inode go unseen…
    victim = webui.models()[0].path
    before = _rows(catalog_url)[str(victim)].sha256
    st = victim.stat()
    data = bytearray(victim.read_bytes())
    data[-1] ^= 0xFF
    with victim.open("r+b") as fh:
        fh.write(bytes(data))
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns))
    blind = _scan(catalog_url, webui)
    assert blind.stats.inspected == 0
    assert _rows(catalog_url)[str(victim)].sha256 == before
    # …until the mtime moves: then exactly that file is read again.
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    seen = _scan(catalog_url, webui)
    assert seen.stats.inspected == 1
    assert seen.stats.changed == 1
    assert _rows(catalog_url)[str(victim)].sha256 != before


def test_renamed_and_moved_files_keep_what_was_known(
    catalog_url: str, small_webui: GeneratedLibrary
) -> None:
    webui = small_webui
    _scan(catalog_url, webui)
    renamed = next(f for f in webui.models() if f.kind is Kind.LORA and not f.misplaced)
    moved = next(f for f in webui.models() if f.civitai_version_id and f is not renamed)
    with open_catalog(catalog_url) as catalog, catalog.transaction() as session:
        row = session.exec(select(LocalFile).where(LocalFile.path == str(renamed.path))).one()
        set_trigger_words(session, ["my own words"], source=Source.USER, file_id=row.id)
        set_weight(session, 0.45, source=WeightSource.USER, file_id=row.id)
        renamed_id = row.id
    moved_id = _rows(catalog_url)[str(moved.path)].id

    new_name = renamed.path.with_name("renamed-by-hand.safetensors")
    renamed.path.rename(new_name)
    target_dir = webui.root / "models" / "Lora" / "moved-here"
    target_dir.mkdir(parents=True, exist_ok=True)
    new_place = target_dir / moved.path.name
    shutil.move(moved.path, new_place)
    for sidecar in moved.sidecars.values():
        shutil.move(sidecar, target_dir / sidecar.name)

    events: list = []
    report = _scan(catalog_url, webui, on_event=events.append)
    assert report.stats.moved == 2
    assert report.stats.missing == 0
    assert report.stats.sidecar_imports == 0  # the sidecars moved with it: nothing new to read
    by_path = {e.path: e for e in events if e.event is ScanEvent.MOVED}
    assert by_path[str(new_name)].old_path == str(renamed.path)
    assert by_path[str(new_place)].old_path == str(moved.path)

    with open_catalog(catalog_url) as catalog, catalog.session() as session:
        a = find_asset(session, str(new_name))
        assert a.id == renamed_id
        assert a.name == "renamed-by-hand"
        assert a.trigger_words == ["my own words"]
        assert (a.weight.default, a.weight.source) == (0.45, WeightSource.USER)
        b = find_asset(session, str(new_place))
        assert b.id == moved_id
        assert b.source is not None and b.source.version_id == str(moved.civitai_version_id)
        assert b.trigger_words == moved.expected_words


def test_removed_files_are_missing_and_found_again_when_they_come_back(
    catalog_url: str, small_webui: GeneratedLibrary
) -> None:
    webui = small_webui
    _scan(catalog_url, webui)
    gone = next(f for f in webui.models() if f.a1111_words)
    keep = webui.root / "outside.bin"
    shutil.move(gone.path, keep)
    report = _scan(catalog_url, webui)
    assert [e.path for e in report.events if e.event is ScanEvent.MISSING] == [str(gone.path)]
    row = _rows(catalog_url)[str(gone.path)]
    assert row.missing
    with open_catalog(catalog_url) as catalog, catalog.session() as session:
        assert str(gone.path) not in {a.path for a in list_assets(session)}
        assert str(gone.path) in {a.path for a in list_assets(session, include_missing=True)}

    # It comes back somewhere else, renamed: the missing row is found by its SHA-256.
    back = gone.path.parent / "found-again.safetensors"
    shutil.move(keep, back)
    report = _scan(catalog_url, webui)
    assert report.stats.moved == 1 and report.stats.new == 0
    rows = _rows(catalog_url)
    assert str(gone.path) not in rows
    assert rows[str(back)].id == row.id and not rows[str(back)].missing


def test_sidecar_edits_are_imported_without_reading_the_model(
    catalog_url: str, small_webui: GeneratedLibrary
) -> None:
    webui = small_webui
    _scan(catalog_url, webui)
    f = next(f for f in webui.models() if f.a1111_words and f.civitai_words and f.kind is Kind.LORA)
    write_json(f.sidecars[".json"], a1111_json(words=["edited in the webui"], weight=0.9))
    report = _scan(catalog_url, webui)
    assert report.stats.inspected == 0
    assert report.stats.sidecar_imports == 1
    with open_catalog(catalog_url) as catalog, catalog.session() as session:
        a = find_asset(session, str(f.path))
        assert a.trigger_words == ["edited in the webui"]
        assert (a.weight.default, a.weight.source) == (0.9, WeightSource.SIDECAR)

    f.sidecars[".json"].unlink()  # the person deleted their notes: Civitai's words are back
    _scan(catalog_url, webui)
    with open_catalog(catalog_url) as catalog, catalog.session() as session:
        a = find_asset(session, str(f.path))
        assert a.trigger_words == f.civitai_words
        assert a.weight.source is WeightSource.DESCRIPTION


def test_broken_sidecars_are_reported_and_ignored(catalog_url: str, tmp_path: Path) -> None:
    lib = libsupport.build_library(tmp_path / "webui", count=12, broken=False)
    target = next(f for f in lib.models() if f.kind is Kind.LORA)
    (target.path.with_name(target.path.stem + ".json")).write_text("{not json", encoding="utf-8")
    (target.path.with_name(target.path.stem + ".civitai.info")).write_text("{}", encoding="utf-8")
    report = _scan(catalog_url, lib)
    assert any("cannot read" in w and target.path.stem in w for w in report.warnings)
    assert not report.problems


def test_interrupted_scan_keeps_its_work_and_the_next_one_resumes(
    tmp_path: Path, small_webui: GeneratedLibrary
) -> None:
    webui = small_webui
    url = f"sqlite:///{tmp_path / 'catalog.db'}"

    class StopAfter:
        def __init__(self, files: int) -> None:
            self.left = files

        def planned(self, files: int, total_bytes: int) -> None:
            pass

        def advance(self, files: int, nbytes: int) -> None:
            self.left -= files
            if self.left <= 0:
                raise KeyboardInterrupt

    with open_catalog(url) as catalog:
        report = scan_library(
            catalog,
            library=open_library(webui.root),
            progress=StopAfter(40),
            batch_size=8,
        )
    assert report.interrupted
    saved = _rows(url)
    assert 32 <= len(saved) <= 48  # committed batch by batch
    assert not any(r.missing for r in saved.values())

    rest = _scan(url, webui)
    assert not rest.interrupted
    assert rest.stats.inspected == len(webui.files) - len(saved)
    assert len(_rows(url)) == len(webui.files)


def test_explicit_roots_folder_and_single_file(catalog_url: str, tmp_path: Path) -> None:
    lib = libsupport.build_library(tmp_path / "webui", count=20, broken=False)
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    one = lib.models()[0]
    shutil.copy2(one.path, downloads / "fresh.safetensors")
    (downloads / "readme.txt").write_text("not a model")
    (downloads / "half.safetensors.part").write_bytes(b"partial download")
    with open_catalog(catalog_url) as catalog:
        report = scan_library(catalog, [downloads])
        assert report.stats.files == 1
        single = scan_library(catalog, [lib.models()[1].path])
        assert single.stats.files == 1 and single.stats.new == 1
        whole = scan_library(catalog, [lib.root])  # a WebUI root: its model folders
        assert whole.stats.files == len(lib.files)
        assert whole.stats.unchanged == 1  # one already catalogued: not read again
        # the copy in Downloads and its original are duplicates
        assert any(str(downloads / "fresh.safetensors") in g for g in whole.duplicates)


def test_unreadable_folder_is_reported_not_marked_missing(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    lib = libsupport.build_library(tmp_path / "webui", count=20, broken=False)
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    _scan(url, lib)
    locked = lib.root / "models" / "Lora"
    locked.chmod(0)
    try:
        report = _scan(url, lib)
    finally:
        locked.chmod(0o755)
    assert any("cannot list" in w for w in report.warnings)
    assert report.stats.missing == 0


def _sdhub(args: list[str], home: Path) -> subprocess.Popen[str]:
    env = {**os.environ, "SDHUB_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "sdhub.tui.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _count_rows(db: Path) -> int:
    import sqlite3

    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return conn.execute("SELECT count(*) FROM local_file").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def test_a_killed_scan_leaves_a_catalog_that_opens_and_rescans_cleanly(
    small_webui: GeneratedLibrary, sdhub_home: Path
) -> None:
    webui = small_webui
    db = sdhub_home / "catalog.db"
    url = f"sqlite:///{db}"
    seen = 0
    for pause in (0.0, 0.1, 0.3):
        proc = _sdhub(["scan", str(webui.root), "--no-progress"], sdhub_home)
        # Kill it while it works: right after a batch was committed, or a little later.
        while proc.poll() is None and _count_rows(db) <= seen:
            time.sleep(0.02)
        time.sleep(pause)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        with open_catalog(url) as catalog, catalog.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA integrity_check").scalar() == "ok"
        seen = _count_rows(db)
        if seen == len(webui.files):
            break
    assert seen > 0
    with open_catalog(url) as catalog:
        report = scan_library(catalog, library=open_library(webui.root))
    assert report.stats.errors == 0 and report.stats.missing == 0
    assert report.stats.inspected == len(webui.files) - seen  # resumed: nothing read twice
    assert len(_rows(url)) == len(webui.files)
    with open_catalog(url) as catalog, catalog.session() as session:
        for f in webui.models():
            if f.expected_words:
                assert find_asset(session, str(f.path)).trigger_words == f.expected_words


_TRIGGER_WRITER = """
import sys, time
from sdhub.catalog import open_catalog, set_trigger_words, LocalFile, Source
from sqlmodel import select
catalog = open_catalog(sys.argv[1])
deadline = time.monotonic() + float(sys.argv[2])
writes = 0
while time.monotonic() < deadline:
    with catalog.transaction() as s:  # reads, then writes: needs the lock up front
        ids = s.exec(select(LocalFile.id)).all()
        if ids:
            set_trigger_words(s, [f"edit {writes}"], source=Source.USER, file_id=ids[0])
            writes += 1
print(writes)
"""


def test_a_scan_and_another_writer_share_the_catalog(
    small_webui: GeneratedLibrary, sdhub_home: Path
) -> None:
    url = f"sqlite:///{sdhub_home / 'catalog.db'}"
    open_catalog(url).close()
    writer = subprocess.Popen(
        [sys.executable, "-c", _TRIGGER_WRITER, url, "8"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    scan = _sdhub(["scan", str(small_webui.root), "--no-progress"], sdhub_home)
    _, scan_err = scan.communicate(timeout=300)
    out, err = writer.communicate(timeout=300)
    assert scan.returncode == 1, scan_err  # 1: the library holds invalid and dangerous files
    assert writer.returncode == 0, err
    assert "locked" not in scan_err + err
    assert int(out) > 0
    assert len(_rows(url)) == len(small_webui.files)
