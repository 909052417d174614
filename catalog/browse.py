"""Browsing a big catalog: filtered, sorted pages of assets, facets, and one asset's detail.

The terminal browser shows 10,000 assets and re-filters on every keystroke
(BENCHMARKS.md: a usable table in < 1 s, < 50 ms per keystroke), so the
database does the filtering and sorting, on a narrow index of what the table
shows (:class:`BrowseIndex`, a TEMP table built by one ``INSERT … SELECT``):
a keystroke is a ``count`` and a ``LIMIT`` query; only the rows on screen
are turned into Python objects. Nothing here walks all rows in Python.

Effective weights and first trigger words are chosen in SQL with the same
priority tables the Python side uses (:data:`~.enums.WORDS_PRIORITY`,
:data:`~.enums.WEIGHT_PRIORITY`); the words shown for a page go through
:func:`~.knowledge.best_words` itself. The detail of one asset is the full
:class:`~.assets.Asset` (:func:`asset_detail`).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import sqlalchemy as sa
from sdhub.models.kinds import Base, Component, Kind, Verdict
from sqlmodel import Session, select

from .assets import WEIGHTED_KINDS, Asset, build_assets, name_clashes
from .db import Catalog
from .enums import WEIGHT_PRIORITY, WORDS_PRIORITY, Site, WeightSource
from .knowledge import DEFAULT_WEIGHT, best_words
from .library import Library, Placement, judge_placement
from .tables import LocalFile, RemoteModel, RemoteVersion, RenderResult, TriggerWord, Weight
from .weights import html_to_text

_HEX = re.compile(r"^[0-9a-fA-F]{6,64}$")
_UNSAFE = (Verdict.DANGEROUS, Verdict.SUSPICIOUS)


class SortKey(StrEnum):
    """A column the browser sorts by."""

    NAME = "name"
    KIND = "kind"
    BASE = "base"
    SIZE = "size"
    WEIGHT = "weight"
    WORDS = "words"
    SOURCE = "source"
    RENDER = "render"
    ADDED = "added"


class SourceFilter(StrEnum):
    """Where an asset came from, as a filter: a site, or nowhere known."""

    CIVITAI = "civitai"
    HF = "hf"
    LOCAL = "local"  # not linked to any remote version


@dataclass(frozen=True, slots=True)
class AssetQuery:
    """What the browser's filter bar and column headers ask for.

    ``text`` is split into terms that must all match; a term matches the
    asset's name, its remote model or version name, any of its trigger words,
    or (6+ hex digits) the start of one of its hashes.
    """

    text: str = ""
    kinds: frozenset[Kind] = frozenset()
    bases: frozenset[Base] = frozenset()
    sources: frozenset[SourceFilter] = frozenset()
    #: Not linked to Civitai/HF, or a weighted kind without trigger words: worth enriching.
    missing_metadata: bool = False
    duplicates: bool = False
    #: Pickles the scanner calls dangerous or suspicious.
    unsafe: bool = False
    include_missing: bool = False
    sort: SortKey = SortKey.NAME
    descending: bool = False

    def with_(self, **changes: Any) -> AssetQuery:
        return replace(self, **changes)

    @property
    def filtered(self) -> bool:
        """Whether anything but the sort order narrows the list."""
        return bool(
            self.text.strip()
            or self.kinds
            or self.bases
            or self.sources
            or self.missing_metadata
            or self.duplicates
            or self.unsafe
        )


# --------------------------------------------------------------------------------------
# Building blocks: SQL expressions correlated to LocalFile


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _priority(column: Any, order: Sequence[StrEnum]) -> sa.Case:
    """Rank of a source value in a priority table (0 = most trusted)."""
    return sa.case({s.value: i for i, s in enumerate(order)}, value=column, else_=len(order))


def _owned_by(model: Any) -> sa.ColumnElement[bool]:
    """Rows of a per-file-or-per-version table that belong to the correlated LocalFile."""
    return sa.or_(
        model.file_id == LocalFile.id,
        sa.and_(
            LocalFile.remote_version_id.is_not(None),
            model.version_id == LocalFile.remote_version_id,
        ),
    )


def effective_weight() -> sa.ScalarSelect[Any]:
    """The recommended weight that wins for a file (NULL: nobody recommends one)."""
    return (
        select(Weight.default)
        .where(_owned_by(Weight))
        .order_by(_priority(Weight.source, WEIGHT_PRIORITY), Weight.file_id.is_(None))
        .limit(1)
        .correlate(LocalFile)
        .scalar_subquery()
    )


def first_trigger_word() -> sa.ScalarSelect[Any]:
    """The first trigger word of the source that wins for a file."""
    return (
        select(TriggerWord.word)
        .where(_owned_by(TriggerWord))
        .order_by(
            _priority(TriggerWord.source, WORDS_PRIORITY),
            TriggerWord.file_id.is_(None),
            TriggerWord.position,
        )
        .limit(1)
        .correlate(LocalFile)
        .scalar_subquery()
    )


def _duplicate_hashes() -> sa.Select[Any]:
    return (
        select(LocalFile.sha256)
        .where(LocalFile.missing == False, LocalFile.sha256.is_not(None))  # noqa: E712
        .group_by(LocalFile.sha256)
        .having(sa.func.count() > 1)
    )


def _text(column: Any) -> Any:
    return sa.func.coalesce(sa.cast(column, sa.Text), "")


def _owned_rows(model: Any, *columns: Any) -> sa.CTE:
    """Rows of a per-file-or-per-version table, each tagged with the file it applies to.

    ``fid``: the file; ``inherited``: 1 when the row belongs to the file's
    remote version rather than to the file itself (the file's own rows win
    ties, as in :func:`~.knowledge.best_weight`).
    """
    own = select(model.file_id.label("fid"), sa.literal(0).label("inherited"), *columns).where(
        model.file_id.is_not(None)
    )
    inherited = select(LocalFile.id.label("fid"), sa.literal(1).label("inherited"), *columns).join(
        LocalFile, LocalFile.remote_version_id == model.version_id
    )
    return sa.union_all(own, inherited).cte(f"owned_{model.__tablename__}")


def _first_of(owned: sa.CTE, value: str, *order: Any) -> sa.Subquery:
    """Per file, the ``value`` of the first row in ``order`` (a window, portable SQL)."""
    ranked = select(
        owned.c.fid,
        owned.c[value].label("value"),
        sa.func.row_number().over(partition_by=owned.c.fid, order_by=order).label("rn"),
    ).subquery()
    return select(ranked.c.fid, ranked.c.value).where(ranked.c.rn == 1).subquery()


def _index_select() -> sa.Select[Any]:
    """One narrow row per file: display values, sort keys, flags and a search text.

    Set-based (grouped and windowed derived tables joined once), not one
    correlated sub-select per file and column: 10,000 files index in a
    fraction of a second.
    """
    weighted = LocalFile.kind.in_(sorted(WEIGHTED_KINDS))
    words = _owned_rows(
        TriggerWord,
        TriggerWord.word.label("word"),
        TriggerWord.position.label("position"),
        _priority(TriggerWord.source, WORDS_PRIORITY).label("rank"),
    )
    first_word = _first_of(words, "word", words.c.rank, words.c.inherited, words.c.position)
    all_words = (
        select(words.c.fid, sa.func.aggregate_strings(words.c.word, " ").label("text"))
        .group_by(words.c.fid)
        .subquery()
    )
    weights = _owned_rows(
        Weight,
        Weight.default.label("value"),
        _priority(Weight.source, WEIGHT_PRIORITY).label("rank"),
    )
    weight = _first_of(weights, "value", weights.c.rank, weights.c.inherited)
    renders = select(
        RenderResult.file_id.label("fid"),
        RenderResult.verdict.label("verdict"),
        sa.func.row_number()
        .over(
            partition_by=RenderResult.file_id,
            order_by=(RenderResult.created.desc(), RenderResult.id.desc()),
        )
        .label("rn"),
    ).subquery()
    verdict = select(renders.c.fid, renders.c.verdict).where(renders.c.rn == 1).subquery()
    dups = _duplicate_hashes().subquery()
    hashes: Any = sa.literal(" ")
    for column in (
        LocalFile.sha256,
        LocalFile.autov3,
        LocalFile.autov1,
        LocalFile.crc32,
        LocalFile.blake3,
    ):
        hashes = hashes + _text(column) + " "
    remote_names = _text(RemoteModel.name) + " " + _text(RemoteVersion.name)
    return (
        select(
            LocalFile.id.label("id"),
            LocalFile.name.label("name"),
            sa.func.lower(LocalFile.name).label("lname"),
            LocalFile.kind.label("kind"),
            LocalFile.base.label("base"),
            LocalFile.component.label("component"),
            LocalFile.size.label("size"),
            LocalFile.first_seen.label("added"),
            LocalFile.safety.label("safety"),
            LocalFile.missing.label("missing"),
            LocalFile.remote_version_id.label("version_id"),
            (LocalFile.kind == Kind.INVALID.value).label("invalid"),
            sa.case((weighted, weight.c.value), else_=None).label("weight"),
            weighted.label("weighted"),
            sa.func.lower(first_word.c.value).label("first_word"),
            RemoteVersion.site.label("site"),
            verdict.c.verdict.label("verdict"),
            dups.c.sha256.is_not(None).label("duplicate"),
            sa.or_(
                LocalFile.remote_version_id.is_(None),
                sa.and_(weighted, first_word.c.value.is_(None)),
            ).label("needs_metadata"),
            sa.func.lower(
                LocalFile.name + " " + _text(all_words.c.text) + " " + remote_names
            ).label("search"),
            hashes.label("hashes"),
            (sa.func.length(sa.cast(LocalFile.warnings, sa.Text)) > 2).label("warned"),
        )
        .select_from(LocalFile)
        .outerjoin(RemoteVersion, RemoteVersion.id == LocalFile.remote_version_id)
        .outerjoin(RemoteModel, RemoteModel.id == RemoteVersion.model_id)
        .outerjoin(first_word, first_word.c.fid == LocalFile.id)
        .outerjoin(all_words, all_words.c.fid == LocalFile.id)
        .outerjoin(weight, weight.c.fid == LocalFile.id)
        .outerjoin(verdict, verdict.c.fid == LocalFile.id)
        .outerjoin(dups, dups.c.sha256 == LocalFile.sha256)
    )


# --------------------------------------------------------------------------------------
# The index


@dataclass(frozen=True, slots=True)
class BrowseRow:
    """One line of the browser's table: what it shows, nothing more."""

    id: int
    name: str
    kind: Kind
    base: Base
    component: Component | None
    size: int
    #: The recommended weight (None: not a weighted kind); ``weight_default``: nobody said.
    weight: float | None
    weight_default: bool
    words: tuple[str, ...]
    site: Site | None
    verdict: str | None
    safety: Verdict
    invalid: bool
    warned: bool
    duplicate: bool
    missing: bool


