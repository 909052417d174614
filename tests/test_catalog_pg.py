"""The catalog on a real PostgreSQL server (``SDHUB_TEST_PG_URL``; ``.ci/run`` starts one).

Every test taking ``catalog_url`` elsewhere already runs on PostgreSQL too
when the variable is set; these add what only PostgreSQL has, and prove the
two databases give the same answers for the same library.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sdhub.catalog import list_assets, open_catalog, open_library, scan_library
from support import catalog_db
from support.library import build_library

pytestmark = pytest.mark.skipif(
    catalog_db.pg_server_url() is None,
    reason=f"{catalog_db.PG_ENV} is not set: no PostgreSQL server to test against",
)
pg_database = catalog_db.pg_database


@pytest.fixture
def pg_url(pg_database: str):
    yield from catalog_db.pg_schema_url(pg_database)


def test_each_test_session_has_its_own_database(pg_database: str) -> None:
    engine = sa.create_engine(pg_database)
    with engine.connect() as conn:
        name = conn.exec_driver_sql("SELECT current_database()").scalar()
    engine.dispose()
    assert name.startswith("sdhub_test_")


def test_json_columns_are_jsonb_and_sizes_are_bigint(pg_url: str) -> None:
    with open_catalog(pg_url) as catalog, catalog.engine.connect() as conn:
        types = dict(
            conn.exec_driver_sql(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = 'local_file' AND table_schema = current_schema()"
            ).all()
        )
    assert types["details"] == "jsonb"
    assert types["size"] == types["mtime_ns"] == types["inode"] == "bigint"


def test_postgresql_and_sqlite_tell_the_same_story(pg_url: str, tmp_path: Path) -> None:
    lib = build_library(tmp_path / "webui", count=40, seed=5)
    stories = []
    for url in (f"sqlite:///{tmp_path / 'catalog.db'}", pg_url):
        with open_catalog(url) as catalog:
            report = scan_library(catalog, library=open_library(lib.root))
            with catalog.session() as session:
                assets = [a.to_json() for a in list_assets(session, include_missing=True)]
        for asset in assets:
            asset.pop("id")
        stories.append((report.summary_json() | {"seconds": None}, assets))
    assert stories[0] == stories[1]
