"""Incremental library scan: stat everything, read only what changed, remember what moved.

1. Walk the roots (a WebUI root's model folders, or any folder entirely),
   stat each model file and look for its sidecars in the same listing.
2. Load (path → size, mtime, inode) for the roots in one query. A file whose
   three values are unchanged is not opened (re-scanning 10,000 unchanged
   files is a walk and one query: BENCHMARKS.md wants < 2 s).
3. Hash and classify the rest (``inspect_file``: one read pass) on a pool of
   threads across files, and upsert them in batches, one transaction each, so
   Ctrl-C or a kill loses at most the batch in flight and the next scan
   resumes where this one stopped (finished files are unchanged rows then).
4. A new path whose SHA-256 equals a file that vanished (or was already
   missing) is that file moved: its row follows, with every trigger word,
   weight, link and preview. What vanished otherwise is marked missing.
5. Import sidecars that are new or changed (A1111 ``.json``,
   ``.civitai.info``, ``.cm-info.json``, previews).
6. Report duplicates, misplaced files and invalid or dangerous ones.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import (
    FIRST_COMPLETED,
    Executor,
    Future,
    ProcessPoolExecutor,
    ThreadPoolExecutor,
    wait,
)
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sdhub.models.kinds import Component, Kind, Verdict
from sdhub.models.layouts import MODEL_SUFFIXES, Layout, detect_layout
from sdhub.models.report import FileReport
from sqlmodel import Session, select

from .coltypes import utcnow
from .db import Catalog
from .enums import LinkSource, ScanEvent, Source
from .errors import CatalogError
from .files import (
    asset_name,
    link_by_hash,
    mark_missing,
    move_record,
    normpath,
    report_fields,
    signed_inode,
    stat_fields,
    touch_seen,
    unreadable_fields,
)
from .knowledge import set_trigger_words
from .library import Library, Placement, judge_placement, open_library
from .sidecars import find_sidecars, import_sidecars
from .tables import LocalFile, RemoteFile, RemoteVersion, TriggerWord

#: Folders never worth walking when a whole tree is scanned.
SKIP_DIRS = frozenset({"__pycache__", "venv", ".venv", "node_modules", ".git"})
#: Files a download or placement is still writing.
PARTIAL_SUFFIXES = (".part", ".tmp", ".partial", ".crdownload")


class ScanProgress(Protocol):
    """What a progress bar needs to know (the catalog never draws one itself).

    ``advance`` is called from the hashing threads while big files are read
    (``files=0``) and once per finished file: it must be thread-safe (rich's
    Progress is).
    """

    def planned(self, files: int, total_bytes: int) -> None: ...

    def advance(self, files: int, nbytes: int) -> None: ...


# --------------------------------------------------------------------------------------
# Results


@dataclass(slots=True)
class FileEvent:
    """What happened to one file in a scan."""

    event: ScanEvent
    path: str
    file_id: int | None
    old_path: str | None = None
    message: str | None = None


@dataclass(slots=True)
class Problem:
    """A file the user should look at: invalid, dangerous, suspicious, unreadable."""

    path: str
    problem: str
    message: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"path": self.path, "problem": self.problem, "message": self.message}


@dataclass(slots=True)
class Misplaced:
    """A file not in the folder its kind belongs in."""

    path: str
    kind: Kind
    component: Component | None
    placement: Placement
    home: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind.value,
            "component": self.component.value if self.component else None,
            "placement": self.placement.value,
            "home": self.home,
        }


@dataclass(slots=True)
class ScanStats:
    files: int = 0  # model files found under the roots
    new: int = 0
    changed: int = 0
    moved: int = 0
    missing: int = 0
    unchanged: int = 0
    errors: int = 0
    #: Files opened and read (hashed + classified): 0 on a re-scan of an unchanged tree.
    inspected: int = 0
    inspected_bytes: int = 0
    sidecar_imports: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(slots=True)
class ScanReport:
    roots: list[str]
    stats: ScanStats
    events: list[FileEvent] = field(default_factory=list)
    duplicates: list[list[str]] = field(default_factory=list)
    misplaced: list[Misplaced] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    interrupted: bool = False

    @property
    def failed(self) -> bool:
        """Some item failed: unreadable, invalid or dangerous files (exit status 1)."""
        return any(p.problem in ("unreadable", "invalid", "dangerous") for p in self.problems)

    def summary_json(self) -> dict[str, Any]:
        return {
            "event": "summary",
            "roots": self.roots,
            **self.stats.to_json(),
            "interrupted": self.interrupted,
            "duplicates": self.duplicates,
            "misplaced": [m.to_json() for m in self.misplaced],
            "problems": [p.to_json() for p in self.problems],
            "warnings": self.warnings,
        }


# --------------------------------------------------------------------------------------
# Walking


@dataclass(slots=True)
class WalkedFile:
    path: str
    size: int
    mtime_ns: int
    inode: int
    sidecars: dict[str, Path]
    sidecar_state: dict[str, list[int]]

    @property
    def stat_key(self) -> tuple[int, int, int]:
        return (self.size, self.mtime_ns, self.inode)


def is_model_name(name: str) -> bool:
    lower = name.lower()
    if lower.startswith(".") or lower.endswith(PARTIAL_SUFFIXES):
        return False
    return os.path.splitext(lower)[1] in MODEL_SUFFIXES


def walk_models(
    root: Path, warnings: list[str] | None = None, skipped: list[str] | None = None
) -> Iterator[WalkedFile]:
    """Every model file under ``root`` with its sidecars (symlinks followed, each folder once).

    What cannot be listed or stat'ed is named in ``warnings`` and its path put in
    ``skipped``: the scan must not take those files for gone.
    """
    warnings = warnings if warnings is not None else []
    skipped = skipped if skipped is not None else []
    stack = [str(root)]
    seen: set[tuple[int, int]] = set()
    while stack:
        folder = stack.pop()
        try:
            st = os.stat(folder)
            key = (st.st_dev, st.st_ino)
            if key in seen:
                continue
            seen.add(key)
            with os.scandir(folder) as it:
                entries = sorted(it, key=lambda e: e.name)
        except OSError as exc:
            warnings.append(f"{folder}: cannot list ({exc.strerror or exc}); skipped")
            skipped.append(folder.rstrip(os.sep) + os.sep)
            continue
        files: dict[str, os.DirEntry[str]] = {}
        subdirs: list[str] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                if entry.is_dir():
                    if entry.name not in SKIP_DIRS:
                        subdirs.append(entry.path)
                elif entry.is_file():
                    files[entry.name] = entry
            except OSError:
                continue
        stack.extend(reversed(subdirs))
        names = set(files)
        for name, entry in files.items():
            if not is_model_name(name):
                continue
            try:
                est = entry.stat()
            except OSError as exc:
                warnings.append(f"{entry.path}: cannot stat ({exc.strerror or exc}); skipped")
                skipped.append(entry.path)
                continue
            sidecars = find_sidecars(entry.path, names)
            state = {}
            for suffix, path in sidecars.items():
                try:
                    sst = files[path.name].stat()
                except OSError:
                    continue
                state[suffix] = [sst.st_size, sst.st_mtime_ns]
            yield WalkedFile(
                path=entry.path,
                size=est.st_size,
                mtime_ns=est.st_mtime_ns,
                inode=signed_inode(est.st_ino),
                sidecars={s: p for s, p in sidecars.items() if s in state},
                sidecar_state=state,
            )


def walk_file(path: Path) -> WalkedFile:
    st = path.stat()
    sidecars = find_sidecars(path)
    state = {}
    for suffix, p in sidecars.items():
        sst = p.stat()
        state[suffix] = [sst.st_size, sst.st_mtime_ns]
    return WalkedFile(
        str(path), st.st_size, st.st_mtime_ns, signed_inode(st.st_ino), sidecars, state
    )


# --------------------------------------------------------------------------------------
# Roots


@dataclass(slots=True)
class ScanPlan:
    """What to walk, which paths a scan vouches for, and which libraries judge placement."""

    walk: list[Path]
    files: list[Path]
    #: Rows under these folders that were not seen are missing.
    scope_dirs: list[str]
    libraries: list[Library]


def plan_roots(
    roots: Sequence[str | os.PathLike[str]],
    library: Library | None,
    layout: Layout | None = None,
) -> ScanPlan:
    """Decide what a scan walks. No roots: the configured library's model folders. A root
    that is itself a WebUI install (detected, or ``layout`` given): its model folders. Any
    other folder: all of it. A file: it."""
    plan = ScanPlan([], [], [], [])
    if not roots:
        if library is None:
            raise CatalogError(
                "no library to scan: pass a folder (`sdhub scan DIR`) or set SDHUB_LIBRARY"
            )
        roots = [library.root]
    for root in roots:
        path = Path(normpath(os.path.expanduser(os.fspath(root))))
        if path.is_file():
            plan.files.append(path)
            continue
        if not path.is_dir():
            raise CatalogError(f"{path}: no such folder")
        lib = _library_at(path, library, layout)
        if lib is not None:
            plan.libraries.append(lib)
            from sdhub.models.layouts import model_folders

            folders = [lib.root / f for f in model_folders(lib.layout)]
            plan.scope_dirs.extend(str(f) for f in folders)
            plan.walk.extend(f for f in folders if f.is_dir())
        else:
            plan.scope_dirs.append(str(path))
            plan.walk.append(path)
            if library is not None and library.contains(path) and library not in plan.libraries:
                plan.libraries.append(library)
    return plan


def _library_at(path: Path, configured: Library | None, layout: Layout | None) -> Library | None:
    if configured is not None and configured.root == path:
        return configured
    detected = layout or detect_layout(path)
    return Library(path, detected) if detected is not None else None


# --------------------------------------------------------------------------------------
# The scan


@dataclass(slots=True)
class _Known:
    id: int
    path: str
    stat_key: tuple[int, int, int]
    missing: bool
    sidecars: dict[str, Any]


def _scope_condition(plan: ScanPlan) -> sa.ColumnElement[bool] | None:
    """Rows under the folders a scan vouches for (plain string prefixes, any database)."""
    conditions: list[sa.ColumnElement[bool]] = []
    for folder in plan.scope_dirs:
        prefix = folder.rstrip(os.sep) + os.sep
        conditions.append(sa.func.substr(LocalFile.path, 1, len(prefix)) == prefix)
    if plan.files:
        conditions.append(LocalFile.path.in_([str(f) for f in plan.files]))
    return sa.or_(*conditions) if conditions else None


def _load_known(session: Session, plan: ScanPlan) -> dict[str, _Known]:
    """(path → size, mtime, inode, sidecar state) of every row under the roots: one query.

    Core columns and the sidecar state as raw text: no ORM objects, and JSON
    parsed only for the few files that have sidecars (a re-scan of 10,000
    files is mostly this query and the walk).
    """
    table = LocalFile.__table__  # type: ignore[attr-defined]
    condition = _scope_condition(plan)
    known: dict[str, _Known] = {}
    if condition is None:
        return known
    stmt = select(
        table.c.id,
        table.c.path,
        table.c.size,
        table.c.mtime_ns,
        table.c.inode,
        table.c.missing,
        sa.type_coerce(table.c.sidecars, sa.Text),
    ).where(condition)
    for fid, path, size, mtime_ns, inode, missing, sidecars in session.connection().execute(stmt):
        if isinstance(sidecars, dict):  # PostgreSQL's driver decodes JSONB itself
            state = sidecars
        else:
            state = {} if not sidecars or sidecars in ("{}", "null") else json.loads(sidecars)
        known[path] = _Known(fid, path, (size, mtime_ns, inode), missing, state or {})
    return known


def default_workers() -> int:
    return max(1, min(8, os.cpu_count() or 1))


def scan_library(
    catalog: Catalog,
    roots: Sequence[str | os.PathLike[str]] = (),
    *,
    library: Library | None = None,
    workers: int | None = None,
    progress: ScanProgress | None = None,
    on_event: Callable[[FileEvent], None] | None = None,
    batch_size: int = 64,
    batch_seconds: float = 1.0,
    processes: bool = False,
    layout: Layout | None = None,
) -> ScanReport:
    """Scan roots into the catalog (see the module docstring). Safe to interrupt.

    ``library`` is the configured WebUI install (default roots, and the judge
    of misplaced files). A KeyboardInterrupt commits what is done and returns a
    report with ``interrupted=True``. ``layout`` forces the layout of explicit
    roots that are WebUI installs (default: detected). ``processes`` hashes and classifies in
    worker processes instead of threads (``bench/scan_bench.py`` compares them;
    threads are the default: see its numbers in the report).
    """
    started = time.perf_counter()
    plan = plan_roots(roots, library, layout)
    report = ScanReport(roots=[str(p) for p in (*plan.walk, *plan.files)], stats=ScanStats())
    stats = report.stats

    walked: dict[str, WalkedFile] = {}
    skipped: list[str] = []  # folders (ending in a separator) and files we could not read
    for folder in plan.walk:
        for wf in walk_models(folder, report.warnings, skipped):
            walked.setdefault(wf.path, wf)
    for path in plan.files:
        if is_model_name(path.name):
            walked.setdefault(str(path), walk_file(path))
        else:
            report.warnings.append(
                f"{path}: not a model file name ({', '.join(sorted(MODEL_SUFFIXES))})"
            )
    stats.files = len(walked)

    with catalog.session() as session:
        known = _load_known(session, plan)

    unchanged: list[_Known] = []
    sidecar_only: list[tuple[_Known, WalkedFile]] = []
    to_inspect: list[WalkedFile] = []
    for path, wf in walked.items():
        row = known.get(path)
        if row is not None and not row.missing and row.stat_key == wf.stat_key:
            unchanged.append(row)
            if row.sidecars != wf.sidecar_state:
                sidecar_only.append((row, wf))
        else:
            to_inspect.append(wf)
    unreadable = tuple(skipped)
    vanished_ids: set[int] = set()
    for path, row in known.items():
        if path in walked or row.missing or path.startswith(unreadable):
            continue
        vanished_ids.add(row.id)

    emit = _Emitter(report, on_event)
    if progress is not None:
        progress.planned(len(to_inspect), sum(w.size for w in to_inspect))

    now = utcnow()
    applier = _Applier(catalog, emit, vanished_ids, set(walked), now)
    if to_inspect:  # the inspector's imports cost a re-scan of an unchanged tree 0.2 s
        from sdhub.models.inspect import inspect_file
    else:
        inspect_file = None  # type: ignore[assignment]
    try:
        for wf, result, reported in _inspect_all(
            to_inspect, inspect_file, workers or default_workers(), progress, processes
        ):
            applier.add(wf, result)
            stats.inspected += 1
            stats.inspected_bytes += wf.size
            if progress is not None:
                progress.advance(1, max(0, wf.size - reported))
            if applier.pending >= batch_size or applier.age >= batch_seconds:
                applier.flush()
    except KeyboardInterrupt:
        report.interrupted = True
    applier.flush()

    if not report.interrupted:
        try:
            _finish(
                catalog,
                report,
                unchanged,
                sidecar_only,
                applier,
                vanished_ids,
                now,
                plan,
                bool(unreadable),
            )
        except KeyboardInterrupt:
            report.interrupted = True
    report.warnings.extend(applier.warnings)
    stats.sidecar_imports = applier.sidecar_imports

    with catalog.session() as session:
        _judge(session, report, plan)
    stats.seconds = round(time.perf_counter() - started, 3)
    return report


def _finish(
    catalog: Catalog,
    report: ScanReport,
    unchanged: list[_Known],
    sidecar_only: list[tuple[_Known, WalkedFile]],
    applier: _Applier,
    vanished_ids: set[int],
    now: Any,
    plan: ScanPlan,
    partial_walk: bool,
) -> None:
    stats = report.stats
    for start in range(0, len(sidecar_only), 64):
        with catalog.transaction() as session:
            for known, wf in sidecar_only[start : start + 64]:
                row = session.get(LocalFile, known.id)
                if row is not None:
                    applier.import_sidecars(session, row, wf)
    with catalog.transaction() as session:
        gone = sorted(vanished_ids - applier.consumed)
        mark_missing(session, gone)
        condition = _scope_condition(plan)
        if condition is not None and not partial_walk:
            # Everything present under the roots was seen now: one UPDATE, not one per file.
            session.execute(
                sa.update(LocalFile)
                .where(condition, LocalFile.missing == False)  # noqa: E712
                .values(last_seen=now)
                .execution_options(synchronize_session=False)
            )
        else:
            touch_seen(session, [k.id for k in unchanged], now)
    stats.unchanged += len(unchanged)
    if applier.emit.callback is not None:
        for known in unchanged:
            applier.emit.callback(FileEvent(ScanEvent.UNCHANGED, known.path, known.id))
    if gone:
        with catalog.session() as session:
            for chunk_start in range(0, len(gone), 500):
                chunk = gone[chunk_start : chunk_start + 500]
                for fid, path in session.execute(
                    select(LocalFile.id, LocalFile.path).where(LocalFile.id.in_(chunk))
                ):
                    applier.emit(FileEvent(ScanEvent.MISSING, path, fid))


def _inspect_all(
    files: Sequence[WalkedFile],
    inspect: Callable[..., FileReport],
    workers: int,
    progress: ScanProgress | None,
    processes: bool = False,
) -> Iterator[tuple[WalkedFile, FileReport | BaseException, int]]:
    """Inspect files on a pool, yielding (file, report, bytes already reported to the
    progress bar) as each finishes; a bounded window of files in flight."""
    if not files:
        return
    queue = deque(files)
    executor: Executor
    if processes:
        executor = ProcessPoolExecutor(max_workers=workers)
        progress = None  # byte progress cannot cross processes; whole files still count
    else:
        executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sdhub-scan")
    running: dict[Future[tuple[FileReport, int]], WalkedFile] = {}
    try:
        while queue or running:
            while queue and len(running) < max(workers * 4, 32):
                wf = queue.popleft()
                running[executor.submit(_inspect_one, inspect, wf.path, progress)] = wf
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                wf = running.pop(future)
                exc = future.exception()
                if exc is not None:
                    yield wf, exc, 0
                else:
                    report, reported = future.result()
                    yield wf, report, reported
    finally:
        for future in running:
            future.cancel()
        executor.shutdown(wait=False, cancel_futures=True)


def _inspect_one(
    inspect: Callable[..., FileReport], path: str, progress: ScanProgress | None
) -> tuple[FileReport, int]:
    if progress is None:
        return inspect(Path(path), hashes=True), 0
    seen = 0

    def hashed(done: int) -> None:
        nonlocal seen
        if done > seen:
            progress.advance(0, done - seen)
            seen = done

    return inspect(Path(path), hashes=True, progress=hashed), seen


class _Emitter:
    def __init__(self, report: ScanReport, callback: Callable[[FileEvent], None] | None) -> None:
        self.report = report
        self.callback = callback
        self.lock = threading.Lock()

    def __call__(self, event: FileEvent) -> None:
        stats = self.report.stats
        counter = {
            ScanEvent.NEW: "new",
            ScanEvent.CHANGED: "changed",
            ScanEvent.MOVED: "moved",
            ScanEvent.MISSING: "missing",
            ScanEvent.UNCHANGED: "unchanged",
            ScanEvent.ERROR: "errors",
        }[event.event]
        setattr(stats, counter, getattr(stats, counter) + 1)
        if event.event is not ScanEvent.UNCHANGED:
            self.report.events.append(event)
        if self.callback is not None:
            self.callback(event)


class _Applier:
    """Writes inspection results in batches: one transaction per batch.

    New files (the bulk of a first scan) are inserted with one multi-row
    INSERT per batch and linked to Civitai with one query; only files that
    changed, moved or brought sidecars go through the ORM one by one.
    """

    def __init__(
        self,
        catalog: Catalog,
        emit: _Emitter,
        vanished_ids: set[int],
        walked: set[str],
        now: Any,
    ) -> None:
        self.catalog = catalog
        self.emit = emit
        self.vanished_ids = vanished_ids
        self.walked = walked
        self.consumed: set[int] = set()
        self.now = now
        self.batch: list[tuple[WalkedFile, FileReport | BaseException]] = []
        self.started = time.monotonic()
        self.warnings: list[str] = []
        self.sidecar_imports = 0

    @property
    def pending(self) -> int:
        return len(self.batch)

    @property
    def age(self) -> float:
        return time.monotonic() - self.started if self.batch else 0.0

    def add(self, wf: WalkedFile, result: FileReport | BaseException) -> None:
        self.batch.append((wf, result))

    def flush(self) -> None:
        if not self.batch:
            return
        batch, self.batch = self.batch, []
        consumed: set[int] = set()
        with self.catalog.transaction() as session:
            events = self._apply_batch(session, batch, consumed)
        # Only after the commit: what the events say is now true in the catalog.
        self.consumed |= consumed
        for event in events:
            self.emit(event)
        self.started = time.monotonic()

    # -- one batch ------------------------------------------------------------------

    def _apply_batch(
        self,
        session: Session,
        batch: list[tuple[WalkedFile, FileReport | BaseException]],
        consumed: set[int],
    ) -> list[FileEvent]:
        live: list[tuple[WalkedFile, FileReport | BaseException, os.stat_result]] = []
        for wf, result in batch:
            try:
                live.append((wf, result, os.stat(wf.path)))
            except FileNotFoundError:
                continue  # deleted while we scanned; the next scan marks it missing
        if not live:
            return []
        existing = {
            r.path: r
            for r in session.exec(
                select(LocalFile).where(LocalFile.path.in_([wf.path for wf, _, _ in live]))
            )
        }
        new_shas = {
            r.hashes.sha256.upper()
            for wf, r, _ in live
            if isinstance(r, FileReport) and r.hashes and wf.path not in existing
        }
        candidates = self._move_candidates(session, new_shas)

        events: list[FileEvent] = []
        touched: list[tuple[LocalFile, WalkedFile, FileReport]] = []
        fresh: list[tuple[WalkedFile, FileReport, dict[str, Any]]] = []
        for wf, result, st in live:
            row = existing.get(wf.path)
            if isinstance(result, BaseException):
                events.append(self._unreadable(session, wf, row, st, result))
                continue
            fields = {**stat_fields(st), **report_fields(result)}
            if row is not None:
                same = (row.sha256, row.kind, row.missing) == (fields["sha256"], result.kind, False)
                for name, value in fields.items():
                    setattr(row, name, value)
                row.last_seen, row.missing = self.now, False
                touched.append((row, wf, result))
                event = ScanEvent.UNCHANGED if same else ScanEvent.CHANGED
                events.append(FileEvent(event, wf.path, row.id))
                continue
            moved = self._take_candidate(candidates, fields["sha256"], consumed)
            if moved is not None:
                old_path = moved.path
                move_record(session, moved, wf.path, st=st, now=self.now)
                for name, value in fields.items():
                    setattr(moved, name, value)
                touched.append((moved, wf, result))
                events.append(FileEvent(ScanEvent.MOVED, wf.path, moved.id, old_path=old_path))
                continue
            fields.update(
                path=wf.path,
                name=asset_name(wf.path),
                first_seen=self.now,
                last_seen=self.now,
                missing=False,
                sidecars={},
            )
            fresh.append((wf, result, fields))
        session.flush()

        ids = self._insert_fresh(session, [f for _, _, f in fresh])
        for wf, _, _ in fresh:
            events.append(FileEvent(ScanEvent.NEW, wf.path, ids[wf.path]))
        self._link_fresh(session, ids, [f for _, _, f in fresh])
        hint_rows = []
        for wf, result, _ in fresh:
            for position, word in enumerate(hint_words(result.classification.details)):
                hint_rows.append(
                    {
                        "file_id": ids[wf.path],
                        "source": Source.METADATA,
                        "origin": "safetensors metadata",
                        "position": position,
                        "word": word,
                    }
                )
        if hint_rows:
            session.execute(sa.insert(TriggerWord), hint_rows)
        for row, _, result in touched:
            link_by_hash(session, row)
            set_trigger_words(
                session,
                hint_words(result.classification.details),
                source=Source.METADATA,
                file_id=row.id,
                origin="safetensors metadata",
            )

        for row, wf, _ in touched:
            if row.sidecars != wf.sidecar_state:
                self.import_sidecars(session, row, wf)
        for wf, _, _ in fresh:
            if wf.sidecar_state:
                fresh_row = session.get(LocalFile, ids[wf.path])
                assert fresh_row is not None
                self.import_sidecars(session, fresh_row, wf, fresh=True)
        return events

    def _insert_fresh(self, session: Session, rows: list[dict[str, Any]]) -> dict[str, int]:
        if not rows:
            return {}
        session.execute(sa.insert(LocalFile), rows)
        paths = [r["path"] for r in rows]
        found = session.execute(
            select(LocalFile.path, LocalFile.id).where(LocalFile.path.in_(paths))
        )
        return {path: file_id for path, file_id in found}

    def _link_fresh(
        self, session: Session, ids: dict[str, int], rows: list[dict[str, Any]]
    ) -> None:
        """Link new files to published files of the same SHA-256: one query for the batch."""
        shas = {r["sha256"] for r in rows if r["sha256"]}
        if not shas:
            return
        best: dict[str, tuple[int, int]] = {}
        for sha, file_id, version_id in session.execute(
            select(RemoteFile.sha256, RemoteFile.id, RemoteVersion.id)
            .join(RemoteVersion, RemoteFile.version_id == RemoteVersion.id)
            .where(RemoteFile.sha256.in_(shas))
            .order_by(RemoteVersion.published_at.desc(), RemoteVersion.id.desc())
        ):
            best.setdefault(sha, (file_id, version_id))
        updates = [
            {
                "id": ids[r["path"]],
                "remote_file_id": best[r["sha256"]][0],
                "remote_version_id": best[r["sha256"]][1],
                "link_source": LinkSource.HASH,
            }
            for r in rows
            if r["sha256"] in best
        ]
        if updates:
            session.execute(sa.update(LocalFile), updates)

    def _move_candidates(self, session: Session, shas: set[str]) -> dict[str, list[LocalFile]]:
        """Rows with these hashes whose files are gone: where a new path may have come from."""
        out: dict[str, list[LocalFile]] = defaultdict(list)
        if not shas:
            return out
        rows = session.exec(
            select(LocalFile)
            .where(LocalFile.sha256.in_(sorted(shas)))
            .order_by(LocalFile.missing.desc(), LocalFile.id)
        ).all()
        vanished_ids = self.vanished_ids
        for row in rows:
            if row.id in self.consumed:
                continue
            gone = (
                row.missing
                or row.id in vanished_ids
                or (row.path not in self.walked and not os.path.exists(row.path))
            )
            if gone and row.sha256:
                out[row.sha256].append(row)
        # Files that vanished in this scan come first: they are the likeliest origin.
        for rows_ in out.values():
            rows_.sort(key=lambda r: (r.id not in vanished_ids, not r.missing, r.id))
        return out

    @staticmethod
    def _take_candidate(
        candidates: dict[str, list[LocalFile]], sha: str | None, consumed: set[int]
    ) -> LocalFile | None:
        if not sha:
            return None
        for row in candidates.get(sha, []):
            if row.id not in consumed:
                consumed.add(row.id)  # type: ignore[arg-type]
                return row
        return None

    def _unreadable(
        self,
        session: Session,
        wf: WalkedFile,
        row: LocalFile | None,
        st: os.stat_result,
        exc: BaseException,
    ) -> FileEvent:
        message = f"cannot read: {getattr(exc, 'strerror', None) or exc}"
        fields = {**stat_fields(st), **unreadable_fields(message)}
        if row is None:
            row = LocalFile(
                path=wf.path,
                name=asset_name(wf.path),
                first_seen=self.now,
                last_seen=self.now,
                **fields,
            )
        else:
            for name, value in fields.items():
                setattr(row, name, value)
            row.missing = False
        session.add(row)
        session.flush()
        return FileEvent(ScanEvent.ERROR, wf.path, row.id, message=message)

    def import_sidecars(
        self, session: Session, row: LocalFile, wf: WalkedFile, *, fresh: bool = False
    ) -> None:
        result = import_sidecars(
            session,
            row,
            wf.sidecars,
            previous=row.sidecars,
            current=wf.sidecar_state,
            fresh=fresh,
        )
        row.sidecars = dict(wf.sidecar_state)
        session.add(row)
        self.warnings.extend(result.warnings)
        self.sidecar_imports += len(result.imported)


def hint_words(details: dict[str, Any]) -> list[str]:
    """Trigger words the file's own metadata suggests: a last resort, below every other source.

    ``modelspec.trigger_phrase`` first, else kohya's dataset folder concepts
    (``10_mystyle`` → ``mystyle``), which trainers name after the trigger.
    Tag frequencies are not used: the top tags are mostly generic (``1girl``).
    """
    hints = details.get("hints")
    if not isinstance(hints, dict):
        return []
    phrase = hints.get("trigger_phrase")
    if isinstance(phrase, str) and phrase.strip():
        return [w.strip() for w in phrase.split(",") if w.strip()]
    dirs = hints.get("dataset_dirs")
    if isinstance(dirs, list):
        return [str(d).strip() for d in dirs if str(d).strip()][:5]
    return []


# --------------------------------------------------------------------------------------
# Judging what is there


def _judge(session: Session, report: ScanReport, plan: ScanPlan) -> None:
    table = LocalFile.__table__  # type: ignore[attr-defined]
    condition = _scope_condition(plan)
    if condition is None:
        return
    text = sa.String  # plain strings: no enum conversion for 10,000 rows
    rows = list(
        session.connection().execute(
            select(
                table.c.path,
                sa.type_coerce(table.c.kind, text).label("kind"),
                sa.type_coerce(table.c.component, text).label("component"),
                sa.type_coerce(table.c.safety, text).label("safety"),
                table.c.error,
            ).where(condition, table.c.missing == False)  # noqa: E712
        )
    )
    in_scope = {r.path for r in rows}
    # Duplicates: hashes held by two or more present files (one grouped query), then
    # their paths; a group counts when one of its files is under the roots.
    duplicated = list(
        session.execute(
            select(table.c.sha256)
            .where(table.c.missing == False, table.c.sha256.is_not(None))  # noqa: E712
            .group_by(table.c.sha256)
            .having(sa.func.count() > 1)
        ).scalars()
    )
    groups: dict[str, list[str]] = defaultdict(list)
    for start in range(0, len(duplicated), 500):
        for sha, path in session.execute(
            select(table.c.sha256, table.c.path).where(
                table.c.sha256.in_(duplicated[start : start + 500]),
                table.c.missing == False,  # noqa: E712
            )
        ):
            groups[sha].append(path)
    report.duplicates = sorted(
        sorted(paths) for paths in groups.values() if any(p in in_scope for p in paths)
    )

    judged_dirs: dict[tuple[str, Kind, Component | None], tuple[Placement, str | None]] = {}
    kinds: dict[str, Kind] = {k.value: k for k in Kind}
    components: dict[str | None, Component | None] = {c.value: c for c in Component}
    components[None] = None
    for r in rows:
        kind = kinds[r.kind]
        component = components.get(r.component)
        if kind is Kind.INVALID:
            problem = "unreadable" if (r.error or "").startswith("cannot read") else "invalid"
            report.problems.append(Problem(r.path, problem, r.error))
        verdict = r.safety
        if verdict == Verdict.DANGEROUS:
            report.problems.append(Problem(r.path, "dangerous", "pickle may run code when loaded"))
        elif verdict == Verdict.SUSPICIOUS:
            report.problems.append(Problem(r.path, "suspicious", "pickle uses unusual globals"))
        # Placement depends on the folder and the kind only: judge each pair once.
        key = (os.path.dirname(r.path), kind, component)
        if key not in judged_dirs or kind is Kind.VAE:
            judged_dirs[key] = (Placement.HOME, None)
            for lib in plan.libraries:
                judged = judge_placement(lib, r.path, kind, component)
                if judged.placement in (Placement.MISPLACED, Placement.UNPLACED):
                    judged_dirs[key] = (judged.placement, str(judged.home))
                    break
        placement, home = judged_dirs[key]
        if placement is not Placement.HOME:
            report.misplaced.append(Misplaced(r.path, kind, component, placement, home))
    report.problems.sort(key=lambda p: (p.problem, p.path))
    report.misplaced.sort(key=lambda m: m.path)


def configured_library(root: str | os.PathLike[str] | None, layout: str | None) -> Library | None:
    """The library from settings (``SDHUB_LIBRARY``/``SDHUB_LAYOUT``), None if none is set."""
    if root is None:
        return None
    return open_library(root, Layout(layout) if layout else None)