_INDEX_TABLE = "sdhub_browse"
_COLUMNS = (
    "id",
    "name",
    "lname",
    "kind",
    "base",
    "component",
    "size",
    "added",
    "safety",
    "missing",
    "version_id",
    "invalid",
    "weight",
    "weighted",
    "first_word",
    "site",
    "verdict",
    "duplicate",
    "needs_metadata",
    "search",
    "hashes",
    "warned",
)
_T = sa.table(_INDEX_TABLE, *(sa.column(c) for c in _COLUMNS))
_C = _T.c


class BrowseIndex:
    """A narrow copy of what the browser's table shows, in a TEMP table of one connection.

    Rebuilt in one ``INSERT … SELECT`` (the database computes effective
    weights, first trigger words, sources, verdicts, duplicate flags and a
    lower-case search text for every file) when first used and after
    :meth:`invalidate`; every keystroke then costs a ``count`` and a
    ``LIMIT`` query over a few narrow columns instead of the wide
    ``local_file`` rows and their joins. Thread-safe: one query at a time
    on the dedicated connection.
    """

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._lock = threading.RLock()
        self._conn: sa.Connection | None = None
        self._fresh = False
        #: Seconds the last rebuild took (the benchmark prints it).
        self.build_seconds = 0.0

    def _connection(self) -> sa.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = self.catalog.engine.connect()
            self._fresh = False
        return self._conn

    def invalidate(self) -> None:
        """The catalog changed: rebuild before the next query."""
        with self._lock:
            self._fresh = False

    def build(self) -> None:
        import time

        with self._lock:
            conn = self._connection()
            started = time.perf_counter()
            if conn.in_transaction():
                conn.rollback()
            with conn.begin():
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {_INDEX_TABLE}")
                compiled = _index_select().compile(
                    dialect=conn.dialect, compile_kwargs={"literal_binds": True}
                )
                conn.exec_driver_sql(f"CREATE TEMP TABLE {_INDEX_TABLE} AS {compiled}")
                conn.exec_driver_sql(
                    f"CREATE INDEX {_INDEX_TABLE}_lname ON {_INDEX_TABLE} (lname, id)"
                )
            self._fresh = True
            self.build_seconds = time.perf_counter() - started

    @contextmanager
    def _reading(self) -> Iterator[sa.Connection]:
        """The connection, index built, for one read; the read transaction ends after it
        (an open one would pin an old snapshot and keep SQLite from checkpointing)."""
        with self._lock:
            if not self._fresh:
                self.build()
            conn = self._connection()
            try:
                yield conn
            finally:
                if conn.in_transaction():
                    conn.rollback()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # --- queries ---

    def count(self, query: AssetQuery) -> int:
        with self._reading() as conn:
            stmt = select(sa.func.count()).select_from(_T).where(*_where(query))
            return int(conn.execute(stmt).scalar_one())

    def page(self, query: AssetQuery, offset: int, limit: int) -> list[BrowseRow]:
        """Rows ``offset`` to ``offset + limit`` of the matches, in the query's order."""
        with self._reading() as conn:
            stmt = (
                select(*(_C[c] for c in _ROW_COLUMNS))
                .where(*_where(query))
                .order_by(*_order(query))
                .offset(offset)
                .limit(limit)
            )
            rows = conn.execute(stmt).all()
            return self._rows(conn, rows)

    def position(self, query: AssetQuery, file_id: int) -> int | None:
        """Where ``file_id`` is in the matches (to keep the cursor on it), None if absent."""
        with self._reading() as conn:
            numbered = (
                select(_C.id, sa.func.row_number().over(order_by=_order(query)).label("n"))
                .where(*_where(query))
                .subquery()
            )
            n = conn.execute(select(numbered.c.n).where(numbered.c.id == file_id)).scalar()
        return None if n is None else int(n) - 1

    def facets(self) -> Facets:
        """Counts per kind, base and source, and of the flagged groups (present files)."""
        with self._reading() as conn:
            present = _C.missing == False  # noqa: E712
            out = Facets()
            out.total = int(
                conn.execute(select(sa.func.count()).select_from(_T).where(present)).scalar_one()
            )
            for kind, n in conn.execute(
                select(_C.kind, sa.func.count()).where(present).group_by(_C.kind)
            ):
                out.kinds[Kind(kind)] = n
            for base, n in conn.execute(
                select(_C.base, sa.func.count()).where(present).group_by(_C.base)
            ):
                out.bases[Base(base)] = n
            for site, n in conn.execute(
                select(_C.site, sa.func.count()).where(present).group_by(_C.site)
            ):
                out.sources[SourceFilter(site) if site else SourceFilter.LOCAL] = n
            flags = conn.execute(
                select(
                    sa.func.sum(sa.case((_C.duplicate == True, 1), else_=0)),  # noqa: E712
                    sa.func.sum(sa.case((_C.safety.in_([v.value for v in _UNSAFE]), 1), else_=0)),
                    sa.func.sum(sa.case((_C.needs_metadata == True, 1), else_=0)),  # noqa: E712
                ).where(present)
            ).one()
            out.duplicates, out.unsafe, out.missing_metadata = (int(x or 0) for x in flags)
            return out

    def _rows(self, conn: sa.Connection, rows: Sequence[Any]) -> list[BrowseRow]:
        """Resolve the trigger words of a page (a page, never the whole table)."""
        words = self._words(conn, rows)
        out = []
        for r in rows:
            weighted = bool(r.weighted)
            out.append(
                BrowseRow(
                    id=r.id,
                    name=r.name,
                    kind=Kind(r.kind),
                    base=Base(r.base),
                    component=Component(r.component) if r.component else None,
                    size=int(r.size),
                    weight=(float(r.weight) if r.weight is not None else DEFAULT_WEIGHT)
                    if weighted
                    else None,
                    weight_default=weighted and r.weight is None,
                    words=tuple(words.get(r.id, ())),
                    site=Site(r.site) if r.site else None,
                    verdict=r.verdict,
                    safety=Verdict(r.safety),
                    invalid=bool(r.invalid),
                    warned=bool(r.warned),
                    duplicate=bool(r.duplicate),
                    missing=bool(r.missing),
                )
            )
        return out

    def _words(self, conn: sa.Connection, rows: Sequence[Any]) -> dict[int, list[str]]:
        file_ids = [r.id for r in rows]
        version_of = {r.id: r.version_id for r in rows}
        version_ids = sorted({v for v in version_of.values() if v is not None})
        if not file_ids:
            return {}
        # Two indexed look-ups (an OR of both would scan the whole table).
        found = list(conn.execute(select(TriggerWord).where(TriggerWord.file_id.in_(file_ids))))
        if version_ids:
            found += conn.execute(
                select(TriggerWord).where(TriggerWord.version_id.in_(version_ids))
            ).all()
        by_file: dict[int, list[Any]] = {}
        by_version: dict[int, list[Any]] = {}
        for w in found:
            if w.file_id is not None:
                by_file.setdefault(w.file_id, []).append(w)
            else:
                by_version.setdefault(w.version_id, []).append(w)
        out = {}
        for fid in file_ids:
            vid = version_of[fid]
            chosen, _ = best_words(
                [*by_file.get(fid, []), *(by_version.get(vid, []) if vid else [])]
            )
            out[fid] = chosen
        return out


