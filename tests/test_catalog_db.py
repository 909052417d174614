"""Opening the catalog: migrations, SQLite settings, and two processes writing at once."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sdhub.catalog import (
    HEAD_REVISION,
    LocalFile,
    Source,
    current_revision,
    open_catalog,
    set_trigger_words,
    upgrade_schema,
)
from sdhub.catalog.db import alembic_config, schema_metadata
from sdhub.models.kinds import Base, FileFormat, Kind, Verdict
from sqlmodel import select

# Fixtures: every test taking `catalog_url` runs on SQLite and (when offered) PostgreSQL.


def _schema_diff(catalog) -> list:
    with catalog.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, schema_metadata())


def test_head_constant_is_alembics_head() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_current_head() == HEAD_REVISION


def test_fresh_catalog_is_at_head_and_matches_the_tables(catalog_url: str) -> None:
    with open_catalog(catalog_url) as catalog:
        assert current_revision(catalog) == HEAD_REVISION
        assert _schema_diff(catalog) == []


def test_catalog_made_at_revision_1_keeps_its_data_after_upgrade(catalog_url: str) -> None:
    with open_catalog(catalog_url, upgrade=False) as catalog:
        upgrade_schema(catalog, "0001")
        assert current_revision(catalog) == "0001"
        # Rows as the revision-1 code wrote them (plain SQL: today's classes are newer).
        with catalog.engine.begin() as conn:
            conn.execute(
                sa.text(
                    "INSERT INTO local_file (path, name, size, mtime_ns, inode, sha256, kind,"
                    " base, format, details, warnings, safety, safety_globals, sidecars,"
                    " first_seen, last_seen, missing) VALUES ('/lib/models/Lora/old.safetensors',"
                    " 'old', 123, 456, 789, :sha, 'lora', 'sd1', 'safetensors', '{\"rank\": 8}',"
                    " '[]', 'safe', '[]', '{}', :now, :now, false)"
                ),
                {"sha": "AB" * 32, "now": "2025-01-01 00:00:00+00:00"},
            )
            file_id = conn.execute(sa.text("SELECT id FROM local_file")).scalar_one()
            conn.execute(
                sa.text(
                    "INSERT INTO trigger_word (file_id, source, position, word)"
                    " VALUES (:f, 'sidecar', 0, 'oldstyle')"
                ),
                {"f": file_id},
            )
    with open_catalog(catalog_url) as catalog:  # opening upgrades to head
        assert current_revision(catalog) == HEAD_REVISION
        assert _schema_diff(catalog) == []
        with catalog.session() as session:
            row = session.exec(select(LocalFile)).one()
            assert (row.name, row.kind, row.base, row.format) == (
                "old",
                Kind.LORA,
                Base.SD1,
                FileFormat.SAFETENSORS,
            )
            assert row.details == {"rank": 8}
            assert row.safety is Verdict.SAFE
            assert row.first_seen.tzinfo is not None
            from sdhub.catalog import list_assets

            (asset,) = list_assets(session)
            assert asset.trigger_words == ["oldstyle"]


def test_sqlite_catalog_uses_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'sub' / 'catalog.db'}"
    with open_catalog(url) as catalog, catalog.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
    assert (tmp_path / "sub" / "catalog.db").is_file()


def test_default_url_comes_from_settings(sdhub_home: Path, monkeypatch) -> None:
    with open_catalog() as catalog:
        assert catalog.dialect == "sqlite"
    assert (sdhub_home / "catalog.db").is_file()
    monkeypatch.setenv("SDHUB_DB_URL", f"sqlite:///{sdhub_home / 'other.db'}")
    with open_catalog() as catalog:
        assert "other.db" in catalog.url
    assert (sdhub_home / "other.db").is_file()


def test_deleting_a_file_row_takes_its_trigger_words(catalog_url: str) -> None:
    with open_catalog(catalog_url) as catalog:
        with catalog.transaction() as session:
            row = LocalFile(
                path="/x/a.safetensors", name="a", size=1, mtime_ns=1, inode=1,
                kind=Kind.LORA, format=FileFormat.SAFETENSORS, safety=Verdict.SAFE,
            )  # fmt: skip
            session.add(row)
            session.flush()
            set_trigger_words(session, ["a", "b"], source=Source.USER, file_id=row.id)
        with catalog.transaction() as session:
            session.delete(session.exec(select(LocalFile)).one())
        with catalog.engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT count(*) FROM trigger_word").scalar() == 0


_WRITER = textwrap.dedent(
    """
    import sys, time
    from sdhub.catalog import open_catalog, set_trigger_words, LocalFile, Source
    from sdhub.models.kinds import Kind, FileFormat, Verdict
    from sqlmodel import select

    url, tag, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    catalog = open_catalog(url)
    for i in range(count):
        # Read first, then write, in one transaction: the pattern that fails with
        # "database is locked" on SQLite unless writers take the lock up front.
        with catalog.transaction() as s:
            n = len(s.exec(select(LocalFile.id)).all())
            row = LocalFile(path=f"/lib/{tag}/{i}.safetensors", name=f"{tag}{i}", size=n,
                            mtime_ns=i, inode=i, kind=Kind.LORA, format=FileFormat.SAFETENSORS,
                            safety=Verdict.SAFE)
            s.add(row)
            s.flush()
            set_trigger_words(s, [tag, str(i)], source=Source.USER, file_id=row.id)
            time.sleep(0.002)
    print("done", tag)
    """
)


def test_two_processes_writing_at_once_never_see_database_is_locked(catalog_url: str) -> None:
    open_catalog(catalog_url).close()  # migrate once, as the first process would
    env = {**os.environ}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, catalog_url, tag, "40"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for tag in ("alpha", "beta")
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err
        assert out.startswith("done")
    with open_catalog(catalog_url) as catalog, catalog.session() as session:
        assert len(session.exec(select(LocalFile)).all()) == 80


def test_bad_url_is_a_clear_error(tmp_path: Path) -> None:
    from sdhub.catalog import CatalogError

    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(CatalogError, match="cannot create the catalog's folder"):
        open_catalog(f"sqlite:///{blocker / 'sub' / 'catalog.db'}")
