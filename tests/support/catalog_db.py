"""Catalog databases for tests: a real SQLite file, and a real PostgreSQL when one is offered.

``SDHUB_TEST_PG_URL`` (``.ci/run`` sets it) names a PostgreSQL server
database to connect to. Each test session (each xdist worker) creates its own
database there and drops it at the end; each test gets its own schema in it,
so tests never see each other's rows.

Use in a test module::

    from support.catalog_db import catalog_url, pg_database  # noqa: F401  (fixtures)

``catalog_url`` is parametrised: every test that takes it runs on SQLite and,
when the variable is set, again on PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_ENV = "SDHUB_TEST_PG_URL"


def pg_server_url() -> str | None:
    return os.environ.get(PG_ENV) or None


#: PostgreSQL joins only when a server is offered (tests/test_catalog_pg.py says when not).
BACKENDS = ["sqlite", "postgresql"] if pg_server_url() else ["sqlite"]


def _with_database(url: str, database: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).set(database=database).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (dropped at the end)."""
    server = pg_server_url()
    if server is None:
        pytest.skip(f"{PG_ENV} is not set: no PostgreSQL to test against")
    import sqlalchemy as sa

    name = f"sdhub_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(server, name)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def pg_schema_url(database_url: str) -> Iterator[str]:
    """A URL whose connections use a new, empty schema (dropped afterwards)."""
    import sqlalchemy as sa
    from sqlalchemy.engine import make_url

    schema = f"t_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A catalog URL nobody has used yet: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    database = request.getfixturevalue("pg_database")
    yield from pg_schema_url(database)