_ROW_COLUMNS = (
    "id",
    "name",
    "kind",
    "base",
    "component",
    "size",
    "weight",
    "weighted",
    "site",
    "verdict",
    "safety",
    "invalid",
    "warned",
    "duplicate",
    "missing",
    "version_id",
)


def _where(query: AssetQuery) -> list[sa.ColumnElement[bool]]:
    clauses: list[sa.ColumnElement[bool]] = []
    if not query.include_missing:
        clauses.append(_C.missing == False)  # noqa: E712
    if query.kinds:
        clauses.append(_C.kind.in_(sorted(k.value for k in query.kinds)))
    if query.bases:
        clauses.append(_C.base.in_(sorted(b.value for b in query.bases)))
    if query.sources:
        sites = [s.value for s in query.sources if s is not SourceFilter.LOCAL]
        either = []
        if sites:
            either.append(_C.site.in_(sites))
        if SourceFilter.LOCAL in query.sources:
            either.append(_C.site.is_(None))
        clauses.append(sa.or_(*either))
    if query.missing_metadata:
        clauses.append(_C.needs_metadata == True)  # noqa: E712
    if query.duplicates:
        clauses.append(_C.duplicate == True)  # noqa: E712
    if query.unsafe:
        clauses.append(_C.safety.in_([v.value for v in _UNSAFE]))
    for term in query.text.lower().split():
        pattern = f"%{_like_escape(term)}%"
        clause = _C.search.like(pattern, escape="\\")
        if _HEX.match(term):
            prefix = f"% {_like_escape(term.upper())}%"
            clause = sa.or_(clause, _C.hashes.like(prefix, escape="\\"))
        clauses.append(clause)
    return clauses


