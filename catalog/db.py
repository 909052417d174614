"""Opening the catalog: engine settings, schema migrations, read and write sessions.

The TUI, a bulk download and a scan may use one SQLite catalog at the same
time, from different processes. What makes that work without "database is
locked":

- WAL journal: readers never block the writer and the writer never blocks
  readers;
- a busy timeout (30 s): a second writer waits for the first instead of
  failing;
- writes run in ``BEGIN IMMEDIATE`` transactions (:meth:`Catalog.transaction`):
  a transaction that starts by reading and later writes would otherwise get
  ``SQLITE_BUSY`` at once, without waiting, if another writer committed in
  between (SQLite cannot upgrade a stale read snapshot);
- writers commit in small batches, so nobody waits long.

The schema is versioned with Alembic; :func:`open_catalog` upgrades an older
catalog to the current revision before anything else touches it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlmodel import Session

from .errors import CatalogError
from .tables import metadata

#: The newest migration; a test checks it equals Alembic's head.
HEAD_REVISION = "0003"
#: How long a writer waits for another one before giving up (milliseconds).
BUSY_TIMEOUT_MS = 30_000
_MIGRATIONS_DIR = Path(__file__).with_name("migrations")
#: Serialises schema upgrades of one PostgreSQL database between processes.
_PG_MIGRATION_LOCK = 0x5D4B_CA7A


class Catalog:
    """An open catalog: an engine plus sessions for reading and for writing.

    Use :meth:`session` to read (and for writes that do not read first), and
    :meth:`transaction` for anything that reads then writes.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._write_engine = engine.execution_options(sdhub_immediate=True)

    @property
    def url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        """A session for reading (``with catalog.session() as s: ...``)."""
        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: takes the write lock first, commits, rolls back on error."""
        with Session(self._write_engine, expire_on_commit=False) as session, session.begin():
            yield session

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Catalog({self.url!r})"


def default_url() -> str:
    """The configured catalog URL (``SDHUB_DB_URL`` or ``$SDHUB_HOME/catalog.db``)."""
    from sdhub.config import load_settings

    return load_settings().db_url


def open_catalog(url: str | None = None, *, upgrade: bool = True) -> Catalog:
    """Open (creating if needed) the catalog at a SQLAlchemy URL and bring its schema to head.

    ``url=None`` uses the configured catalog. ``upgrade=False`` opens a catalog
    as it is (tests of migrations use it).
    """
    url = url or default_url()
    try:
        engine = create_engine(url)
    except CatalogError:
        raise
    except (sa.exc.ArgumentError, ImportError, ValueError) as exc:  # also NoSuchModuleError
        raise CatalogError(
            f"{_hide_password(url)}: not a usable catalog URL ({_first_line(exc)}); "
            "check SDHUB_DB_URL"
        ) from exc
    catalog = Catalog(engine)
    if upgrade:
        try:
            upgrade_schema(catalog)
        except CatalogError:
            engine.dispose()
            raise
        except sa.exc.SQLAlchemyError as exc:  # no server there, not a database file, …
            engine.dispose()
            raise CatalogError(
                f"cannot open the catalog at {catalog.url}: {_first_line(exc)}"
            ) from exc
        except Exception:
            engine.dispose()
            raise
    return catalog


def _hide_password(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        import re

        return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def _first_line(exc: BaseException) -> str:
    """The driver's own message, first line: SQLAlchemy adds a wrapper and a help link."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).strip() or type(inner).__name__
    return text.splitlines()[0]


def create_engine(url: str) -> sa.Engine:
    """An engine with the settings concurrent use needs (see the module docstring)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    return sa.create_engine(parsed, pool_pre_ping=True, future=True)


def _sqlite_engine(url: sa.URL) -> sa.Engine:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        folder = Path(database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CatalogError(f"cannot create the catalog's folder {folder}: {exc}") from exc
    engine = sa.create_engine(url, connect_args={"timeout": BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let us issue BEGIN ourselves (pysqlite's own transaction handling
        # starts transactions late and never as IMMEDIATE).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        immediate = conn.get_execution_options().get("sdhub_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


# --------------------------------------------------------------------------------------
# Migrations


def current_revision(catalog: Catalog) -> str | None:
    """The schema revision of the catalog, None for an empty database."""
    with catalog.engine.connect() as conn:
        return _revision(conn)


def _revision(conn: sa.Connection) -> str | None:
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()


def alembic_config(connection: sa.Connection | None = None):  # -> alembic.config.Config
    """An Alembic configuration pointing at the migrations inside this package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade_schema(catalog: Catalog, revision: str = "head") -> None:
    """Migrate the catalog to ``revision`` (default: the newest), one process at a time."""
    with catalog.engine.connect() as probe:
        current = _revision(probe)
    if revision == "head" and current == HEAD_REVISION:
        return  # the common case: nothing to import, nothing to lock
    from alembic import command

    with catalog._write_engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_MIGRATION_LOCK})")
        # Another process may have upgraded while we waited for the lock.
        if revision == "head" and _revision(conn) == HEAD_REVISION:
            return
        try:
            command.upgrade(alembic_config(conn), revision)
        except Exception as exc:
            raise CatalogError(
                f"cannot upgrade the catalog at {catalog.url} to revision {revision}: {exc}"
            ) from exc


def schema_metadata() -> sa.MetaData:
    """The tables as the code declares them (what the migrations must produce)."""
    return metadata