_SORT_COLUMNS = {
    SortKey.NAME: "lname",
    SortKey.KIND: "kind",
    SortKey.BASE: "base",
    SortKey.SIZE: "size",
    SortKey.WEIGHT: "weight",
    SortKey.WORDS: "first_word",
    SortKey.SOURCE: "site",
    SortKey.RENDER: "verdict",
    SortKey.ADDED: "added",
}


def _order(query: AssetQuery) -> list[Any]:
    column = _C[_SORT_COLUMNS[query.sort]]
    direction = column.desc() if query.descending else column.asc()
    if query.sort is SortKey.NAME:  # never NULL; ``(lname, id)`` is indexed
        return [direction, _C.id.desc() if query.descending else _C.id]
    # Unknown values (no weight, no source…) go last whichever way the column is sorted.
    return [sa.case((column.is_(None), 1), else_=0), direction, _C.lname, _C.id]


@dataclass(slots=True)
class Facets:
    """How many present assets each filter value would show (the filter bar's counts)."""

    total: int = 0
    kinds: dict[Kind, int] = field(default_factory=dict)
    bases: dict[Base, int] = field(default_factory=dict)
    sources: dict[SourceFilter, int] = field(default_factory=dict)
    duplicates: int = 0
    unsafe: int = 0
    missing_metadata: int = 0


# --------------------------------------------------------------------------------------
# What a person should know about one asset


class NoteLevel(StrEnum):
    INFO = "info"
    WARNING = "warning"
    DANGER = "danger"


@dataclass(frozen=True, slots=True)
class Note:
    """One line of the detail pane's warnings."""

    level: NoteLevel
    text: str


def duplicate_paths(session: Session, asset: Asset) -> list[str]:
    """Other present files with the same bytes."""
    if asset.hashes is None:
        return []
    stmt = select(LocalFile.path).where(
        LocalFile.sha256 == asset.hashes.sha256,
        LocalFile.missing == False,  # noqa: E712
        LocalFile.id != asset.id,
    )
    return sorted(session.exec(stmt))


def asset_notes(session: Session, asset: Asset, library: Library | None = None) -> list[Note]:
    """Warnings about an asset: unsafe pickle, misplaced, duplicate, name clash, missing, …"""
    notes: list[Note] = []
    verdict = asset.safety.verdict
    if verdict is Verdict.DANGEROUS:
        why = asset.safety.reason or ", ".join(asset.safety.globals[-3:]) or "code"
        notes.append(
            Note(NoteLevel.DANGER, f"unsafe pickle: {why}; loading it could run code — delete it")
        )
    elif verdict is Verdict.SUSPICIOUS:
        why = asset.safety.reason or ", ".join(asset.safety.globals[-3:]) or "unusual globals"
        notes.append(Note(NoteLevel.WARNING, f"suspicious pickle: {why}"))
    elif verdict is Verdict.UNSCANNABLE:
        notes.append(Note(NoteLevel.WARNING, "pickle could not be scanned"))
    if asset.error:
        notes.append(Note(NoteLevel.DANGER, f"not a usable model file: {asset.error}"))
    if asset.missing:
        notes.append(Note(NoteLevel.WARNING, "missing from disk at the last scan"))
    if library is not None and not asset.missing:
        judged = judge_placement(library, asset.path, asset.kind, asset.component)
        if judged.placement is Placement.MISPLACED:
            notes.append(
                Note(
                    NoteLevel.WARNING,
                    f"misplaced: {_a(asset.kind.value)} belongs in {_rel(library, judged.home)}",
                )
            )
        elif judged.placement is Placement.UNPLACED:
            notes.append(
                Note(
                    NoteLevel.WARNING,
                    f"in no model folder: belongs in {_rel(library, judged.home)}",
                )
            )
    for warning in asset.warnings:
        notes.append(Note(NoteLevel.WARNING, warning))
    dups = duplicate_paths(session, asset)
    if dups:
        shown = [_shown(library, d) for d in dups[:3]]
        more = f" and {len(dups) - 3} more" if len(dups) > 3 else ""
        notes.append(
            Note(NoteLevel.INFO, f"duplicate: the same bytes also at {', '.join(shown)}{more}")
        )
    clashes = name_clashes(session, asset)
    if clashes and asset.kind in WEIGHTED_KINDS:
        notes.append(
            Note(
                NoteLevel.WARNING,
                f"name clash: {len(clashes)} other file(s) are also called {asset.name!r}",
            )
        )
    return notes


def _shown(library: Library | None, path: str) -> str:
    """A path relative to the library root when it is inside, else as it is."""
    if library is None:
        return path
    rel = library.relative(path)
    return path if rel is None else str(rel)


def _rel(library: Library, path: Any) -> str:
    if path is None:
        return "?"
    try:
        return os.path.relpath(path, library.root)
    except ValueError:
        return str(path)


@dataclass(slots=True)
class AssetDetail:
    """Everything the detail pane shows about one asset, gathered in one session."""

    asset: Asset
    notes: list[Note]
    clashes: list[str]
    #: The path relative to the library root (None outside it, or without a library).
    relative_path: str | None = None
    #: The first preview image that exists on disk.
    preview_path: str | None = None
    #: A remote preview URL when no local one exists.
    preview_url: str | None = None
    #: What Civitai/HF say about the model, as plain text (the model's, else the version's).
    remote_text: str | None = None


def asset_detail(session: Session, file_id: int, library: Library | None = None) -> AssetDetail:
    """One asset with previews, notes and name clashes (raises ``RefNotFoundError`` if gone)."""
    from .assets import load_asset

    asset = load_asset(session, file_id, previews=True)
    relative = None
    if library is not None:
        rel = library.relative(asset.path)
        relative = None if rel is None else str(rel)
    preview_path = preview_url = None
    for preview in asset.previews or []:
        path = preview.get("path")
        if path and preview_path is None and os.path.isfile(path):
            preview_path = path
        if preview.get("url") and preview_url is None:
            preview_url = preview["url"]
    remote_text = asset.remote_description
    if not remote_text and asset.source is not None:
        html = session.exec(
            select(RemoteVersion.description).where(
                RemoteVersion.site == asset.source.site,
                RemoteVersion.remote_id == asset.source.version_id,
            )
        ).first()
        if html:
            remote_text = _plain_text(html)
    return AssetDetail(
        asset=asset,
        notes=asset_notes(session, asset, library),
        remote_text=remote_text,
        clashes=name_clashes(session, asset),
        relative_path=relative,
        preview_path=preview_path,
        preview_url=None if preview_path else preview_url,
    )


def first_page(session: Session, limit: int) -> tuple[int, list[BrowseRow]]:
    """The count of present files and the first ``limit`` of them by name, without an index.

    What the browser shows while :class:`BrowseIndex` builds: a usable table
    at once, from two indexed queries and :func:`~.assets.build_assets` on
    one screenful.
    """
    present = LocalFile.missing == False  # noqa: E712
    total = session.exec(select(sa.func.count()).select_from(LocalFile).where(present)).one()
    rows = list(
        session.exec(
            select(LocalFile)
            .where(present)
            .order_by(sa.func.lower(LocalFile.name), LocalFile.id)
            .limit(limit)
        )
    )
    hashes = [r.sha256 for r in rows if r.sha256]
    dup_hashes = set(
        session.exec(
            select(LocalFile.sha256)
            .where(present, LocalFile.sha256.in_(hashes))
            .group_by(LocalFile.sha256)
            .having(sa.func.count() > 1)
        )
    )
    by_id = {r.id: r for r in rows}
    out = []
    for asset in build_assets(session, rows):
        row = by_id[asset.id]
        weight = asset.weight
        out.append(
            BrowseRow(
                id=asset.id,
                name=asset.name,
                kind=asset.kind,
                base=asset.base,
                component=asset.component,
                size=asset.size,
                weight=weight.default if weight is not None else None,
                weight_default=weight is not None and weight.source is WeightSource.DEFAULT,
                words=tuple(asset.trigger_words),
                site=asset.source.site if asset.source else None,
                verdict=asset.render.verdict if asset.render else None,
                safety=asset.safety.verdict,
                invalid=asset.kind is Kind.INVALID,
                warned=bool(asset.warnings),
                duplicate=row.sha256 in dup_hashes,
                missing=asset.missing,
            )
        )
    return int(total), out


def _plain_text(html: str) -> str:
    lines = [" ".join(line.split()) for line in html_to_text(html).splitlines()]
    return "\n".join(line for line in lines if line).strip()


def _a(noun: str) -> str:
    """``a lora``, ``an embedding``."""
    return ("an " if noun[:1].lower() in "aeiou" else "a ") + noun
